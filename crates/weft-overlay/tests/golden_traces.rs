//! Golden traces: each engine runs one fixed scenario from a fixed seed on the one virtual
//! network (`weft_vnet`), and the run's trace hash (every delivered message with its contents,
//! every timer, command, join and crash, in order and in time) must equal the committed value.
//! Any change in what an engine sends, to whom or when fails here, and no timer may be stuck.
//!
//! **Updating on purpose.** When a change is meant to alter an engine's behaviour (a new
//! message field, another timer period, a fixed bug), the test fails and prints the new hash:
//! check that the engine's own tests still pass, replace the constant below with the printed
//! value, and say in the commit why the trace moved. A refactoring must not move it.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weft_core::id::Key256;
use weft_overlay::{Engine, PeerEvent, Time, lookup};
use weft_vnet::VNet;

/// Checks the run's stuck timers and its trace hash against `want`.
fn golden<E: Engine<Addr = u32, Message: serde::Serialize>>(
    engine: &str,
    net: &VNet<E>,
    want: &str,
) {
    assert_eq!(net.stuck_timers(), 0, "{engine}: stuck timers");
    assert!(
        net.counters().delivered > 100,
        "{engine}: the scenario delivered only {} messages",
        net.counters().delivered
    );
    let got = net.trace_hash();
    assert_eq!(
        got, want,
        "{engine}: the golden trace moved. If the engine's behaviour changed on purpose, set \
         its constant in tests/golden_traces.rs to {got} and say why in the commit."
    );
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn kademlia() {
    use weft_overlay::kademlia::{Command, Config, Contact, Kademlia};
    let config = Arc::new(Config::default());
    let mut net: VNet<Kademlia<u64, u32>> = VNet::uniform(101, (5, 50));
    let mut rng = ChaCha8Rng::seed_from_u64(101);
    let first: u64 = rng.random();
    net.add(Kademlia::new(
        config.clone(),
        Contact {
            key: first,
            addr: 0,
        },
        101,
    ));
    for i in 1..30u32 {
        let key = rng.random();
        let a = net.join(
            Kademlia::new(config.clone(), Contact { key, addr: i }, 101 + u64::from(i)),
            Some(0),
        );
        net.poke(a, |e, now| e.add_peer(now, first, 0));
        net.command(a, Command::Bootstrap);
        net.run_for(2 * SECOND);
    }
    // Node 5 is hostile: it drops every other message it sends.
    let mut drop = false;
    net.set_hostile(
        5,
        Box::new(move |_, to, msg| {
            drop = !drop;
            if drop { Vec::new() } else { vec![(to, msg)] }
        }),
    );
    let expiry = Time::ZERO + Duration::from_secs(7200);
    for k in 0..10u64 {
        let key = rng.random();
        let from = rng.random_range(0..30);
        net.command(
            from,
            Command::PutRecord {
                key,
                value: k.to_le_bytes().to_vec(),
                expiry,
            },
        );
        net.run_for(SECOND);
        net.command(rng.random_range(0..30), Command::GetRecord(key));
        net.command(from, Command::AddProvider(key));
        net.run_for(SECOND);
        net.command(rng.random_range(0..30), Command::GetProviders(key));
        net.command(rng.random_range(0..30), Command::FindNode(rng.random()));
    }
    net.crash(7);
    net.run_for(Duration::from_secs(3600));
    net.command(3, Command::FindNode(rng.random()));
    net.run_for(10 * SECOND);
    golden(
        "kademlia",
        &net,
        "b128f3d48d59411a82dfc5630bd8289c30ec8215287846aac8c4c007f2b4e8e6",
    );
}

/// The scenario of the recursive-lookup engines (Chord, Pastry, CAN), on a network seeded
/// with `seed`: 30 nodes (`node(i, rng)` builds node `i`) join one a second through a random
/// earlier node and settle for a minute; 20 lookups from random nodes, one a second, while the
/// `isolated` nodes are cut off (if any); then node `leaver` leaves, the next one crashes, and
/// after two minutes the nodes past both ask 20 lookups at once.
fn recursive_lookups<E>(
    seed: u64,
    leaver: u32,
    isolated: &[u32],
    mut node: impl FnMut(u32, &mut ChaCha8Rng) -> E,
) -> VNet<E>
where
    E: Engine<Addr = u32, Message: serde::Serialize, Command = lookup::Command<u32>>,
{
    let mut net: VNet<E> = VNet::uniform(seed, (5, 50));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for i in 0..30u32 {
        let a = net.join(node(i, &mut rng), (i > 0).then_some(0));
        if i > 0 {
            net.command(a, lookup::Command::Join(rng.random_range(0..i)));
        }
        net.run_for(SECOND);
    }
    net.run_for(60 * SECOND);
    if !isolated.is_empty() {
        net.isolate(isolated, 1);
    }
    for _ in 0..20 {
        net.command(
            rng.random_range(0..30),
            lookup::Command::Lookup(rng.random()),
        );
        net.run_for(SECOND);
    }
    if !isolated.is_empty() {
        net.heal_all();
    }
    net.command(leaver, lookup::Command::Leave);
    net.crash(leaver + 1);
    net.run_for(120 * SECOND);
    for _ in 0..20 {
        net.command(
            rng.random_range(leaver + 2..30),
            lookup::Command::Lookup(rng.random()),
        );
    }
    net.run_for(30 * SECOND);
    net
}

#[test]
fn chord() {
    use weft_overlay::chord::{Chord, Config, Node};
    let config = Arc::new(Config::default());
    // Nodes 3 and 4 are cut off for the first lookups, then the network heals.
    let net = recursive_lookups(102, 8, &[3, 4], |i, rng| {
        Chord::new(
            config.clone(),
            Node {
                id: rng.random(),
                addr: i,
            },
            102,
        )
    });
    golden(
        "chord",
        &net,
        "3627b98f7bfd1b0601134effd6eb1fd4ef0e8d0571f9104b6b01ca36ea4fc603",
    );
}

#[test]
fn pastry() {
    use weft_overlay::pastry::{Config, Pastry};
    let config = Arc::new(Config::default());
    let net = recursive_lookups(103, 11, &[], |i, rng| {
        Pastry::new(config.clone(), rng.random(), i, 103)
    });
    golden(
        "pastry",
        &net,
        "788df42733143d28b48c5c7ecd21f23d9e9845c7ad3c59c3a4137cab7048e2b2",
    );
}

#[test]
fn can() {
    use weft_overlay::can::{Can, Config};
    let config = Arc::new(Config::default());
    let net = recursive_lookups(104, 5, &[], |i, _| {
        Can::new(config.clone(), i, i == 0, 104 ^ u64::from(i))
    });
    golden(
        "can",
        &net,
        "b6eddef21cd2731c3c2ba7333eadab9021ee87467fad904e743ab7001da7a216",
    );
}

#[test]
fn directory() {
    use weft_overlay::directory::{Command, Config, Directory, Item, Role};
    let config = Config {
        ping_interval: Some(Duration::from_secs(30)),
        ..Config::default()
    };
    let mut net: VNet<Directory<u32>> = VNet::uniform(105, (5, 50));
    net.add(Directory::new(0, Role::Server, config.clone()));
    let connect = |net: &mut VNet<Directory<u32>>, i: u32, event: PeerEvent| {
        net.poke(0, |e, now| e.handle_peer(now, i, event));
        net.poke(i, |e, now| e.handle_peer(now, 0, event));
    };
    for i in 1..=8u32 {
        net.join(Directory::new(i, Role::Client(0), config.clone()), Some(0));
        connect(&mut net, i, PeerEvent::Connected);
        let items = (0..3)
            .map(|k| Item {
                hash: Key256::hash(&[i as u8, k]),
                name: format!("{i}-{k}.flac"),
                size: u64::from(k) + 1,
                keywords: vec![format!("w{}", (i + u32::from(k)) % 5), "all".into()],
            })
            .collect();
        net.command(i, Command::Publish(items));
        net.run_for(SECOND);
    }
    for q in 0..20u32 {
        let words = vec![format!("w{}", q % 5)];
        net.command(
            1 + q % 8,
            Command::Query {
                keywords: words,
                max: 5,
            },
        );
        net.run_for(5 * SECOND);
    }
    connect(&mut net, 4, PeerEvent::Disconnected);
    net.run_for(120 * SECOND);
    connect(&mut net, 4, PeerEvent::Connected);
    net.command(
        2,
        Command::Query {
            keywords: vec!["all".into()],
            max: 10,
        },
    );
    net.run_for(60 * SECOND);
    golden(
        "directory",
        &net,
        "938f05cffb0607feab989bfeaa455936166f70e9033a5b3060d548502b7ef4e4",
    );
}

#[test]
fn flood() {
    use weft_overlay::flood::{Command, Config, Criteria, Event, Flood, HitItem, topology};
    let n = 40u32;
    let adj = topology::random_graph(n, 3, 106);
    let mut net: VNet<Flood<u32>> = VNet::uniform(106, (5, 50));
    net.extend(topology::build(&adj, &[], &Config::default(), 106));
    let words = |i: u32| -> BTreeSet<String> {
        [format!("w{}", i % 7), format!("w{}", (i * 3) % 11)].into()
    };
    for i in 0..n {
        net.command(i, Command::SetKeywords(words(i).into_iter().collect()));
    }
    // The application: answer each match request with one item when the words match.
    let answer = |net: &mut VNet<Flood<u32>>| {
        let requests: Vec<(u32, Event<u32>)> = net.drain_events().collect();
        for (i, ev) in requests {
            if let Event::MatchRequest { request, criteria } = ev {
                let matched = criteria.keywords.iter().all(|k| words(i).contains(k));
                let items = if matched {
                    vec![HitItem {
                        hash: Key256::hash(&i.to_le_bytes()),
                        name: format!("file-{i}"),
                        size: 1,
                    }]
                } else {
                    Vec::new()
                };
                net.command(
                    i,
                    Command::Respond {
                        request,
                        items,
                        more: false,
                    },
                );
            }
        }
    };
    for q in 0..20u32 {
        net.command(
            (q * 7) % n,
            Command::Query {
                criteria: Criteria::from_text(&format!("w{}", q % 7)),
                ttl: Some(4),
            },
        );
        for _ in 0..10 {
            net.run_for(SECOND / 10);
            answer(&mut net);
        }
    }
    net.crash(3);
    for _ in 0..120 {
        net.run_for(SECOND);
        answer(&mut net);
    }
    golden(
        "flood",
        &net,
        "bcd4cb45c22747308c9dcc7b8a19b60c746ebbcb98300b682d8aba4cb50e06e8",
    );
}

#[test]
fn freenet() {
    use weft_overlay::freenet::{self, Command, Config};
    let config = Config {
        store_items: 10,
        routing_entries: 20,
        ..Config::default()
    };
    let mut net = VNet::uniform(107, (5, 50));
    net.extend(freenet::ring(30, 2, &config, 107));
    let mut rng = ChaCha8Rng::seed_from_u64(107);
    let mut keys = Vec::new();
    for k in 0..30u64 {
        let key = Key256::hash(&k.to_le_bytes());
        net.command(
            rng.random_range(0..30),
            Command::Insert {
                key,
                data: k.to_le_bytes().to_vec(),
                htl: Some(10),
            },
        );
        keys.push(key);
        net.run_for(SECOND);
        let wanted = keys[rng.random_range(0..keys.len())];
        net.command(
            rng.random_range(0..30),
            Command::Request {
                key: wanted,
                htl: Some(20),
            },
        );
        net.run_for(SECOND);
    }
    net.crash(10);
    for _ in 0..10 {
        let wanted = keys[rng.random_range(0..keys.len())];
        net.command(
            rng.random_range(11..30),
            Command::Request {
                key: wanted,
                htl: Some(20),
            },
        );
    }
    net.run_for(600 * SECOND);
    golden(
        "freenet",
        &net,
        "767ffc829cf5bab31c88444b98fdbca88cb8c62f04d73744765a43777d33dbf4",
    );
}
