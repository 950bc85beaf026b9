//! One job's units and their replicas, as the coordinator keeps them.

use std::collections::{BTreeMap, BTreeSet};

use weft_core::id::Key256;
use weft_core::time::Time;

use super::ISSUE_FACTOR;
use crate::job::JobSpec;
use crate::outcome::Outcome;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Status {
    Running,
    Reported(Key256),
    Lapsed,
    GaveUp,
    /// A result set aside when its unit was reopened; judged again when the unit is decided.
    Voided(Key256),
}

/// Why a replica was issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// One of the job's R replicas, or one more on disagreement.
    Normal,
    /// The only replica, to a trusted worker (adaptive replication).
    Single,
    /// A spot check: the unit's answer is known, the worker's is compared with it.
    Check,
}

#[derive(Clone, Debug)]
pub(super) struct Replica<P> {
    pub worker: P,
    pub deadline: Time,
    pub status: Status,
    pub kind: Kind,
    /// How the result was last judged: right, wrong, or not yet (running, or accepted on
    /// this worker's word alone and not yet confirmed by a passed check).
    pub judged: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum UnitState {
    Open,
    Accepted(Key256),
    Failed,
}

#[derive(Clone, Debug)]
pub(super) struct Unit<P> {
    pub replicas: Vec<Replica<P>>,
    pub outcomes: BTreeMap<Key256, Outcome>,
    pub state: UnitState,
    /// Reopened after a worker whose vote accepted it was caught: never issued single again.
    pub reopened: bool,
    /// Its answer came from the submitter ([`super::Coordinator::add_known`]): never reopened.
    pub given: bool,
}

impl<P: PartialEq> Unit<P> {
    pub fn new(state: UnitState) -> Self {
        Unit {
            replicas: Vec::new(),
            outcomes: BTreeMap::new(),
            state,
            reopened: false,
            given: false,
        }
    }

    pub fn count(&self, f: impl Fn(&Status) -> bool) -> usize {
        self.replicas.iter().filter(|r| f(&r.status)).count()
    }

    pub fn best_votes(&self) -> usize {
        let mut best = 0;
        for d in self.outcomes.keys() {
            best = best.max(self.count(|s| *s == Status::Reported(*d)));
        }
        best
    }

    /// Whether a single replica runs: the unit waits for it.
    fn single_running(&self) -> bool {
        self.replicas
            .iter()
            .any(|r| r.kind == Kind::Single && r.status == Status::Running)
    }

    /// Whether no replica was ever issued (or all were set aside): a trusted worker may get
    /// it alone.
    pub fn fresh(&self) -> bool {
        !self.reopened && !self.given && self.replicas.is_empty()
    }

    /// Replicas to issue now.
    pub fn wanted(&self, spec: &JobSpec) -> usize {
        if self.state != UnitState::Open || self.single_running() {
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
        let issued = self
            .replicas
            .iter()
            .filter(|r| !matches!(r.status, Status::Voided(_)) && r.kind != Kind::Check)
            .count();
        let issues_left = (ISSUE_FACTOR * usize::from(spec.max_replicas)).saturating_sub(issued);
        want.min(room).min(issues_left)
    }

    /// Whether `worker` holds a replica, gave a result or got the unit as a check: a worker
    /// votes at most once per unit. One whose replica lapsed or was given back may get the
    /// unit again (with few workers, an offer lost on the way would otherwise leave the unit
    /// without enough).
    pub fn has(&self, worker: &P) -> bool {
        self.replicas.iter().any(|r| {
            r.worker == *worker
                && (r.kind == Kind::Check
                    || matches!(
                        r.status,
                        Status::Running | Status::Reported(_) | Status::Voided(_)
                    ))
        })
    }
}

#[derive(Clone, Debug)]
pub(super) struct Job<P> {
    pub spec: JobSpec,
    pub units: Vec<Unit<P>>,
    pub open: usize,
    /// Units whose answer the submitter gave: the spot checks colluders cannot see coming.
    pub given: Vec<u32>,
    /// Units accepted by at least two agreeing workers: spot checks when none was given.
    pub agreed: Vec<u32>,
    /// Units before this index were issued at least once: none is fresh.
    pub fresh_from: usize,
    /// Open units that want a replica now: where [`super::Coordinator::assign`] looks, so
    /// that an ask costs no more with ten thousand units in flight than with ten.
    pub wanting: BTreeSet<u32>,
}

impl<P: PartialEq> Job<P> {
    /// Puts `unit` in [`Job::wanting`] or takes it out, after anything about it changed.
    pub fn refresh(&mut self, unit: u32) {
        let wants = self
            .units
            .get(unit as usize)
            .is_some_and(|u| u.wanted(&self.spec) > 0);
        if wants {
            self.wanting.insert(unit);
        } else {
            self.wanting.remove(&unit);
        }
    }

    /// The first fresh unit (never issued): a trusted worker's next unit alone.
    pub fn next_fresh(&mut self) -> Option<usize> {
        while self
            .units
            .get(self.fresh_from)
            .is_some_and(|u| !(u.fresh() && u.state == UnitState::Open))
        {
            self.fresh_from += 1;
        }
        (self.fresh_from < self.units.len()).then_some(self.fresh_from)
    }
}
