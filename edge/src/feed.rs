//! The feed: reads the broker's live channel, validates and encodes each event once, and hands
//! it to the hub. It never waits on a client.

use std::sync::Arc;

use adic_protocol::{Epoch, ValidEvent};
use tokio::sync::mpsc;

use crate::broker::LiveItem;
use crate::encoded::EncodedEvent;
use crate::queue::CloseReason;
use crate::state::Edge;

/// Runs until the broker's channel closes.
pub async fn run(edge: Arc<Edge>, mut live: mpsc::Receiver<LiveItem>) {
    let prefix = edge.broker.prefix().to_owned();
    let mut epoch = Epoch(0);
    while let Some(item) = live.recv().await {
        match item {
            LiveItem::Started(identity) => {
                epoch = identity.epoch;
                edge.feed.started(&identity);
                tracing::info!(epoch = %epoch, last_seq = identity.last_seq, "live feed running");
            }
            LiveItem::Reset(identity) => {
                epoch = identity.epoch;
                edge.feed.reset(&identity);
                tracing::warn!(epoch = %epoch, "stream recreated; closing clients so they start over");
                edge.hub.close_all(CloseReason::StreamReset);
            }
            LiveItem::Event(event) => {
                edge.feed.advanced(event.seq);
                edge.metrics
                    .stream_sequence
                    .set(i64::try_from(event.seq).unwrap_or(i64::MAX));
                match ValidEvent::parse(&prefix, &event.subject, &event.payload) {
                    Ok(valid) => {
                        let encoded = Arc::new(EncodedEvent::new(epoch, &event, valid));
                        edge.hub.publish(&encoded);
                        edge.metrics.events_emitted.inc();
                    }
                    Err(error) => {
                        edge.metrics
                            .events_dropped
                            .with_label_values(&["malformed"])
                            .inc();
                        tracing::warn!(seq = event.seq, subject = %event.subject, %error, "dropped a malformed stream message");
                    }
                }
            }
        }
    }
    edge.feed.stopped();
}
