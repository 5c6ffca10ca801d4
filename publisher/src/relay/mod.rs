//! `adic-publisher relay`: an unmodified node's own event stream (`/v1/ws/events` or
//! `/v1/sse/events`) into the tier, through the same [`Publisher`](crate::Publisher).
//!
//! Layout: [`node`] (a connection to the node, over [`node_ws`] or [`node_sse`]), [`event`]
//! (validation and subject of one event), [`msg_id`] (the `Nats-Msg-Id` that lets two relays,
//! or a restarted one, store each event once), [`backoff`] (jittered reconnect delays),
//! [`metrics`] (what the relay counts). docs/relay.md is the operator's side.
//!
//! The loop: connect (bounded by a timeout), read items, publish each event with its derived id
//! and a deadline (after holding what a new connection reads for `--settle`, see [`msg_id`]),
//! reconnect with jittered backoff when the node closes, errs or stays silent
//! past two ping intervals. Publishing never blocks reading (the publisher's buffer is bounded
//! and refuses when full, counted); a separate task follows each event's receipt for the
//! metrics. On shutdown the relay stops reading, then waits (at most `--grace`) until what it
//! read is acked.

pub mod backoff;
pub mod event;
pub mod metrics;
pub mod msg_id;
pub mod node;
pub mod node_sse;
pub mod node_ws;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use adic_protocol::Priority;
use anyhow::Context;
use tokio::sync::mpsc;

use self::backoff::Backoff;
use self::metrics::{Dropped, RelayMetrics};
use self::msg_id::MsgIds;
use self::node::{BadFrame, Connection, Item, NodeError, NodeSettings, Transport};
use crate::cli::Target;
use crate::{PublishError, Publisher, Receipt};

/// Relay a node's events into the stream.
#[derive(Debug, clap::Args)]
pub struct RelayArgs {
    #[command(flatten)]
    pub target: Target,
    /// The node's event stream: ws://NODE:9121/v1/ws/events or http://NODE:9121/v1/sse/events
    /// (every kind: leave out `events` and `priority`).
    #[arg(long, env = "ADIC_RELAY_FROM")]
    pub from: String,
    /// Bound on connecting to the node.
    #[arg(long, env = "ADIC_RELAY_CONNECT_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
    /// Ping the node (WebSocket) after this long without a frame; reconnect after twice this
    /// long (both transports; the node's SSE heartbeat comes every 15 s).
    #[arg(long, env = "ADIC_RELAY_PING_INTERVAL", default_value = "15s", value_parser = humantime::parse_duration)]
    pub ping_interval: Duration,
    /// Largest frame relayed; a larger one is counted and skipped.
    #[arg(long, env = "ADIC_RELAY_MAX_FRAME_BYTES", default_value_t = 1 << 20)]
    pub max_frame_bytes: usize,
    /// Shortest delay before reconnecting to the node (jittered, doubling up to the longest).
    #[arg(long, env = "ADIC_RELAY_RECONNECT_MIN", default_value = "250ms", value_parser = humantime::parse_duration)]
    pub reconnect_min: Duration,
    /// Longest delay before reconnecting to the node.
    #[arg(long, env = "ADIC_RELAY_RECONNECT_MAX", default_value = "10s", value_parser = humantime::parse_duration)]
    pub reconnect_max: Duration,
    /// On SIGTERM, how long the events already read get to be acked before the relay exits.
    #[arg(long, env = "ADIC_RELAY_GRACE", default_value = "10s", value_parser = humantime::parse_duration)]
    pub grace: Duration,
    /// An event not acked this long after it was read is dropped (counted), not sent: past the
    /// stream's duplicate window a late copy could be stored again, out of order. Default: the
    /// duplicate window less 20 s (at least half of it).
    #[arg(long, env = "ADIC_RELAY_MAX_BUFFER_AGE", value_parser = humantime::parse_duration)]
    pub max_buffer_age: Option<Duration>,
    /// After each connection to the node, hold what is read this long before publishing it,
    /// so that a partner relay connected all along stores the events of this connection's
    /// first second first (this relay may have missed earlier identical ones in that second,
    /// and would number them differently; docs/relay.md). Keep it above the partner's lag.
    #[arg(long, env = "ADIC_RELAY_SETTLE", default_value = "2s", value_parser = humantime::parse_duration)]
    pub settle: Duration,
    /// Priority subject of kinds this build does not know (they pass through).
    #[arg(long, env = "ADIC_RELAY_UNKNOWN_PRIORITY", default_value = "low", value_parser = parse_priority)]
    pub unknown_priority: Priority,
}

fn parse_priority(s: &str) -> Result<Priority, String> {
    Priority::parse(s).ok_or_else(|| format!("{s:?} is not high, medium or low"))
}

