//! Observability with real parts: a real Prometheus scrapes a real edge and a real publisher. Its
//! HTTP API shows the series the docs promise, with counters that match what the clients received;
//! every PromQL expression of the checked-in Grafana dashboard and alert rules evaluates on it; the
//! rules load and evaluate healthy, and `promtool` accepts them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use adic_protocol::Kind;
use adic_publisher::{Publisher, PublisherConfig};
use adic_tests::clients::{SseClient, WsClient};
use adic_tests::edge::{stream_settings, TestEdge};
use adic_tests::nats::TestNats;
use adic_tests::prometheus::{ScrapeTarget, TestPrometheus};
use adic_tests::promql::{
    alert_rules, dashboard_expressions, documented, grouping_labels, metric_names, panels,
    repo_file, substitute_variables, used_variables, ALERTS, DASHBOARD, DOCS, SCRAPE_CONFIG,
};
use adic_tests::stream::depth;
use serde_json::{json, Value};

/// WebSocket clients on the edge (one SSE client comes on top).
const WS_CLIENTS: u64 = 3;
/// Events published.
const EVENTS: u64 = 20;
/// Bound on conditions that depend on the edge's 5-second stream sampling.
const SAMPLING_WAIT: Duration = Duration::from_secs(20);

const EDGE_JOB: &str = "adic-edge";
const PUBLISHER_JOB: &str = "adic-publisher";

/// A stream, an edge, a publisher serving its metrics, and Prometheus scraping both.
struct World {
    prometheus: TestPrometheus,
    publisher: Publisher,
    edge: TestEdge,
    _nats: TestNats,
}

