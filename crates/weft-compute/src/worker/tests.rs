use super::*;
use crate::job::{Abi, JobId, Limits};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weft_core::id::Key256;

const T0: Time = Time::ZERO;

fn offer(unit: u32) -> Offer {
    Offer {
        job: JobId(Key256::hash(b"job")),
        unit,
        module: Key256::hash(b"m"),
        module_size: 1000,
        abi: Abi::OneShot,
        input: Key256::hash(&unit.to_le_bytes()),
        input_size: 16,
        limits: Limits::default(),
        deadline_ms: 1000,
    }
}

fn offers(n: u32) -> Vec<Offer> {
    (0..n).map(offer).collect()
}

#[test]
fn an_idle_worker_asks_in_turn_and_backs_off_from_an_empty_coordinator() {
    let mut w = Worker::new(2);
    let t0 = Time::ZERO;
    w.add_coordinator(t0, 1u32);
    w.add_coordinator(t0, 2u32);
    w.handle_timeout(t0);
    assert_eq!(w.poll_transmit(), Some((1, 2)));
    assert_eq!(w.poll_transmit(), None, "one ask in flight at a time");
    w.handle_offer(t0, &1, 0);
    assert_eq!(w.poll_transmit(), Some((2, 2)));
    w.handle_offer(t0, &2, 1);
    assert_eq!(w.running(), 1);
    assert_eq!(
        w.poll_transmit(),
        Some((2, 1)),
        "a giver is asked again at once"
    );
    w.handle_offer(t0, &2, 1);
    assert_eq!(w.idle(), 0);
    assert_eq!(w.poll_timeout(), None, "busy: nothing to ask");
    w.handle_finished(t0);
    // coordinator 1 is backing off, 2 is due
    assert_eq!(w.poll_transmit(), Some((2, 1)));
    w.handle_offer(t0, &2, 0);
    assert_eq!(w.poll_timeout(), Some(t0 + MIN_BACKOFF));
}

#[test]
fn backoff_grows_to_its_bound() {
    let mut w = Worker::new(1);
    let mut now = Time::ZERO;
    w.add_coordinator(now, 1u32);
    for _ in 0..10 {
        w.handle_timeout(now);
        assert_eq!(w.poll_transmit(), Some((1, 1)));
        w.handle_ask_failed(now, &1);
        now = w.poll_timeout().unwrap();
    }
    w.handle_timeout(now);
    w.poll_transmit();
    let before = now;
    w.handle_ask_failed(now, &1);
    assert_eq!(w.poll_timeout().unwrap(), before + MAX_BACKOFF);
}

/// A worker of `slots` slots under the default policy; submitter 1 answers every ask with 16
/// units, submitter 2 (if `other`) with what was asked. Returns the most units 1 ever held,
/// its cap, and the ledger entries of 1 and 2.
fn flood(seed: u64, slots: u32, other: bool) -> (u32, u32, Lent, Lent) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w = Worker::with_policy(slots, Policy::default());
    let mut now = T0;
    w.add_coordinator(now, 1u32);
    if other {
        w.add_coordinator(now, 2u32);
    }
    let mut held: Vec<u32> = Vec::new();
    let mut most = 0;
    for _ in 0..5_000 {
        now += Duration::from_millis(10);
        w.handle_timeout(now);
        while let Some((peer, asked)) = w.poll_transmit() {
            let n = if peer == 1 { 16 } else { asked };
            let verdicts = w.handle_offers(now, &peer, &offers(n));
            held.extend(verdicts.iter().filter(|v| v.is_ok()).map(|_| peer));
        }
        most = most.max(held.iter().filter(|p| **p == 1).count() as u32);
        assert_eq!(w.lent(&1).running + w.lent(&2).running, w.running());
        assert!(w.running() <= slots);
        if !held.is_empty() && rng.random_bool(0.5) {
            let peer = held.swap_remove(rng.random_range(0..held.len()));
            w.handle_finished_for(
                now,
                &peer,
                Ran {
                    fuel: 10,
                    wall_ms: 10,
                },
            );
        }
    }
    (most, w.cap(&1), w.lent(&1), w.lent(&2))
}

