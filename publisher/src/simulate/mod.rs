//! A synthetic ADIC node: the events a real node emits, at a real node's pace, from a small
//! simulated ledger.
//!
//! `adic-publisher simulate` and the single-process demo run it so that a newcomer sees a live,
//! believable stream without running a node, and so that tests and benchmarks get realistic
//! traffic. It is a model rather than a random generator, because dashboards and indexers built
//! against it must also work against a real node: the ids in `tips.update` are messages it added,
//! depth grows, each message finalizes once and only after it was added, `kcore.update` counts
//! match the DAG, balances add up, and multi-step processes (syncs, governance, disputes, PoUW
//! tasks) run their steps in order over simulated time. Cadences follow CONTRACT.md, "How a real
//! node emits them". Its choices are reproducible from a seed; timestamps are real.
//!
//! Layout: [`Simulator`] runs a discrete-event agenda (`agenda`) over the node's state: the DAG
//! (`dag`), accounts and supply (`ledger`), governable parameters (`params`). The processes that
//! emit events are `traffic` (messages, finality, transfers), `gauges` (periodic snapshots),
//! `network` (peers and sync), `epochs` (VRF and committees), `governance` (proposals and treasury
//! grants), `disputes` (challenges, fraud proofs, arbitration) and `pouw` (useful-work tasks).
//! `ids` holds the id, address and amount formats.
//!
//! ```
//! use std::time::Duration;
//! use adic_publisher::simulate::{SimConfig, Simulator};
//!
//! let mut sim = Simulator::new(SimConfig { speed: 1.0, seed: Some(7) });
//! let boot = sim.start(); // node.started, genesis.loaded, peers, and a value of every snapshot kind
//! assert_eq!(boot[0].kind().name(), "node.started");
//! let next = sim.advance(Duration::from_secs(10)); // about 20 submissions and what follows them
//! assert!(next.iter().any(|e| e.kind().name() == "message.new"));
//! ```

mod agenda;
mod dag;
mod disputes;
mod epochs;
mod gauges;
mod governance;
mod ids;
mod ledger;
mod network;
mod params;
mod pouw;
mod traffic;

#[cfg(test)]
mod tests;

use std::time::Duration;

use adic_protocol::event::{GenesisLoaded, NodeStarted, ReputationChanged};
use adic_protocol::Event;
use futures::{Stream, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use agenda::Agenda;
use dag::Dag;
use ledger::Ledger;
use params::Params;

/// How often [`stream`] advances the simulator.
const TICK: Duration = Duration::from_millis(50);
/// The node version announced in `node.started`.
const VERSION: &str = "0.3.0";
const CHAIN_ID: &str = "adic-testnet";

/// How to run the simulated node.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Simulated seconds per real second (1.0 = a real node's pace). Not positive or not finite
    /// counts as 1.0.
    pub speed: f64,
    /// Seed for every choice the node makes; `None` picks one at random.
    pub seed: Option<u64>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            speed: 1.0,
            seed: None,
        }
    }
}

/// A simulated node, driven by the caller's clock through [`start`](Self::start) and
/// [`advance`](Self::advance).
pub struct Simulator {
    node: Node,
    speed: f64,
    started: bool,
}

impl Simulator {
    pub fn new(config: SimConfig) -> Simulator {
        let rng = match config.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        let speed = if config.speed > 0.0 && config.speed.is_finite() {
            config.speed
        } else {
            1.0
        };
        Simulator {
            node: Node::new(rng),
            speed,
            started: false,
        }
    }

    /// The events a node emits when it starts: `node.started`, `genesis.loaded`, its first peers
    /// and sync, and a value of every snapshot kind so a fresh dashboard has something to show.
    /// Only the first call returns events.
    pub fn start(&mut self) -> Vec<Event> {
        if self.started {
            return Vec::new();
        }
        self.started = true;
        self.node.stamp = ids::unix_now();
        self.node.boot();
        std::mem::take(&mut self.node.out)
    }

    /// Moves simulated time on by `elapsed × speed` and returns every event due in that interval,
    /// in the order a real node would emit them. Starts the node first if [`start`](Self::start)
    /// was not called.
    pub fn advance(&mut self, elapsed: Duration) -> Vec<Event> {
        let mut events = self.start();
        let node = &mut self.node;
        node.stamp = ids::unix_now();
        let until = node.now + elapsed.as_secs_f64() * self.speed;
        while let Some((at, step)) = node.agenda.pop_until(until) {
            node.now = at;
            step(node);
        }
        node.now = until;
        events.append(&mut node.out);
        events
    }

