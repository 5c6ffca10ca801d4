//! Operating the edge: readiness follows NATS, a restarted nats-server loses nothing for a
//! connected client, the connection cap, heartbeats, health and metrics.

use std::time::Duration;

use adic_edge::config::EdgeSettings;
use adic_protocol::Kind;
use adic_publisher::{Publisher, PublisherConfig};
use adic_tests::clients::{seq_of, SseClient, WsClient};
use adic_tests::edge::{stream_settings, TestEdge};
use adic_tests::nats::TestNats;
use adic_tests::wait_until;
use serde_json::{json, Value};

async fn status(url: &str) -> u16 {
    reqwest::get(url)
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn numbered(n: u64) -> String {
    json!({"type": "MessageAdded", "data": {"message_id": format!("m{n}"), "depth": n, "timestamp": 1}}).to_string()
}

#[tokio::test]
async fn readiness_follows_nats_going_away_and_coming_back() {
    let mut nats = TestNats::start().await.unwrap();
    assert!(nats.is_own(), "this test stops its own server");
    let edge = TestEdge::start(&nats).await.unwrap();
    assert_eq!(status(&edge.http("/readyz")).await, 200);
    nats.stop().await;
    wait_until(Duration::from_secs(15), || async {
        status(&edge.http("/readyz")).await == 503
    })
    .await
    .unwrap();
    let health: Value = reqwest::get(edge.http("/v1/health/streaming"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "unhealthy");
    assert_eq!(health["nats"]["connected"], false);
    assert_eq!(
        status(&edge.http("/healthz")).await,
        200,
        "liveness does not depend on NATS"
    );
    assert!(edge.metrics().await.contains("adic_edge_ready 0"));
    nats.restart().await.unwrap();
    wait_until(Duration::from_secs(20), || async {
        status(&edge.http("/readyz")).await == 200
    })
    .await
    .unwrap();
    let health: Value = reqwest::get(edge.http("/v1/health/streaming"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["nats"]["connected"], true);
    assert!(health["nats"]["reconnects"].as_u64() >= Some(1), "{health}");
    let metrics = edge.metrics().await;
    for line in [
        "adic_edge_ready 1",
        "adic_edge_nats_connected 1",
        "adic_edge_nats_reconnects_total 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn an_edge_started_before_nats_becomes_ready_when_nats_comes() {
    let mut nats = TestNats::start().await.unwrap();
    nats.stop().await;
    let edge = TestEdge::spawn(&nats.url(), stream_settings(&nats), EdgeSettings::default())
        .await
        .unwrap();
    // Once it has tried NATS and failed, it says why it is not ready.
    let url = edge.http("/readyz");
    wait_until(Duration::from_secs(10), || async {
        let Ok(r) = reqwest::get(&url).await else {
            return false;
        };
        r.status() == 503 && r.text().await.is_ok_and(|t| t.contains("NATS"))
    })
    .await
    .expect("an edge without NATS is not ready, and says it is NATS");
    nats.restart().await.unwrap();
    edge.wait_ready().await.unwrap();
}

#[tokio::test]
async fn a_restarted_nats_server_loses_no_event_for_a_connected_client() {
    let mut nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let mut ws = WsClient::connect(&edge.ws("")).await.unwrap();
    let mut sse = SseClient::connect(&edge.sse("")).await.unwrap();
    let config = PublisherConfig {
        stream: stream_settings(&nats),
        ..PublisherConfig::default()
    };
    let publisher = Publisher::start(nats.client().await.unwrap(), config);

    for n in 1..=50 {
        publisher
            .publish_json(Kind::MessageAdded, numbered(n).into())
            .unwrap();
    }
    publisher.flush().await;
    nats.stop().await;
    // Published while NATS is away: buffered by the publisher.
    for n in 51..=100 {
        publisher
            .publish_json(Kind::MessageAdded, numbered(n).into())
            .unwrap();
    }
    nats.restart().await.unwrap();
    for n in 101..=150 {
        publisher
            .publish_json(Kind::MessageAdded, numbered(n).into())
            .unwrap();
    }
    tokio::time::timeout(Duration::from_secs(30), publisher.flush())
        .await
        .unwrap();

    let mut last = 0;
    for n in 1..=150u64 {
        let (id, event) = ws.next_event().await.unwrap();
        assert_eq!(event["data"]["depth"], n, "WS event {n} in order, once");
        assert!(seq_of(&id) > last);
        last = seq_of(&id);
        let frame = sse.next_event().await.unwrap();
        assert_eq!(frame.id.as_deref(), Some(id.as_str()), "SSE event {n}");
    }
    assert_eq!(publisher.stats().acked, 150);
}

#[tokio::test]
async fn over_the_connection_cap_ws_gets_503_and_sse_a_retry() {
    let nats = TestNats::start().await.unwrap();
    let settings = EdgeSettings {
        max_connections: 2,
        ..EdgeSettings::default()
    };
    let edge = TestEdge::start_with(&nats, settings).await.unwrap();
    let _a = WsClient::connect(&edge.ws("")).await.unwrap();
    let _b = SseClient::connect(&edge.sse("")).await.unwrap();
    let refused = WsClient::connect(&edge.ws("")).await;
    let message = refused.err().expect("third connection refused").to_string();
    assert!(message.contains("503"), "{message}");
    let mut sse = SseClient::connect(&edge.sse("")).await.unwrap();
    assert_eq!(
        sse.status, 200,
        "browsers never retry a non-200 SSE response"
    );
    let frame = sse.next_frame().await.unwrap().unwrap();
    assert!(
        frame.retry.is_some_and(|ms| (1000..2000).contains(&ms)),
        "{frame:?}"
    );
    assert_eq!(
        sse.next_frame().await.unwrap(),
        None,
        "closed right after the hint"
    );
}

#[tokio::test]
async fn sse_heartbeats_come_when_idle_and_can_be_turned_off() {
    let nats = TestNats::start().await.unwrap();
    let settings = EdgeSettings {
        sse_heartbeat: Duration::from_millis(300),
        ..EdgeSettings::default()
    };
    let edge = TestEdge::start_with(&nats, settings).await.unwrap();
    let mut sse = SseClient::connect(&edge.sse("")).await.unwrap();
    let frame = sse.next_frame().await.unwrap().unwrap();
    assert_eq!(frame.comments, vec!["heartbeat".to_owned()]);

    let mut quiet = SseClient::connect(&edge.sse("?heartbeat=false"))
        .await
        .unwrap();
    // Proof of silence: the first thing on the quiet stream is an event published after several
    // heartbeat periods (300 ms each), so time itself is what is tested.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let js = async_nats::jetstream::new(nats.client().await.unwrap());
    js.publish(
        Kind::MessageAdded.subject(nats.prefix()),
        numbered(1).into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let first = quiet.next_frame().await.unwrap().unwrap();
    assert_eq!(first.event.as_deref(), Some("message.new"), "{first:?}");
}

#[tokio::test]
async fn health_and_metrics_report_real_figures() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let mut ws = WsClient::connect(&edge.ws("")).await.unwrap();
    let mut sse = SseClient::connect(&edge.sse("")).await.unwrap();
    let js = async_nats::jetstream::new(nats.client().await.unwrap());
    for n in 1..=3 {
        js.publish(
            Kind::MessageAdded.subject(nats.prefix()),
            numbered(n).into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    for _ in 0..3 {
        ws.next_event().await.unwrap();
        sse.next_event().await.unwrap();
    }
    let health: Value = reqwest::get(edge.http("/v1/health/streaming"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "healthy");
    assert_eq!(
        health["event_streaming"],
        json!({"enabled": true, "websocket_enabled": true, "sse_enabled": true})
    );
    assert_eq!(health["metrics"]["events_emitted_total"], 3);
    assert_eq!(health["metrics"]["websocket_connections"], 1);
    assert_eq!(health["metrics"]["sse_connections"], 1);
    assert_eq!(health["metrics"]["websocket_messages_sent"], 3);
    assert_eq!(health["metrics"]["sse_messages_sent"], 3);
    for path in ["/metrics", "/v1/metrics"] {
        let text = reqwest::get(edge.http(path))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for line in [
            "adic_events_emitted_total 3",
            "adic_websocket_connections 1",
            "adic_sse_connections 1",
            "adic_websocket_messages_sent_total 3",
            "adic_sse_messages_sent_total 3",
            "adic_edge_nats_connected 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{path} lacks {line:?}:\n{text}"
            );
        }
    }
}

#[tokio::test]
async fn websocket_pings_keep_readers_and_close_silent_peers() {
    let nats = TestNats::start().await.unwrap();
    let settings = EdgeSettings {
        ws_ping: Duration::from_millis(300),
        ..EdgeSettings::default()
    };
    let edge = TestEdge::start_with(&nats, settings).await.unwrap();
    let mut reader = WsClient::connect(&edge.ws("")).await.unwrap();
    let silent = WsClient::connect(&edge.ws("")).await.unwrap();
    let connections = || edge.state().connections.open();
    assert_eq!(connections(), 2);
    // The reader answers pings as it reads (its client library replies to them); the silent one
    // reads nothing, so it never answers and is closed after two ping intervals.
    let reading = tokio::spawn(async move {
        // One overall deadline: every ping the reader answers would restart a per-read timeout.
        let _ = tokio::time::timeout(Duration::from_secs(2), reader.next_item()).await;
        reader
    });
    adic_tests::wait_until(Duration::from_secs(5), || async { connections() == 1 })
        .await
        .unwrap();
    let mut reader = reading.await.unwrap();
    reader.send_json(&json!({"type": "Ping"})).await.unwrap();
    assert_eq!(
        reader.next_json().await.unwrap(),
        json!({"type": "Pong"}),
        "the reader is still connected"
    );
    drop(silent);
}

#[tokio::test]
async fn cors_allows_the_configured_origins() {
    let nats = TestNats::start().await.unwrap();
    let settings = EdgeSettings {
        cors_origins: vec!["https://explorer.example".into()],
        ..EdgeSettings::default()
    };
    let edge = TestEdge::start_with(&nats, settings).await.unwrap();
    let client = reqwest::Client::new();
    let allowed = |origin: &'static str| {
        let request = client
            .get(edge.http("/v1/health/streaming"))
            .header("Origin", origin);
        async move {
            let response = request.send().await.unwrap();
            response
                .headers()
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap().to_owned())
        }
    };
    assert_eq!(
        allowed("https://explorer.example").await.as_deref(),
        Some("https://explorer.example")
    );
    assert_eq!(allowed("https://elsewhere.example").await, None);
}
