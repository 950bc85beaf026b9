//! The submitter's engine: it hands units to workers that ask for work, accepts a unit's result
//! once a quorum of distinct workers agree on its digest, issues a unit again when a replica
//! misses its deadline, adds replicas on disagreement up to the job's bound, and keeps each
//! worker's standing and credit.
//!
//! Sans-IO: the driver passes `now` into every call, sends the assignments that
//! [`Coordinator::assign`] returns, drains [`Coordinator::poll_event`] after every call and
//! re-arms one timer from [`Coordinator::poll_timeout`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Debug;
use std::time::Duration;

use weft_core::id::Key256;
use weft_core::time::Time;

use crate::job::{JobId, JobSpec};
use crate::outcome::{Outcome, Report};

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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ban_after_wrong: 3,
            max_per_ask: 16,
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
    /// A quorum agreed: the unit's result is the outcome with this digest.
    Accepted {
        /// The job.
        job: JobId,
        /// The unit.
        unit: u32,
        /// The accepted outcome.
        outcome: Outcome,
        /// The workers whose results agreed.
        workers: Vec<P>,
    },
    /// No quorum could be reached within the replica bound.
    Failed {
        /// The job.
        job: JobId,
        /// The unit.
        unit: u32,
    },
    /// A worker's result disagreed with the accepted one.
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Running,
    Reported(Key256),
    Lapsed,
    GaveUp,
}

#[derive(Clone, Debug)]
struct Replica<P> {
    worker: P,
    deadline: Time,
    status: Status,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum UnitState {
    Open,
    Accepted(Key256),
    Failed,
}

#[derive(Clone, Debug)]
struct Unit<P> {
    replicas: Vec<Replica<P>>,
    outcomes: BTreeMap<Key256, Outcome>,
    state: UnitState,
}

impl<P: PartialEq> Unit<P> {
    fn count(&self, f: impl Fn(&Status) -> bool) -> usize {
        self.replicas.iter().filter(|r| f(&r.status)).count()
    }

    fn best_votes(&self) -> usize {
        let mut best = 0;
        for d in self.outcomes.keys() {
            best = best.max(self.count(|s| *s == Status::Reported(*d)));
        }
        best
    }

    /// Replicas to issue now.
    fn wanted(&self, spec: &JobSpec) -> usize {
        if self.state != UnitState::Open {
            return 0;
        }
        let running = self.count(|s| *s == Status::Running);
        let reported = self.count(|s| matches!(s, Status::Reported(_)));
        let want = if running + reported < usize::from(spec.replicas) {
            usize::from(spec.replicas) - running - reported
        } else {
            usize::from(spec.quorum)
                .saturating_sub(self.best_votes())
                .saturating_sub(running)
        };
        let room = usize::from(spec.max_replicas).saturating_sub(running + reported);
        let issues_left = ISSUE_FACTOR * usize::from(spec.max_replicas) - self.replicas.len();
        want.min(room).min(issues_left)
    }

    /// Whether `worker` holds a replica or gave a result: a worker votes at most once per
    /// unit. One whose replica lapsed or was given back may get the unit again (with few
    /// workers, an offer lost on the way would otherwise leave the unit without enough).
    fn has(&self, worker: &P) -> bool {
        self.replicas.iter().any(|r| {
            r.worker == *worker && matches!(r.status, Status::Running | Status::Reported(_))
        })
    }
}

#[derive(Clone, Debug)]
struct Job<P> {
    spec: JobSpec,
    units: Vec<Unit<P>>,
    /// Units before this index are all accepted or failed.
    first_open: usize,
    open: usize,
}

/// The coordinator engine for every job this node submitted.
#[derive(Clone, Debug)]
pub struct Coordinator<P> {
    config: Config,
    jobs: BTreeMap<JobId, Job<P>>,
    /// Jobs in the order they are served; rotated after each answer for fairness.
    rotation: VecDeque<JobId>,
    workers: BTreeMap<P, Standing>,
    deadlines: BTreeSet<(Time, JobId, u32, usize)>,
    events: VecDeque<Event<P>>,
}

impl<P: Ord + Clone + Debug> Coordinator<P> {
    /// An engine with no jobs.
    pub fn new(config: Config) -> Self {
        Coordinator {
            config,
            jobs: BTreeMap::new(),
            rotation: VecDeque::new(),
            workers: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            events: VecDeque::new(),
        }
    }

