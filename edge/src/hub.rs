//! The hub: the registry of connected clients and the fan-out of each event to them.
//!
//! Fan-out runs in the feed task and never waits: for each subscriber it checks the filter (one
//! AND on a bitmask) and pushes an `Arc` of the pre-encoded event into the client's bounded
//! queue. A client whose filter excludes an event is never woken for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use adic_protocol::KindSet;
use slab::Slab;

use crate::encoded::EncodedEvent;
use crate::queue::{ClientQueue, CloseReason, Pushed};

/// One connected client as the hub sees it.
pub struct Subscriber {
    mask: AtomicU64,
    pub queue: ClientQueue,
}

impl Subscriber {
    /// The kinds this client currently receives.
    pub fn mask(&self) -> KindSet {
        KindSet::from_bits(self.mask.load(Ordering::Relaxed))
    }

    pub fn set_mask(&self, mask: KindSet) {
        self.mask.store(mask.bits(), Ordering::Relaxed);
    }
}

/// What one fan-out did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FanOut {
    pub recipients: usize,
    /// Superseded snapshot values dropped from slow clients' queues.
    pub conflated: usize,
    /// Clients whose queue overflowed.
    pub overflowed: usize,
}

/// The registry of subscribers.
#[derive(Default)]
pub struct Hub {
    subscribers: RwLock<Slab<Arc<Subscriber>>>,
}

/// A client's place in the hub; leaving the hub happens on drop.
pub struct Registration {
    hub: Arc<Hub>,
    key: usize,
    subscriber: Arc<Subscriber>,
}

impl Registration {
    pub fn subscriber(&self) -> &Subscriber {
        &self.subscriber
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut subscribers = self
            .hub
            .subscribers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        subscribers.try_remove(self.key);
    }
}

impl Hub {
    /// Adds a client with a filter and a queue bound in bytes.
    pub fn register(self: &Arc<Hub>, mask: KindSet, max_queue_bytes: usize) -> Registration {
        let subscriber = Arc::new(Subscriber {
            mask: AtomicU64::new(mask.bits()),
            queue: ClientQueue::new(max_queue_bytes),
        });
        let key = self
            .subscribers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(Arc::clone(&subscriber));
        Registration {
            hub: Arc::clone(self),
            key,
            subscriber,
        }
    }

    /// Delivers an event to every client whose filter takes it.
    pub fn publish(&self, event: &Arc<EncodedEvent>) -> FanOut {
        let subscribers = self
            .subscribers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = FanOut::default();
        for (_, subscriber) in subscribers.iter() {
            if !subscriber.mask().contains(event.key) {
                continue;
            }
            match subscriber.queue.push(event) {
                Pushed::Queued { conflated } => {
                    out.recipients += 1;
                    out.conflated += conflated;
                }
                Pushed::Overflowed => out.overflowed += 1,
                Pushed::Refused => {}
            }
        }
        out
    }

    /// Every subscriber now, for a paced drain.
    pub fn snapshot(&self) -> Vec<Arc<Subscriber>> {
        let subscribers = self
            .subscribers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        subscribers.iter().map(|(_, s)| Arc::clone(s)).collect()
    }

    /// Asks every client to close.
    pub fn close_all(&self, reason: CloseReason) {
        let subscribers = self
            .subscribers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (_, subscriber) in subscribers.iter() {
            subscriber.queue.close(reason);
        }
    }

    /// Number of connected clients.
    pub fn len(&self) -> usize {
        self.subscribers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
