//! An event as it arrives from NATS (subject, payload, `traceparent` header): validated as the
//! edge's feed does, then encoded into its WebSocket and SSE frames. Input: the subject on the
//! first line, the traceparent on the second, the payload after.
#![no_main]

use adic_edge::broker::StreamEvent;
use adic_edge::encoded::EncodedEvent;
use adic_protocol::{Epoch, ValidEvent, DEFAULT_PREFIX};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

fuzz_target!(|data: &[u8]| {
    let (subject, rest) = split_line(data);
    let (traceparent, payload) = split_line(rest);
    let (Ok(subject), Ok(traceparent)) = (
        std::str::from_utf8(subject),
        std::str::from_utf8(traceparent),
    ) else {
        return;
    };
    let _ = adic_publisher::trace::parse_traceparent(traceparent);
    let valid = match ValidEvent::parse(DEFAULT_PREFIX, subject, payload) {
        Ok(valid) => valid,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    // One line, for SSE's `data:`, and valid again as it is forwarded.
    assert!(!valid.json.contains('\n') && !valid.json.contains('\r'));
    let again = ValidEvent::parse(DEFAULT_PREFIX, subject, valid.json.as_bytes())
        .expect("a forwarded event validates again");
    assert_eq!(again, valid);
    let event = StreamEvent {
        seq: u64::from_le_bytes(
            payload
                .iter()
                .copied()
                .chain([0; 8])
                .take(8)
                .collect::<Vec<_>>()
                .try_into()
                .unwrap(),
        ),
        subject: subject.to_owned(),
        payload: Bytes::copy_from_slice(payload),
        traceparent: (!traceparent.is_empty()).then(|| traceparent.to_owned()),
        stored_at: None,
    };
    let encoded = EncodedEvent::new(Epoch(0x0a1b_2c3d), &event, valid);
    assert!(!encoded.ws.is_empty() && !encoded.sse.is_empty());
});
