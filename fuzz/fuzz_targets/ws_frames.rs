//! The edge's reader of client WebSocket frames, fed the bytes in pieces of every size, and
//! each text message it yields through the client-message parser and the subscription it
//! would change, as a connection does.
#![no_main]

use adic_edge::transport::ws::frame::{Inbound, Reader};
use adic_protocol::ws::ClientMessage;
use adic_protocol::Subscription;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, bytes)) = data.split_first() else {
        return;
    };
    // Small limits reach the size checks, the default (64 KiB) the usual path.
    let max_message = match control & 0x3 {
        0 => 1024,
        1 => 64 << 10,
        2 => 1,
        _ => 125,
    };
    let step = usize::from(control >> 2).max(1);
    let mut reader = Reader::new(max_message);
    let mut buf = BytesMut::new();
    let mut subscription = Subscription::default();
    'feed: for chunk in bytes.chunks(step) {
        buf.extend_from_slice(chunk);
        loop {
            match reader.next(&mut buf) {
                Ok(None) => break,
                Ok(Some(Inbound::Text(text))) => {
                    assert!(
                        text.len() <= max_message,
                        "a message over the limit got through"
                    );
                    match ClientMessage::parse(&text) {
                        Ok(ClientMessage::Subscribe { events, .. }) => {
                            let _ = subscription.subscribe(&events);
                        }
                        Ok(ClientMessage::Unsubscribe { events }) => {
                            let _ = subscription.unsubscribe(&events);
                        }
                        Ok(_) => {}
                        Err(e) => assert!(!e.to_string().is_empty()),
                    }
                }
                Ok(Some(Inbound::Ping(payload))) => assert!(payload.len() <= 125),
                Ok(Some(_)) => {}
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    assert!(matches!(e.close_code(), 1002 | 1007 | 1009));
                    // The connection closes on an error.
                    break 'feed;
                }
            }
        }
    }
});
