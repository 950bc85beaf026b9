//! Directory engine: a server and clients in virtual time; ranking by observed peers; bounds
//! and disconnects as properties.

use std::collections::BTreeSet;
use std::time::Duration;

use proptest::prelude::*;
use weft_core::id::Key256;
use weft_overlay::directory::{
    Command, Config, Directory, Event, Hit, Item, Message, Refusal, Role,
};
use weft_overlay::{Engine, PeerEvent, QueryId, Time};
use weft_vnet::VNet;

/// Node 0 is the server, the others clients, on the one virtual network (`weft_vnet`): a
/// message to or from client `i` takes `latency[i]` of virtual time.
struct Net {
    net: VNet<Directory<u32>>,
}

impl std::ops::Deref for Net {
    type Target = VNet<Directory<u32>>;
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
    fn new(clients: u32, config: &Config, latency: impl Fn(u32) -> Duration) -> Self {
        let mut net = VNet::uniform(0, (0, 0));
        let latency: Vec<Duration> = (0..=clients).map(latency).collect();
        net.set_link_latency(Box::new(move |from, to| {
            let client = if from == 0 { to } else { from };
            latency.get(client as usize).copied().unwrap_or_default()
        }));
        net.add(Directory::new(0, Role::Server, config.clone()));
        for i in 1..=clients {
            net.add(Directory::new(i, Role::Client(0), config.clone()));
        }
        let mut net = Net { net };
        for i in 1..=clients {
            net.connect(i);
        }
        net
    }

    fn node(&self, i: u32) -> &Directory<u32> {
        self.net.engine(i).expect("directory nodes never leave")
    }

    fn peer_event(&mut self, i: u32, event: PeerEvent) {
        self.net
            .poke(0, |e, now| e.handle_peer(now, i, event))
            .expect("the server is up");
        self.net
            .poke(i, |e, now| e.handle_peer(now, 0, event))
            .expect("the client is up");
    }

    fn connect(&mut self, i: u32) {
        self.peer_event(i, PeerEvent::Connected);
    }

    fn disconnect(&mut self, i: u32) {
        self.peer_event(i, PeerEvent::Disconnected);
    }

    /// Runs until `until`, delivering messages and firing timers in time order.
    fn run_to(&mut self, until: Time) {
        let d = until.saturating_since(self.net.now());
        self.net.run_for(d);
    }

    fn settle(&mut self) {
        self.net.run_for(Duration::from_secs(1));
        assert_eq!(self.net.stuck_timers(), 0);
    }

    fn results(&self, node: u32, id: QueryId) -> Option<&Vec<Hit<u32>>> {
        self.events().iter().find_map(|(n, e)| match e {
            Event::Results { id: i, hits, .. } if *n == node && *i == id => Some(hits),
            _ => None,
        })
    }

    /// Whether the answer to `id` said that more matched.
    fn more(&self, node: u32, id: QueryId) -> Option<bool> {
        self.events().iter().find_map(|(n, e)| match e {
            Event::Results { id: i, more, .. } if *n == node && *i == id => Some(*more),
            _ => None,
        })
    }
}

fn item(tag: &str, words: &[&str]) -> Item {
    Item {
        hash: Key256::hash(tag.as_bytes()),
        name: format!("{tag}.flac"),
        size: tag.len() as u64,
        keywords: words.iter().map(|w| w.to_string()).collect(),
    }
}

fn query(words: &[&str], max: u16) -> Command {
    Command::Query {
        keywords: words.iter().map(|w| w.to_string()).collect(),
        max,
    }
}

#[test]
fn publish_query_disconnect() {
    let mut net = Net::new(3, &Config::default(), |_| Duration::from_millis(10));
    net.command(
        1,
        Command::Publish(vec![
            item("a", &["Blue", "train"]),
            item("b", &["blue", "note"]),
        ]),
    );
    net.command(
        2,
        Command::Publish(vec![item("c", &["blue", "train", "coltrane"])]),
    );
    net.settle();
    let id = net.query(3, query(&["blue", "TRAIN"], 10));
    net.settle();
    let hits = net.results(3, id).expect("an answer");
    let peers: BTreeSet<u32> = hits.iter().map(|h| h.peer).collect();
    assert_eq!(peers, BTreeSet::from([1, 2]));
    assert_eq!(hits.len(), 2);
    let load = net.node(0).load();
    assert_eq!((load.clients, load.items, load.queries), (3, 3, 1));
    // Two messages per query (question and answer), whatever the number of users.
    assert_eq!(
        net.node(3).load().messages_out + net.node(3).load().messages_in,
        2
    );
    assert_eq!(net.node(0).client_load(&3).map(|l| l.queries), Some(1));

    // Client 2 leaves: its item goes; it comes back and re-publishes.
    net.disconnect(2);
    assert_eq!(net.node(0).load().items, 2);
    let id = net.query(3, query(&["coltrane"], 10));
    net.settle();
    assert_eq!(net.results(3, id), Some(&Vec::new()));
    net.connect(2);
    net.settle();
    let id = net.query(3, query(&["coltrane"], 10));
    net.settle();
    assert_eq!(net.results(3, id).map(Vec::len), Some(1));

    // Unpublish removes; a query to a vanished server fails.
    net.command(1, Command::Unpublish(vec![Key256::hash(b"a")]));
    net.settle();
    assert_eq!(net.node(0).load().items, 2);
    let id = net.query(3, query(&["blue"], 10));
    net.disconnect(3);
    assert!(net.events().contains(&(3, Event::QueryFailed { id })));
}

