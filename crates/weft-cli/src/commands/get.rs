//! `weft get`: asks the node to download, then shows its progress until it is done. The
//! download belongs to the node: interrupting the command does not stop it, and running the
//! command again joins it (or resumes it after a restart of the node).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use weft_api::share::{DownloadRequest, DownloadState, StatusQuery};

use super::client;
use crate::cli::GetArgs;
use crate::output::outln;

/// How long one status request waits for the state to change before it shows the progress
/// made: the bar moves four times a second, the end is seen at once.
const PROGRESS_WAIT: Duration = Duration::from_millis(250);

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks that `out` can be written: its folder exists and takes a file, and `out` does not
/// exist unless `force`.
fn check_output(out: &Path, force: bool) -> anyhow::Result<()> {
    if out.is_dir() {
        bail!("{} is a folder; give a file name with -o", out.display());
    }
    if out.exists() && !force {
        bail!("{} exists; pass --force to replace it", out.display());
    }
    let dir = out.parent().unwrap_or(Path::new("/"));
    if !dir.is_dir() {
        bail!(
            "cannot write {}: {} is not a folder",
            out.display(),
            dir.display()
        );
    }
    tempfile::NamedTempFile::new_in(dir)
        .map(drop)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", out.display()))
}

/// `weft get HASH`.
pub async fn run(home: &Path, args: GetArgs) -> anyhow::Result<()> {
    let hash = args.hash.to_ascii_lowercase();
    if !is_hash(&hash) {
        bail!("'{}' is not a content hash (64 hex digits)", args.hash);
    }
    let out = match &args.output {
        Some(p) => p.clone(),
        None => PathBuf::from(&hash),
    };
    let out = if out.is_absolute() {
        out
    } else {
        std::env::current_dir()
            .context("cannot read the current folder")?
            .join(out)
    };
    let c = client(home)?;
    // A download of this hash may be under way already (started by an earlier `weft get`).
    let running = matches!(
        c.download(&hash, StatusQuery::default()).await,
        Ok(s) if !s.state.is_finished()
    );
    if !running {
        check_output(&out, args.force)?;
    }
    let body = DownloadRequest {
        hash: hash.clone(),
        out: out.clone(),
        force: args.force,
        timeout_secs: Some(args.timeout),
    };
    let mut status = c.start_download(&body).await?;
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0).with_style(
            ProgressStyle::with_template(
                "{msg:<12} {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        )
    };
    while !status.state.is_finished() {
        let query = StatusQuery {
            wait_ms: Some(PROGRESS_WAIT.as_millis() as u64),
            state: Some(status.state),
        };
        status = c.download(&hash, query).await?;
        if let Some(size) = status.size {
            bar.set_length(size);
        }
        bar.set_position(status.bytes);
        bar.set_message(match status.state {
            DownloadState::Downloading => format!("{} sources", status.sources),
            other => other.as_str().to_string(),
        });
    }
    bar.finish_and_clear();
    if status.state == DownloadState::Failed {
        bail!("{}", status.error.as_deref().unwrap_or("download failed"));
    }
    let seconds = status.seconds;
    if args.json {
        let v = json!({
            "hash": hash,
            "bytes": status.bytes,
            "sources_used": status.sources_used,
            "seconds": seconds,
            "copied_from": status.copied_from,
        });
        outln!("{v}")?;
    } else if let Some(from) = &status.copied_from {
        outln!(
            "{} ({}): already shared here, copied from {from}, verified",
            out.display(),
            indicatif::HumanBytes(status.bytes)
        )?;
    } else if status.size == Some(0) {
        outln!("{} (0 B): empty content, nothing to fetch", out.display())?;
    } else {
        let rate = status.bytes as f64 / seconds.max(0.001);
        outln!(
            "{} ({}) from {} {} in {seconds:.1} s ({}/s), verified",
            out.display(),
            indicatif::HumanBytes(status.bytes),
            status.sources_used,
            if status.sources_used == 1 {
                "source"
            } else {
                "sources"
            },
            indicatif::HumanBytes(rate as u64)
        )?;
    }
    Ok(())
}
