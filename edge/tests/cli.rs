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
    let mut child = Child(
        Command::new(BIN)
            .args(["demo", "--listen", "127.0.0.1:0", "--speed", "50"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // Keeps reading stdout to the end, as a terminal would.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.trim().strip_prefix("dashboard") {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("demo prints the dashboard URL");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

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
