//! What the relay tests share: a world of a real nats-server and a stand-in node, relay
//! processes in it, and readers of what the stream stored.
#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adic_protocol::{Kind, ValidEvent};
use adic_tests::nats::TestNats;
use adic_tests::node::TestNode;
use adic_tests::relay::RelayProcess;
use adic_tests::wait_until;
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_adic-publisher");
pub const KINDS: &str = include_str!("../../../protocol/tests/kinds.json");
/// Fast enough for tests: a silent node is noticed within a second.
pub const QUICK: [&str; 8] = [
    "--ping-interval",
    "300ms",
    "--reconnect-min",
    "50ms",
    "--reconnect-max",
    "500ms",
    "--connect-timeout",
    "2s",
];
pub const HEARTBEAT: Duration = Duration::from_millis(100);

pub struct World {
    pub nats: TestNats,
    pub node: TestNode,
    pub dir: tempfile::TempDir,
}

impl World {
    pub async fn start() -> World {
        adic_tests::init_logs();
        World {
            nats: TestNats::start().await.unwrap(),
            node: TestNode::start(HEARTBEAT).await.unwrap(),
            dir: tempfile::TempDir::new().unwrap(),
        }
    }

    pub fn relay(&self, from: &str, name: &str, extra: &[&str]) -> RelayProcess {
        let mut args = QUICK.to_vec();
        args.extend_from_slice(extra);
        RelayProcess::start(BIN.as_ref(), &self.nats, from, &args, self.dir.path(), name).unwrap()
    }
}

/// Every message of the stream, in order: (subject, payload, Nats-Msg-Id).
pub async fn stored(nats: &TestNats) -> Vec<(String, String, String)> {
    let js = async_nats::jetstream::new(nats.client().await.unwrap());
    let mut stream = js.get_stream(nats.stream_name()).await.unwrap();
    let state = stream.info().await.unwrap().state.clone();
    let mut out = Vec::new();
    if state.messages == 0 {
        return out;
    }
    for seq in state.first_sequence..=state.last_sequence {
        let m = stream.get_raw_message(seq).await.unwrap();
        let id = m
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        out.push((
            m.subject.to_string(),
            String::from_utf8(m.payload.to_vec()).unwrap(),
            id,
        ));
    }
    out
}

pub async fn stored_count(nats: &TestNats) -> usize {
    let js = async_nats::jetstream::new(nats.client().await.unwrap());
    match js.get_stream(nats.stream_name()).await {
        Ok(mut s) => s.info().await.map_or(0, |i| i.state.messages as usize),
        Err(_) => 0,
    }
}

pub async fn wait_stored(nats: &TestNats, n: usize) {
    wait_until(Duration::from_secs(30), || async {
        stored_count(nats).await >= n
    })
    .await
    .unwrap_or_else(|e| panic!("{e}: fewer than {n} events stored"));
}

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The catalog's sample of every kind, its timestamp moved by `shift`.
pub fn samples(shift: i64) -> Vec<Value> {
    let catalog: Value = serde_json::from_str(KINDS).unwrap();
    catalog["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let mut sample = k["sample"].clone();
            let ts = sample["data"]["timestamp"].as_i64().unwrap();
            sample["data"]["timestamp"] = json!(ts + shift);
            sample
        })
        .collect()
}

/// What `adic-publisher publish` (a direct publish) stores for `event`.
pub fn direct(prefix: &str, event: &Value) -> String {
    let kind = Kind::from_variant(event["type"].as_str().unwrap()).unwrap();
    ValidEvent::parse(prefix, &kind.subject(prefix), event.to_string().as_bytes())
        .unwrap()
        .json
}
