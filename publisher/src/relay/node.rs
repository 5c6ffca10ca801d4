//! A connection to a node's event stream, over either of its transports: what the relay reads
//! from it, and why a connection ended.

use std::time::Duration;

use super::{node_sse, node_ws};

/// How to talk to the node.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    /// `ws://…/v1/ws/events` or `http://…/v1/sse/events`.
    pub url: String,
    /// Bound on connecting (TCP, upgrade or response head).
    pub connect_timeout: Duration,
    /// After this long without a frame the relay pings (WebSocket); after twice this long it
    /// reconnects (both transports; the node's SSE heartbeat comes every 15 s).
    pub ping_interval: Duration,
    /// Largest event frame relayed; a larger one is counted and skipped.
    pub max_frame_bytes: usize,
}

/// Which transport a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    WebSocket,
    Sse,
}

impl Transport {
    /// `ws://` is the WebSocket, `http://` the SSE stream. (No TLS: a relay runs next to its
    /// node, and the node serves plain HTTP.)
    pub fn of(url: &str) -> Option<Transport> {
        let scheme = url.split_once("://")?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "ws" => Some(Transport::WebSocket),
            "http" => Some(Transport::Sse),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::Sse => "sse",
        }
    }
}

/// One thing read from the node.
#[derive(Debug)]
pub enum Item {
    /// An event (the `event` of a WebSocket `Event` frame, an SSE `data:`), with the
    /// SSE `event:` name when there was one.
    Event {
        event: serde_json::Value,
        name: Option<String>,
    },
    /// A frame that is not an event and is skipped, with why (a metric label) and what it was.
    Bad { reason: BadFrame, detail: String },
    /// A frame that needs nothing (a heartbeat, a Pong, a subscription answer).
    Alive,
}

/// Kinds of bad input, the label of `adic_relay_bad_frames_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BadFrame {
    NotJson,
    UnknownType,
    BadEvent,
    Oversize,
    Binary,
    NodeError,
    Silent,
}

impl BadFrame {
    pub const ALL: [BadFrame; 7] = [
        BadFrame::NotJson,
        BadFrame::UnknownType,
        BadFrame::BadEvent,
        BadFrame::Oversize,
        BadFrame::Binary,
        BadFrame::NodeError,
        BadFrame::Silent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BadFrame::NotJson => "not_json",
            BadFrame::UnknownType => "unknown_type",
            BadFrame::BadEvent => "bad_event",
            BadFrame::Oversize => "oversize",
            BadFrame::Binary => "binary",
            BadFrame::NodeError => "node_error",
            BadFrame::Silent => "silent",
        }
    }
}

/// Why a connection could not be made or ended.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("connecting timed out after {0:?}")]
    ConnectTimeout(Duration),
    #[error("connecting: {0}")]
    Connect(String),
    #[error("the node answered {0}")]
    Status(String),
    #[error("silent for {0:?} (no event, heartbeat or pong)")]
    Silent(Duration),
    #[error("the node closed the stream")]
    Closed,
    #[error("reading: {0}")]
    Read(String),
}

/// An open stream of items from the node.
pub enum Connection {
    // Boxed: one per relay, and the WebSocket state is large.
    Ws(Box<node_ws::WsConnection>),
    Sse(node_sse::SseConnection),
}

impl Connection {
    /// Connects with the transport `settings.url` names, within the connect timeout.
    pub async fn open(settings: &NodeSettings) -> Result<Connection, NodeError> {
        let transport = Transport::of(&settings.url)
            .ok_or_else(|| NodeError::Connect(format!("unsupported URL {:?}", settings.url)))?;
        let opening = async {
            match transport {
                Transport::WebSocket => node_ws::WsConnection::open(settings)
                    .await
                    .map(|c| Connection::Ws(Box::new(c))),
                Transport::Sse => node_sse::SseConnection::open(settings)
                    .await
                    .map(Connection::Sse),
            }
        };
        tokio::time::timeout(settings.connect_timeout, opening)
            .await
            .map_err(|_| NodeError::ConnectTimeout(settings.connect_timeout))?
    }

    /// The next item; an error ends the connection. Never waits longer than twice the ping
    /// interval without returning.
    pub async fn next(&mut self) -> Result<Item, NodeError> {
        match self {
            Connection::Ws(c) => c.next().await,
            Connection::Sse(c) => c.next().await,
        }
    }
}

/// The URL with its query replaced by `?…` (a query may carry a token): for logs.
pub fn redacted(url: &str) -> String {
    match url.split_once('?') {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_by_scheme() {
        assert_eq!(
            Transport::of("ws://n:9121/v1/ws/events"),
            Some(Transport::WebSocket)
        );
        assert_eq!(
            Transport::of("HTTP://n/v1/sse/events"),
            Some(Transport::Sse)
        );
        assert_eq!(Transport::of("wss://n/v1/ws/events"), None);
        assert_eq!(Transport::of("nats://n:4222"), None);
        assert_eq!(Transport::of("n:9121"), None);
        assert_eq!(redacted("ws://n/x?token=s"), "ws://n/x?…");
    }
}
