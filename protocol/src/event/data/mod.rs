//! The data structs of every kind, grouped by priority.

mod high;
mod low;
mod medium;

pub use high::*;
pub use low::*;
pub use medium::*;
