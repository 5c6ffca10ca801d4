//! The test harness for end-to-end tests: real `nats-server` processes ([`nats`]), real edges
//! ([`edge`]), and clients over real sockets ([`clients`]); edges as child processes behind
//! haproxy ([`processes`]) and the failure-test world built from them ([`chaos`]); a stand-in
//! for an existing node's own event stream ([`node`]) and `adic-publisher relay` processes
//! ([`relay`]); a forward
//! proxy and a recording relay for client tests ([`proxies`]); headless
//! Chromium ([`browser`]) and the dashboard under test ([`dashboard_page`]); the client examples
//! in `docs/examples/` as tests run them ([`examples`]).

use std::future::Future;
use std::time::{Duration, Instant};

pub mod browser;
pub mod chaos;
pub mod clients;
pub mod dashboard_page;
pub mod docker;
pub mod edge;
pub mod examples;
pub mod helm;
pub mod nats;
pub mod node;
pub mod otlp;
pub mod processes;
pub mod prometheus;
pub mod promql;
pub mod proxies;
pub mod raw_ws;
pub mod relay;
pub mod stream;
pub mod tokens;

/// Polls `condition` until it holds or `within` has passed.
pub async fn wait_until<F, Fut>(within: Duration, mut condition: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if condition().await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            anyhow::bail!("condition not met within {within:?}");
        }
        // Paces the checks; `within` bounds the wait.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Installs a test log subscriber when `TEST_LOG` is set; silent otherwise.
pub fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}
