//! `weft compute`: submit jobs to the node (which coordinates them), follow them, collect
//! their results, and show workers and credit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use weft_api::compute::{JobProgress, JobState, SubmitRequest, UnitResult, UnitState};

use super::client;
use crate::cli::{ComputeCommand, SubmitArgs};
use crate::output::outln;

/// How often `submit --wait` polls.
const POLL: Duration = Duration::from_millis(200);

/// Runs a `weft compute` subcommand.
pub async fn run(home: &Path, cmd: ComputeCommand) -> anyhow::Result<()> {
    match cmd {
        ComputeCommand::Submit(a) => submit(home, a).await,
        ComputeCommand::Status { job, json } => status(home, job.as_deref(), json).await,
        ComputeCommand::Results { job, output, json } => results(home, &job, &output, json).await,
        ComputeCommand::Cancel { job, json } => cancel(home, &job, json).await,
        ComputeCommand::Workers(a) => workers(home, a.json).await,
        ComputeCommand::Credit(a) => credit(home, a.json).await,
    }
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()
            .context("cannot read the current folder")?
            .join(p))
    }
}

fn job_id(s: &str) -> anyhow::Result<String> {
    let id = s.to_ascii_lowercase();
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("'{s}' is not a job id (64 hex digits, as `weft compute submit` prints it)");
    }
    Ok(id)
}

/// What can be checked before asking the node, each with one clear line.
fn check_submit(a: &SubmitArgs) -> anyhow::Result<()> {
    if a.replicas == 0 {
        bail!("--replicas must be at least 1");
    }
    if a.quorum == 0 || a.quorum > a.replicas {
        bail!(
            "--quorum {} must be between 1 and --replicas ({})",
            a.quorum,
            a.replicas
        );
    }
    if !a.module.is_file() {
        bail!(
            "module {} does not exist or is not a file",
            a.module.display()
        );
    }
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(&a.module)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic));
    if read.is_err() || &magic != b"\0asm" {
        bail!(
            "{} is not a WebAssembly module; build it for wasm32 (examples/compute/build.sh)",
            a.module.display()
        );
    }
    if !a.inputs.is_dir() {
        bail!(
            "--inputs {} is not a folder; give a folder with one input file per unit",
            a.inputs.display()
        );
    }
    let has_file = std::fs::read_dir(&a.inputs)
        .with_context(|| format!("cannot read {}", a.inputs.display()))?
        .filter_map(Result::ok)
        .any(|e| e.file_type().is_ok_and(|t| t.is_file()));
    if !has_file {
        bail!(
            "--inputs {} holds no files; put one input file per work unit in it",
            a.inputs.display()
        );
    }
    if !matches!(a.abi.as_str(), "oneshot" | "resumable") {
        bail!("--abi '{}' is not oneshot or resumable", a.abi);
    }
    Ok(())
}

