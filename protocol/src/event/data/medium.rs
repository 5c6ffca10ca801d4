// Generated from shared/contract/kinds.json: field names, order and types are the contract.

use serde::{Deserialize, Serialize};

use crate::event::AxisData;

/// Data of `diversity.update`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiversityUpdated {
    pub diversity_score: f64,
    pub axes: Vec<AxisData>,
    pub total_tips: u64,
    pub timestamp: i64,
}

/// Data of `energy.update`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnergyUpdated {
    pub total_conflicts: u32,
    pub resolved_conflicts: u32,
    pub active_conflicts: u32,
    pub total_energy: f64,
    pub timestamp: i64,
}

/// Data of `kcore.update`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KCoreUpdated {
    pub finalized_count: u32,
    pub pending_count: u32,
    pub current_k_value: Option<u32>,
    pub timestamp: i64,
}

/// Data of `deposit.released`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DepositReleased {
    pub message_id: String,
    pub validator_address: String,
    pub amount: String,
    pub timestamp: i64,
}

/// Data of `sync.started`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncStarted {
    pub peer_id: String,
    pub target_height: u64,
    pub timestamp: i64,
}

/// Data of `sync.progress`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncProgress {
    pub peer_id: String,
    pub synced_messages: u64,
    pub progress_percent: f64,
    pub timestamp: i64,
}

/// Data of `sync.completed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncCompleted {
    pub peer_id: String,
    pub synced_messages: u64,
    pub duration_ms: u64,
    pub timestamp: i64,
}

/// Data of `reputation.changed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReputationChanged {
    pub validator_address: String,
    pub old_reputation: f64,
    pub new_reputation: f64,
    pub reason: String,
    pub timestamp: i64,
}

/// Data of `quorum.selected`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuorumSelected {
    pub epoch: u64,
    pub committee_size: u64,
    pub domain: String,
    pub axes_covered: u64,
    pub timestamp: i64,
}

/// Data of `quorum.voted`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuorumVoteCompleted {
    pub vote_id: String,
    pub votes_for: u64,
    pub votes_against: u64,
    pub threshold_met: bool,
    pub result: String,
    pub timestamp: i64,
}

/// Data of `escrow.locked`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EscrowLocked {
    pub lock_id: String,
    pub owner: String,
    pub amount_adic: f64,
    pub escrow_type: String,
    pub balance_before_adic: f64,
    pub balance_after_adic: f64,
    pub timestamp: i64,
}

/// Data of `escrow.released`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EscrowReleased {
    pub lock_id: String,
    pub from: String,
    pub to: String,
    pub amount_adic: f64,
    pub timestamp: i64,
}

/// Data of `escrow.slashed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EscrowSlashed {
    pub lock_id: String,
    pub owner: String,
    pub amount_adic: f64,
    pub reason: String,
    pub timestamp: i64,
}

/// Data of `escrow.refunded`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EscrowRefunded {
    pub lock_id: String,
    pub owner: String,
    pub amount_adic: f64,
    pub timestamp: i64,
}

/// Data of `governance.treasury.executed`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreasuryGrantExecuted {
    pub proposal_id: String,
    pub recipient: String,
    pub amount_adic: f64,
    pub milestone: Option<String>,
    pub timestamp: i64,
}

/// Data of `committee.aggregator.selected`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggregatorSelected {
    pub epoch_id: u64,
    pub primary_aggregator: String,
    pub committee_size: u64,
    pub selection_method: String,
    pub timestamp: i64,
}

/// Data of `pouw.workers.selected`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkersSelected {
    pub task_id: String,
    pub worker_count: u64,
    pub total_eligible: u64,
    pub selection_method: String,
    pub timestamp: i64,
}
