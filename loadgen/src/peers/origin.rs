//! The GRIP origin behind Pushpin: Pushpin forwards each new client's request here and does what
//! the answer says.
//!
//! - A plain HTTP request (SSE) gets an empty `text/event-stream` response with
//!   `Grip-Hold: stream` and `Grip-Channel: <channel>`: Pushpin sends the headers, keeps the
//!   response open and appends whatever is published to the channel as `http-stream` content.
//! - A WebSocket arrives as WebSocket-over-HTTP (`Content-Type: application/websocket-events`,
//!   the route has `over_http`). The `OPEN` is accepted with `Sec-WebSocket-Extensions: grip`
//!   and a control message `c:{"type":"subscribe","channel":…}`; from then on Pushpin sends
//!   what is published to the channel as `ws-message` content in text frames.
//!
//! A request whose query names one kind (`?events=tips.update`) is held on that kind's channel
//! (`<channel>.tips.update`, where the bridge publishes with `--per-kind`) instead.
//!
//! The origin only works when a client connects; events never pass through it.

use axum::body::Bytes;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SEC_WEBSOCKET_EXTENSIONS};
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;

const WEBSOCKET_EVENTS: &str = "application/websocket-events";

/// Answers Pushpin on `listener` until the process ends.
pub async fn serve(listener: TcpListener, channel: String) -> anyhow::Result<()> {
    HeaderValue::from_str(&channel)?;
    let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let channel = channel_for(&channel, uri.query());
        async move {
            match HeaderValue::from_str(&channel) {
                Ok(channel) => answer(&headers, &body, channel),
                Err(_) => (
                    axum::http::StatusCode::BAD_REQUEST,
                    "events= is not a valid channel name",
                )
                    .into_response(),
            }
        }
    });
    tracing::info!(addr = %listener.local_addr()?, "GRIP origin listening");
    axum::serve(listener, app).await?;
    Ok(())
}

fn answer(headers: &HeaderMap, body: &[u8], channel: HeaderValue) -> Response {
    let over_http = headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(WEBSOCKET_EVENTS.as_bytes()));
    if !over_http {
        return (
            [
                (CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
                (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                (
                    "Grip-Hold".parse().expect("header name"),
                    HeaderValue::from_static("stream"),
                ),
                ("Grip-Channel".parse().expect("header name"), channel),
            ],
            "",
        )
            .into_response();
    }
    let channel = channel.to_str().unwrap_or_default();
    match websocket_reply(body, channel) {
        Ok(reply) => (
            [
                (CONTENT_TYPE, WEBSOCKET_EVENTS),
                (SEC_WEBSOCKET_EXTENSIONS, "grip; message-prefix=\"\""),
            ],
            reply,
        )
            .into_response(),
        Err(e) => (axum::http::StatusCode::BAD_REQUEST, e).into_response(),
    }
}

/// The channel for a request: `<base>.<kind>` when its query has `events=<kind>`, else `base`.
pub fn channel_for(base: &str, query: Option<&str>) -> String {
    let kind = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("events="))
        .filter(|kind| !kind.is_empty());
    match kind {
        Some(kind) => format!("{base}.{kind}"),
        None => base.to_owned(),
    }
}

/// The reply to a WebSocket-over-HTTP request: an `OPEN` is accepted and subscribed to
/// `channel`, a `CLOSE` acknowledged; nothing else (client messages) needs an answer.
pub fn websocket_reply(body: &[u8], channel: &str) -> Result<Vec<u8>, String> {
    let mut reply = Vec::new();
    for (name, content) in websocket_events(body)? {
        match name {
            "OPEN" => {
                let control = format!(
                    "c:{}",
                    serde_json::json!({"type": "subscribe", "channel": channel})
                );
                reply.extend_from_slice(b"OPEN\r\n");
                reply.extend_from_slice(
                    format!("TEXT {:x}\r\n{control}\r\n", control.len()).as_bytes(),
                );
            }
            "CLOSE" => {
                reply.extend_from_slice(format!("CLOSE {:x}\r\n", content.len()).as_bytes());
                reply.extend_from_slice(content);
                reply.extend_from_slice(b"\r\n");
            }
            _ => {}
        }
    }
    Ok(reply)
}

/// Splits a WebSocket-over-HTTP body into events: `NAME\r\n` or `NAME <hex size>\r\n<content>\r\n`.
pub fn websocket_events(mut body: &[u8]) -> Result<Vec<(&str, &[u8])>, String> {
    let mut events = Vec::new();
    while !body.is_empty() {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("an event line without CRLF")?;
        let line = std::str::from_utf8(&body[..line_end]).map_err(|e| e.to_string())?;
        body = &body[line_end + 2..];
        let (name, size) = match line.split_once(' ') {
            Some((name, hex)) => (
                name,
                usize::from_str_radix(hex.trim(), 16).map_err(|e| format!("{line:?}: {e}"))?,
            ),
            None => (line, 0),
        };
        let mut content: &[u8] = &[];
        if line.contains(' ') {
            if body.len() < size + 2 || &body[size..size + 2] != b"\r\n" {
                return Err(format!("{name} content shorter than {size} bytes"));
            }
            content = &body[..size];
            body = &body[size + 2..];
        }
        events.push((name, content));
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribes_an_opened_websocket() {
        let reply = websocket_reply(b"OPEN\r\n", "adic-events").unwrap();
        let events = websocket_events(&reply).unwrap();
        assert_eq!(events[0], ("OPEN", &b""[..]));
        assert_eq!(events[1].0, "TEXT");
        assert_eq!(
            events[1].1,
            br#"c:{"type":"subscribe","channel":"adic-events"}"#.as_slice()
        );
    }

    #[test]
    fn one_kind_in_the_query_picks_its_channel() {
        assert_eq!(channel_for("adic-events", None), "adic-events");
        assert_eq!(
            channel_for("adic-events", Some("heartbeat=false")),
            "adic-events"
        );
        assert_eq!(
            channel_for("adic-events", Some("a=1&events=tips.update")),
            "adic-events.tips.update"
        );
    }

    #[test]
    fn reads_events_with_and_without_content() {
        let body = b"TEXT 5\r\nhello\r\nPING\r\nCLOSE 2\r\n\x03\xe8\r\n";
        assert_eq!(
            websocket_events(body).unwrap(),
            vec![
                ("TEXT", &b"hello"[..]),
                ("PING", &b""[..]),
                ("CLOSE", &b"\x03\xe8"[..])
            ]
        );
        assert_eq!(
            websocket_reply(b"CLOSE 2\r\n\x03\xe8\r\n", "c").unwrap(),
            b"CLOSE 2\r\n\x03\xe8\r\n"
        );
        assert!(websocket_events(b"TEXT 9\r\nshort\r\n").is_err());
    }
}
