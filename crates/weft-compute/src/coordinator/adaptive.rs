//! Adaptive replication with spot checks, and the books every judgement updates.
//!
//! BOINC measured plain replication at 50 % overhead or more and adaptive replication at
//! 5–10 %. Here is how weft's coordinator does it, and why.
//!
//! * **Trust.** A worker's [`Record::streak`] counts its consecutive right results that were
//!   compared with something: a quorum in which at least one other worker agreed, or a passed
//!   spot check. At [`Adaptive::trust_after`] (10, BOINC's figure) it is *trusted*: a fresh unit
//!   (never issued, never reopened) it asks for is issued to it alone, and its answer is
//!   accepted on its word ([`Event::Accepted`] with one worker). A unit whose single replica
//!   lapses or is given back goes back to the job's R replicas.
//! * **Spot checks.** Every unit handed to any worker is, with probability
//!   [`Adaptive::check_permille`] (drawn from the seeded generator the driver passes in, so the
//!   worker cannot predict it), a spot check: a unit whose answer is already known, issued as
//!   if it were new. Known answers are, first, those the submitter gave
//!   ([`Coordinator::add_known`]: units it computed itself, which no worker has seen, so even a
//!   colluding group cannot recognise them), else units at least two workers agreed on. When
//!   no known answer is at hand, a trusted worker's unit is replicated instead of issued alone
//!   (a check by replication). A trusted worker with [`Adaptive::max_unchecked`] results
//!   accepted on its word since its last passed check is checked (or replicated) on its next
//!   unit, so what one failed check costs is bounded.
//! * **A wrong answer** (a failed check, or a vote against the accepted result) resets the
//!   worker's streak, and what was accepted on its word is reopened and computed again
//!   ([`Notice::Reopened`]): its last [`MAX_SINCE_CHECK`] units accepted alone, as BOINC does
//!   (passed checks do not clear them: a worker that lies now and then passes most checks,
//!   and what it slipped through before one must still go back), and every quorum it took
//!   part in since its last passed check. The second part is what stops a colluding group:
//!   two colluders who draw the same unit win its vote, and plain voting never finds out;
//!   the first spot check one of them fails sends every such unit back to be recomputed, and
//!   when the recomputed answer differs, every worker that had agreed with the old one is
//!   judged wrong in turn ([`Event::Wrong`], its credit taken back, its own votes reopened),
//!   while workers that had been outvoted by the group get their result counted right. The
//!   price is recomputing honest units a caught worker had voted on, paid only when someone
//!   is caught. Why not less: recomputing only the units since the last check lets a worker
//!   that lies one time in three keep every lie that a lucky check then covered (measured:
//!   more wrong results accepted with checks than without them).
//! * **Credit and receipts.** A result validated in a quorum, or a passed check, is credited at
//!   once ([`Notice::Validated`]: the driver signs a receipt). A result accepted on one
//!   worker's word alone is credited only when that worker passes its next check: until then
//!   it may still be reopened, and a receipt cannot be taken back. A result credited and
//!   later found wrong is debited in the coordinator's books ([`Notice::Unvalidated`]).
//!
//! What it does not stop: a worker that earns trust and then lies rarely gets the lies it
//! tells between its last failed check and the end of the job accepted (spot checks are a
//! sample; the tests print the figures). A group that only lies when it sees (by talking among itself) that
//! a unit went to two of its members, and answers every unit it holds alone honestly. Spot
//! checks are issued alone, so they pass; such a group wins the units both replicas of which it
//! draws, as under plain voting (the quorum model's share, f^R for a group of share f).
//! Only replicating across workers known not to collude (e.g. by network origin) would;
//! that is left. A known answer drawn from a quorum the group won would also check honest
//! workers against a wrong answer; answers the submitter gives do not have that flaw.

use std::collections::VecDeque;
use std::fmt::Debug;

use rand::Rng as _;

use super::unit::{Kind, Status, UnitState};
use super::{Coordinator, Event, Verdict};
use crate::job::JobId;
use crate::outcome::Outcome;

/// Most units remembered per worker as accepted with its vote since its last check (the
/// oldest are forgotten: they can no longer be reopened).
pub const MAX_SINCE_CHECK: usize = 1024;
/// Most replicas of one unit, counting checks; a known answer checked this often is not
/// handed out again.
pub const MAX_CHECKS_PER_UNIT: usize = 64;

