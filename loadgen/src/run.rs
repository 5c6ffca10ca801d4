//! One load run: open N connections (ramped, spread over several loopback source addresses),
//! measure the server's memory with them idle, optionally publish at a rate and measure
//! deliveries, latency, loss and order, then write a JSON report.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use adic_publisher::{NatsArgs, StreamSettings};
use serde::Serialize;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::conn::{self, Target, Transport};
use crate::stats::{new_histogram, ConnResult};
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
    /// Path and query to connect to; default by transport (`/v1/ws/events`, `/v1/sse/events`).
    #[arg(long)]
    pub path: Option<String>,
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
    /// How long to wait for deliveries after the last publish.
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

/// Latency percentiles in milliseconds.
#[derive(Debug, Default, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// What a run measured.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub label: String,
    pub transport: String,
    pub connections: usize,
    pub connected: usize,
    pub connect_failed: usize,
    pub connects_per_sec: f64,
    pub server_rss_before_kib: Option<u64>,
    pub server_rss_idle_kib: Option<u64>,
    /// (idle RSS - RSS before) / connections.
    pub server_kib_per_connection: Option<f64>,
    pub sockstat_idle: system::Sockstat,
    pub loadgen_rss_kib: Option<u64>,
    pub rate: f64,
    pub published: u64,
    pub received: u64,
    /// Published × connected, for runs where every connection takes every event.
    pub expected: u64,
    pub lost: u64,
    pub out_of_order: u64,
    pub deliveries_per_sec: f64,
    pub latency: Latency,
    /// Busy share of each core while publishing.
    pub core_busy: Vec<f64>,
    /// Server CPU while publishing, in cores.
    pub server_cpu: Option<f64>,
    pub closes: u64,
    pub errors: Vec<String>,
}

/// Runs the load and returns the report (also written to `--report`).
pub async fn run(args: RunArgs) -> anyhow::Result<Report> {
    let path = args.path.clone().unwrap_or_else(|| match args.transport {
        Transport::Ws => "/v1/ws/events".into(),
        Transport::Sse => "/v1/sse/events".into(),
    });
    let target = Arc::new(Target {
        server: args.server,
        path,
    });
    let mut report = Report {
        label: args.label.clone(),
        transport: format!("{:?}", args.transport).to_lowercase(),
        connections: args.connections,
        rate: args.rate,
        ..Report::default()
    };
    report.server_rss_before_kib = args.server_pid.and_then(system::rss_kib);

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
        let (target, gate, stop) = (Arc::clone(&target), Arc::clone(&gate), stop_rx.clone());
        let (connected, transport, sample) =
            (connected_tx.clone(), args.transport, i < args.sample);
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.expect("gate open");
            let (tx, mut rx) = mpsc::channel(1);
            let forward = connected.clone();
            tokio::spawn(async move {
                let ok = rx.recv().await.unwrap_or(false);
                drop(permit);
                let _ = forward.send(ok).await;
            });
            conn::run(transport, &target, source, sample, tx, stop).await
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

    tokio::time::sleep(args.settle).await;
    report.server_rss_idle_kib = args.server_pid.and_then(system::rss_kib);
    report.sockstat_idle = system::sockstat();
    if let (Some(before), Some(idle)) = (report.server_rss_before_kib, report.server_rss_idle_kib) {
        report.server_kib_per_connection =
            (ok > 0).then(|| (idle as f64 - before as f64) / ok as f64);
    }

    let mut publish_secs = 0.0;
    if args.rate > 0.0 {
        let cores_before = system::core_ticks();
        let server_before = args.server_pid.and_then(system::cpu_ticks);
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
        report.published = tokio::task::spawn_blocking(move || publisher.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the publisher thread panicked"))??;
        publish_secs = began.elapsed().as_secs_f64();
        tokio::time::sleep(args.drain).await;
        let elapsed = began.elapsed().as_secs_f64();
        report.core_busy = system::core_busy(&cores_before, &system::core_ticks());
        if let (Some(b), Some(a)) = (server_before, args.server_pid.and_then(system::cpu_ticks)) {
            report.server_cpu = Some((a - b) as f64 / 100.0 / elapsed);
        }
    }

    let _ = stop_tx.send(true);
    report.loadgen_rss_kib = system::rss_kib(std::process::id());
    let mut latency = new_histogram();
    for task in tasks {
        let result: ConnResult = task.await?;
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
    report.expected = report.published * ok as u64;
    report.lost = report.expected.saturating_sub(report.received);
    if publish_secs > 0.0 {
        report.deliveries_per_sec = report.received as f64 / publish_secs;
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
