//! Resume by cursor: on the same or another edge, from the ring or from JetStream, with explicit
//! gaps and resets, progress markers for sparse filters, and current values on connect.
//! Every test checks exactly-once, in-order delivery of log events.

use std::time::Duration;

use adic_edge::config::EdgeSettings;
use adic_protocol::Kind;
use adic_tests::clients::{seq_of, SseClient, WsClient, WsItem};
use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use adic_tests::stream::{depth, TestStream};
use serde_json::{json, Value};

/// Reads WS events and checks they are exactly `want` (by depth), in order.
async fn expect_ws(ws: &mut WsClient, want: std::ops::RangeInclusive<u64>) -> String {
    let mut last = String::new();
    for n in want {
        let (id, event) = ws.next_event().await.unwrap();
        assert_eq!(depth(&event), n, "event {n}, exactly once and in order");
        last = id;
    }
    last
}

#[tokio::test]
async fn websocket_resumes_on_another_edge_with_no_gap_and_no_duplicate() {
    let nats = TestNats::start().await.unwrap();
    let a = TestEdge::start(&nats).await.unwrap();
    let b = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let mut first = WsClient::connect(&a.ws("")).await.unwrap();
    stream.numbered(1..=10).await;
    let cursor = expect_ws(&mut first, 1..=10).await;
    drop(first);
    stream.numbered(11..=20).await;

    let mut resumed = WsClient::connect(&b.ws(&format!("?since={cursor}")))
        .await
        .unwrap();
    expect_ws(&mut resumed, 11..=20).await;
    stream.numbered(21..=25).await;
    expect_ws(&mut resumed, 21..=25).await;
}

#[tokio::test]
async fn since_on_the_first_subscribe_resumes_and_later_it_is_an_error() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let seqs = stream.numbered(1..=6).await;
    let cursor = format!("{}-{}", edge.state().feed.epoch(), seqs[2]);
    let mut ws = WsClient::connect(&edge.ws("")).await.unwrap();
    ws.send_json(&json!({"type": "Subscribe", "events": ["message.new"], "since": cursor}))
        .await
        .unwrap();
    assert_eq!(ws.next_json().await.unwrap()["type"], "Subscribed");
    expect_ws(&mut ws, 4..=6).await;
    ws.send_json(&json!({"type": "Subscribe", "events": ["tips.update"], "since": cursor}))
        .await
        .unwrap();
    let error = ws.next_json().await.unwrap();
    assert_eq!(error["type"], "Error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("first Subscribe only"),
        "{error}"
    );

    // A first Subscribe after events already arrived cannot rewind without repeating them.
    let mut live = WsClient::connect(&edge.ws("")).await.unwrap();
    stream.numbered(7..=7).await;
    assert_eq!(depth(&live.next_event().await.unwrap().1), 7);
    live.send_json(&json!({"type": "Subscribe", "events": ["message.new"], "since": cursor}))
        .await
        .unwrap();
    let error = live.next_json().await.unwrap();
    assert_eq!(error["type"], "Error", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("reconnect with ?since="),
        "{error}"
    );
}

