//! A stand-in for an existing ADIC node (adic-core), written from shared/CONTRACT.md: it serves
//! `GET /v1/ws/events` and `GET /v1/sse/events` as the old node does — events wrapped as
//! `{"type":"Event","event":…}` or as `event: <dotted name>` + `data: <json>` frames, no ids,
//! the `events` and `priority` filters, `Ping`/`Pong`, `Subscribe`/`Unsubscribe`, a `: heartbeat`
//! comment after a quiet interval — and no history: a client gets what is emitted while it is
//! connected. Tests can also make it send bad frames, go silent, stop and start again on the
//! same port.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use adic_protocol::{Kind, Priority};
use anyhow::Context;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{broadcast, watch};

use crate::wait_until;

/// What the node sends its clients.
#[derive(Clone, Debug)]
pub enum NodeFrame {
    /// An event, with the dotted name the SSE `event:` line carries (from the catalog for a
    /// known kind; given for another).
    Event { event: Value, name: String },
    /// A text frame sent as is on WebSocket connections (SSE clients do not get it).
    WsText(String),
    /// A binary frame on WebSocket connections.
    WsBinary(Vec<u8>),
    /// Bytes written as is into SSE streams (WebSocket clients do not get it).
    SseRaw(String),
}

#[derive(Clone)]
struct Shared {
    frames: broadcast::Sender<NodeFrame>,
    clients: Arc<AtomicUsize>,
    silent: Arc<AtomicBool>,
    heartbeat: Duration,
    stop: watch::Receiver<bool>,
}

/// The running node.
pub struct TestNode {
    addr: SocketAddr,
    frames: broadcast::Sender<NodeFrame>,
    clients: Arc<AtomicUsize>,
    silent: Arc<AtomicBool>,
    heartbeat: Duration,
    stop: Option<watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestNode {
    /// Starts on a free port with a heartbeat every `heartbeat` of quiet on SSE.
    pub async fn start(heartbeat: Duration) -> anyhow::Result<TestNode> {
        let mut node = TestNode {
            addr: "127.0.0.1:0".parse()?,
            frames: broadcast::channel(65_536).0,
            clients: Arc::default(),
            silent: Arc::default(),
            heartbeat,
            stop: None,
            task: None,
        };
        node.serve().await?;
        Ok(node)
    }

    async fn serve(&mut self) -> anyhow::Result<()> {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .with_context(|| format!("binding {}", self.addr))?;
        self.addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let shared = Shared {
            frames: self.frames.clone(),
            clients: Arc::clone(&self.clients),
            silent: Arc::clone(&self.silent),
            heartbeat: self.heartbeat,
            stop: stopped.clone(),
        };
        let app = Router::new()
            .route("/v1/ws/events", get(ws))
            .route("/v1/sse/events", get(sse))
            .with_state(shared);
        let mut until = stopped;
        self.task = Some(tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = until.wait_for(|s| *s).await;
                })
                .await;
        }));
        self.stop = Some(stop);
        Ok(())
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/v1/ws/events", self.addr)
    }

    pub fn sse_url(&self) -> String {
        format!("http://{}/v1/sse/events", self.addr)
    }

    /// A handle that sends frames to every connected client, for a task of the test's.
    pub fn sender(&self) -> broadcast::Sender<NodeFrame> {
        self.frames.clone()
    }

    /// Sends a frame to every connected client; returns how many got it.
    pub fn send(&self, frame: NodeFrame) -> usize {
        self.frames.send(frame).unwrap_or(0)
    }

    /// Emits an event (its catalog name, or `unknown.kind` for a variant the catalog lacks).
    pub fn emit(&self, event: &Value) -> usize {
        let name = event["type"]
            .as_str()
            .and_then(Kind::from_variant)
            .map_or("unknown.kind", Kind::name)
            .to_owned();
        self.send(NodeFrame::Event {
            event: event.clone(),
            name,
        })
    }

    /// Clients connected right now.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::SeqCst)
    }

    /// Waits until `n` clients are connected.
    pub async fn wait_clients(&self, n: usize) -> anyhow::Result<()> {
        wait_until(
            Duration::from_secs(20),
            || async move { self.clients() == n },
        )
        .await
        .with_context(|| format!("{} clients connected, not {n}", self.clients()))
    }

    /// A silent node sends nothing (no events, heartbeats or pongs) and reads nothing.
    pub fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::SeqCst);
    }

    /// Stops serving and closes every connection.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        let _ = wait_until(Duration::from_secs(10), || async { self.clients() == 0 }).await;
    }

    /// Serves again on the same port.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.stop.is_none(), "still running");
        self.serve().await
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
    }
}

