use adic_edge::cli;
use adic_edge::config::Cli;
use adic_publisher::telemetry;
use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Before the runtime: the trace exporter runs on a thread of its own.
    let telemetry = telemetry::init("adic-edge")?;
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(cli::run(cli, shutdown_signal()));
    drop(runtime);
    // Flushes the spans still buffered.
    drop(telemetry);
    result
}

/// SIGTERM (Kubernetes, docker) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}
