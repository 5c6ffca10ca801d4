//! Hostile WebSocket clients on raw sockets, beyond what `websocket_wire.rs` covers (one
//! unmasked text frame, one invalid UTF-8 frame, RSV1): invalid UTF-8 across fragments and in a
//! close reason, oversized and fragmented control frames, reserved opcodes and RSV2/RSV3,
//! continuation abuse, frames announcing huge lengths, and a ping flood. Each is closed with the
//! RFC 6455 (or rate-limit) code, and a well-behaved client on the same edge receives every
//! event published meanwhile, in order. Floods of connections are in
//! `edge/tests/hostile_floods.rs` (they measure a real edge process); cursors in
//! `hostile_cursors.rs`.

use std::time::Duration;

use adic_edge::config::EdgeSettings;
use adic_tests::clients::WsClient;
use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use adic_tests::stream::{depth, TestStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

/// A masked client frame with a real payload.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = header(fin, opcode, payload.len() as u64);
    let mask = [0x5a, 0x17, 0xc3, 0x08];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A masked frame header announcing `len` bytes (the mask key not included).
fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    match len {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= u64::from(u16::MAX) => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
    out
}

/// An upgraded raw WebSocket connection.
struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    async fn upgrade(edge: &TestEdge) -> Raw {
        let mut stream = TcpStream::connect(edge.addr()).await.unwrap();
        stream
            .write_all(
                b"GET /v1/ws/events HTTP/1.1\r\nHost: edge\r\nConnection: Upgrade\r\n\
                  Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
            )
            .await
            .unwrap();
        let mut raw = Raw {
            stream,
            buf: Vec::new(),
        };
        tokio::time::timeout(WAIT, async {
            while !raw.buf.windows(4).any(|w| w == b"\r\n\r\n") {
                raw.fill().await;
            }
        })
        .await
        .expect("an upgrade response");
        let end = raw.buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(raw.buf.starts_with(b"HTTP/1.1 101"));
        raw.buf.drain(..end);
        raw
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed without a close frame");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next server frame (opcode, payload); server frames are short here.
    async fn frame(&mut self) -> (u8, Vec<u8>) {
        tokio::time::timeout(WAIT, async {
            loop {
                if self.buf.len() >= 2 {
                    let (len, at) = match self.buf[1] & 0x7f {
                        126 if self.buf.len() >= 4 => (
                            usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])),
                            4,
                        ),
                        126 => (usize::MAX, 0),
                        n => (usize::from(n), 2),
                    };
                    if len != usize::MAX && self.buf.len() >= at + len {
                        let opcode = self.buf[0] & 0x0f;
                        let payload = self.buf[at..at + len].to_vec();
                        self.buf.drain(..at + len);
                        return (opcode, payload);
                    }
                }
                self.fill().await;
            }
        })
        .await
        .expect("a server frame")
    }

    /// The close frame's code and reason, skipping what came before it.
    async fn closed_with(&mut self) -> (u16, String) {
        for _ in 0..1000 {
            let (opcode, payload) = self.frame().await;
            if opcode == 8 {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                return (code, String::from_utf8(payload[2..].to_vec()).unwrap());
            }
        }
        panic!("no close frame");
    }

    /// The connection ends after the close frame.
    async fn ends(&mut self) {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(WAIT, self.stream.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "still open after the close frame");
    }
}

/// Events numbered `want` arrive on `ws` exactly and in order.
async fn receives(ws: &mut WsClient, want: std::ops::RangeInclusive<u64>) {
    for n in want {
        let (_, event) = ws.next_event().await.unwrap();
        assert_eq!(depth(&event), n);
    }
}

