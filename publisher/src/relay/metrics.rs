//! What the relay counts: its connection to the node (state, reconnects, time away), events
//! read, relayed (stored by this relay), suppressed as duplicates (another relay, or an earlier
//! run, stored them first), dropped, bad frames by reason, and the lag from an event's own
//! timestamp to its ack. Served beside the publisher's metrics; `/readyz` needs the node too.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use super::node::{BadFrame, Transport};
use crate::Outcome;

/// Why an event read from the node was not stored by anyone through this relay.
#[derive(Clone, Copy, Debug)]
pub enum Dropped {
    /// The publish buffer was full (NATS away for long).
    BufferFull,
    /// Waited in the buffer past `--max-buffer-age`.
    Expired,
    /// Refused by NATS (too large).
    Rejected,
}

const DROPPED: [&str; 3] = ["buffer_full", "expired", "rejected"];

pub struct RelayMetrics {
    transport: Transport,
    connected: AtomicBool,
    reconnects: AtomicU64,
    connect_failures: AtomicU64,
    read: AtomicU64,
    relayed: AtomicU64,
    duplicates: AtomicU64,
    dropped: [AtomicU64; 3],
    bad: [AtomicU64; BadFrame::ALL.len()],
    logged: [AtomicBool; BadFrame::ALL.len()],
    away: Mutex<Away>,
    lag: Histogram,
}

struct Away {
    /// Disconnected since (the start counts: nothing is relayed before the first connection).
    since: Option<Instant>,
    total: Duration,
    last: Option<Duration>,
}

impl RelayMetrics {
    pub fn new(transport: Transport) -> RelayMetrics {
        let lag = Histogram::with_opts(
            HistogramOpts::new(
                "adic_relay_event_lag_seconds",
                "Seconds from an event's own timestamp (whole seconds, the node's clock) to its JetStream ack",
            )
            .buckets(vec![0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0]),
        )
        .expect("valid histogram");
        RelayMetrics {
            transport,
            connected: AtomicBool::new(false),
            reconnects: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            read: AtomicU64::new(0),
            relayed: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            dropped: Default::default(),
            bad: Default::default(),
            logged: Default::default(),
            away: Mutex::new(Away {
                since: Some(Instant::now()),
                total: Duration::ZERO,
                last: None,
            }),
            lag,
        }
    }

