//! [`TestNats`]: one JetStream server per test — our own `nats-server` child on a free port, or
//! the shared server named by `NATS_URL`, with a stream name and subject prefix of the test's own.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use async_nats::jetstream;
use tempfile::TempDir;

use super::process::{server_config, server_runner, Node, Probe, Runner};
use super::{connect, free_port, test_log, unique_suffix, START_ATTEMPTS};

/// How long a single server may take to accept clients with JetStream on.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on best-effort cleanup of a stream on a shared server.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(5);

const OWN_STREAM: &str = "ADIC_EVENTS";
const OWN_PREFIX: &str = "adic.events";

/// One NATS server for a test. Dropping it kills the process and removes its store.
pub struct TestNats {
    url: String,
    port: u16,
    stream: String,
    prefix: String,
    server: Server,
}

enum Server {
    /// `NATS_URL`: someone else's server; we only clean up our stream.
    Shared,
    /// Our child process. `node` is declared before `dir` so the process dies before its store is
    /// removed.
    Own {
        bin: Runner,
        node: Box<Node>,
        _dir: TempDir,
    },
}

impl TestNats {
    /// A server for one test.
    ///
    /// If `NATS_URL` is set, that server is shared: [`stream_name`](Self::stream_name) and
    /// [`prefix`](Self::prefix) are unique per call, and drop deletes the stream (best effort).
    /// Otherwise a `nats-server` from `PATH` (or `/usr/sbin`) is started on a free loopback port
    /// with JetStream and a file store in a fresh temp dir; the stream is `ADIC_EVENTS` with prefix
    /// `adic.events`. Fails with installation advice if there is neither.
    pub async fn start() -> anyhow::Result<TestNats> {
        if let Some(url) = std::env::var("NATS_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
        {
            return TestNats::shared(url);
        }
        TestNats::own(
            |port, store| server_config("nats", port, store, None),
            Vec::new(),
            Probe::Anonymous,
        )
        .await
    }

    /// A server of our own (whatever `NATS_URL` says) from a config of the test's, e.g. an
    /// operator's config file with the test's port and store dir put in: `config(port, store)`
    /// returns its text. `env` is added to the server's environment (variables the config reads,
    /// such as passwords). The config may require authentication: readiness is probed as
    /// `probe_as` (user, password), which must be allowed `$JS.API.STREAM.INFO.ADIC_EVENTS`.
    /// The stream is `ADIC_EVENTS` with prefix `adic.events`.
    pub async fn start_configured(
        config: impl Fn(u16, &Path) -> String,
        env: Vec<(String, String)>,
        probe_as: (&str, &str),
    ) -> anyhow::Result<TestNats> {
        let probe = Probe::StreamInfo {
            user: probe_as.0.to_owned(),
            password: probe_as.1.to_owned(),
            stream: OWN_STREAM.to_owned(),
        };
        TestNats::own(config, env, probe).await
    }

    async fn own(
        config: impl Fn(u16, &Path) -> String,
        env: Vec<(String, String)>,
        probe: Probe,
    ) -> anyhow::Result<TestNats> {
        let bin = server_runner()?;
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let mut dir = tempfile::Builder::new()
                .prefix("adic-nats-")
                .tempdir()
                .context("creating a temp dir for nats-server")?;
            dir.disable_cleanup(test_log());
            let port = free_port();
            let config = config(port, &dir.path().join("store"));
            let mut node = Node::new(dir.path(), "nats", port, &config)?;
            node.configure(env.clone(), probe.clone());
            node.spawn(&bin)?;
            match node.wait_ready(READY_TIMEOUT).await {
                Ok(()) => {
                    return Ok(TestNats {
                        url: node.url(),
                        port,
                        stream: OWN_STREAM.to_owned(),
                        prefix: OWN_PREFIX.to_owned(),
                        server: Server::Own {
                            bin,
                            node: Box::new(node),
                            _dir: dir,
                        },
                    })
                }
                Err(e) if node.port_taken() => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("nats-server did not start")))
    }

    fn shared(url: String) -> anyhow::Result<TestNats> {
        let first = url.split(',').next().unwrap_or_default().trim();
        let port = first
            .parse::<async_nats::ServerAddr>()
            .with_context(|| format!("NATS_URL={url} is not a NATS server address"))?
            .port();
        let suffix = unique_suffix();
        Ok(TestNats {
            url,
            port,
            stream: format!("T_{suffix}"),
            prefix: format!("t{suffix}.events"),
            server: Server::Shared,
        })
    }

    /// `nats://127.0.0.1:PORT` (or `NATS_URL` as given, which may list several servers separated by
    /// commas).
    #[must_use]
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The client port (with `NATS_URL`: of its first server).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The JetStream stream this test should use.
    #[must_use]
    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    /// The subject prefix this test should publish under (`<prefix>.>` belongs to this test).
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether the server is our child process, so [`stop`](Self::stop) and
    /// [`restart`](Self::restart) work.
    #[must_use]
    pub fn is_own(&self) -> bool {
        matches!(self.server, Server::Own { .. })
    }

    /// Kill the process (SIGKILL) and wait for it to exit; the store dir is kept.
    ///
    /// # Panics
    /// On a shared server (`NATS_URL`): a test that needs this should check
    /// [`is_own`](Self::is_own) and skip.
    pub async fn stop(&mut self) {
        match &mut self.server {
            Server::Own { node, .. } => node.kill(),
            Server::Shared => panic!(
                "TestNats::stop: NATS_URL is set, the server is not ours to stop; check is_own()"
            ),
        }
    }

    /// Start the server again on the same port with the same store dir, and wait until it is ready.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let Server::Own { bin, node, .. } = &mut self.server else {
            bail!("TestNats::restart: NATS_URL is set, the server is not ours; check is_own()");
        };
        node.kill();
        node.spawn(bin)?;
        node.wait_ready(READY_TIMEOUT).await
    }

    /// The server's output so far (every run of it); empty for a shared server.
    #[must_use]
    pub fn log(&self) -> String {
        match &self.server {
            Server::Own { node, .. } => node.log_text(),
            Server::Shared => String::new(),
        }
    }

    /// A new client connected to this server.
    pub async fn client(&self) -> anyhow::Result<async_nats::Client> {
        connect(&self.url).await
    }
}

impl Drop for TestNats {
    fn drop(&mut self) {
        if matches!(self.server, Server::Shared) {
            delete_stream_blocking(&self.url, &self.stream);
        }
        // An own server is killed by `Node`'s drop, then its temp dir is removed.
    }
}

/// Delete a stream from a synchronous context, which may itself be inside a runtime: on a thread of
/// its own with a runtime of its own. Best effort: the stream may not exist, and a cleanup failure
/// must not fail the test.
fn delete_stream_blocking(url: &str, stream: &str) {
    let (url, stream) = (url.to_owned(), stream.to_owned());
    let cleanup = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            let delete = async {
                let client = connect(&url).await?;
                jetstream::new(client).delete_stream(&stream).await?;
                anyhow::Ok(())
            };
            if let Ok(Err(e)) = tokio::time::timeout(CLEANUP_TIMEOUT, delete).await {
                tracing::debug!(%stream, "test stream cleanup: {e:#}");
            }
        });
    });
    let _ = cleanup.join();
}
