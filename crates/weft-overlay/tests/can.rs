//! CAN in virtual time: zones partition the space exactly through any join/leave sequence,
//! lookups reach the owner of the key's point, hops against (d/4)·N^(1/d).

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weft_overlay::can::{Can, Command, Config, Zone};
use weft_vnet::VNet;

#[path = "support/lookup.rs"]
mod support;
#[path = "support/can.rs"]
mod support_can;

use support::lookup;
use support_can::owner_of;

type Net = VNet<Can<u32>>;

/// Checks that the zones of live nodes tile the space: volumes sum to exactly 1 and no two
/// zones overlap; and that neighbour lists are symmetric and hold only abutting zones.
fn assert_partition(net: &Net, d: usize) {
    let mut all: Vec<(u32, Zone)> = Vec::new();
    for i in net.live_indices() {
        for z in net.engine(i).unwrap().zones() {
            all.push((i, *z));
        }
    }
    let max = all
        .iter()
        .map(|(_, z)| z.volume_exponent(d))
        .max()
        .unwrap_or(0);
    let total: u128 = all
        .iter()
        .map(|(_, z)| 1u128 << (max - z.volume_exponent(d)))
        .sum();
    assert_eq!(total, 1u128 << max, "volumes do not sum to 1");
    // no overlaps: with dyadic boxes, two overlap iff one's corner lies in the other
    for (i, (_, a)) in all.iter().enumerate() {
        for (_, b) in &all[i + 1..] {
            let overlap = a.contains(&b.lo, d) || b.contains(&a.lo, d);
            assert!(!overlap, "zones overlap: {a:?} {b:?}");
        }
    }
    for (i, _) in &all {
        let n = net.engine(*i).unwrap();
        for (j, z) in n.neighbours() {
            let owner = net.engine(*j).expect("neighbour alive");
            assert!(owner.zones().contains(z), "stale neighbour zone at {i}");
            assert!(n.zones().iter().any(|m| m.abuts(z, d)));
            assert!(
                owner.neighbours().iter().any(|(k, _)| k == i),
                "asymmetric {i} {j}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Whatever the sequence of joins and graceful leaves, the zones partition the space
    /// and every lookup reaches the owner of the key's point.
    #[test]
    fn zones_always_partition_the_space(seed in any::<u64>(), d in 1usize..5, ops in proptest::collection::vec(any::<(bool, u16)>(), 1..60)) {
        let config = Arc::new(Config { dims: d, ..Config::default() });
        let mut net: Net = VNet::uniform(seed, (1, 20));
        net.add(Can::new(config.clone(), 0, true, seed));
        for (join, pick) in ops {
            let live: Vec<u32> = net.live_indices().into_iter().filter(|i| !net.engine(*i).unwrap().zones().is_empty()).collect();
            if join || live.len() < 2 {
                let i = net.len() as u32;
                let a = net.add(Can::new(config.clone(), i, false, seed ^ u64::from(i)));
                net.command(a, Command::Join(live[pick as usize % live.len()]));
            } else {
                let i = live[pick as usize % live.len()];
                net.command(i, Command::Leave);
                net.run_for(Duration::from_secs(1));
                net.crash(i);
            }
            net.run_for(Duration::from_secs(1));
            assert_partition(&net, d);
        }
        let live: Vec<u32> = net.live_indices();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for _ in 0..5 {
            let key: u64 = rng.random();
            let from = live[rng.random_range(0..live.len())];
            let (owner, _) = lookup(&mut net, from, key).expect("delivered");
            prop_assert_eq!(owner, owner_of(&net, key, d));
        }
    }
}

#[test]
fn converged_network_partitions_and_routes_in_d_over_4_n_to_the_1_over_d() {
    for (n, d) in [(1000usize, 2usize), (4000, 2), (4000, 4), (2000, 8)] {
        let config = Arc::new(Config {
            dims: d,
            ..Config::default()
        });
        let addrs: Vec<u32> = (0..n as u32).collect();
        let mut net: Net = VNet::uniform(1, (1, 20));
        for e in Can::converged_network(config, 7, &addrs) {
            net.add(e);
        }
        if n <= 1000 {
            assert_partition(&net, d);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let lookups = 200;
        let mut sum = 0;
        for _ in 0..lookups {
            let key = rng.random();
            let (owner, hops) = lookup(&mut net, rng.random_range(0..n as u32), key).unwrap();
            assert_eq!(owner, owner_of(&net, key, d));
            sum += hops;
        }
        let mean = f64::from(sum) / f64::from(lookups);
        let expected = d as f64 / 4.0 * (n as f64).powf(1.0 / d as f64);
        let state = (0..n as u32)
            .map(|i| net.engine(i).unwrap().state_size())
            .sum::<usize>() as f64
            / n as f64;
        println!(
            "can N={n} d={d}: mean hops {mean:.2} (expected (d/4)·N^(1/d) = {expected:.2}), mean neighbours {state:.1} (2d = {})",
            2 * d
        );
        assert!(
            mean >= expected * 0.5 && mean <= expected * 2.0 + 1.0,
            "mean hops {mean}"
        );
        assert!(state >= d as f64 && state <= 4.0 * d as f64 + 2.0);
    }
}

/// A join sent through a node that has no zone yet is dropped there; the joiner used to
/// wait forever. It now asks again after its deadline, and gets a zone once its bootstrap has.
#[test]
fn a_join_through_a_node_not_yet_joined_is_retried() {
    let config = Arc::new(Config::default());
    let mut net: Net = VNet::uniform(4, (1, 20));
    let first = net.add(Can::new(config.clone(), 0, true, 1));
    let early = net.add(Can::new(config.clone(), 1, false, 2));
    let late = net.add(Can::new(config.clone(), 2, false, 3));
    net.command(late, Command::Join(early));
    net.run_for(Duration::from_secs(1));
    assert!(net.engine(late).unwrap().zones().is_empty());
    net.command(early, Command::Join(first));
    net.run_for(Duration::from_secs(30));
    assert!(!net.engine(early).unwrap().zones().is_empty());
    assert!(
        !net.engine(late).unwrap().zones().is_empty(),
        "the join through a node that had not joined yet was never retried"
    );
    assert_partition(&net, config.dims);
}

#[test]
fn converged_memory_per_node() {
    let config = Arc::new(Config::default());
    let addrs: Vec<u32> = (0..20_000).collect();
    let nodes = Can::converged_network(config, 1, &addrs);
    let bytes = nodes.iter().map(Can::memory_bytes).sum::<usize>() / nodes.len();
    println!(
        "can<u32> d=2: size_of {} B, mean {bytes} B/node",
        size_of::<Can<u32>>()
    );
    assert!(bytes < 1024);
}
