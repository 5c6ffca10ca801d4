//! Real `nats-server` processes for tests.
//!
//! [`TestNats`] gives one test its own JetStream server: a `nats-server` child process on a free
//! loopback port with a file store in a fresh temp dir, which the test can [`stop`](TestNats::stop)
//! and [`restart`](TestNats::restart). When `NATS_URL` is set, the tests use that server instead
//! and isolate themselves by a unique stream name and subject prefix. [`TestCluster`] starts an
//! N-node JetStream cluster for replication and failover tests.
//!
//! Every server writes its stdout/stderr to `nats.log` (`<node>.log` in a cluster) in its temp dir.
//! With `TEST_LOG` set, the log paths are printed and the temp dir is kept after the test so the
//! logs can be read.
//!
//! Children are killed with SIGKILL and reaped on drop, so a finished test leaves no `nats-server`
//! behind (unless the test process itself is killed, which runs no destructors).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use adic_tests::nats::TestNats;
//!
//! let nats = TestNats::start().await?;
//! let client = nats.client().await?;
//! client.publish(format!("{}.hello", nats.prefix()), "hi".into()).await?;
//! # Ok(())
//! # }
//! ```

use std::{
    collections::hash_map::RandomState,
    fs::{self, OpenOptions},
    hash::{BuildHasher, Hasher},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context};
use async_nats::jetstream::{self, stream::StorageType};
use tempfile::TempDir;

/// How long a single server may take to accept clients with JetStream on.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a cluster may take to elect a meta leader and place a replicated stream.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on connecting a client to a server that is up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on best-effort cleanup of a stream on a shared server.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between readiness probes.
const POLL: Duration = Duration::from_millis(50);
/// Attempts to start servers, for when another process takes a port between [`free_port`] and the
/// server's bind.
const START_ATTEMPTS: usize = 3;

const OWN_STREAM: &str = "ADIC_EVENTS";
const OWN_PREFIX: &str = "adic.events";
const CLUSTER_NAME: &str = "adic-test";

/// A free TCP port on 127.0.0.1. Another process may take it before the caller binds it; callers
/// retry on that.
#[must_use]
pub fn free_port() -> u16 {
    free_ports(1)[0]
}

/// `n` distinct free ports: all listeners are held until every port is known, so the OS cannot hand
/// one out twice.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .expect("local address of a bound listener")
                .port()
        })
        .collect()
}

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

fn server_binary() -> anyhow::Result<PathBuf> {
    find_server_binary().ok_or_else(missing_server)
}

fn missing_server() -> anyhow::Error {
    anyhow!(
        "no nats-server binary found in PATH or /usr/sbin, and NATS_URL is not set. Install one \
         with `apt-get install -y nats-server` (or put a nats-server 2.9+ binary in PATH), or \
         set NATS_URL to a server with JetStream enabled (e.g. NATS_URL=nats://127.0.0.1:4222)"
    )
}

fn test_log() -> bool {
    std::env::var_os("TEST_LOG").is_some()
}

/// A suffix unique to this call: process id, a per-process counter and some randomness, so that
/// test runs on other machines or in other processes sharing the same server do not collide either.
fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(n);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    format!(
        "{}_{n}_{:08x}",
        std::process::id(),
        hasher.finish() & 0xffff_ffff
    )
}

