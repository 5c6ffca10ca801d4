use std::net::SocketAddr;

use adic_loadgen::peers::{origin, PUSHPIN_CHANNEL};
use clap::Parser;

/// The GRIP origin behind Pushpin: subscribes every SSE and WebSocket client to one channel.
#[derive(Parser)]
#[command(name = "adic-peer-origin", version, about)]
struct Cli {
    #[arg(long, env = "ADIC_ORIGIN_LISTEN", default_value = "127.0.0.1:9301")]
    listen: SocketAddr,
    #[arg(long, env = "ADIC_PUSHPIN_CHANNEL", default_value = PUSHPIN_CHANNEL)]
    channel: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    origin::serve(listener, cli.channel).await
}
