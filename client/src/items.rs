//! The item stream a subscription yields, and the checkpoint: a cursor counts as processed once
//! the consumer asks for the item after it (or calls [`Items::commit`]), and only then is it
//! handed to the checkpoint hook.

use std::pin::Pin;
use std::task::{Context, Poll};

use adic_protocol::Cursor;
use futures::Stream;
use tokio::sync::mpsc;

use crate::client::Item;
use crate::stats::{Stats, StatsHandle};

/// What the connection loop sends to the item stream. Progress markers travel in the same
/// queue as the items so that one is committed only after every item before it was processed.
#[derive(Debug)]
pub(crate) enum Delivery {
    Item(Item),
    /// The stream moved past events this subscription filters out.
    Progress(Cursor),
}

/// Called with each cursor once everything up to it was processed.
pub(crate) type CheckpointHook = Box<dyn FnMut(Cursor) + Send>;

/// The items of a subscription. Bounded: a consumer that does not poll holds the connection back
/// (it never grows memory); dropping it ends the connection loop.
///
/// Asking for the next item commits the previous one as processed (its cursor goes to the
/// checkpoint hook). A consumer that stops after processing an item calls [`Items::commit`]
/// first, or that item is delivered again when it restarts from its checkpoint.
pub struct Items {
    rx: mpsc::Receiver<Delivery>,
    stats: StatsHandle,
    hook: Option<CheckpointHook>,
    /// The cursor of the item handed out last, committed when the next is asked for.
    pending: Option<Cursor>,
    committed: Option<Cursor>,
}

impl Items {
    pub(crate) fn new(
        rx: mpsc::Receiver<Delivery>,
        stats: StatsHandle,
        hook: Option<CheckpointHook>,
        start: Option<Cursor>,
    ) -> Items {
        Items {
            rx,
            stats,
            hook,
            pending: None,
            committed: start,
        }
    }

    /// Commits the item handed out last as processed now, without waiting for the next.
    pub fn commit(&mut self) {
        if let Some(cursor) = self.pending.take() {
            self.commit_cursor(cursor);
        }
    }

    /// The last committed cursor: where a new subscription should start to continue after
    /// everything processed so far (`ClientBuilder::cursor`).
    pub fn checkpoint(&self) -> Option<Cursor> {
        self.committed
    }

    /// The statistics now.
    pub fn stats(&self) -> Stats {
        self.stats.get()
    }

    /// A handle that reads the statistics from elsewhere (e.g. a metrics task).
    pub fn stats_handle(&self) -> StatsHandle {
        self.stats.clone()
    }

    fn commit_cursor(&mut self, cursor: Cursor) {
        if self.committed == Some(cursor) {
            return;
        }
        self.committed = Some(cursor);
        self.stats.lock().checkpoint = Some(cursor);
        if let Some(hook) = &mut self.hook {
            hook(cursor);
        }
    }
}

impl Stream for Items {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        // Asking for the next item means the previous one was processed.
        self.commit();
        loop {
            match self.rx.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Delivery::Progress(cursor))) => {
                    self.stats.lock().last_cursor = Some(cursor);
                    self.commit_cursor(cursor);
                }
                Poll::Ready(Some(Delivery::Item(item))) => {
                    match &item {
                        Item::Event { id, event } => {
                            self.stats.event(*id, event);
                            self.pending = Some(*id);
                        }
                        Item::Reset(reset) => self.pending = Some(reset.current),
                        _ => {}
                    }
                    return Poll::Ready(Some(item));
                }
            }
        }
    }
}
