//! Flood engine: property tests (no GUID forwarded twice, nothing past the TTL) and
//! simulated-time tests (the paper's 2^7 = 128 receipts; ultrapeers and QRP cut messages).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weft_core::id::Key256;
use weft_overlay::flood::{
    Capacity, Command, Config, Criteria, Event, Flood, HitItem, Message, Reachability, Role,
    topology,
};
use weft_overlay::{Engine, PeerEvent, QueryId, Time};
use weft_vnet::VNet;

/// Every query message a node sent: (sender, receiver, guid, ttl, hops).
type SentQuery = (u32, u32, [u8; 16], u8, u8);

/// The one virtual network (`weft_vnet`) holding every message in a pool, delivered in FIFO
/// order (or in a random order) with the clock standing still, so timers fire only when a
/// test lets time pass ([`Net::expire`]); around it, the application: what each node can
/// answer, and what the test records.
struct Net {
    net: VNet<Flood<u32>>,
    /// Keywords each node can answer.
    content: Vec<BTreeSet<String>>,
    sent_queries: Vec<SentQuery>,
    /// Query receipts by hop count of the message received.
    receipts_by_hops: BTreeMap<u8, u64>,
    hits: Vec<(u32, QueryId, u32, u8)>,
    /// Items in each hit received, and its `more` flag, in the order of `hits`.
    hit_items: Vec<(usize, bool)>,
    done: Vec<(u32, QueryId, u32)>,
    shuffle: Option<ChaCha8Rng>,
    /// Items each node matches for a query it can answer (1 unless a test says otherwise).
    matches_per_node: usize,
}

impl Net {
    fn new(nodes: Vec<Flood<u32>>, content: Vec<BTreeSet<String>>) -> Self {
        let mut net = VNet::uniform(0, (0, 0));
        net.hold(usize::MAX);
        let mut net = Net {
            net,
            content,
            sent_queries: Vec::new(),
            receipts_by_hops: BTreeMap::new(),
            hits: Vec::new(),
            hit_items: Vec::new(),
            done: Vec::new(),
            shuffle: None,
            matches_per_node: 1,
        };
        net.after(0, |net| net.extend(nodes));
        net
    }

    fn node(&self, i: u32) -> &Flood<u32> {
        self.net.engine(i).expect("flood nodes never leave")
    }

    /// Runs `op` on the network, then records the queries it sent and answers the match
    /// requests its nodes raised, as the node's application does.
    fn after<R>(&mut self, held_before: usize, op: impl FnOnce(&mut VNet<Flood<u32>>) -> R) -> R {
        let r = op(&mut self.net);
        let mut seen = held_before;
        loop {
            for (from, to, msg) in self.net.held().skip(seen) {
                if let Message::Query {
                    guid, ttl, hops, ..
                } = msg
                {
                    self.sent_queries.push((*from, *to, guid.0, *ttl, *hops));
                }
            }
            seen = self.net.held().len();
            let events: Vec<(u32, Event<u32>)> = self.net.drain_events().collect();
            if events.is_empty() {
                return r;
            }
            for (i, ev) in events {
                self.react(i, ev);
            }
        }
    }

    fn react(&mut self, i: u32, ev: Event<u32>) {
        match ev {
            Event::MatchRequest { request, criteria } => {
                let have = &self.content[i as usize];
                let matched = if criteria.keywords.iter().all(|k| have.contains(k)) {
                    self.matches_per_node
                } else {
                    0
                };
                // As the node does: at most the query's max_items, and say whether more
                // matched.
                let sent = matched.min(usize::from(criteria.max_items.max(1)));
                let items = (0..sent)
                    .map(|k| HitItem {
                        hash: Key256::hash(&[i.to_le_bytes(), (k as u32).to_le_bytes()].concat()),
                        name: format!("file-{i}-{k}"),
                        size: 1,
                    })
                    .collect();
                let more = matched > sent;
                self.net.command(
                    i,
                    Command::Respond {
                        request,
                        items,
                        more,
                    },
                );
            }
            Event::Hit {
                id,
                responder,
                hops,
                items,
                more,
            } => {
                self.hits.push((i, id, responder, hops));
                self.hit_items.push((items.len(), more));
            }
            Event::QueryDone { id, hits } => self.done.push((i, id, hits)),
            Event::Refused { .. } | Event::RoleChanged { .. } => {}
        }
    }

