//! The simulated clock's agenda: steps due at a simulated time, run in time order.
//!
//! Steps due at the same time run in the order they were scheduled, so a process that schedules
//! "A, then B" at one instant emits A before B.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::Node;

/// Something the node does at a point in simulated time.
pub(super) type Step = Box<dyn FnOnce(&mut Node) + Send>;

#[derive(Default)]
pub(super) struct Agenda {
    heap: BinaryHeap<Entry>,
    scheduled: u64,
}

impl Agenda {
    pub(super) fn push(&mut self, at: f64, step: Step) {
        self.scheduled += 1;
        self.heap.push(Entry {
            at,
            seq: self.scheduled,
            step,
        });
    }

    /// The earliest step due at or before `until`, with its time.
    pub(super) fn pop_until(&mut self, until: f64) -> Option<(f64, Step)> {
        if self.heap.peek()?.at > until {
            return None;
        }
        self.heap.pop().map(|entry| (entry.at, entry.step))
    }
}

struct Entry {
    at: f64,
    seq: u64,
    step: Step,
}

impl Entry {
    /// Earliest first: `BinaryHeap` is a max-heap, so the comparison is reversed.
    fn key_cmp(&self, other: &Self) -> Ordering {
        other.at.total_cmp(&self.at).then(other.seq.cmp(&self.seq))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key_cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key_cmp(other)
    }
}
