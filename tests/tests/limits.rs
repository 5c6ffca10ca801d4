//! Limits on every input, over real sockets: connections per address (and a trusted proxy's
//! `X-Forwarded-For`), request-head size, client message rate, filter size, non-ASCII cursors,
//! and metrics on a listener of their own. Each refusal is clear and counted, and the edge
//! keeps serving everyone else.

use adic_edge::config::EdgeSettings;
use adic_protocol::Kind;
use adic_tests::clients::{SseClient, WsClient, WsItem};
use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use adic_tests::stream::{tag, TestStream};
use serde_json::{json, Value};

async fn poll(edge: &TestEdge, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(edge.http("/v1/events?wait=0"));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn connections_per_address_are_capped_and_a_trusted_proxy_names_the_client() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start_with(
        &nats,
        EdgeSettings {
            max_connections_per_ip: 2,
            ..EdgeSettings::default()
        },
    )
    .await
    .unwrap();
    let first = SseClient::connect(&edge.sse("")).await.unwrap();
    let second = WsClient::connect(&edge.ws("")).await.unwrap();
    assert_eq!(first.status, 200);
    let (status, body) = poll(&edge, &[]).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["code"], "too_many_connections");
    // Without a trusted proxy, X-Forwarded-For is anyone's to write: ignored.
    let (status, _) = poll(&edge, &[("x-forwarded-for", "198.51.100.1")]).await;
    assert_eq!(status, 429);
    let refused = WsClient::connect(&edge.ws("")).await;
    assert!(format!("{:#}", refused.err().unwrap()).contains("429"));
    assert!(edge
        .metrics()
        .await
        .contains("adic_edge_limits_hit_total{limit=\"per_ip\"}"));
    drop(second);
    adic_tests::wait_until(std::time::Duration::from_secs(10), || async {
        poll(&edge, &[]).await.0 == 200
    })
    .await
    .unwrap();
    drop(first);

    // Behind a trusted proxy, each forwarded client has its own allowance.
    let proxied = TestEdge::start_with(
        &nats,
        EdgeSettings {
            max_connections_per_ip: 1,
            trusted_proxies: vec!["127.0.0.0/8".into()],
            ..EdgeSettings::default()
        },
    )
    .await
    .unwrap();
    let a = SseClient::connect_with(&proxied.sse(""), &[("x-forwarded-for", "198.51.100.1")])
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    let (status, _) = poll(&proxied, &[("x-forwarded-for", "198.51.100.2")]).await;
    assert_eq!(status, 200);
    let (status, _) = poll(&proxied, &[("x-forwarded-for", "6.6.6.6, 198.51.100.1")]).await;
    assert_eq!(status, 429, "the right-most untrusted hop is the client");
}

#[tokio::test]
async fn oversized_heads_spam_and_huge_filters_are_refused_while_others_are_served() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start_with(
        &nats,
        EdgeSettings {
            client_messages_per_second: 5,
            ..EdgeSettings::default()
        },
    )
    .await
    .unwrap();
    let stream = TestStream::new(&nats).await;
    let mut bystander = WsClient::connect(&edge.ws("")).await.unwrap();

    // A request head over --max-head-bytes, on the SSE path and elsewhere: 431, explained.
    for path in ["/v1/sse/events", "/v1/events"] {
        let url = edge.http(&format!("{path}?events={}", "x".repeat(20 << 10)));
        let response = reqwest::get(url).await.unwrap();
        assert_eq!(response.status(), 431, "{path}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("--max-head-bytes"),
            "{body}"
        );
    }

    // A filter of too many names: an Error, and the connection stays.
    let mut big = WsClient::connect(&edge.ws("")).await.unwrap();
    let names = vec!["tips.update"; 300];
    big.send_json(&json!({"type": "Subscribe", "events": names}))
        .await
        .unwrap();
    let error = big.next_json().await.unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("too many event names"),
        "{error}"
    );

    // Message spam: closed with 4429 and the cursor, after its burst.
    let mut spammer = WsClient::connect(&edge.ws("")).await.unwrap();
    let mut closed = None;
    for _ in 0..200 {
        if spammer.send_json(&json!({"type": "Ping"})).await.is_err() {
            break;
        }
    }
    for _ in 0..200 {
        match spammer.next_item().await.unwrap() {
            WsItem::Json(_) => {}
            WsItem::Close(close) => {
                closed = close;
                break;
            }
        }
    }
    let (code, reason) = closed.expect("a close frame");
    assert_eq!(code, 4429);
    assert!(
        reason.contains("at most 5 per second") && reason.contains("resume="),
        "{reason}"
    );

    // A cursor header that is not ASCII: a clear 400, not silently a fresh start.
    let response = reqwest::Client::new()
        .get(edge.sse(""))
        .header(
            "last-event-id",
            axum::http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("Last-Event-ID"));

    // Meanwhile the well-behaved client missed nothing.
    stream.tagged(Kind::MessageAdded, "still-here").await;
    assert_eq!(tag(&bystander.next_event().await.unwrap().1), "still-here");
    let metrics = edge.metrics().await;
    for limit in ["head_size", "message_rate"] {
        assert!(
            metrics.contains(&format!("adic_edge_limits_hit_total{{limit=\"{limit}\"}}")),
            "{limit}"
        );
    }
}

#[tokio::test]
async fn metrics_can_live_on_a_listener_of_their_own() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start_with(
        &nats,
        EdgeSettings {
            metrics_listen: Some("127.0.0.1:0".parse().unwrap()),
            ..EdgeSettings::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        reqwest::get(edge.http("/metrics")).await.unwrap().status(),
        404
    );
    assert_eq!(
        reqwest::get(edge.http("/readyz")).await.unwrap().status(),
        200
    );
    let ops = format!("http://{}", edge.metrics_addr().unwrap());
    let metrics = reqwest::get(format!("{ops}/metrics")).await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("adic_edge_ready 1"));
    assert_eq!(
        reqwest::get(format!("{ops}/readyz"))
            .await
            .unwrap()
            .status(),
        200
    );
}