#[test]
fn an_answer_cut_by_max_says_so() {
    let mut net = Net::new(2, &Config::default(), |_| Duration::from_millis(10));
    let tags: Vec<String> = (0..5).map(|i| format!("take{i}")).collect();
    net.command(
        1,
        Command::Publish(tags.iter().map(|t| item(t, &["blue"])).collect()),
    );
    net.settle();
    let id = net.query(2, query(&["blue"], 3));
    net.settle();
    assert_eq!(net.results(2, id).map(Vec::len), Some(3));
    assert_eq!(net.more(2, id), Some(true));
    let id = net.query(2, query(&["blue"], 5));
    net.settle();
    assert_eq!(net.results(2, id).map(Vec::len), Some(5));
    assert_eq!(net.more(2, id), Some(false));
}

#[test]
fn fastest_and_longest_connected_peers_rank_first() {
    // Client i answers pings in 2 * i * 10 ms; all share the same word.
    let config = Config {
        ping_interval: Some(Duration::from_secs(30)),
        ..Config::default()
    };
    let mut net = Net::new(6, &config, |i| Duration::from_millis(10 * u64::from(i)));
    for i in 1..=5u32 {
        net.command(
            i,
            Command::Publish(vec![item(&format!("song{i}"), &["song"])]),
        );
    }
    net.run_to(Time::ZERO + Duration::from_secs(100));
    let id = net.query(6, query(&["song"], 3));
    net.settle();
    let hits = net.results(6, id).expect("an answer");
    assert_eq!(
        hits.iter().map(|h| h.peer).collect::<Vec<_>>(),
        vec![1, 2, 3],
        "fastest first, at most 3"
    );
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    let rtt = net.node(0).client_load(&5).and_then(|l| l.rtt);
    assert_eq!(rtt, Some(Duration::from_millis(100)));
    // A peer that reconnects starts its uptime again and drops behind.
    net.disconnect(1);
    net.connect(1);
    net.command(1, Command::Publish(vec![item("song1", &["song"])]));
    net.settle();
    let id = net.query(6, query(&["song"], 5));
    net.settle();
    let order: Vec<u32> = net
        .results(6, id)
        .expect("an answer")
        .iter()
        .map(|h| h.peer)
        .collect();
    assert_eq!(order.last(), Some(&1), "{order:?}");
}

#[test]
fn bounds_are_enforced_on_both_sides() {
    let config = Config {
        max_items_per_client: 3,
        ..Config::default()
    };
    let mut net = Net::new(2, &config, |_| Duration::from_millis(1));
    // Local refusals.
    let too_many: Vec<Item> = (0..4).map(|i| item(&format!("x{i}"), &["x"])).collect();
    assert_eq!(net.command(1, Command::Publish(too_many.clone())), None);
    assert!(net.events().contains(&(
        1,
        Event::Refused {
            id: None,
            reason: Refusal::Full
        }
    )));
    let long = "k".repeat(65);
    let id = net.query(1, query(&[&long], 5));
    assert!(net.events().contains(&(
        1,
        Event::Refused {
            id: Some(id),
            reason: Refusal::BadString
        }
    )));
    let id = net.query(1, query(&["a", "b", "c", "d", "e", "f", "g", "h", "i"], 5));
    assert!(net.events().contains(&(
        1,
        Event::Refused {
            id: Some(id),
            reason: Refusal::TooMany
        }
    )));
    // A hostile client sends straight to the server; what the server sends back is held.
    net.hold(16);
    net.deliver_now(2, 0, Message::Publish { items: too_many });
    net.deliver_now(
        2,
        0,
        Message::Query {
            query: 1,
            keywords: vec![long.clone()],
            max: 5,
        },
    );
    net.deliver_now(9, 0, Message::Unpublish { hashes: vec![] });
    let refusals: Vec<Message<u32>> = net
        .held()
        .filter(|(from, _, _)| *from == 0)
        .map(|(_, _, m)| m.clone())
        .collect();
    assert_eq!(
        refusals,
        vec![
            Message::Refused {
                reason: Refusal::Full
            },
            Message::Refused {
                reason: Refusal::BadString
            },
            Message::Refused {
                reason: Refusal::NotConnected
            },
        ]
    );
    assert_eq!(net.node(0).load().items, 0);
    assert_eq!(net.node(0).load().refused, 3);
}

