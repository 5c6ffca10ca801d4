// Generated from shared/contract/kinds.json: field names, order and types are the contract.

use serde::{Deserialize, Serialize};

use crate::Kind;

mod data;
pub use data::*;

/// How a message became final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalityType {
    Kcore,
    Homology,
    Composite,
}

/// Why a message was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionType {
    AdmissibilityFailed,
    ValidationFailed,
    InsufficientDeposit,
}

/// Direction of a balance change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BalanceChangeType {
    Credit,
    Debit,
    TransferIn,
    TransferOut,
}

/// Diversity of one p-adic axis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AxisData {
    pub axis: u32,
    pub radius: u32,
    pub distinct_balls: u64,
    pub required_diversity: u64,
    pub meets_requirement: bool,
}

/// One ADIC event, adjacently tagged exactly as existing clients expect:
/// `{"type": "<Variant>", "data": {..., "timestamp": <unix seconds>}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    TipsUpdated(TipsUpdated),
    MessageFinalized(MessageFinalized),
    MessageAdded(MessageAdded),
    MessageRejected(MessageRejected),
    DepositEscrowed(DepositEscrowed),
    DepositSlashed(DepositSlashed),
    BalanceChanged(BalanceChanged),
    TransferRecorded(TransferRecorded),
    PeerConnected(PeerConnected),
    PeerDisconnected(PeerDisconnected),
    VRFCommitSubmitted(VRFCommitSubmitted),
    VRFRevealOpened(VRFRevealOpened),
    VRFRandomnessFinalized(VRFRandomnessFinalized),
    ChallengeWindowOpened(ChallengeWindowOpened),
    ChallengeSubmitted(ChallengeSubmitted),
    FraudProofSubmitted(FraudProofSubmitted),
    FraudProofVerified(FraudProofVerified),
    ArbitrationStarted(ArbitrationStarted),
    ArbitrationCompleted(ArbitrationCompleted),
    ProposalSubmitted(ProposalSubmitted),
    VoteCast(VoteCast),
    GovernanceReceiptEmitted(GovernanceReceiptEmitted),
    ProposalTallied(ProposalTallied),
    ProposalStatusChanged(ProposalStatusChanged),
    ProposalEnacted(ProposalEnacted),
    ParameterChanged(ParameterChanged),
    TreasuryMilestoneCompleted(TreasuryMilestoneCompleted),
    TreasuryGrantClawedBack(TreasuryGrantClawedBack),
    CommitteeCertificateGenerated(CommitteeCertificateGenerated),
    TaskSubmitted(TaskSubmitted),
    WorkResultSubmitted(WorkResultSubmitted),
    ReceiptValidated(ReceiptValidated),
    DiversityUpdated(DiversityUpdated),
    EnergyUpdated(EnergyUpdated),
    KCoreUpdated(KCoreUpdated),
    DepositReleased(DepositReleased),
    SyncStarted(SyncStarted),
    SyncProgress(SyncProgress),
    SyncCompleted(SyncCompleted),
    ReputationChanged(ReputationChanged),
    QuorumSelected(QuorumSelected),
    QuorumVoteCompleted(QuorumVoteCompleted),
    EscrowLocked(EscrowLocked),
    EscrowReleased(EscrowReleased),
    EscrowSlashed(EscrowSlashed),
    EscrowRefunded(EscrowRefunded),
    TreasuryGrantExecuted(TreasuryGrantExecuted),
    AggregatorSelected(AggregatorSelected),
    WorkersSelected(WorkersSelected),
    AdmissibilityUpdated(AdmissibilityUpdated),
    EconomicsUpdated(EconomicsUpdated),
    NodeStarted(NodeStarted),
    NodeStopped(NodeStopped),
    GenesisLoaded(GenesisLoaded),
}

