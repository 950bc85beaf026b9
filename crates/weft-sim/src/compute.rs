//! Distributed computing in the simulator: `weft-compute`'s coordinator and worker engines,
//! the very code the node runs, driven in virtual time with thousands of workers, churn and
//! cheaters.
//!
//! # The model
//!
//! - **One submitter** coordinates one job of `units` units with R = Q = 2 (up to 6 replicas
//!   on disagreement) through a [`Coordinator`]: plain replication, or adaptive replication
//!   with spot checks ([`weft_compute::coordinator::adaptive`]), in which case the submitter
//!   first computes [`ComputeConfig::known`] units itself (their answers are the collusion-proof
//!   spot checks; their CPU counts as spent).
//! - **Workers**, one lent core each, each a [`Worker`] engine that pulls work when idle (and
//!   backs off when there is none), with a speed drawn log-normally (σ 0.3) around 1. A unit's
//!   CPU cost at speed 1 is log-normal (σ 0.3) around [`ComputeConfig::unit_cpu_s`]; the
//!   deadline is 5 times that.
//! - **Messages** take [`ComputeConfig::latency_ms`] one way and are never lost.
//! - **Churn:** a worker's online sessions and its offline spells are exponential (means
//!   [`ComputeConfig::session_h`], [`ComputeConfig::offline_h`]). A worker that leaves loses
//!   the units it is running (they lapse at their deadlines and are issued again); it comes
//!   back with the same identity, so its record with the coordinator is kept, as a volunteer's
//!   machine is.
//! - **Cheaters:** [`ComputeConfig::independent`] of the workers return a random wrong answer
//!   for every unit; [`ComputeConfig::colluding`] return the same wrong answer for a unit (a
//!   group running the same fake client). Both take as long as honest workers.
//!
//! # What it measures
//!
//! Wrong results accepted (the job's final decisions against the truth), the overhead (CPU
//! spent over CPU needed: every execution at its unit's cost, a unit cut short by churn for the
//! part it ran, the submitter's own units), and the job's completion time against the ideal
//! (the CPU needed spread over the average online capacity, with no replica, loss or wait).
//! Deterministic from the seed: [`ComputeRun::trace_hash`] covers every event.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use weft_compute::coordinator::{Adaptive, Config, Coordinator, Event, Issued, Notice};
use weft_compute::job::{Abi, JobId, JobSpec, Limits, UnitSpec};
use weft_compute::outcome::{Outcome, Report};
use weft_compute::wire::Offer;
use weft_compute::worker::{Policy, Ran, Worker};
use weft_core::id::Key256;
use weft_core::time::Time;

use crate::trace::TraceHash;

/// The coordinator's peer id; workers are 1..=N.
const SUBMITTER: u32 = 0;

/// What one run simulates.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComputeConfig {
    /// Worker identities.
    pub workers: u32,
    /// Units in the job.
    pub units: u32,
    /// Mean CPU seconds of a unit at speed 1.
    pub unit_cpu_s: f64,
    /// One-way message latency.
    pub latency_ms: f64,
    /// Mean online session in hours (0: no churn).
    pub session_h: f64,
    /// Mean offline spell in hours before a worker comes back.
    pub offline_h: f64,
    /// Share of workers returning random wrong answers.
    pub independent: f64,
    /// Share of workers returning the same wrong answer per unit.
    pub colluding: f64,
    /// Adaptive replication with spot checks, or plain replication.
    pub adaptive: bool,
    /// Units the submitter computes itself first (adaptive only).
    pub known: u32,
    /// The seed of every draw.
    pub seed: u64,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        ComputeConfig {
            workers: 10_000,
            units: 1_000_000,
            unit_cpu_s: 60.0,
            latency_ms: 50.0,
            session_h: 2.0,
            offline_h: 1.0,
            independent: 0.0,
            colluding: 0.0,
            adaptive: false,
            known: 0,
            seed: 1,
        }
    }
}

