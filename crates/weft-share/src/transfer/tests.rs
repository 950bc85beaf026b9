use super::*;
use proptest::prelude::*;

const MIB: u64 = 1 << 20;

fn key() -> Key256 {
    Key256::hash(b"content")
}

fn test_config() -> Config {
    Config {
        piece_bytes: 64 * 1024,
        window_per_source: 3,
        request_timeout: Duration::from_secs(1),
        ban_duration: Duration::from_secs(86_400),
        ..Config::default()
    }
}

/// A tiny deterministic generator for the scheduler (seeded by proptest).
struct Dice(u64);
impl Dice {
    fn roll(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    Honest,
    /// Every answer fails verification.
    Liar,
    /// One answer in `n` fails verification.
    Flaky(u32),
    /// Never answers.
    Silent,
    /// Answers "busy" half the time, else honestly.
    Busy,
}

struct Run {
    plan: Plan<u8>,
    behaviours: Vec<Behaviour>,
    writes: Vec<u32>,
    answered: Vec<u32>,
    pending: Vec<(u8, PieceIndex)>,
    now: Time,
}

impl Run {
    fn new(size: u64, behaviours: Vec<Behaviour>) -> Self {
        let plan = Plan::new(key(), size, test_config()).unwrap();
        let pieces = plan.pieces() as usize;
        Run {
            plan,
            writes: vec![0; pieces],
            answered: vec![0; behaviours.len()],
            behaviours,
            pending: Vec::new(),
            now: Time::ZERO,
        }
    }

    /// Drives the plan with a scheduler seeded by `seed`; returns whether it completed.
    fn drive(&mut self, seed: u64, max_steps: usize) -> bool {
        let mut dice = Dice(seed | 1);
        for step in 0..max_steps {
            // The driver keeps rediscovering providers.
            for peer in 0..self.behaviours.len() as u8 {
                let _ = self.plan.add_source(self.now, peer);
            }
            for r in self.plan.next_requests(self.now) {
                assert_eq!(r.range, self.plan.piece_range(r.piece));
                self.pending.push((r.peer, r.piece));
            }
            if self.plan.is_complete() {
                return true;
            }
            self.now += Duration::from_millis(dice.roll(40) as u64);
            match dice.roll(10) {
                0 => {
                    if let Some(t) = self.plan.poll_timeout() {
                        self.now = self.now.max(t);
                    }
                    for (peer, piece) in self.plan.on_timeout(self.now) {
                        self.pending.retain(|&(p, q)| (p, q) != (peer, piece));
                    }
                }
                1 if step % 7 == 0 => {
                    let peer = dice.roll(self.behaviours.len()) as u8;
                    for piece in self.plan.remove_source(&peer) {
                        self.pending.retain(|&(p, q)| (p, q) != (peer, piece));
                    }
                }
                _ if !self.pending.is_empty() => {
                    let (peer, piece) = self.pending.swap_remove(dice.roll(self.pending.len()));
                    self.answer(peer, piece, &mut dice);
                }
                _ => {}
            }
        }
        self.plan.is_complete()
    }

