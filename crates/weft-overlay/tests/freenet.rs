//! Freenet engine: the ring of 1,000 nodes whose request paths shorten as routing tables
//! learn, backtracking and caching on small graphs, and the datastore bound as a property.

use std::time::Duration;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weft_core::id::Key256;
use weft_overlay::freenet::{self, Command, Config, Event, Freenet};
use weft_overlay::{Engine, PeerEvent, QueryId};
use weft_vnet::VNet;

/// The one virtual network (`weft_vnet`) holding every message in a pool, delivered in FIFO
/// (or a seeded random) order with the clock standing still; timers fire only when nothing is
/// in flight. Messages to crashed nodes are lost.
struct Net {
    net: VNet<Freenet<u32>>,
    shuffle: Option<ChaCha8Rng>,
}

impl std::ops::Deref for Net {
    type Target = VNet<Freenet<u32>>;
    fn deref(&self) -> &Self::Target {
        &self.net
    }
}

impl std::ops::DerefMut for Net {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.net
    }
}

impl Net {
    fn new(nodes: impl IntoIterator<Item = Freenet<u32>>) -> Self {
        let mut net = VNet::uniform(0, (0, 0));
        net.hold(usize::MAX);
        net.extend(nodes);
        Net { net, shuffle: None }
    }

    fn node(&self, i: u32) -> &Freenet<u32> {
        self.net.engine(i).expect("a live node")
    }

    fn nodes(&self) -> impl Iterator<Item = &Freenet<u32>> {
        self.net.live().map(|(_, e)| e)
    }

    /// Delivers until quiet, firing timers when nothing is in flight.
    fn run(&mut self) {
        let Net { net, shuffle } = self;
        net.run_held(Duration::ZERO, usize::MAX, |n| match shuffle {
            Some(rng) => rng.random_range(0..n),
            None => 0,
        });
        assert_eq!(net.stuck_timers(), 0);
    }

    fn outcome(&self, node: u32, id: QueryId) -> Option<&Event> {
        self.events()
            .iter()
            .filter(|(n, _)| *n == node)
            .map(|(_, e)| e)
            .find(|e| match e {
                Event::Found { id: i, .. }
                | Event::NotFound { id: i, .. }
                | Event::Inserted { id: i, .. }
                | Event::Refused { id: i, .. } => *i == id,
            })
    }
}

fn median(v: &mut [u16]) -> u16 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(u16::MAX)
}

