use adic_publisher::cli::{self, Cli};
use adic_publisher::{signal, telemetry};
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Before the runtime: the trace exporter runs on a thread of its own.
    let telemetry = telemetry::init("adic-publisher")?;
    let runtime = tokio::runtime::Runtime::new()?;
    // SIGTERM (Docker, Kubernetes) and Ctrl-C both flush what is buffered, then exit 0.
    let result = runtime.block_on(cli::run(cli, signal::shutdown()));
    drop(runtime);
    // Flushes the spans still buffered.
    drop(telemetry);
    result
}
