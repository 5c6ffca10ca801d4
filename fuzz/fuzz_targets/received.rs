//! What a client reads from an edge (`adic_protocol::received`, which the Rust client uses):
//! any bytes as a WebSocket message, an SSE frame and a polling page. Never a panic; an SSE
//! frame's fields are what its lines say; an event read back keeps its cursor.
#![no_main]

use adic_protocol::received::{Received, SseFrame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Received::from_page(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(Received::Event { id, .. }) = Received::from_ws(text) {
        assert_eq!(id.to_string().parse(), Ok(id));
    }
    let frame = SseFrame::parse(text);
    if let Some(data) = &frame.data {
        // Data lines are joined, never invented: every line of it is in the input.
        assert!(data.split('\n').all(|line| text.contains(line)));
    }
    match Received::from_sse(text) {
        Ok(Some(Received::Progress { .. })) => assert!(frame.id.is_some() && frame.data.is_none()),
        Ok(None) => assert!(frame.id.is_none() && frame.data.is_none()),
        Ok(_) | Err(_) => {}
    }
});
