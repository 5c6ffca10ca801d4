//! [`Publisher`]: publishes events onto the stream, in order, each stored once.
//!
//! `publish` never waits on NATS: it puts the event into a bounded buffer that one task drains
//! in order. That task publishes one event at a time and waits for its JetStream ack before the
//! next, retrying the same event (same `Nats-Msg-Id`, so the stream stores it once) until it is
//! acked. One at a time is what keeps order across retries: were two in flight and the first
//! failed, its retry would land after the second, and an older snapshot would supersede a newer.
//! While NATS is unreachable the buffer fills; when it is full `publish` refuses the event and
//! counts it as dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use adic_protocol::{Event, Kind};
use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage};
use async_nats::HeaderMap;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use crate::connect::{ConnectError, NatsArgs};
use crate::stream::StreamSettings;
use crate::trace::{current_traceparent, TRACEPARENT};

/// Settings of a [`Publisher`].
#[derive(Clone, Debug)]
pub struct PublisherConfig {
    pub stream: StreamSettings,
    /// Events buffered while NATS is slow or away; past this, `publish` drops and counts.
    pub buffer: usize,
    /// Prefix of every `Nats-Msg-Id`; random per publisher when `None`.
    pub msg_id_prefix: Option<String>,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        PublisherConfig {
            stream: StreamSettings::default(),
            buffer: 100_000,
            msg_id_prefix: None,
        }
    }
}

/// Why an event was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("publish buffer full ({0} events waiting for NATS); event dropped")]
    BufferFull(usize),
    #[error("publisher has stopped")]
    Closed,
    #[error("event JSON: {0}")]
    Json(String),
}

/// Counters of what the publisher did, for logs and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Events accepted into the buffer.
    pub published: u64,
    /// Events acked by JetStream (stored, or recognised as a duplicate of a stored one).
    pub acked: u64,
    /// Of the acked, those JetStream reported as duplicates of an earlier publish.
    pub duplicates: u64,
    /// Publish attempts that failed and were tried again.
    pub retried: u64,
    /// Events refused because the buffer was full.
    pub dropped_full: u64,
    /// Events JetStream refused for good (e.g. larger than the server's max payload).
    pub dropped_rejected: u64,
    /// Events waiting in the buffer.
    pub buffered: u64,
    /// Stream sequence of the last acked event.
    pub last_sequence: u64,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    acked: AtomicU64,
    duplicates: AtomicU64,
    retried: AtomicU64,
    dropped_full: AtomicU64,
    dropped_rejected: AtomicU64,
    last_sequence: AtomicU64,
}

struct Outgoing {
    subject: String,
    payload: Bytes,
    headers: HeaderMap,
    msg_id: String,
}

struct Shared {
    counters: Counters,
    /// Number of events finished (acked or dropped for good), for `flush`.
    finished: watch::Sender<u64>,
    msg_id_prefix: String,
    next_id: AtomicU64,
    prefix: String,
    capacity: usize,
}

/// A cheap, cloneable handle to the publishing task.
#[derive(Clone)]
pub struct Publisher {
    tx: mpsc::Sender<Outgoing>,
    shared: Arc<Shared>,
}

impl Publisher {
    /// Connects to NATS (retrying in the background while it is away) and starts publishing.
    pub async fn connect(
        nats: &NatsArgs,
        config: PublisherConfig,
    ) -> Result<Publisher, ConnectError> {
        let client = nats.connect("adic-publisher").await?;
        Ok(Publisher::start(client, config))
    }

