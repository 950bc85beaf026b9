//! Kademlia in virtual time: exact closest sets, records, providers, joins and failures.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

#[allow(dead_code, reason = "each test file uses part of the shared helpers")]
#[path = "support/kademlia.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weft_core::id::Key256;
use weft_overlay::kademlia::{
    Body, Command, Config, Contact, Event, KadKey, Kademlia, Message, QueryResult,
};
use weft_overlay::{Engine, Time};

use support::{Net, converged, quiet_config};
use weft_vnet::{VNet, ids};

fn finished(
    net: &Net,
    id: weft_overlay::QueryId,
    node: u32,
) -> Option<(QueryResult<u64, u32>, u32)> {
    net.events().iter().find_map(
        |(
            i,
            Event::QueryFinished {
                id: q,
                result,
                stats,
            },
        )| { (*i == node && *q == id).then(|| (result.clone(), stats.hops)) },
    )
}

fn run_query(net: &mut Net, node: u32, cmd: Command<u64>) -> (QueryResult<u64, u32>, u32) {
    let id = net.query(node, cmd);
    net.run_until(Duration::from_secs(600), |ev| {
        ev.iter()
            .any(|(i, Event::QueryFinished { id: q, .. })| *i == node && *q == id)
    });
    finished(net, id, node).expect("query finished")
}

fn true_closest(nodes: &[(u64, u32)], target: u64, k: usize) -> Vec<u64> {
    let mut v: Vec<u64> = nodes.iter().map(|(key, _)| *key).collect();
    v.sort_by_key(|key| key ^ target);
    v.truncate(k);
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// In a static network the lookup returns exactly the k closest nodes that exist.
    #[test]
    fn find_node_returns_true_k_closest(seed in any::<u64>(), n in 30usize..300, k in 4usize..21) {
        let (mut net, nodes) = converged(seed, n, Config { k, ..quiet_config() });
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 1);
        for _ in 0..5 {
            let target: u64 = rng.random();
            let from = rng.random_range(0..nodes.len()) as u32;
            let (result, _) = run_query(&mut net, from, Command::FindNode(target));
            let QueryResult::FindNode(Ok(found)) = result else { panic!("{result:?}") };
            let got: Vec<u64> = found.iter().map(|c| c.key).collect();
            // the querying node itself is never among the results
            let others: Vec<(u64, u32)> =
                nodes.iter().copied().filter(|(key, _)| *key != nodes[from as usize].0).collect();
            prop_assert_eq!(got, true_closest(&others, target, k));
        }
    }
}

#[test]
fn hops_grow_slowly_with_network_size() {
    for n in [100usize, 1000, 4000] {
        let (mut net, nodes) = converged(7, n, quiet_config());
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let lookups = 40;
        let mut hops = 0u32;
        let mut requests = 0u32;
        for _ in 0..lookups {
            let from = rng.random_range(0..nodes.len()) as u32;
            let id = net.query(from, Command::FindNode(rng.random()));
            net.run_until(Duration::from_secs(600), |ev| {
                ev.iter()
                    .any(|(i, Event::QueryFinished { id: q, .. })| *i == from && *q == id)
            });
            let Some((_, Event::QueryFinished { result, stats, .. })) = net
                .events()
                .iter()
                .find(|(i, Event::QueryFinished { id: q, .. })| *i == from && *q == id)
            else {
                panic!("unfinished")
            };
            assert!(result.is_success());
            hops += stats.hops;
            requests += stats.messages;
        }
        let mean = f64::from(hops) / f64::from(lookups);
        let msgs = f64::from(requests) / f64::from(lookups);
        let log2n = (n as f64).log2();
        println!(
            "kademlia N={n}: mean hops {mean:.2}, requests/lookup {msgs:.1}, log2 N = {log2n:.1}"
        );
        // literature: O(log N) sequential steps, fewer with k-wide buckets
        assert!(
            mean >= 1.0 && mean <= log2n / 2.0 + 1.0,
            "mean hops {mean} at N={n}"
        );
        // alpha-wide steps plus the final round over the k closest
        assert!(
            msgs >= 20.0 && msgs <= 3.0 * log2n + 40.0,
            "requests {msgs} at N={n}"
        );
    }
}

