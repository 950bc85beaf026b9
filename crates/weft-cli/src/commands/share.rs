//! `weft share`, `weft unshare`, `weft shared`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use weft_api::client::ClientError;
use weft_api::share::{
    ShareJobState, ShareRequest, ShareStatusQuery, SharedFilesQuery, UnshareRequest,
};

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
    let job = c.share(&ShareRequest { paths }).await?.job;
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
    let query = ShareStatusQuery {
        job: Some(job),
        wait_ms: Some(POLL.as_millis() as u64),
    };
    let status = loop {
        let s = c.share_status(query).await?;
        if s.job != job {
            // Another job took over the status; ours is queued or done.
            tokio::time::sleep(POLL).await;
            continue;
        }
        bar.set_length(s.bytes_total);
        bar.set_position(s.bytes_done);
        bar.set_message(format!("{}/{} files", s.files_done, s.files_total));
        // While it runs, the next request waits for the end itself.
        if s.state.is_finished() {
            break s;
        }
    };
    bar.finish_and_clear();
    if status.state == ShareJobState::Failed {
        bail!(
            "indexing failed: {}",
            status.error.as_deref().unwrap_or("?")
        );
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&status)?)?;
        return Ok(());
    }
    // One line per file added, as `ipfs add` prints them: the hash to give a friend.
    for a in &status.added {
        outln!("added {} {}", a.hash, a.path)?;
    }
    let more = status.added_count.saturating_sub(status.added.len() as u64);
    if more > 0 {
        outln!("... and {more} more; `weft shared --files` lists every file with its hash")?;
    }
    for line in &status.root_changes {
        outln!("{line}")?;
    }
    for root in &status.refused_roots {
        outln!("{root}: in a weft data folder, which is never shared; no longer shared")?;
    }
    for root in &status.missing_roots {
        outln!("{root}: missing; shared again when it is back")?;
    }
    outln!(
        "shared: {} files hashed, {} unchanged, {} removed, {} skipped",
        status.files_hashed,
        status.files_unchanged,
        status.files_removed,
        status.skipped_count
    )?;
    if status.skipped_count > 0 {
        outln!("skipped (see \"Sharing files\" in the README for the rules):")?;
        for k in status.skipped.iter().take(SKIPPED_SHOWN) {
            outln!("  {}: {}", k.path, k.reason)?;
        }
        let shown = SKIPPED_SHOWN.min(status.skipped.len()) as u64;
        let more = status.skipped_count.saturating_sub(shown);
        if more > 0 {
            outln!("  ... and {more} more (`weft share --json` lists up to 100)")?;
        }
    }
    if status.unreadable_count > 0 {
        outln!("{} files could not be read:", status.unreadable_count)?;
        for u in &status.unreadable {
            outln!("  {}: {}", u.path, u.reason)?;
        }
    }
    Ok(())
}

/// `weft unshare PATH`.
pub async fn unshare(home: &Path, args: UnshareArgs) -> anyhow::Result<()> {
    let path = absolute(&args.path)?;
    let c = client(home)?;
    let root = match c.unshare(&UnshareRequest { path: path.clone() }).await {
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
        outln!("{}", serde_json::to_string(&root)?)?;
    } else {
        let n = root.root.files;
        match &root.handed_to {
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
    let roots = client(home)?.shared().await?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&roots)?)?;
        return Ok(());
    }
    if roots.is_empty() {
        outln!("nothing shared; share files with `weft share PATH...`")?;
    }
    for r in roots {
        if r.missing {
            outln!(
                "{}  missing (shared again when it is back; `weft unshare` stops it)",
                r.path
            )?;
            continue;
        }
        outln!(
            "{}  {} files  {}",
            r.path,
            r.files,
            indicatif::HumanBytes(r.bytes)
        )?;
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
        let page = c
            .shared_files(SharedFilesQuery {
                after: Some(after),
                limit: None,
            })
            .await?;
        for f in page.files {
            if json {
                all.push(f);
            } else {
                outln!(
                    "{} {:>10}  {}",
                    f.hash,
                    indicatif::HumanBytes(f.size),
                    f.path
                )?;
            }
        }
        match page.next_after {
            Some(next) if next > after => after = next,
            _ => break,
        }
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&all)?)?;
    }
    Ok(())
}