/// Clarke et al.'s experiment: 1,000 nodes in a ring (two routing entries on each side, under
/// random keys), datastores of 50 items, routing tables of 250 entries. Each step a random
/// node inserts a new key with HTL 20 and another requests a random key inserted before with
/// HTL 500 (requests that fail teach nothing, so short budgets would keep the ring untrained;
/// successful ones leave the data and a routing entry on every node of the path). Fifty keys are inserted before the first
/// request. At snapshots (before the first request, then every tenth of the run) the network is copied and the copy answers probe requests with
/// HTL 500 for keys known to be present, so that measuring does not teach the network.
#[test]
fn ring_of_1000_learns_short_paths() {
    let n = 1000u32;
    let config = Config {
        store_items: 50,
        routing_entries: 250,
        default_htl: 20,
        ..Config::default()
    };
    let mut net = Net::new(freenet::ring(n, 2, &config, 42));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let steps = 1000;
    let probes = 40;
    let mut keys: Vec<Key256> = Vec::new();
    // (step, median hops spent by the probes, failures included, success rate)
    let mut curve: Vec<(usize, u16, f64)> = Vec::new();
    let insert = |net: &mut Net, rng: &mut ChaCha8Rng, keys: &mut Vec<Key256>| {
        let key = Key256::hash(&(keys.len() as u64).to_le_bytes());
        let inserter = rng.random_range(0..n);
        let id = net.query(
            inserter,
            Command::Insert {
                key,
                data: vec![1; 16],
                htl: Some(20),
            },
        );
        net.run();
        assert!(matches!(
            net.outcome(inserter, id),
            Some(Event::Inserted { .. })
        ));
        keys.push(key);
    };
    // Some data in the ring before the first request.
    for _ in 0..50 {
        insert(&mut net, &mut rng, &mut keys);
    }
    for step in 0..=steps {
        if step > 0 {
            insert(&mut net, &mut rng, &mut keys);
            let asker = rng.random_range(0..n);
            let wanted = keys[rng.random_range(0..keys.len())];
            net.command(
                asker,
                Command::Request {
                    key: wanted,
                    htl: Some(500),
                },
            );
            net.run();
        }
        if step % (steps / 10) == 0 {
            let mut probe = Net::new(net.nodes().cloned());
            let mut spent = Vec::new();
            let mut found = 0;
            for _ in 0..probes {
                let asker = rng.random_range(0..n);
                let wanted = keys[rng.random_range(0..keys.len())];
                let id = probe.query(
                    asker,
                    Command::Request {
                        key: wanted,
                        htl: Some(500),
                    },
                );
                probe.run();
                match probe.outcome(asker, id) {
                    Some(Event::Found { hops, key, .. }) => {
                        assert_eq!(*key, wanted);
                        spent.push(*hops);
                        found += 1;
                    }
                    Some(Event::NotFound { hops, .. }) => spent.push(*hops),
                    other => panic!("probe without an outcome: {other:?}"),
                }
            }
            curve.push((
                step,
                median(&mut spent),
                f64::from(found) / f64::from(probes),
            ));
        }
    }
    let bytes: usize = net.nodes().map(|n| n.heap_bytes()).sum();
    let store_max = net.nodes().map(|n| n.stored_items()).max().unwrap_or(0);
    println!("freenet ring of {n}: (step, median probe path in hops, success rate): {curve:?}");
    let (start, end) = (curve[0], curve[curve.len() - 1]);
    println!(
        "freenet ring of {n}: median request path {} hops at the start, {} at the end; {} messages; ~{} bytes/node",
        start.1,
        end.1,
        net.counters().delivered,
        bytes / n as usize
    );
    assert!(start.1 >= 100, "paths start long on the ring: {start:?}");
    assert!(end.1 < 10, "paths end short: {end:?}");
    assert!(end.2 >= 0.9, "most probes succeed at the end: {end:?}");
    assert!(store_max <= 50);
}

/// A line where node 0's closest entry leads to a dead end (node 1) and its second choice to
/// the data (node 2 -> node 3).
fn fork() -> (Net, Key256) {
    let key = Key256::hash(b"wanted");
    let pos = key.prefix_u64();
    let near = |delta: u64| {
        // A key whose position is `delta` from the wanted key's.
        let mut k = key;
        k.0[..8].copy_from_slice(&pos.wrapping_add(delta).to_be_bytes());
        k
    };
    let mut nodes: Vec<Freenet<u32>> = (0..4)
        .map(|i| Freenet::new(i, Config::default(), u64::from(i)))
        .collect();
    nodes[0].add_route(near(1), 1);
    nodes[0].add_route(near(1000), 2);
    nodes[1].add_route(near(5), 0);
    nodes[2].add_route(near(2), 3);
    nodes[3].add_route(near(7), 2);
    (Net::new(nodes), key)
}

#[test]
fn backtracks_from_a_dead_end_and_caches_along_the_path() {
    let (mut net, key) = fork();
    let id = net.query(
        3,
        Command::Insert {
            key,
            data: b"data".to_vec(),
            htl: Some(0),
        },
    );
    net.run();
    assert_eq!(
        net.outcome(3, id),
        Some(&Event::Inserted {
            id,
            key,
            path_len: 1
        })
    );
    let id = net.query(0, Command::Request { key, htl: Some(10) });
    net.run();
    // 0 -> 1 (dead end, back), 0 -> 2 -> 3: three hops spent, a path of two.
    assert_eq!(
        net.outcome(0, id),
        Some(&Event::Found {
            id,
            key,
            data: b"data".to_vec(),
            hops: 3,
            path_len: 2
        })
    );
    assert!(
        net.node(2).holds(&key) && net.node(0).holds(&key),
        "cached on the return path"
    );
    assert!(!net.node(1).holds(&key));
    // Node 1's only entry is the node it came from: a dead end, no loop.
    assert_eq!(net.node(0).stats().loops, 0);
    // Node 0 learned node 3 as the source of the key: it is now its closest entry.
    let id = net.query(1, Command::Request { key, htl: Some(10) });
    net.run();
    assert!(matches!(
        net.outcome(1, id),
        Some(Event::Found { hops: 1, .. })
    ));
}

