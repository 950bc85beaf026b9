//! The report: one JSON object for `--json`, or a table with measured and expected figures
//! side by side.
//!
//! The JSON fields are documented on [`Report`] and [`RunRecord`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::experiment::RunResult;

/// The whole output of one `weft sim` invocation (`--json` prints exactly this object).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The seed every run used.
    pub seed: u64,
    /// BLAKE3 over the runs' event-log hashes, in run order: equal seeds and arguments give
    /// equal hashes.
    pub trace_hash: String,
    /// The preset, when one was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// One record per (algorithm, size) run.
    pub runs: Vec<RunRecord>,
    /// Preset-level fields (see the preset's docs), e.g. `ultrapeer_qrp_reduction` for
    /// `gnutella`.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// One run in the report.
#[derive(Clone, Debug, Serialize)]
pub struct RunRecord {
    /// Algorithm name (`chord`, `can`, `pastry`, `kademlia`, `flood`, `freenet`, `directory`).
    pub algo: String,
    /// Nodes in the network.
    pub nodes: usize,
    /// Lookups (queries, requests) issued.
    pub lookups: usize,
    /// Successful lookups over issued lookups whose origin stayed (0..1).
    pub success_rate: f64,
    /// Mean overlay hops of successful lookups, as the engine counts them.
    pub mean_hops: f64,
    /// Median hops of successful lookups.
    pub p50_hops: u32,
    /// 99th percentile of hops of successful lookups.
    pub p99_hops: u32,
    /// The literature's expected mean hops at this size (`null` when it gives none).
    pub expected_hops: Option<f64>,
    /// Mean messages per lookup (the engine's per-query count, or lookup-class messages
    /// sent during the lookup phase over lookups issued).
    pub mean_messages: f64,
    /// Mean routing-table entries per live node at the end of the run.
    pub mean_state: f64,
    /// The literature's expected state per node (`null` when it gives none).
    pub expected_state: Option<f64>,
    /// Mean virtual-time latency of successful lookups, in milliseconds.
    pub mean_latency_ms: f64,
    /// Events in the run's trace (deliveries, timers, commands, joins, leaves, control).
    pub events: u64,
    /// Wall-clock seconds of the run (build included).
    pub wall_s: f64,
    /// Resident memory the run added at its peak, in MiB: `VmHWM` (reset before the run)
    /// less `VmRSS` when it started, so a run does not carry an earlier run's memory (it may
    /// read low when it reuses heap an earlier run freed); `null` without `/proc`.
    pub peak_rss_mb: Option<f64>,
    /// Run-specific extra fields (e.g. `churn_per_hour`, `timeouts`, preset fields).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl RunRecord {
    /// The record of `r`, with the standard extra fields (`timeouts`, `failures`,
    /// `abandoned`, `messages_lost`, `nodes_end`, `virtual_s`, `events_per_s`,
    /// `trace_hash`, `hops_formula`, `state_formula`).
    pub fn from_result(r: &RunResult) -> Self {
        let mut extra = r.extra.clone();
        extra.insert("timeouts".into(), r.timeouts.into());
        extra.insert("failures".into(), r.failures.into());
        extra.insert("abandoned".into(), r.abandoned.into());
        extra.insert("messages_lost".into(), r.counters.lost.into());
        if r.counters.stuck_timers > 0 {
            extra.insert("stuck_timers".into(), r.counters.stuck_timers.into());
        }
        extra.insert("nodes_end".into(), r.nodes_end.into());
        extra.insert(
            "virtual_s".into(),
            round(r.virtual_end.as_micros() as f64 / 1e6, 3).into(),
        );
        let eps = if r.wall_s > 0.0 {
            r.events as f64 / r.wall_s
        } else {
            0.0
        };
        extra.insert("events_per_s".into(), eps.round().into());
        extra.insert("trace_hash".into(), r.trace_hash.clone().into());
        extra.insert("hops_formula".into(), r.expected.hops_formula.into());
        extra.insert("state_formula".into(), r.expected.state_formula.into());
        RunRecord {
            algo: r.algo.to_string(),
            nodes: r.nodes,
            lookups: r.lookups,
            success_rate: round(r.success_rate(), 4),
            mean_hops: round(r.mean_hops(), 3),
            p50_hops: r.hops_quantile(0.5),
            p99_hops: r.hops_quantile(0.99),
            expected_hops: r.expected.hops.map(|h| round(h, 3)),
            mean_messages: round(r.mean_messages(), 3),
            mean_state: round(r.mean_state, 2),
            expected_state: r.expected.state.map(|s| round(s, 2)),
            mean_latency_ms: round(r.mean_latency_ms(), 2),
            events: r.events,
            wall_s: round(r.wall_s, 3),
            peak_rss_mb: r.peak_rss_mb.map(|m| round(m, 1)),
            extra,
        }
    }
}

/// `x` rounded to `digits` decimals (keeps the JSON readable; NaN becomes 0).
pub fn round(x: f64, digits: i32) -> f64 {
    if !x.is_finite() {
        return 0.0;
    }
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

fn opt(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "-".to_string(), |v| format!("{v:.digits$}"))
}

impl Report {
    /// The human table: one line per run, measured next to expected.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "weft sim  seed {}  trace {}",
            self.seed,
            &self.trace_hash[..16.min(self.trace_hash.len())]
        );
        let _ = writeln!(
            out,
            "{:<10} {:>8} {:>7} {:>7} {:>7} {:>7} {:>5} {:>5} {:>8} {:>7} {:>7} {:>8} {:>10} {:>8} {:>8}",
            "algo",
            "nodes",
            "lookups",
            "success",
            "hops",
            "expect",
            "p50",
            "p99",
            "msgs",
            "state",
            "expect",
            "lat ms",
            "events",
            "wall s",
            "rss MB"
        );
        for r in &self.runs {
            let _ = writeln!(
                out,
                "{:<10} {:>8} {:>7} {:>6.1}% {:>7.2} {:>7} {:>5} {:>5} {:>8.1} {:>7.1} {:>7} {:>8.1} {:>10} {:>8.2} {:>8}",
                r.algo,
                r.nodes,
                r.lookups,
                r.success_rate * 100.0,
                r.mean_hops,
                opt(r.expected_hops, 2),
                r.p50_hops,
                r.p99_hops,
                r.mean_messages,
                r.mean_state,
                opt(r.expected_state, 1),
                r.mean_latency_ms,
                r.events,
                r.wall_s,
                opt(r.peak_rss_mb, 0),
            );
        }
        let mut formulas: BTreeMap<&str, (String, String)> = BTreeMap::new();
        for r in &self.runs {
            let f = |k: &str| {
                r.extra
                    .get(k)
                    .and_then(|v| v.as_str())
                    .unwrap_or("-")
                    .to_string()
            };
            formulas
                .entry(r.algo.as_str())
                .or_insert_with(|| (f("hops_formula"), f("state_formula")));
        }
        if !formulas.is_empty() {
            let _ = writeln!(out, "\nexpected figures:");
            for (algo, (h, s)) in formulas {
                let _ = writeln!(out, "  {algo:<10} hops {h:<28} state {s}");
            }
        }
        for (k, v) in &self.extra {
            let _ = writeln!(out, "{k}: {v}");
        }
        out
    }
}
