//! The `adic-publisher` commands: `simulate` (a synthetic node), `publish` (JSON lines from
//! stdin) and `relay` (an unmodified node's own event stream, [`crate::relay`]), all publishing
//! through [`Publisher`].

use std::io::BufRead;
use std::time::Duration;

use adic_protocol::{Kind, ValidEvent};
use anyhow::Context;
use bytes::Bytes;
use clap::{Parser, Subcommand};
use futures::StreamExt;

use crate::simulate::{self, SimConfig};
use crate::{NatsArgs, Publisher, PublisherConfig, StreamSettings};

/// Publishes ADIC events onto NATS JetStream.
#[derive(Debug, Parser)]
#[command(name = "adic-publisher", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a synthetic ADIC node and publish its events.
    Simulate(SimulateArgs),
    /// Publish event JSON lines read from stdin.
    Publish(PublishArgs),
    /// Relay an unmodified node's /v1/ws/events (or /v1/sse/events) into the stream.
    Relay(crate::relay::RelayArgs),
}

/// Where and how to publish.
#[derive(Debug, clap::Args)]
pub struct Target {
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub stream: StreamSettings,
    /// Events buffered while NATS is away; past this, events are dropped and counted.
    #[arg(long, env = "ADIC_PUBLISHER_BUFFER", default_value_t = 100_000)]
    pub buffer: usize,
    /// Serve Prometheus metrics on this address (`GET /metrics`), e.g. 0.0.0.0:9464.
    #[arg(long, env = "ADIC_PUBLISHER_METRICS_LISTEN")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub target: Target,
    /// Time factor: 2 runs the node twice as fast.
    #[arg(long, env = "ADIC_PUBLISHER_SPEED", default_value_t = 1.0)]
    pub speed: f64,
    /// Seed for the simulated node's choices.
    #[arg(long, env = "ADIC_PUBLISHER_SEED")]
    pub seed: Option<u64>,
    /// Stop after this many events.
    #[arg(long, env = "ADIC_PUBLISHER_COUNT")]
    pub count: Option<u64>,
}

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub target: Target,
}

impl Target {
    async fn publisher(&self) -> anyhow::Result<Publisher> {
        self.publisher_with(std::sync::Arc::new(())).await
    }

    /// Connects the publisher and serves its metrics with what `extra` adds.
    pub(crate) async fn publisher_with(
        &self,
        extra: std::sync::Arc<dyn crate::metrics::Extra>,
    ) -> anyhow::Result<Publisher> {
        let config = PublisherConfig {
            stream: self.stream.clone(),
            buffer: self.buffer,
            msg_id_prefix: None,
        };
        let publisher = Publisher::connect(&self.nats, config)
            .await
            .context("connecting to NATS")?;
        if let Some(addr) = self.metrics_listen {
            let bound = crate::metrics::serve_with(publisher.clone(), addr, extra)
                .await
                .with_context(|| format!("serving metrics on {addr}"))?;
            tracing::info!(%bound, "metrics on /metrics");
        }
        Ok(publisher)
    }
}

/// Runs a command until it ends or `shutdown` resolves, then flushes what is buffered.
pub async fn run(cli: Cli, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let (publisher, work) = match cli.command {
        Command::Simulate(args) => {
            anyhow::ensure!(
                args.speed > 0.0 && args.speed.is_finite(),
                "--speed must be a positive number"
            );
            let publisher = args.target.publisher().await?;
            let work = simulate_into(
                publisher.clone(),
                SimConfig {
                    speed: args.speed,
                    seed: args.seed,
                },
                args.count,
            );
            (publisher, futures::future::Either::Left(work))
        }
        Command::Publish(args) => {
            let publisher = args.target.publisher().await?;
            let work = stdin_into(publisher.clone(), args.target.stream.prefix.clone());
            (publisher, futures::future::Either::Right(work))
        }
        Command::Relay(args) => return crate::relay::run(args, shutdown).await,
    };
    tokio::select! {
        result = work => result?,
        () = shutdown => tracing::info!("shutting down"),
    }
    if tokio::time::timeout(Duration::from_secs(10), publisher.flush())
        .await
        .is_err()
    {
        tracing::warn!(
            buffered = publisher.stats().buffered,
            "NATS did not take every buffered event within 10 s"
        );
    }
    let stats = publisher.stats();
    tracing::info!(?stats, "publisher stopped");
    eprintln!(
        "published {} events ({} acked, {} retried, {} dropped)",
        stats.published,
        stats.acked,
        stats.retried,
        stats.dropped_full + stats.dropped_rejected
    );
    Ok(())
}

async fn simulate_into(
    publisher: Publisher,
    config: SimConfig,
    count: Option<u64>,
) -> anyhow::Result<()> {
    let events = simulate::stream(config).take(count.map_or(usize::MAX, |n| n as usize));
    futures::pin_mut!(events);
    let mut report = tokio::time::interval(Duration::from_secs(10));
    report.tick().await;
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(event) => {
                    if let Err(e) = publisher.publish(&event) {
                        tracing::warn!(error = %e, kind = %event.kind(), "event not published");
                    }
                }
                None => return Ok(()),
            },
            _ = report.tick() => tracing::info!(stats = ?publisher.stats(), "publishing"),
        }
    }
}

/// Reads one event JSON object per line. A bad line is reported with its number and skipped.
async fn stdin_into(publisher: Publisher, prefix: String) -> anyhow::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(usize, String)>(1024);
    std::thread::spawn(move || {
        for (n, line) in std::io::stdin().lock().lines().enumerate() {
            let Ok(line) = line else { break };
            if tx.blocking_send((n + 1, line)).is_err() {
                break;
            }
        }
    });
    while let Some((n, line)) = rx.recv().await {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(&prefix, &line) {
            Ok((kind, json)) => {
                if let Err(e) = publisher.publish_json(kind, json) {
                    eprintln!("line {n}: {e}");
                }
            }
            Err(e) => eprintln!("line {n}: {e}"),
        }
    }
    Ok(())
}

/// Validates one line: an event object of a known kind.
fn parse_line(prefix: &str, line: &str) -> anyhow::Result<(Kind, Bytes)> {
    let variant = serde_json::from_str::<serde_json::Value>(line)
        .context("not JSON")?
        .get("type")
        .and_then(|t| t.as_str().map(str::to_owned))
        .context("expected an event object {\"type\": ..., \"data\": {...}}")?;
    let kind = Kind::from_variant(&variant).with_context(|| {
        format!("unknown event type {variant:?}: use a variant name such as \"TipsUpdated\"")
    })?;
    let event = ValidEvent::parse(prefix, &kind.subject(prefix), line.as_bytes())?;
    Ok((kind, Bytes::from(event.json)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_validated() {
        let (kind, json) = parse_line(
            "adic.events",
            r#"{"type": "MessageAdded", "data": {"message_id": "ab", "depth": 1, "timestamp": 1}}"#,
        )
        .unwrap();
        assert_eq!(kind, Kind::MessageAdded);
        assert_eq!(
            &json[..],
            br#"{"type":"MessageAdded","data":{"message_id":"ab","depth":1,"timestamp":1}}"#
        );
        assert!(parse_line("adic.events", "nope").is_err());
        assert!(parse_line("adic.events", r#"{"type":"Nope","data":{}}"#).is_err());
        assert!(parse_line("adic.events", r#"{"type":"MessageAdded"}"#).is_err());
    }
}
