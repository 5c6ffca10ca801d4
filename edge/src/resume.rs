//! Where a resuming client starts: the decision made once per connection (or poll) from its
//! cursor.
//!
//! - no cursor: live from now;
//! - a cursor of another stream instance: a Reset notice, then the new stream from its start;
//! - a cursor ahead of this edge but within the stream (the client came from an edge that was
//!   further along): wait for this edge to catch up, skipping what the client has;
//! - a cursor beyond the stream's last sequence: an error;
//! - a cursor older than the stream keeps: a Gap notice, then from the oldest event held;
//! - otherwise: every event after the cursor, from the ring or from JetStream, then live.

use adic_protocol::ws::{Gap, Reset};
use adic_protocol::{Cursor, Epoch};

use crate::encoded::EncodedEvent;
use crate::state::Edge;

/// Something a client is told before events.
#[derive(Clone, Debug)]
pub enum Notice {
    /// The current value of a snapshot kind (carries no cursor).
    Snapshot(std::sync::Arc<EncodedEvent>),
    Gap(Gap),
    Reset(Reset),
}

/// Where a client starts.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The stream instance the plan was made for: a session or page starts on it, so a reset
    /// that happens meanwhile closes it (4002) instead of mixing two streams.
    pub epoch: Epoch,
    /// The last sequence the client already has; `None`: live from now.
    pub after: Option<u64>,
    pub notices: Vec<Notice>,
}

/// Why a cursor cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("cursor {cursor} is beyond the end of the stream (its newest event is {last}); resume from a cursor this stream gave you")]
    BeyondStream { cursor: Cursor, last: Cursor },
    #[error(
        "this edge is not connected to the event stream yet; retry shortly or use another edge"
    )]
    NotReady,
    #[error("the event stream is unavailable: {0}")]
    Unavailable(String),
}