#[tokio::test]
async fn sse_resumes_by_last_event_id_header_or_query_and_the_header_wins() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let seqs = stream.numbered(1..=8).await;
    let epoch = edge.state().feed.epoch();
    let at = |i: usize| format!("{epoch}-{}", seqs[i]);

    let mut by_header = SseClient::connect_with(&edge.sse(""), &[("Last-Event-ID", &at(4))])
        .await
        .unwrap();
    let mut by_query = SseClient::connect(&edge.sse(&format!("?last_event_id={}", at(1))))
        .await
        .unwrap();
    let mut both = SseClient::connect_with(
        &edge.sse(&format!("?last_event_id={}", at(1))),
        &[("Last-Event-ID", &at(6))],
    )
    .await
    .unwrap();
    for (client, from) in [(&mut by_header, 6u64), (&mut by_query, 3), (&mut both, 8)] {
        for n in from..=8 {
            let frame = client.next_event().await.unwrap();
            let event: Value = serde_json::from_str(frame.data.as_deref().unwrap()).unwrap();
            assert_eq!(depth(&event), n);
            assert_eq!(frame.id, Some(at(n as usize - 1)));
        }
    }
    let bad = SseClient::connect_with(&edge.sse(""), &[("Last-Event-ID", "nonsense")])
        .await
        .unwrap();
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn an_old_cursor_replays_from_jetstream_then_joins_live() {
    let nats = TestNats::start().await.unwrap();
    let settings = EdgeSettings {
        ring_events: 10,
        ..EdgeSettings::default()
    };
    let edge = TestEdge::start_with(&nats, settings).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let seqs = stream.numbered(1..=700).await;
    let since = format!("?since={}-{}", edge.state().feed.epoch(), seqs[4]);
    let mut ws = WsClient::connect(&edge.ws(&since)).await.unwrap();
    expect_ws(&mut ws, 6..=700).await;
    stream.numbered(701..=710).await;
    expect_ws(&mut ws, 701..=710).await;
    let metrics = edge.metrics().await;
    assert!(
        metrics.contains("adic_edge_resumes_total{source=\"jetstream\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_cursor_older_than_the_stream_gets_a_gap_then_everything_held() {
    let nats = TestNats::start().await.unwrap();
    // The stream keeps only 20 events.
    let js = async_nats::jetstream::new(nats.client().await.unwrap());
    let mut config = adic_tests::edge::stream_settings(&nats).config();
    config.max_messages = 20;
    js.create_stream(config).await.unwrap();
    // A ring smaller than the stream: the old cursor is in neither.
    let settings = EdgeSettings {
        ring_events: 10,
        ..EdgeSettings::default()
    };
    let edge = TestEdge::start_with(&nats, settings).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let seqs = stream.numbered(1..=50).await;
    let epoch = edge.state().feed.epoch();
    let old = format!("{epoch}-{}", seqs[4]);

    let mut ws = WsClient::connect(&edge.ws(&format!("?since={old}")))
        .await
        .unwrap();
    let gap = ws.next_json().await.unwrap();
    let first_available = format!("{epoch}-{}", seqs[30]);
    assert_eq!(
        gap,
        json!({"type": "Gap", "requested": old, "first_available": first_available})
    );
    expect_ws(&mut ws, 31..=50).await;

    let mut sse = SseClient::connect_with(&edge.sse(""), &[("Last-Event-ID", &old)])
        .await
        .unwrap();
    let frame = sse.next_event().await.unwrap();
    assert_eq!(frame.event.as_deref(), Some("gap"));
    assert_eq!(frame.id, None, "a notice does not move the cursor");
    let first = sse.next_event().await.unwrap();
    assert_eq!(first.id, Some(first_available));
}

#[tokio::test]
async fn another_stream_instance_gets_a_reset_and_beyond_the_stream_an_error() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;
    stream.numbered(1..=3).await;
    let epoch = edge.state().feed.epoch();
    let other = if epoch.0 == 1 { "00000002" } else { "00000001" };

    let mut ws = WsClient::connect(&edge.ws(&format!("?since={other}-2")))
        .await
        .unwrap();
    let reset = ws.next_json().await.unwrap();
    assert_eq!(reset["type"], "Reset", "{reset}");
    assert_eq!(reset["current"], format!("{epoch}-0"));
    expect_ws(&mut ws, 1..=3).await;

    let mut beyond = WsClient::connect(&edge.ws(&format!("?since={epoch}-999999")))
        .await
        .unwrap();
    let error = beyond.next_json().await.unwrap();
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("beyond the end of the stream"),
        "{error}"
    );
    assert!(matches!(
        beyond.next_item().await.unwrap(),
        WsItem::Close(Some((4100, _)))
    ));
    let sse = SseClient::connect(&edge.sse(&format!("?last_event_id={epoch}-999999")))
        .await
        .unwrap();
    assert_eq!(sse.status, 400);
    let poll = reqwest::get(edge.http(&format!("/v1/events?after={epoch}-999999")))
        .await
        .unwrap();
    assert_eq!(poll.status(), 400);
}

#[tokio::test]
async fn sparse_filters_receive_progress_so_their_cursor_keeps_up() {
    let nats = TestNats::start().await.unwrap();
    let settings = EdgeSettings {
        progress_interval: std::time::Duration::from_millis(200),
        ..EdgeSettings::default()
    };
    let edge = TestEdge::start_with(&nats, settings).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let mut ws = WsClient::connect(&edge.ws("?events=node.stopped"))
        .await
        .unwrap();
    let mut sse = SseClient::connect(&edge.sse("?events=node.stopped"))
        .await
        .unwrap();
    let seqs = stream.numbered(1..=10).await;
    let last = format!("{}-{}", edge.state().feed.epoch(), seqs[9]);
    loop {
        let v = ws.next_json().await.unwrap();
        assert_eq!(
            v["type"], "Progress",
            "only progress for a filter that matched nothing: {v}"
        );
        if v["id"] == last.as_str() {
            assert_eq!(v, json!({"type": "Progress", "id": last}));
            break;
        }
    }
    loop {
        let frame = sse.next_frame().await.unwrap().unwrap();
        assert!(
            frame.data.is_none(),
            "progress frames carry no data: {frame:?}"
        );
        if frame.id.as_deref() == Some(last.as_str()) {
            break;
        }
    }
    // Resuming from the progress cursor skips nothing that matches.
    let data = json!({"node_id": "n", "reason": "r", "timestamp": 1});
    let stopped = stream.kind(Kind::NodeStopped, data).await;
    let query = format!("?events=node.stopped&since={last}");
    let mut resumed = WsClient::connect(&edge.ws(&query)).await.unwrap();
    let (id, event) = resumed.next_event().await.unwrap();
    assert_eq!(seq_of(&id), stopped);
    assert_eq!(event["type"], "NodeStopped");
}

