//! `weft get`: asks the node to download, then shows its progress until it is done. The
//! download belongs to the node: interrupting the command does not stop it, and running the
//! command again joins it (or resumes it after a restart of the node).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use weft_node::client::Method;

use super::client;
use crate::cli::GetArgs;
use crate::output::outln;

/// How often the progress is polled.
const POLL: Duration = Duration::from_millis(50);

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
        c.get::<Value>(&format!("/v0/downloads/{hash}")).await,
        Ok(s) if matches!(s.get("state").and_then(Value::as_str), Some("searching" | "downloading" | "verifying"))
    );
    if !running {
        check_output(&out, args.force)?;
    }
    let body = json!({
        "hash": hash,
        "out": out,
        "force": args.force,
        "timeout_secs": args.timeout,
    });
    let _: Value = c.send_json(Method::POST, "/v0/downloads", &body).await?;
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
    let status = loop {
        let s: Value = c.get(&format!("/v0/downloads/{hash}")).await?;
        let n = |k: &str| s.get(k).and_then(Value::as_u64).unwrap_or(0);
        let state = s
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        if let Some(size) = s.get("size").and_then(Value::as_u64) {
            bar.set_length(size);
        }
        bar.set_position(n("bytes"));
        bar.set_message(match state.as_str() {
            "downloading" => format!("{} sources", n("sources")),
            other => other.to_string(),
        });
        if matches!(state.as_str(), "done" | "failed") {
            break s;
        }
        tokio::time::sleep(POLL).await;
    };
    bar.finish_and_clear();
    if status.get("state").and_then(Value::as_str) == Some("failed") {
        let e = status
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("download failed");
        bail!("{e}");
    }
    let n = |k: &str| status.get(k).and_then(Value::as_u64).unwrap_or(0);
    let seconds = status.get("seconds").and_then(Value::as_f64).unwrap_or(0.0);
    let copied_from = status.get("copied_from").and_then(Value::as_str);
    if args.json {
        let v = json!({
            "hash": hash,
            "bytes": n("bytes"),
            "sources_used": n("sources_used"),
            "seconds": seconds,
            "copied_from": copied_from,
        });
        outln!("{v}")?;
    } else if let Some(from) = copied_from {
        outln!(
            "{} ({}): already shared here, copied from {from}, verified",
            out.display(),
            indicatif::HumanBytes(n("bytes"))
        )?;
    } else if status.get("size").and_then(Value::as_u64) == Some(0) {
        outln!("{} (0 B): empty content, nothing to fetch", out.display())?;
    } else {
        let rate = n("bytes") as f64 / seconds.max(0.001);
        outln!(
            "{} ({}) from {} sources in {seconds:.1} s ({}/s), verified",
            out.display(),
            indicatif::HumanBytes(n("bytes")),
            n("sources_used"),
            indicatif::HumanBytes(rate as u64)
        )?;
    }
    Ok(())
}
