//! The in-memory broker: the same seam and the same cursor semantics as NATS, inside one process.
//!
//! It backs `adic-edge demo`, so a newcomer sees the product with one command and no NATS. A
//! global sequence, a random epoch per process, range reads and last values behave as on
//! JetStream, so every client-visible feature works the same. It is for one machine only: events
//! live in this process's memory (bounded by count) and vanish with it, and no second edge can
//! share them.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use adic_protocol::Epoch;
use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, watch};

use super::{Broker, BrokerError, LiveItem, LiveStart, StreamEvent, StreamIdentity};

/// Capacity of each live channel.
const LIVE_CHANNEL: usize = 8192;

struct Log {
    events: VecDeque<StreamEvent>,
    /// Sequence of `events[0]`.
    first_seq: u64,
    last_seq: u64,
    /// Newest sequence per subject, for last-value reads.
    last_by_subject: HashMap<String, u64>,
}

/// A bounded in-process stream.
#[derive(Clone)]
pub struct MemoryBroker {
    inner: Arc<Inner>,
}

struct Inner {
    log: Mutex<Log>,
    appended: watch::Sender<u64>,
    epoch: Epoch,
    prefix: String,
    capacity: usize,
}

impl MemoryBroker {
    /// A stream that keeps the newest `capacity` events, with a random epoch.
    pub fn new(prefix: impl Into<String>, capacity: usize) -> MemoryBroker {
        MemoryBroker {
            inner: Arc::new(Inner {
                log: Mutex::new(Log {
                    events: VecDeque::new(),
                    first_seq: 1,
                    last_seq: 0,
                    last_by_subject: HashMap::new(),
                }),
                appended: watch::channel(0).0,
                epoch: Epoch(rand::random()),
                prefix: prefix.into(),
                capacity: capacity.max(1),
            }),
        }
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.inner
            .log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends an event and returns its sequence.
    pub fn publish(
        &self,
        subject: impl Into<String>,
        payload: Bytes,
        traceparent: Option<String>,
    ) -> u64 {
        let subject = subject.into();
        let mut log = self.log();
        let seq = log.last_seq + 1;
        log.last_seq = seq;
        log.last_by_subject.insert(subject.clone(), seq);
        log.events.push_back(StreamEvent {
            seq,
            subject,
            payload,
            traceparent,
            stored_at: Some(SystemTime::now()),
        });
        while log.events.len() > self.inner.capacity {
            if let Some(old) = log.events.pop_front() {
                if log.last_by_subject.get(&old.subject) == Some(&old.seq) {
                    log.last_by_subject.remove(&old.subject);
                }
            }
            log.first_seq += 1;
        }
        drop(log);
        self.inner.appended.send_replace(seq);
        seq
    }

    /// Events from `from_seq` on (clamped to what is held), at most `max`.
    fn range(&self, from_seq: u64, max: usize) -> Vec<StreamEvent> {
        let log = self.log();
        let start = from_seq.max(log.first_seq);
        let skip = usize::try_from(start - log.first_seq).unwrap_or(usize::MAX);
        log.events.iter().skip(skip).take(max).cloned().collect()
    }

    fn identity_now(&self) -> StreamIdentity {
        let log = self.log();
        StreamIdentity {
            epoch: self.inner.epoch,
            first_seq: log.first_seq,
            last_seq: log.last_seq,
        }
    }
}

impl Broker for MemoryBroker {
    fn live(&self, start: LiveStart) -> mpsc::Receiver<LiveItem> {
        let (tx, rx) = mpsc::channel(LIVE_CHANNEL);
        let broker = self.clone();
        let mut appended = self.inner.appended.subscribe();
        tokio::spawn(async move {
            let identity = broker.identity_now();
            let mut next = match start {
                LiveStart::At(seq) => seq.max(identity.first_seq),
                LiveStart::Recent(n) => (identity.last_seq + 1)
                    .saturating_sub(n)
                    .max(identity.first_seq),
            };
            if tx
                .send(LiveItem::Started {
                    identity,
                    from_seq: next,
                })
                .await
                .is_err()
            {
                return;
            }
            loop {
                for event in broker.range(next, 1024) {
                    next = event.seq + 1;
                    if tx.send(LiveItem::Event(event)).await.is_err() {
                        return;
                    }
                }
                if next > broker.identity_now().last_seq && appended.changed().await.is_err() {
                    return;
                }
            }
        });
        rx
    }

    fn read_range(
        &self,
        from_seq: u64,
        max: usize,
    ) -> BoxFuture<'_, Result<Vec<StreamEvent>, BrokerError>> {
        Box::pin(async move { Ok(self.range(from_seq, max)) })
    }

    fn last_value<'a>(
        &'a self,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<Option<StreamEvent>, BrokerError>> {
        Box::pin(async move {
            let log = self.log();
            let Some(&seq) = log.last_by_subject.get(subject) else {
                return Ok(None);
            };
            let index = usize::try_from(seq - log.first_seq).unwrap_or(usize::MAX);
            Ok(log.events.get(index).cloned())
        })
    }

    fn identity(&self) -> BoxFuture<'_, Result<StreamIdentity, BrokerError>> {
        Box::pin(async move { Ok(self.identity_now()) })
    }

    fn is_connected(&self) -> bool {
        true
    }

    fn prefix(&self) -> &str {
        &self.inner.prefix
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sequences_ranges_and_last_values() {
        let broker = MemoryBroker::new("adic.events", 3);
        for n in 1..=5u64 {
            let subject = if n % 2 == 0 {
                "adic.events.high.a"
            } else {
                "adic.events.high.b"
            };
            assert_eq!(broker.publish(subject, Bytes::from(n.to_string()), None), n);
        }
        let id = broker.identity().await.unwrap();
        assert_eq!((id.first_seq, id.last_seq), (3, 5));
        let seqs: Vec<u64> = broker
            .read_range(1, 10)
            .await
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, vec![3, 4, 5]);
        assert_eq!(
            broker
                .last_value("adic.events.high.a")
                .await
                .unwrap()
                .unwrap()
                .seq,
            4
        );
        assert_eq!(
            broker
                .last_value("adic.events.high.b")
                .await
                .unwrap()
                .unwrap()
                .seq,
            5
        );
        assert!(broker
            .last_value("adic.events.high.c")
            .await
            .unwrap()
            .is_none());
    }

    #[tokio::test]
    async fn live_replays_from_a_sequence_then_follows() {
        let broker = MemoryBroker::new("p", 100);
        broker.publish("p.high.x", Bytes::from_static(b"1"), None);
        broker.publish("p.high.x", Bytes::from_static(b"2"), None);
        let mut live = broker.live(LiveStart::At(2));
        assert!(matches!(
            live.recv().await,
            Some(LiveItem::Started { from_seq: 2, .. })
        ));
        broker.publish("p.high.x", Bytes::from_static(b"3"), None);
        for want in [2, 3] {
            match live.recv().await {
                Some(LiveItem::Event(e)) => assert_eq!(e.seq, want),
                other => panic!("{other:?}"),
            }
        }
    }
}
