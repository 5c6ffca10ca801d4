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
