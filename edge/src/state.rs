//! [`Edge`]: what every request handler, session and the feed share.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use adic_protocol::{Cursor, Epoch};
use tokio::sync::watch;

use crate::broker::{Broker, StreamIdentity};
use crate::config::EdgeSettings;
use crate::hub::Hub;
use crate::limits::Connections;
use crate::metrics::Metrics;

/// The shared state of one edge process.
pub struct Edge {
    pub settings: EdgeSettings,
    pub hub: Arc<Hub>,
    pub metrics: Metrics,
    pub broker: Arc<dyn Broker>,
    pub feed: FeedStatus,
    pub connections: Arc<Connections>,
    /// The one shared heartbeat clock: sessions check keep-alives and pings on its ticks, so no
    /// client owns a timer.
    pub ticker: watch::Receiver<Instant>,
    draining: AtomicBool,
}

/// What the live feed has reached.
#[derive(Default)]
pub struct FeedStatus {
    running: AtomicBool,
    epoch: AtomicU32,
    last_seq: AtomicU64,
}

impl FeedStatus {
    pub fn started(&self, identity: &StreamIdentity) {
        self.epoch.store(identity.epoch.0, Ordering::Release);
        self.last_seq.fetch_max(identity.last_seq, Ordering::AcqRel);
        self.running.store(true, Ordering::Release);
    }

    pub fn reset(&self, identity: &StreamIdentity) {
        self.epoch.store(identity.epoch.0, Ordering::Release);
        self.last_seq.store(identity.last_seq, Ordering::Release);
    }

    pub fn stopped(&self) {
        self.running.store(false, Ordering::Release);
    }

    pub fn advanced(&self, seq: u64) {
        self.last_seq.fetch_max(seq, Ordering::AcqRel);
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// The cursor of the newest event received, once the feed has started.
    pub fn cursor(&self) -> Option<Cursor> {
        self.is_running().then(|| {
            Cursor::new(
                Epoch(self.epoch.load(Ordering::Acquire)),
                self.last_seq.load(Ordering::Acquire),
            )
        })
    }
}

/// Why the edge is not ready, for `/readyz` and the health report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotReady {
    NatsDisconnected,
    ConsumerNotRunning,
    Draining,
}

impl NotReady {
    pub fn describe(self) -> &'static str {
        match self {
            NotReady::NatsDisconnected => "not connected to NATS",
            NotReady::ConsumerNotRunning => "live consumer not running yet",
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
        let connections = Arc::new(Connections::new(
            max_connections,
            metrics.websocket_connections.clone(),
            metrics.sse_connections.clone(),
        ));
        Edge {
            settings,
            hub: Arc::new(Hub::default()),
            metrics,
            broker,
            feed: FeedStatus::default(),
            connections,
            ticker,
            draining: AtomicBool::new(false),
        }
    }

    /// `Ok` when the edge should receive traffic.
    pub fn readiness(&self) -> Result<(), NotReady> {
        if self.is_draining() {
            Err(NotReady::Draining)
        } else if !self.broker.is_connected() {
            Err(NotReady::NatsDisconnected)
        } else if !self.feed.is_running() {
            Err(NotReady::ConsumerNotRunning)
        } else {
            Ok(())
        }
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }
}
