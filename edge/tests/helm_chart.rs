//! The Helm chart, checked with real tools and run for real: `helm lint --strict` and
//! `helm template` for every `ci/` values file, every manifest validated by
//! `kubernetes-validate --strict` against the oldest and newest Kubernetes the chart supports,
//! render rules asserted on the parsed manifests; the settings the chart (and the compose file)
//! give the binaries are checked against the binaries' own `--help` in `helm_settings.rs`, and
//! the rendered edge container is run on the Docker engine against a real NATS in
//! `helm_container.rs`.
//!
//! Skipped when helm (or, for the container test, a Docker engine) is missing, unless
//! `ADIC_TEST_HELM=require` (and `ADIC_TEST_DOCKER=require`), which `tests/run.sh` sets.

use std::collections::BTreeMap;
use std::process::Command;

use adic_tests::helm::{self, chart, ci_values, env, find, template};
use adic_tests::promql::repo_file;
use serde_json::{json, Value};

/// The Kubernetes versions the chart is validated against (Chart.yaml `kubeVersion` >= the first).
const KUBERNETES: [&str; 2] = ["1.25.0", "1.37.0"];
fn have_helm() -> bool {
    helm::tool("helm").unwrap()
}

fn edge_container(docs: &[Value]) -> &Value {
    &find(docs, "Deployment", "-edge").expect("the edge Deployment")["spec"]["template"]["spec"]
        ["containers"][0]
}

/// A duration as seconds, for comparing "30s", "2m", "24h".
fn seconds(text: &str) -> Option<u64> {
    humantime::parse_duration(text.trim())
        .ok()
        .map(|d| d.as_secs())
}

