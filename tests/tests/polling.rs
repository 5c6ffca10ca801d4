//! Polling (`GET /v1/events`): pages by cursor on any edge, limits, long polls, and a `next`
//! that moves past events the filter skips.

use std::time::{Duration, Instant};

use adic_tests::edge::TestEdge;
use adic_tests::nats::TestNats;
use adic_tests::stream::TestStream;
use adic_tests::wait_until;
use serde_json::{json, Value};

async fn publish(nats: &TestNats, range: std::ops::RangeInclusive<u64>) -> Vec<u64> {
    TestStream::new(nats).await.numbered(range).await
}

async fn get(url: String) -> (u16, Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn depths(page: &Value) -> Vec<u64> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["data"]["depth"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn pages_follow_next_across_edges_exactly_once() {
    let nats = TestNats::start().await.unwrap();
    let a = TestEdge::start(&nats).await.unwrap();
    let b = TestEdge::start(&nats).await.unwrap();
    let seqs = publish(&nats, 1..=7).await;
    let epoch = a.state().feed.epoch();
    adic_tests::wait_until(Duration::from_secs(10), || async {
        a.state().feed.published_seq() >= seqs[6] && b.state().feed.published_seq() >= seqs[6]
    })
    .await
    .unwrap();

    let (status, page) =
        get(a.http(&format!("/v1/events?after={epoch}-{}&limit=3", seqs[1]))).await;
    assert_eq!(status, 200);
    assert_eq!(depths(&page), vec![3, 4, 5]);
    assert_eq!(page["events"][0]["id"], format!("{epoch}-{}", seqs[2]));
    assert_eq!(page["next"], format!("{epoch}-{}", seqs[4]));
    assert_eq!(page["gap"], Value::Null);
    assert_eq!(page["reset"], Value::Null);

    // Stateless: the next page comes from another edge.
    let (_, page) = get(b.http(&format!(
        "/v1/events?after={}",
        page["next"].as_str().unwrap()
    )))
    .await;
    assert_eq!(depths(&page), vec![6, 7]);
    assert_eq!(page["next"], format!("{epoch}-{}", seqs[6]));
}

#[tokio::test]
async fn next_moves_past_filtered_events_and_without_after_starts_at_the_newest() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    let seqs = publish(&nats, 1..=5).await;
    let epoch = edge.state().feed.epoch();
    adic_tests::wait_until(Duration::from_secs(10), || async {
        edge.state().feed.published_seq() >= seqs[4]
    })
    .await
    .unwrap();
    let (_, page) =
        get(edge.http(&format!("/v1/events?after={epoch}-0&events=node.stopped"))).await;
    assert_eq!(page["events"], json!([]));
    assert_eq!(
        page["next"],
        format!("{epoch}-{}", seqs[4]),
        "next advances past what the filter skipped"
    );

    let (_, page) = get(edge.http("/v1/events")).await;
    assert_eq!(page["events"], json!([]), "nothing old without a cursor");
    assert_eq!(page["next"], format!("{epoch}-{}", seqs[4]));
}

#[tokio::test]
async fn wait_holds_an_empty_page_until_an_event_arrives() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    // With the cursor of where the stream is now, the poll asks for the event about to be
    // published even if the request reaches the edge only after it.
    let now = format!(
        "{}-{}",
        edge.state().feed.epoch(),
        edge.state().feed.published_seq()
    );
    let url = edge.http(&format!("/v1/events?wait=20&after={now}"));
    let started = Instant::now();
    let poll = tokio::spawn(get(url));
    // The request has reached the edge and is held there with nothing to send.
    let state = edge.state().clone();
    wait_until(Duration::from_secs(10), || async {
        state.metrics.polls_waiting.get() == 1
    })
    .await
    .expect("the poll is held at the edge");
    assert!(!poll.is_finished(), "an empty page is held");
    publish(&nats, 1..=1).await;
    let (status, page) = poll.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(depths(&page), vec![1]);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "answered when the event came, not at the end of wait"
    );

    let started = Instant::now();
    let (_, page) = get(edge.http("/v1/events?wait=0.3")).await;
    assert_eq!(page["events"], json!([]));
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn bad_parameters_are_explained() {
    let nats = TestNats::start().await.unwrap();
    let edge = TestEdge::start(&nats).await.unwrap();
    for (query, needle) in [
        ("limit=0", "limit must be a whole number from 1 to 1000"),
        ("limit=5000", "limit must be a whole number from 1 to 1000"),
        ("wait=100", "wait must be seconds"),
        ("after=yesterday", "after: cursor"),
        ("events=nope", "unknown event name"),
        ("priority=urgent", "unknown priority"),
        ("wait=1e20", "wait must be seconds"),
    ] {
        let (status, body) = get(edge.http(&format!("/v1/events?{query}"))).await;
        assert_eq!(status, 400, "{query}");
        assert!(
            body["error"].as_str().unwrap().contains(needle),
            "{query}: {body}"
        );
    }
}
