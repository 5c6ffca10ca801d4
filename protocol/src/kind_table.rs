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

const fn info(
    kind: Kind,
    variant: &'static str,
    name: &'static str,
    priority: Priority,
    class: Class,
) -> KindInfo {
    KindInfo {
        kind,
        variant,
        name,
        priority,
        class,
    }
}

use Class::{Log, Snapshot};
use Priority::{High, Low, Medium};

/// The catalog, one kind per line, in catalog order (the order of [`Kind`]).
#[rustfmt::skip]
pub(crate) const KINDS: [KindInfo; 54] = [
    info(Kind::TipsUpdated, "TipsUpdated", "tips.update", High, Snapshot),
    info(Kind::MessageFinalized, "MessageFinalized", "finality.update", High, Log),
    info(Kind::MessageAdded, "MessageAdded", "message.new", High, Log),
    info(Kind::MessageRejected, "MessageRejected", "message.rejected", High, Log),
    info(Kind::DepositEscrowed, "DepositEscrowed", "deposit.escrowed", High, Log),
    info(Kind::DepositSlashed, "DepositSlashed", "deposit.slashed", High, Log),
    info(Kind::BalanceChanged, "BalanceChanged", "balance.changed", High, Log),
    info(Kind::TransferRecorded, "TransferRecorded", "transfer.recorded", High, Log),
    info(Kind::PeerConnected, "PeerConnected", "peer.connected", High, Log),
    info(Kind::PeerDisconnected, "PeerDisconnected", "peer.disconnected", High, Log),
    info(Kind::VRFCommitSubmitted, "VRFCommitSubmitted", "vrf.commit", High, Log),
    info(Kind::VRFRevealOpened, "VRFRevealOpened", "vrf.reveal", High, Log),
    info(Kind::VRFRandomnessFinalized, "VRFRandomnessFinalized", "vrf.finalized", High, Log),
    info(Kind::ChallengeWindowOpened, "ChallengeWindowOpened", "challenge.opened", High, Log),
    info(Kind::ChallengeSubmitted, "ChallengeSubmitted", "challenge.submitted", High, Log),
    info(Kind::FraudProofSubmitted, "FraudProofSubmitted", "fraud.submitted", High, Log),
    info(Kind::FraudProofVerified, "FraudProofVerified", "fraud.verified", High, Log),
    info(Kind::ArbitrationStarted, "ArbitrationStarted", "arbitration.started", High, Log),
    info(Kind::ArbitrationCompleted, "ArbitrationCompleted", "arbitration.completed", High, Log),
    info(Kind::ProposalSubmitted, "ProposalSubmitted", "governance.proposal.submitted", High, Log),
    info(Kind::VoteCast, "VoteCast", "governance.vote.cast", High, Log),
    info(Kind::GovernanceReceiptEmitted, "GovernanceReceiptEmitted", "governance.receipt.emitted", High, Log),
    info(Kind::ProposalTallied, "ProposalTallied", "governance.proposal.tallied", High, Log),
    info(Kind::ProposalStatusChanged, "ProposalStatusChanged", "governance.proposal.status", High, Log),
    info(Kind::ProposalEnacted, "ProposalEnacted", "governance.proposal.enacted", High, Log),
    info(Kind::ParameterChanged, "ParameterChanged", "governance.parameter.changed", High, Log),
    info(Kind::TreasuryMilestoneCompleted, "TreasuryMilestoneCompleted", "governance.treasury.milestone", High, Log),
    info(Kind::TreasuryGrantClawedBack, "TreasuryGrantClawedBack", "governance.treasury.clawback", High, Log),
    info(Kind::CommitteeCertificateGenerated, "CommitteeCertificateGenerated", "committee.certificate.generated", High, Log),
    info(Kind::TaskSubmitted, "TaskSubmitted", "pouw.task.submitted", High, Log),
    info(Kind::WorkResultSubmitted, "WorkResultSubmitted", "pouw.result.submitted", High, Log),
    info(Kind::ReceiptValidated, "ReceiptValidated", "pouw.receipt.validated", High, Log),
    info(Kind::DiversityUpdated, "DiversityUpdated", "diversity.update", Medium, Snapshot),
    info(Kind::EnergyUpdated, "EnergyUpdated", "energy.update", Medium, Snapshot),
    info(Kind::KCoreUpdated, "KCoreUpdated", "kcore.update", Medium, Snapshot),
    info(Kind::DepositReleased, "DepositReleased", "deposit.released", Medium, Log),
    info(Kind::SyncStarted, "SyncStarted", "sync.started", Medium, Log),
    info(Kind::SyncProgress, "SyncProgress", "sync.progress", Medium, Snapshot),
    info(Kind::SyncCompleted, "SyncCompleted", "sync.completed", Medium, Log),
    info(Kind::ReputationChanged, "ReputationChanged", "reputation.changed", Medium, Log),
    info(Kind::QuorumSelected, "QuorumSelected", "quorum.selected", Medium, Log),
    info(Kind::QuorumVoteCompleted, "QuorumVoteCompleted", "quorum.voted", Medium, Log),
    info(Kind::EscrowLocked, "EscrowLocked", "escrow.locked", Medium, Log),
    info(Kind::EscrowReleased, "EscrowReleased", "escrow.released", Medium, Log),
    info(Kind::EscrowSlashed, "EscrowSlashed", "escrow.slashed", Medium, Log),
    info(Kind::EscrowRefunded, "EscrowRefunded", "escrow.refunded", Medium, Log),
    info(Kind::TreasuryGrantExecuted, "TreasuryGrantExecuted", "governance.treasury.executed", Medium, Log),
    info(Kind::AggregatorSelected, "AggregatorSelected", "committee.aggregator.selected", Medium, Log),
    info(Kind::WorkersSelected, "WorkersSelected", "pouw.workers.selected", Medium, Log),
    info(Kind::AdmissibilityUpdated, "AdmissibilityUpdated", "admissibility.update", Low, Snapshot),
    info(Kind::EconomicsUpdated, "EconomicsUpdated", "economics.update", Low, Snapshot),
    info(Kind::NodeStarted, "NodeStarted", "node.started", Low, Log),
    info(Kind::NodeStopped, "NodeStopped", "node.stopped", Low, Log),
    info(Kind::GenesisLoaded, "GenesisLoaded", "genesis.loaded", Low, Log),
];
