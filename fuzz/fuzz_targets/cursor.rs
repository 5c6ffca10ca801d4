//! Cursors: a string parsed as `<epoch>-<seq>` (a `since`, `after` or `last_event_id`
//! parameter), a `Last-Event-ID` header value as SSE reads it, and the `resume=` a client
//! reads from a close reason. A cursor that parses prints back to the same cursor.
#![no_main]

use adic_edge::transport::cursor_param;
use adic_protocol::ws::close;
use adic_protocol::Cursor;
use axum::http::HeaderValue;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The header as bytes: SSE refuses one that is not visible ASCII.
    if let Ok(value) = HeaderValue::from_bytes(data) {
        if let Ok(value) = value.to_str() {
            let _ = cursor_param("Last-Event-ID", Some(value));
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match text.parse::<Cursor>() {
        Ok(cursor) => {
            let printed = cursor.to_string();
            assert_eq!(printed.parse::<Cursor>(), Ok(cursor));
            let reason = close::reason_with_resume(text, Some(&cursor));
            assert!(reason.len() <= close::MAX_REASON);
            assert_eq!(close::resume_from_reason(&reason), Some(cursor));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let _ = close::resume_from_reason(text);
    let reason = close::reason_with_resume(text, None);
    assert!(reason.len() <= close::MAX_REASON);
});
