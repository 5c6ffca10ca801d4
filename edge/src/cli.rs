//! The `adic-edge` commands.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;

use crate::broker::nats::NatsBroker;
use crate::config::{Cli, Command, ServeArgs};
use crate::App;

/// Runs a command until `shutdown` resolves.
pub async fn run(cli: Cli, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args, shutdown).await,
    }
}

async fn serve(args: ServeArgs, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
    args.validate()?;
    let client = args.nats.connect("adic-edge").await.context("connecting to NATS")?;
    let broker = NatsBroker::new(client, args.stream);
    let app = App::build(args.edge, Arc::new(broker)).await?;
    tracing::info!(addr = %app.local_addr(), "adic-edge listening");
    app.run(shutdown).await
}
