//! Real processes for failure tests: `adic-edge serve` children that can be killed (SIGKILL),
//! terminated (SIGTERM, a drain) and restarted on the same port, and an haproxy in front of them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::nats::free_port;
use crate::wait_until;

/// One `adic-edge serve` process.
pub struct EdgeProcess {
    bin: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
}

impl EdgeProcess {
    /// Starts `bin serve <args> --listen 127.0.0.1:<free port>`, logging into `dir`.
    pub fn start(
        bin: &Path,
        args: Vec<String>,
        dir: &Path,
        name: &str,
    ) -> anyhow::Result<EdgeProcess> {
        EdgeProcess::start_with_env(bin, args, Vec::new(), dir, name)
    }

    /// [`EdgeProcess::start`] with extra environment variables.
    pub fn start_with_env(
        bin: &Path,
        args: Vec<String>,
        env: Vec<(String, String)>,
        dir: &Path,
        name: &str,
    ) -> anyhow::Result<EdgeProcess> {
        let mut edge = EdgeProcess {
            bin: bin.to_owned(),
            args,
            env,
            port: free_port(),
            log: dir.join(format!("{name}.log")),
            child: None,
        };
        edge.spawn()?;
        Ok(edge)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.bin)
            .arg("serve")
            .args(&self.args)
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) -> anyhow::Result<()> {
        let url = format!("http://127.0.0.1:{}/readyz", self.port);
        wait_until(Duration::from_secs(30), || {
            let url = url.clone();
            async move { reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) }
        })
        .await
        .with_context(|| {
            format!(
                "edge on {} not ready; log: {}",
                self.port,
                self.log.display()
            )
        })
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            bail!("not running")
        };
        child.kill()?;
        let status = child.wait()?;
        anyhow::ensure!(!status.success(), "a killed edge does not exit cleanly");
        Ok(())
    }

    /// SIGTERM (a drain), and waits for the process to exit by itself; returns its exit success.
    pub async fn terminate(&mut self, within: Duration) -> anyhow::Result<bool> {
        let Some(mut child) = self.child.take() else {
            bail!("not running")
        };
        let pid = child.id();
        // A positive pid of our own child: never a process group or -1.
        anyhow::ensure!(pid > 1, "unexpected pid {pid}");
        let status = Command::new("kill")
            .args(["-TERM", "--", &pid.to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM {pid} failed");
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status.success());
            }
            if std::time::Instant::now() > deadline {
                child.kill()?;
                child.wait()?;
                bail!("edge did not exit within {within:?} of SIGTERM");
            }
            // Paces the checks of a condition loop bounded by `within` (a std `Child` has no
            // awaitable exit).
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the edge again on the same port.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "still running");
        self.spawn()
    }
}

impl Drop for EdgeProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Extra behaviour of a test's haproxy.
#[derive(Clone, Debug, Default)]
pub struct HaproxyOptions {
    /// Terminate TLS with this PEM (certificate chain and private key); the edges stay plain.
    pub tls_pem: Option<PathBuf>,
    /// Refuse WebSocket upgrades (`403` to any request with an `Upgrade` header), as some
    /// corporate proxies do.
    pub deny_upgrades: bool,
}

/// haproxy in front of edges: round-robin, no stickiness, health-checked on `/readyz`.
pub struct Haproxy {
    child: Child,
    port: u16,
}

impl Haproxy {
    pub async fn start(backends: &[u16], dir: &Path) -> anyhow::Result<Haproxy> {
        Haproxy::start_with(backends, dir, HaproxyOptions::default()).await
    }

    /// haproxy with `options`; with TLS it waits until the port accepts connections (the check
    /// through it needs a TLS client), otherwise until `/readyz` answers through it.
    pub async fn start_with(
        backends: &[u16],
        dir: &Path,
        options: HaproxyOptions,
    ) -> anyhow::Result<Haproxy> {
        let bin = ["haproxy", "/usr/sbin/haproxy"]
            .into_iter()
            .find(|b| {
                Command::new(b)
                    .arg("-v")
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .context("haproxy not found: install it with `apt-get install -y haproxy`")?;
        let port = free_port();
        let tls = options
            .tls_pem
            .as_ref()
            .map(|pem| format!(" ssl crt {}", pem.display()))
            .unwrap_or_default();
        let deny = if options.deny_upgrades {
            "    http-request deny deny_status 403 if { req.hdr(upgrade) -m found }\n"
        } else {
            ""
        };
        let servers: String = backends
            .iter()
            .enumerate()
            .map(|(i, p)| format!("    server edge{i} 127.0.0.1:{p} check\n"))
            .collect();
        // Settings per the known traps: a tunnel timeout for WebSockets, client/server timeouts
        // above twice the heartbeat and the longest poll wait, redispatch with retries, a fast
        // readiness check, and no shutdown-sessions on mark-down (a draining edge closes its own
        // clients, paced). Socket buffers fixed at 256 KiB, as a production balancer's usually
        // are: a client that stops reading backs up into the edge within a bounded amount of
        // data, not whatever the kernel's autotuning allows (tens of MiB on loopback).
        let config = format!(
            "global\n    maxconn 9000\n    tune.rcvbuf.server 262144\n    tune.sndbuf.client 262144\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 70s\n    timeout server 70s\n    \
             timeout tunnel 1h\n    option redispatch\n    retries 3\n\
             frontend edges\n    bind 127.0.0.1:{port}{tls}\n{deny}    default_backend edges\n\
             backend edges\n    balance roundrobin\n    option httpchk GET /readyz\n    http-check expect status 200\n    \
             default-server inter 200ms fall 2 rise 2\n{servers}"
        );
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config)?;
        let log = std::fs::File::create(dir.join("haproxy.log"))?;
        let child = Command::new(bin)
            .args(["-db", "-f"])
            .arg(&path)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting haproxy")?;
        let proxy = Haproxy { child, port };
        if options.tls_pem.is_some() {
            wait_until(Duration::from_secs(10), || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
            })
            .await
            .context("haproxy does not listen")?;
            return Ok(proxy);
        }
        let url = format!("http://127.0.0.1:{port}/readyz");
        wait_until(Duration::from_secs(10), || {
            let url = url.clone();
            async move { reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) }
        })
        .await
        .context("haproxy does not reach a ready edge")?;
        Ok(proxy)
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
