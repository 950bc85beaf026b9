//! `weft sim`: the command-line arguments and the entry point the `weft` binary calls.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::algorithm::BuildMode;
use crate::algos;
use crate::churn::{ChurnModel, Departure, SessionLength};
use crate::experiment::RunConfig;
use crate::network::{Latency, NetworkModel};
use crate::presets::{self, Preset};
use crate::report::{Report, RunRecord};
use crate::trace;
use crate::workload::KeyDist;

/// Run the location and routing engines in the discrete-event simulator and compare what they
/// measure with what the literature expects.
///
/// Every run is deterministic: the same arguments and `--seed` give the same `trace_hash`.
///
/// `--json` prints one object: `{"seed", "trace_hash", "runs": [...]}`; each run has `algo`,
/// `label` (algorithm and parameters), `nodes`, `lookups`, `success_rate` (correct answers
/// over lookups whose origin stayed, 0..1: every answer is checked against the truth by an
/// oracle), `answered_rate` (answered, correct or not), `correct`, `wrong`, `oracle` (false
/// where success is the engine's word: flood, directory), `mean_hops`, `p50_hops`,
/// `p99_hops`, `expected_hops` (literature; null when none), `mean_messages` (per lookup),
/// `mean_state` (table entries per node), `expected_state`, `mean_latency_ms` (virtual
/// time), `events` (trace length), `wall_s`, `peak_mb` (memory the run added at its peak:
/// heap bytes in the `weft` binary, see `weft_sim::memory`), `peak_source` (`heap` or
/// `rss`), and extra fields: `timeouts`, `failures`, `abandoned`, `messages_lost`, `nodes_end`,
/// `departed_in_window` and `joined_in_window` (churn inside the measured window),
/// `window_s` (that window: `--window` under churn, the same for every algorithm),
/// `lookup_span_s` (first lookup to last outcome), `hop_timeouts` (Chord, Pastry, Tapestry:
/// forwards not acknowledged in time and re-routed), `virtual_s`, `events_per_s`, `trace_hash`, `hops_formula`, `state_formula`,
/// `formula_source`, `table3_hops`, `table3_state`, `hops_gap` and `state_gap` (measured over
/// expected, less 1), `hops_gap_reason` and `state_gap_reason` (beyond 15 %),
/// `churn_per_hour`, `departure`. Presets add fields, see `--preset`.
#[derive(Clone, Debug, clap::Args)]
pub struct SimArgs {
    /// Algorithms to run, comma-separated: chord, can, pastry, tapestry (Pastry's engine with
    /// Tapestry's suffix routing), kademlia, flood, freenet, directory (and `ring`, the
    /// simulator's successor-only baseline). Default: chord, can, pastry, kademlia.
    #[arg(long, value_delimiter = ',')]
    pub algo: Vec<String>,

    /// Network sizes, comma-separated (each ≥ 1). Default: 1000 (presets have their own).
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<usize>,

    /// Lookups (queries, requests) per run. Default: 1000 (presets have their own).
    #[arg(long)]
    pub lookups: Option<usize>,

    /// Seed for ids, latencies, keys, origins and churn.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Churn: departures per node per hour (0 = none). Sessions are exponential with median
    /// ln2/RATE hours, so 0.693 gives the one-hour median sessions measured for file sharing;
    /// each departed node is replaced by a fresh one (new identity) about 10 s later. Churn
    /// runs build the overlay through the join protocol.
    #[arg(long, default_value_t = 0.0)]
    pub churn: f64,

    /// Session length distribution under churn: exponential or pareto (shape 1.5, same median).
    #[arg(long, default_value = "exponential")]
    pub sessions: String,

    /// How a node whose session ends goes: crash (vanishes without a word) or graceful (runs
    /// its engine's leave protocol first: chord, can, pastry, tapestry; the others crash).
    #[arg(long, default_value = "crash")]
    pub leave: String,

    /// Spread the lookups evenly over this many seconds of virtual time instead of injecting
    /// them at --rate, so that sessions turn over while they run. Default under --churn: 600
    /// (about 11 % of the nodes leave in that window at one-hour median sessions); none
    /// otherwise.
    #[arg(long)]
    pub window: Option<f64>,

    /// Pastry's (and Tapestry's) bits per digit b, 1..=8 (default 4; --preset table3 runs
    /// b = 2, 3, 4 unless given).
    #[arg(long)]
    pub pastry_b: Option<u32>,

    /// CAN's dimensions d, 1..=8 (default 2; --preset table3 runs d = 2, 3, 4 unless given).
    #[arg(long)]
    pub can_d: Option<usize>,

    /// Kademlia's bucket size and replication k, 1..=64 (default 20).
    #[arg(long)]
    pub kad_k: Option<usize>,

