//! Disputes: a challenge window opens on a message, a validator posts a bond and challenges it
//! with a fraud proof, the proof is checked and arbitrated, and the ruling settles the bond.
//!
//! An upheld challenge refunds the challenger's bond and costs the accused validator reputation;
//! a rejected one slashes the bond and costs the challenger reputation.

use adic_protocol::event::{
    ArbitrationCompleted, ArbitrationStarted, ChallengeSubmitted, ChallengeWindowOpened,
    FraudProofSubmitted, FraudProofVerified,
};
use adic_protocol::Event;
use rand::Rng;

use super::ids::{self, Deck, MILLI};
use super::ledger::Lock;
use super::Node;

const FRAUD_TYPES: [&str; 4] = [
    "InvalidReceipt",
    "DoubleSpend",
    "InvalidStateTransition",
    "InvalidSignature",
];
/// Epochs a challenge window stays open.
const WINDOW_EPOCHS: u64 = 2;

pub(super) struct Disputes {
    /// Whether the next challenge is upheld.
    upheld: Deck<bool>,
}

impl Disputes {
    pub(super) fn new() -> Disputes {
        Disputes {
            upheld: Deck::new(&[true, false]),
        }
    }
}

pub(super) fn start(n: &mut Node) {
    n.every((15.0, 45.0), (60.0, 120.0), challenge);
}

struct Case {
    subject_id: String,
    accused: usize,
    challenger: usize,
    proof_id: String,
    upheld: bool,
}

fn challenge(n: &mut Node) {
    let (subject_id, accused) = n.dag.sample_message(&mut n.rng);
    let challenger = n.ledger.validator(&mut n.rng);
    if challenger == accused {
        return;
    }
    n.out
        .push(Event::ChallengeWindowOpened(ChallengeWindowOpened {
            subject_id: subject_id.clone(),
            window_expiry_epoch: n.epochs.current + WINDOW_EPOCHS,
            window_depth: n.params.challenge_window_depth(),
            timestamp: n.stamp,
        }));
    let case = Case {
        subject_id,
        accused,
        challenger,
        proof_id: ids::hex_id(&mut n.rng),
        upheld: n.disputes.upheld.draw(&mut n.rng),
    };
    let delay = n.rng.random_range(3.0..8.0);
    n.after(delay, move |n| submit(n, case));
}

fn submit(n: &mut Node, case: Case) {
    let bond = n.rng.random_range(100..500) * MILLI;
    let lock = n.lock(case.challenger, bond, "ChallengeBond");
    let challenger = n.ledger.address(case.challenger).to_owned();
    n.out.push(Event::ChallengeSubmitted(ChallengeSubmitted {
        challenge_id: ids::hex_id(&mut n.rng),
        subject_id: case.subject_id.clone(),
        challenger: challenger.clone(),
        timestamp: n.stamp,
    }));
    n.out.push(Event::FraudProofSubmitted(FraudProofSubmitted {
        proof_id: case.proof_id.clone(),
        subject_id: case.subject_id.clone(),
        challenger,
        fraud_type: ids::pick(&mut n.rng, &FRAUD_TYPES).to_owned(),
        evidence_cid: ids::cid(&mut n.rng, "bafybei"),
        timestamp: n.stamp,
    }));
    let delay = n.rng.random_range(2.0..5.0);
    n.after(delay, move |n| arbitrate(n, case, lock));
}

/// Checks the proof, then has arbitrators rule on it, since the accused may dispute the check.
fn arbitrate(n: &mut Node, case: Case, lock: Lock) {
    n.out.push(Event::FraudProofVerified(FraudProofVerified {
        proof_id: case.proof_id.clone(),
        subject_id: case.subject_id.clone(),
        is_valid: case.upheld,
        timestamp: n.stamp,
    }));
    let arbitration_id = ids::hex_id(&mut n.rng);
    let arbitrators = 2 * n.rng.random_range(2..=4) + 1;
    n.out.push(Event::ArbitrationStarted(ArbitrationStarted {
        arbitration_id: arbitration_id.clone(),
        proof_id: case.proof_id.clone(),
        arbitrator_count: arbitrators,
        timestamp: n.stamp,
    }));
    let delay = n.rng.random_range(10.0..20.0);
    n.after(delay, move |n| {
        let minority = n.rng.random_range(0..=arbitrators / 2);
        let (votes_for, votes_against) = if case.upheld {
            (arbitrators - minority, minority)
        } else {
            (minority, arbitrators - minority)
        };
        n.out
            .push(Event::ArbitrationCompleted(ArbitrationCompleted {
                arbitration_id,
                proof_id: case.proof_id,
                ruling: if case.upheld { "Upheld" } else { "Rejected" }.to_owned(),
                votes_for,
                votes_against,
                timestamp: n.stamp,
            }));
        if case.upheld {
            n.refund(&lock, lock.amount);
            let penalty = -ids::round(n.rng.random_range(0.05..0.12), 4);
            n.change_reputation(case.accused, penalty, "fraud proof upheld".to_owned());
        } else {
            n.slash(&lock, "challenge rejected by arbitration");
            let penalty = -ids::round(n.rng.random_range(0.02..0.05), 4);
            n.change_reputation(case.challenger, penalty, "frivolous challenge".to_owned());
        }
    });
}
