//! The JSON report of one load run.

use serde::Serialize;

use crate::stats::KindTally;
use crate::system;

/// Latency percentiles in milliseconds.
#[derive(Debug, Default, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// What a run measured.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub label: String,
    pub transport: String,
    pub connections: usize,
    pub connected: usize,
    pub connect_failed: usize,
    pub connects_per_sec: f64,
    pub server_rss_before_kib: Option<u64>,
    pub server_rss_idle_kib: Option<u64>,
    /// (idle RSS - RSS before) / connections.
    pub server_kib_per_connection: Option<f64>,
    pub sockstat_idle: system::Sockstat,
    pub loadgen_rss_kib: Option<u64>,
    pub rate: f64,
    pub published: u64,
    pub received: u64,
    /// Published × connected, for runs where every connection takes every event; with
    /// `--filter-spread`, the sum over connections of the events published of its kind.
    pub expected: u64,
    pub lost: u64,
    pub out_of_order: u64,
    pub deliveries_per_sec: f64,
    pub latency: Latency,
    /// Busy share of each core while publishing.
    pub core_busy: Vec<f64>,
    /// Server CPU while publishing (and draining), in cores.
    pub server_cpu: Option<f64>,
    /// The same as CPU seconds: deliveries per server CPU second = received / this.
    pub server_cpu_secs: Option<f64>,
    /// Events in the burst (0: not a burst run).
    pub burst_events: u64,
    /// From the first event of the burst handed to the publisher until all were acked by NATS.
    pub burst_publish_ms: Option<f64>,
    /// From the first event of the burst handed to the publisher until the last delivery to any
    /// connection.
    pub last_delivery_ms: Option<f64>,
    pub closes: u64,
    /// Reconnect storm: how far back the cursors were (None: not a storm run).
    pub storm_back: Option<u64>,
    /// The cursor every connection resumed from.
    pub storm_cursor: Option<String>,
    /// The stream's newest sequence at the start of the storm: what everyone must reach.
    pub storm_target_seq: Option<u64>,
    /// Connections that reached the target.
    pub caught_up: u64,
    /// From the start of the storm until the last connection reached the target.
    pub caught_up_ms: Option<f64>,
    /// Most consumers on the stream in samples every 100 ms during the storm.
    pub max_consumers: Option<usize>,
    pub consumer_samples: u64,
    /// Filtered fan-out (`--filter-spread` K; 0: every connection takes every event).
    pub filter_spread: usize,
    /// Per kind subscribed to: connections, published, expected, received, lost.
    pub filter_kinds: Vec<KindTally>,
    /// Events received of another kind than the connection subscribed to.
    pub wrong_kind: u64,
    /// Progress markers received (written by the server, not counted as deliveries).
    pub progress_markers: u64,
    pub errors: Vec<String>,
}