    /// Kademlia's lookup parallelism α, 1..=k (default 3).
    #[arg(long)]
    pub kad_alpha: Option<usize>,

    /// Lookup keys: uniform (a fresh random key each) or zipf (a catalogue of 10,000 items
    /// with Zipf popularity, exponent 0.9).
    #[arg(long, default_value = "uniform")]
    pub keys: String,

    /// One-way latency: lognormal:MEDIAN_MS:SIGMA, uniform:MIN_MS:MAX_MS or constant:MS.
    #[arg(long, default_value = "lognormal:50:0.5")]
    pub latency: String,

    /// Probability that a message is lost (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,

    /// Lookups injected per second of virtual time (at most 1,000 in flight).
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,

    /// How the overlay is built: auto (converged tables, the join protocol under churn or up
    /// to 2,000 nodes for algorithms that have one), converged, or join.
    #[arg(long, default_value = "auto")]
    pub build: String,

    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,

    /// Write SVG charts into this directory (created if missing): hops and state against N,
    /// messages against TTL (gnutella), path length over time (freenet-ring), directory server
    /// state against users. SVG only: plotters' PNG backend needs system fonts.
    #[arg(long)]
    pub plot: Option<PathBuf>,

    /// A preset experiment: table3 (chord, can for d = 2..4, pastry for b = 2..4, tapestry
    /// and kademlia at 10^3..10^5 nodes: the paper's Table 3), gnutella (flooding: messages and queries at the last hop for TTL 1..7,
    /// two topologies, and the ultrapeer+QRP reduction), freenet-ring (1,000 nodes that start in
    /// a ring: request path length as routing tables learn), directory (server state and load
    /// against users), compute (weft-compute's scheduler at 10,000 workers with churn and
    /// cheaters, plain against adaptive replication; --nodes: workers, --lookups: units).
    /// Cannot be combined with --algo.
    #[arg(long)]
    pub preset: Option<String>,
}

impl Default for SimArgs {
    fn default() -> Self {
        SimArgs {
            algo: Vec::new(),
            nodes: Vec::new(),
            lookups: None,
            seed: 1,
            churn: 0.0,
            sessions: "exponential".into(),
            leave: "crash".into(),
            window: None,
            pastry_b: None,
            can_d: None,
            kad_k: None,
            kad_alpha: None,
            keys: "uniform".into(),
            latency: "lognormal:50:0.5".into(),
            loss: 0.0,
            rate: 200.0,
            build: "auto".into(),
            json: false,
            plot: None,
            preset: None,
        }
    }
}

/// Largest network a run accepts.
pub const MAX_NODES: usize = 4_000_000;

/// Runs `weft sim` with `args`: prints the table (or JSON) on stdout and writes plots.
///
/// # Errors
///
/// Bad arguments (one line each: `--nodes 0`, an unknown algorithm or preset, `--preset` with
/// `--algo`, a malformed `--latency`, a `--plot` that is a file or cannot be written), and
/// failures to write plots.
pub fn run(args: SimArgs) -> anyhow::Result<()> {
    run_to(&args, &mut std::io::stdout().lock())
}

/// [`run`], printing to `out`.
///
/// # Errors
///
/// As [`run`]; arguments are all checked, the plot directory included, before any run starts
/// or anything is printed.
pub fn run_to(args: &SimArgs, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    Plan::from_args(args)?;
    if let Some(dir) = &args.plot {
        presets::prepare_plot_dir(dir)?;
    }
    let report = execute(args)?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        write!(out, "{}", report.table())?;
    }
    if let Some(dir) = &args.plot {
        let written = presets::plot(dir, &report)?;
        if !args.json {
            for p in written {
                writeln!(out, "wrote {}", p.display())?;
            }
        }
    }
    Ok(())
}

