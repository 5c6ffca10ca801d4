//! Transport adapters: each turns a [`Session`](crate::session::Session) into its wire format.
//! They talk to the hub, the session and [`admission`](crate::admission) only, never to NATS.
//!
//! One folder per wire: `ws/` (the handler and session adapter, `frame.rs` the frame reader and
//! handshake key), `sse/` (the handler and body, `socket.rs` the request-head decision and the
//! writer that serves SSE on the socket), `poll.rs`.

use std::collections::HashMap;

use adic_protocol::{Cursor, FilterError, Subscription};

pub mod poll;
pub mod sse;
pub mod ws;

/// Builds a subscription from the `events` and `priority` query parameters.
pub fn subscription_from_query(
    query: &HashMap<String, String>,
) -> Result<Subscription, FilterError> {
    Subscription::from_query(
        query.get("events").map(String::as_str),
        query.get("priority").map(String::as_str),
    )
}

/// Parses an optional cursor parameter; the error names the parameter.
pub fn cursor_param(name: &str, value: Option<&str>) -> Result<Option<Cursor>, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|e| format!("{name}: {e}")),
    }
}

/// Parses an optional boolean parameter (`true`/`false`/`1`/`0`; present and empty is true).
pub fn bool_param(name: &str, value: Option<&str>, default: bool) -> Result<bool, String> {
    match value {
        None => Ok(default),
        Some("true" | "1" | "") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(other) => Err(format!("{name} must be true or false, not {other:?}")),
    }
}
