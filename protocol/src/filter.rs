//! Filters: which kinds a client receives.
//!
//! A [`KindSet`] is a bitmask over the 54 known kinds plus one bit per priority for kinds this
//! build does not know (a newer node's), so an edge checks a filter with one AND per event.

use crate::{EventKey, Kind, Priority};

/// A set of event kinds as a bitmask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KindSet(u64);

const KNOWN_MASK: u64 = (1 << Kind::COUNT) - 1;
const UNKNOWN_SHIFT: u32 = 61;

impl KindSet {
    pub const EMPTY: KindSet = KindSet(0);
    /// Every known kind and every unknown kind of every priority.
    pub const ALL: KindSet = KindSet(KNOWN_MASK | (0b111 << UNKNOWN_SHIFT));

    pub const fn from_bits(bits: u64) -> KindSet {
        KindSet(bits)
    }

    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Every kind of one priority, known or not.
    pub fn of_priority(priority: Priority) -> KindSet {
        Kind::all()
            .filter(|k| k.priority() == priority)
            .fold(KindSet::from(EventKey::Unknown(priority)), |set, k| {
                set.with(k.into())
            })
    }

    #[must_use]
    pub const fn with(self, key: EventKey) -> KindSet {
        KindSet(self.0 | key.bit())
    }

    #[must_use]
    pub const fn union(self, other: KindSet) -> KindSet {
        KindSet(self.0 | other.0)
    }

    #[must_use]
    pub const fn intersect(self, other: KindSet) -> KindSet {
        KindSet(self.0 & other.0)
    }

    #[must_use]
    pub const fn minus(self, other: KindSet) -> KindSet {
        KindSet(self.0 & !other.0)
    }

    pub const fn contains(self, key: EventKey) -> bool {
        self.0 & key.bit() != 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when no known kind is in the set.
    pub const fn has_no_known_kind(self) -> bool {
        self.0 & KNOWN_MASK == 0
    }

    /// The known kinds in the set, in catalog order.
    pub fn kinds(self) -> impl Iterator<Item = Kind> {
        Kind::all().filter(move |k| self.contains((*k).into()))
    }
}

impl From<EventKey> for KindSet {
    fn from(key: EventKey) -> KindSet {
        KindSet(key.bit())
    }
}

impl EventKey {
    const fn bit(self) -> u64 {
        match self {
            EventKey::Known(kind) => 1 << kind.index(),
            EventKey::Unknown(priority) => 1 << (UNKNOWN_SHIFT + priority as u32),
        }
    }
}

/// Why a filter was refused. The message tells the client what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("unknown event name {0:?}: use a dotted name (e.g. \"tips.update\"), a variant name (e.g. \"TipsUpdated\") or \"all\"")]
    UnknownName(String),
    #[error("unknown priority {0:?}: use high, medium, low or all")]
    UnknownPriority(String),
    #[error("not allowed by this token: {0}")]
    NotAllowed(String),
    #[error("too many event names: at most {MAX_NAMES} in one filter")]
    TooMany,
}

/// Most names one filter, Subscribe or Unsubscribe may list (the catalog has 54 kinds).
pub const MAX_NAMES: usize = 256;

/// Parses a list of event names (both forms, or `all`) into a set.
pub fn parse_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<KindSet, FilterError> {
    let mut set = KindSet::EMPTY;
    for (n, name) in names.into_iter().enumerate() {
        if n == MAX_NAMES {
            return Err(FilterError::TooMany);
        }
        let name = name.trim();
        if name.eq_ignore_ascii_case("all") {
            set = KindSet::ALL;
        } else {
            let kind =
                Kind::parse(name).ok_or_else(|| FilterError::UnknownName(name.to_owned()))?;
            set = set.with(kind.into());
        }
    }
    Ok(set)
}

