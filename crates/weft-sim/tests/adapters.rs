//! The adapters at their own level: each oracle refuses a wrong answer fed to it, and the
//! flags the paper varies (`--can-d`, `--kad-k`, `--pastry-b`) change what is measured.

#![allow(clippy::unwrap_used, reason = "tests unwrap what they set up")]

mod support;

use support::args;

use weft_core::id::Key256;
use weft_sim::algorithm::Algorithm;
use weft_sim::algos::{can::CanAlgo, chord::ChordAlgo, kademlia::KademliaAlgo, pastry::PastryAlgo};
use weft_sim::cli::execute;
use weft_sim::network::NetworkModel;
use weft_sim::oracle::{Answer, Truth, Verdict};
use weft_sim::workload::Draw;
use weft_vnet::VNet;

/// A converged overlay of `n` nodes and the oracle's index of it.
fn converged<A: Algorithm>(algo: &A, n: usize) -> (VNet<A::E>, Truth) {
    let mut sim = VNet::new(&algo.label(), 3, NetworkModel::default(), A::classify);
    sim.extend(algo.build_converged(n, 3));
    let mut truth = Truth::default();
    for (i, e) in sim.live() {
        if let Some(p) = algo.position(e) {
            truth.insert(p, i);
        }
    }
    (sim, truth)
}

fn draws() -> impl Iterator<Item = Draw> {
    (0..40u32).map(|i| Draw {
        key: Key256::hash(&i.to_le_bytes()),
        item: None,
    })
}

/// For each key: the right answer is judged correct, and a wrong one (another node, or
/// `wrong(right)`) wrong.
fn oracle_refuses_wrong_answers<A: Algorithm>(
    algo: &A,
    n: usize,
    right_of: impl Fn(&VNet<A::E>, &Truth, &Draw) -> Answer,
    wrong_of: impl Fn(&Answer) -> Answer,
) {
    assert!(algo.has_oracle(), "{}", algo.label());
    let (sim, truth) = converged(algo, n);
    for draw in draws() {
        let right = right_of(&sim, &truth, &draw);
        let wrong = wrong_of(&right);
        let check = |a: &Answer| algo.check(&truth, &sim, &draw, 0, a);
        assert_eq!(
            check(&right),
            Verdict::Correct,
            "{}: {right:?}",
            algo.label()
        );
        assert_eq!(check(&wrong), Verdict::Wrong, "{}: {wrong:?}", algo.label());
        assert_eq!(check(&Answer::Unjudged), Verdict::Wrong, "{}", algo.label());
    }
}

/// Another node than the one answered.
fn other_node(a: &Answer) -> Answer {
    match a {
        Answer::Node(i) => Answer::Node((i + 1) % 60),
        other => panic!("expected one node, got {other:?}"),
    }
}

#[test]
fn each_oracle_judges_a_wrong_answer_wrong() {
    let chord = ChordAlgo::new(3);
    oracle_refuses_wrong_answers(
        &chord,
        60,
        |sim, t, d| chord.truth_now(t, sim, d, 0).unwrap(),
        other_node,
    );
    for suffix in [false, true] {
        let pastry = PastryAlgo::with(3, 4, suffix);
        oracle_refuses_wrong_answers(
            &pastry,
            60,
            |sim, t, d| pastry.truth_now(t, sim, d, 0).unwrap(),
            other_node,
        );
    }
    // Kademlia: the k closest; one of them swapped for a farther node is wrong.
    let kad = KademliaAlgo::with(3, 5, 3);
    oracle_refuses_wrong_answers(
        &kad,
        60,
        |sim, t, d| kad.truth_now(t, sim, d, 0).unwrap(),
        |right| match right {
            Answer::Nodes(v) => {
                let mut w = v.clone();
                let outsider = (1..60u32).find(|i| !v.contains(i)).unwrap();
                w[0] = outsider;
                Answer::Nodes(w)
            }
            other => panic!("expected nodes, got {other:?}"),
        },
    );
    // CAN: the node whose zone holds the key's point, found by scanning every zone.
    for d in [2, 3] {
        let can = CanAlgo::with_dims(d);
        oracle_refuses_wrong_answers(
            &can,
            60,
            |sim, _, draw| {
                let point = weft_overlay::can::point_of(draw.key.prefix_u64());
                let owner = sim
                    .live()
                    .find(|(_, e)| e.zones().iter().any(|z| z.contains(&point, d)))
                    .map(|(i, _)| i)
                    .unwrap();
                Answer::Node(owner)
            },
            other_node,
        );
    }
}

fn run1(line: &[&str]) -> weft_sim::report::RunRecord {
    let base = ["--nodes", "500", "--lookups", "150", "--build", "converged"];
    execute(&args(&[&base[..], line].concat()))
        .unwrap()
        .runs
        .remove(0)
}

