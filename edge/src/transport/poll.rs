//! Polling: `GET /v1/events?after=<cursor>&events=&priority=&limit=&wait=`.
//!
//! For clients that can hold neither a WebSocket nor an SSE stream (strict proxies, serverless
//! functions). Stateless: the page's `next` cursor works on any edge. `next` advances past events
//! the filter skipped, even when `events` is empty, so a sparse filter never holds a cursor older
//! than the stream keeps. With `wait`, an empty page is held until an event arrives or `wait`
//! passes (long polling).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use adic_protocol::poll::{Page, PageEvent};
use adic_protocol::ws::Gap;
use adic_protocol::Cursor;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde_json::value::RawValue;

use crate::admission::{self, Refusal};
use crate::auth::{AuthError, Grant};
use crate::client_addr::PeerAddr;
use crate::connections::Transport;
use crate::error::ApiError;
use crate::resume::{self, Notice, ResumeError};
use crate::state::Edge;

/// Most events in one page.
pub const MAX_LIMIT: usize = 1000;
/// Events in a page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// Longest `wait`.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

pub async fn handler(
    State(edge): State<Arc<Edge>>,
    Query(query): Query<HashMap<String, String>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
) -> Response {
    edge.metrics.poll_requests.inc();
    // Held until the page is answered: a long poll counts against the connection cap.
    let _slot = match admission::admit(&edge, Transport::Polling, peer.map(|p| p.0), &headers) {
        Ok(slot) => slot,
        Err(refusal) => return refusal.error(Transport::Polling).into_response(),
    };
    let grant =
        match admission::authenticate_request(&edge, Transport::Polling, &headers, &query).await {
            Ok(grant) => grant,
            Err(e) => return e.response(),
        };
    match page(&edge, &query, grant.as_ref()).await {
        Ok(page) => Json(page).into_response(),
        Err(Refused::Auth(error)) => error.response(),
        Err(Refused::Api(error)) => {
            if error.is_client_error() {
                edge.metrics
                    .client_errors
                    .with_label_values(&["polling"])
                    .inc();
            }
            error.into_response()
        }
    }
}

struct Params {
    after: Option<Cursor>,
    limit: usize,
    wait: Duration,
}

/// Reads the polling parameters (`after`, `limit`, `wait`) as a page does; the error says
/// which is wrong. Public for the fuzz targets.
#[doc(hidden)]
pub fn check_params(query: &HashMap<String, String>) -> Result<(), String> {
    params(query).map(|_| ())
}

fn params(query: &HashMap<String, String>) -> Result<Params, String> {
    let after = super::cursor_param("after", query.get("after").map(String::as_str))?;
    let limit = match query.get("limit").map(|s| s.trim()) {
        None | Some("") => DEFAULT_LIMIT,
        Some(v) => v
            .parse()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                format!("limit must be a whole number from 1 to {MAX_LIMIT}, not {v:?}")
            })?,
    };
    let wait = match query.get("wait").map(|s| s.trim()) {
        None | Some("") => Duration::ZERO,
        Some(v) => v
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .or_else(|| humantime::parse_duration(v).ok())
            .filter(|d| *d <= MAX_WAIT)
            .ok_or_else(|| {
                format!(
                    "wait must be seconds (e.g. 10 or 2.5s) up to {}, not {v:?}",
                    MAX_WAIT.as_secs()
                )
            })?,
    };
    Ok(Params { after, limit, wait })
}

/// A refusal of a page: an error in the one shape, or an authentication refusal (its own
/// status and `WWW-Authenticate`).
enum Refused {
    Api(ApiError),
    Auth(AuthError),
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Refused {
        Refused::Api(e)
    }
}

async fn page(
    edge: &Edge,
    query: &HashMap<String, String>,
    grant: Option<&Grant>,
) -> Result<Page, Refused> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m);
    let mut subscription = super::subscription_from_query(query).map_err(|e| bad(e.to_string()))?;
    admission::authorize(edge, Transport::Polling, grant, &mut subscription)
        .map_err(Refused::Auth)?;
    let Params { after, limit, wait } = params(query).map_err(bad)?;
    // A held poll answers by the time its token runs out.
    let wait = grant.map_or(wait, |g| wait.min(g.remaining()));
    let plan = resume::plan(edge, after).await.map_err(|e| match e {
        ResumeError::BeyondStream { .. } => bad(e.to_string()),
        ResumeError::NotReady | ResumeError::Unavailable(_) => {
            admission::rejected(edge, Transport::Polling, Refusal::NotReady);
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()).code("not_ready")
        }
    })?;
    let epoch = plan.epoch;
    let mut position = plan.after.unwrap_or_else(|| edge.feed.published_seq());
    let (mut gap, mut reset) = (None, None);
    for notice in plan.notices {
        match notice {
            Notice::Gap(g) => gap = Some(g),
            Notice::Reset(r) => reset = Some(r),
            Notice::Snapshot(_) => {}
        }
    }
    let mask = subscription.mask();
    let deadline = tokio::time::Instant::now() + wait;
    let mut published = edge.feed.watch();
    let mut events = Vec::new();
    loop {
        let until = *published.borrow_and_update();
        // The stream was recreated during this request: end the page here; the next request,
        // with this page's `next`, gets the Reset notice.
        let same_stream = || edge.feed.epoch() == epoch;
        'read: while events.len() < limit && position < until && same_stream() {
            let chunk = edge
                .replayer
                .read(&edge.ring, epoch, position + 1, limit)
                .await
                .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
            if let Some(first) = chunk.gap_to {
                gap = Some(Gap {
                    requested: Cursor::new(epoch, position),
                    first_available: Cursor::new(epoch, first),
                });
                position = first - 1;
                continue;
            }
            for event in chunk.events {
                if event.cursor.epoch != epoch {
                    break 'read;
                }
                if event.seq() <= position || !mask.contains(event.key) {
                    continue;
                }
                events.push(event);
                if events.len() == limit {
                    position = events.last().map_or(position, |e| e.seq());
                    break 'read;
                }
            }
            if chunk.covered <= position {
                break;
            }
            position = chunk.covered;
        }
        if !events.is_empty() || !same_stream() || tokio::time::Instant::now() >= deadline {
            break;
        }
        // A held poll answers when the drain starts, so its client asks another edge.
        edge.metrics.polls_waiting.inc();
        let _held = counted(&edge.metrics.polls_waiting);
        let woken = tokio::select! {
            changed = tokio::time::timeout_at(deadline, published.changed()) => changed.is_ok(),
            () = edge.drained() => false,
        };
        if !woken {
            break;
        }
    }
    let bytes: usize = events.iter().map(|e| e.json.len()).sum();
    edge.metrics.polling.delivered(events.len(), bytes);
    for event in &events {
        if let Some(trace) = &event.trace {
            trace.delivered("polling", event);
        }
    }
    let events = events
        .iter()
        .map(|e| PageEvent {
            id: e.cursor,
            event: RawValue::from_string(e.json.to_string()).expect("validated event JSON"),
        })
        .collect();
    Ok(Page {
        events,
        next: Cursor::new(epoch, position),
        gap,
        reset,
    })
}

/// Decrements a gauge when dropped (a held poll ends however its request ends).
fn counted(gauge: &prometheus::IntGauge) -> impl Drop + '_ {
    struct Held<'a>(&'a prometheus::IntGauge);
    impl Drop for Held<'_> {
        fn drop(&mut self) {
            self.0.dec();
        }
    }
    Held(gauge)
}
