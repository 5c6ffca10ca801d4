//! A client's bounded outgoing queue.
//!
//! The feed pushes without ever waiting; the client's session takes everything queued at once
//! and writes it as one batch. The bound is in bytes. When a push would exceed it, the queue
//! first drops snapshot values that a newer queued (or incoming) value of the same key
//! supersedes, low priority first: only the newest snapshot value matters. If that does not make
//! room, the queue stops accepting, drops what it holds and tells the session to close the client
//! as a slow consumer with the cursor of the last event it did deliver, so the client resumes
//! from there and no log event is lost silently. Nothing is ever reordered: a resume cursor is
//! "the last id I got", so reordering would lose events on resume.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use adic_protocol::{EventKey, Priority};
use tokio::sync::Notify;

use crate::encoded::EncodedEvent;

/// Why the edge ends a client's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The queue overflowed.
    SlowConsumer,
    /// The edge is draining or shutting down.
    Draining,
    /// The stream was recreated.
    StreamReset,
    /// The client's token expired.
    TokenExpired,
}

#[derive(Default)]
struct State {
    items: VecDeque<Arc<EncodedEvent>>,
    bytes: usize,
    close: Option<CloseReason>,
}

/// What became of a pushed event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Queued, after dropping this many superseded snapshot values.
    Queued { conflated: usize },
    /// The client is closing; the event was not queued.
    Refused,
    /// The queue overflowed: the client will be closed as a slow consumer.
    Overflowed,
}

type SnapshotKey = (EventKey, Option<Box<str>>);

fn snapshot_key(event: &EncodedEvent) -> Option<SnapshotKey> {
    event
        .is_snapshot()
        .then(|| (event.key, event.snapshot_scope.clone()))
}

impl State {
    /// Drops superseded snapshot values, low priority first, until `bytes <= budget`.
    /// Returns how many were dropped.
    fn conflate(&mut self, incoming: &EncodedEvent, budget: usize) -> usize {
        // The newest sequence of each snapshot key, the incoming event included. Keyed by
        // sequence, not position, so removals in one pass do not confuse the next.
        let mut newest: HashMap<SnapshotKey, u64> = HashMap::new();
        for event in &self.items {
            if let Some(key) = snapshot_key(event) {
                newest.insert(key, event.seq());
            }
        }
        if let Some(key) = snapshot_key(incoming) {
            newest.insert(key, incoming.seq());
        }
        let mut dropped = 0;
        for priority in [Priority::Low, Priority::Medium, Priority::High] {
            if self.bytes <= budget {
                break;
            }
            let mut bytes = self.bytes;
            self.items.retain(|event| {
                let superseded = bytes > budget
                    && event.key.priority() == priority
                    && snapshot_key(event)
                        .is_some_and(|key| newest.get(&key) != Some(&event.seq()));
                if superseded {
                    bytes -= event.queued_size();
                    dropped += 1;
                }
                !superseded
            });
            self.bytes = bytes;
        }
        dropped
    }
}

/// The queue shared by the hub (producer) and one session (consumer).
pub struct ClientQueue {
    state: Mutex<State>,
    notify: Notify,
    max_bytes: usize,
}

