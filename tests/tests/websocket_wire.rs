//! The edge's WebSocket wire, byte by byte over a raw TCP socket: the handshake and its
//! refusals, fragmented client messages, ping/pong, the closing handshake, and a client that
//! breaks the protocol being closed with the right code while others keep being served.

use std::time::Duration;

use adic_tests::clients::WsClient;
use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use adic_tests::stream::TestStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

/// A masked client frame.
fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x1f, 0x2e, 0x3d, 0x4c];
    let mut frame = vec![(u8::from(fin) << 7) | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    async fn request(edge: &TestEdge, head: &str) -> (Raw, String) {
        let mut stream = TcpStream::connect(edge.addr()).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut raw = Raw {
            stream,
            buf: Vec::new(),
        };
        let response = tokio::time::timeout(WAIT, raw.head()).await.unwrap();
        (raw, response)
    }

    async fn upgrade(edge: &TestEdge) -> Raw {
        let (raw, response) = Raw::request(
            edge,
            "GET /v1/ws/events HTTP/1.1\r\nHost: edge\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await;
        assert!(response.starts_with("HTTP/1.1 101"), "{response}");
        assert!(
            response.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "the RFC's accept key: {response}"
        );
        raw
    }

    /// The response head (and, for a refusal, whatever body came with it).
    async fn head(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end + 4]).into_owned();
                self.buf.drain(..end + 4);
                if head.starts_with("HTTP/1.1 101") {
                    return head;
                }
                // A refusal: read its body too.
                let _ = tokio::time::timeout(Duration::from_millis(300), async {
                    let mut chunk = [0u8; 1024];
                    while let Ok(n) = self.stream.read(&mut chunk).await {
                        if n == 0 {
                            break;
                        }
                        self.buf.extend_from_slice(&chunk[..n]);
                    }
                })
                .await;
                return head + &String::from_utf8_lossy(&self.buf);
            }
            let mut chunk = [0u8; 1024];
            let n = self.stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed before a response");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next server frame: (opcode, payload). Server frames are unmasked and final.
    async fn frame(&mut self) -> (u8, Vec<u8>) {
        tokio::time::timeout(WAIT, async {
            loop {
                if self.buf.len() >= 2 {
                    assert_eq!(self.buf[0] & 0x80, 0x80, "server frames are final");
                    assert_eq!(self.buf[1] & 0x80, 0, "server frames are unmasked");
                    let (len, header) = match self.buf[1] {
                        126 if self.buf.len() >= 4 => (
                            usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])),
                            4,
                        ),
                        126 => (usize::MAX, 0),
                        127 => panic!("no frame this large expected"),
                        n => (usize::from(n), 2),
                    };
                    if len != usize::MAX && self.buf.len() >= header + len {
                        let opcode = self.buf[0] & 0x0f;
                        let payload = self.buf[header..header + len].to_vec();
                        self.buf.drain(..header + len);
                        return (opcode, payload);
                    }
                }
                let mut chunk = [0u8; 4096];
                let n = self.stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "connection closed");
                self.buf.extend_from_slice(&chunk[..n]);
            }
        })
        .await
        .expect("a frame")
    }

    /// The next text frame's JSON, skipping others.
    async fn json(&mut self) -> serde_json::Value {
        loop {
            let (opcode, payload) = self.frame().await;
            if opcode == 1 {
                return serde_json::from_slice(&payload).unwrap();
            }
        }
    }

    async fn closed_with(&mut self) -> u16 {
        loop {
            let (opcode, payload) = self.frame().await;
            if opcode == 8 {
                return u16::from_be_bytes([payload[0], payload[1]]);
            }
        }
    }
}

#[tokio::test]
async fn the_handshake_is_checked_and_explained() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let (_, plain) = Raw::request(
        &edge,
        "GET /v1/ws/events HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(plain.starts_with("HTTP/1.1 400"), "{plain}");
    assert!(
        plain.contains("/v1/sse/events"),
        "names the alternatives: {plain}"
    );
    let (_, old) = Raw::request(
        &edge,
        "GET /v1/ws/events HTTP/1.1\r\nHost: edge\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await;
    assert!(old.starts_with("HTTP/1.1 426"), "{old}");
    assert!(
        old.to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{old}"
    );
    let (_, keyless) = Raw::request(
        &edge,
        "GET /v1/ws/events HTTP/1.1\r\nHost: edge\r\nConnection: keep-alive, Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await;
    assert!(keyless.starts_with("HTTP/1.1 400"), "{keyless}");
    assert!(keyless.contains("Sec-WebSocket-Key"), "{keyless}");
}

#[tokio::test]
async fn fragments_pings_and_the_closing_handshake() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let mut raw = Raw::upgrade(&edge).await;
    // A Ping message split over three frames, with a control frame in the middle.
    raw.send(&client_frame(false, 1, br#"{"ty"#)).await;
    raw.send(&client_frame(false, 0, br#"pe":"#)).await;
    raw.send(&client_frame(true, 9, b"are you there")).await;
    raw.send(&client_frame(true, 0, br#""Ping"}"#)).await;
    let (opcode, payload) = raw.frame().await;
    assert_eq!(
        (opcode, payload.as_slice()),
        (10, &b"are you there"[..]),
        "pong echoes the ping"
    );
    assert_eq!(raw.json().await["type"], "Pong");
    // A binary message gets an error and the connection stays.
    raw.send(&client_frame(true, 2, b"\x00\x01")).await;
    assert_eq!(raw.json().await["type"], "Error");
    raw.send(&client_frame(true, 1, br#"{"type":"Ping"}"#))
        .await;
    assert_eq!(raw.json().await["type"], "Pong");
    raw.send(&client_frame(true, 8, &1000u16.to_be_bytes()))
        .await;
    assert_eq!(raw.closed_with().await, 1000, "the close is answered");
}

#[tokio::test]
async fn a_client_that_breaks_the_protocol_is_closed_and_nobody_else_notices() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let mut bystander = WsClient::connect(&edge.ws("")).await.unwrap();

    let mut unmasked = Raw::upgrade(&edge).await;
    unmasked.send(b"\x81\x02hi").await;
    assert_eq!(unmasked.closed_with().await, 1002);

    let mut bad_utf8 = Raw::upgrade(&edge).await;
    bad_utf8.send(&client_frame(true, 1, &[0xc3, 0x28])).await;
    assert_eq!(bad_utf8.closed_with().await, 1007);

    let mut reserved = Raw::upgrade(&edge).await;
    let mut frame = client_frame(true, 1, b"{}");
    frame[0] |= 0x40;
    reserved.send(&frame).await;
    assert_eq!(reserved.closed_with().await, 1002);

    stream.numbered(1..=5).await;
    for n in 1..=5u64 {
        let (id, _) = tokio::time::timeout(WAIT, bystander.next_event())
            .await
            .unwrap()
            .unwrap();
        assert!(id.ends_with(&format!("-{n}")), "{id}");
    }
    assert!(edge
        .metrics()
        .await
        .contains("adic_edge_client_errors_total{transport=\"websocket\"} 3"));
}
