//! `weft compute`: submit jobs to the node (which coordinates them), follow them, collect
//! their results, and show workers and credit.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use weft_api::client::Method;

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
    let body = json!({
        "module": absolute(&a.module)?,
        "inputs": absolute(&a.inputs)?,
        "replicas": a.replicas,
        "quorum": a.quorum,
        "max_replicas": a.max_replicas,
        "abi": a.abi,
        "deadline_secs": a.deadline,
        "fuel": a.fuel,
        "memory_mib": a.memory,
        "output_kib": a.output_limit,
    });
    let answer: Value = c.send_json(Method::POST, "/v0/compute/jobs", &body).await?;
    let job = answer
        .get("job")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !a.wait {
        if a.json {
            outln!("{answer}")?;
        } else {
            outln!("{job}")?;
        }
        return Ok(());
    }
    loop {
        let s: Value = c.get(&format!("/v0/compute/jobs/{job}")).await?;
        if !a.json {
            crate::output::note(format_args!("{}", progress_line(&s)));
        }
        if s.get("state").and_then(Value::as_str) != Some("running") {
            if a.json {
                outln!("{s}")?;
            } else {
                outln!("{job}")?;
            }
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

fn num(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

fn progress_line(s: &Value) -> String {
    let units = num(s, "units").max(1);
    let accepted = num(s, "accepted");
    let width = 30;
    let filled = usize::try_from(accepted * width / units).unwrap_or(0);
    let bar = format!(
        "{}{}",
        "#".repeat(filled),
        "-".repeat(usize::try_from(width).unwrap_or(30).saturating_sub(filled))
    );
    format!(
        "{} [{bar}] {}/{} validated, {} failed, {} running, {} waiting  R={} Q={}  {}",
        s.get("job")
            .and_then(Value::as_str)
            .map_or("", |j| &j[..j.len().min(12)]),
        accepted,
        num(s, "units"),
        num(s, "failed"),
        num(s, "running"),
        num(s, "waiting"),
        num(s, "replicas"),
        num(s, "quorum"),
        s.get("state").and_then(Value::as_str).unwrap_or("?"),
    )
}

async fn status(home: &Path, job: Option<&str>, json: bool) -> anyhow::Result<()> {
    let job = job.map(job_id).transpose()?;
    let c = client(home)?;
    match job {
        Some(j) => {
            let s: Value = c.get(&format!("/v0/compute/jobs/{j}")).await?;
            if json {
                outln!("{s}")?;
            } else {
                outln!("{}", progress_line(&s))?;
            }
        }
        None => {
            let all: Value = c.get("/v0/compute/jobs").await?;
            if json {
                outln!("{all}")?;
                return Ok(());
            }
            let jobs = all
                .get("jobs")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if jobs.is_empty() {
                outln!("no jobs; submit one with `weft compute submit MODULE.wasm --inputs DIR`")?;
            }
            for s in &jobs {
                outln!("{}", progress_line(s))?;
            }
        }
    }
    Ok(())
}

async fn results(home: &Path, job: &str, out: &Path, json: bool) -> anyhow::Result<()> {
    let id = job_id(job)?;
    if out.exists() && !out.is_dir() {
        bail!("{} is not a folder; give a folder with -o", out.display());
    }
    let c = client(home)?;
    let r: Value = c.get(&format!("/v0/compute/jobs/{id}/results")).await?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let units = r
        .get("units")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut summary = Vec::new();
    let (mut written, mut open, mut failed) = (0, 0, 0);
    for u in &units {
        let name = u.get("name").and_then(Value::as_str).unwrap_or("unit");
        // an input's file name, never a path
        let safe: String = name
            .chars()
            .map(|ch| if ch == '/' || ch == '\\' { '_' } else { ch })
            .collect();
        match u.get("state").and_then(Value::as_str) {
            Some("accepted") => {
                let bytes = hex::decode(u.get("output").and_then(Value::as_str).unwrap_or(""))
                    .context("the node sent an output that is not hex")?;
                let path = out.join(format!("{safe}.out"));
                std::fs::write(&path, bytes)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                written += 1;
            }
            Some("open") => open += 1,
            _ => failed += 1,
        }
        let mut entry = u.clone();
        if let Some(o) = entry.as_object_mut() {
            o.remove("output");
        }
        summary.push(entry);
    }
    let summary = json!({
        "job": id,
        "state": r.get("state"),
        "written": written,
        "open": open,
        "failed": failed,
        "units": summary,
    });
    let path = out.join("summary.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    if json {
        outln!("{summary}")?;
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
    let c = client(home)?;
    let r: Value = c
        .send_json(
            Method::DELETE,
            &format!("/v0/compute/jobs/{id}"),
            &json!({}),
        )
        .await?;
    if json {
        outln!("{r}")?;
    } else {
        outln!(
            "job {id}: {}",
            r.get("state").and_then(Value::as_str).unwrap_or("?")
        )?;
    }
    Ok(())
}

async fn workers(home: &Path, json: bool) -> anyhow::Result<()> {
    let c = client(home)?;
    let r: Value = c.get("/v0/compute/workers").await?;
    if json {
        outln!("{r}")?;
        return Ok(());
    }
    match r.get("lending") {
        Some(l) if !l.is_null() => outln!(
            "this node lends {} cores, {} units running",
            num(l, "cores"),
            num(l, "running")
        )?,
        _ => outln!("this node lends no CPU (start it with `weft up --worker`)")?,
    }
    let list = r
        .get("workers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if list.is_empty() {
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
    for w in &list {
        let banned = if w.get("banned").and_then(Value::as_bool) == Some(true) {
            "  (no more work: wrong results)"
        } else {
            ""
        };
        outln!(
            "{:<54} {:>9} {:>6} {:>6} {:>7} {:>7} {:>14}{banned}",
            w.get("peer").and_then(Value::as_str).unwrap_or("?"),
            num(w, "validated"),
            num(w, "wrong"),
            num(w, "lapsed"),
            num(w, "gave_up"),
            num(w, "running"),
            num(w, "credit"),
        )?;
    }
    Ok(())
}

async fn credit(home: &Path, json: bool) -> anyhow::Result<()> {
    let c = client(home)?;
    let r: Value = c.get("/v0/compute/credit").await?;
    if json {
        outln!("{r}")?;
        return Ok(());
    }
    outln!("granted (validated fuel per worker, for this node's jobs):")?;
    for g in r
        .get("granted")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        outln!(
            "  {:<54} {:>14} fuel  {:>6} units",
            g.get("peer").and_then(Value::as_str).unwrap_or("?"),
            num(&g, "credit"),
            num(&g, "validated")
        )?;
    }
    outln!("lent (units this node ran and the coordinator took; not yet validated receipts):")?;
    for l in r
        .get("lent")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        outln!(
            "  {:<54} {:>14} fuel  {:>6} units  {:>8} ms",
            l.get("coordinator").and_then(Value::as_str).unwrap_or("?"),
            num(&l, "fuel"),
            num(&l, "units"),
            num(&l, "busy_ms")
        )?;
    }
    Ok(())
}
