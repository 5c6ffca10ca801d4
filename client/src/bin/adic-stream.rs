//! `adic-stream tail`: follows the event stream like `tail -f`.

use adic_client::{Client, Item, State};
use adic_protocol::Cursor;
use clap::{Parser, Subcommand};
use futures::StreamExt;

#[derive(Parser)]
#[command(
    name = "adic-stream",
    version,
    about = "Command-line client for adic-stream edges"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Follow events as they happen; Ctrl-C prints the cursor to continue from.
    Tail(Tail),
}

#[derive(clap::Args)]
struct Tail {
    /// Edge URLs (http://host:port), rotated over on reconnect.
    #[arg(required = true)]
    urls: Vec<String>,
    /// Only these kinds, comma-separated (dotted or variant names).
    #[arg(long)]
    events: Option<String>,
    /// Only this priority: high, medium or low.
    #[arg(long)]
    priority: Option<String>,
    /// Continue after this cursor.
    #[arg(long)]
    from: Option<Cursor>,
    /// Print the current value of each snapshot kind first.
    #[arg(long)]
    snapshot: bool,
    /// One JSON object per line instead of a readable line.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Command::Tail(tail) = Cli::parse().command;
    let mut builder = Client::builder(tail.urls.clone()).snapshot(tail.snapshot);
    if let Some(events) = &tail.events {
        builder = builder.events(events.split(',').map(str::trim));
    }
    if let Some(priority) = &tail.priority {
        builder = builder.priority(priority.clone());
    }
    if let Some(from) = tail.from {
        builder = builder.cursor(from);
    }
    let mut items = Box::pin(builder.subscribe());
    let mut last: Option<Cursor> = tail.from;
    loop {
        tokio::select! {
            item = items.next() => match item {
                Some(item) => print(&item, tail.json, &mut last),
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    match last {
        Some(cursor) => eprintln!(
            "last cursor {cursor}; continue with: adic-stream tail --from {cursor} {}",
            tail.urls.join(" ")
        ),
        None => eprintln!("no event received"),
    }
    Ok(())
}

fn print(item: &Item, json: bool, last: &mut Option<Cursor>) {
    match item {
        Item::Event { id, event } => {
            *last = Some(*id);
            if json {
                println!(
                    "{}",
                    serde_json::json!({"id": id.to_string(), "event": event})
                );
            } else {
                let kind = event["type"].as_str().unwrap_or("?");
                println!("{id}  {kind:<28} {}", event["data"]);
            }
        }
        Item::Snapshot(event) if json => println!("{}", serde_json::json!({"snapshot": event})),
        Item::Snapshot(event) => println!(
            "(current)  {:<22} {}",
            event["type"].as_str().unwrap_or("?"),
            event["data"]
        ),
        Item::Gap(gap) => eprintln!(
            "gap: events after {} are gone; continuing from {}",
            gap.requested, gap.first_available
        ),
        Item::Reset(reset) => eprintln!(
            "reset: {} (continuing from {})",
            reset.reason, reset.current
        ),
        Item::State(State::Connected { transport, url }) => {
            eprintln!("connected to {url} via {transport}")
        }
        Item::State(State::Reconnecting { after, reason }) => {
            eprintln!("disconnected ({reason}); reconnecting in {after:?}")
        }
        Item::State(State::FellBack { from, to }) => {
            eprintln!("{from} unavailable; falling back to {to}")
        }
    }
}