impl ComputeConfig {
    /// `plain` or `adaptive`, and the cheaters: the run's label.
    pub fn label(&self) -> String {
        let mode = if self.adaptive { "adaptive" } else { "plain" };
        let cheat = match (self.independent > 0.0, self.colluding > 0.0) {
            (false, false) => "honest".to_string(),
            (true, false) => format!("{:.0}% independent", self.independent * 100.0),
            (false, true) => format!("{:.0}% colluding", self.colluding * 100.0),
            (true, true) => format!(
                "{:.0}% indep. + {:.0}% coll.",
                self.independent * 100.0,
                self.colluding * 100.0
            ),
        };
        format!("{mode}, {cheat}")
    }
}

/// What one run measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ComputeRun {
    /// Units accepted when the job was declared done.
    pub accepted: u32,
    /// Units given up (no quorum within the replica bound).
    pub failed: u32,
    /// Accepted units whose result is not the truth.
    pub wrong_accepted: u32,
    /// Units in the job.
    pub units: u32,
    /// CPU spent over CPU needed.
    pub overhead: f64,
    /// Executions started by workers.
    pub executions: u64,
    /// Executions cut short by a worker leaving.
    pub lost_to_churn: u64,
    /// Replicas that missed their deadline.
    pub lapsed: u64,
    /// Results accepted on one trusted worker's word.
    pub accepted_alone: u64,
    /// Spot checks passed and failed.
    pub checks_passed: u64,
    /// Spot checks failed.
    pub checks_failed: u64,
    /// Accepted units reopened after a worker was caught.
    pub reopened: u64,
    /// Cheaters, and of them banned by the end.
    pub cheaters: u32,
    /// Cheaters the coordinator stopped giving work to.
    pub cheaters_banned: u32,
    /// Honest workers banned (outvoted by colluders).
    pub honest_banned: u32,
    /// Virtual seconds until the coordinator declared the job done.
    pub makespan_s: f64,
    /// The CPU needed spread over the average online capacity.
    pub ideal_s: f64,
    /// Average workers online while the job ran.
    pub mean_online: f64,
    /// Events processed.
    pub events: u64,
    /// BLAKE3 over every event: equal seeds give equal hashes.
    pub trace_hash: String,
}

