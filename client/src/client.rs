//! The builder, the reconnect loop and the item stream.
//!
//! Transport order is WebSocket, then SSE, then polling. A transport that cannot be established
//! twice in a row (on every URL) is given up for the next one; after five minutes on a lower
//! transport the client probes the better one again. Between attempts it waits with jittered
//! exponential backoff (1 s to 60 s, reset after a connection that lasted 30 s), rotating over
//! the edge URLs. It always resumes from the cursor of the last event it delivered (progress
//! markers included).
//!
//! Cursors of different stream instances (epochs) do not compare: after a Reset the client
//! follows the new instance from where the Reset says.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use adic_protocol::ws::{Gap, Reset};
use adic_protocol::Cursor;
use futures::Stream;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::backoff::Backoff;
use crate::session::{self, Ended, Query, Shared};

/// Items the stream yields.
#[derive(Clone, Debug)]
pub enum Item {
    /// An event with its cursor, exactly once and in stream order.
    Event { id: Cursor, event: Value },
    /// The current value of a snapshot kind (asked with `snapshot`); carries no cursor.
    Snapshot(Value),
    /// The cursor was older than the stream keeps: events continue from `first_available`.
    Gap(Gap),
    /// The stream was recreated: events continue on the new instance.
    Reset(Reset),
    /// The connection changed.
    State(State),
}

/// Connection changes, for status displays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Connected { transport: Transport, url: String },
    Reconnecting { after: Duration, reason: String },
    FellBack { from: Transport, to: Transport },
}

/// A transport, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Transport {
    WebSocket,
    Sse,
    Polling,
}

impl Transport {
    fn next(self) -> Option<Transport> {
        match self {
            Transport::WebSocket => Some(Transport::Sse),
            Transport::Sse => Some(Transport::Polling),
            Transport::Polling => None,
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::WebSocket => "WebSocket",
            Transport::Sse => "SSE",
            Transport::Polling => "polling",
        })
    }
}

/// Entry point: `Client::builder(urls)`.
pub struct Client;

impl Client {
    /// A builder for edges at `urls` (`http://host:port`, several to rotate over).
    pub fn builder<I, S>(urls: I) -> ClientBuilder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClientBuilder {
            urls: urls
                .into_iter()
                .map(|u| u.into().trim_end_matches('/').to_owned())
                .collect(),
            query: Query::default(),
            cursor: None,
            first: Transport::WebSocket,
            buffer: 1024,
        }
    }
}

/// Settings of a subscription.
pub struct ClientBuilder {
    urls: Vec<String>,
    query: Query,
    cursor: Option<Cursor>,
    first: Transport,
    buffer: usize,
}

impl ClientBuilder {
    /// Only these kinds (dotted or variant names).
    pub fn events<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.query.events = Some(
            names
                .into_iter()
                .map(Into::into)
                .collect::<Vec<_>>()
                .join(","),
        );
        self
    }

    /// Only this priority (`high`, `medium`, `low`).
    pub fn priority(mut self, priority: impl Into<String>) -> Self {
        self.query.priority = Some(priority.into());
        self
    }

    /// Start after this cursor (e.g. a checkpoint an indexer saved).
    pub fn cursor(mut self, cursor: Cursor) -> Self {
        self.cursor = Some(cursor);
        self
    }

    /// Send the current value of each snapshot kind first (without a cursor only).
    pub fn snapshot(mut self, snapshot: bool) -> Self {
        self.query.snapshot = snapshot;
        self
    }

    /// Start with this transport instead of WebSocket (lower ones remain as fallbacks).
    pub fn transport(mut self, first: Transport) -> Self {
        self.first = first;
        self
    }

    /// Items held for a consumer that is not polling (backpressure beyond it).
    pub fn buffer(mut self, items: usize) -> Self {
        self.buffer = items.max(1);
        self
    }

    /// Starts the connection loop; the stream ends only when dropped.
    pub fn subscribe(self) -> Items {
        let (tx, rx) = mpsc::channel(self.buffer);
        tokio::spawn(run(self, tx));
        Items(rx)
    }
}

/// The items of a subscription. Bounded: a consumer that does not poll holds the connection back
/// (it never grows memory); dropping it ends the connection loop.
pub struct Items(mpsc::Receiver<Item>);

impl Stream for Items {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        self.0.poll_recv(cx)
    }
}

/// Failures in a row after which a transport is given up for the next one.
const FAILURES_TO_FALL_BACK: u32 = 2;
/// Time on a lower transport before probing the better one again.
const PROBE_UP_AFTER: Duration = Duration::from_secs(300);

async fn run(builder: ClientBuilder, out: mpsc::Sender<Item>) {
    let ClientBuilder {
        urls,
        query,
        mut cursor,
        first,
        ..
    } = builder;
    if urls.is_empty() {
        return;
    }
    let mut transport = first;
    let mut fell_back_at: Option<Instant> = None;
    let mut failures = 0u32;
    let mut backoff = Backoff::default();
    let mut url_index = 0usize;
    loop {
        if let Some(at) = fell_back_at {
            if transport != first && at.elapsed() >= PROBE_UP_AFTER {
                transport = first;
                fell_back_at = None;
                failures = 0;
            }
        }
        let url = urls[url_index % urls.len()].clone();
        let started = Instant::now();
        let ended = {
            let connected_out = out.clone();
            let connected = State::Connected {
                transport,
                url: url.clone(),
            };
            let mut shared = Shared {
                cursor: &mut cursor,
                out: &out,
            };
            session::run(transport, &url, &query, &mut shared, move || {
                // A status notice only: dropped when the consumer is that far behind.
                let _ = connected_out.try_send(Item::State(connected));
            })
            .await
        };
        let reason = match ended {
            Ended::Stopped => return,
            Ended::Lost(reason) => {
                failures = 0;
                backoff.ended(started);
                reason
            }
            Ended::Failed(reason) => {
                failures += 1;
                url_index += 1;
                if failures >= FAILURES_TO_FALL_BACK * urls.len() as u32 {
                    if let Some(lower) = transport.next() {
                        let fell = State::FellBack {
                            from: transport,
                            to: lower,
                        };
                        if out.send(Item::State(fell)).await.is_err() {
                            return;
                        }
                        transport = lower;
                        fell_back_at = Some(Instant::now());
                        failures = 0;
                        continue;
                    }
                }
                reason
            }
        };
        let after = backoff.next_delay();
        if out
            .send(Item::State(State::Reconnecting { after, reason }))
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(after).await;
    }
}
