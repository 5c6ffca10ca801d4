//! One connection to one edge over one transport, until it ends.
//!
//! Every transport reports the same items and keeps the same cursor: the id of the last event
//! delivered, or of the last progress marker. Events at or before the cursor (of the same stream
//! instance) are duplicates after a resume and are dropped here.

use std::sync::Arc;
use std::time::Duration;

use adic_protocol::ws::{Gap, Reset};
use adic_protocol::Cursor;
use futures::StreamExt;
use http::header::{HeaderName, HeaderValue, ACCEPT};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;
use url::Url;

use crate::client::{Item, Transport};
use crate::http::Connection;
use crate::items::Delivery;
use crate::proxy::{self, Proxies};
use crate::stats::StatsHandle;

/// No data and no heartbeat for this long: the connection is half-open.
pub const SILENCE: Duration = Duration::from_secs(45);
/// How long a poll waits for new events.
const POLL_WAIT: u64 = 20;
/// Bound on establishing a connection (TCP, proxy tunnel, TLS, upgrade or response head).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Supplies the headers of each connection attempt.
pub type HeaderHook = Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

/// How connections are made: TLS roots, proxies, extra headers.
pub struct Net {
    pub tls: Arc<rustls::ClientConfig>,
    pub proxies: Proxies,
    pub headers: Option<HeaderHook>,
}

type Headers = Vec<(HeaderName, HeaderValue)>;

impl Net {
    /// This attempt's headers from the hook, checked.
    fn headers(&self) -> Result<Headers, String> {
        let Some(hook) = &self.headers else {
            return Ok(Vec::new());
        };
        hook()
            .into_iter()
            .map(|(name, value)| {
                let header = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("header hook: {name:?} is not a valid header name"))?;
                let value = HeaderValue::from_str(&value).map_err(|_| {
                    format!("header hook: the value of {name} has control or non-ASCII characters")
                })?;
                Ok((header, value))
            })
            .collect()
    }
}

/// An error with its causes, for reasons a person reads (a TLS failure is in the causes).
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = source.and_then(std::error::Error::source);
    }
    text
}

/// What a client asks for.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pub events: Option<String>,
    pub priority: Option<String>,
    pub snapshot: bool,
}

/// How a session ended.
#[derive(Debug)]
pub enum Ended {
    /// Could not be established (refused, no upgrade, an error status).
    Failed(String),
    /// Was established, then ended (closed by the edge, lost, silent).
    Lost(String),
    /// The consumer of the item stream went away.
    Stopped,
}

/// The state a session reads and moves forward.
pub struct Shared<'a> {
    pub cursor: &'a mut Option<Cursor>,
    pub out: &'a mpsc::Sender<Delivery>,
    pub stats: &'a StatsHandle,
}

impl Shared<'_> {
    /// Delivers an event unless it is at or before the cursor (same epoch: cursors of different
    /// epochs do not compare); false when the consumer is gone.
    async fn event(&mut self, id: Cursor, event: Value) -> bool {
        if self
            .cursor
            .is_some_and(|c| c.epoch == id.epoch && id.seq <= c.seq)
        {
            self.stats.lock().duplicates_dropped += 1;
            return true;
        }
        *self.cursor = Some(id);
        self.out
            .send(Delivery::Item(Item::Event { id, event }))
            .await
            .is_ok()
    }

    /// Moves the cursor past filtered-out events; false when the consumer is gone.
    async fn progress(&mut self, id: Cursor) -> bool {
        if self
            .cursor
            .is_some_and(|c| c.epoch == id.epoch && id.seq <= c.seq)
        {
            return true;
        }
        *self.cursor = Some(id);
        self.out.send(Delivery::Progress(id)).await.is_ok()
    }

    async fn item(&mut self, item: Item) -> bool {
        match &item {
            Item::Reset(reset) => {
                *self.cursor = Some(reset.current);
                self.stats.lock().resets += 1;
            }
            Item::Gap(_) => self.stats.lock().gaps += 1,
            _ => {}
        }
        self.out.send(Delivery::Item(item)).await.is_ok()
    }
}

