// Generated from shared/contract/kinds.json: field names, order and types are the contract.

use serde::{Deserialize, Serialize};

/// Data of `admissibility.update`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdmissibilityUpdated {
    pub c1_rate: f64,
    pub c2_rate: f64,
    pub c3_rate: f64,
    pub overall_rate: f64,
    pub sample_size: u64,
    pub timestamp: i64,
}

/// Data of `economics.update`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EconomicsUpdated {
    pub total_supply: String,
    pub circulating_supply: String,
    pub treasury_balance: String,
    pub timestamp: i64,
}

/// Data of `node.started`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeStarted {
    pub node_id: String,
    pub version: String,
    pub timestamp: i64,
}

/// Data of `node.stopped`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeStopped {
    pub node_id: String,
    pub reason: String,
    pub timestamp: i64,
}

/// Data of `genesis.loaded`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenesisLoaded {
    pub chain_id: String,
    pub genesis_hash: String,
    pub total_supply: String,
    pub timestamp: i64,
}
