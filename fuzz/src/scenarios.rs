//! The engine setups of the hostile-peer targets: small networks (six nodes) with small bounds,
//! so that a fuzz input reaches full tables, full stores and refused commands quickly.

use std::sync::Arc;
use std::time::Duration;

use weft_core::id::Key256;
use weft_overlay::{
    Engine, PeerEvent, Time, can, chord, directory, flood, freenet, kademlia, lookup, pastry,
};

use crate::input::Input;
use crate::network::{Scenario, Setup, secs, sender};
use weft_vnet::VNet;

/// Honest nodes per scenario.
pub const NODES: u32 = 6;

/// A key: mostly one of 16 well-known keys (so that commands and hostile messages collide),
/// sometimes 32 bytes from the input.
pub fn key(input: &mut Input<'_>) -> Key256 {
    let b = input.byte();
    if b < 224 {
        Key256::hash(&[b % 16])
    } else {
        Key256(input.array())
    }
}

/// A position on a 64-bit circle: a well-known key's prefix, or 8 bytes from the input.
pub fn position(input: &mut Input<'_>) -> u64 {
    let b = input.byte();
    if b < 192 {
        Key256::hash(&[b % 16]).prefix_u64()
    } else {
        input.u64()
    }
}

/// The id of honest node `i` on a 64-bit circle, and the sorted `(id, address)` list.
fn ring(n: u32) -> Vec<(u64, u32)> {
    let mut nodes: Vec<(u64, u32)> = (0..n)
        .map(|i| (Key256::hash(&i.to_be_bytes()).prefix_u64(), i))
        .collect();
    nodes.sort();
    nodes
}

/// Kademlia with `Key256` ids, `k = 4`: five converged nodes and one that bootstraps through
/// node 0.
#[derive(Debug)]
pub struct KademliaNet;

impl Scenario for KademliaNet {
    type E = kademlia::Kademlia<Key256, u32>;

    fn build(input: &mut Input<'_>) -> Setup<Self::E> {
        let seed = u64::from(input.byte());
        let config = Arc::new(kademlia::Config {
            k: 4,
            alpha: 2,
            max_queries: 8,
            max_candidates: 16,
            max_records: 8,
            max_provider_keys: 8,
            max_pings: 2,
            max_postings: 16,
            max_postings_per_key: 8,
            max_postings_per_publisher: 4,
            max_published_posting_keys: 8,
            max_published_postings: 16,
            postings_quorum: 2,
            ..kademlia::Config::default()
        });
        let mut ids: Vec<(Key256, u32)> = (0..NODES - 1)
            .map(|i| (Key256::hash(&i.to_be_bytes()), 0))
            .collect();
        ids.sort();
        // Addresses follow the sorted order so that the converged builder's list is valid.
        for (i, (_, a)) in ids.iter_mut().enumerate() {
            *a = i as u32;
        }
        let mut nodes = kademlia::Kademlia::converged_network(config.clone(), seed, &ids);
        let newcomer = kademlia::Contact {
            key: Key256::hash(b"newcomer"),
            addr: NODES - 1,
        };
        let mut fresh = kademlia::Kademlia::new(config, newcomer, seed);
        fresh.add_peer(Time::ZERO, ids[0].0, ids[0].1);
        nodes.push(fresh);
        (nodes, vec![(NODES - 1, kademlia::Command::Bootstrap)])
    }

    fn command(input: &mut Input<'_>, _node: u32, _n: u32) -> kademlia::Command<Key256> {
        match input.byte() % 8 {
            0 => kademlia::Command::FindNode(key(input)),
            1 => {
                let key = key(input);
                let len = usize::from(input.u16());
                let value = vec![input.byte(); len % (kademlia::MAX_VALUE_LEN + 2)];
                kademlia::Command::PutRecord {
                    key,
                    value,
                    expiry: Time::from_micros(u64::from(input.u32()) * 1_000_000),
                }
            }
            2 => kademlia::Command::GetRecord(key(input)),
            3 => kademlia::Command::AddProvider(key(input)),
            4 => kademlia::Command::GetProviders(key(input)),
            5 => {
                let key = key(input);
                let values = (0..input.byte() % 7)
                    .map(|_| kademlia::PostingValue {
                        id: u32::from(input.byte() % 4),
                        value: vec![
                            input.byte();
                            usize::from(input.u16()) % (kademlia::MAX_POSTING_LEN + 2)
                        ],
                    })
                    .collect();
                kademlia::Command::PutPostings { key, values }
            }
            6 => kademlia::Command::GetPostings(key(input)),
            _ => kademlia::Command::Bootstrap,
        }
    }

