//! The client side of the NATS text protocol, as the `nats-ws` transport reads it from
//! nats-server's WebSocket listener.
//!
//! nats-server writes protocol bytes into WebSocket messages with no alignment to operations:
//! one message may hold many `MSG`s and one `MSG` may span several messages. [`Parser`] therefore
//! takes bytes as they come ([`Parser::push`]) and yields whole operations ([`Parser::next_op`]).
//! Only what a subscriber receives is understood: `INFO`, `MSG`, `HMSG`, `PING`, `PONG`, `+OK`
//! and `-ERR`.

use bytes::{Buf, Bytes, BytesMut};

/// Longest control line accepted (an `INFO` line is a few hundred bytes).
const MAX_LINE: usize = 16 * 1024;

/// One operation from the server.
#[derive(Debug, PartialEq, Eq)]
pub enum Op {
    Info,
    Ping,
    Pong,
    Ok,
    Err(String),
    /// A message on a subscription; `payload` excludes headers (of an `HMSG`).
    Msg {
        sid: u64,
        payload: Bytes,
    },
}

/// Why the server's bytes are not the NATS protocol.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("control line longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("unknown operation {0:?}")]
    Unknown(String),
    #[error("malformed {op} line {line:?}")]
    Malformed { op: &'static str, line: String },
    #[error("message payload not followed by CRLF")]
    NoTrailingCrlf,
}

/// Incremental parser: bytes in, operations out.
#[derive(Debug, Default)]
pub struct Parser {
    buf: BytesMut,
}

/// What a `MSG`/`HMSG` line announced: the bytes that follow it.
struct Announced {
    sid: u64,
    header_len: usize,
    total_len: usize,
}

impl Parser {
    /// Appends bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete operation, or `None` until more bytes arrive.
    pub fn next_op(&mut self) -> Result<Option<Op>, WireError> {
        let Some(line_end) = find_crlf(&self.buf) else {
            if self.buf.len() > MAX_LINE {
                return Err(WireError::LineTooLong);
            }
            return Ok(None);
        };
        let line = &self.buf[..line_end];
        let op_len = line
            .iter()
            .position(|b| *b == b' ' || *b == b'\t')
            .unwrap_or(line.len());
        let op = &line[..op_len];
        let is = |name: &[u8]| op.eq_ignore_ascii_case(name);
        if is(b"MSG") || is(b"HMSG") {
            let announced = announced(line, is(b"HMSG"))?;
            let needed = line_end + 2 + announced.total_len + 2;
            if self.buf.len() < needed {
                self.buf.reserve(needed - self.buf.len());
                return Ok(None);
            }
            self.buf.advance(line_end + 2);
            let mut body = self.buf.split_to(announced.total_len);
            if &self.buf[..2] != b"\r\n" {
                return Err(WireError::NoTrailingCrlf);
            }
            self.buf.advance(2);
            body.advance(announced.header_len);
            return Ok(Some(Op::Msg {
                sid: announced.sid,
                payload: body.freeze(),
            }));
        }
        let parsed = if is(b"PING") {
            Op::Ping
        } else if is(b"PONG") {
            Op::Pong
        } else if is(b"+OK") {
            Op::Ok
        } else if is(b"INFO") {
            Op::Info
        } else if is(b"-ERR") {
            Op::Err(String::from_utf8_lossy(&line[op_len..]).trim().to_owned())
        } else {
            return Err(WireError::Unknown(
                String::from_utf8_lossy(&line[..line.len().min(64)]).into_owned(),
            ));
        };
        self.buf.advance(line_end + 2);
        Ok(Some(parsed))
    }
}

fn find_crlf(bytes: &[u8]) -> Option<usize> {
    bytes.windows(2).position(|w| w == b"\r\n")
}