async fn submit(home: &Path, a: SubmitArgs) -> anyhow::Result<()> {
    check_submit(&a)?;
    let c = client(home)?;
    let body = SubmitRequest {
        module: absolute(&a.module)?,
        inputs: absolute(&a.inputs)?,
        replicas: a.replicas,
        quorum: a.quorum,
        max_replicas: a.max_replicas,
        abi: Some(a.abi.clone()),
        deadline_secs: Some(a.deadline),
        fuel: a.fuel,
        memory_mib: a.memory,
        output_kib: a.output_limit,
        wall_secs: None,
    };
    let answer = c.submit_job(&body).await?;
    let job = answer.job.clone();
    if !a.wait {
        if a.json {
            outln!("{}", serde_json::to_string(&answer)?)?;
        } else {
            outln!("{job}")?;
        }
        return Ok(());
    }
    loop {
        let s = c.job(&job).await?;
        if !a.json {
            crate::output::note(format_args!("{}", progress_line(&s)));
        }
        if s.state != JobState::Running {
            if a.json {
                outln!("{}", serde_json::to_string(&s)?)?;
            } else {
                outln!("{job}")?;
            }
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

fn progress_line(s: &JobProgress) -> String {
    let units = s.units.max(1);
    let width = 30;
    let filled = usize::try_from(s.accepted * width / units).unwrap_or(0);
    let bar = format!(
        "{}{}",
        "#".repeat(filled),
        "-".repeat(usize::try_from(width).unwrap_or(30).saturating_sub(filled))
    );
    format!(
        "{} [{bar}] {}/{} validated, {} failed, {} running, {} waiting  R={} Q={}  {}",
        &s.job[..s.job.len().min(12)],
        s.accepted,
        s.units,
        s.failed,
        s.running,
        s.waiting,
        s.replicas,
        s.quorum,
        s.state.as_str(),
    )
}

async fn status(home: &Path, job: Option<&str>, json: bool) -> anyhow::Result<()> {
    let job = job.map(job_id).transpose()?;
    let c = client(home)?;
    match job {
        Some(j) => {
            let s = c.job(&j).await?;
            if json {
                outln!("{}", serde_json::to_string(&s)?)?;
            } else {
                outln!("{}", progress_line(&s))?;
            }
        }
        None => {
            let all = c.jobs().await?;
            if json {
                outln!("{}", serde_json::to_string(&all)?)?;
                return Ok(());
            }
            if all.jobs.is_empty() {
                outln!("no jobs; submit one with `weft compute submit MODULE.wasm --inputs DIR`")?;
            }
            for s in &all.jobs {
                outln!("{}", progress_line(s))?;
            }
        }
    }
    Ok(())
}

/// What `weft compute results` writes to `summary.json` (and prints with `--json`).
#[derive(Serialize)]
struct Summary {
    job: String,
    state: JobState,
    written: u64,
    open: u64,
    failed: u64,
    /// Each unit as the node reported it, without its output (written to a file).
    units: Vec<UnitResult>,
}

async fn results(home: &Path, job: &str, out: &Path, json: bool) -> anyhow::Result<()> {
    let id = job_id(job)?;
    if out.exists() && !out.is_dir() {
        bail!("{} is not a folder; give a folder with -o", out.display());
    }
    let c = client(home)?;
    let r = c.job_results(&id).await?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut units = Vec::with_capacity(r.units.len());
    let (mut written, mut open, mut failed) = (0, 0, 0);
    for mut u in r.units {
        // an input's file name, never a path
        let safe: String = u
            .name
            .chars()
            .map(|ch| if ch == '/' || ch == '\\' { '_' } else { ch })
            .collect();
        match u.state {
            UnitState::Accepted => {
                let bytes = hex::decode(u.output.as_deref().unwrap_or(""))
                    .context("the node sent an output that is not hex")?;
                let path = out.join(format!("{safe}.out"));
                std::fs::write(&path, bytes)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                written += 1;
            }
            UnitState::Open => open += 1,
            UnitState::NoQuorum | UnitState::Failed => failed += 1,
        }
        u.output = None;
        units.push(u);
    }
    let summary = Summary {
        job: id,
        state: r.state,
        written,
        open,
        failed,
        units,
    };
    let path = out.join("summary.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    if json {
        outln!("{}", serde_json::to_string(&summary)?)?;
    } else {
        outln!(
            "{written} results written to {}, {open} units still open, {failed} failed; summary in summary.json",
            out.display()
        )?;
    }
    Ok(())
}

async fn cancel(home: &Path, job: &str, json: bool) -> anyhow::Result<()> {
    let id = job_id(job)?;
    let r = client(home)?.cancel_job(&id).await?;
    if json {
        outln!("{}", serde_json::to_string(&r)?)?;
    } else {
        outln!("job {id}: {}", r.state.as_str())?;
    }
    Ok(())
}

async fn workers(home: &Path, json: bool) -> anyhow::Result<()> {
    let r = client(home)?.workers().await?;
    if json {
        outln!("{}", serde_json::to_string(&r)?)?;
        return Ok(());
    }
    match r.lending {
        Some(l) => outln!(
            "this node lends {} cores, {} units running",
            l.cores,
            l.running
        )?,
        None => outln!("this node lends no CPU (start it with `weft up --worker`)")?,
    }
    if r.workers.is_empty() {
        return outln!("no worker has computed for this node yet").map_err(Into::into);
    }
    outln!(
        "{:<54} {:>9} {:>6} {:>6} {:>7} {:>7} {:>14}",
        "worker",
        "validated",
        "wrong",
        "lapsed",
        "gave up",
        "running",
        "credit (fuel)"
    )?;
    for w in &r.workers {
        let banned = if w.banned {
            "  (no more work: wrong results)"
        } else {
            ""
        };
        outln!(
            "{:<54} {:>9} {:>6} {:>6} {:>7} {:>7} {:>14}{banned}",
            w.peer,
            w.validated,
            w.wrong,
            w.lapsed,
            w.gave_up,
            w.running,
            w.credit,
        )?;
    }
    Ok(())
}

async fn credit(home: &Path, json: bool) -> anyhow::Result<()> {
    let r = client(home)?.credit().await?;
    if json {
        outln!("{}", serde_json::to_string(&r)?)?;
        return Ok(());
    }
    outln!("granted (validated fuel per worker, for this node's jobs):")?;
    for g in &r.granted {
        outln!(
            "  {:<54} {:>14} fuel  {:>6} units",
            g.peer,
            g.credit,
            g.validated
        )?;
    }
    outln!("lent (units this node ran and the coordinator took; not yet validated receipts):")?;
    for l in &r.lent {
        outln!(
            "  {:<54} {:>14} fuel  {:>6} units  {:>8} ms",
            l.coordinator,
            l.fuel,
            l.units,
            l.busy_ms
        )?;
    }
    Ok(())
}
