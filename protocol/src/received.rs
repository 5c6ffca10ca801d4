//! What a client receives, parsed: the other direction of [`ws::ServerMessage`](crate::ws),
//! the [`sse`](crate::sse) frames and the polling [`Page`](crate::poll::Page), in one type for
//! every transport, so that clients (the Rust client, the tests' clients, tools) read the wire
//! with the same code that defines it.
//!
//! ```
//! use adic_protocol::received::Received;
//!
//! let ws = Received::from_ws(r#"{"type":"Event","id":"0a1b2c3d-7","event":{"type":"TipsUpdated","data":{}}}"#);
//! assert!(matches!(ws, Ok(Received::Event { .. })));
//! let sse = Received::from_sse("event: tips.update\nid: 0a1b2c3d-7\ndata: {\"type\":\"TipsUpdated\",\"data\":{}}\n\n");
//! assert!(matches!(sse, Ok(Some(Received::Event { .. }))));
//! assert_eq!(Received::from_sse(": heartbeat\n\n"), Ok(None));
//! ```

use serde::Deserialize;
use serde_json::Value;

use crate::sse::{EXPIRED_EVENT, GAP_EVENT, RESET_EVENT};
use crate::ws::{Gap, Reset};
use crate::Cursor;

/// One thing an edge sent a client, on any transport.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type")]
pub enum Received {
    /// An event and its cursor.
    Event {
        id: Cursor,
        event: Value,
    },
    /// The current value of a snapshot kind, sent on connect; no cursor.
    Snapshot {
        event: Value,
    },
    /// The stream moved past events the filter skips: the new cursor.
    Progress {
        id: Cursor,
    },
    Gap(Gap),
    Reset(Reset),
    /// The reply to a token (WebSocket `Auth`): when it expires, in Unix seconds.
    Authenticated {
        #[serde(default)]
        sub: Option<String>,
        #[serde(default)]
        events: Vec<String>,
        expires: u64,
    },
    /// The token expired and the stream ends (SSE `expired`); continue from `resume`.
    Expired {
        #[serde(default)]
        resume: Option<Cursor>,
    },
    /// The edge refused something the client sent; the connection stays (WebSocket), or is
    /// about to close (SSE `error`).
    Error {
        message: String,
    },
    Subscribed {
        events: Vec<String>,
    },
    Unsubscribed {
        events: Vec<String>,
    },
    Pong,
    /// A message type this version does not know: newer edges may add some; skip it.
    #[serde(other)]
    Other,
}

/// Why a frame could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReceivedError(String);

impl Received {
    /// A WebSocket text message.
    pub fn from_ws(text: &str) -> Result<Received, ReceivedError> {
        serde_json::from_str(text).map_err(|e| ReceivedError(format!("a WebSocket message: {e}")))
    }

    /// One SSE frame (its lines, up to and including the blank line). `Ok(None)`: nothing to
    /// act on (a comment such as the heartbeat, or `retry:` alone).
    pub fn from_sse(frame: &str) -> Result<Option<Received>, ReceivedError> {
        let frame = SseFrame::parse(frame);
        let data = |what: &str| -> Result<Value, ReceivedError> {
            let text = frame.data.as_deref().unwrap_or_default();
            serde_json::from_str(text).map_err(|e| ReceivedError(format!("SSE {what} data: {e}")))
        };
        let id = match frame.id {
            None => None,
            Some(id) => Some(
                id.parse::<Cursor>()
                    .map_err(|e| ReceivedError(format!("SSE id: {e}")))?,
            ),
        };
        Ok(Some(match (frame.event, id, frame.data.is_some()) {
            (Some(GAP_EVENT), _, true) => Received::Gap(
                serde_json::from_value(data("gap")?)
                    .map_err(|e| ReceivedError(format!("SSE gap notice: {e}")))?,
            ),
            (Some(RESET_EVENT), _, true) => Received::Reset(
                serde_json::from_value(data("reset")?)
                    .map_err(|e| ReceivedError(format!("SSE reset notice: {e}")))?,
            ),
            (Some(EXPIRED_EVENT), _, true) => {
                let value = data("expired")?;
                let resume = match value.get("resume").and_then(Value::as_str) {
                    None => None,
                    Some(c) => Some(
                        c.parse()
                            .map_err(|e| ReceivedError(format!("SSE expired resume: {e}")))?,
                    ),
                };
                Received::Expired { resume }
            }
            (Some("error"), _, true) => {
                let value = data("error")?;
                Received::Error {
                    message: value
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                }
            }
            (_, Some(id), true) => Received::Event {
                id,
                event: data("event")?,
            },
            (_, None, true) => {
                // Snapshots are events (`{"type":…}`); anything else is a notice this version
                // does not know.
                let event = data("event")?;
                if event.get("type").and_then(Value::as_str).is_some() {
                    Received::Snapshot { event }
                } else {
                    Received::Other
                }
            }
            (_, Some(id), false) => Received::Progress { id },
            (_, None, false) => return Ok(None),
        }))
    }

