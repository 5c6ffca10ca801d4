//! Transport adapters: each turns a [`Session`](crate::session::Session) into its wire format.
//! They talk to the hub and the session only, never to NATS.

use std::collections::HashMap;

use adic_protocol::{FilterError, Subscription};

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
