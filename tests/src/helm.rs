//! The Helm chart under test: the `helm`, `kubernetes-validate` and `yamllint` tools (on `PATH`,
//! as `tests/run.sh` installs them), rendering the chart with a values file, and the rendered
//! manifests as JSON values for assertions.
//!
//! `ADIC_TEST_HELM=require` turns a missing tool from a skip into a failure.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use crate::docker::run;
use crate::promql::repo_file;

/// The chart's folder.
pub fn chart() -> PathBuf {
    repo_file("helm/adic-stream")
}

/// The chart's `ci/` values files, in name order.
pub fn ci_values() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart().join("ci"))
        .expect("helm/adic-stream/ci")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// Whether `tool` answers `--version`; a missing tool is an error with `ADIC_TEST_HELM=require`.
pub fn tool(tool: &str) -> anyhow::Result<bool> {
    let found = run(tool, &["--version"], &[], Duration::from_secs(30)).is_ok()
        || run(tool, &["version"], &[], Duration::from_secs(30)).is_ok();
    if !found && std::env::var("ADIC_TEST_HELM").as_deref() == Ok("require") {
        bail!("ADIC_TEST_HELM=require but `{tool}` is not on PATH (tests/run.sh installs it)");
    }
    Ok(found)
}

/// The Helm majors to check the chart with: `helm`, and `helm3` where installed (tests/run.sh
/// installs Helm 4 as `helm` and Helm 3 as `helm3`).
pub fn programs() -> Vec<&'static str> {
    ["helm", "helm3"]
        .into_iter()
        .filter(|p| run(p, &["version"], &[], Duration::from_secs(30)).is_ok())
        .collect()
}

/// `helm args`, its standard output.
pub fn helm(args: &[&str]) -> anyhow::Result<String> {
    helm_with("helm", args)
}

/// `program args` (a Helm binary), its standard output.
pub fn helm_with(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = run(program, args, &[], Duration::from_secs(120))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `helm template` of the chart with `values` (a file) and `--set` pairs, as text.
pub fn template_text(values: Option<&Path>, sets: &[&str]) -> anyhow::Result<String> {
    template_text_with("helm", values, sets)
}

/// [`template_text`] with another Helm binary.
pub fn template_text_with(
    program: &str,
    values: Option<&Path>,
    sets: &[&str],
) -> anyhow::Result<String> {
    let chart = chart();
    let mut args = vec!["template", "adic", chart.to_str().context("path")?];
    let values = values.map(|v| v.display().to_string());
    if let Some(v) = &values {
        args.extend(["-f", v]);
    }
    for set in sets {
        args.extend(["--set", set]);
    }
    helm_with(program, &args)
}

/// The rendered manifests, each as JSON.
pub fn template(values: Option<&Path>, sets: &[&str]) -> anyhow::Result<Vec<Value>> {
    let text = template_text(values, sets)?;
    let docs = YamlLoader::load_from_str(&text).context("rendered manifests are not YAML")?;
    Ok(docs.iter().map(to_json).filter(|d| !d.is_null()).collect())
}

/// The first manifest of `kind` whose name ends with `suffix`.
pub fn find<'a>(docs: &'a [Value], kind: &str, suffix: &str) -> Option<&'a Value> {
    docs.iter().find(|d| {
        d["kind"] == kind
            && d["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.ends_with(suffix))
    })
}

/// YAML to JSON: maps with string keys, integers, floats, booleans, strings, null.
pub fn to_json(yaml: &Yaml) -> Value {
    match yaml {
        Yaml::Hash(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        other => format!("{other:?}"),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Yaml::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::Real(r) => r.parse::<f64>().map(Value::from).unwrap_or(Value::Null),
        Yaml::Boolean(b) => Value::Bool(*b),
        _ => Value::Null,
    }
}

/// The environment of a container spec as (name, value); values from Secrets as `secret:NAME/KEY`.
pub fn env(container: &Value) -> Vec<(String, String)> {
    container["env"]
        .as_array()
        .map(|env| {
            env.iter()
                .map(|e| {
                    let name = e["name"].as_str().unwrap_or_default().to_owned();
                    let value = match (&e["value"], &e["valueFrom"]["secretKeyRef"]) {
                        (Value::String(v), _) => v.clone(),
                        (_, Value::Object(r)) => format!(
                            "secret:{}/{}",
                            r["name"].as_str().unwrap_or_default(),
                            r["key"].as_str().unwrap_or_default()
                        ),
                        (other, _) => other.to_string(),
                    };
                    (name, value)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The first YAML document of a file, as JSON.
pub fn load_yaml(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let docs = YamlLoader::load_from_str(&text).with_context(|| format!("{}", path.display()))?;
    Ok(docs.first().map(to_json).unwrap_or(Value::Null))
}
