//! Test NATS servers (being written).
