//! A real Prometheus server for a test: the `prometheus` binary as a child process on a free
//! loopback port, scraping the given targets every second, with its own config, TSDB and log in a
//! fresh temp dir. Queries go through its HTTP API, so an invalid expression fails exactly as it
//! would on a production server. Dropping it kills the process and removes the dir (kept, with its
//! path printed, when `TEST_LOG` is set).
//!
//! ```no_run
//! # async fn demo(edge: std::net::SocketAddr) -> anyhow::Result<()> {
//! use adic_tests::prometheus::{ScrapeTarget, TestPrometheus};
//!
//! let prometheus = TestPrometheus::start(&[ScrapeTarget::new("adic-edge", edge)], &[]).await?;
//! let up = prometheus.value(r#"up{job="adic-edge"}"#).await?;
//! assert_eq!(up, Some(1.0));
//! # Ok(())
//! # }
//! ```

use std::fmt::Write as _;
use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use serde_json::Value;
use tempfile::TempDir;

use crate::nats::free_port;

/// How often Prometheus scrapes every target and evaluates rules.
pub const SCRAPE_INTERVAL: Duration = Duration::from_secs(1);
/// How long Prometheus may take to start and to see every target up.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one HTTP API request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between readiness probes.
const POLL: Duration = Duration::from_millis(100);
/// Attempts to start, for when another process takes the port between [`free_port`] and the bind.
const START_ATTEMPTS: usize = 3;

/// One scrape job: a job name and the `host:port` serving `GET /metrics`.
#[derive(Clone, Debug)]
pub struct ScrapeTarget {
    pub job: String,
    pub addr: SocketAddr,
}

impl ScrapeTarget {
    pub fn new(job: impl Into<String>, addr: SocketAddr) -> ScrapeTarget {
        ScrapeTarget {
            job: job.into(),
            addr,
        }
    }
}

/// A running Prometheus.
pub struct TestPrometheus {
    child: Child,
    port: u16,
    log: PathBuf,
    http: reqwest::Client,
    /// Removed after `Drop` has killed the process.
    dir: TempDir,
}

impl TestPrometheus {
    /// Starts Prometheus scraping `targets` (and evaluating the rule files `rules`, given by
    /// absolute path) every second, and waits until it is ready and every target is up.
    ///
    /// Fails with installation advice when there is no `prometheus` binary.
    pub async fn start(targets: &[ScrapeTarget], rules: &[PathBuf]) -> anyhow::Result<Self> {
        let bin = binary()?;
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let mut prometheus = TestPrometheus::spawn(&bin, targets, rules)?;
            match prometheus.wait_ready(targets.len()).await {
                Ok(()) => return Ok(prometheus),
                Err(e) if prometheus.port_taken() => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("prometheus did not start")))
    }

    fn spawn(bin: &Path, targets: &[ScrapeTarget], rules: &[PathBuf]) -> anyhow::Result<Self> {
        let mut dir = tempfile::Builder::new()
            .prefix("adic-prometheus-")
            .tempdir()
            .context("creating a temp dir for prometheus")?;
        dir.disable_cleanup(test_log());
        let config = dir.path().join("prometheus.yml");
        fs::write(&config, config_text(targets, rules))
            .with_context(|| format!("writing {}", config.display()))?;
        let log = dir.path().join("prometheus.log");
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("duplicating the log file handle")?;
        let port = free_port();
        if test_log() {
            eprintln!(
                "prometheus (port {port}) config and log, kept after the test: {}",
                dir.path().display()
            );
        }
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        Ok(TestPrometheus {
            child,
            port,
            log,
            http: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .build()
                .context("building an HTTP client")?,
            dir,
        })
    }

    /// Waits until `/-/ready` answers 200 and `targets` targets report health `up`.
    async fn wait_ready(&mut self, targets: usize) -> anyhow::Result<()> {
        let started = Instant::now();
        let ready = self.url("/-/ready");
        loop {
            if let Some(why) = self.exited() {
                bail!(why);
            }
            let last = match self.http.get(&ready).send().await {
                Ok(r) if r.status() == 200 => match self.targets_up(targets).await {
                    Ok(true) => return Ok(()),
                    Ok(false) => "not every target is up yet".to_owned(),
                    Err(e) => format!("{e:#}"),
                },
                Ok(r) => format!("/-/ready answered {}", r.status()),
                Err(e) => format!("/-/ready: {e}"),
            };
            if started.elapsed() > READY_TIMEOUT {
                let targets = self.api("/api/v1/targets", &[]).await.ok();
                bail!(
                    "prometheus on port {} not ready with every target up after {READY_TIMEOUT:?}: \
                     {last}; targets: {}; log {}:\n{}",
                    self.port,
                    targets.map_or_else(|| "(unknown)".to_owned(), |t| t.to_string()),
                    self.log.display(),
                    log_tail(&self.log)
                );
            }
            // Paces the probes of a condition loop bounded by READY_TIMEOUT.
            tokio::time::sleep(POLL).await;
        }
    }

    async fn targets_up(&self, expected: usize) -> anyhow::Result<bool> {
        let data = self.api("/api/v1/targets", &[]).await?;
        let active = data["activeTargets"]
            .as_array()
            .context("targets without activeTargets")?;
        Ok(active.len() == expected && active.iter().all(|t| t["health"] == "up"))
    }

    /// The `data` of an instant query (`{"resultType": ..., "result": ...}`); an error when
    /// Prometheus answers with status `error`, e.g. for an expression it cannot parse or evaluate.
    pub async fn query(&self, promql: &str) -> anyhow::Result<Value> {
        self.api("/api/v1/query", &[("query", promql)])
            .await
            .with_context(|| format!("query `{promql}`"))
    }

    /// The value of an instant query that yields at most one series or a scalar: `None` when it
    /// yields nothing, an error when it yields more than one series.
    pub async fn value(&self, promql: &str) -> anyhow::Result<Option<f64>> {
        let data = self.query(promql).await?;
        let sample = match data["resultType"].as_str() {
            Some("scalar") => Some(&data["result"]),
            Some("vector") => {
                let result = data["result"].as_array().context("vector without result")?;
                match result.as_slice() {
                    [] => None,
                    [one] => Some(&one["value"]),
                    _ => bail!(
                        "`{promql}` yields {} series, expected one: {data}",
                        result.len()
                    ),
                }
            }
            other => bail!("`{promql}` yields a {other:?}, expected a vector or scalar"),
        };
        sample
            .map(|s| {
                s[1].as_str()
                    .context("a sample without a value")?
                    .parse::<f64>()
                    .context("a sample value that is not a number")
            })
            .transpose()
    }

    /// Waits until every target has been scraped (fully) after `after`, so queries see the values
    /// the targets had at that moment or later.
    pub async fn wait_scraped_after(&self, after: SystemTime) -> anyhow::Result<()> {
        let after = after.duration_since(UNIX_EPOCH)?.as_secs_f64();
        // A scrape's samples carry the time it started; one more interval covers its duration.
        let started = Instant::now();
        let within = READY_TIMEOUT;
        loop {
            let data = self.query("timestamp(up)").await?;
            let result = data["result"].as_array().context("vector without result")?;
            let stamps: Vec<f64> = result
                .iter()
                .filter_map(|s| s["value"][1].as_str()?.parse().ok())
                .collect();
            if !stamps.is_empty() && stamps.iter().all(|&t| t > after) {
                return Ok(());
            }
            if started.elapsed() > within {
                bail!("no scrape of every target after {after} within {within:?}: {data}");
            }
            // Paces the checks of a condition loop bounded by `within`; scrapes come each second.
            tokio::time::sleep(POLL).await;
        }
    }

    /// The `data` of `/api/v1/rules`: every rule group with each rule's health and last error.
    pub async fn rules(&self) -> anyhow::Result<Value> {
        self.api("/api/v1/rules", &[]).await
    }

    /// GET on the HTTP API; the answer's `data`, or an error naming what Prometheus said.
    pub async fn api(&self, path: &str, params: &[(&str, &str)]) -> anyhow::Result<Value> {
        let url = reqwest::Url::parse_with_params(&self.url(path), params)
            .with_context(|| format!("a URL for {path}"))?;
        let response = self
            .http
            .get(url)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("GET {path} answered {status} without JSON"))?;
        if body["status"] != "success" {
            bail!(
                "prometheus answered {status}, {}: {}",
                body["errorType"],
                body["error"]
            );
        }
        Ok(body["data"].clone())
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The temp dir holding the config, TSDB and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `Some(reason)` if the process has exited.
    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!(
                "prometheus exited ({status}); log {}:\n{}",
                self.log.display(),
                log_tail(&self.log)
            )),
            Ok(None) => None,
            Err(e) => Some(format!("prometheus: waiting failed: {e}")),
        }
    }

    fn port_taken(&self) -> bool {
        fs::read_to_string(&self.log).is_ok_and(|log| log.contains("address already in use"))
    }
}

