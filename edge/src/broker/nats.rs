//! The NATS JetStream broker: one ordered push consumer per edge for the live feed.
//!
//! Why an ordered *push* consumer: on NATS 2.9 an ordered pull consumer was seen to stall for
//! good after a server restart, while the push one recreates itself from the last delivered
//! sequence within seconds. The task that reads it forwards into a bounded channel and never
//! waits on a client, because async-nats drops messages once a subscription's buffer is full.
//!
//! A stream deleted and recreated under a running edge would be followed silently by the ordered
//! consumer (it resumes at the old sequence + 1 on the new stream). The feed therefore re-reads
//! the stream's identity every few seconds and after every consumer error, and when the epoch
//! changed it reports [`LiveItem::Reset`] and starts over on the new stream.

use std::time::{Duration, SystemTime};

use adic_protocol::Epoch;
use adic_publisher::trace::TRACEPARENT;
use adic_publisher::{StreamError, StreamSettings};
use async_nats::connection::State;
use async_nats::jetstream::{self, consumer, stream};
use futures::future::BoxFuture;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::{Broker, BrokerError, LiveItem, LiveStart, StreamEvent, StreamIdentity};

/// Capacity of the live channel between the consumer task and the feed.
const LIVE_CHANNEL: usize = 8192;
/// How often the live feed checks that the stream is still the same instance.
const IDENTITY_CHECK: Duration = Duration::from_secs(5);

/// The JetStream stream of events.
#[derive(Clone)]
pub struct NatsBroker {
    client: async_nats::Client,
    js: jetstream::Context,
    settings: StreamSettings,
}

impl NatsBroker {
    pub fn new(client: async_nats::Client, settings: StreamSettings) -> NatsBroker {
        let js = jetstream::new(client.clone());
        NatsBroker {
            client,
            js,
            settings,
        }
    }

    /// The stream, created when missing: only the live feed does this, at start.
    ///
    /// An edge whose NATS user may not create streams (least privilege: the publisher creates
    /// it) gets no answer to the creation, because NATS drops a request it does not permit. That
    /// is not fatal: the feed retries, and the edge serves once the stream exists.
    async fn ensure_stream(&self) -> Result<stream::Stream, BrokerError> {
        self.settings.ensure(&self.js).await.map_err(|e| match e {
            StreamError::Create { name, source }
                if source.kind() == jetstream::context::CreateStreamErrorKind::TimedOut =>
            {
                BrokerError::Unavailable(format!(
                    "stream {name} does not exist and creating it got no answer: this edge's NATS \
                     user is probably not allowed $JS.API.STREAM.CREATE.{name} (as with a \
                     least-privilege edge user); waiting for the publisher to create the stream"
                ))
            }
            e => BrokerError::Unavailable(e.to_string()),
        })
    }

    /// The stream as it is. Lookups never create it: an operator who deletes the stream to
    /// recreate it with another configuration must not race an edge doing it first.
    async fn stream(&self) -> Result<stream::Stream, BrokerError> {
        self.js
            .get_stream(&self.settings.name)
            .await
            .map_err(|e| BrokerError::Unavailable(e.to_string()))
    }
}

fn identity_of(settings: &StreamSettings, info: &stream::Info) -> StreamIdentity {
    StreamIdentity {
        epoch: Epoch::derive(&settings.name, info.created.unix_timestamp_nanos()),
        first_seq: info.state.first_sequence.max(1),
        last_seq: info.state.last_sequence,
    }
}

fn unavailable(e: impl std::fmt::Display) -> BrokerError {
    BrokerError::Unavailable(e.to_string())
}

fn stored_at(nanos: i128) -> Option<SystemTime> {
    u64::try_from(nanos)
        .ok()
        .map(|n| SystemTime::UNIX_EPOCH + Duration::from_nanos(n))
}

fn from_message(message: &jetstream::Message) -> Option<StreamEvent> {
    let info = message.info().ok()?;
    Some(StreamEvent {
        seq: info.stream_sequence,
        subject: message.subject.to_string(),
        payload: message.payload.clone(),
        traceparent: message
            .headers
            .as_ref()
            .and_then(|h| h.get(TRACEPARENT))
            .map(|v| v.as_str().to_owned()),
        stored_at: stored_at(info.published.unix_timestamp_nanos()),
    })
}

impl Broker for NatsBroker {
    fn live(&self, start: LiveStart) -> mpsc::Receiver<LiveItem> {
        let (tx, rx) = mpsc::channel(LIVE_CHANNEL);
        tokio::spawn(live_feed(self.clone(), start, tx));
        rx
    }