/// Runs the experiments `args` ask for and returns the report, printing nothing (the progress
/// bar goes to stderr when it is a terminal).
///
/// # Errors
///
/// As [`run`].
pub fn execute(args: &SimArgs) -> anyhow::Result<Report> {
    let plan = Plan::from_args(args)?;
    let progress = progress_bar();
    let runs = match &plan.preset {
        Some(p) => presets::run(*p, &plan, &progress)?,
        None => {
            let mut runs = Vec::new();
            for &n in &plan.nodes {
                for algo in &plan.algos {
                    let cfg = plan.config(algo, n);
                    progress.set_message(format!("{algo} N={n}"));
                    progress.set_length(cfg.lookups as u64);
                    progress.set_position(0);
                    let r = algos::run_with(algo, &plan.params(), &cfg, &progress)?;
                    let mut rec = RunRecord::from_result(&r);
                    plan.annotate(&mut rec);
                    runs.push(rec);
                }
            }
            presets::PresetRuns {
                runs,
                extra: Default::default(),
            }
        }
    };
    progress.finish_and_clear();
    let hashes: Vec<String> = runs
        .runs
        .iter()
        .filter_map(|r| {
            r.extra
                .get("trace_hash")
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .collect();
    Ok(Report {
        seed: args.seed,
        trace_hash: trace::combine(hashes.iter().map(String::as_str)),
        preset: plan.preset.map(|p| p.name().to_string()),
        runs: runs.runs,
        extra: runs.extra,
    })
}

fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>18} [{bar:40}] {pos}/{len} lookups  {elapsed_precise}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

/// The validated arguments.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Algorithms, validated.
    pub algos: Vec<String>,
    /// Sizes, validated; empty means "the preset's default".
    pub nodes: Vec<usize>,
    /// Lookups per run, if given.
    pub lookups: Option<usize>,
    /// The seed.
    pub seed: u64,
    /// Departures per node per hour.
    pub churn_rate: f64,
    /// The churn model, if any.
    pub churn: Option<ChurnModel>,
    /// Key distribution.
    pub keys: KeyDist,
    /// Network model.
    pub network: NetworkModel,
    /// Lookup rate.
    pub rate: f64,
    /// The lookup window under churn (or when asked).
    pub window: Option<Duration>,
    /// Pastry's b, if given.
    pub pastry_b: Option<u32>,
    /// CAN's d, if given.
    pub can_d: Option<usize>,
    /// Kademlia's k.
    pub kad_k: usize,
    /// Kademlia's α.
    pub kad_alpha: usize,
    /// `None` for auto.
    pub build: Option<BuildMode>,
    /// The preset, if any.
    pub preset: Option<Preset>,
}

impl Plan {
    /// Validates `args`.
    ///
    /// # Errors
    ///
    /// One line per problem, naming the flag.
    pub fn from_args(args: &SimArgs) -> anyhow::Result<Plan> {
        let preset = args.preset.as_deref().map(Preset::parse).transpose()?;
        if preset.is_some() && !args.algo.is_empty() {
            bail!("--preset and --algo cannot be combined: a preset chooses its own algorithms");
        }
        let algos: Vec<String> = if args.algo.is_empty() {
            algos::DEFAULT.iter().map(|s| s.to_string()).collect()
        } else {
            args.algo
                .iter()
                .map(|a| a.trim().to_ascii_lowercase())
                .collect()
        };
        for a in &algos {
            if !algos::ALL.contains(&a.as_str()) {
                bail!(
                    "--algo: unknown algorithm {a:?} (known: {})",
                    algos::ALL.join(", ")
                );
            }
        }
        for &n in &args.nodes {
            if n == 0 {
                bail!("--nodes: a network needs at least 1 node (got 0)");
            }
            if n > MAX_NODES {
                bail!("--nodes: {n} is above the limit of {MAX_NODES}");
            }
        }
        if args.lookups == Some(0) {
            bail!("--lookups: must be at least 1");
        }
        if !(args.churn >= 0.0 && args.churn.is_finite()) {
            bail!(
                "--churn: must be a rate ≥ 0 (departures per node per hour), got {}",
                args.churn
            );
        }
        if !(0.0..1.0).contains(&args.loss) {
            bail!("--loss: must be in [0, 1), got {}", args.loss);
        }
        if !(args.rate > 0.0 && args.rate.is_finite()) {
            bail!("--rate: must be > 0 lookups per second, got {}", args.rate);
        }
        let departure = match args.leave.as_str() {
            "crash" => Departure::Crash,
            "graceful" => Departure::Graceful,
            other => bail!("--leave: unknown departure {other:?} (crash, graceful)"),
        };
        if let Some(b) = args.pastry_b
            && !(1..=8).contains(&b)
        {
            bail!("--pastry-b: bits per digit must be 1..=8, got {b}");
        }
        if let Some(d) = args.can_d
            && !(1..=weft_overlay::can::MAX_DIMS).contains(&d)
        {
            bail!(
                "--can-d: dimensions must be 1..={}, got {d}",
                weft_overlay::can::MAX_DIMS
            );
        }
        let defaults = algos::Params::default();
        let kad_k = args.kad_k.unwrap_or(defaults.kad_k);
        if !(1..=64).contains(&kad_k) {
            bail!("--kad-k: bucket size must be 1..=64, got {kad_k}");
        }
        let kad_alpha = args.kad_alpha.unwrap_or(defaults.kad_alpha);
        if !(1..=kad_k).contains(&kad_alpha) {
            bail!("--kad-alpha: parallelism must be 1..=k ({kad_k}), got {kad_alpha}");
        }
        let window = match args.window {
            Some(w) if !(w > 0.0 && w <= 30.0 * 86_400.0) => {
                bail!("--window: must be > 0 seconds and at most 30 days, got {w}")
            }
            Some(w) => Some(Duration::from_secs_f64(w)),
            None if args.churn > 0.0 => Some(Duration::from_secs(600)),
            None => None,
        };
        let mut churn = ChurnModel::from_rate(args.churn);
        if let Some(c) = &mut churn {
            c.departure = departure;
            let median_s = c.session.median_s();
            c.session = match args.sessions.as_str() {
                "exponential" | "exp" => c.session,
                "pareto" => SessionLength::Pareto {
                    median_s,
                    shape: 1.5,
                },
                other => bail!("--sessions: unknown distribution {other:?} (exponential, pareto)"),
            };
        }
        let keys = match args.keys.as_str() {
            "uniform" => KeyDist::Uniform,
            "zipf" => KeyDist::Zipf {
                exponent: 0.9,
                items: 10_000,
            },
            other => bail!("--keys: unknown distribution {other:?} (uniform, zipf)"),
        };
        let build = match args.build.as_str() {
            "auto" => None,
            "converged" => Some(BuildMode::Converged),
            "join" => Some(BuildMode::Join),
            other => bail!("--build: unknown mode {other:?} (auto, converged, join)"),
        };
        if build == Some(BuildMode::Converged) && churn.is_some() {
            bail!(
                "--build converged cannot be combined with --churn: churn needs the join protocol"
            );
        }
        Ok(Plan {
            algos,
            nodes: args.nodes.clone(),
            lookups: args.lookups,
            seed: args.seed,
            churn_rate: args.churn,
            churn,
            keys,
            network: NetworkModel {
                latency: parse_latency(&args.latency)?,
                loss: args.loss,
            },
            rate: args.rate,
            window,
            pastry_b: args.pastry_b,
            can_d: args.can_d,
            kad_k,
            kad_alpha,
            build,
            preset,
        })
    }

