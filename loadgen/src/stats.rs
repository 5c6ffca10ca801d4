//! What one connection measured, and how frames are read cheaply.
//!
//! The load generator must not become the bottleneck it measures, so it never parses event
//! JSON: it finds the cursor (`"id":"<epoch>-<seq>"` on WebSocket, `id: ` on SSE) and, on the
//! connections that sample latency, the publish time the benchmark publisher put into each event
//! (`"sent_ns":<unix ns>`), by scanning bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use adic_protocol::Kind;
use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency values are recorded in microseconds, up to 60 s.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// The result of one connection.
#[derive(Debug, Default)]
pub struct ConnResult {
    pub connected: bool,
    pub received: u64,
    /// Events whose sequence was not above the previous one (duplicates or reordering).
    pub out_of_order: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub latency: Option<Histogram<u64>>,
    pub error: Option<String>,
    /// A close code the server sent.
    pub close_code: Option<u16>,
    /// When the last event arrived; kept only when a run times its last delivery (burst).
    pub last_at: Option<Instant>,
    /// Events received by every connection of the run, when the run waits for all of them.
    pub progress: Option<Arc<AtomicU64>>,
    /// For a resuming connection (reconnect storm): what it must catch up on.
    pub catch_up: Option<Arc<CatchUp>>,
    /// Events received with a sequence in the catch-up range (`after`, `target`].
    pub in_range: u64,
    /// When the connection first received an event at or beyond the catch-up target.
    pub caught_up_at: Option<Instant>,
    /// For a connection subscribed to one kind (`--filter-spread`): that kind and how to spot it.
    pub only: Option<OnlyKind>,
    /// Events received of another kind than the one subscribed to.
    pub wrong_kind: u64,
    /// Progress markers received (the stream moved past events the filter skips).
    pub progress_markers: u64,
}

/// The one kind a filtered connection subscribed to, and the bytes that mark its frames: the
/// WebSocket payload's `"type":"<Variant>"` or the SSE `event: <dotted name>` line.
#[derive(Debug)]
pub struct OnlyKind {
    pub kind: Kind,
    ws: Vec<u8>,
    sse: Vec<u8>,
}

impl OnlyKind {
    pub fn new(kind: Kind) -> OnlyKind {
        OnlyKind {
            kind,
            ws: format!(r#""type":"{}""#, kind.variant()).into_bytes(),
            sse: format!("event: {}\n", kind.name()).into_bytes(),
        }
    }

    /// Whether a frame carries an event of this kind.
    pub fn matches(&self, frame: &[u8]) -> bool {
        find(frame, &self.ws).is_some() || find(frame, &self.sse).is_some()
    }
}

/// Deliveries owed and made for the connections subscribed to one kind (`--filter-spread`).
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct KindTally {
    pub kind: String,
    /// Connected connections subscribed to it.
    pub connections: u64,
    /// Events of this kind published.
    pub published: u64,
    /// published × connections.
    pub expected: u64,
    /// Events of this kind received.
    pub received: u64,
    /// Sum over its connections of what each was owed and did not receive.
    pub lost: u64,
}

/// Per-kind loss for connections that each took one kind: `published[kind]` is what each
/// connected connection of that kind was owed; `conns` gives (its kind, events of that kind it
/// received) for each connected connection. Tallies come in the order of `kinds`.
pub fn tally_kinds(
    kinds: &[Kind],
    published: &[u64; Kind::COUNT],
    conns: impl IntoIterator<Item = (Kind, u64)>,
) -> Vec<KindTally> {
    let mut tallies: Vec<KindTally> = kinds
        .iter()
        .map(|k| KindTally {
            kind: k.name().to_owned(),
            published: published[k.index()],
            ..KindTally::default()
        })
        .collect();
    for (kind, received) in conns {
        let Some(at) = kinds.iter().position(|k| *k == kind) else {
            continue;
        };
        let tally = &mut tallies[at];
        tally.connections += 1;
        tally.expected += tally.published;
        tally.received += received;
        tally.lost += tally.published.saturating_sub(received);
    }
    tallies
}

/// What every connection of a reconnect storm must receive: each event after the cursor it
/// resumes from (`after`) up to the stream's newest at the start of the storm (`target`).
#[derive(Debug, Default)]
pub struct CatchUp {
    pub after: u64,
    pub target: u64,
    /// Connections that have reached `target`.
    pub reached: AtomicU64,
}

impl CatchUp {
    pub fn new(after: u64, target: u64) -> CatchUp {
        CatchUp {
            after,
            target,
            reached: AtomicU64::new(0),
        }
    }

    /// Events each connection must receive.
    pub fn owed(&self) -> u64 {
        self.target.saturating_sub(self.after)
    }
}

impl ConnResult {
    pub fn sampling(sample: bool) -> ConnResult {
        ConnResult {
            latency: sample.then(new_histogram),
            ..ConnResult::default()
        }
    }

    /// Also notes when the last event arrived and counts every event into `progress`.
    pub fn timed(mut self, progress: Option<Arc<AtomicU64>>) -> ConnResult {
        self.progress = progress;
        self
    }