    fn read_range(
        &self,
        from_seq: u64,
        max: usize,
    ) -> BoxFuture<'_, Result<Vec<StreamEvent>, BrokerError>> {
        Box::pin(async move {
            let stream = self.stream().await?;
            let consumer = stream
                .create_consumer(consumer::pull::Config {
                    deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                        start_sequence: from_seq.max(1),
                    },
                    ack_policy: consumer::AckPolicy::None,
                    inactive_threshold: Duration::from_secs(30),
                    memory_storage: true,
                    filter_subject: self.settings.subjects(),
                    ..Default::default()
                })
                .await
                .map_err(unavailable)?;
            let name = consumer.cached_info().name.clone();
            let mut out = Vec::with_capacity(max.min(1024));
            let mut batch = consumer
                .fetch()
                .max_messages(max)
                .messages()
                .await
                .map_err(unavailable)?;
            while let Some(message) = batch.next().await {
                let message = message.map_err(unavailable)?;
                if let Some(event) = from_message(&message) {
                    out.push(event);
                }
            }
            // Best effort: the inactive threshold removes it anyway.
            let _ = stream.delete_consumer(&name).await;
            Ok(out)
        })
    }

    fn last_value<'a>(
        &'a self,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<Option<StreamEvent>, BrokerError>> {
        Box::pin(async move {
            let stream = self.stream().await?;
            match stream.direct_get_last_for_subject(subject).await {
                Ok(m) => Ok(Some(StreamEvent {
                    seq: m.sequence,
                    subject: m.subject.to_string(),
                    traceparent: m.headers.get(TRACEPARENT).map(|v| v.as_str().to_owned()),
                    payload: m.payload,
                    stored_at: stored_at(m.time.unix_timestamp_nanos()),
                })),
                Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => Ok(None),
                Err(e) => Err(unavailable(e)),
            }
        })
    }

    fn identity(&self) -> BoxFuture<'_, Result<StreamIdentity, BrokerError>> {
        Box::pin(async move {
            let mut stream = self.stream().await?;
            let info = stream.info().await.map_err(unavailable)?;
            Ok(identity_of(&self.settings, info))
        })
    }

    fn is_connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    fn reconnects(&self) -> u64 {
        self.client
            .statistics()
            .connects
            .load(std::sync::atomic::Ordering::Relaxed)
            .saturating_sub(1)
    }

    fn prefix(&self) -> &str {
        &self.settings.prefix
    }
}

/// Runs the live consumer until the receiver is dropped, recreating it after errors and when
/// the stream instance changes.
async fn live_feed(broker: NatsBroker, start: LiveStart, tx: mpsc::Sender<LiveItem>) {
    let mut next_seq = match start {
        LiveStart::At(seq) => Some(seq),
        LiveStart::Recent(_) => None,
    };
    let mut epoch: Option<Epoch> = None;
    let mut retry = Duration::from_millis(100);
    loop {
        let started = start_consumer(&broker, start, &mut next_seq, &mut epoch, &tx).await;
        let Some(mut messages) = (match started {
            Ok(messages) => messages,
            Err(e) => {
                tracing::warn!(error = %e, "live consumer not started; retrying");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(Duration::from_secs(5));
                continue;
            }
        }) else {
            return;
        };
        retry = Duration::from_millis(100);
        let mut consumer_name: Option<String> = None;
        let mut first_seq = 0;
        let mut check = tokio::time::interval(IDENTITY_CHECK);
        check.tick().await;
        loop {
            tokio::select! {
                item = messages.next() => match item {
                    Some(Ok(message)) => {
                        // The ordered consumer recreates itself silently (after a missed
                        // heartbeat or a reconnect) at the old sequence + 1. On a recreated
                        // stream that would skip its first events under the old epoch, so a new
                        // consumer name means: check the stream is still the same instance
                        // before forwarding anything it delivers.
                        let consumer = message.info().ok().map(|i| i.consumer.to_owned());
                        if consumer != consumer_name {
                            if consumer_name.is_some() {
                                match broker.identity().await {
                                    Ok(identity) if Some(identity.epoch) == epoch => {}
                                    _ => {
                                        tracing::warn!("live consumer was recreated on another stream instance");
                                        break;
                                    }
                                }
                            }
                            consumer_name = consumer;
                        }
                        let Some(event) = from_message(&message) else { continue };
                        next_seq = Some(event.seq + 1);
                        if tx.send(LiveItem::Event(event)).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "live consumer error; recreating");
                        break;
                    }
                    None => break,
                },
                _ = check.tick() => {
                    if let Ok(identity) = broker.identity().await {
                        if Some(identity.epoch) != epoch {
                            tracing::warn!(epoch = %identity.epoch, "stream was recreated");
                            break;
                        }
                        if identity.first_seq > first_seq {
                            first_seq = identity.first_seq;
                            if tx.send(LiveItem::Trimmed { first_seq }).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                () = tx.closed() => return,
            }
        }
    }
}

/// Makes sure the stream exists, notices a new stream instance, and starts an ordered push
/// consumer at `next_seq` (the first time, per `start`). `Ok(None)` when the feed's receiver is
/// gone.
async fn start_consumer(
    broker: &NatsBroker,
    start: LiveStart,
    next_seq: &mut Option<u64>,
    epoch: &mut Option<Epoch>,
    tx: &mpsc::Sender<LiveItem>,
) -> Result<Option<consumer::push::Ordered>, BrokerError> {
    let mut stream = broker.ensure_stream().await?;
    let identity = identity_of(&broker.settings, stream.info().await.map_err(unavailable)?);
    if epoch.is_some_and(|e| e != identity.epoch) {
        *next_seq = Some(identity.first_seq);
        if tx.send(LiveItem::Reset(identity)).await.is_err() {
            return Ok(None);
        }
    }
    *epoch = Some(identity.epoch);
    let start = next_seq.unwrap_or(match start {
        LiveStart::At(seq) => seq,
        LiveStart::Recent(n) => (identity.last_seq + 1)
            .saturating_sub(n)
            .max(identity.first_seq),
    });
    let consumer = stream
        .create_consumer(consumer::push::OrderedConfig {
            deliver_subject: broker.client.new_inbox(),
            filter_subject: broker.settings.subjects(),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: start.max(1),
            },
            ..Default::default()
        })
        .await
        .map_err(unavailable)?;
    let messages = consumer.messages().await.map_err(unavailable)?;
    *next_seq = Some(start);
    if tx
        .send(LiveItem::Started {
            identity,
            from_seq: start,
        })
        .await
        .is_err()
    {
        return Ok(None);
    }
    Ok(Some(messages))
}