    fn command(&mut self, i: u32, cmd: Command) -> Option<QueryId> {
        let held = self.net.held().len();
        self.after(held, |net| net.command(i, cmd))
    }

    /// [`Self::command`] for a query: its id.
    fn query(&mut self, i: u32, cmd: Command) -> QueryId {
        self.command(i, cmd).expect("the command is a query")
    }

    /// Tells `node` that its connection to `peer` came up.
    fn connect(&mut self, node: u32, peer: u32) {
        let held = self.net.held().len();
        self.after(held, |net| {
            net.poke(node, |e, now| {
                e.handle_peer(now, peer, PeerEvent::Connected)
            })
        });
    }

    /// Hands `msg` to `to` as if `from` had sent it.
    fn inject(&mut self, from: u32, to: u32, msg: Message<u32>) {
        let held = self.net.held().len();
        self.after(held, |net| net.deliver_now(from, to, msg));
    }

    /// Delivers held messages until none is left.
    fn run(&mut self) {
        loop {
            let n = self.net.held().len();
            if n == 0 {
                return;
            }
            let k = match &mut self.shuffle {
                Some(rng) => rng.random_range(0..n),
                None => 0,
            };
            if let Some((_, _, Message::Query { hops, .. })) = self.net.held().nth(k) {
                *self.receipts_by_hops.entry(*hops).or_default() += 1;
            }
            self.after(n - 1, |net| net.deliver_held(k));
        }
    }

    /// An hour passes: every timer due fires (queries end).
    fn expire(&mut self) {
        let held = self.net.held().len();
        self.after(held, |net| {
            net.run_for(std::time::Duration::from_secs(3600))
        });
        assert_eq!(self.net.stuck_timers(), 0);
    }

    fn query_messages(&self) -> u64 {
        self.net.live().map(|(_, n)| n.stats().queries_sent).sum()
    }
}

fn query(words: &[&str], ttl: Option<u8>) -> Command {
    query_at_most(words, ttl, 1)
}

fn query_at_most(words: &[&str], ttl: Option<u8>, max_items: u16) -> Command {
    Command::Query {
        criteria: Criteria {
            keywords: words.iter().map(|w| w.to_string()).collect(),
            hash: None,
            max_items,
        },
        ttl,
    }
}

#[test]
fn tree_of_degree_two_gives_128_receipts_at_the_last_hop() {
    // Depth 9, so the tree goes on past where TTL 7 must stop.
    let adj = topology::tree(9, 2);
    let mut totals = Vec::new();
    for ttl in 1..=7u8 {
        let nodes = topology::build(&adj, &[], &Config::default(), 7);
        let content = vec![BTreeSet::new(); adj.len()];
        let mut net = Net::new(nodes, content);
        net.command(0, query(&["blue"], Some(ttl)));
        net.run();
        // Hops counts links before the receiver: the last hop is hops = ttl - 1.
        let last = net.receipts_by_hops.get(&(ttl - 1)).copied().unwrap_or(0);
        assert_eq!(last, 1 << ttl, "ttl {ttl}: {:?}", net.receipts_by_hops);
        assert!(
            net.receipts_by_hops.keys().all(|h| *h < ttl),
            "went past ttl {ttl}"
        );
        totals.push(net.query_messages());
    }
    println!(
        "tree fanout 2: query messages by TTL 1..7 = {totals:?} (2^7 = 128 at the last hop of TTL 7)"
    );
    for (t, m) in totals.iter().enumerate() {
        assert_eq!(*m, (1u64 << (t + 2)) - 2, "messages grow as 2^(ttl+1) - 2");
    }
}

/// Content: `per_node` words out of a vocabulary of `vocab`, per node.
fn random_content(n: usize, vocab: u32, per_node: usize, seed: u64) -> Vec<BTreeSet<String>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            (0..per_node)
                .map(|_| format!("w{}", rng.random_range(0..vocab)))
                .collect()
        })
        .collect()
}

