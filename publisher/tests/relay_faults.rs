//! `adic-publisher relay` when things go wrong, against real relay processes, a real
//! nats-server and a stand-in node: the node restarts, SIGTERM with events in flight, bad frames
//! from the node.

use std::time::Duration;

use adic_tests::node::NodeFrame;
use adic_tests::wait_until;
use serde_json::json;

mod relay_world;

use relay_world::*;

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
