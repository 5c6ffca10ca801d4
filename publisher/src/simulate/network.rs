//! Peers and sync: the node connects to a few peers at start and catches up from one of them;
//! later peers come and go, and the node syncs the messages a new peer has ahead of it.
//!
//! A sync emits `sync.started`, `sync.progress` from 0 to 100 percent for that peer, then
//! `sync.completed`. A peer is never dropped in the middle of a sync.

use adic_protocol::event::{
    PeerConnected, PeerDisconnected, SyncCompleted, SyncProgress, SyncStarted,
};
use adic_protocol::Event;
use rand::Rng;

use super::ids;
use super::Node;

const BOOTSTRAP_PEERS: usize = 3;
const MIN_PEERS: usize = 3;
const MAX_PEERS: usize = 10;

struct Peer {
    id: String,
    syncing: bool,
}

#[derive(Default)]
pub(super) struct Peers {
    connected: Vec<Peer>,
}

pub(super) fn start(n: &mut Node) {
    for _ in 0..BOOTSTRAP_PEERS {
        connect(n);
    }
    // Catch up with the network from the first peer.
    let first = n.peers.connected[0].id.clone();
    let messages = n.rng.random_range(800..2_000);
    sync(n, first, messages, 10);
    n.every((20.0, 50.0), (25.0, 70.0), |n| {
        if n.peers.connected.len() < MAX_PEERS {
            let peer = connect(n);
            if n.rng.random_bool(0.7) {
                let (messages, steps) = (n.rng.random_range(20..400), n.rng.random_range(3..=6));
                sync(n, peer, messages, steps);
            }
        }
    });
    n.every((30.0, 60.0), (30.0, 80.0), disconnect);
}

/// Connects a new peer and returns its id.
fn connect(n: &mut Node) -> String {
    let id = ids::hex_id(&mut n.rng);
    n.peers.connected.push(Peer {
        id: id.clone(),
        syncing: false,
    });
    n.out.push(Event::PeerConnected(PeerConnected {
        peer_id: id.clone(),
        address: ids::peer_address(&mut n.rng),
        timestamp: n.stamp,
    }));
    id
}

fn disconnect(n: &mut Node) {
    let idle: Vec<usize> = (0..n.peers.connected.len())
        .filter(|&i| !n.peers.connected[i].syncing)
        .collect();
    if n.peers.connected.len() <= MIN_PEERS || idle.is_empty() {
        return;
    }
    let peer = n.peers.connected.remove(ids::pick(&mut n.rng, &idle));
    let reason = ids::pick(
        &mut n.rng,
        &[
            Some("timeout"),
            Some("connection reset by peer"),
            Some("remote closed"),
            None,
        ],
    );
    n.out.push(Event::PeerDisconnected(PeerDisconnected {
        peer_id: peer.id,
        reason: reason.map(str::to_owned),
        timestamp: n.stamp,
    }));
}

/// Syncs `messages` messages from `peer` in `steps` progress steps, about a second apart.
fn sync(n: &mut Node, peer: String, messages: u64, steps: u64) {
    if let Some(p) = n.peers.connected.iter_mut().find(|p| p.id == peer) {
        p.syncing = true;
    }
    n.out.push(Event::SyncStarted(SyncStarted {
        peer_id: peer.clone(),
        target_height: n.dag.height() + n.rng.random_range(5..40),
        timestamp: n.stamp,
    }));
    progress(n, peer, messages, (0, steps), n.now);
}

fn progress(n: &mut Node, peer: String, messages: u64, (step, steps): (u64, u64), began: f64) {
    n.out.push(Event::SyncProgress(SyncProgress {
        peer_id: peer.clone(),
        synced_messages: messages * step / steps,
        progress_percent: ids::round(100.0 * step as f64 / steps as f64, 1),
        timestamp: n.stamp,
    }));
    if step == steps {
        if let Some(p) = n.peers.connected.iter_mut().find(|p| p.id == peer) {
            p.syncing = false;
        }
        n.out.push(Event::SyncCompleted(SyncCompleted {
            peer_id: peer,
            synced_messages: messages,
            duration_ms: ((n.now - began) * 1000.0).round() as u64,
            timestamp: n.stamp,
        }));
        return;
    }
    let delay = n.rng.random_range(0.6..1.4);
    n.after(delay, move |n| {
        progress(n, peer, messages, (step + 1, steps), began)
    });
}
