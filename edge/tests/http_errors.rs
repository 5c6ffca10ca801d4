//! Every refusal of the HTTP surface, through the router without a socket (`Router::oneshot`):
//! the one error shape (`error`, `code`, `status`), the status, and the admission order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use adic_edge::broker::memory::MemoryBroker;
use adic_edge::config::EdgeSettings;
use adic_edge::http::router;
use adic_edge::state::Edge;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

fn edge(settings: EdgeSettings) -> Arc<Edge> {
    let broker = Arc::new(MemoryBroker::new("adic.events", 100));
    let (_tick, ticker) = tokio::sync::watch::channel(Instant::now());
    Arc::new(Edge::new(settings, broker, ticker, 10))
}

async fn ask(edge: &Arc<Edge>, request: Request<Body>) -> (StatusCode, String, String) {
    let response = router(Arc::clone(edge)).oneshot(request).await.unwrap();
    let status = response.status();
    let kind = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = tokio::time::timeout(Duration::from_secs(5), response.into_body().collect())
        .await
        .expect("a finite body")
        .unwrap()
        .to_bytes();
    (status, kind, String::from_utf8(body.to_vec()).unwrap())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn upgrade(uri: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_VERSION, "13")
        .header(header::SEC_WEBSOCKET_KEY, "dGhlIHNhbXBsZSBub25jZQ==")
        .body(Body::empty())
        .unwrap()
}

/// The body is the error shape with this status and code; returns the message.
fn shape(status: StatusCode, body: &str, code: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{body}: {e}"));
    assert_eq!(v["status"], status.as_u16(), "{body}");
    assert_eq!(v["code"], code, "{body}");
    v["error"].as_str().expect("an error message").to_owned()
}

#[tokio::test]
async fn bad_requests_say_what_was_wrong_in_the_one_shape() {
    let edge = edge(EdgeSettings::default());
    for (request, code, needle) in [
        (get("/nowhere"), StatusCode::NOT_FOUND, "no such endpoint"),
        (get("/v1/events?limit=0"), StatusCode::BAD_REQUEST, "limit"),
        (
            get("/v1/events?wait=forever"),
            StatusCode::BAD_REQUEST,
            "wait",
        ),
        (
            get("/v1/events?events=nope"),
            StatusCode::BAD_REQUEST,
            "nope",
        ),
        (
            get("/v1/events?after=junk"),
            StatusCode::BAD_REQUEST,
            "after",
        ),
        (
            get("/v1/sse/events?priority=urgent"),
            StatusCode::BAD_REQUEST,
            "urgent",
        ),
        (
            get("/v1/sse/events?snapshot=maybe"),
            StatusCode::BAD_REQUEST,
            "snapshot",
        ),
        (
            get("/v1/ws/events"),
            StatusCode::BAD_REQUEST,
            "WebSocket upgrade",
        ),
    ] {
        let uri = request.uri().to_string();
        let (status, kind, body) = ask(&edge, request).await;
        assert_eq!(status, code, "{uri}: {body}");
        assert_eq!(kind, "application/json", "{uri}");
        let default = if code == StatusCode::NOT_FOUND {
            "not_found"
        } else {
            "bad_request"
        };
        let message = shape(code, &body, default);
        assert!(message.contains(needle), "{uri}: {message}");
    }
    // A WebSocket version this edge does not speak: 426 naming the one it does.
    let mut request = upgrade("/v1/ws/events");
    request
        .headers_mut()
        .insert(header::SEC_WEBSOCKET_VERSION, "8".parse().unwrap());
    let response = router(Arc::clone(&edge)).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(response.headers()[header::SEC_WEBSOCKET_VERSION], "13");
}

#[tokio::test]
async fn a_disabled_transport_is_404_and_names_the_other() {
    let edge = edge(EdgeSettings {
        no_websocket: true,
        no_sse: true,
        ..EdgeSettings::default()
    });
    let (status, _, body) = ask(&edge, upgrade("/v1/ws/events")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(shape(status, &body, "transport_disabled").contains("/v1/sse/events"));
    let (status, _, body) = ask(&edge, get("/v1/sse/events")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(shape(status, &body, "transport_disabled").contains("/v1/ws/events"));
}

#[tokio::test]
async fn a_draining_edge_sends_every_transport_elsewhere_before_reading_the_request() {
    let edge = edge(EdgeSettings::default());
    edge.start_draining();
    // Admission comes before the request is read: even a bad request is sent elsewhere.
    let (status, _, body) = ask(&edge, upgrade("/v1/ws/events?events=nope")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    shape(status, &body, "draining");
    let (status, _, body) = ask(&edge, get("/v1/events?limit=0")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    shape(status, &body, "draining");
    // SSE: browsers retry only a 200, so 200 with a retry hint and the end of the stream.
    let (status, kind, body) = ask(&edge, get("/v1/sse/events?events=nope")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(kind, "text/event-stream");
    assert!(body.starts_with("retry: "), "{body}");
    let rejected = edge
        .metrics
        .connections_rejected
        .with_label_values(&["polling", "draining"])
        .get();
    assert_eq!(rejected, 1);
}

#[tokio::test]
async fn a_full_edge_refuses_with_capacity_and_polls_count_against_the_cap() {
    let edge = edge(EdgeSettings::default());
    // The cap is 10: take every slot as connected clients would.
    let held: Vec<_> = (0..10)
        .map(|_| {
            adic_edge::admission::admit(
                &edge,
                adic_edge::connections::Transport::Sse,
                None,
                &Default::default(),
            )
            .unwrap()
        })
        .collect();
    let (status, _, body) = ask(&edge, get("/v1/events")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    shape(status, &body, "capacity");
    let (status, _, body) = ask(&edge, upgrade("/v1/ws/events")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    shape(status, &body, "capacity");
    drop(held);
    // Not ready (no live feed in this test): polling says so in the same shape.
    let (status, _, body) = ask(&edge, get("/v1/events")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    shape(status, &body, "not_ready");
    assert_eq!(
        edge.connections.open(),
        0,
        "a finished poll gives its slot back"
    );
}