#[tokio::test]
async fn broken_frames_are_closed_with_their_rfc_code_while_a_good_client_gets_every_event() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let mut good = WsClient::connect(&edge.ws("")).await.unwrap();

    let fragments = |parts: &[(bool, u8, &[u8])]| {
        parts
            .iter()
            .flat_map(|(fin, op, p)| frame(*fin, *op, p))
            .collect::<Vec<u8>>()
    };
    let mut rsv2 = frame(true, 1, b"{}");
    rsv2[0] |= 0x20;
    let mut rsv3_ping = frame(true, 9, b"");
    rsv3_ping[0] |= 0x10;
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "invalid UTF-8 in the second fragment",
            fragments(&[(false, 1, b"{\"type\":"), (true, 0, &[0xed, 0xa0, 0x80])]),
            1007,
            "UTF-8",
        ),
        (
            "a close reason that is not UTF-8",
            frame(true, 8, &[0x03, 0xe8, 0xff, 0xfe]),
            1007,
            "UTF-8",
        ),
        (
            "a ping of 126 bytes",
            frame(true, 9, &[b'p'; 126]),
            1002,
            "125 bytes",
        ),
        ("a fragmented ping", frame(false, 9, b"half"), 1002, "final"),
        (
            "a close of 200 bytes",
            frame(true, 8, &[b'c'; 200]),
            1002,
            "125 bytes",
        ),
        (
            "a one-byte close",
            frame(true, 8, &[0x03]),
            1002,
            "one-byte",
        ),
        (
            "reserved data opcode 0x3",
            frame(true, 3, b"x"),
            1002,
            "opcode",
        ),
        (
            "reserved control opcode 0xB",
            frame(true, 0xb, b"x"),
            1002,
            "opcode",
        ),
        ("RSV2 set", rsv2, 1002, "reserved bits"),
        ("RSV3 on a ping", rsv3_ping, 1002, "reserved bits"),
        (
            "a continuation with no message",
            frame(true, 0, b"orphan"),
            1002,
            "continuation",
        ),
        (
            "a new message inside a fragmented one",
            fragments(&[(false, 1, b"{"), (true, 1, b"{}")]),
            1002,
            "fragmented",
        ),
        ("an unmasked ping", vec![0x89, 0x00], 1002, "masked"),
    ];
    let mut n = 0;
    for (what, bytes, code, needle) in cases {
        let mut raw = Raw::upgrade(&edge).await;
        raw.send(&bytes).await;
        let (got, reason) = raw.closed_with().await;
        assert_eq!(got, code, "{what}: {reason}");
        assert!(reason.contains(needle), "{what}: {reason}");
        raw.ends().await;
        // Publishing while the abuse goes on: one event per hostile client.
        n += 1;
        stream.numbered(n..=n).await;
    }
    // A character split across two fragments is valid UTF-8: answered, not refused.
    let mut split = Raw::upgrade(&edge).await;
    let text = "{\"type\":\"Ping\",\"note\":\"é\"}".as_bytes();
    let cut = text.iter().position(|&b| b == 0xc3).unwrap() + 1;
    split.send(&frame(false, 1, &text[..cut])).await;
    split.send(&frame(true, 0, &text[cut..])).await;
    let (opcode, payload) = split.frame().await;
    assert_eq!(opcode, 1);
    assert!(String::from_utf8_lossy(&payload).contains("Pong"));

    receives(&mut good, 1..=n).await;
    let metrics = edge.metrics().await;
    assert!(
        metrics.contains(&format!(
            "adic_edge_client_errors_total{{transport=\"websocket\"}} {n}"
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn frames_announcing_huge_lengths_are_refused_before_their_payload() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start_with(
        &nats,
        EdgeSettings {
            max_client_message: 1024,
            ..EdgeSettings::default()
        },
    )
    .await
    .unwrap();
    let stream = TestStream::new(&nats).await;
    let mut good = WsClient::connect(&edge.ws("")).await.unwrap();
    let mut fragmented = frame(false, 1, &[b' '; 1000]);
    fragmented.extend(header(true, 0, u64::MAX));
    for (what, bytes) in [
        ("u64::MAX bytes", header(true, 1, u64::MAX)),
        ("1 GiB", header(true, 1, 1 << 30)),
        ("2^63 bytes of binary", header(true, 2, 1 << 63)),
        ("just over the limit", header(true, 1, 1025)),
        ("a continuation that overflows the message", fragmented),
    ] {
        // Only the header (and no mask, no payload): the refusal cannot wait for, or make
        // room for, the bytes announced.
        let mut raw = Raw::upgrade(&edge).await;
        raw.send(&bytes).await;
        let (code, reason) = raw.closed_with().await;
        assert_eq!(code, 1009, "{what}: {reason}");
        assert!(reason.contains("at most 1024 bytes"), "{what}: {reason}");
        raw.ends().await;
    }
    stream.numbered(1..=3).await;
    receives(&mut good, 1..=3).await;
}

#[tokio::test]
async fn a_ping_flood_is_answered_within_the_message_budget_then_closed_with_4429() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start_with(
        &nats,
        EdgeSettings {
            client_messages_per_second: 10,
            ..EdgeSettings::default()
        },
    )
    .await
    .unwrap();
    let stream = TestStream::new(&nats).await;
    let mut good = WsClient::connect(&edge.ws("")).await.unwrap();
    stream.numbered(1..=2).await;
    receives(&mut good, 1..=2).await;

    // Control-frame pings count against the same budget as messages (10 a second, bursts of
    // 20): the first ones are each answered with a pong echoing its payload, in order, then
    // the flood is closed with 4429 and the cursor.
    let mut raw = Raw::upgrade(&edge).await;
    let flood: Vec<u8> = (0..500u32)
        .flat_map(|i| frame(true, 9, &i.to_be_bytes()))
        .collect();
    raw.send(&flood).await;
    stream.numbered(3..=4).await;
    let mut pongs = 0u32;
    let (code, reason) = loop {
        let (opcode, payload) = raw.frame().await;
        match opcode {
            10 => {
                assert_eq!(payload, pongs.to_be_bytes(), "pongs echo pings in order");
                pongs += 1;
            }
            8 => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                break (code, String::from_utf8(payload[2..].to_vec()).unwrap());
            }
            _ => {}
        }
    };
    assert_eq!(code, 4429, "{reason}");
    assert!(reason.contains("at most 10 per second"), "{reason}");
    assert!(reason.contains("resume="), "{reason}");
    assert!(
        (20..=30).contains(&pongs),
        "{pongs} pongs: a burst of 20, plus what the budget earned while they arrived"
    );
    raw.ends().await;
    receives(&mut good, 3..=4).await;
}
