//! `HTTP_PROXY` and `NO_PROXY` from the environment, through a real forward proxy: every
//! transport goes through it (WebSocket in a `CONNECT` tunnel, SSE and polling as proxied
//! requests), resumes through it after the proxy cuts every connection with every event exactly
//! once, and a host that `NO_PROXY` names is reached directly.
//!
//! This file holds one test: it sets the process environment before anything else runs.

mod common;

use adic_client::{Client, Transport};
use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use adic_tests::proxies::ForwardProxy;
use adic_tests::stream::TestStream;
use common::{log_numbers, stream_start, Collector};

#[tokio::test]
async fn the_proxy_environment_is_honoured_by_every_transport() {
    adic_tests::init_logs();
    let proxy = ForwardProxy::start().await.unwrap();
    // Set before any client exists; `localhost` bypasses, `127.0.0.1` goes through the proxy.
    for name in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "REQUEST_METHOD",
    ] {
        std::env::remove_var(name);
    }
    std::env::set_var("HTTP_PROXY", proxy.url());
    std::env::set_var("NO_PROXY", "localhost");

    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let stream = TestStream::new(&nats).await;
    let start = stream_start(&edge.http("")).await;
    let through = edge.http("");
    let direct = format!("http://localhost:{}", edge.addr().port());

    let mut published = 0u64;
    for transport in [Transport::WebSocket, Transport::Sse, Transport::Polling] {
        let (tunnels, forwarded) = (proxy.tunnels(), proxy.forwarded());
        let client = Collector::spawn(
            Client::builder([through.clone()])
                .transport(transport)
                .cursor(start)
                .subscribe()
                .unwrap(),
        );
        stream.numbered(published + 1..=published + 10).await;
        published += 10;
        client.wait_for(published).await;
        match transport {
            Transport::WebSocket => assert!(proxy.tunnels() > tunnels, "a CONNECT tunnel"),
            _ => assert!(
                proxy.forwarded() > forwarded,
                "{transport} requests via the proxy"
            ),
        }
        // The proxy drops every connection: the client comes back through it and resumes.
        proxy.cut();
        stream.numbered(published + 1..=published + 10).await;
        published += 10;
        client.wait_for(published).await;
        let stats = client.stats.get();
        assert_eq!(stats.transport, Some(transport), "{stats:?}");
        assert!(stats.reconnects >= 1, "{transport}: {stats:?}");
        let got = client.stop().await;
        assert_eq!(
            log_numbers(&got.events),
            (1..=published).collect::<Vec<_>>(),
            "{transport}"
        );
        // The request each transport makes, as the proxy saw it.
        let port = edge.addr().port();
        let expected = match transport {
            Transport::WebSocket => format!("CONNECT 127.0.0.1:{port}"),
            Transport::Sse => format!("GET http://127.0.0.1:{port}/v1/sse/events"),
            Transport::Polling => format!("GET http://127.0.0.1:{port}/v1/events"),
        };
        let heads = proxy.heads();
        assert!(
            heads.iter().any(|h| h.starts_with(&expected)),
            "{transport}: no {expected:?} in {heads:?}"
        );
    }

    // NO_PROXY=localhost: the same edge by that name is reached directly. A request the last
    // proxied client had in flight when it stopped may still reach the proxy: count from when
    // its figures have settled (two readings 250 ms apart agree; bounded).
    let mut counts = (proxy.tunnels(), proxy.forwarded());
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let now = (proxy.tunnels(), proxy.forwarded());
        if now == counts {
            break;
        }
        counts = now;
    }
    let (tunnels, forwarded) = counts;
    for transport in [Transport::WebSocket, Transport::Sse, Transport::Polling] {
        let client = Collector::spawn(
            Client::builder([direct.clone()])
                .transport(transport)
                .cursor(start)
                .subscribe()
                .unwrap(),
        );
        client.wait_for(published).await;
        assert_eq!(client.stats.get().transport, Some(transport));
        let got = client.stop().await;
        assert_eq!(
            log_numbers(&got.events),
            (1..=published).collect::<Vec<_>>()
        );
    }
    assert_eq!(
        (proxy.tunnels(), proxy.forwarded()),
        (tunnels, forwarded),
        "nothing for localhost went through the proxy"
    );
}
