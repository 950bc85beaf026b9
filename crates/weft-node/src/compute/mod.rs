//! Distributed computing in the node: the I/O around `weft-compute`'s engines and
//! `weft-sandbox`.
//!
//! - [`db`]: jobs, blobs, decided units, outputs waiting for a quorum, worker standing and
//!   what this node lent, in the node's SQLite database (so a killed coordinator resumes);
//! - [`submit`]: a job from a module file and a folder of inputs, checked with clear errors;
//! - [`server`]: `/weft/compute/1` on the coordinator side: workers ask for work, fetch the
//!   module and inputs (content-addressed, checked by hash on arrival) and report results;
//! - [`worker`]: `weft up --worker`: asks peers that speak `/weft/compute/1` for work while
//!   cores are idle, runs units in the sandbox on a pool of the lent cores, reports;
//! - [`routes`]: the HTTP API under `/v0/compute/`.
//!
//! The coordinator engine runs under one lock; every change it makes is written to the
//! database before the peer that caused it is answered.

pub mod db;
pub mod routes;
pub mod server;
pub mod submit;
pub mod worker;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tracing::warn;
use weft_api::compute::JobState;
use weft_compute::coordinator::{Config, Coordinator, Event};
use weft_compute::outcome::Outcome;
use weft_core::time::Time;
use weft_net::{NetEvent, NetHandle, PeerId};
use weft_sandbox::Sandbox;
use weft_store::rusqlite::Connection;

pub use db::MIGRATIONS;

/// Tables of distributed computing, in order.
pub fn migrations() -> Vec<weft_store::Migration> {
    MIGRATIONS.to_vec()
}

/// How `weft up` lends CPU.
#[derive(Clone, Copy, Debug, Default)]
pub struct WorkerOptions {
    /// Run units for other peers.
    pub enabled: bool,
    /// Cores lent [default: all but one, at least one].
    pub cores: Option<usize>,
}

impl WorkerOptions {
    /// The cores lent.
    pub fn cores(&self) -> usize {
        self.cores.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get().saturating_sub(1))
                .unwrap_or(1)
                .max(1)
        })
    }
}

/// Why the compute service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    /// The database could not be read.
    #[error("cannot open the compute tables: {0}")]
    Db(#[from] weft_store::rusqlite::Error),
    /// The protocol is served already.
    #[error("protocol /weft/compute/1 is already registered")]
    AlreadyRegistered,
    /// The sandbox could not start.
    #[error("cannot start the WebAssembly sandbox: {0}")]
    Sandbox(String),
}

/// The compute service of a node. Cheap to clone.
#[derive(Clone)]
pub struct Compute {
    inner: Arc<Inner>,
}

struct Inner {
    db: Mutex<Connection>,
    net: NetHandle,
    origin: Instant,
    engine: Mutex<Coordinator<PeerId>>,
    /// Woken when the engine's next deadline may have moved.
    rearm: Notify,
    sandbox: Arc<Sandbox>,
    worker: Option<worker::Handle>,
}

impl Compute {
    /// Starts the service: reloads running jobs and worker standing, serves `/weft/compute/1`,
    /// runs the coordinator's timer and, with `opts.enabled`, the worker.
    ///
    /// # Errors
    /// [`ComputeError`] if the database, the protocol or the sandbox cannot be set up.
    pub fn start(
        db_path: &Path,
        net: NetHandle,
        opts: WorkerOptions,
    ) -> Result<Compute, ComputeError> {
        let conn = crate::db::open(db_path)?;
        let mut engine = Coordinator::new(Config::default());
        for (peer, standing) in db::standings(&conn)? {
            if let Ok(peer) = peer.parse::<PeerId>() {
                engine.restore_standing(peer, standing);
            }
        }
        for job in db::jobs(&conn)?
            .into_iter()
            .filter(|j| j.state == JobState::Running)
        {
            let id = job.spec.id();
            let done: BTreeMap<u32, Option<Outcome>> = db::units(&conn, &id)?
                .into_iter()
                .map(|u| (u.unit, u.outcome))
                .collect();
            engine.add_job(job.spec, &done);
        }
        let sandbox = Sandbox::new().map_err(|e| ComputeError::Sandbox(e.to_string()))?;
        let worker = if opts.enabled {
            Some(
                worker::Handle::start(opts.cores())
                    .map_err(|e| ComputeError::Sandbox(e.to_string()))?,
            )
        } else {
            None
        };
        let compute = Compute {
            inner: Arc::new(Inner {
                db: Mutex::new(conn),
                net,
                origin: Instant::now(),
                engine: Mutex::new(engine),
                rearm: Notify::new(),
                sandbox,
                worker,
            }),
        };
        // jobs reloaded complete may have events waiting (JobDone)
        compute.with_engine(|_| ());
        server::spawn(compute.clone())?;
        spawn_timer(compute.clone());
        if let Some(w) = &compute.inner.worker {
            w.run(compute.clone());
        }
        Ok(compute)
    }

