//! Proof of useful work: a sponsor escrows a reward and submits a task, workers are drawn by VRF,
//! submit results, and a receipt validates them: agreeing workers are paid from the escrow, the
//! rest of the reward goes back to the sponsor and dissenting workers lose reputation.

use adic_protocol::event::{ReceiptValidated, TaskSubmitted, WorkResultSubmitted, WorkersSelected};
use adic_protocol::Event;
use rand::Rng;

use super::ids::{self, MILLI};
use super::Node;

const TASK_TYPES: [&str; 4] = [
    "inference",
    "zk_proof",
    "data_availability",
    "storage_audit",
];
/// Seconds from submission to the receipt.
const RECEIPT_AFTER: f64 = 28.0;

pub(super) fn start(n: &mut Node) {
    n.every((5.0, 40.0), (60.0, 120.0), task);
}

fn task(n: &mut Node) {
    let sponsor = n.ledger.account(&mut n.rng);
    let count = n.rng.random_range(3..=5);
    // A whole number of ADIC per worker, so the reward splits exactly.
    let reward = n.rng.random_range(20..200) * MILLI * count as u64;
    let lock = n.lock(sponsor, reward, "PoUWReward");
    let task_id = ids::hex_id(&mut n.rng);
    n.out.push(Event::TaskSubmitted(TaskSubmitted {
        task_id: task_id.clone(),
        sponsor: n.ledger.address(sponsor).to_owned(),
        task_type: ids::pick(&mut n.rng, &TASK_TYPES).to_owned(),
        reward_adic: ids::adic(lock.amount),
        worker_count: count as u64,
        deadline_epoch: n.epochs.current + 2,
        timestamp: n.stamp,
    }));
    let workers = n.ledger.validators(&mut n.rng, count);
    let eligible = n.ledger.validator_count() as u64;
    let selected_task = task_id.clone();
    n.after(2.0, move |n| {
        n.out.push(Event::WorkersSelected(WorkersSelected {
            task_id: selected_task,
            worker_count: count as u64,
            total_eligible: eligible,
            selection_method: "vrf".to_owned(),
            timestamp: n.stamp,
        }));
    });

    // Honest workers agree on one result hash; a faulty one (sometimes) does not.
    let agreed = ids::hex_id(&mut n.rng);
    let faulty = n.rng.random_bool(0.3).then(|| n.rng.random_range(0..count));
    for (i, &worker) in workers.iter().enumerate() {
        let result_hash = if faulty == Some(i) {
            ids::hex_id(&mut n.rng)
        } else {
            agreed.clone()
        };
        let result = WorkResultSubmitted {
            task_id: task_id.clone(),
            worker: n.ledger.address(worker).to_owned(),
            result_hash,
            timestamp: 0,
        };
        let at = n.rng.random_range(5.0..20.0);
        n.after(at, move |n| {
            n.out.push(Event::WorkResultSubmitted(WorkResultSubmitted {
                timestamp: n.stamp,
                ..result
            }))
        });
    }

    n.after(RECEIPT_AFTER, move |n| {
        let accepted: Vec<usize> = workers
            .iter()
            .enumerate()
            .filter(|(i, _)| faulty != Some(*i))
            .map(|(_, &w)| w)
            .collect();
        n.out.push(Event::ReceiptValidated(ReceiptValidated {
            receipt_id: ids::hex_id(&mut n.rng),
            epoch_id: n.epochs.current,
            accepted_count: accepted.len() as u64,
            rejected_count: (workers.len() - accepted.len()) as u64,
            is_valid: true,
            fraud_proofs_count: 0,
            timestamp: n.stamp,
        }));
        let share = lock.amount / workers.len() as u64;
        for &worker in &accepted {
            n.release(&lock, worker, share);
        }
        let left = lock.amount - share * accepted.len() as u64;
        if left > 0 {
            n.refund(&lock, left);
        }
        if let Some(i) = faulty {
            let penalty = -ids::round(n.rng.random_range(0.01..0.04), 4);
            n.change_reputation(workers[i], penalty, "pouw result rejected".to_owned());
        }
    });
}
