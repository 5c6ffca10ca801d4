//! A WebSocket client on a raw TCP socket, for tests that must send what a well-behaved client
//! never would (bad frames, huge lengths, unmasked frames) and read the edge's frames byte by
//! byte: masked client frames, the upgrade, server frames, the close code.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Bound on every read the helpers wait for.
pub const WAIT: Duration = Duration::from_secs(10);

/// The upgrade request of RFC 6455's example (its accept key is `s3pPLMBiTxaQ9kYGzzhZRbK+xOo=`).
pub const UPGRADE: &str = "GET /v1/ws/events HTTP/1.1\r\nHost: edge\r\nConnection: Upgrade\r\n\
     Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// A masked client frame with a real payload.
#[must_use]
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = frame_header(fin, opcode, payload.len() as u64);
    let mask = [0x5a, 0x17, 0xc3, 0x08];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A masked frame header announcing `len` bytes (the mask key not included).
#[must_use]
pub fn frame_header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
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

/// A raw connection to an edge.
pub struct RawWs {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl RawWs {
    /// Sends `head` and returns the response head (with the body of a refusal).
    ///
    /// # Panics
    /// When the edge does not answer within [`WAIT`].
    pub async fn request(addr: SocketAddr, head: &str) -> (RawWs, String) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut raw = RawWs {
            stream,
            buf: Vec::new(),
        };
        let response = tokio::time::timeout(WAIT, raw.head()).await.unwrap();
        (raw, response)
    }

    /// An upgraded connection (the RFC's accept key checked).
    ///
    /// # Panics
    /// When the edge does not switch protocols.
    pub async fn upgrade(addr: SocketAddr) -> RawWs {
        let (raw, response) = RawWs::request(addr, UPGRADE).await;
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
            self.fill().await;
        }
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before a whole frame or response");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// Writes bytes as they are.
    ///
    /// # Panics
    /// When the write fails.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next server frame: (opcode, payload). Server frames are unmasked and final.
    ///
    /// # Panics
    /// When none comes within [`WAIT`], or the frame breaks those rules.
    pub async fn frame(&mut self) -> (u8, Vec<u8>) {
        tokio::time::timeout(WAIT, async {
            loop {
                if self.buf.len() >= 2 {
                    assert_eq!(self.buf[0] & 0x80, 0x80, "server frames are final");
                    assert_eq!(self.buf[1] & 0x80, 0, "server frames are unmasked");
                    let (len, at) = match self.buf[1] {
                        126 if self.buf.len() >= 4 => (
                            usize::from(u16::from_be_bytes([self.buf[2], self.buf[3]])),
                            4,
                        ),
                        126 => (usize::MAX, 0),
                        127 => panic!("no frame this large expected"),
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

    /// The next text frame's JSON, skipping others.
    ///
    /// # Panics
    /// When the text is not JSON.
    pub async fn json(&mut self) -> serde_json::Value {
        loop {
            let (opcode, payload) = self.frame().await;
            if opcode == 1 {
                return serde_json::from_slice(&payload).unwrap();
            }
        }
    }

    /// The close frame's code and reason, skipping what came before it.
    ///
    /// # Panics
    /// When no close frame comes.
    pub async fn closed_with(&mut self) -> (u16, String) {
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
    ///
    /// # Panics
    /// When it stays open for [`WAIT`].
    pub async fn ends(&mut self) {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(WAIT, self.stream.read_to_end(&mut rest)).await;
        assert!(read.is_ok(), "still open after the close frame");
    }
}
