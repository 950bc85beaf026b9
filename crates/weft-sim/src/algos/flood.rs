//! Flooding (`weft_overlay::flood`, Gnutella 0.6) as a simulated [`Algorithm`].
//!
//! # Content
//!
//! A catalogue of [`FloodAlgo::items`] items; item `i` is the keyword `item<i>` and is held
//! by [`FloodAlgo::replicas`] nodes drawn from the seed. A lookup is a keyword query for one
//! item (the workload's catalogue item, or the key's first 64 bits modulo the catalogue for
//! uniform keys); nodes answer the engine's match requests from their holdings, and leaves
//! announce their keywords to their ultrapeers (QRP) before queries start. A query succeeds
//! when its first hit arrives; its hops are the hit's hops; it fails when the engine's query
//! timeout passes without a hit.
//!
//! # Expected figures
//!
//! Flooding has no hop bound to compare with; `expected_hops` is `null`. On a tree of fanout
//! `f` with TTL `t`, a query reaches `f^t` nodes at its last hop and costs
//! `f + f² + … + f^t` query messages; on a random graph of degree `d`, at most
//! `d·(d−1)^(t−1)` at the last hop. [`FloodCounts`] counts what happens. State is what the
//! engine counts (neighbours, remembered GUIDs, pending matches, route tables):
//! `expected_state` is the degree.

use std::cell::RefCell;
use std::rc::Rc;

use weft_core::time::Time;
use weft_overlay::QueryId;
use weft_overlay::flood::{
    Command, Config, Criteria, Event, Flood, HitItem, Message, Role, topology,
};

use crate::algorithm::{Algorithm, Expected, Outcome};
use crate::workload::{Draw, item_key};
use weft_vnet::{MessageClass, VNet};

/// How the flood network is wired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    /// A complete tree of `fanout` with queries from the root (the paper's "each node
    /// connected to two others" with `fanout` 2); its depth is the TTL.
    Tree {
        /// Children per node.
        fanout: u32,
    },
    /// A flat random graph (Gnutella 0.4) of the given degree.
    Flat {
        /// Neighbours per node.
        degree: u32,
    },
    /// Ultrapeers (`ultrapeers_per_mille` of the nodes) in a random graph of `degree`, every
    /// other node a leaf linked to `leaf_links` ultrapeers; query routing tables on.
    TwoTier {
        /// Ultrapeers per thousand nodes.
        ultrapeers_per_mille: u32,
        /// Ultrapeer-to-ultrapeer degree.
        degree: u32,
        /// Ultrapeers per leaf.
        leaf_links: u32,
    },
}

impl Topology {
    /// A short name for reports.
    pub fn name(&self) -> String {
        match self {
            Topology::Tree { fanout } => format!("tree-{fanout}"),
            Topology::Flat { degree } => format!("random-{degree}"),
            Topology::TwoTier {
                ultrapeers_per_mille,
                degree,
                leaf_links,
            } => {
                format!("ultrapeer-qrp-{ultrapeers_per_mille}permille-d{degree}-l{leaf_links}")
            }
        }
    }
}

/// What the flood messages delivered so far amount to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FloodCounts {
    /// Query messages delivered.
    pub queries: u64,
    /// Of those, delivered at the query's last hop (remaining TTL 1).
    pub queries_last_hop: u64,
    /// Hit messages delivered.
    pub hits: u64,
    /// Route-table messages delivered.
    pub route_tables: u64,
}

/// Flooding over a [`Topology`] with a replicated catalogue.
#[derive(Debug)]
pub struct FloodAlgo {
    /// Network size (the tree's size is set by its depth).
    pub n: usize,
    /// Wiring.
    pub topology: Topology,
    /// Query TTL.
    pub ttl: u8,
    /// Items in the catalogue.
    pub items: u64,
    /// Holders per item.
    pub replicas: u32,
    /// The seed.
    pub seed: u64,
    /// Engine settings (role is set per node).
    pub config: Config,
    /// Items each node holds, sorted.
    holdings: Vec<Vec<u32>>,
    /// Roles by node.
    roles: Vec<Role>,
    /// Adjacency.
    adj: Vec<Vec<u32>>,
    /// Delivered-message counts.
    pub counts: Rc<RefCell<FloodCounts>>,
}

impl FloodAlgo {
    /// A flood network of `n` nodes (for a tree: of depth `ttl`, whatever `n`).
    pub fn new(n: usize, topology: Topology, ttl: u8, seed: u64) -> Self {
        let (roles, adj) = match topology {
            Topology::Tree { fanout } => (Vec::new(), topology::tree(u32::from(ttl), fanout)),
            Topology::Flat { degree } => {
                (Vec::new(), topology::random_graph(n as u32, degree, seed))
            }
            Topology::TwoTier {
                ultrapeers_per_mille,
                degree,
                leaf_links,
            } => {
                let ups = ((n as u64 * u64::from(ultrapeers_per_mille)) / 1000).max(1) as u32;
                topology::two_tier(n as u32, ups, degree, leaf_links, seed)
            }
        };
        let n = adj.len();
        let items = 10_000u64;
        let replicas = 10u32;
        let mut holdings = vec![Vec::new(); n];
        for i in 0..items {
            for r in 0..replicas {
                let h = item_key(seed ^ u64::from(r).wrapping_mul(0x9E37_79B9), i).prefix_u64();
                holdings[(h % n.max(1) as u64) as usize].push(i as u32);
            }
        }
        for h in &mut holdings {
            h.sort_unstable();
            h.dedup();
        }
        let config = Config {
            max_ttl: ttl.max(1),
            default_ttl: ttl.max(1),
            ..Config::default()
        };
        FloodAlgo {
            n,
            topology,
            ttl,
            items,
            replicas,
            seed,
            config,
            holdings,
            roles,
            adj,
            counts: Rc::new(RefCell::new(FloodCounts::default())),
        }
    }

