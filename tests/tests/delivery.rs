//! Events published through the publisher reach WebSocket and SSE clients of real edges, in the
//! exact contract JSON, with cursors that increase and are the same on every edge.

use adic_protocol::Kind;
use adic_publisher::{Publisher, PublisherConfig};
use adic_tests::clients::{seq_of, SseClient, WsClient};
use adic_tests::edge::{stream_settings, TestEdge};
use adic_tests::nats::TestNats;
use serde_json::Value;

/// The contract's sample events (`shared/contract/kinds.json`, as kept in the protocol crate).
pub fn samples() -> Vec<(Kind, String)> {
    let text = include_str!("../../protocol/tests/kinds.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    doc["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let kind = Kind::from_variant(k["variant"].as_str().unwrap()).unwrap();
            (kind, serde_json::to_string(&k["sample"]).unwrap())
        })
        .collect()
}

async fn publisher(nats: &TestNats) -> Publisher {
    let config = PublisherConfig {
        stream: stream_settings(nats),
        ..PublisherConfig::default()
    };
    Publisher::start(nats.client().await.unwrap(), config)
}

#[tokio::test]
async fn every_kind_reaches_ws_and_sse_in_contract_json() {
    adic_tests::init_logs();
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let mut ws = WsClient::connect(&edge.ws("")).await.unwrap();
    let mut sse = SseClient::connect(&edge.sse("")).await.unwrap();
    assert_eq!(sse.status, 200);
    assert_eq!(sse.headers["content-type"], "text/event-stream");
    assert_eq!(sse.headers["cache-control"], "no-cache");
    assert_eq!(sse.headers["x-accel-buffering"], "no");

    let publisher = publisher(&nats).await;
    let samples = samples();
    for (kind, json) in &samples {
        publisher.publish_json(*kind, json.clone().into()).unwrap();
    }
    publisher.flush().await;

    let mut last_ws = 0;
    let mut last_sse = 0;
    for (kind, json) in &samples {
        let (id, event) = ws.next_event().await.unwrap();
        assert_eq!(serde_json::to_string(&event).unwrap(), *json, "WS {kind}");
        assert!(seq_of(&id) > last_ws, "WS cursors increase");
        last_ws = seq_of(&id);

        let frame = sse.next_event().await.unwrap();
        assert_eq!(frame.event.as_deref(), Some(kind.name()));
        assert_eq!(frame.data.as_deref(), Some(json.as_str()), "SSE {kind}");
        assert_eq!(
            frame.id.as_deref(),
            Some(id.as_str()),
            "SSE and WS cursors agree"
        );
        last_sse = seq_of(frame.id.as_deref().unwrap());
    }
    assert_eq!(last_ws, last_sse);
}

#[tokio::test]
async fn two_edges_give_identical_events_and_cursors() {
    let nats = TestNats::start().await.unwrap();
    let a = TestEdge::start(&nats).await.unwrap();
    let b = TestEdge::start(&nats).await.unwrap();
    let mut wa = WsClient::connect(&a.ws("")).await.unwrap();
    let mut wb = WsClient::connect(&b.ws("")).await.unwrap();
    let publisher = publisher(&nats).await;
    for (kind, json) in samples().into_iter().take(20) {
        publisher.publish_json(kind, json.into()).unwrap();
    }
    publisher.flush().await;
    for _ in 0..20 {
        assert_eq!(
            wa.next_event().await.unwrap(),
            wb.next_event().await.unwrap()
        );
    }
}

#[tokio::test]
async fn a_plain_nats_publish_on_the_documented_subject_is_delivered() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let mut ws = WsClient::connect(&edge.ws("")).await.unwrap();
    let client = nats.client().await.unwrap();
    let js = async_nats::jetstream::new(client);
    let subject = Kind::MessageAdded.subject(nats.prefix());
    let json = r#"{"type":"MessageAdded","data":{"message_id":"ab","depth":3,"timestamp":5}}"#;
    js.publish(subject, json.into())
        .await
        .unwrap()
        .await
        .unwrap();
    let (_, event) = ws.next_event().await.unwrap();
    assert_eq!(event.to_string(), json);
}
