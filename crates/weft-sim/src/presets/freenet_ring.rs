//! The `freenet-ring` preset: Clarke et al.'s convergence experiment (the paper's 6.5).
//!
//! 1,000 nodes start in a ring (each knows the two nodes on either side), datastores of 50
//! items and routing tables of 250 entries. Each step, a random node inserts a new key
//! (hops-to-live 20), then a random node requests a random key inserted so far (hops-to-live
//! 500); steps run one after another, so routing tables learn from every insert and request
//! before the next. The request path length is the request's hops, backtracking included
//! (for a failed request, the hops it spent).
//!
//! The experiment runs for five seeds (`--seed` and the next four), one run record each: the
//! first requests of a seed may walk hundreds of hops or run out of hops-to-live, or find a
//! short path at once, depending on where the ring happens to put the keys, so one seed says
//! little. A request that runs out of hops-to-live (a `NotFound` whose hops reached the
//! budget) is *HTL-limited*: its hop count is the budget, not a path, so path-length medians
//! leave such requests out and they are counted separately.
//!
//! Report-level fields: `path_length_start` and `path_length_end` (median hops of the first
//! and last twentieth of requests, at least 10, pooled over the seeds, HTL-limited requests
//! left out), `htl_limited_start` and `htl_limited_end` (the share of those requests that
//! ran out of hops-to-live), `success_start` and `success_end` (the share that came back
//! with the item's data), `requests_per_edge`, `seeds`, and `by_seed` (the same figures per
//! seed). Each run record adds `seed`, its own `path_length_start`, `path_length_end`,
//! `htl_limited` (a count), `htl_limited_start`, `success_start`, `success_end`, and
//! `path_length_series` (`[request index, median hops]` over fifty windows, HTL-limited
//! requests left out, for the plot).

use std::collections::BTreeMap;

use indicatif::ProgressBar;
use rand::Rng;
use weft_overlay::freenet::{Command, Event};

use crate::algorithm::Algorithm;
use crate::algos::freenet::FreenetAlgo;
use crate::cli::Plan;
use crate::experiment::{RunResult, pump, quantile_sorted};
use crate::memory;
use crate::presets::PresetRuns;
use crate::report::{RunRecord, round};
use crate::workload::item_key;
use weft_vnet::{Step, VNet};

/// Nodes in the ring.
pub const NODES: usize = 1000;

fn median(mut xs: Vec<u32>) -> u32 {
    xs.sort_unstable();
    quantile_sorted(&xs, 0.5).unwrap_or(0)
}

/// Seeds the preset runs by default: `--seed` and the next four.
pub const SEEDS: u64 = 5;

/// One request of the ring experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Request {
    /// Hops spent, backtracking included.
    hops: u32,
    /// The data came back, and it was the item's.
    found: bool,
    /// It failed because its hops-to-live ran out (not a dead end).
    htl_limited: bool,
}

/// The share of `xs` satisfying `f`.
fn share(xs: &[Request], f: impl Fn(&Request) -> bool) -> f64 {
    xs.iter().filter(|r| f(r)).count() as f64 / xs.len().max(1) as f64
}

/// Median hops of the requests in `xs` that did not run out of hops-to-live.
fn median_path(xs: &[Request]) -> u32 {
    median(
        xs.iter()
            .filter(|r| !r.htl_limited)
            .map(|r| r.hops)
            .collect(),
    )
}

