//! Step 4 of admission on a WebSocket: the `Origin` allowlist before the upgrade, the token
//! after it (from the upgrade request, or the first message), and tokens refreshed in-band.

use std::sync::Arc;

use adic_protocol::ws::{ClientMessage, ServerMessage};
use axum::http::{header, HeaderMap};

use super::frame::{self, Inbound};
use super::Socket;
use crate::admission;
use crate::auth::{AuthError, Grant};
use crate::connections::Transport;
use crate::session::Session;
use crate::state::Edge;

/// Whether a browser page of this `Origin` may open a WebSocket (cross-site WebSocket
/// hijacking: a page elsewhere riding on the user's cookies). No `Origin`: not a browser.
pub(super) fn origin_allowed(allowed: &[String], headers: &HeaderMap) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    if allowed.iter().any(|o| o.trim() == "*") {
        return Ok(());
    }
    let origin = origin
        .to_str()
        .map_err(|_| "the Origin header must be visible ASCII".to_owned())?;
    if allowed
        .iter()
        .any(|o| o.trim().eq_ignore_ascii_case(origin))
    {
        Ok(())
    } else {
        Err(format!(
            "WebSocket connections from origin {origin:?} are not allowed on this edge (--ws-origins)"
        ))
    }
}

/// Step 4 of admission over the socket: the upgrade's token, or else the first message, which
/// must be `Auth` and come within `--auth-timeout`. `Ok(None)`: the client left.
pub(super) async fn sign_in(
    socket: &mut Socket,
    edge: &Edge,
    token: Result<Option<String>, AuthError>,
) -> Result<Option<Grant>, AuthError> {
    let token = match token {
        Ok(Some(token)) => token,
        Ok(None) => {
            let auth = edge
                .auth
                .as_ref()
                .expect("sign-in runs with authentication on");
            match tokio::time::timeout(auth.timeout, first_token(socket)).await {
                Ok(Ok(Some(token))) => token,
                Ok(Ok(None)) => return Ok(None),
                Ok(Err(e)) => {
                    admission::auth_refused(edge, Transport::WebSocket, &e);
                    return Err(e);
                }
                Err(_) => {
                    let e = AuthError::Invalid(format!(
                        "no Auth message within {}s of connecting",
                        auth.timeout.as_secs_f32()
                    ));
                    admission::auth_refused(edge, Transport::WebSocket, &e);
                    return Err(e);
                }
            }
        }
        Err(e) => {
            admission::auth_refused(edge, Transport::WebSocket, &e);
            return Err(e);
        }
    };
    let grant = admission::authenticate(edge, Transport::WebSocket, Some(&token))
        .await?
        .expect("authentication is on");
    if !socket.send_message(&authenticated(&grant)).await {
        return Ok(None);
    }
    Ok(Some(grant))
}

/// The first message of a connection without a token: its `Auth` token. `Ok(None)`: the
/// client left.
async fn first_token(socket: &mut Socket) -> Result<Option<String>, AuthError> {
    loop {
        match socket.recv().await {
            Err(_) | Ok(Inbound::Close(_)) => return Ok(None),
            Ok(Inbound::Ping(payload)) => {
                if !socket
                    .send(&[&frame::server_frame(frame::OP_PONG, &payload)])
                    .await
                {
                    return Ok(None);
                }
            }
            Ok(Inbound::Pong) => {}
            Ok(Inbound::Text(text)) => {
                return match ClientMessage::parse(&text) {
                    Ok(ClientMessage::Auth { token }) => Ok(Some(token.0)),
                    _ => Err(AuthError::Missing),
                }
            }
            Ok(Inbound::Binary) => return Err(AuthError::Missing),
        }
    }
}

/// The reply to a token: who, what, until when.
pub(super) fn authenticated(grant: &Grant) -> ServerMessage {
    ServerMessage::Authenticated {
        sub: grant.sub.clone(),
        events: grant.names(),
        expires: grant.exp,
    }
}

/// A fresh token on an open connection: the session continues under its grant (events
/// already queued are checked against it), until its expiry. A refused token changes
/// nothing: the connection keeps the grant it has until that expires.
pub(super) async fn refresh(
    session: &mut Session,
    sub: Option<&str>,
    token: &str,
) -> ServerMessage {
    let edge = Arc::clone(session.edge());
    match admission::authenticate(&edge, Transport::WebSocket, Some(token)).await {
        Ok(Some(grant)) if grant.sub.as_deref() == sub => {
            session.regrant(grant.allowed, grant.ends_at);
            authenticated(&grant)
        }
        Ok(Some(_)) => ServerMessage::error(
            "a refreshed token must name the same sub as the connection's; reconnect to change it",
        ),
        Ok(None) => ServerMessage::error("this edge does not use authentication"),
        Err(e) => ServerMessage::error(format!(
            "token refused, the previous one still applies: {e}"
        )),
    }
}
