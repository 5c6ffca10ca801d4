//! The Helm chart's rendered edge container, run for real: image, args, env, port and the
//! security context taken from the rendered Deployment and run on the Docker engine against a
//! real NATS. Skipped when helm or a Docker engine is missing, unless `ADIC_TEST_HELM=require`
//! and `ADIC_TEST_DOCKER=require` (which `tests/run.sh` sets).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use adic_protocol::Kind;
use adic_tests::clients::SseClient;
use adic_tests::docker;
use adic_tests::helm::{self, env, find, template};
use adic_tests::nats::{free_port, TestNats};
use adic_tests::stream::TestStream;
use adic_tests::wait_until;
use serde_json::Value;

const EDGE: &str = env!("CARGO_BIN_EXE_adic-edge");

fn edge_container(docs: &[Value]) -> &Value {
    &find(docs, "Deployment", "-edge").expect("the edge Deployment")["spec"]["template"]["spec"]
        ["containers"][0]
}

/// The rendered edge container, run as the chart describes it: image, args, env, port, the
/// security context (non-root user, read-only root filesystem, no capabilities), against a real
/// NATS; its probes answer as the chart expects, a client receives an event, the chart's
/// `helm test` command passes, the preStop hook runs, and SIGTERM ends it within the grace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_edge_container_runs() {
    if !helm::tool("helm").unwrap() || !docker::engine().unwrap() {
        eprintln!("skipped: helm or a Docker engine is missing");
        return;
    }
    let nats = TestNats::start().await.unwrap();
    let stream = TestStream::new(&nats).await;
    let tag = format!("adic-stream:chart-test-{}", std::process::id());
    let bins = Path::new(EDGE).parent().unwrap().to_owned();
    {
        let tag = tag.clone();
        tokio::task::block_in_place(move || {
            docker::ensure_base_image()?;
            docker::build_prebuilt_image(&tag, &bins)
        })
        .unwrap();
    }
    let port = free_port();
    let (repository, image_tag) = tag.split_once(':').unwrap();
    let sets = [
        format!("image.repository={repository}"),
        format!("image.tag={image_tag}"),
        format!("nats.url={}", nats.url()),
        format!("stream.name={}", nats.stream_name()),
        format!("stream.subjectPrefix={}", nats.prefix()),
        "stream.replicas=1".to_owned(),
        format!("edge.port={port}"),
        "edge.drainGraceSeconds=3".to_owned(),
    ];
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let docs = template(None, &sets).unwrap();
    let deployment = find(&docs, "Deployment", "-edge").unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    let edge = edge_container(&docs);
    let sc = &edge["securityContext"];

    // docker run with exactly the container's spec; the host network stands in for the pod's.
    let mut args: Vec<String> = vec![
        "run".into(),
        "-d".into(),
        "--network".into(),
        "host".into(),
        "--read-only".into(),
        "--cap-drop".into(),
        "ALL".into(),
        "--security-opt".into(),
        "no-new-privileges".into(),
        "--user".into(),
        format!("{}:{}", sc["runAsUser"], sc["runAsGroup"]),
        "--stop-timeout".into(),
        pod["terminationGracePeriodSeconds"].to_string(),
    ];
    for (var, value) in env(edge) {
        args.extend(["-e".into(), format!("{var}={value}")]);
    }
    args.push(edge["image"].as_str().unwrap().to_owned());
    args.extend(
        edge["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned()),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = docker::docker(&args).unwrap();
    let container = Container(id.clone());

    // The probes, as the kubelet would ask them.
    let base = format!("http://127.0.0.1:{port}");
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        let url = format!("{base}{}", edge[probe]["httpGet"]["path"].as_str().unwrap());
        wait_until(Duration::from_secs(30), || {
            let url = url.clone();
            async move { reqwest::get(&url).await.is_ok_and(|r| r.status() == 200) }
        })
        .await
        .unwrap_or_else(|_| panic!("{probe} {url} never answered 200: {}", logs(&id)));
    }

    // A client receives an event through it.
    let mut sse = SseClient::connect(&format!("{base}/v1/sse/events"))
        .await
        .unwrap();
    stream.tagged(Kind::MessageAdded, "through-the-chart").await;
    let frame = tokio::time::timeout(Duration::from_secs(20), sse.next_event())
        .await
        .unwrap()
        .unwrap();
    assert!(
        frame.data.unwrap().contains("through-the-chart"),
        "{}",
        logs(&id)
    );

    // The chart's `helm test` command, pointed at this edge: it asks for the current snapshot
    // values, as a node publishes them all the time.
    stream.tagged(Kind::TipsUpdated, "a-snapshot").await;
    let test_pod = find(&docs, "Pod", "-test").unwrap();
    let delivers = test_pod["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "delivers")
        .unwrap();
    let mut command: Vec<String> = delivers["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    *command.last_mut().unwrap() = base.clone();
    let mut run = vec![
        "run",
        "--rm",
        "--network",
        "host",
        "--read-only",
        "--user",
        "10001:10001",
        "--entrypoint",
    ];
    run.push(&command[0]);
    run.push(edge["image"].as_str().unwrap());
    run.extend(command[1..].iter().map(String::as_str));
    tokio::task::block_in_place(|| docker::docker(&run)).unwrap();

    // The preStop hook exists in the image and returns.
    let hook: Vec<&str> = edge["lifecycle"]["preStop"]["exec"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let mut exec = vec!["exec", id.as_str()];
    exec.extend(hook);
    tokio::task::block_in_place(|| docker::docker(&exec)).unwrap();

    // SIGTERM: the drain ends well within the grace, exit 0.
    let started = std::time::Instant::now();
    tokio::task::block_in_place(|| docker::docker(&["stop", &id])).unwrap();
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(grace),
        "{}",
        logs(&id)
    );
    let code = docker::docker(&["inspect", "-f", "{{.State.ExitCode}}", &id]).unwrap();
    assert_eq!(code, "0", "{}", logs(&id));
    drop(container);
    let _ = docker::docker(&["image", "rm", &tag]);
}

fn logs(id: &str) -> String {
    Command::new("docker")
        .args(["logs", "--tail", "30", id])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
        })
        .unwrap_or_default()
}

/// Removes the container however the test ends.
struct Container(String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker::docker(&["rm", "-f", &self.0]);
    }
}
