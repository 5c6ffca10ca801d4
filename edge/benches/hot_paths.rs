//! Micro-benchmarks of the edge's per-event hot paths (STYLE.md point 12; DESIGN.md "Serialize
//! once"). Every event an edge receives is validated and encoded once (`encode`:
//! `ValidEvent::parse` + `EncodedEvent::new`, reported in events/s, on catalog samples from
//! `protocol/tests/kinds.json` enlarged to realistic sizes); after that each client costs one
//! filter check (`filter`: `KindSet::contains`, one AND on a bitmask, reported per check) and, if
//! it takes the event, one `Arc` push into its bounded queue (`fanout`: `Hub::publish` of one
//! pre-built event to 1, 100 and 10,000 subscribers taking everything, reported in deliveries/s,
//! plus 10,000 subscribers of which only 1% take the event, reported in subscribers considered/s,
//! to show what skipping costs). These are the numbers that bound how many events per second and
//! clients per core one edge sustains; the load generator measures the rest end to end. In
//! `fanout` only `Hub::publish` is timed: every [`DRAIN_EVERY`] publishes the timer stops and every
//! queue is emptied with `ClientQueue::take`, as a session would, so queues stay shallow, never
//! overflow, and keep their capacity (no reallocation is measured). No session task waits on the
//! queues, so the wake-up a push triggers is the cheap "store a permit" case.
//!
//! Run: `cargo bench -p adic-edge --bench hot_paths -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use adic_edge::broker::StreamEvent;
use adic_edge::config::EdgeSettings;
use adic_edge::encoded::EncodedEvent;
use adic_edge::hub::{Hub, Registration};
use adic_protocol::{Epoch, EventKey, Kind, KindSet, Priority, Subscription, ValidEvent};
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Value};

const PREFIX: &str = "adic.events";
const KINDS_JSON: &str = include_str!("../../protocol/tests/kinds.json");
/// Publishes between two drains of every queue in `fanout` (the drain is not timed).
const DRAIN_EVERY: u64 = 32;

/// The catalog sample of `variant`, as the node would send it.
fn sample(variant: &str) -> Value {
    let catalog: Value = serde_json::from_str(KINDS_JSON).expect("kinds.json is JSON");
    catalog["kinds"]
        .as_array()
        .expect("kinds.json has a kinds array")
        .iter()
        .find(|k| k["variant"] == variant)
        .unwrap_or_else(|| panic!("kinds.json has no {variant}"))["sample"]
        .clone()
}

/// A received event: the subject and the compact payload the publisher sends.
struct Input {
    label: &'static str,
    event: StreamEvent,
}

fn input(label: &'static str, kind: Kind, payload: &Value) -> Input {
    Input {
        label,
        event: StreamEvent {
            seq: 1_000_000,
            subject: kind.subject(PREFIX),
            payload: Bytes::from(serde_json::to_vec(payload).expect("serializable")),
            traceparent: None,
            stored_at: None,
        },
    }
}

fn inputs() -> Vec<Input> {
    let message = sample("MessageAdded");

    let mut tips = sample("TipsUpdated");
    let ids: Vec<Value> = (0..10u32)
        .map(|i| {
            Value::from(format!(
                "{:032x}",
                u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ))
        })
        .collect();
    tips["data"]["count"] = json!(ids.len());
    tips["data"]["tips"] = Value::Array(ids);

    let mut diversity = sample("DiversityUpdated");
    let first_axis = diversity["data"]["axes"][0].clone();
    let axes: Vec<Value> = (0..3)
        .map(|i| {
            let mut axis = first_axis.clone();
            axis["axis"] = json!(i);
            axis
        })
        .collect();
    diversity["data"]["axes"] = Value::Array(axes);

    vec![
        input("message.new", Kind::MessageAdded, &message),
        input("tips.update_10_tips", Kind::TipsUpdated, &tips),
        input(
            "diversity.update_3_axes",
            Kind::DiversityUpdated,
            &diversity,
        ),
    ]
}

/// Validate and encode once, as the feed does for every event received.
fn encode(event: &StreamEvent) -> EncodedEvent {
    let valid = ValidEvent::parse(PREFIX, &event.subject, &event.payload).expect("valid sample");
    EncodedEvent::new(Epoch(0x0a1b_2c3d), event, valid)
}

fn bench_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(1));
    for input in inputs() {
        group.bench_function(input.label, |b| b.iter(|| encode(black_box(&input.event))));
    }
    group.finish();
}

/// Every key a filter can see: the 54 known kinds and an unknown kind of each priority.
fn all_keys() -> Vec<EventKey> {
    Kind::all()
        .map(EventKey::from)
        .chain([Priority::High, Priority::Medium, Priority::Low].map(EventKey::Unknown))
        .collect()
}