impl ClientQueue {
    pub fn new(max_bytes: usize) -> ClientQueue {
        ClientQueue {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            max_bytes,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep serving.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues an event.
    pub fn push(&self, event: &Arc<EncodedEvent>) -> Pushed {
        let mut state = self.lock();
        if state.close.is_some() {
            return Pushed::Refused;
        }
        let size = event.queued_size();
        let mut conflated = 0;
        if state.bytes + size > self.max_bytes && !state.items.is_empty() {
            conflated = state.conflate(event, self.max_bytes.saturating_sub(size));
            if state.bytes + size > self.max_bytes {
                state.items.clear();
                state.bytes = 0;
                state.close = Some(CloseReason::SlowConsumer);
                drop(state);
                self.notify.notify_one();
                return Pushed::Overflowed;
            }
        }
        state.bytes += size;
        state.items.push_back(Arc::clone(event));
        let was_empty = state.items.len() == 1;
        drop(state);
        if was_empty {
            self.notify.notify_one();
        }
        Pushed::Queued { conflated }
    }

    /// Asks the session to close the client. The first reason wins.
    pub fn close(&self, reason: CloseReason) {
        let mut state = self.lock();
        if state.close.is_none() {
            state.close = Some(reason);
        }
        drop(state);
        self.notify.notify_one();
    }

    /// The close reason, once one is set.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.lock().close
    }

    /// Moves everything queued into `out`; returns the close reason once one is set.
    pub fn take(&self, out: &mut Vec<Arc<EncodedEvent>>) -> Option<CloseReason> {
        self.take_counted(out).0
    }

    /// [`ClientQueue::take`], also returning the bytes that were queued.
    pub fn take_counted(&self, out: &mut Vec<Arc<EncodedEvent>>) -> (Option<CloseReason>, usize) {
        let mut state = self.lock();
        out.extend(state.items.drain(..));
        let bytes = std::mem::take(&mut state.bytes);
        (state.close, bytes)
    }

    /// Resolves when something was pushed or a close was asked since the last call.
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use adic_protocol::Kind;
    use serde_json::json;

    use super::*;
    use crate::encoded::testing::event;

    fn tips(seq: u64, count: u64) -> Arc<EncodedEvent> {
        event(
            seq,
            Kind::TipsUpdated,
            json!({"tips": [], "count": count, "timestamp": 1}),
        )
    }

    fn economics(seq: u64) -> Arc<EncodedEvent> {
        event(
            seq,
            Kind::EconomicsUpdated,
            json!({"total_supply": "1", "timestamp": 1}),
        )
    }

    fn log(seq: u64) -> Arc<EncodedEvent> {
        event(
            seq,
            Kind::MessageAdded,
            json!({"message_id": "m", "depth": seq, "timestamp": 1}),
        )
    }

    fn seqs(queue: &ClientQueue) -> Vec<u64> {
        let mut out = Vec::new();
        queue.take(&mut out);
        out.iter().map(|e| e.seq()).collect()
    }

    #[test]
    fn under_pressure_superseded_snapshots_go_first_low_priority_first_order_kept() {
        let size = tips(1, 1)
            .queued_size()
            .max(economics(1).queued_size())
            .max(log(1).queued_size());
        let queue = ClientQueue::new(size * 5);
        for e in [tips(1, 1), economics(2), log(3), economics(4), tips(5, 2)] {
            assert_eq!(queue.push(&e), Pushed::Queued { conflated: 0 });
        }
        // Full: a new log event makes room by dropping the superseded low-priority value first.
        assert_eq!(queue.push(&log(6)), Pushed::Queued { conflated: 1 });
        // Then the superseded high-priority one.
        assert_eq!(queue.push(&log(7)), Pushed::Queued { conflated: 1 });
        assert_eq!(
            seqs(&queue),
            vec![3, 4, 5, 6, 7],
            "newest values kept, order kept"
        );
    }

    #[test]
    fn conflation_over_several_passes_keeps_the_newest_value_of_each_key() {
        let queued = [economics(1), economics(2), tips(3, 1), log(4), tips(5, 2)];
        let big = event(
            6,
            Kind::MessageAdded,
            json!({"message_id": "m".repeat(2000), "depth": 6, "timestamp": 1}),
        );
        let kept: usize = queued[1..].iter().map(|e| e.queued_size()).sum();
        // Full once `big` comes: dropping economics@1 (low) is not enough, tips@3 (high) must go too.
        let queue = ClientQueue::new(kept + big.queued_size() - 1);
        for e in &queued {
            assert!(matches!(queue.push(e), Pushed::Queued { .. }));
        }
        assert_eq!(queue.push(&big), Pushed::Queued { conflated: 2 });
        assert_eq!(
            seqs(&queue),
            vec![2, 4, 5, 6],
            "tips@5, the newest tips value, stays"
        );
    }

    #[test]
    fn overflow_of_log_events_closes_as_slow_consumer() {
        let queue = ClientQueue::new(log(1).queued_size() * 2);
        assert!(matches!(queue.push(&log(1)), Pushed::Queued { .. }));
        assert!(matches!(queue.push(&log(2)), Pushed::Queued { .. }));
        assert_eq!(queue.push(&log(3)), Pushed::Overflowed);
        assert_eq!(queue.push(&log(4)), Pushed::Refused);
        let mut out = Vec::new();
        assert_eq!(queue.take(&mut out), Some(CloseReason::SlowConsumer));
        assert!(
            out.is_empty(),
            "what was queued is dropped; the client resumes by cursor"
        );
    }

    #[test]
    fn one_event_larger_than_the_bound_still_goes_to_an_idle_client() {
        let big = event(
            1,
            Kind::MessageAdded,
            json!({"message_id": "x".repeat(500), "depth": 1, "timestamp": 1}),
        );
        let queue = ClientQueue::new(64);
        assert!(matches!(queue.push(&big), Pushed::Queued { .. }));
    }
}
