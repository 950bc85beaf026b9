//! Distributed computing: jobs (`POST`/`GET /v0/compute/jobs`, `GET`/`DELETE
//! /v0/compute/jobs/{job}`), their results (`GET /v0/compute/jobs/{job}/results`), workers
//! and credit.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What `POST /v0/compute/jobs` takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SubmitRequest {
    /// Absolute path of the WebAssembly module.
    pub module: PathBuf,
    /// Absolute path of a folder whose files are the units' inputs, one unit per file.
    pub inputs: PathBuf,
    /// R: replicas per unit.
    pub replicas: u8,
    /// Q: replicas that must agree.
    pub quorum: u8,
    /// Most replicas per unit with those added on disagreement [default: R + 2].
    pub max_replicas: Option<u8>,
    /// `oneshot` or `resumable` [default: oneshot].
    pub abi: Option<String>,
    /// Seconds a worker has per unit [default: 60].
    pub deadline_secs: Option<u64>,
    /// Fuel per unit [default: 10^10].
    pub fuel: Option<u64>,
    /// Memory per unit in MiB [default: 64].
    pub memory_mib: Option<u64>,
    /// Output limit per unit in KiB [default: 64].
    pub output_kib: Option<u32>,
    /// Wall-clock seconds per unit on one worker [default: 60].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_secs: Option<u64>,
}

/// Answer of `POST /v0/compute/jobs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Submitted {
    /// The job id (64 hex digits).
    pub job: String,
}

/// Where a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Units are being computed.
    Running,
    /// Every unit is decided.
    Done,
    /// Cancelled by its submitter.
    Cancelled,
}

impl JobState {
    /// The lowercase name the API uses (and the database keeps).
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<JobState> {
        match s {
            "running" => Some(JobState::Running),
            "done" => Some(JobState::Done),
            "cancelled" => Some(JobState::Cancelled),
            _ => None,
        }
    }
}

/// A job's progress (`GET /v0/compute/jobs/{job}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ComputeJob")]
pub struct JobProgress {
    /// The job id.
    pub job: String,
    /// Where it is.
    pub state: JobState,
    /// Work units.
    pub units: u64,
    /// Units whose result a quorum agreed on.
    pub accepted: u64,
    /// Units given up without a quorum.
    pub failed: u64,
    /// Replicas running now.
    pub running: u64,
    /// Open units with no replica running.
    pub waiting: u64,
    /// R.
    pub replicas: u8,
    /// Q.
    pub quorum: u8,
    /// The module's BLAKE3 hash.
    pub module: String,
}

/// `GET /v0/compute/jobs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ComputeJobs")]
pub struct Jobs {
    /// Every job on this node.
    pub jobs: Vec<JobProgress>,
}

/// Answer of `DELETE /v0/compute/jobs/{job}`: the job's state now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Cancelled {
    /// The job id.
    pub job: String,
    /// `cancelled`, or the state it had already reached.
    pub state: JobState,
}

/// Where a unit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum UnitState {
    /// Not decided yet.
    #[serde(rename = "open")]
    Open,
    /// Given up: the replicas never agreed.
    #[serde(rename = "no quorum")]
    NoQuorum,
    /// A quorum agreed that it fails.
    #[serde(rename = "failed")]
    Failed,
    /// A quorum agreed on its output.
    #[serde(rename = "accepted")]
    Accepted,
}

/// How an agreed failure failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum UnitFailure {
    /// The module trapped.
    #[serde(rename = "trap")]
    Trap,
    /// It ran out of fuel.
    #[serde(rename = "out of fuel")]
    OutOfFuel,
    /// Its output passed the limit.
    #[serde(rename = "output too large")]
    OutputTooLarge,
    /// The module breaks the ABI.
    #[serde(rename = "bad module")]
    BadModule,
}

/// One unit of `GET /v0/compute/jobs/{job}/results`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UnitResult {
    /// The unit's number.
    pub unit: u64,
    /// Its input file's name.
    pub name: String,
    /// Where it is.
    pub state: UnitState,
    /// How it failed (failed units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<UnitFailure>,
    /// Fuel the agreed run took (failed and accepted units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// The output's BLAKE3 hash (accepted units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// The output, hex (accepted units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// `GET /v0/compute/jobs/{job}/results`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ComputeResults")]
pub struct JobResults {
    /// The job id.
    pub job: String,
    /// Where it is.
    pub state: JobState,
    /// Every unit, by number.
    pub units: Vec<UnitResult>,
}

/// What this node lends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Lending {
    /// Cores lent.
    pub cores: u64,
    /// Units running now.
    pub running: u64,
}

/// A worker that ran units for this node's jobs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Worker {
    /// Its peer id.
    pub peer: String,
    /// Results a quorum agreed with.
    pub validated: u64,
    /// Results a quorum disagreed with.
    pub wrong: u64,
    /// Deadlines it let pass.
    pub lapsed: u64,
    /// Units it gave back.
    pub gave_up: u64,
    /// Validated fuel granted to it.
    pub credit: u64,
    /// Units it runs now.
    pub running: u64,
    /// Given no more work (wrong results).
    pub banned: bool,
}

/// `GET /v0/compute/workers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ComputeWorkers")]
pub struct Workers {
    /// This node's lending (`null` unless started with `--worker`).
    pub lending: Option<Lending>,
    /// The workers that ran units for it.
    pub workers: Vec<Worker>,
}

/// Validated fuel granted to one worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Granted {
    /// The worker's peer id.
    pub peer: String,
    /// Validated fuel.
    pub credit: u64,
    /// Validated units.
    pub validated: u64,
}

/// What this node ran for one coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Lent {
    /// The coordinator's peer id.
    pub coordinator: String,
    /// Units run and taken.
    pub units: u64,
    /// Fuel they took.
    pub fuel: u64,
    /// Time busy, ms.
    pub busy_ms: u64,
}

/// `GET /v0/compute/credit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "ComputeCredit")]
pub struct Credit {
    /// Per worker, most credit first.
    pub granted: Vec<Granted>,
    /// Per coordinator.
    pub lent: Vec<Lent>,
}