fn query_string(query: &Query, resume: Option<(&str, Cursor)>) -> String {
    let mut parts = Vec::new();
    if let Some(events) = &query.events {
        parts.push(format!("events={events}"));
    }
    if let Some(priority) = &query.priority {
        parts.push(format!("priority={priority}"));
    }
    match resume {
        Some((name, cursor)) => parts.push(format!("{name}={cursor}")),
        None if query.snapshot => parts.push("snapshot=true".to_owned()),
        None => {}
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Runs one session on `base` (e.g. `http://127.0.0.1:9121`); `connected` is called once
/// established.
pub async fn run(
    transport: Transport,
    base: &str,
    query: &Query,
    net: &Net,
    shared: &mut Shared<'_>,
    connected: impl FnOnce(),
) -> Ended {
    let headers = match net.headers() {
        Ok(headers) => headers,
        Err(why) => {
            tracing::warn!(%why, "not connecting");
            return Ended::Failed(why);
        }
    };
    match transport {
        Transport::WebSocket => websocket(base, query, net, headers, shared, connected).await,
        Transport::Sse => sse(base, query, net, headers, shared, connected).await,
        Transport::Polling => polling(base, query, net, headers, shared, connected).await,
    }
}

/// Opens the WebSocket: TCP (through a `CONNECT` tunnel when a proxy applies), TLS for
/// `https` edges, then the upgrade with the extra headers.
async fn open_websocket(
    base: &str,
    url: &str,
    net: &Net,
    headers: Headers,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    String,
> {
    let target = Url::parse(base).map_err(|e| e.to_string())?;
    let host = target.host_str().unwrap_or_default().to_owned();
    let port = target.port_or_known_default().unwrap_or(80);
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().extend(headers);
    let stream = proxy::connect(net.proxies.for_url(&target), &host, port, CONNECT_TIMEOUT).await?;
    let connector = Connector::Rustls(Arc::clone(&net.tls));
    let handshake =
        tokio_tungstenite::client_async_tls_with_config(request, stream, None, Some(connector));
    match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(chain(&e)),
        Err(_) => Err("WebSocket handshake timed out".into()),
    }
}

async fn websocket(
    base: &str,
    query: &Query,
    net: &Net,
    headers: Headers,
    shared: &mut Shared<'_>,
    connected: impl FnOnce(),
) -> Ended {
    let ws_base = base.replacen("http", "ws", 1);
    let resume = shared.cursor.map(|c| ("since", c));
    let url = format!("{ws_base}/v1/ws/events{}", query_string(query, resume));
    let mut ws = match open_websocket(base, &url, net, headers).await {
        Ok(ws) => ws,
        Err(why) => return Ended::Failed(why),
    };
    connected();
    loop {
        let message = match tokio::time::timeout(SILENCE, ws.next()).await {
            Err(_) => return Ended::Lost("no data and no ping within 45 s".into()),
            Ok(None) => return Ended::Lost("connection ended".into()),
            Ok(Some(Err(e))) => return Ended::Lost(chain(&e)),
            Ok(Some(Ok(message))) => message,
        };
        let text = match message {
            Message::Text(text) => text,
            Message::Close(frame) => {
                return Ended::Lost(frame.map_or_else(
                    || "closed".into(),
                    |f| format!("closed {}: {}", u16::from(f.code), f.reason),
                ));
            }
            _ => continue,
        };
        let Ok(value) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        let alive = match value["type"].as_str() {
            Some("Event") => match value["id"].as_str().and_then(|id| id.parse().ok()) {
                Some(id) => shared.event(id, value["event"].clone()).await,
                None => true,
            },
            Some("Snapshot") => shared.item(Item::Snapshot(value["event"].clone())).await,
            Some("Progress") => match value["id"].as_str().and_then(|id| id.parse().ok()) {
                Some(id) => shared.progress(id).await,
                None => true,
            },
            Some("Gap") => match serde_json::from_value::<Gap>(value) {
                Ok(gap) => shared.item(Item::Gap(gap)).await,
                Err(_) => true,
            },
            Some("Reset") => match serde_json::from_value::<Reset>(value) {
                Ok(reset) => shared.item(Item::Reset(reset)).await,
                Err(_) => true,
            },
            Some("Error") => {
                tracing::warn!(message = %value["message"], "edge reported an error");
                true
            }
            _ => true,
        };
        if !alive {
            return Ended::Stopped;
        }
    }
}

async fn sse(
    base: &str,
    query: &Query,
    net: &Net,
    headers: Headers,
    shared: &mut Shared<'_>,
    connected: impl FnOnce(),
) -> Ended {
    let path = format!("/v1/sse/events{}", query_string(query, None));
    let mut connection = match Connection::open(base, &net.proxies, &net.tls, CONNECT_TIMEOUT).await
    {
        Ok(connection) => connection,
        Err(why) => return Ended::Failed(why),
    };
    let mut headers = headers;
    headers.push((ACCEPT, HeaderValue::from_static("text/event-stream")));
    if let Some(cursor) = shared.cursor {
        if let Ok(value) = HeaderValue::from_str(&cursor.to_string()) {
            headers.push((HeaderName::from_static("last-event-id"), value));
        }
    }
    let response =
        match tokio::time::timeout(CONNECT_TIMEOUT, connection.get(&path, &headers)).await {
            Ok(Ok(r)) if r.status().is_success() => r,
            Ok(Ok(r)) => return Ended::Failed(format!("status {}", r.status())),
            Ok(Err(why)) => return Ended::Failed(why),
            Err(_) => return Ended::Failed("no response within 10 s".into()),
        };
    connected();
    let mut body = response.into_body();
    // Bytes, not text: a proxy may cut the stream anywhere, even inside a character, so a
    // frame is decoded only once it is whole.
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let frame: Vec<u8> = buffer.drain(..end + 2).collect();
            let frame = match String::from_utf8(frame) {
                Ok(frame) => frame,
                Err(e) => return Ended::Lost(format!("an SSE frame is not UTF-8: {e}")),
            };
            if !sse_frame(&frame, shared).await {
                return Ended::Stopped;
            }
        }
        match tokio::time::timeout(SILENCE, body.frame()).await {
            Err(_) => return Ended::Lost("no data and no heartbeat within 45 s".into()),
            Ok(None) => return Ended::Lost("stream ended".into()),
            Ok(Some(Err(e))) => return Ended::Lost(chain(&e)),
            Ok(Some(Ok(frame))) => {
                if let Ok(chunk) = frame.into_data() {
                    buffer.extend_from_slice(&chunk);
                }
            }
        }
    }
}