#[test]
fn ultrapeers_and_qrp_cut_messages_per_query() {
    let n = 2000u32;
    let content = random_content(n as usize, 3000, 5, 11);
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let queries: Vec<(u32, String)> = (0..40)
        .map(|_| {
            (
                rng.random_range(0..n),
                format!("w{}", rng.random_range(0..3000)),
            )
        })
        .collect();

    let run = |nodes: Vec<Flood<u32>>, leaf_tables: bool| {
        let mut net = Net::new(nodes, content.clone());
        if leaf_tables {
            for i in 0..n {
                if net.node(i).role() == Role::Leaf {
                    let words: Vec<String> = net.content[i as usize].iter().cloned().collect();
                    net.command(i, Command::SetKeywords(words));
                }
            }
            net.run();
        }
        let before = net.query_messages();
        let mut found = 0usize;
        let mut holders = 0usize;
        for (origin, word) in &queries {
            let start = net.hits.len();
            let id = net.query(*origin, query(&[word], Some(7)));
            net.run();
            let responders: BTreeSet<u32> = net.hits[start..]
                .iter()
                .filter(|h| h.1 == id && h.0 == *origin)
                .map(|h| h.2)
                .collect();
            found += responders.len();
            holders += net
                .content
                .iter()
                .enumerate()
                .filter(|(i, c)| *i as u32 != *origin && c.contains(word))
                .count();
        }
        net.expire();
        assert_eq!(net.done.len(), queries.len(), "every query reports done");
        let per_query = (net.query_messages() - before) as f64 / queries.len() as f64;
        (per_query, found, holders)
    };

    let flat = topology::build(&topology::random_graph(n, 4, 3), &[], &Config::default(), 5);
    let (flat_msgs, flat_found, holders) = run(flat, false);
    // 5% ultrapeers, each with about 57 leaf links; every leaf has 3 ultrapeers.
    let (roles, adj) = topology::two_tier(n, n / 20, 4, 3, 3);
    let tiered = topology::build(&adj, &roles, &Config::default(), 5);
    let (tier_msgs, tier_found, _) = run(tiered, true);
    let factor = flat_msgs / tier_msgs;
    println!(
        "messages per query: flat degree 4 = {flat_msgs:.0}, ultrapeers+QRP = {tier_msgs:.0}, factor {factor:.1}; \
         hits {flat_found} vs {tier_found} of {holders} holders"
    );
    assert!(
        factor > 4.0,
        "ultrapeers and QRP should cut messages per query, factor {factor}"
    );
    assert!(
        tier_found * 10 >= holders * 9,
        "two-tier finds most holders: {tier_found} of {holders}"
    );
    assert!(flat_found <= holders && tier_found <= holders);
}

#[test]
fn hits_report_the_distance_and_queries_end_on_timeout() {
    // A line 0 - 1 - 2 - 3; node 3 holds "train".
    let adj = vec![vec![1], vec![0, 2], vec![1, 3], vec![2]];
    let mut content = vec![BTreeSet::new(); 4];
    content[3].insert("train".to_string());
    let mut net = Net::new(topology::build(&adj, &[], &Config::default(), 1), content);
    let id = net.query(0, query(&["Train"], None));
    net.run();
    assert_eq!(net.hits, vec![(0, id, 3, 3)]);
    assert!(net.done.is_empty());
    net.expire();
    assert_eq!(net.done, vec![(0, id, 1)]);
    // TTL 2 does not reach node 3.
    let id = net.query(0, query(&["train"], Some(2)));
    net.run();
    net.expire();
    assert!(net.hits.iter().all(|h| h.1 != id));
    assert_eq!(net.done.last(), Some(&(0, id, 0)));
}

