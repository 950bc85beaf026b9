//! Adaptive replication and spot checks.

use super::tests::{T0, events, spec, truth};
use super::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn lie(u: u32) -> Outcome {
    Outcome::Output {
        hash: Key256::hash(&[b"collude".as_slice(), &u.to_le_bytes()].concat()),
        fuel: 1,
    }
}

fn adaptive(trust_after: u32, check_permille: u32, max_unchecked: u32) -> Config {
    Config {
        adaptive: Some(Adaptive {
            trust_after,
            check_permille,
            max_unchecked,
            seed: 5,
        }),
        ..Config::default()
    }
}

fn drain(c: &mut Coordinator<u32>) -> (Vec<Event<u32>>, Vec<Notice<u32>>) {
    (events(c), std::iter::from_fn(|| c.poll_notice()).collect())
}

/// Workers 1 and 2 agree on `n` units: both earn a streak of `n`.
fn agree(c: &mut Coordinator<u32>, job: &JobId, n: usize) {
    for _ in 0..n {
        let a = c.assign(T0, &1, 1);
        let b = c.assign(T0, &2, 1);
        assert_eq!(a[0].unit, b[0].unit, "replicated while untrusted");
        c.report(T0, &1, job, a[0].unit, Report::Done(truth(a[0].unit)))
            .unwrap();
        c.report(T0, &2, job, b[0].unit, Report::Done(truth(b[0].unit)))
            .unwrap();
    }
}

#[test]
fn a_trusted_worker_computes_alone_and_a_passed_check_credits_it() {
    let mut c = Coordinator::new(adaptive(2, 0, 3));
    let job = c.add_job(spec(20, 2, 2, 4), &BTreeMap::new());
    assert!(c.add_known(&job, 19, truth(19)));
    agree(&mut c, &job, 2);
    assert!(c.trusted(&1));
    drain(&mut c);
    // three units alone: accepted on its word, not yet credited
    let credit_before = c.workers().find(|(w, _)| **w == 1).unwrap().1.credit;
    for _ in 0..3 {
        let got = c.assign(T0, &1, 1);
        let u = got[0].unit;
        assert!(c.assign(T0, &3, 1).iter().all(|i| i.unit != u), "alone");
        c.report(T0, &1, &job, u, Report::Done(truth(u))).unwrap();
        let (ev, notices) = drain(&mut c);
        assert!(matches!(&ev[..], [Event::Accepted { workers, .. }] if *workers == vec![1]));
        assert!(notices.is_empty(), "no receipt before a check");
    }
    assert_eq!(
        c.workers().find(|(w, _)| **w == 1).unwrap().1.credit,
        credit_before
    );
    assert_eq!(c.unchecked(&1), (3 + 2, 3));
    // three unchecked: the next unit is a check against the submitter's answer
    let check = c.assign(T0, &1, 1);
    assert_eq!(check[0].unit, 19);
    c.report(T0, &1, &job, 19, Report::Done(truth(19))).unwrap();
    let (_, notices) = drain(&mut c);
    assert!(notices.contains(&Notice::Checked {
        job,
        unit: 19,
        worker: 1,
        passed: true
    }));
    let validated = notices
        .iter()
        .filter(|n| matches!(n, Notice::Validated { worker: 1, .. }))
        .count();
    assert_eq!(validated, 4, "the check and the three units alone");
    assert_eq!(c.unchecked(&1), (3, 0), "kept, for a later wrong answer");
}

