use adic_loadgen::peers::bridge::{self, BridgeArgs};
use clap::Parser;

/// Feeds the peers (Pushpin, nats-server's WebSocket listener) the events an edge reads, with the
/// bytes an edge sends.
#[derive(Parser)]
#[command(name = "adic-peer-bridge", version, about)]
struct Cli {
    #[command(flatten)]
    bridge: BridgeArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    bridge::run(Cli::parse().bridge).await
}
