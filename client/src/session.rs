//! One connection to one edge over one transport, until it ends.
//!
//! Every transport reports the same items and keeps the same cursor: the id of the last event
//! delivered, or of the last progress marker. Events at or before the cursor (of the same stream
//! instance) are duplicates after a resume and are dropped here.

use std::time::Duration;

use adic_protocol::ws::{Gap, Reset};
use adic_protocol::Cursor;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Item, Transport};

/// No data and no heartbeat for this long: the connection is half-open.
pub const SILENCE: Duration = Duration::from_secs(45);
/// How long a poll waits for new events.
const POLL_WAIT: u64 = 20;

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
    pub out: &'a mpsc::Sender<Item>,
}

impl Shared<'_> {
    /// Delivers an event unless it is at or before the cursor; false when the consumer is gone.
    async fn event(&mut self, id: Cursor, event: Value) -> bool {
        if self
            .cursor
            .is_some_and(|c| c.epoch == id.epoch && id.seq <= c.seq)
        {
            return true;
        }
        *self.cursor = Some(id);
        self.out.send(Item::Event { id, event }).await.is_ok()
    }

    fn progress(&mut self, id: Cursor) {
        if self
            .cursor
            .is_none_or(|c| c.epoch != id.epoch || c.seq < id.seq)
        {
            *self.cursor = Some(id);
        }
    }

    async fn item(&mut self, item: Item) -> bool {
        if let Item::Reset(reset) = &item {
            *self.cursor = Some(reset.current);
        }
        self.out.send(item).await.is_ok()
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
    shared: &mut Shared<'_>,
    connected: impl FnOnce(),
) -> Ended {
    match transport {
        Transport::WebSocket => websocket(base, query, shared, connected).await,
        Transport::Sse => sse(base, query, shared, connected).await,
        Transport::Polling => polling(base, query, shared, connected).await,
    }
}

async fn websocket(
    base: &str,
    query: &Query,
    shared: &mut Shared<'_>,
    connected: impl FnOnce(),
) -> Ended {
    let ws_base = base.replacen("http", "ws", 1);
    let resume = shared.cursor.map(|c| ("since", c));
    let url = format!("{ws_base}/v1/ws/events{}", query_string(query, resume));
    let mut ws = match tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(url.as_str()),
    )
    .await
    {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => return Ended::Failed(e.to_string()),
        Err(_) => return Ended::Failed("connect timed out".into()),
    };
    connected();
    loop {
        let message = match tokio::time::timeout(SILENCE, ws.next()).await {
            Err(_) => return Ended::Lost("no data and no ping within 45 s".into()),
            Ok(None) => return Ended::Lost("connection ended".into()),
            Ok(Some(Err(e))) => return Ended::Lost(e.to_string()),
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
            Some("Progress") => {
                if let Some(id) = value["id"].as_str().and_then(|id| id.parse().ok()) {
                    shared.progress(id);
                }
                true
            }
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
    shared: &mut Shared<'_>,
    connected: impl FnOnce(),
) -> Ended {
    let url = format!("{base}/v1/sse/events{}", query_string(query, None));
    let mut request = reqwest::Client::new().get(&url);
    if let Some(cursor) = shared.cursor {
        request = request.header("Last-Event-ID", cursor.to_string());
    }
    let response = match tokio::time::timeout(Duration::from_secs(10), request.send()).await {
        Ok(Ok(r)) if r.status().is_success() => r,
        Ok(Ok(r)) => return Ended::Failed(format!("status {}", r.status())),
        Ok(Err(e)) => return Ended::Failed(e.to_string()),
        Err(_) => return Ended::Failed("connect timed out".into()),
    };
    connected();
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if !sse_frame(&frame, shared).await {
                return Ended::Stopped;
            }
        }
        match tokio::time::timeout(SILENCE, body.next()).await {
            Err(_) => return Ended::Lost("no data and no heartbeat within 45 s".into()),
            Ok(None) => return Ended::Lost("stream ended".into()),
            Ok(Some(Err(e))) => return Ended::Lost(e.to_string()),
            Ok(Some(Ok(chunk))) => buffer.push_str(&String::from_utf8_lossy(&chunk)),
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
        (_, Some(id), None) => {
            shared.progress(id);
            true
        }
        _ => true,
    }
}

async fn polling(
    base: &str,
    query: &Query,
    shared: &mut Shared<'_>,
    connected: impl FnOnce(),
) -> Ended {
    let client = reqwest::Client::new();
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
        let url = format!(
            "{base}/v1/events{}{separator}wait={wait}&limit=1000",
            query_string(query, resume)
        );
        let page = match tokio::time::timeout(
            Duration::from_secs(POLL_WAIT + 10),
            client.get(&url).send(),
        )
        .await
        {
            Ok(Ok(r)) if r.status().is_success() => match r.json::<Value>().await {
                Ok(page) => page,
                Err(e) => return lost_or_failed(connected.is_none(), e.to_string()),
            },
            Ok(Ok(r)) => {
                return lost_or_failed(connected.is_none(), format!("status {}", r.status()))
            }
            Ok(Err(e)) => return lost_or_failed(connected.is_none(), e.to_string()),
            Err(_) => return lost_or_failed(connected.is_none(), "poll timed out".into()),
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
            shared.progress(next);
        }
    }
}

fn lost_or_failed(established: bool, why: String) -> Ended {
    if established {
        Ended::Lost(why)
    } else {
        Ended::Failed(why)
    }
}
