//! The docker-compose stack, for real: the repository's Dockerfile and docker-compose.yml on a
//! Docker engine, 3 NATS containers, the publisher, edges behind the load balancer, Prometheus,
//! and stand-ins for Grafana and Jaeger (tests/docker/README.md). Clients talk to the stack only
//! through ports published on 127.0.0.1.
//!
//! What it proves: the image runs as built (non-root, its healthcheck, SIGTERM); the stack
//! forms and becomes healthy; a WebSocket and an SSE client through the load balancer lose
//! nothing and receive nothing twice, checked against a plain NATS reader of the stream, through
//! a SIGKILLed edge, a SIGKILLed NATS node and a stopped (draining) edge; a scaled-out edge is
//! taken into rotation and scraped; every edge target is up; traces of the edges and the
//! publisher reach the trace receiver; the provisioned dashboard's queries run on the stack's
//! Prometheus; `down -v` leaves nothing behind. What it does not: the Rust build inside Docker
//! (the image is made at its `prebuilt` stage from this run's binaries), and the official
//! NATS, haproxy, Prometheus, Grafana and Jaeger images (Debian's builds stand in for them).
//!
//! Skipped when no Docker engine answers, unless `ADIC_TEST_DOCKER=require`.
//! `ADIC_STACK_IMAGE=adic-stream:latest` runs it on an image built with `docker build .`
//! instead of the `prebuilt` stage.

use std::path::Path;
use std::time::Duration;

use adic_tests::chaos::{check_sequences, every_event, ResumingClient, Via};
use adic_tests::docker::{self, ComposeProject};
use adic_tests::nats::free_port;
use adic_tests::promql::{dashboard_expressions, repo_file, substitute_variables};
use adic_tests::wait_until;
use anyhow::Context;
use serde_json::Value;

const EDGE: &str = env!("CARGO_BIN_EXE_adic-edge");

/// The stand-in images, by the compose variable that names each.
const STANDINS: [(&str, &str); 5] = [
    ("NATS_IMAGE", "nats"),
    ("HAPROXY_IMAGE", "haproxy"),
    ("PROMETHEUS_IMAGE", "prometheus"),
    ("GRAFANA_IMAGE", "standin"),
    ("JAEGER_IMAGE", "standin"),
];

struct Ports {
    lb: u16,
    prometheus: u16,
    grafana: u16,
    jaeger: u16,
    nats: u16,
}

async fn get_json(url: &str) -> anyhow::Result<Value> {
    let response = tokio::time::timeout(Duration::from_secs(10), reqwest::get(url)).await??;
    anyhow::ensure!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    Ok(response.json().await?)
}

