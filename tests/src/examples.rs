//! The client examples in `docs/examples/` as tests drive them: the Python tail script as a child
//! process ([`Tail`]) and the browser page opened from disk ([`page_url`], [`page_rows`]).
//!
//! A missing `python3` or `requests` fails the test with the command that installs them, like a
//! missing `chromium` does: an example test that skips silently would hide a broken example.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::browser::Browser;
use crate::wait_until;

/// How long a test waits for the script or the page to reach a state.
pub const WAIT: Duration = Duration::from_secs(30);

/// The folder of the examples.
#[must_use]
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/examples")
}

/// The Python interpreter: `$PYTHON`, else `python3`, checked to have `requests`.
///
/// # Errors
/// When there is no interpreter or it lacks `requests`; the message names the install command.
pub fn python() -> anyhow::Result<String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let check = std::process::Command::new(&python)
        .args(["-c", "import requests"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match check {
        Ok(status) if status.success() => Ok(python),
        Ok(_) => Err(anyhow!(
            "{python} has no `requests` package, and the Python example needs it: \
             run `apt-get install -y python3-requests` (or `pip install requests`)"
        )),
        Err(e) => Err(anyhow!(
            "cannot run {python} ({e}), and the Python example needs it: \
             run `apt-get install -y python3 python3-requests`"
        )),
    }
}

/// One line the script printed for an event: `<cursor> <kind> <data JSON>`.
#[derive(Clone, Debug, PartialEq)]
pub struct TailLine {
    pub cursor: String,
    pub kind: String,
    pub data: Value,
}

impl TailLine {
    /// Parses a line of the script's output.
    ///
    /// # Errors
    /// When the line does not have the documented shape.
    pub fn parse(line: &str) -> anyhow::Result<TailLine> {
        let mut parts = line.splitn(3, ' ');
        let (Some(cursor), Some(kind), Some(data)) = (parts.next(), parts.next(), parts.next())
        else {
            bail!("not `<cursor> <kind> <data>`: {line:?}");
        };
        Ok(TailLine {
            cursor: cursor.to_owned(),
            kind: kind.to_owned(),
            data: serde_json::from_str(data).with_context(|| format!("data of {line:?}"))?,
        })
    }

    /// The depth of a numbered `message.new` event.
    #[must_use]
    pub fn depth(&self) -> Option<u64> {
        self.data["depth"].as_u64()
    }
}

/// `docs/examples/python/adic_tail.py` running as a child process, its stdout and stderr
/// collected line by line. Killed when dropped.
pub struct Tail {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Tail {
    /// Starts the script on `edges` with its cursor in `cursor_file` and any extra `args`.
    ///
    /// # Errors
    /// When Python or `requests` is missing, or the process does not start.
    pub fn start(edges: &[String], cursor_file: &Path, args: &[&str]) -> anyhow::Result<Tail> {
        let script = examples_dir().join("python/adic_tail.py");
        let mut child = Command::new(python()?)
            .arg("-u")
            .arg(&script)
            .arg("--cursor-file")
            .arg(cursor_file)
            .args(args)
            .args(edges)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", script.display()))?;
        let stdout = collect(child.stdout.take().context("stdout piped")?, false);
        let stderr = collect(child.stderr.take().context("stderr piped")?, true);
        Ok(Tail {
            child,
            stdout,
            stderr,
        })
    }

    /// The event lines printed so far.
    ///
    /// # Panics
    /// When a line does not have the documented shape.
    #[must_use]
    pub fn lines(&self) -> Vec<TailLine> {
        let lines = self.stdout.lock().expect("stdout lines").clone();
        lines
            .iter()
            .map(|l| TailLine::parse(l).expect("an event line"))
            .collect()
    }

    /// What the script reported on stderr so far, one string.
    #[must_use]
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lines").join("\n")
    }

    /// Waits until at least `count` event lines are out.
    ///
    /// # Errors
    /// When they are not within [`WAIT`]; the error shows what the script printed.
    pub async fn wait_lines(&self, count: usize) -> anyhow::Result<()> {
        let out = Arc::clone(&self.stdout);
        wait_until(WAIT, || {
            let n = out.lock().expect("stdout lines").len();
            async move { n >= count }
        })
        .await
        .with_context(|| self.report(&format!("{count} event lines")))
    }

    /// Waits until stderr shows `text` at least `times` times.
    ///
    /// # Errors
    /// When it does not within [`WAIT`]; the error shows what the script printed.
    pub async fn wait_stderr(&self, text: &str, times: usize) -> anyhow::Result<()> {
        let err = Arc::clone(&self.stderr);
        wait_until(WAIT, || {
            let n = err
                .lock()
                .expect("stderr lines")
                .iter()
                .filter(|l| l.contains(text))
                .count();
            async move { n >= times }
        })
        .await
        .with_context(|| self.report(&format!("{text:?} {times} time(s) on stderr")))
    }

    /// Stops the script as Ctrl-C or a service manager would (SIGTERM) and waits for it to exit.
    ///
    /// # Errors
    /// When it does not exit cleanly within [`WAIT`].
    pub async fn terminate(mut self) -> anyhow::Result<Tail> {
        let pid = self.child.id().context("the script already exited")?;
        // A positive pid of our own child: never a process group or -1.
        anyhow::ensure!(pid > 1, "unexpected pid {pid}");
        let status = std::process::Command::new("kill")
            .args(["-TERM", "--", &pid.to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM {pid} failed");
        let exit = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .context("the script did not exit after SIGTERM")??;
        self.drained().await;
        anyhow::ensure!(
            exit.success(),
            "{}",
            self.report(&format!("exit 0, got {exit}"))
        );
        Ok(self)
    }

    /// Kills the script with SIGKILL: no chance to finish anything.
    ///
    /// # Errors
    /// When the kill fails.
    pub async fn kill(mut self) -> anyhow::Result<Tail> {
        self.child.kill().await?;
        self.drained().await;
        Ok(self)
    }

    /// Waits (briefly) until the readers have taken everything the exited process wrote.
    async fn drained(&self) {
        let (out, err) = (Arc::clone(&self.stdout), Arc::clone(&self.stderr));
        let _ = wait_until(Duration::from_secs(5), || {
            let done = Arc::strong_count(&out) == 1 && Arc::strong_count(&err) == 1;
            async move { done }
        })
        .await;
    }

    fn report(&self, wanted: &str) -> String {
        let out = self.stdout.lock().expect("stdout lines");
        let shown: Vec<&String> = out.iter().rev().take(5).rev().collect();
        format!(
            "the script did not show {wanted}; {} event lines (last: {shown:?}); stderr:\n{}",
            out.len(),
            self.stderr()
        )
    }
}

/// Reads `pipe` line by line into a shared list until it closes; the reader's handle on the list
/// is dropped then, which is how [`Tail::drained`] knows. With `echo`, lines are also shown when
/// `TEST_LOG` is set.
fn collect(
    pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    echo: bool,
) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    tokio::spawn(async move {
        // Whole lines only: what a killed process left unterminated was never printed.
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        while let Ok(n) = reader.read_until(b'\n', &mut buf).await {
            if n == 0 || buf.last() != Some(&b'\n') {
                break;
            }
            let line = String::from_utf8_lossy(&buf[..buf.len() - 1]).into_owned();
            buf.clear();
            if echo && std::env::var_os("TEST_LOG").is_some() {
                eprintln!("adic_tail.py: {line}");
            }
            sink.lock().expect("lines").push(line);
        }
    });
    lines
}

/// The `file://` URL of the browser example with `query` (e.g. `edge=http://...&events=...`).
#[must_use]
pub fn page_url(query: &str) -> String {
    let page = examples_dir().join("browser/index.html");
    let page = page.canonicalize().unwrap_or(page);
    format!("file://{}?{query}", page.display())
}

/// One row of the page's event list.
#[derive(Clone, Debug, PartialEq)]
pub struct PageRow {
    pub id: String,
    pub kind: String,
    pub text: String,
}

impl PageRow {
    /// The depth of a numbered `message.new` event, read from the row's text.
    #[must_use]
    pub fn depth(&self) -> Option<u64> {
        let data = self.text.splitn(3, "  ").nth(2)?;
        serde_json::from_str::<Value>(data).ok()?["depth"].as_u64()
    }
}

/// The rows of the page's event list, oldest first.
///
/// # Errors
/// When the page cannot be read.
pub async fn page_rows(browser: &mut Browser) -> anyhow::Result<Vec<PageRow>> {
    let rows = browser
        .eval(
            "Array.from(document.querySelectorAll('#events > li'), \
             li => [li.dataset.id, li.dataset.kind, li.textContent]).reverse()",
        )
        .await?;
    Ok(rows
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| PageRow {
            id: row[0].as_str().unwrap_or_default().to_owned(),
            kind: row[1].as_str().unwrap_or_default().to_owned(),
            text: row[2].as_str().unwrap_or_default().to_owned(),
        })
        .collect())
}

/// Waits until the page lists at least `count` events.
///
/// # Errors
/// When it does not within [`WAIT`].
pub async fn wait_rows(browser: &mut Browser, count: usize) -> anyhow::Result<()> {
    browser
        .eval_until(
            &format!("{count} events listed"),
            "document.querySelectorAll('#events > li').length",
            WAIT,
            |n| n.as_u64().is_some_and(|n| n >= count as u64),
        )
        .await
        .map(drop)
}

/// The text of the element with `id`.
///
/// # Errors
/// When the page cannot be read or has no such element.
pub async fn text_of(browser: &mut Browser, id: &str) -> anyhow::Result<String> {
    let value = browser
        .eval(&format!("document.getElementById('{id}').textContent"))
        .await?;
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no element #{id}"))
}
