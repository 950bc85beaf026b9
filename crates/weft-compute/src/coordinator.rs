//! The submitter's engine: it hands units to workers that ask for work, accepts a unit's result
//! once a quorum of distinct workers agree on its digest, issues a unit again when a replica
//! misses its deadline, adds replicas on disagreement up to the job's bound, and keeps each
//! worker's standing and credit. With [`Config::adaptive`] it replicates adaptively and spot
//! checks (see [`adaptive`]).
//!
//! Sans-IO: the driver passes `now` into every call, sends the assignments that
//! [`Coordinator::assign`] returns, drains [`Coordinator::poll_event`] (and, when it asked for
//! them, [`Coordinator::poll_notice`]) after every call and re-arms one timer from
//! [`Coordinator::poll_timeout`]. Randomness (which units are spot checks) comes from
//! [`Adaptive::seed`]; the engine reads no clock and draws no ambient randomness.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Debug;
use std::time::Duration;

use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;
use weft_core::id::Key256;
use weft_core::time::Time;

use crate::job::{JobId, JobSpec};
use crate::outcome::{Outcome, Report};

pub mod adaptive;
mod unit;

pub use adaptive::{Adaptive, Notice, Record};
use unit::{Job, Kind, Replica, Status, Unit, UnitState};

/// How many times more than `max_replicas` a unit may be issued in all (lapsed replicas count
/// here, not against `max_replicas`) before it is given up.
pub const ISSUE_FACTOR: usize = 4;

/// Engine settings.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// A worker whose results disagreed with an accepted one this many times gets no more work.
    pub ban_after_wrong: u32,
    /// Most units handed out in one answer.
    pub max_per_ask: usize,
    /// Adaptive replication with spot checks; `None`: every unit gets the job's R replicas.
    /// Turning it on turns [`Config::notices`] on: a unit may be reopened, and the driver must
    /// hear of it.
    pub adaptive: Option<Adaptive>,
    /// Queue [`Notice`]s (receipts to sign, spot checks, reopened units) for
    /// [`Coordinator::poll_notice`]. Off by default so that a driver that does not drain them
    /// does not accumulate them.
    pub notices: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ban_after_wrong: 3,
            max_per_ask: 16,
            adaptive: None,
            notices: false,
        }
    }
}

/// A unit handed to a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    /// The job.
    pub job: JobId,
    /// The unit's index in the job.
    pub unit: u32,
    /// When the worker's time is up.
    pub deadline: Time,
}

/// What the engine tells its driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<P> {
    /// A quorum agreed (or, with adaptive replication, a trusted worker answered alone): the
    /// unit's result is the outcome with this digest.
    Accepted {
        /// The job.
        job: JobId,
        /// The unit.
        unit: u32,
        /// The accepted outcome.
        outcome: Outcome,
        /// The workers whose results agreed (empty for an answer the submitter gave).
        workers: Vec<P>,
    },
    /// No quorum could be reached within the replica bound.
    Failed {
        /// The job.
        job: JobId,
        /// The unit.
        unit: u32,
    },
    /// A worker's result disagreed with the accepted one (or a known answer).
    Wrong {
        /// The job.
        job: JobId,
        /// The unit.
        unit: u32,
        /// The worker.
        worker: P,
    },
    /// A replica missed its deadline; the unit will be issued again.
    Lapsed {
        /// The job.
        job: JobId,
        /// The unit.
        unit: u32,
        /// The worker.
        worker: P,
    },
    /// Every unit of the job is accepted or failed.
    JobDone {
        /// The job.
        job: JobId,
    },
}

/// A worker's record with this coordinator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Standing {
    /// Results that agreed with the accepted one.
    pub validated: u64,
    /// Results that disagreed with the accepted one.
    pub wrong: u32,
    /// Replicas that missed their deadline.
    pub lapsed: u32,
    /// Units given back without an outcome.
    pub gave_up: u32,
    /// Validated fuel: the worker's credit.
    pub credit: u64,
    /// Units it holds now.
    pub running: u32,
}

/// Why a report was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The job is unknown (or was cancelled).
    #[error("unknown job")]
    UnknownJob,
    /// The unit was never issued to this worker, or it already reported it.
    #[error("unit not issued to this worker")]
    NotIssued,
}