#[test]
fn a_flooding_submitter_gets_no_more_than_its_share() {
    for (slots, other) in [(4, true), (4, false), (3, true), (1, true), (8, true)] {
        let (most, cap, flooder, quiet) = flood(slots.into(), slots, other);
        println!(
            "RESULT worker_flood slots={slots} second_submitter={other} share_cap={cap} \
             most_held_by_flooder={most} flooder_units={} other_units={} \
             flooder_refused_over_share={}",
            flooder.units, quiet.units, flooder.refused.over_share
        );
        assert_eq!(cap, slots.div_ceil(2).max(1), "half the slots by default");
        assert!(most <= cap, "{slots} slots: held {most} > {cap}");
        assert_eq!(most, cap, "it does get its share");
        assert!(
            flooder.refused.over_share > 0,
            "the flood is refused and counted"
        );
        if other && slots > 1 {
            assert!(quiet.units > 0, "the other submitter is served too");
        }
    }
}

#[test]
fn a_submitter_outside_the_accepted_set_is_refused_and_counted() {
    let policy = Policy {
        accept: Accept::Only(BTreeSet::from([2u32])),
        ..Policy::default()
    };
    let mut w = Worker::with_policy(2, policy);
    assert!(!w.add_coordinator(T0, 1), "not in the set: never asked");
    assert!(w.add_coordinator(T0, 2));
    w.handle_timeout(T0);
    assert_eq!(w.poll_transmit(), Some((2, 1)));
    assert_eq!(w.poll_transmit(), None);
    // offers it never asked for are refused too
    let v = w.handle_offers(T0, &1, &offers(3));
    assert!(v.iter().all(|v| *v == Err(Refusal::NotAllowed)));
    assert_eq!(w.running(), 0);
    let r = w.lent(&1).refused;
    assert_eq!(r.not_allowed, 4);
    assert_eq!(r.total(), 4);
    println!(
        "RESULT worker_refused_submitter refused_not_allowed={}",
        r.not_allowed
    );
}

#[test]
fn standing_raises_and_lowers_the_share() {
    let mut w = Worker::with_policy(8, Policy::default());
    assert_eq!(w.cap(&1u32), 4, "a stranger: half of 8 slots");
    // it was lent 1,000 fuel and gave back 500: three quarters
    w.add_coordinator(T0, 1);
    w.handle_timeout(T0);
    w.poll_transmit();
    w.handle_offers(T0, &1, &offers(1));
    w.handle_finished_for(
        T0,
        &1,
        Ran {
            fuel: 1000,
            wall_ms: 5,
        },
    );
    w.set_standing(
        1,
        SubmitterStanding {
            given_back: 500,
            wrong: 0,
        },
    );
    assert_eq!(w.share_percent(&1), 75);
    assert_eq!(w.cap(&1), 6);
    w.set_standing(
        1,
        SubmitterStanding {
            given_back: 5000,
            wrong: 0,
        },
    );
    assert_eq!(w.cap(&1), 8, "gave back as much as it was lent: all slots");
    w.set_standing(
        1,
        SubmitterStanding {
            given_back: 5000,
            wrong: 1,
        },
    );
    assert_eq!(w.share_percent(&1), 50, "a wrong result halves it");
    w.set_standing(
        1,
        SubmitterStanding {
            given_back: 0,
            wrong: 2,
        },
    );
    assert_eq!(w.cap(&1), 1, "12 %: still one slot");
    w.set_standing(
        1,
        SubmitterStanding {
            given_back: 0,
            wrong: 3,
        },
    );
    assert_eq!(w.cap(&1), 0, "refused after 3 wrong results");
    assert!(!w.add_coordinator(T0, 1));
    assert_eq!(w.lent(&1).refused.standing, 1);
}

#[test]
fn units_over_a_bound_are_refused_per_submitter() {
    let mut policy = Policy::default();
    policy.bounds_for.insert(
        2u32,
        UnitBounds {
            input_bytes: 8,
            ..UnitBounds::default()
        },
    );
    let mut w = Worker::with_policy(4, policy);
    w.add_coordinator(T0, 1);
    w.add_coordinator(T0, 2);
    w.handle_timeout(T0);
    assert_eq!(w.poll_transmit(), Some((1, 2)));
    let mut big = offer(0);
    big.module_size = 5 << 20;
    let v = w.handle_offers(T0, &1, &[big, offer(1)]);
    assert_eq!(v, vec![Err(Refusal::TooLarge("module")), Ok(())]);
    assert_eq!(w.poll_transmit(), Some((2, 2)));
    let v = w.handle_offers(T0, &2, &offers(1));
    assert_eq!(v, vec![Err(Refusal::TooLarge("input"))], "16 bytes > 8");
    assert_eq!(w.lent(&1).refused.too_large, 1);
    assert_eq!(w.lent(&2).refused.too_large, 1);
    assert_eq!(w.running(), 1);
}