/// Runs the preset: the ring experiment for [`SEEDS`] seeds from `--seed`, one run record
/// each, and the summary over all of them at report level.
pub fn run(plan: &Plan, progress: &ProgressBar) -> anyhow::Result<PresetRuns> {
    let n = plan.nodes.first().copied().unwrap_or(NODES);
    let requests = plan.lookups.unwrap_or(1000);
    let mut runs = Vec::new();
    let (mut first, mut last) = (Vec::new(), Vec::new());
    let mut by_seed = Vec::new();
    for seed in plan.seed..plan.seed.saturating_add(SEEDS) {
        let (rec, path) = run_seed(plan, seed, n, requests, progress);
        let (head, tail) = edges(&path);
        by_seed.push(serde_json::json!({
            "seed": seed,
            "path_length_start": median_path(head),
            "path_length_end": median_path(tail),
            "htl_limited_start": round(share(head, |r| r.htl_limited), 3),
            "htl_limited_end": round(share(tail, |r| r.htl_limited), 3),
        }));
        first.extend_from_slice(head);
        last.extend_from_slice(tail);
        runs.push(rec);
    }
    let mut extra = BTreeMap::new();
    extra.insert("seeds".into(), SEEDS.into());
    extra.insert("requests_per_edge".into(), edge_len(requests).into());
    extra.insert("path_length_start".into(), median_path(&first).into());
    extra.insert("path_length_end".into(), median_path(&last).into());
    extra.insert(
        "htl_limited_start".into(),
        round(share(&first, |r| r.htl_limited), 3).into(),
    );
    extra.insert(
        "htl_limited_end".into(),
        round(share(&last, |r| r.htl_limited), 3).into(),
    );
    extra.insert(
        "success_start".into(),
        round(share(&first, |r| r.found), 3).into(),
    );
    extra.insert(
        "success_end".into(),
        round(share(&last, |r| r.found), 3).into(),
    );
    extra.insert("by_seed".into(), by_seed.into());
    Ok(PresetRuns { runs, extra })
}

/// Requests in the "first" and "last" groups of a run of `requests`: a twentieth, at least
/// 10 (routing tables learn within the first hundred requests, so a tenth would already
/// mix before and after).
fn edge_len(requests: usize) -> usize {
    (requests / 20).max(10).min(requests)
}

/// The "first" and "last" groups of a run's requests ([`edge_len`] each).
fn edges(path: &[Request]) -> (&[Request], &[Request]) {
    let edge = edge_len(path.len());
    (
        &path[..edge.min(path.len())],
        &path[path.len().saturating_sub(edge)..],
    )
}

