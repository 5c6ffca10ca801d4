//! Filters: by priority and by both name forms, WebSocket Subscribe/Unsubscribe, unknown kinds
//! passing through, malformed payloads dropped. "Not delivered" is proven by a sentinel published
//! afterwards arriving first, never by a timeout.

use adic_protocol::Kind;
use adic_tests::clients::{SseClient, WsClient};
use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use adic_tests::stream::{tag, TestStream};
use serde_json::json;

#[tokio::test]
async fn filters_by_priority_and_both_name_forms() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let mut dotted = WsClient::connect(&edge.ws("?events=tips.update"))
        .await
        .unwrap();
    let mut variant = WsClient::connect(&edge.ws("?events=TipsUpdated"))
        .await
        .unwrap();
    let mut medium = WsClient::connect(&edge.ws("?priority=MEDIUM"))
        .await
        .unwrap();
    let mut anded =
        WsClient::connect(&edge.ws("?events=tips.update,diversity.update&priority=medium"))
            .await
            .unwrap();
    let mut sse_variant = SseClient::connect(&edge.sse("?events=TipsUpdated"))
        .await
        .unwrap();
    let mut sse_low = SseClient::connect(&edge.sse("?priority=low"))
        .await
        .unwrap();

    let stream = TestStream::new(&nats).await;
    stream.tagged(Kind::MessageAdded, "excluded-high").await;
    stream.tagged(Kind::EconomicsUpdated, "low").await;
    stream.tagged(Kind::DiversityUpdated, "medium").await;
    stream.tagged(Kind::TipsUpdated, "tips").await;

    assert_eq!(tag(&dotted.next_event().await.unwrap().1), "tips");
    assert_eq!(tag(&variant.next_event().await.unwrap().1), "tips");
    assert_eq!(tag(&medium.next_event().await.unwrap().1), "medium");
    assert_eq!(tag(&anded.next_event().await.unwrap().1), "medium");
    let frame = sse_variant.next_event().await.unwrap();
    assert_eq!(frame.event.as_deref(), Some("tips.update"));
    let frame = sse_low.next_event().await.unwrap();
    assert_eq!(frame.event.as_deref(), Some("economics.update"));

    // The sentinel for `medium` and `anded`: nothing of another priority came in between.
    stream.tagged(Kind::EnergyUpdated, "sentinel").await;
    assert_eq!(tag(&medium.next_event().await.unwrap().1), "sentinel");
    stream.tagged(Kind::DiversityUpdated, "sentinel2").await;
    assert_eq!(tag(&anded.next_event().await.unwrap().1), "sentinel2");
}

#[tokio::test]
async fn subscribe_and_unsubscribe_follow_the_contract() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let mut ws = WsClient::connect(&edge.ws("")).await.unwrap();

    // On an all-events connection, Subscribe narrows.
    ws.send_json(&json!({"type": "Subscribe", "events": ["tips.update"]}))
        .await
        .unwrap();
    assert_eq!(
        ws.next_json().await.unwrap(),
        json!({"type": "Subscribed", "events": ["tips.update"]})
    );
    stream.tagged(Kind::MessageAdded, "no").await;
    stream.tagged(Kind::TipsUpdated, "t1").await;
    assert_eq!(tag(&ws.next_event().await.unwrap().1), "t1");

    // Later Subscribes add (variant names work too).
    ws.send_json(&json!({"type": "Subscribe", "events": ["MessageAdded"]}))
        .await
        .unwrap();
    assert_eq!(ws.next_json().await.unwrap()["type"], "Subscribed");
    stream.tagged(Kind::MessageAdded, "m1").await;
    assert_eq!(tag(&ws.next_event().await.unwrap().1), "m1");

    // Unsubscribe removes; emptying the set puts back everything.
    ws.send_json(&json!({"type": "Unsubscribe", "events": ["tips.update"]}))
        .await
        .unwrap();
    assert_eq!(
        ws.next_json().await.unwrap(),
        json!({"type": "Unsubscribed", "events": ["tips.update"]})
    );
    stream.tagged(Kind::TipsUpdated, "no").await;
    stream.tagged(Kind::MessageAdded, "m2").await;
    assert_eq!(tag(&ws.next_event().await.unwrap().1), "m2");
    ws.send_json(&json!({"type": "Unsubscribe", "events": ["message.new"]}))
        .await
        .unwrap();
    assert_eq!(ws.next_json().await.unwrap()["type"], "Unsubscribed");
    stream.tagged(Kind::NodeStarted, "everything").await;
    assert_eq!(tag(&ws.next_event().await.unwrap().1), "everything");

    // Subscribe(["all"]) means everything, not nothing.
    let mut narrow = WsClient::connect(&edge.ws("?events=tips.update"))
        .await
        .unwrap();
    narrow
        .send_json(&json!({"type": "Subscribe", "events": ["all"]}))
        .await
        .unwrap();
    assert_eq!(narrow.next_json().await.unwrap()["type"], "Subscribed");
    stream.tagged(Kind::GenesisLoaded, "all").await;
    assert_eq!(tag(&narrow.next_event().await.unwrap().1), "all");

    // `events=` (present, empty) receives nothing until it subscribes.
    let mut nothing = WsClient::connect(&edge.ws("?events=")).await.unwrap();
    stream.tagged(Kind::TipsUpdated, "no").await;
    nothing
        .send_json(&json!({"type": "Subscribe", "events": ["node.started"]}))
        .await
        .unwrap();
    assert_eq!(nothing.next_json().await.unwrap()["type"], "Subscribed");
    stream.tagged(Kind::NodeStarted, "first").await;
    assert_eq!(tag(&nothing.next_event().await.unwrap().1), "first");
}

