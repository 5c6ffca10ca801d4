//! `adic-edge demo`: the whole tier in one process, for one machine.
//!
//! The edge runs on the in-memory broker, fed by the publisher crate's simulated node, so a
//! newcomer sees live events in a browser with one command and no NATS. Clients see the same
//! protocol as in production (cursors, filters, frames). Not for production: events live in this
//! process only, and they are simulated.

use std::sync::Arc;
use std::time::Duration;

use adic_protocol::DEFAULT_PREFIX;
use adic_publisher::simulate::{self, SimConfig};
use bytes::Bytes;
use futures::StreamExt;

use crate::broker::memory::MemoryBroker;
use crate::config::EdgeSettings;
use crate::App;

/// Settings of the demo.
#[derive(Clone, Debug)]
pub struct DemoSettings {
    pub edge: EdgeSettings,
    pub speed: f64,
    pub seed: Option<u64>,
    /// Events the in-memory stream keeps.
    pub capacity: usize,
}

impl Default for DemoSettings {
    fn default() -> Self {
        DemoSettings {
            edge: EdgeSettings::default(),
            speed: 1.0,
            seed: None,
            capacity: 100_000,
        }
    }
}

/// Builds the demo: an in-memory stream, the simulated node publishing into it, and the edge.
pub async fn start(settings: DemoSettings) -> anyhow::Result<App> {
    let broker = MemoryBroker::new(DEFAULT_PREFIX, settings.capacity);
    let app = App::build(settings.edge, Arc::new(broker.clone())).await?;
    let config = SimConfig {
        speed: settings.speed,
        seed: settings.seed,
    };
    tokio::spawn(async move {
        let events = simulate::stream(config);
        futures::pin_mut!(events);
        while let Some(event) = events.next().await {
            match serde_json::to_vec(&event) {
                Ok(json) => {
                    broker.publish(
                        event.kind().subject(DEFAULT_PREFIX),
                        Bytes::from(json),
                        None,
                    );
                }
                Err(e) => tracing::error!(error = %e, "simulated event did not serialize"),
            }
        }
    });
    // Let the live feed start before the first client connects.
    let edge = app.edge();
    for _ in 0..100 {
        if edge.readiness().is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(app)
}
