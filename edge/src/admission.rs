//! Admission: the one place that decides whether a client may start a WebSocket, SSE or polling
//! request, in one order, each refusal counted once
//! (`adic_edge_connections_rejected_total{transport,reason}`).
//!
//! The order, for every transport:
//!
//! 1. the transport is enabled on this edge (else `disabled`: 404, it will not get better here);
//! 2. the edge is not draining (else `draining`: go to another edge);
//! 3. there is room under `--max-connections` (else `capacity`) and under
//!    `--max-connections-per-ip` for the client's address (else `per_ip`: 429; the address is
//!    the peer's, or a `--trusted-proxies` proxy's `X-Forwarded-For`); a WebSocket or SSE client keeps
//!    its slot for as long as it is connected, a poll for as long as it is answered (a held long
//!    poll holds a socket too);
//! 4. a WebSocket upgrade from a browser comes from an origin `--ws-origins` allows (else
//!    `origin`: 403); with `--auth jwt`, the token: present and valid (else `unauthorized`: 401, or close
//!    4401 after a WebSocket upgrade), and allowing what the filter names (else `forbidden`:
//!    403, or close 4403); [`authenticate`] and [`authorize`]. A WebSocket client without a
//!    token at the upgrade gets `--auth-timeout` to send an `Auth` message instead;
//! 5. the request itself is valid (filters, cursors, parameters: `400` / close 4100, counted as
//!    a client error, not here);
//! 6. the resume can be planned (`not_ready` while the edge has no stream to read, or a cursor
//!    beyond the stream: a client error).
//!
//! Steps 1–3 are [`admit`], 4 is [`authenticate`] then [`authorize`]; 5 and 6 belong to the transports, which map each [`Refusal`] to
//! their wire (WebSocket: HTTP status before the upgrade; SSE: `200` with `retry:` for what
//! another edge or a later try can serve, because browsers never retry a non-200 SSE response;
//! polling: the HTTP status).

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};

use adic_protocol::Subscription;

use crate::auth::{AuthError, Grant};
use crate::client_addr::{client_ip, PeerAddr};
use crate::connections::{ConnectionGuard, Full, Transport};
use crate::error::ApiError;
use crate::state::Edge;

/// Why a request was not admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The transport is turned off on this edge.
    Disabled,
    /// The edge is shutting down.
    Draining,
    /// The edge is at its connection limit.
    Capacity,
    /// The client's address is at `--max-connections-per-ip`.
    PerIp,
    /// The edge cannot serve yet (no NATS, no live consumer, a stream being recreated).
    NotReady,
    /// A browser page of an origin `--ws-origins` does not list.
    Origin,
}

impl Refusal {
    /// The `reason` label of the rejected-connections counter.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Disabled => "disabled",
            Refusal::Draining => "draining",
            Refusal::Capacity => "capacity",
            Refusal::PerIp => "per_ip",
            Refusal::NotReady => "not_ready",
            Refusal::Origin => "origin",
        }
    }

    /// Whether another edge, or the same one a little later, may take the request.
    pub fn elsewhere(self) -> bool {
        !matches!(self, Refusal::Disabled | Refusal::Origin)
    }

    /// The refusal as an HTTP error in the one error shape.
    pub fn error(self, transport: Transport) -> ApiError {
        let other = match transport {
            Transport::WebSocket => "/v1/sse/events",
            Transport::Sse => "/v1/ws/events",
            Transport::Polling => "/v1/sse/events",
        };
        match self {
            Refusal::Disabled => ApiError::new(
                StatusCode::NOT_FOUND,
                format!("{} is disabled on this edge; use {other}", transport.name()),
            )
            .code("transport_disabled"),
            Refusal::Draining => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "edge is draining; connect to another edge",
            )
            .code("draining"),
            Refusal::Capacity => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "edge is at its connection limit",
            )
            .code("capacity"),
            Refusal::PerIp => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections from this address (--max-connections-per-ip)",
            )
            .code("too_many_connections"),
            Refusal::NotReady => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "edge is not ready")
                    .code("not_ready")
            }
            Refusal::Origin => ApiError::new(
                StatusCode::FORBIDDEN,
                "this origin may not open WebSocket connections here",
            )
            .code("origin_not_allowed"),
        }
    }
}