    /// Starts publishing on an existing client. Must be called inside a tokio runtime.
    pub fn start(client: async_nats::Client, config: PublisherConfig) -> Publisher {
        let (tx, rx) = mpsc::channel(config.buffer.max(1));
        let msg_id_prefix = config
            .msg_id_prefix
            .clone()
            .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()));
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            finished: watch::channel(0).0,
            msg_id_prefix,
            next_id: AtomicU64::new(1),
            prefix: config.stream.prefix.clone(),
            capacity: config.buffer.max(1),
        });
        let js = jetstream::new(client);
        tokio::spawn(drain(js, config.stream, rx, Arc::clone(&shared)));
        Publisher { tx, shared }
    }

    /// Queues a typed event for publishing on its kind's subject.
    pub fn publish(&self, event: &Event) -> Result<(), PublishError> {
        let json = serde_json::to_vec(event).map_err(|e| PublishError::Json(e.to_string()))?;
        self.publish_json(event.kind(), Bytes::from(json))
    }

    /// Queues event JSON that is already encoded, for a known kind.
    pub fn publish_json(&self, kind: Kind, json: Bytes) -> Result<(), PublishError> {
        self.publish_on(kind.subject(&self.shared.prefix), json)
    }

    /// Queues a payload on an explicit subject (for kinds this build does not know).
    /// The current span's trace context goes along as `traceparent`.
    pub fn publish_on(&self, subject: String, payload: Bytes) -> Result<(), PublishError> {
        let n = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let msg_id = format!("{}-{n}", self.shared.msg_id_prefix);
        self.publish_with_id(subject, payload, msg_id)
    }

    /// Queues a payload with a caller-chosen `Nats-Msg-Id`. A node that numbers its events can
    /// derive the id from the number: after a restart it may publish again what it is not sure
    /// was stored, and the stream keeps one copy (within the duplicate window).
    pub fn publish_with_id(
        &self,
        subject: String,
        payload: Bytes,
        msg_id: String,
    ) -> Result<(), PublishError> {
        let mut headers = HeaderMap::new();
        if let Some(traceparent) = current_traceparent() {
            headers.insert(TRACEPARENT, traceparent.as_str());
        }
        let outgoing = Outgoing {
            subject,
            payload,
            headers,
            msg_id,
        };
        match self.tx.try_send(outgoing) {
            Ok(()) => {
                self.shared
                    .counters
                    .published
                    .fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shared
                    .counters
                    .dropped_full
                    .fetch_add(1, Ordering::Relaxed);
                Err(PublishError::BufferFull(self.shared.capacity))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(PublishError::Closed),
        }
    }

    /// Waits until every event queued before this call is acked or dropped for good.
    pub async fn flush(&self) {
        let target = self.shared.counters.published.load(Ordering::Relaxed);
        let mut finished = self.shared.finished.subscribe();
        // The sender lives in `shared`, so the channel cannot close while we hold `self`.
        let _ = finished.wait_for(|done| *done >= target).await;
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            published: load(&c.published),
            acked: load(&c.acked),
            duplicates: load(&c.duplicates),
            retried: load(&c.retried),
            dropped_full: load(&c.dropped_full),
            dropped_rejected: load(&c.dropped_rejected),
            buffered: (self.shared.capacity - self.tx.capacity()) as u64,
            last_sequence: load(&c.last_sequence),
        }
    }
}

/// Publishes the buffer in order, one acked event at a time.
async fn drain(
    js: jetstream::Context,
    stream: StreamSettings,
    mut rx: mpsc::Receiver<Outgoing>,
    shared: Arc<Shared>,
) {
    let counters = &shared.counters;
    let mut stream_ready = false;
    while let Some(out) = rx.recv().await {
        let mut backoff = Backoff::default();
        loop {
            if !stream_ready {
                match stream.ensure(&js).await {
                    Ok(_) => stream_ready = true,
                    Err(e) => {
                        tracing::warn!(error = %e, "stream not available yet; retrying");
                        backoff.wait().await;
                        continue;
                    }
                }
            }
            let publish = PublishMessage::build()
                .payload(out.payload.clone())
                .headers(out.headers.clone())
                .message_id(&out.msg_id);
            let result = match js.send_publish(out.subject.clone(), publish).await {
                Ok(ack) => ack.await,
                Err(e) => Err(e),
            };
            match result {
                Ok(ack) => {
                    counters.acked.fetch_add(1, Ordering::Relaxed);
                    if ack.duplicate {
                        counters.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                    counters
                        .last_sequence
                        .fetch_max(ack.sequence, Ordering::Relaxed);
                    break;
                }
                Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                    tracing::error!(subject = %out.subject, error = %e, "event refused by NATS; dropped");
                    counters.dropped_rejected.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(e) => {
                    if e.kind() == PublishErrorKind::StreamNotFound {
                        stream_ready = false;
                    }
                    tracing::debug!(subject = %out.subject, error = %e, "publish failed; retrying");
                    counters.retried.fetch_add(1, Ordering::Relaxed);
                    backoff.wait().await;
                }
            }
        }
        shared.finished.send_modify(|n| *n += 1);
    }
}

/// 50 ms doubling to 2 s.
#[derive(Default)]
struct Backoff {
    attempt: u32,
}

impl Backoff {
    async fn wait(&mut self) {
        let delay = Duration::from_millis(50 << self.attempt.min(6)).min(Duration::from_secs(2));
        self.attempt += 1;
        tokio::time::sleep(delay).await;
    }
}
