//! Bad client input gets a clear error and loses nothing: the connection stays (where it can),
//! and every other client keeps receiving.

use adic_edge::config::EdgeSettings;
use adic_protocol::Kind;
use adic_tests::clients::{SseClient, WsClient, WsItem};
use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use serde_json::json;

fn error_message(v: &serde_json::Value) -> String {
    assert_eq!(v["type"], "Error", "{v}");
    v["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn bad_websocket_messages_get_an_error_and_the_connection_stays() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let mut bystander = WsClient::connect(&edge.ws("")).await.unwrap();
    let mut ws = WsClient::connect(&edge.ws("")).await.unwrap();

    ws.send_text("{not json").await.unwrap();
    assert!(error_message(&ws.next_json().await.unwrap()).contains("not valid JSON"));
    ws.send_json(&json!({"type": "Dance"})).await.unwrap();
    assert!(
        error_message(&ws.next_json().await.unwrap()).contains("unknown message type \"Dance\"")
    );
    ws.send_json(&json!({"type": "Subscribe", "events": ["tips.update", "bogus"]}))
        .await
        .unwrap();
    assert!(error_message(&ws.next_json().await.unwrap()).contains("unknown event name \"bogus\""));
    ws.send_json(&json!({"type": "Subscribe", "events": "tips.update"}))
        .await
        .unwrap();
    assert!(error_message(&ws.next_json().await.unwrap()).contains("array of event names"));
    ws.send_binary(vec![1, 2, 3]).await.unwrap();
    assert!(error_message(&ws.next_json().await.unwrap()).contains("binary frames"));
    ws.send_json(&json!({"type": "Ping", "ignored": 1}))
        .await
        .unwrap();
    assert_eq!(ws.next_json().await.unwrap(), json!({"type": "Pong"}));

    // The refused Subscribe changed nothing: this connection still receives everything.
    let js = async_nats::jetstream::new(nats.client().await.unwrap());
    let json = r#"{"type":"MessageAdded","data":{"message_id":"x","depth":1,"timestamp":1}}"#;
    js.publish(Kind::MessageAdded.subject(nats.prefix()), json.into())
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(ws.next_event().await.unwrap().1.to_string(), json);
    assert_eq!(bystander.next_event().await.unwrap().1.to_string(), json);

    let metrics = edge.metrics().await;
    assert!(
        metrics.contains("adic_edge_client_errors_total{transport=\"websocket\"} 5"),
        "{metrics}"
    );
}

#[tokio::test]
async fn bad_query_parameters_are_explained() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();

    let sse = SseClient::connect(&edge.sse("?events=tips.update,nope"))
        .await
        .unwrap();
    assert_eq!(sse.status, 400);
    let body = reqwest::get(edge.sse("?priority=urgent")).await.unwrap();
    assert_eq!(body.status(), 400);
    let text = body.text().await.unwrap();
    assert!(text.contains("unknown priority \\\"urgent\\\""), "{text}");
    let body = reqwest::get(edge.sse("?heartbeat=maybe")).await.unwrap();
    assert_eq!(body.status(), 400);

    // A browser cannot read the body of a failed upgrade: the reason comes over the socket.
    let mut ws = WsClient::connect(&edge.ws("?priority=urgent"))
        .await
        .unwrap();
    assert!(error_message(&ws.next_json().await.unwrap()).contains("unknown priority"));
    match ws.next_item().await.unwrap() {
        WsItem::Close(Some((code, _))) => assert_eq!(code, 4100),
        other => panic!("expected a policy close, got {other:?}"),
    }
}

#[tokio::test]
async fn an_oversized_message_closes_only_that_connection() {
    let nats = TestNats::start().await.unwrap();
    let settings = EdgeSettings {
        max_client_message: 1024,
        ..EdgeSettings::default()
    };
    let edge = TestEdge::start_with(&nats, settings).await.unwrap();
    let mut other = WsClient::connect(&edge.ws("")).await.unwrap();
    let mut ws = WsClient::connect(&edge.ws("")).await.unwrap();
    let big = json!({"type": "Ping", "pad": "x".repeat(4096)});
    ws.send_json(&big).await.unwrap();
    match ws.next_item().await.unwrap() {
        WsItem::Close(Some((code, reason))) => {
            assert_eq!(code, 1009);
            assert!(reason.contains("at most 1024 bytes"), "{reason}");
        }
        other => panic!("expected close 1009, got {other:?}"),
    }
    other.send_json(&json!({"type": "Ping"})).await.unwrap();
    assert_eq!(other.next_json().await.unwrap(), json!({"type": "Pong"}));
}