    /// Adds a job (already checked with [`JobSpec::check`]). `done` holds the units a previous
    /// run already accepted (after a restart), with their outcomes, or failed (`None`).
    pub fn add_job(&mut self, spec: JobSpec, done: &BTreeMap<u32, Option<Outcome>>) -> JobId {
        let id = spec.id();
        let mut units = Vec::with_capacity(spec.units.len());
        let mut open = 0;
        for i in 0..spec.units.len() {
            let state = match u32::try_from(i).ok().and_then(|i| done.get(&i)) {
                Some(Some(o)) => UnitState::Accepted(o.digest()),
                Some(None) => UnitState::Failed,
                None => {
                    open += 1;
                    UnitState::Open
                }
            };
            units.push(Unit {
                replicas: Vec::new(),
                outcomes: BTreeMap::new(),
                state,
            });
        }
        let job = Job {
            spec,
            units,
            first_open: 0,
            open,
        };
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
                    self.standing_mut(&r.worker).running -= 1;
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

    /// Whether a worker still gets work.
    pub fn is_banned(&self, worker: &P) -> bool {
        self.workers
            .get(worker)
            .is_some_and(|s| s.wrong >= self.config.ban_after_wrong)
    }

    /// A worker asks for up to `slots` units: returns what it gets, each unit at most once per
    /// worker (replicas of a unit always go to distinct workers). Jobs take turns.
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
            let Some(job) = self.jobs.get_mut(&id) else {
                continue;
            };
            let deadline = now + Duration::from_millis(job.spec.deadline_ms);
            let mut given = 0;
            for (i, unit) in job.units.iter_mut().enumerate().skip(job.first_open) {
                if out.len() >= slots || given >= slots.div_ceil(self.rotation.len().max(1)) {
                    break;
                }
                if unit.wanted(&job.spec) == 0 || unit.has(worker) {
                    continue;
                }
                let Ok(index) = u32::try_from(i) else { break };
                unit.replicas.push(Replica {
                    worker: worker.clone(),
                    deadline,
                    status: Status::Running,
                });
                self.deadlines
                    .insert((deadline, id, index, unit.replicas.len() - 1));
                out.push(Issued {
                    job: id,
                    unit: index,
                    deadline,
                });
                given += 1;
            }
            // a job that gave all it can this round may still have more for the next one
            if given > 0 && out.len() < slots {
                pending = self.rotation.len();
            }
        }
        self.standing_mut(worker).running += out.len() as u32;
        out
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
        if mine(|s| matches!(s, Status::Reported(_))).is_some() {
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
        let mut judged = Vec::new();
        match report {
            Report::GaveUp(_) => u.replicas[idx].status = Status::GaveUp,
            Report::Done(outcome) => {
                let digest = outcome.digest();
                u.replicas[idx].status = Status::Reported(digest);
                u.outcomes.entry(digest).or_insert(outcome);
                match &u.state {
                    UnitState::Accepted(acc) => judged.push((worker.clone(), digest == *acc)),
                    UnitState::Failed => {}
                    UnitState::Open => {
                        let votes = u.count(|s| *s == Status::Reported(digest));
                        if votes >= usize::from(job.spec.quorum) {
                            u.state = UnitState::Accepted(digest);
                            let mut agreed = Vec::new();
                            for r in &u.replicas {
                                if let Status::Reported(d) = r.status {
                                    judged.push((r.worker.clone(), d == digest));
                                    if d == digest {
                                        agreed.push(r.worker.clone());
                                    }
                                }
                            }
                            job.open -= 1;
                            self.events.push_back(Event::Accepted {
                                job: *job_id,
                                unit,
                                outcome,
                                workers: agreed,
                            });
                        }
                    }
                }
            }
        }
        let fuel = match &u.state {
            UnitState::Accepted(d) => u.outcomes.get(d).map_or(0, Outcome::fuel),
            _ => 0,
        };
        Self::close_if_stuck(job, *job_id, unit as usize, &mut self.events);
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
        for (w, right) in judged {
            let s = self.standing_mut(&w);
            if right {
                s.validated += 1;
                s.credit = s.credit.saturating_add(fuel);
            } else {
                s.wrong += 1;
                self.events.push_back(Event::Wrong {
                    job: *job_id,
                    unit,
                    worker: w,
                });
            }
        }
        if spec_done {
            self.finish(job_id);
        }
        Ok(())
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
        while job
            .units
            .get(job.first_open)
            .is_some_and(|u| u.state != UnitState::Open)
        {
            job.first_open += 1;
        }
    }

    fn finish(&mut self, job: &JobId) {
        if let Some(j) = self.jobs.get_mut(job) {
            while j
                .units
                .get(j.first_open)
                .is_some_and(|u| u.state != UnitState::Open)
            {
                j.first_open += 1;
            }
        }
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
