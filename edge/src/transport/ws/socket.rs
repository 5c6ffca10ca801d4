//! One upgraded WebSocket connection: reading client frames, writing server frames within
//! the write timeout, and the budget of messages a client may send.

use std::time::{Duration, Instant};

use adic_protocol::ws::{close, ServerMessage};
use bytes::BytesMut;
use futures::future::BoxFuture;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::frame::{self, FrameError, Inbound};
use crate::state::Edge;

/// Bytes read from a client at a time: its messages are small (Subscribe, Ping).
const READ_BUFFER: usize = 512;
/// After a close frame, how long and how much of what the client still sends is read and
/// discarded before the socket is dropped.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 256 << 10;

/// One upgraded connection: the bytes read and not yet parsed, and the frame reader.
pub(super) struct Socket {
    io: TokioIo<hyper::upgrade::Upgraded>,
    buf: BytesMut,
    reader: frame::Reader,
    write_timeout: Duration,
}

/// Why reading stopped.
pub(super) enum ReadEnd {
    /// The peer closed the TCP connection or the read failed.
    Gone,
    /// The peer broke the protocol: close with this.
    Refused(FrameError),
}

impl Socket {
    pub(super) fn new(io: TokioIo<hyper::upgrade::Upgraded>, edge: &Edge) -> Socket {
        Socket {
            io,
            buf: BytesMut::new(),
            reader: frame::Reader::new(edge.settings.max_client_message),
            write_timeout: edge.settings.write_timeout,
        }
    }

    /// The next client message. Cancel-safe: bytes read stay in the buffer.
    pub(super) async fn recv(&mut self) -> Result<Inbound, ReadEnd> {
        loop {
            match self.reader.next(&mut self.buf) {
                Ok(Some(message)) => {
                    if self.buf.is_empty() && self.buf.capacity() > 4 * READ_BUFFER {
                        // Give back what a large message needed.
                        self.buf = BytesMut::new();
                    }
                    return Ok(message);
                }
                Ok(None) => {}
                Err(e) => return Err(ReadEnd::Refused(e)),
            }
            if self.buf.capacity() == self.buf.len() {
                self.buf.reserve(READ_BUFFER);
            }
            match self.io.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return Err(ReadEnd::Gone),
                Ok(_) => {}
            }
        }
    }

    /// Writes whole frames within the write timeout; false when the client is gone or stuck.
    pub(super) async fn send(&mut self, frames: &[&[u8]]) -> bool {
        let write = async {
            match frames {
                [one] => self.io.write_all(one).await,
                many => {
                    // One write for the batch: the frames are copied once into it.
                    let mut batch = Vec::with_capacity(many.iter().map(|f| f.len()).sum());
                    for frame in many {
                        batch.extend_from_slice(frame);
                    }
                    self.io.write_all(&batch).await
                }
            }
        };
        matches!(
            tokio::time::timeout(self.write_timeout, write).await,
            Ok(Ok(()))
        )
    }

    pub(super) async fn send_message(&mut self, message: &ServerMessage) -> bool {
        self.send(&[&frame::text_frame(&message.to_json())]).await
    }

    /// Closes with `code` and `reason`. Boxed, as is [`Socket::refuse`]: a connection closes
    /// once, and inline, the close's timers and buffer would sit in every connection's task for
    /// its whole life (measured: about 0.7 KiB per idle WebSocket).
    pub(super) fn close<'a>(&'a mut self, code: u16, reason: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let _ = self.send(&[&frame::close_frame(code, reason)]).await;
            let _ = tokio::time::timeout(self.write_timeout, self.io.shutdown()).await;
            // A lingering close: dropping a socket with unread client bytes makes the kernel send
            // a reset, and a client that was still sending (a spammer closed with 4429, a client
            // pinging as the edge drains) then lost the close frame and its code and cursor. So
            // read and discard until the client's end, bounded in time and bytes.
            let _ = tokio::time::timeout(LINGER, async {
                let mut discarded = 0;
                let mut chunk = vec![0u8; READ_BUFFER];
                while discarded < LINGER_BYTES {
                    match self.io.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => discarded += n,
                    }
                }
            })
            .await;
        })
    }

    /// Explains a refusal as an Error message, then closes.
    pub(super) fn refuse<'a>(&'a mut self, code: u16, message: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let _ = self.send_message(&ServerMessage::error(message)).await;
            self.close(code, &close::reason_with_resume(message, None))
                .await;
        })
    }
}

/// The messages a client may still send: `rate` per second, in bursts of up to twice that.
pub(super) struct MessageBudget {
    left: f32,
    rate: f32,
    at: Instant,
}

impl MessageBudget {
    pub(super) fn new(rate: u32) -> MessageBudget {
        let rate = rate as f32;
        MessageBudget {
            left: 2.0 * rate,
            rate,
            at: Instant::now(),
        }
    }

    /// Takes one message; false when the client is over its rate.
    pub(super) fn take(&mut self, now: Instant) -> bool {
        let earned = now.saturating_duration_since(self.at).as_secs_f32() * self.rate;
        self.left = (self.left + earned).min(2.0 * self.rate);
        self.at = now;
        if self.left < 1.0 {
            return false;
        }
        self.left -= 1.0;
        true
    }
}