/// One `nats-server` process, restartable from the config file it was first started with.
struct Node {
    name: String,
    port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn new(dir: &Path, name: &str, port: u16, config: &str) -> anyhow::Result<Node> {
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
            child: None,
        })
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self, bin: &Path) -> anyhow::Result<()> {
        // Append, so a restarted server's log follows the previous run's.
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))?;
        let err = out.try_clone().context("duplicating the log file handle")?;
        let child = Command::new(bin)
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL and reap. Blocks only for as long as the kernel takes to tear the process down.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `Some(reason)` if the process was started and has exited since.
    fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(format!(
                "nats-server {} exited ({status}); log {}:\n{}",
                self.name,
                self.log.display(),
                log_tail(&self.log)
            )),
            Ok(None) => None,
            Err(e) => Some(format!("nats-server {}: waiting failed: {e}", self.name)),
        }
    }

    /// Wait until this node accepts clients and answers JetStream API requests (in a cluster:
    /// through a meta leader).
    async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        let url = self.url();
        loop {
            if let Some(why) = self.exited() {
                bail!(why);
            }
            let error = match probe_jetstream(&url).await {
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
            tokio::time::sleep(POLL).await;
        }
    }

    fn port_taken(&self) -> bool {
        fs::read_to_string(&self.log).is_ok_and(|log| log.contains("address already in use"))
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last lines of a log file, for error messages.
fn log_tail(path: &Path) -> String {
    let Ok(text) = fs::read_to_string(path) else {
        return "(no log)".to_owned();
    };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// One short-lived connection that asks for JetStream account info.
///
/// A raw `$JS.API.INFO` request rather than `Context::query_account`: async-nats 0.51 requires
/// account fields that NATS 2.9 does not send (`reserved_memory`, `reserved_storage`), so
/// `query_account` fails against 2.9.10.
async fn probe_jetstream(url: &str) -> anyhow::Result<()> {
    let attempt = async {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_millis(500))
            .request_timeout(Some(Duration::from_secs(1)))
            .connect(url)
            .await?;
        let reply = client.request("$JS.API.INFO", "".into()).await?;
        let info: serde_json::Value =
            serde_json::from_slice(&reply.payload).context("JetStream account info is not JSON")?;
        if let Some(error) = info.get("error") {
            bail!("JetStream not ready: {error}");
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .map_err(|_| anyhow!("probe timed out"))?
}

/// Connect to every address in a comma-separated list (as `NATS_URL` may be).
async fn connect(urls: &str) -> anyhow::Result<async_nats::Client> {
    let addrs: Vec<&str> = urls.split(',').map(str::trim).collect();
    tokio::time::timeout(CONNECT_TIMEOUT, async_nats::connect(addrs))
        .await
        .map_err(|_| anyhow!("connecting to {urls} timed out after {CONNECT_TIMEOUT:?}"))?
        .with_context(|| format!("connecting to {urls}"))
}

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
        bin: PathBuf,
        node: Node,
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
        let bin = server_binary()?;
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let mut dir = tempfile::Builder::new()
                .prefix("adic-nats-")
                .tempdir()
                .context("creating a temp dir for nats-server")?;
            dir.disable_cleanup(test_log());
            let port = free_port();
            let config = server_config("nats", port, &dir.path().join("store"), None);
            let mut node = Node::new(dir.path(), "nats", port, &config)?;
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
                            node,
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

/// A server config with JetStream on: `store` is the store dir, `cluster` the route port to listen
/// on and the other nodes' route ports.
fn server_config(name: &str, port: u16, store: &Path, cluster: Option<(u16, &[u16])>) -> String {
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

/// An N-node `nats-server` cluster with JetStream on loopback: each node has its own client port,
/// cluster port, store and `server_name` (`n0`, `n1`, …), and routes to all the others. Dropping it
/// kills every node and removes the stores.
pub struct TestCluster {
    bin: PathBuf,
    /// Declared before `_dir` so the processes die before their stores are removed.
    nodes: Vec<Node>,
    _dir: TempDir,
}

impl TestCluster {
    /// Start `nodes` servers and wait (up to 30 s) until a JetStream meta leader is elected and a
    /// stream replicated to `min(nodes, 3)` peers can be created, i.e. every node has joined.
    pub async fn start(nodes: usize) -> anyhow::Result<TestCluster> {
        if nodes == 0 {
            bail!("a cluster needs at least one node");
        }
        let bin = server_binary()?;
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let cluster = TestCluster::spawn(bin.clone(), nodes)?;
            match cluster.wait_ready().await {
                Ok(cluster) => return Ok(cluster),
                Err((e, cluster)) if cluster.nodes.iter().any(Node::port_taken) => {
                    last_error = Some(e)
                }
                Err((e, _)) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("nats-server cluster did not start")))
    }

    fn spawn(bin: PathBuf, count: usize) -> anyhow::Result<TestCluster> {
        let mut dir = tempfile::Builder::new()
            .prefix("adic-nats-cluster-")
            .tempdir()
            .context("creating a temp dir for the nats-server cluster")?;
        dir.disable_cleanup(test_log());
        let ports = free_ports(2 * count);
        let (client_ports, route_ports) = ports.split_at(count);
        let mut nodes = Vec::with_capacity(count);
        for i in 0..count {
            let name = format!("n{i}");
            let peers: Vec<u16> = (0..count)
                .filter(|&j| j != i)
                .map(|j| route_ports[j])
                .collect();
            let store = dir.path().join(&name);
            let config = server_config(
                &name,
                client_ports[i],
                &store,
                Some((route_ports[i], &peers)),
            );
            nodes.push(Node::new(dir.path(), &name, client_ports[i], &config)?);
        }
        let mut cluster = TestCluster {
            bin,
            nodes,
            _dir: dir,
        };
        for node in &mut cluster.nodes {
            node.spawn(&cluster.bin)?;
        }
        Ok(cluster)
    }

    async fn wait_ready(mut self) -> Result<TestCluster, (anyhow::Error, TestCluster)> {
        let started = Instant::now();
        for node in &mut self.nodes {
            let left = CLUSTER_READY_TIMEOUT.saturating_sub(started.elapsed());
            if let Err(e) = node.wait_ready(left).await {
                return Err((e, self));
            }
        }
        let left = CLUSTER_READY_TIMEOUT.saturating_sub(started.elapsed());
        match self.wait_placement(left).await {
            Ok(()) => Ok(self),
            Err(e) => Err((e, self)),
        }
    }

    /// A meta leader can exist before every peer has registered with it; only a stream placed on
    /// `min(n, 3)` peers shows that they have.
    async fn wait_placement(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        let js = jetstream::new(self.client().await?);
        let name = format!("PROBE_{}", unique_suffix());
        let config = jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![format!("probe.{}", unique_suffix())],
            storage: StorageType::Memory,
            num_replicas: self.nodes.len().min(3),
            ..Default::default()
        };
        loop {
            for node in &mut self.nodes {
                if let Some(why) = node.exited() {
                    bail!(why);
                }
            }
            let error = match tokio::time::timeout(
                Duration::from_secs(5),
                js.create_stream(config.clone()),
            )
            .await
            {
                Ok(Ok(_)) => break,
                Ok(Err(e)) => anyhow::Error::from(e),
                Err(_) => anyhow!("creating the stream timed out"),
            };
            if started.elapsed() > timeout {
                let peers = config.num_replicas;
                bail!("no probe stream placed on {peers} peers after {timeout:?}: {error:#}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::timeout(Duration::from_secs(5), js.delete_stream(&name))
            .await
            .context("deleting the probe stream timed out")?
            .context("deleting the probe stream")?;
        Ok(())
    }

    /// The client URL of every node, in node order. `Vec<String>` can be passed to
    /// `async_nats::connect` as it is.
    #[must_use]
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Node::url).collect()
    }

    /// The client URLs joined by commas, for configuration strings (e.g. an edge's NATS URL
    /// setting).
    ///
    /// async-nats does **not** accept this as one `&str` (it parses a `&str` as a single URL and
    /// fails); split it on `,` into a `Vec<&str>` first, or use [`urls`](Self::urls) or
    /// [`client`](Self::client).
    #[must_use]
    pub fn url(&self) -> String {
        self.urls().join(",")
    }

    /// The `server_name` of a node, as JetStream reports it in stream cluster info (leader and
    /// replicas).
    #[must_use]
    pub fn server_name(&self, node: usize) -> &str {
        &self.nodes[node].name
    }

    /// The node with this `server_name`, if it is one of ours.
    #[must_use]
    pub fn node_index(&self, server_name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == server_name)
    }

    /// A new client that knows every node, so it fails over when one is killed.
    pub async fn client(&self) -> anyhow::Result<async_nats::Client> {
        connect(&self.url()).await
    }

    /// SIGKILL one node and wait for it to exit; its store is kept.
    pub async fn kill(&mut self, node: usize) {
        self.nodes[node].kill();
    }

    /// Start a node again with the same ports and store, and wait until it answers JetStream
    /// requests through the cluster's meta leader (up to 30 s). Its replicas may still be catching
    /// up; poll stream info for that.
    pub async fn restart(&mut self, node: usize) -> anyhow::Result<()> {
        let node = &mut self.nodes[node];
        node.kill();
        node.spawn(&self.bin)?;
        node.wait_ready(CLUSTER_READY_TIMEOUT).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct() {
        let ports = free_ports(16);
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len());
    }

    #[test]
    fn unique_suffixes_differ_and_are_valid_names() {
        let (a, b) = (unique_suffix(), unique_suffix());
        assert_ne!(a, b);
        assert!(
            a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{a}"
        );
    }

    #[test]
    fn missing_server_says_how_to_get_one() {
        let message = missing_server().to_string();
        assert!(
            message.contains("apt-get install -y nats-server"),
            "{message}"
        );
        assert!(message.contains("NATS_URL"), "{message}");
    }

    #[test]
    fn comma_separated_url_is_not_one_server_addr() {
        // Documents why TestCluster::url must be split before handing it to async-nats.
        assert!("nats://127.0.0.1:1,nats://127.0.0.1:2"
            .parse::<async_nats::ServerAddr>()
            .is_err());
    }
}
