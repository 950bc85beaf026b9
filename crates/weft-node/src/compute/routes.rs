//! The compute part of the HTTP API.
//!
//! | route | what |
//! |---|---|
//! | `POST /v0/compute/jobs` `{"module","inputs","replicas","quorum",…}` | submit a job (absolute paths); answers `{"job"}` |
//! | `GET /v0/compute/jobs` | every job with its progress |
//! | `GET /v0/compute/jobs/{job}` | one job's progress |
//! | `DELETE /v0/compute/jobs/{job}` | cancel a job |
//! | `GET /v0/compute/jobs/{job}/results` | each unit's state, outcome and output (hex) |
//! | `GET /v0/compute/workers` | this node's lending, and the workers that ran units for it |
//! | `GET /v0/compute/credit` | validated fuel granted per worker, and what this node lent |

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use weft_api::compute::{
    Cancelled, Credit, Granted, JobProgress, JobResults, JobState, Jobs, Lending, Lent,
    SubmitRequest, Submitted, UnitFailure, UnitResult, UnitState, Worker, Workers,
};
use weft_compute::job::JobId;
use weft_compute::outcome::{Failure, Outcome};

use super::{Compute, db};
use crate::api::{ApiError, HttpError, blocking};

/// `POST` (submit) and `GET` (list): jobs.
pub const ROUTE_JOBS: &str = "/v0/compute/jobs";
/// `GET` (progress) and `DELETE` (cancel): one job.
pub const ROUTE_JOB: &str = "/v0/compute/jobs/{job}";
/// `GET`: a job's results.
pub const ROUTE_RESULTS: &str = "/v0/compute/jobs/{job}/results";
/// `GET`: workers.
pub const ROUTE_WORKERS: &str = "/v0/compute/workers";
/// `GET`: credit.
pub const ROUTE_CREDIT: &str = "/v0/compute/credit";

/// The compute routes as `(method, path)`.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", ROUTE_JOBS),
    ("get", ROUTE_JOBS),
    ("get", ROUTE_JOB),
    ("delete", ROUTE_JOB),
    ("get", ROUTE_RESULTS),
    ("get", ROUTE_WORKERS),
    ("get", ROUTE_CREDIT),
];

/// Why a compute route failed (submissions fail with [`super::submit::SubmitError`]).
#[derive(Debug, thiserror::Error)]
pub enum ComputeRouteError {
    /// Not 64 hex digits.
    #[error("'{0}' is not a job id (64 hex digits)")]
    BadJobId(String),
    /// No such job here.
    #[error("no job {0} on this node; `weft compute status` lists them")]
    UnknownJob(JobId),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] weft_store::rusqlite::Error),
}

