use std::net::SocketAddr;

use clap::Parser;

/// The floor: writes the same pre-encoded frames to every connection, nothing more.
#[derive(Parser)]
#[command(name = "adic-floor", version, about)]
struct Cli {
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    #[arg(long, default_value = adic_protocol::DEFAULT_PREFIX)]
    subject_prefix: String,
    #[arg(long, default_value = "127.0.0.1:9200")]
    ws_listen: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:9201")]
    sse_listen: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let _ = rlimit_raise();
    let cli = Cli::parse();
    adic_loadgen::floor::serve(
        &cli.nats_url,
        &cli.subject_prefix,
        cli.ws_listen,
        cli.sse_listen,
    )
    .await
}

/// The floor gets the same open-files limit as an edge.
fn rlimit_raise() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}
