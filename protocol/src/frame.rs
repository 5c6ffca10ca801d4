//! WebSocket frames as a server writes them (RFC 6455): complete, final and unmasked, so one
//! event's frame is built once and the same bytes go to every client. Plain byte builders, no
//! runtime; reading client frames belongs to the edge's WebSocket transport.

use bytes::Bytes;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// A complete, final, unmasked server frame.
pub fn server_frame(opcode: u8, payload: &[u8]) -> Bytes {
    let mut frame = Vec::with_capacity(payload.len() + 10);
    frame.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => frame.push(n as u8),
        n if n <= usize::from(u16::MAX) => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    Bytes::from(frame)
}

/// A text frame.
pub fn text_frame(text: &str) -> Bytes {
    server_frame(OP_TEXT, text.as_bytes())
}

/// A close frame with a code and a reason (cut to fit the 125-byte control-frame limit at a
/// character boundary).
pub fn close_frame(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    server_frame(OP_CLOSE, &payload)
}
