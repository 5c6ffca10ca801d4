//! The polling endpoint's page (`GET /v1/events`).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::ws::{Gap, Reset};
use crate::Cursor;

/// One page of events. `next` is what to send as `after` next time; it advances past events
/// the filter skipped even when `events` is empty.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Page {
    pub events: Vec<PageEvent>,
    pub next: Cursor,
    pub gap: Option<Gap>,
    pub reset: Option<Reset>,
}

/// One event of a page with its cursor.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PageEvent {
    pub id: Cursor,
    pub event: Box<RawValue>,
}
