//! Helpers for the file-sharing tests: sample files, and the share/search/get commands.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use weft_api::share::{DownloadStatus, ResultGroup, ShareJob, SharedRoot};

use super::{Node, poll, weft};

/// A folder for `node`'s files to share, beside its data folder (never inside it: the node
/// refuses to share anything in a weft data folder).
pub fn files_of(node: &Node) -> PathBuf {
    let name = node
        .home
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = node.home.with_file_name(format!("{name}-files"));
    std::fs::create_dir_all(&dir).expect("create the files folder");
    dir
}

/// Deterministic pseudo-random bytes (xorshift), different for each `seed`.
pub fn sample(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create folder");
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write sample");
    p
}

/// The content hash of `bytes` (BLAKE3, lowercase hex), as weft prints it.
pub fn hash_of(bytes: &[u8]) -> String {
    weft_core::id::Key256::hash(bytes).to_string()
}

/// `weft share PATH --json` (the indexing job's report), asserting success.
pub fn share(node: &Node, path: &Path) -> ShareJob {
    let out = weft(
        &node.home,
        &["share", path.to_str().expect("utf-8"), "--json"],
    );
    assert!(
        out.status.success(),
        "weft share failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("share --json is a ShareJob")
}

/// `weft search WORDS --via VIA --json` once: its results.
pub fn search(node: &Node, words: &str, via: &str, timeout: u64) -> Vec<ResultGroup> {
    let results = search_answer(node, words, via, timeout, &[])["results"].take();
    serde_json::from_value(results).unwrap_or_default()
}

/// `weft search WORDS --via VIA --json EXTRA...` once: the whole answer (`Null` if it failed).
pub fn search_answer(node: &Node, words: &str, via: &str, timeout: u64, extra: &[&str]) -> Value {
    let t = timeout.to_string();
    let mut args = vec!["search"];
    args.extend(words.split(' '));
    args.extend(["--via", via, "--timeout", &t, "--json"]);
    args.extend(extra);
    let out = weft(&node.home, &args);
    if !out.status.success() {
        return Value::Null;
    }
    serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)
}

/// Searches until `hash` is found with at least `sources` sources (bounded).
pub fn search_until(node: &Node, words: &str, via: &str, hash: &str, sources: u64) -> ResultGroup {
    poll(
        Duration::from_secs(90),
        &format!("{via} search for {words}"),
        || {
            search(node, words, via, 3)
                .into_iter()
                .find(|r| r.hash == hash && r.sources >= sources)
        },
    )
}

/// `weft get HASH -o OUT --json`; returns (success, stdout JSON or Null, stderr).
pub fn get(node: &Node, hash: &str, out: &Path, extra: &[&str]) -> (bool, Value, String) {
    let mut args = vec!["get", hash, "-o", out.to_str().expect("utf-8"), "--json"];
    args.extend(extra);
    let o = weft(&node.home, &args);
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (
        o.status.success(),
        v,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The node's view of the download of `hash`.
pub fn download_status(node: &Node, hash: &str) -> Option<DownloadStatus> {
    let api = super::addrs(&node.home)?.api;
    let token = std::fs::read_to_string(node.home.join("api.token")).ok()?;
    let (status, body) =
        super::http::http_get(&api, &format!("/v0/downloads/{hash}"), Some(token.trim()));
    (status == 200)
        .then(|| serde_json::from_str(&body).ok())
        .flatten()
}

/// Whether `node` lists the file at `path` as a shared root of one file of `size` bytes
/// (`weft shared --json`); returns the listing too, for messages.
pub fn shares_file(node: &Node, path: &Path, size: u64) -> (bool, Vec<SharedRoot>) {
    let out = weft(&node.home, &["shared", "--json"]);
    let shared: Vec<SharedRoot> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let canonical = std::fs::canonicalize(path).expect("canonical path");
    let found = shared
        .iter()
        .any(|r| r.path == canonical.to_str().expect("utf-8") && r.files == 1 && r.bytes == size);
    (found, shared)
}

/// Files left in the node's `downloads/` folder.
pub fn partial_files(node: &Node) -> Vec<String> {
    std::fs::read_dir(node.home.join("downloads"))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Kills the node with SIGKILL and waits for it.
pub fn kill9(mut node: Node) {
    let _ = node.child.kill();
    let _ = node.child.wait();
}

/// Overwrites `bytes` at `offset` of the file at `path` in place, keeping its size and
/// modification time (what a careless tool or a bit flip does).
pub fn overwrite_keeping_mtime(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let mtime = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("mtime");
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open for writing");
    f.write_all_at(bytes, offset).expect("write in place");
    f.set_times(std::fs::FileTimes::new().set_modified(mtime))
        .expect("restore mtime");
    f.sync_all().expect("sync");
    drop(f);
    assert_eq!(
        std::fs::metadata(path).and_then(|m| m.modified()).ok(),
        Some(mtime)
    );
}
