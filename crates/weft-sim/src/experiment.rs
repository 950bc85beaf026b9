//! The experiment runner: brings an overlay up, injects lookups at a bounded rate (with churn
//! if asked), and collects outcomes into a [`RunResult`].
//!
//! # Phases
//!
//! 1. **Build.** [`BuildMode::Converged`] adds the algorithm's converged engines at once;
//!    [`BuildMode::Join`] starts one node and adds the others one every
//!    [`RunConfig::join_interval`] through the join protocol, each bootstrapping through a random
//!    live node.
//! 2. **Settle.** The algorithm's [`Algorithm::prepare`] runs, then the simulation runs for
//!    [`RunConfig::settle`] (stabilization, refresh, publishes reaching their holders).
//! 3. **Lookups.** One lookup every `1/rate` seconds of virtual time (or spread evenly over
//!    [`RunConfig::window`]) from a random live node, for a key drawn from the workload; while
//!    [`RunConfig::max_in_flight`] lookups are outstanding, injection waits. A lookup with no
//!    outcome after [`RunConfig::lookup_timeout`] counts as failed. Every answer is judged by
//!    the algorithm's oracle ([`Algorithm::check`]) against the live nodes at that moment. With
//!    churn, every node's session ends at a drawn time (the node crashes, or leaves
//!    gracefully) and a fresh node joins after a short delay; departures and joins inside the
//!    window are counted.
//! 4. The run stops when every lookup has an outcome.

use std::collections::BTreeMap;
use std::time::Duration;

use indicatif::ProgressBar;
use rand::Rng;
use weft_core::time::Time;
use weft_overlay::QueryId;

use crate::algorithm::{Algorithm, BuildMode, Expected, Figure, Gap, Outcome};
use crate::churn::{ChurnModel, Departure};
use crate::memory;
use crate::network::NetworkModel;
use crate::oracle::{Truth, Verdict};
use crate::workload::{KeyDist, Workload};
use weft_vnet::{Counters, Step, VNet};

/// Parameters of one run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunConfig {
    /// Nodes in the network (the population target under churn).
    pub nodes: usize,
    /// Lookups to issue.
    pub lookups: usize,
    /// The seed: fixes ids, latencies, keys, origins and churn.
    pub seed: u64,
    /// Latency and loss.
    pub network: NetworkModel,
    /// Churn, if any.
    pub churn: Option<ChurnModel>,
    /// How lookup keys are drawn.
    pub keys: KeyDist,
    /// Lookups per second of virtual time.
    pub rate: f64,
    /// Spread the lookups evenly over this much virtual time instead of injecting them at
    /// `rate` (so that churn turns sessions over while they run).
    pub window: Option<Duration>,
    /// Most lookups outstanding at once.
    pub max_in_flight: usize,
    /// A lookup with no outcome after this long failed.
    pub lookup_timeout: Duration,
    /// How the overlay is built.
    pub build: BuildMode,
    /// Delay between joins in [`BuildMode::Join`].
    pub join_interval: Duration,
    /// Virtual time to run after building and before lookups.
    pub settle: Duration,
    /// Virtual time to keep running after the last lookup's outcome, so that traffic still
    /// in flight (a flood's last forwards) is delivered and counted.
    pub drain: Duration,
}

impl RunConfig {
    /// Defaults for `nodes` nodes and `lookups` lookups: log-normal latency (median 50 ms), no
    /// loss, no churn, uniform keys, 200 lookups/s, at most 1,000 in flight, a 900 s safety
    /// timeout (engines report their own, shorter, lookup timeouts),
    /// converged build, 10 s settle.
    pub fn new(nodes: usize, lookups: usize, seed: u64) -> Self {
        RunConfig {
            nodes,
            lookups,
            seed,
            network: NetworkModel::default(),
            churn: None,
            keys: KeyDist::Uniform,
            rate: 200.0,
            window: None,
            max_in_flight: 1000,
            lookup_timeout: Duration::from_secs(900),
            build: BuildMode::Converged,
            join_interval: Duration::from_millis(500),
            settle: Duration::from_secs(10),
            drain: Duration::ZERO,
        }
    }
}