    fn answer(&mut self, peer: u8, piece: PieceIndex, dice: &mut Dice) {
        let i = peer as usize;
        let result = match self.behaviours[i] {
            Behaviour::Silent => return,
            Behaviour::Honest => Ok(()),
            Behaviour::Liar => Err(PieceError::Corrupt),
            Behaviour::Flaky(n) => {
                if self.answered[i] % n == n - 1 {
                    Err(PieceError::Corrupt)
                } else {
                    Ok(())
                }
            }
            Behaviour::Busy => {
                if dice.roll(2) == 0 {
                    Err(PieceError::Busy)
                } else {
                    Ok(())
                }
            }
        };
        self.answered[i] += 1;
        let honest = !matches!(self.behaviours[i], Behaviour::Liar | Behaviour::Flaky(_));
        match self.plan.on_piece(self.now, &peer, piece, result) {
            PieceOutcome::Write { range, cancel } => {
                assert!(result.is_ok(), "wrote a piece that failed");
                assert_eq!(range, self.plan.piece_range(piece));
                self.writes[piece as usize] += 1;
                assert_eq!(
                    self.writes[piece as usize], 1,
                    "piece {piece} written twice"
                );
                // The driver cancels most duplicates; some answers still arrive late.
                if dice.roll(2) == 0 {
                    self.pending
                        .retain(|&(p, q)| !(q == piece && cancel.contains(&p)));
                }
            }
            PieceOutcome::Banned { withdrawn } => {
                assert!(!honest, "honest peer {peer} banned");
                self.pending
                    .retain(|&(p, q)| !(p == peer && withdrawn.contains(&q)));
            }
            PieceOutcome::Failed | PieceOutcome::Discard => {}
        }
        if honest {
            assert!(
                !self.plan.is_banned(self.now, &peer),
                "honest peer {peer} banned"
            );
        }
    }
}

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        Just(Behaviour::Honest),
        Just(Behaviour::Liar),
        (2u32..6).prop_map(Behaviour::Flaky),
        Just(Behaviour::Silent),
        Just(Behaviour::Busy),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_piece_verified_once_and_liars_banned(
        size in 1u64..3 * MIB,
        others in proptest::collection::vec(behaviour(), 0..5),
        seed in any::<u64>(),
    ) {
        let mut behaviours = vec![Behaviour::Honest];
        behaviours.extend(others);
        let mut run = Run::new(size, behaviours.clone());
        prop_assert!(run.drive(seed, 200_000), "did not complete: {:?}", run.plan.progress(run.now));
        prop_assert!(run.writes.iter().all(|&w| w == 1));
        prop_assert_eq!(run.plan.progress(run.now).bytes_verified, size);
        for (i, b) in behaviours.iter().enumerate() {
            let peer = i as u8;
            match b {
                Behaviour::Liar => {
                    prop_assert_eq!(run.plan.delivered_by(&peer), 0);
                    if run.answered[i] >= test_config().strikes_to_ban {
                        prop_assert!(run.plan.is_banned(run.now, &peer), "liar {} not banned", peer);
                    }
                }
                Behaviour::Honest | Behaviour::Silent | Behaviour::Busy => {
                    prop_assert!(!run.plan.is_banned(run.now, &peer));
                }
                Behaviour::Flaky(_) => {}
            }
        }
    }
}

#[test]
fn pieces_are_aligned_and_cover_the_content() {
    let plan: Plan<u8> = Plan::new(key(), 5 * MIB + 7, Config::default()).unwrap();
    assert_eq!(plan.pieces(), 6);
    assert_eq!(plan.piece_range(0), 0..MIB);
    assert_eq!(plan.piece_range(5), 5 * MIB..5 * MIB + 7);
    let odd: Plan<u8> = Plan::new(
        key(),
        100_000,
        Config {
            piece_bytes: 20_000,
            ..Config::default()
        },
    )
    .unwrap();
    assert_eq!(odd.config().piece_bytes, 2 * GROUP_BYTES);
    assert_eq!(odd.pieces(), 4);
    let empty: Plan<u8> = Plan::new(key(), 0, Config::default()).unwrap();
    assert!(empty.is_complete());
}

#[test]
fn window_and_sequential_order() {
    let mut plan = Plan::new(key(), 20 * MIB, Config::default()).unwrap();
    plan.add_source(Time::ZERO, 'a');
    plan.add_source(Time::ZERO, 'b');
    let reqs = plan.next_requests(Time::ZERO);
    assert_eq!(reqs.len(), 8);
    let pieces: Vec<u32> = reqs.iter().map(|r| r.piece).collect();
    assert_eq!(pieces, (0..8).collect::<Vec<_>>());
    assert_eq!(reqs.iter().filter(|r| r.peer == 'a').count(), 4);
    assert!(plan.next_requests(Time::ZERO).is_empty(), "window exceeded");
    assert_eq!(plan.progress(Time::ZERO).in_flight, 8);
}

