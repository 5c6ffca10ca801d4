//! `adic-publisher relay` end to end: real relay processes, a real nats-server, a stand-in node
//! written from shared/CONTRACT.md (`adic_tests::node`, not from the relay's code), and an edge
//! whose clients read what was relayed: every kind, and a pair of relays. The failure cases
//! (node restarts, SIGTERM, bad frames) are in `relay_faults.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use adic_protocol::Kind;
use adic_tests::clients::{seq_of, WsClient};
use adic_tests::edge::TestEdge;
use adic_tests::node::NodeFrame;
use adic_tests::wait_until;
use serde_json::{json, Value};

mod relay_world;

use relay_world::*;

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
