//! Failure scenarios against real processes: a 3-node NATS cluster with an R3 stream, three
//! `adic-edge` processes behind haproxy (round-robin, no stickiness), a publisher that numbers
//! its events, and WebSocket, SSE and polling clients that resume with their cursor.
//!
//! Each scenario checks, for every client, the guarantee against an independent reader of the
//! stream (log kinds exactly once in stream order; snapshot kinds in order, possibly skipping
//! superseded values), that the publisher's numbers are each stored once, and that the fault
//! really happened. Each prints a report row (`cargo test -p adic-edge --test chaos -- --nocapture`).
//!
//! Scenario timing is counted in events, not seconds: "let traffic flow" means every client has
//! received a second's worth of events published since ("let the stream store": JetStream has
//! acked that many), so a loaded machine slows a scenario down instead of cutting it short.

use std::path::Path;
use std::time::{Duration, Instant};

use adic_protocol::ws::close;
use adic_tests::chaos::{
    check, wait_caught_up, wait_received, ClientLog, NumberedPublisher, ResumingClient, Via, World,
};
use serde_json::Value;

const EDGE: &str = env!("CARGO_BIN_EXE_adic-edge");
/// Events per second of the steady publisher.
const RATE: u32 = 200;
/// A second's worth of the steady publisher's events.
const STEADY: u64 = RATE as u64;
/// Bound on each step of a scenario.
const STEP: Duration = Duration::from_secs(30);

async fn world(extra: &[&str]) -> World {
    World::start(Path::new(EDGE), 3, extra)
        .await
        .expect("chaos world")
}