    /// Simulated time since the node started.
    pub fn elapsed(&self) -> Duration {
        Duration::from_secs_f64(self.node.now)
    }
}

/// Runs a simulator on tokio's clock: yields the [`start`](Simulator::start) events, then
/// advances every 50 ms by the real time that passed and yields each event. Endless.
pub fn stream(config: SimConfig) -> impl Stream<Item = Event> + Send + 'static {
    let mut sim = Simulator::new(config);
    let boot = futures::stream::iter(sim.start());
    // The interval is made on first poll: creating one needs a runtime, calling stream() does not.
    let ticks = futures::stream::unfold((sim, None), |(mut sim, clock)| async move {
        let (mut interval, last) = clock.unwrap_or_else(|| {
            let mut interval = tokio::time::interval(TICK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            (interval, tokio::time::Instant::now())
        });
        interval.tick().await;
        let now = tokio::time::Instant::now();
        let events = sim.advance(now - last);
        Some((futures::stream::iter(events), (sim, Some((interval, now)))))
    });
    boot.chain(ticks.flatten())
}

/// The whole state of the simulated node. The process modules add behaviour to it in their own
/// `impl Node` blocks and free functions scheduled on the agenda.
struct Node {
    /// Simulated seconds since start.
    now: f64,
    /// Unix seconds put on the events being emitted.
    stamp: i64,
    rng: StdRng,
    /// Events emitted since the caller last took them, in order.
    out: Vec<Event>,
    agenda: Agenda,
    node_id: String,
    genesis_hash: String,
    dag: Dag,
    ledger: Ledger,
    params: Params,
    gauges: gauges::Gauges,
    peers: network::Peers,
    epochs: epochs::Epochs,
    governance: governance::Governance,
    disputes: disputes::Disputes,
}

impl Node {
    fn new(mut rng: StdRng) -> Node {
        let ledger = Ledger::new(&mut rng);
        let dag = Dag::bootstrap(&mut rng, ledger.validator_count());
        Node {
            now: 0.0,
            stamp: 0,
            node_id: ids::hex_id(&mut rng),
            genesis_hash: ids::hex_id(&mut rng),
            gauges: gauges::Gauges::new(&mut rng),
            epochs: epochs::Epochs::new(&mut rng),
            governance: governance::Governance::new(),
            disputes: disputes::Disputes::new(),
            peers: network::Peers::default(),
            params: Params::default(),
            out: Vec::new(),
            agenda: Agenda::default(),
            dag,
            ledger,
            rng,
        }
    }

    /// Emits the start-up events and puts every recurring process on the agenda.
    fn boot(&mut self) {
        self.out.push(Event::NodeStarted(NodeStarted {
            node_id: self.node_id.clone(),
            version: VERSION.to_owned(),
            timestamp: self.stamp,
        }));
        self.out.push(Event::GenesisLoaded(GenesisLoaded {
            chain_id: CHAIN_ID.to_owned(),
            genesis_hash: self.genesis_hash.clone(),
            total_supply: ids::micro(self.ledger.total_supply),
            timestamp: self.stamp,
        }));
        network::start(self);
        gauges::start(self);
        traffic::start(self);
        epochs::start(self);
        governance::start(self);
        disputes::start(self);
        pouw::start(self);
    }

    /// Runs `step` `delay` simulated seconds from now.
    fn after(&mut self, delay: f64, step: impl FnOnce(&mut Node) + Send + 'static) {
        self.agenda.push(self.now + delay.max(0.0), Box::new(step));
    }

    /// Runs `step` first after a delay drawn from `first`, then again and again after delays
    /// drawn from `then` (seconds). Rare processes get a bounded first delay so every kind shows up
    /// within a few minutes of start.
    fn every(&mut self, first: (f64, f64), then: (f64, f64), step: fn(&mut Node)) {
        let delay = self.rng.random_range(first.0..=first.1);
        self.after(delay, move |n| {
            step(n);
            n.every(then, then, step);
        });
    }

    /// Adjusts a validator's reputation and emits `reputation.changed`.
    fn change_reputation(&mut self, validator: usize, delta: f64, reason: String) {
        let (old_reputation, new_reputation) = self.ledger.adjust_reputation(validator, delta);
        self.out.push(Event::ReputationChanged(ReputationChanged {
            validator_address: self.ledger.address(validator).to_owned(),
            old_reputation,
            new_reputation,
            reason,
            timestamp: self.stamp,
        }));
    }
}
