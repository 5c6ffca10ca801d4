use std::collections::{HashMap, HashSet};
use std::time::Duration;

use adic_protocol::{Event, Kind};
use futures::StreamExt;

use super::{stream, SimConfig, Simulator};

/// Runs a simulator for `seconds` of simulated time in 50 ms real steps at `speed`, and returns
/// the start-up events and the rest separately.
fn run(seed: u64, speed: f64, seconds: f64) -> (Vec<Event>, Vec<Event>) {
    let mut sim = Simulator::new(SimConfig {
        speed,
        seed: Some(seed),
    });
    let boot = sim.start();
    let step = Duration::from_millis(50);
    let mut events = Vec::new();
    while sim.elapsed().as_secs_f64() < seconds {
        events.extend(sim.advance(step));
    }
    (boot, events)
}

fn ten_minutes(seed: u64) -> (Vec<Event>, Vec<Event>) {
    run(seed, 1.0, 600.0)
}

fn missing_kinds(events: &[Event]) -> Vec<&'static str> {
    let seen: HashSet<Kind> = events.iter().map(Event::kind).collect();
    Kind::all()
        .filter(|k| *k != Kind::NodeStopped && !seen.contains(k))
        .map(Kind::name)
        .collect()
}

#[test]
fn every_kind_but_node_stopped_appears_within_ten_minutes() {
    for seed in 0..4 {
        let (boot, events) = ten_minutes(seed);
        let all: Vec<Event> = boot.into_iter().chain(events).collect();
        assert_eq!(missing_kinds(&all), Vec::<&str>::new(), "seed {seed}");
        assert!(all.iter().all(|e| e.kind() != Kind::NodeStopped));
    }
}

#[test]
fn every_kind_appears_within_ten_seconds_at_speed_50() {
    for seed in 10..14 {
        let (boot, events) = run(seed, 50.0, 500.0);
        let all: Vec<Event> = boot.into_iter().chain(events).collect();
        assert_eq!(missing_kinds(&all), Vec::<&str>::new(), "seed {seed}");
    }
}

#[test]
fn start_announces_the_node_and_every_snapshot_kind() {
    let mut sim = Simulator::new(SimConfig {
        speed: 1.0,
        seed: Some(1),
    });
    let boot = sim.start();
    assert_eq!(boot[0].kind(), Kind::NodeStarted);
    assert_eq!(boot[1].kind(), Kind::GenesisLoaded);
    let kinds: HashSet<Kind> = boot.iter().map(Event::kind).collect();
    for kind in Kind::all().filter(|k| k.class() == adic_protocol::Class::Snapshot) {
        assert!(kinds.contains(&kind), "{} missing at start", kind.name());
    }
    assert!(sim.start().is_empty(), "start emits once");
}

#[test]
fn finality_follows_addition_once_and_kcore_counts_match() {
    let (boot, events) = ten_minutes(2);
    let mut added = HashSet::new();
    let mut finalized = HashSet::new();
    let mut kcores = 0;
    for event in boot.iter().chain(&events) {
        match event {
            Event::MessageAdded(e) => assert!(added.insert(e.message_id.clone()), "added twice"),
            Event::MessageFinalized(e) => {
                assert!(
                    added.contains(&e.message_id),
                    "final before added: {}",
                    e.message_id
                );
                assert!(
                    finalized.insert(e.message_id.clone()),
                    "final twice: {}",
                    e.message_id
                );
            }
            Event::KCoreUpdated(e) => {
                kcores += 1;
                assert_eq!(
                    u64::from(e.pending_count),
                    (added.len() - finalized.len()) as u64
                );
                assert!(e.current_k_value.is_some());
            }
            _ => {}
        }
    }
    assert!(
        finalized.len() > added.len() * 9 / 10,
        "most messages finalize"
    );
    assert!(kcores >= 100);
}

#[test]
fn tips_are_added_messages_and_their_count_stays_bounded() {
    let (boot, events) = ten_minutes(3);
    let all: Vec<&Event> = boot.iter().chain(&events).collect();
    let Some(Event::TipsUpdated(first)) = all.iter().find(|e| e.kind() == Kind::TipsUpdated) else {
        panic!("no tips at start")
    };
    let synced: HashSet<&String> = first.tips.iter().collect();
    let added_at: HashMap<&String, usize> = all
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            Event::MessageAdded(e) => Some((&e.message_id, i)),
            _ => None,
        })
        .collect();
    let mut counts = Vec::new();
    for (i, event) in all.iter().enumerate() {
        let Event::TipsUpdated(e) = event else {
            continue;
        };
        assert_eq!(e.count, e.tips.len() as u64);
        for tip in &e.tips {
            // A submission's tips.update lists it just before its message.new.
            let added = added_at.get(tip).is_some_and(|&at| at <= i + 2);
            assert!(synced.contains(tip) || added, "unknown tip {tip}");
        }
        counts.push(e.count);
    }
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(*min >= 2 && *max <= 30, "tip count ranged {min}..={max}");
    let mean = counts.iter().sum::<u64>() as f64 / counts.len() as f64;
    assert!((5.0..=15.0).contains(&mean), "mean tip count {mean}");
    let rate = counts.len() as f64 / 600.0;
    assert!((0.25..=3.0).contains(&rate), "tips.update rate {rate}/s");
}

#[test]
fn depth_grows() {
    let (_, events) = ten_minutes(4);
    let depths: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            Event::MessageAdded(e) => Some(e.depth),
            _ => None,
        })
        .collect();
    assert!(
        depths.len() > 900,
        "about 2 submissions per second: {}",
        depths.len()
    );
    let head: f64 = depths[..100].iter().sum::<u64>() as f64 / 100.0;
    let tail: f64 = depths[depths.len() - 100..].iter().sum::<u64>() as f64 / 100.0;
    assert!(tail > head + 50.0, "depth {head} -> {tail}");
}

