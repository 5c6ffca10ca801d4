//! Accounts, validator reputations, supply and treasury, and the escrow locks processes take.
//!
//! Balances are kept in thousandths of an ADIC and supply figures in millionths (see [`ids`]), so
//! every amount on the wire adds up exactly.

use adic_protocol::event::{EscrowLocked, EscrowRefunded, EscrowReleased, EscrowSlashed};
use adic_protocol::Event;
use rand::rngs::StdRng;
use rand::seq::index;
use rand::Rng;

use super::ids::{self, MICRO, MILLI};
use super::Node;

/// Validators are the first accounts; the others are plain wallets.
const VALIDATORS: usize = 24;
const WALLETS: usize = 16;
/// The fixed maximum supply, as genesis announces it.
const TOTAL_SUPPLY: u64 = 1_000_000_000 * MICRO;

pub(super) struct Account {
    pub address: String,
    /// Thousandths of an ADIC.
    pub balance: u64,
}

pub(super) struct Ledger {
    pub accounts: Vec<Account>,
    /// Reputation of each validator, `accounts[i]` for `i < reputation.len()`.
    reputation: Vec<f64>,
    /// Millionths of an ADIC.
    pub total_supply: u64,
    pub circulating: u64,
    pub treasury: u64,
}

impl Ledger {
    pub(super) fn new(rng: &mut StdRng) -> Ledger {
        let accounts = (0..VALIDATORS + WALLETS)
            .map(|_| Account {
                address: ids::address(rng),
                balance: rng.random_range(2_000..60_000) * MILLI,
            })
            .collect();
        let reputation = (0..VALIDATORS)
            .map(|_| ids::round(rng.random_range(0.35..0.95), 4))
            .collect();
        Ledger {
            accounts,
            reputation,
            total_supply: TOTAL_SUPPLY,
            circulating: rng.random_range(280_000_000..320_000_000) * MICRO,
            treasury: rng.random_range(90_000_000..110_000_000) * MICRO,
        }
    }

    pub(super) fn validator_count(&self) -> usize {
        self.reputation.len()
    }

    pub(super) fn address(&self, account: usize) -> &str {
        &self.accounts[account].address
    }

    pub(super) fn reputation(&self, validator: usize) -> f64 {
        self.reputation[validator]
    }

    /// A validator, more likely the more reputable (as in ADIC's reputation-weighted choices).
    pub(super) fn validator(&self, rng: &mut StdRng) -> usize {
        let total: f64 = self.reputation.iter().sum();
        let mut point = rng.random_range(0.0..total);
        for (validator, weight) in self.reputation.iter().enumerate() {
            if point < *weight {
                return validator;
            }
            point -= weight;
        }
        self.reputation.len() - 1
    }

    /// `count` distinct validators.
    pub(super) fn validators(&self, rng: &mut StdRng, count: usize) -> Vec<usize> {
        index::sample(rng, self.reputation.len(), count.min(self.reputation.len())).into_vec()
    }

    /// Any account, validator or wallet.
    pub(super) fn account(&self, rng: &mut StdRng) -> usize {
        rng.random_range(0..self.accounts.len())
    }

    /// Adds `delta` to a validator's reputation, kept within 0.01..=1, and returns (old, new).
    pub(super) fn adjust_reputation(&mut self, validator: usize, delta: f64) -> (f64, f64) {
        let old = self.reputation[validator];
        let new = ids::round((old + delta).clamp(0.01, 1.0), 4);
        self.reputation[validator] = new;
        (old, new)
    }

    /// Vote credits of a validator: the square root of its reputation (scaled to 0..=100), so
    /// that reputation counts but does not dominate.
    pub(super) fn credits(&self, validator: usize) -> f64 {
        ids::round((self.reputation[validator] * 100.0).sqrt(), 3)
    }

    pub(super) fn total_credits(&self) -> f64 {
        ids::round((0..self.reputation.len()).map(|v| self.credits(v)).sum(), 3)
    }

    /// Moves thousandths of an ADIC from the treasury into circulation.
    pub(super) fn pay_from_treasury(&mut self, amount: u64) {
        let amount = amount * (MICRO / MILLI);
        self.treasury = self.treasury.saturating_sub(amount);
        self.circulating += amount;
    }

    /// Moves thousandths of an ADIC from circulation back into the treasury.
    pub(super) fn return_to_treasury(&mut self, amount: u64) {
        let amount = amount * (MICRO / MILLI);
        self.treasury += amount;
        self.circulating = self.circulating.saturating_sub(amount);
    }
}

/// Funds an account holds in escrow for a process.
#[derive(Clone)]
pub(super) struct Lock {
    pub id: String,
    pub owner: usize,
    /// Thousandths of an ADIC.
    pub amount: u64,
}

impl Node {
    /// Takes up to `amount` from `owner` into escrow and emits `escrow.locked`.
    pub(super) fn lock(&mut self, owner: usize, amount: u64, escrow_type: &str) -> Lock {
        let account = &mut self.ledger.accounts[owner];
        let before = account.balance;
        let amount = amount.min(before);
        account.balance -= amount;
        let lock = Lock {
            id: ids::hex_id(&mut self.rng),
            owner,
            amount,
        };
        self.out.push(Event::EscrowLocked(EscrowLocked {
            lock_id: lock.id.clone(),
            owner: self.ledger.address(owner).to_owned(),
            amount_adic: ids::adic(amount),
            escrow_type: escrow_type.to_owned(),
            balance_before_adic: ids::adic(before),
            balance_after_adic: ids::adic(before - amount),
            timestamp: self.stamp,
        }));
        lock
    }

    /// Pays `amount` of a lock to `to` and emits `escrow.released`.
    pub(super) fn release(&mut self, lock: &Lock, to: usize, amount: u64) {
        self.ledger.accounts[to].balance += amount;
        self.out.push(Event::EscrowReleased(EscrowReleased {
            lock_id: lock.id.clone(),
            from: self.ledger.address(lock.owner).to_owned(),
            to: self.ledger.address(to).to_owned(),
            amount_adic: ids::adic(amount),
            timestamp: self.stamp,
        }));
    }

    /// Gives `amount` of a lock back to its owner and emits `escrow.refunded`.
    pub(super) fn refund(&mut self, lock: &Lock, amount: u64) {
        self.ledger.accounts[lock.owner].balance += amount;
        self.out.push(Event::EscrowRefunded(EscrowRefunded {
            lock_id: lock.id.clone(),
            owner: self.ledger.address(lock.owner).to_owned(),
            amount_adic: ids::adic(amount),
            timestamp: self.stamp,
        }));
    }

    /// Burns a whole lock and emits `escrow.slashed`.
    pub(super) fn slash(&mut self, lock: &Lock, reason: &str) {
        self.ledger.circulating = self
            .ledger
            .circulating
            .saturating_sub(lock.amount * (MICRO / MILLI));
        self.out.push(Event::EscrowSlashed(EscrowSlashed {
            lock_id: lock.id.clone(),
            owner: self.ledger.address(lock.owner).to_owned(),
            amount_adic: ids::adic(lock.amount),
            reason: reason.to_owned(),
            timestamp: self.stamp,
        }));
    }
}