#[test]
fn total_in_flight_is_capped_and_shared_between_sources() {
    let mut plan = Plan::new(key(), 40 * MIB, Config::default()).unwrap();
    for p in ['a', 'b', 'c', 'd'] {
        plan.add_source(Time::ZERO, p);
    }
    let reqs = plan.next_requests(Time::ZERO);
    assert_eq!(reqs.len(), Config::default().max_in_flight);
    for p in ['a', 'b', 'c', 'd'] {
        assert_eq!(reqs.iter().filter(|r| r.peer == p).count(), 2, "{p}");
    }
    assert!(plan.next_requests(Time::ZERO).is_empty());
    // One answer frees one place, which goes to the source that answered (now the least
    // busy); a source added later is served before the busy ones.
    let c = reqs.iter().find(|r| r.peer == 'c').unwrap().piece;
    plan.on_piece(Time::from_millis(5), &'c', c, Ok(()));
    let next = plan.next_requests(Time::from_millis(5));
    assert_eq!(next.iter().map(|r| r.peer).collect::<Vec<_>>(), vec!['c']);
    plan.add_source(Time::from_millis(6), 'e');
    let a = reqs.iter().find(|r| r.peer == 'a').unwrap().piece;
    plan.on_piece(Time::from_millis(7), &'a', a, Ok(()));
    let next = plan.next_requests(Time::from_millis(7));
    assert_eq!(next.iter().map(|r| r.peer).collect::<Vec<_>>(), vec!['e']);
}

#[test]
fn endgame_duplicates_then_cancels() {
    let mut plan = Plan::new(key(), 2 * MIB, Config::default()).unwrap();
    plan.add_source(Time::ZERO, 'a');
    let first = plan.next_requests(Time::ZERO);
    assert_eq!(first.len(), 2);
    plan.add_source(Time::ZERO, 'b');
    let dup = plan.next_requests(Time::ZERO);
    assert_eq!(dup.len(), 2, "b duplicates both pieces in the endgame");
    assert!(dup.iter().all(|r| r.peer == 'b'));
    let out = plan.on_piece(Time::from_millis(10), &'b', 0, Ok(()));
    assert_eq!(
        out,
        PieceOutcome::Write {
            range: 0..MIB,
            cancel: vec!['a']
        }
    );
    assert_eq!(
        plan.on_piece(Time::from_millis(11), &'a', 0, Ok(())),
        PieceOutcome::Discard
    );
}

#[test]
fn corrupt_pieces_ban_after_strikes_then_probation() {
    let cfg = Config {
        ban_duration: Duration::from_secs(60),
        ..Config::default()
    };
    let mut plan = Plan::new(key(), 8 * MIB, cfg).unwrap();
    plan.add_source(Time::ZERO, 'x');
    let reqs = plan.next_requests(Time::ZERO);
    let t = Time::from_millis(5);
    assert_eq!(
        plan.on_piece(t, &'x', reqs[0].piece, Err(PieceError::Corrupt)),
        PieceOutcome::Failed
    );
    let out = plan.on_piece(t, &'x', reqs[1].piece, Err(PieceError::Corrupt));
    assert_eq!(
        out,
        PieceOutcome::Banned {
            withdrawn: vec![reqs[2].piece, reqs[3].piece]
        }
    );
    assert!(plan.is_banned(t, &'x'));
    assert_eq!(
        plan.add_source(t, 'x'),
        AddSource::Banned(t + Duration::from_secs(60))
    );
    assert!(plan.next_requests(t).is_empty());
    assert_eq!(plan.poll_timeout(), Some(t + Duration::from_secs(60)));
    // After the ban it is on probation: one more bad piece bans it again.
    let later = t + Duration::from_secs(61);
    let reqs = plan.next_requests(later);
    assert_eq!(reqs.len(), 4);
    assert!(matches!(
        plan.on_piece(later, &'x', reqs[0].piece, Err(PieceError::Corrupt)),
        PieceOutcome::Banned { .. }
    ));
    // Removing and re-adding does not clear a ban.
    plan.remove_source(&'x');
    assert!(matches!(plan.add_source(later, 'x'), AddSource::Banned(_)));
}

