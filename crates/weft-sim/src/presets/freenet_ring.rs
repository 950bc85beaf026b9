//! The `freenet-ring` preset: Clarke et al.'s convergence experiment (the paper's 6.5).
//!
//! 1,000 nodes start in a ring (each knows the two nodes on either side), datastores of 50
//! items and routing tables of 250 entries. Each step, a random node inserts a new key
//! (hops-to-live 20), then a random node requests a random key inserted so far (hops-to-live
//! 500); steps run one after another, so routing tables learn from every insert and request
//! before the next. The request path length is the request's hops, backtracking included
//! (for a failed request, the hops it spent).
//!
//! The run record adds `path_length_start` and `path_length_end` (medians over the first and
//! last tenth of requests), `success_start` and `success_end` (their success rates), and
//! `path_length_series` (`[request index, median]` over fifty windows, for the plot). Routing tables learn fast in this engine: the
//! first few dozen requests walk hundreds of hops, and the median is below 10 within about
//! a hundred requests, so the first tenth of the default 1,000 requests already mixes both.

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
use crate::simulation::{Simulation, Step};
use crate::workload::item_key;

/// Nodes in the ring.
pub const NODES: usize = 1000;

fn median(mut xs: Vec<u32>) -> u32 {
    xs.sort_unstable();
    quantile_sorted(&xs, 0.5).unwrap_or(0)
}

/// Runs the preset.
pub fn run(plan: &Plan, progress: &ProgressBar) -> anyhow::Result<PresetRuns> {
    let n = plan.nodes.first().copied().unwrap_or(NODES);
    let requests = plan.lookups.unwrap_or(1000);
    let meter = memory::Meter::start();
    let algo = FreenetAlgo::clarke(plan.seed);
    let mut sim = Simulation::new(
        algo.label().as_str(),
        plan.seed,
        plan.network,
        FreenetAlgo::classify,
    );
    sim.extend(algo.build_converged(n, plan.seed));
    progress.set_message("freenet ring");
    progress.set_length(requests as u64);
    progress.set_position(0);
    // (hops, found) per request, in order.
    let mut path: Vec<(u32, bool)> = Vec::with_capacity(requests);
    let mut latency_ms = Vec::new();
    for step in 0..requests as u64 {
        let inserter = sim.rng().random_range(0..n as u32);
        let cmd = Command::Insert {
            key: item_key(plan.seed, step),
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
            key: item_key(plan.seed, item),
            htl: Some(algo.request_htl),
        };
        if let Some(id) = sim.command(requester, cmd)
            && let Some(ev) = run_until(&algo, &mut sim, requester, id)
        {
            match ev {
                Event::Found { hops, .. } => {
                    path.push((u32::from(hops), true));
                    latency_ms.push(sim.now().saturating_since(started).as_secs_f64() * 1000.0);
                }
                Event::NotFound { hops, .. } => path.push((u32::from(hops), false)),
                _ => path.push((u32::from(algo.request_htl), false)),
            }
        }
        progress.inc(1);
    }
    let tenth = (path.len() / 10).max(1);
    let window = |xs: &[(u32, bool)]| -> (u32, f64) {
        let ok = xs.iter().filter(|(_, f)| *f).count();
        (
            median(xs.iter().map(|(h, _)| *h).collect()),
            ok as f64 / xs.len().max(1) as f64,
        )
    };
    let (start, s_ok) = window(&path[..tenth.min(path.len())]);
    let (end, e_ok) = window(&path[path.len().saturating_sub(tenth)..]);
    let chunk = (path.len() / 50).max(1);
    let series: Vec<serde_json::Value> = path
        .chunks(chunk)
        .enumerate()
        .map(|(i, c)| {
            serde_json::json!([
                i * chunk + c.len() / 2,
                median(c.iter().map(|(h, _)| *h).collect())
            ])
        })
        .collect();
    let mut hops: Vec<u32> = path.iter().filter(|(_, f)| *f).map(|(h, _)| *h).collect();
    hops.sort_unstable();
    let successes = hops.len();
    let counters = sim.counters();
    let mut state = 0.0;
    for (_, e) in sim.live() {
        state += algo.state_size(e) as f64;
    }
    let result = RunResult {
        algo: "freenet",
        nodes: n,
        nodes_end: sim.alive(),
        lookups: path.len(),
        successes,
        failures: path.len() - successes,
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
        peak_rss_mb: meter.peak_rss_mb(),
        extra: BTreeMap::new(),
    };
    let mut rec = RunRecord::from_result(&result);
    rec.extra.insert("path_length_start".into(), start.into());
    rec.extra.insert("path_length_end".into(), end.into());
    rec.extra
        .insert("success_start".into(), round(s_ok, 3).into());
    rec.extra
        .insert("success_end".into(), round(e_ok, 3).into());
    rec.extra.insert("path_length_series".into(), series.into());
    rec.extra
        .insert("insert_htl".into(), algo.insert_htl.into());
    rec.extra
        .insert("request_htl".into(), algo.request_htl.into());
    Ok(PresetRuns {
        runs: vec![rec],
        extra: BTreeMap::new(),
    })
}

/// Steps until node `node` reports the end of command `id` (or nothing is left to run).
fn run_until(
    algo: &FreenetAlgo,
    sim: &mut Simulation<<FreenetAlgo as Algorithm>::E>,
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