#[test]
fn a_cut_answer_says_so_through_every_hop() {
    // A line 0 - 1 - 2; node 2 matches 100 items.
    let adj = vec![vec![1], vec![0, 2], vec![1]];
    let mut content = vec![BTreeSet::new(); 3];
    content[2].insert("train".to_string());
    let mut net = Net::new(topology::build(&adj, &[], &Config::default(), 1), content);
    net.matches_per_node = 100;
    // Asking for 100: all of them, in hits of at most 64, none flagged.
    net.command(0, query_at_most(&["train"], None, 100));
    net.run();
    assert_eq!(net.hit_items, vec![(64, false), (36, false)]);
    // Asking for 10: ten, and the hit says more matched, after a forwarding hop.
    net.hit_items.clear();
    net.command(0, query_at_most(&["train"], None, 10));
    net.run();
    assert_eq!(net.hit_items, vec![(10, true)]);
}

#[test]
fn leaves_without_an_ultrapeer_flood_as_peers_until_one_joins() {
    // A line of leaves 0 - 1 - 2 - 3 (nodes started with the defaults, no ultrapeer among
    // them); node 3 holds "train".
    let adj = vec![vec![1], vec![0, 2], vec![1, 3], vec![2], vec![]];
    let mut roles = vec![Role::Leaf; 4];
    roles.push(Role::Ultrapeer);
    let mut content = vec![BTreeSet::new(); 5];
    content[3].insert("train".to_string());
    let mut net = Net::new(
        topology::build(&adj, &roles, &Config::default(), 1),
        content,
    );
    net.command(3, Command::SetKeywords(vec!["train".into()]));
    let id = net.query(0, query(&["train"], None));
    net.run();
    assert_eq!(
        net.hits,
        vec![(0, id, 3, 3)],
        "the query crossed two leaves"
    );

    // Ultrapeer 4 joins leaves 1 and 2 (the handshake: hellos, then their route tables).
    for leaf in [1u32, 2] {
        net.connect(leaf, 4);
        net.connect(4, leaf);
    }
    net.run();
    // Leaves 1 and 2 are shielded now and forward nothing: 0 and 3, still without an
    // ultrapeer, reach only them.
    let before = net.sent_queries.len();
    let id = net.query(0, query(&["train"], None));
    net.run();
    assert!(
        net.hits.iter().all(|h| h.1 != id),
        "leaf 1 no longer forwards"
    );
    assert_eq!(
        net.sent_queries[before..]
            .iter()
            .map(|q| (q.0, q.1))
            .collect::<Vec<_>>(),
        vec![(0, 1)]
    );
    // Leaf 2 asks its ultrapeer, which finds no matching route table on leaf 1 and sends
    // nothing on; leaf 3 is not its leaf. Once 3 joins the ultrapeer it is found through it.
    net.connect(3, 4);
    net.connect(4, 3);
    net.run();
    let id = net.query(2, query(&["train"], None));
    net.run();
    assert!(
        net.hits.contains(&(2, id, 3, 2)),
        "found through the ultrapeer: {:?}",
        net.hits
    );
}

#[test]
fn handshake_sends_the_leaf_table_and_election_follows_capacity() {
    let mut up = Flood::new(
        0u32,
        Config {
            role: Role::Ultrapeer,
            ..Config::default()
        },
        1,
    );
    let mut leaf = Flood::new(
        1u32,
        Config {
            role: Role::Leaf,
            ..Config::default()
        },
        2,
    );
    let now = Time::ZERO;
    leaf.handle_command(
        now,
        Command::SetKeywords(vec!["blue".into(), "train".into()]),
    );
    up.handle_peer(now, 1, PeerEvent::Connected);
    leaf.handle_peer(now, 0, PeerEvent::Connected);
    // Exchange until quiet.
    for _ in 0..4 {
        while let Some((to, m)) = up.poll_transmit() {
            assert_eq!(to, 1);
            leaf.handle_message(now, 0, m);
        }
        while let Some((to, m)) = leaf.poll_transmit() {
            assert_eq!(to, 0);
            up.handle_message(now, 1, m);
        }
    }
    assert_eq!(up.neighbors().collect::<Vec<_>>(), vec![(1, Role::Leaf)]);
    // The ultrapeer now forwards a matching query to the leaf and holds back one that misses.
    up.handle_command(now, query(&["train"], None));
    assert!(matches!(
        up.poll_transmit(),
        Some((1, Message::Query { .. }))
    ));
    up.handle_command(now, query(&["piano"], None));
    assert!(up.poll_transmit().is_none());
    assert_eq!(up.stats().qrp_blocked, 1);

    // A capable leaf without ultrapeers promotes itself; an incapable ultrapeer without
    // leaves steps down.
    let strong = Capacity {
        uptime: std::time::Duration::from_secs(7200),
        bandwidth_kbps: 5000,
        reachability: Reachability::Public,
    };
    let weak = Capacity {
        reachability: Reachability::Firewalled,
        ..strong
    };
    let mut lonely = Flood::new(
        5u32,
        Config {
            role: Role::Leaf,
            ..Config::default()
        },
        3,
    );
    lonely.handle_command(now, Command::SetCapacity(weak));
    assert_eq!(lonely.role(), Role::Leaf);
    lonely.handle_command(now, Command::SetCapacity(strong));
    assert_eq!(lonely.role(), Role::Ultrapeer);
    assert!(std::iter::from_fn(|| lonely.poll_event()).any(|e| e
        == Event::RoleChanged {
            role: Role::Ultrapeer
        }));
    lonely.handle_command(now, Command::SetCapacity(weak));
    assert_eq!(lonely.role(), Role::Leaf);
    assert!(
        lonely.poll_timeout().is_some(),
        "the election re-runs periodically"
    );
}