/// Everything one run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// Algorithm name.
    pub algo: &'static str,
    /// What ran: the name and its parameters ([`Algorithm::label`]).
    pub label: String,
    /// Nodes asked for.
    pub nodes: usize,
    /// Live nodes at the end.
    pub nodes_end: usize,
    /// Lookups issued.
    pub lookups: usize,
    /// Lookups the engine answered (found, in its own word).
    pub successes: usize,
    /// Answers the oracle found correct.
    pub correct: usize,
    /// Answers the oracle found wrong.
    pub wrong: usize,
    /// Whether the algorithm has an oracle ([`Algorithm::has_oracle`]; otherwise `correct`
    /// and `wrong` are 0 and the engine's word is all there is).
    pub checked: bool,
    /// Nodes that left inside the measured window (churn).
    pub departed: usize,
    /// Nodes that joined inside the measured window (churn).
    pub joined: usize,
    /// The measured window: [`RunConfig::window`] when lookups are spread over one (the
    /// same span for every algorithm, whatever their lookup timeouts; lookups still out at
    /// its end run to their outcome, but departures after it are not counted), else the
    /// virtual time from the first lookup to the last outcome.
    pub window: Duration,
    /// Virtual time from the first lookup to the last outcome (longer than `window` when
    /// lookups were still out at its end).
    pub lookup_span: Duration,
    /// Forwards not acknowledged in time during the lookup phase, summed over every node
    /// (those that left included), for engines that route around dead hops
    /// ([`Algorithm::hop_timeouts`]): each cost its lookup the hop timeout and a re-route.
    pub hop_timeouts: Option<u64>,
    /// Lookups the engine reported as failed.
    pub failures: usize,
    /// Lookups with no outcome before the timeout.
    pub timeouts: usize,
    /// Lookups abandoned because their origin left (excluded from the success rate).
    pub abandoned: usize,
    /// Hops of each successful lookup, sorted.
    pub hops: Vec<u32>,
    /// Latency of each successful lookup in ms, in completion order.
    pub latency_ms: Vec<f64>,
    /// Messages per lookup as counted by the engine, when it counts them.
    pub messages_per_lookup: Vec<u32>,
    /// Lookup-class messages sent during the lookup phase.
    pub lookup_messages: u64,
    /// Mean routing state per live node at the end.
    pub mean_state: f64,
    /// The literature's figures.
    pub expected: Expected,
    /// Why mean hops are more than [`crate::report::GAP`] off the formula
    /// ([`Algorithm::explain_gap`]); `None` when they are not, or no cause is known.
    pub hops_gap_reason: Option<String>,
    /// Why mean state is that far off.
    pub state_gap_reason: Option<String>,
    /// The loop's counters.
    pub counters: Counters,
    /// Events in the trace.
    pub events: u64,
    /// The trace hash.
    pub trace_hash: String,
    /// Virtual time at the end.
    pub virtual_end: Time,
    /// Largest queue length seen.
    pub peak_queue: usize,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// Memory the run added at its peak, in MiB ([`memory::Meter::peak_mb`]).
    pub peak_mb: Option<f64>,
    /// Where `peak_mb` comes from: the counting allocator's heap bytes or the resident set.
    pub peak_source: memory::Source,
    /// The algorithm's own figures ([`Algorithm::extra`]).
    pub extra: std::collections::BTreeMap<String, serde_json::Value>,
}

impl RunResult {
    /// Correct answers over decided lookups (issued minus abandoned), or answers for an
    /// algorithm without an oracle; 0 when none were decided.
    pub fn success_rate(&self) -> f64 {
        let good = if self.checked {
            self.correct
        } else {
            self.successes
        };
        self.share(good)
    }

    /// Answered lookups (correct or not) over decided lookups.
    pub fn answered_rate(&self) -> f64 {
        self.share(self.successes)
    }

    fn share(&self, count: usize) -> f64 {
        let decided = self.lookups.saturating_sub(self.abandoned);
        if decided == 0 {
            0.0
        } else {
            count as f64 / decided as f64
        }
    }

    /// Mean hops of successful lookups.
    pub fn mean_hops(&self) -> f64 {
        mean(self.hops.iter().map(|&h| f64::from(h)))
    }

    /// The `q`-quantile (0..=1) of hops of successful lookups (nearest rank).
    pub fn hops_quantile(&self, q: f64) -> u32 {
        quantile_sorted(&self.hops, q).unwrap_or(0)
    }

    /// Mean messages per lookup: the engine's per-query counts when it reports them, else
    /// lookup-class messages over lookups issued.
    pub fn mean_messages(&self) -> f64 {
        if !self.messages_per_lookup.is_empty() {
            mean(self.messages_per_lookup.iter().map(|&m| f64::from(m)))
        } else if self.lookups > 0 {
            self.lookup_messages as f64 / self.lookups as f64
        } else {
            0.0
        }
    }

