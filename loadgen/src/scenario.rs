//! What the storm and filter scenarios set up before connecting: a reconnect storm's cursor and
//! catch-up target, and the per-kind paths and subjects of a filtered fan-out.

use std::sync::Arc;

use adic_protocol::{Cursor, Epoch, Kind};

use crate::publish;
use crate::run::RunArgs;
use crate::stats::CatchUp;

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
    pub stream: async_nats::jetstream::stream::Stream,
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
    Ok(Storm {
        cursor: Cursor::new(epoch, after).to_string(),
        catch_up: Arc::new(CatchUp::new(after, target)),
        stream,
    })
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