    /// Nodes in the network (a tree's size follows from its depth).
    pub fn size(&self) -> usize {
        self.adj.len()
    }

    fn item_of(&self, draw: &Draw) -> u64 {
        draw.item.unwrap_or(draw.key.prefix_u64()) % self.items
    }

    fn keyword(item: u64) -> String {
        format!("item{item}")
    }
}

impl Algorithm for FloodAlgo {
    type E = Flood<u32>;

    fn name(&self) -> &'static str {
        "flood"
    }

    fn classify(msg: &Message<u32>) -> MessageClass {
        let (kind, lookup) = match msg {
            Message::Hello { .. } => (1, false),
            Message::Query { .. } => (2, true),
            Message::QueryHit { .. } => (3, true),
            Message::RouteTable(_) => (4, false),
        };
        MessageClass { kind, lookup }
    }

    fn instrument(&self, sim: &mut VNet<Flood<u32>>) {
        let counts = self.counts.clone();
        sim.set_observer(Box::new(move |_, _, _, msg: &Message<u32>| {
            let mut c = counts.borrow_mut();
            match msg {
                Message::Query { ttl, .. } => {
                    c.queries += 1;
                    if *ttl == 1 {
                        c.queries_last_hop += 1;
                    }
                }
                Message::QueryHit { .. } => c.hits += 1,
                Message::RouteTable(_) => c.route_tables += 1,
                Message::Hello { .. } => {}
            }
        }));
    }

    fn build_converged(&self, _n: usize, seed: u64) -> Vec<Flood<u32>> {
        topology::build(&self.adj, &self.roles, &self.config, seed)
    }

    fn joiner(
        &self,
        index: u32,
        seed: u64,
        _bootstrap: Option<u32>,
        _now: Time,
    ) -> (Flood<u32>, Option<Command>) {
        (
            Flood::new(index, self.config.clone(), seed ^ u64::from(index)),
            None,
        )
    }

    fn prepare(&self, sim: &mut VNet<Flood<u32>>, _seed: u64) {
        for (node, role) in self.roles.iter().enumerate() {
            if *role == Role::Leaf {
                let words = self.holdings[node]
                    .iter()
                    .map(|&i| Self::keyword(u64::from(i)))
                    .collect();
                sim.command(node as u32, Command::SetKeywords(words));
            }
        }
    }

    fn origin(&self, candidate: u32) -> u32 {
        match self.topology {
            Topology::Tree { .. } => 0,
            _ => candidate,
        }
    }

    fn lookup(&self, draw: &Draw, _origin: u32) -> Command {
        Command::Query {
            criteria: Criteria {
                keywords: vec![Self::keyword(self.item_of(draw))],
                hash: None,
                max_items: 1,
            },
            ttl: Some(self.ttl),
        }
    }

    fn react(&self, node: u32, ev: &Event<u32>) -> Option<Command> {
        let Event::MatchRequest { request, criteria } = ev else {
            return None;
        };
        let held = self.holdings.get(node as usize)?;
        let items = criteria
            .keywords
            .iter()
            .filter_map(|w| w.strip_prefix("item")?.parse::<u32>().ok())
            .filter(|i| held.binary_search(i).is_ok())
            .map(|i| HitItem {
                hash: item_key(self.seed, u64::from(i)),
                name: Self::keyword(u64::from(i)),
                size: 1,
            })
            .collect();
        Some(Command::Respond {
            request: *request,
            items,
            more: false,
        })
    }

    fn outcome(&self, ev: &Event<u32>) -> Option<(QueryId, Outcome)> {
        match ev {
            Event::Hit { id, hops, .. } => Some((
                *id,
                Outcome::Success {
                    hops: u32::from(*hops),
                    messages: None,
                    answer: crate::oracle::Answer::Unjudged,
                },
            )),
            Event::QueryDone { id, .. } | Event::Refused { id, .. } => {
                Some((*id, Outcome::Failure))
            }
            _ => None,
        }
    }

    fn state_size(&self, engine: &Flood<u32>) -> usize {
        engine.state_size()
    }

    fn expected(&self, n: usize) -> Expected {
        let degree = match self.topology {
            Topology::Tree { fanout } => fanout as f64 + 1.0,
            Topology::Flat { degree } => f64::from(degree),
            Topology::TwoTier {
                degree, leaf_links, ..
            } => f64::from(degree.min(leaf_links)),
        };
        let _ = n;
        Expected {
            hops: None,
            state: Some(degree),
            hops_formula: "none (first hit)",
            state_formula: "degree (+ GUID cache)",
            ..Expected::default()
        }
    }
}
