//! placeholder
pub mod nats;
