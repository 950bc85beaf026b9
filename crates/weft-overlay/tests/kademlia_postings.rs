//! Kademlia postings in virtual time: stored on the k closest, found from any node, merged
//! from several publishers, withdrawn, expired, republished, and bounded under a hostile
//! publisher.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]

#[allow(dead_code, reason = "each test file uses part of the shared helpers")]
#[path = "support/kademlia.rs"]
mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weft_overlay::kademlia::{
    Body, Command, Config, Contact, Event, FoundPostings, Kademlia, MAX_POSTING_LEN,
    MAX_POSTINGS_PER_STORE, Message, Posting, PostingValue, QueryError, QueryResult,
};
use weft_overlay::{Engine, Time};

use support::{Net, converged, quiet_config};

fn run_query(net: &mut Net, node: u32, cmd: Command<u64>) -> QueryResult<u64, u32> {
    let id = net.query(node, cmd);
    net.run_until(Duration::from_secs(600), |ev| {
        ev.iter()
            .any(|(i, Event::QueryFinished { id: q, .. })| *i == node && *q == id)
    });
    net.events()
        .iter()
        .find_map(|(i, Event::QueryFinished { id: q, result, .. })| {
            (*i == node && *q == id).then(|| result.clone())
        })
        .expect("query finished")
}

fn value(id: u32, text: &str) -> PostingValue {
    PostingValue {
        id,
        value: text.as_bytes().to_vec(),
    }
}

/// `(publisher key, id, value)` of every posting, sorted.
fn flat(postings: &[Posting<u64, u32>]) -> Vec<(u64, u32, Vec<u8>)> {
    let mut v: Vec<_> = postings
        .iter()
        .map(|p| (p.publisher.key, p.id, p.value.clone()))
        .collect();
    v.sort();
    v
}

fn holders(net: &Net) -> BTreeSet<u32> {
    net.live_indices()
        .into_iter()
        .filter(|i| net.engine(*i).unwrap().posting_counts().0 > 0)
        .collect()
}

fn true_closest(nodes: &[(u64, u32)], target: u64, k: usize) -> BTreeSet<u32> {
    let mut v = nodes.to_vec();
    v.sort_by_key(|(key, _)| key ^ target);
    v.into_iter().take(k).map(|(_, a)| a).collect()
}

#[test]
fn postings_are_stored_at_the_k_closest_and_found_from_anywhere() {
    let (mut net, nodes) = converged(21, 300, quiet_config());
    let key: u64 = 0x5eed_1234_5678_9abc;
    let put = run_query(
        &mut net,
        3,
        Command::PutPostings {
            key,
            values: vec![value(1, "blue train"), value(2, "giant steps")],
        },
    );
    assert_eq!(put, QueryResult::PutPostings(Ok(20)));
    let others: Vec<(u64, u32)> = nodes.iter().copied().filter(|(_, a)| *a != 3).collect();
    let mut expected = true_closest(&others, key, 20);
    expected.insert(3);
    assert_eq!(holders(&net), expected, "the k closest plus the publisher");

    for from in [0u32, 77, 150, 299] {
        let QueryResult::GetPostings(Ok(FoundPostings {
            postings: found, ..
        })) = run_query(&mut net, from, Command::GetPostings(key))
        else {
            panic!("not found from {from}")
        };
        assert_eq!(
            flat(&found),
            vec![
                (nodes[3].0, 1, b"blue train".to_vec()),
                (nodes[3].0, 2, b"giant steps".to_vec())
            ]
        );
        assert!(found.iter().all(|p| p.publisher.addr == 3));
    }
    let missing = run_query(&mut net, 8, Command::GetPostings(key ^ 1));
    assert_eq!(missing, QueryResult::GetPostings(Err(QueryError::NotFound)));
}