impl Event {
    /// The kind of this event.
    pub fn kind(&self) -> Kind {
        match self {
            Event::TipsUpdated(_) => Kind::TipsUpdated,
            Event::MessageFinalized(_) => Kind::MessageFinalized,
            Event::MessageAdded(_) => Kind::MessageAdded,
            Event::MessageRejected(_) => Kind::MessageRejected,
            Event::DepositEscrowed(_) => Kind::DepositEscrowed,
            Event::DepositSlashed(_) => Kind::DepositSlashed,
            Event::BalanceChanged(_) => Kind::BalanceChanged,
            Event::TransferRecorded(_) => Kind::TransferRecorded,
            Event::PeerConnected(_) => Kind::PeerConnected,
            Event::PeerDisconnected(_) => Kind::PeerDisconnected,
            Event::VRFCommitSubmitted(_) => Kind::VRFCommitSubmitted,
            Event::VRFRevealOpened(_) => Kind::VRFRevealOpened,
            Event::VRFRandomnessFinalized(_) => Kind::VRFRandomnessFinalized,
            Event::ChallengeWindowOpened(_) => Kind::ChallengeWindowOpened,
            Event::ChallengeSubmitted(_) => Kind::ChallengeSubmitted,
            Event::FraudProofSubmitted(_) => Kind::FraudProofSubmitted,
            Event::FraudProofVerified(_) => Kind::FraudProofVerified,
            Event::ArbitrationStarted(_) => Kind::ArbitrationStarted,
            Event::ArbitrationCompleted(_) => Kind::ArbitrationCompleted,
            Event::ProposalSubmitted(_) => Kind::ProposalSubmitted,
            Event::VoteCast(_) => Kind::VoteCast,
            Event::GovernanceReceiptEmitted(_) => Kind::GovernanceReceiptEmitted,
            Event::ProposalTallied(_) => Kind::ProposalTallied,
            Event::ProposalStatusChanged(_) => Kind::ProposalStatusChanged,
            Event::ProposalEnacted(_) => Kind::ProposalEnacted,
            Event::ParameterChanged(_) => Kind::ParameterChanged,
            Event::TreasuryMilestoneCompleted(_) => Kind::TreasuryMilestoneCompleted,
            Event::TreasuryGrantClawedBack(_) => Kind::TreasuryGrantClawedBack,
            Event::CommitteeCertificateGenerated(_) => Kind::CommitteeCertificateGenerated,
            Event::TaskSubmitted(_) => Kind::TaskSubmitted,
            Event::WorkResultSubmitted(_) => Kind::WorkResultSubmitted,
            Event::ReceiptValidated(_) => Kind::ReceiptValidated,
            Event::DiversityUpdated(_) => Kind::DiversityUpdated,
            Event::EnergyUpdated(_) => Kind::EnergyUpdated,
            Event::KCoreUpdated(_) => Kind::KCoreUpdated,
            Event::DepositReleased(_) => Kind::DepositReleased,
            Event::SyncStarted(_) => Kind::SyncStarted,
            Event::SyncProgress(_) => Kind::SyncProgress,
            Event::SyncCompleted(_) => Kind::SyncCompleted,
            Event::ReputationChanged(_) => Kind::ReputationChanged,
            Event::QuorumSelected(_) => Kind::QuorumSelected,
            Event::QuorumVoteCompleted(_) => Kind::QuorumVoteCompleted,
            Event::EscrowLocked(_) => Kind::EscrowLocked,
            Event::EscrowReleased(_) => Kind::EscrowReleased,
            Event::EscrowSlashed(_) => Kind::EscrowSlashed,
            Event::EscrowRefunded(_) => Kind::EscrowRefunded,
            Event::TreasuryGrantExecuted(_) => Kind::TreasuryGrantExecuted,
            Event::AggregatorSelected(_) => Kind::AggregatorSelected,
            Event::WorkersSelected(_) => Kind::WorkersSelected,
            Event::AdmissibilityUpdated(_) => Kind::AdmissibilityUpdated,
            Event::EconomicsUpdated(_) => Kind::EconomicsUpdated,
            Event::NodeStarted(_) => Kind::NodeStarted,
            Event::NodeStopped(_) => Kind::NodeStopped,
            Event::GenesisLoaded(_) => Kind::GenesisLoaded,
        }
    }

    /// Unix seconds carried by the event.
    pub fn timestamp(&self) -> i64 {
        match self {
            Event::TipsUpdated(e) => e.timestamp,
            Event::MessageFinalized(e) => e.timestamp,
            Event::MessageAdded(e) => e.timestamp,
            Event::MessageRejected(e) => e.timestamp,
            Event::DepositEscrowed(e) => e.timestamp,
            Event::DepositSlashed(e) => e.timestamp,
            Event::BalanceChanged(e) => e.timestamp,
            Event::TransferRecorded(e) => e.timestamp,
            Event::PeerConnected(e) => e.timestamp,
            Event::PeerDisconnected(e) => e.timestamp,
            Event::VRFCommitSubmitted(e) => e.timestamp,
            Event::VRFRevealOpened(e) => e.timestamp,
            Event::VRFRandomnessFinalized(e) => e.timestamp,
            Event::ChallengeWindowOpened(e) => e.timestamp,
            Event::ChallengeSubmitted(e) => e.timestamp,
            Event::FraudProofSubmitted(e) => e.timestamp,
            Event::FraudProofVerified(e) => e.timestamp,
            Event::ArbitrationStarted(e) => e.timestamp,
            Event::ArbitrationCompleted(e) => e.timestamp,
            Event::ProposalSubmitted(e) => e.timestamp,
            Event::VoteCast(e) => e.timestamp,
            Event::GovernanceReceiptEmitted(e) => e.timestamp,
            Event::ProposalTallied(e) => e.timestamp,
            Event::ProposalStatusChanged(e) => e.timestamp,
            Event::ProposalEnacted(e) => e.timestamp,
            Event::ParameterChanged(e) => e.timestamp,
            Event::TreasuryMilestoneCompleted(e) => e.timestamp,
            Event::TreasuryGrantClawedBack(e) => e.timestamp,
            Event::CommitteeCertificateGenerated(e) => e.timestamp,
            Event::TaskSubmitted(e) => e.timestamp,
            Event::WorkResultSubmitted(e) => e.timestamp,
            Event::ReceiptValidated(e) => e.timestamp,
            Event::DiversityUpdated(e) => e.timestamp,
            Event::EnergyUpdated(e) => e.timestamp,
            Event::KCoreUpdated(e) => e.timestamp,
            Event::DepositReleased(e) => e.timestamp,
            Event::SyncStarted(e) => e.timestamp,
            Event::SyncProgress(e) => e.timestamp,
            Event::SyncCompleted(e) => e.timestamp,
            Event::ReputationChanged(e) => e.timestamp,
            Event::QuorumSelected(e) => e.timestamp,
            Event::QuorumVoteCompleted(e) => e.timestamp,
            Event::EscrowLocked(e) => e.timestamp,
            Event::EscrowReleased(e) => e.timestamp,
            Event::EscrowSlashed(e) => e.timestamp,
            Event::EscrowRefunded(e) => e.timestamp,
            Event::TreasuryGrantExecuted(e) => e.timestamp,
            Event::AggregatorSelected(e) => e.timestamp,
            Event::WorkersSelected(e) => e.timestamp,
            Event::AdmissibilityUpdated(e) => e.timestamp,
            Event::EconomicsUpdated(e) => e.timestamp,
            Event::NodeStarted(e) => e.timestamp,
            Event::NodeStopped(e) => e.timestamp,
            Event::GenesisLoaded(e) => e.timestamp,
        }
    }
}
