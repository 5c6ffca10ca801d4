//! A client's WebSocket text message: parsed into a `ClientMessage` or refused with a message
//! saying what is wrong, then applied to a subscription (with and without a grant), and its
//! `since` read as a cursor, as the edge does.
#![no_main]

use adic_edge::transport::cursor_param;
use adic_protocol::ws::ClientMessage;
use adic_protocol::{parse_grant, Subscription};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let message = match ClientMessage::parse(text) {
        Ok(message) => message,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let mut open = Subscription::default();
    let mut granted = Subscription::default();
    granted
        .restrict(parse_grant(["high", "message.new"]).unwrap())
        .unwrap();
    match message {
        ClientMessage::Subscribe { events, since } => {
            for s in [&mut open, &mut granted] {
                let before = *s;
                if s.subscribe(&events).is_err() {
                    assert_eq!(*s, before, "a refused Subscribe changed the subscription");
                }
                // Never more than allowed.
                assert_eq!(s.mask().minus(s.allowed()), adic_protocol::KindSet::EMPTY);
            }
            if let Some(since) = since {
                let _ = cursor_param("since", Some(&since));
            }
        }
        ClientMessage::Unsubscribe { events } => {
            for s in [&mut open, &mut granted] {
                let before = *s;
                if s.unsubscribe(&events).is_err() {
                    assert_eq!(*s, before, "a refused Unsubscribe changed the subscription");
                }
            }
        }
        ClientMessage::Auth { token } => assert!(!token.0.is_empty()),
        ClientMessage::Ping => {}
    }
});
