//! NATS subjects and stream names.
//!
//! Every kind is published on `<prefix>.<priority>.<dotted name>`, all into one stream whose
//! subjects are `<prefix>.>`, so the stream sequence is one total order over every kind.

use crate::{Kind, Priority};

/// Default subject prefix.
pub const DEFAULT_PREFIX: &str = "adic.events";
/// Default JetStream stream name.
pub const DEFAULT_STREAM: &str = "ADIC_EVENTS";

/// The stream's subject filter for a prefix: `<prefix>.>`.
pub fn stream_subjects(prefix: &str) -> String {
    format!("{prefix}.>")
}

/// The subject of a kind, see [`Kind::subject`].
pub fn for_kind(prefix: &str, kind: Kind) -> String {
    kind.subject(prefix)
}

/// Splits `<prefix>.<priority>.<name>` into its priority and dotted name.
///
/// Returns `None` when the subject is outside the prefix or its priority token is not one of
/// `high`, `medium`, `low`.
pub fn parse<'a>(prefix: &str, subject: &'a str) -> Option<(Priority, &'a str)> {
    let rest = subject.strip_prefix(prefix)?.strip_prefix('.')?;
    let (priority, name) = rest.split_once('.')?;
    let priority = Priority::ALL.into_iter().find(|p| p.as_str() == priority)?;
    (!name.is_empty()).then_some((priority, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip() {
        for kind in Kind::all() {
            let subject = for_kind(DEFAULT_PREFIX, kind);
            assert_eq!(
                parse(DEFAULT_PREFIX, &subject),
                Some((kind.priority(), kind.name()))
            );
        }
    }

    #[test]
    fn foreign_subjects_are_rejected() {
        assert_eq!(parse("adic.events", "adic.eventsx.high.a"), None);
        assert_eq!(parse("adic.events", "adic.events.urgent.a"), None);
        assert_eq!(parse("adic.events", "adic.events.high"), None);
        assert_eq!(
            parse("adic.events", "adic.events.low.future.kind"),
            Some((Priority::Low, "future.kind"))
        );
    }
}
