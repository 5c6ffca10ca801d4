//! Publishes ADIC events onto NATS JetStream.
//!
//! A node embeds [`Publisher`]: it connects (several URLs, user/password, token, credentials
//! file, TLS), makes sure the stream exists, and publishes each event on its kind's subject with
//! a JetStream ack, a `Nats-Msg-Id` for de-duplication of retries and the caller's W3C
//! `traceparent`, in order, buffering (bounded) while NATS is away.
//!
//! Layout: [`connect`] (NATS options), [`env`] (settings from the environment), [`stream`] (the one stream), [`publisher`] (the handle and
//! its task), [`trace`] (trace context headers), [`telemetry`] (logs and OTLP trace export),
//! [`metrics`] (Prometheus), [`signal`] (SIGTERM and Ctrl-C), [`simulate`] (a synthetic node for demos and tests), [`relay`]
//! (an unmodified node's own event stream into the tier), [`cli`] (the `adic-publisher` commands).
//!
//! ```no_run
//! use adic_protocol::event::{Event, MessageAdded};
//! use adic_publisher::{NatsArgs, Publisher, PublisherConfig};
//!
//! # async fn run() -> anyhow::Result<()> {
//! let publisher = Publisher::connect(&NatsArgs::url("nats://127.0.0.1:4222"), PublisherConfig::default()).await?;
//! publisher.publish(&Event::MessageAdded(MessageAdded {
//!     message_id: "ab12".into(),
//!     depth: 7,
//!     timestamp: 1_760_550_000,
//! }))?;
//! publisher.flush().await;
//! # Ok(())
//! # }
//! ```

pub mod cli;
pub mod connect;
pub mod env;
pub mod metrics;
pub mod publisher;
pub mod relay;
pub mod signal;
pub mod simulate;
pub mod stream;
pub mod telemetry;
pub mod trace;

pub use connect::{ConnectError, NatsArgs};
pub use publisher::{Outcome, PublishError, Publisher, PublisherConfig, Receipt, Stats};
pub use stream::{StreamError, StreamSettings};
