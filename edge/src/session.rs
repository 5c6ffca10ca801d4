//! The per-client loop shared by every transport.
//!
//! A transport adapter (WebSocket, SSE) owns the socket and asks its [`Session`] what to write
//! next: a batch of events, a notice, a progress marker, a heartbeat tick, or a close. The
//! session owns the client's filter, its place in the hub and its position in the stream; the
//! adapter only encodes into its wire format.
//!
//! A resuming client first *catches up*: events after its cursor are read from the ring or, for
//! older cursors, from JetStream pages, paced by its own writes. The session joins the hub as
//! soon as the ring covers its position, so every newer event is either in the ring or in its
//! queue; events it already has are skipped by sequence. Replay then turns into live with no gap
//! and no duplicate, in stream order.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use adic_protocol::ws::{ClientMessage, Gap, ServerMessage};
use adic_protocol::{Cursor, Epoch, Subscription};

use crate::connections::Transport;
use crate::encoded::EncodedEvent;
use crate::hub::Registration;
use crate::metrics::TransportMetrics;
use crate::queue::CloseReason;
use crate::resume::{Notice, Plan};
use crate::state::Edge;

/// Events read per catch-up step.
const CATCH_UP_BATCH: usize = 512;

/// What the adapter should do next.
#[derive(Debug)]
pub enum Output {
    /// Write [`Session::events`], then call [`Session::delivered`].
    Events,
    /// Tell the client something before further events.
    Notice(Notice),
    /// The stream moved past events this client's filter skips: this is its cursor now.
    Progress(Cursor),
    /// The shared clock ticked: time to check keep-alives.
    Tick(Instant),
    /// Close the client for this reason.
    Close(CloseReason),
}

/// One client's session.
pub struct Session {
    edge: Arc<Edge>,
    subscription: Subscription,
    registration: Option<Registration>,
    ticker: tokio::sync::watch::Receiver<Instant>,
    batch: Vec<Arc<EncodedEvent>>,
    /// The position the current batch accounts for once written.
    batch_covers: u64,
    /// Whether the batch came from the live queue (not a catch-up read).
    batch_live: bool,
    metrics: TransportMetrics,
    transport: Transport,
    notices: VecDeque<Notice>,
    /// While catching up: the next sequence to read.
    catch_up: Option<u64>,
    /// Last sequence the client has accounted for: delivered, or skipped by its filter.
    position: u64,
    epoch: Epoch,
    /// The cursor the client holds: where it started, its last event or progress marker.
    cursor: Option<Cursor>,
    /// The position the session started at (to tell whether anything was written since).
    start_position: u64,
    last_write: Instant,
    /// When the client's cursor last moved (an event or a progress marker): a marker is due
    /// only once it has stood still for the progress interval.
    cursor_moved: Instant,
    /// When the client's token runs out (authentication on): the session closes then.
    ends_at: Option<SystemTime>,
}

impl Session {
    /// Starts a session at `plan`; with `snapshot` (and no cursor), the current value of each
    /// snapshot kind the filter takes is sent first.
    pub fn start(
        edge: Arc<Edge>,
        transport: Transport,
        subscription: Subscription,
        plan: Plan,
        snapshot: bool,
    ) -> Session {
        let ticker = edge.ticker.clone();
        let epoch = plan.epoch;
        let metrics = match transport {
            Transport::WebSocket => edge.metrics.websocket.clone(),
            Transport::Sse => edge.metrics.sse.clone(),
            Transport::Polling => edge.metrics.polling.clone(),
        };
        let mut session = Session {
            batch_live: false,
            metrics,
            transport,
            edge,
            subscription,
            registration: None,
            ticker,
            batch: Vec::new(),
            batch_covers: 0,
            notices: VecDeque::new(),
            catch_up: None,
            position: 0,
            epoch,
            cursor: None,
            start_position: 0,
            last_write: Instant::now(),
            cursor_moved: Instant::now(),
            ends_at: None,
        };
        session.begin(plan, snapshot);
        session
    }

    /// Ends the session at `ends_at` (its token's expiry), if given.
    #[must_use]
    pub fn until(mut self, ends_at: Option<SystemTime>) -> Session {
        self.ends_at = ends_at;
        self
    }

    /// A refreshed token: what the client may receive from now on (events already queued are
    /// checked against it before they are written), and its new end.
    pub fn regrant(&mut self, allowed: adic_protocol::KindSet, ends_at: SystemTime) {
        self.subscription.set_allowed(allowed);
        if let Some(registration) = &self.registration {
            registration.subscriber().set_mask(self.subscription.mask());
        }
        self.ends_at = Some(ends_at);
    }

    /// Starts over at `plan` (a WebSocket client's first Subscribe carrying `since`). Only
    /// allowed while nothing was written: see [`Session::has_written`].
    pub fn restart(&mut self, plan: Plan) {
        self.begin(plan, false);
    }

