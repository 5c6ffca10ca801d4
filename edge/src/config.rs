//! Configuration: one typed struct per command, every flag also an environment variable.
//!
//! The edge's own settings are `ADIC_EDGE_*`; the NATS connection and the stream use the names
//! shared by every binary of the tier (`NATS_URL`, `NATS_CREDS`, `ADIC_STREAM`, …).

use std::net::SocketAddr;
use std::time::Duration;

use adic_publisher::{NatsArgs, StreamSettings};
use clap::{Parser, Subcommand};

use crate::auth::{AuthMode, AuthSettings};

/// The ADIC streaming edge.
#[derive(Debug, Parser)]
#[command(name = "adic-edge", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve clients from the NATS JetStream event stream (production).
    Serve(Box<ServeArgs>),
    /// One process for one machine: the edge on an in-memory stream fed by a simulated node,
    /// with the live dashboard. No NATS needed.
    Demo(Box<DemoArgs>),
    /// Exit 0 when an HTTP endpoint of the tier answers 2xx, else 1 with the reason: a
    /// healthcheck for images without curl (`adic-edge probe`, `adic-edge probe /readyz`).
    Probe(ProbeArgs),
    /// Wait for a while, then exit 0: a Kubernetes preStop hook that lets endpoints drop the pod
    /// before the drain starts, in an image that need not have `sleep`.
    Pause {
        /// How long, e.g. 5s.
        #[arg(value_parser = humantime::parse_duration)]
        duration: Duration,
    },
}

#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// A full `http://` URL, or a path on the local edge at the port `ADIC_EDGE_METRICS_LISTEN`
    /// (plain HTTP even when the client port serves TLS), else `ADIC_EDGE_LISTEN` (default 9121).
    #[arg(default_value = "/healthz")]
    pub target: String,
    /// How long the answer may take.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "ADIC_EDGE_LISTEN", default_value = "0.0.0.0:9121")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub stream: StreamSettings,
    #[command(flatten)]
    pub edge: EdgeSettings,
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Address to listen on.
    #[arg(long, env = "ADIC_EDGE_LISTEN", default_value = "127.0.0.1:9121")]
    pub listen: SocketAddr,
    /// Time factor of the simulated node: 2 runs it twice as fast.
    #[arg(long, env = "ADIC_EDGE_DEMO_SPEED", default_value_t = 1.0)]
    pub speed: f64,
    /// Seed of the simulated node's choices.
    #[arg(long, env = "ADIC_EDGE_DEMO_SEED")]
    pub seed: Option<u64>,
    /// Events the in-memory stream keeps.
    #[arg(long, env = "ADIC_EDGE_DEMO_CAPACITY", default_value_t = 100_000)]
    pub capacity: usize,
    #[command(flatten)]
    pub edge: EdgeSettings,
}

