//! WebSocket messages (`GET /v1/ws/events`), both directions, and close codes.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::Cursor;

/// A message from a client, parsed with an error that says what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientMessage {
    /// Narrow (first time on an all-events connection) or add to the subscription.
    /// `since` is accepted on the first Subscribe only.
    Subscribe {
        events: Vec<String>,
        since: Option<String>,
    },
    Unsubscribe {
        events: Vec<String>,
    },
    Ping,
    /// A token for an edge with authentication on: the first message of a connection that
    /// did not present one at the upgrade, or a fresh token before the current one expires.
    Auth {
        token: Token,
    },
}

/// A bearer token. Its `Debug` never shows the token, so it cannot end up in a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(pub String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(<{} bytes>)", self.0.len())
    }
}

/// Why a client message was refused; sent back as an `Error` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientMessageError {
    #[error("message is not valid JSON: {0}")]
    Json(String),
    #[error("message must be a JSON object with a \"type\" field")]
    NoType,
    #[error("unknown message type {0:?}: expected Subscribe, Unsubscribe, Ping or Auth")]
    UnknownType(String),
    #[error("Auth needs \"token\": the token as a string")]
    Token,
    #[error("{0} needs \"events\": an array of event names")]
    Events(&'static str),
    #[error("\"since\" must be a cursor string")]
    Since,
    #[error("binary frames are not accepted: send JSON text frames")]
    Binary,
    #[error("message too large: at most {0} bytes")]
    TooLarge(usize),
}

impl ClientMessage {
    /// Parses a text frame. Unknown keys are ignored, as existing clients expect.
    pub fn parse(text: &str) -> Result<ClientMessage, ClientMessageError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| ClientMessageError::Json(e.to_string()))?;
        let ty = value
            .get("type")
            .and_then(Value::as_str)
            .ok_or(ClientMessageError::NoType)?;
        let events = |what| -> Result<Vec<String>, ClientMessageError> {
            value
                .get("events")
                .and_then(Value::as_array)
                .ok_or(ClientMessageError::Events(what))?
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or(ClientMessageError::Events(what))
                })
                .collect()
        };
        match ty {
            "Subscribe" => {
                let since = match value.get("since") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(_) => return Err(ClientMessageError::Since),
                };
                Ok(ClientMessage::Subscribe {
                    events: events("Subscribe")?,
                    since,
                })
            }
            "Unsubscribe" => Ok(ClientMessage::Unsubscribe {
                events: events("Unsubscribe")?,
            }),
            "Ping" => Ok(ClientMessage::Ping),
            "Auth" => match value.get("token") {
                Some(Value::String(token)) if !token.is_empty() => Ok(ClientMessage::Auth {
                    token: Token(token.clone()),
                }),
                _ => Err(ClientMessageError::Token),
            },
            other => Err(ClientMessageError::UnknownType(other.to_owned())),
        }
    }
}

/// Control messages from the server. `Event` frames are pre-encoded by [`event_frame`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerMessage {
    Subscribed {
        events: Vec<String>,
    },
    Unsubscribed {
        events: Vec<String>,
    },
    Pong,
    Error {
        message: String,
    },
    /// The reply to `Auth`: who the token names, what it allows, and when it expires (Unix
    /// seconds). Send a fresh `Auth` before then to keep the connection.
    Authenticated {
        #[serde(skip_serializing_if = "Option::is_none", default)]
        sub: Option<String>,
        events: Vec<String>,
        expires: u64,
    },
    /// Current value of a snapshot kind, sent on connect when asked; carries no cursor.
    Snapshot {
        event: Box<RawValue>,
    },
    /// The stream moved past events this client filters out: store `id` as the cursor.
    Progress {
        id: Cursor,
    },
    Gap(Gap),
    Reset(Reset),
}

impl ServerMessage {
    pub fn error(message: impl Into<String>) -> ServerMessage {
        ServerMessage::Error {
            message: message.into(),
        }
    }

    /// The JSON text of the message.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

/// The resume cursor is older than the stream keeps; events follow from `first_available`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub requested: Cursor,
    pub first_available: Cursor,
}

/// The cursor belongs to another stream instance; events follow from the new stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reset {
    pub current: Cursor,
    pub reason: String,
}

