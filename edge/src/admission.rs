//! Admission: the one place that decides whether a client may start a WebSocket, SSE or polling
//! request, in one order, each refusal counted once
//! (`adic_edge_connections_rejected_total{transport,reason}`).
//!
//! The order, for every transport:
//!
//! 1. the transport is enabled on this edge (else `disabled`: 404, it will not get better here);
//! 2. the edge is not draining (else `draining`: go to another edge);
//! 3. there is room under `--max-connections` (else `capacity`); a WebSocket or SSE client keeps
//!    its slot for as long as it is connected, a poll for as long as it is answered (a held long
//!    poll holds a socket too);
//! 4. (authentication and authorization will come here, before any work is done for the
//!    request);
//! 5. the request itself is valid (filters, cursors, parameters: `400` / close 4100, counted as
//!    a client error, not here);
//! 6. the resume can be planned (`not_ready` while the edge has no stream to read, or a cursor
//!    beyond the stream: a client error).
//!
//! Steps 1–3 are [`admit`]; 5 and 6 belong to the transports, which map each [`Refusal`] to
//! their wire (WebSocket: HTTP status before the upgrade; SSE: `200` with `retry:` for what
//! another edge or a later try can serve, because browsers never retry a non-200 SSE response;
//! polling: the HTTP status).

use std::sync::Arc;

use axum::http::StatusCode;

use crate::connections::{ConnectionGuard, Transport};
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
    /// The edge cannot serve yet (no NATS, no live consumer, a stream being recreated).
    NotReady,
}

impl Refusal {
    /// The `reason` label of the rejected-connections counter.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Disabled => "disabled",
            Refusal::Draining => "draining",
            Refusal::Capacity => "capacity",
            Refusal::NotReady => "not_ready",
        }
    }

    /// Whether another edge, or the same one a little later, may take the request.
    pub fn elsewhere(self) -> bool {
        !matches!(self, Refusal::Disabled)
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
            Refusal::NotReady => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "edge is not ready")
                    .code("not_ready")
            }
        }
    }
}

/// Steps 1–3 of the order above: a connection slot for `transport`, or why not. A refusal is
/// counted here.
pub fn admit(edge: &Arc<Edge>, transport: Transport) -> Result<ConnectionGuard, Refusal> {
    let decision = decide(edge, transport);
    if let Err(refusal) = decision {
        rejected(edge, transport, refusal);
    }
    decision
}

fn decide(edge: &Arc<Edge>, transport: Transport) -> Result<ConnectionGuard, Refusal> {
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
    edge.connections
        .try_acquire(transport)
        .ok_or(Refusal::Capacity)
}

/// Counts a refusal decided after admission (step 6: not ready).
pub fn rejected(edge: &Edge, transport: Transport, refusal: Refusal) {
    edge.metrics
        .connections_rejected
        .with_label_values(&[transport.label(), refusal.reason()])
        .inc();
}
