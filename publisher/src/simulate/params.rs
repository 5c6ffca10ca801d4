//! The protocol parameters governance can change, and that the simulated node honours.

use rand::rngs::StdRng;
use rand::Rng;

use super::ids::MILLI;

/// One parameter: its key, current value, allowed range and the step a proposal moves it by.
struct Param {
    key: &'static str,
    value: u64,
    min: u64,
    max: u64,
    step: u64,
}

pub(super) struct Params {
    params: Vec<Param>,
}

impl Default for Params {
    fn default() -> Self {
        let param = |key, value, min, max, step| Param {
            key,
            value,
            min,
            max,
            step,
        };
        Params {
            params: vec![
                // k of k-core finality: reported as `current_k_value`.
                param("k_core_threshold", 20, 16, 24, 1),
                // Depth a message must be buried under before it can be final.
                param("depth_star", 12, 8, 16, 1),
                // Whole ADIC escrowed per submitted message.
                param("deposit_amount", 1_000, 500, 2_000, 100),
                // Depth of the window in which a message can be challenged.
                param("challenge_window_depth", 20, 10, 30, 2),
            ],
        }
    }
}

impl Params {
    pub(super) fn keys(&self) -> Vec<&'static str> {
        self.params.iter().map(|p| p.key).collect()
    }

    pub(super) fn get(&self, key: &str) -> u64 {
        self.params
            .iter()
            .find(|p| p.key == key)
            .map_or(0, |p| p.value)
    }

    /// Sets a parameter and returns its previous value.
    pub(super) fn set(&mut self, key: &str, value: u64) -> u64 {
        match self.params.iter_mut().find(|p| p.key == key) {
            Some(param) => std::mem::replace(&mut param.value, value),
            None => 0,
        }
    }

    /// A new value one step up or down from the current one, within the allowed range.
    pub(super) fn propose(&self, key: &str, rng: &mut StdRng) -> u64 {
        let Some(p) = self.params.iter().find(|p| p.key == key) else {
            return 0;
        };
        let up = p.value + p.step <= p.max && (p.value < p.min + p.step || rng.random_bool(0.5));
        if up {
            p.value + p.step
        } else {
            p.value - p.step
        }
    }

    pub(super) fn k(&self) -> u32 {
        u32::try_from(self.get("k_core_threshold")).unwrap_or(u32::MAX)
    }

    /// The deposit per message, in thousandths of an ADIC.
    pub(super) fn deposit(&self) -> u64 {
        self.get("deposit_amount") * MILLI
    }

    pub(super) fn challenge_window_depth(&self) -> u64 {
        self.get("challenge_window_depth")
    }
}
