//! The `adic-edge` binary as a user runs it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::StreamExt;

const BIN: &str = env!("CARGO_BIN_EXE_adic-edge");

#[test]
fn serve_without_nats_refuses_and_names_both_ways_out() {
    let out = Command::new(BIN)
        .arg("serve")
        .env_remove("NATS_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--nats-url"), "{stderr}");
    assert!(stderr.contains("adic-edge demo"), "{stderr}");
}

#[test]
fn bad_settings_are_refused_at_startup() {
    let out = Command::new(BIN)
        .args(["demo", "--speed", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--speed must be a positive number"));
}

/// Kills the child when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn demo_prints_its_url_and_streams_live_events() {
    let (_child, url) = demo(&["--speed", "50"]);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let url = format!("{url}/");

    let page = reqwest::get(&url).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("<html"));

    let response = reqwest::get(format!("{url}v1/sse/events")).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        while text.matches("\nid: ").count() < 5 {
            text.push_str(std::str::from_utf8(&body.next().await.unwrap().unwrap()).unwrap());
        }
    })
    .await;
    assert!(read.is_ok(), "no live events from the demo: {text}");
    assert!(text.starts_with("event: "), "{text}");
}

/// Starts `adic-edge demo --listen 127.0.0.1:0 <args>` and returns it with its base URL.
fn demo(args: &[&str]) -> (Child, String) {
    demo_with(args, &[], Stdio::null())
}