/// The default `--max-buffer-age` for a duplicate window.
pub fn default_max_buffer_age(window: Duration) -> Duration {
    window
        .saturating_sub(Duration::from_secs(20))
        .max(window / 2)
}

/// Runs the relay until `shutdown` resolves, then publishes what was read (within the grace).
pub async fn run(
    args: RelayArgs,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let transport = Transport::of(&args.from).with_context(|| {
        format!(
            "--from {:?}: expected ws://NODE:9121/v1/ws/events or http://NODE:9121/v1/sse/events",
            args.from
        )
    })?;
    anyhow::ensure!(
        !args.ping_interval.is_zero(),
        "--ping-interval must be above 0"
    );
    anyhow::ensure!(
        args.max_frame_bytes > 0,
        "--max-frame-bytes must be above 0"
    );
    anyhow::ensure!(
        !args.reconnect_min.is_zero() && args.reconnect_min <= args.reconnect_max,
        "--reconnect-min must be above 0 and at most --reconnect-max"
    );
    let window = args.target.stream.duplicate_window;
    let max_age = args
        .max_buffer_age
        .unwrap_or_else(|| default_max_buffer_age(window));
    anyhow::ensure!(
        !max_age.is_zero() && max_age < window,
        "--max-buffer-age ({max_age:?}) must be above 0 and below the stream's duplicate window ({window:?})"
    );
    let metrics = Arc::new(RelayMetrics::new(transport));
    let publisher = args
        .target
        .publisher_with(Arc::clone(&metrics) as Arc<dyn crate::metrics::Extra>)
        .await?;
    // Every receipt belongs to an event in the publisher's buffer, so this never fills.
    let (receipts, pending) = mpsc::channel(args.target.buffer.saturating_add(2));
    let tracker = tokio::spawn(track(pending, Arc::clone(&metrics)));
    let relay = Relay {
        publisher: publisher.clone(),
        ids: MsgIds::new(window * 2),
        metrics: Arc::clone(&metrics),
        node: NodeSettings {
            url: args.from.clone(),
            connect_timeout: args.connect_timeout,
            ping_interval: args.ping_interval,
            max_frame_bytes: args.max_frame_bytes,
        },
        prefix: args.target.stream.prefix.clone(),
        unknown_priority: args.unknown_priority,
        max_age,
        receipts,
        buffer_full: false,
        settle: args.settle,
        held: VecDeque::new(),
        hold_cap: args.target.buffer.max(1),
    };
    tracing::info!(from = %node::redacted(&args.from), transport = transport.as_str(), "relaying");
    relay
        .run(
            Backoff::new(args.reconnect_min, args.reconnect_max),
            shutdown,
        )
        .await;
    tracing::info!("shutting down: stopped reading from the node; publishing what was read");
    // The relay (and with it the node connection and the receipt sender) is dropped: the
    // tracker ends once the last receipt resolves.
    let deadline = Instant::now() + args.grace;
    if tokio::time::timeout(args.grace, publisher.flush())
        .await
        .is_err()
    {
        tracing::warn!(
            buffered = publisher.stats().buffered,
            grace = ?args.grace,
            "NATS did not take every event read within the grace; they are not published"
        );
    }
    let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(500);
    if tokio::time::timeout(left, tracker).await.is_err() {
        tracing::warn!("receipts of the last events did not arrive");
    }
    let (relayed, duplicates) = metrics.published();
    let stats = publisher.stats();
    tracing::info!(relayed, duplicates, ?stats, "relay stopped");
    eprintln!(
        "relayed {relayed} events, {duplicates} suppressed as duplicates, {} dropped",
        stats.dropped_full + stats.dropped_rejected + stats.dropped_expired
    );
    Ok(())
}

/// Follows the receipts in order (the publisher acks in order) into the metrics.
async fn track(mut pending: mpsc::Receiver<(Receipt, Option<i64>)>, metrics: Arc<RelayMetrics>) {
    while let Some((receipt, timestamp)) = pending.recv().await {
        if let Ok(outcome) = receipt.await {
            metrics.outcome(outcome, timestamp);
        }
    }
}

struct Relay {
    publisher: Publisher,
    ids: MsgIds,
    metrics: Arc<RelayMetrics>,
    node: NodeSettings,
    prefix: String,
    unknown_priority: Priority,
    max_age: Duration,
    receipts: mpsc::Sender<(Receipt, Option<i64>)>,
    /// In a streak of events refused by a full buffer (logged once per streak).
    buffer_full: bool,
    settle: Duration,
    /// Events read since the connection began, held until `settle` has passed (bounded by
    /// `hold_cap`: past it they are released early, in order).
    held: VecDeque<Held>,
    hold_cap: usize,
}

