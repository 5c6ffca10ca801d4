//! A client for adic-stream edges that never loses an event.
//!
//! It connects over WebSocket, falls back to SSE and then to polling when a transport cannot be
//! established (an upgrade refused, a proxy that strips it, repeated failures), resumes from the
//! last cursor it delivered on every reconnect (rotating over several edge URLs with jittered
//! exponential backoff), drops duplicates by cursor, and surfaces gaps and resets instead of
//! hiding them.
//!
//! ```no_run
//! use adic_client::{Client, Item};
//! use futures::StreamExt;
//!
//! # async fn run() {
//! let mut items = Client::builder(["http://127.0.0.1:9121"]).events(["message.new"]).subscribe();
//! while let Some(item) = items.next().await {
//!     if let Item::Event { id, event } = item {
//!         println!("{id} {event}");
//!     }
//! }
//! # }
//! ```
//!
//! Layout: [`client`] (builder, the reconnect loop, the item stream), [`session`] (one connection
//! over one transport), [`backoff`].

pub mod backoff;
pub mod client;
pub mod session;

pub use client::{Client, ClientBuilder, Item, Items, State, Transport};
