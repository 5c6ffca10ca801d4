//! Test clients over real sockets: WebSocket (tokio-tungstenite) and SSE (reqwest, with a raw
//! frame parser that also shows comments, `retry:` and id-only frames).

use std::time::Duration;

use anyhow::{bail, Context};
use bytes::Bytes;
use futures::{SinkExt, Stream, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// How long a test waits for one expected message.
pub const WAIT: Duration = Duration::from_secs(10);

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client.
pub struct WsClient {
    ws: WsStream,
}

/// What a WebSocket read returned.
#[derive(Debug)]
pub enum WsItem {
    Json(Value),
    Close(Option<(u16, String)>),
}

impl WsClient {
    pub async fn connect(url: &str) -> anyhow::Result<WsClient> {
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .context("websocket connect timed out")??;
        Ok(WsClient { ws })
    }

    /// Connects with extra request headers (`Authorization`, `Origin`, `Cookie`).
    pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> anyhow::Result<WsClient> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request()?;
        for (name, value) in headers {
            request.headers_mut().insert(
                axum::http::HeaderName::from_bytes(name.as_bytes())?,
                axum::http::HeaderValue::from_str(value)?,
            );
        }
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .context("websocket connect timed out")??;
        Ok(WsClient { ws })
    }

    /// Connects with a 4 KiB receive buffer, so a client that stops reading backs up quickly
    /// into the edge instead of into its own kernel buffers.
    pub async fn connect_small_buffer(url: &str) -> anyhow::Result<WsClient> {
        let addr = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .context("a ws:// URL")?
            .parse()?;
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_recv_buffer_size(4096)?;
        let stream = socket.connect(addr).await?;
        let (ws, _) = tokio::time::timeout(
            WAIT,
            tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream)),
        )
        .await
        .context("websocket connect timed out")??;
        Ok(WsClient { ws })
    }

    pub async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.ws.send(Message::text(text)).await?;
        Ok(())
    }

    pub async fn send_json(&mut self, value: &Value) -> anyhow::Result<()> {
        self.send_text(&value.to_string()).await
    }

    pub async fn send_binary(&mut self, data: Vec<u8>) -> anyhow::Result<()> {
        self.ws.send(Message::binary(data)).await?;
        Ok(())
    }

    /// The next JSON message or close, skipping pings and pongs.
    pub async fn next_item(&mut self) -> anyhow::Result<WsItem> {
        self.next_item_within(WAIT).await
    }

    /// [`next_item`](Self::next_item) with another wait.
    pub async fn next_item_within(&mut self, wait: Duration) -> anyhow::Result<WsItem> {
        loop {
            let message = tokio::time::timeout(wait, self.ws.next())
                .await
                .context("no websocket message within the wait")?;
            match message {
                None => return Ok(WsItem::Close(None)),
                Some(Err(e)) => bail!("websocket error: {e}"),
                Some(Ok(Message::Text(t))) => {
                    return Ok(WsItem::Json(serde_json::from_str(t.as_str())?))
                }
                Some(Ok(Message::Close(frame))) => {
                    return Ok(WsItem::Close(
                        frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                    ))
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// The next JSON message; fails on close.
    pub async fn next_json(&mut self) -> anyhow::Result<Value> {
        match self.next_item().await? {
            WsItem::Json(v) => Ok(v),
            WsItem::Close(c) => bail!("connection closed: {c:?}"),
        }
    }

    /// The next message of type `Event`, skipping others; returns (id, event).
    pub async fn next_event(&mut self) -> anyhow::Result<(String, Value)> {
        loop {
            let v = self.next_json().await?;
            if v["type"] == "Event" {
                let id = v["id"].as_str().context("Event without id")?.to_owned();
                return Ok((id, v["event"].clone()));
            }
        }
    }
}

/// One SSE frame as sent: its fields, comments included.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseFrame {
    pub event: Option<String>,
    pub id: Option<String>,
    pub data: Option<String>,
    pub retry: Option<u64>,
    pub comments: Vec<String>,
}

/// An SSE client reading raw frames.
pub struct SseClient {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    body: std::pin::Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    buffer: String,
}

impl SseClient {
    pub async fn connect(url: &str) -> anyhow::Result<SseClient> {
        SseClient::connect_with(url, &[]).await
    }

    pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> anyhow::Result<SseClient> {
        let mut request = reqwest::Client::new().get(url);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = tokio::time::timeout(WAIT, request.send())
            .await
            .context("SSE connect timed out")??;
        Ok(SseClient {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        })
    }

    /// The next frame; `None` when the server ended the stream.
    pub async fn next_frame(&mut self) -> anyhow::Result<Option<SseFrame>> {
        self.next_frame_within(WAIT).await
    }

    /// [`next_frame`](Self::next_frame) with another wait.
    pub async fn next_frame_within(&mut self, wait: Duration) -> anyhow::Result<Option<SseFrame>> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                return Ok(Some(parse_frame(&raw)));
            }
            match tokio::time::timeout(wait, self.body.next())
                .await
                .context("no SSE frame within the wait")?
            {
                Some(chunk) => self.buffer.push_str(std::str::from_utf8(&chunk?)?),
                None => return Ok(None),
            }
        }
    }

    /// The next frame that carries data, skipping comments, retry and id-only frames.
    pub async fn next_event(&mut self) -> anyhow::Result<SseFrame> {
        loop {
            match self.next_frame().await? {
                Some(frame) if frame.data.is_some() => return Ok(frame),
                Some(_) => {}
                None => bail!("SSE stream ended"),
            }
        }
    }
}

fn parse_frame(raw: &str) -> SseFrame {
    let mut frame = SseFrame::default();
    for line in raw.lines() {
        if let Some(comment) = line.strip_prefix(':') {
            frame.comments.push(comment.trim().to_owned());
            continue;
        }
        let (field, value) = line
            .split_once(':')
            .map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
        match field {
            "event" => frame.event = Some(value.to_owned()),
            "id" => frame.id = Some(value.to_owned()),
            "data" => frame.data = Some(value.to_owned()),
            "retry" => frame.retry = value.parse().ok(),
            _ => {}
        }
    }
    frame
}

/// Parses a cursor's sequence (`<epoch>-<seq>`).
pub fn seq_of(cursor: &str) -> u64 {
    cursor
        .parse::<adic_protocol::Cursor>()
        .expect("a cursor")
        .seq
}
