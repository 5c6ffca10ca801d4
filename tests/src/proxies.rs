//! Small HTTP intermediaries over real sockets, for client tests: a forward proxy
//! ([`ForwardProxy`]: `CONNECT` tunnels and absolute-form requests, as `HTTP_PROXY` names one)
//! and a relay in front of one edge that records every request head it passes on
//! ([`RecordingRelay`], to see which headers a client sent). Both count what they did and can cut
//! every open connection at once.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Request heads larger than this are refused.
const MAX_HEAD: usize = 32 << 10;

/// What an intermediary has seen, shared with its connection tasks.
#[derive(Debug, Default)]
struct Seen {
    heads: Mutex<Vec<String>>,
    tunnels: AtomicU64,
    forwarded: AtomicU64,
    connections: AtomicU64,
}

/// The common part: a listener task, its counters, and a signal that cuts open connections.
struct Server {
    addr: SocketAddr,
    seen: Arc<Seen>,
    cut: watch::Sender<u64>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start<F, Fut>(handle: F) -> anyhow::Result<Server>
    where
        F: Fn(TcpStream, Arc<Seen>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let seen = Arc::new(Seen::default());
        let (cut, _) = watch::channel(0u64);
        let task = {
            let (seen, cut) = (Arc::clone(&seen), cut.clone());
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    seen.connections.fetch_add(1, Ordering::SeqCst);
                    let mut cut = cut.subscribe();
                    let work = handle(socket, Arc::clone(&seen));
                    tokio::spawn(async move {
                        tokio::select! {
                            result = work => if let Err(e) = result {
                                tracing::debug!("intermediary connection ended: {e:#}");
                            },
                            _ = cut.changed() => {}
                        }
                    });
                }
            })
        };
        Ok(Server {
            addr,
            seen,
            cut,
            task,
        })
    }

    fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.cut();
        self.task.abort();
    }
}

/// The value of header `name` in a request head, if present.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A forward HTTP proxy: `CONNECT host:port` opens a tunnel (counted in
/// [`tunnels`](ForwardProxy::tunnels)); an absolute-form request (`GET http://host:port/path`) is
/// passed on in origin form with `Connection: close`, one per connection (counted in
/// [`forwarded`](ForwardProxy::forwarded)).
pub struct ForwardProxy(Server);

impl ForwardProxy {
    pub async fn start() -> anyhow::Result<ForwardProxy> {
        Server::start(|mut socket, seen| async move {
            let Some(head) = read_head(&mut socket).await? else {
                return Ok(());
            };
            seen.heads.lock().unwrap().push(head.clone());
            let request_line = head.lines().next().unwrap_or_default().to_owned();
            let mut parts = request_line.split_whitespace();
            let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            if method == "CONNECT" {
                let mut upstream = match TcpStream::connect(target).await {
                    Ok(upstream) => upstream,
                    Err(e) => {
                        socket
                            .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                            .await?;
                        return Err(e).context(format!("connecting to {target}"));
                    }
                };
                seen.tunnels.fetch_add(1, Ordering::SeqCst);
                socket
                    .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    .await?;
                tokio::io::copy_bidirectional(&mut socket, &mut upstream).await?;
                return Ok(());
            }
            let Some(rest) = target.strip_prefix("http://") else {
                socket
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    .await?;
                anyhow::bail!("not a proxy request: {request_line}");
            };
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let mut upstream = TcpStream::connect(authority)
                .await
                .with_context(|| format!("connecting to {authority}"))?;
            let mut out = format!("{method} /{path} HTTP/1.1\r\n");
            for line in head.lines().skip(1).filter(|l| !l.is_empty()) {
                let name = line.split(':').next().unwrap_or_default().trim();
                if ![
                    "connection",
                    "proxy-connection",
                    "proxy-authorization",
                    "keep-alive",
                ]
                .iter()
                .any(|h| name.eq_ignore_ascii_case(h))
                {
                    out.push_str(line);
                    out.push_str("\r\n");
                }
            }
            out.push_str("Connection: close\r\n\r\n");
            upstream.write_all(out.as_bytes()).await?;
            seen.forwarded.fetch_add(1, Ordering::SeqCst);
            tokio::io::copy_bidirectional(&mut socket, &mut upstream).await?;
            Ok(())
        })
        .await
        .map(ForwardProxy)
    }