/// Decides where a client with `cursor` starts, and counts the resume by its source.
pub async fn plan(edge: &Edge, cursor: Option<Cursor>) -> Result<Plan, ResumeError> {
    // Before the feed runs there is no epoch to start on.
    let current = edge.feed.cursor().ok_or(ResumeError::NotReady)?;
    let Some(cursor) = cursor else {
        return Ok(Plan {
            epoch: current.epoch,
            after: None,
            notices: Vec::new(),
        });
    };
    let identity = || async {
        let id = edge
            .broker
            .identity()
            .await
            .map_err(|e| ResumeError::Unavailable(e.to_string()))?;
        // The stream was recreated and this edge's feed has not noticed yet: another edge (or
        // this one in a few seconds) answers correctly; this one would mix the two streams.
        if id.epoch != current.epoch {
            return Err(ResumeError::NotReady);
        }
        Ok(id)
    };
    let (source, plan) = if cursor.epoch != current.epoch {
        let id = identity().await?;
        let before_first = Cursor::new(current.epoch, id.first_seq.saturating_sub(1));
        let reset = Reset {
            current: before_first,
            reason: format!(
                "cursor {cursor} belongs to another stream instance (the stream was recreated); events follow from the new stream's start"
            ),
        };
        (
            "reset",
            Plan {
                epoch: current.epoch,
                after: Some(before_first.seq),
                notices: vec![Notice::Reset(reset)],
            },
        )
    } else if cursor.seq > current.seq {
        let id = identity().await?;
        if cursor.seq > id.last_seq {
            return Err(ResumeError::BeyondStream {
                cursor,
                last: Cursor::new(current.epoch, id.last_seq),
            });
        }
        (
            "ahead",
            Plan {
                epoch: current.epoch,
                after: Some(cursor.seq),
                notices: Vec::new(),
            },
        )
    } else if edge.ring.covers(cursor.seq + 1) {
        (
            "ring",
            Plan {
                epoch: current.epoch,
                after: Some(cursor.seq),
                notices: Vec::new(),
            },
        )
    } else {
        let id = identity().await?;
        if cursor.seq + 1 < id.first_seq {
            let gap = Gap {
                requested: cursor,
                first_available: Cursor::new(current.epoch, id.first_seq),
            };
            (
                "gap",
                Plan {
                    epoch: current.epoch,
                    after: Some(id.first_seq - 1),
                    notices: vec![Notice::Gap(gap)],
                },
            )
        } else {
            (
                "jetstream",
                Plan {
                    epoch: current.epoch,
                    after: Some(cursor.seq),
                    notices: Vec::new(),
                },
            )
        }
    };
    edge.metrics.resumes.with_label_values(&[source]).inc();
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use adic_protocol::{Cursor, Epoch, Kind};
    use bytes::Bytes;

    use super::{plan, Notice, ResumeError};
    use crate::broker::memory::MemoryBroker;
    use crate::config::EdgeSettings;
    use crate::state::Edge;
    use crate::App;

    /// An edge on an in-memory stream that keeps 100 events, of which `published` were
    /// published, with a ring of 10; returns once its feed has fanned out all of them.
    async fn edge(published: u64) -> (App, Arc<Edge>) {
        let broker = MemoryBroker::new("adic.events", 100);
        for n in 1..=published {
            let json = format!(
                r#"{{"type":"MessageAdded","data":{{"message_id":"m","depth":{n},"timestamp":1}}}}"#
            );
            broker.publish(
                Kind::MessageAdded.subject("adic.events"),
                Bytes::from(json),
                None,
            );
        }
        let settings = EdgeSettings {
            ring_events: 10,
            ..EdgeSettings::default()
        };
        let app = App::build(settings, Arc::new(broker)).await.unwrap();
        let edge = app.edge();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while edge.feed.published_seq() < published || edge.feed.cursor().is_none() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the feed did not start"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        (app, edge)
    }

    fn source_count(edge: &Edge, source: &str) -> u64 {
        edge.metrics.resumes.with_label_values(&[source]).get()
    }

    #[tokio::test]
    async fn the_decision_table() {
        let (_app, edge) = edge(150).await;
        let epoch = edge.feed.epoch();
        let at = |seq| Cursor::new(epoch, seq);

        // No cursor: live from now.
        let p = plan(&edge, None).await.unwrap();
        assert_eq!((p.after, p.notices.len()), (None, 0));

        // Inside the ring (the newest 10): from the cursor, served from memory.
        let p = plan(&edge, Some(at(145))).await.unwrap();
        assert_eq!(p.after, Some(145));
        assert!(p.notices.is_empty());
        assert_eq!(source_count(&edge, "ring"), 1);

        // Older than the ring, still in the stream (it keeps 51..=150): from JetStream.
        let p = plan(&edge, Some(at(60))).await.unwrap();
        assert_eq!(p.after, Some(60));
        assert_eq!(source_count(&edge, "jetstream"), 1);

        // Older than the stream keeps: a gap, then from the oldest event held.
        let p = plan(&edge, Some(at(10))).await.unwrap();
        assert_eq!(p.after, Some(50));
        match &p.notices[..] {
            [Notice::Gap(gap)] => {
                assert_eq!(gap.requested, at(10));
                assert_eq!(gap.first_available, at(51));
            }
            other => panic!("{other:?}"),
        }

        // The cursor just before the oldest event held is no gap.
        let p = plan(&edge, Some(at(50))).await.unwrap();
        assert!(p.notices.is_empty(), "{:?}", p.notices);

        // Another stream instance: a reset to the start of this one.
        let other = Cursor::new(Epoch(epoch.0.wrapping_add(1)), 7);
        let p = plan(&edge, Some(other)).await.unwrap();
        assert_eq!(p.after, Some(50));
        assert!(matches!(&p.notices[..], [Notice::Reset(r)] if r.current == at(50)));

        // Beyond the stream's last event: an error naming the newest.
        let err = plan(&edge, Some(at(151))).await.unwrap_err();
        assert!(
            matches!(err, ResumeError::BeyondStream { last, .. } if last == at(150)),
            "{err}"
        );
        assert_eq!(p.epoch, epoch);
    }
}