#[test]
fn timeouts_reassign_and_drop_vanished_sources() {
    let mut plan = Plan::new(key(), 3 * MIB, Config::default()).unwrap();
    plan.add_source(Time::ZERO, "slow");
    let reqs = plan.next_requests(Time::ZERO);
    assert_eq!(reqs.len(), 3);
    let deadline = plan.poll_timeout().unwrap();
    assert_eq!(deadline, Time::ZERO + Duration::from_secs(20));
    assert!(
        plan.on_timeout(deadline - Duration::from_millis(1))
            .is_empty()
    );
    let expired = plan.on_timeout(deadline);
    assert_eq!(expired.len(), 3);
    // Three timeouts in a row: the source is gone; a new one gets every piece.
    assert_eq!(plan.progress(deadline).sources, 0);
    plan.add_source(deadline, "fast");
    let reqs = plan.next_requests(deadline);
    assert_eq!(
        reqs.iter().map(|r| r.piece).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
}

#[test]
fn resume_keeps_verified_pieces() {
    let mut plan = Plan::new(key(), 4 * MIB, Config::default()).unwrap();
    plan.add_source(Time::ZERO, 1u8);
    let reqs = plan.next_requests(Time::ZERO);
    plan.on_piece(Time::from_millis(1), &1, reqs[1].piece, Ok(()));
    plan.on_piece(Time::from_millis(1), &1, reqs[3].piece, Ok(()));
    let saved = plan.resume_state().to_bytes();
    let state = ResumeState::from_bytes(&saved).unwrap();
    let mut again: Plan<u8> = Plan::resume(key(), 4 * MIB, Config::default(), &state).unwrap();
    assert_eq!(again.progress(Time::ZERO).bytes_verified, 2 * MIB);
    again.add_source(Time::ZERO, 2);
    let pieces: Vec<u32> = again
        .next_requests(Time::ZERO)
        .iter()
        .map(|r| r.piece)
        .collect();
    assert_eq!(pieces, vec![0, 2]);
    let other = Plan::<u8>::resume(key(), 9 * MIB, Config::default(), &state);
    assert!(matches!(
        other,
        Err(PlanError::Resume(ResumeError::Mismatch { .. }))
    ));
}

#[test]
fn rate_and_eta_from_passed_in_time() {
    let mut plan = Plan::new(key(), 10 * MIB, Config::default()).unwrap();
    plan.add_source(Time::ZERO, 'a');
    let mut t = Time::ZERO;
    for _ in 0..4 {
        let reqs = plan.next_requests(t);
        t += Duration::from_secs(1);
        plan.on_piece(t, &'a', reqs[0].piece, Ok(()));
    }
    let p = plan.progress(t);
    assert_eq!(p.bytes_verified, 4 * MIB);
    assert!((p.rate - MIB as f64).abs() < 1.0, "rate {}", p.rate);
    assert_eq!(p.eta, Some(Duration::from_secs(6)));
}

#[test]
fn sources_are_bounded() {
    let cfg = Config {
        max_sources: 2,
        ..Config::default()
    };
    let mut plan = Plan::new(key(), 10 * MIB, cfg).unwrap();
    assert_eq!(plan.add_source(Time::ZERO, 1u8), AddSource::Added);
    assert_eq!(plan.add_source(Time::ZERO, 2), AddSource::Added);
    let _ = plan.next_requests(Time::ZERO);
    assert_eq!(plan.add_source(Time::ZERO, 3), AddSource::Full);
}