/// How a result was judged, applied to the worker's books by [`Coordinator::apply`].
#[derive(Clone, Debug)]
enum Verdict<P> {
    /// Agreed with the accepted answer: credit; `crossed` if another worker (or a known
    /// answer) agreed, which is what builds trust.
    Right { worker: P, fuel: u64, crossed: bool },
    /// Accepted on this worker's word alone: no credit until its next passed check.
    Alone { worker: P },
    /// Disagreed with the accepted answer.
    Wrong { worker: P },
    /// Had been credited; the unit was decided again and it was wrong.
    Unright { worker: P, fuel: u64 },
    /// Had been judged wrong; the unit was decided again and it was right.
    Unwrong { worker: P, fuel: u64 },
    /// A spot check.
    Check { worker: P, fuel: u64, passed: bool },
}

/// The coordinator engine for every job this node submitted.
#[derive(Clone, Debug)]
pub struct Coordinator<P> {
    config: Config,
    jobs: BTreeMap<JobId, Job<P>>,
    /// Jobs in the order they are served; rotated after each answer for fairness.
    rotation: VecDeque<JobId>,
    workers: BTreeMap<P, Standing>,
    records: BTreeMap<P, Record>,
    /// Per worker, the units accepted with its vote since its last passed check.
    since_check: BTreeMap<P, adaptive::SinceCheck>,
    deadlines: BTreeSet<(Time, JobId, u32, usize)>,
    events: VecDeque<Event<P>>,
    notices: VecDeque<Notice<P>>,
    rng: ChaCha8Rng,
}

