//! The `Nats-Msg-Id` of a relayed event, derived so that every relay of a node derives the
//! same id for the same event, and different ids for different events that look the same.
//!
//! The node's stream carries no ids, so all two relays have in common is the sequence of events
//! the node sends each of them. The id is therefore `relay1-<content>-<n>`:
//!
//! - `<content>` hashes the event's kind and its data in a canonical form (object keys sorted,
//!   so key order does not matter; the event's own `timestamp` included): what both relays see
//!   byte for byte.
//! - `<n>` counts the earlier events with the same content this relay has seen (0 for the first).
//!   Without it, two byte-identical events (an A→B→A snapshot within the same second, two
//!   identical log events) would share an id and JetStream would keep only the first:
//!   the second A would be lost and the latest value would read B.
//!
//! Why this count agrees between relays: contents include the node's timestamp (whole seconds),
//! so events with the same content are emitted within the same second of the node's clock.
//! A relay that has been connected since before that second has seen every one of them, in
//! the node's order, and numbers them exactly as its partner does. A relay that connects in the
//! middle of that second has missed some and numbers the rest from 0: its ids are then the ids
//! of *earlier* copies, which JetStream already holds (its partner stored them), so it never
//! stores a copy the node did not send. The stream holds, for each content, as many copies as
//! the relay that saw most of them saw: never more than the node emitted.
//!
//! Because such a late relay's ids for that second collide with earlier copies, it would also
//! skip ahead of its partner there (its publishes of them come back as duplicates at once) and
//! could store the next event before the partner stores the true later copy: a reorder within
//! that second. So a relay holds what a new connection reads for `--settle` (2 s) before
//! publishing: by then a partner connected all along has stored that second in order, and the
//! late relay's publishes of it are all duplicates.
//!
//! What it cannot do (docs/relay.md): a copy is lost when the only relay that saw the earlier
//! copies of the same content is gone, i.e. byte-identical events in the one second in which a
//! lone relay (re)connects; and a partner lagging more than `--settle` can still see that
//! second reordered.
//!
//! Counts are kept for twice the stream's duplicate window after a content was last seen: as long
//! as JetStream may remember an id, the relay remembers how many of that content it numbered.
//! An event without an integer timestamp (a kind this build does not know may lack one) is
//! counted the same way, over that whole retention.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Bytes of the content hash kept in the id (128 bits: collisions are out of reach even for
/// someone who chooses the content of events, e.g. a transfer's `reason`).
const HASH_BYTES: usize = 16;

type Hash = [u8; HASH_BYTES];

/// Numbers events by content; one per relay process, kept across reconnections to the node
/// (counts must stay those of the node's sequence, which does not restart when we reconnect).
pub struct MsgIds {
    counts: HashMap<Hash, Seen>,
    retention: Duration,
    last_sweep: Instant,
}

struct Seen {
    count: u64,
    last: Instant,
}

impl MsgIds {
    /// Counts are forgotten `retention` after a content was last seen: at least the stream's
    /// duplicate window plus how long an event may wait in the publish buffer.
    pub fn new(retention: Duration) -> MsgIds {
        MsgIds {
            counts: HashMap::new(),
            retention,
            last_sweep: Instant::now(),
        }
    }

    /// The id of the next event of `variant` with `data`.
    pub fn next(&mut self, variant: &str, data: &Value) -> String {
        self.next_at(variant, data, Instant::now())
    }

    fn next_at(&mut self, variant: &str, data: &Value, now: Instant) -> String {
        if now.duration_since(self.last_sweep) >= self.retention / 4 {
            let retention = self.retention;
            self.counts
                .retain(|_, seen| now.duration_since(seen.last) < retention);
            self.last_sweep = now;
        }
        let hash = content_hash(variant, data);
        let seen = self.counts.entry(hash).or_insert(Seen {
            count: 0,
            last: now,
        });
        let n = seen.count;
        seen.count += 1;
        seen.last = now;
        format!("relay1-{}-{n}", hex(&hash))
    }