    /// Mean latency of successful lookups in ms.
    pub fn mean_latency_ms(&self) -> f64 {
        mean(self.latency_ms.iter().copied())
    }
}

/// The mean of `xs`, 0 when empty.
pub fn mean(xs: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = xs.fold((0.0, 0u64), |(s, n), x| (s + x, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// Nearest-rank quantile of a sorted slice.
pub fn quantile_sorted<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.saturating_sub(1).min(sorted.len() - 1)])
}

/// Control event tags: the kind in the high 32 bits, an index in the low 32.
mod tag {
    pub const INJECT: u64 = 1;
    pub const DEADLINE: u64 = 2;
    pub const LEAVE: u64 = 3;
    pub const JOIN: u64 = 4;
    pub const BUILD_JOIN: u64 = 5;
    pub const SETTLED: u64 = 6;

    pub fn make(kind: u64, index: u64) -> u64 {
        (kind << 32) | (index & 0xFFFF_FFFF)
    }
    pub fn split(t: u64) -> (u64, u64) {
        (t >> 32, t & 0xFFFF_FFFF)
    }
}

struct InFlight {
    started: Time,
    origin: u32,
    query: QueryId,
    draw: crate::workload::Draw,
    /// The right answer when the lookup started, if the algorithm has an oracle.
    truth_at_start: Option<crate::oracle::Answer>,
}

/// Live node indices with O(1) random choice and removal.
#[derive(Default)]
struct LiveSet {
    nodes: Vec<u32>,
    pos: Vec<u32>,
}

impl LiveSet {
    fn insert(&mut self, node: u32) {
        let n = node as usize;
        if self.pos.len() <= n {
            self.pos.resize(n + 1, u32::MAX);
        }
        if self.pos[n] == u32::MAX {
            self.pos[n] = self.nodes.len() as u32;
            self.nodes.push(node);
        }
    }
    fn remove(&mut self, node: u32) {
        let Some(&p) = self.pos.get(node as usize) else {
            return;
        };
        if p == u32::MAX {
            return;
        }
        self.nodes.swap_remove(p as usize);
        if let Some(&moved) = self.nodes.get(p as usize) {
            self.pos[moved as usize] = p;
        }
        self.pos[node as usize] = u32::MAX;
    }
    fn choose(&self, rng: &mut impl Rng) -> Option<u32> {
        (!self.nodes.is_empty()).then(|| self.nodes[rng.random_range(0..self.nodes.len())])
    }
}

/// The mutable state of one run's lookup phase.
struct Lookups {
    by_query: BTreeMap<(u32, QueryId), u32>,
    in_flight: BTreeMap<u32, InFlight>,
    injected: usize,
    finished: usize,
    successes: usize,
    correct: usize,
    wrong: usize,
    failures: usize,
    timeouts: usize,
    abandoned: usize,
    departed: usize,
    joined: usize,
    /// Departures and joins after this are outside the measured window.
    window_end: Time,
    /// Hop timeouts of the nodes that left during the lookup phase.
    hop_timeouts_gone: u64,
    hops: Vec<u32>,
    latency_ms: Vec<f64>,
    messages: Vec<u32>,
}

