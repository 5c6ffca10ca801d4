//! The dashboard under test, for `tests/dashboard.rs`: a demo edge serving it in-process
//! ([`Demo`]), an independent WebSocket client on the same edge ([`Witness`]), and what a test
//! reads from the page through `window.adicDashboard` ([`STATUS`], [`wait_live`],
//! [`agree_with_witness`]).
//!
//! Why a witness: the page and the witness read the same totally ordered stream, so when the
//! page's cursor is an id the witness also received, the page must show exactly the tips count
//! the witness had at that id. Polling for that moment avoids racing the two clients.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adic_edge::demo::{self, DemoSettings};
use anyhow::{bail, Context};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::browser::{Browser, HEIGHT, WIDTH};
use crate::clients::WsClient;
use crate::wait_until;

/// Bound on each condition the tests wait for.
pub const WAIT: Duration = Duration::from_secs(30);

/// A demo edge (in-memory stream + simulated node at 20x speed) served in-process until dropped.
pub struct Demo {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Demo {
    /// Serves the demo on a free loopback port.
    pub async fn start() -> anyhow::Result<Demo> {
        Demo::start_on("127.0.0.1:0".parse()?).await
    }

    /// Serves the demo on `listen`, e.g. the address of one that was shut down.
    pub async fn start_on(listen: SocketAddr) -> anyhow::Result<Demo> {
        Demo::start_with(adic_edge::config::EdgeSettings {
            listen,
            ..adic_edge::config::EdgeSettings::default()
        })
        .await
    }

    /// Serves the demo with these edge settings (authentication, say).
    pub async fn start_with(edge: adic_edge::config::EdgeSettings) -> anyhow::Result<Demo> {
        let settings = DemoSettings {
            speed: 20.0,
            seed: Some(20),
            edge,
            ..DemoSettings::default()
        };
        let app = demo::start(settings).await?;
        let addr = app.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        Ok(Demo {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops serving (clients are closed with "reconnect elsewhere") and waits for the drain.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT, task)
                .await
                .context("demo edge did not stop")???;
        }
        Ok(())
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// What the witness has received: every id with the tips count as of that id, and counts.
#[derive(Default)]
pub struct Seen {
    pub tips_at: HashMap<String, Option<u64>>,
    pub tips: Option<u64>,
    pub tips_updates: usize,
    pub by_kind: HashMap<String, u64>,
}

/// An independent WebSocket client reading everything the edge sends, in the background.
pub struct Witness {
    seen: Arc<Mutex<Seen>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Witness {
    pub async fn connect(demo: &Demo) -> anyhow::Result<Witness> {
        let mut client = WsClient::connect(&format!("ws://{}/v1/ws/events", demo.addr)).await?;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let record = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            loop {
                let (id, event) = client.next_event().await?;
                let variant = event["type"].as_str().unwrap_or_default().to_owned();
                let mut seen = record.lock().expect("witness lock");
                if variant == "TipsUpdated" {
                    seen.tips = event["data"]["count"].as_u64();
                    seen.tips_updates += 1;
                }
                let tips = seen.tips;
                seen.tips_at.insert(id, tips);
                *seen.by_kind.entry(variant).or_default() += 1;
            }
        });
        Ok(Witness { seen, task })
    }

    /// Reads what the witness has seen so far.
    pub fn with<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().expect("witness lock"))
    }