#[test]
fn records_and_providers_round_trip() {
    let (mut net, nodes) = converged(11, 200, quiet_config());
    let key = u64::from_key256(&Key256::hash(b"song.ogg"));
    let expiry = Time::ZERO + Duration::from_secs(3600);
    let (put, _) = run_query(
        &mut net,
        3,
        Command::PutRecord {
            key,
            value: b"hello".to_vec(),
            expiry,
        },
    );
    assert_eq!(
        put,
        QueryResult::PutRecord(Ok(20)),
        "stored on the k closest"
    );
    let holders = net
        .live_indices()
        .iter()
        .filter(|i| net.engine(**i).unwrap().stored_counts().0 > 0)
        .count();
    assert_eq!(holders, 21, "k closest plus the publisher");
    let (got, hops) = run_query(&mut net, 150, Command::GetRecord(key));
    assert_eq!(got, QueryResult::GetRecord(Ok(b"hello".to_vec())));
    assert!(hops >= 1);
    let (missing, _) = run_query(&mut net, 150, Command::GetRecord(key ^ 1));
    assert!(!missing.is_success());

    let (added, _) = run_query(&mut net, 7, Command::AddProvider(key));
    assert_eq!(added, QueryResult::AddProvider(Ok(20)));
    net.run_for(Duration::from_secs(1));
    let (providers, _) = run_query(&mut net, 99, Command::GetProviders(key));
    let provider = Contact {
        key: nodes[7].0,
        addr: 7,
    };
    assert_eq!(providers, QueryResult::GetProviders(Ok(vec![provider])));

    // records stored for others expire; the driver's clock passes the expiry
    net.run_for(Duration::from_secs(3700));
    for i in net.live_indices() {
        net.poke(i, |e, now| e.handle_timeout(now));
    }
    let (gone, _) = run_query(&mut net, 150, Command::GetRecord(key));
    assert!(!gone.is_success(), "expired record still served: {gone:?}");
}

#[test]
fn nodes_join_through_one_bootstrap_node() {
    let config = Arc::new(quiet_config());
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut net: VNet<Kademlia<Key256, u32>> = VNet::uniform(5, (5, 50));
    let first = Key256::hash(b"node 0");
    net.add(Kademlia::new(
        config.clone(),
        Contact {
            key: first,
            addr: 0,
        },
        1,
    ));
    let n = 60u32;
    for i in 1..n {
        let key = Key256::hash(&rng.random::<u64>().to_be_bytes());
        let a = net.add(Kademlia::new(config.clone(), Contact { key, addr: i }, 1));
        net.poke(a, |e, now| e.add_peer(now, first, 0));
        net.command(a, Command::Bootstrap);
        net.run_for(Duration::from_secs(5));
    }
    let boots = net
        .events()
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                Event::QueryFinished {
                    result: QueryResult::Bootstrap(Ok(_)),
                    ..
                }
            )
        })
        .count();
    assert_eq!(boots, n as usize - 1);
    let mean_state: f64 = net
        .live_indices()
        .iter()
        .map(|i| net.engine(*i).unwrap().state_size() as f64)
        .sum::<f64>()
        / f64::from(n);
    println!("kademlia joined {n} nodes: mean contacts {mean_state:.1}");
    assert!(mean_state > 10.0);
    // every node can find every other node
    for (from, to) in [(3u32, 50u32), (59, 1), (0, 42)] {
        let target = net.engine(to).unwrap().local().key;
        let id = net.query(from, Command::FindNode(target));
        net.run_for(Duration::from_secs(60));
        let found = net.events().iter().any(|(i, e)| match e {
            Event::QueryFinished {
                id: q,
                result: QueryResult::FindNode(Ok(c)),
                ..
            } => *i == from && *q == id && c.first().map(|c| c.key) == Some(target),
            _ => false,
        });
        assert!(found, "{from} did not find {to}");
    }
}

#[test]
fn lookups_survive_crashed_peers_through_timeouts() {
    let (mut net, nodes) = converged(13, 300, quiet_config());
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    for _ in 0..60 {
        let i = rng.random_range(1..nodes.len()) as u32;
        net.crash(i);
    }
    let alive: Vec<(u64, u32)> = net
        .live_indices()
        .iter()
        .map(|i| nodes[*i as usize])
        .collect();
    let mut exact = 0;
    for _ in 0..10 {
        let target: u64 = rng.random();
        let (result, _) = run_query(&mut net, 0, Command::FindNode(target));
        let QueryResult::FindNode(Ok(found)) = result else {
            panic!("{result:?}")
        };
        let got: Vec<u64> = found.iter().map(|c| c.key).collect();
        let others: Vec<(u64, u32)> = alive.iter().copied().filter(|(_, a)| *a != 0).collect();
        exact += usize::from(got == true_closest(&others, target, 20));
    }
    assert!(
        net.counters().undeliverable > 0,
        "some requests went to dead nodes"
    );
    assert!(
        exact >= 9,
        "only {exact}/10 lookups found the live k closest"
    );
}

#[test]
fn full_bucket_evicts_a_dead_contact_after_a_ping() {
    let config = Arc::new(Config {
        k: 1,
        ..quiet_config()
    });
    let mut net: VNet<Kademlia<u64, u32>> = VNet::uniform(1, (10, 10));
    net.add(Kademlia::new(
        config.clone(),
        Contact { key: 0, addr: 0 },
        1,
    ));
    net.add(Kademlia::new(
        config.clone(),
        Contact {
            key: 1 << 63,
            addr: 1,
        },
        1,
    ));
    net.add(Kademlia::new(
        config.clone(),
        Contact {
            key: (1 << 63) | 1,
            addr: 2,
        },
        1,
    ));
    net.poke(0, |e, now| e.add_peer(now, 1 << 63, 1));
    net.crash(1);
    net.poke(0, |e, now| e.add_peer(now, (1 << 63) | 1, 2));
    assert_eq!(
        net.engine(0).unwrap().contacts().next().unwrap().addr,
        1,
        "kept until the ping fails"
    );
    net.run_for(Duration::from_secs(30));
    let now: Vec<u32> = net.engine(0).unwrap().contacts().map(|c| c.addr).collect();
    assert_eq!(now, vec![2]);
}

