//! [`Edge`]: what every request handler, session and the feed share.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use adic_protocol::{Cursor, Epoch};
use tokio::sync::watch;

use crate::auth::Auth;
use crate::broker::{Broker, StreamIdentity};
use crate::config::EdgeSettings;
use crate::connections::Connections;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::replay::Replayer;
use crate::ring::Ring;
use crate::snapshots::Snapshots;

/// The shared state of one edge process.
pub struct Edge {
    pub settings: EdgeSettings,
    pub hub: Arc<Hub>,
    pub metrics: Metrics,
    pub broker: Arc<dyn Broker>,
    pub feed: FeedStatus,
    pub ring: Ring,
    pub replayer: Replayer,
    pub snapshots: Snapshots,
    pub connections: Arc<Connections>,
    /// `--trusted-proxies`, parsed.
    pub trusted_proxies: Vec<crate::client_addr::Cidr>,
    /// The token verifier, when authentication is on.
    pub auth: Option<Auth>,
    /// The one shared heartbeat clock: sessions check keep-alives and pings on its ticks, so no
    /// client owns a timer.
    pub ticker: watch::Receiver<Instant>,
    /// Set once, when the drain starts; long polls watch it to answer at once.
    draining: watch::Sender<bool>,
}

/// What the live feed has reached.
pub struct FeedStatus {
    running: AtomicBool,
    epoch: AtomicU32,
    /// Sequence of the newest stream message whose fan-out is complete: every client that wants
    /// an event up to here has it queued or delivered. Watched by long polls.
    published: watch::Sender<u64>,
    /// The stream's last sequence when the feed first started: the edge is warm (its ring holds
    /// the recent past) once it has passed it.
    warm_target: AtomicU64,
}

impl Default for FeedStatus {
    fn default() -> Self {
        FeedStatus {
            running: AtomicBool::new(false),
            epoch: AtomicU32::new(0),
            published: watch::channel(0).0,
            warm_target: AtomicU64::new(u64::MAX),
        }
    }
}

impl FeedStatus {
    /// The consumer runs on `identity`'s stream from `from_seq`.
    pub fn started(&self, identity: &StreamIdentity, from_seq: u64) {
        self.epoch.store(identity.epoch.0, Ordering::Release);
        let _ = self.warm_target.compare_exchange(
            u64::MAX,
            identity.last_seq,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        let floor = from_seq.saturating_sub(1);
        self.published.send_if_modified(|p| {
            let moved = *p < floor;
            *p = (*p).max(floor);
            moved
        });
        self.running.store(true, Ordering::Release);
    }

    /// The stream was recreated: positions start over on the new instance.
    pub fn reset(&self, identity: &StreamIdentity) {
        self.epoch.store(identity.epoch.0, Ordering::Release);
        // Warm again once the new stream's present is reached, not the old stream's.
        self.warm_target.store(identity.last_seq, Ordering::Release);
        self.published
            .send_replace(identity.first_seq.saturating_sub(1));
    }

    pub fn stopped(&self) {
        self.running.store(false, Ordering::Release);
    }

    /// Every client has `seq` (and everything before) queued or delivered.
    pub fn published(&self, seq: u64) {
        self.published.send_replace(seq);
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// Whether the ring holds the recent past (the feed passed the stream's end at start).
    pub fn is_warm(&self) -> bool {
        *self.published.borrow() >= self.warm_target.load(Ordering::Acquire)
    }

    pub fn epoch(&self) -> Epoch {
        Epoch(self.epoch.load(Ordering::Acquire))
    }

    /// Sequence of the newest event fanned out.
    pub fn published_seq(&self) -> u64 {
        *self.published.borrow()
    }

    /// Wakes when the published sequence moves.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.published.subscribe()
    }

    /// The cursor of the newest event fanned out, once the feed has started.
    pub fn cursor(&self) -> Option<Cursor> {
        self.is_running()
            .then(|| Cursor::new(self.epoch(), self.published_seq()))
    }
}

/// Why the edge is not ready, for `/readyz` and the health report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotReady {
    NatsDisconnected,
    ConsumerNotRunning,
    WarmingUp,
    Draining,
}

impl NotReady {
    pub fn describe(self) -> &'static str {
        match self {
            NotReady::NatsDisconnected => "not connected to NATS",
            NotReady::ConsumerNotRunning => "live consumer not running yet",
            NotReady::WarmingUp => "filling the ring with recent events",
            NotReady::Draining => "draining",
        }
    }
}

impl Edge {
    pub fn new(
        settings: EdgeSettings,
        broker: Arc<dyn Broker>,
        ticker: watch::Receiver<Instant>,
        max_connections: usize,
    ) -> Edge {
        let metrics = Metrics::new();
        let connections = Arc::new(
            Connections::new(
                max_connections,
                [
                    metrics.websocket_connections.clone(),
                    metrics.sse_connections.clone(),
                    metrics.connections.with_label_values(&["polling"]),
                ],
                metrics.connections_opened.clone(),
            )
            .with_per_ip(settings.max_connections_per_ip),
        );
        // Checked by `EdgeSettings::validate`.
        let trusted_proxies = settings
            .trusted_proxies
            .iter()
            .filter_map(|c| c.parse().ok())
            .collect();
        Edge {
            ring: Ring::new(settings.ring_events, settings.ring_bytes),
            replayer: Replayer::new(Arc::clone(&broker), settings.replay_consumers),
            snapshots: Snapshots::default(),
            settings,
            hub: Arc::new(Hub::default()),
            metrics,
            broker,
            feed: FeedStatus::default(),
            connections,
            trusted_proxies,
            auth: None,
            ticker,
            draining: watch::channel(false).0,
        }
    }

    /// The same edge, verifying tokens with `auth`.
    #[must_use]
    pub fn with_auth(mut self, auth: Option<Auth>) -> Edge {
        self.auth = auth;
        self
    }

    /// `Ok` when the edge should receive traffic.
    pub fn readiness(&self) -> Result<(), NotReady> {
        if self.is_draining() {
            Err(NotReady::Draining)
        } else if !self.broker.is_connected() {
            Err(NotReady::NatsDisconnected)
        } else if !self.feed.is_running() {
            Err(NotReady::ConsumerNotRunning)
        } else if !self.feed.is_warm() {
            Err(NotReady::WarmingUp)
        } else {
            Ok(())
        }
    }

    /// Brings the gauges that are read rather than counted up to date (before a scrape).
    pub fn refresh_metrics(&self) {
        let m = &self.metrics;
        m.nats_connected.set(i64::from(self.broker.is_connected()));
        m.nats_reconnects.inc_by(
            self.broker
                .reconnects()
                .saturating_sub(m.nats_reconnects.get()),
        );
        m.connections
            .with_label_values(&["websocket"])
            .set(m.websocket_connections.get());
        m.connections
            .with_label_values(&["sse"])
            .set(m.sse_connections.get());
        m.ready.set(i64::from(self.readiness().is_ok()));
        m.draining.set(i64::from(self.is_draining()));
        m.ring_events
            .set(i64::try_from(self.ring.len()).unwrap_or(i64::MAX));
        let last = m.stream_last_sequence.get();
        let published = i64::try_from(self.feed.published_seq()).unwrap_or(i64::MAX);
        m.consumer_lag.set((last - published).max(0));
    }

    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    pub fn start_draining(&self) {
        self.draining.send_replace(true);
    }

    /// Resolves once the drain has started (at once if it has).
    pub async fn drained(&self) {
        let mut draining = self.draining.subscribe();
        let _ = draining.wait_for(|d| *d).await;
    }
}
