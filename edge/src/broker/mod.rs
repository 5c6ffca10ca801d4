//! The broker seam: the only part of the edge that knows where events come from.
//!
//! [`nats`] reads the JetStream stream; [`memory`] is the single-process stand-in for the demo. Everything else in the edge (hub, sessions, transports)
//! sees [`StreamEvent`]s with their stream sequence and the stream's [`StreamIdentity`].

use std::time::SystemTime;

use adic_protocol::Epoch;
use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::mpsc;

pub mod memory;
pub mod nats;

/// One message of the stream, as stored.
#[derive(Clone, Debug)]
pub struct StreamEvent {
    /// Stream sequence: the global order, the same on every edge.
    pub seq: u64,
    pub subject: String,
    pub payload: Bytes,
    /// W3C trace context set by the publisher, if any.
    pub traceparent: Option<String>,
    /// When the stream stored it.
    pub stored_at: Option<SystemTime>,
}

/// Which stream instance this is and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamIdentity {
    pub epoch: Epoch,
    /// Oldest sequence still held (`last_seq + 1` when empty).
    pub first_seq: u64,
    /// Newest sequence stored (0 when nothing was ever stored).
    pub last_seq: u64,
}

/// Where the live feed starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveStart {
    /// At this sequence (inclusive).
    At(u64),
    /// This many events back from the end of the stream (0: only events stored from now on), so
    /// an edge fills its ring before it serves.
    Recent(u64),
}

/// What the live feed yields.
#[derive(Debug)]
pub enum LiveItem {
    /// The consumer is running on this stream instance from `from_seq` (sent first, and after
    /// every recreation of the consumer, which continues after the last delivered sequence).
    Started {
        identity: StreamIdentity,
        from_seq: u64,
    },
    Event(StreamEvent),
    /// The stream no longer holds events before `first_seq` (age, size limits, a purge).
    Trimmed {
        first_seq: u64,
    },
    /// The stream was deleted and recreated: events follow from the new instance.
    Reset(StreamIdentity),
}

/// Errors of the seam.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("stream unavailable: {0}")]
    Unavailable(String),
}

/// Where events come from. Object-safe so the edge holds one `Arc<dyn Broker>`; the hot path is
/// the live channel, not these calls.
pub trait Broker: Send + Sync + 'static {
    /// Starts the live feed. It recovers from connection loss by itself and resumes after the
    /// last sequence it delivered. The channel is bounded; the caller must keep reading it.
    fn live(&self, start: LiveStart) -> mpsc::Receiver<LiveItem>;

    /// Reads up to `max` events starting at `from_seq`, in order. Fewer than `max` means the end
    /// of the stream was reached.
    fn read_range(
        &self,
        from_seq: u64,
        max: usize,
    ) -> BoxFuture<'_, Result<Vec<StreamEvent>, BrokerError>>;

    /// The newest event stored on `subject`, if any.
    fn last_value<'a>(
        &'a self,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<Option<StreamEvent>, BrokerError>>;

    /// The stream's identity and bounds now.
    fn identity(&self) -> BoxFuture<'_, Result<StreamIdentity, BrokerError>>;

    /// Whether the connection to the event source is up.
    fn is_connected(&self) -> bool;

    /// Times the connection to the event source was re-established.
    fn reconnects(&self) -> u64 {
        0
    }

    /// Subject prefix of the stream.
    fn prefix(&self) -> &str;
}
