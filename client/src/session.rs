//! One connection to one edge over one transport, until it ends.
//!
//! Every transport reports the same items and keeps the same cursor: the id of the last event
//! delivered, or of the last progress marker. Events at or before the cursor (of the same stream
//! instance) are duplicates after a resume and are dropped here.

use std::sync::Arc;
use std::time::Duration;

use adic_protocol::received::Received;
use adic_protocol::Cursor;
use http::header::{HeaderName, HeaderValue, ACCEPT};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::client::{Item, Transport};
use crate::http::Connection;
use crate::items::Delivery;
use crate::proxy::Proxies;
use crate::stats::StatsHandle;

/// No data and no heartbeat for this long: the connection is half-open.
pub const SILENCE: Duration = Duration::from_secs(45);
/// How long a poll waits for new events.
const POLL_WAIT: u64 = 20;
/// Bound on establishing a connection (TCP, proxy tunnel, TLS, upgrade or response head).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Supplies the headers of each connection attempt.
pub type HeaderHook = Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>;
/// Supplies the current token (a JWT) for each connection attempt and in-band refresh.
pub type TokenHook = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// How connections are made: TLS roots, proxies, extra headers, the token.
pub struct Net {
    pub tls: Arc<rustls::ClientConfig>,
    pub proxies: Proxies,
    pub headers: Option<HeaderHook>,
    pub token: Option<TokenHook>,
}

pub(crate) type Headers = Vec<(HeaderName, HeaderValue)>;

impl Net {
    /// The token provider's current token.
    pub(crate) fn token(&self) -> Option<String> {
        self.token.as_ref().and_then(|hook| hook())
    }

    /// This attempt's headers from the hook, checked, with `Authorization: Bearer` from the
    /// token provider (unless the header hook set `Authorization` itself).
    fn headers(&self) -> Result<Headers, String> {
        let mut headers: Headers = match &self.headers {
            None => Vec::new(),
            Some(hook) => hook()
                .into_iter()
                .map(|(name, value)| {
                    let header = HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| format!("header hook: {name:?} is not a valid header name"))?;
                    let value = HeaderValue::from_str(&value).map_err(|_| {
                        format!(
                            "header hook: the value of {name} has control or non-ASCII characters"
                        )
                    })?;
                    Ok((header, value))
                })
                .collect::<Result<_, String>>()?,
        };
        if let Some(token) = self.token() {
            if !headers
                .iter()
                .any(|(name, _)| name == http::header::AUTHORIZATION)
            {
                let value = HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| "token provider: the token has control or non-ASCII characters")?;
                headers.push((http::header::AUTHORIZATION, value));
            }
        }
        Ok(headers)
    }
}

