//! Synthetic ADIC node (being written).