/// Adaptive replication's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adaptive {
    /// Consecutive cross-checked right results before a worker gets units alone.
    pub trust_after: u32,
    /// Units that are spot checks, per thousand handed out.
    pub check_permille: u32,
    /// Most results accepted on a trusted worker's word between two of its checks.
    pub max_unchecked: u32,
    /// Seed of the draws (which units are checks, which known answer). The node draws it from
    /// the operating system: a worker that could predict it would know when to be honest.
    pub seed: u64,
}

impl Default for Adaptive {
    fn default() -> Self {
        Adaptive {
            trust_after: 10,
            check_permille: 50,
            max_unchecked: 40,
            seed: 0,
        }
    }
}

/// A worker's trust record with this coordinator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record {
    /// Consecutive cross-checked right results (reset by a wrong one).
    pub streak: u32,
    /// Spot checks passed.
    pub checks_passed: u32,
    /// Spot checks failed.
    pub checks_failed: u32,
    /// Results accepted on its word alone.
    pub alone: u64,
}

/// What the engine tells a driver that asked for notices ([`super::Config::notices`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice<P> {
    /// A worker's result is validated: the driver signs a receipt
    /// ([`crate::receipt::Receipt`]) for it.
    Validated {
        /// The job.
        job: JobId,
        /// The unit.
        unit: u32,
        /// The worker.
        worker: P,
        /// The validated fuel.
        fuel: u64,
    },
    /// A result validated earlier was found wrong when its unit was decided again: the
    /// coordinator's books take the credit back (a receipt already given stays given).
    Unvalidated {
        /// The job.
        job: JobId,
        /// The unit.
        unit: u32,
        /// The worker.
        worker: P,
        /// The fuel taken back.
        fuel: u64,
    },
    /// A spot check ended.
    Checked {
        /// The job.
        job: JobId,
        /// The unit.
        unit: u32,
        /// The worker.
        worker: P,
        /// Whether its answer was the known one.
        passed: bool,
    },
    /// An accepted unit is open again (a worker whose vote accepted it was caught): the
    /// driver forgets its stored result; a later [`Event::Accepted`] decides it again.
    Reopened {
        /// The job.
        job: JobId,
        /// The unit.
        unit: u32,
    },
}

/// What a wrong answer of a worker sends back to be recomputed.
#[derive(Clone, Debug, Default)]
pub(super) struct SinceCheck {
    /// Its last [`MAX_SINCE_CHECK`] units accepted on its word alone, oldest first; passed
    /// checks do not clear them.
    alone: VecDeque<(JobId, u32)>,
    /// Units accepted with its vote in a quorum since its last passed check.
    voted: VecDeque<(JobId, u32)>,
    /// Units accepted on its word alone since its last passed check.
    unchecked: u32,
}

/// What one draw decided for the next unit handed to a worker.
pub(super) struct Draw {
    /// Make it a spot check if a known answer is at hand.
    pub check: bool,
    /// Otherwise, replicate it even for a trusted worker.
    pub replicate: bool,
}

impl<P: Ord + Clone + Debug> Coordinator<P> {
    /// Every worker's trust record.
    pub fn records(&self) -> impl Iterator<Item = (&P, &Record)> {
        self.records.iter()
    }

    /// Sets a worker's trust record (the driver restores it after a restart).
    pub fn restore_record(&mut self, worker: P, record: Record) {
        self.records.insert(worker, record);
    }

    /// Whether `worker` gets fresh units alone.
    pub fn trusted(&self, worker: &P) -> bool {
        self.config.adaptive.is_some_and(|a| {
            self.records
                .get(worker)
                .is_some_and(|r| r.streak >= a.trust_after)
        })
    }

