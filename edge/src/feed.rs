//! The feed: reads the broker's live channel, validates and encodes each event once, keeps it in
//! the ring and the snapshot cache, and hands it to the hub. It never waits on a client.

use std::sync::Arc;

use adic_protocol::{Epoch, Kind, ValidEvent};
use tokio::sync::mpsc;

use crate::broker::{LiveItem, StreamIdentity};
use crate::encoded::EncodedEvent;
use crate::queue::CloseReason;
use crate::state::Edge;
use crate::trace;

/// Runs until the broker's channel closes.
pub async fn run(edge: Arc<Edge>, mut live: mpsc::Receiver<LiveItem>) {
    let prefix = edge.broker.prefix().to_owned();
    let mut epoch = Epoch(0);
    while let Some(item) = live.recv().await {
        match item {
            LiveItem::Started { identity, from_seq } => {
                if identity.epoch != epoch || edge.ring.bounds().1 + 1 != from_seq {
                    edge.ring.reset(from_seq);
                }
                if identity.epoch != epoch {
                    edge.snapshots.clear();
                    tokio::spawn(fill_snapshots(Arc::clone(&edge), identity));
                }
                epoch = identity.epoch;
                edge.feed.started(&identity, from_seq);
                tracing::info!(epoch = %epoch, from_seq, last_seq = identity.last_seq, "live feed running");
            }
            LiveItem::Reset(identity) => {
                epoch = identity.epoch;
                edge.feed.reset(&identity);
                edge.ring.reset(identity.first_seq);
                edge.snapshots.clear();
                tracing::warn!(epoch = %epoch, "stream recreated; closing clients so they start over");
                edge.hub.close_all(CloseReason::StreamReset);
            }
            LiveItem::Trimmed { first_seq } => {
                // Keep the ring no older than the stream, so every edge answers an old cursor
                // the same way (a Gap), whatever its ring still held.
                edge.ring.evict_before(first_seq);
            }
            LiveItem::Event(event) => {
                let seq = event.seq;
                let receiving = trace::receiving(event.traceparent.as_deref(), &event.subject);
                match ValidEvent::parse(&prefix, &event.subject, &event.payload) {
                    Ok(valid) => {
                        let mut encoded = EncodedEvent::new(epoch, &event, valid);
                        let fanning = receiving.as_ref().map(|r| {
                            let (fanning, trace) = r.fan_out();
                            encoded.trace = Some(trace);
                            fanning
                        });
                        let encoded = Arc::new(encoded);
                        edge.ring.push(Arc::clone(&encoded));
                        edge.snapshots.offer(&encoded);
                        let fanout = edge.hub.publish(&encoded);
                        let m = &edge.metrics;
                        m.events_emitted.inc();
                        m.conflated.inc_by(fanout.conflated as u64);
                        if let (Some(fanning), Some(receiving)) = (fanning, receiving) {
                            fanning.done(&encoded, fanout.recipients, fanout.conflated);
                            receiving.done(&encoded);
                        }
                    }
                    Err(error) => {
                        if let Some(receiving) = receiving {
                            receiving.failed(&error.to_string());
                        }
                        edge.ring.skip(seq);
                        edge.metrics
                            .events_dropped
                            .with_label_values(&["malformed"])
                            .inc();
                        tracing::warn!(seq, subject = %event.subject, %error, "dropped a malformed stream message");
                    }
                }
                edge.feed.published(seq);
                edge.metrics
                    .stream_sequence
                    .set(i64::try_from(seq).unwrap_or(i64::MAX));
            }
        }
    }
    edge.feed.stopped();
}

/// Seeds the snapshot cache with the stream's last value of each snapshot kind, so a client
/// asking for current values right after an edge starts gets them even for kinds that are
/// published rarely. Values the live feed brings in meanwhile win (they are newer).
async fn fill_snapshots(edge: Arc<Edge>, identity: StreamIdentity) {
    let prefix = edge.broker.prefix().to_owned();
    for kind in Kind::all().filter(|k| k.is_snapshot()) {
        let subject = kind.subject(&prefix);
        let Ok(Some(event)) = edge.broker.last_value(&subject).await else {
            continue;
        };
        // The stream may have been recreated meanwhile: an old instance's value must not land
        // in the new instance's cache.
        if edge.feed.epoch() != identity.epoch {
            return;
        }
        if let Ok(valid) = ValidEvent::parse(&prefix, &event.subject, &event.payload) {
            edge.snapshots
                .offer(&Arc::new(EncodedEvent::new(identity.epoch, &event, valid)));
        }
    }
}
