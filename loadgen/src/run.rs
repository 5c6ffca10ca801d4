//! One load run: open N connections (ramped, spread over several loopback source addresses),
//! measure the server's memory with them idle, optionally publish (at a rate, or a burst as fast
//! as possible) and measure deliveries, latency, loss and order, then write a JSON report.
//!
//! The server's memory and CPU are those of the process given by `--server-pid` and all its
//! descendants, so a server made of several processes (Pushpin) is measured whole.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use adic_protocol::Kind;
use adic_publisher::{NatsArgs, StreamSettings};
use tokio::sync::{mpsc, watch, Semaphore};

use crate::conn::{self, Target, Transport};
pub use crate::report::{Latency, Report};
use crate::scenario::{kind_subject, prepare_storm, with_events, with_since};
use crate::stats::{new_histogram, tally_kinds, ConnResult};
use crate::{publish, system};

/// Settings of a run.
#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    /// A name for this run in the report.
    #[arg(long, default_value = "run")]
    pub label: String,
    #[arg(long, value_enum, default_value = "ws")]
    pub transport: Transport,
    /// Server address (host:port).
    #[arg(long)]
    pub server: SocketAddr,
    /// Path and query to connect to; default by transport (`/v1/ws/events`, `/v1/sse/events`,
    /// `/` for nats-ws).
    #[arg(long)]
    pub path: Option<String>,
    /// The subject `nats-ws` connections subscribe to.
    #[arg(long, default_value = crate::peers::NATS_WS_SUBJECT)]
    pub nats_ws_subject: String,
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Loopback source addresses to spread connections over (127.0.0.1 …).
    #[arg(long, default_value_t = 4)]
    pub sources: u8,
    /// Connections that record latency (the others only count).
    #[arg(long, default_value_t = 100)]
    pub sample: usize,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// How long to hold the connections idle before measuring memory.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub settle: Duration,
    /// Publish this many events per second after connecting (0: idle run; 0.1: one every 10 s).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// How long to publish.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Instead of a rate: publish this many events as fast as possible, then wait until every
    /// connection has them all (at most `--drain`) and report the time to the last delivery.
    #[arg(long, conflicts_with = "rate")]
    pub burst: Option<usize>,
    /// Reconnect storm: first publish `--storm-prefill` events, then open every connection at
    /// once with `?since=<cursor>` this many events back from the stream's newest, while
    /// publishing `--rate` events per second; report the time until every connection has every
    /// event up to that newest (at most `--drain`) and the most JetStream consumers seen.
    #[arg(long, conflicts_with = "burst")]
    pub storm_back: Option<u64>,
    /// Events published (as fast as possible) before a storm.
    #[arg(long, default_value_t = 1000)]
    pub storm_prefill: usize,
    /// A `nats-ws` storm: the JetStream stream on the WebSocket nats-server that the bridge
    /// fills (`adic-peer-bridge --nats-ws-stream`); each connection resumes with a consumer of
    /// its own on it, as a nats.ws client holding a cursor would.
    #[arg(long)]
    pub peer_stream: Option<String>,
    /// The WebSocket nats-server's NATS port, to find where a `nats-ws` storm starts.
    #[arg(long, default_value = "nats://127.0.0.1:9412")]
    pub peer_nats_url: String,
    /// Filtered fan-out: connection i subscribes to one kind only (`?events=<kind>`), the
    /// `i mod K`-th of the K kinds this rate run publishes most; loss is then counted per
    /// connection against the events published of its kind. Rate runs only. A `nats-ws`
    /// connection subscribes to `<subject>.<kind>` (the bridge's `--per-kind` subjects).
    #[arg(long, conflicts_with_all = ["burst", "storm_back"], requires = "rate")]
    pub filter_spread: Option<usize>,
    /// How long to wait for deliveries after the last publish (for a burst: at most this long).
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub drain: Duration,
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub stream: StreamSettings,
    /// The server's pid, to report its memory and CPU.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Where to write the JSON report.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// Runs the load and returns the report (also written to `--report`).
