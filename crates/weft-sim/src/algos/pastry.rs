//! Pastry (`weft_overlay::pastry`) as a simulated [`Algorithm`].
//!
//! Node ids are 64-bit (`BLAKE3(seed ‖ "pastry" ‖ index)`), prefix routing in base `2^b`
//! with `b = 4`, leaf set `L = 16`, neighbourhood set `M = 16`. A lookup routes to the node
//! numerically closest to the key's first 64 bits; hops are the engine's forwards and
//! messages the forwards plus the answer.
//!
//! # Expected figures
//!
//! - hops ≈ `log_{2^b} N` (the bound is `⌈log_{2^b} N⌉`; the leaf set often saves the last
//!   hop, so measured means sit a little below);
//! - state ≈ `(2^b − 1)·log_{2^b} N + L + M`: filled routing-table rows plus the leaf and
//!   neighbourhood sets (the engine counts distinct nodes, so overlaps are counted once).

use std::sync::Arc;

use weft_core::time::Time;
use weft_overlay::QueryId;
use weft_overlay::pastry::{Command, Config, Event, Message, Pastry};

use crate::algorithm::{Algorithm, Expected, Outcome};
use crate::simulation::MessageClass;
use crate::workload::Draw;

/// Pastry with a shared configuration.
#[derive(Clone, Debug)]
pub struct PastryAlgo {
    /// The engine configuration shared by every node.
    pub config: Arc<Config>,
    /// The run's seed (ids are derived from it).
    pub seed: u64,
}

impl PastryAlgo {
    /// Pastry with the engine's default configuration (b = 4, L = 16, M = 16).
    pub fn new(seed: u64) -> Self {
        PastryAlgo {
            config: Arc::new(Config::default()),
            seed,
        }
    }

    /// Node `index`'s id.
    pub fn id_of(&self, index: u32) -> u64 {
        super::node_id(self.seed, "pastry", index)
    }
}

impl Algorithm for PastryAlgo {
    type E = Pastry<u32>;

    fn name(&self) -> &'static str {
        "pastry"
    }

    fn classify(msg: &Message<u32>) -> MessageClass {
        let (kind, lookup) = match msg {
            Message::Route { join: false, .. } => (1, true),
            Message::Route { join: true, .. } => (2, false),
            Message::Delivered { .. } => (3, true),
            Message::State { .. } => (4, false),
            Message::Announce { .. } => (5, false),
            Message::Ping { .. } => (6, false),
            Message::Pong { .. } => (7, false),
            Message::GetLeaves { .. } => (8, false),
            Message::Leaves { .. } => (9, false),
            Message::Leaving { .. } => (10, false),
        };
        MessageClass { kind, lookup }
    }

    fn build_converged(&self, n: usize, seed: u64) -> Vec<Pastry<u32>> {
        let config = &self.config;
        // Positions equal ids (prefix mode).
        super::converged_by_address(
            n,
            |i| config.position(self.id_of(i)),
            |nodes| Pastry::converged_network(config.clone(), seed, nodes),
            |e| e.local().addr,
            |i| Pastry::new(config.clone(), self.id_of(i), i, seed),
        )
    }

    fn joiner(
        &self,
        index: u32,
        seed: u64,
        bootstrap: Option<u32>,
        _now: Time,
    ) -> (Pastry<u32>, Option<Command<u32>>) {
        let e = Pastry::new(self.config.clone(), self.id_of(index), index, seed);
        (e, bootstrap.map(Command::Join))
    }

    fn lookup(&self, draw: &Draw, _origin: u32) -> Command<u32> {
        Command::Lookup(draw.key.prefix_u64())
    }

    fn outcome(&self, ev: &Event<u32>) -> Option<(QueryId, Outcome)> {
        match ev {
            Event::LookupFinished {
                id,
                result: Ok(_),
                hops,
                ..
            } => Some((
                *id,
                Outcome::Success {
                    hops: *hops,
                    messages: Some(hops + 1),
                },
            )),
            Event::LookupFinished {
                id, result: Err(_), ..
            } => Some((*id, Outcome::Failure)),
            Event::Joined { .. } => None,
        }
    }

    fn state_size(&self, engine: &Pastry<u32>) -> usize {
        engine.state_size()
    }

    fn expected(&self, n: usize) -> Expected {
        let n = n as f64;
        let base = f64::from(1u32 << self.config.b);
        let digits = n.log2() / f64::from(self.config.b);
        let sets = (self.config.leaf_set + self.config.neighbourhood) as f64;
        Expected {
            hops: Some(digits),
            state: Some(((base - 1.0) * digits + sets).min(n - 1.0)),
            hops_formula: "log_{2^b} N (b=4; bound ⌈·⌉)",
            state_formula: "(2^b−1)·log_{2^b} N + L + M",
        }
    }
}