#[test]
fn every_ci_values_file_lints_renders_and_validates_against_both_kubernetes_ends() {
    if !have_helm() {
        eprintln!("skipped: helm is not installed");
        return;
    }
    let validate = helm::tool("kubernetes-validate").unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    for values in ci_values() {
        let name = values.file_name().unwrap().to_string_lossy().into_owned();
        let values_arg = values.display().to_string();
        let chart_dir = chart().display().to_string();
        let rendered = helm::template_text(Some(&values), &[]).unwrap();
        // Helm 4 and, where installed, Helm 3: both lint it strictly and render the same.
        for program in helm::programs() {
            helm::helm_with(
                program,
                &["lint", "--strict", &chart_dir, "-f", &values_arg],
            )
            .unwrap_or_else(|e| panic!("{program}, {name}: {e}"));
            let again = helm::template_text_with(program, Some(&values), &[]).unwrap();
            assert_eq!(rendered, again, "{program} renders {name} differently");
        }
        let file = dir.path().join(&name);
        std::fs::write(&file, &rendered).unwrap();
        if !validate {
            continue;
        }
        for version in KUBERNETES {
            let out = Command::new("kubernetes-validate")
                .args(["--strict", "--quiet", "-k", version])
                .arg(&file)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            // The only warnings allowed: no bundled schema for Prometheus Operator's kinds
            // (checked by the render tests instead).
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                assert!(
                    line.starts_with("WARN")
                        && (line.contains("kind ServiceMonitor")
                            || line.contains("kind PrometheusRule")),
                    "{name} on Kubernetes {version}: {line}"
                );
            }
            assert!(out.status.success(), "{name} on {version}: {text}");
        }
    }
    if helm::tool("yamllint").unwrap() {
        let chart_dir = chart();
        let mut files = vec![chart_dir.join("values.yaml"), chart_dir.join("Chart.yaml")];
        files.extend(ci_values());
        let out = Command::new("yamllint")
            .args([
                "-d",
                "{extends: default, rules: {line-length: {max: 120}, document-start: disable}}",
            ])
            .args(&files)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn render_rules_hold_for_every_values_file() {
    if !have_helm() {
        eprintln!("skipped: helm is not installed");
        return;
    }
    for values in ci_values() {
        let name = values.file_name().unwrap().to_string_lossy().into_owned();
        let docs = template(Some(&values), &[]).unwrap();
        let again = template(Some(&values), &[]).unwrap();
        assert_eq!(docs, again, "{name}: two renders differ");

        let deployment = find(&docs, "Deployment", "-edge").unwrap();
        let pod = &deployment["spec"]["template"]["spec"];
        let edge = edge_container(&docs);
        let settings: BTreeMap<String, String> = env(edge).into_iter().collect();
        // Probes on the real paths, on the port the edge listens on.
        let port = edge["ports"][0]["containerPort"].as_u64().unwrap();
        assert_eq!(edge["ports"][0]["name"], "http", "{name}");
        assert_eq!(
            settings["ADIC_EDGE_LISTEN"],
            format!("0.0.0.0:{port}"),
            "{name}"
        );
        for (probe, path) in [
            ("readinessProbe", "/readyz"),
            ("livenessProbe", "/healthz"),
            ("startupProbe", "/healthz"),
        ] {
            assert_eq!(edge[probe]["httpGet"]["path"], path, "{name}: {probe}");
            assert_eq!(edge[probe]["httpGet"]["port"], "http", "{name}: {probe}");
        }
        // The grace covers the preStop pause and the whole drain.
        let drain = seconds(&settings["ADIC_EDGE_DRAIN_GRACE"]).unwrap();
        let pause = edge["lifecycle"]["preStop"]["exec"]["command"][2]
            .as_str()
            .and_then(seconds)
            .unwrap();
        assert_eq!(
            edge["lifecycle"]["preStop"]["exec"]["command"]
                .as_array()
                .unwrap()[0..2],
            [json!("adic-edge"), json!("pause")],
            "{name}"
        );
        let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
        assert!(
            grace > pause + drain,
            "{name}: grace {grace} ≤ {pause} + {drain}"
        );
        // Rolling updates never remove an edge before its successor is ready.
        assert_eq!(
            deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0,
            "{name}"
        );
        // Zone and node spread never makes a pod unschedulable.
        for spread in pod["topologySpreadConstraints"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert_eq!(spread["whenUnsatisfiable"], "ScheduleAnyway", "{name}");
        }
        // Non-root, read-only root, no capabilities, default seccomp, in every container.
        for doc in docs
            .iter()
            .filter(|d| d["kind"] == "Deployment" || d["kind"] == "Pod")
        {
            let spec = if doc["kind"] == "Pod" {
                &doc["spec"]
            } else {
                &doc["spec"]["template"]["spec"]
            };
            for container in spec["containers"].as_array().unwrap() {
                let sc = &container["securityContext"];
                assert_eq!(sc["runAsNonRoot"], true, "{name}");
                assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
                assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
                assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{name}");
                assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault", "{name}");
                // Secrets only by reference: nothing secret in a plain value.
                for (var, value) in env(container) {
                    if ["NATS_PASSWORD", "NATS_TOKEN", "NATS_USER"].contains(&var.as_str()) {
                        assert!(
                            value.starts_with("secret:"),
                            "{name}: {var} is a plain value"
                        );
                    }
                }
            }
        }
        assert!(
            !docs.iter().any(|d| d["kind"] == "Secret"),
            "{name}: the chart renders a Secret (values would be regenerated on upgrade)"
        );
        // A PDB by default, and one that lets a lone edge be evicted.
        let pdb = find(&docs, "PodDisruptionBudget", "-edge").expect("a PDB");
        let replicas = deployment["spec"]["replicas"].as_u64();
        if replicas == Some(1) {
            assert_eq!(pdb["spec"]["maxUnavailable"], 1, "{name}");
        } else {
            assert!(pdb["spec"]["minAvailable"].as_u64().is_some(), "{name}");
        }
        // The alert rules, with the job label Prometheus Operator gives the edge Service.
        if let Some(rule) = find(&docs, "PrometheusRule", "") {
            let service = find(&docs, "Service", "-edge").unwrap()["metadata"]["name"]
                .as_str()
                .unwrap()
                .to_owned();
            let text = rule.to_string();
            assert!(
                text.contains(&format!("up{{job=\\\"{service}\\\"}}")),
                "{name}: {text}"
            );
            assert!(!text.contains("job=\\\"adic-edge\\\""), "{name}");
        }
        // Metrics are scraped where the edge serves them: the client port, or a port of their
        // own that the Service names `metrics` and the client port does not serve.
        let metrics_port = edge["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "metrics")
            .map(|p| p["containerPort"].as_u64().unwrap());
        match metrics_port {
            Some(port) => assert_eq!(
                settings["ADIC_EDGE_METRICS_LISTEN"],
                format!("0.0.0.0:{port}"),
                "{name}"
            ),
            None => assert_eq!(settings["ADIC_EDGE_METRICS_LISTEN"], "", "{name}"),
        }
        if let Some(monitor) = find(&docs, "ServiceMonitor", "") {
            let scraped = if metrics_port.is_some() {
                "metrics"
            } else {
                "http"
            };
            assert_eq!(monitor["spec"]["endpoints"][0]["port"], scraped, "{name}");
            assert_eq!(
                monitor["spec"]["endpoints"][0]["path"], "/metrics",
                "{name}"
            );
            if metrics_port.is_some() {
                let service = find(&docs, "Service", "-edge").unwrap();
                assert!(
                    service["spec"]["ports"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p["name"] == "metrics"),
                    "{name}"
                );
            }
        }
        // Every file the edge is told to read is mounted, from a Secret or the chart's
        // ConfigMap; with TLS the kubelet probes over HTTPS.
        let mounts: Vec<String> = edge["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| m["mountPath"].as_str().unwrap().to_owned())
            .collect();
        for var in [
            "ADIC_EDGE_TLS_CERT",
            "ADIC_EDGE_TLS_KEY",
            "ADIC_EDGE_AUTH_HS256_SECRET_FILE",
            "ADIC_EDGE_AUTH_PUBLIC_KEY",
        ] {
            let path = &settings[var];
            if !path.is_empty() {
                assert!(
                    mounts.iter().any(|m| path.starts_with(&format!("{m}/"))),
                    "{name}: {var}={path} is not under a mount: {mounts:?}"
                );
            }
        }
        let tls = !settings["ADIC_EDGE_TLS_CERT"].is_empty();
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
            let scheme = if tls { "HTTPS" } else { "HTTP" };
            assert_eq!(edge[probe]["httpGet"]["scheme"], scheme, "{name}: {probe}");
        }
        if !settings["ADIC_EDGE_AUTH_PUBLIC_KEY"].is_empty() {
            let key = find(&docs, "ConfigMap", "-auth-key").expect("the key's ConfigMap");
            assert!(
                key["data"]["public.pem"]
                    .as_str()
                    .unwrap()
                    .starts_with("-----BEGIN PUBLIC KEY-----"),
                "{name}"
            );
        }
    }
    // The chart's copy of the alert rules is the repository's.
    assert_eq!(
        std::fs::read_to_string(chart().join("files/alerts.yml")).unwrap(),
        std::fs::read_to_string(repo_file("deploy/prometheus/alerts.yml")).unwrap(),
        "helm/adic-stream/files/alerts.yml differs from deploy/prometheus/alerts.yml"
    );
}

#[test]
fn a_values_file_the_schema_rejects_fails_with_a_clear_message() {
    if !have_helm() {
        eprintln!("skipped: helm is not installed");
        return;
    }
    let err = helm::template_text(None, &["edge.drainGrace=30s"]).unwrap_err();
    assert!(
        err.to_string().contains("'drainGrace' not allowed"),
        "{err}"
    );
    let err = helm::template_text(None, &["edge.replicas=two"]).unwrap_err();
    assert!(err.to_string().contains("/edge/replicas"), "{err}");
    let err = helm::template_text(None, &["nats.url=localhost"]).unwrap_err();
    assert!(err.to_string().contains("/nats/url"), "{err}");
    // Values a parent chart passes down are allowed.
    helm::template_text(None, &["global.imageRegistry=example"]).unwrap();
}

#[test]
fn the_chart_readme_lists_every_value() {
    let readme = std::fs::read_to_string(chart().join("README.md")).unwrap();
    let values = helm::load_yaml(&chart().join("values.yaml")).unwrap();
    let mut keys = Vec::new();
    leaves(&values, String::new(), &mut keys);
    assert!(keys.len() > 40, "{keys:?}");
    for key in keys {
        assert!(
            readme.contains(&format!("`{key}`")),
            "helm/adic-stream/README.md does not list `{key}`"
        );
    }
}

#[test]
fn every_alert_has_a_runbook_entry() {
    let operations = std::fs::read_to_string(repo_file("docs/operations.md")).unwrap();
    let alerts = std::fs::read_to_string(repo_file("deploy/prometheus/alerts.yml")).unwrap();
    let names: Vec<&str> = alerts
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert!(names.len() > 10, "{names:?}");
    for name in names {
        assert!(
            operations.contains(&format!("| `{name}` |")),
            "docs/operations.md has no runbook entry for {name}"
        );
    }
}

/// Dotted paths of the values a user sets (free-form maps and lists count as one).
fn leaves(value: &Value, prefix: String, out: &mut Vec<String>) {
    const WHOLE: [&str; 10] = [
        "resources",
        "securityContext",
        "podSecurityContext",
        "annotations",
        "labels",
        "podAnnotations",
        "podLabels",
        "nodeSelector",
        "affinity",
        "capabilities",
    ];
    match value {
        Value::Object(map) if !map.is_empty() && !WHOLE.iter().any(|w| prefix.ends_with(w)) => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(v, path, out);
            }
        }
        _ => out.push(prefix),
    }
}
