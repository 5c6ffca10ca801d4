//! Statistics of one subscription, readable at any time from any task.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use adic_protocol::{Cursor, Kind};
use serde_json::Value;

use crate::client::Transport;

/// A copy of a subscription's counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// The transport of the open connection; `None` while disconnected.
    pub transport: Option<Transport>,
    /// The edge URL of the open connection.
    pub url: Option<String>,
    /// Connections established, the first included.
    pub connections: u64,
    /// Connections established after the first (each resumed from the cursor).
    pub reconnects: u64,
    /// Connection attempts that could not be established.
    pub failed_attempts: u64,
    /// Attempts or connections the edge refused for their credentials (401, 403, 4401, 4403).
    pub auth_refusals: u64,
    /// Times a transport was given up for a lower one.
    pub fallbacks: u64,
    /// Events handed to the consumer, by dotted kind name (`message.new`); a kind this client
    /// does not know is counted under its variant name.
    pub events_by_kind: BTreeMap<String, u64>,
    /// Events received again after a resume and dropped (at or before the cursor).
    pub duplicates_dropped: u64,
    pub gaps: u64,
    pub resets: u64,
    /// The cursor of the last event (or progress marker) handed to the consumer.
    pub last_cursor: Option<Cursor>,
    /// The last cursor committed as processed (what the checkpoint hook was last called with).
    pub checkpoint: Option<Cursor>,
}

impl Stats {
    /// Events handed to the consumer, all kinds.
    pub fn events(&self) -> u64 {
        self.events_by_kind.values().sum()
    }
}

/// A cheap handle to a subscription's live statistics; clone it into a metrics task.
#[derive(Clone, Debug, Default)]
pub struct StatsHandle(Arc<Mutex<Stats>>);

impl StatsHandle {
    /// A copy of the current statistics.
    pub fn get(&self) -> Stats {
        self.lock().clone()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Stats> {
        // A panic while holding the lock leaves plain counters behind; keep reading them.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn event(&self, id: Cursor, event: &Value) {
        let variant = event["type"].as_str().unwrap_or("?");
        let name =
            Kind::from_variant(variant).map_or_else(|| variant.to_owned(), |k| k.name().to_owned());
        let mut stats = self.lock();
        *stats.events_by_kind.entry(name).or_default() += 1;
        stats.last_cursor = Some(id);
    }
}
