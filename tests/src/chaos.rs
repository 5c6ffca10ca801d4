//! The failure-test world: a 3-node NATS cluster with an R3 stream, edges as real processes
//! behind haproxy, a publisher that numbers its events, and clients (WebSocket, SSE, polling)
//! that resume with their cursor through the load balancer — plus the checks of the delivery
//! guarantee against an independent reader of the stream.
//!
//! The guarantee checked for every client: log kinds arrive exactly once, in stream order;
//! snapshot kinds arrive in stream order and may skip superseded values.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adic_protocol::Kind;
use adic_publisher::{Publisher, PublisherConfig, StreamSettings};
use anyhow::Context;
use futures::StreamExt;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clients::{SseClient, WsClient, WsItem};
use crate::nats::TestCluster;
use crate::processes::{EdgeProcess, Haproxy};

/// One event as a client (or the stream) has it: stream sequence, kind and publisher number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Numbered {
    pub seq: u64,
    pub snapshot: bool,
    pub n: u64,
}

fn numbered(id: &str, event: &Value) -> Option<Numbered> {
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

/// The event the publisher sends as number `n`: every fifth a snapshot (`tips.update`), the rest
/// log events (`message.new`), with `pad` bytes of padding.
pub fn event(n: u64, pad: usize) -> (Kind, String) {
    let filler = "x".repeat(pad);
    if n % 5 == 0 {
        let json =
            json!({"type": "TipsUpdated", "data": {"tips": [filler], "count": n, "timestamp": 1}});
        (Kind::TipsUpdated, json.to_string())
    } else {
        let json = json!({"type": "MessageAdded", "data": {"message_id": filler, "depth": n, "timestamp": 1}});
        (Kind::MessageAdded, json.to_string())
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
        let js = async_nats::jetstream::new(self.cluster.client().await?);
        let mut stream = js.get_stream(&self.stream.name).await?;
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
            let seq = message
                .info()
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .stream_sequence;
            seen = seq;
            let event: Value = serde_json::from_slice(&message.payload)?;
            if let Some(n) = numbered(&format!("x-{seq}"), &event) {
                out.push(n);
            }
        }
        Ok(out)
    }
}

/// A publisher that numbers its events and derives each `Nats-Msg-Id` from the number, as a
/// node would: publishing the same number again is stored once.
pub struct NumberedPublisher {
    pub publisher: Publisher,
    next: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl NumberedPublisher {
    /// Publishes numbers from `from` on, `rate` per second, each padded with `pad` bytes.
    pub async fn start(
        world: &World,
        from: u64,
        rate: u32,
        pad: usize,
    ) -> anyhow::Result<NumberedPublisher> {
        let config = PublisherConfig {
            stream: world.stream.clone(),
            ..PublisherConfig::default()
        };
        let publisher = Publisher::start(world.cluster.client().await?, config);
        let next = Arc::new(AtomicU64::new(from));
        let (stop, mut stopped) = watch::channel(false);
        let task = {
            let (publisher, next, prefix) = (
                publisher.clone(),
                Arc::clone(&next),
                world.stream.prefix.clone(),
            );
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
                loop {
                    tokio::select! {
                        _ = tick.tick() => {}
                        _ = stopped.changed() => return,
                    }
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let (kind, json) = event(n, pad);
                    let _ = publisher.publish_with_id(
                        kind.subject(&prefix),
                        json.into(),
                        format!("ev-{n}"),
                    );
                }
            })
        };
        Ok(NumberedPublisher {
            publisher,
            next,
            stop,
            task,
        })
    }

    /// The next number it would publish.
    pub fn next(&self) -> u64 {
        self.next.load(Ordering::SeqCst)
    }

    /// Stops publishing and waits until everything queued is acked; returns the last number.
    pub async fn finish(self) -> anyhow::Result<u64> {
        let _ = self.stop.send(true);
        let next = Arc::clone(&self.next);
        self.task.await?;
        tokio::time::timeout(Duration::from_secs(60), self.publisher.flush())
            .await
            .context("publisher did not flush")?;
        Ok(next.load(Ordering::SeqCst) - 1)
    }

    /// Stops at once, dropping whatever was not acked yet (a crash); returns the last number
    /// handed to the publisher.
    pub async fn crash(self) -> u64 {
        let _ = self.stop.send(true);
        let next = Arc::clone(&self.next);
        let _ = self.task.await;
        next.load(Ordering::SeqCst) - 1
    }
}

