//! An event encoded once for every wire format.
//!
//! The feed validates each event once and builds its WebSocket frame and SSE frame once; every
//! client then shares the same bytes (an `Arc` clone per delivery), so a client costs a filter
//! check and a write, never a serialization.

use std::time::{Instant, SystemTime};

use adic_protocol::{sse, ws, Cursor, Epoch, EventKey, ValidEvent};
use bytes::Bytes;

use crate::broker::StreamEvent;
use crate::trace::EventTrace;

/// One event, ready to write to any client.
#[derive(Debug)]
pub struct EncodedEvent {
    pub cursor: Cursor,
    pub key: EventKey,
    /// Dotted name (the SSE `event:` name).
    pub name: Box<str>,
    /// The compact event JSON (`{"type":…,"data":{…}}`).
    pub json: Box<str>,
    /// The complete WebSocket text frame (header included) carrying
    /// `{"type":"Event","id":…,"event":…}`: server frames are unmasked, so every client gets
    /// these same bytes.
    pub ws: Bytes,
    /// `event: …\nid: …\ndata: …\n\n`.
    pub sse: Bytes,
    /// For `sync.progress`, the peer: snapshot values are kept per peer.
    pub snapshot_scope: Option<Box<str>>,
    pub traceparent: Option<Box<str>>,
    /// When the stream stored it (publish time).
    pub stored_at: Option<SystemTime>,
    /// When this edge received it.
    pub received_at: Instant,
    /// The fan-out span its deliveries belong to, when the event is traced.
    pub trace: Option<EventTrace>,
}

impl EncodedEvent {
    pub fn new(epoch: Epoch, event: &StreamEvent, valid: ValidEvent) -> EncodedEvent {
        let cursor = Cursor::new(epoch, event.seq);
        let ws = adic_protocol::frame::text_frame(&ws::event_frame(&cursor, &valid.json));
        let sse = Bytes::from(sse::event_frame(&valid.name, Some(&cursor), &valid.json));
        EncodedEvent {
            cursor,
            key: valid.key,
            name: valid.name.into_boxed_str(),
            json: valid.json.into_boxed_str(),
            ws,
            sse,
            snapshot_scope: valid.snapshot_scope.map(String::into_boxed_str),
            traceparent: event.traceparent.as_deref().map(Box::from),
            stored_at: event.stored_at,
            received_at: Instant::now(),
            trace: None,
        }
    }

    pub fn seq(&self) -> u64 {
        self.cursor.seq
    }

    /// Bytes this event occupies in a client's queue (the larger of its two frames).
    pub fn queued_size(&self) -> usize {
        self.ws.len().max(self.sse.len())
    }

    /// Bytes this event holds in memory (its frames and JSON).
    pub fn memory_size(&self) -> usize {
        self.ws.len() + self.sse.len() + self.json.len() + std::mem::size_of::<Self>()
    }

    /// Whether this is a snapshot kind (only the newest value matters).
    pub fn is_snapshot(&self) -> bool {
        self.key
            .kind()
            .is_some_and(adic_protocol::Kind::is_snapshot)
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use std::sync::Arc;

    use adic_protocol::{Epoch, Kind, ValidEvent};
    use bytes::Bytes;

    use super::EncodedEvent;
    use crate::broker::StreamEvent;

    /// An encoded event of `kind` at `seq`, with `data` as its data object.
    pub fn event(seq: u64, kind: Kind, data: serde_json::Value) -> Arc<EncodedEvent> {
        let subject = kind.subject("adic.events");
        let payload = serde_json::json!({"type": kind.variant(), "data": data}).to_string();
        let stream_event = StreamEvent {
            seq,
            subject: subject.clone(),
            payload: Bytes::from(payload.clone()),
            traceparent: None,
            stored_at: None,
        };
        let valid = ValidEvent::parse("adic.events", &subject, payload.as_bytes())
            .expect("valid test event");
        Arc::new(EncodedEvent::new(Epoch(1), &stream_event, valid))
    }
}
