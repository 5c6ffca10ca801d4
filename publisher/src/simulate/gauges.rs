//! The periodic snapshot kinds: tips every ~3 s, diversity, energy and k-core every ~6 s,
//! admissibility every ~31 s, economics every ~60 s; and their first values at start.
//!
//! Energy models conflict resolution: conflicts appear now and then and are resolved faster than
//! they appear, so active conflicts and the energy fall over time. Admissibility rates are the
//! share of the last [`WINDOW`] submissions that passed each admission rule.

use std::collections::VecDeque;

use adic_protocol::event::{
    AdmissibilityUpdated, DiversityUpdated, EconomicsUpdated, EnergyUpdated, KCoreUpdated,
    TipsUpdated,
};
use adic_protocol::Event;
use rand::rngs::StdRng;
use rand::Rng;

use super::ids;
use super::Node;

/// Submissions the admissibility rates are computed over.
const WINDOW: usize = 200;

/// How a submission fared against the admission rules.
#[derive(Clone, Copy)]
pub(super) enum Outcome {
    Accepted,
    /// Failed admission rule C1, C2 or C3 (0, 1, 2).
    Failed(usize),
    /// Rejected for another reason (signature, deposit, ...).
    Invalid,
}

pub(super) struct Gauges {
    conflicts: u32,
    resolved: u32,
    energy: f64,
    recent: VecDeque<Outcome>,
}

impl Gauges {
    pub(super) fn new(rng: &mut StdRng) -> Gauges {
        let conflicts = rng.random_range(40..60);
        let active = rng.random_range(8..14);
        Gauges {
            conflicts,
            resolved: conflicts - active,
            energy: f64::from(active) * rng.random_range(1.8..2.6),
            recent: VecDeque::with_capacity(WINDOW),
        }
    }

    pub(super) fn record(&mut self, outcome: Outcome) {
        if self.recent.len() == WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(outcome);
    }

    fn active(&self) -> u32 {
        self.conflicts - self.resolved
    }

    /// One step of conflict resolution.
    fn descend(&mut self, rng: &mut StdRng) {
        if rng.random_bool(0.12) {
            self.conflicts += 1;
            self.energy += rng.random_range(1.5..3.0);
        }
        if self.active() > 0 && rng.random_bool(0.45) {
            self.energy -= self.energy / f64::from(self.active());
            self.resolved += 1;
        }
        self.energy = (self.energy * 0.98).max(0.0);
    }
}

pub(super) fn start(n: &mut Node) {
    n.emit_tips();
    emit_diversity(n);
    emit_energy(n);
    n.emit_kcore();
    emit_admissibility(n);
    emit_economics(n);
    n.every((2.7, 3.3), (2.7, 3.3), Node::emit_tips);
    n.every((5.5, 6.5), (5.5, 6.5), emit_diversity);
    n.every((5.5, 6.5), (5.5, 6.5), |n| {
        n.gauges.descend(&mut n.rng);
        emit_energy(n);
    });
    n.every((5.5, 6.5), (5.5, 6.5), Node::emit_kcore);
    n.every((30.0, 32.0), (30.0, 32.0), emit_admissibility);
    n.every((58.0, 62.0), (58.0, 62.0), emit_economics);
}

impl Node {
    /// `tips.update` with the full tip list.
    pub(super) fn emit_tips(&mut self) {
        let tips = self.dag.tips().to_vec();
        self.out.push(Event::TipsUpdated(TipsUpdated {
            count: tips.len() as u64,
            tips,
            timestamp: self.stamp,
        }));
    }

    pub(super) fn emit_kcore(&mut self) {
        self.out.push(Event::KCoreUpdated(KCoreUpdated {
            finalized_count: u32::try_from(self.dag.finalized()).unwrap_or(u32::MAX),
            pending_count: u32::try_from(self.dag.pending()).unwrap_or(u32::MAX),
            current_k_value: Some(self.params.k()),
            timestamp: self.stamp,
        }));
    }
}

/// Diversity of the current tip set: how spread the frontier is.
fn emit_diversity(n: &mut Node) {
    let (diversity_score, axes) = n.dag.diversity(n.dag.tips());
    n.out.push(Event::DiversityUpdated(DiversityUpdated {
        diversity_score,
        axes,
        total_tips: n.dag.tips().len() as u64,
        timestamp: n.stamp,
    }));
}

fn emit_energy(n: &mut Node) {
    let g = &n.gauges;
    n.out.push(Event::EnergyUpdated(EnergyUpdated {
        total_conflicts: g.conflicts,
        resolved_conflicts: g.resolved,
        active_conflicts: g.active(),
        total_energy: ids::round(g.energy, 3),
        timestamp: n.stamp,
    }));
}

fn emit_admissibility(n: &mut Node) {
    let recent = &n.gauges.recent;
    let sample = recent.len().max(1) as f64;
    let share = |passes: &dyn Fn(&Outcome) -> bool| {
        ids::round(
            recent.iter().filter(|o| passes(o)).count() as f64 / sample,
            4,
        )
    };
    let passes_rule = |rule| move |o: &Outcome| !matches!(o, Outcome::Failed(r) if *r == rule);
    let event = if recent.is_empty() {
        AdmissibilityUpdated {
            c1_rate: 1.0,
            c2_rate: 1.0,
            c3_rate: 1.0,
            overall_rate: 1.0,
            sample_size: 0,
            timestamp: n.stamp,
        }
    } else {
        AdmissibilityUpdated {
            c1_rate: share(&passes_rule(0)),
            c2_rate: share(&passes_rule(1)),
            c3_rate: share(&passes_rule(2)),
            overall_rate: share(&|o| matches!(o, Outcome::Accepted)),
            sample_size: recent.len() as u64,
            timestamp: n.stamp,
        }
    };
    n.out.push(Event::AdmissibilityUpdated(event));
}

fn emit_economics(n: &mut Node) {
    let ledger = &n.ledger;
    n.out.push(Event::EconomicsUpdated(EconomicsUpdated {
        total_supply: ids::micro(ledger.total_supply),
        circulating_supply: ids::micro(ledger.circulating),
        treasury_balance: ids::micro(ledger.treasury),
        timestamp: n.stamp,
    }));
}