    /// A polling page, in the order a client acts on it: a reset, a gap, the events, then the
    /// page's `next` cursor as progress.
    pub fn from_page(body: &[u8]) -> Result<Vec<Received>, ReceivedError> {
        #[derive(Deserialize)]
        struct Page {
            #[serde(default)]
            events: Vec<Entry>,
            next: Option<Cursor>,
            gap: Option<Gap>,
            reset: Option<Reset>,
        }
        #[derive(Deserialize)]
        struct Entry {
            id: Cursor,
            event: Value,
        }
        let page: Page = serde_json::from_slice(body)
            .map_err(|e| ReceivedError(format!("a polling page: {e}")))?;
        let mut out = Vec::with_capacity(page.events.len() + 3);
        out.extend(page.reset.map(Received::Reset));
        out.extend(page.gap.map(Received::Gap));
        out.extend(page.events.into_iter().map(|e| Received::Event {
            id: e.id,
            event: e.event,
        }));
        out.extend(page.next.map(|id| Received::Progress { id }));
        Ok(out)
    }
}

/// The fields of one SSE frame, as the EventSource specification reads them: `field: value`
/// lines (one leading space dropped), `data` lines joined with newlines, comments skipped, CR LF
/// taken as LF.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SseFrame<'a> {
    pub event: Option<&'a str>,
    pub id: Option<&'a str>,
    pub data: Option<String>,
    pub retry: Option<u64>,
}

