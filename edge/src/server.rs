//! The HTTP server: one accept loop in front of the router.
//!
//! SSE requests (`GET /v1/sse/events`) are served straight on the socket: the request head is
//! read and parsed once, the router answers it as any request (CORS, validation, errors), and the
//! response streams to the socket as chunks. A general HTTP connection keeps read and write
//! buffers for its whole life (about 30 KiB per SSE client under hyper); an SSE stream needs
//! neither once its request is read. Every other request (WebSocket upgrades, polling, health,
//! metrics, the dashboard) goes to hyper, HTTP/1.1 or HTTP/2.

use std::future::Future;
use std::io::IoSlice;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, Response, Version};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// The request line that is served on the socket.
const SSE_PREFIX: &[u8] = b"GET /v1/sse/events";
/// Largest SSE request head accepted (a browser's is well under 2 KiB).
const MAX_HEAD: usize = 16 * 1024;
/// Socket-level limits of the server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A write to a client slower than this closes the connection; also the socket's
    /// `TCP_USER_TIMEOUT`.
    pub write_timeout: Duration,
    /// Time a connection has to send its whole request head.
    pub head_timeout: Duration,
}

/// Serves `router` on `listener` until `stop` resolves; then stops accepting, ends connections
/// that have not sent a whole request head, asks the others to finish the request in flight,
/// and returns once every connection has ended, or `head_timeout` after `stop` at the latest
/// (a connection still open then is dropped with the runtime). Each accepted socket gets
/// `TCP_USER_TIMEOUT` = `write_timeout`: a peer that stops acknowledging data for that long is
/// dropped, even one that cannot take a close notice.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    // Dropped to tell connections to finish; every connection holds a receiver, so
    // `closed()` on the sender resolves once all have ended.
    let (signal_tx, signal_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    let shared = Arc::new(Shared { router, limits });
    tokio::pin!(stop);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let _ = socket2::SockRef::from(&stream).set_tcp_user_timeout(Some(limits.write_timeout));
        let shared = Arc::clone(&shared);
        let signal = signal_rx.clone();
        let done = done_rx.clone();
        tokio::spawn(async move {
            connection(stream, shared, signal).await;
            drop(done);
        });
    }
    drop(listener);
    drop(signal_tx);
    drop(done_rx);
    if tokio::time::timeout(limits.head_timeout, done_tx.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = done_tx.receiver_count(),
            "connections still open after the drain; dropping them"
        );
    }
}

struct Shared {
    router: Router,
    limits: Limits,
}

