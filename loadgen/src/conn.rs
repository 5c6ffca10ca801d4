//! One client connection of the load generator: WebSocket (tokio-tungstenite with small
//! buffers), SSE (a plain HTTP/1.1 request and a hand-rolled reader for chunked or
//! close-delimited bodies) or the NATS protocol over WebSocket (nats-server's WebSocket
//! listener, read with [`crate::nats_wire`]), bound to a chosen loopback source address so many
//! connections can exceed one address's ephemeral ports.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::nats_wire::{Op, Parser};
use crate::stats::{cursor_seq_after, CatchUp, ConnResult, OnlyKind};

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct Target {
    pub server: SocketAddr,
    /// Path and query, e.g. `/v1/ws/events?events=tips.update`.
    pub path: String,
    /// The NATS subject a `nats-ws` connection subscribes to.
    pub subject: String,
    /// A `nats-ws` connection that resumes: it asks JetStream for a consumer of its own from a
    /// stream sequence instead of subscribing to `subject`.
    pub resume: Option<JsResume>,
}

/// Where a resuming `nats-ws` connection starts: what a nats.ws client holding a cursor does.
#[derive(Clone, Debug)]
pub struct JsResume {
    /// The JetStream stream on the WebSocket nats-server.
    pub stream: String,
    /// Its sequence of the first event the client does not have.
    pub start_seq: u64,
}

/// Per-connection inbox numbers.
static INBOXES: AtomicU64 = AtomicU64::new(0);

/// The opening a `nats-ws` connection sends: `CONNECT`, then either a `SUB` to the target's
/// subject, or (resuming) a `SUB` to a fresh inbox and to the reply subject of a request for an
/// ephemeral push consumer delivering there from the start sequence (acks off, in memory), then
/// a `PING`. Returns it and the reply subject's sid when resuming.
pub fn nats_ws_hello(target: &Target) -> (String, Option<u64>) {
    let connect = "CONNECT {\"verbose\":false,\"pedantic\":false}\r\n";
    let Some(resume) = &target.resume else {
        return (
            format!("{connect}SUB {} 1\r\nPING\r\n", target.subject),
            None,
        );
    };
    let n = INBOXES.fetch_add(1, Ordering::Relaxed);
    let (inbox, reply) = (
        format!("_INBOX.adic-loadgen.{}.{n}", std::process::id()),
        format!("_INBOX.adic-loadgen.{}.{n}.api", std::process::id()),
    );
    let request = serde_json::json!({
        "stream_name": resume.stream,
        "config": {
            "deliver_subject": inbox,
            "deliver_policy": "by_start_sequence",
            "opt_start_seq": resume.start_seq,
            "ack_policy": "none",
            "replay_policy": "instant",
            "mem_storage": true,
            "num_replicas": 1,
            "inactive_threshold": 30_000_000_000u64,
        }
    })
    .to_string();
    let hello = format!(
        "{connect}SUB {inbox} 1\r\nSUB {reply} 2\r\nPUB $JS.API.CONSUMER.CREATE.{} {reply} {}\r\n{request}\r\nPING\r\n",
        resume.stream,
        request.len()
    );
    (hello, Some(2))
}

/// Which transport to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Ws,
    Sse,
    /// The NATS protocol over WebSocket: `CONNECT`, `SUB`, then `MSG`s whose payloads are the
    /// edge's WebSocket event payloads.
    #[value(name = "nats-ws")]
    #[serde(rename = "nats-ws")]
    NatsWs,
}

impl Transport {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Ws => "ws",
            Transport::Sse => "sse",
            Transport::NatsWs => "nats-ws",
        }
    }
}

async fn tcp(server: SocketAddr, source: IpAddr) -> std::io::Result<TcpStream> {
    let socket = if server.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.set_recv_buffer_size(16 * 1024)?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Runs one connection until `stop` flips; `connected` is signalled once the stream is open;
/// with `progress`, every event is also counted there and the last one's arrival is kept; with
/// `catch_up`, the connection notes when it has every event up to the target; with `only` (the
/// one kind its path's filter asks for), it counts events of other kinds.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    transport: Transport,
    target: &Target,
    source: IpAddr,
    sample: bool,
    progress: Option<Arc<AtomicU64>>,
    catch_up: Option<Arc<CatchUp>>,
    only: Option<adic_protocol::Kind>,
    connected: tokio::sync::mpsc::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) -> ConnResult {
    let mut result = ConnResult::sampling(sample).timed(progress);
    result.catch_up = catch_up;
    result.only = only.map(OnlyKind::new);
    let outcome = match transport {
        Transport::Ws => ws(target, source, &mut result, &connected, &mut stop).await,
        Transport::Sse => sse(target, source, &mut result, &connected, &mut stop).await,
        Transport::NatsWs => nats_ws(target, source, &mut result, &connected, &mut stop).await,
    };
    if let Err(e) = outcome {
        if !result.connected {
            let _ = connected.send(false).await;
        }
        result.error = Some(e.to_string());
    }
    result
}

