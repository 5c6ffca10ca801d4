//! The client against real edges and a real nats-server: it moves to another edge when one shuts
//! down; falls back from WebSocket to SSE to polling when edges refuse the better transports or a
//! proxy refuses upgrades; sends the headers its hook supplies on every transport and every
//! reconnect; commits a checkpoint only for processed events and restarts from it; keeps
//! statistics. Every test checks that every published event arrives exactly once, in order.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adic_client::{Client, Item, State, Transport};
use adic_edge::config::EdgeSettings;
use adic_protocol::Cursor;
use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use adic_tests::processes::{Haproxy, HaproxyOptions};
use adic_tests::proxies::{header, RecordingRelay};
use adic_tests::stream::{depth, TestStream};
use common::{log_numbers, stream_start, Collector};
use futures::{Stream, StreamExt};

/// Reads items until `count` events arrived; returns their depths and the states seen.
async fn events(
    items: &mut (impl Stream<Item = Item> + Unpin),
    count: usize,
) -> (Vec<u64>, Vec<State>) {
    let (mut depths, mut states) = (Vec::new(), Vec::new());
    while depths.len() < count {
        let item = tokio::time::timeout(Duration::from_secs(30), items.next())
            .await
            .unwrap_or_else(|_| {
                panic!("only {} of {count} events; states {states:?}", depths.len())
            })
            .expect("the stream goes on");
        match item {
            Item::Event { event, .. } => depths.push(depth(&event)),
            Item::State(state) => states.push(state),
            other => panic!("unexpected {other:?}"),
        }
    }
    (depths, states)
}

#[tokio::test]
async fn moves_to_another_edge_without_gap_or_duplicate() {
    let nats = TestNats::start().await.unwrap();
    let a = TestEdge::start(&nats).await.unwrap();
    let b = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let mut items = Client::builder([a.http(""), b.http("")])
        .subscribe()
        .unwrap();
    // Connected before anything is published, so the client starts live from the beginning.
    let first = items.next().await.unwrap();
    assert!(
        matches!(first, Item::State(State::Connected { .. })),
        "{first:?}"
    );
    stream.numbered(1..=20).await;
    let (first, _) = events(&mut items, 20).await;
    a.shutdown().await.unwrap();
    stream.numbered(21..=40).await;
    let (rest, states) = events(&mut items, 20).await;
    let all: Vec<u64> = first.into_iter().chain(rest).collect();
    assert_eq!(all, (1..=40).collect::<Vec<_>>());
    assert!(
        states
            .iter()
            .any(|s| matches!(s, State::Connected { url, .. } if *url == b.http(""))),
        "reconnected to the other edge: {states:?}"
    );
}

