//! The latest value of each snapshot kind, for clients that ask for it on connect
//! (`snapshot=true`) instead of waiting up to 31 s for the next one.
//!
//! Keyed by kind, and by `peer_id` for `sync.progress`. Filled by the feed, and at start from the
//! stream's last value per subject.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use adic_protocol::{EventKey, KindSet};

use crate::encoded::EncodedEvent;

type Key = (EventKey, Option<Box<str>>);

/// Latest snapshot values.
#[derive(Default)]
pub struct Snapshots {
    values: Mutex<HashMap<Key, Arc<EncodedEvent>>>,
}

impl Snapshots {
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Arc<EncodedEvent>>> {
        self.values
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keeps `event` when it is a snapshot kind and newer than the value held.
    pub fn offer(&self, event: &Arc<EncodedEvent>) {
        if !event.key.kind().is_some_and(|k| k.is_snapshot()) {
            return;
        }
        let key = (event.key, event.snapshot_scope.clone());
        let mut values = self.lock();
        let newer = values.get(&key).is_none_or(|held| held.seq() < event.seq());
        if newer {
            values.insert(key, Arc::clone(event));
        }
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    /// The values a filter takes, in stream order.
    pub fn matching(&self, mask: KindSet) -> Vec<Arc<EncodedEvent>> {
        let mut out: Vec<_> = self
            .lock()
            .values()
            .filter(|e| mask.contains(e.key))
            .cloned()
            .collect();
        out.sort_by_key(|e| e.seq());
        out
    }
}
