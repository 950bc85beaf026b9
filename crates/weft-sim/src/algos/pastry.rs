//! Pastry (`weft_overlay::pastry`) as a simulated [`Algorithm`].
//!
//! Node ids are 64-bit (`BLAKE3(seed ‖ "pastry" ‖ index)`), prefix routing in base `2^b`
//! with `b = 4`, leaf set `L = 16`, neighbourhood set `M = 16`. A lookup routes to the node
//! numerically closest to the key's first 64 bits; hops are the engine's forwards and
//! messages `2·hops + 1`: the forwards, their acknowledgements (which let a node route
//! around a dead hop) and the answer.
//!
//! # Expected figures
//!
//! - hops ≈ `log_{2^b} N` (Rowstron and Druschel give `⌈log_{2^b} N⌉` as the expected number
//!   of steps, not a bound: the p99 can be one more, a leaf-set hop to a numerically closest
//!   node that does not share the last resolved digit). At small `b` the mean sits well
//!   below: the leaf set saves the last `log_{2^b}(L/2)` digit hops and an entry shares a
//!   further digit by chance once in `2^b − 1` hops (−31 % at b = 2, −15 % at b = 3, −3 % at
//!   b = 4 for N = 10^4);
//! - state ≈ `(2^b − 1)·log_{2^b} N + L + M`: full routing-table rows plus the leaf and
//!   neighbourhood sets. The engine counts distinct nodes, so the L + M nodes that also sit
//!   in table slots count once, and the last rows are sparse: measured 17–33 % below.

use std::sync::Arc;

use weft_core::time::Time;
use weft_overlay::QueryId;
use weft_overlay::pastry::{Command, Config, Event, LookupFinished, Message, Pastry};

use crate::algorithm::{Algorithm, Expected, Outcome};
use crate::oracle::{Answer, Truth};
use crate::simulation::{MessageClass, Simulation};
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
        Self::with(seed, Config::default().b, false)
    }

    /// Pastry with `b` bits per digit, or with `suffix` Tapestry's suffix routing (digits
    /// resolved from the least significant end).
    pub fn with(seed: u64, b: u32, suffix: bool) -> Self {
        PastryAlgo {
            config: Arc::new(Config {
                b,
                suffix,
                ..Config::default()
            }),
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
        if self.config.suffix {
            "tapestry"
        } else {
            "pastry"
        }
    }

    fn label(&self) -> String {
        let c = &self.config;
        format!("{} b={}", self.name(), c.b)
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
            Message::Ack { .. } => (11, true),
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

    /// The engine's leave: its neighbours are told and link up at once.
    fn graceful_leave(&self) -> Option<Command<u32>> {
        Some(Command::Leave)
    }

    fn lookup(&self, draw: &Draw, _origin: u32) -> Command<u32> {
        Command::Lookup(draw.key.prefix_u64())
    }

    fn outcome(&self, ev: &Event<u32>) -> Option<(QueryId, Outcome)> {
        match ev {
            Event::LookupFinished(LookupFinished {
                id,
                result: Ok(owner),
                hops,
                ..
            }) => Some((
                *id,
                Outcome::Success {
                    hops: *hops,
                    messages: Some(2 * hops + 1),
                    answer: Answer::Node(owner.addr),
                },
            )),
            Event::LookupFinished(LookupFinished {
                id, result: Err(_), ..
            }) => Some((*id, Outcome::Failure)),
            Event::Joined { .. } => None,
        }
    }

    fn position(&self, engine: &Pastry<u32>) -> Option<u64> {
        Some(engine.local().id)
    }

    /// The live node numerically closest to the key (closest in bit-reversed order for
    /// Tapestry's suffix routing).
    fn truth_now(
        &self,
        truth: &Truth,
        _sim: &Simulation<Pastry<u32>>,
        draw: &Draw,
        _origin: u32,
    ) -> Option<Answer> {
        truth
            .closest_on_ring(self.config.position(draw.key.prefix_u64()))
            .map(Answer::Node)
    }

    fn has_oracle(&self) -> bool {
        true
    }

    fn hop_timeouts(&self, engine: &Pastry<u32>) -> Option<u64> {
        Some(engine.hop_timeouts())
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
            hops_formula: "log_{2^b} N",
            state_formula: "(2^b−1)·log_{2^b} N + L + M",
            source: if self.config.suffix {
                "Zhao et al. 2001 (Tapestry: suffix routing, log_{2^b} N hops), as Pastry's mirror"
            } else {
                "Rowstron and Druschel 2001, §2.1 (⌈log_{2^b} N⌉ steps; (2^b−1)·⌈log_{2^b} N⌉ + L + M entries)"
            },
            table3: Some(if self.config.suffix {
                ("log_b N", "log_b N")
            } else {
                ("log_b N", "b·log_b N + b")
            }),
            hops_gap: "the formula resolves one digit per hop; the leaf set delivers in one hop once the key is within L/2 nodes (saving the last log_{2^b}(L/2) digit hops) and a table entry shares a further digit by chance once in 2^b − 1 hops: both weigh most at small b",
            state_gap: "the formula adds L + M to full table rows; the engine counts distinct nodes: leaves and neighbours also sit in table slots, and the last rows are sparse (a slot of row r is filled with probability 1 − e^(−N/2^(b(r+1))))",
        }
    }
}
