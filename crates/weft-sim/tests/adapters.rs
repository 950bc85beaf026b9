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
use weft_sim::simulation::Simulation;
use weft_sim::workload::Draw;

/// A converged overlay of `n` nodes and the oracle's index of it.
fn converged<A: Algorithm>(algo: &A, n: usize) -> (Simulation<A::E>, Truth) {
    let mut sim = Simulation::new(&algo.label(), 3, NetworkModel::default(), A::classify);
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
    right_of: impl Fn(&Simulation<A::E>, &Truth, &Draw) -> Answer,
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