#[test]
fn oversized_replies_are_refused() {
    let mut e: Kademlia<u64, u32> =
        Kademlia::new(Arc::new(quiet_config()), Contact { key: 0, addr: 0 }, 1);
    e.add_peer(Time::ZERO, 5, 5);
    e.handle_command(Time::ZERO, Command::FindNode(9));
    let (_, req) = e.poll_transmit().unwrap();
    let Body::FindNode { req, .. } = req.body else {
        panic!()
    };
    let closer = (0..100)
        .map(|i| Contact {
            key: 100 + i,
            addr: 100 + i as u32,
        })
        .collect();
    let msg = Message {
        sender: 5,
        body: Body::Nodes { req, closer },
    };
    assert!(msg.validate(20).is_err());
    e.handle_message(Time::ZERO, 5, msg);
    assert_eq!(
        e.poll_transmit(),
        None,
        "no peer from the bad reply is contacted"
    );
    let Some(Event::QueryFinished { result, .. }) = e.poll_event() else {
        panic!("finished")
    };
    assert!(!result.is_success());
}

proptest! {
    /// Messages survive the wire codec, and garbage never panics the decoder.
    #[test]
    fn wire_round_trip(key in any::<[u8; 32]>(), req in any::<u64>(), addrs in proptest::collection::vec(any::<u32>(), 0..20), garbage in proptest::collection::vec(any::<u8>(), 0..200)) {
        let closer = addrs.iter().map(|a| Contact { key: Key256::hash(&a.to_be_bytes()), addr: *a }).collect();
        let msg: Message<Key256, u32> = Message { sender: Key256(key), body: Body::Nodes { req, closer } };
        let bytes = weft_core::wire::encode(&msg, weft_core::wire::DEFAULT_MAX_FRAME).unwrap();
        let back: Message<Key256, u32> = weft_core::wire::decode(&bytes, weft_core::wire::DEFAULT_MAX_FRAME).unwrap();
        prop_assert_eq!(back, msg);
        let _ = weft_core::wire::decode::<Message<Key256, u32>>(&garbage, weft_core::wire::DEFAULT_MAX_FRAME);
    }
}

#[test]
fn converged_memory_per_node() {
    let nodes = ids(1, 20_000);
    let config = Arc::new(quiet_config());
    let sample: Vec<Kademlia<u64, u32>> = (0..200)
        .map(|i| Kademlia::converged(config.clone(), 1, i * 100, &nodes))
        .collect();
    let bytes: usize = sample.iter().map(Kademlia::memory_bytes).sum::<usize>() / sample.len();
    let state: usize = sample.iter().map(Kademlia::state_size).sum::<usize>() / sample.len();
    println!(
        "kademlia<u64,u32> N=20000: size_of {} B, mean {bytes} B/node, mean state {state} contacts",
        size_of::<Kademlia<u64, u32>>()
    );
    // log2(20000/20) ≈ 10 full buckets of 20, plus the sparse near ones
    assert!((180..320).contains(&state), "state {state}");
    assert!(bytes < 16 * state + 1024);
}

/// A node that stops providing a key is no longer named for it: it drops its own entry at
/// once, and once the copies on other nodes expire they are not renewed, because it stopped
/// republishing. A key still provided is republished and found all along.
#[test]
fn a_key_no_longer_provided_is_not_republished() {
    let config = Config {
        refresh_interval: None,
        republish_interval: Some(Duration::from_secs(600)),
        provider_ttl: Duration::from_secs(1800),
        ..Config::default()
    };
    let (mut net, _) = converged(13, 100, config);
    let kept = u64::from_key256(&Key256::hash(b"kept.flac"));
    let gone = u64::from_key256(&Key256::hash(b"edited.flac"));
    for key in [kept, gone] {
        let (added, _) = run_query(&mut net, 7, Command::AddProvider(key));
        assert!(added.is_success(), "{added:?}");
    }
    let provider_keys = |net: &Net| net.engine(7).unwrap().stored_counts().1;
    let before = provider_keys(&net);
    net.poke(7, |e, _| e.stop_providing(&gone));
    assert_eq!(provider_keys(&net), before - 1, "its own entry is gone");
    // Past the provider TTL: only what was republished is left.
    net.run_for(Duration::from_secs(2400));
    let named = |net: &mut Net, key| {
        let (r, _) = run_query(net, 50, Command::GetProviders(key));
        matches!(r, QueryResult::GetProviders(Ok(p)) if p.iter().any(|c| c.addr == 7))
    };
    assert!(named(&mut net, kept), "the kept key is republished");
    assert!(!named(&mut net, gone), "the withdrawn key was republished");
}