    /// Contents currently remembered.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}

/// SHA-256 of the kind and the canonical data, truncated to 128 bits.
pub fn content_hash(variant: &str, data: &Value) -> Hash {
    let mut bytes = Vec::with_capacity(256);
    bytes.extend_from_slice(b"adic-relay-v1\0");
    bytes.extend_from_slice(variant.as_bytes());
    bytes.push(0);
    canonical(data, &mut bytes);
    let digest = Sha256::digest(&bytes);
    let mut hash = [0; HASH_BYTES];
    hash.copy_from_slice(&digest[..HASH_BYTES]);
    hash
}

/// Compact JSON with every object's keys in byte order.
fn canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(Value::String(key.clone()).to_string().as_bytes());
                out.push(b':');
                canonical(&map[key], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WINDOW: Duration = Duration::from_secs(240);

    fn tips(tips: &[&str], timestamp: i64) -> Value {
        json!({"tips": tips, "count": tips.len(), "timestamp": timestamp})
    }

    fn ids(events: &[(&str, Value)]) -> Vec<String> {
        let mut ids = MsgIds::new(WINDOW);
        events.iter().map(|(v, d)| ids.next(v, d)).collect()
    }

    #[test]
    fn same_content_same_hash_whatever_the_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":[1,{"q":2,"p":1}],"x":"s"}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a":{"x":"s","y":[1,{"p":1,"q":2}]},"b":1}"#).unwrap();
        assert_eq!(content_hash("K", &a), content_hash("K", &b));
        assert_ne!(content_hash("K", &a), content_hash("L", &a));
        // The timestamp is content: the same value a second later is another event.
        assert_ne!(
            content_hash("TipsUpdated", &tips(&["a"], 1)),
            content_hash("TipsUpdated", &tips(&["a"], 2))
        );
    }

    #[test]
    fn the_id_is_pinned() {
        // Relays of different builds must derive the same ids for the same events: a change
        // here is a change of scheme (and of its `relay1` tag).
        let mut ids = MsgIds::new(WINDOW);
        assert_eq!(
            ids.next("TipsUpdated", &tips(&["ab12", "cd34"], 1_760_550_000)),
            "relay1-36052dc8e8f170640b7be0e1cf53ee66-0"
        );
        assert_eq!(
            ids.next(
                "TipsUpdated",
                &json!({"tips": [], "count": 0, "timestamp": 0})
            ),
            "relay1-a2a1765c0aeec89618b36ed768c9138d-0"
        );
    }

    #[test]
    fn repeats_get_their_own_ids() {
        let a = tips(&["a"], 5);
        let b = tips(&["b"], 5);
        let got = ids(&[
            ("TipsUpdated", a.clone()),
            ("TipsUpdated", b.clone()),
            ("TipsUpdated", a.clone()),
        ]);
        assert_ne!(got[0], got[2], "A→B→A keeps the second A");
        assert!(got[0].ends_with("-0") && got[2].ends_with("-1"), "{got:?}");
        assert_eq!(
            got[0].rsplit_once('-').unwrap().0,
            got[2].rsplit_once('-').unwrap().0
        );
        let log = json!({"message_id": "m", "depth": 1, "timestamp": 5});
        let got = ids(&[("MessageAdded", log.clone()), ("MessageAdded", log)]);
        assert_ne!(got[0], got[1], "identical log events are both kept");
    }

    #[test]
    fn two_relays_on_one_node_derive_the_same_ids() {
        let events: Vec<(&str, Value)> = (0..50)
            .map(|i| {
                (
                    "TipsUpdated",
                    tips(&[["a", "b", "c"][i % 3]], (i / 10) as i64),
                )
            })
            .collect();
        assert_eq!(ids(&events), ids(&events));
    }

    /// A relay that joins mid-stream only produces ids the full-stream relay also produced:
    /// it never stores a copy the node did not emit.
    #[test]
    fn a_late_relay_derives_a_subset_of_the_ids() {
        let events: Vec<(&str, Value)> = (0..60)
            .map(|i| ("TipsUpdated", tips(&[["a", "b"][i % 2]], (i / 7) as i64)))
            .collect();
        let full = ids(&events);
        for start in 0..events.len() {
            let late = ids(&events[start..]);
            for id in &late {
                assert!(full.contains(id), "{id} from a relay joining at {start}");
            }
            // Contents first seen after it joined are numbered exactly alike.
            let first_second = events[start].1["timestamp"].as_i64().unwrap();
            for (i, id) in late.iter().enumerate() {
                if events[start + i].1["timestamp"].as_i64().unwrap() > first_second {
                    assert_eq!(id, &full[start + i]);
                }
            }
        }
    }

    #[test]
    fn counts_are_forgotten_after_the_retention() {
        let mut ids = MsgIds::new(Duration::from_secs(8));
        let t0 = Instant::now();
        let a = tips(&["a"], 5);
        assert!(ids.next_at("TipsUpdated", &a, t0).ends_with("-0"));
        assert!(ids
            .next_at("TipsUpdated", &a, t0 + Duration::from_secs(7))
            .ends_with("-1"));
        assert_eq!(ids.len(), 1);
        let other = tips(&["b"], 6);
        ids.next_at("TipsUpdated", &other, t0 + Duration::from_secs(16));
        assert_eq!(ids.len(), 1, "the old content was swept");
        assert!(ids
            .next_at("TipsUpdated", &a, t0 + Duration::from_secs(17))
            .ends_with("-0"));
    }
}