/// An `Event` frame: `{"type":"Event","id":"<cursor>","event":<event JSON>}`.
pub fn event_frame(id: &Cursor, event_json: &str) -> String {
    let mut out = String::with_capacity(event_json.len() + 48);
    out.push_str(r#"{"type":"Event","id":""#);
    out.push_str(&id.to_string());
    out.push_str(r#"","event":"#);
    out.push_str(event_json);
    out.push('}');
    out
}

/// A `Snapshot` frame: `{"type":"Snapshot","event":<event JSON>}`.
pub fn snapshot_frame(event_json: &str) -> String {
    format!(r#"{{"type":"Snapshot","event":{event_json}}}"#)
}

/// WebSocket close codes the edge sends.
pub mod close {
    /// The edge is draining or shutting down: reconnect to any edge with the cursor.
    pub const DRAINING: u16 = 4000;
    /// The client's queue overflowed: reconnect with the cursor in the reason.
    pub const SLOW_CONSUMER: u16 = 4001;
    /// The stream was reset: reconnect without a cursor, or with the one given.
    pub const STREAM_RESET: u16 = 4002;
    /// A request that will not get better: do not retry unchanged.
    pub const POLICY: u16 = 4100;
    /// No token, a token the edge refuses, or a token that expired: get a new token and
    /// reconnect (with the cursor in the reason, where one applies).
    pub const UNAUTHORIZED: u16 = 4401;
    /// The token does not allow what was asked (the reason names it): do not retry unchanged.
    pub const FORBIDDEN: u16 = 4403;
    /// The client sent messages faster than the edge takes them: reconnect with the cursor,
    /// and send less.
    pub const TOO_MANY_MESSAGES: u16 = 4429;

    /// Longest close reason the WebSocket protocol allows.
    pub const MAX_REASON: usize = 123;

    /// A close reason carrying the resume cursor: `<text>; resume=<cursor>`, cut to 123 bytes
    /// by shortening the text, never the cursor.
    pub fn reason_with_resume(text: &str, cursor: Option<&crate::Cursor>) -> String {
        let tail = cursor.map(|c| format!("; resume={c}")).unwrap_or_default();
        let mut room = MAX_REASON.saturating_sub(tail.len()).min(text.len());
        while !text.is_char_boundary(room) {
            room -= 1;
        }
        format!("{}{tail}", &text[..room])
    }

    /// Finds `resume=<cursor>` in a close reason.
    pub fn resume_from_reason(reason: &str) -> Option<crate::Cursor> {
        let (_, rest) = reason.split_once("resume=")?;
        rest.split(|c: char| c == ';' || c.is_whitespace())
            .next()?
            .parse()
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Epoch;

    #[test]
    fn parses_contract_messages() {
        assert_eq!(
            ClientMessage::parse(r#"{"type":"Subscribe","events":["tips.update"],"extra":1}"#),
            Ok(ClientMessage::Subscribe {
                events: vec!["tips.update".into()],
                since: None
            })
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"Unsubscribe","events":[]}"#),
            Ok(ClientMessage::Unsubscribe { events: vec![] })
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"Ping"}"#),
            Ok(ClientMessage::Ping)
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"Auth","token":"a.b.c"}"#),
            Ok(ClientMessage::Auth {
                token: Token("a.b.c".into())
            })
        );
    }

    #[test]
    fn a_token_never_shows_in_debug_output() {
        let message = ClientMessage::parse(r#"{"type":"Auth","token":"secret.jwt.value"}"#);
        let shown = format!("{message:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert_eq!(
            ClientMessage::parse(r#"{"type":"Auth","token":5}"#),
            Err(ClientMessageError::Token)
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"Auth"}"#),
            Err(ClientMessageError::Token)
        );
    }

    #[test]
    fn explains_bad_messages() {
        assert!(matches!(
            ClientMessage::parse("{"),
            Err(ClientMessageError::Json(_))
        ));
        assert_eq!(
            ClientMessage::parse(r#"{"events":[]}"#),
            Err(ClientMessageError::NoType)
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"Dance"}"#),
            Err(ClientMessageError::UnknownType("Dance".into()))
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"Subscribe","events":"tips.update"}"#),
            Err(ClientMessageError::Events("Subscribe"))
        );
        assert_eq!(
            ClientMessage::parse(r#"{"type":"Subscribe","events":[],"since":5}"#),
            Err(ClientMessageError::Since)
        );
    }

    #[test]
    fn server_messages_have_contract_shapes() {
        let c = Cursor::new(Epoch(1), 7);
        assert_eq!(ServerMessage::Pong.to_json(), r#"{"type":"Pong"}"#);
        assert_eq!(
            ServerMessage::Progress { id: c }.to_json(),
            r#"{"type":"Progress","id":"00000001-7"}"#
        );
        assert_eq!(
            ServerMessage::Gap(Gap {
                requested: c,
                first_available: Cursor::new(Epoch(1), 9)
            })
            .to_json(),
            r#"{"type":"Gap","requested":"00000001-7","first_available":"00000001-9"}"#
        );
        assert_eq!(
            ServerMessage::Reset(Reset {
                current: c,
                reason: "stream recreated".into()
            })
            .to_json(),
            r#"{"type":"Reset","current":"00000001-7","reason":"stream recreated"}"#
        );
        assert_eq!(
            ServerMessage::Subscribed {
                events: vec!["tips.update".into()]
            }
            .to_json(),
            r#"{"type":"Subscribed","events":["tips.update"]}"#
        );
        assert_eq!(
            ServerMessage::error("bad").to_json(),
            r#"{"type":"Error","message":"bad"}"#
        );
        assert_eq!(
            event_frame(&c, r#"{"type":"X","data":{}}"#),
            r#"{"type":"Event","id":"00000001-7","event":{"type":"X","data":{}}}"#
        );
        let raw = RawValue::from_string(r#"{"type":"X","data":{}}"#.into()).unwrap();
        assert_eq!(
            ServerMessage::Snapshot { event: raw }.to_json(),
            snapshot_frame(r#"{"type":"X","data":{}}"#)
        );
    }

    #[test]
    fn close_reason_fits_and_keeps_the_cursor() {
        let c = Cursor::new(Epoch(0xdead_beef), u64::MAX);
        let reason = close::reason_with_resume(&"x".repeat(300), Some(&c));
        assert!(reason.len() <= close::MAX_REASON);
        assert_eq!(close::resume_from_reason(&reason), Some(c));
        assert_eq!(close::reason_with_resume("draining", None), "draining");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::Epoch;

    fn client_message() -> impl Strategy<Value = ClientMessage> {
        let names = prop::collection::vec(any::<String>(), 0..8);
        prop_oneof![
            (names.clone(), prop::option::of(any::<String>()))
                .prop_map(|(events, since)| ClientMessage::Subscribe { events, since }),
            names.prop_map(|events| ClientMessage::Unsubscribe { events }),
            Just(ClientMessage::Ping),
            ".+".prop_map(|t| ClientMessage::Auth { token: Token(t) }),
        ]
    }

    /// The JSON a client sends for `message`.
    fn to_json(message: &ClientMessage) -> String {
        match message {
            ClientMessage::Subscribe { events, since } => {
                json!({"type": "Subscribe", "events": events, "since": since})
            }
            ClientMessage::Unsubscribe { events } => {
                json!({"type": "Unsubscribe", "events": events})
            }
            ClientMessage::Ping => json!({"type": "Ping"}),
            ClientMessage::Auth { token } => json!({"type": "Auth", "token": token.0}),
        }
        .to_string()
    }

    fn cursor() -> impl Strategy<Value = Cursor> {
        (any::<u32>(), any::<u64>()).prop_map(|(e, s)| Cursor::new(Epoch(e), s))
    }

    fn server_message() -> impl Strategy<Value = ServerMessage> {
        let names = prop::collection::vec(any::<String>(), 0..6);
        prop_oneof![
            names
                .clone()
                .prop_map(|events| ServerMessage::Subscribed { events }),
            names
                .clone()
                .prop_map(|events| ServerMessage::Unsubscribed { events }),
            Just(ServerMessage::Pong),
            any::<String>().prop_map(ServerMessage::error),
            (prop::option::of(any::<String>()), names, any::<u64>()).prop_map(
                |(sub, events, expires)| ServerMessage::Authenticated {
                    sub,
                    events,
                    expires
                }
            ),
            cursor().prop_map(|id| ServerMessage::Progress { id }),
            (cursor(), cursor()).prop_map(|(requested, first_available)| {
                ServerMessage::Gap(Gap {
                    requested,
                    first_available,
                })
            }),
            (cursor(), any::<String>())
                .prop_map(|(current, reason)| ServerMessage::Reset(Reset { current, reason })),
            // Not `Snapshot`: serde cannot read a `RawValue` back through an internally tagged
            // enum, and nothing deserializes server messages (clients read them as JSON); its
            // frame is `snapshot_frame`, checked in `server_messages_have_contract_shapes`.
        ]
    }

    proptest! {
        #[test]
        fn every_client_message_round_trips(message in client_message()) {
            prop_assert_eq!(ClientMessage::parse(&to_json(&message)), Ok(message));
        }

        #[test]
        fn every_server_message_round_trips(message in server_message()) {
            let json = message.to_json();
            let back: ServerMessage = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back.to_json(), json);
        }

        #[test]
        fn any_text_is_a_message_or_an_error_that_says_why(text in any::<String>()) {
            if let Err(e) = ClientMessage::parse(&text) {
                prop_assert!(!e.to_string().is_empty());
            }
        }

        #[test]
        fn any_json_is_a_message_or_an_error_that_says_why(
            ty in prop_oneof![
                Just("Subscribe".to_owned()),
                Just("Unsubscribe".to_owned()),
                Just("Ping".to_owned()),
                Just("Auth".to_owned()),
                ".*",
            ],
            events in prop::option::of(prop::collection::vec(prop_oneof![
                any::<String>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                Just(Value::Null),
            ], 0..4)),
            since in prop_oneof![Just(Value::Null), any::<String>().prop_map(Value::from), any::<bool>().prop_map(Value::from)],
        ) {
            let text = json!({"type": ty, "events": events, "since": since, "token": since}).to_string();
            match ClientMessage::parse(&text) {
                Ok(ClientMessage::Subscribe { events: got, .. }) => {
                    prop_assert_eq!(Some(got.len()), events.map(|e| e.len()));
                }
                Ok(_) => {}
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        #[test]
        fn a_close_reason_fits_and_keeps_its_cursor(text in any::<String>(), c in prop::option::of(cursor())) {
            let reason = close::reason_with_resume(&text, c.as_ref());
            prop_assert!(reason.len() <= close::MAX_REASON);
            if let Some(c) = c {
                prop_assert_eq!(close::resume_from_reason(&reason), Some(c));
            }
        }
    }
}