    /// Connected to the node; returns how long the relay was away, unless this is the first
    /// connection.
    pub fn connected(&self, first: bool) -> Duration {
        self.connected.store(true, Ordering::Relaxed);
        let mut away = self.away.lock().expect("away lock");
        let length = away.since.take().map_or(Duration::ZERO, |s| s.elapsed());
        away.total += length;
        if !first {
            away.last = Some(length);
            self.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        length
    }

    pub fn disconnected(&self) {
        self.connected.store(false, Ordering::Relaxed);
        let mut away = self.away.lock().expect("away lock");
        away.since.get_or_insert_with(Instant::now);
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    pub fn connect_failed(&self) {
        self.connect_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn read(&self) {
        self.read.fetch_add(1, Ordering::Relaxed);
    }

    pub fn dropped(&self, why: Dropped) {
        self.dropped[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a bad frame; the first of each reason is logged (with what it was), the rest only
    /// counted.
    pub fn bad(&self, reason: BadFrame, detail: &str) {
        let i = BadFrame::ALL
            .iter()
            .position(|r| *r == reason)
            .expect("every reason is listed");
        self.bad[i].fetch_add(1, Ordering::Relaxed);
        if !self.logged[i].swap(true, Ordering::Relaxed) {
            tracing::warn!(
                reason = reason.as_str(),
                %detail,
                "skipped a frame from the node; further ones of this kind are only counted (adic_relay_bad_frames_total)"
            );
        }
    }

    /// Records the outcome of a publish of an event with `timestamp`.
    pub fn outcome(&self, outcome: Outcome, timestamp: Option<i64>) {
        match outcome {
            Outcome::Stored(_) => {
                self.relayed.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Duplicate(_) => {
                self.duplicates.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Rejected => return self.dropped(Dropped::Rejected),
            Outcome::Expired => return self.dropped(Dropped::Expired),
        }
        if let Some(ts) = timestamp {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            #[allow(clippy::cast_precision_loss)]
            self.lag.observe((now - ts as f64).max(0.0));
        }
    }

    /// (relayed, duplicates) so far.
    pub fn published(&self) -> (u64, u64) {
        (
            self.relayed.load(Ordering::Relaxed),
            self.duplicates.load(Ordering::Relaxed),
        )
    }

    pub fn render(&self) -> String {
        let registry = Registry::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let counter = |name: &str, help: &str, value: u64| {
            let c = IntCounter::new(name, help).expect("valid metric");
            c.inc_by(value);
            registry.register(Box::new(c)).expect("unique metric");
        };
        let info = IntGauge::with_opts(
            Opts::new(
                "adic_relay_info",
                "The node transport this relay reads; always 1",
            )
            .const_label("transport", self.transport.as_str()),
        )
        .expect("valid metric");
        info.set(1);
        registry.register(Box::new(info)).expect("unique metric");
        let connected = IntGauge::new("adic_relay_node_connected", "1 while connected to the node")
            .expect("valid metric");
        connected.set(i64::from(self.is_connected()));
        registry
            .register(Box::new(connected))
            .expect("unique metric");
        counter(
            "adic_relay_reconnects_total",
            "Connections to the node after the first",
            load(&self.reconnects),
        );
        counter(
            "adic_relay_connect_failures_total",
            "Attempts to connect to the node that failed",
            load(&self.connect_failures),
        );
        let (total, last) = {
            let away = self.away.lock().expect("away lock");
            let ongoing = away.since.map_or(Duration::ZERO, |s| s.elapsed());
            (away.total + ongoing, away.last)
        };
        let seconds = prometheus::Gauge::new(
            "adic_relay_disconnected_seconds_total",
            "Seconds this relay was not connected to the node (since start, the current disconnection included)",
        )
        .expect("valid metric");
        seconds.set(total.as_secs_f64());
        registry.register(Box::new(seconds)).expect("unique metric");
        let last_gauge = prometheus::Gauge::new(
            "adic_relay_last_disconnection_seconds",
            "Length of the last disconnection from the node that ended (0: none yet)",
        )
        .expect("valid metric");
        last_gauge.set(last.map_or(0.0, |d| d.as_secs_f64()));
        registry
            .register(Box::new(last_gauge))
            .expect("unique metric");
        counter(
            "adic_relay_events_read_total",
            "Valid events read from the node",
            load(&self.read),
        );
        counter(
            "adic_relay_events_relayed_total",
            "Events this relay stored in the stream (acked, not a duplicate)",
            load(&self.relayed),
        );
        counter(
            "adic_relay_duplicates_suppressed_total",
            "Events acked as duplicates: another relay (or an earlier run) had stored them",
            load(&self.duplicates),
        );
        let dropped = IntCounterVec::new(
            Opts::new(
                "adic_relay_events_dropped_total",
                "Events read from the node that this relay did not get into the stream, by reason",
            ),
            &["reason"],
        )
        .expect("valid metric");
        for (i, reason) in DROPPED.iter().enumerate() {
            dropped
                .with_label_values(&[reason])
                .inc_by(load(&self.dropped[i]));
        }
        registry.register(Box::new(dropped)).expect("unique metric");
        let bad = IntCounterVec::new(
            Opts::new(
                "adic_relay_bad_frames_total",
                "Frames from the node that were skipped, by reason",
            ),
            &["reason"],
        )
        .expect("valid metric");
        for (i, reason) in BadFrame::ALL.iter().enumerate() {
            bad.with_label_values(&[reason.as_str()])
                .inc_by(load(&self.bad[i]));
        }
        registry.register(Box::new(bad)).expect("unique metric");
        registry
            .register(Box::new(self.lag.clone()))
            .expect("unique metric");
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut out)
            .expect("text encoding of gathered metrics");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}

impl crate::metrics::Extra for RelayMetrics {
    fn render(&self) -> String {
        RelayMetrics::render(self)
    }

    fn not_ready(&self) -> Option<String> {
        (!self.is_connected()).then(|| "not connected to the node".to_owned())
    }
}
