//! The floor: the least work that delivers the same bytes.
//!
//! A minimal server that reads the same events from NATS (a plain subscription to the stream's
//! subjects), builds the same WebSocket and SSE frames once per event, and writes them to every
//! connection — no filters, no cursors, no queues, no resume, no limits. Whatever an edge does on
//! top costs the difference between the two in one run; if the floor is not faster, the floor is
//! broken.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use adic_protocol::{sse, subject, ws, Cursor, Epoch};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// One event in both wire formats.
pub struct Frames {
    pub ws: Utf8Bytes,
    pub sse: Bytes,
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
            ws: Utf8Bytes::from(ws::event_frame(&cursor, &json)),
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

async fn serve_ws(
    stream: TcpStream,
    mut rx: mpsc::UnboundedReceiver<Arc<Frames>>,
) -> anyhow::Result<()> {
    let config = WebSocketConfig::default()
        .read_buffer_size(2048)
        .write_buffer_size(8192);
    let mut ws = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    let mut frames = Vec::new();
    loop {
        tokio::select! {
            frame = rx.recv() => {
                let Some(first) = frame else { return Ok(()) };
                batch(first, &mut rx, &mut frames);
                for frame in &frames {
                    ws.feed(Message::Text(frame.ws.clone())).await?;
                }
                ws.flush().await?;
            }
            // Reading answers pings and notices the peer leaving.
            message = ws.next() => if !matches!(message, Some(Ok(_))) { return Ok(()) },
        }
    }
}

async fn serve_sse(
    mut stream: TcpStream,
    mut rx: mpsc::UnboundedReceiver<Arc<Frames>>,
) -> anyhow::Result<()> {
    let mut head = [0u8; 2048];
    let mut read = 0;
    while !head[..read].windows(4).any(|w| w == b"\r\n\r\n") {
        anyhow::ensure!(read < head.len(), "request head too large");
        let n = stream.read(&mut head[read..]).await?;
        anyhow::ensure!(n > 0, "closed before the request");
        read += n;
    }
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