fn bench_filter(c: &mut Criterion) {
    let mask = Subscription::from_query(Some("tips.update,message.new"), Some("high"))
        .expect("valid filter")
        .mask();
    let keys = all_keys();
    let mut group = c.benchmark_group("filter");
    // One iteration checks every key once; each key goes through `black_box` so the loop is
    // neither vectorized nor folded: time per iteration / keys = cost of one check.
    group.throughput(Throughput::Elements(keys.len() as u64));
    group.bench_function(format!("contains_x{}", keys.len()), |b| {
        b.iter(|| {
            let mask = black_box(mask);
            let mut hits = 0u32;
            for &key in &keys {
                hits += u32::from(mask.contains(black_box(key)));
            }
            hits
        });
    });
    group.finish();
}

/// A hub with `count` subscribers; every `1 / takes_one_in` of them takes `takes`, the others
/// take everything but it.
fn hub_with(count: usize, takes_one_in: usize, takes: EventKey) -> (Arc<Hub>, Vec<Registration>) {
    let hub = Arc::new(Hub::default());
    let queue_bytes = EdgeSettings::default().client_queue_bytes;
    let others = KindSet::ALL.minus(KindSet::from(takes));
    let registrations = (0..count)
        .map(|i| {
            let mask = if i % takes_one_in == 0 {
                KindSet::ALL
            } else {
                others
            };
            hub.register(mask, queue_bytes)
        })
        .collect();
    (hub, registrations)
}

/// Times `iters` publishes of `event`, emptying every queue (untimed) every `DRAIN_EVERY`.
fn publish_drained(
    hub: &Hub,
    registrations: &[Registration],
    event: &Arc<EncodedEvent>,
    iters: u64,
) -> Duration {
    let mut taken = Vec::with_capacity(DRAIN_EVERY as usize);
    let mut measured = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let chunk = left.min(DRAIN_EVERY);
        let start = Instant::now();
        for _ in 0..chunk {
            black_box(hub.publish(black_box(event)));
        }
        measured += start.elapsed();
        left -= chunk;
        for registration in registrations {
            let closed = registration.subscriber().queue.take(&mut taken);
            assert!(closed.is_none(), "a queue overflowed or closed");
            taken.clear();
        }
    }
    measured
}

fn bench_fanout(c: &mut Criterion) {
    let source = input("message.new", Kind::MessageAdded, &sample("MessageAdded"));
    let event = Arc::new(encode(&source.event));
    let mut group = c.benchmark_group("fanout");
    for count in [1usize, 100, 10_000] {
        let (hub, registrations) = hub_with(count, 1, event.key);
        group.throughput(Throughput::Elements(count as u64));
        group.bench_with_input(BenchmarkId::new("all", count), &count, |b, _| {
            b.iter_custom(|iters| publish_drained(&hub, &registrations, &event, iters));
        });
    }
    // 1% of 10,000 take the event: 100 deliveries, 9,900 skipped after one AND each.
    // Throughput counts subscribers considered, not deliveries.
    let count = 10_000;
    let (hub, registrations) = hub_with(count, 100, event.key);
    group.throughput(Throughput::Elements(count as u64));
    group.bench_with_input(BenchmarkId::new("filtered_1pct", count), &count, |b, _| {
        b.iter_custom(|iters| publish_drained(&hub, &registrations, &event, iters));
    });
    group.finish();
}

/// What the feed does per event, with traces off (no `OTEL_*` endpoint): the trace hook, encode,
/// fan-out to 100 subscribers, and the delivery-side trace check for each. `untraced` has no
/// `traceparent`; `traceparent` carries one, as every event from a traced publisher does. With
/// traces off the two must cost the same: the hook is one atomic load.
fn bench_trace_off(c: &mut Criterion) {
    assert!(!adic_publisher::telemetry::enabled());
    let source = input("message.new", Kind::MessageAdded, &sample("MessageAdded"));
    let mut traced = source.event.clone();
    traced.traceparent = Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned());
    let count = 100;
    let (hub, registrations) = hub_with(count, 1, encode(&source.event).key);
    let mut group = c.benchmark_group("trace_off");
    group.throughput(Throughput::Elements(1));
    for (label, event) in [("untraced", &source.event), ("traceparent", &traced)] {
        group.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let mut taken = Vec::with_capacity(DRAIN_EVERY as usize);
                let mut measured = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let chunk = left.min(DRAIN_EVERY);
                    let start = Instant::now();
                    for _ in 0..chunk {
                        let receiving = adic_edge::trace::receiving(
                            event.traceparent.as_deref(),
                            &event.subject,
                        );
                        let encoded = Arc::new(encode(black_box(event)));
                        black_box(hub.publish(&encoded));
                        black_box(receiving.is_some());
                    }
                    measured += start.elapsed();
                    left -= chunk;
                    for registration in &registrations {
                        registration.subscriber().queue.take(&mut taken);
                        let start = Instant::now();
                        for event in &taken {
                            black_box(event.trace.is_some());
                        }
                        measured += start.elapsed();
                        taken.clear();
                    }
                }
                measured
            });
        });
    }
    group.finish();
}

criterion_group!(
    hot_paths,
    bench_encode,
    bench_filter,
    bench_fanout,
    bench_trace_off
);
criterion_main!(hot_paths);