    fn extra(input: &mut Input<'_>, net: &mut VNet<Self::E>) {
        let n = net.len() as u32;
        let node = u32::from(input.byte()) % n;
        let addr = sender(input.byte(), node, n);
        net.poke(node, |e, now| {
            if input.flag() {
                let k = key(input);
                e.add_peer(now, k, addr);
            } else {
                e.remove_peer(now, addr);
            }
        });
    }
}

fn connect<E: Engine<Addr = u32, Message: serde::Serialize>>(
    net: &mut VNet<E>,
    a: u32,
    b: u32,
    up: bool,
    f: impl Fn(&mut E, Time, u32, bool),
) {
    if a == b {
        // A node never connects to itself.
        return;
    }
    for (x, y) in [(a, b), (b, a)] {
        net.poke(x, |e, now| f(e, now, y, up));
    }
}

/// Directory: node 0 is the server, the others its clients; the hostile peer may connect to
/// the server as a client. The first input byte switches the server's pings on (even) or off.
#[derive(Debug)]
pub struct DirectoryNet;

fn directory_item(input: &mut Input<'_>) -> directory::Item {
    let hash = key(input);
    let name = input.string(300);
    let size = input.u64();
    let count = usize::from(input.byte() % 40);
    let keywords = (0..count).map(|_| input.string(80)).collect();
    directory::Item {
        hash,
        name,
        size,
        keywords,
    }
}

impl Scenario for DirectoryNet {
    type E = directory::Directory<u32>;

    fn build(input: &mut Input<'_>) -> Setup<Self::E> {
        let ping = input.flag();
        let config = directory::Config {
            max_items_per_client: 16,
            max_items_total: 48,
            max_clients: 5,
            max_results: 8,
            max_scan: 64,
            query_timeout: secs(10),
            max_queries_in_flight: 4,
            ping_interval: ping.then(|| secs(30)),
        };
        let mut nodes: Vec<Self::E> = (0..NODES)
            .map(|i| {
                let role = if i == 0 {
                    directory::Role::Server
                } else {
                    directory::Role::Client(0)
                };
                directory::Directory::new(i, role, config.clone())
            })
            .collect();
        for i in 1..NODES {
            nodes[0].handle_peer(Time::ZERO, i, PeerEvent::Connected);
            nodes[i as usize].handle_peer(Time::ZERO, 0, PeerEvent::Connected);
        }
        let first = (1..NODES)
            .map(|i| {
                let item = directory::Item {
                    hash: Key256::hash(&[i as u8]),
                    name: format!("blue train {i}.flac"),
                    size: 1000 * u64::from(i),
                    keywords: vec!["blue".into(), "train".into()],
                };
                (i, directory::Command::Publish(vec![item]))
            })
            .collect();
        (nodes, first)
    }

    fn command(input: &mut Input<'_>, _node: u32, _n: u32) -> directory::Command {
        match input.byte() % 3 {
            0 => {
                let count = usize::from(input.byte() % 8);
                directory::Command::Publish((0..count).map(|_| directory_item(input)).collect())
            }
            1 => {
                let count = usize::from(input.byte() % 8);
                directory::Command::Unpublish((0..count).map(|_| key(input)).collect())
            }
            _ => {
                let count = usize::from(input.byte() % 10);
                let keywords = (0..count).map(|_| input.string(80)).collect();
                directory::Command::Query {
                    keywords,
                    max: input.u16(),
                }
            }
        }
    }

    fn extra(input: &mut Input<'_>, net: &mut VNet<Self::E>) {
        let n = net.len() as u32;
        let a = u32::from(input.byte()) % n;
        let b = u32::from(input.byte()) % (n + 2);
        let up = input.flag();
        connect(net, a, b, up, |e, now, peer, up| {
            let event = if up {
                PeerEvent::Connected
            } else {
                PeerEvent::Disconnected
            };
            e.handle_peer(now, peer, event);
        })
    }
}

/// Flood: nodes 0 and 1 are ultrapeers (connected to each other), the others leaves of both;
/// the hostile peer is a neighbour of nodes 0 and 2. Match requests are answered with one
/// item named after the query.
#[derive(Debug)]
pub struct FloodNet;

fn words(input: &mut Input<'_>, max: u8) -> Vec<String> {
    let count = usize::from(input.byte() % max);
    (0..count)
        .map(|_| match input.byte() {
            b @ 0..200 => ["blue", "train", "miles", "kind", "of", "so", "what", "x"]
                [usize::from(b % 8)]
            .to_string(),
            _ => input.string(80),
        })
        .collect()
}

impl Scenario for FloodNet {
    type E = flood::Flood<u32>;

