//! Publishing test events straight into a test's stream with a plain JetStream client, so tests
//! know each event's stream sequence and can tell events apart.

use std::ops::RangeInclusive;

use adic_protocol::Kind;
use serde_json::{json, Value};

use crate::nats::TestNats;

/// A test's stream, written to by a plain NATS client.
pub struct TestStream {
    js: async_nats::jetstream::Context,
    prefix: String,
}

impl TestStream {
    pub async fn new(nats: &TestNats) -> TestStream {
        let js = async_nats::jetstream::new(nats.client().await.expect("a NATS client"));
        TestStream {
            js,
            prefix: nats.prefix().to_owned(),
        }
    }

    /// Publishes `payload` on `subject` and returns its stream sequence once stored.
    pub async fn raw(&self, subject: String, payload: String) -> u64 {
        let ack = self
            .js
            .publish(subject, payload.into())
            .await
            .expect("publish sent");
        ack.await.expect("publish acked").sequence
    }

    /// Publishes an event of `kind` with `data`; returns its stream sequence.
    pub async fn kind(&self, kind: Kind, data: Value) -> u64 {
        let json = json!({"type": kind.variant(), "data": data});
        self.raw(kind.subject(&self.prefix), json.to_string()).await
    }

    /// Publishes an event of `kind` whose data carries `tag`; returns its JSON.
    pub async fn tagged(&self, kind: Kind, tag: &str) -> String {
        let json =
            json!({"type": kind.variant(), "data": {"tag": tag, "timestamp": 1}}).to_string();
        self.raw(kind.subject(&self.prefix), json.clone()).await;
        json
    }

    /// Publishes `message.new` events numbered by depth; returns their stream sequences.
    pub async fn numbered(&self, range: RangeInclusive<u64>) -> Vec<u64> {
        let mut seqs = Vec::new();
        for n in range {
            let data = json!({"message_id": format!("m{n}"), "depth": n, "timestamp": 1});
            seqs.push(self.kind(Kind::MessageAdded, data).await);
        }
        seqs
    }
}

/// The depth of a numbered `message.new` event.
pub fn depth(event: &Value) -> u64 {
    event["data"]["depth"].as_u64().expect("a numbered event")
}

/// The tag of a tagged event.
pub fn tag(event: &Value) -> &str {
    event["data"]["tag"].as_str().unwrap_or_default()
}