/// Settings of the edge's HTTP side.
#[derive(Clone, Debug, clap::Args)]
pub struct EdgeSettings {
    /// Set from the command's `--listen`.
    #[arg(skip = SocketAddr::from(([127, 0, 0, 1], 0)))]
    pub listen: SocketAddr,
    /// Most open client connections (WebSocket + SSE); 0: as many as the open-files limit allows.
    #[arg(long, env = "ADIC_EDGE_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: usize,
    /// Most open connections from one client address; 0: no limit. Behind a proxy, set
    /// --trusted-proxies so the address is the client's, not the proxy's.
    #[arg(long, env = "ADIC_EDGE_MAX_CONNECTIONS_PER_IP", default_value_t = 0)]
    pub max_connections_per_ip: usize,
    /// Proxies whose `X-Forwarded-For` names the client (IP addresses or CIDR ranges,
    /// comma-separated); from any other peer the header is ignored.
    #[arg(long, env = "ADIC_EDGE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// Largest request head (request line, query and headers) a client may send.
    #[arg(long, env = "ADIC_EDGE_MAX_HEAD_BYTES", default_value_t = 16 << 10)]
    pub max_head_bytes: usize,
    /// Messages a WebSocket client may send per second (bursts of twice as many); past that it
    /// is closed with 4429.
    #[arg(
        long,
        env = "ADIC_EDGE_CLIENT_MESSAGES_PER_SECOND",
        default_value_t = 20
    )]
    pub client_messages_per_second: u32,
    /// PEM certificate chain: serve TLS (HTTP/1.1 and HTTP/2) on the listener. Read again when
    /// the file changes. Needs --tls-key.
    #[arg(long, env = "ADIC_EDGE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "ADIC_EDGE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Serve /metrics on this address instead of the client port (health and readiness are
    /// served on both), so metrics need not be public.
    #[arg(long, env = "ADIC_EDGE_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Origins allowed by CORS, comma-separated; `*` allows any. Not `*` with --auth-cookie.
    #[arg(
        long,
        env = "ADIC_EDGE_CORS_ORIGINS",
        value_delimiter = ',',
        default_value = "*"
    )]
    pub cors_origins: Vec<String>,
    /// Origins a browser may open a WebSocket from (the `Origin` header of the upgrade),
    /// comma-separated; `*` allows any. A request without `Origin` (not a browser) is not
    /// checked. Not `*` with --auth-cookie: a cookie is sent by any page that opens a socket.
    #[arg(
        long,
        env = "ADIC_EDGE_WS_ORIGINS",
        value_delimiter = ',',
        default_value = "*"
    )]
    pub ws_origins: Vec<String>,
    /// SSE keep-alive comment after this long without an event.
    #[arg(long, env = "ADIC_EDGE_SSE_HEARTBEAT", default_value = "15s", value_parser = humantime::parse_duration)]
    pub sse_heartbeat: Duration,
    /// WebSocket ping after this long without a write; a peer that leaves a ping unanswered for an interval is closed. Keep under 30 s:
    /// common proxies close idle connections at 60 s.
    #[arg(long, env = "ADIC_EDGE_WS_PING", default_value = "20s", value_parser = humantime::parse_duration)]
    pub ws_ping: Duration,
    /// Bytes queued for one client before it is closed as a slow consumer.
    #[arg(long, env = "ADIC_EDGE_CLIENT_QUEUE_BYTES", default_value_t = 1 << 20)]
    pub client_queue_bytes: usize,
    /// Largest message a WebSocket client may send.
    #[arg(long, env = "ADIC_EDGE_MAX_CLIENT_MESSAGE", default_value_t = 64 << 10)]
    pub max_client_message: usize,
    /// A write to a client that takes longer than this closes the connection.
    #[arg(long, env = "ADIC_EDGE_WRITE_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub write_timeout: Duration,
    /// Time a connection has to send its request head (an idle or half-sent connection is
    /// closed then, and at once when the edge shuts down).
    #[arg(long, env = "ADIC_EDGE_HEAD_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub head_timeout: Duration,
    /// On shutdown, how long clients get to leave before the process exits.
    #[arg(long, env = "ADIC_EDGE_DRAIN_GRACE", default_value = "30s", value_parser = humantime::parse_duration)]
    pub drain_grace: Duration,
    /// Disable the WebSocket endpoint.
    #[arg(long, env = "ADIC_EDGE_NO_WEBSOCKET", value_parser = adic_publisher::env::flag())]
    pub no_websocket: bool,
    /// Disable the SSE endpoint.
    #[arg(long, env = "ADIC_EDGE_NO_SSE", value_parser = adic_publisher::env::flag())]
    pub no_sse: bool,
    /// Recent events kept in memory to serve resumes without NATS.
    #[arg(long, env = "ADIC_EDGE_RING_EVENTS", default_value_t = 20_000)]
    pub ring_events: usize,
    /// Most bytes the ring of recent events holds.
    #[arg(long, env = "ADIC_EDGE_RING_BYTES", default_value_t = 64 << 20)]
    pub ring_bytes: usize,
    /// Most JetStream reads for older resumes at once (each a short-lived consumer).
    #[arg(long, env = "ADIC_EDGE_REPLAY_CONSUMERS", default_value_t = 4)]
    pub replay_consumers: usize,
    /// How long the cursor of a client whose filter skips events may stand still before it is told
    /// the stream moved on (WS `Progress`, SSE `id:`-only frame), so it never ages out of the stream.
    #[arg(long, env = "ADIC_EDGE_PROGRESS_INTERVAL", default_value = "5s", value_parser = humantime::parse_duration)]
    pub progress_interval: Duration,
    /// Do not serve the live dashboard at `/`.
    #[arg(long, env = "ADIC_EDGE_NO_DASHBOARD", value_parser = adic_publisher::env::flag())]
    pub no_dashboard: bool,
    #[command(flatten)]
    pub auth: AuthSettings,
}

