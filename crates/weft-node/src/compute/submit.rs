//! A job from a module file and a folder of inputs: read, checked (WebAssembly that follows
//! the ABI, sizes, replicas and quorum), stored, and handed to the coordinator engine.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use weft_compute::job::{
    Abi, JobId, JobSpec, Limits, MAX_INPUT_BYTES, MAX_MODULE_BYTES, MAX_UNITS, UnitSpec,
};
use weft_core::id::Key256;

use super::{Compute, db, unix_now};

/// What `POST /v0/compute/jobs` takes.
#[derive(Clone, Debug, Deserialize)]
pub struct SubmitRequest {
    /// Absolute path of the WebAssembly module.
    pub module: PathBuf,
    /// Absolute path of a folder whose files are the units' inputs, one unit per file.
    pub inputs: PathBuf,
    /// R.
    pub replicas: u8,
    /// Q.
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
    pub wall_secs: Option<u64>,
}

fn read_limited(path: &Path, max: u64, what: &str) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{what} {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{what} {} is not a file", path.display()));
    }
    if meta.len() > max {
        return Err(format!(
            "{what} {} is {} bytes; at most {max} are allowed",
            path.display(),
            meta.len()
        ));
    }
    std::fs::read(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

/// Reads, checks and submits a job. Blocking.
///
/// # Errors
/// One line saying what is wrong and what to do.
pub fn submit(compute: &Compute, req: &SubmitRequest) -> Result<JobId, String> {
    let abi = match req.abi.as_deref() {
        None | Some("oneshot") => Abi::OneShot,
        Some("resumable") => Abi::Resumable,
        Some(other) => return Err(format!("abi '{other}' is not oneshot or resumable")),
    };
    if !req.module.exists() {
        return Err(format!("module {} does not exist", req.module.display()));
    }
    let module = read_limited(&req.module, MAX_MODULE_BYTES, "module")?;
    if !module.starts_with(b"\0asm") {
        return Err(format!(
            "{} is not WebAssembly (no \\0asm header); build it for wasm32 (see examples/compute/)",
            req.module.display()
        ));
    }
    let module_hash = Key256::hash(&module);
    compute
        .sandbox()
        .compile(&module_hash, &module, abi)
        .map_err(|e| format!("{}: {e}", req.module.display()))?;
    let dir = &req.inputs;
    let entries = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "inputs {}: {e}; give a folder of input files",
            dir.display()
        )
    })?;
    let mut files: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "inputs {} holds no files; put one input file per work unit in it",
            dir.display()
        ));
    }
    if files.len() > MAX_UNITS {
        return Err(format!(
            "inputs {} holds {} files; at most {MAX_UNITS} units per job",
            dir.display(),
            files.len()
        ));
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
    spec.check().map_err(|e| e.to_string())?;
    let names: Vec<String> = files.into_iter().map(|(n, _)| n).collect();
    let mut blobs: Vec<(Key256, &[u8])> = vec![(module_hash, &module)];
    blobs.extend(
        spec.units
            .iter()
            .zip(&inputs)
            .map(|(u, b)| (u.input, b.as_slice())),
    );
    db::insert_job(&mut compute.db(), &spec, &names, &blobs, unix_now())
        .map_err(|e| format!("cannot store the job: {e}"))?;
    let done = std::collections::BTreeMap::new();
    Ok(compute.with_engine(|e| e.add_job(spec, &done)))
}
