//! Chord in virtual time: lookups end at the key's successor, hops ≈ ½·log2 N, joins,
//! graceful leaves and crashes repaired by stabilization.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weft_overlay::chord::{Chord, Command, Config, Event, Node};
use weft_vnet::{VNet, ids};

#[path = "support/lookup.rs"]
mod support;

use support::lookup;

type Net = VNet<Chord<u32>>;

fn static_config() -> Config {
    Config {
        stabilize_interval: None,
        fix_fingers_interval: None,
        check_predecessor_interval: None,
        ..Config::default()
    }
}

fn successor_of(live: &[u64], key: u64) -> u64 {
    let mut v = live.to_vec();
    v.sort_unstable();
    let i = v.partition_point(|id| *id < key);
    v[i % v.len()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// In a stable ring every lookup ends at the key's successor.
    #[test]
    fn lookups_end_at_the_successor(seed in any::<u64>(), n in 1usize..300) {
        let nodes = ids(seed, n);
        let mut net: Net = VNet::uniform(seed, (1, 20));
        for e in Chord::converged_network(Arc::new(static_config()), seed, &nodes) {
            net.add(e);
        }
        let all: Vec<u64> = nodes.iter().map(|(id, _)| *id).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for _ in 0..10 {
            let key = if rng.random_bool(0.2) { all[rng.random_range(0..all.len())] } else { rng.random() };
            let from = rng.random_range(0..nodes.len()) as u32;
            let (owner, _) = lookup(&mut net, from, key).expect("answered");
            prop_assert_eq!(owner.id, successor_of(&all, key));
        }
    }
}

/// With no stabilization to repair anything, a lookup whose next hop has crashed goes to
/// the next best finger or successor once the forward goes unacknowledged (it used to be
/// lost and time out): with a tenth of the nodes dead, every lookup is answered. An answer
/// can still name a dead successor (its predecessor answers for it until stabilization
/// notices), which is what the simulator's oracle counts as wrong.
#[test]
fn lookups_route_around_crashed_nodes() {
    let n = 500;
    let nodes = ids(21, n);
    let mut net: Net = VNet::uniform(21, (1, 20));
    for e in Chord::converged_network(Arc::new(static_config()), 21, &nodes) {
        net.add(e);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let mut killed = 0;
    while killed < n / 10 {
        if net.crash(rng.random_range(1..n as u32)).is_some() {
            killed += 1;
        }
    }
    let live = live_ids(&net);
    let alive = net.live_indices();
    let (mut answered, mut correct) = (0, 0);
    for _ in 0..100 {
        let key: u64 = rng.random();
        let from = alive[rng.random_range(0..alive.len())];
        if let Some((owner, _)) = lookup(&mut net, from, key) {
            answered += 1;
            correct += usize::from(owner.id == successor_of(&live, key));
        }
    }
    println!("chord with 10 % crashed: answered {answered}/100, correct {correct}/100");
    assert_eq!(answered, 100);
    assert!(correct >= 80, "correct {correct}/100");
}

#[test]
fn hops_are_half_log2_n() {
    for n in [128usize, 1024, 8192] {
        let nodes = ids(n as u64, n);
        let mut net: Net = VNet::uniform(1, (1, 20));
        for e in Chord::converged_network(Arc::new(static_config()), 1, &nodes) {
            net.add(e);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let lookups = 200;
        let mut hops = 0;
        for _ in 0..lookups {
            let from = rng.random_range(0..nodes.len()) as u32;
            hops += lookup(&mut net, from, rng.random()).unwrap().1;
        }
        let mean = f64::from(hops) / f64::from(lookups);
        let expected = 0.5 * (n as f64).log2();
        let state = net.engine(0).unwrap().state_size();
        println!(
            "chord N={n}: mean hops {mean:.2} (expected ½·log2 N = {expected:.2}), state {state}"
        );
        assert!(
            (expected * 0.6..=expected * 1.3 + 0.5).contains(&mean),
            "mean hops {mean} at N={n}"
        );
        assert!(
            state as f64 <= (n as f64).log2() + 10.0 && state as f64 >= (n as f64).log2() * 0.5
        );
    }
}

fn live_ids(net: &Net) -> Vec<u64> {
    net.live_indices()
        .into_iter()
        .filter(|i| !net.engine(*i).unwrap().has_left())
        .map(|i| net.engine(i).unwrap().local().id)
        .collect()
}

fn assert_ring_correct(net: &Net) {
    let live = live_ids(net);
    for i in net.live_indices() {
        let c = net.engine(i).unwrap();
        if c.has_left() {
            continue;
        }
        let me = c.local().id;
        let want = successor_of(&live, me.wrapping_add(1));
        assert_eq!(
            c.successors().first().map(|n| n.id),
            Some(want),
            "successor of {me:x}"
        );
    }
}

/// Adds nodes `0..n` (default configuration, random ids from `rng`, engines seeded with
/// `seed`), one every `step`; each but the first joins through node `via(i, rng)`.
fn grow(
    net: &mut Net,
    rng: &mut ChaCha8Rng,
    seed: u64,
    n: u32,
    step: Duration,
    mut via: impl FnMut(u32, &mut ChaCha8Rng) -> u32,
) {
    let config = Arc::new(Config::default());
    for i in 0..n {
        let me = Node {
            id: rng.random(),
            addr: i,
        };
        let a = net.add(Chord::new(config.clone(), me, seed));
        if i > 0 {
            net.command(a, Command::Join(via(i, rng)));
        }
        net.run_for(step);
    }
}

#[test]
fn nodes_join_one_by_one_and_the_ring_converges() {
    let mut net: Net = VNet::uniform(3, (5, 50));
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let n = 40u32;
    grow(&mut net, &mut rng, 3, n, Duration::from_secs(2), |_, _| 0);
    let joined = net
        .events()
        .iter()
        .filter(|(_, e)| matches!(e, Event::Joined { .. }))
        .count();
    assert_eq!(joined, n as usize - 1);
    net.run_for(Duration::from_secs(600));
    assert_ring_correct(&net);
    let live = live_ids(&net);
    for _ in 0..30 {
        let key = rng.random();
        let (owner, _) = lookup(&mut net, rng.random_range(0..n), key).unwrap();
        assert_eq!(owner.id, successor_of(&live, key));
    }
}

/// A node whose own join is still in flight knows no part of the ring. Before the fix it
/// answered a lookup as if alone (every key its own), so a node joining through it took it
/// for its successor, nearly a whole circle off, and stabilization walked that back one node
/// per period: at N = 1,000 built by joins, 0.1–2.2 % of lookups came back wrong long after
/// the last join.
#[test]
fn a_node_still_joining_passes_requests_to_its_bootstrap() {
    let nodes = ids(21, 50);
    let config = Arc::new(static_config());
    let mut net: Net = VNet::uniform(21, (20, 20));
    for e in Chord::converged_network(config.clone(), 21, &nodes) {
        net.add(e);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(2121);
    let a = net.add(Chord::new(
        config.clone(),
        Node {
            id: rng.random(),
            addr: 50,
        },
        21,
    ));
    let b_id: u64 = rng.random();
    let b = net.add(Chord::new(config, Node { id: b_id, addr: 51 }, 21));
    // A asks the ring; B asks A before A's answer is back (latency 20 ms each way).
    net.command(a, Command::Join(0));
    net.run_for(Duration::from_millis(5));
    let join = net.query(b, Command::Join(a));
    let joined = |ev: &[(u32, Event<u32>)]| {
        ev.iter()
            .any(|(i, e)| *i == b && matches!(e, Event::Joined { id, .. } if *id == join))
    };
    assert!(net.run_until(Duration::from_secs(5), joined));
    let mut ring: Vec<u64> = nodes.iter().map(|(id, _)| *id).collect();
    ring.push(net.engine(a).unwrap().local().id);
    let got = net.engine(b).unwrap().successors().first().map(|n| n.id);
    let ring_without_b = ring.clone();
    // A may or may not be in the ring by then: B's successor is its successor among the
    // ring's nodes, or A itself where A falls between them.
    let want = successor_of(&ring_without_b, b_id.wrapping_add(1));
    let without_a = successor_of(&ring[..50], b_id.wrapping_add(1));
    assert!(
        got == Some(want) || got == Some(without_a),
        "B joined with successor {got:x?}; want {want:x} (or {without_a:x} before A is in)"
    );
}

/// Joins far faster than the stabilization period (150 in 15 s), each through a random node
/// that may itself still be joining: once the joins stop, stabilization leaves every
/// successor right and every lookup at the key's successor. A node that learns of a closer
/// successor asks it at once rather than a period later, so a successor far off is walked
/// back in round trips.
#[test]
fn a_ring_grown_by_fast_joins_answers_every_lookup_correctly() {
    for seed in [2u64, 6] {
        let mut net: Net = VNet::uniform(seed, (5, 80));
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = 150u32;
        grow(
            &mut net,
            &mut rng,
            seed,
            n,
            Duration::from_millis(100),
            |i, rng| rng.random_range(0..i),
        );
        // Forty stabilization periods after the last join. Before the fix, rings grown
        // this way still had 19 (seed 2) and 81 (seed 6) wrong successors by then; after
        // it they are right within 50 s and 135 s.
        net.run_for(Duration::from_secs(200));
        assert_ring_correct(&net);
        let live = live_ids(&net);
        for _ in 0..100 {
            let key = rng.random();
            let (owner, _) = lookup(&mut net, rng.random_range(0..n), key).unwrap();
            assert_eq!(
                owner.id,
                successor_of(&live, key),
                "seed {seed}, key {key:x}"
            );
        }
    }
}

#[test]
fn leaves_and_crashes_are_repaired() {
    let nodes = ids(9, 200);
    let mut net: Net = VNet::uniform(9, (5, 50));
    for e in Chord::converged_network(Arc::new(Config::default()), 9, &nodes) {
        net.add(e);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for round in 0..20 {
        let i = rng.random_range(1..nodes.len() as u32);
        if net.engine(i).is_none_or(|c| c.has_left()) {
            continue;
        }
        if round % 2 == 0 {
            net.command(i, Command::Leave);
        } else {
            net.crash(i);
        }
        net.run_for(Duration::from_secs(3));
    }
    net.run_for(Duration::from_secs(300));
    assert_ring_correct(&net);
    let live = live_ids(&net);
    let mut ok = 0;
    for _ in 0..50 {
        let key = rng.random();
        if let Some((owner, _)) = lookup(&mut net, 0, key) {
            ok += usize::from(owner.id == successor_of(&live, key));
        }
    }
    assert_eq!(ok, 50, "lookups after repair");
}

#[test]
fn converged_memory_per_node() {
    let nodes = ids(1, 100_000);
    let config = Arc::new(static_config());
    let c = Chord::converged(config, 1, 500, &nodes);
    println!(
        "chord<u32>: size_of {} B, {} B/node, state {}",
        size_of::<Chord<u32>>(),
        c.memory_bytes(),
        c.state_size()
    );
    assert!(c.memory_bytes() < 2048);
}
