//! The `adic-publisher` binary against a real nats-server.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use adic_tests::nats::TestNats;
use futures::StreamExt;

const BIN: &str = env!("CARGO_BIN_EXE_adic-publisher");

fn target(nats: &TestNats) -> Vec<String> {
    vec![
        "--nats-url".into(),
        nats.url(),
        "--stream".into(),
        nats.stream_name().into(),
        "--subject-prefix".into(),
        nats.prefix().into(),
    ]
}

/// Every message of the stream, in order: (subject, payload).
async fn stored(nats: &TestNats, count: usize) -> Vec<(String, String)> {
    let js = async_nats::jetstream::new(nats.client().await.unwrap());
    let stream = js.get_stream(nats.stream_name()).await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config::default())
        .await
        .unwrap();
    let mut messages = consumer
        .fetch()
        .max_messages(count + 1)
        .messages()
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(Ok(m)) = messages.next().await {
        out.push((
            m.subject.to_string(),
            String::from_utf8(m.payload.to_vec()).unwrap(),
        ));
    }
    out
}

#[tokio::test]
async fn publish_reads_json_lines_and_reports_bad_ones() {
    let nats = TestNats::start().await.unwrap();
    let mut child = Command::new(BIN)
        .arg("publish")
        .args(target(&nats))
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = concat!(
        "{\"type\":\"MessageAdded\",\"data\":{\"message_id\":\"a1\",\"depth\":1,\"timestamp\":1}}\n",
        "this is not json\n",
        "\n",
        "{\"type\":\"NoSuchKind\",\"data\":{}}\n",
        "{\"type\": \"TipsUpdated\", \"data\": {\"tips\": [\"a1\"], \"count\": 1, \"timestamp\": 2}}\n",
    );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2: not JSON"), "{stderr}");
    assert!(
        stderr.contains("line 4: unknown event type \"NoSuchKind\""),
        "{stderr}"
    );
    assert!(stderr.contains("published 2 events (2 acked"), "{stderr}");

    let messages = stored(&nats, 2).await;
    let prefix = nats.prefix();
    assert_eq!(
        messages,
        vec![
            (
                format!("{prefix}.high.message.new"),
                r#"{"type":"MessageAdded","data":{"message_id":"a1","depth":1,"timestamp":1}}"#
                    .to_owned()
            ),
            (
                format!("{prefix}.high.tips.update"),
                r#"{"type":"TipsUpdated","data":{"tips":["a1"],"count":1,"timestamp":2}}"#
                    .to_owned()
            ),
        ]
    );
}

#[tokio::test]
async fn simulate_publishes_contract_events_on_their_subjects() {
    let nats = TestNats::start().await.unwrap();
    let status = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(BIN)
            .arg("simulate")
            .args(target(&nats))
            .args(["--speed", "100", "--count", "200", "--seed", "7"])
            .stderr(Stdio::null())
            .status(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(status.success());
    let messages = stored(&nats, 200).await;
    assert_eq!(messages.len(), 200);
    for (subject, payload) in messages {
        let event: adic_protocol::Event =
            serde_json::from_str(&payload).unwrap_or_else(|e| panic!("{payload}: {e}"));
        assert_eq!(subject, event.kind().subject(nats.prefix()));
    }
}

#[tokio::test]
async fn sigterm_flushes_what_was_published_and_exits_zero() {
    let nats = TestNats::start().await.unwrap();
    let child = tokio::process::Command::new(BIN)
        .arg("simulate")
        .args(target(&nats))
        .args(["--speed", "200", "--seed", "3"])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Wait until events are flowing into the stream.
    let js = async_nats::jetstream::new(nats.client().await.unwrap());
    let flowing = adic_tests::wait_until(Duration::from_secs(30), || {
        let js = js.clone();
        let name = nats.stream_name().to_owned();
        async move {
            match js.get_stream(&name).await {
                Ok(mut s) => s.info().await.is_ok_and(|i| i.state.messages >= 50),
                Err(_) => false,
            }
        }
    })
    .await;
    assert!(flowing.is_ok(), "the simulator published nothing");

    let pid = child.id().unwrap();
    assert!(pid > 1);
    let status = std::process::Command::new("kill")
        .args(["-TERM", "--", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("adic-publisher exits after SIGTERM")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    // "published N events (N acked, …": everything published was acked and is in the stream.
    let line = stderr
        .lines()
        .find(|l| l.starts_with("published "))
        .unwrap_or_else(|| panic!("no final count: {stderr}"));
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let (published, acked) = (numbers[0], numbers[1]);
    assert_eq!(published, acked, "{line}");
    let mut stream = js.get_stream(nats.stream_name()).await.unwrap();
    assert_eq!(stream.info().await.unwrap().state.messages, acked, "{line}");
}