    /// The submitter knows unit `unit`'s answer (it computed it itself): the unit is accepted
    /// with it, and becomes a spot check no colluder can recognise. Returns false for an
    /// unknown job or unit.
    pub fn add_known(&mut self, job_id: &JobId, unit: u32, outcome: Outcome) -> bool {
        let digest = outcome.digest();
        let Some(job) = self.jobs.get_mut(job_id) else {
            return false;
        };
        let Some(u) = job.units.get(unit as usize) else {
            return false;
        };
        let state = u.state.clone();
        if matches!(state, UnitState::Accepted(d) if d != digest) {
            self.reopen(job_id, unit);
        }
        let Some(job) = self.jobs.get_mut(job_id) else {
            return false;
        };
        let open_before = job.open;
        let mut verdicts = Vec::new();
        if let Some(u) = job.units.get_mut(unit as usize) {
            u.outcomes.insert(digest, outcome);
            u.given = true;
            if u.state != UnitState::Accepted(digest) {
                if u.state == UnitState::Failed {
                    job.open += 1;
                }
                u.state = UnitState::Open;
                Self::accept(job, unit, digest, false, &mut verdicts);
                // the submitter's word, not the workers': every result is judged by it
                for v in &mut verdicts {
                    if let Verdict::Right { crossed, .. } = v {
                        *crossed = true;
                    }
                }
                self.events.push_back(Event::Accepted {
                    job: *job_id,
                    unit,
                    outcome,
                    workers: Vec::new(),
                });
            }
        }
        job.given.push(unit);
        job.refresh(unit);
        let done = open_before > 0 && job.open == 0;
        self.apply(*job_id, unit, verdicts);
        if done {
            self.finish(job_id);
        }
        true
    }

    pub(super) fn draw_check(&mut self, worker: &P, trusted: bool) -> Draw {
        let Some(a) = self.config.adaptive else {
            return Draw {
                check: false,
                replicate: false,
            };
        };
        let unchecked = self.since_check.get(worker).map_or(0, |s| s.unchecked);
        let forced = trusted && unchecked >= a.max_unchecked;
        let roll = self.rng.random_range(0..1000) < a.check_permille;
        Draw {
            check: roll || forced,
            replicate: roll || forced,
        }
    }

    /// A known answer of job `id` that `worker` has not seen.
    pub(super) fn pick_check(&mut self, id: &JobId, worker: &P) -> Option<u32> {
        let Coordinator { jobs, rng, .. } = self;
        let job = jobs.get(id)?;
        for pool in [&job.given, &job.agreed] {
            if pool.is_empty() {
                continue;
            }
            for _ in 0..8 {
                let unit = pool[rng.random_range(0..pool.len())];
                let ok = job.units.get(unit as usize).is_some_and(|u| {
                    matches!(u.state, UnitState::Accepted(_))
                        && !u.has(worker)
                        && u.replicas.len() < MAX_CHECKS_PER_UNIT
                });
                if ok {
                    return Some(unit);
                }
            }
        }
        None
    }

    fn notify(&mut self, n: Notice<P>) {
        if self.config.notices || self.config.adaptive.is_some() {
            self.notices.push_back(n);
        }
    }

    fn record_mut(&mut self, worker: &P) -> &mut Record {
        self.records.entry(worker.clone()).or_default()
    }

    fn remember(&mut self, worker: &P, job: JobId, unit: u32, alone: bool) {
        if self.config.adaptive.is_none() {
            return;
        }
        let s = self.since_check.entry(worker.clone()).or_default();
        let list = if alone {
            s.unchecked += 1;
            &mut s.alone
        } else {
            &mut s.voted
        };
        if list.len() >= MAX_SINCE_CHECK {
            list.pop_front();
        }
        list.push_back((job, unit));
    }

    /// Applies the judgements of one unit's results to the workers' books.
    pub(super) fn apply(&mut self, job: JobId, unit: u32, verdicts: Vec<Verdict<P>>) {
        for v in verdicts {
            match v {
                Verdict::Right {
                    worker,
                    fuel,
                    crossed,
                } => {
                    self.credit(job, unit, &worker, fuel);
                    if crossed {
                        let r = self.record_mut(&worker);
                        r.streak = r.streak.saturating_add(1);
                    }
                    self.remember(&worker, job, unit, false);
                }
                Verdict::Alone { worker } => {
                    self.record_mut(&worker).alone += 1;
                    self.remember(&worker, job, unit, true);
                }
                Verdict::Wrong { worker } => self.wrong(job, unit, &worker),
                Verdict::Unright { worker, fuel } => {
                    let s = self.standing_mut(&worker);
                    s.validated = s.validated.saturating_sub(1);
                    s.credit = s.credit.saturating_sub(fuel);
                    self.notify(Notice::Unvalidated {
                        job,
                        unit,
                        worker: worker.clone(),
                        fuel,
                    });
                    self.wrong(job, unit, &worker);
                }
                Verdict::Unwrong { worker, fuel } => {
                    let s = self.standing_mut(&worker);
                    s.wrong = s.wrong.saturating_sub(1);
                    self.credit(job, unit, &worker, fuel);
                }
                Verdict::Check {
                    worker,
                    fuel,
                    passed,
                } => {
                    self.notify(Notice::Checked {
                        job,
                        unit,
                        worker: worker.clone(),
                        passed,
                    });
                    if passed {
                        self.credit(job, unit, &worker, fuel);
                        let r = self.record_mut(&worker);
                        r.streak = r.streak.saturating_add(1);
                        r.checks_passed += 1;
                        self.confirm(&worker);
                    } else {
                        self.record_mut(&worker).checks_failed += 1;
                        self.wrong(job, unit, &worker);
                    }
                }
            }
        }
    }