#[test]
fn submissions_emit_their_events_in_order() {
    let (_, events) = ten_minutes(5);
    let mut rejected = 0;
    for (i, event) in events.iter().enumerate() {
        match event {
            Event::MessageAdded(added) => {
                let Event::DiversityUpdated(_) = &events[i - 1] else {
                    panic!("no diversity.update before {i}")
                };
                let Event::TipsUpdated(tips) = &events[i - 2] else {
                    panic!("no tips.update before {i}")
                };
                assert!(tips.tips.contains(&added.message_id));
                let Event::DepositEscrowed(deposit) = &events[i - 3] else {
                    panic!("no deposit.escrowed before {i}")
                };
                assert_eq!(deposit.message_id, added.message_id);
            }
            Event::MessageRejected(message) => {
                rejected += 1;
                let Event::DepositSlashed(deposit) = &events[i - 1] else {
                    panic!("no deposit.slashed before {i}")
                };
                assert_eq!(deposit.message_id, message.message_id);
            }
            _ => {}
        }
    }
    assert!(
        (20..=120).contains(&rejected),
        "{rejected} rejected of ~1200"
    );
}

fn milli(amount: &str) -> u64 {
    let (whole, frac) = amount.split_once('.').expect("a decimal string");
    assert_eq!(frac.len(), 3, "{amount}");
    whole.parse::<u64>().unwrap() * 1000 + frac.parse::<u64>().unwrap()
}

#[test]
fn transfers_add_up() {
    let (_, events) = ten_minutes(6);
    let mut transfers = 0;
    for (i, event) in events.iter().enumerate() {
        if let Event::TransferRecorded(t) = event {
            transfers += 1;
            let (Event::BalanceChanged(out), Event::BalanceChanged(inc)) =
                (&events[i - 2], &events[i - 1])
            else {
                panic!("transfer.recorded without two balance.changed")
            };
            assert_eq!(
                (&out.address, &inc.address),
                (&t.from_address, &t.to_address)
            );
            assert_eq!(
                milli(&out.balance_before) - milli(&out.change_amount),
                milli(&out.balance_after)
            );
            assert_eq!(
                milli(&inc.balance_before) + milli(&inc.change_amount),
                milli(&inc.balance_after)
            );
            assert_eq!(milli(&t.amount), milli(&out.change_amount));
        }
    }
    assert!(transfers > 10);
}

#[test]
fn processes_run_their_steps_in_order() {
    let (boot, events) = ten_minutes(7);
    let mut submitted = HashSet::new();
    let mut enacted = HashSet::new();
    let mut syncing: HashMap<String, f64> = HashMap::new();
    for event in boot.iter().chain(&events) {
        match event {
            Event::ProposalSubmitted(e) => {
                submitted.insert(e.proposal_id.clone());
            }
            Event::VoteCast(e) => assert!(submitted.contains(&e.proposal_id)),
            Event::ProposalEnacted(e) => {
                assert!(submitted.contains(&e.proposal_id));
                enacted.insert(e.proposal_id.clone());
            }
            Event::ParameterChanged(e) => assert!(enacted.contains(&e.proposal_id)),
            Event::SyncStarted(e) => {
                syncing.insert(e.peer_id.clone(), -1.0);
            }
            Event::SyncProgress(e) => {
                let last = syncing
                    .get_mut(&e.peer_id)
                    .expect("progress of a started sync");
                assert!(e.progress_percent > *last && e.progress_percent <= 100.0);
                *last = e.progress_percent;
            }
            Event::SyncCompleted(e) => assert_eq!(syncing.remove(&e.peer_id), Some(100.0)),
            Event::EnergyUpdated(e) => {
                assert_eq!(e.total_conflicts, e.resolved_conflicts + e.active_conflicts)
            }
            Event::AdmissibilityUpdated(e) => {
                for rate in [e.c1_rate, e.c2_rate, e.c3_rate, e.overall_rate] {
                    assert!((0.0..=1.0).contains(&rate));
                }
            }
            _ => {}
        }
    }
}

#[test]
fn energy_descends() {
    let (boot, events) = ten_minutes(8);
    let active: Vec<u32> = boot
        .iter()
        .chain(&events)
        .filter_map(|e| match e {
            Event::EnergyUpdated(e) => Some(e.active_conflicts),
            _ => None,
        })
        .collect();
    assert!(active.last() < active.first(), "{active:?}");
}

#[test]
fn a_seed_fixes_every_choice() {
    let strip = |events: Vec<Event>| -> Vec<serde_json::Value> {
        events
            .into_iter()
            .map(|e| {
                let mut value = serde_json::to_value(e).unwrap();
                value["data"]["timestamp"] = 0.into();
                value
            })
            .collect()
    };
    assert_eq!(strip(run(9, 1.0, 60.0).1), strip(run(9, 1.0, 60.0).1));
    assert_ne!(strip(run(9, 1.0, 60.0).1), strip(run(10, 1.0, 60.0).1));
}

#[tokio::test(start_paused = true)]
async fn stream_yields_start_events_then_live_ones() {
    let events: Vec<Event> = tokio::time::timeout(
        Duration::from_secs(120),
        stream(SimConfig {
            speed: 5.0,
            seed: Some(11),
        })
        .take(300)
        .collect(),
    )
    .await
    .expect("300 events well within two minutes at speed 5");
    assert_eq!(events[0].kind(), Kind::NodeStarted);
    assert!(events.iter().any(|e| e.kind() == Kind::MessageAdded));
}
