//! Prometheus metrics of the edge, served on `/metrics` and `/v1/metrics`.
//!
//! The first five names are the ones dashboards of the old in-node server already use. No metric
//! has a per-client label.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric of one edge process.
pub struct Metrics {
    registry: Registry,
    /// Valid events received from the stream and fanned out.
    pub events_emitted: IntCounter,
    pub websocket_connections: IntGauge,
    pub sse_connections: IntGauge,
    /// Long polls held at the edge, waiting for an event.
    pub polls_waiting: IntGauge,
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
    /// Inputs refused for passing a limit, by limit (`per_ip`, `head_size`, `message_rate`,
    /// `origin`).
    pub limits_hit: IntCounterVec,
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
    /// Times the NATS connection was re-established.
    pub nats_reconnects: IntCounter,
    /// Open connections by transport (`websocket`, `sse`).
    pub connections: IntGaugeVec,
    /// Connections accepted, by transport.
    pub connections_opened: IntCounterVec,
    /// Events written to clients, by transport (`websocket`, `sse`, `polling`).
    pub deliveries: IntCounterVec,
    /// Event bytes written to clients, by transport.
    pub delivered_bytes: IntCounterVec,
    /// Seconds from the stream storing an event to a client's write of it (live deliveries).
    pub delivery_latency: HistogramVec,
    /// A client's queued bytes each time it wakes to write.
    pub queue_bytes: Histogram,
    /// Polling requests answered.
    pub poll_requests: IntCounter,
    /// The stream's last sequence, sampled every few seconds.
    pub stream_last_sequence: IntGauge,
    /// Events stored in the stream that this edge has not fanned out yet.
    pub consumer_lag: IntGauge,
    /// 1 while `/readyz` answers 200.
    pub ready: IntGauge,
    /// 1 while draining for shutdown.
    pub draining: IntGauge,
    /// Events held in the ring.
    pub ring_events: IntGauge,
    /// The per-transport series, resolved once.
    pub websocket: TransportMetrics,
    pub sse: TransportMetrics,
    pub polling: TransportMetrics,
}

/// The delivery series of one transport.
#[derive(Clone)]
pub struct TransportMetrics {
    pub deliveries: IntCounter,
    pub bytes: IntCounter,
    pub latency: Histogram,
    /// The contract's per-transport counter (`adic_websocket_messages_sent_total`, ...), if any.
    pub messages_sent: Option<IntCounter>,
}

impl TransportMetrics {
    /// Counts `events` written in `bytes` bytes.
    pub fn delivered(&self, events: usize, bytes: usize) {
        self.deliveries.inc_by(events as u64);
        self.bytes.inc_by(bytes as u64);
        if let Some(sent) = &self.messages_sent {
            sent.inc_by(events as u64);
        }
    }
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
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let build = IntGauge::with_opts(
            Opts::new("adic_edge_build_info", "Build of this edge; always 1")
                .const_label("version", env!("CARGO_PKG_VERSION")),
        )
        .expect("valid metric");
        build.set(1);
        registry.register(Box::new(build)).expect("unique metric");
        let websocket_messages_sent = counter(
            "adic_websocket_messages_sent_total",
            "Events delivered over WebSocket",
        );
        let sse_messages_sent =
            counter("adic_sse_messages_sent_total", "Events delivered over SSE");
        let deliveries = counter_vec(
            "adic_edge_deliveries_total",
            "Events written to clients, by transport",
            &["transport"],
        );
        let delivered_bytes = counter_vec(
            "adic_edge_delivered_bytes_total",
            "Event bytes written to clients, by transport",
            &["transport"],
        );
        let delivery_latency = {
            let h = HistogramVec::new(
                    HistogramOpts::new(
                        "adic_edge_delivery_latency_seconds",
                        "Seconds from the stream storing an event to its write to a client (live deliveries)",
                    )
                    .buckets(vec![
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                        10.0,
                    ]),
                    &["transport"],
                )
                .expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric");
            h
        };
        let per = |label: &str, sent: Option<&IntCounter>| TransportMetrics {
            deliveries: deliveries.with_label_values(&[label]),
            bytes: delivered_bytes.with_label_values(&[label]),
            latency: delivery_latency.with_label_values(&[label]),
            messages_sent: sent.cloned(),
        };
        Metrics {
            websocket: per("websocket", Some(&websocket_messages_sent)),
            sse: per("sse", Some(&sse_messages_sent)),
            polling: per("polling", None),
            events_emitted: counter(
                "adic_events_emitted_total",
                "Events received from the stream and fanned out",
            ),
            websocket_connections: gauge(
                "adic_websocket_connections",
                "Open WebSocket connections",
            ),
            sse_connections: gauge("adic_sse_connections", "Open SSE connections"),
            polls_waiting: gauge(
                "adic_edge_polls_waiting",
                "Long polls held, waiting for an event",
            ),
            websocket_messages_sent,
            sse_messages_sent,
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
            limits_hit: counter_vec(
                "adic_edge_limits_hit_total",
                "Inputs refused for passing a limit, by limit",
                &["limit"],
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
            nats_reconnects: counter(
                "adic_edge_nats_reconnects_total",
                "Times the NATS connection was re-established",
            ),
            connections: gauge_vec(
                "adic_edge_connections",
                "Open connections by transport",
                &["transport"],
            ),
            connections_opened: counter_vec(
                "adic_edge_connections_opened_total",
                "Connections accepted, by transport",
                &["transport"],
            ),
            deliveries,
            delivered_bytes,
            delivery_latency,
            queue_bytes: {
                let h = Histogram::with_opts(
                    HistogramOpts::new(
                        "adic_edge_client_queue_bytes",
                        "A client's queued bytes each time it wakes to write",
                    )
                    .buckets(
                        prometheus::exponential_buckets(256.0, 4.0, 9).expect("valid buckets"),
                    ),
                )
                .expect("valid metric");
                registry
                    .register(Box::new(h.clone()))
                    .expect("unique metric");
                h
            },
            poll_requests: counter("adic_edge_poll_requests_total", "Polling requests answered"),
            stream_last_sequence: gauge(
                "adic_edge_stream_last_sequence",
                "The stream's last sequence, sampled every few seconds",
            ),
            consumer_lag: gauge(
                "adic_edge_consumer_lag",
                "Events stored in the stream that this edge has not fanned out yet",
            ),
            ready: gauge("adic_edge_ready", "1 while /readyz answers 200"),
            draining: gauge("adic_edge_draining", "1 while draining for shutdown"),
            ring_events: gauge("adic_edge_ring_events", "Events held in the ring"),
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
