//! Server-sent event frames (`GET /v1/sse/events`).
//!
//! Every event frame carries `id: <cursor>` so a browser's `EventSource` resumes by itself with
//! `Last-Event-ID`. Snapshot frames have no `id:` (the browser's lastEventId must not move);
//! progress is an `id:`-only frame (browsers store it and dispatch nothing).

use crate::ws::{Gap, Reset};
use crate::Cursor;

/// Keep-alive comment, sent after 15 s without an event.
pub const HEARTBEAT: &str = ": heartbeat\n\n";

/// The `event:` name of a gap notice.
pub const GAP_EVENT: &str = "gap";
/// The `event:` name of a reset notice.
pub const RESET_EVENT: &str = "reset";
/// Event name of the notice that the token expired and the stream ends.
pub const EXPIRED_EVENT: &str = "expired";

/// An event frame: `event: <name>`, `id: <cursor>` (omitted for snapshots), `data: <json>`.
pub fn event_frame(name: &str, id: Option<&Cursor>, event_json: &str) -> String {
    let mut out = String::with_capacity(name.len() + event_json.len() + 48);
    out.push_str("event: ");
    out.push_str(name);
    out.push('\n');
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(&id.to_string());
        out.push('\n');
    }
    out.push_str("data: ");
    out.push_str(event_json);
    out.push_str("\n\n");
    out
}

/// A progress marker: only `id: <cursor>`.
pub fn progress_frame(id: &Cursor) -> String {
    format!("id: {id}\n\n")
}

/// `retry: <ms>`: how long the browser waits before reconnecting, sent before the edge closes.
pub fn retry_frame(millis: u64) -> String {
    format!("retry: {millis}\n\n")
}

/// `event: gap` with the [`Gap`] object as data.
pub fn gap_frame(gap: &Gap) -> String {
    notice(
        GAP_EVENT,
        &serde_json::to_string(gap).expect("gap serializes"),
    )
}

/// `event: reset` with the [`Reset`] object as data.
pub fn reset_frame(reset: &Reset) -> String {
    notice(
        RESET_EVENT,
        &serde_json::to_string(reset).expect("reset serializes"),
    )
}

/// `event: expired` with `{"message": "token expired", "resume": "<cursor>"}`: the token ran
/// out and the stream ends; open a new stream with a fresh token and `last_event_id=<resume>`.
pub fn expired_frame(resume: Option<&crate::Cursor>) -> String {
    notice(
        EXPIRED_EVENT,
        &serde_json::json!({
            "message": "token expired",
            "resume": resume.map(ToString::to_string),
        })
        .to_string(),
    )
}

/// `event: error` with `{"message": ...}`: a refused request, sent before the stream closes.
pub fn error_frame(message: &str) -> String {
    notice(
        "error",
        &serde_json::json!({ "message": message }).to_string(),
    )
}

fn notice(name: &str, data: &str) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Epoch;

    #[test]
    fn frames() {
        let c = Cursor::new(Epoch(0xab), 3);
        assert_eq!(
            event_frame("tips.update", Some(&c), "{}"),
            "event: tips.update\nid: 000000ab-3\ndata: {}\n\n"
        );
        assert_eq!(
            event_frame("tips.update", None, "{}"),
            "event: tips.update\ndata: {}\n\n"
        );
        assert_eq!(progress_frame(&c), "id: 000000ab-3\n\n");
        assert_eq!(retry_frame(1500), "retry: 1500\n\n");
        let gap = Gap {
            requested: c,
            first_available: Cursor::new(Epoch(0xab), 10),
        };
        assert_eq!(
            gap_frame(&gap),
            "event: gap\ndata: {\"requested\":\"000000ab-3\",\"first_available\":\"000000ab-10\"}\n\n"
        );
    }
}