/// The current epoch, from an edge's health report.
async fn epoch(world: &World) -> String {
    let health: Value = reqwest::get(world.http_url("/v1/health/streaming"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cursor = health["stream"]["cursor"]
        .as_str()
        .expect("a running edge has a cursor");
    cursor.split('-').next().unwrap().to_owned()
}

/// Clients of every transport, all starting at the beginning of the stream.
async fn clients(world: &World, extra: &[(&str, Via)]) -> Vec<ResumingClient> {
    let start = format!("{}-0", epoch(world).await);
    let mut out: Vec<ResumingClient> = [
        ("ws-1", Via::WebSocket),
        ("ws-2", Via::WebSocket),
        ("sse-1", Via::Sse),
        ("sse-2", Via::Sse),
        ("poll-1", Via::Polling),
    ]
    .iter()
    .chain(extra)
    .map(|(name, via)| ResumingClient::spawn(world, name, *via))
    .collect();
    for client in &mut out {
        client.log.lock().unwrap().cursor = Some(start.clone());
    }
    out
}

/// Lets traffic flow: waits until every client has received [`STEADY`] events more than the
/// publisher had handed out when called, i.e. events published from now on reach everyone.
async fn let_traffic_flow(publisher: &NumberedPublisher, clients: &[ResumingClient]) {
    let from = publisher.next();
    wait_received(clients, from + STEADY, STEP)
        .await
        .expect("traffic flows to every client");
}

/// Lets the stream take writes: waits until JetStream has acked [`STEADY`] more of the
/// publisher's events than when called. Unlike [`let_traffic_flow`] it asks nothing of the
/// edges, whose recovery [`finish`] waits for.
async fn let_the_stream_store(publisher: &NumberedPublisher) {
    let acked = || publisher.publisher.stats().acked;
    let from = acked();
    adic_tests::wait_until(STEP, || async { acked() >= from + STEADY })
        .await
        .expect("the stream stores events");
}

struct Outcome {
    published: u64,
    logs: Vec<(String, ClientLog)>,
}

/// Stops publishing, waits until every client has the whole stream, checks the guarantee for
/// each, and prints the report row.
async fn finish(
    scenario: &str,
    world: &World,
    publisher: NumberedPublisher,
    clients: Vec<ResumingClient>,
) -> Outcome {
    let last = publisher.finish().await.expect("publisher flushed");
    let truth = world.truth().await.expect("ground truth");
    let numbers: Vec<u64> = truth.iter().map(|e| e.n).collect();
    assert_eq!(
        numbers,
        (1..=last).collect::<Vec<_>>(),
        "{scenario}: every published number stored once, in order"
    );
    let refs: Vec<&ResumingClient> = clients.iter().collect();
    wait_caught_up(&refs, truth.last().unwrap().seq, Duration::from_secs(60))
        .await
        .unwrap();
    let mut logs = Vec::new();
    for client in clients {
        let name = client.name.clone();
        logs.push((name, client.stop().await));
    }
    let mut longest = Duration::ZERO;
    for (name, log) in &logs {
        check(name, &truth, &log.received).unwrap_or_else(|e| panic!("{scenario}: {e}"));
        longest = longest.max(log.longest_resume);
    }
    let reconnects: u32 = logs.iter().map(|(_, l)| l.reconnects).sum();
    println!(
        "| {scenario} | {last} | {} | 0 | 0 | {reconnects} | {} ms |",
        logs.len(),
        longest.as_millis()
    );
    Outcome {
        published: last,
        logs,
    }
}

fn reconnects(outcome: &Outcome, prefix: &str) -> u32 {
    outcome
        .logs
        .iter()
        .filter(|(n, _)| n.starts_with(prefix))
        .map(|(_, l)| l.reconnects)
        .sum()
}

#[tokio::test]
async fn kill_9_one_edge() {
    let mut world = world(&[]).await;
    let clients = clients(&world, &[]).await;
    let publisher = NumberedPublisher::start(&world, 1, RATE, 0).await.unwrap();
    let_traffic_flow(&publisher, &clients).await;
    world.edges[0].kill().expect("edge 0 killed");
    // Edge 0 stays down until its clients have resumed elsewhere and traffic flows again.
    let_traffic_flow(&publisher, &clients).await;
    world.edges[0].restart().unwrap();
    world.edges[0].wait_ready().await.unwrap();
    let_traffic_flow(&publisher, &clients).await;
    let outcome = finish("kill -9 one edge", &world, publisher, clients).await;
    assert!(outcome.published > 0);
    assert!(
        reconnects(&outcome, "ws") + reconnects(&outcome, "sse") >= 1,
        "the clients on the killed edge reconnected"
    );
}

#[tokio::test]
async fn rolling_restart_of_all_edges_by_sigterm() {
    let mut world = world(&[]).await;
    let clients = clients(&world, &[]).await;
    let publisher = NumberedPublisher::start(&world, 1, RATE, 0).await.unwrap();
    let_traffic_flow(&publisher, &clients).await;
    for i in 0..world.edges.len() {
        let clean = world.edges[i]
            .terminate(Duration::from_secs(10))
            .await
            .unwrap();
        assert!(clean, "edge {i} drained and exited cleanly on SIGTERM");
        world.edges[i].restart().unwrap();
        world.edges[i].wait_ready().await.unwrap();
    }
    let_traffic_flow(&publisher, &clients).await;
    let outcome = finish("rolling restart (SIGTERM)", &world, publisher, clients).await;
    let drained: usize = outcome
        .logs
        .iter()
        .map(|(_, l)| {
            l.close_codes
                .iter()
                .filter(|c| **c == close::DRAINING)
                .count()
        })
        .sum();
    assert!(
        drained >= 2,
        "WebSocket clients were closed with 4000 by draining edges ({drained})"
    );
    assert!(reconnects(&outcome, "sse") >= 2, "SSE clients reconnected");
}

#[tokio::test]
async fn kill_9_one_nats_node() {
    let mut world = world(&[]).await;
    let clients = clients(&world, &[]).await;
    let publisher = NumberedPublisher::start(&world, 1, RATE, 0).await.unwrap();
    let_traffic_flow(&publisher, &clients).await;
    world.cluster.kill(0).await;
    let url = world.cluster.urls()[0].clone();
    assert!(
        async_nats::connect(url.as_str()).await.is_err(),
        "node 0 is gone"
    );
    // Node 0 stays down until the other two have stored a second's worth of events.
    let_the_stream_store(&publisher).await;
    world.cluster.restart(0).await.unwrap();
    let_the_stream_store(&publisher).await;
    finish("kill -9 one NATS node", &world, publisher, clients).await;
}

#[tokio::test]
async fn publisher_restarted_mid_stream_stores_no_duplicate() {
    let world = world(&[]).await;
    let clients = clients(&world, &[]).await;
    let first = NumberedPublisher::start(&world, 1, RATE, 0).await.unwrap();
    // Events are stored and delivered, so some of the last hundred before the crash are too.
    let_traffic_flow(&first, &clients).await;
    let last = first.crash().await;
    // The restarted node does not know what was stored: it publishes its last 100 again.
    let second = NumberedPublisher::start(&world, last.saturating_sub(99).max(1), RATE * 5, 0)
        .await
        .unwrap();
    let resent_done = last + 1;
    adic_tests::wait_until(Duration::from_secs(10), || async {
        second.next() > resent_done
    })
    .await
    .unwrap();
    // New numbers after the re-sent ones reach everyone.
    let_traffic_flow(&second, &clients).await;
    let stats = second.publisher.clone();
    finish("publisher restarted mid-stream", &world, second, clients).await;
    assert!(
        stats.stats().duplicates >= 1,
        "re-sent events were recognised as duplicates: {:?}",
        stats.stats()
    );
}

/// How long the stalled client stops reading after its first event: under the edge's 10 s write
/// timeout, since a client stalled for longer loses its socket before it can read the close.
const STALL: Duration = Duration::from_secs(8);

#[tokio::test]
async fn a_stalled_client_is_closed_and_catches_up_without_slowing_the_others() {
    // A 512 KiB queue (with the balancer's and the kernel's buffers, about a second of this
    // traffic) lets a reader on this busy two-core machine be late by a scheduling hiccup without
    // being taken for stalled; the stalled client, 8 s behind, overflows it all the same.
    let world = world(&["--client-queue-bytes", "524288"]).await;
    let clients = clients(&world, &[("stalled", Via::StallingWebSocket(STALL))]).await;
    // 4 KB events at 300/s: the stalled client's socket and queue fill within seconds.
    let publisher = NumberedPublisher::start(&world, 1, 300, 4000)
        .await
        .unwrap();
    // Publishing goes on until the stalled client, its stall over, has read the edge's close.
    let stalled = clients.iter().find(|c| c.name == "stalled").unwrap();
    adic_tests::wait_until(STALL + STEP, || async {
        stalled
            .log
            .lock()
            .unwrap()
            .close_codes
            .contains(&close::SLOW_CONSUMER)
    })
    .await
    .expect("the stalled client was closed as a slow consumer");
    let ended = Instant::now();
    let outcome = finish("stalled client (4001)", &world, publisher, clients).await;
    let caught_up = ended.elapsed();
    let (_, stalled) = outcome.logs.iter().find(|(n, _)| n == "stalled").unwrap();
    assert!(
        stalled.close_codes.contains(&close::SLOW_CONSUMER),
        "closed as a slow consumer: {:?}",
        stalled.close_codes
    );
    for (name, log) in outcome.logs.iter().filter(|(n, _)| n != "stalled") {
        assert!(
            !log.close_codes.contains(&close::SLOW_CONSUMER),
            "{name} was not slowed"
        );
    }
    assert!(
        caught_up < Duration::from_secs(30),
        "everyone had everything {caught_up:?} after the end"
    );
}

#[tokio::test]
async fn a_cursor_older_than_retention_gets_a_gap_then_exactly_once() {
    let world = world(&[]).await;
    let publisher = NumberedPublisher::start(&world, 1, RATE * 5, 0)
        .await
        .unwrap();
    adic_tests::wait_until(Duration::from_secs(20), || async { publisher.next() > 600 })
        .await
        .unwrap();
    let last = publisher.finish().await.unwrap();
    let js = async_nats::jetstream::new(world.cluster.client().await.unwrap());
    js.get_stream(&world.stream.name)
        .await
        .unwrap()
        .purge()
        .keep(100)
        .await
        .unwrap();
    let truth = world.truth().await.unwrap();
    assert_eq!(truth.len(), 100);
    // Every edge notices within seconds that the stream dropped the old events.
    let first = truth[0].seq;
    for edge in &world.edges {
        let url = format!("http://127.0.0.1:{}/v1/health/streaming", edge.port());
        adic_tests::wait_until(Duration::from_secs(15), || async {
            let health: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
            health["ring"]["first_seq"].as_u64() >= Some(first)
        })
        .await
        .unwrap();
    }
    let epoch = epoch(&world).await;
    let mut late = Vec::new();
    for (name, via) in [
        ("ws-old", Via::WebSocket),
        ("sse-old", Via::Sse),
        ("poll-old", Via::Polling),
    ] {
        let client = ResumingClient::spawn(&world, name, via);
        client.log.lock().unwrap().cursor = Some(format!("{epoch}-10"));
        late.push(client);
    }
    let refs: Vec<&ResumingClient> = late.iter().collect();
    wait_caught_up(&refs, truth.last().unwrap().seq, Duration::from_secs(30))
        .await
        .unwrap();
    for client in late {
        let name = client.name.clone();
        let log = client.stop().await;
        assert_eq!(log.gaps, 1, "{name} was told about the gap");
        check(&name, &truth, &log.received).unwrap();
    }
    println!("| cursor older than retention | {last} | 3 | 0 | 0 | 0 | — |");
}

#[tokio::test]
async fn the_stream_recreated_under_running_edges_resets_clients() {
    let world = world(&[]).await;
    let clients = clients(&world, &[]).await;
    let publisher = NumberedPublisher::start(&world, 1, RATE, 0).await.unwrap();
    let_traffic_flow(&publisher, &clients).await;
    let old_last = publisher.finish().await.unwrap();
    let old_truth = world.truth().await.unwrap();
    let refs: Vec<&ResumingClient> = clients.iter().collect();
    wait_caught_up(
        &refs,
        old_truth.last().unwrap().seq,
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    let before: Vec<usize> = clients
        .iter()
        .map(|c| c.log.lock().unwrap().received.len())
        .collect();

    let js = async_nats::jetstream::new(world.cluster.client().await.unwrap());
    js.delete_stream(&world.stream.name).await.unwrap();
    js.create_stream(world.stream.config()).await.unwrap();
    // Every edge notices the new, empty stream and is ready again at once (its ring is as warm as
    // an empty stream allows), not after the new stream reaches the old one's length.
    for edge in &world.edges {
        let url = format!("http://127.0.0.1:{}/readyz", edge.port());
        let epoch_url = format!("http://127.0.0.1:{}/v1/health/streaming", edge.port());
        adic_tests::wait_until(Duration::from_secs(20), || async {
            let health: Value = reqwest::get(&epoch_url)
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let on_new_stream = health["stream"]["cursor"]
                .as_str()
                .is_some_and(|c| c.ends_with("-0"));
            on_new_stream && reqwest::get(&url).await.is_ok_and(|r| r.status() == 200)
        })
        .await
        .expect("edges ready on the recreated stream");
    }
    let publisher = NumberedPublisher::start(&world, 1, RATE, 0).await.unwrap();
    // Publishing goes on until every client has events of the new stream past the old stream's
    // last sequence, so the catch-up below, which compares sequences, is about the new stream.
    let old_last_seq = old_truth.last().unwrap().seq;
    adic_tests::wait_until(STEP, || async {
        clients.iter().all(|c| c.last_seq() > old_last_seq)
    })
    .await
    .expect("every client receives the new stream");
    let new_last = publisher.finish().await.unwrap();
    let new_truth = world.truth().await.unwrap();
    wait_caught_up(
        &refs,
        new_truth.last().unwrap().seq,
        Duration::from_secs(30),
    )
    .await
    .unwrap_or_else(|e| {
        let states: Vec<String> = clients
            .iter()
            .map(|c| format!("{} {:?}", c.name, c.log.lock().unwrap().cursor))
            .collect();
        panic!("{e}: {states:?}")
    });
    let mut count = 0;
    for (client, before) in clients.into_iter().zip(before) {
        let name = client.name.clone();
        let log = client.stop().await;
        assert!(log.resets >= 1, "{name} was told the stream was reset");
        check(&name, &old_truth, &log.received[..before]).unwrap();
        check(&name, &new_truth, &log.received[before..]).unwrap();
        count += 1;
    }
    println!(
        "| stream recreated (Reset) | {} | {count} | 0 | 0 | — | — |",
        old_last + new_last
    );
}