#[test]
fn withdrawal_and_replacement_reach_every_holder() {
    let (mut net, _) = converged(22, 150, quiet_config());
    let key = 77u64;
    run_query(
        &mut net,
        5,
        Command::PutPostings {
            key,
            values: vec![value(1, "a"), value(2, "b")],
        },
    );
    run_query(
        &mut net,
        5,
        Command::PutPostings {
            key,
            values: vec![value(3, "c")],
        },
    );
    let QueryResult::GetPostings(Ok(FoundPostings {
        postings: found, ..
    })) = run_query(&mut net, 40, Command::GetPostings(key))
    else {
        panic!()
    };
    assert_eq!(
        found.len(),
        1,
        "the new set replaced the old one: {found:?}"
    );
    assert_eq!(found[0].value, b"c");
    let put = run_query(
        &mut net,
        5,
        Command::PutPostings {
            key,
            values: Vec::new(),
        },
    );
    assert!(put.is_success(), "{put:?}");
    assert!(holders(&net).is_empty(), "withdrawn everywhere");
    assert!(!run_query(&mut net, 40, Command::GetPostings(key)).is_success());
}

#[test]
fn postings_expire_unless_republished() {
    let config = Config {
        refresh_interval: None,
        republish_interval: Some(Duration::from_secs(3600)),
        posting_ttl: Duration::from_secs(3 * 3600),
        ..Config::default()
    };
    let (mut net, _) = converged(23, 120, config);
    let (kept, dropped) = (1000u64, 2000u64);
    run_query(
        &mut net,
        10,
        Command::PutPostings {
            key: kept,
            values: vec![value(1, "stays")],
        },
    );
    run_query(
        &mut net,
        11,
        Command::PutPostings {
            key: dropped,
            values: vec![value(1, "goes")],
        },
    );
    // the second publisher dies: nobody republishes its postings
    net.crash(11);
    net.run_for(Duration::from_secs(8 * 3600));
    let QueryResult::GetPostings(Ok(FoundPostings {
        postings: found, ..
    })) = run_query(&mut net, 50, Command::GetPostings(kept))
    else {
        panic!("republished postings lost")
    };
    assert_eq!(found[0].value, b"stays");
    assert_eq!(
        run_query(&mut net, 50, Command::GetPostings(dropped)),
        QueryResult::GetPostings(Err(QueryError::NotFound)),
        "expired postings are still served"
    );
    let holding_dropped = net
        .live_indices()
        .into_iter()
        .filter(|i| {
            !net.engine(*i)
                .unwrap()
                .local_postings(&dropped, net.now())
                .is_empty()
        })
        .count();
    assert_eq!(holding_dropped, 0);
}

#[test]
fn republishing_many_keys_never_takes_every_query_slot() {
    let config = Config {
        refresh_interval: None,
        republish_interval: Some(Duration::from_secs(3600)),
        max_queries: 8,
        posting_ttl: Duration::from_secs(2 * 3600),
        ..Config::default()
    };
    let (mut net, _) = converged(24, 100, config);
    for key in 0..40u64 {
        net.command(
            4,
            Command::PutPostings {
                key: key << 40,
                values: vec![value(1, "x")],
            },
        );
        net.run_for(Duration::from_secs(5));
    }
    // long past the postings' life: every key was republished through 4 query slots, and a
    // user query still runs meanwhile
    net.run_for(Duration::from_secs(5 * 3600));
    for key in [0u64, 13, 39] {
        let r = run_query(&mut net, 4, Command::FindNode(key));
        assert!(r.is_success());
        let r = run_query(&mut net, 60, Command::GetPostings(key << 40));
        assert!(r.is_success(), "key {key}: {r:?}");
    }
}