impl HttpError for ComputeRouteError {
    fn status(&self) -> StatusCode {
        match self {
            ComputeRouteError::BadJobId(_) => StatusCode::BAD_REQUEST,
            ComputeRouteError::UnknownJob(_) => StatusCode::NOT_FOUND,
            ComputeRouteError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl Compute {
    /// The compute routes over this service, to merge into the API router.
    pub fn router(&self) -> Router {
        Router::new()
            .route(ROUTE_JOBS, get(list).post(submit))
            .route(ROUTE_JOB, get(status).delete(cancel))
            .route(ROUTE_RESULTS, get(results))
            .route(ROUTE_WORKERS, get(workers))
            .route(ROUTE_CREDIT, get(credit))
            .with_state(self.clone())
    }
}

fn parse_job(s: &str) -> Result<JobId, ComputeRouteError> {
    s.parse()
        .map(JobId)
        .map_err(|_| ComputeRouteError::BadJobId(s.to_string()))
}

async fn submit(
    State(c): State<Compute>,
    Json(req): Json<SubmitRequest>,
) -> Result<Json<Submitted>, ApiError> {
    let job = blocking(move || super::submit::submit(&c, &req)).await??;
    Ok(Json(Submitted {
        job: job.to_string(),
    }))
}

/// A job's progress, `None` if unknown.
fn progress(c: &Compute, id: &JobId) -> Result<Option<JobProgress>, ComputeRouteError> {
    let Some(job) = db::job(&c.db(), id)? else {
        return Ok(None);
    };
    let units = db::units(&c.db(), id)?;
    let accepted = units.iter().filter(|u| u.outcome.is_some()).count() as u64;
    let failed = units.len() as u64 - accepted;
    let live = c.with_engine(|e| e.progress(id));
    let (running, waiting) = match (live, job.state) {
        (Some(p), JobState::Running) => (p.running as u64, p.waiting as u64),
        _ => (0, 0),
    };
    Ok(Some(JobProgress {
        job: id.to_string(),
        state: job.state,
        units: job.spec.units.len() as u64,
        accepted,
        failed,
        running,
        waiting,
        replicas: job.spec.replicas,
        quorum: job.spec.quorum,
        module: job.spec.module.to_string(),
    }))
}

async fn list(State(c): State<Compute>) -> Result<Json<Jobs>, ApiError> {
    let jobs = blocking(move || -> Result<Vec<JobProgress>, ComputeRouteError> {
        let mut out = Vec::new();
        for j in db::jobs(&c.db())? {
            if let Some(p) = progress(&c, &j.spec.id())? {
                out.push(p);
            }
        }
        Ok(out)
    })
    .await??;
    Ok(Json(Jobs { jobs }))
}

async fn status(
    State(c): State<Compute>,
    Path(job): Path<String>,
) -> Result<Json<JobProgress>, ApiError> {
    let id = parse_job(&job)?;
    let p = blocking(move || progress(&c, &id)).await??;
    Ok(Json(p.ok_or(ComputeRouteError::UnknownJob(id))?))
}

async fn cancel(
    State(c): State<Compute>,
    Path(job): Path<String>,
) -> Result<Json<Cancelled>, ApiError> {
    let id = parse_job(&job)?;
    let state = blocking(move || -> Result<JobState, ComputeRouteError> {
        let job = db::job(&c.db(), &id)?.ok_or(ComputeRouteError::UnknownJob(id))?;
        if job.state != JobState::Running {
            return Ok(job.state);
        }
        c.with_engine(|e| e.cancel(&id));
        db::set_state(&c.db(), &id, JobState::Cancelled)?;
        Ok(JobState::Cancelled)
    })
    .await??;
    Ok(Json(Cancelled {
        job: id.to_string(),
        state,
    }))
}

fn failure(f: Failure) -> UnitFailure {
    match f {
        Failure::Trap => UnitFailure::Trap,
        Failure::OutOfFuel => UnitFailure::OutOfFuel,
        Failure::OutputTooLarge => UnitFailure::OutputTooLarge,
        Failure::BadModule => UnitFailure::BadModule,
    }
}

fn unit_result(unit: u64, name: String, stored: Option<db::StoredUnit>) -> UnitResult {
    let mut r = UnitResult {
        unit,
        name,
        state: UnitState::Open,
        failure: None,
        fuel: None,
        hash: None,
        output: None,
    };
    match stored {
        None => {}
        Some(db::StoredUnit { outcome: None, .. }) => r.state = UnitState::NoQuorum,
        Some(db::StoredUnit {
            outcome: Some(Outcome::Failed { failure: f, fuel }),
            ..
        }) => {
            r.state = UnitState::Failed;
            r.failure = Some(failure(f));
            r.fuel = Some(fuel);
        }
        Some(db::StoredUnit {
            outcome: Some(Outcome::Output { hash, fuel }),
            output,
            ..
        }) => {
            r.state = UnitState::Accepted;
            r.hash = Some(hash.to_string());
            r.fuel = Some(fuel);
            r.output = Some(hex::encode(output.unwrap_or_default()));
        }
    }
    r
}

async fn results(
    State(c): State<Compute>,
    Path(job): Path<String>,
) -> Result<Json<JobResults>, ApiError> {
    let id = parse_job(&job)?;
    let r = blocking(move || -> Result<JobResults, ComputeRouteError> {
        let job = db::job(&c.db(), &id)?.ok_or(ComputeRouteError::UnknownJob(id))?;
        let mut decided: BTreeMap<u32, db::StoredUnit> = db::units(&c.db(), &id)?
            .into_iter()
            .map(|u| (u.unit, u))
            .collect();
        let units = job
            .names
            .into_iter()
            .enumerate()
            .map(|(i, name)| {
                let stored = u32::try_from(i).ok().and_then(|i| decided.remove(&i));
                unit_result(i as u64, name, stored)
            })
            .collect();
        Ok(JobResults {
            job: id.to_string(),
            state: job.state,
            units,
        })
    })
    .await??;
    Ok(Json(r))
}

async fn workers(State(c): State<Compute>) -> Result<Json<Workers>, ApiError> {
    let r = blocking(move || {
        let lending = c.worker().map(|w| Lending {
            cores: w.cores() as u64,
            running: w.running() as u64,
        });
        let workers = c.with_engine(|e| {
            e.workers()
                .map(|(peer, s)| Worker {
                    peer: peer.to_string(),
                    validated: s.validated,
                    wrong: u64::from(s.wrong),
                    lapsed: u64::from(s.lapsed),
                    gave_up: u64::from(s.gave_up),
                    credit: s.credit,
                    running: u64::from(s.running),
                    banned: e.is_banned(peer),
                })
                .collect()
        });
        Workers { lending, workers }
    })
    .await?;
    Ok(Json(r))
}

async fn credit(State(c): State<Compute>) -> Result<Json<Credit>, ApiError> {
    let r = blocking(move || -> Result<Credit, ComputeRouteError> {
        let mut granted: Vec<Granted> = c.with_engine(|e| {
            e.workers()
                .map(|(p, s)| Granted {
                    peer: p.to_string(),
                    credit: s.credit,
                    validated: s.validated,
                })
                .collect()
        });
        granted.sort_by(|a, b| b.credit.cmp(&a.credit).then(a.peer.cmp(&b.peer)));
        let lent = db::lent(&c.db())?
            .into_iter()
            .map(|(coordinator, units, fuel, busy_ms)| Lent {
                coordinator,
                units,
                fuel,
                busy_ms,
            })
            .collect();
        Ok(Credit { granted, lent })
    })
    .await??;
    Ok(Json(r))
}
