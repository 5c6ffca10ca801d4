//! The benchmark publisher: realistic mixed kinds from the simulated node, each carrying its
//! publish time (`"sent_ns"` in its data, which edges pass through), at a steady rate or as a
//! burst (as fast as the publisher takes them).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use adic_protocol::Kind;
use adic_publisher::simulate::{SimConfig, Simulator};
use adic_publisher::{NatsArgs, Publisher, PublisherConfig, StreamSettings};

use crate::stats::now_ns;

/// A pool of realistic events (kind, JSON) to publish in turn.
pub fn event_pool(size: usize) -> Vec<(Kind, String)> {
    let mut simulator = Simulator::new(SimConfig {
        speed: 1.0,
        seed: Some(7),
    });
    let mut pool: Vec<(Kind, String)> = simulator
        .start()
        .into_iter()
        .map(|e| {
            (
                e.kind(),
                serde_json::to_string(&e).expect("events serialize"),
            )
        })
        .collect();
    while pool.len() < size {
        for event in simulator.advance(Duration::from_secs(1)) {
            pool.push((
                event.kind(),
                serde_json::to_string(&event).expect("events serialize"),
            ));
        }
    }
    pool.truncate(size);
    pool
}

/// Puts `"sent_ns":<now>` first into the event's data object.
pub fn stamp(json: &str) -> String {
    let marker = "\"data\":{";
    match json.find(marker) {
        Some(at) => {
            let split = at + marker.len();
            format!(
                "{}\"sent_ns\":{},{}",
                &json[..split],
                now_ns(),
                &json[split..]
            )
        }
        None => json.to_owned(),
    }
}

/// A connected publisher whose first event (without a publish time) is stored: it waited for
/// the connection and the stream, which would otherwise count as the first events' latency.
async fn warmed_up(nats: &NatsArgs, stream: StreamSettings) -> anyhow::Result<Publisher> {
    let publisher = Publisher::connect(
        nats,
        PublisherConfig {
            stream,
            ..PublisherConfig::default()
        },
    )
    .await?;
    let (kind, json) = &event_pool(1)[0];
    publisher.publish_json(*kind, json.clone().into())?;
    publisher.flush().await;
    Ok(publisher)
}

/// Everything acked, or an error when the publisher had to drop events.
fn acked(publisher: &Publisher) -> anyhow::Result<u64> {
    let stats = publisher.stats();
    anyhow::ensure!(
        stats.dropped_full == 0,
        "the publisher dropped {} events",
        stats.dropped_full
    );
    Ok(stats.acked)
}

/// Publishes `count` events as fast as the publisher takes them. `mark` runs right before the
/// first one (to take readings that start with the burst). Returns how many were acked (the
/// warm-up event included), when the first of the burst was handed over, and `mark`'s readings.
pub async fn burst<T>(
    nats: &NatsArgs,
    stream: StreamSettings,
    count: usize,
    mark: impl FnOnce() -> T,
) -> anyhow::Result<(u64, Instant, T)> {
    let pool = event_pool(POOL);
    let publisher = warmed_up(nats, stream).await?;
    let marked = mark();
    let start = Instant::now();
    for i in 0..count {
        let (kind, json) = &pool[i % pool.len()];
        publisher.publish_json(*kind, stamp(json).into())?;
    }
    publisher.flush().await;
    Ok((acked(&publisher)?, start, marked))
}

/// Events of each kind handed to the publisher, indexed by [`Kind::index`].
pub type KindCounts = [u64; Kind::COUNT];

/// What a rate run published: how many were acked (the warm-up event included), and how many of
/// each kind were handed to the publisher (the warm-up event included).
#[derive(Clone, Debug)]
pub struct Published {
    pub acked: u64,
    pub by_kind: KindCounts,
}

/// Events of each kind among the first `count` events a rate run publishes: the warm-up event,
/// then the pool in turn (as [`publish`] does).
pub fn planned_mix(count: u64) -> KindCounts {
    let pool = event_pool(POOL);
    let mut counts = [0; Kind::COUNT];
    if count == 0 {
        return counts;
    }
    counts[event_pool(1)[0].0.index()] += 1;
    for i in 0..count - 1 {
        counts[pool[(i as usize) % pool.len()].0.index()] += 1;
    }
    counts
}

