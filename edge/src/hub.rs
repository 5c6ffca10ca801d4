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
use crate::queue::{ClientQueue, CloseReason};

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

    /// Delivers an event to every client whose filter takes it; returns how many.
    pub fn publish(&self, event: &Arc<EncodedEvent>) -> usize {
        let subscribers = self
            .subscribers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut recipients = 0;
        for (_, subscriber) in subscribers.iter() {
            if subscriber.mask().contains(event.key) && subscriber.queue.push(event) {
                recipients += 1;
            }
        }
        recipients
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