/// Runs one experiment of `algo` under `cfg`; `progress` advances by one per finished lookup.
pub fn run<A: Algorithm>(algo: &A, cfg: &RunConfig, progress: &ProgressBar) -> RunResult {
    let meter = memory::Meter::start();
    let mut sim = VNet::<A::E>::new(&algo.label(), cfg.seed, cfg.network, A::classify);
    let mut live = LiveSet::default();
    let mut truth = Truth::default();
    algo.instrument(&mut sim);

    // 1. Build.
    match cfg.build {
        BuildMode::Converged => {
            sim.extend(algo.build_converged(cfg.nodes, cfg.seed));
            for i in 0..cfg.nodes as u32 {
                live.insert(i);
            }
            for (i, e) in sim.live() {
                if let Some(p) = algo.position(e) {
                    truth.insert(p, i);
                }
            }
        }
        BuildMode::Join => {
            let (e, cmd) = algo.joiner(0, cfg.seed, None, sim.now());
            let first = sim.join(e, None);
            algo.on_join(&mut sim, first);
            if let Some(cmd) = cmd {
                sim.command(first, cmd);
            }
            live.insert(first);
            if let Some(p) = sim.engine(first).and_then(|e| algo.position(e)) {
                truth.insert(p, first);
            }
            // One node has nobody to join: its maintenance timers would keep the loop below
            // busy forever.
            if cfg.nodes > 1 {
                sim.schedule_control(sim.now() + cfg.join_interval, tag::make(tag::BUILD_JOIN, 0));
                loop {
                    match sim.step() {
                        Step::Control(t) if tag::split(t).0 == tag::BUILD_JOIN => {
                            join_one(algo, cfg, &mut sim, &mut live, &mut truth, false);
                            if sim.len() < cfg.nodes {
                                sim.schedule_control(
                                    sim.now() + cfg.join_interval,
                                    tag::make(tag::BUILD_JOIN, 0),
                                );
                            } else {
                                break;
                            }
                        }
                        Step::Idle => break,
                        _ => {}
                    }
                    pump(algo, &mut sim);
                }
            }
        }
    }

    // 2. Settle.
    algo.prepare(&mut sim, cfg.seed);
    let settle = if cfg.build == BuildMode::Join {
        cfg.settle.max(algo.settle_after_joins())
    } else {
        cfg.settle
    };
    let settled = sim.now() + settle;
    sim.schedule_control(settled, tag::make(tag::SETTLED, 0));
    while !matches!(sim.step(), Step::Control(_) | Step::Idle) {
        pump(algo, &mut sim);
    }
    pump(algo, &mut sim);
    let sent_before = sim.counters().lookup_sent;

    // 3. Lookups (and churn).
    if let Some(churn) = &cfg.churn {
        let nodes: Vec<u32> = live.nodes.clone();
        for i in nodes {
            if !algo.is_permanent(i) {
                let at = sim.now() + churn.session.sample(sim.rng());
                sim.schedule_control(at, tag::make(tag::LEAVE, u64::from(i)));
            }
        }
    }
    let workload = Workload::new(cfg.seed, cfg.keys);
    let interval = match cfg.window {
        Some(w) if cfg.lookups > 0 => w / cfg.lookups as u32,
        _ => Duration::from_secs_f64(1.0 / cfg.rate.max(1e-6)),
    };
    let window_start = sim.now();
    let hop_timeouts_before = hop_timeouts_live(algo, &sim);
    let mut lk = Lookups {
        by_query: BTreeMap::new(),
        in_flight: BTreeMap::new(),
        injected: 0,
        finished: 0,
        successes: 0,
        correct: 0,
        wrong: 0,
        failures: 0,
        timeouts: 0,
        abandoned: 0,
        departed: 0,
        joined: 0,
        window_end: cfg.window.map_or(Time::MAX, |w| window_start + w),
        hop_timeouts_gone: 0,
        hops: Vec::with_capacity(cfg.lookups),
        latency_ms: Vec::with_capacity(cfg.lookups),
        messages: Vec::new(),
    };
    if cfg.lookups > 0 {
        sim.schedule_control(sim.now(), tag::make(tag::INJECT, 0));
    }
    while lk.finished < cfg.lookups {
        match sim.step() {
            Step::Idle => break,
            Step::Progress => {}
            Step::Control(t) => {
                let (kind, index) = tag::split(t);
                match kind {
                    tag::INJECT => {
                        if lk.in_flight.len() >= cfg.max_in_flight {
                            sim.schedule_control(sim.now() + interval, t);
                        } else {
                            inject(algo, cfg, &workload, &mut sim, &live, &truth, &mut lk);
                            if lk.injected < cfg.lookups {
                                sim.schedule_control(sim.now() + interval, t);
                            }
                        }
                    }
                    tag::DEADLINE => {
                        if let Some(f) = lk.in_flight.remove(&(index as u32)) {
                            lk.by_query.remove(&(f.origin, f.query));
                            lk.timeouts += 1;
                            lk.finished += 1;
                            progress.inc(1);
                        }
                    }
                    tag::LEAVE => {
                        let node = index as u32;
                        let graceful = cfg
                            .churn
                            .is_some_and(|c| c.departure == Departure::Graceful);
                        if graceful && let Some(cmd) = algo.graceful_leave() {
                            sim.command(node, cmd);
                        }
                        if let Some(gone) = sim.crash(node) {
                            if sim.now() <= lk.window_end {
                                lk.departed += 1;
                            }
                            lk.hop_timeouts_gone += algo.hop_timeouts(&gone).unwrap_or(0);
                            if let Some(p) = algo.position(&gone) {
                                truth.remove(p, node);
                            }
                            live.remove(node);
                            algo.on_leave(&mut sim, node);
                            let gone: Vec<u32> = lk
                                .in_flight
                                .iter()
                                .filter(|(_, f)| f.origin == node)
                                .map(|(&i, _)| i)
                                .collect();
                            for i in gone {
                                if let Some(f) = lk.in_flight.remove(&i) {
                                    lk.by_query.remove(&(f.origin, f.query));
                                    lk.abandoned += 1;
                                    lk.finished += 1;
                                    progress.inc(1);
                                }
                            }
                            if let Some(churn) = &cfg.churn {
                                let at = sim.now() + churn.replace_delay(sim.rng());
                                sim.schedule_control(at, tag::make(tag::JOIN, 0));
                            }
                        }
                    }
                    tag::JOIN => {
                        if sim.now() <= lk.window_end {
                            lk.joined += 1;
                        }
                        join_one(algo, cfg, &mut sim, &mut live, &mut truth, true);
                    }
                    _ => {}
                }
            }
        }
        collect(algo, &mut sim, &truth, &mut lk, progress);
    }
    let lookup_span = sim.now().saturating_since(window_start);
    let window = cfg.window.unwrap_or(lookup_span);
    let hop_timeouts = hop_timeouts_live(algo, &sim)
        .map(|live| live + lk.hop_timeouts_gone - hop_timeouts_before.unwrap_or(0));
    if !cfg.drain.is_zero() {
        let end = sim.now() + cfg.drain;
        while sim.step_until(end) != Step::Idle {
            collect(algo, &mut sim, &truth, &mut lk, progress);
        }
    }
    // Lookups still outstanding when nothing more can happen time out.
    lk.timeouts += lk.in_flight.len();
    lk.hops.sort_unstable();

    let mut state_sum = 0.0;
    let mut state_n = 0u64;
    for (_, e) in sim.live() {
        state_sum += algo.state_size(e) as f64;
        state_n += 1;
    }
    let counters = sim.counters();
    let extra = algo.extra(&sim);
    let mean_state = if state_n == 0 {
        0.0
    } else {
        state_sum / state_n as f64
    };
    let expected = algo.expected(cfg.nodes);
    let decided = lk.injected.saturating_sub(lk.abandoned);
    let correct_rate = if decided == 0 {
        0.0
    } else {
        lk.correct as f64 / decided as f64
    };
    let gap = |figure, measured: f64, formula: Option<f64>| {
        let expected = formula.filter(|x| *x > 0.0)?;
        if (measured / expected - 1.0).abs() <= crate::report::GAP {
            return None;
        }
        algo.explain_gap(&Gap {
            figure,
            n: cfg.nodes,
            measured,
            expected,
            build: cfg.build,
            churn: cfg.churn.is_some(),
            correct_rate,
            p50_hops: quantile_sorted(&lk.hops, 0.5).unwrap_or(0),
        })
    };
    let mean_hops = mean(lk.hops.iter().map(|&h| f64::from(h)));
    let hops_gap_reason = if lk.hops.is_empty() {
        None
    } else {
        gap(Figure::Hops, mean_hops, expected.hops)
    };
    let state_gap_reason = gap(Figure::State, mean_state, expected.state);
    RunResult {
        hops_gap_reason,
        state_gap_reason,
        extra,
        algo: algo.name(),
        label: algo.label(),
        nodes: cfg.nodes,
        nodes_end: sim.alive(),
        lookups: lk.injected,
        successes: lk.successes,
        correct: lk.correct,
        wrong: lk.wrong,
        checked: algo.has_oracle(),
        departed: lk.departed,
        joined: lk.joined,
        window,
        lookup_span,
        hop_timeouts,
        failures: lk.failures,
        timeouts: lk.timeouts,
        abandoned: lk.abandoned,
        hops: lk.hops,
        latency_ms: lk.latency_ms,
        messages_per_lookup: lk.messages,
        lookup_messages: counters.lookup_sent - sent_before,
        mean_state,
        expected,
        counters,
        events: sim.trace_events(),
        trace_hash: sim.trace_hash(),
        virtual_end: sim.now(),
        peak_queue: sim.queue_len().1,
        wall_s: meter.wall_s(),
        peak_mb: meter.peak_mb(),
        peak_source: meter.source(),
    }
}

