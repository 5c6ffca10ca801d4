//! Measuring an edge: the load generator and the floor it is compared with.
//!
//! - [`run`]: opens many WebSocket or SSE connections ([`conn`]) over several loopback source
//!   addresses, measures the server's memory per idle connection, publishes realistic events at a
//!   rate ([`publish`]), and reports deliveries per second, publish→receive latency (HDR
//!   histogram), loss and order, and the CPU of each core ([`system`]).
//! - [`floor`]: the least work that delivers the same bytes, as a baseline for every result.
//! - [`peers`]: what the other servers need to get the same events with the same bytes — a
//!   bridge from the JetStream stream to Pushpin's control API and to nats-server, and the GRIP
//!   origin Pushpin asks how to treat each client; [`nats_wire`] reads the NATS protocol for
//!   the `nats-ws` transport.
//!
//! `loadgen/bench.sh` runs the scenarios of docs/benchmarks.md with the server pinned to one core
//! and everything else to the other.

pub mod conn;
pub mod floor;
pub mod nats_wire;
pub mod peers;
pub mod publish;
pub mod report;
pub mod run;
pub mod scenario;
pub mod stats;
pub mod system;