async fn ws(
    target: &Target,
    source: IpAddr,
    result: &mut ConnResult,
    connected: &tokio::sync::mpsc::Sender<bool>,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let stream = tcp(target.server, source).await?;
    let url = format!("ws://{}{}", target.server, target.path);
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
    result.connected = true;
    let _ = connected.send(true).await;
    loop {
        tokio::select! {
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let bytes = text.as_bytes();
                    if bytes.starts_with(WS_EVENT) {
                        result.event(cursor_seq_after(bytes, br#""id":""#), bytes);
                    } else if bytes.starts_with(WS_PROGRESS) {
                        result.progress_markers += 1;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    result.close_code = frame.map(|f| u16::from(f.code));
                    return Ok(());
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// The edge's WebSocket event payloads start like this; the peers carry the same bytes.
const WS_EVENT: &[u8] = br#"{"type":"Event""#;
/// The edge's WebSocket progress marker (the stream moved past events the filter skips).
const WS_PROGRESS: &[u8] = br#"{"type":"Progress""#;

/// A NATS client over WebSocket, as a browser using nats.ws would be. Connected once the server
/// answered the `PING` sent after `SUB`, so the subscription is in place before any publish.
async fn nats_ws(
    target: &Target,
    source: IpAddr,
    result: &mut ConnResult,
    connected: &tokio::sync::mpsc::Sender<bool>,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let stream = tcp(target.server, source).await?;
    let url = format!("ws://{}{}", target.server, target.path);
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await?;
    let (hello, api_sid) = nats_ws_hello(target);
    ws.send(Message::binary(hello.into_bytes())).await?;
    let mut parser = Parser::default();
    loop {
        tokio::select! {
            message = ws.next() => match message {
                Some(Ok(Message::Binary(bytes))) => parser.push(&bytes),
                Some(Ok(Message::Text(text))) => parser.push(text.as_bytes()),
                Some(Ok(Message::Close(frame))) => {
                    result.close_code = frame.map(|f| u16::from(f.code));
                    return Ok(());
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
            _ = stop.changed() => return Ok(()),
        }
        while let Some(op) = parser.next_op()? {
            match op {
                Op::Msg { payload, .. } if payload.starts_with(WS_EVENT) => {
                    result.event(cursor_seq_after(&payload, br#""id":""#), &payload);
                }
                // JetStream's answer to the consumer request: an error ends the connection.
                Op::Msg { sid, payload } if Some(sid) == api_sid => {
                    let answer: serde_json::Value = serde_json::from_slice(&payload)?;
                    if let Some(error) = answer.get("error") {
                        anyhow::bail!("creating a consumer: {error}");
                    }
                }
                Op::Ping => ws.send(Message::binary(&b"PONG\r\n"[..])).await?,
                Op::Pong if !result.connected => {
                    result.connected = true;
                    let _ = connected.send(true).await;
                }
                Op::Err(e) => anyhow::bail!("nats-server: {e}"),
                _ => {}
            }
        }
    }
}

async fn sse(
    target: &Target,
    source: IpAddr,
    result: &mut ConnResult,
    connected: &tokio::sync::mpsc::Sender<bool>,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let mut stream = tcp(target.server, source).await?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        target.path, target.server
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buf = BytesMut::with_capacity(4096);
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        anyhow::ensure!(
            stream.read_buf(&mut buf).await? > 0,
            "closed before the response head"
        );
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    anyhow::ensure!(
        head.starts_with("http/1.1 200"),
        "status: {}",
        head.lines().next().unwrap_or("")
    );
    let chunked = head.contains("transfer-encoding: chunked");
    buf.advance(head_end);
    result.connected = true;
    let _ = connected.send(true).await;
    let mut body = Body {
        chunked,
        chunk_left: 0,
        events: BytesMut::with_capacity(4096),
    };
    loop {
        body.decode(&mut buf)?;
        while let Some(end) = body.events.windows(2).position(|w| w == b"\n\n") {
            let frame = body.events.split_to(end + 2);
            if frame.windows(6).any(|w| w == b"data: ") {
                // The cursor line is `id: ` at the start of a line after `event:`.
                result.event(cursor_seq_after(&frame, b"\nid: "), &frame);
            }
        }
        tokio::select! {
            read = stream.read_buf(&mut buf) => if read? == 0 { return Ok(()) },
            _ = stop.changed() => return Ok(()),
        }
    }
}

/// Turns an HTTP body (chunked or not) into SSE bytes.
struct Body {
    chunked: bool,
    chunk_left: usize,
    events: BytesMut,
}

impl Body {
    fn decode(&mut self, buf: &mut BytesMut) -> anyhow::Result<()> {
        if !self.chunked {
            self.events.extend_from_slice(buf);
            buf.clear();
            return Ok(());
        }
        loop {
            if self.chunk_left > 0 {
                let n = self.chunk_left.min(buf.len());
                self.events.extend_from_slice(&buf[..n]);
                buf.advance(n);
                self.chunk_left -= n;
                if self.chunk_left > 0 {
                    return Ok(());
                }
                // Each chunk's data is followed by CRLF: left for the next size line to skip.
            }
            let Some(line_end) = buf.windows(2).position(|w| w == b"\r\n") else {
                return Ok(());
            };
            let line = std::str::from_utf8(&buf[..line_end])?.trim().to_owned();
            buf.advance(line_end + 2);
            if line.is_empty() {
                continue;
            }
            let size = usize::from_str_radix(line.split(';').next().unwrap_or(""), 16)?;
            anyhow::ensure!(size > 0, "the server ended the stream");
            self.chunk_left = size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resuming_nats_ws_client_asks_for_a_consumer_from_its_sequence() {
        let mut target = Target {
            server: "127.0.0.1:1".parse().unwrap(),
            path: "/".into(),
            subject: "adic.ws.events".into(),
            resume: None,
        };
        let (hello, api) = nats_ws_hello(&target);
        assert_eq!(
            hello,
            "CONNECT {\"verbose\":false,\"pedantic\":false}\r\nSUB adic.ws.events 1\r\nPING\r\n"
        );
        assert_eq!(api, None);
        target.resume = Some(JsResume {
            stream: "adic-ws".into(),
            start_seq: 901,
        });
        let (hello, api) = nats_ws_hello(&target);
        assert_eq!(api, Some(2));
        let lines: Vec<&str> = hello.split("\r\n").collect();
        let inbox = lines[1]
            .strip_prefix("SUB ")
            .unwrap()
            .strip_suffix(" 1")
            .unwrap();
        let reply = lines[2]
            .strip_prefix("SUB ")
            .unwrap()
            .strip_suffix(" 2")
            .unwrap();
        let publish = format!(
            "PUB $JS.API.CONSUMER.CREATE.adic-ws {reply} {}",
            lines[4].len()
        );
        assert_eq!(lines[3], publish);
        let request: serde_json::Value = serde_json::from_str(lines[4]).unwrap();
        assert_eq!(request["stream_name"], "adic-ws");
        assert_eq!(request["config"]["deliver_subject"], inbox);
        assert_eq!(request["config"]["opt_start_seq"], 901);
        assert_eq!(request["config"]["deliver_policy"], "by_start_sequence");
        assert_eq!(lines[5], "PING");
        assert_ne!(
            nats_ws_hello(&target).0,
            hello,
            "every connection has its own inbox"
        );
    }

    #[test]
    fn decodes_chunks_split_anywhere() {
        let wire = b"5\r\nhello\r\n7\r\n world!\r\n";
        for split in 0..wire.len() {
            let mut body = Body {
                chunked: true,
                chunk_left: 0,
                events: BytesMut::new(),
            };
            let mut buf = BytesMut::from(&wire[..split]);
            body.decode(&mut buf).unwrap();
            buf.extend_from_slice(&wire[split..]);
            body.decode(&mut buf).unwrap();
            assert_eq!(&body.events[..], b"hello world!", "split at {split}");
        }
    }
}
