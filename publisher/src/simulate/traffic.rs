//! Message traffic: submissions (accepted or rejected), k-core finality, and the value transfers
//! that messages carry.
//!
//! Per accepted submission: `deposit.escrowed`, `tips.update`, `diversity.update`, `message.new`.
//! Per rejected one: `deposit.slashed`, `message.rejected` (and the validator's reputation drops).
//! The finality engine sweeps every second: per final message `finality.update` and
//! `deposit.released` (plus two `balance.changed` and a `transfer.recorded` for a transfer), then
//! one `kcore.update`.

use adic_protocol::event::{
    BalanceChangeType, BalanceChanged, DepositEscrowed, DepositReleased, DepositSlashed,
    DiversityUpdated, FinalityType, MessageAdded, MessageFinalized, MessageRejected, RejectionType,
    TransferRecorded,
};
use adic_protocol::Event;
use rand::Rng;

use super::dag::{Finalized, NewMessage};
use super::gauges::Outcome;
use super::ids::{self, MILLI};
use super::Node;

/// Mean gap between submissions: about 2 per second, as independent arrivals.
const MEAN_GAP: f64 = 0.5;
const REJECTED_SHARE: f64 = 0.05;
/// Share of messages that carry a value transfer.
const TRANSFER_SHARE: f64 = 0.08;
/// Seconds from being added to being final (if the parents are final by then).
const FINALITY_DELAY: std::ops::Range<f64> = 4.0..12.0;
const SWEEP: f64 = 1.0;
/// Issued into circulation per final message, in millionths of an ADIC.
const REWARD: u64 = 1_500_000;
const TRANSFER_REASONS: [&str; 5] = [
    "payment",
    "exchange withdrawal",
    "storage fee",
    "invoice settlement",
    "payroll",
];

pub(super) fn start(n: &mut Node) {
    schedule_submission(n);
    n.every((SWEEP, SWEEP), (SWEEP, SWEEP), sweep);
}

fn schedule_submission(n: &mut Node) {
    let gap = ids::exponential(&mut n.rng, MEAN_GAP);
    n.after(gap, |n| {
        schedule_submission(n);
        if n.rng.random_bool(REJECTED_SHARE) {
            reject(n);
        } else {
            accept(n);
        }
    });
}

fn accept(n: &mut Node) {
    let validator = n.ledger.validator(&mut n.rng);
    let new = NewMessage {
        id: ids::hex_id(&mut n.rng),
        validator,
        deposit: n.params.deposit(),
        transfer: n.rng.random_bool(TRANSFER_SHARE),
        finality_delay: n.rng.random_range(FINALITY_DELAY),
    };
    let (message_id, deposit) = (new.id.clone(), new.deposit);
    let parents = n.dag.pick_parents(&mut n.rng);
    let depth = n.dag.add(new, &parents, n.now, &mut n.rng);
    n.gauges.record(Outcome::Accepted);
    n.out.push(Event::DepositEscrowed(DepositEscrowed {
        message_id: message_id.clone(),
        validator_address: n.ledger.address(validator).to_owned(),
        amount: ids::milli(deposit),
        timestamp: n.stamp,
    }));
    n.emit_tips();
    let (diversity_score, axes) = n.dag.diversity(&parents);
    n.out.push(Event::DiversityUpdated(DiversityUpdated {
        diversity_score,
        axes,
        total_tips: n.dag.tips().len() as u64,
        timestamp: n.stamp,
    }));
    n.out.push(Event::MessageAdded(MessageAdded {
        message_id,
        depth,
        timestamp: n.stamp,
    }));
}

