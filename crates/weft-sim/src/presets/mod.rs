//! Preset experiments (`--preset`) and the charts drawn from a report (`--plot`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::bail;
use indicatif::ProgressBar;

use crate::cli::Plan;
use crate::plot::{Chart, Emphasis, Figure, Series};
use crate::report::{Report, RunRecord};

pub mod compute;
pub mod directory;
pub mod freenet_ring;
pub mod gnutella;

/// A preset experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// The paper's Table 3: chord, can, pastry, kademlia at 10^3, 10^4, 10^5 nodes.
    Table3,
    /// Gnutella flooding against TTL, with and without ultrapeers and QRP.
    Gnutella,
    /// Freenet: 1,000 nodes that start in a ring learn their routes.
    FreenetRing,
    /// The central directory: server state and load against users.
    Directory,
    /// Distributed computing: plain against adaptive replication with churn and cheaters.
    Compute,
}

impl Preset {
    /// Every preset name.
    pub const NAMES: &'static [&'static str] =
        &["table3", "gnutella", "freenet-ring", "directory", "compute"];

    /// Parses a `--preset` value.
    ///
    /// # Errors
    ///
    /// An unknown name.
    pub fn parse(s: &str) -> anyhow::Result<Preset> {
        Ok(match s {
            "table3" => Preset::Table3,
            "gnutella" => Preset::Gnutella,
            "freenet-ring" => Preset::FreenetRing,
            "directory" => Preset::Directory,
            "compute" => Preset::Compute,
            other => bail!(
                "--preset: unknown preset {other:?} (known: {})",
                Preset::NAMES.join(", ")
            ),
        })
    }

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Table3 => "table3",
            Preset::Gnutella => "gnutella",
            Preset::FreenetRing => "freenet-ring",
            Preset::Directory => "directory",
            Preset::Compute => "compute",
        }
    }
}

/// What a preset produced: run records and report-level fields.
#[derive(Clone, Debug, Default)]
pub struct PresetRuns {
    /// The runs.
    pub runs: Vec<RunRecord>,
    /// Report-level fields.
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Runs `preset` as `plan` asks.
///
/// # Errors
///
/// A run that cannot be made (engine missing, bad size).
pub fn run(preset: Preset, plan: &Plan, progress: &ProgressBar) -> anyhow::Result<PresetRuns> {
    match preset {
        Preset::Table3 => {
            let mut runs = Vec::new();
            for n in plan.sizes_or(&[1000, 10_000, 100_000]) {
                for (algo, params) in table3_variants(plan) {
                    let cfg = plan.config(algo, n);
                    progress.set_message(format!("{algo} N={n}"));
                    progress.set_length(cfg.lookups as u64);
                    progress.set_position(0);
                    let r = crate::algos::run_with(algo, &params, &cfg, progress)?;
                    let mut rec = RunRecord::from_result(&r);
                    plan.annotate(&mut rec);
                    runs.push(rec);
                }
            }
            Ok(PresetRuns {
                runs,
                extra: BTreeMap::new(),
            })
        }
        Preset::Gnutella => gnutella::run(plan, progress),
        Preset::FreenetRing => freenet_ring::run(plan, progress),
        Preset::Directory => directory::run(plan, progress),
        Preset::Compute => compute::run(plan, progress),
    }
}

/// The runs of Table 3 at one size: Chord, CAN for d = 2, 3, 4, Pastry for b = 2, 3, 4,
/// Tapestry and Kademlia (a `--can-d` or `--pastry-b` given replaces its sweep).
pub fn table3_variants(plan: &Plan) -> Vec<(&'static str, crate::algos::Params)> {
    let base = plan.params();
    let dims: Vec<usize> = plan.can_d.map_or(vec![2, 3, 4], |d| vec![d]);
    let bits: Vec<u32> = plan.pastry_b.map_or(vec![2, 3, 4], |b| vec![b]);
    let mut v = vec![("chord", base)];
    v.extend(
        dims.into_iter()
            .map(|can_d| ("can", crate::algos::Params { can_d, ..base })),
    );
    v.extend(
        bits.into_iter()
            .map(|pastry_b| ("pastry", crate::algos::Params { pastry_b, ..base })),
    );
    v.push(("tapestry", base));
    v.push(("kademlia", base));
    v
}

fn colour_of(algo: &str) -> usize {
    crate::algos::ALL
        .iter()
        .position(|a| *a == algo)
        .unwrap_or(0)
}

/// Hops and state against N: one panel per algorithm (and parameter set), each on its own
/// scale, measured solid with markers, the formula dashed.
pub fn table3_charts(runs: &[RunRecord]) -> Vec<(&'static str, Figure)> {
    let mut by_label: BTreeMap<(usize, &str), Vec<&RunRecord>> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.algo != "directory") {
        by_label
            .entry((colour_of(&r.algo), r.label.as_str()))
            .or_default()
            .push(r);
    }
    let mut hops = Vec::new();
    let mut state = Vec::new();
    for ((c, label), mut rs) in by_label {
        rs.sort_by_key(|r| r.nodes);
        let pts = |f: &dyn Fn(&RunRecord) -> Option<f64>| -> Vec<(f64, f64)> {
            rs.iter()
                .filter_map(|r| f(r).map(|y| (r.nodes as f64, y)))
                .collect()
        };
        let panel = |y_label: &str, measured: Vec<(f64, f64)>, expected: Vec<(f64, f64)>| Chart {
            title: label.to_string(),
            x_label: "nodes N".into(),
            y_label: y_label.into(),
            log_x: true,
            log_y: false,
            y_max: None,
            series: vec![
                Series {
                    name: "measured".into(),
                    points: measured,
                    dashed: false,
                    colour: c,
                    emphasis: Emphasis::Normal,
                },
                Series {
                    name: "expected".into(),
                    points: expected,
                    dashed: true,
                    colour: c,
                    emphasis: Emphasis::Normal,
                },
            ],
        };
        hops.push(panel(
            "mean hops",
            pts(&|r| Some(r.mean_hops)),
            pts(&|r| r.expected_hops),
        ));
        state.push(panel(
            "entries per node",
            pts(&|r| Some(r.mean_state)),
            pts(&|r| r.expected_state),
        ));
    }
    let legend = vec![
        ("measured".to_string(), false),
        ("expected (formula)".to_string(), true),
    ];
    vec![
        (
            "hops.svg",
            Figure::Panels {
                title: "Mean lookup hops against N (Table 3)".into(),
                panels: hops,
                legend: legend.clone(),
            },
        ),
        (
            "state.svg",
            Figure::Panels {
                title: "Routing state per node against N (Table 3)".into(),
                panels: state,
                legend,
            },
        ),
    ]
}

