//! The floor: the least work that delivers the same bytes.
//!
//! A minimal server that reads the same events from NATS (a plain subscription to the stream's
//! subjects), builds each event's complete WebSocket frame (header included) and SSE frame once,
//! and writes those bytes straight to every connection's socket — no per-client framing, no
//! filters, no cursors, no queue bounds, no resume, no limits. Whatever an edge does on
//! top costs the difference between the two in one run; if the floor is not faster, the floor is
//! broken.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use adic_protocol::{sse, subject, ws, Cursor, Epoch};
use bytes::Bytes;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// One event in both wire formats, each complete: the WebSocket bytes include the frame header.
/// Server frames are unmasked, so the same bytes go to every client.
pub struct Frames {
    pub ws: Bytes,
    pub sse: Bytes,
}

/// A complete unmasked WebSocket text frame (FIN set) carrying `payload`: the same bytes the
/// edge writes.
pub fn ws_text_frame(payload: &[u8]) -> Bytes {
    adic_protocol::frame::server_frame(adic_protocol::frame::OP_TEXT, payload)
}

/// Every connection's channel. Unbounded: the floor has no slow-consumer handling (that is part
/// of what the edge adds).
type Subscribers = Arc<Mutex<Vec<mpsc::UnboundedSender<Arc<Frames>>>>>;

/// Serves WebSocket on `ws_listen` and SSE on `sse_listen` until the process ends.
pub async fn serve(
    nats_url: &str,
    prefix: &str,
    ws_listen: SocketAddr,
    sse_listen: SocketAddr,
) -> anyhow::Result<()> {
    let client = async_nats::connect(nats_url).await?;
    let mut subscription = client.subscribe(subject::stream_subjects(prefix)).await?;
    let subscribers: Subscribers = Arc::default();
    let ws_listener = TcpListener::bind(ws_listen).await?;
    let sse_listener = TcpListener::bind(sse_listen).await?;
    tracing::info!(ws = %ws_listener.local_addr()?, sse = %sse_listener.local_addr()?, "floor listening");
    tokio::spawn(accept(ws_listener, Arc::clone(&subscribers), Kind::Ws));
    tokio::spawn(accept(sse_listener, Arc::clone(&subscribers), Kind::Sse));
    let mut seq = 0u64;
    let prefix = prefix.to_owned();
    while let Some(message) = subscription.next().await {
        seq += 1;
        let cursor = Cursor::new(Epoch(0), seq);
        let json = String::from_utf8_lossy(&message.payload);
        let name = subject::parse(&prefix, &message.subject).map_or("unknown", |(_, n)| n);
        let frames = Arc::new(Frames {
            ws: ws_text_frame(ws::event_frame(&cursor, &json).as_bytes()),
            sse: Bytes::from(sse::event_frame(name, Some(&cursor), &json)),
        });
        let mut subscribers = subscribers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        subscribers.retain(|tx| tx.send(Arc::clone(&frames)).is_ok());
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Kind {
    Ws,
    Sse,
}

async fn accept(listener: TcpListener, subscribers: Subscribers, kind: Kind) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (tx, rx) = mpsc::unbounded_channel();
        subscribers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(tx);
        tokio::spawn(async move {
            let _ = match kind {
                Kind::Ws => serve_ws(stream, rx).await,
                Kind::Sse => serve_sse(stream, rx).await,
            };
        });
    }
}

/// Takes every frame already queued after `first`: one batch.
fn batch(
    first: Arc<Frames>,
    rx: &mut mpsc::UnboundedReceiver<Arc<Frames>>,
    out: &mut Vec<Arc<Frames>>,
) {
    out.clear();
    out.push(first);
    while let Ok(frame) = rx.try_recv() {
        out.push(frame);
    }
}

/// The WebSocket handshake by hand, then pre-framed bytes written straight to the socket: no
/// per-client framing at all.
async fn serve_ws(
    mut stream: TcpStream,
    mut rx: mpsc::UnboundedReceiver<Arc<Frames>>,
) -> anyhow::Result<()> {
    let head = read_head(&mut stream).await?;
    let key = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.trim().eq_ignore_ascii_case("sec-websocket-key"))
        })
        .map(|(_, v)| v.trim().to_owned())
        .ok_or_else(|| anyhow::anyhow!("no Sec-WebSocket-Key"))?;
    let accept = derive_accept_key(key.as_bytes());
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(response.as_bytes()).await?;
    let (mut reader, mut writer) = stream.into_split();
    // Reading notices the peer leaving (its frames are not needed).
    let mut closed = tokio::spawn(async move {
        let mut sink = [0u8; 512];
        while matches!(reader.read(&mut sink).await, Ok(n) if n > 0) {}
    });
    let mut frames = Vec::new();
    let mut buf = Vec::new();
    loop {
        tokio::select! {
            frame = rx.recv() => {
                let Some(first) = frame else { return Ok(()) };
                batch(first, &mut rx, &mut frames);
                buf.clear();
                for frame in &frames {
                    buf.extend_from_slice(&frame.ws);
                }
                writer.write_all(&buf).await?;
            }
            _ = &mut closed => return Ok(()),
        }
    }
}

async fn read_head(stream: &mut TcpStream) -> anyhow::Result<String> {
    let mut head = [0u8; 2048];
    let mut read = 0;
    while !head[..read].windows(4).any(|w| w == b"\r\n\r\n") {
        anyhow::ensure!(read < head.len(), "request head too large");
        let n = stream.read(&mut head[read..]).await?;
        anyhow::ensure!(n > 0, "closed before the request");
        read += n;
    }
    Ok(String::from_utf8_lossy(&head[..read]).into_owned())
}

async fn serve_sse(
    mut stream: TcpStream,
    mut rx: mpsc::UnboundedReceiver<Arc<Frames>>,
) -> anyhow::Result<()> {
    read_head(&mut stream).await?;
    stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n")
        .await?;
    let mut frames = Vec::new();
    let mut buf = Vec::new();
    while let Some(first) = rx.recv().await {
        batch(first, &mut rx, &mut frames);
        buf.clear();
        for frame in &frames {
            buf.extend_from_slice(&frame.sse);
        }
        stream.write_all(&buf).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_the_right_length_header() {
        assert_eq!(&ws_text_frame(b"hi")[..], b"\x81\x02hi");
        let mid = ws_text_frame(&[b'x'; 300]);
        assert_eq!(&mid[..4], &[0x81, 126, 1, 44]);
        let big = ws_text_frame(&vec![b'x'; 70_000]);
        assert_eq!(&big[..2], &[0x81, 127]);
        assert_eq!(u64::from_be_bytes(big[2..10].try_into().unwrap()), 70_000);
    }
}
