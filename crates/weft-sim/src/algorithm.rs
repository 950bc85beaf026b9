//! The adapter layer: what the experiment runner needs to know about each algorithm.
//!
//! An [`Algorithm`] builds engines (converged for large `N`, through the join protocol for
//! small `N` and under churn), turns a workload key into a lookup command, reads the engine's
//! events back as [`Outcome`]s, measures per-node state, and gives the figure the literature
//! expects ([`Expected`]) so the report can put both side by side.

use weft_core::time::Time;
use weft_overlay::{Engine, QueryId};

use crate::oracle::{Answer, Truth, Verdict};
use crate::workload::Draw;
use weft_vnet::{MessageClass, VNet};

/// The message type of an algorithm's engine.
pub type MessageOf<A> = <<A as Algorithm>::E as Engine>::Message;
/// The command type of an algorithm's engine.
pub type CommandOf<A> = <<A as Algorithm>::E as Engine>::Command;
/// The event type of an algorithm's engine.
pub type EventOf<A> = <<A as Algorithm>::E as Engine>::Event;

/// How a lookup ended, as the engine reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Answered: the engine says it reached the key's owner (or the content); the oracle
    /// judges whether it did ([`Algorithm::check`]).
    Success {
        /// Overlay hops the lookup took (the engine's own count).
        hops: u32,
        /// Messages the lookup used, when the engine counts them per query.
        messages: Option<u32>,
        /// What it answered.
        answer: Answer,
    },
    /// The engine gave up (no route, TTL exhausted, all candidates timed out).
    Failure,
}

/// The literature's figures for one algorithm at one size, with where they come from and,
/// where the simulator measures something else, why.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Expected {
    /// Expected mean hops per lookup, when the literature gives one.
    pub hops: Option<f64>,
    /// Expected routing state per node (table entries), when the literature gives one.
    pub state: Option<f64>,
    /// The hops formula the figure is computed from, for the report (e.g. `"½·log2 N"`).
    pub hops_formula: &'static str,
    /// The state formula, for the report.
    pub state_formula: &'static str,
    /// Where the formulas come from: the algorithm's own paper.
    pub source: &'static str,
    /// The survey's Table 3 entries `(hops, state)`, for algorithms it lists.
    pub table3: Option<(&'static str, &'static str)>,
}

/// Which measured figure a [`Gap`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    /// Mean hops per lookup.
    Hops,
    /// Mean routing state per node.
    State,
}

/// A measured figure more than [`crate::report::GAP`] off its formula, with what the
/// explanation may depend on ([`Algorithm::explain_gap`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gap {
    /// Which figure.
    pub figure: Figure,
    /// Nodes asked for.
    pub n: usize,
    /// The measured figure.
    pub measured: f64,
    /// The formula's figure (> 0).
    pub expected: f64,
    /// How the overlay was built.
    pub build: BuildMode,
    /// Whether nodes came and went while lookups ran.
    pub churn: bool,
    /// Correct answers over decided lookups (the run's success rate).
    pub correct_rate: f64,
    /// Median hops of the answered lookups.
    pub p50_hops: u32,
}

impl Gap {
    /// Whether the measured figure is below the formula's.
    pub fn below(&self) -> bool {
        self.measured < self.expected
    }
}

/// How the overlay is brought up before lookups start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum BuildMode {
    /// The algorithm's fast constructor: every node starts with converged tables.
    Converged,
    /// Nodes join one by one through the join protocol, then the overlay settles.
    Join,
}

/// One routing or location algorithm, as the experiment runner drives it.
pub trait Algorithm {
    /// The engine type; its messages are encoded into the trace hash.
    type E: Engine<Addr = u32, Message: serde::Serialize>;

    /// The name used on the command line and in reports.
    fn name(&self) -> &'static str;

    /// What runs, for the trace hash and the report: the name and the parameters that change
    /// the run (e.g. `pastry b=4 L=16 M=16 prefix`). The default is the name.
    fn label(&self) -> String {
        self.name().to_string()
    }

    /// Names each message for the trace and says whether it is lookup traffic.
    fn classify(msg: &MessageOf<Self>) -> MessageClass;

    /// `n` engines, indices `0..n`, with converged routing state.
    fn build_converged(&self, n: usize, seed: u64) -> Vec<Self::E>;

    /// A fresh engine for node `index` that joins at `now` through `bootstrap` (`None` for the
    /// first node of the network), and the command that starts its join, if it needs one.
    fn joiner(
        &self,
        index: u32,
        seed: u64,
        bootstrap: Option<u32>,
        now: Time,
    ) -> (Self::E, Option<CommandOf<Self>>);

    /// The command (if any) node `node` should be given in answer to its event `ev`: the
    /// application side of engines that ask it questions (e.g. flooding's match requests).
    /// The default answers nothing.
    fn react(&self, _node: u32, _ev: &EventOf<Self>) -> Option<CommandOf<Self>> {
        None
    }