/// What one resuming client saw.
#[derive(Debug, Default)]
pub struct ClientLog {
    pub received: Vec<Numbered>,
    pub cursor: Option<String>,
    pub reconnects: u32,
    pub close_codes: Vec<u16>,
    pub gaps: u32,
    pub resets: u32,
    /// Longest time from losing the connection to being connected again.
    pub longest_resume: Duration,
}

/// A client task that reconnects through the load balancer with its cursor until stopped.
pub struct ResumingClient {
    pub name: String,
    pub log: Arc<Mutex<ClientLog>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Which transport a resuming client uses.
#[derive(Clone, Copy, Debug)]
pub enum Via {
    WebSocket,
    /// A WebSocket with a 4 KiB receive buffer that stops reading for the given time after its
    /// first event.
    StallingWebSocket(Duration),
    Sse,
    Polling,
}

impl ResumingClient {
    pub fn spawn(world: &World, name: &str, via: Via) -> ResumingClient {
        let log = Arc::new(Mutex::new(ClientLog::default()));
        let (stop, stopped) = watch::channel(false);
        let base = format!("127.0.0.1:{}", world.lb.port());
        let task = tokio::spawn(run_client(base, via, Arc::clone(&log), stopped));
        ResumingClient {
            name: name.to_owned(),
            log,
            stop,
            task,
        }
    }

    /// The last publisher number this client has, of any kind.
    pub fn last_n(&self) -> u64 {
        self.log.lock().unwrap().received.last().map_or(0, |r| r.n)
    }

    pub fn last_seq(&self) -> u64 {
        self.log
            .lock()
            .unwrap()
            .received
            .last()
            .map_or(0, |r| r.seq)
    }

