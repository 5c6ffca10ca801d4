//! The publisher's Prometheus metrics, on a port of its own (`--metrics-listen`).

use std::net::SocketAddr;

use async_nats::connection::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

use crate::Publisher;

/// The metrics of `publisher` in the text exposition format.
pub fn render(publisher: &Publisher) -> String {
    let stats = publisher.stats();
    let registry = Registry::new();
    let counter = |name: &str, help: &str, value: u64| {
        let c = IntCounter::new(name, help).expect("valid metric");
        c.inc_by(value);
        registry.register(Box::new(c)).expect("unique metric");
    };
    let gauge = |name: &str, help: &str, value: u64| {
        let g = IntGauge::new(name, help).expect("valid metric");
        g.set(i64::try_from(value).unwrap_or(i64::MAX));
        registry.register(Box::new(g)).expect("unique metric");
    };
    let build = IntGauge::with_opts(
        Opts::new(
            "adic_publisher_build_info",
            "Build of this publisher; always 1",
        )
        .const_label("version", env!("CARGO_PKG_VERSION")),
    )
    .expect("valid metric");
    build.set(1);
    registry.register(Box::new(build)).expect("unique metric");
    counter(
        "adic_publisher_published_total",
        "Events accepted into the publish buffer",
        stats.published,
    );
    counter(
        "adic_publisher_acked_total",
        "Events acked by JetStream (stored, or recognised as a duplicate)",
        stats.acked,
    );
    counter(
        "adic_publisher_duplicates_total",
        "Acked events JetStream reported as duplicates of an earlier publish",
        stats.duplicates,
    );
    counter(
        "adic_publisher_retried_total",
        "Publish attempts that failed and were tried again",
        stats.retried,
    );
    let dropped = IntCounterVec::new(
        Opts::new(
            "adic_publisher_dropped_total",
            "Events not published, by reason",
        ),
        &["reason"],
    )
    .expect("valid metric");
    dropped
        .with_label_values(&["buffer_full"])
        .inc_by(stats.dropped_full);
    dropped
        .with_label_values(&["rejected"])
        .inc_by(stats.dropped_rejected);
    dropped
        .with_label_values(&["expired"])
        .inc_by(stats.dropped_expired);
    registry.register(Box::new(dropped)).expect("unique metric");
    gauge(
        "adic_publisher_buffered",
        "Events waiting in the publish buffer",
        stats.buffered,
    );
    gauge(
        "adic_publisher_last_sequence",
        "Stream sequence of the last acked event",
        stats.last_sequence,
    );
    gauge(
        "adic_publisher_nats_connected",
        "1 while connected to NATS",
        u64::from(publisher.shared().client.connection_state() == State::Connected),
    );
    registry
        .register(Box::new(publisher.shared().ack_latency.clone()))
        .expect("unique metric");
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .expect("text encoding of gathered metrics");
    String::from_utf8(out).expect("prometheus text is UTF-8")
}

/// What a command adds to its publisher's metrics listener: more metrics, and more conditions
/// of readiness (the relay is ready only while it is also connected to its node).
pub trait Extra: Send + Sync + 'static {
    /// More exposition text, appended to the publisher's.
    fn render(&self) -> String;
    /// Why the process is not ready, when it is not (NATS is checked besides).
    fn not_ready(&self) -> Option<String>;
}

impl Extra for () {
    fn render(&self) -> String {
        String::new()
    }
    fn not_ready(&self) -> Option<String> {
        None
    }
}

/// Serves `GET /metrics`, `GET /healthz` and `GET /readyz` (connected to NATS) for `publisher` on `addr` (port 0 picks a free one) from a spawned task;
/// returns the bound address. Must be called inside a tokio runtime.
pub async fn serve(publisher: Publisher, addr: SocketAddr) -> std::io::Result<SocketAddr> {
    serve_with(publisher, addr, std::sync::Arc::new(())).await
}

/// [`serve`], with what `extra` adds to `/metrics` and `/readyz`.
pub async fn serve_with(
    publisher: Publisher,
    addr: SocketAddr,
    extra: std::sync::Arc<dyn Extra>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let ready = publisher.clone();
    let ready_extra = std::sync::Arc::clone(&extra);
    let app = Router::new()
        .route(
            "/metrics",
            get(move || {
                let publisher = publisher.clone();
                let extra = std::sync::Arc::clone(&extra);
                async move {
                    (
                        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                        render(&publisher) + &extra.render(),
                    )
                        .into_response()
                }
            }),
        )
        // Alive while the process serves this port.
        .route("/healthz", get(|| async { "ok\n" }))
        // Ready while connected to NATS (and whatever `extra` requires).
        .route(
            "/readyz",
            get(move || {
                let connected = ready.shared().client.connection_state() == State::Connected;
                let extra = ready_extra.not_ready();
                async move {
                    match (connected, extra) {
                        (true, None) => (StatusCode::OK, "ready\n".to_owned()),
                        (false, _) => (
                            StatusCode::SERVICE_UNAVAILABLE,
                            "not connected to NATS\n".to_owned(),
                        ),
                        (true, Some(why)) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
                    }
                }
            }),
        );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics listener stopped");
        }
    });
    Ok(local)
}
