//! A job from a module file and a folder of inputs: read, checked (WebAssembly that follows
//! the ABI, sizes, replicas and quorum), stored, and handed to the coordinator engine.

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use weft_api::compute::SubmitRequest;
use weft_compute::job::{
    Abi, JobError, JobId, JobSpec, Limits, MAX_INPUT_BYTES, MAX_MODULE_BYTES, MAX_UNITS, UnitSpec,
};
use weft_core::id::Key256;

use super::{Compute, db, unix_now};
use crate::api::HttpError;

/// Why a job was not submitted: each one line saying what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// An ABI other than `oneshot` or `resumable`.
    #[error("abi '{0}' is not oneshot or resumable")]
    Abi(String),
    /// The module file is not there.
    #[error("module {} does not exist", .0.display())]
    NoModule(PathBuf),
    /// A module or input could not be read.
    #[error("{what} {}: {source}", path.display())]
    Read {
        /// `module` or `input`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A module or input that is not a file.
    #[error("{what} {} is not a file", path.display())]
    NotAFile {
        /// `module` or `input`.
        what: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// A module or input over its limit.
    #[error("{what} {} is {size} bytes; at most {max} are allowed", path.display())]
    TooLarge {
        /// `module` or `input`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The module has no WebAssembly header.
    #[error(
        "{} is not WebAssembly (no \\0asm header); build it for wasm32 (see examples/compute/)",
        .0.display()
    )]
    NotWasm(PathBuf),
    /// The module does not compile or breaks the ABI.
    #[error("{}: {error}", path.display())]
    Compile {
        /// The module.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// The inputs folder cannot be read.
    #[error("inputs {}: {source}; give a folder of input files", path.display())]
    Inputs {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The inputs folder holds no files.
    #[error("inputs {} holds no files; put one input file per work unit in it", .0.display())]
    NoInputs(PathBuf),
    /// More inputs than units a job may have.
    #[error("inputs {} holds {count} files; at most {MAX_UNITS} units per job", path.display())]
    TooManyInputs {
        /// The folder.
        path: PathBuf,
        /// Files in it.
        count: usize,
    },
    /// Replicas, quorum or limits out of range.
    #[error(transparent)]
    Spec(#[from] JobError),
    /// The job could not be stored.
    #[error("cannot store the job: {0}")]
    Store(#[from] weft_store::rusqlite::Error),
}

impl HttpError for SubmitError {
    fn status(&self) -> StatusCode {
        match self {
            SubmitError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

fn read_limited(path: &Path, max: u64, what: &'static str) -> Result<Vec<u8>, SubmitError> {
    let read = |source| SubmitError::Read {
        what,
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read)?;
    if !meta.is_file() {
        return Err(SubmitError::NotAFile {
            what,
            path: path.to_path_buf(),
        });
    }
    if meta.len() > max {
        return Err(SubmitError::TooLarge {
            what,
            path: path.to_path_buf(),
            size: meta.len(),
            max,
        });
    }
    std::fs::read(path).map_err(read)
}

/// Reads, checks and submits a job. Blocking.
///
/// # Errors
/// [`SubmitError`]: what is wrong and what to do.
pub fn submit(compute: &Compute, req: &SubmitRequest) -> Result<JobId, SubmitError> {
    let abi = match req.abi.as_deref() {
        None | Some("oneshot") => Abi::OneShot,
        Some("resumable") => Abi::Resumable,
        Some(other) => return Err(SubmitError::Abi(other.to_string())),
    };
    if !req.module.exists() {
        return Err(SubmitError::NoModule(req.module.clone()));
    }
    let module = read_limited(&req.module, MAX_MODULE_BYTES, "module")?;
    if !module.starts_with(b"\0asm") {
        return Err(SubmitError::NotWasm(req.module.clone()));
    }
    let module_hash = Key256::hash(&module);
    compute
        .sandbox()
        .compile(&module_hash, &module, abi)
        .map_err(|e| SubmitError::Compile {
            path: req.module.clone(),
            error: e.to_string(),
        })?;
    let dir = &req.inputs;
    let entries = std::fs::read_dir(dir).map_err(|source| SubmitError::Inputs {
        path: dir.clone(),
        source,
    })?;
    let mut files: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(SubmitError::NoInputs(dir.clone()));
    }
    if files.len() > MAX_UNITS {
        return Err(SubmitError::TooManyInputs {
            path: dir.clone(),
            count: files.len(),
        });
    }
    let mut inputs = Vec::with_capacity(files.len());
    for (_, path) in &files {
        inputs.push(read_limited(path, MAX_INPUT_BYTES, "input")?);
    }
    let d = Limits::default();
    let spec = JobSpec {
        module: module_hash,
        module_size: module.len() as u64,
        abi,
        units: inputs
            .iter()
            .map(|b| UnitSpec {
                input: Key256::hash(b),
                size: b.len() as u64,
            })
            .collect(),
        replicas: req.replicas,
        quorum: req.quorum,
        max_replicas: req.max_replicas.unwrap_or(
            req.replicas
                .saturating_add(2)
                .min(weft_compute::job::MAX_REPLICAS),
        ),
        deadline_ms: req.deadline_secs.unwrap_or(60).saturating_mul(1000),
        limits: Limits {
            fuel: req.fuel.unwrap_or(d.fuel),
            memory_bytes: req
                .memory_mib
                .map_or(d.memory_bytes, |m| m.saturating_mul(1 << 20)),
            output_bytes: req
                .output_kib
                .map_or(d.output_bytes, |k| k.saturating_mul(1024)),
            wall_ms: req.wall_secs.map_or(d.wall_ms, |s| s.saturating_mul(1000)),
        },
        nonce: rand::random(),
    };
    spec.check()?;
    let names: Vec<String> = files.into_iter().map(|(n, _)| n).collect();
    let mut blobs: Vec<(Key256, &[u8])> = vec![(module_hash, &module)];
    blobs.extend(
        spec.units
            .iter()
            .zip(&inputs)
            .map(|(u, b)| (u.input, b.as_slice())),
    );
    db::insert_job(&mut compute.db(), &spec, &names, &blobs, unix_now())?;
    let done = std::collections::BTreeMap::new();
    Ok(compute.with_engine(|e| e.add_job(spec, &done)))
}
