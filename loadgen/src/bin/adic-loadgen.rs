use adic_loadgen::run::{self, RunArgs};
use clap::Parser;

/// Opens many connections to an edge (or the floor), publishes, and reports.
#[derive(Parser)]
#[command(name = "adic-loadgen", version, about)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    // Each connection is a file descriptor: take the hard limit.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let report = run::run(Cli::parse().run).await?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
