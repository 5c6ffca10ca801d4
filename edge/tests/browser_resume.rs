//! A browser's own `EventSource` resumes across an edge restart by itself: headless Chromium,
//! no client code beyond `new EventSource(...)`, the edge a real process that drains on SIGTERM
//! and comes back on the same port. The browser reconnects with `Last-Event-ID` and gets every
//! event exactly once, in order.

use std::path::Path;
use std::time::Duration;

use adic_protocol::Kind;
use adic_publisher::{Publisher, PublisherConfig};
use adic_tests::browser::Browser;
use adic_tests::chaos::event;
use adic_tests::edge::stream_settings;
use adic_tests::nats::TestNats;
use adic_tests::processes::EdgeProcess;
use serde_json::Value;

const EDGE: &str = env!("CARGO_BIN_EXE_adic-edge");

fn publish(publisher: &Publisher, prefix: &str, range: std::ops::RangeInclusive<u64>) {
    for n in range {
        let (kind, json) = event(n, 0);
        publisher
            .publish_with_id(kind.subject(prefix), json.into(), format!("ev-{n}"))
            .unwrap();
    }
}

async fn received(browser: &mut Browser) -> Vec<u64> {
    let value = browser.eval("JSON.stringify(window.got)").await.unwrap();
    let got: Vec<Value> = serde_json::from_str(value.as_str().unwrap()).unwrap();
    got.iter().map(|v| v.as_u64().unwrap()).collect()
}

#[tokio::test]
async fn eventsource_resumes_by_itself_across_an_edge_restart() {
    let nats = TestNats::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = stream_settings(&nats);
    let args = vec![
        "--nats-url".to_owned(),
        nats.url(),
        "--stream".to_owned(),
        settings.name.clone(),
        "--subject-prefix".to_owned(),
        settings.prefix.clone(),
        "--drain-grace".to_owned(),
        "1s".to_owned(),
    ];
    let mut edge = EdgeProcess::start(Path::new(EDGE), args, dir.path(), "edge").unwrap();
    edge.wait_ready().await.unwrap();
    let publisher = Publisher::start(
        nats.client().await.unwrap(),
        PublisherConfig {
            stream: settings.clone(),
            ..PublisherConfig::default()
        },
    );

    let mut browser = Browser::launch().await.unwrap();
    browser
        .navigate(&format!("http://127.0.0.1:{}/healthz", edge.port()))
        .await
        .unwrap();
    let script = format!(
        "window.got = []; window.opens = 0; \
         const source = new EventSource('/v1/sse/events?events={}'); \
         source.onopen = () => window.opens++; \
         source.addEventListener('{}', e => window.got.push(JSON.parse(e.data).data.depth)); 'ok'",
        Kind::MessageAdded.name(),
        Kind::MessageAdded.name(),
    );
    browser.eval(&script).await.unwrap();
    browser
        .eval_until(
            "the EventSource opened",
            "window.opens",
            Duration::from_secs(10),
            |opens| opens.as_u64().unwrap_or(0) >= 1,
        )
        .await
        .unwrap();

    publish(&publisher, &settings.prefix, 1..=50);
    publisher.flush().await;
    let log_events = |last: u64| (1..=last).filter(|n| n % 5 != 0).collect::<Vec<_>>();
    wait_for(&mut browser, 40).await.unwrap();

    assert!(
        edge.terminate(Duration::from_secs(10)).await.unwrap(),
        "edge drained and exited"
    );
    publish(&publisher, &settings.prefix, 51..=100);
    publisher.flush().await;
    edge.restart().unwrap();
    edge.wait_ready().await.unwrap();
    publish(&publisher, &settings.prefix, 101..=150);
    publisher.flush().await;

    let want = log_events(150);
    let caught_up = wait_for(&mut browser, want.len()).await;
    let got = received(&mut browser).await;
    caught_up.unwrap_or_else(|e| {
        panic!(
            "{e}: the browser has {} of {} ({got:?})",
            got.len(),
            want.len()
        )
    });
    assert_eq!(
        got, want,
        "every event exactly once, in order, across the restart"
    );
    let opens = browser.eval("window.opens").await.unwrap();
    assert!(
        opens.as_u64().unwrap() >= 2,
        "the browser reconnected by itself ({opens} opens)"
    );
}

/// Polls the page until it has `count` events (30 s at most).
async fn wait_for(browser: &mut Browser, count: usize) -> anyhow::Result<()> {
    browser
        .eval_until(
            &format!("{count} events in the page"),
            "window.got.length",
            Duration::from_secs(30),
            |n| n.as_u64().is_some_and(|n| n >= count as u64),
        )
        .await
        .map(drop)
}
