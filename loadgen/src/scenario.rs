//! What the storm and filter scenarios set up before connecting: a reconnect storm's cursor and
//! catch-up target, and the per-kind paths and subjects of a filtered fan-out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use adic_protocol::{Cursor, Epoch, Kind};
use anyhow::Context as _;

use crate::conn::{JsResume, Transport};
use crate::publish;
use crate::run::RunArgs;
use crate::stats::{cursor_seq_after, CatchUp};

/// `path` with `events=<kind>` added to its query.
pub fn with_events(path: &str, kind: Kind) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}events={}", kind.name())
}

/// The subject of one kind's events on a peer bridged with `--per-kind`: `<subject>.<kind name>`.
pub fn kind_subject(subject: &str, kind: Kind) -> String {
    format!("{subject}.{}", kind.name())
}

/// `path` with `since=<cursor>` added to its query.
pub fn with_since(path: &str, cursor: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}since={cursor}")
}

/// A storm about to start: the cursor, what to catch up on, and the stream to watch.
pub struct Storm {
    pub cursor: String,
    pub catch_up: Arc<CatchUp>,
    /// The stream whose consumers are sampled: the edge's, or the WebSocket nats-server's.
    pub stream: async_nats::jetstream::stream::Stream,
    /// For `nats-ws`: where each connection's own consumer starts.
    pub resume: Option<JsResume>,
}

/// Publishes the prefill, then reads the stream's newest sequence and epoch.
pub async fn prepare_storm(args: &RunArgs, back: u64) -> anyhow::Result<Storm> {
    if args.storm_prefill > 0 {
        publish::burst(&args.nats, args.stream.clone(), args.storm_prefill, || ()).await?;
    }
    let client = args.nats.connect("adic-loadgen-storm").await?;
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(&args.stream.name).await?;
    let info = stream.info().await?;
    let (target, created) = (info.state.last_sequence, info.created);
    anyhow::ensure!(
        target > back,
        "the stream holds {target} events, not more than --storm-back {back}"
    );
    let epoch = Epoch::derive(&args.stream.name, created.unix_timestamp_nanos());
    let after = target - back;
    let mut storm = Storm {
        cursor: Cursor::new(epoch, after).to_string(),
        catch_up: Arc::new(CatchUp::new(after, target)),
        stream,
        resume: None,
    };
    if args.transport == Transport::NatsWs {
        let name = args.peer_stream.as_deref().ok_or_else(|| {
            anyhow::anyhow!("a nats-ws storm needs --peer-stream (the bridge's --nats-ws-stream)")
        })?;
        let (stream, start_seq) = peer_start(&args.peer_nats_url, name, after, target).await?;
        storm.stream = stream;
        storm.resume = Some(JsResume {
            stream: name.to_owned(),
            start_seq,
        });
    }
    Ok(storm)
}

/// The WebSocket nats-server's stream holds the bridged events in the edge stream's order, from
/// the bridge's start. Waits until it holds `target` (the bridge is behind the publisher), then
/// maps the edge stream's sequence `after + 1` to its own.
async fn peer_start(
    url: &str,
    name: &str,
    after: u64,
    target: u64,
) -> anyhow::Result<(async_nats::jetstream::stream::Stream, u64)> {
    let client = async_nats::connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(name).await?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let last = stream.info().await?.state.last_sequence;
        if last > 0 {
            let message = stream.get_raw_message(last).await?;
            let seq = cursor_seq_after(&message.payload, br#""id":""#);
            if seq == Some(target) {
                let offset = target - last;
                anyhow::ensure!(
                    after + 1 > offset,
                    "the bridge started after the events the storm resumes from"
                );
                return Ok((stream, after + 1 - offset));
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{name} on {url} did not reach the edge stream's sequence {target} in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_the_cursor_to_the_query() {
        assert_eq!(
            with_since("/v1/ws/events", "0a1b2c3d-42"),
            "/v1/ws/events?since=0a1b2c3d-42"
        );
        assert_eq!(
            with_since("/v1/ws/events?events=tips.update", "0a1b2c3d-42"),
            "/v1/ws/events?events=tips.update&since=0a1b2c3d-42"
        );
        assert_eq!(
            with_events("/v1/ws/events", Kind::TipsUpdated),
            "/v1/ws/events?events=tips.update"
        );
        let cursor = Cursor::new(Epoch(0x0a1b_2c3d), 42).to_string();
        assert_eq!(cursor.parse::<Cursor>().unwrap().seq, 42);
    }
}