/// The `k` kinds a run of `count` events publishes most often (ties in catalog order), for
/// spreading connections over one kind each; an error when it publishes fewer than `k` kinds.
pub fn spread_kinds(k: usize, count: u64) -> anyhow::Result<Vec<Kind>> {
    let mix = planned_mix(count);
    let mut kinds: Vec<Kind> = Kind::all().filter(|k| mix[k.index()] > 0).collect();
    anyhow::ensure!(
        kinds.len() >= k && k > 0,
        "--filter-spread {k}: the run publishes {} kinds",
        kinds.len()
    );
    kinds.sort_by_key(|kind| (std::cmp::Reverse(mix[kind.index()]), kind.index()));
    kinds.truncate(k);
    Ok(kinds)
}

/// Events in the pool rate runs and bursts publish in turn.
const POOL: usize = 4096;

/// Publishes `rate` events per second for `duration`; returns how many were acked and how many
/// of each kind were published (the warm-up event included).
pub async fn publish(
    nats: &NatsArgs,
    stream: StreamSettings,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<Published> {
    publish_counted(nats, stream, rate, duration, &AtomicBool::new(false)).await
}

/// Publishes `rate` events per second for `duration` or until `stop` is set; returns how many
/// were acked (the warm-up event included).
pub async fn publish_until(
    nats: &NatsArgs,
    stream: StreamSettings,
    rate: f64,
    duration: Duration,
    stop: &AtomicBool,
) -> anyhow::Result<u64> {
    Ok(publish_counted(nats, stream, rate, duration, stop)
        .await?
        .acked)
}

async fn publish_counted(
    nats: &NatsArgs,
    stream: StreamSettings,
    rate: f64,
    duration: Duration,
    stop: &AtomicBool,
) -> anyhow::Result<Published> {
    let pool = event_pool(POOL);
    let publisher = warmed_up(nats, stream).await?;
    let mut by_kind = [0; Kind::COUNT];
    by_kind[event_pool(1)[0].0.index()] += 1;
    let start = Instant::now();
    let mut sent: u64 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while start.elapsed() < duration && !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        // The first event goes out at once, then one every 1/rate seconds.
        let due = (start.elapsed().as_secs_f64() * rate) as u64 + 1;
        while sent < due {
            let (kind, json) = &pool[(sent as usize) % pool.len()];
            publisher.publish_json(*kind, stamp(json).into())?;
            by_kind[kind.index()] += 1;
            sent += 1;
        }
    }
    publisher.flush().await;
    Ok(Published {
        acked: acked(&publisher)?,
        by_kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_the_data_object() {
        let stamped = stamp(r#"{"type":"X","data":{"a":1}}"#);
        assert!(stamped.starts_with(r#"{"type":"X","data":{"sent_ns":"#));
        assert!(stamped.ends_with(r#","a":1}}"#));
        let value: serde_json::Value = serde_json::from_str(&stamped).unwrap();
        assert!(value["data"]["sent_ns"].as_u64().unwrap() > 0);
    }

    #[test]
    fn the_pool_mixes_kinds() {
        let pool = event_pool(500);
        assert_eq!(pool.len(), 500);
        let kinds: std::collections::HashSet<_> = pool.iter().map(|(k, _)| *k).collect();
        assert!(kinds.len() >= 8, "{kinds:?}");
    }

    #[test]
    fn spreads_over_the_most_published_kinds() {
        let mix = planned_mix(241);
        assert_eq!(mix.iter().sum::<u64>(), 241);
        let kinds = spread_kinds(4, 241).unwrap();
        assert_eq!(kinds.len(), 4);
        for pair in kinds.windows(2) {
            assert!(mix[pair[0].index()] >= mix[pair[1].index()]);
        }
        assert!(kinds.iter().all(|k| mix[k.index()] > 0));
        assert!(spread_kinds(Kind::COUNT + 1, 241).is_err());
        let top: Vec<_> = kinds.iter().map(|k| (k.name(), mix[k.index()])).collect();
        println!("top kinds of 241 published: {top:?}");
        let all: Vec<_> = Kind::all()
            .filter(|k| mix[k.index()] > 0)
            .map(|k| (k.name(), mix[k.index()]))
            .collect();
        println!("every kind of 241 published: {all:?}");
    }
}
