//! The resume cursor: `<epoch>-<seq>`.
//!
//! `seq` is the JetStream stream sequence, a total order over every kind that is the same on
//! every edge. `epoch` is a short token derived from the stream's identity (its name and creation
//! time), so a cursor from a deleted and recreated stream is recognised instead of silently
//! resuming at the wrong place. Clients treat the whole string as opaque.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Identity of one stream instance, rendered as 8 lower-case hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Epoch(pub u32);

impl Epoch {
    /// Derives the epoch from a stream's name and creation time (FNV-1a over both), so every
    /// edge computes the same token for the same stream and a recreated stream gets a new one.
    pub fn derive(stream_name: &str, created_unix_nanos: i128) -> Epoch {
        let mut hash: u32 = 0x811c_9dc5;
        let bytes = stream_name
            .bytes()
            .chain([0u8])
            .chain(created_unix_nanos.to_le_bytes());
        for byte in bytes {
            hash ^= u32::from(byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
        Epoch(hash)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// A position in the stream: the last event a client has seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub epoch: Epoch,
    pub seq: u64,
}

impl Cursor {
    pub const fn new(epoch: Epoch, seq: u64) -> Cursor {
        Cursor { epoch, seq }
    }
}

/// Why a string is not a cursor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("cursor {0:?} is not of the form <epoch>-<seq> (e.g. \"0a1b2c3d-42\")")]
    Format(String),
    #[error("cursor {0:?} has an epoch that is not 8 hex digits")]
    Epoch(String),
    #[error("cursor {0:?} has a sequence that is not a positive decimal number")]
    Seq(String),
}

/// The text a refusal repeats back: at most 64 characters of it, so a 10 KB cursor does not
/// come back as a 10 KB error.
fn shown(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        None => s.to_owned(),
        Some((at, _)) => format!("{}… ({} bytes)", &s[..at], s.len()),
    }
}

impl FromStr for Cursor {
    type Err = CursorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (epoch, seq) = s
            .split_once('-')
            .ok_or_else(|| CursorError::Format(shown(s)))?;
        if epoch.len() != 8 || !epoch.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CursorError::Epoch(shown(s)));
        }
        let epoch = u32::from_str_radix(epoch, 16).map_err(|_| CursorError::Epoch(shown(s)))?;
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CursorError::Seq(shown(s)));
        }
        let seq = seq.parse().map_err(|_| CursorError::Seq(shown(s)))?;
        Ok(Cursor::new(Epoch(epoch), seq))
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.epoch, self.seq)
    }
}

impl Serialize for Cursor {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_refused_cursor_is_repeated_back_shortened() {
        let long = "9".repeat(10_000);
        let message = long.parse::<Cursor>().unwrap_err().to_string();
        assert!(message.len() < 200, "{message}");
        assert!(message.contains("(10000 bytes)"), "{message}");
        let short = "nope".parse::<Cursor>().unwrap_err().to_string();
        assert!(short.contains("\"nope\""), "{short}");
    }

    #[test]
    fn round_trips() {
        let c = Cursor::new(Epoch(0x0a1b_2c3d), 42);
        assert_eq!(c.to_string(), "0a1b2c3d-42");
        assert_eq!("0a1b2c3d-42".parse::<Cursor>(), Ok(c));
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"0a1b2c3d-42\"");
    }

    #[test]
    fn rejects_garbage_with_a_reason() {
        for bad in [
            "",
            "42",
            "xyz-1",
            "0a1b2c3d-",
            "0a1b2c3d--1",
            "0a1b2c3d-1x",
            "0a1b2c3-1",
        ] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn epoch_depends_on_identity() {
        let a = Epoch::derive("ADIC_EVENTS", 1_700_000_000_000_000_000);
        assert_eq!(a, Epoch::derive("ADIC_EVENTS", 1_700_000_000_000_000_000));
        assert_ne!(a, Epoch::derive("ADIC_EVENTS", 1_700_000_000_000_000_001));
        assert_ne!(a, Epoch::derive("OTHER", 1_700_000_000_000_000_000));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn every_cursor_round_trips(epoch: u32, seq: u64) {
            let cursor = Cursor::new(Epoch(epoch), seq);
            prop_assert_eq!(cursor.to_string().parse::<Cursor>(), Ok(cursor));
            let json = serde_json::to_string(&cursor).unwrap();
            prop_assert_eq!(serde_json::from_str::<Cursor>(&json).unwrap(), cursor);
        }

        #[test]
        fn parsing_any_string_is_total(text in any::<String>()) {
            match text.parse::<Cursor>() {
                Ok(cursor) => prop_assert_eq!(cursor.to_string().parse::<Cursor>(), Ok(cursor)),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        #[test]
        fn near_misses_are_refused(text in "[0-9a-fA-F]{0,10}-?[0-9+-]{0,22}") {
            if let Ok(cursor) = text.parse::<Cursor>() {
                // Only the canonical shape parses (case of the hex digits aside).
                prop_assert_eq!(cursor.to_string(), text.trim().to_ascii_lowercase()
                    .split_once('-').map(|(e, s)| format!("{e}-{}", s.parse::<u64>().unwrap())).unwrap());
            }
        }
    }
}