async fn prometheus(ports: &Ports, promql: &str) -> anyhow::Result<Vec<Value>> {
    let url = format!(
        "http://127.0.0.1:{}/api/v1/query?query={}",
        ports.prometheus,
        urlencode(promql)
    );
    let answer = get_json(&url).await?;
    anyhow::ensure!(answer["status"] == "success", "{promql}: {answer}");
    Ok(answer["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Every `adic-edge` target Prometheus scrapes, with its health.
async fn edge_targets(ports: &Ports) -> anyhow::Result<Vec<(String, String)>> {
    let targets = get_json(&format!(
        "http://127.0.0.1:{}/api/v1/targets?state=active",
        ports.prometheus
    ))
    .await?;
    Ok(targets["data"]["activeTargets"]
        .as_array()
        .context("targets")?
        .iter()
        .filter(|t| t["labels"]["job"] == "adic-edge")
        .map(|t| {
            (
                t["labels"]["instance"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                t["health"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

/// Waits until both clients have `more` events beyond what they had.
async fn flowing(clients: &[&ResumingClient], more: usize, what: &str) -> anyhow::Result<()> {
    let start: Vec<usize> = clients.iter().map(|c| c.events()).collect();
    wait_until(Duration::from_secs(90), || async {
        clients
            .iter()
            .zip(&start)
            .all(|(c, s)| c.events() >= s + more)
    })
    .await
    .with_context(|| format!("clients stopped receiving events {what}"))
}

fn build_images(tag: &str) -> anyhow::Result<()> {
    docker::ensure_base_image()?;
    if let Ok(image) = std::env::var("ADIC_STACK_IMAGE") {
        // An image built otherwise (e.g. the full `docker build .`), under the test's tag.
        docker::docker(&["tag", &image, tag])?;
    } else {
        let bins = Path::new(EDGE).parent().context("binary folder")?;
        docker::build_prebuilt_image(tag, bins)?;
    }
    let dir = repo_file("tests/docker");
    for name in ["nats", "haproxy", "prometheus", "standin"] {
        docker::build(
            &format!("adic-test/{name}:local"),
            &dir.join(format!("{name}.Dockerfile")),
            &dir,
            None,
        )?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_stack_serves_scales_and_survives_failures_without_loss() {
    if !docker::engine().unwrap() {
        eprintln!(
            "skipped: no Docker engine answers (set ADIC_TEST_DOCKER=require to fail instead)"
        );
        return;
    }
    adic_tests::init_logs();
    let tag = format!("adic-stream:stack-test-{}", std::process::id());
    tokio::task::block_in_place(|| build_images(&tag)).unwrap();

    let ports = Ports {
        lb: free_port(),
        prometheus: free_port(),
        grafana: free_port(),
        jaeger: free_port(),
        nats: free_port(),
    };
    let mut env: Vec<(String, String)> = STANDINS
        .iter()
        .map(|(var, name)| ((*var).to_owned(), format!("adic-test/{name}:local")))
        .collect();
    env.extend(
        [
            ("ADIC_IMAGE", tag.clone()),
            ("ADIC_LB_PORT", ports.lb.to_string()),
            ("PROMETHEUS_PORT", ports.prometheus.to_string()),
            ("GRAFANA_PORT", ports.grafana.to_string()),
            ("JAEGER_UI_PORT", ports.jaeger.to_string()),
            ("NATS_HOST_PORT", ports.nats.to_string()),
            // A short drain, so the stopped edge's clients move within the test's time.
            ("ADIC_EDGE_DRAIN_GRACE", "4s".to_owned()),
            ("EDGE_STOP_GRACE", "15s".to_owned()),
            ("ADIC_PUBLISHER_SPEED", "3".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let project = ComposeProject::new(
        &format!("adicstack{}", std::process::id()),
        &[repo_file("tests/docker/compose.standins.yml")],
        env,
    )
    .unwrap();
    let compose = |args: &'static [&'static str]| {
        let project = &project;
        tokio::task::block_in_place(move || project.run(args, Duration::from_secs(300)))
    };
    compose(&["up", "-d", "--wait", "--wait-timeout", "240"]).unwrap();

    let base = format!("127.0.0.1:{}", ports.lb);
    let ws = ResumingClient::spawn_at(base.clone(), "ws", Via::WebSocket);
    let sse = ResumingClient::spawn_at(base.clone(), "sse", Via::Sse);
    let clients = [&ws, &sse];
    flowing(&clients, 20, "through the load balancer")
        .await
        .unwrap();

    // Every edge target is up, and the traces of both binaries have arrived.
    wait_until(Duration::from_secs(60), || async {
        edge_targets(&ports)
            .await
            .is_ok_and(|t| t.len() == 2 && t.iter().all(|(_, h)| h == "up"))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}", tokio_block(edge_targets(&ports))));
    wait_until(Duration::from_secs(60), || async {
        get_json(&format!("http://127.0.0.1:{}/api/services", ports.jaeger))
            .await
            .is_ok_and(|s| {
                let names = s["data"].to_string();
                names.contains("\"adic-edge\"") && names.contains("\"adic-publisher\"")
            })
    })
    .await
    .expect("the trace receiver has spans of adic-edge and adic-publisher");

    // SIGKILL an edge mid-stream.
    let edges = project.containers("edge").unwrap();
    assert_eq!(edges.len(), 2, "{edges:?}");
    docker::docker(&["kill", &edges[0]]).unwrap();
    flowing(&clients, 20, "after an edge was killed")
        .await
        .unwrap();

    // SIGKILL a NATS node (not the one whose port the truth is read from).
    let nats2 = project.containers("nats2").unwrap();
    docker::docker(&["kill", &nats2[0]]).unwrap();
    flowing(&clients, 20, "after a NATS node was killed")
        .await
        .unwrap();
    docker::docker(&["start", &nats2[0]]).unwrap();

    // Scale out: the new edges are scraped and taken into rotation.
    compose(&[
        "up",
        "-d",
        "--no-recreate",
        "--scale",
        "edge=3",
        "--wait",
        "--wait-timeout",
        "120",
    ])
    .unwrap();
    wait_until(Duration::from_secs(90), || async {
        edge_targets(&ports)
            .await
            .is_ok_and(|t| t.len() == 3 && t.iter().all(|(_, h)| h == "up"))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}", tokio_block(edge_targets(&ports))));
    // Polls through the load balancer reach every edge: each edge counts the events it
    // delivered by polling.
    let cursor = ws.log.lock().unwrap().cursor.clone().unwrap();
    wait_until(Duration::from_secs(60), || {
        let (base, cursor, ports) = (base.clone(), cursor.clone(), &ports);
        async move {
            for _ in 0..6 {
                let _ = get_json(&format!("http://{base}/v1/events?after={cursor}&limit=1")).await;
            }
            prometheus(
                ports,
                r#"adic_edge_deliveries_total{transport="polling"} > 0"#,
            )
            .await
            .is_ok_and(|r| r.len() == 3)
        }
    })
    .await
    .expect("polls through the load balancer reached all three edges");

    // Stop (SIGTERM, a drain) the edge the WebSocket client is on: it is closed with 4000 and
    // resumes on another edge.
    let holder = wait_for_holder(&project, &ports).await.unwrap();
    let closes_before = ws.log.lock().unwrap().close_codes.len();
    docker::docker(&["stop", &holder]).unwrap();
    wait_until(Duration::from_secs(60), || async {
        ws.log.lock().unwrap().close_codes[closes_before..].contains(&4000)
    })
    .await
    .unwrap_or_else(|_| panic!("no 4000 close: {:?}", ws.log.lock().unwrap().close_codes));
    let stopped = docker::docker(&["inspect", "-f", "{{.State.ExitCode}}", &holder]).unwrap();
    assert_eq!(stopped, "0", "a drained edge exits 0");
    flowing(&clients, 20, "after an edge was drained")
        .await
        .unwrap();

    // The publisher stops on SIGTERM with everything flushed; then every client catches up.
    let publisher = project.containers("publisher").unwrap();
    docker::docker(&["stop", &publisher[0]]).unwrap();
    let code = docker::docker(&["inspect", "-f", "{{.State.ExitCode}}", &publisher[0]]).unwrap();
    assert_eq!(code, "0", "the publisher exits 0 on SIGTERM");
    let nats = async_nats::connect(format!("nats://127.0.0.1:{}", ports.nats))
        .await
        .unwrap();
    let js = async_nats::jetstream::new(nats.clone());
    let last = js
        .get_stream("ADIC_EVENTS")
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .last_sequence;
    wait_until(Duration::from_secs(60), || async {
        clients.iter().all(|c| c.last_event_seq() >= last)
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "clients did not reach {last}: ws {} sse {}",
            ws.last_event_seq(),
            sse.last_event_seq()
        )
    });
    let truth = every_event(nats, "ADIC_EVENTS").await.unwrap();
    for client in [ws, sse] {
        let name = client.name.clone();
        let log = client.stop().await;
        let checked = check_sequences(&name, &truth, &log.events).unwrap();
        assert!(log.reconnects >= 1, "{name} never had to reconnect");
        eprintln!(
            "{name}: {checked} log events exactly once, {} reconnects, closes {:?}",
            log.reconnects, log.close_codes
        );
    }

    // Grafana's provisioning is mounted as the stand-in expects, and the dashboard's queries
    // run on this stack's Prometheus.
    get_json(&format!("http://127.0.0.1:{}/api/health", ports.grafana))
        .await
        .unwrap();
    for (panel, expr) in dashboard_expressions() {
        let promql = substitute_variables(&expr);
        prometheus(&ports, &promql)
            .await
            .unwrap_or_else(|e| panic!("panel {panel:?}: {e}"));
    }

    tokio::task::block_in_place(|| project.down()).unwrap();
    let left = tokio::task::block_in_place(|| project.leftovers()).unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");
    let _ = tokio::task::block_in_place(|| docker::docker(&["image", "rm", &tag]));
}

/// The edge container that holds the WebSocket client, by its open-connections gauge.
async fn wait_for_holder(project: &ComposeProject, ports: &Ports) -> anyhow::Result<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if let Some(id) = holder(project, ports).await {
            return Ok(id);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::bail!("no edge reports the WebSocket client")
}

async fn holder(project: &ComposeProject, ports: &Ports) -> Option<String> {
    let result = prometheus(ports, "adic_websocket_connections > 0")
        .await
        .ok()?;
    let instance = result.first()?["metric"]["instance"].as_str()?.to_owned();
    let ip = instance.split(':').next()?.to_owned();
    project
        .containers("edge")
        .ok()?
        .into_iter()
        .find(|id| project.address(id).is_ok_and(|a| a == ip))
}

fn tokio_block<F: std::future::Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

#[test]
fn the_compose_file_is_valid_for_compose_v2_and_1_29() {
    if !docker::engine().unwrap() {
        eprintln!("skipped: no Docker engine answers");
        return;
    }
    let file = repo_file("docker-compose.yml");
    let file = file.to_str().unwrap();
    let v2 = docker::compose_command().unwrap();
    let mut args: Vec<&str> = v2[1..].iter().map(String::as_str).collect();
    args.extend(["-f", file, "config", "-q"]);
    docker::run(&v2[0], &args, &[], Duration::from_secs(60)).unwrap();
    // Debian's docker-compose 1.29, where it is installed.
    let old = docker::run(
        "docker-compose",
        &["version", "--short"],
        &[],
        Duration::from_secs(30),
    );
    match old {
        Ok(out) if String::from_utf8_lossy(&out.stdout).starts_with("1.") => {
            docker::run(
                "docker-compose",
                &["-f", file, "config", "-q"],
                &[],
                Duration::from_secs(60),
            )
            .unwrap();
        }
        _ => eprintln!("docker-compose 1.x not installed: only Compose v2 checked"),
    }
}