    pub async fn stop(self) -> ClientLog {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        Arc::try_unwrap(self.log)
            .map(|m| m.into_inner().unwrap())
            .unwrap_or_default()
    }
}

async fn run_client(
    base: String,
    via: Via,
    log: Arc<Mutex<ClientLog>>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut lost_at: Option<Instant> = None;
    loop {
        if *stopped.borrow() {
            return;
        }
        let cursor = log.lock().unwrap().cursor.clone();
        let session = async {
            match via {
                Via::WebSocket | Via::StallingWebSocket(_) => {
                    ws_session(&base, via, cursor, &log, &mut lost_at).await
                }
                Via::Sse => sse_session(&base, cursor, &log, &mut lost_at).await,
                Via::Polling => poll_session(&base, cursor, &log, &mut lost_at).await,
            }
        };
        tokio::select! {
            _ = session => {}
            _ = stopped.changed() => return,
        }
        lost_at.get_or_insert_with(Instant::now);
        log.lock().unwrap().reconnects += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn connected(log: &Mutex<ClientLog>, lost_at: &mut Option<Instant>) {
    if let Some(at) = lost_at.take() {
        let mut log = log.lock().unwrap();
        log.longest_resume = log.longest_resume.max(at.elapsed());
    }
}

fn record(log: &Mutex<ClientLog>, id: &str, event: &Value) {
    let mut log = log.lock().unwrap();
    if let Some(n) = numbered(id, event) {
        log.received.push(n);
    }
    log.cursor = Some(id.to_owned());
}

async fn ws_session(
    base: &str,
    via: Via,
    cursor: Option<String>,
    log: &Mutex<ClientLog>,
    lost_at: &mut Option<Instant>,
) -> anyhow::Result<()> {
    let url = format!(
        "ws://{base}/v1/ws/events{}",
        cursor.map(|c| format!("?since={c}")).unwrap_or_default()
    );
    let mut ws = match via {
        Via::StallingWebSocket(_) => WsClient::connect_small_buffer(&url).await?,
        _ => WsClient::connect(&url).await?,
    };
    connected(log, lost_at);
    let mut stall = match via {
        Via::StallingWebSocket(d) if log.lock().unwrap().close_codes.is_empty() => Some(d),
        _ => None,
    };
    loop {
        match ws.next_item_within(Duration::from_secs(30)).await? {
            WsItem::Json(v) => match v["type"].as_str() {
                Some("Event") => {
                    record(log, v["id"].as_str().unwrap_or_default(), &v["event"]);
                    if let Some(d) = stall.take() {
                        tokio::time::sleep(d).await;
                    }
                }
                Some("Progress") => {
                    log.lock().unwrap().cursor = v["id"].as_str().map(str::to_owned)
                }
                Some("Gap") => log.lock().unwrap().gaps += 1,
                Some("Reset") => {
                    let mut log = log.lock().unwrap();
                    log.resets += 1;
                    log.cursor = v["current"].as_str().map(str::to_owned);
                }
                _ => {}
            },
            WsItem::Close(code) => {
                if let Some((code, _)) = code {
                    let mut log = log.lock().unwrap();
                    log.close_codes.push(code);
                    if code == adic_protocol::ws::close::STREAM_RESET {
                        // Reconnect with the cursor; the edge answers with a Reset notice.
                    }
                }
                return Ok(());
            }
        }
    }
}

async fn sse_session(
    base: &str,
    cursor: Option<String>,
    log: &Mutex<ClientLog>,
    lost_at: &mut Option<Instant>,
) -> anyhow::Result<()> {
    let url = format!("http://{base}/v1/sse/events");
    let headers: Vec<(&str, &str)> = cursor
        .as_deref()
        .map(|c| vec![("Last-Event-ID", c)])
        .unwrap_or_default();
    let mut sse = SseClient::connect_with(&url, &headers).await?;
    anyhow::ensure!(sse.status == 200, "SSE status {}", sse.status);
    connected(log, lost_at);
    while let Some(frame) = sse.next_frame_within(Duration::from_secs(30)).await? {
        match (
            frame.event.as_deref(),
            frame.data.as_deref(),
            frame.id.as_deref(),
        ) {
            (Some("gap"), Some(_), _) => log.lock().unwrap().gaps += 1,
            (Some("reset"), Some(data), _) => {
                let reset: Value = serde_json::from_str(data)?;
                let mut log = log.lock().unwrap();
                log.resets += 1;
                log.cursor = reset["current"].as_str().map(str::to_owned);
            }
            (_, Some(data), Some(id)) => record(log, id, &serde_json::from_str(data)?),
            (_, None, Some(id)) => log.lock().unwrap().cursor = Some(id.to_owned()),
            _ => {}
        }
    }
    Ok(())
}

async fn poll_session(
    base: &str,
    cursor: Option<String>,
    log: &Mutex<ClientLog>,
    lost_at: &mut Option<Instant>,
) -> anyhow::Result<()> {
    let mut after = cursor;
    loop {
        let url = format!(
            "http://{base}/v1/events?wait=1&limit=1000{}",
            after
                .as_deref()
                .map(|c| format!("&after={c}"))
                .unwrap_or_default()
        );
        let response = tokio::time::timeout(Duration::from_secs(10), reqwest::get(&url)).await??;
        anyhow::ensure!(
            response.status() == 200,
            "poll status {}",
            response.status()
        );
        let page: Value = response.json().await?;
        connected(log, lost_at);
        if !page["gap"].is_null() {
            log.lock().unwrap().gaps += 1;
        }
        if !page["reset"].is_null() {
            log.lock().unwrap().resets += 1;
        }
        for entry in page["events"].as_array().context("events")? {
            record(
                log,
                entry["id"].as_str().unwrap_or_default(),
                &entry["event"],
            );
        }
        after = page["next"].as_str().map(str::to_owned);
        log.lock().unwrap().cursor.clone_from(&after);
    }
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
