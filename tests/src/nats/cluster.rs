//! [`TestCluster`]: an N-node JetStream cluster of `nats-server` children on loopback, for
//! replication and failover tests — nodes can be killed and restarted one by one.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use async_nats::jetstream::{self, stream::StorageType};
use tempfile::TempDir;

use super::process::{server_config, server_runner, Node, Runner};
use super::{connect, free_ports, test_log, unique_suffix, START_ATTEMPTS};

/// How long a cluster may take to elect a meta leader and place a replicated stream.
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between attempts to place the probe stream.
const PLACEMENT_POLL: Duration = Duration::from_millis(200);

/// An N-node `nats-server` cluster with JetStream on loopback: each node has its own client port,
/// cluster port, store and `server_name` (`n0`, `n1`, …), and routes to all the others. Dropping it
/// kills every node and removes the stores.
pub struct TestCluster {
    bin: Runner,
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
        let bin = server_runner()?;
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

    fn spawn(bin: Runner, count: usize) -> anyhow::Result<TestCluster> {
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
            // Paces the attempts of a condition loop bounded by `timeout`: a refused placement
            // is answered at once, and retrying at once would only load the forming cluster.
            tokio::time::sleep(PLACEMENT_POLL).await;
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
    #[test]
    fn comma_separated_url_is_not_one_server_addr() {
        // Documents why TestCluster::url must be split before handing it to async-nats.
        assert!("nats://127.0.0.1:1,nats://127.0.0.1:2"
            .parse::<async_nats::ServerAddr>()
            .is_err());
    }
}