#[test]
fn a_failed_check_reopens_what_was_accepted_on_the_workers_word() {
    let mut c = Coordinator::new(adaptive(2, 0, 3));
    let job = c.add_job(spec(20, 2, 2, 4), &BTreeMap::new());
    c.add_known(&job, 19, truth(19));
    agree(&mut c, &job, 2);
    let mut alone = Vec::new();
    for _ in 0..3 {
        let u = c.assign(T0, &1, 1)[0].unit;
        // now it lies, alone
        c.report(T0, &1, &job, u, Report::Done(lie(u))).unwrap();
        alone.push(u);
    }
    drain(&mut c);
    assert_eq!(c.assign(T0, &1, 1)[0].unit, 19, "the check");
    c.report(T0, &1, &job, 19, Report::Done(lie(19))).unwrap();
    let (ev, notices) = drain(&mut c);
    assert!(ev.contains(&Event::Wrong {
        job,
        unit: 19,
        worker: 1
    }));
    let reopened: Vec<u32> = notices
        .iter()
        .filter_map(|n| match n {
            Notice::Reopened { unit, .. } => Some(*unit),
            _ => None,
        })
        .collect();
    // its three lies, and the two units it agreed on with worker 2
    assert_eq!(reopened.len(), 5, "{notices:?}");
    assert!(alone.iter().all(|u| reopened.contains(u)));
    assert!(!c.trusted(&1));
    // the reopened units are recomputed by others, replicated, and its lies judged wrong
    let mut wrong_for_1 = 0;
    for w in [3, 4] {
        for i in c.assign(T0, &w, 16) {
            c.report(T0, &w, &job, i.unit, Report::Done(truth(i.unit)))
                .unwrap();
        }
    }
    for e in drain(&mut c).0 {
        if let Event::Accepted { unit, outcome, .. } = e {
            assert_eq!(outcome, truth(unit), "unit {unit}");
        }
        if matches!(e, Event::Wrong { worker: 1, .. }) {
            wrong_for_1 += 1;
        }
    }
    assert_eq!(wrong_for_1, 3, "each lie counted");
    assert!(c.is_banned(&1));
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Cheat {
    /// Each cheater returns its own random wrong answer, always.
    Independent,
    /// Honest for its first `n` results (to earn trust), then lies alone with probability 1/3.
    Patient(u32),
    /// Every cheater returns the same wrong answer for a unit.
    Colluding,
}

#[derive(Debug, Default)]
struct Run {
    accepted: u32,
    failed: u32,
    wrong: u32,
    executions: u64,
    units: u64,
}

/// One job of `units` units, R = Q = 2, run by `workers` workers of which a `share` cheat.
/// `known`: units the submitter computes itself first (counted as executions).
fn run(seed: u64, config: Config, workers: u32, share: f64, cheat: Cheat, known: u32) -> Run {
    let units = 1000;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cheaters: BTreeSet<u32> = (0..workers).filter(|_| rng.random_bool(share)).collect();
    let mut c = Coordinator::new(config);
    let job = c.add_job(spec(units, 2, 2, 6), &BTreeMap::new());
    let mut out = Run {
        units: units as u64,
        ..Run::default()
    };
    for u in 0..known {
        let u = u * (units as u32 / known.max(1));
        c.add_known(&job, u, truth(u));
        out.executions += 1;
    }
    let mut done_by: BTreeMap<u32, u32> = BTreeMap::new();
    let mut held: Vec<(u32, Issued)> = Vec::new();
    let mut now = T0;
    for _ in 0..400_000 {
        now += Duration::from_millis(1);
        // a worker with a free slot (two each) asks for work
        let w = rng.random_range(0..workers);
        let free = 2 - held.iter().filter(|(h, _)| *h == w).count().min(2);
        held.extend(c.assign(now, &w, free).into_iter().map(|i| (w, i)));
        if !held.is_empty() && rng.random_bool(0.5) {
            let (w, i) = held.swap_remove(rng.random_range(0..held.len()));
            let n = done_by.entry(w).or_default();
            *n += 1;
            let outcome = match cheat {
                _ if !cheaters.contains(&w) => truth(i.unit),
                Cheat::Independent => Outcome::Output {
                    hash: Key256::hash(&rng.random::<[u8; 32]>()),
                    fuel: 1,
                },
                Cheat::Patient(k) if *n > k && rng.random_bool(1.0 / 3.0) => lie(i.unit),
                Cheat::Patient(_) => truth(i.unit),
                Cheat::Colluding => lie(i.unit),
            };
            out.executions += 1;
            let _ = c.report(now, &w, &i.job, i.unit, Report::Done(outcome));
        }
        let _ = std::iter::from_fn(|| c.poll_notice()).count();
        let mut finished = false;
        while let Some(e) = c.poll_event() {
            finished |= matches!(e, Event::JobDone { .. });
        }
        if finished && c.progress(&job).unwrap().running == 0 {
            break;
        }
    }
    // the final decisions (a unit may have been reopened and decided again)
    for u in 0..units as u32 {
        let unit = &c.jobs[&job].units[u as usize];
        match unit.state {
            UnitState::Accepted(d) => {
                out.accepted += 1;
                if d != truth(u).digest() {
                    out.wrong += 1;
                }
            }
            UnitState::Failed => out.failed += 1,
            UnitState::Open => {}
        }
    }
    out
}

fn overhead(r: &Run) -> f64 {
    r.executions as f64 / r.units as f64 - 1.0
}

#[test]
fn twenty_percent_independent_cheaters_get_no_wrong_result_accepted_adaptively() {
    let (mut plain_x, mut adaptive_x) = (0.0, 0.0);
    let seeds = 6;
    for seed in 0..seeds {
        let p = run(seed, Config::default(), 50, 0.2, Cheat::Independent, 0);
        let a = run(seed, adaptive(10, 50, 40), 50, 0.2, Cheat::Independent, 10);
        for (name, r) in [("plain", &p), ("adaptive", &a)] {
            assert_eq!(r.wrong, 0, "{name} seed {seed}: {r:?}");
            assert_eq!(r.accepted + r.failed, 1000, "{name} seed {seed}: {r:?}");
        }
        plain_x += overhead(&p);
        adaptive_x += overhead(&a);
    }
    let (plain_x, adaptive_x) = (plain_x / seeds as f64, adaptive_x / seeds as f64);
    println!(
        "RESULT independent_cheaters share=0.2 workers=50 units=1000 wrong_accepted=0 \
         overhead_plain={plain_x:.2} overhead_adaptive={adaptive_x:.2}"
    );
    assert!(adaptive_x < plain_x, "adaptive replication costs less");
}

#[test]
fn patient_cheaters_are_caught_by_spot_checks() {
    let mut wrong = 0;
    let mut without_checks = 0;
    for seed in 0..6 {
        let a = run(seed, adaptive(10, 100, 40), 50, 0.2, Cheat::Patient(12), 10);
        // the same cheaters against adaptive replication without checks or known answers
        let n = run(
            seed,
            adaptive(10, 0, u32::MAX),
            50,
            0.2,
            Cheat::Patient(12),
            0,
        );
        wrong += a.wrong;
        without_checks += n.wrong;
    }
    println!(
        "RESULT patient_cheaters share=0.2 honest_for=12 lie_rate=0.33 runs=6 \
         wrong_accepted_with_checks={wrong} wrong_accepted_without_checks={without_checks}"
    );
    assert!(
        without_checks > 0,
        "the cheaters do get through without checks"
    );
    // spot checks are a sample: they cut what gets through by a third or more, not to zero
    assert!(
        wrong * 3 <= without_checks * 2,
        "{wrong} vs {without_checks}"
    );
}

#[test]
fn a_colluding_group_against_the_quorum_model() {
    let f = 0.2;
    // two colluders' votes before two honest ones: f^2 + 2 f^2 (1 - f)
    let model = f * f * (3.0 - 2.0 * f);
    let seeds = 6;
    let no_ban = Config {
        ban_after_wrong: u32::MAX,
        ..Config::default()
    };
    let (mut voting, mut banning, mut checked, mut units) = (0, 0, 0, 0);
    let mut adaptive_x = 0.0;
    for seed in 0..seeds {
        let v = run(seed, no_ban, 50, f, Cheat::Colluding, 0);
        let b = run(seed, Config::default(), 50, f, Cheat::Colluding, 0);
        let a = run(seed, adaptive(10, 50, 40), 50, f, Cheat::Colluding, 10);
        voting += v.wrong;
        banning += b.wrong;
        checked += a.wrong;
        units += v.accepted;
        adaptive_x += overhead(&a);
    }
    let rate = |w: u32| f64::from(w) / f64::from(units);
    println!(
        "RESULT colluding_group share={f} workers=50 units_per_run=1000 runs={seeds} \
         quorum_model={model:.3} voting_only={:.3} voting_with_bans={:.3} \
         adaptive_with_spot_checks={:.4} overhead_adaptive={:.2}",
        rate(voting),
        rate(banning),
        rate(checked),
        adaptive_x / f64::from(seeds as u32),
    );
    assert!(
        (rate(voting) - model).abs() < model * 0.35,
        "voting alone is what the model says"
    );
    assert!(voting > 0, "voting alone does not stop colluders");
    assert!(
        checked * 10 <= banning,
        "spot checks do: {checked} vs {banning}"
    );
}
