//! A real edge server for a test: the library's `App` on 127.0.0.1:0 against a real NATS,
//! serving over real sockets until dropped.

use std::sync::Arc;
use std::time::Duration;

use adic_edge::broker::nats::NatsBroker;
use adic_edge::config::EdgeSettings;
use adic_edge::state::Edge;
use adic_edge::App;
use adic_publisher::{NatsArgs, StreamSettings};
use anyhow::Context;
use tokio::sync::oneshot;

use crate::nats::TestNats;
use crate::wait_until;

/// A running edge.
pub struct TestEdge {
    addr: std::net::SocketAddr,
    metrics_addr: Option<std::net::SocketAddr>,
    edge: Arc<Edge>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// The stream settings a test's NATS server expects (unique per test on a shared server).
pub fn stream_settings(nats: &TestNats) -> StreamSettings {
    StreamSettings::named(nats.stream_name(), nats.prefix())
}

impl TestEdge {
    /// Starts an edge with default settings and waits until it is ready.
    pub async fn start(nats: &TestNats) -> anyhow::Result<TestEdge> {
        TestEdge::start_with(nats, EdgeSettings::default()).await
    }

    /// Starts an edge with the given settings (its listen address is replaced by 127.0.0.1:0)
    /// and waits until `/readyz` answers 200.
    pub async fn start_with(nats: &TestNats, settings: EdgeSettings) -> anyhow::Result<TestEdge> {
        let edge = TestEdge::spawn(&nats.url(), stream_settings(nats), settings).await?;
        edge.wait_ready().await?;
        Ok(edge)
    }

    /// Starts an edge listening on `listen` (e.g. the address of one that was shut down, so
    /// clients that reconnect to the same URL by themselves find it again) and waits until it
    /// is ready.
    pub async fn start_on(
        nats: &TestNats,
        listen: std::net::SocketAddr,
        mut settings: EdgeSettings,
    ) -> anyhow::Result<TestEdge> {
        settings.listen = listen;
        let edge =
            TestEdge::serve(&NatsArgs::url(nats.url()), stream_settings(nats), settings).await?;
        edge.wait_ready().await?;
        Ok(edge)
    }

    /// Starts an edge without waiting for readiness.
    pub async fn spawn(
        url: &str,
        stream: StreamSettings,
        settings: EdgeSettings,
    ) -> anyhow::Result<TestEdge> {
        TestEdge::spawn_as(&NatsArgs::url(url), stream, settings).await
    }

    /// Starts an edge connecting with `nats` (URL and credentials, as the binary takes them)
    /// without waiting for readiness.
    pub async fn spawn_as(
        nats: &NatsArgs,
        stream: StreamSettings,
        mut settings: EdgeSettings,
    ) -> anyhow::Result<TestEdge> {
        settings.listen = "127.0.0.1:0".parse()?;
        TestEdge::serve(nats, stream, settings).await
    }

    /// Serves on `settings.listen` as given.
    async fn serve(
        nats: &NatsArgs,
        stream: StreamSettings,
        settings: EdgeSettings,
    ) -> anyhow::Result<TestEdge> {
        let client = nats.connect("adic-edge-test").await?;
        let app = App::build(settings, Arc::new(NatsBroker::new(client, stream))).await?;
        let addr = app.local_addr();
        let metrics_addr = app.metrics_addr();
        let edge = app.edge();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        Ok(TestEdge {
            addr,
            metrics_addr,
            edge,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub async fn wait_ready(&self) -> anyhow::Result<()> {
        let url = self.http("/readyz");
        wait_until(Duration::from_secs(20), || {
            let url = url.clone();
            async move { matches!(reqwest::get(&url).await, Ok(r) if r.status() == 200) }
        })
        .await
        .context("edge did not become ready")
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// The `--metrics-listen` address, when the edge has one.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics_addr
    }

    pub fn state(&self) -> &Arc<Edge> {
        &self.edge
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let response = reqwest::get(self.http("/metrics"))
            .await
            .expect("metrics answer");
        response.text().await.expect("metrics text")
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn ws(&self, query: &str) -> String {
        format!("ws://{}/v1/ws/events{query}", self.addr)
    }

    pub fn sse(&self, query: &str) -> String {
        self.http(&format!("/v1/sse/events{query}"))
    }

    /// Asks the edge to shut down (as on SIGTERM) and waits for it to finish.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }
}

impl Drop for TestEdge {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
