//! WebSocket transport: `GET /v1/ws/events`.
//!
//! Small per-connection buffers keep idle connections cheap (tungstenite's defaults cost
//! ~134 KiB each). Writes are batched: every queued frame is fed, then one flush.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use adic_protocol::ws::{close, ClientMessage, ClientMessageError, ServerMessage};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::SinkExt;

use crate::limits::{ConnectionGuard, Transport};
use crate::queue::CloseReason;
use crate::session::{Output, Session};
use crate::state::Edge;

const READ_BUFFER: usize = 2 * 1024;
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
    let subscription = super::subscription_from_query(&query);
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(usize::MAX)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| async move {
            match subscription {
                Ok(subscription) => serve(socket, Session::start(edge, subscription), guard).await,
                Err(e) => {
                    // A browser cannot read an HTTP error body from a failed upgrade, so the
                    // reason goes over the socket, then a policy close.
                    edge.metrics
                        .client_errors
                        .with_label_values(&["websocket"])
                        .inc();
                    refuse(socket, &e.to_string()).await;
                }
            }
        })
}

async fn refuse(mut socket: WebSocket, message: &str) {
    let _ = socket.send(text(&ServerMessage::error(message))).await;
    let _ = socket.send(close_frame(close::POLICY, message)).await;
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
async fn serve(mut socket: WebSocket, mut session: Session, _guard: ConnectionGuard) {
    let edge = Arc::clone(session.edge());
    let write_timeout = edge.settings.write_timeout;
    let ping_every = edge.settings.ws_ping;
    let mut last_heard = Instant::now();
    let mut last_ping = Instant::now();
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
                        Ok(m) => session.handle(m),
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
                    let n = session.delivered();
                    edge.metrics.websocket_messages_sent.inc_by(n as u64);
                }
                Output::Tick(now) => {
                    if now.saturating_duration_since(last_heard) > ping_every * 2 {
                        tracing::debug!("websocket peer silent for two ping intervals; closing");
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

fn close_code(reason: CloseReason) -> (u16, &'static str) {
    match reason {
        CloseReason::Draining => (close::DRAINING, "edge draining: reconnect to any edge"),
        CloseReason::SlowConsumer => (close::SLOW_CONSUMER, "slow consumer: queue overflowed"),
        CloseReason::StreamReset => (
            close::STREAM_RESET,
            "stream reset: reconnect without a cursor",
        ),
    }
}

fn is_capacity(e: &axum::Error) -> bool {
    let text = e.to_string();
    text.contains("Space limit exceeded") || text.contains("too long") || text.contains("Capacity")
}
