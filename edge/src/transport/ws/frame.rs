//! The WebSocket wire (RFC 6455) as the edge speaks it: the handshake's accept key, server
//! frames (unmasked, so one event's frame is built once and the same bytes go to every client),
//! and a reader of client frames that enforces the rules a server must (masking, control-frame
//! limits, fragmentation, UTF-8 text, a message size limit).
//!
//! Why not a general WebSocket library: the edge writes the same event to thousands of
//! connections, and a library frames each message per connection (a header and a copy of the
//! payload into its buffer, per client). Here the frame is part of the encoded event, and a
//! client's batch goes to the socket as is.

use base64::Engine as _;
use bytes::{Buf, Bytes, BytesMut};
use sha1::{Digest, Sha1};

const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(ACCEPT_GUID);
    base64::engine::general_purpose::STANDARD.encode(sha1.finalize())
}

// Server frames are plain bytes, built in the contract crate so the core (`encoded`) can build
// each event's frame without depending on a transport.
pub use adic_protocol::frame::{
    close_frame, server_frame, text_frame, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG,
    OP_TEXT,
};

/// What a client sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    Text(String),
    Binary,
    Ping(Bytes),
    Pong,
    /// The client closes, with its code if it gave one.
    Close(Option<u16>),
}

/// Why the connection must close; each maps to a close code.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("{0}")]
    Protocol(&'static str),
    #[error("message larger than {0} bytes")]
    TooLarge(usize),
    #[error("text message is not valid UTF-8")]
    InvalidUtf8,
}

impl FrameError {
    /// The close code RFC 6455 gives this error.
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::Protocol(_) => 1002,
            FrameError::TooLarge(_) => 1009,
            FrameError::InvalidUtf8 => 1007,
        }
    }
}

/// Reassembles client messages from the bytes read so far. Holds no more than one frame header
/// and the message being assembled, bounded by `max_message`.
pub struct Reader {
    max_message: usize,
    /// Opcode and payload of a fragmented message in progress.
    partial: Option<(u8, Vec<u8>)>,
}

impl Reader {
    pub fn new(max_message: usize) -> Reader {
        Reader {
            max_message,
            partial: None,
        }
    }

    /// Takes the next complete message out of `buf`, consuming its bytes; `Ok(None)` when `buf`
    /// does not hold a whole frame yet (read more and call again). A frame whose header
    /// announces more than the limit is refused before its payload arrives.
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Inbound>, FrameError> {
        loop {
            let Some(frame) = self.frame(buf)? else {
                return Ok(None);
            };
            if let Some(message) = self.message(frame)? {
                return Ok(Some(message));
            }
        }
    }