impl<P: Ord + Clone + Debug> Coordinator<P> {
    /// An engine with no jobs.
    pub fn new(config: Config) -> Self {
        let seed = config.adaptive.map_or(0, |a| a.seed);
        Coordinator {
            config,
            jobs: BTreeMap::new(),
            rotation: VecDeque::new(),
            workers: BTreeMap::new(),
            records: BTreeMap::new(),
            since_check: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            events: VecDeque::new(),
            notices: VecDeque::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The engine's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Adds a job (already checked with [`JobSpec::check`]). `done` holds the units a previous
    /// run already accepted (after a restart), with their outcomes, or failed (`None`).
    pub fn add_job(&mut self, spec: JobSpec, done: &BTreeMap<u32, Option<Outcome>>) -> JobId {
        let id = spec.id();
        let mut units = Vec::with_capacity(spec.units.len());
        let mut agreed = Vec::new();
        let mut open = 0;
        for i in 0..spec.units.len() {
            let index = u32::try_from(i).ok();
            let state = match index.and_then(|i| done.get(&i)) {
                Some(Some(o)) => {
                    agreed.extend(index);
                    UnitState::Accepted(o.digest())
                }
                Some(None) => UnitState::Failed,
                None => {
                    open += 1;
                    UnitState::Open
                }
            };
            let mut unit = Unit::new(state);
            if let Some(Some(o)) = index.and_then(|i| done.get(&i)) {
                unit.outcomes.insert(o.digest(), *o);
            }
            units.push(unit);
        }
        let mut job = Job {
            spec,
            units,
            open,
            given: Vec::new(),
            agreed,
            fresh_from: 0,
            wanting: BTreeSet::new(),
        };
        for i in 0..job.units.len() {
            if let Ok(i) = u32::try_from(i) {
                job.refresh(i);
            }
        }
        if self.jobs.insert(id, job).is_none() {
            self.rotation.push_back(id);
        }
        if open == 0 {
            self.events.push_back(Event::JobDone { job: id });
        }
        id
    }

    /// Drops a job: its running replicas are forgotten and later reports refused.
    pub fn cancel(&mut self, job: &JobId) -> bool {
        let Some(j) = self.jobs.remove(job) else {
            return false;
        };
        self.rotation.retain(|id| id != job);
        self.deadlines.retain(|(_, id, _, _)| id != job);
        for unit in &j.units {
            for r in &unit.replicas {
                if r.status == Status::Running {
                    let s = self.standing_mut(&r.worker);
                    s.running = s.running.saturating_sub(1);
                }
            }
        }
        true
    }

    /// The job's spec, if it is known.
    pub fn spec(&self, job: &JobId) -> Option<&JobSpec> {
        self.jobs.get(job).map(|j| &j.spec)
    }

    /// Progress of a job: `(accepted, failed, running replicas, waiting units)`.
    pub fn progress(&self, job: &JobId) -> Option<Progress> {
        let j = self.jobs.get(job)?;
        let mut p = Progress::default();
        for u in &j.units {
            match u.state {
                UnitState::Accepted(_) => p.accepted += 1,
                UnitState::Failed => p.failed += 1,
                UnitState::Open => {
                    let running = u.count(|s| *s == Status::Running);
                    p.running += running;
                    if running == 0 {
                        p.waiting += 1;
                    }
                }
            }
        }
        Some(p)
    }

    /// Every worker's record.
    pub fn workers(&self) -> impl Iterator<Item = (&P, &Standing)> {
        self.workers.iter()
    }

    /// Sets a worker's record (the driver restores it from its database after a restart).
    pub fn restore_standing(&mut self, worker: P, standing: Standing) {
        self.workers.insert(
            worker,
            Standing {
                running: 0,
                ..standing
            },
        );
    }

    fn standing_mut(&mut self, worker: &P) -> &mut Standing {
        self.workers.entry(worker.clone()).or_default()
    }

    /// Unit `index` of job `id`, if both exist.
    fn unit(&self, id: &JobId, index: u32) -> Option<&Unit<P>> {
        self.jobs.get(id)?.units.get(index as usize)
    }

    /// Unit `index` of job `id`, if both exist, to change.
    fn unit_mut(&mut self, id: &JobId, index: u32) -> Option<&mut Unit<P>> {
        self.jobs.get_mut(id)?.units.get_mut(index as usize)
    }

    /// Whether a worker still gets work.
    pub fn is_banned(&self, worker: &P) -> bool {
        self.workers
            .get(worker)
            .is_some_and(|s| s.wrong >= self.config.ban_after_wrong)
    }

    /// A worker asks for up to `slots` units: returns what it gets, each unit at most once per
    /// worker (replicas of a unit always go to distinct workers). Jobs take turns. With
    /// adaptive replication some of them are spot checks and a trusted worker's fresh units
    /// are its alone; the worker cannot tell which.
    pub fn assign(&mut self, now: Time, worker: &P, slots: usize) -> Vec<Issued> {
        let mut out = Vec::new();
        if self.is_banned(worker) {
            return out;
        }
        let slots = slots.min(self.config.max_per_ask);
        let mut pending = self.rotation.len();
        while out.len() < slots && pending > 0 {
            pending -= 1;
            let Some(id) = self.rotation.pop_front() else {
                break;
            };
            self.rotation.push_back(id);
            let share = slots.div_ceil(self.rotation.len().max(1));
            let given = self.assign_from(now, id, worker, slots, share, &mut out);
            // a job that gave all it can this round may still have more for the next one
            if given > 0 && out.len() < slots {
                pending = self.rotation.len();
            }
        }
        let n = u32::try_from(out.len()).unwrap_or(u32::MAX);
        self.standing_mut(worker).running += n;
        out
    }

    /// Hands out up to `share` units of job `id` to `worker`; returns how many.
    fn assign_from(
        &mut self,
        now: Time,
        id: JobId,
        worker: &P,
        slots: usize,
        share: usize,
        out: &mut Vec<Issued>,
    ) -> usize {
        let trusted = self.trusted(worker);
        let Some(deadline_ms) = self.jobs.get(&id).map(|j| j.spec.deadline_ms) else {
            return 0;
        };
        let deadline = now + Duration::from_millis(deadline_ms);
        let mut given = 0;
        let mut cursor = 0;
        while out.len() < slots && given < share {
            let Some(job) = self.jobs.get_mut(&id) else {
                break;
            };
            // the lowest unit that wants a replica from this worker: without one, no check
            // either (checks replace work; they are not handed to idle askers)
            let Some(lowest) = job
                .wanting
                .range(cursor..)
                .copied()
                .find(|&i| job.units.get(i as usize).is_some_and(|u| !u.has(worker)))
            else {
                break;
            };
            let fresh = if trusted && job.spec.replicas > 1 {
                job.next_fresh().and_then(|i| u32::try_from(i).ok())
            } else {
                None
            };
            let draw = self.draw_check(worker, trusted);
            if draw.check
                && let Some(unit) = self.pick_check(&id, worker)
            {
                self.issue(id, unit, worker, deadline, Kind::Check, out);
                given += 1;
                continue;
            }
            // a trusted worker takes a fresh unit alone, unless the draw says replicate; the
            // others take the lowest unit that wants a replica
            let (index, kind) = match fresh {
                Some(f) if !draw.replicate => (f, Kind::Single),
                _ => {
                    cursor = lowest.saturating_add(1);
                    (lowest, Kind::Normal)
                }
            };
            self.issue(id, index, worker, deadline, kind, out);
            given += 1;
        }
        given
    }

    fn issue(
        &mut self,
        id: JobId,
        index: u32,
        worker: &P,
        deadline: Time,
        kind: Kind,
        out: &mut Vec<Issued>,
    ) {
        let Some(unit) = self.unit_mut(&id, index) else {
            return;
        };
        unit.replicas.push(Replica {
            worker: worker.clone(),
            deadline,
            status: Status::Running,
            kind,
            judged: None,
        });
        let replica = unit.replicas.len() - 1;
        self.deadlines.insert((deadline, id, index, replica));
        if let Some(job) = self.jobs.get_mut(&id) {
            job.refresh(index);
        }
        out.push(Issued {
            job: id,
            unit: index,
            deadline,
        });
    }

    /// A worker reports on a unit it was issued.
    ///
    /// # Errors
    /// [`ReportError`] if the job is unknown or the unit was not issued to this worker (the
    /// driver drops the report, and may drop the peer).
    pub fn report(
        &mut self,
        _now: Time,
        worker: &P,
        job_id: &JobId,
        unit: u32,
        report: Report,
    ) -> Result<(), ReportError> {
        let job = self.jobs.get_mut(job_id).ok_or(ReportError::UnknownJob)?;
        let open_before = job.open;
        let u = job
            .units
            .get_mut(unit as usize)
            .ok_or(ReportError::NotIssued)?;
        let mine = |f: fn(&Status) -> bool| {
            u.replicas
                .iter()
                .position(|r| r.worker == *worker && f(&r.status))
        };
        if mine(|s| matches!(s, Status::Reported(_) | Status::Voided(_))).is_some() {
            return Err(ReportError::NotIssued);
        }
        let idx = mine(|s| *s == Status::Running)
            .or_else(|| mine(|s| *s == Status::Lapsed))
            .ok_or(ReportError::NotIssued)?;
        let was_running = u.replicas[idx].status == Status::Running;
        if was_running {
            self.deadlines
                .remove(&(u.replicas[idx].deadline, *job_id, unit, idx));
        }
        let mut verdicts = Vec::new();
        match report {
            Report::GaveUp(_) => u.replicas[idx].status = Status::GaveUp,
            Report::Done(outcome) => {
                let digest = outcome.digest();
                u.replicas[idx].status = Status::Reported(digest);
                u.outcomes.entry(digest).or_insert(outcome);
                let kind = u.replicas[idx].kind;
                match &u.state {
                    UnitState::Accepted(acc) => {
                        let right = digest == *acc;
                        u.replicas[idx].judged = Some(right);
                        let fuel = outcome.fuel();
                        verdicts.push(if kind == Kind::Check {
                            Verdict::Check {
                                worker: worker.clone(),
                                fuel,
                                passed: right,
                            }
                        } else if right {
                            Verdict::Right {
                                worker: worker.clone(),
                                fuel,
                                crossed: true,
                            }
                        } else {
                            Verdict::Wrong {
                                worker: worker.clone(),
                            }
                        });
                    }
                    UnitState::Failed => {}
                    UnitState::Open => {
                        let others = u.replicas.iter().enumerate().any(|(i, r)| {
                            i != idx && matches!(r.status, Status::Running | Status::Reported(_))
                        });
                        let alone = kind == Kind::Single && !others;
                        let votes = u.count(|s| *s == Status::Reported(digest));
                        if alone || votes >= usize::from(job.spec.quorum) {
                            Self::accept(job, unit, digest, alone, &mut verdicts);
                            let workers = agreeing(&job.units[unit as usize], digest);
                            self.events.push_back(Event::Accepted {
                                job: *job_id,
                                unit,
                                outcome,
                                workers,
                            });
                        }
                    }
                }
            }
        }
        Self::close_if_stuck(job, *job_id, unit as usize, &mut self.events);
        job.refresh(unit);
        let spec_done = open_before > 0 && job.open == 0;
        {
            let s = self.standing_mut(worker);
            if was_running {
                s.running = s.running.saturating_sub(1);
            }
            if matches!(report, Report::GaveUp(_)) {
                s.gave_up += 1;
            }
        }
        self.apply(*job_id, unit, verdicts);
        if spec_done {
            self.finish(job_id);
        }
        Ok(())
    }

    /// Decides unit `unit` of `job` for `digest` and judges every result it holds.
    fn accept(
        job: &mut Job<P>,
        unit: u32,
        digest: Key256,
        alone: bool,
        verdicts: &mut Vec<Verdict<P>>,
    ) {
        let Some(u) = job.units.get_mut(unit as usize) else {
            return;
        };
        u.state = UnitState::Accepted(digest);
        let fuel_of = |d: &Key256| u.outcomes.get(d).map_or(0, Outcome::fuel);
        let fuel = fuel_of(&digest);
        let agree = u.count(|s| *s == Status::Reported(digest));
        let mut judged = Vec::new();
        for r in &mut u.replicas {
            let (d, voided) = match r.status {
                Status::Reported(d) => (d, false),
                Status::Voided(d) => (d, true),
                _ => continue,
            };
            let right = d == digest;
            let w = r.worker.clone();
            let v = match (voided, r.judged, right) {
                (false, _, true) if alone => Verdict::Alone { worker: w },
                (false, _, true) => Verdict::Right {
                    worker: w,
                    fuel,
                    crossed: agree >= 2,
                },
                (false, _, false) => Verdict::Wrong { worker: w },
                (true, Some(true), true) | (true, Some(false), false) => continue,
                (true, None, true) => Verdict::Right {
                    worker: w,
                    fuel,
                    crossed: true,
                },
                (true, Some(false), true) => Verdict::Unwrong { worker: w, fuel },
                (true, None, false) => Verdict::Wrong { worker: w },
                (true, Some(true), false) => Verdict::Unright { worker: w, fuel: 0 },
            };
            judged.push((r, v, d));
        }
        for (r, mut v, d) in judged {
            if let Verdict::Unright { fuel, .. } = &mut v {
                *fuel = fuel_of(&d);
            }
            r.judged = if matches!(v, Verdict::Alone { .. }) {
                None
            } else {
                Some(d == digest)
            };
            if let Status::Voided(d) = r.status {
                r.status = Status::Reported(d);
            }
            verdicts.push(v);
        }
        if agree >= 2 {
            job.agreed.push(unit);
        }
        job.open -= 1;
    }

    /// Marks a unit failed when it wants replicas but may issue none and none is running.
    fn close_if_stuck(job: &mut Job<P>, id: JobId, unit: usize, events: &mut VecDeque<Event<P>>) {
        let spec = &job.spec;
        let Some(u) = job.units.get_mut(unit) else {
            return;
        };
        if u.state != UnitState::Open || u.count(|s| *s == Status::Running) > 0 {
            return;
        }
        if u.wanted(spec) == 0 {
            u.state = UnitState::Failed;
            job.open -= 1;
            events.push_back(Event::Failed {
                job: id,
                unit: unit as u32,
            });
        }
    }

    fn finish(&mut self, job: &JobId) {
        self.events.push_back(Event::JobDone { job: *job });
    }

    /// Expires replicas whose deadline has passed; their units become available again.
    pub fn handle_timeout(&mut self, now: Time) {
        while let Some(&(deadline, id, unit, idx)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            let Some(r) = job
                .units
                .get_mut(unit as usize)
                .and_then(|u| u.replicas.get_mut(idx))
            else {
                continue;
            };
            if r.status != Status::Running {
                continue;
            }
            r.status = Status::Lapsed;
            let worker = r.worker.clone();
            let open_before = job.open;
            Self::close_if_stuck(job, id, unit as usize, &mut self.events);
            job.refresh(unit);
            let done = open_before > 0 && job.open == 0;
            let s = self.standing_mut(&worker);
            s.running = s.running.saturating_sub(1);
            s.lapsed += 1;
            self.events.push_back(Event::Lapsed {
                job: id,
                unit,
                worker,
            });
            if done {
                self.finish(&id);
            }
        }
    }

    /// The next deadline, when the driver must call [`Coordinator::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Time> {
        self.deadlines.first().map(|d| d.0)
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event<P>> {
        self.events.pop_front()
    }

    /// The next notice, if any (only queued with [`Config::notices`] or adaptive replication).
    pub fn poll_notice(&mut self) -> Option<Notice<P>> {
        self.notices.pop_front()
    }
}

/// The workers whose reported results agree on `digest`.
fn agreeing<P: Clone>(u: &Unit<P>, digest: Key256) -> Vec<P> {
    u.replicas
        .iter()
        .filter(|r| r.status == Status::Reported(digest))
        .map(|r| r.worker.clone())
        .collect()
}

/// How far a job has come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Units whose result a quorum agreed on.
    pub accepted: usize,
    /// Units given up without a quorum.
    pub failed: usize,
    /// Replicas running now.
    pub running: usize,
    /// Open units with no replica running.
    pub waiting: usize,
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_adaptive;