    /// Accounts one event with its cursor sequence and the frame bytes.
    pub fn event(&mut self, seq: Option<u64>, frame: &[u8]) {
        self.received += 1;
        if let Some(only) = &self.only {
            if !only.matches(frame) {
                self.wrong_kind += 1;
            }
        }
        if let Some(progress) = &self.progress {
            progress.fetch_add(1, Ordering::Relaxed);
            self.last_at = Some(Instant::now());
        }
        if let (Some(seq), Some(catch_up)) = (seq, &self.catch_up) {
            if seq > catch_up.after && seq <= catch_up.target {
                self.in_range += 1;
            }
            if seq >= catch_up.target && self.caught_up_at.is_none() {
                self.caught_up_at = Some(Instant::now());
                catch_up.reached.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(seq) = seq {
            if self.last_seq.is_some_and(|last| seq <= last) {
                self.out_of_order += 1;
            }
            self.first_seq.get_or_insert(seq);
            self.last_seq = Some(seq);
        }
        if let Some(histogram) = &mut self.latency {
            if let Some(sent) = number_after(frame, b"\"sent_ns\":") {
                let now = now_ns();
                let micros = now.saturating_sub(sent) / 1000;
                let _ = histogram.record(micros.max(1));
            }
        }
    }
}

/// Unix time in nanoseconds.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The decimal number right after `key` in `bytes`.
pub fn number_after(bytes: &[u8], key: &[u8]) -> Option<u64> {
    let start = find(bytes, key)? + key.len();
    let digits = bytes[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&bytes[start..start + digits])
        .ok()?
        .parse()
        .ok()
}

/// The sequence of a cursor after `key` (`<epoch>-<seq>`).
pub fn cursor_seq_after(bytes: &[u8], key: &[u8]) -> Option<u64> {
    let start = find(bytes, key)? + key.len();
    let dash = bytes[start..].iter().take(16).position(|b| *b == b'-')?;
    number_after(&bytes[start + dash..], b"-")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cursor_and_publish_time_from_frames() {
        let ws = br#"{"type":"Event","id":"0a1b2c3d-42","event":{"type":"X","data":{"sent_ns":123,"timestamp":1}}}"#;
        assert_eq!(cursor_seq_after(ws, br#""id":""#), Some(42));
        assert_eq!(number_after(ws, br#""sent_ns":"#), Some(123));
        let sse = b"event: x\nid: 0a1b2c3d-7\ndata: {}\n\n";
        assert_eq!(cursor_seq_after(sse, b"\nid: "), Some(7));
    }

    #[test]
    fn tracks_catch_up() {
        let catch_up = Arc::new(CatchUp::new(10, 13));
        let mut r = ConnResult::sampling(false);
        r.catch_up = Some(Arc::clone(&catch_up));
        for seq in [11, 12] {
            r.event(Some(seq), b"");
        }
        assert!(r.caught_up_at.is_none());
        for seq in [13, 14, 15] {
            r.event(Some(seq), b"");
        }
        assert!(r.caught_up_at.is_some());
        assert_eq!((r.in_range, catch_up.owed()), (3, 3));
        assert_eq!(catch_up.reached.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn accounts_loss_per_kind() {
        let (tips, added, finalized) = (
            Kind::TipsUpdated,
            Kind::MessageAdded,
            Kind::MessageFinalized,
        );
        let mut published = [0; Kind::COUNT];
        published[tips.index()] = 10;
        published[added.index()] = 3;
        published[Kind::BalanceChanged.index()] = 99; // published, but nobody took it
        let kinds = [tips, added, finalized];
        // Two tips connections (one missed 2), one message.new with all 3, one with a duplicate
        // (4 received: no credit beyond what it was owed), one finality connection (owed 0).
        let conns = [
            (tips, 10),
            (tips, 8),
            (added, 3),
            (added, 4),
            (finalized, 0),
        ];
        let t = tally_kinds(&kinds, &published, conns);
        let row = |k: &KindTally| {
            (
                k.kind.clone(),
                k.connections,
                k.published,
                k.expected,
                k.received,
                k.lost,
            )
        };
        assert_eq!(
            t.iter().map(row).collect::<Vec<_>>(),
            [
                ("tips.update".to_owned(), 2, 10, 20, 18, 2),
                ("message.new".to_owned(), 2, 3, 6, 7, 0),
                ("finality.update".to_owned(), 1, 0, 0, 0, 0),
            ]
        );
    }

    #[test]
    fn spots_frames_of_another_kind() {
        let mut r = ConnResult::sampling(false);
        r.only = Some(OnlyKind::new(Kind::TipsUpdated));
        r.event(
            Some(1),
            br#"{"type":"Event","id":"0a-1","event":{"type":"TipsUpdated","data":{}}}"#,
        );
        r.event(
            Some(2),
            br#"{"type":"Event","id":"0a-2","event":{"type":"MessageAdded","data":{}}}"#,
        );
        r.event(Some(3), b"event: tips.update\nid: 0a-3\ndata: {}\n\n");
        r.event(Some(4), b"event: message.new\nid: 0a-4\ndata: {}\n\n");
        assert_eq!((r.received, r.wrong_kind, r.out_of_order), (4, 2, 0));
    }

    #[test]
    fn counts_out_of_order() {
        let mut r = ConnResult::sampling(false);
        for seq in [1, 2, 2, 3, 1] {
            r.event(Some(seq), b"");
        }
        assert_eq!(
            (r.received, r.out_of_order, r.first_seq, r.last_seq),
            (5, 2, Some(1), Some(1))
        );
    }
}