    /// Whether any event, notice or progress marker reached the client: after that, a cursor
    /// on Subscribe would repeat or reorder what it already has.
    pub fn has_written(&self) -> bool {
        self.cursor.is_some_and(|c| c.seq > self.start_position) || !self.batch.is_empty()
    }

    fn begin(&mut self, plan: Plan, snapshot: bool) {
        self.registration = None;
        self.batch.clear();
        self.epoch = plan.epoch;
        self.notices = plan.notices.into();
        match plan.after {
            None => {
                // Current values first, read before joining the hub: a value queued after
                // joining is then never older than the snapshot sent before it.
                let values = if snapshot {
                    self.edge.snapshots.matching(self.subscription.mask())
                } else {
                    Vec::new()
                };
                self.notices
                    .extend(values.into_iter().map(Notice::Snapshot));
                self.register();
                self.catch_up = None;
                // Live from now: everything fanned out before joining is before this client's
                // start, so its position (and the cursor a close carries) is the published one.
                self.position = self.edge.feed.published_seq();
                self.cursor = Some(Cursor::new(self.epoch, self.position));
            }
            Some(after) => {
                self.catch_up = Some(after + 1);
                self.position = after;
                self.cursor = Some(Cursor::new(self.epoch, after));
            }
        }
        self.start_position = self.position;
    }

    fn register(&mut self) {
        let edge = &self.edge;
        self.registration = Some(
            edge.hub
                .register(self.subscription.mask(), edge.settings.client_queue_bytes),
        );
    }

    pub fn edge(&self) -> &Arc<Edge> {
        &self.edge
    }

    /// Waits for the next thing to write. Cancel-safe: nothing is taken from the queue, and no
    /// state changes, until the wait is over.
    pub async fn next(&mut self) -> Output {
        loop {
            if let Some(notice) = self.notices.pop_front() {
                return Output::Notice(notice);
            }
            if self.edge.feed.epoch() != self.epoch {
                return Output::Close(CloseReason::StreamReset);
            }
            if let Some(next) = self.catch_up {
                if self.registration.is_none() && self.edge.is_draining() {
                    return Output::Close(CloseReason::Draining);
                }
                // Boxed: the catch-up path (ring and JetStream reads) is large and rare; keeping
                // it out of line keeps every idle session's future small.
                if let Some(output) = Box::pin(self.catch_up_step(next)).await {
                    return output;
                }
                continue;
            }
            if let Some(output) = self.take_live() {
                return output;
            }
            let queue = &self
                .registration
                .as_ref()
                .expect("a live session is registered")
                .subscriber()
                .queue;
            tokio::select! {
                biased;
                () = queue.notified() => {}
                changed = self.ticker.changed() => {
                    if changed.is_err() {
                        // The clock stopped: the edge is going away; keep serving the queue.
                        queue.notified().await;
                        continue;
                    }
                    let now = *self.ticker.borrow_and_update();
                    if self.ends_at.is_some_and(|end| SystemTime::now() >= end) {
                        return Output::Close(CloseReason::TokenExpired);
                    }
                    // Read the published position before draining the queue: every event up to
                    // it that this client takes is then in the queue or already delivered.
                    let published = self.edge.feed.published_seq();
                    if let Some(output) = self.take_live() {
                        return output;
                    }
                    if let Some(progress) = self.progress_due(now, published) {
                        return progress;
                    }
                    return Output::Tick(now);
                }
            }
        }
    }

    /// Moves queued events the client does not have yet into the batch.
    fn take_live(&mut self) -> Option<Output> {
        let subscriber = self.registration.as_ref()?.subscriber();
        self.batch.clear();
        let (close, queued) = subscriber.queue.take_counted(&mut self.batch);
        if queued > 0 {
            self.edge.metrics.queue_bytes.observe(queued as f64);
        }
        let mask = subscriber.mask();
        let position = self.position;
        let epoch = self.epoch;
        // Events of another stream instance never continue this session's cursor.
        self.batch
            .retain(|e| e.seq() > position && mask.contains(e.key) && e.cursor.epoch == epoch);
        if let Some(last) = self.batch.last() {
            self.batch_covers = last.seq();
            self.batch_live = true;
            return Some(Output::Events);
        }
        close.map(Output::Close)
    }

    /// A progress marker when the client's position moved past its cursor and the cursor has not
    /// moved for the progress interval. A client that keeps receiving events keeps a recent
    /// cursor from them and gets no markers.
    fn progress_due(&mut self, now: Instant, position: u64) -> Option<Output> {
        self.position = self.position.max(position);
        let behind = self.cursor.is_none_or(|c| c.seq < self.position);
        if !behind
            || now.saturating_duration_since(self.cursor_moved)
                < self.edge.settings.progress_interval
        {
            return None;
        }
        self.cursor_moved = now;
        let cursor = Cursor::new(self.epoch, self.position);
        self.cursor = Some(cursor);
        Some(Output::Progress(cursor))
    }

