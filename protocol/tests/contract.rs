//! The contract's machine-readable catalog (`shared/contract/kinds.json`) against this crate.
//!
//! Built from the shared file, not from this crate's own output: every sample must decode into
//! the typed [`Event`] and re-encode to the identical JSON text.

use std::path::PathBuf;

use adic_protocol::{Class, Event, Kind, Priority, DEFAULT_PREFIX};
use serde_json::Value;

/// The shared contract checkout beside the repository when there is one (as in CI), else the
/// copy kept in this crate.
fn catalog_path() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = here.join("../../shared/contract/kinds.json");
    if shared.exists() {
        shared
    } else {
        here.join("tests/kinds.json")
    }
}

fn read(path: &std::path::Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("kinds.json is JSON")
}

fn catalog() -> Vec<Value> {
    read(&catalog_path())["kinds"]
        .as_array()
        .expect("kinds array")
        .clone()
}

#[test]
fn kept_copy_matches_the_shared_contract() {
    let copy = read(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/kinds.json"));
    assert_eq!(
        read(&catalog_path()),
        copy,
        "protocol/tests/kinds.json is out of date"
    );
}

#[test]
fn counts_are_54_32_17_5() {
    let kinds = catalog();
    assert_eq!(kinds.len(), 54);
    let by = |p: &str| kinds.iter().filter(|k| k["priority"] == p).count();
    assert_eq!((by("high"), by("medium"), by("low")), (32, 17, 5));
    assert_eq!(kinds.len(), Kind::COUNT);
}

#[test]
fn every_kind_matches_the_catalog() {
    for entry in catalog() {
        let variant = entry["variant"].as_str().unwrap();
        let kind = Kind::from_variant(variant).unwrap_or_else(|| panic!("{variant} missing"));
        assert_eq!(kind.name(), entry["name"].as_str().unwrap());
        assert_eq!(Kind::parse(kind.name()), Some(kind));
        let priority = Priority::parse(entry["priority"].as_str().unwrap()).unwrap();
        assert_eq!(kind.priority(), priority, "{variant}");
        let class = if entry["class"] == "snapshot" {
            Class::Snapshot
        } else {
            Class::Log
        };
        assert_eq!(kind.class(), class, "{variant}");
        assert_eq!(
            kind.subject(DEFAULT_PREFIX),
            entry["subject"].as_str().unwrap()
        );
    }
}

#[test]
fn every_sample_round_trips_to_identical_json() {
    for entry in catalog() {
        let sample = serde_json::to_string(&entry["sample"]).unwrap();
        let event: Event = serde_json::from_str(&sample)
            .unwrap_or_else(|e| panic!("{} does not decode: {e}\n{sample}", entry["variant"]));
        assert_eq!(event.kind().variant(), entry["variant"].as_str().unwrap());
        assert_eq!(serde_json::to_string(&event).unwrap(), sample);
    }
}