/// Parses what a token allows: event names (both forms), priorities (`high`, `medium`, `low`:
/// every kind of that priority, known or not) and `all`, in any mix.
pub fn parse_grant<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<KindSet, FilterError> {
    let mut set = KindSet::EMPTY;
    for name in names {
        let name = name.trim();
        if name.eq_ignore_ascii_case("all") {
            set = KindSet::ALL;
        } else if let Some(priority) = Priority::parse(name) {
            set = set.union(KindSet::of_priority(priority));
        } else {
            let kind =
                Kind::parse(name).ok_or_else(|| FilterError::UnknownName(name.to_owned()))?;
            set = set.with(kind.into());
        }
    }
    Ok(set)
}

/// Refuses a set of named kinds with some outside `allowed`; the error lists them.
fn check_allowed(named: KindSet, allowed: KindSet) -> Result<(), FilterError> {
    if named == KindSet::ALL {
        // `all` (or no filter) means everything the holder may receive.
        return Ok(());
    }
    let refused: Vec<&str> = named.minus(allowed).kinds().map(Kind::name).collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(FilterError::NotAllowed(refused.join(", ")))
    }
}

/// What one client has asked for: a set of kinds ANDed with an optional priority.
///
/// Semantics existing clients rely on: a connection without `events` receives everything;
/// `Subscribe([x])` on such a connection narrows it to `x`; later Subscribes add; an Unsubscribe
/// that leaves no kind puts back "everything". `Subscribe(["all"])` means everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscription {
    selected: KindSet,
    priority: Option<Priority>,
    /// What the client may receive at all (its token's grant; everything without one).
    allowed: KindSet,
}

impl Default for Subscription {
    fn default() -> Self {
        Subscription {
            selected: KindSet::ALL,
            priority: None,
            allowed: KindSet::ALL,
        }
    }
}

impl Subscription {
    /// Builds a subscription from the `events` and `priority` query parameters.
    ///
    /// `events` absent or containing `all` means everything; present but empty means nothing;
    /// otherwise a comma-separated list of names. `priority` is `high|medium|low|all`.
    pub fn from_query(events: Option<&str>, priority: Option<&str>) -> Result<Self, FilterError> {
        let selected = match events {
            None => KindSet::ALL,
            Some(list) if list.trim().is_empty() => KindSet::EMPTY,
            Some(list) => parse_names(list.split(',').filter(|n| !n.trim().is_empty()))?,
        };
        let priority = match priority.map(str::trim) {
            None | Some("") => None,
            Some(p) if p.eq_ignore_ascii_case("all") => None,
            Some(p) => {
                Some(Priority::parse(p).ok_or_else(|| FilterError::UnknownPriority(p.to_owned()))?)
            }
        };
        Ok(Subscription {
            selected,
            priority,
            allowed: KindSet::ALL,
        })
    }

    /// Limits the subscription to what `allowed` grants. A filter that names a kind outside it
    /// is refused with the names; no filter (or `all`) becomes exactly what is allowed.
    pub fn restrict(&mut self, allowed: KindSet) -> Result<(), FilterError> {
        check_allowed(self.selected, allowed)?;
        self.allowed = allowed;
        Ok(())
    }

    /// Replaces the grant (a refreshed token). Kinds no longer allowed stop at once.
    pub fn set_allowed(&mut self, allowed: KindSet) {
        self.allowed = allowed;
    }

    /// What the client may receive at all.
    pub fn allowed(&self) -> KindSet {
        self.allowed
    }

    /// The kinds this subscription delivers.
    pub fn mask(&self) -> KindSet {
        let selected = match self.priority {
            None => self.selected,
            Some(p) => self.selected.intersect(KindSet::of_priority(p)),
        };
        selected.intersect(self.allowed)
    }

    /// Applies a WebSocket `Subscribe`. Nothing changes when a name is refused, or not allowed.
    pub fn subscribe(&mut self, names: &[String]) -> Result<(), FilterError> {
        let add = parse_names(names.iter().map(String::as_str))?;
        check_allowed(add, self.allowed)?;
        self.selected = if self.selected == KindSet::ALL || self.selected.is_empty() {
            add
        } else {
            self.selected.union(add)
        };
        Ok(())
    }