/// Counts a connection while it lives.
struct Connected(Arc<AtomicUsize>);

impl Connected {
    fn new(clients: &Arc<AtomicUsize>) -> Connected {
        clients.fetch_add(1, Ordering::SeqCst);
        Connected(Arc::clone(clients))
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(serde::Deserialize)]
struct Filters {
    events: Option<String>,
    priority: Option<String>,
}

/// The contract's filters: `events` absent or containing `all` is everything, present but
/// empty is nothing, else names (dotted or variant); `priority` ANDed.
struct Filter {
    names: Option<HashSet<String>>,
    priority: Option<Priority>,
}

impl Filter {
    fn from(filters: &Filters) -> Filter {
        let names = filters.events.as_ref().and_then(|list| {
            let names: HashSet<String> = list
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            (!names.contains("all")).then_some(names)
        });
        let priority = filters
            .priority
            .as_deref()
            .and_then(|p| Priority::parse(&p.to_ascii_lowercase()));
        Filter { names, priority }
    }

    fn wants(&self, event: &Value, name: &str) -> bool {
        let variant = event["type"].as_str().unwrap_or_default();
        let kind = Kind::from_variant(variant);
        let by_name = self
            .names
            .as_ref()
            .is_none_or(|n| n.contains(name) || n.contains(variant));
        let by_priority = self
            .priority
            .is_none_or(|p| kind.is_some_and(|k| k.priority() == p));
        by_name && by_priority
    }
}

async fn ws(
    State(shared): State<Shared>,
    Query(filters): Query<Filters>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let filter = Filter::from(&filters);
    upgrade.on_upgrade(move |socket| ws_session(socket, shared, filter))
}

async fn ws_session(socket: WebSocket, shared: Shared, filter: Filter) {
    let _connected = Connected::new(&shared.clients);
    let mut frames = shared.frames.subscribe();
    let mut stop = shared.stop.clone();
    let (mut tx, mut rx) = socket.split();
    loop {
        let out = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            frame = frames.recv() => match frame {
                Ok(NodeFrame::Event { event, name }) if filter.wants(&event, &name) => {
                    Message::text(json!({"type": "Event", "event": event}).to_string())
                }
                Ok(NodeFrame::WsText(text)) => Message::text(text),
                Ok(NodeFrame::WsBinary(bytes)) => Message::binary(bytes),
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            message = rx.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    if shared.silent.load(Ordering::SeqCst) {
                        continue;
                    }
                    let value: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                    match value["type"].as_str() {
                        Some("Ping") => Message::text(r#"{"type":"Pong"}"#),
                        Some(t @ ("Subscribe" | "Unsubscribe")) => Message::text(
                            json!({"type": format!("{t}d"), "events": value["events"]}).to_string(),
                        ),
                        _ => continue,
                    }
                }
                Some(Ok(_)) => continue,
                _ => return,
            },
        };
        if shared.silent.load(Ordering::SeqCst) {
            continue;
        }
        if tx.send(out).await.is_err() {
            return;
        }
    }
}

async fn sse(State(shared): State<Shared>, Query(filters): Query<Filters>) -> Response {
    let filter = Filter::from(&filters);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(1024);
    tokio::spawn(async move {
        let _connected = Connected::new(&shared.clients);
        let mut frames = shared.frames.subscribe();
        let mut stop = shared.stop.clone();
        loop {
            let text = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                () = tokio::time::sleep(shared.heartbeat) => ": heartbeat\n\n".to_owned(),
                frame = frames.recv() => match frame {
                    Ok(NodeFrame::Event { event, name }) if filter.wants(&event, &name) => {
                        format!("event: {name}\ndata: {event}\n\n")
                    }
                    Ok(NodeFrame::SseRaw(text)) => text,
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            if shared.silent.load(Ordering::SeqCst) {
                continue;
            }
            if tx.send(Ok(text)).await.is_err() {
                return;
            }
        }
    });
    let body = axum::body::Body::from_stream(tokio_stream_of(rx));
    (
        [
            ("content-type", "text/event-stream"),
            ("cache-control", "no-cache"),
        ],
        body,
    )
        .into_response()
}

fn tokio_stream_of(
    mut rx: tokio::sync::mpsc::Receiver<Result<String, std::io::Error>>,
) -> impl futures::Stream<Item = Result<String, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
