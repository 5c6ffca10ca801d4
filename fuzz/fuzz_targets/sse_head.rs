//! The first request head of a connection, as the edge's accept loop decides on it before
//! hyper sees it: an SSE request served on the socket, anything else handed to hyper, a
//! malformed head answered 400, one over the limit 431. Fed in pieces, as reads return it.
#![no_main]

use adic_edge::transport::sse::socket::{decide, Head};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, bytes)) = data.split_first() else {
        return;
    };
    let max_head = if control & 1 == 0 { 8 << 10 } else { 64 };
    let step = usize::from(control >> 1).max(1);
    let mut buf = Vec::new();
    for chunk in bytes.chunks(step) {
        buf.extend_from_slice(chunk);
        let len = buf.len();
        match decide(buf, max_head) {
            Err(more) => buf = more,
            Ok(Head::Other(read)) => {
                assert_eq!(read.len(), len, "bytes for hyper were lost");
                return;
            }
            Ok(Head::Malformed(message)) => {
                assert!(!message.is_empty());
                return;
            }
            Ok(Head::Sse(request)) => {
                assert_eq!(request.uri().path(), "/v1/sse/events");
                return;
            }
            Ok(Head::TooLarge) => {
                assert!(len >= max_head);
                return;
            }
            Ok(Head::Closed) => unreachable!("decided on bytes that were read"),
        }
    }
});
