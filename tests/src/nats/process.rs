//! One `nats-server`, the building block of [`TestNats`](super::TestNats) and
//! [`TestCluster`](super::TestCluster): finding the binary (or the container image), writing its
//! config, starting it with its output in a log file, probing it until JetStream answers, and
//! killing it on drop.
//!
//! A server runs as a child process of the test, or, with `ADIC_TEST_NATS=docker` (and by
//! default when there is no `nats-server` binary but a Docker engine answers), in a container
//! on the host's network: same ports, same config file and store (the test's temp dir is
//! mounted at its own path), same kill and restart. The image is `ADIC_TEST_NATS_IMAGE`, by
//! default `adic-test/nats:local`, built from tests/docker/nats.Dockerfile when missing.

use std::{
    fs::{self, OpenOptions},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context};

use super::test_log;

/// Pause between readiness probes.
const POLL: Duration = Duration::from_millis(50);

const CLUSTER_NAME: &str = "adic-test";

/// The `nats-server` binary: from `PATH`, else where Debian installs it.
fn find_server_binary() -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("nats-server"));
    from_path
        .chain([
            PathBuf::from("/usr/sbin/nats-server"),
            PathBuf::from("/usr/local/bin/nats-server"),
        ])
        .find(|p| p.is_file())
}

/// How servers are run.
#[derive(Clone, Debug)]
pub(super) enum Runner {
    /// A `nats-server` binary, as a child process.
    Binary(PathBuf),
    /// An image whose entrypoint is `nats-server`, as a container on the host's network.
    Docker(String),
}