    /// The command that makes a node leave gracefully (hand over its state, tell its
    /// neighbours), given when its session ends under [`crate::churn::Departure::Graceful`];
    /// `None` (the default: the engine has no leave) makes every departure a crash.
    fn graceful_leave(&self) -> Option<CommandOf<Self>> {
        None
    }

    /// Called after node `index` joined (the driver's "connection up" for engines that need
    /// one, e.g. the directory). The default does nothing.
    fn on_join(&self, _sim: &mut VNet<Self::E>, _index: u32) {}

    /// Called after node `index` left (the driver's "connection down"). The default does
    /// nothing.
    fn on_leave(&self, _sim: &mut VNet<Self::E>, _index: u32) {}

    /// Run-specific figures added to the run's report (e.g. the directory server's load).
    /// The default adds none.
    fn extra(&self, _sim: &VNet<Self::E>) -> std::collections::BTreeMap<String, serde_json::Value> {
        std::collections::BTreeMap::new()
    }

    /// Whether node `index` is exempt from churn (e.g. the directory server).
    fn is_permanent(&self, _index: u32) -> bool {
        false
    }

    /// Called once on the fresh simulation, before the build (e.g. to install an observer).
    /// The default does nothing.
    fn instrument(&self, _sim: &mut VNet<Self::E>) {}

    /// Puts content in place before lookups start (e.g. publishes catalogue items on random
    /// nodes); the runner steps the simulation afterwards until it is quiet or a settle time
    /// has passed. The default does nothing.
    fn prepare(&self, _sim: &mut VNet<Self::E>, _seed: u64) {}

    /// The node a lookup should start from, given a random live node: most algorithms use it
    /// as is; the directory avoids its server.
    fn origin(&self, candidate: u32) -> u32 {
        candidate
    }

    /// The command that looks up `draw` from `origin`.
    fn lookup(&self, draw: &Draw, origin: u32) -> CommandOf<Self>;

    /// If `ev` ends a lookup, its id and outcome.
    fn outcome(&self, ev: &EventOf<Self>) -> Option<(QueryId, Outcome)>;

    /// How long the overlay should settle after a [`BuildMode::Join`] build before lookups
    /// start (its repair timers need time to fill the tables); the run settles for the larger
    /// of this and its configured settle time. The default is zero.
    fn settle_after_joins(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// Where `engine` sits in the oracle's [`Truth`] (its position on the id circle), for
    /// algorithms whose oracle reads one; `None` (the default) leaves it out.
    fn position(&self, _engine: &Self::E) -> Option<u64> {
        None
    }

    /// The right answer now to a lookup of `draw` from `origin`, from the global view:
    /// `truth` indexes every live node's [`Algorithm::position`], `sim` has every live
    /// engine. The runner takes it when a lookup starts, so an answer true then counts as
    /// correct even if churn changed the truth before the answer arrived. The default has no
    /// oracle (`None`).
    fn truth_now(
        &self,
        _truth: &Truth,
        _sim: &VNet<Self::E>,
        _draw: &Draw,
        _origin: u32,
    ) -> Option<Answer> {
        None
    }

    /// Judges `answer` to the lookup of `draw` from `origin` against the truth now. The
    /// default compares it with [`Algorithm::truth_now`] ([`Verdict::Unchecked`] without
    /// one); algorithms whose answer is cheaper to check than the truth is to find (CAN's zone
    /// owner, Freenet's data) check it directly.
    fn check(
        &self,
        truth: &Truth,
        sim: &VNet<Self::E>,
        draw: &Draw,
        origin: u32,
        answer: &Answer,
    ) -> Verdict {
        match self.truth_now(truth, sim, draw, origin) {
            Some(t) => Verdict::of(t.same_as(answer)),
            None => Verdict::Unchecked,
        }
    }

    /// Whether [`Algorithm::check`] judges answers (an oracle exists for this algorithm).
    /// The run's `oracle` flag comes from here, so a run whose lookups all failed still says
    /// that answers would have been checked. The default is `false`.
    fn has_oracle(&self) -> bool {
        false
    }

    /// Forwards `engine` made that the next node did not acknowledge in time, over its life
    /// (the cost of routing around dead hops), for engines that route around them; `None`
    /// (the default) for the others.
    fn hop_timeouts(&self, _engine: &Self::E) -> Option<u64> {
        None
    }

    /// Why `gap` arose, in one line, from what was checked (it may depend on the gap's sign,
    /// the parameters and the build); `None` (the default) when no cause is known, and the
    /// report says so.
    fn explain_gap(&self, _gap: &Gap) -> Option<String> {
        None
    }

    /// Routing state held by `engine` (table entries).
    fn state_size(&self, engine: &Self::E) -> usize;

    /// The literature's figures at `n` nodes.
    fn expected(&self, n: usize) -> Expected;
}
