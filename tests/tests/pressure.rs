//! Slow consumers and the paced drain: a client that stops reading is closed with its cursor and
//! catches up by resuming, without slowing anyone else; a draining edge closes its clients over
//! the grace period with "reconnect elsewhere".

use std::time::{Duration, Instant};

use adic_edge::config::EdgeSettings;
use adic_protocol::ws::close;
use adic_protocol::Kind;
use adic_tests::clients::{SseClient, WsClient, WsItem};
use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use serde_json::{json, Value};

/// Publishes `count` 16 KB `message.new` events numbered by depth, one acked publish at a time
/// (a steady stream a reading client keeps up with, not a burst).
async fn publish_large(nats: &TestNats, count: u64) {
    let js = async_nats::jetstream::new(nats.client().await.unwrap());
    let pad = "x".repeat(16_000);
    let subject = Kind::MessageAdded.subject(nats.prefix());
    for n in 1..=count {
        let json = json!({"type": "MessageAdded", "data": {"message_id": pad, "depth": n, "timestamp": 1}});
        js.publish(subject.clone(), json.to_string().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

fn depth(event: &Value) -> u64 {
    event["data"]["depth"].as_u64().unwrap()
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_with_its_cursor_and_catches_up() {
    let nats = TestNats::start().await.unwrap();
    let settings = EdgeSettings {
        client_queue_bytes: 256 << 10,
        ..EdgeSettings::default()
    };
    let edge = TestEdge::start_with(&nats, settings).await.unwrap();
    let mut slow = WsClient::connect_small_buffer(&edge.ws("")).await.unwrap();
    let mut healthy = WsClient::connect(&edge.ws("")).await.unwrap();
    let count = 1000;
    // The healthy client reads while events are published; the slow one does not.
    let reader = tokio::spawn(async move {
        for n in 1..=count {
            match healthy.next_item().await.unwrap() {
                WsItem::Json(v) => assert_eq!(depth(&v["event"]), n),
                WsItem::Close(c) => panic!("the healthy client was closed: {c:?}"),
            }
        }
    });
    publish_large(&nats, count).await;
    reader.await.unwrap();

    // The slow client now reads: events in order, then a slow-consumer close with its cursor.
    let mut got = Vec::new();
    let resume = loop {
        match slow.next_item().await.unwrap() {
            WsItem::Json(v) => {
                assert_eq!(v["type"], "Event");
                got.push(depth(&v["event"]));
            }
            WsItem::Close(Some((code, reason))) => {
                assert_eq!(code, close::SLOW_CONSUMER, "{reason}");
                break close::resume_from_reason(&reason).expect("the close carries the cursor");
            }
            WsItem::Close(None) => panic!("closed without a code"),
        }
    };
    assert!((got.len() as u64) < count, "the client really fell behind");
    let mut resumed = WsClient::connect(&edge.ws(&format!("?since={resume}")))
        .await
        .unwrap();
    while (got.len() as u64) < count {
        got.push(depth(&resumed.next_event().await.unwrap().1));
    }
    assert_eq!(
        got,
        (1..=count).collect::<Vec<_>>(),
        "every event exactly once, in order"
    );
    let metrics = edge.metrics().await;
    assert!(
        metrics.contains("adic_edge_slow_consumer_closes_total{transport=\"websocket\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_slow_sse_client_gets_a_retry_and_resumes_by_last_event_id() {
    let nats = TestNats::start().await.unwrap();
    let settings = EdgeSettings {
        client_queue_bytes: 256 << 10,
        ..EdgeSettings::default()
    };
    let edge = TestEdge::start_with(&nats, settings).await.unwrap();
    let mut slow = SseClient::connect(&edge.sse("")).await.unwrap();
    let count = 1000;
    publish_large(&nats, count).await;
    let mut got = Vec::new();
    let mut last_id = None;
    loop {
        let Some(frame) = slow.next_frame().await.unwrap() else {
            break;
        };
        if let Some(data) = frame.data {
            got.push(depth(&serde_json::from_str(&data).unwrap()));
            last_id = frame.id;
        } else if frame.retry.is_some() {
            assert_eq!(
                slow.next_frame().await.unwrap(),
                None,
                "the stream ends after the retry hint"
            );
            break;
        }
    }
    assert!((got.len() as u64) < count, "the client really fell behind");
    let last_id = last_id.expect("some events came before the close");
    let mut resumed = SseClient::connect_with(&edge.sse(""), &[("Last-Event-ID", &last_id)])
        .await
        .unwrap();
    while (got.len() as u64) < count {
        let frame = resumed.next_event().await.unwrap();
        got.push(depth(
            &serde_json::from_str(frame.data.as_deref().unwrap()).unwrap(),
        ));
    }
    assert_eq!(got, (1..=count).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_draining_edge_turns_unready_refuses_newcomers_and_closes_clients_over_the_grace() {
    let nats = TestNats::start().await.unwrap();
    let settings = EdgeSettings {
        drain_grace: Duration::from_secs(3),
        ..EdgeSettings::default()
    };
    let edge = TestEdge::start_with(&nats, settings).await.unwrap();
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(WsClient::connect(&edge.ws("")).await.unwrap());
    }
    let mut sse = SseClient::connect(&edge.sse("")).await.unwrap();
    let js = async_nats::jetstream::new(nats.client().await.unwrap());
    let json =
        json!({"type": "NodeStarted", "data": {"node_id": "n", "version": "1", "timestamp": 1}});
    js.publish(
        Kind::NodeStarted.subject(nats.prefix()),
        json.to_string().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    for client in &mut clients {
        client.next_event().await.unwrap();
    }
    sse.next_event().await.unwrap();

    let ready = edge.http("/readyz");
    let ws_url = edge.ws("");
    let sse_url = edge.sse("");
    let started = Instant::now();
    let shutdown = tokio::spawn(edge.shutdown());
    adic_tests::wait_until(Duration::from_secs(2), || async {
        reqwest::get(&ready).await.is_ok_and(|r| r.status() == 503)
    })
    .await
    .unwrap();
    let refused = WsClient::connect(&ws_url)
        .await
        .err()
        .expect("no new WebSocket while draining");
    assert!(refused.to_string().contains("503"), "{refused}");
    let mut newcomer = SseClient::connect(&sse_url).await.unwrap();
    assert_eq!(newcomer.status, 200);
    assert!(newcomer
        .next_frame()
        .await
        .unwrap()
        .unwrap()
        .retry
        .is_some());

    let mut closed_at = Vec::new();
    for client in &mut clients {
        match client.next_item().await.unwrap() {
            WsItem::Close(Some((code, reason))) => {
                assert_eq!(code, close::DRAINING);
                assert!(close::resume_from_reason(&reason).is_some(), "{reason}");
            }
            other => panic!("expected a drain close, got {other:?}"),
        }
        closed_at.push(started.elapsed());
    }
    let spread = *closed_at.iter().max().unwrap() - *closed_at.iter().min().unwrap();
    assert!(
        spread >= Duration::from_millis(800),
        "closes are paced, not all at once: {closed_at:?}"
    );
    shutdown.await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the edge exits once its clients are gone"
    );
}

/// A client that falls behind on a stream that is mostly snapshot values: the edge drops
/// superseded values from its queue instead of closing it, every log event still arrives
/// exactly once and in order, and the newest value of the snapshot kind is delivered.
#[tokio::test]
async fn a_client_behind_on_snapshots_gets_conflated_values_and_every_log_event() {
    let nats = TestNats::start().await.unwrap();
    let settings = EdgeSettings {
        client_queue_bytes: 64 << 10,
        ..EdgeSettings::default()
    };
    let edge = TestEdge::start_with(&nats, settings).await.unwrap();
    let mut slow = WsClient::connect_small_buffer(&edge.ws("")).await.unwrap();
    // 4 KB tips values, 2,000 of them (8 MB: far more than the socket buffers and the 64 KiB
    // queue hold), with a log event after every hundredth.
    let js = async_nats::jetstream::new(nats.client().await.unwrap());
    let tips_subject = Kind::TipsUpdated.subject(nats.prefix());
    let added_subject = Kind::MessageAdded.subject(nats.prefix());
    let tip = "t".repeat(4_000);
    let mut acks = Vec::new();
    for n in 1..=2_000u64 {
        let tips =
            json!({"type": "TipsUpdated", "data": {"tips": [tip], "count": n, "timestamp": 1}});
        acks.push(
            js.publish(tips_subject.clone(), tips.to_string().into())
                .await
                .unwrap(),
        );
        if n % 100 == 0 {
            let added = json!({"type": "MessageAdded", "data": {"message_id": "m", "depth": n / 100, "timestamp": 1}});
            acks.push(
                js.publish(added_subject.clone(), added.to_string().into())
                    .await
                    .unwrap(),
            );
        }
    }
    for ack in acks {
        ack.await.unwrap();
    }
    // Conflation happened while the client was not reading.
    let metrics = edge.state().clone();
    adic_tests::wait_until(Duration::from_secs(30), || async {
        metrics.feed.published_seq() >= 2_020
    })
    .await
    .expect("the edge fanned out every event");
    assert!(
        edge.state().metrics.conflated.get() > 0,
        "nothing was conflated"
    );

    // Now it reads everything: all 20 log events in order, the last tips value, fewer values
    // than were published, and no close.
    let (mut logs, mut tips, mut last_tips) = (Vec::new(), 0u64, 0u64);
    while last_tips < 2_000 || logs.len() < 20 {
        match slow
            .next_item_within(Duration::from_secs(20))
            .await
            .unwrap()
        {
            WsItem::Json(v) if v["type"] == "Event" => match v["event"]["type"].as_str() {
                Some("MessageAdded") => logs.push(depth(&v["event"])),
                Some("TipsUpdated") => {
                    tips += 1;
                    let count = v["event"]["data"]["count"].as_u64().unwrap();
                    assert!(count > last_tips, "tips values out of order");
                    last_tips = count;
                }
                other => panic!("unexpected {other:?}"),
            },
            WsItem::Json(_) => {}
            WsItem::Close(c) => panic!("closed instead of conflated: {c:?}"),
        }
    }
    assert_eq!(logs, (1..=20).collect::<Vec<_>>());
    assert_eq!(last_tips, 2_000, "the newest value arrived");
    assert!(tips < 2_000, "every value arrived: nothing was conflated");
}