fn extra_f64(r: &RunRecord, key: &str) -> Option<f64> {
    r.extra.get(key).and_then(serde_json::Value::as_f64)
}

/// Messages (and queries at the last hop) per query against TTL, one line per topology.
pub fn gnutella_charts(runs: &[RunRecord]) -> Vec<(&'static str, Figure)> {
    let mut by_topo: BTreeMap<String, Vec<&RunRecord>> = BTreeMap::new();
    for r in runs
        .iter()
        .filter(|r| r.algo == "flood" && !r.extra.contains_key("comparison"))
    {
        let topo = r
            .extra
            .get("topology")
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string();
        by_topo.entry(topo).or_default().push(r);
    }
    let mut series = Vec::new();
    for (c, (topo, rs)) in by_topo.iter().enumerate() {
        let pts = |key: &str| -> Vec<(f64, f64)> {
            rs.iter()
                .filter_map(|r| Some((extra_f64(r, "ttl")?, extra_f64(r, key)?)))
                .collect()
        };
        series.push(Series {
            name: format!("{topo} messages"),
            points: pts("messages_total"),
            dashed: false,
            colour: c,
            emphasis: Emphasis::Normal,
        });
        series.push(Series {
            name: format!("{topo} at last hop"),
            points: pts("queries_at_last_hop"),
            dashed: true,
            colour: c,
            emphasis: Emphasis::Normal,
        });
    }
    vec![(
        "flood-messages.svg",
        Figure::Single(Chart {
            title: "Flooding: messages per query against TTL".into(),
            x_label: "TTL".into(),
            y_label: "messages per query".into(),
            log_x: false,
            log_y: true,
            y_max: None,
            series,
        }),
    )]
}

