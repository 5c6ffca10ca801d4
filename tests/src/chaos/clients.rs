//! The client side of the failure tests: a [`ResumingClient`] keeps one WebSocket, SSE or polling
//! session open through the load balancer, and whenever it ends, reconnects with the cursor it
//! has. Everything it sees goes into its [`ClientLog`] for the checks.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{numbered, Numbered, World};
use crate::clients::{SseClient, WsClient, WsItem};

/// What one resuming client saw.
#[derive(Debug, Default)]
pub struct ClientLog {
    pub received: Vec<Numbered>,
    /// Every event, numbered or not: (stream sequence, event type).
    pub events: Vec<(u64, String)>,
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
        ResumingClient::spawn_at(format!("127.0.0.1:{}", world.lb.port()), name, via)
    }

    /// A client of the edges behind `base` (`host:port`).
    pub fn spawn_at(base: String, name: &str, via: Via) -> ResumingClient {
        let log = Arc::new(Mutex::new(ClientLog::default()));
        let (stop, stopped) = watch::channel(false);
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

    /// How many events of any kind this client has received.
    pub fn events(&self) -> usize {
        self.log.lock().unwrap().events.len()
    }

    /// The stream sequence of the last event of any kind this client has.
    pub fn last_event_seq(&self) -> u64 {
        self.log.lock().unwrap().events.last().map_or(0, |e| e.0)
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
        // Backoff between reconnect attempts: time itself, so a refused client does not spin.
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
    if let Some(seq) = id.rsplit('-').next().and_then(|s| s.parse().ok()) {
        let kind = event["type"].as_str().unwrap_or_default().to_owned();
        log.events.push((seq, kind));
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
                        // The stall is the scenario: this client stops reading for `d` while
                        // the edge keeps sending, so time itself is what fills its queue.
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
