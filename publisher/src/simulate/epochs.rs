//! Epochs of 30 s: each selects a committee and an aggregator, runs a VRF commit–reveal round for
//! the next epoch's randomness, then certifies the epoch and records the committee's vote.

use adic_protocol::event::{
    AggregatorSelected, CommitteeCertificateGenerated, QuorumSelected, QuorumVoteCompleted,
    VRFCommitSubmitted, VRFRandomnessFinalized, VRFRevealOpened,
};
use adic_protocol::Event;
use rand::rngs::StdRng;
use rand::Rng;

use super::ids;
use super::Node;

/// Simulated seconds per epoch.
pub(super) const EPOCH: f64 = 30.0;
/// Seconds after start at which the first new epoch begins.
const FIRST_BOUNDARY: f64 = 5.0;
const DOMAINS: [&str; 4] = ["consensus", "governance", "storage", "pouw"];
const AXES: u64 = 3;

pub(super) struct Epochs {
    /// The current epoch.
    pub current: u64,
    /// Simulated time at which it began.
    began: f64,
}

impl Epochs {
    pub(super) fn new(rng: &mut StdRng) -> Epochs {
        Epochs {
            current: rng.random_range(100..400),
            began: FIRST_BOUNDARY - EPOCH,
        }
    }

    /// Simulated seconds from `now` until `epoch` begins (negative if it has).
    pub(super) fn until(&self, epoch: u64, now: f64) -> f64 {
        self.began + (epoch as f64 - self.current as f64) * EPOCH - now
    }
}

pub(super) fn start(n: &mut Node) {
    n.after(FIRST_BOUNDARY, boundary);
}

fn boundary(n: &mut Node) {
    n.after(EPOCH, boundary);
    n.epochs.current += 1;
    n.epochs.began = n.now;
    let epoch = n.epochs.current;

    let size = n.rng.random_range(12..=20);
    let committee = n.ledger.validators(&mut n.rng, size);
    let size = committee.len() as u64;
    n.out.push(Event::QuorumSelected(QuorumSelected {
        epoch,
        committee_size: size,
        domain: DOMAINS[(epoch % DOMAINS.len() as u64) as usize].to_owned(),
        axes_covered: AXES,
        timestamp: n.stamp,
    }));
    let aggregator = n
        .ledger
        .address(ids::pick(&mut n.rng, &committee))
        .to_owned();
    n.after(0.5, move |n| {
        n.out.push(Event::AggregatorSelected(AggregatorSelected {
            epoch_id: epoch,
            primary_aggregator: aggregator,
            committee_size: size,
            selection_method: "vrf".to_owned(),
            timestamp: n.stamp,
        }));
    });
    vrf_round(n, &committee, epoch + 1);

    n.after(26.0, move |n| {
        let members = size - n.rng.random_range(0..=2);
        n.out.push(Event::CommitteeCertificateGenerated(
            CommitteeCertificateGenerated {
                epoch_id: epoch,
                member_count: members,
                diversity_score: ids::round(n.rng.random_range(0.7..0.98), 3),
                axes_covered: AXES,
                has_threshold_signature: members * 3 >= size * 2,
                timestamp: n.stamp,
            },
        ));
        let votes_against = n.rng.random_range(0..=members / 4);
        let votes_for = members - votes_against;
        let threshold_met = votes_for * 3 >= size * 2;
        n.out.push(Event::QuorumVoteCompleted(QuorumVoteCompleted {
            vote_id: ids::hex_id(&mut n.rng),
            votes_for,
            votes_against,
            threshold_met,
            result: if threshold_met { "Pass" } else { "Fail" }.to_owned(),
            timestamp: n.stamp,
        }));
    });
}

/// Commits (2–10 s into the epoch), reveals (12–20 s; a committer may fail to reveal) and the
/// finalized randomness of `target` (22 s), from some of the committee.
fn vrf_round(n: &mut Node, committee: &[usize], target: u64) {
    let count = n.rng.random_range(4..=7).min(committee.len());
    let mut revealed = 0;
    for &committer in &committee[..count] {
        let commit_id = ids::hex_id(&mut n.rng);
        let commit = VRFCommitSubmitted {
            commit_id: commit_id.clone(),
            committer: n.ledger.address(committer).to_owned(),
            target_epoch: target,
            commitment_hash: ids::hex_id(&mut n.rng),
            committer_reputation: n.ledger.reputation(committer),
            timestamp: 0,
        };
        let revealer = commit.committer.clone();
        let (commit_at, reveal_at) = (
            n.rng.random_range(2.0..10.0),
            n.rng.random_range(12.0..20.0),
        );
        n.after(commit_at, move |n| {
            n.out.push(Event::VRFCommitSubmitted(VRFCommitSubmitted {
                timestamp: n.stamp,
                ..commit
            }));
        });
        if n.rng.random_bool(0.1) {
            continue;
        }
        revealed += 1;
        n.after(reveal_at, move |n| {
            n.out.push(Event::VRFRevealOpened(VRFRevealOpened {
                reveal_id: ids::hex_id(&mut n.rng),
                commit_id,
                revealer,
                target_epoch: target,
                vrf_proof_hash: ids::hex_id(&mut n.rng),
                timestamp: n.stamp,
            }));
        });
    }
    n.after(22.0, move |n| {
        n.out
            .push(Event::VRFRandomnessFinalized(VRFRandomnessFinalized {
                epoch: target,
                randomness_hash: ids::hex_id(&mut n.rng),
                contributor_count: revealed,
                timestamp: n.stamp,
            }));
    });
}
