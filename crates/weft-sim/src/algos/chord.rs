//! Chord (`weft_overlay::chord`) as a simulated [`Algorithm`].
//!
//! Node ids are 64-bit positions (`BLAKE3(seed ‖ "chord" ‖ index)`); a lookup asks for the
//! successor of the key's first 64 bits and its hops are the engine's forwards (0 when the
//! origin's successor owns the key). Lookups are recursive and each forward is acknowledged
//! (so a dead hop is routed around), so messages per lookup are `2·hops + 1`: the forwards,
//! their acknowledgements and the answer (re-routes around dead hops come on top, counted in
//! the run's lookup traffic).
//!
//! # Expected figures
//!
//! - hops ≈ `½·log2 N − 5/8` with the `r = 8` successors. Stoica et al.'s `½·log2 N` counts
//!   finger hops: from the origin to the key's predecessor the greedy route takes one finger
//!   per 1-bit of the distance in nodes, half the `log2 N` bits on average. The engine's
//!   count is the same: forwards from the origin to the key's predecessor, which answers
//!   with its successor (the owner) without a further forward; 0 when the origin is it. The successor list is a shortcut the count leaves out: a
//!   node `≤ r` ahead is reached in one hop, so with `r = 8` the distance's last 3 bits cost
//!   one hop 7/8 of the time instead of 1.5 on average, and the next bit 0.5: `½·log2 N − 5/8`.
//!   The figure printed is this expectation computed exactly for the run's `N` and `r`
//!   (the mean over distances `D` in `0..N` of the greedy route's hops, `D ≤ r` in one),
//!   which is exact for evenly spaced ids; random ids measure 1–3 % lower. Checked by
//!   `chord_hops_match_the_finger_and_successor_count` (`tests/adapters.rs`): with
//!   `r = 1` the engine measures `½·log2 N`, with `r = 8` the figure printed;
//! - state ≈ `log2(N/r) + r + 1`, that is O(log N): the engine counts distinct nodes among
//!   fingers, successors and predecessor; fingers reaching past the `r = 8` successors are
//!   about `log2(N/r)` distinct nodes, the shorter ones fall in the successor list.
//!
//! Built through the join protocol, the ring settles for 64 fix-finger periods before
//! lookups start, so that every finger has been fixed once.

use std::sync::Arc;
use std::time::Duration;

use weft_core::time::Time;
use weft_overlay::QueryId;
use weft_overlay::chord::{Chord, Command, Config, Event, Message, Node};

use crate::algorithm::{Algorithm, Expected, Outcome};
use crate::oracle::{Answer, Truth};
use crate::workload::Draw;
use weft_vnet::{MessageClass, VNet};

/// Chord with a shared configuration.
#[derive(Clone, Debug)]
pub struct ChordAlgo {
    /// The engine configuration shared by every node.
    pub config: Arc<Config>,
    /// The run's seed (ids are derived from it).
    pub seed: u64,
}

impl ChordAlgo {
    /// Chord with the engine's default configuration (r = 8 successors).
    pub fn new(seed: u64) -> Self {
        ChordAlgo {
            config: Arc::new(Config::default()),
            seed,
        }
    }

    /// Node `index`'s id.
    pub fn id_of(&self, index: u32) -> u64 {
        super::node_id(self.seed, "chord", index)
    }

    /// Node `index`, alone on its ring.
    fn engine(&self, index: u32, seed: u64) -> Chord<u32> {
        let me = Node {
            id: self.id_of(index),
            addr: index,
        };
        Chord::new(self.config.clone(), me, seed)
    }
}

impl Algorithm for ChordAlgo {
    type E = Chord<u32>;