#[tokio::test]
async fn a_filter_that_keeps_receiving_events_gets_no_progress_until_its_cursor_stands_still() {
    let nats = TestNats::start().await.unwrap();
    let settings = EdgeSettings {
        progress_interval: Duration::from_millis(400),
        // The shared clock ticks every 100 ms (a third of the shortest keep-alive).
        sse_heartbeat: Duration::from_millis(300),
        ..EdgeSettings::default()
    };
    let edge = TestEdge::start_with(&nats, settings).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let mut ws = WsClient::connect(&edge.ws("?events=node.stopped"))
        .await
        .unwrap();
    let data = json!({"node_id": "n", "reason": "r", "timestamp": 1});
    // Each round leaves the client's cursor behind the stream (a skipped event follows its
    // event) for about 100 ms, over 1.5 s: several ticks see it behind, but it never stands
    // still for the 400 ms a marker needs — unless this machine stalls between two rounds, which
    // is measured: a marker is accepted only after a round that came 400 ms or more after the
    // one before.
    let interval = Duration::from_millis(400);
    let mut stopped = Vec::new();
    let mut longest_gap = Duration::ZERO;
    let mut last_round = std::time::Instant::now();
    for n in 1..=15 {
        stopped.push(stream.kind(Kind::NodeStopped, data.clone()).await);
        stream.numbered(n..=n).await;
        longest_gap = longest_gap.max(last_round.elapsed());
        last_round = std::time::Instant::now();
        tokio::time::sleep(Duration::from_millis(100)).await; // the pace of the scenario
    }
    let mut expected = stopped.iter();
    let mut next = expected.next();
    while let Some(want) = next {
        let v = ws.next_json().await.unwrap();
        if v["type"] == "Progress" {
            assert!(
                longest_gap >= interval,
                "a marker while the cursor kept moving (longest gap {longest_gap:?}): {v}"
            );
            continue;
        }
        assert_eq!(v["type"], "Event", "{v}");
        assert_eq!(v["event"]["type"], "NodeStopped");
        assert_eq!(seq_of(v["id"].as_str().unwrap()), *want);
        next = expected.next();
    }
    // Now only skipped events: the cursor stands still and a marker follows.
    let skipped = stream.numbered(100..=100).await[0];
    let last = format!("{}-{skipped}", edge.state().feed.epoch());
    let v = ws.next_json().await.unwrap();
    assert_eq!(v, json!({"type": "Progress", "id": last}));
}

#[tokio::test]
async fn snapshot_true_sends_current_values_first_without_a_cursor() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;
    stream
        .kind(
            Kind::TipsUpdated,
            json!({"tips": ["a"], "count": 1, "timestamp": 1}),
        )
        .await;
    stream
        .kind(
            Kind::TipsUpdated,
            json!({"tips": ["a", "b"], "count": 2, "timestamp": 2}),
        )
        .await;
    let kcore =
        json!({"finalized_count": 5, "pending_count": 1, "current_k_value": 3, "timestamp": 2});
    stream.kind(Kind::KCoreUpdated, kcore).await;
    stream.numbered(1..=1).await;
    for (peer, n) in [("p1", 1), ("p2", 2)] {
        let data = json!({"peer_id": peer, "synced_messages": n, "progress_percent": 10.0, "timestamp": 3});
        stream.kind(Kind::SyncProgress, data).await;
    }
    let sentinel = stream.numbered(2..=2).await[0];
    adic_tests::wait_until(std::time::Duration::from_secs(10), || async {
        edge.state().feed.published_seq() >= sentinel
    })
    .await
    .unwrap();

    let query = "?snapshot=true&events=tips.update,kcore.update,sync.progress,message.new";
    let mut ws = WsClient::connect(&edge.ws(query)).await.unwrap();
    let mut snapshots = Vec::new();
    for _ in 0..4 {
        let v = ws.next_json().await.unwrap();
        assert_eq!(v["type"], "Snapshot", "{v}");
        assert!(v.get("id").is_none());
        snapshots.push(v["event"].clone());
    }
    assert_eq!(
        snapshots[0]["data"]["count"], 2,
        "the newest tips value only"
    );
    assert_eq!(snapshots[1]["type"], "KCoreUpdated");
    assert_eq!(
        snapshots[2]["data"]["peer_id"], "p1",
        "sync.progress is kept per peer"
    );
    assert_eq!(snapshots[3]["data"]["peer_id"], "p2");
    stream.numbered(3..=3).await;
    assert_eq!(depth(&ws.next_event().await.unwrap().1), 3, "then live");

    let mut sse = SseClient::connect(&edge.sse("?snapshot=true&events=tips.update"))
        .await
        .unwrap();
    let frame = sse.next_event().await.unwrap();
    assert_eq!(frame.event.as_deref(), Some("tips.update"));
    assert_eq!(
        frame.id, None,
        "a snapshot frame does not move the browser's lastEventId"
    );
}
