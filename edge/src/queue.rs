//! A client's bounded outgoing queue.
//!
//! The feed pushes without ever waiting; the client's session takes everything queued at once
//! and writes it as one batch. The bound is in bytes. When a push would exceed it, the queue
//! stops accepting, drops what it holds and tells the session to close the client as a slow
//! consumer with the cursor of the last event it did deliver, so the client resumes from there
//! and nothing is lost silently. Nothing is ever reordered.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

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
}

#[derive(Default)]
struct State {
    items: VecDeque<Arc<EncodedEvent>>,
    bytes: usize,
    close: Option<CloseReason>,
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

    /// Queues an event; returns false when the client is closing (now or already).
    pub fn push(&self, event: &Arc<EncodedEvent>) -> bool {
        let mut state = self.lock();
        if state.close.is_some() {
            return false;
        }
        let size = event.queued_size();
        if state.bytes + size > self.max_bytes && !state.items.is_empty() {
            state.items.clear();
            state.bytes = 0;
            state.close = Some(CloseReason::SlowConsumer);
            drop(state);
            self.notify.notify_one();
            return false;
        }
        state.bytes += size;
        state.items.push_back(Arc::clone(event));
        let was_empty = state.items.len() == 1;
        drop(state);
        if was_empty {
            self.notify.notify_one();
        }
        true
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

    /// Moves everything queued into `out`; returns the close reason once one is set.
    pub fn take(&self, out: &mut Vec<Arc<EncodedEvent>>) -> Option<CloseReason> {
        let mut state = self.lock();
        out.extend(state.items.drain(..));
        state.bytes = 0;
        state.close
    }

    /// Resolves when something was pushed or a close was asked since the last call.
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}