impl World {
    async fn start(rules: &[PathBuf]) -> World {
        adic_tests::init_logs();
        let nats = TestNats::start().await.unwrap();
        let edge = TestEdge::start(&nats).await.unwrap();
        let config = PublisherConfig {
            stream: stream_settings(&nats),
            ..PublisherConfig::default()
        };
        let publisher = Publisher::start(nats.client().await.unwrap(), config);
        let metrics =
            adic_publisher::metrics::serve(publisher.clone(), "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
        let targets = [
            ScrapeTarget::new(EDGE_JOB, edge.addr()),
            ScrapeTarget::new(PUBLISHER_JOB, metrics),
        ];
        let prometheus = TestPrometheus::start(&targets, rules).await.unwrap();
        World {
            prometheus,
            publisher,
            edge,
            _nats: nats,
        }
    }

    /// Publishes `message.new` events numbered `range` through the publisher and waits for
    /// their acks.
    async fn publish(&self, range: std::ops::RangeInclusive<u64>) {
        for n in range {
            let data = json!({"message_id": format!("m{n}"), "depth": n, "timestamp": 1});
            let json = json!({"type": Kind::MessageAdded.variant(), "data": data}).to_string();
            self.publisher
                .publish_json(Kind::MessageAdded, json.into())
                .unwrap();
        }
        self.publisher.flush().await;
    }

    /// The value of `promql` (one series or none) from a scrape that began after now.
    async fn scraped(&self, promql: &str) -> Option<f64> {
        self.prometheus
            .wait_scraped_after(SystemTime::now())
            .await
            .unwrap();
        self.value(promql).await
    }

    async fn value(&self, promql: &str) -> Option<f64> {
        self.prometheus.value(promql).await.unwrap()
    }

    /// The value of `promql`, which must exist.
    async fn must(&self, promql: &str) -> f64 {
        self.value(promql)
            .await
            .unwrap_or_else(|| panic!("no series for `{promql}`"))
    }
}

#[tokio::test]
async fn prometheus_counts_every_delivery_to_every_client() {
    let world = World::start(&[]).await;
    let edge = &world.edge;
    let mut ws = Vec::new();
    for _ in 0..WS_CLIENTS {
        ws.push(WsClient::connect(&edge.ws("")).await.unwrap());
    }
    let mut sse = SseClient::connect(&edge.sse("")).await.unwrap();
    assert_eq!(sse.status, 200);

    // Both targets are up and say which build they are.
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(world.must(r#"up{job="adic-edge"}"#).await, 1.0);
    assert_eq!(world.must(r#"up{job="adic-publisher"}"#).await, 1.0);
    let edge_build = format!(r#"adic_edge_build_info{{job="adic-edge", version="{version}"}}"#);
    assert_eq!(world.must(&edge_build).await, 1.0);
    let publisher_build = format!(r#"adic_publisher_build_info{{version="{version}"}}"#);
    assert_eq!(world.must(&publisher_build).await, 1.0);

    // Counters before any event (a labelled series may not exist until its first increment).
    let ws_deliveries = r#"adic_edge_deliveries_total{transport="websocket"}"#;
    let sse_deliveries = r#"adic_edge_deliveries_total{transport="sse"}"#;
    let before_ws = world.scraped(ws_deliveries).await.unwrap_or(0.0);
    let before_sse = world.value(sse_deliveries).await.unwrap_or(0.0);
    let before_ws_sent = world.must("adic_websocket_messages_sent_total").await;
    let before_sse_sent = world.must("adic_sse_messages_sent_total").await;
    assert_eq!(
        world
            .must(r#"adic_edge_connections{transport="websocket"}"#)
            .await,
        WS_CLIENTS as f64
    );
    assert_eq!(
        world
            .must(r#"adic_edge_connections{transport="sse"}"#)
            .await,
        1.0
    );
    assert_eq!(
        world.must("adic_websocket_connections").await,
        WS_CLIENTS as f64
    );
    assert_eq!(world.must("adic_sse_connections").await, 1.0);
    assert_eq!(
        world
            .must(r#"adic_edge_connections_opened_total{transport="websocket"}"#)
            .await,
        WS_CLIENTS as f64
    );

    world.publish(1..=EVENTS).await;
    let mut first_cursor = String::new();
    for client in &mut ws {
        for n in 1..=EVENTS {
            let (id, event) = client.next_event().await.unwrap();
            assert_eq!(depth(&event), n);
            if n == 1 {
                first_cursor = id;
            }
        }
    }
    for n in 1..=EVENTS {
        let frame = sse.next_event().await.unwrap();
        let event: Value = serde_json::from_str(frame.data.as_deref().unwrap()).unwrap();
        assert_eq!(depth(&event), n);
    }

    // Every client has every event: a scrape that began after this sees all deliveries.
    let ws_total = (EVENTS * WS_CLIENTS) as f64;
    let events = EVENTS as f64;
    let after_ws = world
        .scraped(ws_deliveries)
        .await
        .expect("websocket deliveries");
    assert_eq!(
        after_ws - before_ws,
        ws_total,
        "N events × M WebSocket clients"
    );
    let ws_sent = world.must("adic_websocket_messages_sent_total").await;
    assert_eq!(ws_sent - before_ws_sent, ws_total);
    let sse_delivered = world.must(sse_deliveries).await;
    assert_eq!(
        sse_delivered - before_sse,
        events,
        "N events × 1 SSE client"
    );
    let sse_sent = world.must("adic_sse_messages_sent_total").await;
    assert_eq!(sse_sent - before_sse_sent, events);
    assert_eq!(world.must("adic_events_emitted_total").await, events);
    assert_eq!(world.must("adic_edge_stream_sequence").await, events);
    assert_eq!(
        world
            .must(r#"adic_edge_delivery_latency_seconds_count{transport="websocket"}"#)
            .await,
        ws_total,
        "one latency observation per live delivery"
    );
    assert_eq!(
        world
            .must("sum(adic_edge_delivery_latency_seconds_count)")
            .await,
        ws_total + events
    );
    assert_eq!(world.must("adic_edge_ring_events").await, events);
    let ws_bytes = world
        .must(r#"adic_edge_delivered_bytes_total{transport="websocket"}"#)
        .await;
    assert!(
        ws_bytes > 0.0 && ws_bytes % WS_CLIENTS as f64 == 0.0,
        "each client got the same bytes: {ws_bytes}"
    );
    assert!(
        world
            .must(r#"adic_edge_delivered_bytes_total{transport="sse"}"#)
            .await
            > 0.0
    );
    assert_eq!(world.must("adic_edge_nats_connected").await, 1.0);
    assert_eq!(world.must("adic_edge_ready").await, 1.0);
    assert_eq!(world.must("adic_edge_draining").await, 0.0);

    // The publisher's side of the same events.
    assert_eq!(world.must("adic_publisher_published_total").await, events);
    assert_eq!(world.must("adic_publisher_acked_total").await, events);
    assert_eq!(world.must("adic_publisher_last_sequence").await, events);
    assert_eq!(
        world.must("adic_publisher_ack_latency_seconds_count").await,
        events
    );
    assert_eq!(world.must("adic_publisher_buffered").await, 0.0);
    assert_eq!(world.must("sum(adic_publisher_dropped_total)").await, 0.0);
    assert_eq!(world.must("adic_publisher_nats_connected").await, 1.0);

    // The stream's last sequence is sampled every few seconds; then the lag is known to be zero.
    adic_tests::wait_until(SAMPLING_WAIT, || async {
        world.value("adic_edge_stream_last_sequence").await == Some(events)
    })
    .await
    .expect("adic_edge_stream_last_sequence reaches the stream's last sequence");
    assert_eq!(world.scraped("adic_edge_consumer_lag").await, Some(0.0));

    // One poll after the first event returns the other N - 1 and counts them.
    let page: Value = reqwest::get(edge.http(&format!("/v1/events?after={first_cursor}")))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let polled = page["events"].as_array().unwrap().len() as f64;
    assert_eq!(polled, events - 1.0, "{page}");
    let polled_deliveries = r#"adic_edge_deliveries_total{transport="polling"}"#;
    assert_eq!(world.scraped(polled_deliveries).await, Some(polled));
    assert_eq!(world.must("adic_edge_poll_requests_total").await, 1.0);
}

#[tokio::test]
async fn every_dashboard_and_alert_expression_evaluates_and_rules_are_healthy() {
    let world = World::start(&[repo_file(ALERTS)]).await;
    // Traffic, so that the labelled series exist and expressions have samples to work on.
    let mut ws = WsClient::connect(&world.edge.ws("")).await.unwrap();
    world.publish(1..=5).await;
    for _ in 1..=5 {
        ws.next_event().await.unwrap();
    }
    world
        .prometheus
        .wait_scraped_after(SystemTime::now())
        .await
        .unwrap();

    let dashboard = dashboard_expressions();
    let rules = alert_rules();
    assert!(
        dashboard.len() >= 30,
        "{} dashboard expressions",
        dashboard.len()
    );
    let mut failures = Vec::new();
    for (place, expr) in dashboard.iter().chain(rules.iter()) {
        let query = substitute_variables(expr);
        if let Err(e) = world.prometheus.query(&query).await {
            failures.push(format!("{place}: {e:#}"));
        }
    }
    assert!(
        failures.is_empty(),
        "expressions that fail:\n{}",
        failures.join("\n")
    );

    // Every metric the dashboard and rules use is one the parts export or the docs describe, and
    // every metric the parts export is described in the docs.
    let docs = std::fs::read_to_string(repo_file(DOCS)).unwrap();
    let exported: BTreeSet<String> = world
        .prometheus
        .api("/api/v1/label/__name__/values", &[])
        .await
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .filter(|name| name.starts_with("adic_"))
        .map(str::to_owned)
        .collect();
    assert!(
        exported.contains("adic_edge_deliveries_total"),
        "{exported:?}"
    );
    assert!(
        exported.contains("adic_publisher_acked_total"),
        "{exported:?}"
    );
    let undocumented: Vec<&String> = exported
        .iter()
        .filter(|name| !documented(&docs, name))
        .collect();
    assert!(
        undocumented.is_empty(),
        "exported but not in {DOCS}: {undocumented:?}"
    );
    let unknown: BTreeSet<String> = dashboard
        .values()
        .chain(rules.values())
        .flat_map(|expr| metric_names(expr))
        .filter(|name| !exported.contains(name) && !documented(&docs, name))
        .collect();
    assert!(
        unknown.is_empty(),
        "used but neither exported nor documented: {unknown:?}"
    );

    // The rules are loaded and, once evaluated, all healthy.
    let loaded = evaluated_rules(&world.prometheus).await;
    let names: BTreeSet<&String> = loaded.keys().collect();
    assert_eq!(names, rules.keys().collect(), "rules Prometheus loaded");
    let unhealthy: Vec<String> = loaded
        .values()
        .filter(|r| r["health"] != "ok")
        .map(|r| format!("{}: {} {}", r["name"], r["health"], r["lastError"]))
        .collect();
    assert!(unhealthy.is_empty(), "{unhealthy:?}");
    // A healthy tier with traffic fires none of the alerts that watch NATS and readiness.
    for quiet in [
        "AdicEdgeDown",
        "AdicEdgeNatsDisconnected",
        "AdicEdgeNotReady",
        "AdicPublisherDown",
        "AdicPublisherNatsDisconnected",
        "AdicPublisherDroppingEvents",
    ] {
        assert_eq!(loaded[quiet]["alerts"], json!([]), "{quiet}");
    }
}

#[test]
fn promtool_accepts_the_rules_and_the_example_config() {
    for args in [
        vec!["check", "rules", ALERTS],
        vec!["check", "config", SCRAPE_CONFIG],
    ] {
        let output = std::process::Command::new("promtool")
            .args(&args)
            .current_dir(repo_file("."))
            .output()
            .expect("promtool (`apt-get install -y prometheus` installs it)");
        assert!(
            output.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn dashboard_is_importable_and_aggregates_over_bounded_labels() {
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_file(DASHBOARD)).unwrap()).unwrap();
    assert_eq!(dashboard["uid"], "adic-stream");
    let variables: BTreeSet<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(variables.contains("datasource"));
    let mut ids = BTreeSet::new();
    for panel in panels(&dashboard) {
        assert!(
            ids.insert(panel["id"].as_u64().unwrap()),
            "duplicate panel id {}",
            panel["id"]
        );
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64().unwrap(), grid["w"].as_u64().unwrap());
        assert!(
            x + w <= 24,
            "panel {} is wider than the grid",
            panel["title"]
        );
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{} has no query", panel["title"]);
        for target in targets {
            assert!(target["refId"].is_string());
            let expr = target["expr"].as_str().unwrap();
            for variable in used_variables(expr) {
                assert!(
                    variable.starts_with("__") || variables.contains(variable.as_str()),
                    "{}: undefined variable ${variable}",
                    panel["title"]
                );
            }
            for label in grouping_labels(expr) {
                assert!(
                    [
                        "instance",
                        "job",
                        "transport",
                        "reason",
                        "source",
                        "le",
                        "version"
                    ]
                    .contains(&label.as_str()),
                    "{}: aggregates by `{label}`, not a bounded label",
                    panel["title"]
                );
            }
        }
    }
}

/// Every loaded rule by name, once each has been evaluated (its health no longer `unknown`).
async fn evaluated_rules(prometheus: &TestPrometheus) -> BTreeMap<String, Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let data = prometheus.rules().await.unwrap();
        let loaded: BTreeMap<String, Value> = data["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap().clone())
            .map(|r| (r["name"].as_str().unwrap().to_owned(), r))
            .collect();
        if !loaded.is_empty() && loaded.values().all(|r| r["health"] != "unknown") {
            return loaded;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "rules not all evaluated: {data}"
        );
        // Paces the checks of a loop bounded by `deadline`; rules are evaluated every second.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