fn reject(n: &mut Node) {
    let validator = n.ledger.validator(&mut n.rng);
    let (rejection_type, reason, outcome) = match n.rng.random_range(0..10) {
        0..=5 => {
            let rule = n.rng.random_range(0..3);
            let reason = [
                "C1 violated: parents too far apart",
                "C2 violated: parents not diverse enough",
                "C3 violated: parent reputation too low",
            ][rule];
            (
                RejectionType::AdmissibilityFailed,
                reason,
                Outcome::Failed(rule),
            )
        }
        6..=8 => {
            let reason = ids::pick(
                &mut n.rng,
                &[
                    "invalid signature",
                    "unknown parent",
                    "timestamp out of range",
                ],
            );
            (RejectionType::ValidationFailed, reason, Outcome::Invalid)
        }
        _ => (
            RejectionType::InsufficientDeposit,
            "deposit below the required amount",
            Outcome::Invalid,
        ),
    };
    let message_id = ids::hex_id(&mut n.rng);
    n.gauges.record(outcome);
    n.out.push(Event::DepositSlashed(DepositSlashed {
        message_id: message_id.clone(),
        validator_address: n.ledger.address(validator).to_owned(),
        amount: ids::milli(n.params.deposit()),
        reason: reason.to_owned(),
        timestamp: n.stamp,
    }));
    n.out.push(Event::MessageRejected(MessageRejected {
        message_id,
        reason: reason.to_owned(),
        rejection_type,
        timestamp: n.stamp,
    }));
    let penalty = -ids::round(n.rng.random_range(0.005..0.02), 4);
    n.change_reputation(validator, penalty, format!("message rejected: {reason}"));
}

/// The finality engine's periodic pass.
fn sweep(n: &mut Node) {
    let done = n.dag.finalize_due(n.now);
    if done.is_empty() {
        return;
    }
    for message in done {
        finalize(n, message);
    }
    n.emit_kcore();
}

fn finalize(n: &mut Node, message: Finalized) {
    let finality_type = match n.rng.random::<f64>() {
        x if x < 0.85 => FinalityType::Kcore,
        x if x < 0.95 => FinalityType::Composite,
        _ => FinalityType::Homology,
    };
    n.out.push(Event::MessageFinalized(MessageFinalized {
        message_id: message.id.clone(),
        finality_type,
        timestamp: n.stamp,
    }));
    n.out.push(Event::DepositReleased(DepositReleased {
        message_id: message.id.clone(),
        validator_address: n.ledger.address(message.validator).to_owned(),
        amount: ids::milli(message.deposit),
        timestamp: n.stamp,
    }));
    n.ledger.circulating = (n.ledger.circulating + REWARD).min(n.ledger.total_supply);
    if message.transfer {
        transfer(n, message.id);
    }
}

/// Settles the transfer carried by a message that just became final.
fn transfer(n: &mut Node, tx_hash: String) {
    let from = n.ledger.account(&mut n.rng);
    let to = (from + n.rng.random_range(1..n.ledger.accounts.len())) % n.ledger.accounts.len();
    let available = n.ledger.accounts[from].balance;
    if available < 2 * MILLI {
        return;
    }
    let amount = n
        .rng
        .random_range(MILLI..=(available / 4).clamp(MILLI, 5_000 * MILLI));
    let reason = ids::pick(&mut n.rng, &TRANSFER_REASONS);
    for (account, change_type) in [
        (from, BalanceChangeType::TransferOut),
        (to, BalanceChangeType::TransferIn),
    ] {
        let before = n.ledger.accounts[account].balance;
        let after = if account == from {
            before - amount
        } else {
            before + amount
        };
        n.ledger.accounts[account].balance = after;
        n.out.push(Event::BalanceChanged(BalanceChanged {
            address: n.ledger.address(account).to_owned(),
            balance_before: ids::milli(before),
            balance_after: ids::milli(after),
            change_amount: ids::milli(amount),
            change_type,
            timestamp: n.stamp,
        }));
    }
    n.out.push(Event::TransferRecorded(TransferRecorded {
        from_address: n.ledger.address(from).to_owned(),
        to_address: n.ledger.address(to).to_owned(),
        amount: ids::milli(amount),
        reason: reason.to_owned(),
        tx_hash: Some(tx_hash),
        timestamp: n.stamp,
    }));
}