#[tokio::test]
async fn falls_back_to_sse_then_polling_when_transports_are_refused() {
    let nats = TestNats::start().await.unwrap();
    let no_ws = EdgeSettings {
        no_websocket: true,
        ..EdgeSettings::default()
    };
    let sse_only = TestEdge::start_with(&nats, no_ws.clone()).await.unwrap();
    let poll_only = TestEdge::start_with(
        &nats,
        EdgeSettings {
            no_sse: true,
            ..no_ws
        },
    )
    .await
    .unwrap();
    let stream = TestStream::new(&nats).await;

    for (edge, want) in [
        (&sse_only, Transport::Sse),
        (&poll_only, Transport::Polling),
    ] {
        let mut items = Client::builder([edge.http("")]).subscribe().unwrap();
        let transport = loop {
            match items.next().await.unwrap() {
                Item::State(State::Connected { transport, .. }) => break transport,
                Item::State(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        };
        assert_eq!(transport, want);
        let from = if want == Transport::Sse { 1 } else { 11 };
        stream.numbered(from..=from + 9).await;
        let (got, _) = events(&mut items, 10).await;
        assert_eq!(got, (from..=from + 9).collect::<Vec<_>>(), "{want}");
    }
}

#[tokio::test]
async fn falls_back_to_sse_behind_a_proxy_that_refuses_upgrades() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let dir = tempfile::tempdir().unwrap();
    let options = HaproxyOptions {
        deny_upgrades: true,
        ..HaproxyOptions::default()
    };
    let lb = Haproxy::start_with(&[edge.addr().port()], dir.path(), options)
        .await
        .unwrap();
    let start = stream_start(&edge.http("")).await;
    stream.numbered(1..=20).await;
    let mut items = Client::builder([format!("http://127.0.0.1:{}", lb.port())])
        .cursor(start)
        .subscribe()
        .unwrap();
    let (mut got, states) = events(&mut items, 20).await;
    assert!(
        states.contains(&State::FellBack {
            from: Transport::WebSocket,
            to: Transport::Sse
        }),
        "{states:?}"
    );
    assert!(
        states.iter().all(|s| !matches!(
            s,
            State::Connected {
                transport: Transport::WebSocket,
                ..
            }
        )),
        "{states:?}"
    );
    assert_eq!(items.stats().transport, Some(Transport::Sse));
    stream.numbered(21..=40).await;
    got.extend(events(&mut items, 20).await.0);
    assert_eq!(got, (1..=40).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_header_hook_is_applied_to_every_transport_and_every_reconnect() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let start = stream_start(&edge.http("")).await;
    let mut published = 0u64;
    for (transport, path) in [
        (Transport::WebSocket, "/v1/ws/events"),
        (Transport::Sse, "/v1/sse/events"),
        (Transport::Polling, "/v1/events"),
    ] {
        let relay = RecordingRelay::start(edge.addr()).await.unwrap();
        let calls = Arc::new(AtomicU64::new(0));
        let hook_calls = Arc::clone(&calls);
        let items = Client::builder([relay.url()])
            .transport(transport)
            .cursor(start)
            .headers(move || {
                let n = hook_calls.fetch_add(1, Ordering::SeqCst) + 1;
                vec![
                    ("Authorization".into(), format!("Bearer token-{n}")),
                    ("X-Tenant".into(), "explorer".into()),
                ]
            })
            .subscribe()
            .unwrap();
        let client = Collector::spawn(items);
        stream.numbered(published + 1..=published + 10).await;
        published += 10;
        client.wait_for(published).await;
        relay.cut();
        stream.numbered(published + 1..=published + 10).await;
        published += 10;
        client.wait_for(published).await;
        let stats = client.stats.get();
        let got = client.stop().await;
        assert_eq!(
            log_numbers(&got.events),
            (1..=published).collect::<Vec<_>>()
        );
        assert_eq!(stats.transport, Some(transport));
        assert!(stats.reconnects >= 1, "{stats:?}");

        let heads: Vec<String> = relay
            .heads()
            .into_iter()
            .filter(|h| {
                h.split_whitespace()
                    .nth(1)
                    .is_some_and(|t| t.starts_with(path))
            })
            .collect();
        assert!(
            !heads.is_empty(),
            "{transport}: no request reached the edge"
        );
        let tokens: Vec<&str> = heads
            .iter()
            .map(|h| header(h, "authorization").unwrap_or_else(|| panic!("{transport}: {h}")))
            .collect();
        assert!(heads
            .iter()
            .all(|h| header(h, "x-tenant") == Some("explorer")));
        // One call per connection: the first connection's token, then a newer one after the cut.
        assert_eq!(tokens.first(), Some(&"Bearer token-1"), "{transport}");
        assert!(
            tokens.iter().any(|t| *t != "Bearer token-1"),
            "{transport}: the hook was not called again on reconnect: {tokens:?}"
        );
        assert!(calls.load(Ordering::SeqCst) >= 2);
    }
}

#[tokio::test]
async fn an_indexer_restarts_from_its_checkpoint_with_every_event_once() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let start = stream_start(&edge.http("")).await;
    let seqs = stream.numbered(1..=30).await;
    let stored: Arc<Mutex<Option<Cursor>>> = Arc::default();
    let mut processed = Vec::new();

    // First run: process 10 events, committing as it goes, then stop.
    let save = Arc::clone(&stored);
    let mut items = Client::builder([edge.http("")])
        .cursor(start)
        .checkpoint(move |cursor| *save.lock().unwrap() = Some(cursor))
        .subscribe()
        .unwrap();
    while processed.len() < 10 {
        if let Item::Event { id, event } = next(&mut items).await {
            // Not committed while being processed: the checkpoint is the one before it.
            let before = processed.len().checked_sub(1).map(|i| seqs[i]);
            assert_eq!(stored.lock().unwrap().map(|c| c.seq), before);
            processed.push(depth(&event));
            assert_eq!(id.seq, seqs[processed.len() - 1]);
        }
    }
    // The tenth is processed; an indexer that stops now commits it explicitly.
    items.commit();
    assert_eq!(stored.lock().unwrap().map(|c| c.seq), Some(seqs[9]));
    assert_eq!(items.checkpoint().map(|c| c.seq), Some(seqs[9]));
    let stats = items.stats();
    assert_eq!(stats.transport, Some(Transport::WebSocket));
    assert_eq!(stats.url.as_deref(), Some(edge.http("").as_str()));
    assert_eq!(stats.events_by_kind.get("message.new"), Some(&10));
    assert_eq!(stats.events(), 10);
    assert_eq!(stats.last_cursor.map(|c| c.seq), Some(seqs[9]));
    assert_eq!(stats.checkpoint.map(|c| c.seq), Some(seqs[9]));
    assert_eq!((stats.connections, stats.reconnects), (1, 0));
    drop(items);

    // Second run, over polling this time, from the stored checkpoint: the rest, once. The
    // eleventh is received but not committed before this run stops too.
    let checkpoint = stored.lock().unwrap().expect("a checkpoint");
    let save = Arc::clone(&stored);
    let mut items = Client::builder([edge.http("")])
        .transport(Transport::Polling)
        .cursor(checkpoint)
        .checkpoint(move |cursor| *save.lock().unwrap() = Some(cursor))
        .subscribe()
        .unwrap();
    let Item::Event { event, .. } = next_event(&mut items).await else {
        unreachable!()
    };
    assert_eq!(depth(&event), 11, "continues right after the checkpoint");
    drop(items);
    assert_eq!(
        stored.lock().unwrap().map(|c| c.seq),
        Some(seqs[9]),
        "an event not yet processed is not committed"
    );

    // Third run: the uncommitted eleventh comes again, then everything else.
    let checkpoint = stored.lock().unwrap().expect("a checkpoint");
    let save = Arc::clone(&stored);
    let mut items = Client::builder([edge.http("")])
        .transport(Transport::Sse)
        .cursor(checkpoint)
        .checkpoint(move |cursor| *save.lock().unwrap() = Some(cursor))
        .subscribe()
        .unwrap();
    while processed.len() < 30 {
        if let Item::Event { event, .. } = next_event(&mut items).await {
            processed.push(depth(&event));
        }
    }
    items.commit();
    assert_eq!(processed, (1..=30).collect::<Vec<_>>());
    assert_eq!(stored.lock().unwrap().map(|c| c.seq), Some(seqs[29]));
    let stats = items.stats();
    assert_eq!(stats.transport, Some(Transport::Sse));
    assert_eq!(stats.events_by_kind.get("message.new"), Some(&20));
}

async fn next(items: &mut (impl Stream<Item = Item> + Unpin)) -> Item {
    tokio::time::timeout(Duration::from_secs(30), items.next())
        .await
        .expect("an item within 30 s")
        .expect("the stream goes on")
}

/// The next event, skipping state notices.
async fn next_event(items: &mut (impl Stream<Item = Item> + Unpin)) -> Item {
    loop {
        match next(items).await {
            Item::State(_) => {}
            item @ Item::Event { .. } => return item,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// An SSE "edge" that sends one event in two HTTP chunks, the cut falling inside a two-byte
/// character, as a re-chunking proxy may.
#[tokio::test]
async fn a_character_split_across_sse_chunks_arrives_whole() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let frame = "event: message.new\nid: 0000abcd-7\ndata: {\"type\":\"MessageAdded\",\"data\":{\"message_id\":\"café\",\"depth\":7,\"timestamp\":1}}\n\n";
    let cut = frame.find('é').unwrap() + 1;
    let (first, second) = frame.as_bytes().split_at(cut);
    let (first, second) = (first.to_vec(), second.to_vec());
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = vec![0u8; 4096];
        let _ = socket.read(&mut head).await.unwrap();
        let mut out = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        for part in [&first, &second] {
            out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            out.extend_from_slice(part);
            out.extend_from_slice(b"\r\n");
        }
        socket.write_all(&out).await.unwrap();
        // Hold the stream open until the client has read.
        tokio::time::sleep(Duration::from_secs(10)).await;
    });
    let mut items = Client::builder([format!("http://{addr}")])
        .transport(Transport::Sse)
        .subscribe()
        .unwrap();
    let Item::Event { event, .. } = next_event(&mut items).await else {
        unreachable!()
    };
    assert_eq!(event["data"]["message_id"], "café");
    server.abort();
}