    /// One catch-up read. `None` when there is nothing to write yet.
    async fn catch_up_step(&mut self, next: u64) -> Option<Output> {
        let edge = Arc::clone(&self.edge);
        // Join the hub before reading the ring that covers `next`: every event newer than what
        // that read returns then reaches the queue.
        if self.registration.is_none() && edge.ring.covers(next) {
            self.register();
        }
        // A drain or an overflow while catching up ends the session now, not once caught up.
        if let Some(reason) = self
            .registration
            .as_ref()
            .and_then(|r| r.subscriber().queue.close_reason())
        {
            return Some(Output::Close(reason));
        }
        let chunk = match edge
            .replayer
            .read(&edge.ring, self.epoch, next, CATCH_UP_BATCH)
            .await
        {
            Ok(chunk) => chunk,
            Err(error) => {
                tracing::warn!(%error, "replay read failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                return None;
            }
        };
        if let Some(first) = chunk.gap_to {
            // The stream dropped events while this client was catching up.
            self.catch_up = Some(first);
            self.position = first - 1;
            edge.metrics.resumes.with_label_values(&["gap"]).inc();
            let gap = Gap {
                requested: Cursor::new(self.epoch, next - 1),
                first_available: Cursor::new(self.epoch, first),
            };
            return Some(Output::Notice(Notice::Gap(gap)));
        }
        let caught_up = self.registration.is_some() && chunk.covered >= edge.ring.bounds().1;
        self.catch_up = (!caught_up).then_some(chunk.covered + 1);
        let (position, mask, epoch) = (self.position, self.subscription.mask(), self.epoch);
        self.batch.clear();
        self.batch.extend(
            chunk
                .events
                .into_iter()
                .filter(|e| e.seq() > position && mask.contains(e.key) && e.cursor.epoch == epoch),
        );
        if !self.batch.is_empty() {
            self.batch_covers = chunk.covered;
            self.batch_live = false;
            return Some(Output::Events);
        }
        if chunk.covered < next && !caught_up {
            // Nothing readable yet past `next`: let the feed move on.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.progress_due(Instant::now(), chunk.covered)
    }

    /// The batch to write after [`Output::Events`], in stream order.
    pub fn events(&self) -> &[Arc<EncodedEvent>] {
        &self.batch
    }

    /// Records that the batch was written: the client's position, the delivery metrics and,
    /// for traced events, the delivery span. Returns how many events the batch held.
    pub fn delivered(&mut self) -> usize {
        let Some(last) = self.batch.last() else {
            return 0;
        };
        self.cursor = Some(last.cursor);
        self.position = self.position.max(self.batch_covers);
        self.last_write = Instant::now();
        self.cursor_moved = self.last_write;
        let n = self.batch.len();
        let bytes: usize = match self.transport {
            Transport::WebSocket => self.batch.iter().map(|e| e.ws.len()).sum(),
            Transport::Sse | Transport::Polling => self.batch.iter().map(|e| e.sse.len()).sum(),
        };
        self.metrics.delivered(n, bytes);
        if self.batch_live {
            let now = std::time::SystemTime::now();
            for event in &self.batch {
                if let Some(stored) = event.stored_at {
                    let latency = now.duration_since(stored).unwrap_or_default();
                    self.metrics.latency.observe(latency.as_secs_f64());
                }
            }
        }
        for event in &self.batch {
            if let Some(trace) = &event.trace {
                trace.delivered(self.transport.label(), event);
            }
        }
        self.batch.clear();
        n
    }

    /// Records a write that was not an event (heartbeat, reply, notice).
    pub fn wrote(&mut self, now: Instant) {
        self.last_write = now;
    }

    /// Time since the last write.
    pub fn idle_since(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_write)
    }

    /// The cursor the client holds, for a close reason.
    pub fn cursor(&self) -> Option<Cursor> {
        self.cursor
    }

    /// Applies a Subscribe (without `since`), Unsubscribe or Ping, and returns the reply.
    pub fn handle(&mut self, message: ClientMessage) -> ServerMessage {
        let result = match message {
            ClientMessage::Ping => return ServerMessage::Pong,
            ClientMessage::Auth { .. } => {
                return ServerMessage::error("this edge does not use authentication")
            }
            ClientMessage::Subscribe { since: Some(_), .. } => {
                return ServerMessage::error(
                    "\"since\" is accepted on the first Subscribe only, before any event: \
                     reconnect with ?since=<cursor> instead",
                );
            }
            ClientMessage::Subscribe {
                events,
                since: None,
            } => self
                .subscription
                .subscribe(&events)
                .map(|()| ServerMessage::Subscribed { events }),
            ClientMessage::Unsubscribe { events } => self
                .subscription
                .unsubscribe(&events)
                .map(|()| ServerMessage::Unsubscribed { events }),
        };
        match result {
            Ok(reply) => {
                if let Some(registration) = &self.registration {
                    registration.subscriber().set_mask(self.subscription.mask());
                }
                reply
            }
            Err(e) => ServerMessage::error(e.to_string()),
        }
    }
}
