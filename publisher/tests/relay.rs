//! `adic-publisher relay` end to end: real relay processes, a real nats-server, a stand-in node
//! written from shared/CONTRACT.md (`adic_tests::node`, not from the relay's code), and an edge
//! whose clients read what was relayed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adic_protocol::{Kind, ValidEvent};
use adic_tests::clients::{seq_of, WsClient};
use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use adic_tests::node::{NodeFrame, TestNode};
use adic_tests::relay::RelayProcess;
use adic_tests::wait_until;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_adic-publisher");
const KINDS: &str = include_str!("../../protocol/tests/kinds.json");
/// Fast enough for tests: a silent node is noticed within a second.
const QUICK: [&str; 8] = [
    "--ping-interval",
    "300ms",
    "--reconnect-min",
    "50ms",
    "--reconnect-max",
    "500ms",
    "--connect-timeout",
    "2s",
];
const HEARTBEAT: Duration = Duration::from_millis(100);

struct World {
    nats: TestNats,
    node: TestNode,
    dir: tempfile::TempDir,
}

impl World {
    async fn start() -> World {
        adic_tests::init_logs();
        World {
            nats: TestNats::start().await.unwrap(),
            node: TestNode::start(HEARTBEAT).await.unwrap(),
            dir: tempfile::TempDir::new().unwrap(),
        }
    }

    fn relay(&self, from: &str, name: &str, extra: &[&str]) -> RelayProcess {
        let mut args = QUICK.to_vec();
        args.extend_from_slice(extra);
        RelayProcess::start(BIN.as_ref(), &self.nats, from, &args, self.dir.path(), name).unwrap()
    }
}

/// Every message of the stream, in order: (subject, payload, Nats-Msg-Id).
async fn stored(nats: &TestNats) -> Vec<(String, String, String)> {
    let js = async_nats::jetstream::new(nats.client().await.unwrap());
    let mut stream = js.get_stream(nats.stream_name()).await.unwrap();
    let state = stream.info().await.unwrap().state.clone();
    let mut out = Vec::new();
    if state.messages == 0 {
        return out;
    }
    for seq in state.first_sequence..=state.last_sequence {
        let m = stream.get_raw_message(seq).await.unwrap();
        let id = m
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        out.push((
            m.subject.to_string(),
            String::from_utf8(m.payload.to_vec()).unwrap(),
            id,
        ));
    }
    out
}

async fn stored_count(nats: &TestNats) -> usize {
    let js = async_nats::jetstream::new(nats.client().await.unwrap());
    match js.get_stream(nats.stream_name()).await {
        Ok(mut s) => s.info().await.map_or(0, |i| i.state.messages as usize),
        Err(_) => 0,
    }
}

