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

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use weft_compute::job::JobId;
use weft_compute::outcome::Outcome;

use super::submit::SubmitRequest;
use super::{Compute, db};
use crate::api::ApiState;

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

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({ "error": msg.into() }))).into_response()
}

/// The compute routes, to merge into the API router.
pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route(ROUTE_JOBS, get(list).post(submit))
        .route(ROUTE_JOB, get(status).delete(cancel))
        .route(ROUTE_RESULTS, get(results))
        .route(ROUTE_WORKERS, get(workers))
        .route(ROUTE_CREDIT, get(credit))
}

/// Runs `f` on a blocking thread; a panic in it is answered 500.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Box<Response>> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Box::new(error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())))
}

fn parse_job(s: &str) -> Result<JobId, Box<Response>> {
    s.parse().map(JobId).map_err(|_| {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            format!("'{s}' is not a job id (64 hex digits)"),
        ))
    })
}

async fn submit(State(s): State<Arc<ApiState>>, Json(req): Json<SubmitRequest>) -> Response {
    let c = s.compute.clone();
    match blocking(move || super::submit::submit(&c, &req)).await {
        Ok(Ok(job)) => Json(json!({ "job": job.to_string() })).into_response(),
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, e),
        Err(r) => *r,
    }
}

/// A job's progress as JSON, `None` if unknown.
fn progress(c: &Compute, id: &JobId) -> Result<Option<Value>, String> {
    let Some(job) = db::job(&c.db(), id).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let units = db::units(&c.db(), id).map_err(|e| e.to_string())?;
    let accepted = units.iter().filter(|u| u.outcome.is_some()).count();
    let failed = units.len() - accepted;
    let live = c.with_engine(|e| e.progress(id));
    let (running, waiting) = match (live, job.state.as_str()) {
        (Some(p), "running") => (p.running, p.waiting),
        _ => (0, 0),
    };
    Ok(Some(json!({
        "job": id.to_string(),
        "state": job.state,
        "units": job.spec.units.len(),
        "accepted": accepted,
        "failed": failed,
        "running": running,
        "waiting": waiting,
        "replicas": job.spec.replicas,
        "quorum": job.spec.quorum,
        "module": job.spec.module.to_string(),
    })))
}

async fn list(State(s): State<Arc<ApiState>>) -> Response {
    let c = s.compute.clone();
    let r = blocking(move || -> Result<Vec<Value>, String> {
        let jobs = db::jobs(&c.db()).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for j in jobs {
            if let Some(p) = progress(&c, &j.spec.id())? {
                out.push(p);
            }
        }
        Ok(out)
    })
    .await;
    match r {
        Ok(Ok(jobs)) => Json(json!({ "jobs": jobs })).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(r) => *r,
    }
}

fn unknown(id: &JobId) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no job {id} on this node; `weft compute status` lists them"),
    )
}

async fn status(State(s): State<Arc<ApiState>>, Path(job): Path<String>) -> Response {
    let id = match parse_job(&job) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let c = s.compute.clone();
    match blocking(move || progress(&c, &id)).await {
        Ok(Ok(Some(p))) => Json(p).into_response(),
        Ok(Ok(None)) => unknown(&id),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(r) => *r,
    }
}

async fn cancel(State(s): State<Arc<ApiState>>, Path(job): Path<String>) -> Response {
    let id = match parse_job(&job) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let c = s.compute.clone();
    let r = blocking(move || -> Result<Option<String>, String> {
        let Some(job) = db::job(&c.db(), &id).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        if job.state != "running" {
            return Ok(Some(job.state));
        }
        c.with_engine(|e| e.cancel(&id));
        db::set_state(&c.db(), &id, "cancelled").map_err(|e| e.to_string())?;
        Ok(Some("cancelled".into()))
    })
    .await;
    match r {
        Ok(Ok(Some(state))) => {
            Json(json!({ "job": id.to_string(), "state": state })).into_response()
        }
        Ok(Ok(None)) => unknown(&id),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(r) => *r,
    }
}

async fn results(State(s): State<Arc<ApiState>>, Path(job): Path<String>) -> Response {
    let id = match parse_job(&job) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let c = s.compute.clone();
    let r = blocking(move || -> Result<Option<Value>, String> {
        let Some(job) = db::job(&c.db(), &id).map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let mut decided: std::collections::BTreeMap<u32, db::StoredUnit> = db::units(&c.db(), &id)
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|u| (u.unit, u))
            .collect();
        let units: Vec<Value> = job
            .names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let u = u32::try_from(i).ok().and_then(|i| decided.remove(&i));
                match u {
                    None => json!({ "unit": i, "name": name, "state": "open" }),
                    Some(db::StoredUnit { outcome: None, .. }) => {
                        json!({ "unit": i, "name": name, "state": "no quorum" })
                    }
                    Some(db::StoredUnit {
                        outcome: Some(Outcome::Failed { failure, fuel }),
                        ..
                    }) => json!({ "unit": i, "name": name, "state": "failed",
                                   "failure": failure.as_str(), "fuel": fuel }),
                    Some(db::StoredUnit {
                        outcome: Some(Outcome::Output { hash, fuel }),
                        output,
                        ..
                    }) => json!({ "unit": i, "name": name, "state": "accepted",
                                   "hash": hash.to_string(), "fuel": fuel,
                                   "output": hex::encode(output.unwrap_or_default()) }),
                }
            })
            .collect();
        Ok(Some(
            json!({ "job": id.to_string(), "state": job.state, "units": units }),
        ))
    })
    .await;
    match r {
        Ok(Ok(Some(v))) => Json(v).into_response(),
        Ok(Ok(None)) => unknown(&id),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(r) => *r,
    }
}

async fn workers(State(s): State<Arc<ApiState>>) -> Response {
    let c = s.compute.clone();
    let r = blocking(move || {
        let lending = c
            .worker()
            .map(|w| json!({ "cores": w.cores(), "running": w.running() }));
        let workers: Vec<Value> = c.with_engine(|e| {
            e.workers()
                .map(|(peer, s)| {
                    json!({ "peer": peer.to_string(), "validated": s.validated, "wrong": s.wrong,
                            "lapsed": s.lapsed, "gave_up": s.gave_up, "credit": s.credit,
                            "running": s.running, "banned": e.is_banned(peer) })
                })
                .collect()
        });
        json!({ "lending": lending, "workers": workers })
    })
    .await;
    match r {
        Ok(v) => Json(v).into_response(),
        Err(r) => *r,
    }
}

async fn credit(State(s): State<Arc<ApiState>>) -> Response {
    let c = s.compute.clone();
    let r = blocking(move || -> Result<Value, String> {
        let mut granted: Vec<(String, u64, u64)> = c.with_engine(|e| {
            e.workers()
                .map(|(p, s)| (p.to_string(), s.credit, s.validated))
                .collect()
        });
        granted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let lent = db::lent(&c.db()).map_err(|e| e.to_string())?;
        Ok(json!({
            "granted": granted.iter().map(|(p, credit, validated)| json!({
                "peer": p, "credit": credit, "validated": validated })).collect::<Vec<_>>(),
            "lent": lent.iter().map(|(p, units, fuel, busy_ms)| json!({
                "coordinator": p, "units": units, "fuel": fuel, "busy_ms": busy_ms }))
                .collect::<Vec<_>>(),
        }))
    })
    .await;
    match r {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(r) => *r,
    }
}
