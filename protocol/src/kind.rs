//! Event kinds, priorities and classes: the catalog of CONTRACT.md as code.

use std::fmt;

pub use crate::kind_table::Kind;
use crate::kind_table::{KindInfo, KINDS};

/// Delivery priority of a kind; also the second token of its NATS subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    High,
    Medium,
    Low,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::High, Priority::Medium, Priority::Low];

    /// Lower-case wire form: `high`, `medium`, `low`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Medium => "medium",
            Priority::Low => "low",
        }
    }

    /// Parses `high` | `medium` | `low`, case-insensitively.
    pub fn parse(s: &str) -> Option<Priority> {
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether only the newest value of a kind matters (snapshot) or every event does (log).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// Each event carries the whole current value; a newer one supersedes an older one.
    Snapshot,
    /// Each event matters and is delivered exactly once.
    Log,
}

impl Kind {
    /// Number of kinds in the catalog.
    pub const COUNT: usize = KINDS.len();

    /// Every kind, in catalog order.
    pub fn all() -> impl ExactSizeIterator<Item = Kind> + Clone {
        KINDS.iter().map(|info| info.kind)
    }

    fn info(self) -> &'static KindInfo {
        &KINDS[self as usize]
    }

    /// Index of the kind in catalog order, `0..Kind::COUNT`.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The serde variant name, e.g. `TipsUpdated`: the `type` of the event JSON.
    pub fn variant(self) -> &'static str {
        self.info().variant
    }

    /// The dotted name, e.g. `tips.update`: used in filters and as the SSE `event:` name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn priority(self) -> Priority {
        self.info().priority
    }

    pub fn class(self) -> Class {
        self.info().class
    }

    pub fn is_snapshot(self) -> bool {
        self.class() == Class::Snapshot
    }

    /// Finds a kind by its variant name (`TipsUpdated`), exactly.
    pub fn from_variant(variant: &str) -> Option<Kind> {
        KINDS.iter().find(|i| i.variant == variant).map(|i| i.kind)
    }

    /// Finds a kind by its dotted name (`tips.update`), exactly.
    pub fn from_name(name: &str) -> Option<Kind> {
        KINDS.iter().find(|i| i.name == name).map(|i| i.kind)
    }

    /// Finds a kind by either name form, as filters accept them.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::from_name(name).or_else(|| Kind::from_variant(name))
    }

    /// The NATS subject this kind is published on: `<prefix>.<priority>.<dotted name>`.
    pub fn subject(self, prefix: &str) -> String {
        format!("{prefix}.{}.{}", self.priority(), self.name())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_counts() {
        assert_eq!(Kind::COUNT, 54);
        let count = |p| Kind::all().filter(|k| k.priority() == p).count();
        assert_eq!(
            (
                count(Priority::High),
                count(Priority::Medium),
                count(Priority::Low)
            ),
            (32, 17, 5)
        );
        assert_eq!(Kind::all().filter(|k| k.is_snapshot()).count(), 7);
    }

    #[test]
    fn index_matches_table_order() {
        for (i, kind) in Kind::all().enumerate() {
            assert_eq!(kind.index(), i);
            assert_eq!(Kind::parse(kind.name()), Some(kind));
            assert_eq!(Kind::parse(kind.variant()), Some(kind));
        }
    }

    #[test]
    fn priority_parse_is_case_insensitive() {
        assert_eq!(Priority::parse("HIGH"), Some(Priority::High));
        assert_eq!(Priority::parse("Medium"), Some(Priority::Medium));
        assert_eq!(Priority::parse("urgent"), None);
    }
}
