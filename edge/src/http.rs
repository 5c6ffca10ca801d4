//! The HTTP surface: routes, CORS, health, readiness, metrics.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::error::ApiError;
use crate::state::Edge;
use crate::transport::{poll, sse, ws};

/// Every route of the edge.
pub fn router(edge: Arc<Edge>) -> Router {
    let router = if edge.settings.no_dashboard {
        Router::new()
    } else {
        crate::dashboard::routes()
    };
    let router = router
        .route("/v1/ws/events", get(ws::handler))
        .route(sse::PATH, get(sse::handler))
        .route("/v1/events", get(poll::handler))
        .route("/v1/health/streaming", get(streaming_health))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    // With a metrics listener, metrics are served there only.
    let router = if edge.settings.metrics_listen.is_some() {
        router
    } else {
        router
            .route("/metrics", get(metrics))
            .route("/v1/metrics", get(metrics))
    };
    router
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .layer(cors(
            &edge.settings.cors_origins,
            edge.auth.is_some() && edge.settings.auth.auth_cookie.is_some(),
        ))
        .with_state(edge)
}

/// CORS for the listed origins; with cookie authentication, the listed origins may send it
/// (`*` is refused at start in that case).
/// The `--metrics-listen` routes: metrics, health, readiness, the health report.
pub fn ops_router(edge: Arc<Edge>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/v1/health/streaming", get(streaming_health))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint") })
        .with_state(edge)
}

fn cors(origins: &[String], credentials: bool) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET])
        .allow_headers([
            HeaderName::from_static("last-event-id"),
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
        ])
        .allow_credentials(credentials)
}

async fn readyz(State(edge): State<Arc<Edge>>) -> Response {
    match edge.readiness() {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why.describe()).into_response(),
    }
}

async fn metrics(State(edge): State<Arc<Edge>>) -> Response {
    edge.refresh_metrics();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        edge.metrics.render(),
    )
        .into_response()
}

/// The old node's health report, with real figures instead of a hard-coded "healthy".
async fn streaming_health(State(edge): State<Arc<Edge>>) -> Json<serde_json::Value> {
    edge.refresh_metrics();
    let m = &edge.metrics;
    let readiness = edge.readiness();
    let status = match readiness {
        Ok(()) => "healthy",
        Err(crate::state::NotReady::Draining) => "draining",
        Err(_) => "unhealthy",
    };
    Json(json!({
        "status": status,
        "reason": readiness.err().map(|why| why.describe()),
        "event_streaming": {
            "enabled": true,
            "websocket_enabled": !edge.settings.no_websocket,
            "sse_enabled": !edge.settings.no_sse,
        },
        "metrics": {
            "events_emitted_total": m.events_emitted.get(),
            "websocket_connections": m.websocket_connections.get(),
            "sse_connections": m.sse_connections.get(),
            "websocket_messages_sent": m.websocket_messages_sent.get(),
            "sse_messages_sent": m.sse_messages_sent.get(),
        },
        "nats": {
            "connected": edge.broker.is_connected(),
            "reconnects": edge.broker.reconnects(),
        },
        "stream": {
            "cursor": edge.feed.cursor().map(|c| c.to_string()),
            "consumer_running": edge.feed.is_running(),
            "last_sequence": m.stream_last_sequence.get(),
            "consumer_lag": m.consumer_lag.get(),
        },
        "deliveries": {
            "websocket": m.websocket.deliveries.get(),
            "sse": m.sse.deliveries.get(),
            "polling": m.polling.deliveries.get(),
        },
        "connections": { "open": edge.connections.open(), "max": edge.connections.max() },
        "ring": { "first_seq": edge.ring.bounds().0, "last_seq": edge.ring.bounds().1 },
    }))
}