/// `MSG <subject> <sid> [reply-to] <#bytes>` or
/// `HMSG <subject> <sid> [reply-to] <#header bytes> <#total bytes>`.
fn announced(line: &[u8], headers: bool) -> Result<Announced, WireError> {
    let op = if headers { "HMSG" } else { "MSG" };
    let malformed = || WireError::Malformed {
        op,
        line: String::from_utf8_lossy(line).into_owned(),
    };
    let text = std::str::from_utf8(line).map_err(|_| malformed())?;
    let args: Vec<&str> = text.split_ascii_whitespace().skip(1).collect();
    let number = |s: &str| s.parse::<usize>().map_err(|_| malformed());
    // subject, sid, optional reply-to, then one size (MSG) or two (HMSG).
    let sizes = if headers { 2 } else { 1 };
    if args.len() != 2 + sizes && args.len() != 3 + sizes {
        return Err(malformed());
    }
    let sid = args[1].parse::<u64>().map_err(|_| malformed())?;
    let total_len = number(args[args.len() - 1])?;
    let header_len = if headers {
        number(args[args.len() - 2])?
    } else {
        0
    };
    if header_len > total_len {
        return Err(malformed());
    }
    Ok(Announced {
        sid,
        header_len,
        total_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(parser: &mut Parser) -> Vec<Op> {
        let mut ops = Vec::new();
        while let Some(op) = parser.next_op().unwrap() {
            ops.push(op);
        }
        ops
    }

    fn msg(payload: &[u8]) -> Op {
        Op::Msg {
            sid: 1,
            payload: Bytes::copy_from_slice(payload),
        }
    }

    #[test]
    fn reads_control_lines() {
        let mut p = Parser::default();
        p.push(b"INFO {\"server_id\":\"x\",\"max_payload\":1048576}\r\nPING\r\nPONG\r\n+OK\r\n-ERR 'Unknown Protocol Operation'\r\n");
        assert_eq!(
            all(&mut p),
            vec![
                Op::Info,
                Op::Ping,
                Op::Pong,
                Op::Ok,
                Op::Err("'Unknown Protocol Operation'".into())
            ]
        );
    }

    #[test]
    fn reads_messages_of_every_size() {
        for size in [0usize, 1, 2, 125, 126, 4095, 4096, 65_535, 65_536, 200_000] {
            // Payloads may contain CRLF and protocol words: only the announced size counts.
            let payload: Vec<u8> = b"MSG x 1 2\r\nPING\r\n"
                .iter()
                .copied()
                .cycle()
                .take(size)
                .collect();
            let mut wire = format!("MSG adic.ws.events 1 {size}\r\n").into_bytes();
            wire.extend_from_slice(&payload);
            wire.extend_from_slice(b"\r\nPING\r\n");
            let mut p = Parser::default();
            p.push(&wire);
            assert_eq!(all(&mut p), vec![msg(&payload), Op::Ping], "size {size}");
        }
    }

    #[test]
    fn reads_operations_split_anywhere() {
        let event =
            br#"{"type":"Event","id":"0a1b2c3d-42","event":{"type":"X","data":{"sent_ns":1}}}"#;
        let mut wire = b"INFO {}\r\nPING\r\n".to_vec();
        for reply in ["", " _INBOX.a"] {
            wire.extend_from_slice(format!("MSG s 1{reply} {}\r\n", event.len()).as_bytes());
            wire.extend_from_slice(event);
            wire.extend_from_slice(b"\r\n");
        }
        let expected = vec![Op::Info, Op::Ping, msg(event), msg(event)];
        for split in 0..=wire.len() {
            let mut p = Parser::default();
            p.push(&wire[..split]);
            let mut ops = all(&mut p);
            p.push(&wire[split..]);
            ops.extend(all(&mut p));
            assert_eq!(ops, expected, "split at {split}");
        }
        // One byte at a time.
        let mut p = Parser::default();
        let mut ops = Vec::new();
        for byte in &wire {
            p.push(std::slice::from_ref(byte));
            ops.extend(all(&mut p));
        }
        assert_eq!(ops, expected);
    }

    #[test]
    fn strips_headers_from_hmsg() {
        let headers = b"NATS/1.0\r\nNats-Msg-Id: 7\r\n\r\n";
        let payload = b"hello";
        let mut wire = format!(
            "HMSG s 9 reply {} {}\r\n",
            headers.len(),
            headers.len() + payload.len()
        )
        .into_bytes();
        wire.extend_from_slice(headers);
        wire.extend_from_slice(payload);
        wire.extend_from_slice(b"\r\n");
        let mut p = Parser::default();
        p.push(&wire);
        assert_eq!(
            all(&mut p),
            vec![Op::Msg {
                sid: 9,
                payload: Bytes::from_static(b"hello")
            }]
        );
    }

    #[test]
    fn refuses_what_is_not_nats() {
        let mut p = Parser::default();
        p.push(b"HTTP/1.1 200 OK\r\n");
        assert!(matches!(p.next_op(), Err(WireError::Unknown(_))));

        let mut p = Parser::default();
        p.push(b"MSG s one 5\r\nhello\r\n");
        assert!(matches!(p.next_op(), Err(WireError::Malformed { .. })));

        let mut p = Parser::default();
        p.push(b"MSG s 1 3\r\nhello\r\n");
        assert_eq!(p.next_op(), Err(WireError::NoTrailingCrlf));

        let mut p = Parser::default();
        p.push(&vec![b'x'; MAX_LINE + 1]);
        assert_eq!(p.next_op(), Err(WireError::LineTooLong));
    }
}