struct Held {
    subject: String,
    payload: bytes::Bytes,
    id: String,
    deadline: Instant,
    timestamp: Option<i64>,
}

/// Sleeps until `at`, or for ever without one.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

impl Relay {
    /// Connects, reads and reconnects until `shutdown`; then hands what it holds to the
    /// publisher.
    async fn run(mut self, mut backoff: Backoff, shutdown: impl std::future::Future<Output = ()>) {
        let url = node::redacted(&self.node.url);
        let mut first = true;
        let mut failing = false;
        tokio::pin!(shutdown);
        loop {
            let opened = tokio::select! {
                opened = Connection::open(&self.node) => opened,
                () = &mut shutdown => return,
            };
            match opened {
                Ok(mut connection) => {
                    let away = self.metrics.connected(first);
                    if first {
                        tracing::info!(from = %url, "connected to the node");
                    } else {
                        tracing::info!(
                            from = %url,
                            away_seconds = away.as_secs_f64(),
                            "reconnected to the node after {:.1} s away",
                            away.as_secs_f64()
                        );
                    }
                    first = false;
                    failing = false;
                    let since = Instant::now();
                    let mut release = Some(since + self.settle);
                    let why = loop {
                        tokio::select! {
                            biased;
                            () = &mut shutdown => {
                                self.release();
                                return;
                            }
                            () = until(release) => {
                                release = None;
                                self.release();
                            }
                            next = connection.next() => match next {
                                Ok(item) => self.handle(item, release.is_some()),
                                Err(e) => break e,
                            },
                        }
                    };
                    self.release();
                    self.metrics.disconnected();
                    if let NodeError::Silent(_) = why {
                        self.metrics.bad(BadFrame::Silent, &why.to_string());
                    }
                    tracing::warn!(
                        from = %url,
                        error = %why,
                        connected_seconds = since.elapsed().as_secs_f64(),
                        "disconnected from the node; reconnecting (what it emits meanwhile reaches the stream only through another relay)"
                    );
                    if since.elapsed() > backoff.max() {
                        backoff.reset();
                    }
                }
                Err(e) => {
                    self.metrics.connect_failed();
                    // Once per streak of failures; the metrics count every attempt.
                    if !failing {
                        tracing::warn!(from = %url, error = %e, "cannot connect to the node; retrying with backoff");
                    } else {
                        tracing::debug!(from = %url, error = %e, "cannot connect to the node");
                    }
                    failing = true;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff.next_delay()) => {}
                () = &mut shutdown => return,
            }
        }
    }

    fn handle(&mut self, item: Item, hold: bool) {
        match item {
            Item::Event { event, name } => self.read(&event, name.as_deref(), hold),
            Item::Bad { reason, detail } => self.metrics.bad(reason, &detail),
            Item::Alive => {}
        }
    }

    /// Hands every held event to the publisher, in order.
    fn release(&mut self) {
        while let Some(held) = self.held.pop_front() {
            self.publish(held);
        }
    }

    fn read(&mut self, event: &serde_json::Value, name: Option<&str>, hold: bool) {
        let relayed = match event::prepare(&self.prefix, self.unknown_priority, event, name) {
            Ok(r) => r,
            Err(why) => {
                let detail = format!("{why}: {}", node_ws::sample(&event.to_string()));
                return self.metrics.bad(BadFrame::BadEvent, &detail);
            }
        };
        self.metrics.read();
        let held = Held {
            id: self.ids.next(&relayed.variant, &event["data"]),
            deadline: Instant::now() + self.max_age,
            subject: relayed.subject,
            payload: relayed.payload,
            timestamp: relayed.timestamp,
        };
        if hold && self.held.len() < self.hold_cap {
            self.held.push_back(held);
        } else {
            self.release();
            self.publish(held);
        }
    }

    fn publish(&mut self, held: Held) {
        match self.publisher.publish_tracked(
            held.subject,
            held.payload,
            held.id,
            Some(held.deadline),
        ) {
            Ok(receipt) => {
                self.buffer_full = false;
                if self.receipts.try_send((receipt, held.timestamp)).is_err() {
                    tracing::debug!(
                        "receipt queue full; this event's outcome is not in the relay metrics"
                    );
                }
            }
            Err(PublishError::BufferFull(n)) => {
                self.metrics.dropped(Dropped::BufferFull);
                if !std::mem::replace(&mut self.buffer_full, true) {
                    tracing::error!(
                        buffered = n,
                        "publish buffer full (NATS away?): dropping events read from the node until it drains (adic_relay_events_dropped_total)"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "event not published"),
        }
    }
}
