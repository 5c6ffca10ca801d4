//! The settings the chart and the compose file give the binaries are ones the binaries read
//! (every `ADIC_*`/`NATS_*` variable is a flag's `[env: …]` in its `--help`), and with the
//! chart's and compose's defaults, each is the binary's own default.
//!
//! Skipped when helm is missing, unless `ADIC_TEST_HELM=require`, which `tests/run.sh` sets.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use adic_tests::helm::{self, ci_values, env, find, template};
use adic_tests::promql::repo_file;
use serde_json::Value;

const EDGE: &str = env!("CARGO_BIN_EXE_adic-edge");
/// Settings the chart sets apart from the binaries' defaults, and why.
const DELIBERATE: [(&str, &str); 1] =
    [("ADIC_STREAM_REPLICAS", "a cluster's stream has 3 replicas")];

fn have_helm() -> bool {
    helm::tool("helm").unwrap()
}

fn edge_container(docs: &[Value]) -> &Value {
    &find(docs, "Deployment", "-edge").expect("the edge Deployment")["spec"]["template"]["spec"]
        ["containers"][0]
}

/// `[env: NAME=…]` → `[default: …]` of every option of `bin args --help`.
fn accepted(bin: &str, args: &[&str]) -> BTreeMap<String, Option<String>> {
    let out = Command::new(bin)
        .args(args)
        .arg("--help")
        .env_clear()
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    let mut found = BTreeMap::new();
    for block in help.split(" --").skip(1) {
        let Some(start) = block.find("[env: ") else {
            continue;
        };
        let name: String = block[start + 6..]
            .chars()
            .take_while(|c| *c != '=' && *c != ']')
            .collect();
        let default = block.find("[default: ").map(|i| {
            block[i + 10..]
                .chars()
                .take_while(|c| *c != ']')
                .collect::<String>()
        });
        found.insert(name, default);
    }
    found
}

/// A duration as seconds, for comparing "30s", "2m", "24h".
fn seconds(text: &str) -> Option<u64> {
    humantime::parse_duration(text.trim())
        .ok()
        .map(|d| d.as_secs())
}

/// Whether a value the chart sets means the binary's default.
fn same_setting(chart: &str, default: Option<&str>) -> bool {
    match default {
        None => chart == "false" || chart.is_empty(),
        // clap shows an empty default as `""`.
        Some("\"\"") => chart.is_empty(),
        Some(d) if d == chart => true,
        Some(d) => {
            d.ends_with(|c: char| c.is_ascii_alphabetic())
                && seconds(d).is_some()
                && seconds(d) == seconds(chart)
        }
    }
}

#[test]
fn chart_and_compose_settings_are_ones_the_binaries_accept_with_the_same_defaults() {
    if !have_helm() {
        eprintln!("skipped: helm is not installed");
        return;
    }
    let publisher = Path::new(EDGE).with_file_name("adic-publisher");
    let edge_flags = accepted(EDGE, &["serve"]);
    let publisher_flags = accepted(publisher.to_str().unwrap(), &["simulate"]);
    let relay_flags = accepted(publisher.to_str().unwrap(), &["relay"]);
    assert!(
        relay_flags.contains_key("ADIC_RELAY_FROM"),
        "{relay_flags:?}"
    );
    assert!(
        edge_flags.contains_key("ADIC_EDGE_RING_BYTES"),
        "{edge_flags:?}"
    );

    for values in ci_values() {
        let name = values.file_name().unwrap().to_string_lossy().into_owned();
        let docs = template(Some(&values), &[]).unwrap();
        for doc in docs.iter().filter(|d| d["kind"] == "Deployment") {
            let container = &doc["spec"]["template"]["spec"]["containers"][0];
            let flags = match container["name"].as_str() {
                Some("edge") => &edge_flags,
                Some("relay") => &relay_flags,
                _ => &publisher_flags,
            };
            // The arguments are a command the binary has.
            let command = container["args"][0].as_str().unwrap();
            assert!(
                ["serve", "simulate", "relay"].contains(&command),
                "{name}: {command}"
            );
            for (var, _) in env(container) {
                if var.starts_with("ADIC_") || var.starts_with("NATS_") {
                    assert!(flags.contains_key(&var), "{name}: no flag reads {var}");
                }
            }
        }
    }

    // With the defaults, every edge setting the binary has is set, to the binary's default.
    let docs = template(None, &[]).unwrap();
    let chart_env: BTreeMap<String, String> = env(edge_container(&docs)).into_iter().collect();
    for (var, default) in &edge_flags {
        if !var.starts_with("ADIC_") {
            continue;
        }
        let value = chart_env
            .get(var)
            .unwrap_or_else(|| panic!("the chart does not set {var}"));
        if DELIBERATE.iter().any(|(v, _)| v == var) {
            continue;
        }
        assert!(
            same_setting(value, default.as_deref()),
            "{var}: chart {value:?}, binary default {default:?}"
        );
    }

    // The compose file names every edge setting too; what it sets explicitly agrees with the
    // chart.
    let compose = helm::load_yaml(&repo_file("docker-compose.yml")).unwrap();
    let mut compose_env = serde_json::Map::new();
    for (k, v) in compose["services"]["edge"]["environment"]
        .as_object()
        .unwrap()
    {
        match (k.as_str(), v) {
            ("<<", Value::Object(merged)) => compose_env.extend(merged.clone()),
            _ => {
                compose_env.insert(k.clone(), v.clone());
            }
        }
    }
    for (var, _) in edge_flags.iter().filter(|(v, _)| v.starts_with("ADIC_")) {
        let value = compose_env
            .get(var)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("docker-compose.yml does not pass {var} to the edges"));
        // `${VAR:-default}`: an empty default means the binary's own.
        let default = value
            .strip_prefix(&format!("${{{var}:-"))
            .and_then(|d| d.strip_suffix('}'))
            .unwrap_or(value);
        if !default.is_empty() {
            let chart_value = &chart_env[var];
            assert!(
                same_setting(chart_value, Some(default)),
                "{var}: compose {default:?}, chart {chart_value:?}"
            );
        }
    }
}