    /// Tells the worker which peers speak `/weft/compute/1` (from identify) and which left.
    pub fn observe(&self, event: &NetEvent) {
        let Some(w) = &self.inner.worker else { return };
        match event {
            NetEvent::Identified {
                peer, protocols, ..
            } if protocols
                .iter()
                .any(|p| p.as_ref() == weft_compute::wire::PROTOCOL) =>
            {
                w.send(worker::Msg::Speaks(*peer));
            }
            NetEvent::Disconnected { peer } => w.send(worker::Msg::Gone(*peer)),
            _ => {}
        }
    }

    /// Protocol time: microseconds since the service started.
    pub(crate) fn now(&self) -> Time {
        Time::from_micros(
            u64::try_from(self.inner.origin.elapsed().as_micros()).unwrap_or(u64::MAX),
        )
    }

    pub(crate) fn db(&self) -> MutexGuard<'_, Connection> {
        self.inner.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn net(&self) -> &NetHandle {
        &self.inner.net
    }

    pub(crate) fn sandbox(&self) -> &Arc<Sandbox> {
        &self.inner.sandbox
    }

    pub(crate) fn worker(&self) -> Option<&worker::Handle> {
        self.inner.worker.as_ref()
    }

    /// Runs `f` on the engine, then writes what it decided to the database (before the caller
    /// answers anyone) and re-arms the timer. Blocking: call from a blocking task.
    pub(crate) fn with_engine<R>(&self, f: impl FnOnce(&mut Coordinator<PeerId>) -> R) -> R {
        let mut engine = self.inner.engine.lock().unwrap_or_else(|p| p.into_inner());
        let r = f(&mut engine);
        let events: Vec<Event<PeerId>> = std::iter::from_fn(|| engine.poll_event()).collect();
        if !events.is_empty() {
            let conn = self.db();
            if let Err(e) = persist(&conn, &engine, &events) {
                warn!("compute: cannot record results: {e}");
            }
        }
        drop(engine);
        self.inner.rearm.notify_one();
        r
    }
}

fn persist(
    conn: &Connection,
    engine: &Coordinator<PeerId>,
    events: &[Event<PeerId>],
) -> weft_store::rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let r = (|| {
        let mut touched = std::collections::BTreeSet::new();
        for e in events {
            match e {
                Event::Accepted {
                    job,
                    unit,
                    outcome,
                    workers,
                } => {
                    db::decide_unit(conn, job, *unit, Some(outcome))?;
                    touched.extend(workers.iter().copied());
                }
                Event::Failed { job, unit } => db::decide_unit(conn, job, *unit, None)?,
                Event::Wrong { worker, .. } | Event::Lapsed { worker, .. } => {
                    touched.insert(*worker);
                }
                Event::JobDone { job } => db::set_state(conn, job, JobState::Done)?,
            }
        }
        for (peer, s) in engine.workers().filter(|(p, _)| touched.contains(*p)) {
            db::save_standing(conn, &peer.to_string(), s)?;
        }
        Ok(())
    })();
    match r {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Expires lapsed replicas at their deadlines.
fn spawn_timer(compute: Compute) {
    tokio::spawn(async move {
        loop {
            let next = {
                let engine = compute
                    .inner
                    .engine
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                engine.poll_timeout()
            };
            let wait = next.map_or(Duration::from_secs(3600), |t| {
                t.saturating_since(compute.now())
            });
            tokio::select! {
                _ = tokio::time::sleep(wait) => {
                    let c = compute.clone();
                    let now = c.now();
                    let _ = tokio::task::spawn_blocking(move || c.with_engine(|e| e.handle_timeout(now))).await;
                }
                _ = compute.inner.rearm.notified() => {}
            }
        }
    });
}

/// Unix seconds now.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
