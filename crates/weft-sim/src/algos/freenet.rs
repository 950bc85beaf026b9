//! Freenet (`weft_overlay::freenet`) as a simulated [`Algorithm`].
//!
//! The network starts as Clarke et al.'s ring: node `i` has routing entries for the two nodes
//! on either side, under their keys. Before lookups, the catalogue's first
//! [`FreenetAlgo::preload`] items are inserted from random nodes (hops-to-live
//! [`FreenetAlgo::insert_htl`]); a lookup requests one of them with hops-to-live
//! [`FreenetAlgo::request_htl`]. Hops are the engine's request hops, backtracking included.
//! The learning experiment of the paper's 6.5 is the `freenet-ring` preset.
//!
//! No expected figures: Freenet gives no bound, it learns (`expected_hops` is `null`).
//! State is what the engine counts: routing entries, stored items, searches in progress and
//! remembered request ids.

use weft_core::time::Time;
use weft_overlay::QueryId;
use weft_overlay::freenet::{self, Command, Config, Event, Freenet, Message};
use weft_overlay::kit::node_seed;

use crate::algorithm::{Algorithm, Expected, Outcome};
use crate::oracle::{Answer, Truth, Verdict};
use crate::workload::{Draw, item_key};
use weft_vnet::{MessageClass, VNet};

/// Freenet on a ring start.
#[derive(Clone, Debug)]
pub struct FreenetAlgo {
    /// Engine settings.
    pub config: Config,
    /// Hops-to-live of inserts.
    pub insert_htl: u16,
    /// Hops-to-live of requests.
    pub request_htl: u16,
    /// Catalogue items inserted before lookups.
    pub preload: u64,
    /// The seed.
    pub seed: u64,
}

impl FreenetAlgo {
    /// Clarke et al.'s settings: datastore 50 items, routing table 250 entries, inserts with
    /// hops-to-live 20, requests with 500.
    pub fn clarke(seed: u64) -> Self {
        FreenetAlgo {
            config: Config {
                store_items: 50,
                routing_entries: 250,
                ..Config::default()
            },
            insert_htl: 20,
            request_htl: 500,
            preload: 1000,
            seed,
        }
    }

    /// The data inserted under item `i` (a small fixed-size payload naming the item).
    pub fn data_of(i: u64) -> Vec<u8> {
        i.to_le_bytes().to_vec()
    }

    /// The catalogue item a lookup of `draw` requests.
    pub fn item_of(&self, draw: &Draw) -> u64 {
        draw.item.unwrap_or(draw.key.prefix_u64()) % self.preload.max(1)
    }
}

impl Algorithm for FreenetAlgo {
    type E = Freenet<u32>;

    fn name(&self) -> &'static str {
        "freenet"
    }

    fn classify(msg: &Message<u32>) -> MessageClass {
        let (kind, lookup) = match msg {
            Message::Request { .. } => (1, true),
            Message::Insert { .. } => (2, false),
            Message::Data { .. } => (3, true),
            Message::Failed { .. } => (4, true),
            Message::InsertDone { .. } => (5, false),
        };
        MessageClass { kind, lookup }
    }

    fn build_converged(&self, n: usize, seed: u64) -> Vec<Freenet<u32>> {
        freenet::ring(n as u32, 2, &self.config, seed)
    }

    fn joiner(
        &self,
        index: u32,
        seed: u64,
        bootstrap: Option<u32>,
        _now: Time,
    ) -> (Freenet<u32>, Option<Command>) {
        let node_seed = node_seed(seed, u64::from(index));
        let mut e = Freenet::new(index, self.config.clone(), node_seed);
        if let Some(b) = bootstrap {
            e.add_route(freenet::node_key(b), b);
        }
        (e, None)
    }

    fn prepare(&self, sim: &mut VNet<Freenet<u32>>, seed: u64) {
        let n = sim.len().max(1) as u64;
        for i in 0..self.preload {
            let node = (item_key(seed ^ 0xf4ee, i).prefix_u64() % n) as u32;
            let cmd = Command::Insert {
                key: item_key(seed, i),
                data: Self::data_of(i),
                htl: Some(self.insert_htl),
            };
            sim.command(node, cmd);
        }
    }

    fn lookup(&self, draw: &Draw, _origin: u32) -> Command {
        let item = self.item_of(draw);
        Command::Request {
            key: item_key(self.seed, item),
            htl: Some(self.request_htl),
        }
    }

    fn outcome(&self, ev: &Event) -> Option<(QueryId, Outcome)> {
        match ev {
            Event::Found { id, hops, data, .. } => Some((
                *id,
                Outcome::Success {
                    hops: u32::from(*hops),
                    messages: None,
                    answer: Answer::Content(data.clone()),
                },
            )),
            Event::NotFound { id, .. } | Event::Refused { id, .. } => Some((*id, Outcome::Failure)),
            Event::Inserted { .. } => None,
        }
    }

    /// Correct when the data that came back is the item's (inserted as
    /// [`FreenetAlgo::data_of`]).
    fn check(
        &self,
        _truth: &Truth,
        _sim: &VNet<Freenet<u32>>,
        draw: &Draw,
        _origin: u32,
        answer: &Answer,
    ) -> Verdict {
        let item = self.item_of(draw);
        Verdict::of(matches!(answer, Answer::Content(d) if *d == Self::data_of(item)))
    }

    fn has_oracle(&self) -> bool {
        true
    }

    fn state_size(&self, engine: &Freenet<u32>) -> usize {
        engine.state_size()
    }

    fn expected(&self, _n: usize) -> Expected {
        Expected {
            hops: None,
            state: None,
            hops_formula: "none (learns)",
            state_formula: "bounded by its tables",
            ..Expected::default()
        }
    }
}