async fn connection(stream: TcpStream, shared: Arc<Shared>, mut signal: watch::Receiver<()>) {
    // Until its head has arrived a connection is nobody's client: it gets `head_timeout`, and
    // none at all once the server stops.
    let deadline = tokio::time::Instant::now() + shared.limits.head_timeout;
    let sse = tokio::select! {
        sse = tokio::time::timeout_at(deadline, is_sse(&stream)) => match sse {
            Ok(sse) => sse,
            Err(_) => return,
        },
        _ = signal.changed() => return,
    };
    if sse {
        self::sse(stream, &shared, deadline, signal).await;
        return;
    }
    // Requests of this connection being answered: a request counts once its whole head has
    // arrived, until its response is ready.
    let in_flight = Arc::new(AtomicUsize::new(0));
    let router = shared.router.clone();
    let counter = Arc::clone(&in_flight);
    let service = TowerToHyperService::new(tower::service_fn(move |request: Request<_>| {
        let answer = router.clone().oneshot(request);
        let guard = InFlight::enter(&counter);
        async move {
            let response = answer.await;
            drop(guard);
            response
        }
    }));
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.head_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol();
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::trace!(error = %e, "connection ended with an error");
            }
            return;
        }
        _ = signal.changed() => {}
    }
    // The server is stopping. A connection between requests, or still sending a head, is
    // closed now; one with a request being answered finishes it, then closes.
    if in_flight.load(Ordering::Acquire) == 0 {
        return;
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

/// Counts a request as being answered while it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(counter: &Arc<AtomicUsize>) -> InFlight {
        counter.fetch_add(1, Ordering::AcqRel);
        InFlight(Arc::clone(counter))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Whether the request waiting on `stream` is an SSE request, judged from its first bytes
/// without consuming them.
async fn is_sse(stream: &TcpStream) -> bool {
    let mut first = [0u8; SSE_PREFIX.len() + 1];
    for _ in 0..50 {
        if stream.readable().await.is_err() {
            return false;
        }
        let n = match stream.peek(&mut first).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        if n == first.len() {
            return first.starts_with(SSE_PREFIX) && matches!(first[SSE_PREFIX.len()], b' ' | b'?');
        }
        if !SSE_PREFIX.starts_with(&first[..n]) {
            return false;
        }
        // The request line arrived in pieces; wait for the rest.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

/// Reads one SSE request (by `deadline`, and not past the server's stop), lets the router answer
/// it, and streams the answer to the socket. A stream in progress is ended by the drain, which
/// closes its client's queue.
async fn sse(
    mut stream: TcpStream,
    shared: &Shared,
    deadline: tokio::time::Instant,
    mut signal: watch::Receiver<()>,
) {
    let head = tokio::select! {
        head = tokio::time::timeout_at(deadline, read_request(&mut stream)) => head,
        _ = signal.changed() => return,
    };
    let request = match head {
        Ok(Ok(request)) => request,
        Ok(Err(message)) => {
            let body = crate::error::ApiError::bad_request(message).body();
            let head = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
            return;
        }
        Err(_) => return,
    };
    let http10 = request.version() == Version::HTTP_10;
    let response: Response<Body> = match shared.router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let _ = respond(&mut stream, response, http10, shared.limits.write_timeout).await;
}

/// Reads and parses the request head.
async fn read_request(stream: &mut TcpStream) -> Result<Request<Body>, String> {
    let mut buf = Vec::with_capacity(1024);
    loop {
        let mut chunk = [0u8; 1024];
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("reading the request: {e}"))?;
        if n == 0 {
            return Err("connection closed before the request head ended".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => return to_request(&parsed),
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => continue,
            Ok(httparse::Status::Partial) => {
                return Err(format!("request head larger than {MAX_HEAD} bytes"))
            }
            Err(e) => return Err(format!("malformed HTTP request: {e}")),
        }
    }
}

fn to_request(parsed: &httparse::Request<'_, '_>) -> Result<Request<Body>, String> {
    let mut request = Request::builder()
        .method(parsed.method.unwrap_or("GET"))
        .uri(parsed.path.unwrap_or("/"))
        .version(match parsed.version {
            Some(0) => Version::HTTP_10,
            _ => Version::HTTP_11,
        });
    for h in parsed.headers.iter() {
        request = request.header(h.name, h.value);
    }
    request
        .body(Body::empty())
        .map_err(|e| format!("malformed HTTP request: {e}"))
}

/// Writes the head, then the body: with its length when it is known, else as chunks (HTTP/1.0:
/// until the connection closes). A client that leaves is noticed by reading.
async fn respond(
    stream: &mut TcpStream,
    response: Response<Body>,
    http10: bool,
    write_timeout: Duration,
) -> std::io::Result<()> {
    let (parts, body) = response.into_parts();
    let length = http_body::Body::size_hint(&body).exact();
    let chunked = length.is_none() && !http10;
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        parts.status.as_u16(),
        parts.status.canonical_reason().unwrap_or("")
    )
    .into_bytes();
    for (name, value) in &parts.headers {
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    match length {
        Some(n) => head.extend_from_slice(format!("content-length: {n}\r\n").as_bytes()),
        None if chunked => head.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        None => {}
    }
    head.extend_from_slice(b"connection: close\r\n\r\n");
    write_all(stream, &[&head], write_timeout).await?;
    drop(head);

    let mut body = body.into_data_stream();
    let (mut reader, mut writer) = stream.split();
    loop {
        let mut sink = [0u8; 64];
        let chunk = tokio::select! {
            chunk = futures::StreamExt::next(&mut body) => chunk,
            read = reader.read(&mut sink) => match read {
                // The client left (or sent something it should not have: an SSE request has
                // no body, and a pipelined request is not served on a stream).
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => continue,
            },
        };
        let Some(Ok(chunk)) = chunk else { break };
        if chunk.is_empty() {
            continue;
        }
        if chunked {
            let size = format!("{:x}\r\n", chunk.len());
            write_all(
                &mut writer,
                &[size.as_bytes(), &chunk, b"\r\n"],
                write_timeout,
            )
            .await?;
        } else {
            write_all(&mut writer, &[&chunk], write_timeout).await?;
        }
    }
    if chunked {
        write_all(&mut writer, &[b"0\r\n\r\n"], write_timeout).await?;
    }
    let _ = writer.shutdown().await;
    Ok(())
}

/// Writes every part, in order, with vectored writes, within `timeout`.
async fn write_all<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    parts: &[&[u8]],
    timeout: Duration,
) -> std::io::Result<()> {
    let write = async {
        let (mut index, mut offset) = (0, 0);
        while index < parts.len() {
            let mut slices = Vec::with_capacity(parts.len() - index);
            slices.push(IoSlice::new(&parts[index][offset..]));
            slices.extend(parts[index + 1..].iter().map(|p| IoSlice::new(p)));
            let mut written = writer.write_vectored(&slices).await?;
            if written == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            while written > 0 && index < parts.len() {
                let left = parts[index].len() - offset;
                if written >= left {
                    written -= left;
                    index += 1;
                    offset = 0;
                } else {
                    offset += written;
                    written = 0;
                }
            }
            while index < parts.len() && parts[index].len() == offset {
                index += 1;
                offset = 0;
            }
        }
        Ok(())
    };
    tokio::time::timeout(timeout, write)
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}
