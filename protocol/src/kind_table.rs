// Generated from shared/contract/kinds.json; the table is the contract (CONTRACT.md).

use crate::kind::{Class, Priority};

/// Every event kind of the contract, in catalog order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// `tips.update` (high, snapshot)
    TipsUpdated,
    /// `finality.update` (high, log)
    MessageFinalized,
    /// `message.new` (high, log)
    MessageAdded,
    /// `message.rejected` (high, log)
    MessageRejected,
    /// `deposit.escrowed` (high, log)
    DepositEscrowed,
    /// `deposit.slashed` (high, log)
    DepositSlashed,
    /// `balance.changed` (high, log)
    BalanceChanged,
    /// `transfer.recorded` (high, log)
    TransferRecorded,
    /// `peer.connected` (high, log)
    PeerConnected,
    /// `peer.disconnected` (high, log)
    PeerDisconnected,
    /// `vrf.commit` (high, log)
    VRFCommitSubmitted,
    /// `vrf.reveal` (high, log)
    VRFRevealOpened,
    /// `vrf.finalized` (high, log)
    VRFRandomnessFinalized,
    /// `challenge.opened` (high, log)
    ChallengeWindowOpened,
    /// `challenge.submitted` (high, log)
    ChallengeSubmitted,
    /// `fraud.submitted` (high, log)
    FraudProofSubmitted,
    /// `fraud.verified` (high, log)
    FraudProofVerified,
    /// `arbitration.started` (high, log)
    ArbitrationStarted,
    /// `arbitration.completed` (high, log)
    ArbitrationCompleted,
    /// `governance.proposal.submitted` (high, log)
    ProposalSubmitted,
    /// `governance.vote.cast` (high, log)
    VoteCast,
    /// `governance.receipt.emitted` (high, log)
    GovernanceReceiptEmitted,
    /// `governance.proposal.tallied` (high, log)
    ProposalTallied,
    /// `governance.proposal.status` (high, log)
    ProposalStatusChanged,
    /// `governance.proposal.enacted` (high, log)
    ProposalEnacted,
    /// `governance.parameter.changed` (high, log)
    ParameterChanged,
    /// `governance.treasury.milestone` (high, log)
    TreasuryMilestoneCompleted,
    /// `governance.treasury.clawback` (high, log)
    TreasuryGrantClawedBack,
    /// `committee.certificate.generated` (high, log)
    CommitteeCertificateGenerated,
    /// `pouw.task.submitted` (high, log)
    TaskSubmitted,
    /// `pouw.result.submitted` (high, log)
    WorkResultSubmitted,
    /// `pouw.receipt.validated` (high, log)
    ReceiptValidated,
    /// `diversity.update` (medium, snapshot)
    DiversityUpdated,
    /// `energy.update` (medium, snapshot)
    EnergyUpdated,
    /// `kcore.update` (medium, snapshot)
    KCoreUpdated,
    /// `deposit.released` (medium, log)
    DepositReleased,
    /// `sync.started` (medium, log)
    SyncStarted,
    /// `sync.progress` (medium, snapshot)
    SyncProgress,
    /// `sync.completed` (medium, log)
    SyncCompleted,
    /// `reputation.changed` (medium, log)
    ReputationChanged,
    /// `quorum.selected` (medium, log)
    QuorumSelected,
    /// `quorum.voted` (medium, log)
    QuorumVoteCompleted,
    /// `escrow.locked` (medium, log)
    EscrowLocked,
    /// `escrow.released` (medium, log)
    EscrowReleased,
    /// `escrow.slashed` (medium, log)
    EscrowSlashed,
    /// `escrow.refunded` (medium, log)
    EscrowRefunded,
    /// `governance.treasury.executed` (medium, log)
    TreasuryGrantExecuted,
    /// `committee.aggregator.selected` (medium, log)
    AggregatorSelected,
    /// `pouw.workers.selected` (medium, log)
    WorkersSelected,
    /// `admissibility.update` (low, snapshot)
    AdmissibilityUpdated,
    /// `economics.update` (low, snapshot)
    EconomicsUpdated,
    /// `node.started` (low, log)
    NodeStarted,
    /// `node.stopped` (low, log)
    NodeStopped,
    /// `genesis.loaded` (low, log)
    GenesisLoaded,
}

pub(crate) struct KindInfo {
    pub kind: Kind,
    pub variant: &'static str,
    pub name: &'static str,
    pub priority: Priority,
    pub class: Class,
}

