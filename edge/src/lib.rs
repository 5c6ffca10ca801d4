//! The stateless ADIC streaming edge.
//!
//! An edge consumes the one JetStream stream of ADIC events and serves WebSocket and SSE clients.
//! Every edge sees the same stream sequence, so a client's cursor means the same thing on any
//! edge.
//!
//! Layout, following the data: [`broker`] (the seam to NATS) → [`feed`] (validate and encode
//! once) → [`hub`] (fan-out into each client's bounded [`queue`]) → [`session`] (the per-client
//! loop) → [`transport`] (WebSocket, SSE and polling adapters). Every request first passes
//! [`admission`] (one order, one count), and every refusal is an [`error::ApiError`]. Around
//! them: [`config`], [`app`] (startup, drain), [`server`] (the accept loop; SSE served on the
//! socket), [`http`] (routes, health, metrics), [`metrics`], [`trace`] (the edge's spans of an
//! event's trace), [`connections`] (the connection cap), [`state`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use adic_edge::{broker::nats::NatsBroker, config::EdgeSettings, App};
//! use adic_publisher::{NatsArgs, StreamSettings};
//!
//! # async fn run() -> anyhow::Result<()> {
//! let client = NatsArgs::url("nats://127.0.0.1:4222").connect("adic-edge").await?;
//! let broker = NatsBroker::new(client, StreamSettings::default());
//! let app = App::build(EdgeSettings::default(), Arc::new(broker)).await?;
//! println!("listening on {}", app.local_addr());
//! app.run(async { tokio::signal::ctrl_c().await.ok(); }).await
//! # }
//! ```

pub mod admission;
pub mod app;
pub mod auth;
pub mod broker;
pub mod cli;
pub mod client_addr;
pub mod config;
pub mod connections;
pub mod dashboard;
pub mod demo;
pub mod encoded;
pub mod error;
pub mod feed;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod probe;
pub mod queue;
pub mod replay;
pub mod resume;
pub mod ring;
pub mod server;
pub mod session;
pub mod snapshots;
pub mod state;
pub mod tls;
pub mod trace;
pub mod transport;

pub use app::App;