    /// Waits until the witness has seen a tips update.
    pub async fn wait_for_tips(&self) -> anyhow::Result<()> {
        // Also stop waiting when the witness has stopped reading: it will see nothing more.
        let _ = wait_until(WAIT, || async {
            self.task.is_finished() || self.with(|s| s.tips_updates) > 0
        })
        .await;
        if self.with(|s| s.tips_updates) == 0 {
            bail!("the witness saw no TipsUpdated");
        }
        Ok(())
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Evaluates `expression` until `done` accepts its value (for at most [`WAIT`]).
pub async fn poll_page(
    browser: &mut Browser,
    what: &str,
    expression: &str,
    done: impl FnMut(&Value) -> bool,
) -> anyhow::Result<Value> {
    browser.eval_until(what, expression, WAIT, done).await
}

/// The page's model and what its header shows, as one JSON object.
pub const STATUS: &str = "(() => { const d = window.adicDashboard; \
     return { state: d.state, transport: d.transport, cursor: d.cursor, tips: d.tipsCount, total: d.total, \
              stateText: document.getElementById('state').textContent, \
              cursorText: document.getElementById('cursor').textContent, \
              tipsText: document.getElementById('tips-count').textContent }; })()";

/// Events the page has received, from a [`STATUS`] value.
#[must_use]
pub fn total(status: &Value) -> u64 {
    status["total"].as_u64().unwrap_or(0)
}

/// Waits until the page is live over `transport` and its header says `label`.
pub async fn wait_live(
    browser: &mut Browser,
    transport: &str,
    label: &str,
) -> anyhow::Result<Value> {
    poll_page(browser, &format!("live over {transport}"), STATUS, |s| {
        s["state"] == "live"
            && s["transport"] == transport
            && s["stateText"].as_str().is_some_and(|t| t.contains(label))
    })
    .await
}

/// Waits until the page's cursor is an id the witness received, then compares the tips count.
pub async fn agree_with_witness(
    browser: &mut Browser,
    witness: &Witness,
) -> anyhow::Result<(String, u64)> {
    let status = poll_page(
        browser,
        "the page's cursor is an id the witness received",
        STATUS,
        |s| {
            s["tips"].as_u64().is_some()
                && s["cursor"]
                    .as_str()
                    .is_some_and(|c| witness.with(|w| w.tips_at.contains_key(c)))
        },
    )
    .await?;
    let (Some(cursor), Some(tips)) = (status["cursor"].as_str(), status["tips"].as_u64()) else {
        bail!("no cursor and tips count in {status}");
    };
    let expected = witness
        .with(|s| s.tips_at.get(cursor).copied().flatten())
        .context("the witness had no tips count at the page's cursor")?;
    assert_eq!(tips, expected, "page tips count at cursor {cursor}");
    Ok((cursor.to_owned(), tips))
}

/// With `DASHBOARD_SHOTS=<dir>`, also writes the whole page in light and dark and a phone-sized
/// view there, for reviewing the design.
pub async fn extra_screenshots(browser: &mut Browser) -> anyhow::Result<()> {
    let Some(dir) = std::env::var_os("DASHBOARD_SHOTS").map(std::path::PathBuf::from) else {
        return Ok(());
    };
    browser.set_viewport(1280, 1500).await?;
    browser.screenshot(&dir.join("dashboard-full.png")).await?;
    let dark =
        serde_json::json!({ "features": [{ "name": "prefers-color-scheme", "value": "dark" }] });
    browser.command("Emulation.setEmulatedMedia", dark).await?;
    // Time itself: the charts redraw on the page's one-second timer, which exposes nothing to
    // wait for; a little over one period means they have been drawn in the new scheme.
    browser
        .eval("new Promise(r => setTimeout(r, 1100))")
        .await?;
    browser.screenshot(&dir.join("dashboard-dark.png")).await?;
    browser
        .command(
            "Emulation.setEmulatedMedia",
            serde_json::json!({ "features": [] }),
        )
        .await?;
    browser.set_viewport(390, 1400).await?;
    // The same one-second redraw, at the narrow width.
    browser
        .eval("document.querySelector('#feed-pause').click(); document.querySelector('#feed details').open = true; \
               document.querySelector('.feed-panel').scrollIntoView(); new Promise(r => setTimeout(r, 1100))")
        .await?;
    browser
        .screenshot(&dir.join("dashboard-narrow.png"))
        .await?;
    browser.eval("document.querySelector('#feed details').open = false; document.querySelector('#feed-pause').click(); scrollTo(0, 0)").await?;
    browser.set_viewport(WIDTH, HEIGHT).await
}
