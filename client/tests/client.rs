//! The client against real edges and a real nats-server: it moves to another edge when one shuts
//! down and falls back from WebSocket to SSE to polling, and every log event arrives exactly once,
//! in order.

use std::time::Duration;

use adic_client::{Client, Item, State, Transport};
use adic_edge::config::EdgeSettings;
use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use adic_tests::stream::{depth, TestStream};
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
    let mut items = Box::pin(Client::builder([a.http(""), b.http("")]).subscribe());
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
        let mut items = Box::pin(Client::builder([edge.http("")]).subscribe());
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