/// [`demo`] with environment variables and somewhere for its logs.
fn demo_with(args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> (Child, String) {
    let mut child = Child(
        Command::new(BIN)
            .args(["demo", "--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Keeps reading stdout to the end, as a terminal would.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.trim().strip_prefix("dashboard") {
                let _ = tx.send(url.trim().trim_end_matches('/').to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("demo prints the dashboard URL");
    (child, url)
}

/// Sends SIGTERM to a child of this test.
fn terminate(child: &std::process::Child) {
    let pid = child.id();
    // A positive pid of our own child: never a process group or -1.
    assert!(pid > 1);
    let status = Command::new("kill")
        .args(["-TERM", "--", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits up to `within` for the child to exit by itself.
async fn exited_within(
    child: &mut std::process::Child,
    within: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test]
async fn sigterm_ends_idle_half_sent_and_held_connections_within_the_grace() {
    use tokio::io::AsyncWriteExt;

    // The head deadline is far beyond the test: only the drain can end these connections.
    let (mut child, url) = demo(&[
        "--drain-grace",
        "1s",
        "--head-timeout",
        "300s",
        // A node so slow that a long poll stays parked.
        "--speed",
        "0.0001",
    ]);
    let addr = url.trim_start_matches("http://").to_owned();

    // Connected and silent; half an SSE request line; half a head for the HTTP server; a
    // complete long poll, held for 30 s.
    let silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut half_sse = tokio::net::TcpStream::connect(&addr).await.unwrap();
    half_sse.write_all(b"GET /v1/sse/ev").await.unwrap();
    let mut half_head = tokio::net::TcpStream::connect(&addr).await.unwrap();
    half_head
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let first: serde_json::Value = reqwest::get(format!("{url}/v1/events?limit=1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next = first["next"].as_str().unwrap().to_owned();
    let held = tokio::spawn(reqwest::get(format!(
        "{url}/v1/events?after={next}&wait=30"
    )));
    // Wait until the edge reports the poll held.
    let metrics = format!("{url}/metrics");
    adic_tests::wait_until(Duration::from_secs(10), || {
        let metrics = metrics.clone();
        async move {
            let Ok(r) = reqwest::get(&metrics).await else {
                return false;
            };
            r.text()
                .await
                .is_ok_and(|t| t.lines().any(|l| l == "adic_edge_polls_waiting 1"))
        }
    })
    .await
    .expect("the long poll is held at the edge");
    assert!(
        !held.is_finished(),
        "the long poll was answered before the drain"
    );

    let started = std::time::Instant::now();
    terminate(&child.0);
    let status = exited_within(&mut child.0, Duration::from_secs(8))
        .await
        .unwrap_or_else(|| {
            panic!(
                "adic-edge still running {:?} after SIGTERM",
                started.elapsed()
            )
        });
    assert!(status.success(), "{status:?}");
    // The held poll was answered with a page, not cut.
    let page = tokio::time::timeout(Duration::from_secs(5), held)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(page.status(), 200);
    drop((silent, half_sse, half_head));
}

#[tokio::test]
async fn a_connection_that_sends_no_whole_head_is_closed_at_the_head_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (_child, url) = demo(&["--head-timeout", "1s"]);
    let addr = url.trim_start_matches("http://").to_owned();
    for partial in [&b""[..], b"GET /v1/sse/ev", b"GET /healthz HTTP/1.1\r\n"] {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(partial).await.unwrap();
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
        assert!(
            closed.is_ok(),
            "a connection that sent {:?} was still open after 10 s",
            String::from_utf8_lossy(partial)
        );
    }
    // The edge still serves everyone else.
    let health = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn settings_from_the_environment_take_the_spellings_deployments_write() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let (_child, url) = demo_with(
        &[],
        &[
            ("ADIC_EDGE_NO_SSE", "yes"),
            ("ADIC_EDGE_NO_WEBSOCKET", "0"),
            // Left empty by a template: counts as unset.
            ("ADIC_EDGE_MAX_CONNECTIONS", ""),
            ("ADIC_EDGE_DRAIN_GRACE", ""),
            ("ADIC_EDGE_NO_SUCH_SETTING", "1"),
            ("RUST_LOG", "warn"),
        ],
        Stdio::from(log.reopen().unwrap()),
    );
    let health: serde_json::Value = reqwest::get(format!("{url}/v1/health/streaming"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["event_streaming"]["sse_enabled"], false, "{health}");
    assert_eq!(
        health["event_streaming"]["websocket_enabled"], true,
        "{health}"
    );
    let sse = reqwest::get(format!("{url}/v1/sse/events")).await.unwrap();
    assert!(sse.status().is_client_error(), "{}", sse.status());
    let logs = std::fs::read_to_string(log.path()).unwrap();
    assert!(logs.contains("ADIC_EDGE_NO_SUCH_SETTING"), "{logs}");
}

#[tokio::test]
async fn serve_with_unreachable_nats_stays_unready_and_says_what_to_check() {
    let log = tempfile::NamedTempFile::new().unwrap();
    let port = adic_tests::nats::free_port();
    let closed = adic_tests::nats::free_port();
    let _child = Child(
        Command::new(BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--nats-url", &format!("nats://127.0.0.1:{closed}")])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log.reopen().unwrap()))
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}/readyz");
    let mut answer = None;
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(&url).await {
            answer = Some((r.status(), r.text().await.unwrap_or_default()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = answer.expect("the edge answers /readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("NATS"), "{body}");
    let warned = adic_tests::wait_until(Duration::from_secs(10), || async {
        std::fs::read_to_string(log.path()).is_ok_and(|l| l.contains("NATS_URL"))
    })
    .await;
    assert!(
        warned.is_ok(),
        "{}",
        std::fs::read_to_string(log.path()).unwrap()
    );
}

#[tokio::test]
async fn an_explicit_connection_cap_still_raises_the_open_files_limit() {
    let log = tempfile::NamedTempFile::new().unwrap();
    // A soft limit far below the hard one, and a cap between them.
    let mut child = Child(
        Command::new("bash")
            .args([
                "-c",
                &format!(
                    "ulimit -Sn 256 && exec {BIN} demo --listen 127.0.0.1:0 --max-connections 1000"
                ),
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log.reopen().unwrap()))
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let banner = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("dashboard"))
    });
    assert!(tokio::time::timeout(Duration::from_secs(20), banner)
        .await
        .unwrap()
        .unwrap());
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.0.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers[0], numbers[1], "soft limit not raised: {line}");
    let hard: u64 = numbers[1].parse().unwrap_or(u64::MAX);
    let logs = std::fs::read_to_string(log.path()).unwrap();
    if hard >= 1128 {
        assert!(!logs.contains("open-files limit holds only"), "{logs}");
    }
}