    /// The next whole frame: (fin, opcode, unmasked payload).
    fn frame(&self, buf: &mut BytesMut) -> Result<Option<(bool, u8, Vec<u8>)>, FrameError> {
        if buf.len() < 2 {
            return Ok(None);
        }
        let (b0, b1) = (buf[0], buf[1]);
        let fin = b0 & 0x80 != 0;
        if b0 & 0x70 != 0 {
            return Err(FrameError::Protocol(
                "reserved bits set without an extension",
            ));
        }
        let opcode = b0 & 0x0F;
        if b1 & 0x80 == 0 {
            return Err(FrameError::Protocol("client frames must be masked"));
        }
        let (len, header) = match b1 & 0x7F {
            126 => {
                if buf.len() < 4 {
                    return Ok(None);
                }
                (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4)
            }
            127 => {
                if buf.len() < 10 {
                    return Ok(None);
                }
                let mut n = [0u8; 8];
                n.copy_from_slice(&buf[2..10]);
                (u64::from_be_bytes(n), 10)
            }
            n => (u64::from(n), 2),
        };
        let is_control = opcode & 0x08 != 0;
        if is_control && (!fin || len > 125) {
            return Err(FrameError::Protocol(
                "control frames must be final and at most 125 bytes",
            ));
        }
        let held = self.partial.as_ref().map_or(0, |(_, p)| p.len() as u64);
        // Saturating: a continuation's 64-bit length can be anything (up to `u64::MAX`).
        if !is_control && held.saturating_add(len) > self.max_message as u64 {
            return Err(FrameError::TooLarge(self.max_message));
        }
        let len = len as usize;
        let total = header + 4 + len;
        if buf.len() < total {
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        let mut mask = [0u8; 4];
        mask.copy_from_slice(&buf[header..header + 4]);
        buf.advance(header + 4);
        let mut payload = buf.split_to(len).to_vec();
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
        Ok(Some((fin, opcode, payload)))
    }

    /// Applies one frame; a message when it completes one.
    fn message(
        &mut self,
        (fin, opcode, payload): (bool, u8, Vec<u8>),
    ) -> Result<Option<Inbound>, FrameError> {
        match opcode {
            OP_PING => Ok(Some(Inbound::Ping(Bytes::from(payload)))),
            OP_PONG => Ok(Some(Inbound::Pong)),
            OP_CLOSE => {
                if payload.len() == 1 {
                    return Err(FrameError::Protocol("close frame with a one-byte payload"));
                }
                let code =
                    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                if payload.len() > 2 && std::str::from_utf8(&payload[2..]).is_err() {
                    return Err(FrameError::InvalidUtf8);
                }
                Ok(Some(Inbound::Close(code)))
            }
            OP_TEXT | OP_BINARY => {
                if self.partial.is_some() {
                    return Err(FrameError::Protocol(
                        "a new message started before the fragmented one ended",
                    ));
                }
                if fin {
                    return finish(opcode, payload).map(Some);
                }
                self.partial = Some((opcode, payload));
                Ok(None)
            }
            OP_CONTINUATION => {
                let Some((_, held)) = self.partial.as_mut() else {
                    return Err(FrameError::Protocol("continuation frame without a message"));
                };
                held.extend_from_slice(&payload);
                if !fin {
                    return Ok(None);
                }
                let (opcode, payload) = self.partial.take().expect("a message in progress");
                finish(opcode, payload).map(Some)
            }
            _ => Err(FrameError::Protocol("unknown opcode")),
        }
    }
}

fn finish(opcode: u8, payload: Vec<u8>) -> Result<Inbound, FrameError> {
    if opcode == OP_BINARY {
        return Ok(Inbound::Binary);
    }
    String::from_utf8(payload)
        .map(Inbound::Text)
        .map_err(|_| FrameError::InvalidUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame, masked with a fixed key.
    fn client(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        masked(fin, opcode, [0x37, 0xfa, 0x21, 0x3d], payload)
    }

    /// A client frame masked with `mask` (the property tests pick the mask).
    pub(super) fn masked(fin: bool, opcode: u8, mask: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![(u8::from(fin) << 7) | opcode];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n < 65_536 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        frame
    }

    fn read_all(reader: &mut Reader, bytes: &[u8]) -> Vec<Result<Inbound, FrameError>> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        loop {
            match reader.next(&mut buf) {
                Ok(Some(m)) => out.push(Ok(m)),
                Ok(None) => return out,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }

    #[test]
    fn accept_key_of_the_rfc_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn server_frames_carry_their_length() {
        assert_eq!(&text_frame("hi")[..], b"\x81\x02hi");
        let medium = text_frame(&"x".repeat(300));
        assert_eq!(&medium[..4], &[0x81, 126, 0x01, 0x2c]);
        assert_eq!(medium.len(), 304);
        let large = server_frame(OP_TEXT, &vec![b'x'; 70_000]);
        assert_eq!(&large[..2], &[0x81, 127]);
        assert_eq!(u64::from_be_bytes(large[2..10].try_into().unwrap()), 70_000);
        let close = close_frame(4001, &"é".repeat(100));
        assert_eq!(close[0], 0x88);
        assert!(usize::from(close[1]) <= 125);
        assert!(
            std::str::from_utf8(&close[4..]).is_ok(),
            "cut at a character boundary"
        );
    }

    #[test]
    fn messages_arrive_whole_however_the_bytes_are_split() {
        let mut bytes = client(true, OP_TEXT, br#"{"type":"Ping"}"#);
        bytes.extend(client(false, OP_TEXT, b"frag"));
        bytes.extend(client(true, OP_PING, b"p"));
        bytes.extend(client(true, OP_CONTINUATION, "mented é".as_bytes()));
        bytes.extend(client(true, OP_TEXT, "y".repeat(300).as_bytes()));
        let expected = vec![
            Inbound::Text(r#"{"type":"Ping"}"#.into()),
            Inbound::Ping(Bytes::from_static(b"p")),
            Inbound::Text("fragmented é".into()),
            Inbound::Text("y".repeat(300)),
        ];
        for step in [1, 2, 3, 7, bytes.len()] {
            let mut reader = Reader::new(1024);
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for chunk in bytes.chunks(step) {
                buf.extend_from_slice(chunk);
                while let Some(m) = reader.next(&mut buf).unwrap() {
                    got.push(m);
                }
            }
            assert_eq!(got, expected, "split every {step} bytes");
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn broken_frames_are_refused_with_their_close_code() {
        let unmasked = b"\x81\x02hi";
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (unmasked.to_vec(), 1002),
            (client(true, 0x3, b""), 1002),
            (client(true, OP_CONTINUATION, b"x"), 1002),
            (client(false, OP_PING, b""), 1002),
            (client(true, OP_PING, &[0; 126]), 1002),
            (client(true, OP_TEXT, &[0xff, 0xfe]), 1007),
            (client(true, OP_TEXT, &[b'x'; 2000]), 1009),
            (
                [
                    client(false, OP_TEXT, &[b'x'; 600]),
                    client(true, OP_CONTINUATION, &[b'x'; 600]),
                ]
                .concat(),
                1009,
            ),
            (
                [client(false, OP_TEXT, b"a"), client(true, OP_TEXT, b"b")].concat(),
                1002,
            ),
            (
                {
                    let mut f = client(true, OP_TEXT, b"x");
                    f[0] |= 0x40;
                    f
                },
                1002,
            ),
        ];
        for (bytes, code) in cases {
            let got = read_all(&mut Reader::new(1024), &bytes);
            match got.last() {
                Some(Err(e)) => assert_eq!(e.close_code(), code, "{e} for {bytes:02x?}"),
                other => panic!("{bytes:02x?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn a_too_large_frame_is_refused_from_its_header() {
        // Only the header of a 1 MiB frame has arrived.
        let header = &client(true, OP_TEXT, &vec![b'x'; 1 << 20])[..14];
        let got = read_all(&mut Reader::new(1024), header);
        assert_eq!(got, vec![Err(FrameError::TooLarge(1024))]);
    }

    #[test]
    fn a_continuation_announcing_the_largest_length_is_too_large() {
        // Found by fuzzing (fuzz/regressions/ws_frames): with a fragment held, a continuation
        // header of length u64::MAX overflowed the size check (a panic in debug builds; in
        // release the wrapped sum passed it and the read panicked on the length).
        let mut bytes = client(false, OP_TEXT, b"a");
        bytes.extend_from_slice(&[0x80 | OP_CONTINUATION, 0x80 | 127]);
        bytes.extend_from_slice(&u64::MAX.to_be_bytes());
        bytes.extend_from_slice(&[0; 8]);
        let got = read_all(&mut Reader::new(1024), &bytes);
        assert_eq!(got, vec![Err(FrameError::TooLarge(1024))]);
        // Lengths just past what `usize` arithmetic on the header would hold.
        for len in [u64::MAX - 3, u64::MAX - 14, 1 << 63] {
            let mut bytes = client(false, OP_TEXT, b"abc");
            bytes.extend_from_slice(&[0x80 | OP_CONTINUATION, 0x80 | 127]);
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(&[0; 20]);
            let got = read_all(&mut Reader::new(1024), &bytes);
            assert_eq!(got, vec![Err(FrameError::TooLarge(1024))], "length {len}");
        }
    }

    #[test]
    fn close_binary_and_pong() {
        let mut bytes = client(true, OP_BINARY, b"\x00\x01");
        bytes.extend(client(true, OP_PONG, b""));
        bytes.extend(client(true, OP_CLOSE, &1000u16.to_be_bytes()));
        bytes.extend(client(true, OP_CLOSE, b""));
        let got: Vec<_> = read_all(&mut Reader::new(1024), &bytes)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            got,
            vec![
                Inbound::Binary,
                Inbound::Pong,
                Inbound::Close(Some(1000)),
                Inbound::Close(None)
            ]
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    use super::tests::masked as client;

    proptest! {
        #[test]
        fn arbitrary_bytes_give_messages_or_an_error_never_a_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..512),
            step in 1usize..64,
            max in prop::sample::select(vec![1usize, 125, 1024]),
        ) {
            let mut reader = Reader::new(max);
            let mut buf = BytesMut::new();
            'feed: for chunk in bytes.chunks(step) {
                buf.extend_from_slice(chunk);
                loop {
                    match reader.next(&mut buf) {
                        Ok(None) => break,
                        Ok(Some(Inbound::Text(t))) => prop_assert!(t.len() <= max),
                        Ok(Some(_)) => {}
                        Err(e) => {
                            prop_assert!(!e.to_string().is_empty());
                            prop_assert!(matches!(e.close_code(), 1002 | 1007 | 1009));
                            break 'feed;
                        }
                    }
                }
            }
        }

        #[test]
        fn any_header_with_any_length_is_handled(b0: u8, len: u64, held in 0usize..3, tail in prop::collection::vec(any::<u8>(), 0..32)) {
            let mut bytes = Vec::new();
            if held > 0 {
                bytes.extend(client(false, OP_TEXT, [1, 2, 3, 4], &vec![b'x'; held]));
            }
            bytes.extend_from_slice(&[b0, 0x80 | 127]);
            bytes.extend_from_slice(&len.to_be_bytes());
            bytes.extend_from_slice(&tail);
            let mut reader = Reader::new(1024);
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = reader.next(&mut buf) {}
        }

        #[test]
        fn text_messages_arrive_whole_in_fragments_and_pieces(
            messages in prop::collection::vec((any::<String>(), 1usize..4, any::<[u8; 4]>()), 1..6),
            step in 1usize..40,
        ) {
            let mut bytes = Vec::new();
            for (text, parts, mask) in &messages {
                let raw = text.as_bytes();
                let size = raw.len().div_ceil(*parts).max(1);
                let chunks: Vec<&[u8]> = if raw.is_empty() { vec![raw] } else { raw.chunks(size).collect() };
                for (i, chunk) in chunks.iter().enumerate() {
                    let opcode = if i == 0 { OP_TEXT } else { OP_CONTINUATION };
                    bytes.extend(client(i + 1 == chunks.len(), opcode, *mask, chunk));
                    // A control frame may come between fragments.
                    if i == 0 && chunks.len() > 1 {
                        bytes.extend(client(true, OP_PING, *mask, b"p"));
                    }
                }
            }
            let mut reader = Reader::new(1 << 20);
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for chunk in bytes.chunks(step) {
                buf.extend_from_slice(chunk);
                while let Some(m) = reader.next(&mut buf).unwrap() {
                    if let Inbound::Text(t) = m {
                        got.push(t);
                    }
                }
            }
            let want: Vec<String> = messages.into_iter().map(|(t, _, _)| t).collect();
            prop_assert_eq!(got, want);
            prop_assert!(buf.is_empty());
        }
    }
}