/// Handles one SSE frame; false when the consumer is gone.
async fn sse_frame(frame: &str, shared: &mut Shared<'_>) -> bool {
    let (mut event, mut id, mut data) = (None, None, None);
    for line in frame.lines() {
        let (field, value) = line
            .split_once(':')
            .map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
        match field {
            "event" => event = Some(value),
            "id" => id = value.parse::<Cursor>().ok(),
            "data" => data = serde_json::from_str::<Value>(value).ok(),
            _ => {}
        }
    }
    match (event, id, data) {
        (Some("gap"), _, Some(data)) => match serde_json::from_value::<Gap>(data) {
            Ok(gap) => shared.item(Item::Gap(gap)).await,
            Err(_) => true,
        },
        (Some("reset"), _, Some(data)) => match serde_json::from_value::<Reset>(data) {
            Ok(reset) => shared.item(Item::Reset(reset)).await,
            Err(_) => true,
        },
        (Some("error"), _, Some(data)) => {
            tracing::warn!(message = %data["message"], "edge reported an error");
            true
        }
        (_, Some(id), Some(data)) => shared.event(id, data).await,
        (_, None, Some(data)) => shared.item(Item::Snapshot(data)).await,
        (_, Some(id), None) => shared.progress(id).await,
        _ => true,
    }
}

