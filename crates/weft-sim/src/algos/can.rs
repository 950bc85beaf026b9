//! CAN (`weft_overlay::can`) as a simulated [`Algorithm`].
//!
//! The engine's default `d = 2` dimensions (`--dims` is not exposed yet; [`CanAlgo::with_dims`]
//! builds other shapes). A lookup routes greedily to the owner of the key's point; hops are the
//! engine's forwards, messages the forwards plus the answer. The lookup deadline is raised
//! to 10 minutes of virtual time, because with `d = 2` a path at 10^6 nodes is hundreds of hops.
//!
//! Under churn nodes leave gracefully (the engine's takeover; it has no crash recovery, so a
//! crashed node's zone would stay unowned).
//!
//! # Expected figures
//!
//! - hops ≈ `(d/4)·N^(1/d)` (Ratnasamy et al.);
//! - state ≈ `2d` neighbours (more when zones are unevenly split).

use std::sync::Arc;
use std::time::Duration;

use weft_core::time::Time;
use weft_overlay::QueryId;
use weft_overlay::can::{Can, Command, Config, Event, Message};

use crate::algorithm::{Algorithm, Expected, Outcome};
use crate::simulation::MessageClass;
use crate::workload::Draw;

/// CAN with a shared configuration.
#[derive(Clone, Debug)]
pub struct CanAlgo {
    /// The engine configuration shared by every node.
    pub config: Arc<Config>,
}

impl CanAlgo {
    /// CAN with the engine's default dimensions (2).
    pub fn new() -> Self {
        Self::with_dims(Config::default().dims)
    }

    /// CAN with `dims` dimensions.
    pub fn with_dims(dims: usize) -> Self {
        CanAlgo {
            config: Arc::new(Config {
                dims,
                lookup_timeout: Duration::from_secs(600),
                ..Config::default()
            }),
        }
    }
}

impl Default for CanAlgo {
    fn default() -> Self {
        Self::new()
    }
}

impl Algorithm for CanAlgo {
    type E = Can<u32>;

    fn name(&self) -> &'static str {
        "can"
    }

    fn classify(msg: &Message<u32>) -> MessageClass {
        let (kind, lookup) = match msg {
            Message::Route { join: false, .. } => (1, true),
            Message::Route { join: true, .. } => (2, false),
            Message::Delivered { .. } => (3, true),
            Message::Accept { .. } => (4, false),
            Message::Update { .. } => (5, false),
            Message::Handoff { .. } => (6, false),
            Message::Leaving => (7, false),
        };
        MessageClass { kind, lookup }
    }

    fn build_converged(&self, n: usize, seed: u64) -> Vec<Can<u32>> {
        let addrs: Vec<u32> = (0..n as u32).collect();
        Can::converged_network(self.config.clone(), seed, &addrs)
    }

    fn joiner(
        &self,
        index: u32,
        seed: u64,
        bootstrap: Option<u32>,
        _now: Time,
    ) -> (Can<u32>, Option<Command<u32>>) {
        let node_seed = seed ^ u64::from(index).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let e = Can::new(self.config.clone(), index, bootstrap.is_none(), node_seed);
        (e, bootstrap.map(Command::Join))
    }

    fn graceful_leave(&self) -> Option<Command<u32>> {
        Some(Command::Leave)
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

    fn state_size(&self, engine: &Can<u32>) -> usize {
        engine.state_size()
    }

    fn expected(&self, n: usize) -> Expected {
        let d = self.config.dims as f64;
        Expected {
            hops: Some(d / 4.0 * (n as f64).powf(1.0 / d)),
            state: Some((2.0 * d).min(n as f64 - 1.0)),
            hops_formula: "(d/4)·N^(1/d) (d=2)",
            state_formula: "2d",
        }
    }
}
