//! The client (`adic-client`) against edge processes killed (SIGKILL) and restarted mid-stream,
//! for each transport: the client moves to the other edge URL and back while a numbered
//! publisher keeps publishing, and every published event arrives per the delivery guarantee (log
//! kinds exactly once in stream order, snapshot kinds in order, possibly skipping superseded
//! values), checked against the stream itself. Here rather than in `client/tests` because only
//! the edge crate's tests can name the `adic-edge` binary.

#[path = "../../client/tests/common/mod.rs"]
mod common;

use adic_client::{Client, Transport};
use adic_tests::chaos::{check, truth, NumberedPublisher};
use adic_tests::edge::stream_settings;
use adic_tests::nats::TestNats;
use adic_tests::processes::EdgeProcess;
use common::{stream_start, Collector, STEP};

/// Events per second of the publisher.
const RATE: u32 = 100;

/// One scenario at a time: each runs a NATS server, two edge processes and a publisher.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn edge_args(nats: &TestNats) -> Vec<String> {
    [
        "--nats-url",
        &nats.url(),
        "--stream",
        nats.stream_name(),
        "--subject-prefix",
        nats.prefix(),
        "--progress-interval",
        "1s",
        "--drain-grace",
        "1s",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn url(edge: &EdgeProcess) -> String {
    format!("http://127.0.0.1:{}", edge.port())
}

async fn killed_mid_stream(transport: Transport) {
    let _turn = ONE_AT_A_TIME.lock().await;
    adic_tests::init_logs();
    let nats = TestNats::start().await.unwrap();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_adic-edge"));
    let dir = tempfile::tempdir().unwrap();
    let mut edges = [
        EdgeProcess::start(bin, edge_args(&nats), dir.path(), "edge-a").unwrap(),
        EdgeProcess::start(bin, edge_args(&nats), dir.path(), "edge-b").unwrap(),
    ];
    for edge in &edges {
        edge.wait_ready().await.unwrap();
    }
    let urls = [url(&edges[0]), url(&edges[1])];
    let start = stream_start(&urls[0]).await;
    let publisher = NumberedPublisher::start_on(
        nats.client().await.unwrap(),
        stream_settings(&nats),
        1,
        RATE,
        0,
    );
    let items = Client::builder(urls.clone())
        .transport(transport)
        .cursor(start)
        .subscribe()
        .unwrap();
    let client = Collector::spawn(items);
    client.wait_for(RATE.into()).await;

    // Kill the edge the client is on, twice: the second time the one it moved to, after the
    // first came back on its port.
    for round in 0..2 {
        let on = client.stats.get().url.expect("connected");
        let (victim, other) = if on == urls[0] { (0, 1) } else { (1, 0) };
        edges[victim].kill().unwrap();
        client.wait_connected_to(&urls[other]).await;
        let stats = client.stats.get();
        assert_eq!(stats.transport, Some(transport), "round {round}: {stats:?}");
        client.wait_for(publisher.next() + u64::from(RATE)).await;
        edges[victim].restart().unwrap();
        edges[victim].wait_ready().await.unwrap();
    }

    let last = publisher.finish().await.unwrap();
    let truth = truth(nats.client().await.unwrap(), nats.stream_name())
        .await
        .unwrap();
    assert_eq!(
        truth.iter().map(|e| e.n).max(),
        Some(last),
        "every number stored"
    );
    let last_seq = truth.last().unwrap().seq;
    adic_tests::wait_until(STEP, || async { client.last_seq() >= last_seq })
        .await
        .unwrap_or_else(|_| panic!("caught up to {last_seq}; at {}", client.last_seq()));
    let stats = client.stats.get();
    let got = client.stop().await;
    check(&transport.to_string(), &truth, &got.events).unwrap();
    assert!(
        got.other.is_empty(),
        "no gap, reset or snapshot: {:?}",
        got.other
    );
    assert!(stats.reconnects >= 2, "{stats:?}");
    assert_eq!(
        stats.fallbacks, 0,
        "both edges serve {transport}: {stats:?}"
    );
}

#[tokio::test]
async fn websocket_client_moves_to_another_edge_when_one_is_killed() {
    killed_mid_stream(Transport::WebSocket).await;
}

#[tokio::test]
async fn sse_client_moves_to_another_edge_when_one_is_killed() {
    killed_mid_stream(Transport::Sse).await;
}

#[tokio::test]
async fn polling_client_moves_to_another_edge_when_one_is_killed() {
    killed_mid_stream(Transport::Polling).await;
}