    fn credit(&mut self, job: JobId, unit: u32, worker: &P, fuel: u64) {
        let s = self.standing_mut(worker);
        s.validated += 1;
        s.credit = s.credit.saturating_add(fuel);
        self.notify(Notice::Validated {
            job,
            unit,
            worker: worker.clone(),
            fuel,
        });
    }

    /// A wrong answer: counted, the streak reset, the votes since the last check reopened.
    fn wrong(&mut self, job: JobId, unit: u32, worker: &P) {
        self.standing_mut(worker).wrong += 1;
        self.record_mut(worker).streak = 0;
        self.events.push_back(Event::Wrong {
            job,
            unit,
            worker: worker.clone(),
        });
        let Some(s) = self.since_check.remove(worker) else {
            return;
        };
        for (j, u) in s.alone.into_iter().chain(s.voted) {
            let agreed = self.unit(&j, u).is_some_and(|un| match un.state {
                UnitState::Accepted(d) => un
                    .replicas
                    .iter()
                    .any(|r| r.worker == *worker && r.status == Status::Reported(d)),
                _ => false,
            });
            if agreed {
                self.reopen(&j, u);
            }
        }
    }

    /// A passed check vouches for the worker's results accepted on its word since the last:
    /// they are credited (they stay where a later wrong answer reopens them).
    fn confirm(&mut self, worker: &P) {
        let Some(s) = self.since_check.get_mut(worker) else {
            return;
        };
        s.voted.clear();
        s.unchecked = 0;
        let alone: Vec<(JobId, u32)> = s.alone.iter().copied().collect();
        for (j, u) in alone {
            let Some(un) = self.unit_mut(&j, u) else {
                continue;
            };
            let UnitState::Accepted(d) = un.state else {
                continue;
            };
            let fuel = un.outcomes.get(&d).map_or(0, Outcome::fuel);
            let pending = un.replicas.iter_mut().find(|r| {
                r.worker == *worker
                    && r.kind == Kind::Single
                    && r.status == Status::Reported(d)
                    && r.judged.is_none()
            });
            if let Some(r) = pending {
                r.judged = Some(true);
                self.credit(j, u, worker, fuel);
            }
        }
    }

    /// Opens an accepted unit again: its results are set aside, judged again once it is
    /// decided anew.
    pub(super) fn reopen(&mut self, id: &JobId, unit: u32) {
        let Some(job) = self.jobs.get_mut(id) else {
            return;
        };
        let Some(u) = job.units.get_mut(unit as usize) else {
            return;
        };
        if !matches!(u.state, UnitState::Accepted(_)) || u.given {
            return;
        }
        u.state = UnitState::Open;
        u.reopened = true;
        for r in &mut u.replicas {
            match r.status {
                Status::Reported(d) => r.status = Status::Voided(d),
                // a check still running is now one more vote
                Status::Running => r.kind = Kind::Normal,
                _ => {}
            }
        }
        job.open += 1;
        job.refresh(unit);
        self.notify(Notice::Reopened { job: *id, unit });
    }

    /// What a wrong answer of `worker` would reopen now (units accepted on its word alone,
    /// and in a quorum since its last passed check), and how many of the first were accepted
    /// since its last passed check.
    pub fn unchecked(&self, worker: &P) -> (usize, u32) {
        self.since_check
            .get(worker)
            .map_or((0, 0), |s| (s.alone.len() + s.voted.len(), s.unchecked))
    }
}
