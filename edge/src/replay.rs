//! Reading the stream after a cursor: from the ring when it covers the cursor, else from
//! JetStream in shared pages.
//!
//! A reconnect storm must not create a consumer per client. JetStream reads go through pages of
//! consecutive sequences aligned on the page size, cached and fetched once however many clients
//! ask for them at the same time ("singleflight"), so clients resuming from nearby cursors share
//! one short-lived consumer. At most `max_consumers` pages are fetched at once per edge; each
//! client pulls its next page only after writing the previous one, so its socket paces the replay.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use adic_protocol::{Epoch, ValidEvent};
use tokio::sync::{OnceCell, Semaphore};

use crate::broker::{Broker, BrokerError};
use crate::encoded::EncodedEvent;
use crate::ring::Ring;

/// Sequences per JetStream page.
pub const PAGE: u64 = 256;
/// Pages kept for clients resuming from nearby cursors.
const CACHED_PAGES: usize = 64;

/// Events read after a position.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Valid events in order.
    pub events: Vec<Arc<EncodedEvent>>,
    /// The last sequence this chunk accounts for (events, holes and all).
    pub covered: u64,
    /// The stream no longer holds the requested position: its oldest event is this sequence.
    pub gap_to: Option<u64>,
}

struct Page {
    events: Vec<Arc<EncodedEvent>>,
    covered: u64,
}

type Slot = Arc<OnceCell<Arc<Page>>>;
type PageKey = (Epoch, u64);

/// Cached pages and their insertion order (oldest evicted first).
#[derive(Default)]
struct PageCache {
    slots: HashMap<PageKey, Slot>,
    order: VecDeque<PageKey>,
}

/// Reads history for resuming clients and for polling.
pub struct Replayer {
    broker: Arc<dyn Broker>,
    permits: Arc<Semaphore>,
    pages: Mutex<PageCache>,
}

impl Replayer {
    pub fn new(broker: Arc<dyn Broker>, max_consumers: usize) -> Replayer {
        Replayer {
            broker,
            permits: Arc::new(Semaphore::new(max_consumers.max(1))),
            pages: Mutex::new(PageCache::default()),
        }
    }

    /// Events with sequence `>= from`, at most about `max`: from the ring when it covers `from`,
    /// else one JetStream page.
    pub async fn read(
        &self,
        ring: &Ring,
        epoch: Epoch,
        from: u64,
        max: usize,
    ) -> Result<Chunk, BrokerError> {
        if let Some((events, covered)) = ring.read_from(from, max) {
            return Ok(Chunk {
                events,
                covered,
                gap_to: None,
            });
        }
        let page = self.page(epoch, from).await?;
        let first = page.events.partition_point(|e| e.seq() < from);
        let events = page.events[first..].to_vec();
        let gap_to = match events.first() {
            Some(e) if e.seq() > from => self.first_seq_if_after(from).await?,
            None if page.covered < from => self.first_seq_if_after(from).await?,
            _ => None,
        };
        Ok(Chunk {
            events,
            covered: page.covered.max(from - 1),
            gap_to,
        })
    }

    /// The stream's first sequence, when it is past `from` (the events before it are gone).
    async fn first_seq_if_after(&self, from: u64) -> Result<Option<u64>, BrokerError> {
        let identity = self.broker.identity().await?;
        Ok((identity.first_seq > from).then_some(identity.first_seq))
    }

    /// The page holding `from`, shared by every client that asks for it.
    async fn page(&self, epoch: Epoch, from: u64) -> Result<Arc<Page>, BrokerError> {
        let start = (from.max(1) - 1) / PAGE * PAGE + 1;
        let slot = self.slot(epoch, start);
        // The fetch runs as a task of its own and fills the shared slot even if this caller
        // goes away meanwhile (a session's wait is cancelled by every client frame): a
        // cancelled read must not leave a consumer behind and start another next time.
        let (broker, permits) = (Arc::clone(&self.broker), Arc::clone(&self.permits));
        let page = tokio::spawn(async move {
            slot.get_or_try_init(|| async {
                let _permit = permits.acquire().await.expect("semaphore never closed");
                fetch(broker.as_ref(), epoch, start).await.map(Arc::new)
            })
            .await
            .cloned()
        })
        .await
        .map_err(|e| BrokerError::Unavailable(format!("replay task: {e}")))??;
        if page.covered >= from || page.events.len() as u64 >= PAGE {
            return Ok(page);
        }
        // A page read at the end of the stream is partial; the stream has grown since.
        self.forget(epoch, start);
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("semaphore never closed");
        fetch(self.broker.as_ref(), epoch, from).await.map(Arc::new)
    }

    fn slot(&self, epoch: Epoch, start: u64) -> Slot {
        let mut pages = self
            .pages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let PageCache { slots: map, order } = &mut *pages;
        if let Some(slot) = map.get(&(epoch, start)) {
            return Arc::clone(slot);
        }
        let slot = Slot::default();
        map.insert((epoch, start), Arc::clone(&slot));
        order.push_back((epoch, start));
        while order.len() > CACHED_PAGES {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
        slot
    }

    fn forget(&self, epoch: Epoch, start: u64) {
        let mut pages = self
            .pages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pages.slots.remove(&(epoch, start));
        pages.order.retain(|k| *k != (epoch, start));
    }
}

/// Reads one page from the stream and encodes its events.
async fn fetch(broker: &dyn Broker, epoch: Epoch, from: u64) -> Result<Page, BrokerError> {
    let messages = broker.read_range(from, PAGE as usize).await?;
    let full = messages.len() as u64 >= PAGE;
    let covered = match messages.last() {
        Some(last) if full => last.seq,
        // The end of the stream at the time of reading.
        _ => messages.last().map_or(from - 1, |m| m.seq),
    };
    let prefix = broker.prefix().to_owned();
    let events = messages
        .iter()
        .filter_map(|m| {
            let valid = ValidEvent::parse(&prefix, &m.subject, &m.payload).ok()?;
            Some(Arc::new(EncodedEvent::new(epoch, m, valid)))
        })
        .collect();
    Ok(Page { events, covered })
}
