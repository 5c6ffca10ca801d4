//! WebSocket transport: `GET /v1/ws/events`.
//!
//! The edge speaks the WebSocket wire itself ([`frame`]): each event's frame is built
//! once by the feed, and a client's batch of frames goes to its socket with one write. A
//! connection holds a 512-byte read buffer and nothing else of its own between writes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use adic_protocol::ws::{close, snapshot_frame, ClientMessage, ClientMessageError, ServerMessage};
use adic_protocol::Subscription;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;

mod auth;
pub mod frame;
mod socket;

use self::frame::{FrameError, Inbound};
use self::socket::{MessageBudget, ReadEnd, Socket};
use crate::admission::{self, Refusal};
use crate::auth::Grant;
use crate::client_addr::PeerAddr;
use crate::connections::{ConnectionGuard, Transport};
use crate::error::ApiError;
use crate::queue::CloseReason;
use crate::resume::{self, Notice, Plan, ResumeError};
use crate::session::{Output, Session};
use crate::state::Edge;

/// Upgrades the request once [`admission`](crate::admission) lets it in; refusals before the
/// upgrade are HTTP errors in the one error shape, after it (a bad filter or cursor, an edge
/// not ready) `Error` messages and close codes, since a browser cannot read a refused upgrade.
pub async fn handler(
    State(edge): State<Arc<Edge>>,
    Query(query): Query<HashMap<String, String>>,
    mut request: Request,
) -> Response {
    let peer = request.extensions().get::<PeerAddr>().copied();
    let guard = match admission::admit(&edge, Transport::WebSocket, peer, request.headers()) {
        Ok(guard) => guard,
        Err(refusal) => return refusal.error(Transport::WebSocket).into_response(),
    };
    let key = match handshake(request.method(), request.headers()) {
        Ok(key) => key,
        Err((status, message)) => {
            edge.metrics
                .client_errors
                .with_label_values(&["websocket"])
                .inc();
            return refusal(status, message);
        }
    };
    if let Err(message) = auth::origin_allowed(&edge.settings.ws_origins, request.headers()) {
        admission::rejected(&edge, Transport::WebSocket, Refusal::Origin);
        return ApiError::new(StatusCode::FORBIDDEN, message)
            .code("origin_not_allowed")
            .into_response();
    }
    // The token of the upgrade, if any: checked once upgraded, so a browser can read why it
    // was refused (it cannot read a refused upgrade).
    let token = edge
        .auth
        .as_ref()
        .map(|auth| auth.token_from(request.headers(), &query));
    let Some(on_upgrade) = request
        .extensions_mut()
        .remove::<hyper::upgrade::OnUpgrade>()
    else {
        return ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "this connection cannot be upgraded to a WebSocket (HTTP/1.1 is required)",
        )
        .into_response();
    };
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                tracing::debug!(error = %e, "websocket upgrade failed");
                return;
            }
        };
        let mut socket = Socket::new(TokioIo::new(upgraded), &edge);
        // A browser cannot read an HTTP error body from a failed upgrade, so a refused
        // request is explained over the socket, then closed.
        let grant = match token {
            None => None,
            Some(token) => match Box::pin(auth::sign_in(&mut socket, &edge, token)).await {
                Ok(Some(grant)) => Some(grant),
                Ok(None) => return,
                Err(e) => {
                    socket.refuse(e.close_code(), &e.to_string()).await;
                    return;
                }
            },
        };
        // Boxed: only needed until the session starts.
        match Box::pin(start(&edge, &query, grant.as_ref())).await {
            Ok((subscription, plan, snapshot, resumed)) => {
                let session = Session::start(
                    Arc::clone(&edge),
                    Transport::WebSocket,
                    subscription,
                    plan,
                    snapshot,
                )
                .until(grant.as_ref().map(|g| g.ends_at));
                serve(socket, session, guard, resumed, grant.and_then(|g| g.sub)).await;
            }
            Err((code, message)) => {
                if code == close::POLICY {
                    edge.metrics
                        .client_errors
                        .with_label_values(&["websocket"])
                        .inc();
                }
                socket.refuse(code, &message).await;
            }
        }
    });
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&frame::accept_key(key.as_bytes()))
            .expect("base64 is a header value"),
    );
    response
}

/// A refused upgrade: the error, and for a version mismatch the version this edge speaks.
fn refusal(status: StatusCode, message: &'static str) -> Response {
    let mut response = ApiError::new(status, message).into_response();
    if status == StatusCode::UPGRADE_REQUIRED {
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
    }
    response
}

