//! Settings as an operator (or a Helm chart, or a compose file) writes them: one value for one
//! of the edge's flags, parsed by the edge's own command line (clap with its value parsers:
//! booleans, durations, numbers, addresses, lists), then checked by `validate`. The trusted
//! proxy ranges and the `X-Forwarded-For` they lead to are parsed too. Every refusal names
//! the flag; nothing panics.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;

use adic_edge::client_addr::{client_ip, Cidr, PeerAddr};
use adic_edge::config::{Cli, Command};
use axum::http::{HeaderMap, HeaderValue};
use clap::{CommandFactory, Parser};
use libfuzzer_sys::fuzz_target;

/// Every long flag of `serve` and `demo`, and whether it takes a value.
fn flags() -> &'static [(String, String, bool)] {
    static FLAGS: OnceLock<Vec<(String, String, bool)>> = OnceLock::new();
    FLAGS.get_or_init(|| {
        let cli = Cli::command();
        let mut out = Vec::new();
        for sub in ["serve", "demo"] {
            let command = cli.find_subcommand(sub).expect("the subcommand exists");
            for arg in command.get_arguments() {
                if let Some(long) = arg.get_long() {
                    let takes_value = arg.get_action().takes_values();
                    out.push((sub.to_owned(), format!("--{long}"), takes_value));
                }
            }
        }
        out.sort();
        out
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let Ok(value) = std::str::from_utf8(rest) else {
        return;
    };
    let flags = flags();
    let (sub, flag, takes_value) = &flags[usize::from(choice) % flags.len()];
    let mut argv = vec!["adic-edge".to_owned(), sub.clone()];
    if sub == "serve" && flag != "--nats-url" {
        argv.push("--nats-url".into());
        argv.push("nats://127.0.0.1:4222".into());
    }
    if *takes_value {
        argv.push(format!("{flag}={value}"));
    } else {
        argv.push(flag.clone());
    }
    match Cli::try_parse_from(&argv) {
        Ok(cli) => {
            let checked = match &cli.command {
                Command::Serve(args) => args.validate(),
                Command::Demo(args) => args.validate(),
                _ => Ok(()),
            };
            if let Err(e) = checked {
                assert!(!e.to_string().is_empty());
            }
        }
        Err(e) => {
            let _ = e.render();
        }
    }
    // The boolean spellings deployments use, as a variable's value.
    let _ = clap::builder::TypedValueParser::parse_ref(
        &adic_publisher::env::flag(),
        &clap::Command::new("x"),
        None,
        std::ffi::OsStr::new(value),
    );
    let _ = humantime::parse_duration(value);
    // Trusted proxies, and the header they vouch for.
    let mut ranges = Vec::new();
    for part in value.split(';') {
        if let Ok(cidr) = part.parse::<Cidr>() {
            ranges.push(cidr);
        }
    }
    if let Ok(header) = HeaderValue::from_str(value) {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", header);
        let peer = PeerAddr(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1));
        let all = [
            "0.0.0.0/0".parse::<Cidr>().unwrap(),
            "::/0".parse().unwrap(),
        ];
        let _ = client_ip(Some(peer), &headers, &ranges);
        let _ = client_ip(Some(peer), &headers, &all);
    }
});
