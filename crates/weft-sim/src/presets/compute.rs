//! The `compute` preset: weft-compute's scheduler engines (the node's code) at 10,000 workers
//! with churn and cheaters, plain against adaptive replication (see [`crate::compute`]).
//!
//! `--nodes` sets the workers (default 10,000), `--lookups` the units of the job (default
//! 1,000,000 of a minute of CPU each: 100 per worker, so that records build up as they do
//! over a volunteer's many jobs; the six runs take about 80 s in a release build), `--churn`
//! the departures per worker per hour (default 0.5: sessions of 2 hours on average, then an
//! hour offline; the preset always has churn), and `--seed` everything else. Per size it runs three populations (honest; 20 % independent
//! cheaters; a 10 % colluding group), each with plain and with adaptive replication.
//!
//! Each record has `algo` `compute`, `nodes` (workers), `lookups` (units), `correct` and
//! `wrong` (accepted right and wrong), `success_rate` (right over units), and in its extra
//! fields every figure of [`crate::compute::ComputeRun`] (`wrong_accepted`, `failed`,
//! `overhead`, `makespan_s`, `ideal_s`, `slowdown`, `lost_to_churn`, `lapsed`,
//! `accepted_alone`, `checks_passed`, `checks_failed`, `reopened`, `cheaters`,
//! `cheaters_banned`, `honest_banned`, `mean_online`, `trace_hash`), the shares
//! `independent` and `colluding`, `adaptive`, and for a colluding group `quorum_model`: the
//! share of units plain voting would hand it if nobody were ever banned.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use indicatif::ProgressBar;

use crate::cli::Plan;
use crate::compute::{self, ComputeConfig, ComputeRun};
use crate::memory::Meter;
use crate::presets::PresetRuns;
use crate::report::{Report, RunRecord, round};

/// Runs the preset.
///
/// # Errors
///
/// None today; the signature is every preset's.
pub fn run(plan: &Plan, progress: &ProgressBar) -> anyhow::Result<PresetRuns> {
    let units = plan.lookups.unwrap_or(1_000_000);
    let rate = if plan.churn_rate > 0.0 {
        plan.churn_rate
    } else {
        0.5
    };
    let mut runs = Vec::new();
    for n in plan.sizes_or(&[10_000]) {
        for (independent, colluding) in [(0.0, 0.0), (0.2, 0.0), (0.0, 0.1)] {
            for adaptive in [false, true] {
                let cfg = ComputeConfig {
                    workers: u32::try_from(n).unwrap_or(u32::MAX),
                    units: u32::try_from(units).unwrap_or(u32::MAX),
                    session_h: 1.0 / rate,
                    independent,
                    colluding,
                    adaptive,
                    known: u32::try_from(units / 1000).unwrap_or(0).max(10),
                    seed: plan.seed,
                    ..ComputeConfig::default()
                };
                progress.set_message(format!("compute {} N={n}", cfg.label()));
                progress.set_length(1);
                progress.set_position(0);
                let meter = Meter::start();
                let r = compute::run(&cfg);
                progress.set_position(1);
                runs.push(record(&cfg, &r, &meter));
            }
        }
    }
    Ok(PresetRuns {
        runs,
        extra: BTreeMap::new(),
    })
}

fn record(cfg: &ComputeConfig, r: &ComputeRun, meter: &Meter) -> RunRecord {
    let units = f64::from(r.units.max(1));
    let right = r.accepted - r.wrong_accepted;
    let mut extra = BTreeMap::new();
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(r) {
        extra.extend(fields);
    }
    extra.insert("slowdown".into(), round(r.slowdown(), 3).into());
    extra.insert("overhead".into(), round(r.overhead, 4).into());
    extra.insert("independent".into(), cfg.independent.into());
    extra.insert("colluding".into(), cfg.colluding.into());
    extra.insert("adaptive".into(), cfg.adaptive.into());
    extra.insert("session_h".into(), round(cfg.session_h, 3).into());
    if cfg.colluding > 0.0 {
        extra.insert(
            "quorum_model".into(),
            round(compute::quorum_model(cfg.colluding), 4).into(),
        );
    }
    RunRecord {
        algo: "compute".into(),
        label: cfg.label(),
        nodes: cfg.workers as usize,
        lookups: r.units as usize,
        success_rate: f64::from(right) / units,
        answered_rate: f64::from(r.accepted) / units,
        correct: right as usize,
        wrong: r.wrong_accepted as usize,
        oracle: true,
        mean_hops: 0.0,
        p50_hops: 0,
        p99_hops: 0,
        expected_hops: None,
        mean_messages: 0.0,
        mean_state: 0.0,
        expected_state: None,
        mean_latency_ms: 0.0,
        events: r.events,
        wall_s: round(meter.wall_s(), 3),
        peak_mb: meter.peak_mb(),
        peak_source: meter.source(),
        extra,
    }
}

fn f(r: &RunRecord, key: &str) -> f64 {
    r.extra
        .get(key)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0)
}

/// The preset's table: one line per run.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "weft sim --preset compute  seed {}  trace {}",
        report.seed,
        &report.trace_hash[..16.min(report.trace_hash.len())]
    );
    let _ = writeln!(
        out,
        "{:<28} {:>7} {:>8} {:>6} {:>7} {:>8} {:>8} {:>8} {:>7} {:>6} {:>8} {:>7} {:>6}",
        "run",
        "workers",
        "units",
        "wrong",
        "failed",
        "overhead",
        "done h",
        "ideal h",
        "x ideal",
        "lost",
        "alone",
        "checks",
        "wall s"
    );
    for r in &report.runs {
        let _ = writeln!(
            out,
            "{:<28} {:>7} {:>8} {:>6} {:>7} {:>7.1}% {:>8.2} {:>8.2} {:>7.2} {:>6} {:>8} {:>7} {:>6.1}",
            r.label,
            r.nodes,
            r.lookups,
            r.wrong,
            f(r, "failed"),
            f(r, "overhead") * 100.0,
            f(r, "makespan_s") / 3600.0,
            f(r, "ideal_s") / 3600.0,
            f(r, "slowdown"),
            f(r, "lost_to_churn"),
            f(r, "accepted_alone"),
            f(r, "checks_passed") + f(r, "checks_failed"),
            r.wall_s,
        );
    }
    let _ = writeln!(
        out,
        "\nwrong: accepted results that are not the truth; overhead: CPU spent over CPU needed, \
         less 1 (R = 2 costs 100 %); x ideal: completion time over the CPU needed spread over \
         the workers online; lost: units cut short by a worker leaving; alone: accepted on one \
         trusted worker's word."
    );
    for r in report.runs.iter().filter(|r| f(r, "colluding") > 0.0) {
        let _ = writeln!(
            out,
            "{}: {} of {} accepted wrong ({:.3} %); the quorum model without bans: {:.2} %; \
             {} of {} cheaters banned, {} honest workers banned, {} units reopened",
            r.label,
            r.wrong,
            r.lookups,
            r.wrong as f64 * 100.0 / r.lookups.max(1) as f64,
            f(r, "quorum_model") * 100.0,
            f(r, "cheaters_banned"),
            f(r, "cheaters"),
            f(r, "honest_banned"),
            f(r, "reopened"),
        );
    }
    out
}
