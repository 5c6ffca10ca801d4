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
use std::time::{Duration, Instant};

use adic_protocol::{Event, Kind};
use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage};
use async_nats::HeaderMap;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use crate::connect::{ConnectError, NatsArgs};
use crate::stream::StreamSettings;
use crate::trace::{parse_traceparent, traceparent_of, TRACEPARENT};
use opentelemetry::trace::TraceContextExt as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

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
    /// Events not sent because they waited past their deadline (see [`Publisher::publish_tracked`]).
    pub dropped_expired: u64,
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
    dropped_expired: AtomicU64,
    last_sequence: AtomicU64,
}

/// What became of one event published with [`Publisher::publish_tracked`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Stored at this stream sequence.
    Stored(u64),
    /// JetStream already held a message with this `Nats-Msg-Id` (at this sequence).
    Duplicate(u64),
    /// Refused for good (e.g. larger than the server's max payload).
    Rejected,
    /// Not sent: still unacked at its deadline.
    Expired,
}

/// Resolves to the [`Outcome`] of a tracked event once the publishing task is done with it;
/// fails only when the publisher stopped first.
pub type Receipt = tokio::sync::oneshot::Receiver<Outcome>;

struct Outgoing {
    subject: String,
    payload: Bytes,
    headers: HeaderMap,
    msg_id: String,
    /// The event's `adic.publish` span (disabled when nothing traces): ends at the ack.
    span: tracing::Span,
    /// Not sent (nor retried) after this instant.
    deadline: Option<Instant>,
    receipt: Option<tokio::sync::oneshot::Sender<Outcome>>,
}

pub(crate) struct Shared {
    counters: Counters,
    /// Number of events finished (acked or dropped for good), for `flush`.
    finished: watch::Sender<u64>,
    msg_id_prefix: String,
    next_id: AtomicU64,
    prefix: String,
    capacity: usize,
    /// Seconds from sending an event to its JetStream ack.
    pub(crate) ack_latency: prometheus::Histogram,
    pub(crate) client: async_nats::Client,
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
        let ack_latency = prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new(
                "adic_publisher_ack_latency_seconds",
                "Seconds from sending an event to its JetStream ack",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
        )
        .expect("valid histogram");
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            finished: watch::channel(0).0,
            msg_id_prefix,
            next_id: AtomicU64::new(1),
            prefix: config.stream.prefix.clone(),
            capacity: config.buffer.max(1),
            ack_latency,
            client: client.clone(),
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
        let msg_id = self.next_msg_id();
        self.publish_with_id(subject, payload, msg_id)
    }

    /// Queues a typed event as part of the trace `traceparent` names (a node that carries its
    /// trace context as a W3C header rather than a tracing span). A malformed value is ignored:
    /// the event is published, as a trace of its own when tracing is on.
    pub fn publish_with_parent(
        &self,
        event: &Event,
        traceparent: &str,
    ) -> Result<(), PublishError> {
        let json = serde_json::to_vec(event).map_err(|e| PublishError::Json(e.to_string()))?;
        let subject = event.kind().subject(&self.shared.prefix);
        let msg_id = self.next_msg_id();
        let span = publish_span(&subject, &msg_id, parse_traceparent(traceparent));
        self.enqueue(subject, Bytes::from(json), msg_id, span)
    }

    fn next_msg_id(&self) -> String {
        let n = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{}-{n}", self.shared.msg_id_prefix)
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
        let span = publish_span(&subject, &msg_id, None);
        self.enqueue(subject, payload, msg_id, span)
    }

    /// [`Publisher::publish_with_id`], and a [`Receipt`] that tells what became of the event.
    ///
    /// With a `deadline`, an event still not acked at that instant (NATS away, or the buffer
    /// ahead of it too long) is dropped instead of sent or retried, and counted: once a
    /// `Nats-Msg-Id` has left the stream's duplicate window, sending it again could store a
    /// second copy behind newer events. A relay whose partner already stored the event sets
    /// the deadline inside that window.
    pub fn publish_tracked(
        &self,
        subject: String,
        payload: Bytes,
        msg_id: String,
        deadline: Option<Instant>,
    ) -> Result<Receipt, PublishError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let span = publish_span(&subject, &msg_id, None);
        self.enqueue_outgoing(self.outgoing(subject, payload, msg_id, span, deadline, Some(tx)))?;
        Ok(rx)
    }

    fn outgoing(
        &self,
        subject: String,
        payload: Bytes,
        msg_id: String,
        span: tracing::Span,
        deadline: Option<Instant>,
        receipt: Option<tokio::sync::oneshot::Sender<Outcome>>,
    ) -> Outgoing {
        let mut headers = HeaderMap::new();
        if let Some(traceparent) = traceparent_of(&span) {
            headers.insert(TRACEPARENT, traceparent.as_str());
        }
        Outgoing {
            subject,
            payload,
            headers,
            msg_id,
            span,
            deadline,
            receipt,
        }
    }

    fn enqueue(
        &self,
        subject: String,
        payload: Bytes,
        msg_id: String,
        span: tracing::Span,
    ) -> Result<(), PublishError> {
        self.enqueue_outgoing(self.outgoing(subject, payload, msg_id, span, None, None))
    }

    fn enqueue_outgoing(&self, outgoing: Outgoing) -> Result<(), PublishError> {
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

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
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
            dropped_expired: load(&c.dropped_expired),
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
    while let Some(mut out) = rx.recv().await {
        let mut backoff = Backoff::default();
        let outcome = loop {
            if out.deadline.is_some_and(|d| Instant::now() >= d) {
                counters.dropped_expired.fetch_add(1, Ordering::Relaxed);
                break Outcome::Expired;
            }
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
            let sent = Instant::now();
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
                    shared.ack_latency.observe(sent.elapsed().as_secs_f64());
                    out.span.record("adic.sequence", ack.sequence);
                    out.span.record("adic.duplicate", ack.duplicate);
                    counters.acked.fetch_add(1, Ordering::Relaxed);
                    if ack.duplicate {
                        counters.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                    counters
                        .last_sequence
                        .fetch_max(ack.sequence, Ordering::Relaxed);
                    break if ack.duplicate {
                        Outcome::Duplicate(ack.sequence)
                    } else {
                        Outcome::Stored(ack.sequence)
                    };
                }
                Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                    tracing::error!(subject = %out.subject, error = %e, "event refused by NATS; dropped");
                    counters.dropped_rejected.fetch_add(1, Ordering::Relaxed);
                    break Outcome::Rejected;
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
        };
        if let Some(receipt) = out.receipt.take() {
            // The caller may have stopped listening; the outcome is counted either way.
            let _ = receipt.send(outcome);
        }
        shared.finished.send_modify(|n| *n += 1);
    }
}

/// The span of one published event, from `publish` to its ack: a child of `parent` when given,
/// else of the current span. Made only when this process exports traces or the caller is in a
/// traced span; otherwise a disabled span that costs nothing.
fn publish_span(
    subject: &str,
    msg_id: &str,
    parent: Option<opentelemetry::trace::SpanContext>,
) -> tracing::Span {
    let traced_caller = || {
        tracing::Span::current()
            .context()
            .span()
            .span_context()
            .is_valid()
    };
    if parent.is_none() && !crate::telemetry::enabled() && !traced_caller() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        target: "adic_publisher",
        "adic.publish",
        otel.kind = "producer",
        messaging.system = "nats",
        messaging.destination.name = %subject,
        messaging.message.id = %msg_id,
        adic.sequence = tracing::field::Empty,
        adic.duplicate = tracing::field::Empty,
    );
    if let Some(parent) = parent {
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
    }
    span
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
