//! Startup and shutdown: [`App::build`] binds the listener (port 0 works, and tests read the real
//! port), starts the live feed and the shared clock; [`App::run`] serves until a shutdown future
//! resolves, then drains with a deadline.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

use crate::broker::{Broker, LiveStart};
use crate::config::EdgeSettings;
use crate::queue::CloseReason;
use crate::state::Edge;
use crate::{feed, http, server};

/// Backlog for reconnect storms (tokio's default is 1024).
const LISTEN_BACKLOG: u32 = 65_535;
/// File descriptors kept for everything that is not a client connection.
const RESERVED_FDS: u64 = 128;

/// A built edge, bound and ready to run.
pub struct App {
    listener: TcpListener,
    /// `--metrics-listen`: metrics, health and readiness apart from the clients' port.
    ops_listener: Option<TcpListener>,
    tls: Option<Arc<crate::tls::Tls>>,
    edge: Arc<Edge>,
    _ticker: watch::Sender<Instant>,
}

impl App {
    /// Binds the listener, raises the open-files limit, and starts the live feed.
    pub async fn build(settings: EdgeSettings, broker: Arc<dyn Broker>) -> anyhow::Result<App> {
        settings.validate()?;
        let auth = crate::auth::Auth::build(&settings.auth).await?;
        let listener =
            bind(settings.listen).with_context(|| format!("listening on {}", settings.listen))?;
        let tls = match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => Some(Arc::new(crate::tls::Tls::load(cert, key)?)),
            (None, None) => None,
            _ => anyhow::bail!("--tls-cert and --tls-key go together"),
        };
        let ops_listener = match settings.metrics_listen {
            None => None,
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("--metrics-listen {addr}"))?,
            ),
        };
        let max_connections = connection_cap(settings.max_connections, raise_nofile_limit());
        let (ticker_tx, ticker_rx) = watch::channel(Instant::now());
        let edge =
            Arc::new(Edge::new(settings, broker, ticker_rx, max_connections).with_auth(auth));
        tokio::spawn(tick(ticker_tx.clone(), tick_period(&edge.settings)));
        if let Some(period) = edge.auth.as_ref().and_then(|a| a.keys().refresh_period()) {
            tokio::spawn(refresh_jwks(Arc::downgrade(&edge), period));
        }
        let live = edge
            .broker
            .live(LiveStart::Recent(edge.settings.ring_events as u64));
        tokio::spawn(feed::run(Arc::clone(&edge), live));
        tokio::spawn(sample_stream(Arc::downgrade(&edge)));
        if let Some(tls) = &tls {
            tokio::spawn(crate::tls::watch(Arc::downgrade(tls)));
        }
        Ok(App {
            listener,
            ops_listener,
            tls,
            edge,
            _ticker: ticker_tx,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// The address of the `--metrics-listen` listener, when there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.ops_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn edge(&self) -> Arc<Edge> {
        Arc::clone(&self.edge)
    }

    /// Serves until `shutdown` resolves, then drains: turns unready at once, refuses new
    /// clients (WebSocket 503; SSE 200 with a `retry:` hint), and closes the clients it has with
    /// "reconnect elsewhere" spread over the drain grace, so they resume on other edges without a
    /// reconnect spike. Returns once every client is gone or the grace has passed.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let edge = self.edge;
        let router = http::router(Arc::clone(&edge));
        let ops = self.ops_listener.map(|listener| {
            let router = http::ops_router(Arc::clone(&edge));
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::warn!(error = %e, "the metrics listener stopped");
                }
            })
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let counted = Arc::clone(&edge);
        let server = server::serve(
            self.listener,
            router,
            server::Limits {
                write_timeout: edge.settings.write_timeout,
                head_timeout: edge.settings.head_timeout,
                max_head: edge.settings.max_head_bytes,
            },
            Box::new(move |limit| counted.metrics.limits_hit.with_label_values(&[limit]).inc()),
            self.tls,
            async move {
                let _ = stopped.await;
            },
        );
        let mut server = tokio::spawn(server);
        tokio::select! {
            result = &mut server => {
                result.context("HTTP server task")?;
                anyhow::bail!("the HTTP server stopped");
            }
            () = shutdown => {}
        }
        tracing::info!(clients = edge.connections.open(), grace = ?edge.settings.drain_grace, "draining");
        drain(&edge).await;
        let _ = stop.send(());
        server.await.context("HTTP server task")?;
        if let Some(ops) = ops {
            ops.abort();
        }
        tracing::info!(left = edge.connections.open(), "stopped");
        Ok(())
    }
}