#[tokio::test]
async fn unknown_kinds_pass_through_to_all_and_their_priority() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let mut all = WsClient::connect(&edge.ws("")).await.unwrap();
    let mut low = WsClient::connect(&edge.ws("?priority=low")).await.unwrap();
    let mut named = WsClient::connect(&edge.ws("?events=node.started"))
        .await
        .unwrap();
    let mut sse = SseClient::connect(&edge.sse("")).await.unwrap();
    let stream = TestStream::new(&nats).await;

    let future = json!({"type": "FutureThing", "data": {"tag": "future", "new_field": [1, 2], "timestamp": 9}, "extra": true});
    stream
        .raw(
            format!("{}.low.future.thing", nats.prefix()),
            future.to_string(),
        )
        .await;
    stream.tagged(Kind::NodeStarted, "sentinel").await;

    assert_eq!(all.next_event().await.unwrap().1, future);
    assert_eq!(low.next_event().await.unwrap().1, future);
    let frame = sse.next_event().await.unwrap();
    assert_eq!(frame.event.as_deref(), Some("future.thing"));
    assert_eq!(frame.data.as_deref(), Some(future.to_string().as_str()));
    assert_eq!(tag(&named.next_event().await.unwrap().1), "sentinel");
}

#[tokio::test]
async fn malformed_payloads_are_dropped_and_counted() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let mut ws = WsClient::connect(&edge.ws("")).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let subject = Kind::TipsUpdated.subject(nats.prefix());
    for bad in [
        "not json",
        "[1,2]",
        r#"{"type":"TipsUpdated"}"#,
        r#"{"data":{}}"#,
    ] {
        stream.raw(subject.clone(), bad.to_owned()).await;
    }
    stream.tagged(Kind::TipsUpdated, "good").await;
    assert_eq!(tag(&ws.next_event().await.unwrap().1), "good");
    let metrics = edge.metrics().await;
    assert!(
        metrics.contains("adic_edge_events_dropped_total{reason=\"malformed\"} 4"),
        "{metrics}"
    );
}

#[tokio::test]
async fn multi_line_payloads_are_sent_compact() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let mut sse = SseClient::connect(&edge.sse("")).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let pretty = "{\n  \"type\": \"NodeStarted\",\n  \"data\": {\"node_id\": \"n\", \"version\": \"1\", \"timestamp\": 2}\n}";
    stream
        .raw(Kind::NodeStarted.subject(nats.prefix()), pretty.to_owned())
        .await;
    let frame = sse.next_event().await.unwrap();
    assert_eq!(
        frame.data.as_deref(),
        Some(r#"{"type":"NodeStarted","data":{"node_id":"n","version":"1","timestamp":2}}"#)
    );
}
