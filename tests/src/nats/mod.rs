//! Real `nats-server` processes for tests.
//!
//! [`TestNats`] gives one test its own JetStream server: a `nats-server` child process on a free
//! loopback port with a file store in a fresh temp dir, which the test can [`stop`](TestNats::stop)
//! and [`restart`](TestNats::restart). When `NATS_URL` is set, the tests use that server instead
//! and isolate themselves by a unique stream name and subject prefix;
//! [`TestNats::start_configured`] always starts its own, from a config the test gives (e.g. an
//! operator's file, with users and permissions). [`TestCluster`] starts an
//! N-node JetStream cluster for replication and failover tests. With `ADIC_TEST_NATS=docker`
//! (the default when there is no `nats-server` binary but a Docker engine answers) each server
//! runs in a container on the host's network instead of as a child process (`process.rs`).
//!
//! Every server writes its stdout/stderr to `nats.log` (`<node>.log` in a cluster) in its temp dir.
//! With `TEST_LOG` set, the log paths are printed and the temp dir is kept after the test so the
//! logs can be read.
//!
//! Children are killed with SIGKILL and reaped on drop, so a finished test leaves no `nats-server`
//! behind (unless the test process itself is killed, which runs no destructors).
//!
//! Layout: `server.rs` holds [`TestNats`], `cluster.rs` holds [`TestCluster`], and `process.rs` the
//! one `nats-server` child both are built from (config, spawn, readiness probe, log tail). This
//! file keeps what they share: free ports, unique names and connecting a client.
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
    hash::{BuildHasher, Hasher},
    net::TcpListener,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use anyhow::{anyhow, Context};

mod cluster;
mod process;
mod server;

pub use cluster::TestCluster;
pub use server::TestNats;

/// Bound on connecting a client to a server that is up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts to start servers, for when another process takes a port between [`free_port`] and the
/// server's bind.
const START_ATTEMPTS: usize = 3;

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

/// Connect to every address in a comma-separated list (as `NATS_URL` may be).
async fn connect(urls: &str) -> anyhow::Result<async_nats::Client> {
    let addrs: Vec<&str> = urls.split(',').map(str::trim).collect();
    tokio::time::timeout(CONNECT_TIMEOUT, async_nats::connect(addrs))
        .await
        .map_err(|_| anyhow!("connecting to {urls} timed out after {CONNECT_TIMEOUT:?}"))?
        .with_context(|| format!("connecting to {urls}"))
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
}
