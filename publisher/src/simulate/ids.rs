//! Formats of ids, addresses and amounts, and the small random helpers the processes share.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

/// Amounts kept in thousandths of an ADIC: balances and deposits are shown with 3 decimals.
pub(super) const MILLI: u64 = 1_000;
/// Supply figures are kept in millionths of an ADIC and shown with 6 decimals.
pub(super) const MICRO: u64 = 1_000_000;

pub(super) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A 128-bit id or hash as 32 hex characters, the form of every id on the wire.
pub(super) fn hex_id(rng: &mut StdRng) -> String {
    format!("{:032x}", rng.random::<u128>())
}

/// An account address: `adic1` and 32 hex characters.
pub(super) fn address(rng: &mut StdRng) -> String {
    format!("adic1{}", hex_id(rng))
}

/// An IPFS CIDv1 in base32: `prefix` is `bafybei` (dag-pb) or `bafkrei` (raw).
pub(super) fn cid(rng: &mut StdRng, prefix: &str) -> String {
    const BASE32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut cid = String::from(prefix);
    cid.extend((0..52).map(|_| char::from(BASE32[rng.random_range(0..BASE32.len())])));
    cid
}

/// A libp2p-style listen address on a private network.
pub(super) fn peer_address(rng: &mut StdRng) -> String {
    let [a, b, c]: [u8; 3] = [
        rng.random_range(0..4),
        rng.random(),
        rng.random_range(2..255),
    ];
    format!("/ip4/10.{a}.{b}.{c}/tcp/9000")
}

/// `1234567` thousandths as `"1234.567"`.
pub(super) fn milli(amount: u64) -> String {
    format!("{}.{:03}", amount / MILLI, amount % MILLI)
}

/// `1234567` millionths as `"1.234567"`.
pub(super) fn micro(amount: u64) -> String {
    format!("{}.{:06}", amount / MICRO, amount % MICRO)
}

/// Thousandths of an ADIC as a float, for the `_adic` fields.
pub(super) fn adic(amount: u64) -> f64 {
    amount as f64 / MILLI as f64
}

/// Rounds for display: floats on the wire read better with a few decimals.
pub(super) fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// A delay with an exponential distribution: the gaps between independent (Poisson) arrivals.
pub(super) fn exponential(rng: &mut StdRng, mean: f64) -> f64 {
    -mean * (1.0 - rng.random::<f64>()).ln()
}

/// Picks from `items` at random.
pub(super) fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

/// Outcomes drawn without replacement and reshuffled when used up, so that every outcome of a
/// rare process shows up within a few runs of it while the order stays random.
pub(super) struct Deck<T> {
    cards: Vec<T>,
    left: Vec<T>,
}

impl<T: Copy> Deck<T> {
    pub(super) fn new(cards: &[T]) -> Deck<T> {
        Deck {
            cards: cards.to_vec(),
            left: Vec::new(),
        }
    }

    pub(super) fn draw(&mut self, rng: &mut StdRng) -> T {
        if self.left.is_empty() {
            self.left.clone_from(&self.cards);
            self.left.shuffle(rng);
        }
        self.left.pop().expect("a deck has at least one card")
    }
}
