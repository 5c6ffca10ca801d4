//! A WebSocket session: the upgrade (through a proxy tunnel and TLS where they apply), the
//! contract's messages, and, with a token provider, the token sent again in-band before it
//! expires, so the connection is kept.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adic_protocol::received::Received;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::Connector;
use url::Url;

use crate::proxy;
use crate::session::{
    chain, query_string, Ended, Headers, Net, Query, Shared, CONNECT_TIMEOUT, SILENCE,
};

/// Opens the WebSocket: TCP (through a `CONNECT` tunnel when a proxy applies), TLS for
/// `https` edges, then the upgrade with the extra headers.
async fn open_websocket(
    base: &str,
    url: &str,
    net: &Net,
    headers: Headers,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Ended,
> {
    let failed = Ended::Failed;
    let target = Url::parse(base).map_err(|e| failed(e.to_string()))?;
    let host = target.host_str().unwrap_or_default().to_owned();
    let port = target.port_or_known_default().unwrap_or(80);
    let mut request = url
        .into_client_request()
        .map_err(|e| failed(e.to_string()))?;
    request.headers_mut().extend(headers);
    let stream = proxy::connect(net.proxies.for_url(&target), &host, port, CONNECT_TIMEOUT)
        .await
        .map_err(failed)?;
    let connector = Connector::Rustls(Arc::clone(&net.tls));
    let handshake =
        tokio_tungstenite::client_async_tls_with_config(request, stream, None, Some(connector));
    match tokio::time::timeout(CONNECT_TIMEOUT, handshake).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => Err(
            match crate::session::refusal(response.status(), response.headers()) {
                Some(why) => Ended::Refused(why),
                None => Ended::Failed(format!("upgrade refused: status {}", response.status())),
            },
        ),
        Ok(Err(e)) => Err(Ended::Failed(chain(&e))),
        Err(_) => Err(Ended::Failed("WebSocket handshake timed out".into())),
    }
}

/// When to send the token again: well before `expires` (Unix seconds), and never in the past.
fn refresh_time(expires: u64) -> tokio::time::Instant {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let left = expires.saturating_sub(now);
    // A minute ahead, or halfway for a short-lived token.
    let ahead = if left > 120 { 60 } else { left / 2 };
    tokio::time::Instant::now() + Duration::from_secs(left - ahead)
}

pub(crate) async fn run(
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
        Err(ended) => return ended,
    };
    connected();
    // With a token provider: when to send the token again, in-band, to keep the connection.
    let mut refresh_at: Option<tokio::time::Instant> = None;
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout(SILENCE, ws.next()) => next,
            () = async { tokio::time::sleep_until(refresh_at.expect("guarded")).await },
                if refresh_at.is_some() => {
                refresh_at = None;
                if let Some(token) = net.token() {
                    let auth = json!({"type": "Auth", "token": token}).to_string();
                    if ws.send(Message::text(auth)).await.is_err() {
                        return Ended::Lost("connection ended".into());
                    }
                }
                continue;
            }
        };
        let message = match next {
            Err(_) => return Ended::Lost("no data and no ping within 45 s".into()),
            Ok(None) => return Ended::Lost("connection ended".into()),
            Ok(Some(Err(e))) => return Ended::Lost(chain(&e)),
            Ok(Some(Ok(message))) => message,
        };
        let text = match message {
            Message::Text(text) => text,
            Message::Close(frame) => {
                let Some(frame) = frame else {
                    return Ended::Lost("closed".into());
                };
                let why = format!("closed {}: {}", u16::from(frame.code), frame.reason);
                // 4401: no token, a refused one, or one that expired; 4403: not allowed.
                return match u16::from(frame.code) {
                    4401 | 4403 => Ended::Refused(why),
                    _ => Ended::Lost(why),
                };
            }
            _ => continue,
        };
        let alive = match Received::from_ws(text.as_str()) {
            Ok(Received::Authenticated { expires, .. }) => {
                if net.token.is_some() {
                    refresh_at = Some(refresh_time(expires));
                }
                true
            }
            Ok(received) => shared.received(received).await,
            Err(e) => {
                tracing::debug!(error = %e, "skipped a WebSocket message");
                true
            }
        };
        if !alive {
            return Ended::Stopped;
        }
    }
}