#[test]
fn the_flags_the_paper_varies_change_what_is_measured() {
    // CAN: more dimensions, shorter paths and more neighbours.
    let (d2, d4) = (
        run1(&["--algo", "can"]),
        run1(&["--algo", "can", "--can-d", "4"]),
    );
    assert_eq!(
        (d2.label.as_str(), d4.label.as_str()),
        ("can d=2", "can d=4")
    );
    assert!(
        d4.mean_hops < d2.mean_hops * 0.7,
        "{} {}",
        d4.mean_hops,
        d2.mean_hops
    );
    assert!(
        d4.mean_state > d2.mean_state * 1.5,
        "{} {}",
        d4.mean_state,
        d2.mean_state
    );
    // Kademlia: smaller buckets, less state.
    let (k20, k5) = (
        run1(&["--algo", "kademlia"]),
        run1(&["--algo", "kademlia", "--kad-k", "5"]),
    );
    assert_eq!(k5.label, "kademlia k=5 α=3");
    assert!(
        k5.mean_state < k20.mean_state * 0.5,
        "{} {}",
        k5.mean_state,
        k20.mean_state
    );
    // Pastry: fewer bits per digit, more hops and a different table.
    let (b4, b2) = (
        run1(&["--algo", "pastry"]),
        run1(&["--algo", "pastry", "--pastry-b", "2"]),
    );
    assert_eq!(b2.label, "pastry b=2");
    assert!(
        b2.mean_hops > b4.mean_hops * 1.2,
        "{} {}",
        b2.mean_hops,
        b4.mean_hops
    );
    assert!(
        b2.mean_state < b4.mean_state,
        "{} {}",
        b2.mean_state,
        b4.mean_state
    );
    for r in [&d2, &d4, &k20, &k5, &b4, &b2] {
        assert!(
            r.oracle && r.success_rate > 0.99,
            "{}: {}",
            r.label,
            r.success_rate
        );
    }
}

/// The CAN formulas assume equal zones. On an equal-zone grid (N = 2^(d·k), built by
/// halving the oldest largest zone) the engine's greedy routing measures (d/4)·N^(1/d)
/// hops and exactly 2d neighbours; the join protocol's partition (a random point's zone
/// halved) is what moves the table3 figures off them.
#[test]
fn can_on_equal_zones_measures_its_formulas() {
    use weft_sim::experiment::{RunConfig, run};
    for (d, n) in [(2usize, 4096usize), (3, 4096), (4, 4096)] {
        let mut cfg = RunConfig::new(n, 1500, 4);
        cfg.build = weft_sim::algorithm::BuildMode::Converged;
        let grid = run(
            &CanAlgo::grid(d, n),
            &cfg,
            &indicatif::ProgressBar::hidden(),
        );
        let random = run(
            &CanAlgo::for_size(d, n),
            &cfg,
            &indicatif::ProgressBar::hidden(),
        );
        let (hops, state) = (grid.expected.hops.unwrap(), grid.expected.state.unwrap());
        eprintln!(
            "can d={d} N={n}: grid hops {:.2} state {:.2}; join partition hops {:.2} state {:.2}; formula {hops:.2}, {state}",
            grid.mean_hops(),
            grid.mean_state,
            random.mean_hops(),
            random.mean_state
        );
        assert_eq!(grid.correct, 1500);
        assert!(
            (grid.mean_hops() / hops - 1.0).abs() < 0.04,
            "d={d}: {}",
            grid.mean_hops()
        );
        assert_eq!(grid.mean_state, state, "d={d}");
        // The join protocol's unequal zones: fewer hops, more neighbours.
        assert!(random.mean_hops() < 0.9 * hops && random.mean_state > 1.1 * state);
    }
}

/// Chord's expected hops: `½·log2 N` counts finger hops (one per 1-bit of the distance to
/// the key's predecessor); the engine measures exactly that with a successor list of 1, and
/// with r = 8 the expectation printed (`½·log2 N − 5/8` at a power of two), which counts the
/// successor list's shortcut.
#[test]
fn chord_hops_match_the_finger_and_successor_count() {
    use std::sync::Arc;
    use weft_sim::algos::chord::expected_hops;
    use weft_sim::experiment::{RunConfig, run};
    assert!((expected_hops(4096, 1) - 6.0).abs() < 1e-9);
    assert!((expected_hops(4096, 8) - 5.375).abs() < 1e-9);
    for r in [1usize, 8] {
        let mut algo = ChordAlgo::new(5);
        let mut config = (*algo.config).clone();
        config.successors = r;
        algo.config = Arc::new(config);
        let cfg = RunConfig::new(4096, 2000, 5);
        let run = run(&algo, &cfg, &indicatif::ProgressBar::hidden());
        let want = expected_hops(4096, r);
        eprintln!(
            "chord r={r}: {:.3} hops, expected {want:.3}",
            run.mean_hops()
        );
        assert_eq!(run.correct, 2000);
        // random ids measure 1–3 % below the evenly spaced ring's figure
        let ratio = run.mean_hops() / want;
        assert!((0.95..=1.01).contains(&ratio), "r={r}: {ratio}");
    }
}

/// Pastry at small b: each hop resolves a digit and, once in 2^b, a further one by chance,
/// so with a leaf set of 2 a route takes about (1 − 2^−b)·log_{2^b} N hops; the leaf set of
/// 16 takes off more.
#[test]
fn pastry_hops_below_the_digit_count_at_small_b() {
    use std::sync::Arc;
    use weft_sim::experiment::{RunConfig, run};
    let mean = |leaf_set: usize| {
        let mut algo = PastryAlgo::with(5, 2, false);
        let mut config = (*algo.config).clone();
        config.leaf_set = leaf_set;
        algo.config = Arc::new(config);
        let r = run(
            &algo,
            &RunConfig::new(4096, 1500, 5),
            &indicatif::ProgressBar::hidden(),
        );
        assert_eq!(r.correct, 1500);
        r.mean_hops()
    };
    let (narrow, wide) = (mean(2), mean(16));
    let chance = 0.75 * 6.0; // (1 − 2^−2)·log_4 4096
    eprintln!("pastry b=2 N=4096: {narrow:.2} hops with L=2, {wide:.2} with L=16, model {chance}");
    assert!((narrow / chance - 1.0).abs() < 0.04, "{narrow}");
    assert!(wide < narrow - 0.2, "{wide} vs {narrow}");
}
