//! Governance: parameter proposals (submitted, voted, tallied, receipted, then enacted at their
//! epoch, changing the parameters the node honours) and treasury grants paid out by milestone.
//!
//! Votes carry credits of the square root of reputation; a proposal passes when enough of the
//! eligible credits voted (quorum) and the yes share of yes and no meets its class's threshold.
//! A grant pays an advance, then a tranche per verified milestone; a milestone that fails
//! verification claws back what was paid.

use adic_protocol::event::{
    GovernanceReceiptEmitted, ParameterChanged, ProposalEnacted, ProposalStatusChanged,
    ProposalSubmitted, ProposalTallied, TreasuryGrantClawedBack, TreasuryGrantExecuted,
    TreasuryMilestoneCompleted, VoteCast,
};
use adic_protocol::Event;
use rand::seq::index;
use rand::Rng;

use super::ids::{self, Deck, MILLI};
use super::Node;

/// Share of eligible credits that must vote.
const QUORUM: f64 = 0.15;
/// Seconds after submission at which voting closes.
const VOTING: f64 = 24.0;
/// Epochs between submission and enactment.
const ENACT_AFTER: u64 = 3;

pub(super) struct Governance {
    /// Whether the electorate leans towards passing the next proposal.
    support: Deck<bool>,
    /// Whether the next grant completes (else a milestone fails and it is clawed back).
    grant_completes: Deck<bool>,
}

impl Governance {
    pub(super) fn new() -> Governance {
        Governance {
            support: Deck::new(&[true, true, false]),
            grant_completes: Deck::new(&[true, false]),
        }
    }
}

pub(super) fn start(n: &mut Node) {
    n.every((20.0, 50.0), (90.0, 150.0), propose);
    n.every((10.0, 40.0), (60.0, 120.0), grant);
}

