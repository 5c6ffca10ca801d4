//! The publisher side of the failure tests: [`NumberedPublisher`] publishes numbered events at a
//! steady rate, with a `Nats-Msg-Id` derived from each number so that a re-sent number is stored
//! once, and can stop cleanly or crash.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use adic_protocol::Kind;
use adic_publisher::{Publisher, PublisherConfig, StreamSettings};
use anyhow::Context;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::World;

/// The event the publisher sends as number `n`: every fifth a snapshot (`tips.update`), the rest
/// log events (`message.new`), with `pad` bytes of padding.
pub fn event(n: u64, pad: usize) -> (Kind, String) {
    let filler = "x".repeat(pad);
    if n.is_multiple_of(5) {
        let json =
            json!({"type": "TipsUpdated", "data": {"tips": [filler], "count": n, "timestamp": 1}});
        (Kind::TipsUpdated, json.to_string())
    } else {
        let json = json!({"type": "MessageAdded", "data": {"message_id": filler, "depth": n, "timestamp": 1}});
        (Kind::MessageAdded, json.to_string())
    }
}

/// A publisher that numbers its events and derives each `Nats-Msg-Id` from the number, as a
/// node would: publishing the same number again is stored once.
pub struct NumberedPublisher {
    pub publisher: Publisher,
    next: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl NumberedPublisher {
    /// Publishes numbers from `from` on, `rate` per second, each padded with `pad` bytes.
    pub async fn start(
        world: &World,
        from: u64,
        rate: u32,
        pad: usize,
    ) -> anyhow::Result<NumberedPublisher> {
        let client = world.cluster.client().await?;
        Ok(NumberedPublisher::start_on(
            client,
            world.stream.clone(),
            from,
            rate,
            pad,
        ))
    }

    /// [`NumberedPublisher::start`] on any server's `stream` (e.g. a single
    /// [`TestNats`](crate::nats::TestNats) with [`stream_settings`](crate::edge::stream_settings)).
    pub fn start_on(
        client: async_nats::Client,
        stream: StreamSettings,
        from: u64,
        rate: u32,
        pad: usize,
    ) -> NumberedPublisher {
        let config = PublisherConfig {
            stream: stream.clone(),
            ..PublisherConfig::default()
        };
        let publisher = Publisher::start(client, config);
        let next = Arc::new(AtomicU64::new(from));
        let (stop, mut stopped) = watch::channel(false);
        let task = {
            let (publisher, next, prefix) =
                (publisher.clone(), Arc::clone(&next), stream.prefix.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stopped.changed() => return,
                    }
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let (kind, json) = event(n, pad);
                    let _ = publisher.publish_with_id(
                        kind.subject(&prefix),
                        json.into(),
                        format!("ev-{n}"),
                    );
                }
            })
        };
        NumberedPublisher {
            publisher,
            next,
            stop,
            task,
        }
    }

    /// The next number it would publish.
    pub fn next(&self) -> u64 {
        self.next.load(Ordering::SeqCst)
    }

    /// Stops publishing and waits until everything queued is acked; returns the last number.
    pub async fn finish(self) -> anyhow::Result<u64> {
        let _ = self.stop.send(true);
        let next = Arc::clone(&self.next);
        self.task.await?;
        tokio::time::timeout(Duration::from_secs(60), self.publisher.flush())
            .await
            .context("publisher did not flush")?;
        Ok(next.load(Ordering::SeqCst) - 1)
    }

    /// Stops at once, dropping whatever was not acked yet (a crash); returns the last number
    /// handed to the publisher.
    pub async fn crash(self) -> u64 {
        let _ = self.stop.send(true);
        let next = Arc::clone(&self.next);
        let _ = self.task.await;
        next.load(Ordering::SeqCst) - 1
    }
}
