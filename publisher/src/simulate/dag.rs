//! The simulated DAG: messages, tips, depth, diversity and k-core finality.
//!
//! Each message approves 2–4 parents drawn from the node's view of the frontier. On a real network
//! that view lags, since many writers submit at once: besides the current tips it still holds the
//! last few messages that were approved a moment ago. Approving one of those removes no tip, so
//! the tip count settles near `RECENT / (parents - 1)` (about 10) instead of collapsing to one.
//!
//! Only what is still needed is kept: tips, the recent view and pending messages. A message
//! becomes final a few seconds after it was added, never before its parents.

use std::collections::{HashMap, VecDeque};

use adic_protocol::event::AxisData;
use rand::rngs::StdRng;
use rand::seq::index;
use rand::Rng;

use super::ids;

/// Approved messages still in the node's view of the frontier.
const RECENT: usize = 20;
const PARENTS: std::ops::RangeInclusive<usize> = 2..=4;
/// Tips and the recent view the node starts with, as if synced from peers.
const BOOTSTRAP_TIPS: usize = 8;
/// The p-adic axes (p = 3): radius and the number of balls (3^radius) a message can fall in.
const AXES: [(u32, u8); 3] = [(2, 9), (2, 9), (1, 3)];
/// Distinct balls per axis a set of parents needs.
const REQUIRED_DIVERSITY: u64 = 2;

struct Message {
    depth: u64,
    /// Simulated time at which the message becomes final.
    due: f64,
    is_final: bool,
    validator: usize,
    deposit: u64,
    transfer: bool,
    balls: [u8; AXES.len()],
}

/// A message that has just become final.
pub(super) struct Finalized {
    pub id: String,
    pub validator: usize,
    pub deposit: u64,
    /// Whether the message carries a value transfer.
    pub transfer: bool,
}

/// What a new message carries.
pub(super) struct NewMessage {
    pub id: String,
    pub validator: usize,
    pub deposit: u64,
    pub transfer: bool,
    /// Seconds until it becomes final, if its parents are final by then.
    pub finality_delay: f64,
}

pub(super) struct Dag {
    messages: HashMap<String, Message>,
    tips: Vec<String>,
    recent: VecDeque<String>,
    /// Added and not final yet, in order of addition.
    pending: Vec<String>,
    finalized: u64,
}

impl Dag {
    /// A DAG the node has synced up to: final tips and recent messages a few thousand levels deep.
    pub(super) fn bootstrap(rng: &mut StdRng, validators: usize) -> Dag {
        let mut dag = Dag {
            messages: HashMap::new(),
            tips: Vec::new(),
            recent: VecDeque::new(),
            pending: Vec::new(),
            finalized: rng.random_range(40_000..60_000),
        };
        let base = rng.random_range(3_000..5_000);
        for i in 0..RECENT + BOOTSTRAP_TIPS {
            let id = ids::hex_id(rng);
            let message = Message {
                depth: base + (i / 6) as u64,
                due: 0.0,
                is_final: true,
                validator: rng.random_range(0..validators),
                deposit: 0,
                transfer: false,
                balls: random_balls(rng),
            };
            dag.messages.insert(id.clone(), message);
            if i < RECENT {
                dag.recent.push_back(id);
            } else {
                dag.tips.push(id);
            }
        }
        dag
    }

    pub(super) fn tips(&self) -> &[String] {
        &self.tips
    }

    pub(super) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Messages final so far, including those synced at start.
    pub(super) fn finalized(&self) -> u64 {
        self.finalized
    }

    /// The depth of the deepest tip.
    pub(super) fn height(&self) -> u64 {
        self.tips
            .iter()
            .map(|id| self.messages[id].depth)
            .max()
            .unwrap_or(0)
    }

    /// 2–4 distinct parents from the node's view of the frontier.
    pub(super) fn pick_parents(&self, rng: &mut StdRng) -> Vec<String> {
        let view: Vec<&String> = self.tips.iter().chain(&self.recent).collect();
        let count = rng.random_range(PARENTS).min(view.len());
        index::sample(rng, view.len(), count)
            .into_iter()
            .map(|i| view[i].clone())
            .collect()
    }