struct Proposal {
    id: String,
    /// (key, proposed value)
    changes: Vec<(&'static str, u64)>,
    enact_epoch: u64,
}

fn propose(n: &mut Node) {
    let keys = n.params.keys();
    let count = n.rng.random_range(1..=2);
    let changes: Vec<(&'static str, u64)> = index::sample(&mut n.rng, keys.len(), count)
        .into_iter()
        .map(|i| (keys[i], n.params.propose(keys[i], &mut n.rng)))
        .collect();
    let constitutional = n.rng.random_bool(0.25);
    let threshold = if constitutional { 2.0 / 3.0 } else { 0.5 };
    let proposer = n.ledger.validator(&mut n.rng);
    let proposal = Proposal {
        id: ids::hex_id(&mut n.rng),
        changes,
        enact_epoch: n.epochs.current + ENACT_AFTER,
    };
    n.out.push(Event::ProposalSubmitted(ProposalSubmitted {
        proposal_id: proposal.id.clone(),
        proposer: n.ledger.address(proposer).to_owned(),
        proposal_class: if constitutional {
            "Constitutional"
        } else {
            "Operational"
        }
        .to_owned(),
        param_keys: proposal
            .changes
            .iter()
            .map(|(key, _)| (*key).to_owned())
            .collect(),
        enact_epoch: proposal.enact_epoch,
        proposer_reputation: n.ledger.reputation(proposer),
        timestamp: n.stamp,
    }));

    // Ballots are cast over the voting period; weights are fixed when the proposal is submitted.
    let yes_share = if n.governance.support.draw(&mut n.rng) {
        0.9
    } else {
        0.35
    };
    let turnout = n.rng.random_range(6..=12);
    let voters = n.ledger.validators(&mut n.rng, turnout);
    let mut tally = [0.0f64; 3];
    for voter in voters {
        let x = n.rng.random::<f64>();
        let ballot = if x < yes_share {
            0
        } else if x < yes_share + (1.0 - yes_share) * 0.7 {
            1
        } else {
            2
        };
        let credits = n.ledger.credits(voter);
        tally[ballot] += credits;
        let vote = VoteCast {
            proposal_id: proposal.id.clone(),
            voter: n.ledger.address(voter).to_owned(),
            vote_credits: credits,
            ballot: ["yes", "no", "abstain"][ballot].to_owned(),
            voter_reputation: n.ledger.reputation(voter),
            timestamp: 0,
        };
        let at = n.rng.random_range(2.0..VOTING - 2.0);
        n.after(at, move |n| {
            n.out.push(Event::VoteCast(VoteCast {
                timestamp: n.stamp,
                ..vote
            }))
        });
    }
    n.after(VOTING, move |n| close(n, proposal, tally, threshold));
}

/// Tallies a proposal, records the outcome and, if it passed, schedules its enactment.
fn close(n: &mut Node, proposal: Proposal, [yes, no, abstain]: [f64; 3], threshold: f64) {
    let eligible = n.ledger.total_credits();
    let participation = (yes + no + abstain) / eligible;
    let quorum_met = participation >= QUORUM;
    let threshold_met = yes + no > 0.0 && yes / (yes + no) >= threshold;
    let passed = quorum_met && threshold_met;
    n.out.push(Event::ProposalTallied(ProposalTallied {
        proposal_id: proposal.id.clone(),
        tally_yes: ids::round(yes, 3),
        tally_no: ids::round(no, 3),
        tally_abstain: ids::round(abstain, 3),
        total_eligible_credits: eligible,
        participation_rate: ids::round(participation, 4),
        quorum_met,
        threshold_met,
        timestamp: n.stamp,
    }));
    let outcome = if passed { "Succeeded" } else { "Rejected" };
    status(n, &proposal.id, "Voting", outcome);
    n.out
        .push(Event::GovernanceReceiptEmitted(GovernanceReceiptEmitted {
            proposal_id: proposal.id.clone(),
            result: if passed { "Pass" } else { "Fail" }.to_owned(),
            quorum_yes: ids::round(yes / eligible, 4),
            quorum_no: ids::round(no / eligible, 4),
            quorum_abstain: ids::round(abstain / eligible, 4),
            has_bls_signature: true,
            committee_size: n.rng.random_range(12..=20),
            timestamp: n.stamp,
        }));
    if passed {
        let at = n.epochs.until(proposal.enact_epoch, n.now) + 1.0;
        n.after(at, move |n| enact(n, proposal));
    }
}

fn enact(n: &mut Node, proposal: Proposal) {
    status(n, &proposal.id, "Succeeded", "Enacted");
    n.out.push(Event::ProposalEnacted(ProposalEnacted {
        proposal_id: proposal.id.clone(),
        enact_epoch: proposal.enact_epoch,
        param_changes: proposal
            .changes
            .iter()
            .map(|(key, _)| (*key).to_owned())
            .collect(),
        timestamp: n.stamp,
    }));
    for (key, value) in proposal.changes {
        let old = n.params.set(key, value);
        n.out.push(Event::ParameterChanged(ParameterChanged {
            proposal_id: proposal.id.clone(),
            parameter_key: key.to_owned(),
            old_value: old.to_string(),
            new_value: value.to_string(),
            timestamp: n.stamp,
        }));
    }
}

fn status(n: &mut Node, proposal_id: &str, old: &str, new: &str) {
    n.out
        .push(Event::ProposalStatusChanged(ProposalStatusChanged {
            proposal_id: proposal_id.to_owned(),
            old_status: old.to_owned(),
            new_status: new.to_owned(),
            timestamp: n.stamp,
        }));
}

#[derive(Clone)]
struct Grant {
    id: String,
    proposal_id: String,
    recipient: String,
    /// Thousandths of an ADIC per milestone.
    tranche: u64,
    milestones: u32,
    /// The milestone that fails verification, if any.
    fails_at: Option<u32>,
    paid: u64,
}

fn grant(n: &mut Node) {
    let milestones = n.rng.random_range(2..=3);
    let fails_at = (!n.governance.grant_completes.draw(&mut n.rng))
        .then(|| n.rng.random_range(1..=milestones));
    let mut grant = Grant {
        id: ids::hex_id(&mut n.rng),
        proposal_id: ids::hex_id(&mut n.rng),
        recipient: ids::address(&mut n.rng),
        tranche: n.rng.random_range(10_000..80_000) * MILLI,
        milestones,
        fails_at,
        paid: 0,
    };
    // An advance of a fifth of a tranche, before any milestone.
    let advance = grant.tranche / 5;
    execute(n, &mut grant, advance, None);
    milestone(n, grant, 1);
}

fn execute(n: &mut Node, grant: &mut Grant, amount: u64, milestone: Option<u32>) {
    n.ledger.pay_from_treasury(amount);
    grant.paid += amount;
    n.out
        .push(Event::TreasuryGrantExecuted(TreasuryGrantExecuted {
            proposal_id: grant.proposal_id.clone(),
            recipient: grant.recipient.clone(),
            amount_adic: ids::adic(amount),
            milestone: milestone.map(|m| format!("milestone-{m}")),
            timestamp: n.stamp,
        }));
}

fn milestone(n: &mut Node, mut grant: Grant, m: u32) {
    let delay = n.rng.random_range(15.0..25.0);
    n.after(delay, move |n| {
        let is_verified = grant.fails_at != Some(m);
        n.out.push(Event::TreasuryMilestoneCompleted(
            TreasuryMilestoneCompleted {
                grant_id: grant.id.clone(),
                milestone_id: m,
                amount_adic: ids::adic(grant.tranche),
                verification_scheme: ids::pick(&mut n.rng, &["quorum", "optimistic", "oracle"])
                    .to_owned(),
                deliverable_cid: ids::cid(&mut n.rng, "bafkrei"),
                is_verified,
                timestamp: n.stamp,
            },
        ));
        if !is_verified {
            n.ledger.return_to_treasury(grant.paid);
            n.out
                .push(Event::TreasuryGrantClawedBack(TreasuryGrantClawedBack {
                    grant_id: grant.id,
                    clawed_back_amount_adic: ids::adic(grant.paid),
                    reason: format!("milestone {m} deliverable failed verification"),
                    timestamp: n.stamp,
                }));
            return;
        }
        let tranche = grant.tranche;
        execute(n, &mut grant, tranche, Some(m));
        if m < grant.milestones {
            milestone(n, grant, m + 1);
        }
    });
}