#[test]
fn republishing_many_records_and_provided_keys_keeps_every_one() {
    // More of them than query slots: each republish round goes through the slots in turn
    // (before the fix, those beyond `max_queries` were refused and silently lost).
    let config = Config {
        refresh_interval: None,
        republish_interval: Some(Duration::from_secs(3600)),
        max_queries: 8,
        provider_ttl: Duration::from_secs(2 * 3600),
        max_ttl: Duration::from_secs(2 * 3600),
        ..Config::default()
    };
    let (mut net, nodes) = converged(25, 100, config);
    let me = nodes.iter().find(|(_, a)| *a == 4).unwrap().0;
    // Keys spread over the id space (most far from the publisher, which therefore is not
    // asked in the lookups).
    let spread = |k: u64, kind: u64| (k * 2 + kind).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for key in 0..30u64 {
        net.command(4, Command::AddProvider(spread(key, 0)));
        net.command(
            4,
            Command::PutRecord {
                key: spread(key, 1),
                value: vec![key as u8],
                expiry: Time::ZERO + Duration::from_secs(20 * 3600),
            },
        );
        net.run_for(Duration::from_secs(5));
    }
    // Long past the first copies' life (2 h): only republished copies are left.
    net.run_for(Duration::from_secs(5 * 3600));
    for key in 0..30u64 {
        let r = run_query(&mut net, 60, Command::GetProviders(spread(key, 0)));
        let QueryResult::GetProviders(Ok(providers)) = r else {
            panic!("key {key}: {r:?}")
        };
        assert!(
            providers.iter().any(|c| c.key == me),
            "key {key}: {providers:?}"
        );
        let r = run_query(&mut net, 60, Command::GetRecord(spread(key, 1)));
        assert!(
            matches!(&r, QueryResult::GetRecord(Ok(v)) if v == &vec![key as u8]),
            "key {key}: {r:?}"
        );
    }
}

/// One engine with one contact, and a helper to hand it raw messages.
fn lone() -> Kademlia<u64, u32> {
    let config = Config {
        max_postings_per_key: 16,
        max_postings_per_publisher: 8,
        max_postings: 40,
        ..quiet_config()
    };
    let mut e = Kademlia::new(Arc::new(config), Contact { key: 0, addr: 0 }, 1);
    e.add_peer(Time::ZERO, 1, 1);
    e
}

fn store(e: &mut Kademlia<u64, u32>, from: u32, key: u64, values: Vec<PostingValue>) -> bool {
    e.handle_message(
        Time::ZERO,
        from,
        Message {
            sender: u64::from(from),
            body: Body::StorePostings {
                req: 9,
                key,
                ttl_secs: u64::MAX,
                values,
            },
        },
    );
    let mut acked = None;
    while let Some((to, m)) = e.poll_transmit() {
        if let (true, Body::PutAck { stored, .. }) = (to == from, m.body) {
            acked = Some(stored);
        }
    }
    acked.unwrap_or(false)
}

fn count_of(e: &Kademlia<u64, u32>, key: u64, publisher: u64) -> usize {
    e.local_postings(&key, Time::ZERO)
        .iter()
        .filter(|g| g.publisher.key == publisher)
        .map(|g| g.values.len())
        .sum()
}

#[test]
fn a_hostile_publisher_cannot_break_the_bounds() {
    let mut e = lone();
    // oversize values and oversize sets are refused outright, without an answer
    assert!(!store(
        &mut e,
        66,
        1,
        vec![PostingValue {
            id: 1,
            value: vec![0; MAX_POSTING_LEN + 1]
        }]
    ));
    let too_many: Vec<PostingValue> = (0..=MAX_POSTINGS_PER_STORE as u32)
        .map(|i| value(i, "x"))
        .collect();
    assert!(!store(&mut e, 66, 1, too_many));
    assert_eq!(e.posting_counts(), (0, 0));

    // an honest publisher posts one value; Sybil publishers flood the key
    assert!(store(&mut e, 5, 1, vec![value(1, "honest")]));
    for sybil in 100..140u32 {
        let set: Vec<PostingValue> = (0..8).map(|i| value(i, "spam")).collect();
        store(&mut e, sybil, 1, set);
        let held: usize = e
            .local_postings(&1, Time::ZERO)
            .iter()
            .map(|g| g.values.len())
            .sum();
        assert!(held <= 16, "{held} values under one key");
        assert!(e.posting_counts().1 <= 40);
        for g in e.local_postings(&1, Time::ZERO) {
            assert!(g.values.len() <= 8);
        }
        assert_eq!(count_of(&e, 1, 5), 1, "the honest value was evicted");
    }
    // other keys: the total bound holds
    for key in 2..20u64 {
        let set: Vec<PostingValue> = (0..8).map(|i| value(i, "spam")).collect();
        store(&mut e, 66, key, set);
        assert!(e.posting_counts().1 <= 40);
    }
    // the publisher is always the sender: a set stored by 66 is 66's, whatever it holds
    for g in e.local_postings(&2, Time::ZERO) {
        assert_eq!(g.publisher, Contact { key: 66, addr: 66 });
    }
}

