//! Server-sent events: `GET /v1/sse/events`.
//!
//! The body streams the pre-encoded SSE frames of each event (not axum's per-client `Sse`
//! encoder, which would serialize every event once per client), and keep-alives come from the
//! shared clock (not a timer per connection).
//!
//! Resume: the `Last-Event-ID` header (which browsers send by themselves on reconnect) wins over
//! the `last_event_id` query parameter (for clients that cannot set headers).
//!
//! Browsers treat any non-200 SSE response as final and never reconnect, so a draining or full
//! edge answers 200 with a `retry:` hint and closes at once; only a request that will not get
//! better (a bad filter or cursor) gets a 400.

pub mod socket;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use adic_protocol::sse;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::{Bytes, BytesMut};
use rand::Rng;

use crate::admission::{self, Refusal};
use crate::client_addr::PeerAddr;
use crate::connections::{ConnectionGuard, Transport};
use crate::error::ApiError;
use crate::queue::CloseReason;
use crate::resume::{self, Notice, ResumeError};
use crate::session::{Output, Session};
use crate::state::Edge;

/// The SSE endpoint's path (the router's route and the socket's decision both use it).
pub const PATH: &str = "/v1/sse/events";

/// Base of the reconnect hint sent before the edge closes a stream; jitter spreads reconnects.
const RETRY_BASE_MS: u64 = 1000;

pub async fn handler(
    State(edge): State<Arc<Edge>>,
    Query(query): Query<HashMap<String, String>>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
) -> Response {
    let guard = match admission::admit(&edge, Transport::Sse, peer.map(|p| p.0), &headers) {
        Ok(guard) => guard,
        Err(Refusal::Disabled) => return Refusal::Disabled.error(Transport::Sse).into_response(),
        // A browser retries only a 200: tell it when, and close.
        Err(_) => return stream_response(Body::from(retry_frame())),
    };
    let bad = |message: String| {
        edge.metrics.client_errors.with_label_values(&["sse"]).inc();
        ApiError::bad_request(message).into_response()
    };
    let grant = match admission::authenticate_request(&edge, Transport::Sse, &headers, &query).await
    {
        Ok(grant) => grant,
        Err(e) => return e.response(),
    };
    let mut subscription = match super::subscription_from_query(&query) {
        Ok(s) => s,
        Err(e) => return bad(e.to_string()),
    };
    if let Err(e) = admission::authorize(&edge, Transport::Sse, grant.as_ref(), &mut subscription) {
        return e.response();
    }
    let param = |name: &str| query.get(name).map(String::as_str);
    let heartbeat = match super::bool_param("heartbeat", param("heartbeat"), true) {
        Ok(h) => h,
        Err(e) => return bad(e),
    };
    let snapshot = match super::bool_param("snapshot", param("snapshot"), false) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    let cursor = match headers.get("last-event-id").map(|v| v.to_str()) {
        Some(Ok(value)) => super::cursor_param("Last-Event-ID", Some(value)),
        Some(Err(_)) => {
            Err("Last-Event-ID must be a cursor (visible ASCII, e.g. 0000a1b2-42)".into())
        }
        None => super::cursor_param("last_event_id", param("last_event_id")),
    };
    let cursor = match cursor {
        Ok(c) => c,
        Err(e) => return bad(e),
    };
    let plan = match resume::plan(&edge, cursor).await {
        Ok(plan) => plan,
        Err(e @ ResumeError::BeyondStream { .. }) => return bad(e.to_string()),
        Err(_) => {
            admission::rejected(&edge, Transport::Sse, Refusal::NotReady);
            return stream_response(Body::from(retry_frame()));
        }
    };
    let session = Session::start(
        Arc::clone(&edge),
        Transport::Sse,
        subscription,
        plan,
        snapshot && cursor.is_none(),
    )
    .until(grant.map(|g| g.ends_at));
    stream_response(Body::from_stream(body(session, guard, heartbeat)))
}

fn stream_response(body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

fn retry_frame() -> Bytes {
    let jitter = rand::rng().random_range(0..RETRY_BASE_MS);
    Bytes::from(sse::retry_frame(RETRY_BASE_MS + jitter))
}

struct Stream {
    session: Session,
    _guard: ConnectionGuard,
    heartbeat: bool,
    done: bool,
}

fn body(
    session: Session,
    guard: ConnectionGuard,
    heartbeat: bool,
) -> impl futures::Stream<Item = Result<Bytes, Infallible>> + Send {
    let state = Stream {
        session,
        _guard: guard,
        heartbeat,
        done: false,
    };
    futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        let chunk = s.next_chunk().await;
        Some((Ok(chunk), s))
    })
}

impl Stream {
    async fn next_chunk(&mut self) -> Bytes {
        let edge = Arc::clone(self.session.edge());
        loop {
            let now = std::time::Instant::now();
            match self.session.next().await {
                Output::Events => {
                    let chunk = match self.session.events() {
                        [one] => one.sse.clone(),
                        many => {
                            let mut buf =
                                BytesMut::with_capacity(many.iter().map(|e| e.sse.len()).sum());
                            for event in many {
                                buf.extend_from_slice(&event.sse);
                            }
                            buf.freeze()
                        }
                    };
                    self.session.delivered();
                    return chunk;
                }
                Output::Notice(notice) => {
                    self.session.wrote(now);
                    return Bytes::from(match notice {
                        Notice::Snapshot(event) => sse::event_frame(&event.name, None, &event.json),
                        Notice::Gap(gap) => sse::gap_frame(&gap),
                        Notice::Reset(reset) => sse::reset_frame(&reset),
                    });
                }
                Output::Progress(cursor) => {
                    self.session.wrote(now);
                    return Bytes::from(sse::progress_frame(&cursor));
                }
                Output::Tick(now) => {
                    if self.heartbeat && self.session.idle_since(now) >= edge.settings.sse_heartbeat
                    {
                        self.session.wrote(now);
                        return Bytes::from_static(sse::HEARTBEAT.as_bytes());
                    }
                }
                Output::Close(CloseReason::TokenExpired) => {
                    // The browser reconnects by itself with the old URL and gets a 401; the
                    // page opens a new EventSource with a fresh token and this cursor.
                    self.done = true;
                    return Bytes::from(sse::expired_frame(self.session.cursor().as_ref()));
                }
                Output::Close(reason) => {
                    if reason == CloseReason::SlowConsumer {
                        edge.metrics
                            .slow_consumer_closes
                            .with_label_values(&["sse"])
                            .inc();
                    }
                    self.done = true;
                    return retry_frame();
                }
            }
        }
    }
}
