use adic_publisher::cli::{self, Cli};
use adic_publisher::{env, signal, telemetry};
use clap::{CommandFactory, Parser};

fn main() -> anyhow::Result<()> {
    // Empty variables count as unset; ones no flag reads are reported once logging is up.
    let unknown = env::prepare(&Cli::command(), &["ADIC_PUBLISHER_", "ADIC_RELAY_"]);
    let cli = Cli::parse();
    // Before the runtime: the trace exporter runs on a thread of its own.
    let telemetry = telemetry::init("adic-publisher")?;
    for name in unknown {
        tracing::warn!(variable = %name, "no setting has this name; it is ignored (a typo?)");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    // SIGTERM (Docker, Kubernetes) and Ctrl-C both flush what is buffered, then exit 0.
    let result = runtime.block_on(cli::run(cli, signal::shutdown()));
    drop(runtime);
    // Flushes the spans still buffered.
    drop(telemetry);
    result
}