impl ComputeRun {
    /// Completion time over the ideal.
    pub fn slowdown(&self) -> f64 {
        if self.ideal_s > 0.0 {
            self.makespan_s / self.ideal_s
        } else {
            0.0
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Honesty {
    Honest,
    Independent,
    Colluding,
}

struct Running {
    unit: u32,
    start: Time,
    end: Time,
}

struct W {
    engine: Worker<u32>,
    online: bool,
    /// Bumped when the worker leaves: events of an earlier session are dropped.
    epoch: u32,
    speed: f64,
    honesty: Honesty,
    timer: Option<Time>,
    running: Vec<Running>,
}

#[derive(Clone, Debug)]
enum Ev {
    WorkerTimer {
        w: u32,
        epoch: u32,
    },
    Ask {
        w: u32,
        slots: u32,
    },
    Offer {
        w: u32,
        epoch: u32,
        issued: Vec<Issued>,
    },
    Done {
        w: u32,
        epoch: u32,
        unit: u32,
    },
    Report {
        w: u32,
        unit: u32,
        outcome: Outcome,
    },
    CoordTimer,
    Leave {
        w: u32,
        epoch: u32,
    },
    Return {
        w: u32,
    },
}

impl Ev {
    fn kind(&self) -> (u16, u32, u32) {
        match self {
            Ev::WorkerTimer { w, .. } => (1, *w, *w),
            Ev::Ask { w, slots } => (2, *w, *slots),
            Ev::Offer { w, issued, .. } => (3, *w, issued.len() as u32),
            Ev::Done { w, unit, .. } => (4, *w, *unit),
            Ev::Report { w, unit, .. } => (5, *w, *unit),
            Ev::CoordTimer => (6, SUBMITTER, SUBMITTER),
            Ev::Leave { w, .. } => (7, *w, *w),
            Ev::Return { w } => (8, *w, *w),
        }
    }
}

struct Entry {
    at: Time,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// The right answer to a unit (its fuel: a nanosecond of CPU is one unit of fuel).
fn truth(unit: u32, cost_s: f64) -> Outcome {
    Outcome::Output {
        hash: Key256::hash(&unit.to_le_bytes()),
        fuel: (cost_s * 1e9) as u64,
    }
}

/// The colluders' shared wrong answer.
fn lie(unit: u32, cost_s: f64) -> Outcome {
    Outcome::Output {
        hash: Key256::hash(&[b"colluders".as_slice(), &unit.to_le_bytes()].concat()),
        fuel: (cost_s * 1e9) as u64,
    }
}

/// A log-normal draw with median 1 (Box-Muller over the seeded generator).
fn lognormal(rng: &mut ChaCha8Rng, sigma: f64) -> f64 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    let v: f64 = rng.random();
    let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
    (sigma * z).exp()
}

fn exp_s(rng: &mut ChaCha8Rng, mean_h: f64) -> Duration {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    Duration::from_secs_f64(-u.ln() * mean_h * 3600.0)
}

struct Sim {
    cfg: ComputeConfig,
    rng: ChaCha8Rng,
    queue: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    now: Time,
    latency: Duration,
    coord: Coordinator<u32>,
    coord_timer: Option<Time>,
    job: JobId,
    spec: JobSpec,
    costs: Vec<f64>,
    workers: Vec<W>,
    decided: BTreeMap<u32, Option<Key256>>,
    out: ComputeRun,
    spent: f64,
    done: bool,
    online: u32,
    online_area: f64,
    last_change: Time,
    trace: TraceHash,
}

impl Sim {
    fn push(&mut self, at: Time, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Entry {
            at,
            seq: self.seq,
            ev,
        }));
    }

    /// Adds the online workers' time since the last change to the area under the curve.
    fn tally_online(&mut self) {
        let dt = self.now.saturating_since(self.last_change).as_secs_f64();
        self.online_area += dt * f64::from(self.online);
        self.last_change = self.now;
    }

    fn set_online(&mut self, w: u32, online: bool) {
        self.tally_online();
        let worker = &mut self.workers[w as usize - 1];
        if worker.online != online {
            worker.online = online;
            if online {
                self.online += 1;
            } else {
                self.online -= 1;
            }
        }
    }

    fn sync_worker(&mut self, w: u32) {
        let now = self.now;
        let lat = self.latency;
        let mut asks = Vec::new();
        let worker = &mut self.workers[w as usize - 1];
        while let Some((_, slots)) = worker.engine.poll_transmit() {
            asks.push(slots);
        }
        let next = worker.engine.poll_timeout().map(|t| t.max(now));
        let epoch = worker.epoch;
        let arm = next.filter(|t| worker.timer != Some(*t));
        if arm.is_some() {
            worker.timer = arm;
        }
        for slots in asks {
            self.push(now + lat, Ev::Ask { w, slots });
        }
        if let Some(t) = arm {
            self.push(t, Ev::WorkerTimer { w, epoch });
        }
    }

    fn sync_coord(&mut self) {
        while let Some(e) = self.coord.poll_event() {
            match e {
                Event::Accepted { unit, outcome, .. } => {
                    self.decided.insert(unit, Some(outcome.digest()));
                }
                Event::Failed { unit, .. } => {
                    self.decided.insert(unit, None);
                }
                Event::Lapsed { .. } => self.out.lapsed += 1,
                Event::JobDone { .. } => self.done = true,
                Event::Wrong { .. } => {}
            }
        }
        while let Some(n) = self.coord.poll_notice() {
            match n {
                Notice::Reopened { unit, .. } => {
                    self.decided.remove(&unit);
                    self.out.reopened += 1;
                }
                Notice::Checked { passed, .. } => {
                    if passed {
                        self.out.checks_passed += 1;
                    } else {
                        self.out.checks_failed += 1;
                    }
                }
                Notice::Validated { .. } | Notice::Unvalidated { .. } => {}
            }
        }
        if let Some(t) = self.coord.poll_timeout() {
            let t = t.max(self.now);
            if self.coord_timer.is_none_or(|c| t < c) {
                self.coord_timer = Some(t);
                self.push(t, Ev::CoordTimer);
            }
        }
    }

    fn offer(&self, unit: u32) -> Offer {
        Offer {
            job: self.job,
            unit,
            module: self.spec.module,
            module_size: self.spec.module_size,
            abi: self.spec.abi,
            input: self.spec.units[unit as usize].input,
            input_size: self.spec.units[unit as usize].size,
            limits: self.spec.limits,
            deadline_ms: self.spec.deadline_ms,
        }
    }

    fn handle(&mut self, ev: Ev) {
        let now = self.now;
        match ev {
            Ev::WorkerTimer { w, epoch } => {
                let worker = &mut self.workers[w as usize - 1];
                if worker.epoch != epoch || !worker.online || worker.timer != Some(now) {
                    return;
                }
                worker.timer = None;
                worker.engine.handle_timeout(now);
                self.sync_worker(w);
            }
            Ev::Ask { w, slots } => {
                let issued = self.coord.assign(now, &w, slots as usize);
                let epoch = self.workers[w as usize - 1].epoch;
                self.push(now + self.latency, Ev::Offer { w, epoch, issued });
                self.sync_coord();
            }
            Ev::Offer { w, epoch, issued } => {
                if self.workers[w as usize - 1].epoch != epoch {
                    return;
                }
                let offers: Vec<Offer> = issued.iter().map(|i| self.offer(i.unit)).collect();
                let worker = &mut self.workers[w as usize - 1];
                let verdicts = worker.engine.handle_offers(now, &SUBMITTER, &offers);
                let speed = worker.speed;
                let mut starts = Vec::new();
                for (i, v) in issued.iter().zip(verdicts) {
                    if v.is_ok() {
                        let secs = self.costs[i.unit as usize] / speed;
                        let end = now + Duration::from_secs_f64(secs);
                        starts.push((i.unit, end));
                    }
                }
                for (unit, end) in starts {
                    self.workers[w as usize - 1].running.push(Running {
                        unit,
                        start: now,
                        end,
                    });
                    self.out.executions += 1;
                    self.push(end, Ev::Done { w, epoch, unit });
                }
                self.sync_worker(w);
            }
            Ev::Done { w, epoch, unit } => {
                let cost = self.costs[unit as usize];
                let noise: [u8; 32] = self.rng.random();
                let worker = &mut self.workers[w as usize - 1];
                if worker.epoch != epoch {
                    return;
                }
                if let Some(i) = worker
                    .running
                    .iter()
                    .position(|r| r.unit == unit && r.end == now)
                {
                    let r = worker.running.swap_remove(i);
                    let ran = Ran {
                        fuel: (cost * 1e9) as u64,
                        wall_ms: now.saturating_since(r.start).as_millis() as u64,
                    };
                    worker.engine.handle_finished_for(now, &SUBMITTER, ran);
                }
                let outcome = match worker.honesty {
                    Honesty::Honest => truth(unit, cost),
                    Honesty::Colluding => lie(unit, cost),
                    Honesty::Independent => Outcome::Output {
                        hash: Key256::hash(&noise),
                        fuel: (cost * 1e9) as u64,
                    },
                };
                self.spent += cost;
                self.push(now + self.latency, Ev::Report { w, unit, outcome });
                self.sync_worker(w);
            }
            Ev::Report { w, unit, outcome } => {
                let _ = self
                    .coord
                    .report(now, &w, &self.job, unit, Report::Done(outcome));
                self.sync_coord();
            }
            Ev::CoordTimer => {
                if self.coord_timer != Some(now) {
                    return;
                }
                self.coord_timer = None;
                self.coord.handle_timeout(now);
                self.sync_coord();
            }
            Ev::Leave { w, epoch } => {
                if self.workers[w as usize - 1].epoch != epoch {
                    return;
                }
                self.set_online(w, false);
                let worker = &mut self.workers[w as usize - 1];
                worker.epoch += 1;
                worker.timer = None;
                for r in std::mem::take(&mut worker.running) {
                    let total = r.end.saturating_since(r.start).as_secs_f64();
                    let ran = now.saturating_since(r.start).as_secs_f64();
                    if total > 0.0 {
                        self.spent += self.costs[r.unit as usize] * ran / total;
                    }
                    self.out.lost_to_churn += 1;
                }
                let back = now + exp_s(&mut self.rng, self.cfg.offline_h);
                self.push(back, Ev::Return { w });
            }
            Ev::Return { w } => {
                self.set_online(w, true);
                let worker = &mut self.workers[w as usize - 1];
                worker.engine = Worker::with_policy(1, Policy::unrestricted());
                worker.engine.add_coordinator(now, SUBMITTER);
                worker.engine.handle_timeout(now);
                let epoch = worker.epoch;
                self.sync_worker(w);
                if self.cfg.session_h > 0.0 {
                    let leave = now + exp_s(&mut self.rng, self.cfg.session_h);
                    self.push(leave, Ev::Leave { w, epoch });
                }
            }
        }
    }
}

/// Runs one job as `cfg` says.
pub fn run(cfg: &ComputeConfig) -> ComputeRun {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let costs: Vec<f64> = (0..cfg.units)
        .map(|_| cfg.unit_cpu_s * lognormal(&mut rng, 0.3))
        .collect();
    let spec = JobSpec {
        module: Key256::hash(b"simulated module"),
        module_size: 100_000,
        abi: Abi::OneShot,
        units: (0..cfg.units)
            .map(|u| UnitSpec {
                input: Key256::hash(&u.to_le_bytes()),
                size: 1000,
            })
            .collect(),
        replicas: 2,
        quorum: 2,
        max_replicas: 6,
        deadline_ms: (cfg.unit_cpu_s * 5000.0) as u64,
        limits: Limits::default(),
        nonce: cfg.seed,
    };
    let config = Config {
        adaptive: cfg.adaptive.then(|| Adaptive {
            seed: rng.random(),
            ..Adaptive::default()
        }),
        notices: true,
        ..Config::default()
    };
    let mut coord = Coordinator::new(config);
    let job = coord.add_job(spec.clone(), &BTreeMap::new());
    let mut workers = Vec::with_capacity(cfg.workers as usize);
    let mut out = ComputeRun {
        units: cfg.units,
        ..ComputeRun::default()
    };
    for _ in 0..cfg.workers {
        let draw: f64 = rng.random();
        let honesty = if draw < cfg.independent {
            Honesty::Independent
        } else if draw < cfg.independent + cfg.colluding {
            Honesty::Colluding
        } else {
            Honesty::Honest
        };
        out.cheaters += u32::from(honesty != Honesty::Honest);
        workers.push(W {
            engine: Worker::with_policy(1, Policy::unrestricted()),
            online: false,
            epoch: 0,
            speed: lognormal(&mut rng, 0.3),
            honesty,
            timer: None,
            running: Vec::new(),
        });
    }
    let mut sim = Sim {
        cfg: cfg.clone(),
        rng,
        queue: BinaryHeap::new(),
        seq: 0,
        now: Time::ZERO,
        latency: Duration::from_secs_f64(cfg.latency_ms / 1000.0),
        coord,
        coord_timer: None,
        job,
        spec,
        costs,
        workers,
        decided: BTreeMap::new(),
        out,
        spent: 0.0,
        done: false,
        online: 0,
        online_area: 0.0,
        last_change: Time::ZERO,
        trace: TraceHash::new(&format!("compute {}", cfg.label())),
    };
    if cfg.adaptive {
        let step = (cfg.units / cfg.known.max(1)).max(1);
        for u in (0..cfg.units)
            .step_by(step as usize)
            .take(cfg.known as usize)
        {
            let cost = sim.costs[u as usize];
            sim.coord.add_known(&job, u, truth(u, cost));
            sim.spent += cost;
        }
        sim.sync_coord();
    }
    for w in 1..=cfg.workers {
        // sessions start spread over the first minute
        let at = Time::from_micros(sim.rng.random_range(0..60_000_000));
        sim.push(at, Ev::Return { w });
    }
    while let Some(Reverse(e)) = sim.queue.pop() {
        if sim.done {
            break;
        }
        sim.now = e.at;
        let (kind, a, b) = e.ev.kind();
        sim.trace.record(e.at.as_micros(), e.seq, kind, a, b);
        sim.handle(e.ev);
    }
    sim.tally_online();
    finish(sim)
}

fn finish(sim: Sim) -> ComputeRun {
    let mut out = sim.out;
    let needed: f64 = sim.costs.iter().sum();
    for (unit, d) in &sim.decided {
        match d {
            Some(d) => {
                out.accepted += 1;
                if *d != truth(*unit, sim.costs[*unit as usize]).digest() {
                    out.wrong_accepted += 1;
                }
            }
            None => out.failed += 1,
        }
    }
    out.overhead = sim.spent / needed - 1.0;
    out.makespan_s = sim.now.as_micros() as f64 / 1e6;
    out.mean_online = if out.makespan_s > 0.0 {
        sim.online_area / out.makespan_s
    } else {
        0.0
    };
    let speed = sim.workers.iter().map(|w| w.speed).sum::<f64>() / sim.workers.len().max(1) as f64;
    out.ideal_s = needed / (out.mean_online * speed).max(f64::MIN_POSITIVE);
    out.accepted_alone = sim.coord.records().map(|(_, r)| r.alone).sum();
    for (i, w) in sim.workers.iter().enumerate() {
        let banned = sim.coord.is_banned(&(i as u32 + 1));
        match (w.honesty, banned) {
            (Honesty::Honest, true) => out.honest_banned += 1,
            (Honesty::Honest, false) => {}
            (_, b) => out.cheaters_banned += u32::from(b),
        }
    }
    out.events = sim.trace.events();
    out.trace_hash = sim.trace.hex();
    out
}

/// The share of units a colluding group of share `f` wins under plain voting with R = Q = 2
/// (replicas added on a tie): two of its votes before two honest ones, f²(3 − 2f).
pub fn quorum_model(f: f64) -> f64 {
    f * f * (3.0 - 2.0 * f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(adaptive: bool, independent: f64, colluding: f64) -> ComputeConfig {
        ComputeConfig {
            workers: 200,
            units: 6_000,
            unit_cpu_s: 60.0,
            session_h: 1.0,
            offline_h: 0.5,
            independent,
            colluding,
            adaptive,
            known: 30,
            seed: 3,
            ..ComputeConfig::default()
        }
    }

    #[test]
    fn the_engines_run_a_job_to_the_end_under_churn_and_cheaters() {
        let mut rows = Vec::new();
        for (independent, colluding) in [(0.0, 0.0), (0.2, 0.0), (0.0, 0.1)] {
            let plain = run(&small(false, independent, colluding));
            let adaptive = run(&small(true, independent, colluding));
            for (cfg, r) in [
                (small(false, independent, colluding), &plain),
                (small(true, independent, colluding), &adaptive),
            ] {
                println!(
                    "RESULT sim_compute label={:?} workers=200 units=6000 wrong_accepted={} \
                     failed={} overhead={:.3} slowdown={:.2} lost_to_churn={} reopened={} \
                     alone={} checks_failed={}",
                    cfg.label(),
                    r.wrong_accepted,
                    r.failed,
                    r.overhead,
                    r.slowdown(),
                    r.lost_to_churn,
                    r.reopened,
                    r.accepted_alone,
                    r.checks_failed
                );
                assert_eq!(r.accepted + r.failed, r.units, "{}: decided", cfg.label());
                assert!(r.lost_to_churn > 0, "churn cut units short");
                assert!(r.slowdown() > 1.0);
                rows.push((cfg, r.clone()));
            }
            assert!(
                adaptive.overhead < plain.overhead,
                "adaptive costs less: {} vs {}",
                adaptive.overhead,
                plain.overhead
            );
            if independent > 0.0 {
                assert_eq!(plain.wrong_accepted, 0);
                assert_eq!(adaptive.wrong_accepted, 0);
            }
            if colluding > 0.0 {
                assert!(
                    plain.wrong_accepted > 0,
                    "voting alone lets colluders through"
                );
                assert!(adaptive.wrong_accepted < plain.wrong_accepted);
            }
        }
        assert!(rows[0].1.failed == 0 && rows[0].1.wrong_accepted == 0);
    }

    #[test]
    fn a_seed_fixes_the_run() {
        let cfg = ComputeConfig {
            workers: 50,
            units: 500,
            ..small(true, 0.1, 0.1)
        };
        let a = run(&cfg);
        assert_eq!(a, run(&cfg));
        let b = run(&ComputeConfig { seed: 4, ..cfg });
        assert_ne!(a.trace_hash, b.trace_hash);
    }
}