impl<'a> SseFrame<'a> {
    pub fn parse(frame: &'a str) -> SseFrame<'a> {
        let mut out = SseFrame::default();
        for line in frame.split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() || line.starts_with(':') {
                continue;
            }
            let (field, value) = line
                .split_once(':')
                .map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
            match field {
                "event" => out.event = Some(value),
                "id" => out.id = Some(value),
                "data" => match &mut out.data {
                    None => out.data = Some(value.to_owned()),
                    Some(data) => {
                        data.push('\n');
                        data.push_str(value);
                    }
                },
                "retry" => out.retry = value.parse().ok(),
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse;
    use crate::ws::ServerMessage;
    use serde_json::json;

    fn cursor(text: &str) -> Cursor {
        text.parse().unwrap()
    }

    #[test]
    fn every_websocket_message_the_edge_sends_is_read_back() {
        let event = crate::ws::event_frame(
            &cursor("0a1b2c3d-7"),
            r#"{"type":"TipsUpdated","data":{"count":1}}"#,
        );
        assert_eq!(
            Received::from_ws(&event).unwrap(),
            Received::Event {
                id: cursor("0a1b2c3d-7"),
                event: json!({"type": "TipsUpdated", "data": {"count": 1}})
            }
        );
        let gap = Gap {
            requested: cursor("0a1b2c3d-1"),
            first_available: cursor("0a1b2c3d-9"),
        };
        let reset = Reset {
            current: cursor("0b1b2c3d-0"),
            reason: "recreated".into(),
        };
        let snapshot: Box<serde_json::value::RawValue> =
            serde_json::from_str(r#"{"type":"KCoreUpdated","data":{}}"#).unwrap();
        for (sent, read) in [
            (ServerMessage::Gap(gap.clone()), Received::Gap(gap)),
            (ServerMessage::Reset(reset.clone()), Received::Reset(reset)),
            (
                ServerMessage::Progress {
                    id: cursor("0a1b2c3d-8"),
                },
                Received::Progress {
                    id: cursor("0a1b2c3d-8"),
                },
            ),
            (
                ServerMessage::Snapshot { event: snapshot },
                Received::Snapshot {
                    event: json!({"type": "KCoreUpdated", "data": {}}),
                },
            ),
            (
                ServerMessage::Authenticated {
                    sub: Some("me".into()),
                    events: vec!["all".into()],
                    expires: 99,
                },
                Received::Authenticated {
                    sub: Some("me".into()),
                    events: vec!["all".into()],
                    expires: 99,
                },
            ),
            (
                ServerMessage::error("no"),
                Received::Error {
                    message: "no".into(),
                },
            ),
            (ServerMessage::Pong, Received::Pong),
            (
                ServerMessage::Subscribed {
                    events: vec!["tips.update".into()],
                },
                Received::Subscribed {
                    events: vec!["tips.update".into()],
                },
            ),
        ] {
            assert_eq!(Received::from_ws(&sent.to_json()).unwrap(), read);
        }
        assert_eq!(
            Received::from_ws(r#"{"type":"FromTheFuture","x":1}"#),
            Ok(Received::Other)
        );
        assert!(Received::from_ws("not json").is_err());
        assert!(Received::from_ws(r#"{"type":"Event","id":"nope","event":{}}"#).is_err());
    }

    #[test]
    fn every_sse_frame_the_edge_sends_is_read_back() {
        let id = cursor("0a1b2c3d-7");
        let data = r#"{"type":"TipsUpdated","data":{}}"#;
        assert_eq!(
            Received::from_sse(&sse::event_frame("tips.update", Some(&id), data)),
            Ok(Some(Received::Event {
                id,
                event: json!({"type": "TipsUpdated", "data": {}})
            }))
        );
        assert_eq!(
            Received::from_sse(&sse::event_frame("tips.update", None, data)),
            Ok(Some(Received::Snapshot {
                event: json!({"type": "TipsUpdated", "data": {}})
            }))
        );
        assert_eq!(
            Received::from_sse(&sse::progress_frame(&id)),
            Ok(Some(Received::Progress { id }))
        );
        let gap = Gap {
            requested: cursor("0a1b2c3d-1"),
            first_available: cursor("0a1b2c3d-9"),
        };
        assert_eq!(
            Received::from_sse(&sse::gap_frame(&gap)),
            Ok(Some(Received::Gap(gap)))
        );
        let reset = Reset {
            current: cursor("0b1b2c3d-0"),
            reason: "r".into(),
        };
        assert_eq!(
            Received::from_sse(&sse::reset_frame(&reset)),
            Ok(Some(Received::Reset(reset)))
        );
        assert_eq!(
            Received::from_sse(&sse::expired_frame(Some(&id))),
            Ok(Some(Received::Expired { resume: Some(id) })),
            "the expiry notice is not a snapshot"
        );
        assert_eq!(
            Received::from_sse(&sse::error_frame("bad")),
            Ok(Some(Received::Error {
                message: "bad".into()
            }))
        );
        assert_eq!(Received::from_sse(sse::HEARTBEAT), Ok(None));
        assert_eq!(Received::from_sse(&sse::retry_frame(1500)), Ok(None));
        assert_eq!(
            Received::from_sse("event: future\ndata: {\"x\":1}\n\n"),
            Ok(Some(Received::Other))
        );
        assert!(Received::from_sse("id: nope\n\n").is_err());
        assert!(Received::from_sse("id: 0a1b2c3d-1\ndata: {\n\n").is_err());
    }

    #[test]
    fn sse_fields_follow_the_eventsource_rules() {
        let frame =
            SseFrame::parse(": hi\r\nevent:x\r\ndata: a\r\ndata:  b\r\nretry: 5\r\nid\r\n\r\n");
        assert_eq!(frame.event, Some("x"));
        assert_eq!(frame.data.as_deref(), Some("a\n b"));
        assert_eq!(frame.retry, Some(5));
        assert_eq!(frame.id, Some(""));
    }

    #[test]
    fn a_polling_page_is_read_in_the_order_to_act_on_it() {
        let page = json!({
            "events": [{"id": "0b1b2c3d-1", "event": {"type": "TipsUpdated", "data": {}}}],
            "next": "0b1b2c3d-4",
            "gap": null,
            "reset": {"current": "0b1b2c3d-0", "reason": "recreated"}
        });
        let read = Received::from_page(page.to_string().as_bytes()).unwrap();
        assert!(matches!(read[0], Received::Reset(_)));
        assert!(matches!(read[1], Received::Event { .. }));
        assert_eq!(
            read[2],
            Received::Progress {
                id: cursor("0b1b2c3d-4")
            }
        );
        assert!(Received::from_page(b"[]").is_err());
    }
}