/// Checks the upgrade request (RFC 6455 section 4.2.1); returns the client's key, or the
/// refusal that says what is wrong.
fn handshake(method: &Method, headers: &HeaderMap) -> Result<String, (StatusCode, &'static str)> {
    let refuse = |status, message| Err((status, message));
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if method != Method::GET {
        return refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            "a WebSocket upgrade is a GET request",
        );
    }
    if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "expected a WebSocket upgrade (Connection: Upgrade, Upgrade: websocket); \
             plain HTTP clients can use /v1/sse/events or /v1/events",
        );
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return refuse(
            StatusCode::UPGRADE_REQUIRED,
            "unsupported Sec-WebSocket-Version: this edge speaks version 13",
        );
    }
    match headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
    {
        Some(key) if !key.trim().is_empty() => Ok(key.trim().to_owned()),
        _ => refuse(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key"),
    }
}

/// Reads the query: filter, `since`, `snapshot`; decides where the client starts.
async fn start(
    edge: &Edge,
    query: &HashMap<String, String>,
    grant: Option<&Grant>,
) -> Result<(Subscription, Plan, bool, bool), (u16, String)> {
    let policy = |e: String| (close::POLICY, e);
    let mut subscription =
        super::subscription_from_query(query).map_err(|e| policy(e.to_string()))?;
    admission::authorize(edge, Transport::WebSocket, grant, &mut subscription)
        .map_err(|e| (e.close_code(), e.to_string()))?;
    let since =
        super::cursor_param("since", query.get("since").map(String::as_str)).map_err(policy)?;
    let snapshot = super::bool_param("snapshot", query.get("snapshot").map(String::as_str), false)
        .map_err(policy)?;
    let plan = resume::plan(edge, since)
        .await
        .map_err(|e| resume_refusal(edge, e))?;
    Ok((subscription, plan, snapshot, since.is_some()))
}

/// How a resume that cannot be served is refused.
fn resume_refusal(edge: &Edge, e: ResumeError) -> (u16, String) {
    let code = match e {
        ResumeError::BeyondStream { .. } => close::POLICY,
        // 1013: try again later (another edge may serve it now).
        ResumeError::NotReady | ResumeError::Unavailable(_) => {
            admission::rejected(edge, Transport::WebSocket, Refusal::NotReady);
            1013
        }
    };
    (code, e.to_string())
}

