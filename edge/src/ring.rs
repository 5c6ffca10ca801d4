//! The ring: the newest events this edge received, kept to serve resumes without NATS.
//!
//! A reconnect storm after an edge dies must not become thousands of JetStream consumers, so a
//! client whose cursor is recent enough is served from here. The ring is bounded by events and
//! by bytes. It knows which sequences it *covers* (`start..=last`): every valid event in that
//! range is in it (malformed stream messages leave holes in the sequence, never in coverage).

use std::collections::VecDeque;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::encoded::EncodedEvent;

struct Inner {
    events: VecDeque<Arc<EncodedEvent>>,
    bytes: usize,
    /// First sequence covered; `last + 1` when nothing is covered yet.
    start: u64,
    /// Last sequence seen (valid or not).
    last: u64,
}

/// Recent events, bounded.
pub struct Ring {
    inner: RwLock<Inner>,
    max_events: usize,
    max_bytes: usize,
}

impl Ring {
    pub fn new(max_events: usize, max_bytes: usize) -> Ring {
        Ring {
            inner: RwLock::new(Inner {
                events: VecDeque::new(),
                bytes: 0,
                start: 1,
                last: 0,
            }),
            max_events: max_events.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts covering from `seq` (the first sequence the live feed will deliver), forgetting
    /// everything: used when the feed starts, and when the stream was recreated.
    pub fn reset(&self, seq: u64) {
        let mut inner = self.write();
        inner.events.clear();
        inner.bytes = 0;
        inner.start = seq;
        inner.last = seq.saturating_sub(1);
    }

    /// Appends an event (sequences must increase).
    pub fn push(&self, event: Arc<EncodedEvent>) {
        let mut inner = self.write();
        inner.last = event.seq();
        inner.bytes += event.memory_size();
        inner.events.push_back(event);
        while inner.events.len() > self.max_events || inner.bytes > self.max_bytes {
            let Some(old) = inner.events.pop_front() else {
                break;
            };
            inner.bytes -= old.memory_size();
            inner.start = old.seq() + 1;
        }
    }

    /// Forgets events before `seq` (the stream no longer holds them).
    pub fn evict_before(&self, seq: u64) {
        let mut inner = self.write();
        while inner.events.front().is_some_and(|e| e.seq() < seq) {
            if let Some(old) = inner.events.pop_front() {
                inner.bytes -= old.memory_size();
            }
        }
        inner.start = inner.start.max(seq.min(inner.last + 1));
    }

    /// Records a sequence that carried no deliverable event.
    pub fn skip(&self, seq: u64) {
        let mut inner = self.write();
        inner.last = inner.last.max(seq);
    }

    /// `(start, last)`: the covered range is `start..=last`.
    /// Events held.
    pub fn len(&self) -> usize {
        self.read().events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bounds(&self) -> (u64, u64) {
        let inner = self.read();
        (inner.start, inner.last)
    }

    /// Whether every event from `seq` on is here (or not yet received).
    pub fn covers(&self, seq: u64) -> bool {
        seq >= self.read().start
    }

    /// Up to `max` events with sequence `>= from`, and the last sequence this read covered.
    /// `None` when the ring does not cover `from`.
    pub fn read_from(&self, from: u64, max: usize) -> Option<(Vec<Arc<EncodedEvent>>, u64)> {
        let inner = self.read();
        if from < inner.start {
            return None;
        }
        let first = inner.events.partition_point(|e| e.seq() < from);
        let out: Vec<_> = inner.events.iter().skip(first).take(max).cloned().collect();
        let covered = if out.len() == max {
            out.last().map_or(inner.last, |e| e.seq())
        } else {
            inner.last
        };
        Some((out, covered.max(from.saturating_sub(1))))
    }
}

#[cfg(test)]
mod tests {
    use adic_protocol::Kind;
    use serde_json::json;

    use super::*;
    use crate::encoded::testing::event;

    fn log(seq: u64) -> Arc<EncodedEvent> {
        event(
            seq,
            Kind::MessageAdded,
            json!({"message_id": "m", "depth": seq, "timestamp": 1}),
        )
    }

    #[test]
    fn coverage_follows_eviction_and_holes() {
        let ring = Ring::new(3, usize::MAX);
        ring.reset(10);
        assert!(ring.covers(10));
        assert!(!ring.covers(9));
        for seq in [10, 11, 13] {
            ring.push(log(seq));
        }
        ring.skip(14);
        let (events, covered) = ring.read_from(11, 10).unwrap();
        assert_eq!(
            events.iter().map(|e| e.seq()).collect::<Vec<_>>(),
            vec![11, 13]
        );
        assert_eq!(covered, 14, "a malformed message is covered, not delivered");
        ring.push(log(15));
        assert_eq!(ring.bounds(), (11, 15));
        assert!(ring.read_from(10, 10).is_none(), "evicted");
        let (events, covered) = ring.read_from(11, 1).unwrap();
        assert_eq!(
            (events.len(), covered),
            (1, 11),
            "a short read covers only what it returned"
        );
    }

    #[test]
    fn bytes_bound_evicts_too() {
        let one = log(1).memory_size();
        let ring = Ring::new(100, one * 2);
        ring.reset(1);
        for seq in 1..=5 {
            ring.push(log(seq));
        }
        assert_eq!(ring.bounds(), (4, 5));
    }
}
