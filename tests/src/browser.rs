//! Headless Chromium for tests that look at the dashboard the way a person does.
//!
//! A deliberately tiny Chrome DevTools Protocol client: it launches Debian's `chromium` with a
//! fresh profile and `--remote-debugging-port=0`, reads the port Chromium chose from
//! `<profile>/DevToolsActivePort`, attaches to the page target over WebSocket, and offers what
//! the tests need: [`navigate`](Browser::navigate), [`eval`](Browser::eval), waiting for a state
//! of the page ([`eval_until`](Browser::eval_until)), [`screenshot`](Browser::screenshot), [`set_viewport`](Browser::set_viewport), any raw
//! [`command`](Browser::command), and the page's JavaScript errors
//! ([`page_errors`](Browser::page_errors)). Commands are sent one at a time and answered in
//! order, so no dispatcher task is needed; protocol events that arrive meanwhile are read and,
//! apart from errors, dropped.
//!
//! A missing `chromium` fails the test with the command that installs it: a browser test that
//! skips silently would hide a broken page. Chromium runs in its own process group, killed with
//! SIGKILL when the [`Browser`] is dropped, so no renderer outlives the test.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use adic_tests::browser::Browser;
//!
//! let mut browser = Browser::launch().await?;
//! browser.navigate("http://127.0.0.1:9121/").await?;
//! let title = browser.eval("document.title").await?;
//! browser.screenshot(std::path::Path::new("/tmp/page.png")).await?;
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

/// Where Debian's package puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long Chromium may take to start and open its DevTools port.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one DevTools command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on a page load.
const LOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between checks while waiting for the browser or the page.
const POLL: Duration = Duration::from_millis(50);
/// The window every test sees, so screenshots are comparable.
pub const WIDTH: u32 = 1280;
pub const HEIGHT: u32 = 900;
/// Page errors kept (the oldest are dropped past this).
const MAX_ERRORS: usize = 100;

type CdpSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A headless Chromium with one page attached.
pub struct Browser {
    socket: CdpSocket,
    next_id: u64,
    errors: Vec<String>,
    child: Child,
    // Declared last: removed after the browser is gone.
    _profile: TempDir,
}

