//! Validation of an event as it arrives from NATS.
//!
//! The edge forwards the event JSON it received, so a newer node's extra fields and kinds reach
//! clients. It only checks that the payload is one JSON object with a string `type` and an object
//! `data`, and re-encodes it compactly on one line (an SSE `data:` line cannot hold a newline).
//! Key order is preserved.

use serde_json::Value;

use crate::{subject, Kind, Priority};

/// What a filter needs to know about an event: its kind, or for a kind this build does not know,
/// its priority (taken from the subject).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKey {
    Known(Kind),
    Unknown(Priority),
}

impl EventKey {
    pub fn priority(self) -> Priority {
        match self {
            EventKey::Known(kind) => kind.priority(),
            EventKey::Unknown(priority) => priority,
        }
    }

    pub fn kind(self) -> Option<Kind> {
        match self {
            EventKey::Known(kind) => Some(kind),
            EventKey::Unknown(_) => None,
        }
    }
}

impl From<Kind> for EventKey {
    fn from(kind: Kind) -> Self {
        EventKey::Known(kind)
    }
}

/// Why a payload was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("payload is not JSON: {0}")]
    NotJson(String),
    #[error("payload is not a JSON object with a string \"type\" and an object \"data\"")]
    Shape,
    #[error("subject {0:?} is not <prefix>.<high|medium|low>.<name>")]
    Subject(String),
}

/// An event that passed validation: compact JSON plus what routing needs.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidEvent {
    /// The event JSON, compact, on one line.
    pub json: String,
    /// The `type` of the event (its variant name).
    pub variant: String,
    /// The dotted name: the kind's, or for an unknown kind the name in the subject.
    pub name: String,
    pub key: EventKey,
    /// For `sync.progress`, the `peer_id`: snapshot values are kept per peer.
    pub snapshot_scope: Option<String>,
}

impl ValidEvent {
    /// Validates a payload received on `subject` under `prefix`.
    pub fn parse(
        prefix: &str,
        subject_name: &str,
        payload: &[u8],
    ) -> Result<ValidEvent, EnvelopeError> {
        let (priority, subject_kind) = subject::parse(prefix, subject_name)
            .ok_or_else(|| EnvelopeError::Subject(subject_name.to_owned()))?;
        let value: Value =
            serde_json::from_slice(payload).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
        let Value::Object(map) = &value else {
            return Err(EnvelopeError::Shape);
        };
        let (Some(Value::String(variant)), Some(Value::Object(data))) =
            (map.get("type"), map.get("data"))
        else {
            return Err(EnvelopeError::Shape);
        };
        let (key, name) = match Kind::from_variant(variant) {
            Some(kind) => (EventKey::Known(kind), kind.name().to_owned()),
            None => (EventKey::Unknown(priority), subject_kind.to_owned()),
        };
        let snapshot_scope = match key {
            EventKey::Known(Kind::SyncProgress) => data
                .get("peer_id")
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)),
            _ => None,
        };
        Ok(ValidEvent {
            json: value.to_string(),
            variant: variant.clone(),
            name,
            key,
            snapshot_scope,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "adic.events";

    #[test]
    fn known_kind_is_recompacted_in_order() {
        let payload = b"{ \"type\": \"TipsUpdated\",\n \"data\": {\"tips\": [\"a\"], \"count\": 1, \"timestamp\": 5} }";
        let ev = ValidEvent::parse(P, "adic.events.high.tips.update", payload).unwrap();
        assert_eq!(
            ev.json,
            r#"{"type":"TipsUpdated","data":{"tips":["a"],"count":1,"timestamp":5}}"#
        );
        assert_eq!(ev.key, EventKey::Known(Kind::TipsUpdated));
        assert_eq!(ev.name, "tips.update");
    }

    #[test]
    fn unknown_kind_takes_priority_and_name_from_subject() {
        let payload = br#"{"type":"FutureThing","data":{"x":1}}"#;
        let ev = ValidEvent::parse(P, "adic.events.medium.future.thing", payload).unwrap();
        assert_eq!(ev.key, EventKey::Unknown(Priority::Medium));
        assert_eq!(ev.name, "future.thing");
    }

    #[test]
    fn sync_progress_is_scoped_by_peer() {
        let payload = br#"{"type":"SyncProgress","data":{"peer_id":"p1","synced_messages":1,"progress_percent":2.0,"timestamp":1}}"#;
        let ev = ValidEvent::parse(P, "adic.events.medium.sync.progress", payload).unwrap();
        assert_eq!(ev.snapshot_scope.as_deref(), Some("p1"));
    }

    #[test]
    fn numbers_are_forwarded_exactly() {
        // Found by the property test below: without serde_json's `float_roundtrip`, a float
        // could come out one unit in the last place off from what the node published.
        let payload = br#"{"type":"X","data":{"v":-0.062023978077039764,"w":1e-7}}"#;
        let ev = ValidEvent::parse(P, "adic.events.low.x", payload).unwrap();
        assert_eq!(
            ev.json,
            r#"{"type":"X","data":{"v":-0.062023978077039764,"w":1e-7}}"#
        );
    }

    #[test]
    fn malformed_payloads_are_refused() {
        let subject = "adic.events.high.tips.update";
        for bad in [
            &b"not json"[..],
            b"[1,2]",
            br#"{"type":"TipsUpdated"}"#,
            br#"{"type":1,"data":{}}"#,
            br#"{"type":"X","data":[]}"#,
        ] {
            assert!(ValidEvent::parse(P, subject, bad).is_err());
        }
        assert!(matches!(
            ValidEvent::parse(P, "other.high.x", br#"{"type":"X","data":{}}"#),
            Err(EnvelopeError::Subject(_))
        ));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    const P: &str = "adic.events";

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(any::<String>(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_payload_is_valid_or_refused_with_a_reason(subject in any::<String>(), payload in any::<Vec<u8>>()) {
            if let Err(e) = ValidEvent::parse(P, &subject, &payload) {
                prop_assert!(!e.to_string().is_empty());
            }
        }

        #[test]
        fn a_valid_event_is_one_line_and_validates_again_unchanged(
            kind in prop::sample::select(Kind::all().collect::<Vec<_>>()),
            unknown in any::<bool>(),
            data in prop::collection::btree_map(any::<String>(), json_value(), 0..5),
        ) {
            let variant = if unknown { "SomeFutureKind" } else { kind.variant() };
            let payload = json!({"type": variant, "data": Value::Object(data.into_iter().collect())});
            let pretty = serde_json::to_vec_pretty(&payload).unwrap();
            let subject = kind.subject(P);
            let valid = ValidEvent::parse(P, &subject, &pretty).unwrap();
            prop_assert!(!valid.json.contains('\n'));
            prop_assert_eq!(serde_json::from_str::<Value>(&valid.json).unwrap(), payload);
            prop_assert_eq!(ValidEvent::parse(P, &subject, valid.json.as_bytes()).unwrap(), valid);
        }
    }
}