pub async fn run(args: RunArgs) -> anyhow::Result<Report> {
    let mut path = args.path.clone().unwrap_or_else(|| match args.transport {
        Transport::Ws => "/v1/ws/events".into(),
        Transport::Sse => "/v1/sse/events".into(),
        Transport::NatsWs => "/".into(),
    });
    let storm = match args.storm_back {
        Some(back) => {
            let storm = prepare_storm(&args, back).await?;
            if storm.resume.is_none() {
                path = with_since(&path, &storm.cursor);
            }
            // The edge's live feed takes the prefill into its ring.
            tokio::time::sleep(Duration::from_secs(1)).await;
            Some(storm)
        }
        None => None,
    };
    // Filtered fan-out: the K kinds this run publishes most, one target (path) per kind.
    let spread = match args.filter_spread {
        Some(k) => {
            let count = (args.duration.as_secs_f64() * args.rate).ceil() as u64 + 1;
            publish::spread_kinds(k, count)?
        }
        None => Vec::new(),
    };
    let targets: Vec<Arc<Target>> = if spread.is_empty() {
        vec![Arc::new(Target {
            server: args.server,
            path,
            subject: args.nats_ws_subject.clone(),
            resume: storm.as_ref().and_then(|s| s.resume.clone()),
        })]
    } else {
        spread
            .iter()
            .map(|kind| {
                Arc::new(Target {
                    server: args.server,
                    path: with_events(&path, *kind),
                    subject: kind_subject(&args.nats_ws_subject, *kind),
                    resume: None,
                })
            })
            .collect()
    };
    let mut report = Report {
        label: args.label.clone(),
        transport: args.transport.name().to_owned(),
        connections: args.connections,
        rate: args.rate,
        filter_spread: spread.len(),
        ..Report::default()
    };
    report.server_rss_before_kib = args.server_pid.and_then(system::tree_rss_kib);
    // A burst waits for every delivery and times the last one.
    let progress = args.burst.map(|_| Arc::new(AtomicU64::new(0)));
    let catch_up = storm.as_ref().map(|s| Arc::clone(&s.catch_up));
    report.storm_back = args.storm_back;
    report.storm_cursor = storm.as_ref().map(|s| s.cursor.clone());
    report.storm_target_seq = catch_up.as_ref().map(|c| c.target);

    // A storm publishes and watches the stream's consumers from its start.
    let publishing = Arc::new(AtomicBool::new(false));
    let mut storm_publisher = None;
    let mut consumer_watch = None;
    let storm_marks = storm.map(|storm| {
        let marks = (
            system::core_ticks(),
            args.server_pid.and_then(system::tree_cpu_ticks),
        );
        if args.rate > 0.0 {
            let (nats, stream, rate, most) = (
                args.nats.clone(),
                args.stream.clone(),
                args.rate,
                args.drain + Duration::from_secs(120),
            );
            let stop = Arc::clone(&publishing);
            storm_publisher = Some(std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(publish::publish_until(&nats, stream, rate, most, &stop))
            }));
        }
        let stop = Arc::clone(&publishing);
        let mut stream = storm.stream;
        consumer_watch = Some(tokio::spawn(async move {
            let (mut most, mut samples) = (0usize, 0u64);
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                if let Ok(info) = stream.info().await {
                    most = most.max(info.state.consumer_count);
                    samples += 1;
                }
            }
            (most, samples)
        }));
        marks
    });

    let (stop_tx, stop_rx) = watch::channel(false);
    let (connected_tx, mut connected_rx) = mpsc::channel(1024);
    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let source = IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            0,
            1 + (i % usize::from(args.sources.max(1))) as u8,
        ));
        let target = Arc::clone(&targets[i % targets.len()]);
        let only = (!spread.is_empty()).then(|| spread[i % spread.len()]);
        let (gate, stop) = (Arc::clone(&gate), stop_rx.clone());
        let (connected, transport, sample, progress, catch_up) = (
            connected_tx.clone(),
            args.transport,
            i < args.sample,
            progress.clone(),
            catch_up.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.expect("gate open");
            let (tx, mut rx) = mpsc::channel(1);
            let forward = connected.clone();
            tokio::spawn(async move {
                let ok = rx.recv().await.unwrap_or(false);
                drop(permit);
                let _ = forward.send(ok).await;
            });
            conn::run(
                transport, &target, source, sample, progress, catch_up, only, tx, stop,
            )
            .await
        }));
    }
    drop(connected_tx);
    let (mut ok, mut failed) = (0usize, 0usize);
    while ok + failed < args.connections {
        match tokio::time::timeout(Duration::from_secs(60), connected_rx.recv()).await {
            Ok(Some(true)) => ok += 1,
            Ok(Some(false)) => failed += 1,
            _ => break,
        }
    }
    report.connected = ok;
    report.connect_failed = failed;
    report.connects_per_sec = ok as f64 / started.elapsed().as_secs_f64();

    if storm_marks.is_none() {
        tokio::time::sleep(args.settle).await;
    }
    report.server_rss_idle_kib = args.server_pid.and_then(system::tree_rss_kib);
    report.sockstat_idle = system::sockstat();
    if let (Some(before), Some(idle)) = (report.server_rss_before_kib, report.server_rss_idle_kib) {
        report.server_kib_per_connection =
            (ok > 0).then(|| (idle as f64 - before as f64) / ok as f64);
    }

    let mut publish_secs = 0.0;
    let mut burst_start = None;
    let mut published_by_kind = None;
    if let (Some((cores_before, server_before)), Some(catch_up)) = (storm_marks, &catch_up) {
        let deadline = started + args.drain;
        while catch_up.reached.load(Ordering::Relaxed) < ok as u64 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        record_cpu(
            &mut report,
            &cores_before,
            server_before,
            args.server_pid,
            elapsed,
        );
        publishing.store(true, Ordering::Relaxed);
        if let Some(publisher) = storm_publisher.take() {
            report.published = tokio::task::spawn_blocking(move || publisher.join())
                .await?
                .map_err(|_| anyhow::anyhow!("the publisher thread panicked"))??;
        }
        if let Some(watch) = consumer_watch.take() {
            let (most, samples) = watch.await?;
            report.max_consumers = Some(most);
            report.consumer_samples = samples;
        }
    } else if let (Some(count), Some(progress)) = (args.burst, &progress) {
        let (nats, stream, server_pid) = (args.nats.clone(), args.stream.clone(), args.server_pid);
        // CPU readings start with the burst, not with the publisher's connection and warm-up.
        let mark = move || {
            (
                system::core_ticks(),
                server_pid.and_then(system::tree_cpu_ticks),
            )
        };
        let publisher = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(publish::burst(&nats, stream, count, mark))
        });
        let (published, start, (cores_before, server_before)) =
            tokio::task::spawn_blocking(move || publisher.join())
                .await?
                .map_err(|_| anyhow::anyhow!("the publisher thread panicked"))??;
        report.burst_events = count as u64;
        report.published = published;
        report.burst_publish_ms = Some(start.elapsed().as_secs_f64() * 1000.0);
        burst_start = Some(start);
        let everything = published * ok as u64;
        let deadline = Instant::now() + args.drain;
        while progress.load(Ordering::Relaxed) < everything && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let elapsed = start.elapsed().as_secs_f64();
        record_cpu(
            &mut report,
            &cores_before,
            server_before,
            args.server_pid,
            elapsed,
        );
    } else if args.rate > 0.0 {
        let cores_before = system::core_ticks();
        let server_before = args.server_pid.and_then(system::tree_cpu_ticks);
        let began = Instant::now();
        // The publisher runs on a thread and runtime of its own: on the connections' runtime it
        // would be delayed behind their work, and that delay would count as latency.
        let (nats, stream, rate, duration) = (
            args.nats.clone(),
            args.stream.clone(),
            args.rate,
            args.duration,
        );
        let publisher = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
                .block_on(publish::publish(&nats, stream, rate, duration))
        });
        let published = tokio::task::spawn_blocking(move || publisher.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the publisher thread panicked"))??;
        report.published = published.acked;
        published_by_kind = Some(published.by_kind);
        publish_secs = began.elapsed().as_secs_f64();
        tokio::time::sleep(args.drain).await;
        let elapsed = began.elapsed().as_secs_f64();
        record_cpu(
            &mut report,
            &cores_before,
            server_before,
            args.server_pid,
            elapsed,
        );
    }

    let _ = stop_tx.send(true);
    report.loadgen_rss_kib = system::rss_kib(std::process::id());
    let mut latency = new_histogram();
    let mut last_at: Option<Instant> = None;
    let (mut in_range, mut caught_up_at) = (0u64, None::<Instant>);
    // Filtered fan-out: (kind, events of that kind received) of each connected connection.
    let mut by_conn = Vec::new();
    for task in tasks {
        let result: ConnResult = task.await?;
        if let (true, Some(only)) = (result.connected, &result.only) {
            by_conn.push((only.kind, result.received - result.wrong_kind));
        }
        report.wrong_kind += result.wrong_kind;
        report.progress_markers += result.progress_markers;
        last_at = last_at.max(result.last_at);
        in_range += result.in_range;
        if result.caught_up_at.is_some() {
            report.caught_up += 1;
            caught_up_at = caught_up_at.max(result.caught_up_at);
        }
        report.received += result.received;
        report.out_of_order += result.out_of_order;
        report.closes += u64::from(result.close_code.is_some());
        if let Some(h) = &result.latency {
            latency.add(h).ok();
        }
        if let Some(e) = result.error {
            if report.errors.len() < 10 {
                report.errors.push(e);
            }
        }
    }
    if let Some(catch_up) = &catch_up {
        // What a storm owes: every event after the cursor up to the target, to each connection.
        report.expected = catch_up.owed() * ok as u64;
        report.lost = report.expected.saturating_sub(in_range);
        report.caught_up_ms =
            caught_up_at.map(|at| at.saturating_duration_since(started).as_secs_f64() * 1000.0);
        let secs = started.elapsed().as_secs_f64();
        report.deliveries_per_sec = report.received as f64 / secs;
    } else if !spread.is_empty() {
        // What each connection is owed: the events published of its kind.
        let published = published_by_kind.unwrap_or([0; Kind::COUNT]);
        report.filter_kinds = tally_kinds(&spread, &published, by_conn);
        report.expected = report.filter_kinds.iter().map(|t| t.expected).sum();
        report.lost = report.filter_kinds.iter().map(|t| t.lost).sum();
    } else {
        report.expected = report.published * ok as u64;
        report.lost = report.expected.saturating_sub(report.received);
    }
    if publish_secs > 0.0 {
        report.deliveries_per_sec = report.received as f64 / publish_secs;
    }
    if let (Some(start), Some(last)) = (burst_start, last_at) {
        let secs = last.saturating_duration_since(start).as_secs_f64();
        report.last_delivery_ms = Some(secs * 1000.0);
        if secs > 0.0 {
            report.deliveries_per_sec = report.received as f64 / secs;
        }
    }
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    report.latency = Latency {
        samples: latency.len(),
        p50_ms: ms(0.5),
        p90_ms: ms(0.9),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: latency.max() as f64 / 1000.0,
    };
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(report)
}

/// Both cores' busy share and the server's CPU (cores, and CPU seconds) since the marks taken
/// `elapsed` seconds ago.
fn record_cpu(
    report: &mut Report,
    cores_before: &[(u64, u64)],
    server_before: Option<u64>,
    server_pid: Option<u32>,
    elapsed: f64,
) {
    report.core_busy = system::core_busy(cores_before, &system::core_ticks());
    if let (Some(b), Some(a)) = (server_before, server_pid.and_then(system::tree_cpu_ticks)) {
        let secs = a.saturating_sub(b) as f64 / 100.0;
        report.server_cpu = Some(secs / elapsed);
        report.server_cpu_secs = Some(secs);
    }
}