pub(crate) const KINDS: [KindInfo; 54] = [
    KindInfo {
        kind: Kind::TipsUpdated,
        variant: "TipsUpdated",
        name: "tips.update",
        priority: Priority::High,
        class: Class::Snapshot,
    },
    KindInfo {
        kind: Kind::MessageFinalized,
        variant: "MessageFinalized",
        name: "finality.update",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::MessageAdded,
        variant: "MessageAdded",
        name: "message.new",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::MessageRejected,
        variant: "MessageRejected",
        name: "message.rejected",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::DepositEscrowed,
        variant: "DepositEscrowed",
        name: "deposit.escrowed",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::DepositSlashed,
        variant: "DepositSlashed",
        name: "deposit.slashed",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::BalanceChanged,
        variant: "BalanceChanged",
        name: "balance.changed",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::TransferRecorded,
        variant: "TransferRecorded",
        name: "transfer.recorded",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::PeerConnected,
        variant: "PeerConnected",
        name: "peer.connected",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::PeerDisconnected,
        variant: "PeerDisconnected",
        name: "peer.disconnected",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::VRFCommitSubmitted,
        variant: "VRFCommitSubmitted",
        name: "vrf.commit",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::VRFRevealOpened,
        variant: "VRFRevealOpened",
        name: "vrf.reveal",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::VRFRandomnessFinalized,
        variant: "VRFRandomnessFinalized",
        name: "vrf.finalized",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::ChallengeWindowOpened,
        variant: "ChallengeWindowOpened",
        name: "challenge.opened",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::ChallengeSubmitted,
        variant: "ChallengeSubmitted",
        name: "challenge.submitted",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::FraudProofSubmitted,
        variant: "FraudProofSubmitted",
        name: "fraud.submitted",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::FraudProofVerified,
        variant: "FraudProofVerified",
        name: "fraud.verified",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::ArbitrationStarted,
        variant: "ArbitrationStarted",
        name: "arbitration.started",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::ArbitrationCompleted,
        variant: "ArbitrationCompleted",
        name: "arbitration.completed",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::ProposalSubmitted,
        variant: "ProposalSubmitted",
        name: "governance.proposal.submitted",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::VoteCast,
        variant: "VoteCast",
        name: "governance.vote.cast",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::GovernanceReceiptEmitted,
        variant: "GovernanceReceiptEmitted",
        name: "governance.receipt.emitted",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::ProposalTallied,
        variant: "ProposalTallied",
        name: "governance.proposal.tallied",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::ProposalStatusChanged,
        variant: "ProposalStatusChanged",
        name: "governance.proposal.status",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::ProposalEnacted,
        variant: "ProposalEnacted",
        name: "governance.proposal.enacted",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::ParameterChanged,
        variant: "ParameterChanged",
        name: "governance.parameter.changed",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::TreasuryMilestoneCompleted,
        variant: "TreasuryMilestoneCompleted",
        name: "governance.treasury.milestone",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::TreasuryGrantClawedBack,
        variant: "TreasuryGrantClawedBack",
        name: "governance.treasury.clawback",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::CommitteeCertificateGenerated,
        variant: "CommitteeCertificateGenerated",
        name: "committee.certificate.generated",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::TaskSubmitted,
        variant: "TaskSubmitted",
        name: "pouw.task.submitted",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::WorkResultSubmitted,
        variant: "WorkResultSubmitted",
        name: "pouw.result.submitted",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::ReceiptValidated,
        variant: "ReceiptValidated",
        name: "pouw.receipt.validated",
        priority: Priority::High,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::DiversityUpdated,
        variant: "DiversityUpdated",
        name: "diversity.update",
        priority: Priority::Medium,
        class: Class::Snapshot,
    },
    KindInfo {
        kind: Kind::EnergyUpdated,
        variant: "EnergyUpdated",
        name: "energy.update",
        priority: Priority::Medium,
        class: Class::Snapshot,
    },
    KindInfo {
        kind: Kind::KCoreUpdated,
        variant: "KCoreUpdated",
        name: "kcore.update",
        priority: Priority::Medium,
        class: Class::Snapshot,
    },
    KindInfo {
        kind: Kind::DepositReleased,
        variant: "DepositReleased",
        name: "deposit.released",
        priority: Priority::Medium,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::SyncStarted,
        variant: "SyncStarted",
        name: "sync.started",
        priority: Priority::Medium,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::SyncProgress,
        variant: "SyncProgress",
        name: "sync.progress",
        priority: Priority::Medium,
        class: Class::Snapshot,
    },
    KindInfo {
        kind: Kind::SyncCompleted,
        variant: "SyncCompleted",
        name: "sync.completed",
        priority: Priority::Medium,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::ReputationChanged,
        variant: "ReputationChanged",
        name: "reputation.changed",
        priority: Priority::Medium,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::QuorumSelected,
        variant: "QuorumSelected",
        name: "quorum.selected",
        priority: Priority::Medium,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::QuorumVoteCompleted,
        variant: "QuorumVoteCompleted",
        name: "quorum.voted",
        priority: Priority::Medium,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::EscrowLocked,
        variant: "EscrowLocked",
        name: "escrow.locked",
        priority: Priority::Medium,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::EscrowReleased,
        variant: "EscrowReleased",
        name: "escrow.released",
        priority: Priority::Medium,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::EscrowSlashed,
        variant: "EscrowSlashed",
        name: "escrow.slashed",
        priority: Priority::Medium,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::EscrowRefunded,
        variant: "EscrowRefunded",
        name: "escrow.refunded",
        priority: Priority::Medium,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::TreasuryGrantExecuted,
        variant: "TreasuryGrantExecuted",
        name: "governance.treasury.executed",
        priority: Priority::Medium,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::AggregatorSelected,
        variant: "AggregatorSelected",
        name: "committee.aggregator.selected",
        priority: Priority::Medium,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::WorkersSelected,
        variant: "WorkersSelected",
        name: "pouw.workers.selected",
        priority: Priority::Medium,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::AdmissibilityUpdated,
        variant: "AdmissibilityUpdated",
        name: "admissibility.update",
        priority: Priority::Low,
        class: Class::Snapshot,
    },
    KindInfo {
        kind: Kind::EconomicsUpdated,
        variant: "EconomicsUpdated",
        name: "economics.update",
        priority: Priority::Low,
        class: Class::Snapshot,
    },
    KindInfo {
        kind: Kind::NodeStarted,
        variant: "NodeStarted",
        name: "node.started",
        priority: Priority::Low,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::NodeStopped,
        variant: "NodeStopped",
        name: "node.stopped",
        priority: Priority::Low,
        class: Class::Log,
    },
    KindInfo {
        kind: Kind::GenesisLoaded,
        variant: "GenesisLoaded",
        name: "genesis.loaded",
        priority: Priority::Low,
        class: Class::Log,
    },
];
