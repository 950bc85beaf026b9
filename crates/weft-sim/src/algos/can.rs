//! CAN (`weft_overlay::can`) as a simulated [`Algorithm`].
//!
//! `d` dimensions (`--can-d`, default 2; [`CanAlgo::with_dims`]). A lookup routes greedily
//! to the owner of the key's point; hops are the engine's forwards, messages the forwards
//! plus the answer. The lookup deadline is the engine's 10 s, as Chord's and Pastry's, up to
//! the size where the expected path needs longer: half a second per expected hop
//! ([`CanAlgo::for_size`]), since with `d = 2` a path at 10^6 nodes is hundreds of hops.
//! (It was 600 s at every size: under churn a lookup lost in a dead zone then held the run
//! open for ten minutes past the window.)
//!
//! Under churn nodes crash by default, like every algorithm's: the engine has no crash
//! recovery (the paper's takeover timers are not built), so a crashed node's zone stays
//! unowned and lookups for it fail — at N = 1,000 with one-hour sessions over 40 % of the
//! lookups of a 600 s window (seed 1: 57.8 % correct). With `--leave graceful` a leaving
//! node hands its zones to a neighbour (the engine's leave) and lookups succeed.
//!
//! # Expected figures
//!
//! - hops ≈ `(d/4)·N^(1/d)` (Ratnasamy et al.);
//! - state ≈ `2d` neighbours.
//!
//! Both assume equal zones. The converged builder grows the partition as CAN's join does (a
//! random point's zone is halved), so zones are unequal: measured hops come out 15–20 % below
//! (a path crosses big zones more often than small ones) and neighbours 15–25 % above. With
//! equal zones (splitting the largest zone each time, a 2^k grid) the same engine measures
//! (d/4)·N^(1/d) and 2d exactly; the report prints this explanation beside the gap.

use std::sync::Arc;
use std::time::Duration;

use weft_core::time::Time;
use weft_overlay::QueryId;
use weft_overlay::can::{Can, Command, Config, Event, LookupFinished, Message, point_of};

use crate::algorithm::{Algorithm, Expected, Outcome};
use crate::oracle::{Answer, Truth, Verdict};
use crate::simulation::{MessageClass, Simulation};
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

    /// CAN with `dims` dimensions and the engine's lookup timeout (10 s).
    pub fn with_dims(dims: usize) -> Self {
        CanAlgo {
            config: Arc::new(Config {
                dims,
                ..Config::default()
            }),
        }
    }

    /// CAN with `dims` dimensions for a network of `n` nodes: the engine's 10 s lookup
    /// timeout, or half a second per expected hop (`(d/4)·n^(1/d)`) where that is longer
    /// (from about 1,600 nodes at d = 2; 250 s at 10^6).
    pub fn for_size(dims: usize, n: usize) -> Self {
        let base = Config::default().lookup_timeout;
        let path = dims as f64 / 4.0 * (n as f64).powf(1.0 / dims as f64);
        CanAlgo {
            config: Arc::new(Config {
                dims,
                lookup_timeout: base.max(Duration::from_secs_f64(0.5 * path)),
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

    fn label(&self) -> String {
        format!("can d={}", self.config.dims)
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
            Event::LookupFinished(LookupFinished {
                id,
                result: Ok(owner),
                hops,
                ..
            }) => Some((
                *id,
                Outcome::Success {
                    hops: *hops,
                    messages: Some(hops + 1),
                    answer: Answer::Node(*owner),
                },
            )),
            Event::LookupFinished(LookupFinished {
                id, result: Err(_), ..
            }) => Some((*id, Outcome::Failure)),
            Event::Joined { .. } => None,
        }
    }

    /// Correct when the answer is live and one of its zones holds the key's point (zones
    /// partition the space, so it is then the only owner).
    fn check(
        &self,
        _truth: &Truth,
        sim: &Simulation<Can<u32>>,
        draw: &Draw,
        _origin: u32,
        answer: &Answer,
    ) -> Verdict {
        let point = point_of(draw.key.prefix_u64());
        let d = self.config.dims;
        Verdict::of(matches!(answer, Answer::Node(a) if sim
            .engine(*a)
            .is_some_and(|e| e.zones().iter().any(|z| z.contains(&point, d)))))
    }

    fn has_oracle(&self) -> bool {
        true
    }

    fn state_size(&self, engine: &Can<u32>) -> usize {
        engine.state_size()
    }

    fn expected(&self, n: usize) -> Expected {
        let d = self.config.dims as f64;
        Expected {
            // Alone, a node owns the whole space: no hop (the formula would say d/4).
            hops: Some(if n <= 1 {
                0.0
            } else {
                d / 4.0 * (n as f64).powf(1.0 / d)
            }),
            state: Some((2.0 * d).min(n as f64 - 1.0)),
            hops_formula: "(d/4)·N^(1/d)",
            state_formula: "2d",
            source: "Ratnasamy et al. 2001, §2.1 ((d/4)·n^(1/d) hops, 2d neighbours for equal zones)",
            table3: Some(("d·N^(1/d)", "2d")),
            hops_gap: "the formula assumes equal zones; CAN's join halves the zone of a random point, so zones are unequal and a path crosses the big ones more often than the small: fewer hops (on an equal-zone 2^k grid the engine measures (d/4)·N^(1/d) exactly)",
            state_gap: "unequal zones from CAN's join (a random point's zone is halved): a big zone borders several small ones, so more than 2d neighbours (exactly 2d on an equal-zone 2^k grid)",
        }
    }
}