/// Request path length over time for the Freenet ring: each seed's line faint, their median
/// bold, on a linear axis that stops a little above where most windows lie (the first
/// windows' long, HTL-limited paths are marked on the top edge with their value).
pub fn freenet_charts(runs: &[RunRecord]) -> Vec<(&'static str, Figure)> {
    let seeds: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .filter_map(|r| {
            let pts = r.extra.get("path_length_series")?.as_array()?;
            let name = match r.extra.get("seed").and_then(serde_json::Value::as_u64) {
                Some(seed) => format!("seed {seed}"),
                None => r.label.clone(),
            };
            let pts = pts
                .iter()
                .filter_map(|p| Some((p.get(0)?.as_f64()?, p.get(1)?.as_f64()?)))
                .collect();
            Some((name, pts))
        })
        .collect();
    // the median over seeds of each window (the seeds' windows line up: equal requests)
    let windows = seeds.iter().map(|(_, p)| p.len()).min().unwrap_or(0);
    let median: Vec<(f64, f64)> = (0..windows)
        .map(|i| {
            let mut ys: Vec<f64> = seeds.iter().map(|(_, p)| p[i].1).collect();
            ys.sort_by(f64::total_cmp);
            let m = ys.len() / 2;
            let y = if ys.len() % 2 == 1 {
                ys[m]
            } else {
                (ys[m - 1] + ys[m]) / 2.0
            };
            (seeds[0].1[i].0, y)
        })
        .collect();
    // the top: twice the 90th percentile of every window, so the learnt paths fill the
    // height and only the first windows' runs to the HTL go past it
    let mut all: Vec<f64> = seeds
        .iter()
        .flat_map(|(_, p)| p.iter().map(|q| q.1))
        .collect();
    all.sort_by(f64::total_cmp);
    let p90 = all.get(all.len() * 9 / 10).copied().unwrap_or(1.0);
    let y_max = (2.0 * p90).ceil().max(4.0);
    let mut series: Vec<Series> = seeds
        .into_iter()
        .enumerate()
        .map(|(i, (name, points))| Series {
            name,
            points,
            dashed: false,
            colour: i,
            emphasis: Emphasis::Faint,
        })
        .collect();
    if series.len() > 1 {
        series.push(Series {
            name: format!("median of {} seeds", series.len()),
            points: median,
            dashed: false,
            colour: 7,
            emphasis: Emphasis::Strong,
        });
    }
    vec![(
        "freenet-path-length.svg",
        Figure::Single(Chart {
            title: "Freenet ring: request path length as routing tables learn".into(),
            x_label: "requests".into(),
            y_label: "hops (median of a window of requests, HTL-limited left out)".into(),
            log_x: false,
            log_y: false,
            y_max: Some(y_max),
            series,
        }),
    )]
}

/// Server state against users for the directory, measured and expected.
pub fn directory_charts(runs: &[RunRecord]) -> Vec<(&'static str, Figure)> {
    let rs: Vec<&RunRecord> = runs.iter().filter(|r| r.algo == "directory").collect();
    let pts = |key: &str| -> Vec<(f64, f64)> {
        rs.iter()
            .filter_map(|r| Some((r.nodes as f64, extra_f64(r, key)?)))
            .collect()
    };
    vec![(
        "directory-server-state.svg",
        Figure::Single(Chart {
            title: "Directory: server state against users".into(),
            x_label: "users".into(),
            y_label: "server entries".into(),
            log_x: true,
            log_y: true,
            y_max: None,
            series: vec![
                Series {
                    name: "measured".into(),
                    points: pts("server_state"),
                    dashed: false,
                    colour: 6,
                    emphasis: Emphasis::Normal,
                },
                Series {
                    name: "expected".into(),
                    points: pts("expected_server_state"),
                    dashed: true,
                    colour: 6,
                    emphasis: Emphasis::Normal,
                },
            ],
        }),
    )]
}

/// Makes sure charts can be written into `dir`: creates it if missing and writes (then
/// removes) a probe file. `weft sim` calls it before any run, so a bad `--plot` costs no
/// simulation time.
///
/// # Errors
///
/// One line: `dir` is a file, or it cannot be created or written.
pub fn prepare_plot_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!(
            "--plot: {} is a file; give a directory (it is created if missing)",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        anyhow::anyhow!("--plot: cannot create the directory {}: {e}", dir.display())
    })?;
    let probe = dir.join(".weft-sim-write-check");
    std::fs::write(&probe, b"")
        .map_err(|e| anyhow::anyhow!("--plot: cannot write into {}: {e}", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Writes the charts `report` supports into `dir`; returns the files written.
///
/// # Errors
///
/// The directory or a file cannot be written.
pub fn plot(dir: &Path, report: &Report) -> anyhow::Result<Vec<PathBuf>> {
    prepare_plot_dir(dir)?;
    let mut charts = match report.preset.as_deref() {
        Some("gnutella") => gnutella_charts(&report.runs),
        Some("freenet-ring") => freenet_charts(&report.runs),
        Some("directory") => directory_charts(&report.runs),
        Some("compute") => Vec::new(),
        _ => {
            let mut c = table3_charts(&report.runs);
            c.extend(directory_charts(&report.runs));
            c
        }
    };
    charts.retain(|(_, c)| c.has_points());
    let mut written = Vec::new();
    for (file, figure) in charts {
        let path = dir.join(file);
        figure.write_svg(&path)?;
        written.push(path);
    }
    Ok(written)
}