    /// Adds the run-level churn fields to `rec`: `churn_per_hour` and, under churn,
    /// `departure` (`crash` or `graceful`).
    pub fn annotate(&self, rec: &mut RunRecord) {
        rec.extra
            .insert("churn_per_hour".into(), self.churn_rate.into());
        if let Some(c) = &self.churn {
            rec.extra
                .insert("departure".into(), c.departure.name().into());
        }
    }

    /// The algorithm parameters: those given, else the defaults.
    pub fn params(&self) -> algos::Params {
        let d = algos::Params::default();
        algos::Params {
            pastry_b: self.pastry_b.unwrap_or(d.pastry_b),
            can_d: self.can_d.unwrap_or(d.can_d),
            kad_k: self.kad_k,
            kad_alpha: self.kad_alpha,
        }
    }

    /// The run configuration for `algo` at `n` nodes (defaults: 1,000 lookups).
    pub fn config(&self, algo: &str, n: usize) -> RunConfig {
        let mut cfg = RunConfig::new(n, self.lookups.unwrap_or(1000), self.seed);
        cfg.network = self.network;
        cfg.churn = self.churn;
        cfg.keys = self.keys;
        cfg.rate = self.rate;
        cfg.window = self.window;
        cfg.build = self.build.unwrap_or(
            if self.churn.is_some() || (n <= algos::JOIN_LIMIT && algos::has_join(algo)) {
                BuildMode::Join
            } else {
                BuildMode::Converged
            },
        );
        if self.churn.is_some() {
            // Under churn, measure over a long enough window for sessions to turn over.
            cfg.settle = Duration::from_secs(120);
        }
        cfg
    }

    /// The sizes to run: those given, or `default`.
    pub fn sizes_or(&self, default: &[usize]) -> Vec<usize> {
        if self.nodes.is_empty() {
            default.to_vec()
        } else {
            self.nodes.clone()
        }
    }
}

fn parse_latency(s: &str) -> anyhow::Result<Latency> {
    let mut parts = s.split(':');
    let kind = parts.next().unwrap_or_default();
    let nums: Vec<f64> = parts
        .map(|p| p.parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--latency: {s:?} has a value that is not a number"))?;
    let bad = || {
        anyhow::anyhow!(
            "--latency: expected lognormal:MEDIAN_MS:SIGMA, uniform:MIN_MS:MAX_MS or constant:MS, got {s:?}"
        )
    };
    if nums.iter().any(|x| !x.is_finite() || *x < 0.0) {
        return Err(bad());
    }
    match (kind, nums.as_slice()) {
        ("lognormal", [m, sd]) => Ok(Latency::LogNormal {
            median_ms: *m,
            sigma: *sd,
        }),
        ("uniform", [a, b]) if a <= b => Ok(Latency::Uniform {
            min_ms: *a,
            max_ms: *b,
        }),
        ("constant", [m]) => Ok(Latency::Constant { ms: *m }),
        _ => Err(bad()),
    }
}