    fn build(input: &mut Input<'_>) -> Setup<Self::E> {
        let seed = u64::from(input.byte());
        let base = flood::Config {
            guid_cache: 64,
            max_neighbors: 8,
            max_leaves: 4,
            max_own_queries: 4,
            max_pending_matches: 8,
            qrp_log2_size: 10,
            ..flood::Config::default()
        };
        let mut nodes: Vec<Self::E> = (0..NODES)
            .map(|i| {
                let role = if i < 2 {
                    flood::Role::Ultrapeer
                } else {
                    flood::Role::Leaf
                };
                let config = flood::Config {
                    role,
                    ..base.clone()
                };
                flood::Flood::new(i, config, seed ^ u64::from(i))
            })
            .collect();
        let mut links = vec![(0, 1)];
        for leaf in 2..NODES {
            links.push((0, leaf));
            links.push((1, leaf));
        }
        for (a, b) in links {
            nodes[a as usize].handle_peer(Time::ZERO, b, PeerEvent::Connected);
            nodes[b as usize].handle_peer(Time::ZERO, a, PeerEvent::Connected);
        }
        nodes[0].handle_peer(Time::ZERO, NODES, PeerEvent::Connected);
        nodes[2].handle_peer(Time::ZERO, NODES, PeerEvent::Connected);
        let first = (2..NODES)
            .map(|i| {
                let mut kw = vec!["blue".to_string(), format!("leaf{i}")];
                kw.push(flood::hash_keyword(&Key256::hash(&[i as u8])));
                (i, flood::Command::SetKeywords(kw))
            })
            .collect();
        (nodes, first)
    }

    fn command(input: &mut Input<'_>, _node: u32, _n: u32) -> flood::Command {
        match input.byte() % 4 {
            0 => {
                let keywords = words(input, 20);
                let hash = (input.byte() & 3 == 0).then(|| key(input));
                let ttl = match input.byte() {
                    0 => None,
                    t => Some(t),
                };
                flood::Command::Query {
                    criteria: flood::Criteria {
                        keywords,
                        hash,
                        max_items: u16::from(input.byte()),
                    },
                    ttl,
                }
            }
            1 => {
                let request = flood::MatchId(u64::from(input.byte() % 16));
                let count = usize::from(input.byte() % 80);
                let items = (0..count)
                    .map(|i| flood::HitItem {
                        hash: Key256::hash(&[i as u8]),
                        name: format!("item {i}"),
                        size: i as u64,
                    })
                    .collect();
                let more = input.flag();
                flood::Command::Respond {
                    request,
                    items,
                    more,
                }
            }
            2 => flood::Command::SetKeywords(words(input, 40)),
            _ => {
                let reachability = if input.flag() {
                    flood::Reachability::Public
                } else {
                    flood::Reachability::Firewalled
                };
                flood::Command::SetCapacity(flood::Capacity {
                    uptime: Duration::from_secs(u64::from(input.u32())),
                    bandwidth_kbps: input.u32(),
                    reachability,
                })
            }
        }
    }

    fn extra(input: &mut Input<'_>, net: &mut VNet<Self::E>) {
        let n = net.len() as u32;
        let a = u32::from(input.byte()) % n;
        let b = u32::from(input.byte()) % (n + 2);
        let up = input.flag();
        connect(net, a, b, up, |e, now, peer, up| {
            let event = if up {
                PeerEvent::Connected
            } else {
                PeerEvent::Disconnected
            };
            e.handle_peer(now, peer, event);
        })
    }

    fn react(_node: u32, event: &flood::Event<u32>) -> Option<flood::Command> {
        match event {
            flood::Event::MatchRequest { request, criteria } => {
                let name = criteria.keywords.join(" ");
                Some(flood::Command::Respond {
                    request: *request,
                    items: vec![flood::HitItem {
                        hash: criteria
                            .hash
                            .unwrap_or_else(|| Key256::hash(name.as_bytes())),
                        name,
                        size: 42,
                    }],
                    more: false,
                })
            }
            _ => None,
        }
    }
}

/// A command of the recursive-lookup engines (Chord, Pastry, CAN): mostly a lookup, sometimes
/// a join through any address (the hostile ones included) or a leave.
fn ring_command(input: &mut Input<'_>, n: u32) -> lookup::Command<u32> {
    match input.byte() % 16 {
        0 => lookup::Command::Join(u32::from(input.byte()) % (n + 2)),
        1 => lookup::Command::Leave,
        _ => lookup::Command::Lookup(position(input)),
    }
}

/// The id of the node that joins the Chord and Pastry scenarios.
fn newcomer_id() -> u64 {
    Key256::hash(b"newcomer").prefix_u64()
}

/// The set-up of the recursive-lookup scenarios: the five `converged` nodes, each put at its
/// own address (`addr`), and `newcomer` at the sixth, joining through node 0.
fn with_newcomer<E: Engine<Addr = u32, Command = lookup::Command<u32>>>(
    mut converged: Vec<E>,
    addr: impl Fn(&E) -> u32,
    newcomer: E,
) -> Setup<E> {
    converged.sort_by_key(addr);
    converged.push(newcomer);
    (converged, vec![(NODES - 1, lookup::Command::Join(0))])
}

