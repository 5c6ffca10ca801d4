//! The per-client loop shared by every transport.
//!
//! A transport adapter (WebSocket, SSE) owns the socket and asks its [`Session`] what to write
//! next: a batch of events, a heartbeat tick, or a close. The session owns the client's filter,
//! its place in the hub and its cursor; the adapter only encodes into its wire format.

use std::sync::Arc;
use std::time::Instant;

use adic_protocol::ws::{ClientMessage, ServerMessage};
use adic_protocol::{Cursor, Subscription};

use crate::encoded::EncodedEvent;
use crate::hub::Registration;
use crate::queue::CloseReason;
use crate::state::Edge;

/// What the adapter should do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Output {
    /// Write [`Session::events`], then call [`Session::delivered`].
    Events,
    /// The shared clock ticked: time to check keep-alives.
    Tick(Instant),
    /// Close the client for this reason.
    Close(CloseReason),
}

/// One client's session.
pub struct Session {
    edge: Arc<Edge>,
    registration: Registration,
    subscription: Subscription,
    ticker: tokio::sync::watch::Receiver<Instant>,
    batch: Vec<Arc<EncodedEvent>>,
    cursor: Option<Cursor>,
    last_write: Instant,
}

impl Session {
    /// Joins the hub with a subscription.
    pub fn start(edge: Arc<Edge>, subscription: Subscription) -> Session {
        let registration = edge
            .hub
            .register(subscription.mask(), edge.settings.client_queue_bytes);
        let ticker = edge.ticker.clone();
        Session {
            edge,
            registration,
            subscription,
            ticker,
            batch: Vec::new(),
            cursor: None,
            last_write: Instant::now(),
        }
    }

    pub fn edge(&self) -> &Arc<Edge> {
        &self.edge
    }

    /// Waits for the next thing to write. Cancel-safe: nothing is taken from the queue until
    /// the wait is over.
    pub async fn next(&mut self) -> Output {
        loop {
            self.batch.clear();
            let close = self.registration.subscriber().queue.take(&mut self.batch);
            // The filter may have changed since these were queued.
            let mask = self.registration.subscriber().mask();
            self.batch.retain(|e| mask.contains(e.key));
            if !self.batch.is_empty() {
                return Output::Events;
            }
            if let Some(reason) = close {
                return Output::Close(reason);
            }
            tokio::select! {
                biased;
                () = self.registration.subscriber().queue.notified() => {}
                changed = self.ticker.changed() => {
                    if changed.is_ok() {
                        return Output::Tick(*self.ticker.borrow_and_update());
                    }
                    // The clock stopped: the edge is going away; keep serving the queue.
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    /// The batch to write after [`Output::Events`], in stream order.
    pub fn events(&self) -> &[Arc<EncodedEvent>] {
        &self.batch
    }

    /// Records that the batch was written.
    pub fn delivered(&mut self) -> usize {
        if let Some(last) = self.batch.last() {
            self.cursor = Some(last.cursor);
        }
        self.last_write = Instant::now();
        let n = self.batch.len();
        self.batch.clear();
        n
    }

    /// Records a write that was not an event (heartbeat, reply).
    pub fn wrote(&mut self, now: Instant) {
        self.last_write = now;
    }

    /// Time since the last write.
    pub fn idle_since(&self, now: Instant) -> std::time::Duration {
        now.saturating_duration_since(self.last_write)
    }

    /// The cursor of the last event delivered.
    pub fn cursor(&self) -> Option<Cursor> {
        self.cursor
    }

    /// Applies a client message and returns the reply.
    pub fn handle(&mut self, message: ClientMessage) -> ServerMessage {
        match message {
            ClientMessage::Ping => ServerMessage::Pong,
            ClientMessage::Subscribe { since: Some(_), .. } => ServerMessage::error(
                "\"since\" is not supported by this edge: subscribe without it",
            ),
            ClientMessage::Subscribe {
                events,
                since: None,
            } => match self.subscription.subscribe(&events) {
                Ok(()) => {
                    self.registration
                        .subscriber()
                        .set_mask(self.subscription.mask());
                    ServerMessage::Subscribed { events }
                }
                Err(e) => ServerMessage::error(e.to_string()),
            },
            ClientMessage::Unsubscribe { events } => match self.subscription.unsubscribe(&events) {
                Ok(()) => {
                    self.registration
                        .subscriber()
                        .set_mask(self.subscription.mask());
                    ServerMessage::Unsubscribed { events }
                }
                Err(e) => ServerMessage::error(e.to_string()),
            },
        }
    }
}