/// One seed of the ring experiment: its run record and every request in order.
fn run_seed(
    plan: &Plan,
    seed: u64,
    n: usize,
    requests: usize,
    progress: &ProgressBar,
) -> (RunRecord, Vec<Request>) {
    let meter = memory::Meter::start();
    let algo = FreenetAlgo::clarke(seed);
    let mut sim = VNet::new(
        algo.label().as_str(),
        seed,
        plan.network,
        FreenetAlgo::classify,
    );
    sim.extend(algo.build_converged(n, seed));
    progress.set_message(format!("freenet ring seed {seed}"));
    progress.set_length(requests as u64);
    progress.set_position(0);
    let htl = u32::from(algo.request_htl);
    let mut path: Vec<Request> = Vec::with_capacity(requests);
    let mut latency_ms = Vec::new();
    for step in 0..requests as u64 {
        let inserter = sim.rng().random_range(0..n as u32);
        let cmd = Command::Insert {
            key: item_key(seed, step),
            data: FreenetAlgo::data_of(step),
            htl: Some(algo.insert_htl),
        };
        if let Some(id) = sim.command(inserter, cmd) {
            run_until(&algo, &mut sim, inserter, id);
        }
        let requester = sim.rng().random_range(0..n as u32);
        let item = sim.rng().random_range(0..=step);
        let started = sim.now();
        let cmd = Command::Request {
            key: item_key(seed, item),
            htl: Some(algo.request_htl),
        };
        if let Some(id) = sim.command(requester, cmd)
            && let Some(ev) = run_until(&algo, &mut sim, requester, id)
        {
            let request = match ev {
                Event::Found { hops, data, .. } => {
                    latency_ms.push(sim.now().saturating_since(started).as_secs_f64() * 1000.0);
                    Request {
                        hops: u32::from(hops),
                        // the oracle: the data is the item's
                        found: data == FreenetAlgo::data_of(item),
                        htl_limited: false,
                    }
                }
                Event::NotFound { hops, .. } => Request {
                    hops: u32::from(hops),
                    found: false,
                    htl_limited: u32::from(hops) >= htl,
                },
                _ => Request {
                    hops: htl,
                    found: false,
                    htl_limited: false,
                },
            };
            path.push(request);
        }
        progress.inc(1);
    }
    let chunk = (path.len() / 50).max(1);
    let series: Vec<serde_json::Value> = path
        .chunks(chunk)
        .enumerate()
        .map(|(i, c)| serde_json::json!([i * chunk + c.len() / 2, median_path(c)]))
        .collect();
    let mut hops: Vec<u32> = path.iter().filter(|r| r.found).map(|r| r.hops).collect();
    hops.sort_unstable();
    let answered = latency_ms.len();
    let correct = hops.len();
    let counters = sim.counters();
    let mut state = 0.0;
    for (_, e) in sim.live() {
        state += algo.state_size(e) as f64;
    }
    let result = RunResult {
        algo: "freenet",
        label: format!("{} seed {seed}", algo.label()),
        nodes: n,
        nodes_end: sim.alive(),
        lookups: path.len(),
        successes: answered,
        correct,
        wrong: answered - correct,
        checked: true,
        departed: 0,
        joined: 0,
        window: sim.now().saturating_since(weft_core::time::Time::ZERO),
        lookup_span: sim.now().saturating_since(weft_core::time::Time::ZERO),
        hop_timeouts: None,
        hops_gap_reason: None,
        state_gap_reason: None,
        failures: path.len() - answered,
        timeouts: 0,
        abandoned: 0,
        hops,
        latency_ms,
        messages_per_lookup: Vec::new(),
        lookup_messages: counters.lookup_sent,
        mean_state: state / n.max(1) as f64,
        expected: algo.expected(n),
        counters,
        events: sim.trace_events(),
        trace_hash: sim.trace_hash(),
        virtual_end: sim.now(),
        peak_queue: sim.queue_len().1,
        wall_s: meter.wall_s(),
        peak_mb: meter.peak_mb(),
        peak_source: meter.source(),
        extra: BTreeMap::new(),
    };
    let mut rec = RunRecord::from_result(&result);
    let (head, tail) = edges(&path);
    rec.extra.insert("seed".into(), seed.into());
    rec.extra
        .insert("path_length_start".into(), median_path(head).into());
    rec.extra
        .insert("path_length_end".into(), median_path(tail).into());
    rec.extra.insert(
        "htl_limited".into(),
        path.iter().filter(|r| r.htl_limited).count().into(),
    );
    rec.extra.insert(
        "htl_limited_start".into(),
        round(share(head, |r| r.htl_limited), 3).into(),
    );
    rec.extra.insert(
        "success_start".into(),
        round(share(head, |r| r.found), 3).into(),
    );
    rec.extra.insert(
        "success_end".into(),
        round(share(tail, |r| r.found), 3).into(),
    );
    rec.extra.insert("path_length_series".into(), series.into());
    rec.extra
        .insert("insert_htl".into(), algo.insert_htl.into());
    rec.extra
        .insert("request_htl".into(), algo.request_htl.into());
    (rec, path)
}

/// Steps until node `node` reports the end of command `id` (or nothing is left to run).
fn run_until(
    algo: &FreenetAlgo,
    sim: &mut VNet<<FreenetAlgo as Algorithm>::E>,
    node: u32,
    id: weft_overlay::QueryId,
) -> Option<Event> {
    loop {
        for (from, ev) in pump(algo, sim) {
            let done = match &ev {
                Event::Found { id: i, .. }
                | Event::NotFound { id: i, .. }
                | Event::Inserted { id: i, .. }
                | Event::Refused { id: i, .. } => *i == id,
            };
            if from == node && done {
                return Some(ev);
            }
        }
        if sim.step() == Step::Idle {
            return None;
        }
    }
}
