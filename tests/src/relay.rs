//! `adic-publisher relay` as a child process for tests: started against a test's NATS and node,
//! its metrics listener on a free port, killed (SIGKILL), terminated (SIGTERM) and restarted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::nats::{free_port, TestNats};
use crate::wait_until;

/// One relay process.
pub struct RelayProcess {
    bin: PathBuf,
    args: Vec<String>,
    metrics_port: u16,
    log: PathBuf,
    child: Option<Child>,
}

impl RelayProcess {
    /// Starts `bin relay --from <from>` on `nats`'s stream with `extra` flags, logging into
    /// `dir/<name>.log`.
    pub fn start(
        bin: &Path,
        nats: &TestNats,
        from: &str,
        extra: &[&str],
        dir: &Path,
        name: &str,
    ) -> anyhow::Result<RelayProcess> {
        let mut args: Vec<String> = vec![
            "relay".into(),
            "--from".into(),
            from.into(),
            "--nats-url".into(),
            nats.url(),
            "--stream".into(),
            nats.stream_name().into(),
            "--subject-prefix".into(),
            nats.prefix().into(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let mut relay = RelayProcess {
            bin: bin.to_owned(),
            args,
            metrics_port: free_port(),
            log: dir.join(format!("{name}.log")),
            child: None,
        };
        relay.spawn()?;
        Ok(relay)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.bin)
            .args(&self.args)
            .args([
                "--metrics-listen",
                &format!("127.0.0.1:{}", self.metrics_port),
            ])
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.metrics_port)
    }

    /// The Prometheus text of `/metrics` (empty while it does not answer).
    pub async fn metrics(&self) -> String {
        let get = async {
            reqwest::get(self.url("/metrics"))
                .await
                .ok()?
                .text()
                .await
                .ok()
        };
        tokio::time::timeout(Duration::from_secs(5), get)
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    /// The value of the sample `name` (with its labels, e.g. `x{reason="a"}`), when present.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        sample(&self.metrics().await, name)
    }

    /// The status of `/readyz` (0 while it does not answer).
    pub async fn ready_status(&self) -> u16 {
        let get = reqwest::get(self.url("/readyz"));
        match tokio::time::timeout(Duration::from_secs(5), get).await {
            Ok(Ok(r)) => r.status().as_u16(),
            _ => 0,
        }
    }

    /// Waits until `/readyz` answers 200 (connected to the node and NATS).
    pub async fn wait_ready(&self) -> anyhow::Result<()> {
        wait_until(Duration::from_secs(30), || async {
            self.ready_status().await == 200
        })
        .await
        .with_context(|| format!("relay not ready; log:\n{}", self.log()))
    }

    /// Waits until the sample `name` is at least `value`.
    pub async fn wait_metric(&self, name: &str, value: f64) -> anyhow::Result<()> {
        wait_until(Duration::from_secs(30), || async {
            self.metric(name).await.is_some_and(|v| v >= value)
        })
        .await
        .with_context(|| format!("{name} did not reach {value}; log:\n{}", self.log()))
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            bail!("not running")
        };
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// Sends SIGTERM (the process keeps running until it exits by itself).
    pub fn signal_term(&self) -> anyhow::Result<()> {
        let pid = self.child.as_ref().context("not running")?.id();
        // A positive pid of our own child: never a process group or -1.
        anyhow::ensure!(pid > 1, "unexpected pid {pid}");
        let status = Command::new("kill")
            .args(["-TERM", "--", &pid.to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM {pid} failed");
        Ok(())
    }

    /// Waits for the process to exit by itself; killed (and an error) after `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> anyhow::Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("not running")
        };
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if std::time::Instant::now() > deadline {
                child.kill()?;
                child.wait()?;
                bail!("relay did not exit within {within:?}; log:\n{}", self.log());
            }
            // Paces the checks of a condition loop bounded by `within` (a std `Child` has no
            // awaitable exit).
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then [`RelayProcess::wait_exit`].
    pub async fn terminate(&mut self, within: Duration) -> anyhow::Result<ExitStatus> {
        self.signal_term()?;
        self.wait_exit(within).await
    }

    /// Starts it again with the same arguments and metrics port.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "still running");
        self.spawn()
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The value of sample `name` in Prometheus text.
pub fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (key, value) = l.rsplit_once(' ')?;
        (key == name).then(|| value.parse().ok()).flatten()
    })
}
