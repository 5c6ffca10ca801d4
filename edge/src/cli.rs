//! The `adic-edge` commands.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;

use crate::broker::nats::NatsBroker;
use crate::config::{Cli, Command, DemoArgs, ServeArgs};
use crate::demo::{self, DemoSettings};
use crate::App;

/// Runs a command until `shutdown` resolves.
pub async fn run(
    cli: Cli,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(*args, shutdown).await,
        Command::Demo(args) => run_demo(*args, shutdown).await,
        Command::Probe(_) => anyhow::bail!("`probe` runs without a runtime: see `run_probe`"),
        Command::Pause { duration } => {
            tokio::time::sleep(duration).await;
            Ok(())
        }
    }
}

/// Runs `probe` (no runtime, no logging: a healthcheck prints one line) and returns the exit
/// code; `None` for every other command.
pub fn run_probe(cli: &Cli) -> Option<i32> {
    let Command::Probe(args) = &cli.command else {
        return None;
    };
    let url = if args.target.starts_with('/') {
        // The metrics listener serves health too, always over plain HTTP (the client port
        // may serve TLS).
        let listen = ["ADIC_EDGE_METRICS_LISTEN", "ADIC_EDGE_LISTEN"]
            .into_iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()));
        crate::probe::default_url(listen.as_deref(), &args.target)
    } else {
        args.target.clone()
    };
    Some(match crate::probe::probe(&url, args.timeout) {
        Ok(status) => {
            println!("{url}: {status}");
            0
        }
        Err(reason) => {
            eprintln!("{url}: {reason}");
            1
        }
    })
}

async fn run_demo(
    args: DemoArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    args.validate()?;
    let mut edge = args.edge;
    edge.listen = args.listen;
    edge.auth.hs256_secret = secret_from_env();
    let settings = DemoSettings {
        edge,
        speed: args.speed,
        seed: args.seed,
        capacity: args.capacity,
    };
    let app = demo::start(settings).await?;
    let addr = app.local_addr();
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        addr.ip().to_string()
    };
    let base = format!("http://{host}:{}", addr.port());
    let banner = format!(
        "adic-edge demo: simulated ADIC node, in-memory stream (one machine only, not for production)\n  \
         dashboard  {base}/\n  \
         SSE        curl -N {base}/v1/sse/events\n  \
         WebSocket  ws://{host}:{port}/v1/ws/events\n\
         Ctrl-C stops it.\n",
        port = addr.port()
    );
    // A closed stdout (the reader went away) must not take the server down.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), banner.as_bytes());
    app.run(shutdown).await
}

/// The HS256 secret from its variable (there is no flag for it).
fn secret_from_env() -> Option<crate::auth::Secret> {
    std::env::var(crate::auth::SECRET_ENV)
        .ok()
        .filter(|s| !s.is_empty())
        .map(crate::auth::Secret)
}

async fn serve(
    args: ServeArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    args.validate()?;
    let mut edge = args.edge;
    edge.listen = args.listen;
    edge.auth.hs256_secret = secret_from_env();
    let client = args
        .nats
        .connect("adic-edge")
        .await
        .context("connecting to NATS")?;
    let broker = NatsBroker::new(client, args.stream);
    let app = App::build(edge, Arc::new(broker)).await?;
    tracing::info!(addr = %app.local_addr(), "adic-edge listening");
    app.run(shutdown).await
}