#[test]
fn oversized_posting_replies_are_refused() {
    let mut e = lone();
    e.handle_command(Time::ZERO, Command::GetPostings(9));
    let (_, m) = e.poll_transmit().unwrap();
    let Body::GetPostings { req, .. } = m.body else {
        panic!("{m:?}")
    };
    let big = weft_overlay::kademlia::PublisherPostings {
        publisher: Contact { key: 1, addr: 1 },
        values: vec![PostingValue {
            id: 0,
            value: vec![1; MAX_POSTING_LEN + 1],
        }],
    };
    let msg = Message {
        sender: 1,
        body: Body::Postings {
            req,
            postings: vec![big],
            closer: Vec::new(),
            more: false,
        },
    };
    assert!(msg.validate(20).is_err());
    e.handle_message(Time::ZERO, 1, msg);
    let Some(Event::QueryFinished { result, .. }) = e.poll_event() else {
        panic!("finished")
    };
    assert_eq!(result, QueryResult::GetPostings(Err(QueryError::NotFound)));
}

#[test]
fn commands_over_the_bounds_are_refused() {
    let mut e = lone();
    let too_long = vec![PostingValue {
        id: 0,
        value: vec![0; MAX_POSTING_LEN + 1],
    }];
    for values in [too_long, (0..9).map(|i| value(i, "x")).collect()] {
        e.handle_command(Time::ZERO, Command::PutPostings { key: 1, values });
        let Some(Event::QueryFinished { result, .. }) = e.poll_event() else {
            panic!()
        };
        assert!(!result.is_success());
    }
    assert_eq!(e.poll_transmit(), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// Several publishers post under one key; a lookup from any node returns every posting,
    /// each tagged with its real publisher.
    #[test]
    fn any_node_gets_every_posting(seed in any::<u64>(), n in 40usize..200, publishers in 1usize..6) {
        let (mut net, nodes) = converged(seed, n, quiet_config());
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 7);
        let key: u64 = rng.random();
        let mut expected = Vec::new();
        let mut chosen = BTreeSet::new();
        while chosen.len() < publishers {
            chosen.insert(rng.random_range(0..nodes.len()) as u32);
        }
        for p in &chosen {
            let values: Vec<PostingValue> = (0..rng.random_range(1..4u32))
                .map(|i| value(i, &format!("from {p} #{i}")))
                .collect();
            for v in &values {
                expected.push((nodes[*p as usize].0, v.id, v.value.clone()));
            }
            let r = run_query(&mut net, *p, Command::PutPostings { key, values });
            prop_assert!(r.is_success(), "{:?}", r);
        }
        expected.sort();
        for _ in 0..3 {
            let from = rng.random_range(0..nodes.len()) as u32;
            let r = run_query(&mut net, from, Command::GetPostings(key));
            let QueryResult::GetPostings(Ok(FoundPostings { postings: found, .. })) = r else { panic!("{r:?}") };
            prop_assert_eq!(flat(&found), expected.clone());
            for p in &found {
                prop_assert_eq!(nodes[p.publisher.addr as usize].0, p.publisher.key);
            }
        }
    }
}
