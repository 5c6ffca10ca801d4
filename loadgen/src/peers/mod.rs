//! The peers we compare with, fed the same events with the same bytes as the edge.
//!
//! - [`bridge`]: reads the JetStream stream the way an edge does (an ordered push consumer,
//!   cursor = epoch + stream sequence), builds each event's WebSocket payload and SSE frame with
//!   the same code as the edge, and hands them to Pushpin's HTTP control API and/or publishes
//!   the WebSocket payload on a core subject of a second nats-server (whose WebSocket listener
//!   clients use).
//! - [`origin`]: the backend Pushpin asks about every new client. It answers with GRIP
//!   instructions: hold an SSE stream on the channel, or subscribe a WebSocket (over
//!   WebSocket-over-HTTP) to it.
//!
//! Their configurations are checked in under `loadgen/peers/`; docs/benchmarks.md ("Peers")
//! describes the setup.

pub mod bridge;
pub mod origin;

/// The Pushpin channel every event is published to and every client subscribed to.
pub const PUSHPIN_CHANNEL: &str = "adic-events";

/// The subject on the WebSocket nats-server that carries each event's WebSocket payload.
pub const NATS_WS_SUBJECT: &str = "adic.ws.events";
