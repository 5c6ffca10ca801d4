// Generated from shared/contract/kinds.json: field names, order and types are the contract.

use serde::{Deserialize, Serialize};

use crate::event::{BalanceChangeType, FinalityType, RejectionType};

/// Data of `tips.update`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TipsUpdated {
    pub tips: Vec<String>,
    pub count: u64,
    pub timestamp: i64,
}

/// Data of `finality.update`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageFinalized {
    pub message_id: String,
    pub finality_type: FinalityType,
    pub timestamp: i64,
}

/// Data of `message.new`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageAdded {
    pub message_id: String,
    pub depth: u64,
    pub timestamp: i64,
}

/// Data of `message.rejected`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageRejected {
    pub message_id: String,
    pub reason: String,
    pub rejection_type: RejectionType,
    pub timestamp: i64,
}

/// Data of `deposit.escrowed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepositEscrowed {
    pub message_id: String,
    pub validator_address: String,
    pub amount: String,
    pub timestamp: i64,
}

/// Data of `deposit.slashed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepositSlashed {
    pub message_id: String,
    pub validator_address: String,
    pub amount: String,
    pub reason: String,
    pub timestamp: i64,
}

/// Data of `balance.changed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BalanceChanged {
    pub address: String,
    pub balance_before: String,
    pub balance_after: String,
    pub change_amount: String,
    pub change_type: BalanceChangeType,
    pub timestamp: i64,
}

/// Data of `transfer.recorded`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferRecorded {
    pub from_address: String,
    pub to_address: String,
    pub amount: String,
    pub reason: String,
    pub tx_hash: Option<String>,
    pub timestamp: i64,
}

/// Data of `peer.connected`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerConnected {
    pub peer_id: String,
    pub address: String,
    pub timestamp: i64,
}

/// Data of `peer.disconnected`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerDisconnected {
    pub peer_id: String,
    pub reason: Option<String>,
    pub timestamp: i64,
}

/// Data of `vrf.commit`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VRFCommitSubmitted {
    pub commit_id: String,
    pub committer: String,
    pub target_epoch: u64,
    pub commitment_hash: String,
    pub committer_reputation: f64,
    pub timestamp: i64,
}

/// Data of `vrf.reveal`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VRFRevealOpened {
    pub reveal_id: String,
    pub commit_id: String,
    pub revealer: String,
    pub target_epoch: u64,
    pub vrf_proof_hash: String,
    pub timestamp: i64,
}

/// Data of `vrf.finalized`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VRFRandomnessFinalized {
    pub epoch: u64,
    pub randomness_hash: String,
    pub contributor_count: u64,
    pub timestamp: i64,
}

/// Data of `challenge.opened`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChallengeWindowOpened {
    pub subject_id: String,
    pub window_expiry_epoch: u64,
    pub window_depth: u64,
    pub timestamp: i64,
}

/// Data of `challenge.submitted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChallengeSubmitted {
    pub challenge_id: String,
    pub subject_id: String,
    pub challenger: String,
    pub timestamp: i64,
}

/// Data of `fraud.submitted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FraudProofSubmitted {
    pub proof_id: String,
    pub subject_id: String,
    pub challenger: String,
    pub fraud_type: String,
    pub evidence_cid: String,
    pub timestamp: i64,
}

/// Data of `fraud.verified`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FraudProofVerified {
    pub proof_id: String,
    pub subject_id: String,
    pub is_valid: bool,
    pub timestamp: i64,
}

/// Data of `arbitration.started`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArbitrationStarted {
    pub arbitration_id: String,
    pub proof_id: String,
    pub arbitrator_count: u64,
    pub timestamp: i64,
}

/// Data of `arbitration.completed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArbitrationCompleted {
    pub arbitration_id: String,
    pub proof_id: String,
    pub ruling: String,
    pub votes_for: u64,
    pub votes_against: u64,
    pub timestamp: i64,
}

/// Data of `governance.proposal.submitted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProposalSubmitted {
    pub proposal_id: String,
    pub proposer: String,
    pub proposal_class: String,
    pub param_keys: Vec<String>,
    pub enact_epoch: u64,
    pub proposer_reputation: f64,
    pub timestamp: i64,
}

/// Data of `governance.vote.cast`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VoteCast {
    pub proposal_id: String,
    pub voter: String,
    pub vote_credits: f64,
    pub ballot: String,
    pub voter_reputation: f64,
    pub timestamp: i64,
}

/// Data of `governance.receipt.emitted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GovernanceReceiptEmitted {
    pub proposal_id: String,
    pub result: String,
    pub quorum_yes: f64,
    pub quorum_no: f64,
    pub quorum_abstain: f64,
    pub has_bls_signature: bool,
    pub committee_size: u64,
    pub timestamp: i64,
}

/// Data of `governance.proposal.tallied`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProposalTallied {
    pub proposal_id: String,
    pub tally_yes: f64,
    pub tally_no: f64,
    pub tally_abstain: f64,
    pub total_eligible_credits: f64,
    pub participation_rate: f64,
    pub quorum_met: bool,
    pub threshold_met: bool,
    pub timestamp: i64,
}

/// Data of `governance.proposal.status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProposalStatusChanged {
    pub proposal_id: String,
    pub old_status: String,
    pub new_status: String,
    pub timestamp: i64,
}

/// Data of `governance.proposal.enacted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProposalEnacted {
    pub proposal_id: String,
    pub enact_epoch: u64,
    pub param_changes: Vec<String>,
    pub timestamp: i64,
}

/// Data of `governance.parameter.changed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParameterChanged {
    pub proposal_id: String,
    pub parameter_key: String,
    pub old_value: String,
    pub new_value: String,
    pub timestamp: i64,
}

/// Data of `governance.treasury.milestone`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreasuryMilestoneCompleted {
    pub grant_id: String,
    pub milestone_id: u32,
    pub amount_adic: f64,
    pub verification_scheme: String,
    pub deliverable_cid: String,
    pub is_verified: bool,
    pub timestamp: i64,
}

/// Data of `governance.treasury.clawback`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreasuryGrantClawedBack {
    pub grant_id: String,
    pub clawed_back_amount_adic: f64,
    pub reason: String,
    pub timestamp: i64,
}

/// Data of `committee.certificate.generated`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommitteeCertificateGenerated {
    pub epoch_id: u64,
    pub member_count: u64,
    pub diversity_score: f64,
    pub axes_covered: u64,
    pub has_threshold_signature: bool,
    pub timestamp: i64,
}

/// Data of `pouw.task.submitted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskSubmitted {
    pub task_id: String,
    pub sponsor: String,
    pub task_type: String,
    pub reward_adic: f64,
    pub worker_count: u64,
    pub deadline_epoch: u64,
    pub timestamp: i64,
}

/// Data of `pouw.result.submitted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkResultSubmitted {
    pub task_id: String,
    pub worker: String,
    pub result_hash: String,
    pub timestamp: i64,
}

/// Data of `pouw.receipt.validated`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceiptValidated {
    pub receipt_id: String,
    pub epoch_id: u64,
    pub accepted_count: u64,
    pub rejected_count: u64,
    pub is_valid: bool,
    pub fraud_proofs_count: u64,
    pub timestamp: i64,
}