    /// Applies a WebSocket `Unsubscribe`. Nothing changes when a name is refused.
    pub fn unsubscribe(&mut self, names: &[String]) -> Result<(), FilterError> {
        let remove = parse_names(names.iter().map(String::as_str))?;
        let left = self.selected.minus(remove);
        self.selected = if left.has_no_known_kind() {
            KindSet::ALL
        } else {
            left
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn tips() -> EventKey {
        Kind::TipsUpdated.into()
    }

    fn added() -> EventKey {
        Kind::MessageAdded.into()
    }

    #[test]
    fn a_grant_limits_what_a_subscription_delivers_and_refuses_named_kinds_outside_it() {
        let grant = parse_grant(["low", "tips.update"]).unwrap();
        assert!(grant.contains(tips()));
        assert!(grant.contains(EventKey::Unknown(Priority::Low)));
        assert!(!grant.contains(added()));
        // No filter: exactly what is allowed.
        let mut all = Subscription::from_query(None, None).unwrap();
        all.restrict(grant).unwrap();
        assert_eq!(all.mask(), grant);
        // A filter naming a kind outside the grant: refused, with the name.
        let mut more = Subscription::from_query(Some("tips.update,MessageAdded"), None).unwrap();
        assert_eq!(
            more.restrict(grant),
            Err(FilterError::NotAllowed("message.new".into()))
        );
        // Subscribe: a forbidden kind changes nothing; `all` is everything allowed.
        let mut s = Subscription::from_query(Some("tips.update"), None).unwrap();
        s.restrict(grant).unwrap();
        assert!(s.subscribe(&names(&["MessageAdded"])).is_err());
        assert_eq!(s.mask(), KindSet::from(tips()));
        s.subscribe(&names(&["all"])).unwrap();
        assert_eq!(s.mask(), grant);
        // A narrower grant after a refresh applies at once.
        s.set_allowed(KindSet::EMPTY);
        assert!(s.mask().is_empty());
        assert_eq!(
            parse_grant(["nope"]),
            Err(FilterError::UnknownName("nope".into()))
        );
    }

    #[test]
    fn query_forms() {
        let all = Subscription::from_query(None, None).unwrap();
        assert_eq!(all.mask(), KindSet::ALL);
        let nothing = Subscription::from_query(Some(""), None).unwrap();
        assert!(nothing.mask().is_empty());
        let both = Subscription::from_query(Some(" tips.update , MessageAdded"), None).unwrap();
        assert!(both.mask().contains(tips()) && both.mask().contains(added()));
        assert_eq!(both.mask().kinds().count(), 2);
        let with_all = Subscription::from_query(Some("tips.update,all"), None).unwrap();
        assert_eq!(with_all.mask(), KindSet::ALL);
    }

    #[test]
    fn priority_is_anded() {
        let s =
            Subscription::from_query(Some("tips.update,diversity.update"), Some("MEDIUM")).unwrap();
        assert_eq!(
            s.mask().kinds().collect::<Vec<_>>(),
            vec![Kind::DiversityUpdated]
        );
        let low = Subscription::from_query(None, Some("low")).unwrap();
        assert_eq!(low.mask().kinds().count(), 5);
        assert!(low.mask().contains(EventKey::Unknown(Priority::Low)));
        assert!(!low.mask().contains(EventKey::Unknown(Priority::High)));
    }

    #[test]
    fn bad_names_and_priorities_are_errors() {
        assert_eq!(
            Subscription::from_query(Some("tips.update,bogus"), None),
            Err(FilterError::UnknownName("bogus".into()))
        );
        assert_eq!(
            Subscription::from_query(None, Some("urgent")),
            Err(FilterError::UnknownPriority("urgent".into()))
        );
    }

    #[test]
    fn subscribe_narrows_then_adds_and_unsubscribe_restores_all() {
        let mut s = Subscription::default();
        s.subscribe(&names(&["tips.update"])).unwrap();
        assert_eq!(
            s.mask().kinds().collect::<Vec<_>>(),
            vec![Kind::TipsUpdated]
        );
        s.subscribe(&names(&["MessageAdded"])).unwrap();
        assert_eq!(s.mask().kinds().count(), 2);
        s.unsubscribe(&names(&["tips.update"])).unwrap();
        assert_eq!(
            s.mask().kinds().collect::<Vec<_>>(),
            vec![Kind::MessageAdded]
        );
        s.unsubscribe(&names(&["message.new"])).unwrap();
        assert_eq!(s.mask(), KindSet::ALL);
    }

    #[test]
    fn subscribe_all_means_everything() {
        let mut s = Subscription::from_query(Some("tips.update"), None).unwrap();
        s.subscribe(&names(&["all"])).unwrap();
        assert_eq!(s.mask(), KindSet::ALL);
    }

    #[test]
    fn refused_names_change_nothing() {
        let mut s = Subscription::from_query(Some("tips.update"), None).unwrap();
        let before = s;
        assert!(s.subscribe(&names(&["message.new", "nope"])).is_err());
        assert!(s.unsubscribe(&names(&["nope"])).is_err());
        assert_eq!(s, before);
    }

    #[test]
    fn unsubscribe_from_everything_keeps_the_rest() {
        let mut s = Subscription::default();
        s.unsubscribe(&names(&["tips.update"])).unwrap();
        assert!(!s.mask().contains(tips()));
        assert!(s.mask().contains(added()));
        assert!(s.mask().contains(EventKey::Unknown(Priority::High)));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Names as clients write them: every kind in both forms, priorities, `all`, and noise.
    fn name() -> impl Strategy<Value = String> {
        let kinds: Vec<Kind> = Kind::all().collect();
        prop_oneof![
            prop::sample::select(kinds.clone()).prop_map(|k| k.name().to_owned()),
            prop::sample::select(kinds).prop_map(|k| k.variant().to_owned()),
            prop::sample::select(vec!["all", "ALL", " all ", "high", "medium", "low", ""])
                .prop_map(str::to_owned),
            any::<String>(),
        ]
    }

    proptest! {
        #[test]
        fn query_parsing_is_total(events in prop::option::of(any::<String>()), priority in prop::option::of(any::<String>())) {
            match Subscription::from_query(events.as_deref(), priority.as_deref()) {
                Ok(s) => prop_assert_eq!(s.mask().minus(KindSet::ALL), KindSet::EMPTY),
                Err(e) => prop_assert!(!e.to_string().is_empty()),
            }
        }

        #[test]
        fn a_list_of_known_names_always_parses(names in prop::collection::vec(name(), 0..12)) {
            let known = names.iter().all(|n| {
                n.trim().eq_ignore_ascii_case("all") || Kind::parse(n.trim()).is_some() || n.trim().is_empty()
            });
            let result = Subscription::from_query(Some(&names.join(",")), None);
            if known {
                prop_assert!(result.is_ok(), "{names:?}: {result:?}");
            } else if let Err(e) = result {
                prop_assert!(!e.to_string().is_empty());
            }
        }

        #[test]
        fn subscribe_and_unsubscribe_are_total_and_never_exceed_the_grant(
            grant in prop::collection::vec(name(), 0..6),
            steps in prop::collection::vec((any::<bool>(), prop::collection::vec(name(), 0..6)), 0..8),
        ) {
            let allowed = parse_grant(grant.iter().map(String::as_str)).unwrap_or(KindSet::ALL);
            let mut s = Subscription::default();
            let _ = s.restrict(allowed);
            for (add, names) in steps {
                let before = s;
                let result = if add { s.subscribe(&names) } else { s.unsubscribe(&names) };
                if let Err(e) = result {
                    prop_assert!(!e.to_string().is_empty());
                    prop_assert_eq!(s, before, "a refused change changed the subscription");
                }
                prop_assert_eq!(s.mask().minus(allowed), KindSet::EMPTY);
            }
        }

        #[test]
        fn too_many_names_are_refused(n in MAX_NAMES + 1..MAX_NAMES + 50) {
            let names = vec!["tips.update".to_owned(); n];
            prop_assert_eq!(Subscription::default().subscribe(&names), Err(FilterError::TooMany));
        }
    }
}