async fn polling(
    base: &str,
    query: &Query,
    net: &Net,
    headers: Headers,
    shared: &mut Shared<'_>,
    connected: impl FnOnce(),
) -> Ended {
    let mut connection = match Connection::open(base, &net.proxies, &net.tls, CONNECT_TIMEOUT).await
    {
        Ok(connection) => connection,
        Err(why) => return Ended::Failed(why),
    };
    let mut connected = Some(connected);
    loop {
        let resume = shared.cursor.map(|c| ("after", c));
        let separator = if query_string(query, resume).is_empty() {
            "?"
        } else {
            "&"
        };
        // The first request answers at once, so the session counts as established right away.
        let wait = if connected.is_some() { 0 } else { POLL_WAIT };
        let path = format!(
            "/v1/events{}{separator}wait={wait}&limit=1000",
            query_string(query, resume)
        );
        let established = connected.is_none();
        let page = match tokio::time::timeout(
            Duration::from_secs(POLL_WAIT + 10),
            poll(&mut connection, base, net, &path, &headers),
        )
        .await
        {
            Ok(Ok(page)) => page,
            Ok(Err(why)) => return lost_or_failed(established, why),
            Err(_) => return lost_or_failed(established, "poll timed out".into()),
        };
        if let Some(connected) = connected.take() {
            connected();
        }
        if let Ok(reset) = serde_json::from_value::<Reset>(page["reset"].clone()) {
            if !shared.item(Item::Reset(reset)).await {
                return Ended::Stopped;
            }
        }
        if let Ok(gap) = serde_json::from_value::<Gap>(page["gap"].clone()) {
            if !shared.item(Item::Gap(gap)).await {
                return Ended::Stopped;
            }
        }
        for entry in page["events"].as_array().into_iter().flatten() {
            if let Some(id) = entry["id"].as_str().and_then(|id| id.parse().ok()) {
                if !shared.event(id, entry["event"].clone()).await {
                    return Ended::Stopped;
                }
            }
        }
        if let Some(next) = page["next"].as_str().and_then(|n| n.parse().ok()) {
            if !shared.progress(next).await {
                return Ended::Stopped;
            }
        }
    }
}

/// One poll: the page as JSON. A connection closed between polls (keep-alive ended, or a proxy
/// that serves one request per connection) is replaced within the session; one that breaks
/// during a poll ends the session (and the next calls the header hook again).
async fn poll(
    connection: &mut Connection,
    base: &str,
    net: &Net,
    path: &str,
    headers: &[(HeaderName, HeaderValue)],
) -> Result<Value, String> {
    if !connection.reusable().await {
        *connection = Connection::open(base, &net.proxies, &net.tls, CONNECT_TIMEOUT).await?;
    }
    let response = connection.get(path, headers).await?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()));
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| chain(&e))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| format!("a page that is not JSON: {e}"))
}

fn lost_or_failed(established: bool, why: String) -> Ended {
    if established {
        Ended::Lost(why)
    } else {
        Ended::Failed(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_from_the_hook_are_checked() {
        let net = |headers: Vec<(String, String)>| Net {
            tls: crate::tls::client_config(crate::tls::Roots::AddedOnly, &[]).unwrap(),
            proxies: Proxies::none(),
            headers: Some(Arc::new(move || headers.clone())),
        };
        let good = net(vec![("Authorization".into(), "Bearer x".into())]);
        assert_eq!(good.headers().unwrap()[0].0, "authorization");
        let bad_name = net(vec![("Bad Name".into(), "x".into())]).headers();
        assert!(bad_name
            .unwrap_err()
            .contains("\"Bad Name\" is not a valid header name"));
        let bad_value = net(vec![("X-Token".into(), "a\nb".into())]).headers();
        assert!(bad_value.unwrap_err().contains("X-Token"));
    }
}
