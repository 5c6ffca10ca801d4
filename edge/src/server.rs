//! The HTTP server: one accept loop in front of the router.
//!
//! Each connection's first request head is read and parsed once
//! ([`transport::sse::socket`](crate::transport::sse::socket)): an SSE request is served straight
//! on the socket; every other request (WebSocket upgrades, polling, health, metrics, the
//! dashboard) goes to hyper, HTTP/1.1 or HTTP/2, with the bytes already read replayed.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::Request;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

use crate::client_addr::PeerAddr;
use crate::tls::{Conn, Tls};
use crate::transport::sse::socket::{self, Head, Replay};
/// Socket-level limits of the server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A write to a client slower than this closes the connection; also the socket's
    /// `TCP_USER_TIMEOUT`.
    pub write_timeout: Duration,
    /// Time a connection has to send its whole request head.
    pub head_timeout: Duration,
    /// Largest request head.
    pub max_head: usize,
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
    on_limit: Box<dyn Fn(&'static str) + Send + Sync>,
    tls: Option<Arc<Tls>>,
    stop: impl Future<Output = ()>,
) {
    // Dropped to tell connections to finish; every connection holds a receiver, so
    // `closed()` on the sender resolves once all have ended.
    let (signal_tx, signal_rx) = watch::channel(());
    let (done_tx, done_rx) = watch::channel(());
    let shared = Arc::new(Shared {
        router,
        limits,
        tls,
        on_limit,
    });
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
    tls: Option<Arc<Tls>>,
    /// Counts a limit that was hit.
    on_limit: Box<dyn Fn(&'static str) + Send + Sync>,
}

async fn connection(stream: TcpStream, shared: Arc<Shared>, mut signal: watch::Receiver<()>) {
    let peer = stream.peer_addr().ok().map(PeerAddr);
    // Until its head has arrived a connection is nobody's client: it gets `head_timeout` (TLS
    // handshake included), and none at all once the server stops.
    let deadline = tokio::time::Instant::now() + shared.limits.head_timeout;
    let mut stream = match &shared.tls {
        None => Conn::Plain(stream),
        Some(tls) => tokio::select! {
            accepted = tokio::time::timeout_at(deadline, tls.accept(stream)) => match accepted {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            },
            _ = signal.changed() => return,
        },
    };
    let head = if stream.is_h2() {
        // HTTP/2 by ALPN: no HTTP/1 head to read; hyper speaks it.
        Head::Other(Vec::new())
    } else {
        tokio::select! {
        head = tokio::time::timeout_at(deadline, socket::read_head(&mut stream, shared.limits.max_head)) => match head {
            Ok(head) => head,
            Err(_) => return,
        },
        _ = signal.changed() => return,
        }
    };
    let read = match head {
        Head::Sse(mut request) => {
            if let Some(peer) = peer {
                request.extensions_mut().insert(peer);
            }
            // A stream in progress is ended by the drain, which closes its client's queue.
            socket::serve(
                stream,
                shared.router.clone(),
                *request,
                shared.limits.write_timeout,
            )
            .await;
            return;
        }
        Head::Other(read) => read,
        Head::TooLarge => {
            (shared.on_limit)("head_size");
            socket::refuse(
                stream,
                axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!(
                    "request head over {} bytes (--max-head-bytes)",
                    shared.limits.max_head
                ),
                shared.limits.write_timeout,
            )
            .await;
            return;
        }
        Head::Malformed(message) => {
            socket::refuse_malformed(stream, message, shared.limits.write_timeout).await;
            return;
        }
        Head::Closed => return,
    };
    // Requests of this connection being answered: a request counts once its whole head has
    // arrived, until its response is ready.
    let in_flight = Arc::new(AtomicUsize::new(0));
    let router = shared.router.clone();
    let counter = Arc::clone(&in_flight);
    let service = TowerToHyperService::new(tower::service_fn(move |mut request: Request<_>| {
        if let Some(peer) = peer {
            request.extensions_mut().insert(peer);
        }
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
        .header_read_timeout(shared.limits.head_timeout)
        .max_buf_size(shared.limits.max_head);
    // No extended CONNECT: WebSockets over HTTP/2 are not served, so they are not announced
    // (a browser told they work would try them instead of HTTP/1.1).
    builder.http2().timer(TokioTimer::new());
    let conn =
        builder.serve_connection_with_upgrades(TokioIo::new(Replay::new(read, stream)), service);
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
