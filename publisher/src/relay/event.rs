//! What the relay publishes for one event from the node: its subject, the JSON a direct publish
//! would store (validated and re-encoded by the protocol crate, exactly as the edge does), and
//! its event timestamp.
//!
//! A kind this build does not know passes through (the contract says so): on
//! `<prefix>.<priority>.<name>` with the configured priority and, as name, the SSE `event:` name
//! when the node sent one, else the variant in snake case (`FutureThing` → `future_thing`).

use adic_protocol::{Kind, Priority, ValidEvent};
use bytes::Bytes;
use serde_json::Value;

/// An event ready to publish.
#[derive(Debug, PartialEq)]
pub struct Relayed {
    pub subject: String,
    pub payload: Bytes,
    /// The event's `type`, for its id.
    pub variant: String,
    /// The event's `timestamp` (unix seconds), when it has an integer one.
    pub timestamp: Option<i64>,
}

/// Validates `event` (an object from the node) for publishing under `prefix`.
pub fn prepare(
    prefix: &str,
    unknown_priority: Priority,
    event: &Value,
    sse_name: Option<&str>,
) -> Result<Relayed, String> {
    let variant = event
        .get("type")
        .and_then(Value::as_str)
        .ok_or("an event without a string \"type\"")?;
    let subject = match Kind::from_variant(variant) {
        Some(kind) => kind.subject(prefix),
        None => {
            let name = sse_name
                .filter(|n| valid_name(n))
                .map_or_else(|| snake_case(variant), str::to_owned);
            if !valid_name(&name) {
                return Err(format!(
                    "an unknown kind {variant:?} whose name cannot be a subject"
                ));
            }
            format!("{prefix}.{}.{name}", unknown_priority.as_str())
        }
    };
    let valid = ValidEvent::parse(prefix, &subject, event.to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    let timestamp = event
        .get("data")
        .and_then(|d| d.get("timestamp"))
        .and_then(Value::as_i64);
    Ok(Relayed {
        subject,
        payload: Bytes::from(valid.json),
        variant: valid.variant,
        timestamp,
    })
}

/// Dot-separated tokens of `[a-z0-9_-]`: a subject tail the edge parses back as a name.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.split('.').all(|token| {
            !token.is_empty()
                && token
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

fn snake_case(variant: &str) -> String {
    let mut out = String::with_capacity(variant.len() + 4);
    for (i, c) in variant.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn known_kinds_go_to_their_subject_compacted() {
        let event: Value = serde_json::from_str(
            r#"{"type":"MessageAdded","data":{"message_id":"ab","depth":1,"timestamp":7,"extra":true}}"#,
        )
        .unwrap();
        let got = prepare("adic.events", Priority::Low, &event, Some("ignored")).unwrap();
        assert_eq!(got.subject, "adic.events.high.message.new");
        assert_eq!(
            &got.payload[..],
            br#"{"type":"MessageAdded","data":{"message_id":"ab","depth":1,"timestamp":7,"extra":true}}"#
        );
        assert_eq!(got.timestamp, Some(7));
    }

    #[test]
    fn unknown_kinds_pass_through() {
        let event = json!({"type": "FutureThing", "data": {"x": 1}});
        let got = prepare("p", Priority::Low, &event, None).unwrap();
        assert_eq!(got.subject, "p.low.future_thing");
        assert_eq!(got.timestamp, None);
        let got = prepare("p", Priority::Medium, &event, Some("future.thing")).unwrap();
        assert_eq!(got.subject, "p.medium.future.thing");
        // A name that is no subject falls back to the variant.
        let got = prepare("p", Priority::Low, &event, Some("a b>")).unwrap();
        assert_eq!(got.subject, "p.low.future_thing");
        assert!(prepare(
            "p",
            Priority::Low,
            &json!({"type": "A.*", "data": {}}),
            None
        )
        .is_err());
    }

    #[test]
    fn shapes_the_edge_refuses_are_refused() {
        for bad in [
            json!({"type": "TipsUpdated"}),
            json!({"type": "TipsUpdated", "data": [1]}),
            json!({"type": 1, "data": {}}),
            json!({"data": {}}),
        ] {
            assert!(prepare("p", Priority::Low, &bad, None).is_err(), "{bad}");
        }
    }
}
