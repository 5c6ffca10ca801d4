//! What one connection measured, and how frames are read cheaply.
//!
//! The load generator must not become the bottleneck it measures, so it never parses event
//! JSON: it finds the cursor (`"id":"<epoch>-<seq>"` on WebSocket, `id: ` on SSE) and, on the
//! connections that sample latency, the publish time the benchmark publisher put into each event
//! (`"sent_ns":<unix ns>`), by scanning bytes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

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