impl Browser {
    /// Starts Chromium and attaches to its page.
    ///
    /// # Errors
    /// When `chromium` is not installed (the message says how to install it), does not start,
    /// or does not open its DevTools port in time.
    pub async fn launch() -> anyhow::Result<Browser> {
        let binary = find_chromium()?;
        let profile = tempfile::Builder::new()
            .prefix("adic-chromium-")
            .tempdir()?;
        let mut command = Command::new(&binary);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-quic",
                "--disable-breakpad",
                "--disable-crash-reporter",
                "--disable-dev-shm-usage",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--window-size={WIDTH},{HEIGHT}"))
            .arg("about:blank")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .process_group(0);
        if std::env::var_os("TEST_LOG").is_none() {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;

        let port = tokio::time::timeout(LAUNCH_TIMEOUT, devtools_port(profile.path(), &mut child))
            .await
            .context("chromium did not open its DevTools port in time")??;
        let page_url = tokio::time::timeout(LAUNCH_TIMEOUT, page_target(port))
            .await
            .context("chromium showed no page target in time")??;
        let (socket, _) = tokio::time::timeout(
            COMMAND_TIMEOUT,
            tokio_tungstenite::connect_async(page_url.as_str()),
        )
        .await
        .context("connecting to the page's DevTools socket timed out")?
        .context("connecting to the page's DevTools socket")?;

        let mut browser = Browser {
            socket,
            next_id: 0,
            errors: Vec::new(),
            child,
            _profile: profile,
        };
        browser.command("Page.enable", json!({})).await?;
        browser.command("Runtime.enable", json!({})).await?;
        browser.set_viewport(WIDTH, HEIGHT).await?;
        Ok(browser)
    }

    /// Resizes the page's viewport (CSS pixels, scale 1), e.g. to check a narrow layout.
    ///
    /// # Errors
    /// When DevTools refuses.
    pub async fn set_viewport(&mut self, width: u32, height: u32) -> anyhow::Result<()> {
        self.command(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await
        .map(drop)
    }

    /// Opens `url` and waits until the document has loaded.
    ///
    /// # Errors
    /// When the navigation fails (for example the server refused the connection) or the page
    /// does not finish loading in time.
    pub async fn navigate(&mut self, url: &str) -> anyhow::Result<()> {
        let result = self.command("Page.navigate", json!({ "url": url })).await?;
        if let Some(error) = result.get("errorText").and_then(Value::as_str) {
            bail!("navigating to {url}: {error}");
        }
        self.eval_until(
            &format!("{url} finished loading"),
            "[document.readyState, location.href]",
            LOAD_TIMEOUT,
            |state| state[0] == "complete" && state[1] != "about:blank",
        )
        .await
        .map(drop)
    }

    /// Evaluates `expression` in the page and returns its value as JSON (promises are awaited;
    /// `undefined` is `null`).
    ///
    /// # Errors
    /// When the expression throws (the error carries the page's message) or DevTools fails.
    pub async fn eval(&mut self, expression: &str) -> anyhow::Result<Value> {
        let result = self
            .command(
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await?;
        if let Some(details) = result.get("exceptionDetails") {
            let message = details["exception"]["description"]
                .as_str()
                .or_else(|| details["text"].as_str())
                .unwrap_or("unknown exception");
            bail!("evaluating `{expression}` threw: {message}");
        }
        Ok(result["result"]
            .get("value")
            .cloned()
            .unwrap_or(Value::Null))
    }

    /// Evaluates `expression` until `done` accepts its value, and returns that value: how a test
    /// waits for the page to reach a state. `what` names the state for the error after `within`.
    ///
    /// # Errors
    /// When an evaluation fails, or `within` passes first (the error shows the last value).
    pub async fn eval_until(
        &mut self,
        what: &str,
        expression: &str,
        within: Duration,
        mut done: impl FnMut(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + within;
        loop {
            let value = self.eval(expression).await?;
            if done(&value) {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                bail!("{what}: not within {within:?}; last value {value}");
            }
            // Paces the evaluations of a condition loop bounded by `within`.
            tokio::time::sleep(POLL).await;
        }
    }

    /// Writes a PNG of the viewport to `path`, creating its folder.
    ///
    /// # Errors
    /// When the capture or the write fails.
    pub async fn screenshot(&mut self, path: &Path) -> anyhow::Result<()> {
        let result = self
            .command("Page.captureScreenshot", json!({ "format": "png" }))
            .await?;
        let data = result["data"]
            .as_str()
            .context("captureScreenshot returned no data")?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .context("decoding the screenshot")?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }

    /// Uncaught exceptions and `console.error` messages the page produced so far.
    #[must_use]
    pub fn page_errors(&self) -> &[String] {
        &self.errors
    }

    /// Sends any DevTools command to the page and waits for its result, noting page errors
    /// reported meanwhile. For what the helpers above do not cover (e.g.
    /// `Emulation.setEmulatedMedia`).
    ///
    /// # Errors
    /// When the command fails or is not answered in time.
    pub async fn command(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({ "id": id, "method": method, "params": params }).to_string();
        tokio::time::timeout(COMMAND_TIMEOUT, self.socket.send(Message::text(request)))
            .await
            .with_context(|| format!("sending {method} timed out"))??;
        let deadline = tokio::time::Instant::now() + COMMAND_TIMEOUT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .with_context(|| format!("no answer to {method} within {COMMAND_TIMEOUT:?}"))?
                .ok_or_else(|| anyhow!("chromium closed the DevTools socket during {method}"))?
                .with_context(|| format!("reading the answer to {method}"))?;
            let Message::Text(text) = frame else { continue };
            let message: Value = serde_json::from_str(text.as_str())?;
            if message["id"].as_u64() == Some(id) {
                if let Some(error) = message.get("error") {
                    bail!("{method} failed: {error}");
                }
                return Ok(message.get("result").cloned().unwrap_or(Value::Null));
            }
            self.note_event(&message);
        }
    }

    fn note_event(&mut self, message: &Value) {
        let params = &message["params"];
        let error = match message["method"].as_str() {
            Some("Runtime.exceptionThrown") => {
                let details = &params["exceptionDetails"];
                Some(
                    details["exception"]["description"]
                        .as_str()
                        .or_else(|| details["text"].as_str())
                        .unwrap_or("uncaught exception")
                        .to_owned(),
                )
            }
            Some("Runtime.consoleAPICalled") if params["type"] == "error" => Some(
                params["args"]
                    .as_array()
                    .map(|args| {
                        args.iter()
                            .map(|a| {
                                a["value"]
                                    .as_str()
                                    .map_or_else(|| a["description"].to_string(), str::to_owned)
                            })
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default(),
            ),
            _ => None,
        };
        if let Some(error) = error {
            if self.errors.len() == MAX_ERRORS {
                self.errors.remove(0);
            }
            self.errors.push(error);
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The renderer and GPU helpers are Chromium's children in its process group: end them
        // all, not just the browser process that kill_on_drop knows about. The `--` matters:
        // procps `kill -KILL -<pgid>` reads `-<pgid>` as an option and signals pid -1, i.e.
        // every process. Only a group Chromium leads (pgid = its pid > 1) is ever signalled.
        if let Some(pid) = self.child.id().filter(|&pid| pid > 1) {
            let _ = std::process::Command::new("kill")
                .args(["-s", "KILL", "--", &format!("-{pid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
    }
}

fn find_chromium() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM").map(PathBuf::from) {
        return Ok(path);
    }
    let default = PathBuf::from(CHROMIUM);
    if default.exists() {
        return Ok(default);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("chromium"))
        .find(|candidate| candidate.exists());
    on_path.ok_or_else(|| {
        anyhow!("chromium is not installed, and the dashboard test needs it: run `apt-get install -y chromium`")
    })
}

/// Waits for Chromium to write the port it chose, failing early if it exits.
async fn devtools_port(profile: &Path, child: &mut Child) -> anyhow::Result<u16> {
    let file = profile.join("DevToolsActivePort");
    loop {
        if let Ok(text) = tokio::fs::read_to_string(&file).await {
            if let Some(port) = text.lines().next().and_then(|l| l.trim().parse().ok()) {
                return Ok(port);
            }
        }
        if let Some(status) = child.try_wait()? {
            bail!("chromium exited before opening its DevTools port ({status}); run with TEST_LOG=1 to see its output");
        }
        // Paces the checks of a condition loop; the caller bounds it with LAUNCH_TIMEOUT.
        tokio::time::sleep(POLL).await;
    }
}

/// The DevTools WebSocket URL of the first page target.
async fn page_target(port: u16) -> anyhow::Result<String> {
    let list = format!("http://127.0.0.1:{port}/json/list");
    loop {
        if let Ok(response) = reqwest::get(&list).await {
            let targets: Value = response.json().await.context("reading /json/list")?;
            let page = targets
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| t["type"] == "page")
                .and_then(|t| t["webSocketDebuggerUrl"].as_str());
            if let Some(url) = page {
                return Ok(url.to_owned());
            }
        }
        // Paces the requests of a condition loop; the caller bounds it with LAUNCH_TIMEOUT.
        tokio::time::sleep(POLL).await;
    }
}