/// Closes every client, spread over 80 % of the drain grace (the rest lets the last ones go).
async fn drain(edge: &Edge) {
    edge.start_draining();
    let grace = edge.settings.drain_grace;
    let start = Instant::now();
    let clients = edge.hub.snapshot();
    let spread = grace.mul_f64(0.8);
    let count = clients.len().max(1);
    for (i, client) in clients.iter().enumerate() {
        let at = start + spread.mul_f64(i as f64 / count as f64);
        if at > Instant::now() + Duration::from_millis(5) {
            tokio::time::sleep_until(at.into()).await;
        }
        client.queue.close(CloseReason::Draining);
    }
    // Clients that joined the hub during the drain (they were catching up).
    edge.hub.close_all(CloseReason::Draining);
    let deadline = start + grace;
    while edge.connections.open() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Samples the stream's last sequence every 5 s, for the consumer-lag gauge.
async fn sample_stream(edge: std::sync::Weak<Edge>) {
    let mut every = tokio::time::interval(Duration::from_secs(5));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(edge) = edge.upgrade() else { return };
        if let Ok(identity) = edge.broker.identity().await {
            if identity.epoch == edge.feed.epoch() {
                edge.metrics
                    .stream_last_sequence
                    .set(i64::try_from(identity.last_seq).unwrap_or(i64::MAX));
            }
        }
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Raises the soft open-files limit to the hard one (whatever the connection cap: a cap above
/// the soft limit could never be reached otherwise) and returns the limit now in force.
fn raise_nofile_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024)
}

/// The connection cap: `requested`, or with 0 as many as `fd_limit` allows. A cap the limit
/// cannot hold is kept (the operator asked for it) and said at start.
fn connection_cap(requested: usize, fd_limit: u64) -> usize {
    let allowed =
        usize::try_from(fd_limit.saturating_sub(RESERVED_FDS).max(1)).unwrap_or(usize::MAX);
    match requested {
        0 => allowed,
        n => {
            if n > allowed {
                tracing::warn!(
                    max_connections = n,
                    open_files_limit = fd_limit,
                    "the open-files limit holds only {allowed} connections, fewer than \
                     --max-connections; raise the hard limit (ulimit -Hn, LimitNOFILE=, the \
                     container runtime's nofile) or lower the cap"
                );
            }
            n
        }
    }
}

/// The shared clock ticks a few times per shortest keep-alive period, and every second with
/// authentication on (connections end within a second of their token's expiry).
fn tick_period(settings: &EdgeSettings) -> Duration {
    let mut period = settings.sse_heartbeat.min(settings.ws_ping) / 3;
    if settings.auth.mode == crate::auth::AuthMode::Jwt {
        period = period.min(Duration::from_secs(1));
    }
    period.max(Duration::from_millis(100))
}

/// Fetches the JWKS again every `period`, for as long as the edge runs.
async fn refresh_jwks(edge: std::sync::Weak<Edge>, period: Duration) {
    let mut every = tokio::time::interval(period);
    every.tick().await;
    loop {
        every.tick().await;
        let Some(edge) = edge.upgrade() else { return };
        if let Some(auth) = &edge.auth {
            auth.keys().refresh_if_due().await;
        }
    }
}

async fn tick(tx: watch::Sender<Instant>, period: Duration) {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if tx.send(Instant::now()).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::connection_cap;

    #[test]
    fn the_cap_follows_the_limit_or_the_setting() {
        assert_eq!(connection_cap(0, 20_000), 20_000 - 128);
        assert_eq!(connection_cap(500, 20_000), 500);
        // Kept, and warned about: the operator's number wins.
        assert_eq!(connection_cap(50_000, 20_000), 50_000);
        assert_eq!(connection_cap(0, 10), 1);
    }
}
