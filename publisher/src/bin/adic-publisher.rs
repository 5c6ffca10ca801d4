use adic_publisher::cli::{self, Cli};
use adic_publisher::telemetry;
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Before the runtime: the trace exporter runs on a thread of its own.
    let telemetry = telemetry::init("adic-publisher")?;
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(cli::run(cli, async {
        let _ = tokio::signal::ctrl_c().await;
    }));
    drop(runtime);
    // Flushes the spans still buffered.
    drop(telemetry);
    result
}