/// Hop timeouts summed over the live nodes, for algorithms that count them.
fn hop_timeouts_live<A: Algorithm>(algo: &A, sim: &VNet<A::E>) -> Option<u64> {
    let mut sum = None;
    for (_, e) in sim.live() {
        if let Some(n) = algo.hop_timeouts(e) {
            *sum.get_or_insert(0) += n;
        }
    }
    sum
}

fn join_one<A: Algorithm>(
    algo: &A,
    cfg: &RunConfig,
    sim: &mut VNet<A::E>,
    live: &mut LiveSet,
    truth: &mut Truth,
    churned: bool,
) {
    let index = sim.len() as u32;
    let bootstrap = live.choose(sim.rng());
    let (e, cmd) = algo.joiner(index, cfg.seed, bootstrap, sim.now());
    let i = sim.join(e, bootstrap);
    algo.on_join(sim, i);
    if let Some(cmd) = cmd {
        sim.command(i, cmd);
    }
    live.insert(i);
    if let Some(p) = sim.engine(i).and_then(|e| algo.position(e)) {
        truth.insert(p, i);
    }
    if churned && let Some(churn) = &cfg.churn {
        let at = sim.now() + churn.session.sample(sim.rng());
        sim.schedule_control(at, tag::make(tag::LEAVE, u64::from(i)));
    }
}