    fn name(&self) -> &'static str {
        "chord"
    }

    fn label(&self) -> String {
        format!("chord r={}", self.config.successors)
    }

    fn classify(msg: &Message<u32>) -> MessageClass {
        let (kind, lookup) = match msg {
            Message::Lookup { .. } => (1, true),
            Message::Found { .. } => (2, true),
            Message::GetNeighbours { .. } => (3, false),
            Message::Neighbours { .. } => (4, false),
            Message::Notify { .. } => (5, false),
            Message::Ping { .. } => (6, false),
            Message::Pong { .. } => (7, false),
            Message::Leaving { .. } => (8, false),
            Message::Ack { .. } => (9, true),
        };
        MessageClass { kind, lookup }
    }

    fn build_converged(&self, n: usize, seed: u64) -> Vec<Chord<u32>> {
        let config = &self.config;
        super::converged_by_address(
            n,
            |i| self.id_of(i),
            |nodes| Chord::converged_network(config.clone(), seed, nodes),
            |e| e.local().addr,
            |i| self.engine(i, seed),
        )
    }

    fn joiner(
        &self,
        index: u32,
        seed: u64,
        bootstrap: Option<u32>,
        _now: Time,
    ) -> (Chord<u32>, Option<Command<u32>>) {
        (self.engine(index, seed), bootstrap.map(Command::Join))
    }

    /// The engine's leave: its neighbours are told and link up at once.
    fn graceful_leave(&self) -> Option<Command<u32>> {
        Some(Command::Leave)
    }

    fn lookup(&self, draw: &Draw, _origin: u32) -> Command<u32> {
        Command::Lookup(draw.key.prefix_u64())
    }

    /// Messages: the forwards, their acknowledgements and the answer.
    fn outcome(&self, ev: &Event<u32>) -> Option<(QueryId, Outcome)> {
        super::lookup_outcome(ev, |hops| 2 * hops + 1, |owner| owner.addr)
    }

    fn settle_after_joins(&self) -> Duration {
        self.config.fix_fingers_interval.unwrap_or(Duration::ZERO) * 64
    }

    fn position(&self, engine: &Chord<u32>) -> Option<u64> {
        Some(engine.local().id)
    }

    /// The key's successor among the live nodes.
    fn truth_now(
        &self,
        truth: &Truth,
        _sim: &VNet<Chord<u32>>,
        draw: &Draw,
        _origin: u32,
    ) -> Option<Answer> {
        truth.successor(draw.key.prefix_u64()).map(Answer::Node)
    }

    fn has_oracle(&self) -> bool {
        true
    }

    fn hop_timeouts(&self, engine: &Chord<u32>) -> Option<u64> {
        Some(engine.hop_timeouts())
    }

    fn state_size(&self, engine: &Chord<u32>) -> usize {
        engine.state_size()
    }

    fn expected(&self, n: usize) -> Expected {
        let hops = expected_hops(n, self.config.successors);
        let n = n as f64;
        Expected {
            hops: Some(hops),
            state: Some({
                let r = self.config.successors as f64;
                ((n / r).log2().max(0.0) + r + 1.0).min(n - 1.0)
            }),
            hops_formula: "½·log2 N − 5/8 (r = 8)",
            state_formula: "log2(N/r) + r + 1",
            source: "Stoica et al. 2001, §6.2 (½·log2 N finger hops; the r successors take the last log2 r bits in one hop: −5/8 at r = 8, derived here); §4.3 (fingers, r successors)",
            table3: Some(("log N", "log N")),
        }
    }
}

/// The mean hops of Chord's greedy route over fingers and `r` successors in a ring of `n`
/// evenly spaced nodes, for a uniform origin and key: the mean over distances `D` in
/// `0..n` (nodes from the origin to the key's predecessor) of `h(D)`, where `h(0) = 0`,
/// `h(D) = 1` for `D ≤ r` (a successor), else `1 + h(D − max(2^⌊log2 D⌋, r))` (the farthest
/// finger or successor not past the key). `½·log2 n` for `r = 1`; `½·log2 n − 5/8` for
/// `r = 8` and `n` a power of two.
pub fn expected_hops(n: usize, r: usize) -> f64 {
    if n <= 1 {
        return 0.0;
    }
    let r = r.max(1);
    let mut h: Vec<u8> = Vec::with_capacity(n);
    let mut sum = 0u64;
    for d in 0..n {
        let hops = if d == 0 {
            0
        } else if d <= r {
            1
        } else {
            let finger = 1usize << (usize::BITS - 1 - d.leading_zeros());
            h[d - finger.max(r)].saturating_add(1)
        };
        h.push(hops);
        sum += u64::from(hops);
    }
    sum as f64 / n as f64
}