impl Default for EdgeSettings {
    fn default() -> Self {
        EdgeSettings {
            listen: "127.0.0.1:0".parse().expect("valid address"),
            max_connections: 0,
            max_connections_per_ip: 0,
            trusted_proxies: Vec::new(),
            max_head_bytes: 16 << 10,
            client_messages_per_second: 20,
            metrics_listen: None,
            tls_cert: None,
            tls_key: None,
            cors_origins: vec!["*".to_owned()],
            ws_origins: vec!["*".to_owned()],
            sse_heartbeat: Duration::from_secs(15),
            ws_ping: Duration::from_secs(20),
            client_queue_bytes: 1 << 20,
            max_client_message: 64 << 10,
            write_timeout: Duration::from_secs(10),
            head_timeout: Duration::from_secs(30),
            drain_grace: Duration::from_secs(30),
            no_websocket: false,
            no_sse: false,
            ring_events: 20_000,
            ring_bytes: 64 << 20,
            replay_consumers: 4,
            progress_interval: Duration::from_secs(5),
            no_dashboard: false,
            auth: AuthSettings::default(),
        }
    }
}

impl EdgeSettings {
    /// Checks the settings; the message says which flag is wrong and why.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.sse_heartbeat.is_zero(),
            "--sse-heartbeat must be above zero"
        );
        anyhow::ensure!(!self.ws_ping.is_zero(), "--ws-ping must be above zero");
        anyhow::ensure!(
            self.client_queue_bytes >= 4096,
            "--client-queue-bytes must be at least 4096"
        );
        anyhow::ensure!(
            self.max_client_message >= 1024,
            "--max-client-message must be at least 1024"
        );
        anyhow::ensure!(
            !self.write_timeout.is_zero(),
            "--write-timeout must be above zero"
        );
        anyhow::ensure!(
            !self.head_timeout.is_zero(),
            "--head-timeout must be above zero"
        );
        anyhow::ensure!(
            !self.cors_origins.is_empty(),
            "--cors-origins needs at least one origin or *"
        );
        for proxy in &self.trusted_proxies {
            proxy
                .parse::<crate::client_addr::Cidr>()
                .map_err(|e| anyhow::anyhow!("--trusted-proxies: {e}"))?;
        }
        anyhow::ensure!(
            (8 << 10..=1 << 20).contains(&self.max_head_bytes),
            "--max-head-bytes must be from 8192 to 1048576"
        );
        anyhow::ensure!(
            self.client_messages_per_second > 0,
            "--client-messages-per-second must be above zero"
        );
        anyhow::ensure!(
            !self.ws_origins.is_empty(),
            "--ws-origins needs at least one origin or *"
        );
        if self.auth.mode == AuthMode::Jwt && self.auth.auth_cookie.is_some() {
            let any = |list: &[String]| list.iter().any(|o| o.trim() == "*");
            anyhow::ensure!(
                !any(&self.cors_origins) && !any(&self.ws_origins),
                "--auth-cookie sends the token with every request a browser makes, from any \
                 page: list the origins allowed to use it in --cors-origins and --ws-origins \
                 (ADIC_EDGE_CORS_ORIGINS, ADIC_EDGE_WS_ORIGINS) instead of *"
            );
        }
        Ok(())
    }
}

impl ServeArgs {
    /// A production edge must never serve simulated data by accident: without NATS it refuses.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.nats.urls.is_empty(),
            "no NATS URL: `adic-edge serve` needs --nats-url (or NATS_URL) pointing at the NATS server \
             that holds the event stream. To try the edge on one machine without NATS, run \
             `adic-edge demo` instead (simulated events, never for production)"
        );
        self.edge.validate()
    }
}

impl DemoArgs {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.speed > 0.0 && self.speed.is_finite(),
            "--speed must be a positive number"
        );
        anyhow::ensure!(self.capacity > 0, "--capacity must be above zero");
        self.edge.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `EdgeSettings::default()` (what tests and embedders start from) is what the command line
    /// gives with no flags.
    #[test]
    fn the_default_settings_are_the_flags_defaults() {
        #[derive(Parser)]
        struct Flags {
            #[command(flatten)]
            edge: EdgeSettings,
        }
        let parsed = Flags::try_parse_from(["adic-edge"]).unwrap().edge;
        assert_eq!(
            format!("{parsed:?}"),
            format!("{:?}", EdgeSettings::default())
        );
    }
}
