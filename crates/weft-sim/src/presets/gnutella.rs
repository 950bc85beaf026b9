//! The `gnutella` preset: flooding cost against TTL (the paper's 6.6), and what ultrapeers
//! with query routing tables save.
//!
//! # Runs
//!
//! For each topology and each TTL from 1 to 7, one run of flood queries:
//!
//! - `tree-2`: a complete binary tree of depth TTL, queries from the root — the paper's
//!   "each node connected to two others": TTL 7 gives 2^7 = 128 queries at the last hop;
//! - `random-4`: a flat random graph (Gnutella 0.4) of 10,000 nodes with degree 4.
//!
//! Each run record adds `topology`, `ttl`, `queries_at_last_hop` (query messages delivered
//! with one hop of TTL left, per query), `query_messages` (query messages delivered per
//! query), `messages_total` (query and hit messages per query) and `expected_last_hop`
//! (`f^t` on the tree, `d·(d−1)^(t−1)` bounded by N on the random graph).
//!
//! Then two runs at 10,000 nodes compare the flat network (`random-4`, TTL 7) with a two-tier
//! one (10% ultrapeers in a random graph of degree 6, leaves linked to 3 ultrapeers, leaf
//! route tables, TTL 4). The report-level field `ultrapeer_qrp_reduction` is the flat
//! network's messages per query over the two-tier network's; `ultrapeer_qrp` holds both
//! sides' messages per query and success rates.

use std::collections::BTreeMap;

use indicatif::ProgressBar;
use serde_json::json;

use crate::algorithm::BuildMode;
use crate::algos::flood::{FloodAlgo, Topology};
use crate::cli::Plan;
use crate::experiment::{self, RunResult};
use crate::presets::PresetRuns;
use crate::report::{RunRecord, round};
use crate::workload::KeyDist;

/// Flat random graph size.
pub const FLAT_NODES: usize = 10_000;

fn run_one(
    plan: &Plan,
    n: usize,
    topology: Topology,
    ttl: u8,
    lookups: usize,
    progress: &ProgressBar,
) -> (RunResult, FloodAlgo) {
    let algo = FloodAlgo::new(n, topology, ttl, plan.seed);
    let mut cfg = plan.config("flood", algo.size());
    cfg.lookups = lookups;
    cfg.build = BuildMode::Converged;
    cfg.churn = None;
    cfg.keys = KeyDist::Zipf {
        exponent: 0.0,
        items: algo.items as usize,
    };
    cfg.drain = std::time::Duration::from_secs(30);
    if let Topology::Tree { .. } = topology {
        // Every query starts at the root, which keeps each for its 30 s query timeout and
        // accepts 64 at once: stay below that rate.
        cfg.rate = 1.5;
    }
    progress.set_message(format!("flood {} ttl {ttl}", topology.name()));
    progress.set_length(lookups as u64);
    progress.set_position(0);
    let r = experiment::run(&algo, &cfg, progress);
    (r, algo)
}

fn record(r: &RunResult, algo: &FloodAlgo, topology: Topology, ttl: u8) -> RunRecord {
    let counts = *algo.counts.borrow();
    let q = r.lookups.max(1) as f64;
    let mut rec = RunRecord::from_result(r);
    rec.extra.insert("topology".into(), topology.name().into());
    rec.extra.insert("ttl".into(), ttl.into());
    rec.extra.insert(
        "queries_at_last_hop".into(),
        round(counts.queries_last_hop as f64 / q, 2).into(),
    );
    rec.extra.insert(
        "query_messages".into(),
        round(counts.queries as f64 / q, 2).into(),
    );
    rec.extra.insert(
        "messages_total".into(),
        round((counts.queries + counts.hits) as f64 / q, 2).into(),
    );
    let t = i32::from(ttl);
    let expected = match topology {
        Topology::Tree { fanout } => f64::from(fanout).powi(t),
        Topology::Flat { degree } => (f64::from(degree)
            * f64::from(degree.saturating_sub(1)).powi(t - 1))
        .min(algo.size() as f64),
        Topology::TwoTier { .. } => f64::NAN,
    };
    if expected.is_finite() {
        rec.extra
            .insert("expected_last_hop".into(), round(expected, 1).into());
    }
    rec
}

/// Runs the preset.
pub fn run(plan: &Plan, progress: &ProgressBar) -> anyhow::Result<PresetRuns> {
    let lookups = plan.lookups.unwrap_or(200);
    let flat_n = plan.nodes.first().copied().unwrap_or(FLAT_NODES);
    let mut runs = Vec::new();
    for topology in [Topology::Tree { fanout: 2 }, Topology::Flat { degree: 4 }] {
        for ttl in 1..=7u8 {
            let (r, algo) = run_one(plan, flat_n, topology, ttl, lookups, progress);
            runs.push(record(&r, &algo, topology, ttl));
        }
    }
    let flat = Topology::Flat { degree: 4 };
    let tiered = Topology::TwoTier {
        ultrapeers_per_mille: 100,
        degree: 6,
        leaf_links: 3,
    };
    let (rf, af) = run_one(plan, flat_n, flat, 7, lookups, progress);
    let (rt, at) = run_one(plan, flat_n, tiered, 4, lookups, progress);
    let per_query = |a: &FloodAlgo, r: &RunResult| {
        let c = *a.counts.borrow();
        (c.queries + c.hits) as f64 / r.lookups.max(1) as f64
    };
    let (mf, mt) = (per_query(&af, &rf), per_query(&at, &rt));
    let reduction = if mt > 0.0 { mf / mt } else { 0.0 };
    let mut tier_rec = record(&rt, &at, tiered, 4);
    tier_rec
        .extra
        .insert("comparison".into(), "two-tier".into());
    let mut flat_rec = record(&rf, &af, flat, 7);
    flat_rec.extra.insert("comparison".into(), "flat".into());
    runs.push(flat_rec);
    runs.push(tier_rec);
    let mut extra = BTreeMap::new();
    extra.insert("ultrapeer_qrp_reduction".into(), round(reduction, 2).into());
    extra.insert(
        "ultrapeer_qrp".into(),
        json!({
            "nodes": flat_n,
            "flat": {"topology": flat.name(), "ttl": 7, "messages_per_query": round(mf, 1), "success_rate": round(rf.success_rate(), 4)},
            "two_tier": {"topology": tiered.name(), "ttl": 4, "messages_per_query": round(mt, 1), "success_rate": round(rt.success_rate(), 4)},
        }),
    );
    Ok(PresetRuns { runs, extra })
}