impl Drop for TestPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `prometheus` binary: from `PATH`, else where Debian installs it.
fn binary() -> anyhow::Result<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("prometheus"))
        .chain([PathBuf::from("/usr/bin/prometheus")])
        .find(|p| p.is_file())
        .ok_or_else(missing_binary)
}

fn missing_binary() -> anyhow::Error {
    anyhow!(
        "no prometheus binary found in PATH or /usr/bin. Install it with \
         `apt-get install -y prometheus` (Debian package; `.ci/run` installs it)"
    )
}

/// The config: every target its own job, scraped and rules evaluated each [`SCRAPE_INTERVAL`].
fn config_text(targets: &[ScrapeTarget], rules: &[PathBuf]) -> String {
    let interval = format!("{}s", SCRAPE_INTERVAL.as_secs());
    let mut config = format!(
        "global:\n  scrape_interval: {interval}\n  scrape_timeout: {interval}\n  \
         evaluation_interval: {interval}\n"
    );
    if !rules.is_empty() {
        config += "rule_files:\n";
        for rule in rules {
            let _ = writeln!(config, "  - {:?}", rule.display().to_string());
        }
    }
    config += "scrape_configs:\n";
    for target in targets {
        let _ = writeln!(
            config,
            "  - job_name: {:?}\n    static_configs:\n      - targets: [\"{}\"]",
            target.job, target.addr
        );
    }
    config
}

fn test_log() -> bool {
    std::env::var_os("TEST_LOG").is_some()
}

/// The last lines of a log file, for error messages.
fn log_tail(path: &Path) -> String {
    let Ok(text) = fs::read_to_string(path) else {
        return "(no log)".to_owned();
    };
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binary_says_how_to_get_one() {
        let message = missing_binary().to_string();
        assert!(
            message.contains("apt-get install -y prometheus"),
            "{message}"
        );
    }

    #[test]
    fn config_names_every_target_and_rule_file() {
        let config = config_text(
            &[ScrapeTarget::new(
                "adic-edge",
                "127.0.0.1:9121".parse().unwrap(),
            )],
            &[PathBuf::from("/tmp/alerts.yml")],
        );
        assert!(config.contains("scrape_interval: 1s"), "{config}");
        assert!(config.contains("  - \"/tmp/alerts.yml\""), "{config}");
        assert!(config.contains("job_name: \"adic-edge\""), "{config}");
        assert!(config.contains("targets: [\"127.0.0.1:9121\"]"), "{config}");
    }
}
