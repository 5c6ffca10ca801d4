//! The failure-test world: a 3-node NATS cluster with an R3 stream, edges as real processes
//! behind haproxy, a publisher that numbers its events, and clients (WebSocket, SSE, polling)
//! that resume with their cursor through the load balancer — plus the checks of the delivery
//! guarantee against an independent reader of the stream.
//!
//! The guarantee checked for every client: log kinds arrive exactly once, in stream order;
//! snapshot kinds arrive in stream order and may skip superseded values.
//!
//! Layout: this file holds the [`World`], the ground truth read from the stream, the
//! [`check`] of the guarantee and the waits on clients; `publisher.rs` the
//! [`NumberedPublisher`]; `clients.rs` the [`ResumingClient`] and its per-transport sessions.

use std::path::Path;
use std::time::Duration;

use adic_protocol::Kind;
use adic_publisher::StreamSettings;
use anyhow::Context;
use futures::StreamExt;
use serde_json::Value;
use tempfile::TempDir;

use crate::nats::TestCluster;
use crate::processes::{EdgeProcess, Haproxy};

mod clients;
mod publisher;

pub use clients::{ClientLog, ResumingClient, Via};
pub use publisher::{event, NumberedPublisher};

/// One event as a client (or the stream) has it: stream sequence, kind and publisher number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Numbered {
    pub seq: u64,
    pub snapshot: bool,
    pub n: u64,
}

/// The numbered event behind an id and its JSON, if it is one of the publisher's.
pub fn numbered(id: &str, event: &Value) -> Option<Numbered> {
    let seq = id.rsplit('-').next()?.parse().ok()?;
    let data = &event["data"];
    match event["type"].as_str()? {
        "MessageAdded" => Some(Numbered {
            seq,
            snapshot: false,
            n: data["depth"].as_u64()?,
        }),
        "TipsUpdated" => Some(Numbered {
            seq,
            snapshot: true,
            n: data["count"].as_u64()?,
        }),
        _ => None,
    }
}

/// One world at a time: each is three NATS nodes, several edges and haproxy, and two cores run
/// one of them well, not seven.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Cluster, stream, edges, load balancer.
pub struct World {
    _turn: tokio::sync::MutexGuard<'static, ()>,
    pub cluster: TestCluster,
    pub edges: Vec<EdgeProcess>,
    pub lb: Haproxy,
    pub stream: StreamSettings,
    pub dir: TempDir,
}

