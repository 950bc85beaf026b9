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
//!   below: the next node shares a further digit with the key by chance once in `2^b`
//!   times, so a route takes about `(1 − 2^−b)·log_{2^b} N` hops (at b = 2 with a leaf set
//!   of 2 the engine measures 5.05 against 4.98 at N = 10^4, 4.65 against 4.50 at N = 4096:
//!   `pastry_hops_below_the_digit_count_at_small_b`), and the leaf set delivers once the key
//!   is among the `L/2` nodes either side (b = 2, N = 10^4: 4.50 hops with L = 16, against
//!   6.64). At large `b` it sits above: a route takes whole hops, `⌈log_{2^b} N⌉`
//!   (b = 8, N = 10^4: 1.66 digits, 2.01 hops, median 2);
//! - state ≈ `(2^b − 1)·Σ_r (1 − e^(−N/2^(b(r+1)))) + L + M`: the paper's full rows
//!   (`(2^b − 1)·log_{2^b} N`) with each slot filled only when some node has its prefix
//!   ([`filled_slots`]: converged tables hold exactly that many), plus the leaf and
//!   neighbourhood sets. The engine counts distinct nodes, and 8–11 of a converged node's
//!   leaves and neighbours also sit in its table slots, so it measures 12–30 % below; tables
//!   built by joins hold fewer nodes still.

use std::sync::Arc;

use weft_core::time::Time;
use weft_overlay::QueryId;
use weft_overlay::pastry::{Command, Config, Event, Message, Pastry};

use crate::algorithm::{Algorithm, BuildMode, Expected, Figure, Gap, Outcome};
use crate::oracle::{Answer, Truth};
use crate::workload::Draw;
use weft_vnet::{MessageClass, VNet};

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

    /// Node `index`, alone in its network.
    fn engine(&self, index: u32, seed: u64) -> Pastry<u32> {
        Pastry::new(self.config.clone(), self.id_of(index), index, seed)
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
            |i| self.engine(i, seed),
        )
    }

    fn joiner(
        &self,
        index: u32,
        seed: u64,
        bootstrap: Option<u32>,
        _now: Time,
    ) -> (Pastry<u32>, Option<Command<u32>>) {
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

    fn position(&self, engine: &Pastry<u32>) -> Option<u64> {
        Some(engine.local().id)
    }

    /// The live node numerically closest to the key (closest in bit-reversed order for
    /// Tapestry's suffix routing).
    fn truth_now(
        &self,
        truth: &Truth,
        _sim: &VNet<Pastry<u32>>,
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

    /// Checked by `pastry_hops_below_the_digit_count_at_small_b` (`tests/adapters.rs`) and
    /// the state figures in the module docs.
    fn explain_gap(&self, gap: &Gap) -> Option<String> {
        let (b, l) = (self.config.b, self.config.leaf_set);
        let digits = (gap.n as f64).log2() / f64::from(b);
        match (gap.figure, gap.below()) {
            (Figure::Hops, true) => Some(format!(
                "a hop resolves one digit or more: the next node shares a further digit with the key once in 2^b = {} times, so about (1 − 2^−b)·log_{{2^b}} N = {:.2} hops (5.05 measured against 4.98 with a leaf set of 2 at b = 2, N = 10^4); the leaf set (L = {l}) delivers once the key is among the L/2 nodes either side (4.50 there)",
                1u64 << b,
                (1.0 - 0.5f64.powi(b as i32)) * digits,
            )),
            (Figure::Hops, false) if digits.fract() > 0.0 => {
                let whole = digits.floor();
                Some(format!(
                    "a route takes whole hops: after ⌊log_{{2^b}} N⌋ = {whole} table hops about N/2^(b·{whole}) = {:.0} nodes still share the key's resolved digits, and one more hop (leaf set or table) reaches the owner: ⌈log_{{2^b}} N⌉ = {}, the paper's own step count (median measured {})",
                    gap.n as f64 / 2f64.powf(f64::from(b) * whole),
                    whole + 1.0,
                    gap.p50_hops
                ))
            }
            (Figure::State, true) => Some(format!(
                "the engine counts distinct nodes: a node in both a table slot and the leaf or neighbourhood set counts once (8–11 per node in converged tables at b = 2 and 4, N = 10^3 and 10^4){}",
                if gap.build == BuildMode::Join {
                    "; built by joins, tables hold fewer nodes still (b = 4, N = 1000: 46.6 against 54.4 converged)"
                } else {
                    ""
                }
            )),
            _ => None,
        }
    }

    fn state_size(&self, engine: &Pastry<u32>) -> usize {
        engine.state_size()
    }

    fn expected(&self, n: usize) -> Expected {
        let sets = (self.config.leaf_set + self.config.neighbourhood) as f64;
        let n_f = n as f64;
        Expected {
            hops: Some(n_f.log2() / f64::from(self.config.b)),
            state: Some((filled_slots(n, self.config.b) + sets).min(n_f - 1.0)),
            hops_formula: "log_{2^b} N",
            state_formula: "(2^b−1)·Σ_r (1 − e^(−N/2^(b(r+1)))) + L + M",
            source: if self.config.suffix {
                "Zhao et al. 2001 (Tapestry: suffix routing, log_{2^b} N hops), as Pastry's mirror; state as Pastry's, slots filled with the probability derived here"
            } else {
                "Rowstron and Druschel 2001, §2.1 (⌈log_{2^b} N⌉ steps; (2^b−1)·⌈log_{2^b} N⌉ slots + L + M entries, of which a slot of row r is filled with probability 1 − e^(−N/2^(b(r+1))): derived here)"
            },
            table3: Some(if self.config.suffix {
                ("log_b N", "log_b N")
            } else {
                ("log_b N", "b·log_b N + b")
            }),
        }
    }
}

/// The routing-table slots expected to be filled at a node of an `n`-node network with `b`
/// bits per digit: row `r` has `2^b − 1` slots, each filled when one of the other `n − 1`
/// nodes has that `r + 1`-digit prefix, with probability `1 − e^(−(n−1)/2^(b(r+1)))`.
/// Converged tables measure it to 0.1 slot (14.7 at b = 2, 45.9 at b = 4, N = 10^4).
pub fn filled_slots(n: usize, b: u32) -> f64 {
    let others = n.saturating_sub(1) as f64;
    let width = f64::from((1u32 << b) - 1);
    (0..64 / b)
        .map(|r| width * (1.0 - (-others / 2f64.powi((b * (r + 1)) as i32)).exp()))
        .sum()
}
