//! `adic-stream tail`: follows the event stream like `tail -f`.

use adic_client::{Client, Item, State, Transport};
use adic_protocol::Cursor;
use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
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
    #[arg(required = true, env = "ADIC_TAIL_URLS", value_delimiter = ',')]
    urls: Vec<String>,
    /// Only these kinds, comma-separated (dotted or variant names).
    #[arg(long, env = "ADIC_TAIL_EVENTS")]
    events: Option<String>,
    /// Only this priority: high, medium or low.
    #[arg(long, env = "ADIC_TAIL_PRIORITY")]
    priority: Option<String>,
    /// Continue after this cursor.
    #[arg(long, env = "ADIC_TAIL_FROM")]
    from: Option<Cursor>,
    /// Print the current value of each snapshot kind first.
    #[arg(long, env = "ADIC_TAIL_SNAPSHOT", value_parser = clap::builder::BoolishValueParser::new())]
    snapshot: bool,
    /// One JSON object per line instead of a readable line.
    #[arg(long, env = "ADIC_TAIL_JSON", value_parser = clap::builder::BoolishValueParser::new())]
    json: bool,
    /// The first transport to try (lower ones remain fallbacks).
    #[arg(
        long,
        env = "ADIC_TAIL_TRANSPORT",
        value_enum,
        default_value = "websocket"
    )]
    transport: FirstTransport,
    /// Also trust the CA certificate(s) in this PEM file (for https:// edges).
    #[arg(long, env = "ADIC_TAIL_CA_CERT", value_name = "FILE")]
    ca_cert: Option<std::path::PathBuf>,
    /// A header to send on every connection, `Name: value` (repeatable), e.g. authorization.
    #[arg(
        long = "header",
        env = "ADIC_TAIL_HEADERS",
        value_name = "NAME: VALUE",
        value_delimiter = '\n',
        hide_env_values = true
    )]
    headers: Vec<String>,
    /// A file holding the token (JWT) for an edge with authentication on; read again at every
    /// connection and before the token in use expires, so a renewed file is picked up.
    #[arg(long, env = "ADIC_TAIL_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<std::path::PathBuf>,
    /// Exit after this many events, snapshot values included (0 if they arrived, 1 if
    /// `--within` ran out first).
    #[arg(long, env = "ADIC_TAIL_COUNT")]
    count: Option<u64>,
    /// With --count: how long to wait for them, e.g. 30s.
    #[arg(long, env = "ADIC_TAIL_WITHIN", value_parser = humantime::parse_duration)]
    within: Option<std::time::Duration>,
}

#[derive(Clone, Copy, ValueEnum)]
enum FirstTransport {
    Websocket,
    Sse,
    Polling,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Command::Tail(tail) = Cli::parse().command;
    let first = match tail.transport {
        FirstTransport::Websocket => Transport::WebSocket,
        FirstTransport::Sse => Transport::Sse,
        FirstTransport::Polling => Transport::Polling,
    };
    let mut builder = Client::builder(tail.urls.clone())
        .snapshot(tail.snapshot)
        .transport(first);
    if let Some(path) = &tail.ca_cert {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        builder = builder.root_certificate_pem(pem);
    }
    if !tail.headers.is_empty() {
        let headers = tail
            .headers
            .iter()
            .map(|h| {
                h.split_once(':')
                    .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                    .with_context(|| format!("--header {h:?} is not of the form `Name: value`"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        builder = builder.headers(move || headers.clone());
    }
    if let Some(path) = tail.token_file.clone() {
        std::fs::read_to_string(&path)
            .with_context(|| format!("reading --token-file {}", path.display()))?;
        builder = builder.token(move || {
            std::fs::read_to_string(&path)
                .ok()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
        });
    }
    if let Some(events) = &tail.events {
        builder = builder.events(events.split(',').map(str::trim));
    }
    if let Some(priority) = &tail.priority {
        builder = builder.priority(priority.clone());
    }
    if let Some(from) = tail.from {
        builder = builder.cursor(from);
    }
    let mut items = builder.subscribe()?;
    let mut last: Option<Cursor> = tail.from;
    let deadline = tail.within.map(|w| tokio::time::Instant::now() + w);
    let out_of_time = async {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(out_of_time);
    let mut timed_out = false;
    let mut printed = 0u64;
    loop {
        tokio::select! {
            item = items.next() => match item {
                Some(item) => {
                    if matches!(item, Item::Event { .. } | Item::Snapshot(_)) {
                        printed += 1;
                    }
                    print(&item, tail.json, &mut last);
                    if tail.count.is_some_and(|n| printed >= n) {
                        break;
                    }
                }
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
            () = &mut out_of_time => {
                timed_out = true;
                break;
            }
        }
    }
    match last {
        Some(cursor) => eprintln!(
            "last cursor {cursor}; continue with: adic-stream tail --from {cursor} {}",
            tail.urls.join(" ")
        ),
        None => eprintln!("no event received"),
    }
    let stats = items.stats();
    eprintln!(
        "{} events, {} reconnects, {} failed attempts, {} fallbacks",
        stats.events(),
        stats.reconnects,
        stats.failed_attempts,
        stats.fallbacks
    );
    if timed_out {
        anyhow::bail!(
            "fewer than {} events within {:?}",
            tail.count.unwrap_or(0),
            tail.within.unwrap_or_default()
        );
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
        Item::State(State::Unauthorized { reason }) => {
            eprintln!("not authorized ({reason}); check the token")
        }
    }
}