impl World {
    /// Starts a 3-node cluster, an R3 stream, `edges` edge processes (`edge_bin serve` with
    /// `extra` arguments) and haproxy in front of them.
    pub async fn start(edge_bin: &Path, edges: usize, extra: &[&str]) -> anyhow::Result<World> {
        crate::init_logs();
        let turn = ONE_AT_A_TIME.lock().await;
        let mut dir = TempDir::new()?;
        // With TEST_LOG set, the edges' and haproxy's logs stay for reading.
        dir.disable_cleanup(std::env::var_os("TEST_LOG").is_some());
        let cluster = TestCluster::start(3).await?;
        let stream = StreamSettings {
            replicas: 3,
            ..StreamSettings::named("CHAOS", "chaos.events")
        };
        let js = async_nats::jetstream::new(cluster.client().await?);
        js.create_stream(stream.config())
            .await
            .context("creating the R3 stream")?;
        let mut args: Vec<String> = vec![
            "--nats-url".into(),
            cluster.urls().join(","),
            "--stream".into(),
            stream.name.clone(),
            "--subject-prefix".into(),
            stream.prefix.clone(),
            "--stream-replicas".into(),
            "3".into(),
            "--drain-grace".into(),
            "2s".into(),
            "--progress-interval".into(),
            "1s".into(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let mut processes = Vec::new();
        for i in 0..edges {
            processes.push(EdgeProcess::start(
                edge_bin,
                args.clone(),
                dir.path(),
                &format!("edge{i}"),
            )?);
        }
        for edge in &processes {
            edge.wait_ready().await?;
        }
        let ports: Vec<u16> = processes.iter().map(EdgeProcess::port).collect();
        let lb = Haproxy::start(&ports, dir.path()).await?;
        if std::env::var_os("TEST_LOG").is_some() {
            eprintln!("chaos world logs in {}", dir.path().display());
        }
        Ok(World {
            _turn: turn,
            cluster,
            edges: processes,
            lb,
            stream,
            dir,
        })
    }

    pub fn ws_url(&self, query: &str) -> String {
        format!("ws://127.0.0.1:{}/v1/ws/events{query}", self.lb.port())
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.lb.port())
    }

    /// Every numbered event of the stream, read by a plain NATS client: the ground truth.
    pub async fn truth(&self) -> anyhow::Result<Vec<Numbered>> {
        truth(self.cluster.client().await?, &self.stream.name).await
    }
}

/// Every numbered event of stream `name`, read by a plain NATS client: the ground truth.
pub async fn truth(client: async_nats::Client, name: &str) -> anyhow::Result<Vec<Numbered>> {
    Ok(stream_events(client, name)
        .await?
        .iter()
        .filter_map(|(seq, event)| numbered(&format!("x-{seq}"), event))
        .collect())
}

/// Every message of stream `name` as (stream sequence, event JSON), in order, read by a plain
/// NATS consumer.
async fn stream_events(
    client: async_nats::Client,
    name: &str,
) -> anyhow::Result<Vec<(u64, Value)>> {
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(name).await?;
    let info = stream.info().await?;
    let (first, last) = (info.state.first_sequence, info.state.last_sequence);
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::All,
            ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await?;
    let mut out = Vec::new();
    let mut messages = consumer.messages().await?;
    let mut seen = first.saturating_sub(1);
    while seen < last {
        let message = tokio::time::timeout(Duration::from_secs(10), messages.next())
            .await
            .context("reading the stream")?
            .context("stream ended")??;
        seen = message
            .info()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .stream_sequence;
        out.push((seen, serde_json::from_slice(&message.payload)?));
    }
    Ok(out)
}

/// Checks the guarantee for one client against the stream. `Ok` carries (log events, duplicates
/// dropped = 0) for the report.
pub fn check(name: &str, truth: &[Numbered], got: &[Numbered]) -> Result<usize, String> {
    let want_log: Vec<u64> = truth.iter().filter(|e| !e.snapshot).map(|e| e.n).collect();
    let got_log: Vec<u64> = got.iter().filter(|e| !e.snapshot).map(|e| e.n).collect();
    if want_log != got_log {
        let first_diff = want_log
            .iter()
            .zip(&got_log)
            .position(|(a, b)| a != b)
            .unwrap_or(want_log.len().min(got_log.len()));
        let mut seen = std::collections::HashSet::new();
        let dups = got_log.iter().filter(|n| !seen.insert(**n)).count();
        let missing = want_log.iter().filter(|n| !got_log.contains(n)).count();
        return Err(format!(
            "{name}: log events differ from the stream at index {first_diff} (want {} got {}; {dups} duplicated, {missing} missing; near want {:?} got {:?})",
            want_log.len(),
            got_log.len(),
            &want_log[first_diff.saturating_sub(2)..(first_diff + 3).min(want_log.len())],
            &got_log[first_diff.saturating_sub(2)..(first_diff + 3).min(got_log.len())],
        ));
    }
    if got.windows(2).any(|w| w[0].seq >= w[1].seq) {
        return Err(format!("{name}: events out of stream order"));
    }
    let snapshots: Vec<&Numbered> = got.iter().filter(|e| e.snapshot).collect();
    if snapshots
        .iter()
        .any(|s| !truth.iter().any(|t| t.seq == s.seq && t.n == s.n))
    {
        return Err(format!(
            "{name}: a snapshot value that is not in the stream"
        ));
    }
    // The newest value before the client's final position cannot have been superseded while
    // it was queued: it must have arrived (the publisher's snapshots are one key).
    if let (Some(first), Some(last)) = (got.first(), got.last()) {
        let newest = truth
            .iter()
            .rfind(|t| t.snapshot && t.seq >= first.seq && t.seq <= last.seq);
        if let Some(newest) = newest {
            if !got.iter().any(|g| g.seq == newest.seq) {
                return Err(format!(
                    "{name}: the newest snapshot value before its last event (seq {}) never arrived",
                    newest.seq
                ));
            }
        }
    }
    Ok(got_log.len())
}

/// Waits until every client has the stream's last numbered event (or its last log event for
/// clients that may skip superseded snapshots).
pub async fn wait_caught_up(
    clients: &[&ResumingClient],
    truth_last_seq: u64,
    within: Duration,
) -> anyhow::Result<()> {
    crate::wait_until(within, || async {
        clients.iter().all(|c| c.last_seq() >= truth_last_seq)
    })
    .await
    .with_context(|| {
        let behind: Vec<String> = clients
            .iter()
            .filter(|c| c.last_seq() < truth_last_seq)
            .map(|c| format!("{} at {}", c.name, c.last_seq()))
            .collect();
        format!("clients did not catch up to {truth_last_seq}: {behind:?}")
    })
}

/// Waits until every client has received the publisher's number `n` or a later one: the
/// scenarios' way of letting traffic flow "for a while" around a fault, by events rather than by
/// the clock.
pub async fn wait_received(
    clients: &[ResumingClient],
    n: u64,
    within: Duration,
) -> anyhow::Result<()> {
    crate::wait_until(within, || async { clients.iter().all(|c| c.last_n() >= n) })
        .await
        .with_context(|| {
            let behind: Vec<String> = clients
                .iter()
                .filter(|c| c.last_n() < n)
                .map(|c| format!("{} at {}", c.name, c.last_n()))
                .collect();
            format!("clients did not receive number {n}: {behind:?}")
        })
}

/// Every event of stream `name` as (sequence, event type), read by a plain NATS client.
pub async fn every_event(
    client: async_nats::Client,
    name: &str,
) -> anyhow::Result<Vec<(u64, String)>> {
    Ok(stream_events(client, name)
        .await?
        .into_iter()
        .map(|(seq, event)| (seq, event["type"].as_str().unwrap_or_default().to_owned()))
        .collect())
}

/// The guarantee for a client that took every kind, by stream sequence: from its first event
/// to its last, every log event of the stream exactly once and in order; every snapshot value
/// it has is the stream's, in order. `Ok` carries the number of log events checked.
pub fn check_sequences(
    name: &str,
    truth: &[(u64, String)],
    got: &[(u64, String)],
) -> Result<usize, String> {
    let (Some(first), Some(last)) = (got.first(), got.last()) else {
        return Err(format!("{name}: received nothing"));
    };
    if got.windows(2).any(|w| w[0].0 >= w[1].0) {
        let at = got.windows(2).position(|w| w[0].0 >= w[1].0).unwrap_or(0);
        return Err(format!(
            "{name}: events out of order or duplicated near {:?}",
            &got[at..(at + 2).min(got.len())]
        ));
    }
    let is_log = |kind: &str| Kind::from_variant(kind).is_none_or(|k| !k.is_snapshot());
    let want: Vec<u64> = truth
        .iter()
        .filter(|(seq, kind)| *seq >= first.0 && *seq <= last.0 && is_log(kind))
        .map(|e| e.0)
        .collect();
    let have: Vec<u64> = got.iter().filter(|e| is_log(&e.1)).map(|e| e.0).collect();
    if want != have {
        let missing: Vec<u64> = want.iter().filter(|s| !have.contains(s)).copied().collect();
        let extra: Vec<u64> = have.iter().filter(|s| !want.contains(s)).copied().collect();
        return Err(format!(
            "{name}: log events differ from the stream between {} and {}: {} missing {:?}, {} not in the stream {:?}",
            first.0,
            last.0,
            missing.len(),
            &missing[..missing.len().min(5)],
            extra.len(),
            &extra[..extra.len().min(5)],
        ));
    }
    for (seq, kind) in got.iter().filter(|e| !is_log(&e.1)) {
        if !truth.iter().any(|(s, k)| s == seq && k == kind) {
            return Err(format!(
                "{name}: snapshot {kind} at {seq} is not in the stream"
            ));
        }
    }
    // The newest value of each snapshot kind before the client's last event must have arrived
    // (nothing newer could supersede it). Sync progress is keyed by peer too, which the types
    // alone do not show: it is left out here.
    let mut newest: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for (seq, kind) in truth
        .iter()
        .filter(|(s, k)| *s >= first.0 && *s <= last.0 && !is_log(k))
    {
        if kind != "SyncProgress" {
            newest.insert(kind, *seq);
        }
    }
    for (kind, seq) in newest {
        if !got.iter().any(|(s, _)| *s == seq) {
            return Err(format!(
                "{name}: the newest {kind} value before its last event (seq {seq}) never arrived"
            ));
        }
    }
    Ok(have.len())
}

#[cfg(test)]
mod tests {
    use super::check_sequences;

