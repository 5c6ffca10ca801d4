//! Prometheus metrics of the edge, served on `/metrics` and `/v1/metrics`.
//!
//! The first five names are the ones dashboards of the old in-node server already use. No metric
//! has a per-client label.

use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// Every metric of one edge process.
pub struct Metrics {
    registry: Registry,
    /// Valid events received from the stream and fanned out.
    pub events_emitted: IntCounter,
    pub websocket_connections: IntGauge,
    pub sse_connections: IntGauge,
    /// Events delivered to WebSocket clients.
    pub websocket_messages_sent: IntCounter,
    /// Events delivered to SSE clients.
    pub sse_messages_sent: IntCounter,
    /// Stream messages the edge could not deliver, by reason (`malformed`).
    pub events_dropped: IntCounterVec,
    /// Connections refused, by transport and reason (`capacity`, `draining`).
    pub connections_rejected: IntCounterVec,
    /// Client requests or messages refused as invalid, by transport.
    pub client_errors: IntCounterVec,
    /// Clients closed because their queue overflowed, by transport.
    pub slow_consumer_closes: IntCounterVec,
    /// Superseded snapshot values dropped from slow clients' queues.
    pub conflated: IntCounter,
    /// Resumes by where they were served from (`ring`, `jetstream`, `gap`, `reset`, `ahead`).
    pub resumes: IntCounterVec,
    /// Stream sequence of the newest event this edge received.
    pub stream_sequence: IntGauge,
    /// 1 while connected to NATS.
    pub nats_connected: IntGauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let build = IntGauge::with_opts(
            Opts::new("adic_edge_build_info", "Build of this edge; always 1")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        )
        .expect("valid metric");
        build.set(1);
        registry.register(Box::new(build)).expect("unique metric");
        Metrics {
            events_emitted: counter(
                "adic_events_emitted_total",
                "Events received from the stream and fanned out",
            ),
            websocket_connections: gauge(
                "adic_websocket_connections",
                "Open WebSocket connections",
            ),
            sse_connections: gauge("adic_sse_connections", "Open SSE connections"),
            websocket_messages_sent: counter(
                "adic_websocket_messages_sent_total",
                "Events delivered over WebSocket",
            ),
            sse_messages_sent: counter("adic_sse_messages_sent_total", "Events delivered over SSE"),
            events_dropped: counter_vec(
                "adic_edge_events_dropped_total",
                "Stream messages not delivered, by reason",
                &["reason"],
            ),
            connections_rejected: counter_vec(
                "adic_edge_connections_rejected_total",
                "Connections refused, by transport and reason",
                &["transport", "reason"],
            ),
            client_errors: counter_vec(
                "adic_edge_client_errors_total",
                "Invalid client requests or messages",
                &["transport"],
            ),
            slow_consumer_closes: counter_vec(
                "adic_edge_slow_consumer_closes_total",
                "Clients closed because their queue overflowed",
                &["transport"],
            ),
            conflated: counter(
                "adic_edge_conflated_total",
                "Superseded snapshot values dropped from slow clients' queues",
            ),
            resumes: counter_vec(
                "adic_edge_resumes_total",
                "Resumes by cursor, by source",
                &["source"],
            ),
            stream_sequence: gauge(
                "adic_edge_stream_sequence",
                "Stream sequence of the newest event received",
            ),
            nats_connected: gauge("adic_edge_nats_connected", "1 while connected to NATS"),
            registry,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding of gathered metrics");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
