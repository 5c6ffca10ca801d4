//! A client for adic-stream edges that never loses an event.
//!
//! It connects over WebSocket, falls back to SSE and then to polling when a transport cannot be
//! established (an upgrade refused, a proxy that strips it, repeated failures), resumes from the
//! last cursor it delivered on every reconnect (rotating over several edge URLs with jittered
//! exponential backoff), drops duplicates by cursor, and surfaces gaps and resets instead of
//! hiding them. It speaks TLS (rustls) to `https://` edges, goes through the proxies that
//! `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` name, sends headers a hook supplies (auth), reports a
//! checkpoint once the consumer has processed an event, and keeps statistics.
//!
//! ```no_run
//! use adic_client::{Client, Item};
//! use futures::StreamExt;
//!
//! # async fn run() -> Result<(), adic_client::Error> {
//! let mut items = Client::builder(["http://127.0.0.1:9121"])
//!     .events(["message.new"])
//!     .checkpoint(|cursor| println!("processed up to {cursor}"))
//!     .subscribe()?;
//! while let Some(item) = items.next().await {
//!     if let Item::Event { id, event } = item {
//!         println!("{id} {event}");
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Layout: [`client`] (builder, the reconnect loop), [`items`] (the item stream and the
//! checkpoint), `session` (one connection over one transport), `proxy` (proxy environment and
//! `CONNECT` tunnels), [`tls`] (roots and the rustls configuration), [`stats`], [`backoff`],
//! [`error`].

pub mod backoff;
pub mod client;
pub mod error;
mod http;
pub mod items;
mod proxy;
mod session;
pub mod stats;
pub mod tls;
mod websocket;

pub use client::{Client, ClientBuilder, Item, State, Transport};
pub use error::Error;
pub use items::Items;
pub use stats::{Stats, StatsHandle};
pub use tls::Roots;
