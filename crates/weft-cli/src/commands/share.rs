//! `weft share`, `weft unshare`, `weft shared`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use weft_api::client::{ClientError, Method};

use super::client;
use crate::cli::{ShareArgs, SharedArgs, UnshareArgs};
use crate::output::outln;

/// Skipped paths `weft share` prints (the rest are counted; `--json` has up to 100).
const SKIPPED_SHOWN: usize = 10;

/// How long one status request waits for the job to end: the progress bar moves at least this
/// often, and the command returns as soon as the job ends (the node answers at once then).
const POLL: Duration = Duration::from_millis(100);

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    Ok(std::env::current_dir()
        .context("cannot read the current folder")?
        .join(p))
}

/// `weft share PATH...`.
pub async fn share(home: &Path, args: ShareArgs) -> anyhow::Result<()> {
    let mut paths = Vec::with_capacity(args.paths.len());
    for p in &args.paths {
        if std::fs::symlink_metadata(p).is_err() {
            bail!("{}: no such file or folder", p.display());
        }
        paths.push(absolute(p)?);
    }
    let c = client(home)?;
    let started: Value = c
        .send_json(Method::POST, "/v0/share", &json!({ "paths": paths }))
        .await?;
    let job = started.get("job").and_then(Value::as_u64).unwrap_or(0);
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0).with_style(
            ProgressStyle::with_template(
                "indexing {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    };
    let status_path = format!("/v0/share?job={job}&wait_ms={}", POLL.as_millis());
    let status = loop {
        let s: Value = c.get(&status_path).await?;
        let n = |k: &str| s.get(k).and_then(Value::as_u64).unwrap_or(0);
        if s.get("job").and_then(Value::as_u64) != Some(job) {
            // Another job took over the status; ours is queued or done.
            tokio::time::sleep(POLL).await;
            continue;
        }
        bar.set_length(n("bytes_total"));
        bar.set_position(n("bytes_done"));
        bar.set_message(format!("{}/{} files", n("files_done"), n("files_total")));
        // While it runs, the next request waits for the end itself.
        if let Some("done" | "failed") = s.get("state").and_then(Value::as_str) {
            break s;
        }
    };
    bar.finish_and_clear();
    if status.get("state").and_then(Value::as_str) == Some("failed") {
        let e = status.get("error").and_then(Value::as_str).unwrap_or("?");
        bail!("indexing failed: {e}");
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&status)?)?;
        return Ok(());
    }
    let n = |k: &str| status.get(k).and_then(Value::as_u64).unwrap_or(0);
    let list = |k: &str| {
        status
            .get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    // One line per file added, as `ipfs add` prints them: the hash to give a friend.
    let added = list("added");
    for a in &added {
        outln!("added {} {}", text(a, "hash"), text(a, "path"))?;
    }
    let more = n("added_count").saturating_sub(added.len() as u64);
    if more > 0 {
        outln!("... and {more} more; `weft shared --files` lists every file with its hash")?;
    }
    for line in list("root_changes") {
        outln!("{}", line.as_str().unwrap_or(""))?;
    }
    for root in list("refused_roots") {
        let root = root.as_str().unwrap_or("");
        outln!("{root}: in a weft data folder, which is never shared; no longer shared")?;
    }
    for root in list("missing_roots") {
        outln!(
            "{}: missing; shared again when it is back",
            root.as_str().unwrap_or("")
        )?;
    }
    outln!(
        "shared: {} files hashed, {} unchanged, {} removed, {} skipped",
        n("files_hashed"),
        n("files_unchanged"),
        n("files_removed"),
        n("skipped_count")
    )?;
    let skipped = list("skipped");
    if n("skipped_count") > 0 {
        outln!("skipped (see \"Sharing files\" in the README for the rules):")?;
        for k in skipped.iter().take(SKIPPED_SHOWN) {
            outln!("  {}: {}", text(k, "path"), text(k, "reason"))?;
        }
        let more = n("skipped_count").saturating_sub(SKIPPED_SHOWN.min(skipped.len()) as u64);
        if more > 0 {
            outln!("  ... and {more} more (`weft share --json` lists up to 100)")?;
        }
    }
    let unreadable = list("unreadable");
    if n("unreadable_count") > 0 {
        outln!("{} files could not be read:", n("unreadable_count"))?;
        for u in &unreadable {
            outln!("  {}: {}", text(u, "path"), text(u, "reason"))?;
        }
    }
    Ok(())
}

/// `weft unshare PATH`.
pub async fn unshare(home: &Path, args: UnshareArgs) -> anyhow::Result<()> {
    let path = absolute(&args.path)?;
    let c = client(home)?;
    let root: Value = match c
        .send_json(Method::DELETE, "/v0/share", &json!({ "path": path }))
        .await
    {
        Ok(v) => v,
        Err(ClientError::Api { status: 404, .. }) => {
            bail!(
                "{} is not shared; `weft shared` lists what is",
                path.display()
            )
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        outln!("{root}")?;
    } else {
        let n = root.get("files").and_then(Value::as_u64).unwrap_or(0);
        match root.get("handed_to").and_then(Value::as_str) {
            Some(holder) => outln!(
                "no longer sharing {} on its own; its {n} files stay shared as part of {holder}",
                path.display()
            )?,
            None => outln!("no longer sharing {} ({n} files)", path.display())?,
        }
    }
    Ok(())
}

/// `weft shared [--files]`.
pub async fn shared(home: &Path, args: SharedArgs) -> anyhow::Result<()> {
    if args.files {
        return shared_files(home, args.json).await;
    }
    let roots: Value = client(home)?.get("/v0/shared").await?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&roots)?)?;
        return Ok(());
    }
    let roots = roots.as_array().cloned().unwrap_or_default();
    if roots.is_empty() {
        outln!("nothing shared; share files with `weft share PATH...`")?;
    }
    for r in roots {
        let path = r.get("path").and_then(Value::as_str).unwrap_or("");
        if r.get("missing").and_then(Value::as_bool) == Some(true) {
            outln!("{path}  missing (shared again when it is back; `weft unshare` stops it)")?;
            continue;
        }
        let files = r.get("files").and_then(Value::as_u64).unwrap_or(0);
        let bytes = r.get("bytes").and_then(Value::as_u64).unwrap_or(0);
        outln!("{path}  {files} files  {}", indicatif::HumanBytes(bytes))?;
    }
    Ok(())
}

/// `weft shared --files`: every shared file, a page of the API at a time. With `json`, one
/// array of `{"hash", "size", "path"}`.
async fn shared_files(home: &Path, json: bool) -> anyhow::Result<()> {
    let c = client(home)?;
    let mut after = 0i64;
    let mut all = Vec::new();
    loop {
        let page: Value = c.get(&format!("/v0/shared/files?after={after}")).await?;
        let files = page
            .get("files")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for f in files {
            if json {
                all.push(f);
            } else {
                let s = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let size = f.get("size").and_then(Value::as_u64).unwrap_or(0);
                outln!(
                    "{} {:>10}  {}",
                    s("hash"),
                    indicatif::HumanBytes(size),
                    s("path")
                )?;
            }
        }
        match page.get("next_after").and_then(Value::as_i64) {
            Some(next) if next > after => after = next,
            _ => break,
        }
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&all)?)?;
    }
    Ok(())
}