/// The connection's loop: client messages in, session output out. `sub`: the subject of the
/// client's token, which a refreshed token must name too.
async fn serve(
    mut socket: Socket,
    mut session: Session,
    _guard: ConnectionGuard,
    resumed: bool,
    sub: Option<String>,
) {
    let edge = Arc::clone(session.edge());
    // `since` is accepted on the first Subscribe only, and only when the query had none.
    let mut since_allowed = !resumed;
    let ping_every = edge.settings.ws_ping;
    // Equal at the start: a ping is "unanswered" only once one was sent after the last frame heard.
    let mut last_heard = Instant::now();
    let mut last_ping = last_heard;
    let mut budget = MessageBudget::new(edge.settings.client_messages_per_second);
    loop {
        tokio::select! {
            inbound = socket.recv() => {
                let message = match inbound {
                    Ok(message) => message,
                    Err(ReadEnd::Gone) => break,
                    Err(ReadEnd::Refused(e)) => {
                        tracing::debug!(error = %e, "websocket client broke the protocol");
                        edge.metrics.client_errors.with_label_values(&["websocket"]).inc();
                        let reason = match &e {
                            FrameError::TooLarge(_) => {
                                ClientMessageError::TooLarge(edge.settings.max_client_message).to_string()
                            }
                            other => other.to_string(),
                        };
                        socket.close(e.close_code(), &reason).await;
                        break;
                    }
                };
                last_heard = Instant::now();
                if matches!(message, Inbound::Text(_) | Inbound::Binary | Inbound::Ping(_)) && !budget.take(last_heard) {
                    edge.metrics.limits_hit.with_label_values(&["message_rate"]).inc();
                    let text = format!(
                        "too many messages: at most {} per second",
                        edge.settings.client_messages_per_second
                    );
                    socket.close(close::TOO_MANY_MESSAGES, &close::reason_with_resume(&text, session.cursor().as_ref())).await;
                    break;
                }
                let reply = match message {
                    Inbound::Text(t) => Some(match ClientMessage::parse(&t) {
                        Ok(ClientMessage::Subscribe { events, since: Some(since) })
                            if since_allowed && !session.has_written() =>
                        {
                            since_allowed = false;
                            match Box::pin(subscribe_since(&mut session, events, &since)).await {
                                Ok(reply) => reply,
                                Err((code, message)) => {
                                    if code == close::POLICY {
                                        edge.metrics.client_errors.with_label_values(&["websocket"]).inc();
                                    }
                                    socket.refuse(code, &message).await;
                                    return;
                                }
                            }
                        }
                        Ok(ClientMessage::Auth { token }) if edge.auth.is_some() => {
                            Box::pin(auth::refresh(&mut session, sub.as_deref(), &token.0)).await
                        }
                        Ok(m) => {
                            since_allowed = false;
                            session.handle(m)
                        }
                        Err(e) => ServerMessage::error(e.to_string()),
                    }),
                    Inbound::Binary => Some(ServerMessage::error(ClientMessageError::Binary.to_string())),
                    Inbound::Close(code) => {
                        // Echo the client's code, as the closing handshake asks.
                        let code = code.filter(|c| (1000..5000).contains(c) && !matches!(c, 1005 | 1006 | 1015)).unwrap_or(1000);
                        socket.close(code, "").await;
                        break;
                    }
                    Inbound::Ping(payload) => {
                        if !socket.send(&[&frame::server_frame(frame::OP_PONG, &payload)]).await {
                            break;
                        }
                        None
                    }
                    Inbound::Pong => None,
                };
                if let Some(reply) = reply {
                    if matches!(reply, ServerMessage::Error { .. }) {
                        edge.metrics.client_errors.with_label_values(&["websocket"]).inc();
                    }
                    if !socket.send_message(&reply).await {
                        break;
                    }
                    session.wrote(Instant::now());
                }
            }
            output = session.next() => match output {
                Output::Events => {
                    let frames: Vec<&[u8]> = session.events().iter().map(|e| &e.ws[..]).collect();
                    if !socket.send(&frames).await {
                        tracing::debug!(events = frames.len(), "websocket write failed or timed out; closing");
                        break;
                    }
                    session.delivered();
                }
                Output::Notice(notice) => {
                    let frame = match notice {
                        Notice::Snapshot(event) => frame::text_frame(&snapshot_frame(&event.json)),
                        Notice::Gap(gap) => frame::text_frame(&ServerMessage::Gap(gap).to_json()),
                        Notice::Reset(reset) => frame::text_frame(&ServerMessage::Reset(reset).to_json()),
                    };
                    if !socket.send(&[&frame]).await {
                        break;
                    }
                    session.wrote(Instant::now());
                }
                Output::Progress(id) => {
                    if !socket.send_message(&ServerMessage::Progress { id }).await {
                        break;
                    }
                    session.wrote(Instant::now());
                }
                Output::Tick(now) => {
                    // Dead only when a ping went unanswered for a whole interval: a peer that
                    // is busy receiving a long burst (no ticks, no pings) is not silent.
                    if last_ping > last_heard && now.saturating_duration_since(last_ping) > ping_every {
                        tracing::debug!("websocket peer did not answer a ping; closing");
                        break;
                    }
                    // A ping only after an interval without any write: a client that is sent
                    // data is checked by TCP itself (unacknowledged writes end the connection
                    // after the write timeout), and the data keeps intermediaries' idle timers
                    // from expiring.
                    if now.saturating_duration_since(last_ping) >= ping_every
                        && session.idle_since(now) >= ping_every
                    {
                        last_ping = now;
                        if !socket.send(&[&PING[..]]).await {
                            break;
                        }
                    }
                }
                Output::Close(reason) => {
                    tracing::debug!(?reason, "closing a websocket client");
                    if reason == CloseReason::SlowConsumer {
                        edge.metrics.slow_consumer_closes.with_label_values(&["websocket"]).inc();
                    }
                    let (code, text) = close_code(reason);
                    let reason = close::reason_with_resume(text, session.cursor().as_ref());
                    socket.close(code, &reason).await;
                    break;
                }
            }
        }
    }
}

/// An empty ping frame.
const PING: [u8; 2] = [0x80 | frame::OP_PING, 0];

/// A first Subscribe carrying `since`: applies the filter, then restarts the session there.
async fn subscribe_since(
    session: &mut Session,
    events: Vec<String>,
    since: &str,
) -> Result<ServerMessage, (u16, String)> {
    let policy = |e: String| (close::POLICY, e);
    let cursor = super::cursor_param("since", Some(since)).map_err(policy)?;
    let reply = session.handle(ClientMessage::Subscribe {
        events,
        since: None,
    });
    if matches!(reply, ServerMessage::Error { .. }) {
        return Ok(reply);
    }
    let plan = resume::plan(session.edge(), cursor)
        .await
        .map_err(|e| resume_refusal(session.edge(), e))?;
    session.restart(plan);
    Ok(reply)
}

fn close_code(reason: CloseReason) -> (u16, &'static str) {
    match reason {
        CloseReason::Draining => (close::DRAINING, "edge draining: reconnect to any edge"),
        CloseReason::SlowConsumer => (close::SLOW_CONSUMER, "slow consumer: queue overflowed"),
        CloseReason::StreamReset => (
            close::STREAM_RESET,
            "stream reset: reconnect with the cursor given",
        ),
        CloseReason::TokenExpired => (
            close::UNAUTHORIZED,
            "token expired: reconnect with a fresh token",
        ),
    }
}
