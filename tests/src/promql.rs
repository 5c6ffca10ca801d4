//! The checked-in observability files (Grafana dashboard, Prometheus alert rules and scrape
//! config) as the tests read them, and the small amount of PromQL reading they need: the
//! expressions each file holds, Grafana's variables substituted, grouping labels and metric names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

/// A file of the repository, by its path from the repository's root.
pub fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
        .canonicalize()
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub const ALERTS: &str = "deploy/prometheus/alerts.yml";
pub const DASHBOARD: &str = "deploy/grafana/adic-stream.json";
pub const SCRAPE_CONFIG: &str = "deploy/prometheus/prometheus.yml";
pub const DOCS: &str = "docs/observability.md";

/// Every panel, rows' nested panels included.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        out.push(panel);
        if let Some(nested) = panel["panels"].as_array() {
            out.extend(nested);
        }
    }
    out
}

/// Every PromQL expression of the dashboard: panel targets, and the metric selectors of its
/// `label_values(...)` variable queries; keyed by where they are.
pub fn dashboard_expressions() -> BTreeMap<String, String> {
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(repo_file(DASHBOARD)).unwrap()).unwrap();
    let mut out = BTreeMap::new();
    for panel in panels(&dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or_default();
            let place = format!(
                "panel {title:?} {}",
                target["refId"].as_str().unwrap_or("?")
            );
            out.insert(place, target["expr"].as_str().unwrap().to_owned());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if variable["type"] != "query" {
            continue;
        }
        let query = variable["definition"].as_str().unwrap();
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .and_then(|q| q.rsplit_once(','))
            .map(|(selector, _label)| selector)
            .unwrap_or_else(|| {
                panic!("variable query `{query}` is not label_values(selector, label)")
            });
        out.insert(
            format!("variable ${}", variable["name"].as_str().unwrap()),
            inner.to_owned(),
        );
    }
    out
}

/// Every rule of the alert rules file: name → expression.
pub fn alert_rules() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(repo_file(ALERTS)).unwrap();
    let docs = YamlLoader::load_from_str(&text).unwrap();
    let mut out = BTreeMap::new();
    for group in docs[0]["groups"].as_vec().expect("groups") {
        for rule in group["rules"].as_vec().expect("rules") {
            let name = match (&rule["alert"], &rule["record"]) {
                (Yaml::String(name), _) | (_, Yaml::String(name)) => name.clone(),
                _ => panic!("a rule without alert or record: {rule:?}"),
            };
            let expr = rule["expr"].as_str().expect("every rule has an expr");
            assert!(
                out.insert(name.clone(), expr.to_owned()).is_none(),
                "{name} twice"
            );
        }
    }
    assert!(!out.is_empty(), "no rules in {ALERTS}");
    out
}

/// Grafana's variables replaced as Grafana would: intervals by a duration, the others (label
/// matchers on job and instance, all values) by a regex that matches any value.
pub fn substitute_variables(expr: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced.find('}').expect("a closed ${...}");
            let name = braced[..end].split(':').next().unwrap();
            (name, end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match name {
            "" => out.push('$'),
            // `$1` in label_replace is PromQL's own.
            n if n.starts_with(|c: char| c.is_ascii_digit()) => out.push_str(&rest[at..=at + len]),
            "__rate_interval" | "__interval" => out.push_str("1m"),
            "__range" => out.push_str("1h"),
            _ => out.push_str(".+"),
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// The variable names (`$name`, `${name}`) an expression uses.
pub fn used_variables(expr: &str) -> Vec<String> {
    expr.match_indices('$')
        .filter_map(|(at, _)| {
            let after = &expr[at + 1..];
            let after = after.strip_prefix('{').unwrap_or(after);
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit())).then_some(name)
        })
        .collect()
}

/// The labels of every `by (...)` and `on (...)` / `ignoring (...)` in an expression.
pub fn grouping_labels(expr: &str) -> Vec<String> {
    let mut labels = Vec::new();
    for keyword in [
        "by",
        "on",
        "without",
        "ignoring",
        "group_left",
        "group_right",
    ] {
        for (at, _) in expr.match_indices(keyword) {
            let before_ok = expr[..at]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            let rest = expr[at + keyword.len()..].trim_start();
            if let (true, Some(list)) = (before_ok, rest.strip_prefix('(')) {
                let list = &list[..list.find(')').unwrap()];
                labels.extend(
                    list.split(',')
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned),
                );
            }
        }
    }
    labels
}

/// The `adic_*` metric names an expression names.
pub fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("adic_") {
        let word_start = rest[..at]
            .chars()
            .last()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if word_start {
            names.push(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    names
}

/// Whether the docs name this metric (a histogram's series by the histogram's name).
pub fn documented(docs: &str, name: &str) -> bool {
    let base = ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name);
    docs.contains(&format!("`{name}`")) || docs.contains(&format!("`{base}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_substituted_as_grafana_would() {
        assert_eq!(
            substitute_variables(
                r#"sum(rate(x{job=~"$job", instance=~"${instance}"}[$__rate_interval]))"#
            ),
            r#"sum(rate(x{job=~".+", instance=~".+"}[1m]))"#
        );
        assert_eq!(
            substitute_variables(r#"label_replace(x, "a", "$1", "b", "(.*)")"#),
            r#"label_replace(x, "a", "$1", "b", "(.*)")"#
        );
        assert_eq!(
            grouping_labels("sum by (le, transport) (x) and on(job) y"),
            ["le", "transport", "job"]
        );
        assert_eq!(
            metric_names("rate(adic_edge_x_total[1m]) / adic_y"),
            ["adic_edge_x_total", "adic_y"]
        );
    }
}
