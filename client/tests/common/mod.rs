//! What the client tests share: a collector that consumes a subscription on its own task and
//! records what arrived, and the start cursor of a stream.

#![allow(dead_code)] // each test file uses its own part

use std::sync::{Arc, Mutex};
use std::time::Duration;

use adic_client::{Item, Items, State, StatsHandle};
use adic_protocol::Cursor;
use adic_tests::chaos::{numbered, Numbered};
use futures::StreamExt;
use serde_json::Value;
use tokio::task::JoinHandle;

/// Bound on each wait of a test.
pub const STEP: Duration = Duration::from_secs(30);

/// What a subscription delivered.
#[derive(Debug, Default)]
pub struct Collected {
    pub events: Vec<Numbered>,
    pub states: Vec<State>,
    /// Gaps, resets and snapshots: none are expected in these tests.
    pub other: Vec<Item>,
}

/// Consumes a subscription on its own task.
pub struct Collector {
    pub log: Arc<Mutex<Collected>>,
    pub stats: StatsHandle,
    task: JoinHandle<()>,
}

impl Collector {
    pub fn spawn(mut items: Items) -> Collector {
        let log = Arc::new(Mutex::new(Collected::default()));
        let stats = items.stats_handle();
        let task = {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                while let Some(item) = items.next().await {
                    let mut log = log.lock().unwrap();
                    match item {
                        Item::Event { id, event } => log
                            .events
                            .push(numbered(&id.to_string(), &event).expect("a numbered event")),
                        Item::State(state) => log.states.push(state),
                        other => log.other.push(other),
                    }
                }
            })
        };
        Collector { log, stats, task }
    }

    /// The highest publisher number received so far.
    pub fn last_n(&self) -> u64 {
        self.log
            .lock()
            .unwrap()
            .events
            .iter()
            .map(|e| e.n)
            .max()
            .unwrap_or(0)
    }

    pub fn last_seq(&self) -> u64 {
        self.log.lock().unwrap().events.last().map_or(0, |e| e.seq)
    }

    /// Waits until an event numbered `n` or later arrived.
    pub async fn wait_for(&self, n: u64) {
        adic_tests::wait_until(STEP, || async { self.last_n() >= n })
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "number {n} did not arrive (last {}); states {:?}",
                    self.last_n(),
                    self.log.lock().unwrap().states
                )
            });
    }

    /// Waits until the subscription is connected to `url`.
    pub async fn wait_connected_to(&self, url: &str) {
        adic_tests::wait_until(STEP, || async {
            self.stats.get().url.as_deref() == Some(url)
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "not connected to {url}; stats {:?}; states {:?}",
                self.stats.get(),
                self.log.lock().unwrap().states
            )
        });
    }

    /// Stops consuming and returns what arrived.
    pub async fn stop(self) -> Collected {
        self.task.abort();
        let _ = self.task.await;
        Arc::try_unwrap(self.log)
            .map(|m| m.into_inner().unwrap())
            .unwrap_or_else(|log| std::mem::take(&mut *log.lock().unwrap()))
    }
}

/// The cursor before the first event of the stream an edge at `http_base` serves.
pub async fn stream_start(http_base: &str) -> Cursor {
    let health: Value = reqwest::get(format!("{http_base}/v1/health/streaming"))
        .await
        .expect("health answers")
        .json()
        .await
        .expect("health is JSON");
    let cursor = health["stream"]["cursor"]
        .as_str()
        .expect("a running edge has a cursor");
    let epoch = cursor.split('-').next().unwrap();
    format!("{epoch}-0").parse().expect("a cursor")
}

/// The publisher numbers in `events`, log kinds only (every fifth number is a snapshot kind).
pub fn log_numbers(events: &[Numbered]) -> Vec<u64> {
    events.iter().filter(|e| !e.snapshot).map(|e| e.n).collect()
}

/// The cursor before the first event of the stream `edge` serves (read from the edge itself,
/// whatever its listener speaks).
pub fn stream_start_of(edge: &adic_tests::edge::TestEdge) -> Cursor {
    Cursor::new(edge.state().feed.epoch(), 0)
}
