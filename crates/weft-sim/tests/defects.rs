//! Regression tests for the simulator's defects of issue 14: each failed before its fix.

#![allow(clippy::unwrap_used, reason = "tests unwrap what they set up")]

mod support;

use support::args;

use weft_sim::cli::{execute, run_to};

/// `--nodes 1` used to spin forever in the join build for Chord and Pastry (their
/// maintenance timers kept the loop busy waiting for joins that never come).
#[test]
fn one_node_runs_end_for_the_default_algorithms() {
    let report = execute(&args(&["--nodes", "1", "--lookups", "20"])).unwrap();
    assert_eq!(report.runs.len(), 4);
    for r in &report.runs {
        assert_eq!(r.lookups, 20, "{}", r.algo);
        // Alone, a node owns every key (Kademlia's FindNode asks for other nodes: none).
        if r.algo != "kademlia" {
            assert_eq!(r.success_rate, 1.0, "{}", r.algo);
        }
    }
}

/// A bad `--plot` used to be reported after every run had printed its results, and a
/// `--plot` that is a file said only "File exists".
#[test]
fn a_plot_path_that_is_a_file_fails_first_with_one_clear_line() {
    let dir = std::env::temp_dir().join(format!("weft-sim-plotfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("plots");
    std::fs::write(&file, b"not a directory").unwrap();
    let ring_plotted_to = |plot: &std::path::Path| {
        args(&[
            "--algo",
            "ring",
            "--nodes",
            "50",
            "--lookups",
            "20",
            "--plot",
            plot.to_str().unwrap(),
        ])
    };
    let a = ring_plotted_to(&file);
    let mut out = Vec::new();
    let e = run_to(&a, &mut out).unwrap_err().to_string();
    assert!(
        out.is_empty(),
        "printed before failing: {}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("--plot") && e.contains("is a file"), "{e}");
    // A directory works and its charts are listed.
    let ok = ring_plotted_to(&dir.join("charts"));
    let mut out = Vec::new();
    run_to(&ok, &mut out).unwrap();
    assert!(String::from_utf8(out).unwrap().contains("hops.svg"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The memory figure (then `peak_rss_mb`) used to carry the memory of the previous algorithm into the next run of
/// the same invocation: a tiny ring after a 4,000-node Kademlia read as large as Kademlia.
#[test]
fn peak_memory_is_the_runs_own() {
    let report = execute(&args(&[
        "--algo",
        "kademlia,ring",
        "--nodes",
        "4000",
        "--lookups",
        "50",
        "--build",
        "converged",
    ]))
    .unwrap();
    let (Some(kad), Some(ring)) = (report.runs[0].peak_mb, report.runs[1].peak_mb) else {
        eprintln!("no /proc here: nothing to check");
        return;
    };
    assert!(kad > 8.0, "kademlia at 4,000 nodes added only {kad} MiB");
    assert!(ring < kad / 2.0, "ring {ring} MiB after kademlia {kad} MiB");
}

/// The trace hash used to cover only times, kinds and addresses: two algorithms (or two
/// parameter sets) with the same schedule hashed alike.
#[test]
fn the_trace_hash_names_what_ran() {
    let hash = |line: &[&str]| {
        let r = execute(&args(line)).unwrap();
        r.runs[0].extra["trace_hash"].as_str().unwrap().to_string()
    };
    let base = ["--nodes", "1", "--lookups", "5", "--algo"];
    let pastry = hash(&[&base[..], &["pastry"]].concat());
    assert_eq!(pastry, hash(&[&base[..], &["pastry"]].concat()));
    assert_ne!(pastry, hash(&[&base[..], &["chord"]].concat()));
    assert_ne!(
        pastry,
        hash(&[&base[..], &["pastry", "--pastry-b", "2"]].concat())
    );
    assert_ne!(pastry, hash(&[&base[..], &["tapestry"]].concat()));
}

/// Churn used to start after the settle phase, with lookups over a few seconds of virtual
/// time: almost no session ended while they ran. Under churn the lookups are now spread over
/// a window (600 s by default) and the departures inside it are counted and printed.
#[test]
fn churn_turns_sessions_over_while_lookups_run() {
    let report = execute(&args(&[
        "--algo",
        "chord",
        "--nodes",
        "150",
        "--lookups",
        "200",
        "--churn",
        "0.693",
    ]))
    .unwrap();
    let r = &report.runs[0];
    let departed = r.extra["departed_in_window"].as_u64().unwrap();
    let joined = r.extra["joined_in_window"].as_u64().unwrap();
    // 150 nodes, one-hour median sessions, 600 s: about 17 expected to leave.
    assert!(departed >= 8, "{departed} left in the window");
    assert!(joined >= 5, "{joined} joined in the window");
    assert!(r.extra["window_s"].as_f64().unwrap() >= 590.0);
    assert_eq!(r.extra["departure"], "crash");
    assert!(report.table().contains("left,"));
}

/// weft-sim is a pure crate: its clippy.toml bans the clock, ambient randomness and
/// `HashMap` as weft-overlay's does (it had none of these bans).
#[test]
fn clippy_bans_the_clock_ambient_randomness_and_hashmap() {
    let toml = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/clippy.toml"))
        .expect("crates/weft-sim/clippy.toml");
    for banned in [
        "std::time::Instant::now",
        "std::time::SystemTime::now",
        "rand::thread_rng",
        "rand::rng",
        "rand::random",
        "std::time::Instant",
        "std::collections::HashMap",
    ] {
        assert!(
            toml.contains(&format!("\"{banned}\"")),
            "{banned} not banned"
        );
    }
}

/// Chord built through its join protocol used to answer 0.1–2.2 % of lookups wrongly with no
/// churn at all (seed 2 at N = 1,000: 97.8 % correct), while the converged build answered
/// all: a node whose own join was still in flight answered a newcomer's join as if alone, and
/// the newcomer's successor, nearly a circle off, was walked back one node per period.
#[test]
fn chord_built_by_joins_answers_every_lookup_correctly() {
    for seed in ["2", "6"] {
        let report = execute(&args(&[
            "--algo",
            "chord",
            "--nodes",
            "1000",
            "--lookups",
            "400",
            "--build",
            "join",
            "--seed",
            seed,
        ]))
        .unwrap();
        let r = &report.runs[0];
        assert!(r.oracle);
        assert_eq!(r.wrong, 0, "seed {seed}: {} wrong answers", r.wrong);
        assert_eq!(r.correct, 400, "seed {seed}");
    }
}

/// `--leave graceful` used to do nothing for Chord, Pastry and Tapestry (only CAN's adapter
/// gave the leave command): the same trace hash as crash departures. Now their engines'
/// leave runs, and at a high churn (median session 83 s) graceful departures lose fewer
/// lookups and cost fewer hop timeouts.
#[test]
fn graceful_departures_run_the_leave_protocol_of_chord_and_pastry() {
    let run = |leave: &str| {
        execute(&args(&[
            "--algo",
            "chord,pastry,tapestry",
            "--nodes",
            "300",
            "--lookups",
            "300",
            "--churn",
            "30",
            "--window",
            "120",
            "--leave",
            leave,
        ]))
        .unwrap()
        .runs
    };
    let (crash, graceful) = (run("crash"), run("graceful"));
    for (c, g) in crash.iter().zip(&graceful) {
        assert_eq!(c.label, g.label);
        assert_eq!(g.extra["departure"], "graceful");
        assert_ne!(c.extra["trace_hash"], g.extra["trace_hash"], "{}", c.label);
        let lost = |r: &weft_sim::report::RunRecord| {
            r.lookups - r.extra["abandoned"].as_u64().unwrap() as usize - r.correct
        };
        let timeouts = |r: &weft_sim::report::RunRecord| r.extra["hop_timeouts"].as_u64().unwrap();
        eprintln!(
            "{}: lost {} crash, {} graceful; hop timeouts {} crash, {} graceful",
            c.label,
            lost(c),
            lost(g),
            timeouts(c),
            timeouts(g)
        );
        assert!(
            lost(g) < lost(c),
            "{}: lost {} graceful vs {} crash",
            c.label,
            lost(g),
            lost(c)
        );
        assert!(timeouts(g) < timeouts(c), "{}", c.label);
    }
}

/// A run's `oracle` flag used to be set only once an answer had been judged, so a run whose
/// lookups all failed read "not checked"; it now comes from the algorithm. And CAN's formula
/// gave half a hop for a network of one node (printed as a −100 % gap).
#[test]
fn the_oracle_flag_comes_from_the_algorithm_and_one_can_node_expects_no_hop() {
    let alone = execute(&args(&[
        "--algo",
        "kademlia,can",
        "--nodes",
        "1",
        "--lookups",
        "5",
    ]))
    .unwrap()
    .runs;
    // Alone, Kademlia's FindNode finds no other node: no answer, yet answers are checked.
    assert_eq!(alone[0].answered_rate, 0.0);
    assert!(alone[0].oracle, "kademlia");
    assert!(alone[1].oracle, "can");
    assert_eq!(alone[1].expected_hops, Some(0.0));
    assert!(
        !alone[1].extra.contains_key("hops_gap"),
        "{:?}",
        alone[1].extra.get("hops_gap")
    );
    let directory = execute(&args(&[
        "--algo",
        "directory",
        "--nodes",
        "20",
        "--lookups",
        "5",
    ]))
    .unwrap()
    .runs;
    assert!(
        !directory[0].oracle,
        "the directory's success is the engine's word"
    );
}
