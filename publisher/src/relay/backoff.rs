//! Reconnect delays: exponential, with full jitter so that the relays of a node (and the
//! relays of many nodes after a network blip) do not reconnect in lockstep.

use std::time::Duration;

use rand::Rng as _;

pub struct Backoff {
    min: Duration,
    max: Duration,
    ceiling: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max,
            ceiling: min,
        }
    }

    /// The next delay: uniform between `min` and a ceiling that doubles up to `max`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling;
        self.ceiling = (self.ceiling * 2).min(self.max);
        if ceiling <= self.min {
            return self.min;
        }
        rand::rng().random_range(self.min..=ceiling)
    }

    /// Back to the shortest delay (after a connection that held).
    pub fn reset(&mut self) {
        self.ceiling = self.min;
    }

    /// The longest delay.
    pub fn max(&self) -> Duration {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_with_jitter_and_reset() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(2));
        let mut backoff = Backoff::new(min, max);
        assert_eq!(backoff.next_delay(), min);
        let delays: Vec<Duration> = (0..50).map(|_| backoff.next_delay()).collect();
        assert!(delays.iter().all(|d| *d >= min && *d <= max), "{delays:?}");
        let late = &delays[10..];
        assert!(
            late.iter().any(|d| *d != late[0]),
            "jittered, not constant: {late:?}"
        );
        backoff.reset();
        assert_eq!(backoff.next_delay(), min);
    }
}
