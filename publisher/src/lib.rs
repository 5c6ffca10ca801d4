//! placeholder
pub mod simulate;
