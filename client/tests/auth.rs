//! The client against an edge with authentication on: a token provider asked at every
//! connection, tokens renewed in-band on a WebSocket so the connection outlives each token,
//! and a refused token reported as such, never as a reason to change transport.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use adic_client::{Client, Item, State, Transport};
use adic_edge::auth::{AuthMode, Secret};
use adic_edge::config::EdgeSettings;
use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use adic_tests::stream::TestStream;
use adic_tests::tokens::{claims, Signer, SECRET};
use common::{log_numbers, stream_start_of, Collector};
use futures::StreamExt;

fn auth_edge() -> EdgeSettings {
    let mut settings = EdgeSettings::default();
    settings.auth.mode = AuthMode::Jwt;
    settings.auth.hs256_secret = Some(Secret(SECRET.into()));
    settings.auth.auth_leeway = Duration::ZERO;
    settings
}

#[tokio::test]
async fn short_tokens_are_renewed_in_band_and_every_transport_authenticates() {
    adic_tests::init_logs();
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start_with(&nats, auth_edge()).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let start = stream_start_of(&edge);
    // Each token lives 4 s; the provider mints a new one whenever asked.
    let asked = Arc::new(AtomicUsize::new(0));
    let provider = {
        let asked = Arc::clone(&asked);
        move || {
            asked.fetch_add(1, Ordering::SeqCst);
            Some(Signer::Hs256.sign(&claims("indexer", &["all"], 4), None))
        }
    };
    let items = Client::builder([edge.http("")])
        .token(provider.clone())
        .cursor(start)
        .subscribe()
        .unwrap();
    let client = Collector::spawn(items);
    // Events over 10 s: well past the first token's expiry.
    for batch in 0..10u64 {
        stream.numbered(batch * 5 + 1..=batch * 5 + 5).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    client.wait_for(50).await;
    let stats = client.stats.get();
    let got = client.stop().await;
    assert_eq!(log_numbers(&got.events), (1..=50).collect::<Vec<_>>());
    assert_eq!(
        stats.connections, 1,
        "one connection outlived every token: {stats:?}"
    );
    assert_eq!(stats.auth_refusals, 0);
    assert!(asked.load(Ordering::SeqCst) >= 3, "renewed in-band");

    // SSE and polling send the provider's token as a bearer header.
    for transport in [Transport::Sse, Transport::Polling] {
        let items = Client::builder([edge.http("")])
            .token(provider.clone())
            .transport(transport)
            .cursor(start)
            .subscribe()
            .unwrap();
        let client = Collector::spawn(items);
        client.wait_for(50).await;
        assert_eq!(client.stats.get().transport, Some(transport));
        let got = client.stop().await;
        assert_eq!(
            log_numbers(&got.events),
            (1..=50).collect::<Vec<_>>(),
            "{transport}"
        );
    }
}

#[tokio::test]
async fn a_refused_token_is_reported_and_the_client_does_not_fall_back() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start_with(&nats, auth_edge()).await.unwrap();
    for (transport, token) in [
        // A token of the wrong key, on a WebSocket (refused in-band, close 4401).
        (
            Transport::WebSocket,
            Signer::Es256.sign(&claims("x", &["all"], 600), None),
        ),
        // A filter the token does not allow, over SSE (403).
        (
            Transport::Sse,
            Signer::Hs256.sign(&claims("x", &["tips.update"], 600), None),
        ),
    ] {
        let mut items = Client::builder([edge.http("")])
            .token(move || Some(token.clone()))
            .transport(transport)
            .events(["message.new"])
            .subscribe()
            .unwrap();
        let mut refusals = Vec::new();
        while refusals.len() < 2 {
            let item = tokio::time::timeout(Duration::from_secs(20), items.next())
                .await
                .expect("a notice")
                .unwrap();
            match item {
                Item::State(State::Unauthorized { reason }) => refusals.push(reason),
                Item::State(State::FellBack { .. }) => panic!("fell back on {transport}"),
                _ => {}
            }
        }
        let stats = items.stats_handle().get();
        assert_eq!(stats.fallbacks, 0);
        assert!(stats.auth_refusals >= 2);
        let expected = if transport == Transport::Sse {
            "403"
        } else {
            "4401"
        };
        assert!(refusals[0].contains(expected), "{transport}: {refusals:?}");
    }
}