fn inject<A: Algorithm>(
    algo: &A,
    cfg: &RunConfig,
    workload: &Workload,
    sim: &mut VNet<A::E>,
    live: &LiveSet,
    truth: &Truth,
    lk: &mut Lookups,
) {
    let index = lk.injected as u32;
    lk.injected += 1;
    let Some(candidate) = live.choose(sim.rng()) else {
        lk.failures += 1;
        lk.finished += 1;
        return;
    };
    let origin = algo.origin(candidate);
    let draw = workload.next(sim.rng());
    let cmd = algo.lookup(&draw, origin);
    let started = sim.now();
    let truth_at_start = algo.truth_now(truth, sim, &draw, origin);
    match sim.command(origin, cmd) {
        Some(query) => {
            lk.by_query.insert((origin, query), index);
            lk.in_flight.insert(
                index,
                InFlight {
                    started,
                    origin,
                    query,
                    draw,
                    truth_at_start,
                },
            );
            sim.schedule_control(
                started + cfg.lookup_timeout,
                tag::make(tag::DEADLINE, u64::from(index)),
            );
        }
        None => {
            lk.failures += 1;
            lk.finished += 1;
        }
    }
}

fn collect<A: Algorithm>(
    algo: &A,
    sim: &mut VNet<A::E>,
    truth: &Truth,
    lk: &mut Lookups,
    progress: &ProgressBar,
) {
    let now = sim.now();
    let events = pump(algo, sim);
    for (node, ev) in events {
        let Some((query, outcome)) = algo.outcome(&ev) else {
            continue;
        };
        let Some(index) = lk.by_query.remove(&(node, query)) else {
            continue;
        };
        let Some(f) = lk.in_flight.remove(&index) else {
            continue;
        };
        lk.finished += 1;
        progress.inc(1);
        match outcome {
            Outcome::Success {
                hops,
                messages,
                answer,
            } => {
                lk.successes += 1;
                let verdict = match algo.check(truth, sim, &f.draw, f.origin, &answer) {
                    Verdict::Wrong if f.truth_at_start.is_some_and(|t| t.same_as(&answer)) => {
                        Verdict::Correct
                    }
                    v => v,
                };
                match verdict {
                    Verdict::Correct => lk.correct += 1,
                    Verdict::Wrong => lk.wrong += 1,
                    Verdict::Unchecked => {}
                }
                lk.hops.push(hops);
                lk.latency_ms
                    .push(now.saturating_since(f.started).as_secs_f64() * 1000.0);
                if let Some(m) = messages {
                    lk.messages.push(m);
                }
            }
            Outcome::Failure => lk.failures += 1,
        }
    }
}

/// Drains the simulation's events, gives each node the commands its events call for
/// ([`Algorithm::react`]), and returns every event (including those the reactions caused).
pub fn pump<A: Algorithm>(
    algo: &A,
    sim: &mut VNet<A::E>,
) -> Vec<(u32, crate::algorithm::EventOf<A>)> {
    let mut all = Vec::new();
    loop {
        let batch: Vec<_> = sim.drain_events().collect();
        if batch.is_empty() {
            return all;
        }
        for (node, ev) in batch {
            if let Some(cmd) = algo.react(node, &ev) {
                sim.command(node, cmd);
            }
            all.push((node, ev));
        }
    }
}