/// Steps 1–3 of the order above: a connection slot for `transport`, or why not. A refusal is
/// counted here.
pub fn admit(
    edge: &Arc<Edge>,
    transport: Transport,
    peer: Option<PeerAddr>,
    headers: &HeaderMap,
) -> Result<ConnectionGuard, Refusal> {
    let decision = decide(edge, transport, peer, headers);
    if let Err(refusal) = decision {
        rejected(edge, transport, refusal);
        if refusal == Refusal::PerIp {
            edge.metrics.limits_hit.with_label_values(&["per_ip"]).inc();
        }
    }
    decision
}

fn decide(
    edge: &Arc<Edge>,
    transport: Transport,
    peer: Option<PeerAddr>,
    headers: &HeaderMap,
) -> Result<ConnectionGuard, Refusal> {
    let enabled = match transport {
        Transport::WebSocket => !edge.settings.no_websocket,
        Transport::Sse => !edge.settings.no_sse,
        Transport::Polling => true,
    };
    if !enabled {
        return Err(Refusal::Disabled);
    }
    if edge.is_draining() {
        return Err(Refusal::Draining);
    }
    let ip = if edge.settings.max_connections_per_ip > 0 {
        client_ip(peer, headers, &edge.trusted_proxies)
    } else {
        None
    };
    edge.connections
        .acquire(transport, ip)
        .map_err(|full| match full {
            Full::Edge => Refusal::Capacity,
            Full::Address => Refusal::PerIp,
        })
}

/// Counts a refusal decided after admission (step 6: not ready).
pub fn rejected(edge: &Edge, transport: Transport, refusal: Refusal) {
    edge.metrics
        .connections_rejected
        .with_label_values(&[transport.label(), refusal.reason()])
        .inc();
}

/// Step 4, authentication: with `--auth jwt`, the grant of `token` (a refusal is counted);
/// `None` when authentication is off.
pub async fn authenticate(
    edge: &Edge,
    transport: Transport,
    token: Option<&str>,
) -> Result<Option<Grant>, AuthError> {
    let Some(auth) = &edge.auth else {
        return Ok(None);
    };
    let result = match token {
        None => Err(AuthError::Missing),
        Some(token) => auth.verify(token).await,
    };
    match &result {
        Ok(grant) => {
            tracing::debug!(
                sub = grant.sub.as_deref().unwrap_or(""),
                transport = transport.label(),
                "client authenticated"
            );
        }
        Err(e) => {
            tracing::debug!(error = %e, transport = transport.label(), "client not authenticated");
            auth_refused(edge, transport, e);
        }
    }
    result.map(Some)
}

/// Step 4 for a request that carries its token (SSE, polling): `Authorization: Bearer`, the
/// cookie, or the `token` query parameter.
pub async fn authenticate_request(
    edge: &Edge,
    transport: Transport,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<Option<Grant>, AuthError> {
    let Some(auth) = &edge.auth else {
        return Ok(None);
    };
    match auth.token_from(headers, query) {
        Ok(token) => authenticate(edge, transport, token.as_deref()).await,
        Err(e) => {
            auth_refused(edge, transport, &e);
            Err(e)
        }
    }
}

/// Step 4, authorization: limits `subscription` to what `grant` allows; a filter that names
/// a kind outside it is refused (and counted).
pub fn authorize(
    edge: &Edge,
    transport: Transport,
    grant: Option<&Grant>,
    subscription: &mut Subscription,
) -> Result<(), AuthError> {
    let Some(grant) = grant else {
        return Ok(());
    };
    subscription.restrict(grant.allowed).map_err(|e| {
        let error = AuthError::Forbidden(e.to_string());
        auth_refused(edge, transport, &error);
        error
    })
}

/// Counts a refusal of step 4 decided by a transport (a WebSocket client that sent no token).
pub fn auth_refused(edge: &Edge, transport: Transport, error: &AuthError) {
    edge.metrics
        .connections_rejected
        .with_label_values(&[transport.label(), error.reason()])
        .inc();
}