/// The runner of this test process, chosen once: `ADIC_TEST_NATS=docker` or `=binary`, else a
/// binary when there is one, else Docker when an engine answers.
pub(super) fn server_runner() -> anyhow::Result<Runner> {
    static RUNNER: std::sync::OnceLock<Result<Runner, String>> = std::sync::OnceLock::new();
    RUNNER
        .get_or_init(|| choose_runner().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

fn choose_runner() -> anyhow::Result<Runner> {
    let wanted = std::env::var("ADIC_TEST_NATS").unwrap_or_default();
    match wanted.as_str() {
        "docker" => docker_runner(),
        "binary" => find_server_binary()
            .map(Runner::Binary)
            .ok_or_else(missing_server),
        "" => match find_server_binary() {
            Some(bin) => Ok(Runner::Binary(bin)),
            None if crate::docker::engine().unwrap_or(false) => docker_runner(),
            None => Err(missing_server()),
        },
        other => bail!("ADIC_TEST_NATS={other:?}: use `docker` or `binary`"),
    }
}

fn docker_runner() -> anyhow::Result<Runner> {
    let image =
        std::env::var("ADIC_TEST_NATS_IMAGE").unwrap_or_else(|_| "adic-test/nats:local".to_owned());
    if crate::docker::docker(&["image", "inspect", &image]).is_err() {
        crate::docker::ensure_base_image()?;
        let dir = crate::promql::repo_file("tests/docker");
        crate::docker::build(&image, &dir.join("nats.Dockerfile"), &dir, None)
            .with_context(|| format!("building the NATS image {image}"))?;
    }
    Ok(Runner::Docker(image))
}

/// What runs a started node.
enum Running {
    Process(Child),
    /// A container, and the `docker logs -f` child that copies its output to the log.
    Container {
        id: String,
        logs: Child,
    },
}

fn missing_server() -> anyhow::Error {
    anyhow!(
        "no nats-server binary found in PATH or /usr/sbin, and NATS_URL is not set. Install one \
         with `apt-get install -y nats-server` (or put a nats-server 2.9+ binary in PATH), or \
         set NATS_URL to a server with JetStream enabled (e.g. NATS_URL=nats://127.0.0.1:4222)"
    )
}

/// A server config with JetStream on: `store` is the store dir, `cluster` the route port to listen
/// on and the other nodes' route ports.
pub(super) fn server_config(
    name: &str,
    port: u16,
    store: &Path,
    cluster: Option<(u16, &[u16])>,
) -> String {
    let mut config = format!(
        "server_name: \"{name}\"\n\
         listen: \"127.0.0.1:{port}\"\n\
         jetstream {{ store_dir: {store:?} }}\n"
    );
    if let Some((listen, peers)) = cluster {
        let routes: Vec<String> = peers
            .iter()
            .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
            .collect();
        config += &format!(
            "cluster {{\n  name: \"{CLUSTER_NAME}\"\n  listen: \"127.0.0.1:{listen}\"\n  \
             routes: [{}]\n}}\n",
            routes.join(", ")
        );
    }
    config
}

/// How [`Node::wait_ready`] asks whether JetStream answers.
#[derive(Clone, Debug)]
pub(super) enum Probe {
    /// Anonymously, for `$JS.API.INFO`.
    Anonymous,
    /// On a server that requires authentication: as a user allowed
    /// `$JS.API.STREAM.INFO.<stream>`, for that stream's info. "Stream not found" is an answer
    /// too: JetStream is up, the stream is just not created yet.
    StreamInfo {
        user: String,
        password: String,
        stream: String,
    },
}

/// One `nats-server` process, restartable from the config file it was first started with.
pub(super) struct Node {
    pub(super) name: String,
    port: u16,
    config: PathBuf,
    log: PathBuf,
    running: Option<Running>,
    /// Extra environment of the server process (variables its config reads).
    env: Vec<(String, String)>,
    probe: Probe,
}

impl Node {
    pub(super) fn new(dir: &Path, name: &str, port: u16, config: &str) -> anyhow::Result<Node> {
        let config_path = dir.join(format!("{name}.conf"));
        fs::write(&config_path, config)
            .with_context(|| format!("writing {}", config_path.display()))?;
        let log = dir.join(format!("{name}.log"));
        if test_log() {
            eprintln!(
                "nats-server {name} (port {port}) log, kept after the test: {}",
                log.display()
            );
        }
        Ok(Node {
            name: name.to_owned(),
            port,
            config: config_path,
            log,
            running: None,
            env: Vec::new(),
            probe: Probe::Anonymous,
        })
    }

    /// Runs the server with `env` added to its environment and probes its readiness with
    /// `probe`.
    pub(super) fn configure(&mut self, env: Vec<(String, String)>, probe: Probe) {
        self.env = env;
        self.probe = probe;
    }

    /// The server's output so far (every run of it).
    pub(super) fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(super) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub(super) fn spawn(&mut self, runner: &Runner) -> anyhow::Result<()> {
        // Append, so a restarted server's log follows the previous run's.
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let err = out.try_clone().context("duplicating the log file handle")?;
        let running = match runner {
            Runner::Binary(bin) => Running::Process(
                Command::new(bin)
                    .arg("-c")
                    .arg(&self.config)
                    .envs(self.env.clone())
                    .stdin(Stdio::null())
                    .stdout(out)
                    .stderr(err)
                    .spawn()
                    .with_context(|| format!("spawning {}", bin.display()))?,
            ),
            Runner::Docker(image) => {
                let dir = self.config.parent().context("config folder")?;
                let mount = format!("{0}:{0}", dir.display());
                let user = current_user();
                let config = self.config.to_str().context("config path")?;
                let env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let mut args = vec!["run", "-d", "--network", "host", "-v", &mount];
                if let Some(user) = &user {
                    args.extend(["-u", user]);
                }
                for var in &env {
                    args.extend(["-e", var]);
                }
                args.extend([image.as_str(), "-c", config]);
                let id = crate::docker::docker(&args)
                    .with_context(|| format!("starting nats-server {} in {image}", self.name))?;
                let logs = Command::new("docker")
                    .args(["logs", "-f", &id])
                    .stdin(Stdio::null())
                    .stdout(out)
                    .stderr(err)
                    .spawn()
                    .context("following the container's log")?;
                Running::Container { id, logs }
            }
        };
        self.running = Some(running);
        Ok(())
    }

    /// SIGKILL and reap (a container is removed). Blocks only for as long as the kernel (or the
    /// engine) takes to tear the server down.
    pub(super) fn kill(&mut self) {
        match self.running.take() {
            Some(Running::Process(mut child)) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Some(Running::Container { id, mut logs }) => {
                let _ = crate::docker::docker(&["rm", "-f", &id]);
                let _ = logs.wait();
            }
            None => {}
        }
    }

    /// `Some(reason)` if the server was started and has exited since.
    pub(super) fn exited(&mut self) -> Option<String> {
        let status = match self.running.as_mut()? {
            Running::Process(child) => match child.try_wait() {
                Ok(Some(status)) => status.to_string(),
                Ok(None) => return None,
                Err(e) => return Some(format!("nats-server {}: waiting failed: {e}", self.name)),
            },
            // The log follower ends with the container.
            Running::Container { id, logs } => match logs.try_wait() {
                Ok(Some(_)) => format!("container {id} stopped"),
                _ => return None,
            },
        };
        Some(format!(
            "nats-server {} exited ({status}); log {}:\n{}",
            self.name,
            self.log.display(),
            log_tail(&self.log)
        ))
    }

    /// Wait until this node accepts clients and answers JetStream API requests (in a cluster:
    /// through a meta leader).
    pub(super) async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        let url = self.url();
        loop {
            if let Some(why) = self.exited() {
                bail!(why);
            }
            let error = match probe_jetstream(&url, &self.probe).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if started.elapsed() > timeout {
                bail!(
                    "nats-server {} at {url} not ready after {timeout:?}: {error:#}; log {}:\n{}",
                    self.name,
                    self.log.display(),
                    log_tail(&self.log)
                );
            }
            // Paces the probes of a condition loop bounded by `timeout`: each probe is a new
            // connection, and a server starting up should not be flooded with them.
            tokio::time::sleep(POLL).await;
        }
    }

    /// Whether the server failed because another process took its port first.
    pub(super) fn port_taken(&self) -> bool {
        fs::read_to_string(&self.log).is_ok_and(|log| log.contains("address already in use"))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `uid:gid` of this process, so a container writes the store as the test's own user.
fn current_user() -> Option<String> {
    let id = |flag: &str| {
        Command::new("id")
            .arg(flag)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    Some(format!("{}:{}", id("-u")?, id("-g")?))
}

/// The last lines of a log file, for error messages.
fn log_tail(path: &Path) -> String {
    let Ok(text) = fs::read_to_string(path) else {
        return "(no log)".to_owned();
    };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// JetStream's "stream not found" error code.
const STREAM_NOT_FOUND: u64 = 10059;

/// One short-lived connection that asks for JetStream account info (or, per `probe`, a stream's).
///
/// A raw `$JS.API.INFO` request rather than `Context::query_account`: async-nats 0.51 requires
/// account fields that NATS 2.9 does not send (`reserved_memory`, `reserved_storage`), so
/// `query_account` fails against 2.9.10.
async fn probe_jetstream(url: &str, probe: &Probe) -> anyhow::Result<()> {
    let attempt = async {
        let mut options = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_millis(500))
            .request_timeout(Some(Duration::from_secs(1)));
        let subject = match probe {
            Probe::Anonymous => "$JS.API.INFO".to_owned(),
            Probe::StreamInfo {
                user,
                password,
                stream,
            } => {
                options = options.user_and_password(user.clone(), password.clone());
                format!("$JS.API.STREAM.INFO.{stream}")
            }
        };
        let client = options.connect(url).await?;
        let reply = client.request(subject, "".into()).await?;
        let info: serde_json::Value =
            serde_json::from_slice(&reply.payload).context("JetStream answer is not JSON")?;
        if let Some(error) = info.get("error") {
            let not_found = error["err_code"].as_u64() == Some(STREAM_NOT_FOUND);
            if !(matches!(probe, Probe::StreamInfo { .. }) && not_found) {
                bail!("JetStream not ready: {error}");
            }
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .map_err(|_| anyhow!("probe timed out"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_server_says_how_to_get_one() {
        let message = missing_server().to_string();
        assert!(
            message.contains("apt-get install -y nats-server"),
            "{message}"
        );
        assert!(message.contains("NATS_URL"), "{message}");
    }
}
