//! The bridge: the events an edge reads, with the bytes an edge sends, handed to the peers.
//!
//! It reads the JetStream stream as an edge does (an ordered push consumer from the newest
//! event; cursor = the stream's epoch + the stream sequence), validates each event with the
//! edge's own code ([`ValidEvent::parse`]) and builds the edge's WebSocket payload
//! (`{"type":"Event","id":"<cursor>","event":…}`) and SSE frame
//! (`event: <name>\nid: <cursor>\ndata: <json>\n\n`). Then:
//!
//! - **Pushpin**: each event becomes one item on the channel with both formats, `http-stream`
//!   (the SSE frame) and `ws-message` (the WebSocket payload), POSTed to Pushpin's HTTP control
//!   API. One request at a time, in order; events that queue up while a request is in flight go
//!   together in the next one (as a publisher under load would batch them).
//! - **nats-server's WebSocket listener**: the WebSocket payload is published on a core subject
//!   of that server, where the clients subscribed. With `--nats-ws-stream`, that
//!   server also keeps them in a JetStream stream (in memory), from which its clients resume.
//!
//! With `--per-kind`, each event goes to its kind's channel or subject instead
//! (`<channel>.<kind name>`, `<subject>.<kind name>`), for clients that take one kind: what a
//! user of either peer would do to filter, since neither filters inside a channel or subject.
//!
//! The bridge runs beside the publisher (off the core of the server under test): its work is the
//! part of the edge's work that happens before fan-out, so the peers get it for free.

use std::time::Duration;

use adic_protocol::{sse, ws, Cursor, Epoch, ValidEvent};
use adic_publisher::{NatsArgs, StreamSettings};
use anyhow::Context as _;
use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::{NATS_WS_SUBJECT, PUSHPIN_CHANNEL};

/// Events waiting for Pushpin. When full, the bridge stops reading the stream until Pushpin
/// catches up (the ordered consumer resumes where it stopped): nothing is dropped here.
const PUSHPIN_QUEUE: usize = 65_536;
/// Most items and bytes in one publish request (Pushpin's default body limit is 1 MB).
const MAX_ITEMS: usize = 256;
const MAX_BODY: usize = 256 * 1024;

/// Where the events come from and which peers get them.
#[derive(Clone, Debug, clap::Args)]
pub struct BridgeArgs {
    /// The NATS server with the JetStream stream (the edge's).
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub stream: StreamSettings,
    /// Pushpin's HTTP publish endpoint, e.g. http://127.0.0.1:5561/publish/.
    #[arg(long, env = "ADIC_PUSHPIN_PUBLISH")]
    pub pushpin_publish: Option<String>,
    #[arg(long, env = "ADIC_PUSHPIN_CHANNEL", default_value = PUSHPIN_CHANNEL)]
    pub pushpin_channel: String,
    /// The nats-server whose WebSocket listener clients use, e.g. nats://127.0.0.1:9412.
    #[arg(long, env = "ADIC_NATS_WS_URL")]
    pub nats_ws_url: Option<String>,
    #[arg(long, env = "ADIC_NATS_WS_SUBJECT", default_value = NATS_WS_SUBJECT)]
    pub nats_ws_subject: String,
    /// Publish each event to its kind's channel or subject (`<channel>.<kind>`) instead.
    #[arg(long)]
    pub per_kind: bool,
    /// Also keep what is published on the WebSocket nats-server in a JetStream stream of this
    /// name (in memory; that server must run with JetStream), so its clients can resume.
    #[arg(long, requires = "nats_ws_url")]
    pub nats_ws_stream: Option<String>,
}

/// One event in the edge's two wire formats, and the channel it goes to.
struct Frames {
    channel: String,
    ws: String,
    sse: String,
}

/// `<base>.<kind name>` with `per_kind`, else `base`.
fn destination(base: &str, name: &str, per_kind: bool) -> String {
    if per_kind {
        format!("{base}.{name}")
    } else {
        base.to_owned()
    }
}