/// Why an edge refused the credentials (401, 403 with a `Bearer` challenge, as the edge sends
/// both), from the challenge's description; `None` otherwise. A 403 without the challenge
/// comes from something in between (a proxy that refuses upgrades) and is a transport failure.
pub(crate) fn refusal(status: http::StatusCode, headers: &http::HeaderMap) -> Option<String> {
    if status != http::StatusCode::UNAUTHORIZED && status != http::StatusCode::FORBIDDEN {
        return None;
    }
    let challenge = headers
        .get(http::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() >= 6 && v[..6].eq_ignore_ascii_case("bearer"));
    if challenge.is_none() && status == http::StatusCode::FORBIDDEN {
        return None;
    }
    let description = challenge
        .and_then(|v| v.split("error_description=\"").nth(1))
        .and_then(|v| v.split('"').next())
        .map(|d| format!(": {d}"))
        .unwrap_or_default();
    Some(format!("status {status}{description}"))
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
    /// The edge refused the credentials (401/403, WebSocket close 4401/4403): a new token is
    /// needed, not another transport.
    Refused(String),
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
    pub(crate) async fn event(&mut self, id: Cursor, event: Value) -> bool {
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
    pub(crate) async fn progress(&mut self, id: Cursor) -> bool {
        if self
            .cursor
            .is_some_and(|c| c.epoch == id.epoch && id.seq <= c.seq)
        {
            return true;
        }
        *self.cursor = Some(id);
        self.out.send(Delivery::Progress(id)).await.is_ok()
    }

    /// Acts on what the edge sent, on any transport; false when the consumer is gone.
    pub(crate) async fn received(&mut self, received: Received) -> bool {
        match received {
            Received::Event { id, event } => self.event(id, event).await,
            Received::Snapshot { event } => self.item(Item::Snapshot(event)).await,
            Received::Progress { id } => self.progress(id).await,
            Received::Gap(gap) => self.item(Item::Gap(gap)).await,
            Received::Reset(reset) => self.item(Item::Reset(reset)).await,
            Received::Error { message } => {
                tracing::warn!(%message, "edge reported an error");
                true
            }
            Received::Expired { .. } => {
                // The stream ends next; the reconnect asks the token provider again.
                tracing::debug!("the token expired; the edge ends the stream");
                true
            }
            Received::Authenticated { .. }
            | Received::Subscribed { .. }
            | Received::Unsubscribed { .. }
            | Received::Pong
            | Received::Other => true,
        }
    }

    pub(crate) async fn item(&mut self, item: Item) -> bool {
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

pub(crate) fn query_string(query: &Query, resume: Option<(&str, Cursor)>) -> String {
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
        Transport::WebSocket => {
            crate::websocket::run(base, query, net, headers, shared, connected).await
        }
        Transport::Sse => sse(base, query, net, headers, shared, connected).await,
        Transport::Polling => polling(base, query, net, headers, shared, connected).await,
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
            Ok(Ok(r)) => {
                return match refusal(r.status(), r.headers()) {
                    Some(why) => Ended::Refused(why),
                    None => Ended::Failed(format!("status {}", r.status())),
                }
            }
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
    match Received::from_sse(frame) {
        Ok(Some(received)) => shared.received(received).await,
        Ok(None) => true,
        Err(e) => {
            tracing::debug!(error = %e, "skipped an SSE frame");
            true
        }
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
            Ok(Err(PollError::Refused(why))) => return Ended::Refused(why),
            Ok(Err(PollError::Other(why))) => return lost_or_failed(established, why),
            Err(_) => return lost_or_failed(established, "poll timed out".into()),
        };
        if let Some(connected) = connected.take() {
            connected();
        }
        for received in page {
            if !shared.received(received).await {
                return Ended::Stopped;
            }
        }
    }
}

/// One poll: the page, in the order to act on it. A connection closed between polls (keep-alive ended, or a proxy
/// that serves one request per connection) is replaced within the session; one that breaks
/// during a poll ends the session (and the next calls the header hook again).
async fn poll(
    connection: &mut Connection,
    base: &str,
    net: &Net,
    path: &str,
    headers: &[(HeaderName, HeaderValue)],
) -> Result<Vec<Received>, PollError> {
    if !connection.reusable().await {
        *connection = Connection::open(base, &net.proxies, &net.tls, CONNECT_TIMEOUT)
            .await
            .map_err(PollError::Other)?;
    }
    let response = connection
        .get(path, headers)
        .await
        .map_err(PollError::Other)?;
    if !response.status().is_success() {
        return Err(match refusal(response.status(), response.headers()) {
            Some(why) => PollError::Refused(why),
            None => PollError::Other(format!("status {}", response.status())),
        });
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| PollError::Other(chain(&e)))?
        .to_bytes();
    Received::from_page(&body).map_err(|e| PollError::Other(e.to_string()))
}

/// Why a poll got no page.
enum PollError {
    Refused(String),
    Other(String),
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
            token: Some(Arc::new(|| Some("t.o.k".to_owned()))),
        };
        let good = net(vec![("Authorization".into(), "Bearer x".into())]);
        assert_eq!(good.headers().unwrap()[0].0, "authorization");
        assert_eq!(
            good.headers().unwrap().len(),
            1,
            "the hook's Authorization wins"
        );
        let token_only = net(Vec::new()).headers().unwrap();
        assert_eq!(token_only[0].1, "Bearer t.o.k");
        let bad_name = net(vec![("Bad Name".into(), "x".into())]).headers();
        assert!(bad_name
            .unwrap_err()
            .contains("\"Bad Name\" is not a valid header name"));
        let bad_value = net(vec![("X-Token".into(), "a\nb".into())]).headers();
        assert!(bad_value.unwrap_err().contains("X-Token"));
    }

    #[test]
    fn only_the_edges_bearer_challenge_is_a_credentials_refusal() {
        let with = |challenge: &str| {
            let mut h = http::HeaderMap::new();
            h.insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_str(challenge).unwrap(),
            );
            h
        };
        let expired = with("Bearer realm=\"adic-stream\", error=\"invalid_token\", error_description=\"the token expired\"");
        assert_eq!(
            refusal(http::StatusCode::UNAUTHORIZED, &expired).as_deref(),
            Some("status 401 Unauthorized: the token expired")
        );
        assert!(refusal(http::StatusCode::FORBIDDEN, &expired).is_some());
        let none = http::HeaderMap::new();
        assert!(
            refusal(http::StatusCode::FORBIDDEN, &none).is_none(),
            "a proxy's plain 403 is a transport failure (fall back)"
        );
        assert!(refusal(http::StatusCode::UNAUTHORIZED, &none).is_some());
        assert!(refusal(http::StatusCode::BAD_GATEWAY, &expired).is_none());
    }
}
