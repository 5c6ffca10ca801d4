//! The node's WebSocket, `GET /v1/ws/events` (shared/CONTRACT.md): the relay sends no
//! `Subscribe` (a connection without `events` receives every kind; the old node's
//! `Subscribe(["all"])` would leave it an empty set) and only `{"type":"Ping"}` when the node
//! has been silent for a ping interval.

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, protocol::WebSocketConfig, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::node::{BadFrame, Item, NodeError, NodeSettings};

/// Frames over `max_frame_bytes` are skipped; ones over this many times that end the
/// connection (tungstenite cannot skip a message it refuses to buffer).
const HARD_LIMIT_FACTOR: usize = 16;

pub struct WsConnection {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    settings: NodeSettings,
    /// A Ping went out and nothing came back yet.
    pinged: bool,
}

impl WsConnection {
    pub async fn open(settings: &NodeSettings) -> Result<WsConnection, NodeError> {
        let hard = settings.max_frame_bytes.saturating_mul(HARD_LIMIT_FACTOR);
        let config = WebSocketConfig::default()
            .max_message_size(Some(hard))
            .max_frame_size(Some(hard));
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(settings.url.as_str(), Some(config), true)
                .await
                .map_err(|e| match e {
                    tungstenite::Error::Http(response) => {
                        NodeError::Status(response.status().to_string())
                    }
                    other => NodeError::Connect(other.to_string()),
                })?;
        Ok(WsConnection {
            ws,
            settings: settings.clone(),
            pinged: false,
        })
    }

    pub async fn next(&mut self) -> Result<Item, NodeError> {
        let interval = self.settings.ping_interval;
        loop {
            let Ok(read) = tokio::time::timeout(interval, self.ws.next()).await else {
                if self.pinged {
                    return Err(NodeError::Silent(interval * 2));
                }
                self.pinged = true;
                let ping = Message::text(r#"{"type":"Ping"}"#);
                match tokio::time::timeout(interval, self.ws.send(ping)).await {
                    Ok(Ok(())) => continue,
                    Ok(Err(e)) => return Err(NodeError::Read(e.to_string())),
                    Err(_) => return Err(NodeError::Silent(interval * 2)),
                }
            };
            self.pinged = false;
            return match read {
                None => Err(NodeError::Closed),
                Some(Err(tungstenite::Error::Capacity(e))) => {
                    Err(NodeError::Read(format!("frame over the hard limit: {e}")))
                }
                Some(Err(e)) => Err(NodeError::Read(e.to_string())),
                Some(Ok(Message::Text(text))) => {
                    Ok(frame(text.as_str(), self.settings.max_frame_bytes))
                }
                Some(Ok(Message::Binary(bytes))) => Ok(Item::Bad {
                    reason: BadFrame::Binary,
                    detail: format!("a binary frame of {} bytes", bytes.len()),
                }),
                Some(Ok(Message::Close(_))) => Err(NodeError::Closed),
                // Pings are answered by tungstenite as it reads on.
                Some(Ok(_)) => Ok(Item::Alive),
            };
        }
    }
}

/// One text frame from the node.
pub fn frame(text: &str, max_frame_bytes: usize) -> Item {
    let bad = |reason, detail: String| Item::Bad { reason, detail };
    if text.len() > max_frame_bytes {
        return bad(
            BadFrame::Oversize,
            format!("a frame of {} bytes (limit {max_frame_bytes})", text.len()),
        );
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return bad(BadFrame::NotJson, format!("{e}: {}", sample(text))),
    };
    let Some(kind) = value.get("type").and_then(Value::as_str) else {
        return bad(
            BadFrame::UnknownType,
            format!("no \"type\": {}", sample(text)),
        );
    };
    match kind {
        "Event" => match value.get("event") {
            Some(event @ Value::Object(_)) => Item::Event {
                event: event.clone(),
                name: None,
            },
            _ => bad(
                BadFrame::BadEvent,
                format!("an Event frame without an event object: {}", sample(text)),
            ),
        },
        "Pong" | "Subscribed" | "Unsubscribed" => Item::Alive,
        "Error" => bad(
            BadFrame::NodeError,
            value
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("(no message)")
                .to_owned(),
        ),
        other => bad(
            BadFrame::UnknownType,
            format!("a frame of type {other:?}: {}", sample(text)),
        ),
    }
}

/// The start of a frame, for a log line.
pub fn sample(text: &str) -> String {
    const MAX: usize = 120;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(item: &Item) -> Option<BadFrame> {
        match item {
            Item::Bad { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    #[test]
    fn frames_are_unwrapped_or_classified() {
        let ev = frame(
            r#"{"type":"Event","event":{"type":"TipsUpdated","data":{"tips":[],"count":0,"timestamp":1}}}"#,
            1024,
        );
        match ev {
            Item::Event { event, name } => {
                assert_eq!(event["type"], "TipsUpdated");
                assert_eq!(name, None);
            }
            other => panic!("{other:?}"),
        }
        // A newer node's Event frame with an id is still an event.
        assert!(matches!(
            frame(
                r#"{"type":"Event","id":"x-1","event":{"type":"X","data":{}}}"#,
                1024
            ),
            Item::Event { .. }
        ));
        assert!(matches!(frame(r#"{"type":"Pong"}"#, 1024), Item::Alive));
        assert!(matches!(
            frame(r#"{"type":"Subscribed","events":[]}"#, 1024),
            Item::Alive
        ));
        assert_eq!(reason(&frame("nope", 1024)), Some(BadFrame::NotJson));
        assert_eq!(reason(&frame("[1]", 1024)), Some(BadFrame::UnknownType));
        assert_eq!(
            reason(&frame(r#"{"type":"Surprise"}"#, 1024)),
            Some(BadFrame::UnknownType)
        );
        assert_eq!(
            reason(&frame(r#"{"type":"Event","event":[1]}"#, 1024)),
            Some(BadFrame::BadEvent)
        );
        assert_eq!(
            reason(&frame(r#"{"type":"Error","message":"no"}"#, 1024)),
            Some(BadFrame::NodeError)
        );
        assert_eq!(
            reason(&frame(&"x".repeat(2000), 1024)),
            Some(BadFrame::Oversize)
        );
        assert_eq!(sample(&"é".repeat(100)).chars().count(), 61);
    }
}
