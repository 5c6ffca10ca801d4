//! Reconnect delays: exponential from 1 s to 60 s with full jitter, reset after a stable period.

use std::time::{Duration, Instant};

use rand::Rng;

/// Exponential backoff with full jitter.
#[derive(Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    /// A connection that lasted this long resets the backoff.
    stable_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_secs(1), Duration::from_secs(60))
    }
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max,
            attempt: 0,
            stable_after: Duration::from_secs(30),
        }
    }

    /// The next delay: uniformly random in `[0, min(max, base × 2^attempt)]`.
    pub fn next_delay(&mut self) -> Duration {
        let cap = self
            .base
            .saturating_mul(1 << self.attempt.min(16))
            .min(self.max);
        self.attempt += 1;
        let millis = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }

    /// A connection that started at `since` just ended: reset if it was stable.
    pub fn ended(&mut self, since: Instant) {
        if since.elapsed() >= self.stable_after {
            self.attempt = 0;
        }
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for attempt in 0..10 {
            let cap = Duration::from_secs(1 << attempt).min(Duration::from_secs(60));
            assert!(b.next_delay() <= cap);
        }
        assert!((0..100).all(|_| b.next_delay() <= Duration::from_secs(60)));
    }
}