    fn events(list: &[(u64, &str)]) -> Vec<(u64, String)> {
        list.iter().map(|(s, k)| (*s, (*k).to_owned())).collect()
    }

    #[test]
    fn the_sequence_check_catches_loss_duplicates_and_strangers() {
        let truth = events(&[
            (1, "MessageAdded"),
            (2, "TipsUpdated"),
            (3, "MessageAdded"),
            (4, "TipsUpdated"),
            (5, "NoSuchKindYet"),
            (6, "MessageAdded"),
        ]);
        // Every log event (unknown kinds count as log), one snapshot skipped: the guarantee.
        let ok = events(&[
            (1, "MessageAdded"),
            (3, "MessageAdded"),
            (4, "TipsUpdated"),
            (5, "NoSuchKindYet"),
            (6, "MessageAdded"),
        ]);
        assert_eq!(check_sequences("c", &truth, &ok), Ok(4));
        // From where the client started, not before.
        assert_eq!(check_sequences("c", &truth, &ok[1..]), Ok(3));
        let lost = events(&[(1, "MessageAdded"), (6, "MessageAdded")]);
        assert!(check_sequences("c", &truth, &lost)
            .unwrap_err()
            .contains("missing"));
        let twice = events(&[
            (1, "MessageAdded"),
            (3, "MessageAdded"),
            (3, "MessageAdded"),
        ]);
        assert!(check_sequences("c", &truth, &twice)
            .unwrap_err()
            .contains("order"));
        let stranger = events(&[
            (1, "MessageAdded"),
            (2, "EnergyUpdated"),
            (3, "MessageAdded"),
        ]);
        assert!(check_sequences("c", &truth, &stranger)
            .unwrap_err()
            .contains("not in the stream"));
        assert!(check_sequences("c", &truth, &[]).is_err());
        // Skipping the newest value of a kind before the last event is not allowed.
        let stale = events(&[
            (1, "MessageAdded"),
            (2, "TipsUpdated"),
            (3, "MessageAdded"),
            (5, "NoSuchKindYet"),
            (6, "MessageAdded"),
        ]);
        let err = check_sequences("c", &truth, &stale).unwrap_err();
        assert!(err.contains("newest TipsUpdated"), "{err}");
    }
}