/// A random symmetric graph on `n` nodes from an edge list.
fn graph(n: usize, edges: &[(usize, usize)]) -> Vec<Vec<u32>> {
    let mut adj = vec![BTreeSet::new(); n];
    for (a, b) in edges {
        let (a, b) = (a % n, b % n);
        if a != b {
            adj[a].insert(b as u32);
            adj[b].insert(a as u32);
        }
    }
    adj.into_iter().map(|s| s.into_iter().collect()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn never_forwards_a_guid_twice_nor_past_the_ttl(
        n in 2usize..40,
        edges in proptest::collection::vec((0usize..40, 0usize..40), 1..120),
        roles in proptest::collection::vec(0u8..3, 40),
        origins in proptest::collection::vec((0usize..40, 0u8..30), 1..4),
        hostile_ttl in 0u8..=255,
        order_seed in any::<u64>(),
        max_ttl in 1u8..10,
    ) {
        let adj = graph(n, &edges);
        let roles: Vec<Role> = roles[..n].iter().map(|r| [Role::Peer, Role::Ultrapeer, Role::Leaf][*r as usize]).collect();
        let config = Config { max_ttl, ..Config::default() };
        let content = random_content(n, 4, 2, order_seed);
        let mut net = Net::new(topology::build(&adj, &roles, &config, order_seed), content);
        net.shuffle = Some(ChaCha8Rng::seed_from_u64(order_seed));
        for i in 0..n as u32 {
            let words: Vec<String> = net.content[i as usize].iter().cloned().collect();
            net.command(i, Command::SetKeywords(words));
        }
        for (o, ttl) in &origins {
            net.command((*o % n) as u32, query(&["w1"], Some(*ttl)));
        }
        // A hostile neighbour injects a query with an absurd TTL.
        if let Some(&nb) = adj[0].first() {
            let guid = weft_overlay::flood::Guid([7; 16]);
            let msg = Message::Query { guid, ttl: hostile_ttl, hops: 0, criteria: Criteria::from_text("w2") };
            net.inject(nb, 0, msg);
        }
        net.run();
        let mut per_edge = BTreeMap::new();
        for (from, to, guid, ttl, hops) in &net.sent_queries {
            prop_assert!(*ttl >= 1, "a query left with ttl 0");
            prop_assert!(u16::from(*ttl) + u16::from(*hops) <= u16::from(max_ttl), "ttl {} + hops {} > cap", ttl, hops);
            *per_edge.entry((*from, *to, *guid)).or_insert(0u32) += 1;
        }
        prop_assert!(per_edge.values().all(|c| *c == 1), "a guid crossed an edge twice");
        // Receipts never exceed the hop limit either.
        prop_assert!(net.receipts_by_hops.keys().all(|h| *h < max_ttl));
        for (_, node) in net.net.live() {
            prop_assert!(node.state_size() <= 8192 + 200);
        }
    }
}
