//! WebSocket transport: `GET /v1/ws/events`.
//!
//! Small per-connection buffers keep idle connections cheap (tungstenite's defaults cost
//! ~134 KiB each). Writes are batched: every queued frame is fed, then one flush.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use adic_protocol::ws::{close, snapshot_frame, ClientMessage, ClientMessageError, ServerMessage};
use adic_protocol::Subscription;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::SinkExt;

use crate::limits::{ConnectionGuard, Transport};
use crate::queue::CloseReason;
use crate::resume::{self, Notice, Plan, ResumeError};
use crate::session::{Output, Session};
use crate::state::Edge;

const READ_BUFFER: usize = 512;
const WRITE_BUFFER: usize = 8 * 1024;

/// Upgrades the request, or answers 503 when the edge is draining or full.
pub async fn handler(
    State(edge): State<Arc<Edge>>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if edge.settings.no_websocket {
        return (
            StatusCode::NOT_FOUND,
            "WebSocket is disabled on this edge; use /v1/sse/events",
        )
            .into_response();
    }
    let rejected = |reason: &str| {
        edge.metrics
            .connections_rejected
            .with_label_values(&["websocket", reason])
            .inc();
    };
    if edge.is_draining() {
        rejected("draining");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "edge is draining; connect to another edge",
        )
            .into_response();
    }
    let Some(guard) = edge.connections.try_acquire(Transport::WebSocket) else {
        rejected("capacity");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "edge is at its connection limit",
        )
            .into_response();
    };
    let max_message = edge.settings.max_client_message;
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(usize::MAX)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| async move {
            // A browser cannot read an HTTP error body from a failed upgrade, so a refused
            // request is explained over the socket, then closed.
            // Boxed: only needed until the session starts.
            match Box::pin(start(&edge, &query)).await {
                Ok((subscription, plan, snapshot, resumed)) => {
                    let session = Session::start(
                        Arc::clone(&edge),
                        Transport::WebSocket,
                        subscription,
                        plan,
                        snapshot,
                    );
                    serve(socket, session, guard, resumed).await;
                }
                Err((code, message)) => {
                    if code == close::POLICY {
                        edge.metrics
                            .client_errors
                            .with_label_values(&["websocket"])
                            .inc();
                    }
                    refuse(socket, code, &message).await;
                }
            }
        })
}

/// Reads the query: filter, `since`, `snapshot`; decides where the client starts.
async fn start(
    edge: &Edge,
    query: &HashMap<String, String>,
) -> Result<(Subscription, Plan, bool, bool), (u16, String)> {
    let policy = |e: String| (close::POLICY, e);
    let subscription = super::subscription_from_query(query).map_err(|e| policy(e.to_string()))?;
    let since =
        super::cursor_param("since", query.get("since").map(String::as_str)).map_err(policy)?;
    let snapshot = super::bool_param("snapshot", query.get("snapshot").map(String::as_str), false)
        .map_err(policy)?;
    let plan = resume::plan(edge, since).await.map_err(refusal)?;
    Ok((subscription, plan, snapshot, since.is_some()))
}

/// How a resume that cannot be served is refused.
fn refusal(e: ResumeError) -> (u16, String) {
    let code = match e {
        ResumeError::BeyondStream { .. } => close::POLICY,
        // 1013: try again later (another edge may serve it now).
        ResumeError::NotReady | ResumeError::Unavailable(_) => 1013,
    };
    (code, e.to_string())
}

async fn refuse(mut socket: WebSocket, code: u16, message: &str) {
    let _ = socket.send(text(&ServerMessage::error(message))).await;
    let _ = socket
        .send(close_frame(code, &close::reason_with_resume(message, None)))
        .await;
}

fn text(message: &ServerMessage) -> Message {
    Message::Text(message.to_json().into())
}