    /// Adds a message approving `parents` (which must come from [`pick_parents`](Self::pick_parents))
    /// at simulated time `now`, and returns its depth.
    pub(super) fn add(
        &mut self,
        new: NewMessage,
        parents: &[String],
        now: f64,
        rng: &mut StdRng,
    ) -> u64 {
        let parent_messages = parents.iter().filter_map(|id| self.messages.get(id));
        let (depth, parents_due) = parent_messages.fold((0, 0.0f64), |(depth, due), m| {
            (depth.max(m.depth), due.max(m.due))
        });
        for parent in parents {
            if let Some(at) = self.tips.iter().position(|tip| tip == parent) {
                let approved = self.tips.remove(at);
                self.recent.push_back(approved);
            }
        }
        while self.recent.len() > RECENT {
            if let Some(old) = self.recent.pop_front() {
                self.forget_if_done(&old);
            }
        }
        let message = Message {
            depth: depth + 1,
            due: (now + new.finality_delay).max(parents_due + 0.5),
            is_final: false,
            validator: new.validator,
            deposit: new.deposit,
            transfer: new.transfer,
            balls: random_balls(rng),
        };
        self.tips.push(new.id.clone());
        self.pending.push(new.id.clone());
        self.messages.insert(new.id, message);
        depth + 1
    }

    /// Marks final every pending message due by `now`, ancestors first.
    pub(super) fn finalize_due(&mut self, now: f64) -> Vec<Finalized> {
        let messages = &self.messages;
        let (mut due, pending): (Vec<String>, Vec<String>) = self
            .pending
            .drain(..)
            .partition(|id| messages[id].due <= now);
        self.pending = pending;
        due.sort_by(|a, b| messages[a].due.total_cmp(&messages[b].due));
        let mut done = Vec::with_capacity(due.len());
        for id in due {
            if let Some(message) = self.messages.get_mut(&id) {
                message.is_final = true;
                self.finalized += 1;
                done.push(Finalized {
                    validator: message.validator,
                    deposit: message.deposit,
                    transfer: message.transfer,
                    id: id.clone(),
                });
            }
            self.forget_if_done(&id);
        }
        done
    }

    /// A message still pending (else a tip) and its validator: a subject for a challenge.
    pub(super) fn sample_message(&self, rng: &mut StdRng) -> (String, usize) {
        let pool = if self.pending.is_empty() {
            &self.tips
        } else {
            &self.pending
        };
        let id = &pool[rng.random_range(0..pool.len())];
        (id.clone(), self.messages[id].validator)
    }

    /// How spread `ids` are over the p-adic balls of each axis: per axis, the distinct balls
    /// against what that many messages could cover; the score is the mean over axes.
    pub(super) fn diversity(&self, ids: &[String]) -> (f64, Vec<AxisData>) {
        let members: Vec<&Message> = ids.iter().filter_map(|id| self.messages.get(id)).collect();
        let axes: Vec<AxisData> = AXES
            .iter()
            .enumerate()
            .map(|(axis, &(radius, _))| {
                let seen = members
                    .iter()
                    .fold(0u32, |seen, m| seen | 1 << m.balls[axis]);
                let distinct_balls = u64::from(seen.count_ones());
                AxisData {
                    axis: axis as u32,
                    radius,
                    distinct_balls,
                    required_diversity: REQUIRED_DIVERSITY,
                    meets_requirement: distinct_balls >= REQUIRED_DIVERSITY,
                }
            })
            .collect();
        let score = AXES
            .iter()
            .zip(&axes)
            .map(|(&(_, balls), data)| {
                let reachable = members.len().min(usize::from(balls)).max(1);
                data.distinct_balls as f64 / reachable as f64
            })
            .sum::<f64>()
            / AXES.len() as f64;
        (ids::round(score, 3), axes)
    }

    /// Drops a final message nothing refers to any more.
    fn forget_if_done(&mut self, id: &str) {
        let done = self.messages.get(id).is_some_and(|m| m.is_final);
        let referred = self
            .tips
            .iter()
            .chain(&self.recent)
            .any(|other| other == id);
        if done && !referred {
            self.messages.remove(id);
        }
    }
}

fn random_balls(rng: &mut StdRng) -> [u8; AXES.len()] {
    AXES.map(|(_, balls)| rng.random_range(0..balls))
}
