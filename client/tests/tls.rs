//! TLS: an edge behind a TLS-terminating haproxy with a self-signed certificate, reached over
//! `wss://` and `https://` (SSE, polling) by a client that trusts that certificate, with every
//! event exactly once in order; a client that does not trust it never connects and says why.

mod common;

use std::time::Duration;

use adic_client::{Client, Item, Roots, State, Transport};
use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use adic_tests::processes::{Haproxy, HaproxyOptions};
use adic_tests::stream::TestStream;
use common::{log_numbers, stream_start, Collector};
use futures::StreamExt;

#[tokio::test]
async fn every_transport_works_over_tls_with_an_added_root() {
    adic_tests::init_logs();
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let pem_path = dir.path().join("edge.pem");
    std::fs::write(
        &pem_path,
        format!("{}{}", cert.cert.pem(), cert.signing_key.serialize_pem()),
    )
    .unwrap();
    let options = HaproxyOptions {
        tls_pem: Some(pem_path),
        ..HaproxyOptions::default()
    };
    let lb = Haproxy::start_with(&[edge.addr().port()], dir.path(), options)
        .await
        .unwrap();
    let https = format!("https://127.0.0.1:{}", lb.port());
    let start = stream_start(&edge.http("")).await;
    stream.numbered(1..=30).await;

    for transport in [Transport::WebSocket, Transport::Sse, Transport::Polling] {
        let items = Client::builder([https.clone()])
            .roots(Roots::AddedOnly)
            .root_certificate_pem(cert.cert.pem())
            .transport(transport)
            .cursor(start)
            .subscribe()
            .unwrap();
        let client = Collector::spawn(items);
        client.wait_for(30).await;
        let stats = client.stats.get();
        assert_eq!(stats.transport, Some(transport), "{stats:?}");
        assert_eq!(stats.url.as_deref(), Some(https.as_str()));
        let got = client.stop().await;
        assert_eq!(
            log_numbers(&got.events),
            (1..=30).collect::<Vec<_>>(),
            "{transport}"
        );
    }

    // Without the certificate among its roots the client never connects, falls back through
    // every transport, and its reconnect notices say it is the certificate.
    let mut untrusting = Client::builder([https.clone()])
        .roots(Roots::WebPki)
        .cursor(start)
        .subscribe()
        .unwrap();
    let mut reasons = Vec::new();
    let mut fell_to_polling = false;
    while !(fell_to_polling && reasons.len() >= 3) {
        let item = tokio::time::timeout(Duration::from_secs(30), untrusting.next())
            .await
            .unwrap_or_else(|_| panic!("no notice; reasons so far {reasons:?}"))
            .unwrap();
        match item {
            Item::State(State::Reconnecting { reason, .. }) => reasons.push(reason),
            Item::State(State::FellBack { to, .. }) => fell_to_polling = to == Transport::Polling,
            other => panic!("an untrusted edge delivered {other:?}"),
        }
    }
    assert!(
        reasons
            .iter()
            .all(|r| r.contains("certificate") || r.contains("UnknownIssuer")),
        "{reasons:?}"
    );
    assert_eq!(untrusting.stats().connections, 0);
}