#[test]
fn server_state_grows_linearly_with_users() {
    let mut sizes = Vec::new();
    for users in [100u32, 200, 400] {
        let mut net = Net::new(users, &Config::default(), |_| Duration::from_millis(5));
        for i in 1..=users {
            let items = (0..5)
                .map(|k| {
                    item(
                        &format!("u{i}-{k}"),
                        &["music", &format!("w{}", (i + k) % 50)],
                    )
                })
                .collect();
            net.command(i, Command::Publish(items));
        }
        net.settle();
        let before = net.node(0).load();
        for i in 1..=20 {
            net.command(i, query(&["music", &format!("w{i}")], 20));
        }
        net.settle();
        let after = net.node(0).load();
        let per_query =
            (after.messages_in + after.messages_out - before.messages_in - before.messages_out)
                / 20;
        assert_eq!(per_query, 2, "one question and one answer per query");
        sizes.push((
            users,
            net.node(0).state_size(),
            (after.scanned - before.scanned) / 20,
        ));
    }
    println!("directory: (users, server entries, postings scanned per query) = {sizes:?}");
    // Doubling the users doubles the server's state and its work per query.
    for w in sizes.windows(2) {
        assert!(w[1].1 >= w[0].1 * 19 / 10 && w[1].1 <= w[0].1 * 21 / 10);
        assert!(w[1].2 >= w[0].2 * 3 / 2);
    }
}

#[derive(Clone, Debug)]
enum Op {
    Publish(u32, Vec<(u8, Vec<u8>)>),
    Unpublish(u32, Vec<u8>),
    Disconnect(u32),
    Connect(u32),
    Query(u32, Vec<u8>, u16),
}

fn op() -> impl Strategy<Value = Op> {
    let words = || proptest::collection::vec(0u8..6, 1..4);
    prop_oneof![
        (1u32..6, proptest::collection::vec((0u8..20, words()), 1..6))
            .prop_map(|(c, i)| Op::Publish(c, i)),
        (1u32..6, proptest::collection::vec(0u8..20, 1..4)).prop_map(|(c, h)| Op::Unpublish(c, h)),
        (1u32..6).prop_map(Op::Disconnect),
        (1u32..6).prop_map(Op::Connect),
        (1u32..6, words(), 0u16..30).prop_map(|(c, w, m)| Op::Query(c, w, m)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn disconnected_clients_vanish_and_answers_stay_bounded(
        ops in proptest::collection::vec(op(), 1..40),
        max_results in 1usize..10,
    ) {
        let config = Config { max_results, ..Config::default() };
        let mut net = Net::new(5, &config, |_| Duration::from_millis(3));
        let mut connected: BTreeSet<u32> = (1..=5).collect();
        let word = |w: &u8| format!("w{w}");
        for op in ops {
            match op {
                Op::Publish(c, items) => {
                    let items = items.iter().map(|(h, ws)| Item {
                        hash: Key256::hash(&[c as u8, *h]),
                        name: format!("{c}-{h}"),
                        size: 1,
                        keywords: ws.iter().map(word).collect(),
                    }).collect();
                    net.command(c, Command::Publish(items));
                }
                Op::Unpublish(c, hs) => {
                    net.command(c, Command::Unpublish(hs.iter().map(|h| Key256::hash(&[c as u8, *h])).collect()));
                }
                Op::Disconnect(c) => {
                    net.disconnect(c);
                    connected.remove(&c);
                }
                Op::Connect(c) => {
                    net.connect(c);
                    connected.insert(c);
                }
                Op::Query(c, ws, max) => {
                    let words: Vec<String> = ws.iter().map(word).collect();
                    let id = net.query(c, Command::Query { keywords: words.clone(), max });
                    net.settle();
                    if let Some(hits) = net.results(c, id) {
                        prop_assert!(hits.len() <= usize::from(max).min(max_results));
                        for h in hits {
                            prop_assert!(connected.contains(&h.peer), "hit from a disconnected client");
                            prop_assert!(h.peer != c);
                            let shared = net.node(h.peer).shared().find(|i| i.hash == h.hash);
                            let Some(shared) = shared else { return Err(TestCaseError::fail("hit for an item not shared")) };
                            prop_assert!(words.iter().all(|w| shared.keywords.contains(w)));
                        }
                    }
                }
            }
            net.settle();
            // The server holds exactly what the connected clients share.
            let expected: usize = connected.iter().map(|c| net.node(*c).shared().count()).sum();
            prop_assert_eq!(net.node(0).load().items as usize, expected);
            for c in 1..=5u32 {
                let load = net.node(0).client_load(&c);
                prop_assert_eq!(load.is_some(), connected.contains(&c));
            }
        }
    }
}