fn close_frame(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// The connection's loop: client messages in, session output out.
async fn serve(
    mut socket: WebSocket,
    mut session: Session,
    _guard: ConnectionGuard,
    resumed: bool,
) {
    let edge = Arc::clone(session.edge());
    // `since` is accepted on the first Subscribe only, and only when the query had none.
    let mut since_allowed = !resumed;
    let write_timeout = edge.settings.write_timeout;
    let ping_every = edge.settings.ws_ping;
    // Equal at the start: a ping is "unanswered" only once one was sent after the last frame heard.
    let mut last_heard = Instant::now();
    let mut last_ping = last_heard;
    loop {
        tokio::select! {
            inbound = socket.recv() => {
                let Some(Ok(message)) = inbound else {
                    if let Some(Err(e)) = inbound {
                        tracing::debug!(error = %e, "websocket read failed");
                        if is_capacity(&e) {
                            let reason = ClientMessageError::TooLarge(edge.settings.max_client_message).to_string();
                            let _ = socket.send(close_frame(1009, &reason)).await;
                        }
                    }
                    break;
                };
                last_heard = Instant::now();
                let reply = match message {
                    Message::Text(t) => Some(match ClientMessage::parse(t.as_str()) {
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
                                    Box::pin(refuse(socket, code, &message)).await;
                                    return;
                                }
                            }
                        }
                        Ok(m) => {
                            since_allowed = false;
                            session.handle(m)
                        }
                        Err(e) => ServerMessage::error(e.to_string()),
                    }),
                    Message::Binary(_) => Some(ServerMessage::error(ClientMessageError::Binary.to_string())),
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => None,
                };
                if let Some(reply) = reply {
                    if matches!(reply, ServerMessage::Error { .. }) {
                        edge.metrics.client_errors.with_label_values(&["websocket"]).inc();
                    }
                    if socket.send(text(&reply)).await.is_err() {
                        break;
                    }
                    session.wrote(Instant::now());
                }
            }
            output = session.next() => match output {
                Output::Events => {
                    let written = tokio::time::timeout(write_timeout, async {
                        for event in session.events() {
                            socket.feed(Message::Text(event.ws.clone())).await?;
                        }
                        socket.flush().await
                    })
                    .await;
                    if !matches!(written, Ok(Ok(()))) {
                        break;
                    }
                    session.delivered();
                }
                Output::Notice(notice) => {
                    let message = match notice {
                        Notice::Snapshot(event) => Message::Text(snapshot_frame(&event.json).into()),
                        Notice::Gap(gap) => text(&ServerMessage::Gap(gap)),
                        Notice::Reset(reset) => text(&ServerMessage::Reset(reset)),
                    };
                    if !matches!(tokio::time::timeout(write_timeout, socket.send(message)).await, Ok(Ok(()))) {
                        break;
                    }
                    session.wrote(Instant::now());
                }
                Output::Progress(id) => {
                    let message = text(&ServerMessage::Progress { id });
                    if !matches!(tokio::time::timeout(write_timeout, socket.send(message)).await, Ok(Ok(()))) {
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
                    if now.saturating_duration_since(last_ping) >= ping_every {
                        last_ping = now;
                        if socket.send(Message::Ping(bytes::Bytes::new())).await.is_err() {
                            break;
                        }
                    }
                }
                Output::Close(reason) => {
                    if reason == CloseReason::SlowConsumer {
                        edge.metrics.slow_consumer_closes.with_label_values(&["websocket"]).inc();
                    }
                    let (code, text) = close_code(reason);
                    let reason = close::reason_with_resume(text, session.cursor().as_ref());
                    let _ = tokio::time::timeout(write_timeout, socket.send(close_frame(code, &reason))).await;
                    break;
                }
            }
        }
    }
}

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
        .map_err(refusal)?;
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
    }
}

fn is_capacity(e: &axum::Error) -> bool {
    let text = e.to_string();
    text.contains("Space limit exceeded") || text.contains("too long") || text.contains("Capacity")
}