/// Bridges until the stream ends or a peer fails.
pub async fn run(args: BridgeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.pushpin_publish.is_some() || args.nats_ws_url.is_some(),
        "nothing to bridge to: pass --pushpin-publish and/or --nats-ws-url"
    );
    let client = args.nats.connect("adic-peer-bridge").await?;
    let js = jetstream::new(client.clone());
    let mut stream = args.stream.ensure(&js).await?;
    let created = stream.info().await.context("reading the stream")?.created;
    let epoch = Epoch::derive(&args.stream.name, created.unix_timestamp_nanos());
    let mut messages = stream
        .create_consumer(consumer::push::OrderedConfig {
            deliver_subject: client.new_inbox(),
            filter_subject: args.stream.subjects(),
            deliver_policy: consumer::DeliverPolicy::New,
            ..Default::default()
        })
        .await
        .context("creating the consumer")?
        .messages()
        .await
        .context("consuming")?;

    let nats_ws = match &args.nats_ws_url {
        Some(url) => Some(
            async_nats::ConnectOptions::new()
                .name("adic-peer-bridge")
                .retry_on_initial_connect()
                .connect(url.as_str())
                .await
                .with_context(|| format!("connecting to {url}"))?,
        ),
        None => None,
    };
    if let (Some(client), Some(name)) = (&nats_ws, &args.nats_ws_stream) {
        let subject = destination(&args.nats_ws_subject, ">", args.per_kind);
        jetstream::new(client.clone())
            .get_or_create_stream(jetstream::stream::Config {
                name: name.clone(),
                subjects: vec![subject],
                storage: jetstream::stream::StorageType::Memory,
                ..Default::default()
            })
            .await
            .with_context(|| format!("creating the stream {name} on the WebSocket nats-server"))?;
    }
    let pushpin = args.pushpin_publish.clone().map(|url| {
        let (tx, rx) = mpsc::channel(PUSHPIN_QUEUE);
        let task = tokio::spawn(to_pushpin(url, rx));
        (tx, task)
    });
    // bench.sh waits for this line before it publishes.
    tracing::info!(%epoch, "bridge ready");

    while let Some(message) = messages.next().await {
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(error = %e, "consumer");
                continue;
            }
        };
        let seq = message
            .info()
            .map_err(|e| anyhow::anyhow!(e))?
            .stream_sequence;
        let valid = match ValidEvent::parse(&args.stream.prefix, &message.subject, &message.payload)
        {
            Ok(valid) => valid,
            Err(e) => {
                tracing::warn!(seq, error = %e, "not an event: skipped, as an edge does");
                continue;
            }
        };
        let cursor = Cursor::new(epoch, seq);
        let frames = Frames {
            channel: destination(&args.pushpin_channel, &valid.name, args.per_kind),
            ws: ws::event_frame(&cursor, &valid.json),
            sse: sse::event_frame(&valid.name, Some(&cursor), &valid.json),
        };
        if let Some(client) = &nats_ws {
            let subject = destination(&args.nats_ws_subject, &valid.name, args.per_kind);
            client.publish(subject, frames.ws.clone().into()).await?;
        }
        if let Some((tx, _)) = &pushpin {
            tx.send(frames)
                .await
                .map_err(|_| anyhow::anyhow!("the Pushpin publisher stopped"))?;
        }
    }
    if let Some((tx, task)) = pushpin {
        drop(tx);
        task.await??;
    }
    Ok(())
}

/// Publishes to Pushpin in order, one request at a time, batching what queued up meanwhile.
async fn to_pushpin(url: String, mut rx: mpsc::Receiver<Frames>) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut batch = Vec::with_capacity(MAX_ITEMS);
    while let Some(first) = rx.recv().await {
        let mut size = first.ws.len() + first.sse.len();
        batch.clear();
        batch.push(first);
        while batch.len() < MAX_ITEMS && size < MAX_BODY {
            let Ok(next) = rx.try_recv() else { break };
            size += next.ws.len() + next.sse.len();
            batch.push(next);
        }
        let body = publish_body(&batch);
        // Pushpin restarts between benchmark steps: retry for a while rather than lose events.
        let mut attempt = 0;
        loop {
            let sent = http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => break,
                Ok(response) => {
                    tracing::warn!(status = %response.status(), "Pushpin refused a publish")
                }
                Err(e) => tracing::warn!(error = %e, "publishing to Pushpin"),
            }
            attempt += 1;
            anyhow::ensure!(
                attempt < 100,
                "Pushpin did not take a publish in 100 attempts"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// `{"items":[{"channel":…,"formats":{"http-stream":{"content":<SSE frame>},
/// "ws-message":{"content":<WebSocket payload>}}},…]}`.
fn publish_body(batch: &[Frames]) -> Vec<u8> {
    let items: Vec<serde_json::Value> = batch
        .iter()
        .map(|f| {
            serde_json::json!({
                "channel": f.channel,
                "formats": {
                    "http-stream": {"content": f.sse},
                    "ws-message": {"content": f.ws},
                }
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({ "items": items })).expect("JSON values serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_the_edges_bytes() {
        let json = r#"{"type":"TipsUpdate","data":{"sent_ns":5,"tips":["a\"b"]}}"#;
        let cursor = Cursor::new(Epoch(0x0a1b_2c3d), 42);
        let frames = Frames {
            channel: destination("adic-events", "tips.update", false),
            ws: ws::event_frame(&cursor, json),
            sse: sse::event_frame("tips.update", Some(&cursor), json),
        };
        let body: serde_json::Value = serde_json::from_slice(&publish_body(&[frames])).unwrap();
        let item = &body["items"][0];
        assert_eq!(item["channel"], "adic-events");
        assert_eq!(
            item["formats"]["ws-message"]["content"],
            format!(r#"{{"type":"Event","id":"0a1b2c3d-42","event":{json}}}"#)
        );
        assert_eq!(
            item["formats"]["http-stream"]["content"],
            format!("event: tips.update\nid: 0a1b2c3d-42\ndata: {json}\n\n")
        );
    }

    #[test]
    fn per_kind_destinations_carry_the_kind() {
        assert_eq!(
            destination("adic-events", "tips.update", true),
            "adic-events.tips.update"
        );
        assert_eq!(
            destination("adic.ws.events", "tips.update", false),
            "adic.ws.events"
        );
    }
}