    /// `http://127.0.0.1:<port>`, for `HTTP_PROXY`.
    pub fn url(&self) -> String {
        format!("http://{}", self.0.addr)
    }

    /// `CONNECT` tunnels opened.
    pub fn tunnels(&self) -> u64 {
        self.0.seen.tunnels.load(Ordering::SeqCst)
    }

    /// Absolute-form requests passed on.
    pub fn forwarded(&self) -> u64 {
        self.0.seen.forwarded.load(Ordering::SeqCst)
    }

    /// Every request head received (`CONNECT` heads and forwarded requests).
    pub fn heads(&self) -> Vec<String> {
        self.0.seen.heads.lock().unwrap().clone()
    }

    /// Closes every open connection (tunnels included).
    pub fn cut(&self) {
        self.0.cut();
    }
}

/// A relay in front of one upstream (an edge): every request head on every connection is
/// recorded and passed on unchanged; after a WebSocket upgrade request the bytes flow through
/// untouched.
pub struct RecordingRelay(Server);

impl RecordingRelay {
    pub async fn start(upstream: SocketAddr) -> anyhow::Result<RecordingRelay> {
        Server::start(move |mut socket, seen| async move {
            let mut edge = TcpStream::connect(upstream).await?;
            let (mut edge_read, mut edge_write) = edge.split();
            let (mut client_read, mut client_write) = socket.split();
            let requests = async {
                loop {
                    let Some(head) = read_head(&mut client_read).await? else {
                        return anyhow::Ok(());
                    };
                    seen.heads.lock().unwrap().push(head.clone());
                    seen.forwarded.fetch_add(1, Ordering::SeqCst);
                    edge_write.write_all(head.as_bytes()).await?;
                    // Clients here send GETs without bodies; after an upgrade request the rest
                    // of the connection is WebSocket frames.
                    if header(&head, "upgrade").is_some() {
                        tokio::io::copy(&mut client_read, &mut edge_write).await?;
                        return Ok(());
                    }
                }
            };
            let responses = tokio::io::copy(&mut edge_read, &mut client_write);
            tokio::select! {
                r = requests => r?,
                r = responses => { r?; }
            }
            Ok(())
        })
        .await
        .map(RecordingRelay)
    }

    /// `http://127.0.0.1:<port>`: the edge as seen through the relay.
    pub fn url(&self) -> String {
        format!("http://{}", self.0.addr)
    }

    /// Every request head passed on, in order.
    pub fn heads(&self) -> Vec<String> {
        self.0.seen.heads.lock().unwrap().clone()
    }

    /// Connections accepted.
    pub fn connections(&self) -> u64 {
        self.0.seen.connections.load(Ordering::SeqCst)
    }

    /// Closes every open connection.
    pub fn cut(&self) {
        self.0.cut();
    }
}

/// Reads one request head (through the blank line) without reading past it; `None` at a clean
/// end of the connection.
async fn read_head(
    reader: &mut (impl tokio::io::AsyncRead + Unpin),
) -> anyhow::Result<Option<String>> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        anyhow::ensure!(head.len() < MAX_HEAD, "request head too long");
        let mut byte = [0u8; 1];
        if reader.read(&mut byte).await? == 0 {
            anyhow::ensure!(head.is_empty(), "connection ended inside a request head");
            return Ok(None);
        }
        head.push(byte[0]);
    }
    Ok(Some(String::from_utf8_lossy(&head).into_owned()))
}