/// Chord: five converged nodes and a sixth that joins through node 0.
#[derive(Debug)]
pub struct ChordNet;

impl Scenario for ChordNet {
    type E = chord::Chord<u32>;

    fn build(input: &mut Input<'_>) -> Setup<Self::E> {
        let seed = u64::from(input.byte());
        let config = Arc::new(chord::Config {
            successors: 3,
            max_lookups: 8,
            ..chord::Config::default()
        });
        let converged = chord::Chord::converged_network(config.clone(), seed, &ring(NODES - 1));
        let me = chord::Node {
            id: newcomer_id(),
            addr: NODES - 1,
        };
        let newcomer = chord::Chord::new(config, me, seed);
        with_newcomer(converged, |c| c.local().addr, newcomer)
    }

    fn command(input: &mut Input<'_>, _node: u32, n: u32) -> chord::Command<u32> {
        ring_command(input, n)
    }
}

/// Pastry (b, leaf set and prefix or suffix mode chosen by the first input byte): five
/// converged nodes and a sixth that joins through node 0.
#[derive(Debug)]
pub struct PastryNet;

impl Scenario for PastryNet {
    type E = pastry::Pastry<u32>;

    fn build(input: &mut Input<'_>) -> Setup<Self::E> {
        let setup = input.byte();
        let config = Arc::new(pastry::Config {
            b: [1, 2, 4, 8][usize::from(setup % 4)],
            leaf_set: 4,
            neighbourhood: 4,
            suffix: setup & 4 != 0,
            max_lookups: 8,
            ..pastry::Config::default()
        });
        let seed = u64::from(setup >> 3);
        let converged = pastry::Pastry::converged_network(config.clone(), seed, &ring(NODES - 1));
        let newcomer = pastry::Pastry::new(config, newcomer_id(), NODES - 1, seed);
        with_newcomer(converged, |p| p.local().addr, newcomer)
    }

    fn command(input: &mut Input<'_>, _node: u32, n: u32) -> pastry::Command<u32> {
        ring_command(input, n)
    }
}

/// CAN (dimensions 1 to 4, from the first input byte): five converged nodes and a sixth
/// that joins through node 0.
#[derive(Debug)]
pub struct CanNet;

impl Scenario for CanNet {
    type E = can::Can<u32>;

    fn build(input: &mut Input<'_>) -> Setup<Self::E> {
        let setup = input.byte();
        let config = Arc::new(can::Config {
            dims: usize::from(setup % 4) + 1,
            max_lookups: 8,
            ..can::Config::default()
        });
        let seed = u64::from(setup >> 2);
        let addrs: Vec<u32> = (0..NODES - 1).collect();
        let converged = can::Can::converged_network(config.clone(), seed, &addrs);
        let newcomer = can::Can::new(config, NODES - 1, false, seed);
        with_newcomer(converged, can::Can::local, newcomer)
    }

    fn command(input: &mut Input<'_>, _node: u32, n: u32) -> can::Command<u32> {
        ring_command(input, n)
    }
}

/// Freenet: six nodes in a ring (two routing entries each side), small datastores.
#[derive(Debug)]
pub struct FreenetNet;

impl Scenario for FreenetNet {
    type E = freenet::Freenet<u32>;

    fn build(input: &mut Input<'_>) -> Setup<Self::E> {
        let seed = u64::from(input.byte());
        let config = freenet::Config {
            store_items: 8,
            store_bytes: 8 * 1024,
            routing_entries: 8,
            max_pending: 8,
            seen_ids: 32,
            max_tries: 4,
            hop_timeout: secs(2),
            default_htl: 10,
            source_reset_permille: 300,
            max_data: 2048,
        };
        let first = vec![(
            1,
            freenet::Command::Insert {
                key: Key256::hash(&[1]),
                data: b"blue train".to_vec(),
                htl: None,
            },
        )];
        (freenet::ring(NODES, 2, &config, seed), first)
    }

    fn command(input: &mut Input<'_>, _node: u32, _n: u32) -> freenet::Command {
        let key = key(input);
        let htl = match input.u16() {
            0 => None,
            h => Some(h),
        };
        if input.flag() {
            freenet::Command::Request { key, htl }
        } else {
            let len = usize::from(input.u16()) % 4096;
            freenet::Command::Insert {
                key,
                data: vec![input.byte(); len],
                htl,
            }
        }
    }

    fn extra(input: &mut Input<'_>, net: &mut VNet<Self::E>) {
        let n = net.len() as u32;
        let node = u32::from(input.byte()) % n;
        let other = sender(input.byte(), node, n);
        net.poke(node, |e, now| {
            if input.flag() {
                let k = key(input);
                e.add_route(k, other);
            } else {
                e.handle_peer(now, other, PeerEvent::Disconnected);
            }
        });
    }
}