#[test]
fn budget_and_dead_nodes_end_searches() {
    let (mut net, key) = fork();
    net.command(
        3,
        Command::Insert {
            key,
            data: b"data".to_vec(),
            htl: Some(0),
        },
    );
    net.run();
    // Budget 2 is spent on 0 -> 1 (dead end) and 0 -> 2 (arrives with nothing left).
    let id = net.query(0, Command::Request { key, htl: Some(2) });
    net.run();
    assert!(
        matches!(net.outcome(0, id), Some(Event::NotFound { .. })),
        "{:?}",
        net.outcome(0, id)
    );
    // With node 2 dead, node 0 gives up that branch on timeout and ends.
    net.crash(2);
    let id = net.query(0, Command::Request { key, htl: Some(10) });
    net.run();
    assert!(matches!(net.outcome(0, id), Some(Event::NotFound { .. })));
    assert_eq!(net.node(0).stats().timeouts, 1);
    // Disconnection forgets the routes through the node.
    net.poke(0, |e, now| e.handle_peer(now, 2, PeerEvent::Disconnected));
    assert_eq!(net.node(0).routing_entries(), 1);
}

#[test]
fn a_request_that_comes_back_is_refused_as_a_loop() {
    // 0 -> 1 -> 2 -> 0: every node's closest entry is the next one round the triangle.
    let key = Key256::hash(b"nowhere");
    let at = |delta: u64| {
        let mut k = key;
        k.0[..8].copy_from_slice(&key.prefix_u64().wrapping_add(delta).to_be_bytes());
        k
    };
    let mut nodes: Vec<Freenet<u32>> = (0..3)
        .map(|i| Freenet::new(i, Config::default(), u64::from(i)))
        .collect();
    nodes[0].add_route(at(1), 1);
    nodes[1].add_route(at(1), 2);
    nodes[2].add_route(at(1), 0);
    nodes[2].add_route(at(9), 1);
    let mut net = Net::new(nodes);
    let id = net.query(0, Command::Request { key, htl: Some(10) });
    net.run();
    assert_eq!(
        net.node(0).stats().loops,
        1,
        "node 0 saw its own request again"
    );
    // 0 -> 1 -> 2 -> 0 (loop, back to 2), then 2 has only its upstream left: three hops.
    assert_eq!(
        net.outcome(0, id),
        Some(&Event::NotFound { id, key, hops: 3 })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn never_stores_past_its_bounds(
        n in 2u32..20,
        store_items in 0usize..6,
        store_bytes in 0u64..200,
        routing_entries in 0usize..8,
        ops in proptest::collection::vec((0u32..20, 0u8..12, 0usize..120, any::<bool>(), 0u16..30), 1..40),
        seed in any::<u64>(),
    ) {
        let config = Config { store_items, store_bytes, routing_entries, max_pending: 4, hop_timeout: Duration::from_millis(50), ..Config::default() };
        let mut net = Net::new(freenet::ring(n, 2, &config, seed));
        net.shuffle = Some(ChaCha8Rng::seed_from_u64(seed));
        let mut started = Vec::new();
        for (node, key, size, insert, htl) in ops {
            let node = node % n;
            let key = Key256::hash(&[key]);
            let cmd = if insert { Command::Insert { key, data: vec![7; size], htl: Some(htl) } } else { Command::Request { key, htl: Some(htl) } };
            started.push((node, net.query(node, cmd)));
            // Deliver a few messages between commands so that searches overlap.
            for _ in 0..3 {
                if !net.deliver_held(0) { break }
            }
            for e in net.nodes() {
                prop_assert!(e.stored_items() <= store_items);
                prop_assert!(e.stored_bytes() <= store_bytes);
                prop_assert!(e.routing_entries() <= routing_entries.max(4));
            }
        }
        net.run();
        for e in net.nodes() {
            prop_assert!(e.stored_items() <= store_items && e.stored_bytes() <= store_bytes);
            prop_assert!(e.routing_entries() <= routing_entries);
            prop_assert!(e.poll_timeout().is_none(), "every search ended");
        }
        for (node, id) in started {
            prop_assert!(net.outcome(node, id).is_some(), "every command has an outcome");
        }
    }
}