async fn wait_stored(nats: &TestNats, n: usize) {
    wait_until(Duration::from_secs(30), || async {
        stored_count(nats).await >= n
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: fewer than {n} events stored"));
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The catalog's sample of every kind, its timestamp moved by `shift`.
fn samples(shift: i64) -> Vec<Value> {
    let catalog: Value = serde_json::from_str(KINDS).unwrap();
    catalog["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let mut sample = k["sample"].clone();
            let ts = sample["data"]["timestamp"].as_i64().unwrap();
            sample["data"]["timestamp"] = json!(ts + shift);
            sample
        })
        .collect()
}

/// What `adic-publisher publish` (a direct publish) stores for `event`.
fn direct(prefix: &str, event: &Value) -> String {
    let kind = Kind::from_variant(event["type"].as_str().unwrap()).unwrap();
    ValidEvent::parse(prefix, &kind.subject(prefix), event.to_string().as_bytes())
        .unwrap()
        .json
}

#[tokio::test]
async fn every_kind_is_relayed_as_a_direct_publish_stores_it_and_edge_clients_read_it_with_cursors()
{
    let w = World::start().await;
    let prefix = w.nats.prefix().to_owned();
    let edge = TestEdge::start(&w.nats).await.unwrap();
    let mut client = WsClient::connect(&edge.ws("")).await.unwrap();
    let unknown = json!({"type": "FutureThing", "data": {"x": [1, 2], "timestamp": 5}});

    for (round, transport) in ["ws", "sse"].into_iter().enumerate() {
        let from = if transport == "ws" {
            w.node.ws_url()
        } else {
            w.node.sse_url()
        };
        let mut relay = w.relay(&from, transport, &[]);
        relay.wait_ready().await.unwrap();
        w.node.wait_clients(1).await.unwrap();
        // Each round its own content (the timestamp is content: same events, new ids).
        let events = samples(round as i64);
        for event in &events {
            assert_eq!(w.node.emit(event), 1);
        }
        let mut unknown = unknown.clone();
        unknown["data"]["timestamp"] = json!(round);
        w.node.emit(&unknown);
        let total = (events.len() + 1) * (round + 1);
        wait_stored(&w.nats, total).await;
        let all = stored(&w.nats).await;
        assert_eq!(all.len(), total, "{transport}");
        let round_stored = &all[total - events.len() - 1..];
        for (event, (subject, payload, id)) in events.iter().zip(round_stored) {
            let kind = Kind::from_variant(event["type"].as_str().unwrap()).unwrap();
            assert_eq!(subject, &kind.subject(&prefix), "{transport}");
            assert_eq!(payload, &direct(&prefix, event), "{transport}");
            assert_eq!(
                payload,
                &event.to_string(),
                "{transport}: compact, key order kept"
            );
            assert!(id.starts_with("relay1-") && id.ends_with("-0"), "{id}");
        }
        // An unknown kind passes through: on the configured priority, named by the SSE `event:`
        // line when there is one, else after its variant.
        let (subject, payload, _) = round_stored.last().unwrap();
        let name = if transport == "ws" {
            "future_thing"
        } else {
            "unknown.kind"
        };
        assert_eq!(subject, &format!("{prefix}.low.{name}"));
        assert_eq!(payload, &unknown.to_string());

        // An edge client sees every one, in order, with cursors.
        let mut cursors = Vec::new();
        for event in events.iter().chain([&unknown]) {
            let (id, got) = client.next_event().await.unwrap();
            assert_eq!(&got, event, "{transport}");
            cursors.push(id);
        }
        assert!(cursors.windows(2).all(|w| seq_of(&w[0]) < seq_of(&w[1])));
        // And resumes from a cursor.
        let mut resumed = WsClient::connect(&edge.ws(&format!("?since={}", cursors[9])))
            .await
            .unwrap();
        let (id, got) = resumed.next_event().await.unwrap();
        assert_eq!(id, cursors[10]);
        assert_eq!(got, events[10]);

        let read = relay.metric("adic_relay_events_read_total").await;
        assert_eq!(read, Some((events.len() + 1) as f64), "{transport}");
        relay
            .wait_metric("adic_relay_events_relayed_total", read.unwrap())
            .await
            .unwrap();
        let info = format!(
            "adic_relay_info{{transport=\"{}\"}}",
            if transport == "ws" {
                "websocket"
            } else {
                "sse"
            }
        );
        assert_eq!(relay.metric(&info).await, Some(1.0));
        let status = relay.terminate(Duration::from_secs(20)).await.unwrap();
        assert!(status.success(), "{status:?}");
        w.node.wait_clients(0).await.unwrap();
    }
}

/// What the node emits as event `i` of the pair test: mostly numbered log events, and now and
/// then the repeats that a content-only id would collapse (an A→B→A snapshot, two identical
/// log events in a row), all stamped with the node's clock.
fn pair_events(i: usize) -> Vec<Value> {
    let ts = now();
    if i % 40 == 7 {
        let tips = |t: &str| json!({"type": "TipsUpdated", "data": {"tips": [t], "count": 1, "timestamp": ts}});
        let peer = json!({"type": "PeerConnected", "data": {"peer_id": "p1", "address": "a", "timestamp": ts}});
        vec![tips("a"), tips("b"), tips("a"), peer.clone(), peer]
    } else {
        vec![
            json!({"type": "MessageAdded", "data": {"message_id": format!("m{i}"), "depth": i, "timestamp": ts}}),
        ]
    }
}

#[tokio::test]
async fn two_relays_one_killed_and_restarted_store_each_event_once_in_node_order() {
    let w = World::start().await;
    let prefix = w.nats.prefix().to_owned();
    // One over each transport: both derive the same ids from the same events.
    let mut a = w.relay(&w.node.ws_url(), "a", &[]);
    let b = w.relay(&w.node.sse_url(), "b", &[]);
    a.wait_ready().await.unwrap();
    b.wait_ready().await.unwrap();
    w.node.wait_clients(2).await.unwrap();

    let emitted = Arc::new(AtomicUsize::new(0));
    let expected = {
        let node_frames = w.node.sender();
        let emitted = Arc::clone(&emitted);
        tokio::spawn(async move {
            let mut expected = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(4));
            for i in 0..900 {
                tick.tick().await;
                for event in pair_events(i) {
                    let name = Kind::from_variant(event["type"].as_str().unwrap())
                        .unwrap()
                        .name()
                        .to_owned();
                    let _ = node_frames.send(NodeFrame::Event {
                        event: event.clone(),
                        name,
                    });
                    expected.push(event.to_string());
                }
                emitted.store(i + 1, Ordering::SeqCst);
            }
            expected
        })
    };
    let reached = |n: usize| {
        let emitted = Arc::clone(&emitted);
        async move {
            wait_until(Duration::from_secs(30), || {
                let emitted = Arc::clone(&emitted);
                async move { emitted.load(Ordering::SeqCst) >= n }
            })
            .await
            .unwrap();
        }
    };
    reached(250).await;
    a.kill().unwrap();
    reached(400).await;
    a.restart().unwrap();
    a.wait_ready().await.unwrap();
    let expected = expected.await.unwrap();
    assert!(emitted.load(Ordering::SeqCst) == 900);

    wait_stored(&w.nats, expected.len()).await;
    // Both relays are done with everything they read before the stream is judged.
    for relay in [&a, &b] {
        wait_until(Duration::from_secs(30), || async {
            let m = relay.metrics().await;
            let get = |n: &str| adic_tests::relay::sample(&m, n).unwrap_or(-1.0);
            get("adic_relay_events_read_total")
                == get("adic_relay_events_relayed_total")
                    + get("adic_relay_duplicates_suppressed_total")
        })
        .await
        .unwrap();
    }
    let all = stored(&w.nats).await;
    let payloads: Vec<&str> = all.iter().map(|(_, p, _)| p.as_str()).collect();
    if let Some(i) = (0..payloads.len().max(expected.len()))
        .find(|&i| payloads.get(i).copied() != expected.get(i).map(String::as_str))
    {
        let window = |v: Vec<&str>| v[i.saturating_sub(3)..(i + 4).min(v.len())].join("\n");
        panic!(
            "stream differs from the node's order at {i} ({} stored, {} emitted):\nstored:\n{}\nemitted:\n{}\nids:\n{}",
            payloads.len(),
            expected.len(),
            window(payloads.clone()),
            window(expected.iter().map(String::as_str).collect()),
            window(all.iter().map(|(_, _, id)| id.as_str()).collect()),
        );
    }
    assert!(all.iter().all(|(s, _, _)| s.starts_with(&prefix)));

    // Both relays of the pair published: each got an ack for every event it read, B alone
    // stored what came while A was down, and the overlap shows as suppressed duplicates.
    let metric = |m: &str, n: &str| adic_tests::relay::sample(m, n).unwrap();
    let (ma, mb) = (a.metrics().await, b.metrics().await);
    assert_eq!(
        metric(&mb, "adic_relay_events_read_total"),
        expected.len() as f64
    );
    assert!(metric(&mb, "adic_relay_events_relayed_total") > 0.0);
    assert!(
        metric(&ma, "adic_relay_events_read_total") > 0.0,
        "the restarted relay reads"
    );
    assert!(
        metric(&ma, "adic_relay_duplicates_suppressed_total")
            + metric(&mb, "adic_relay_duplicates_suppressed_total")
            > 0.0
    );
    assert!(
        metric(&ma, "adic_relay_events_relayed_total")
            + metric(&mb, "adic_relay_events_relayed_total")
            <= expected.len() as f64
    );
}

#[tokio::test]
async fn a_restarted_node_is_reconnected_and_the_relay_says_how_long_it_was_away() {
    let mut w = World::start().await;
    let ws = w.relay(&w.node.ws_url(), "ws", &[]);
    let sse = w.relay(&w.node.sse_url(), "sse", &[]);
    for relay in [&ws, &sse] {
        relay.wait_ready().await.unwrap();
    }
    w.node.wait_clients(2).await.unwrap();
    w.node.emit(&json!({"type": "NodeStarted", "data": {"node_id": "n", "version": "1", "timestamp": now()}}));
    wait_stored(&w.nats, 1).await;

    w.node.stop().await;
    for relay in [&ws, &sse] {
        wait_until(Duration::from_secs(10), || async {
            relay.ready_status().await == 503
                && relay.metric("adic_relay_node_connected").await == Some(0.0)
        })
        .await
        .unwrap();
    }
    // The node stays down this long: the relays must report at least that.
    let down = Duration::from_millis(1500);
    tokio::time::sleep(down).await;
    w.node.restart().await.unwrap();
    for relay in [&ws, &sse] {
        relay.wait_ready().await.unwrap();
        assert_eq!(relay.metric("adic_relay_reconnects_total").await, Some(1.0));
        let away = relay
            .metric("adic_relay_last_disconnection_seconds")
            .await
            .unwrap();
        assert!(away >= down.as_secs_f64() && away < 30.0, "{away}");
        let total = relay
            .metric("adic_relay_disconnected_seconds_total")
            .await
            .unwrap();
        assert!(total >= away, "{total} {away}");
        let log = relay.log();
        assert!(log.contains("disconnected from the node"), "{log}");
        assert!(log.contains("reconnected to the node after"), "{log}");
    }
    w.node.wait_clients(2).await.unwrap();
    w.node.emit(&json!({"type": "NodeStarted", "data": {"node_id": "n", "version": "2", "timestamp": now()}}));
    wait_stored(&w.nats, 2).await;
}

#[tokio::test]
async fn sigterm_with_events_in_flight_stores_every_read_event_and_exits_0() {
    let mut w = World::start().await;
    assert!(w.nats.is_own(), "this test stops its own server");
    let mut relay = w.relay(&w.node.ws_url(), "relay", &["--grace", "40s"]);
    relay.wait_ready().await.unwrap();
    w.node.wait_clients(1).await.unwrap();
    let numbered = |n: u64| json!({"type": "MessageAdded", "data": {"message_id": format!("m{n}"), "depth": n, "timestamp": now()}});
    let first = numbered(0);
    w.node.emit(&first);
    wait_stored(&w.nats, 1).await;

    // NATS away: what the relay reads waits in its buffer.
    w.nats.stop().await;
    let mut expected = vec![first.to_string()];
    for n in 1..=200 {
        let event = numbered(n);
        w.node.emit(&event);
        expected.push(event.to_string());
    }
    relay
        .wait_metric("adic_relay_events_read_total", 201.0)
        .await
        .unwrap();
    relay.signal_term().unwrap();
    // Reading has stopped: the node sees the relay leave while it still flushes.
    w.node.wait_clients(0).await.unwrap();
    w.nats.restart().await.unwrap();
    let status = relay.wait_exit(Duration::from_secs(60)).await.unwrap();
    assert!(status.success(), "{status:?}; log:\n{}", relay.log());
    let payloads: Vec<String> = stored(&w.nats)
        .await
        .into_iter()
        .map(|(_, p, _)| p)
        .collect();
    assert_eq!(payloads, expected);
    // Every read event was acked: stored now, or recognised as stored by an earlier attempt.
    let log = relay.log();
    let summary = log
        .lines()
        .find(|l| l.starts_with("relayed "))
        .unwrap_or_default();
    let numbers: Vec<u64> = summary
        .split(' ')
        .filter_map(|w| w.trim_end_matches(',').parse().ok())
        .collect();
    assert_eq!(numbers.len(), 3, "{summary}");
    assert_eq!((numbers[0] + numbers[1], numbers[2]), (201, 0), "{summary}");
}

#[tokio::test]
async fn bad_frames_are_counted_and_skipped_and_the_rest_relayed() {
    let w = World::start().await;
    let extra = ["--max-frame-bytes", "4096"];
    let ws = w.relay(&w.node.ws_url(), "ws", &extra);
    let sse = w.relay(&w.node.sse_url(), "sse", &extra);
    for relay in [&ws, &sse] {
        relay.wait_ready().await.unwrap();
    }
    w.node.wait_clients(2).await.unwrap();
    let good = |n: u64| json!({"type": "MessageAdded", "data": {"message_id": format!("m{n}"), "depth": n, "timestamp": now()}});
    let big = "x".repeat(10_000);
    let bad = [
        NodeFrame::WsText("this is not json".into()),
        NodeFrame::WsText(r#"{"type":"Surprise","x":1}"#.into()),
        NodeFrame::WsText(r#"{"type":"Event","event":[1,2]}"#.into()),
        NodeFrame::WsText(r#"{"type":"Event","event":{"type":"TipsUpdated"}}"#.into()),
        NodeFrame::WsText(format!(
            r#"{{"type":"Event","event":{{"type":"X","data":{{"pad":"{big}"}}}}}}"#
        )),
        NodeFrame::WsBinary(vec![1, 2, 3]),
        NodeFrame::WsText(r#"{"type":"Error","message":"overloaded"}"#.into()),
        NodeFrame::SseRaw("event: tips.update\ndata: not json\n\n".into()),
        NodeFrame::SseRaw("data: [1]\n\n".into()),
        NodeFrame::SseRaw(format!(
            "data: {{\"type\":\"X\",\"data\":{{\"pad\":\"{big}\"}}}}\n\n"
        )),
    ];
    let mut expected = Vec::new();
    for (n, frame) in bad.into_iter().enumerate() {
        let event = good(n as u64);
        w.node.emit(&event);
        expected.push(event.to_string());
        w.node.send(frame);
    }
    wait_stored(&w.nats, expected.len()).await;
    // A silent node (no events, heartbeats or pongs) is left and reconnected.
    w.node.set_silent(true);
    for relay in [&ws, &sse] {
        relay
            .wait_metric(r#"adic_relay_bad_frames_total{reason="silent"}"#, 1.0)
            .await
            .unwrap();
    }
    w.node.set_silent(false);
    for relay in [&ws, &sse] {
        relay.wait_ready().await.unwrap();
    }
    w.node.wait_clients(2).await.unwrap();
    let last = good(99);
    w.node.emit(&last);
    expected.push(last.to_string());
    wait_stored(&w.nats, expected.len()).await;
    let payloads: Vec<String> = stored(&w.nats)
        .await
        .into_iter()
        .map(|(_, p, _)| p)
        .collect();
    assert_eq!(payloads, expected, "every good event once, in order");

    let ws_bad = [
        ("not_json", 1.0),
        ("unknown_type", 1.0),
        ("bad_event", 2.0),
        ("oversize", 1.0),
        ("binary", 1.0),
        ("node_error", 1.0),
    ];
    let sse_bad = [("not_json", 1.0), ("bad_event", 1.0), ("oversize", 1.0)];
    for (relay, wanted) in [(&ws, &ws_bad[..]), (&sse, &sse_bad[..])] {
        for (reason, count) in wanted {
            let name = format!(r#"adic_relay_bad_frames_total{{reason="{reason}"}}"#);
            assert_eq!(
                relay.metric(&name).await,
                Some(*count),
                "{name}\n{}",
                relay.log()
            );
        }
        assert_eq!(
            relay.metric("adic_relay_events_read_total").await,
            Some(expected.len() as f64)
        );
        // Logged once per kind of problem.
        let log = relay.log();
        assert_eq!(
            log.matches("skipped a frame from the node").count() as f64,
            wanted.len() as f64 + 1.0,
            "{log}"
        );
    }
}
