use super::*;
use crate::job::{Abi, Limits, UnitSpec};
use crate::outcome::{Failure, GaveUp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A job of `units` units with these replication settings (also the adaptive tests' job).
pub(super) fn spec(units: usize, replicas: u8, quorum: u8, max_replicas: u8) -> JobSpec {
    JobSpec {
        module: Key256::hash(b"module"),
        module_size: 10,
        abi: Abi::OneShot,
        units: (0..units)
            .map(|i| UnitSpec {
                input: Key256::hash(&(i as u64).to_le_bytes()),
                size: 8,
            })
            .collect(),
        replicas,
        quorum,
        max_replicas,
        deadline_ms: 1000,
        limits: Limits::default(),
        nonce: 7,
    }
}

/// The right answer to unit `u`.
pub(super) fn truth(u: u32) -> Outcome {
    Outcome::Output {
        hash: Key256::hash(&u.to_le_bytes()),
        fuel: 100 + u64::from(u),
    }
}

/// The events `c` has queued.
pub(super) fn events(c: &mut Coordinator<u32>) -> Vec<Event<u32>> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

pub(super) const T0: Time = Time::ZERO;

#[test]
fn replicas_go_to_distinct_workers_and_a_quorum_accepts() {
    let mut c = Coordinator::new(Config::default());
    let job = c.add_job(spec(3, 2, 2, 4), &BTreeMap::new());
    let a = c.assign(T0, &1, 8);
    assert_eq!(a.len(), 3, "one replica of each unit for worker 1");
    assert!(
        c.assign(T0, &1, 8).is_empty(),
        "never two replicas of a unit"
    );
    let b = c.assign(T0, &2, 8);
    assert_eq!(b.len(), 3);
    assert!(c.assign(T0, &3, 8).is_empty(), "R = 2 replicas are out");
    for (w, issued) in [(1, &a), (2, &b)] {
        for i in issued {
            c.report(T0, &w, &job, i.unit, Report::Done(truth(i.unit)))
                .unwrap();
        }
    }
    let ev = events(&mut c);
    let accepted = ev
        .iter()
        .filter(|e| matches!(e, Event::Accepted { .. }))
        .count();
    assert_eq!(accepted, 3);
    assert_eq!(ev.last(), Some(&Event::JobDone { job }));
    let s = c.workers().find(|(w, _)| **w == 1).unwrap().1;
    assert_eq!(s.validated, 3);
    assert_eq!(s.credit, 100 + 101 + 102);
    assert_eq!(s.running, 0);
    assert_eq!(
        c.progress(&job).unwrap(),
        Progress {
            accepted: 3,
            ..Progress::default()
        }
    );
}

#[test]
fn a_report_for_a_unit_not_issued_is_refused() {
    let mut c = Coordinator::new(Config::default());
    let job = c.add_job(spec(1, 1, 1, 2), &BTreeMap::new());
    assert_eq!(
        c.report(T0, &9, &job, 0, Report::Done(truth(0))),
        Err(ReportError::NotIssued)
    );
    assert_eq!(
        c.report(T0, &9, &job, 5, Report::Done(truth(0))),
        Err(ReportError::NotIssued)
    );
    let other = JobId(Key256::hash(b"nope"));
    assert_eq!(
        c.report(T0, &9, &other, 0, Report::Done(truth(0))),
        Err(ReportError::UnknownJob)
    );
    c.assign(T0, &1, 1);
    c.report(T0, &1, &job, 0, Report::Done(truth(0))).unwrap();
    assert_eq!(
        c.report(T0, &1, &job, 0, Report::Done(truth(0))),
        Err(ReportError::NotIssued),
        "a second report of the same replica"
    );
}

#[test]
fn a_lapsed_replica_is_issued_again_and_its_late_result_still_counts() {
    let mut c = Coordinator::new(Config::default());
    let job = c.add_job(spec(1, 1, 1, 2), &BTreeMap::new());
    assert_eq!(c.assign(T0, &1, 1).len(), 1);
    assert!(c.assign(T0, &2, 1).is_empty());
    let due = c.poll_timeout().unwrap();
    assert_eq!(due, Time::from_millis(1000));
    c.handle_timeout(Time::from_millis(999));
    assert!(c.assign(Time::from_millis(999), &2, 1).is_empty());
    c.handle_timeout(due);
    assert!(matches!(
        events(&mut c)[..],
        [Event::Lapsed { worker: 1, .. }]
    ));
    assert_eq!(c.assign(due, &2, 1).len(), 1, "issued again elsewhere");
    // the late worker answers first: its result is taken
    c.report(due, &1, &job, 0, Report::Done(truth(0))).unwrap();
    assert!(matches!(events(&mut c)[0], Event::Accepted { .. }));
    c.report(due, &2, &job, 0, Report::Done(truth(0))).unwrap();
    let s2 = *c.workers().find(|(w, _)| **w == 2).unwrap().1;
    assert_eq!(
        s2.validated, 1,
        "an agreeing result after acceptance is credited"
    );
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn disagreement_adds_replicas_up_to_the_bound_then_fails() {
    let mut c = Coordinator::new(Config::default());
    let job = c.add_job(spec(1, 2, 2, 3), &BTreeMap::new());
    c.assign(T0, &1, 1);
    c.assign(T0, &2, 1);
    c.report(T0, &1, &job, 0, Report::Done(truth(0))).unwrap();
    c.report(T0, &2, &job, 0, Report::Done(truth(1))).unwrap();
    assert!(events(&mut c).is_empty());
    assert_eq!(
        c.assign(T0, &3, 1).len(),
        1,
        "a third replica breaks the tie"
    );
    assert!(
        c.assign(T0, &4, 1).is_empty(),
        "only as many as could reach Q"
    );
    c.report(T0, &3, &job, 0, Report::Done(truth(0))).unwrap();
    let ev = events(&mut c);
    assert!(matches!(&ev[0], Event::Accepted { workers, .. } if *workers == vec![1, 3]));
    assert!(matches!(ev[1], Event::Wrong { worker: 2, .. }));

    let job = c.add_job(spec(1, 2, 2, 2), &BTreeMap::new());
    c.assign(T0, &1, 1);
    c.assign(T0, &2, 1);
    c.report(T0, &1, &job, 0, Report::Done(truth(0))).unwrap();
    c.report(T0, &2, &job, 0, Report::Done(truth(1))).unwrap();
    let ev = events(&mut c);
    assert_eq!(
        ev,
        vec![Event::Failed { job, unit: 0 }, Event::JobDone { job }]
    );
}

#[test]
fn deterministic_failures_reach_a_quorum_and_giving_up_reissues() {
    let mut c = Coordinator::new(Config::default());
    let job = c.add_job(spec(1, 2, 2, 2), &BTreeMap::new());
    let trap = Outcome::Failed {
        failure: Failure::Trap,
        fuel: 5,
    };
    c.assign(T0, &1, 1);
    c.assign(T0, &2, 1);
    c.report(T0, &1, &job, 0, Report::GaveUp(GaveUp::WallClock))
        .unwrap();
    assert_eq!(c.assign(T0, &3, 1).len(), 1, "given back: issued again");
    c.report(T0, &2, &job, 0, Report::Done(trap)).unwrap();
    c.report(T0, &3, &job, 0, Report::Done(trap)).unwrap();
    assert!(matches!(events(&mut c)[0], Event::Accepted { outcome, .. } if outcome == trap));
}

#[test]
fn cheaters_lose_standing_and_then_get_no_work() {
    let mut c = Coordinator::new(Config::default());
    let job = c.add_job(spec(10, 2, 2, 4), &BTreeMap::new());
    for round in 0..3u32 {
        let cheat = c.assign(T0, &66, 1);
        assert_eq!(cheat.len(), 1, "round {round}");
        let u = cheat[0].unit;
        c.report(T0, &66, &job, u, Report::Done(truth(u + 1000)))
            .unwrap();
        for w in [1, 2] {
            let got = c.assign(T0, &w, 1);
            assert_eq!(got[0].unit, u, "the lowest open unit");
            c.report(T0, &w, &job, u, Report::Done(truth(u))).unwrap();
        }
    }
    assert!(c.is_banned(&66));
    assert!(c.assign(T0, &66, 4).is_empty());
}

#[test]
fn jobs_take_turns_and_cancel_frees_the_worker() {
    let mut c = Coordinator::new(Config::default());
    let a = c.add_job(spec(10, 1, 1, 1), &BTreeMap::new());
    let mut b_spec = spec(10, 1, 1, 1);
    b_spec.nonce = 8;
    let b = c.add_job(b_spec, &BTreeMap::new());
    let got = c.assign(T0, &1, 4);
    assert_eq!(got.iter().filter(|i| i.job == a).count(), 2);
    assert_eq!(got.iter().filter(|i| i.job == b).count(), 2);
    assert!(c.cancel(&a));
    assert_eq!(c.workers().next().unwrap().1.running, 2);
    assert_eq!(
        c.report(T0, &1, &a, got[0].unit, Report::Done(truth(0))),
        Err(ReportError::UnknownJob)
    );
    assert!(c.assign(T0, &2, 16).iter().all(|i| i.job == b));
}

#[test]
fn a_restarted_coordinator_keeps_what_was_accepted() {
    let mut c = Coordinator::new(Config::default());
    let done = BTreeMap::from([(0, Some(truth(0))), (2, None)]);
    let job = c.add_job(spec(3, 1, 1, 1), &done);
    let got = c.assign(T0, &1, 8);
    assert_eq!(got.iter().map(|i| i.unit).collect::<Vec<_>>(), vec![1]);
    c.report(T0, &1, &job, 1, Report::Done(truth(1))).unwrap();
    assert_eq!(events(&mut c).last(), Some(&Event::JobDone { job }));
    let all = c.add_job(spec(1, 1, 1, 1), &BTreeMap::from([(0, None)]));
    assert_eq!(events(&mut c), vec![Event::JobDone { job: all }]);
}

/// One simulated job with independent cheaters: every cheater returns its own wrong answer.
/// Returns (wrong results accepted, units accepted, units failed).
fn run_with_cheaters(seed: u64, workers: u32, cheat_share: f64, r: u8, q: u8) -> (u32, u32, u32) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cheaters: BTreeSet<u32> = (0..workers)
        .filter(|_| rng.random_bool(cheat_share))
        .collect();
    let mut c = Coordinator::new(Config::default());
    let units = 200;
    let job = c.add_job(spec(units, r, q, r + 4), &BTreeMap::new());
    let mut held: Vec<(u32, Issued)> = Vec::new();
    let mut now = T0;
    let (mut wrong, mut accepted, mut failed) = (0, 0, 0);
    for _step in 0..100_000 {
        now += Duration::from_millis(1);
        let w = rng.random_range(0..workers);
        held.extend(c.assign(now, &w, 2).into_iter().map(|i| (w, i)));
        if !held.is_empty() && rng.random_bool(0.5) {
            let (w, i) = held.swap_remove(rng.random_range(0..held.len()));
            let outcome = if cheaters.contains(&w) {
                Outcome::Output {
                    hash: Key256::hash(&rng.random::<[u8; 32]>()),
                    fuel: 1,
                }
            } else {
                truth(i.unit)
            };
            let _ = c.report(now, &w, &i.job, i.unit, Report::Done(outcome));
        }
        while let Some(e) = c.poll_event() {
            match e {
                Event::Accepted { unit, outcome, .. } => {
                    accepted += 1;
                    if outcome != truth(unit) {
                        wrong += 1;
                    }
                }
                Event::Failed { .. } => failed += 1,
                Event::JobDone { .. } => return (wrong, accepted, failed),
                _ => {}
            }
        }
    }
    let _ = job;
    (wrong, accepted, failed)
}

#[test]
fn twenty_percent_independent_cheaters_get_no_wrong_result_accepted() {
    for seed in 0..20 {
        let (wrong, accepted, failed) = run_with_cheaters(seed, 50, 0.2, 2, 2);
        assert_eq!(wrong, 0, "seed {seed}");
        assert_eq!(accepted + failed, 200, "seed {seed}: the job finished");
        assert!(accepted >= 190, "seed {seed}: {accepted} accepted");
    }
}

#[test]
fn without_redundancy_cheaters_do_get_wrong_results_accepted() {
    // the check that the test above can fail: with Q = 1 cheaters' answers are taken
    let (wrong, _, _) = run_with_cheaters(1, 50, 0.2, 1, 1);
    assert!(wrong > 0);
}

proptest::proptest! {
    #[test]
    fn cheaters_never_win_a_quorum(seed in 0u64..1_000_000, workers in 5u32..80) {
        let (wrong, accepted, failed) = run_with_cheaters(seed, workers, 0.2, 2, 2);
        proptest::prop_assert_eq!(wrong, 0);
        proptest::prop_assert_eq!(accepted + failed, 200);
    }
}

#[test]
fn a_worker_whose_replica_lapsed_may_take_the_unit_again_but_votes_once() {
    let mut c = Coordinator::new(Config::default());
    let job = c.add_job(spec(1, 2, 2, 4), &BTreeMap::new());
    c.assign(T0, &1, 1);
    c.assign(T0, &2, 1);
    // worker 1's offer was lost on the way: its replica lapses
    c.report(T0, &2, &job, 0, Report::Done(truth(0))).unwrap();
    let due = c.poll_timeout().unwrap();
    c.handle_timeout(due);
    assert!(c.assign(due, &2, 1).is_empty(), "worker 2 has voted");
    assert_eq!(c.assign(due, &1, 1).len(), 1, "worker 1 may take it again");
    c.report(due, &1, &job, 0, Report::Done(truth(0))).unwrap();
    assert!(matches!(
        events(&mut c)[..],
        [
            Event::Lapsed { .. },
            Event::Accepted { .. },
            Event::JobDone { .. }
        ]
    ));
    assert_eq!(
        c.report(due, &1, &job, 0, Report::Done(truth(0))),
        Err(ReportError::NotIssued),
        "its lapsed replica does not vote a second time"
    );
}
