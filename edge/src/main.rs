use adic_edge::cli;
use adic_edge::config::Cli;
use adic_publisher::{env, signal, telemetry};
use clap::{CommandFactory, Parser};

fn main() -> anyhow::Result<()> {
    // Empty variables count as unset; ones no flag reads are reported once logging is up.
    let mut unknown = env::prepare(&Cli::command(), &["ADIC_EDGE_"]);
    // Read without a flag, so the secret never shows on a command line.
    unknown.retain(|name| name != adic_edge::auth::SECRET_ENV);
    let cli = Cli::parse();
    if let Some(code) = cli::run_probe(&cli) {
        std::process::exit(code);
    }
    // Before the runtime: the trace exporter runs on a thread of its own.
    let telemetry = telemetry::init("adic-edge")?;
    for name in unknown {
        tracing::warn!(variable = %name, "no setting has this name; it is ignored (a typo?)");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(cli::run(cli, signal::shutdown()));
    drop(runtime);
    // Flushes the spans still buffered.
    drop(telemetry);
    result
}
