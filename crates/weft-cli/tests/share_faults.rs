//! Downloads under faults, with real processes on loopback: sources killed mid-download,
//! sources that corrupt data, a downloader killed and restarted, a full disk (root only: a
//! small tmpfs), and the user errors of `weft share` and `weft get`.
//!
//! Sources are slowed down with `[share] upload_rate` so that the faults land mid-transfer;
//! corrupting sources use the test-only `WEFT_TEST_CORRUPT=every|1in50`.

mod common;

use std::time::Duration;

use common::share::*;
use common::start;
use common::{Node, one_error_line, poll, weft};

/// Upload rate of the slowed sources: 2 MB/s each.
const SLOW: &str = "[share]\nupload_rate = 2000000\n";

/// How a source runs: extra environment variables and an optional `config.toml`.
type SourceSpec<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>);

/// `n` sources sharing `data` (with per-source env and config), and a downloader, joined
/// through the first source.
fn network(tmp: &std::path::Path, data: &[u8], sources: &[SourceSpec<'_>]) -> (Vec<Node>, Node) {
    let mut nodes: Vec<Node> = Vec::new();
    for (i, (env, config)) in sources.iter().enumerate() {
        let boot = nodes.first().map(Node::tcp_addr);
        // The first source is an ultrapeer, so flood queries for the hash travel too.
        let extra: Vec<&str> = match &boot {
            Some(b) => vec!["--bootstrap", b.as_str()],
            None => vec!["--role", "ultrapeer"],
        };
        let n = start(&tmp.join(format!("src{i}")), &extra, env, *config);
        let folder = files_of(&n);
        write_file(&folder, "sample.bin", data);
        share(&n, &folder);
        nodes.push(n);
    }
    let boot = nodes[0].tcp_addr();
    let dl = start(&tmp.join("dl"), &["--bootstrap", &boot], &[], None);
    (nodes, dl)
}

/// Searches from `dl` until every source is known (so `weft get` uses them all at once).
fn learn_sources(dl: &Node, hash: &str, n: u64) {
    search_until(dl, "sample", "dht", hash, n);
}

#[test]
fn killing_two_of_three_sources_mid_download_still_completes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = sample(24 << 20, 7);
    let hash = hash_of(&data);
    let slow: SourceSpec<'_> = (&[], Some(SLOW));
    let (mut sources, dl) = network(tmp.path(), &data, &[slow, slow, slow]);
    learn_sources(&dl, &hash, 3);
    let out = dl.home.join("out.bin");
    let home = dl.home.clone();
    let hash2 = hash.clone();
    let out2 = out.clone();
    let getter = std::thread::spawn(move || {
        let o = weft(
            &home,
            &["get", &hash2, "-o", out2.to_str().unwrap(), "--json"],
        );
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
            o.stdout,
        )
    });
    poll(Duration::from_secs(60), "a quarter downloaded", || {
        let s = download_status(&dl, &hash)?;
        (s.bytes > (data.len() / 4) as u64).then_some(())
    });
    kill9(sources.remove(2));
    kill9(sources.remove(1));
    let (ok, err, stdout) = getter.join().unwrap();
    assert!(ok, "get failed: {err}");
    let v: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    assert!(v["sources_used"].as_u64().unwrap() >= 2, "{v}");
    assert!(std::fs::read(&out).unwrap() == data, "file differs");
    assert!(partial_files(&dl).is_empty());
}

#[test]
fn corrupting_sources_are_banned_and_no_bad_byte_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let data = sample(64 << 20, 9);
    let hash = hash_of(&data);
    let every: SourceSpec<'_> = (&[("WEFT_TEST_CORRUPT", "every")], None);
    let some: SourceSpec<'_> = (&[("WEFT_TEST_CORRUPT", "1in50")], None);
    let honest: SourceSpec<'_> = (&[], None);
    let (sources, dl) = network(tmp.path(), &data, &[honest, every, some]);
    learn_sources(&dl, &hash, 3);
    let out = dl.home.join("out.bin");
    let (ok, v, err) = get(&dl, &hash, &out, &[]);
    assert!(ok, "get failed: {err}");
    assert!(
        std::fs::read(&out).unwrap() == data,
        "file differs: a bad byte was written"
    );
    let status = download_status(&dl, &hash).expect("status");
    let banned = &status.banned_peers;
    assert!(
        banned.contains(&sources[1].peer_id()),
        "corrupt-every not banned: {status:?}"
    );
    assert!(
        !banned.contains(&sources[0].peer_id()),
        "honest source banned: {status:?}"
    );
    assert_eq!(v["bytes"].as_u64(), Some(data.len() as u64));
}

#[test]
fn downloader_killed_and_restarted_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = sample(24 << 20, 11);
    let hash = hash_of(&data);
    let slow: SourceSpec<'_> = (&[], Some(SLOW));
    let (sources, mut dl) = network(tmp.path(), &data, &[slow, slow]);
    let boot = sources[0].tcp_addr();
    let out = tmp.path().join("out.bin");
    let mut resumed_any = false;
    for round in 0..3u64 {
        learn_sources(&dl, &hash, 2);
        let home = dl.home.clone();
        let (h, o) = (hash.clone(), out.clone());
        let getter = std::thread::spawn(move || {
            weft(&home, &["get", &h, "-o", o.to_str().unwrap(), "--json"])
        });
        // Kill at a different point each round.
        let at = (data.len() as u64) * (round + 1) / 5;
        poll(Duration::from_secs(60), "download progress", || {
            let s = download_status(&dl, &hash)?;
            if s.resumed_bytes > 0 {
                resumed_any = true;
            }
            (s.bytes > at).then_some(())
        });
        kill9(dl);
        let _ = getter.join();
        dl = start(&tmp.path().join("dl"), &["--bootstrap", &boot], &[], None);
    }
    learn_sources(&dl, &hash, 2);
    let (ok, v, err) = get(&dl, &hash, &out, &[]);
    assert!(ok, "final get failed: {err}");
    assert!(std::fs::read(&out).unwrap() == data, "file differs");
    let status = download_status(&dl, &hash).unwrap();
    assert!(
        resumed_any || status.resumed_bytes > 0,
        "never resumed: {status:?}"
    );
    assert!(partial_files(&dl).is_empty(), "{:?}", partial_files(&dl));
    assert_eq!(v["bytes"].as_u64(), Some(data.len() as u64));
    drop(sources);
}

#[test]
fn user_errors_get_one_line_and_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let n = start(&tmp.path().join("n"), &[], &[], None);
    let line = one_error_line(&weft(&n.home, &["share", "/no/such/folder"]));
    assert!(line.contains("no such file or folder"), "{line}");
    let line = one_error_line(&weft(&n.home, &["get", "xyz"]));
    assert!(line.contains("not a content hash"), "{line}");
    let unknown = "ab".repeat(32);
    let out = tmp.path().join("x.bin");
    let line = one_error_line(&weft(
        &n.home,
        &[
            "get",
            &unknown,
            "-o",
            out.to_str().unwrap(),
            "--timeout",
            "2",
        ],
    ));
    assert!(line.contains("no source found"), "{line}");
    std::fs::write(&out, b"keep me").unwrap();
    let line = one_error_line(&weft(
        &n.home,
        &["get", &unknown, "-o", out.to_str().unwrap()],
    ));
    assert!(
        line.contains("exists") && line.contains("--force"),
        "{line}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    let line = one_error_line(&weft(
        &n.home,
        &["get", &unknown, "-o", "/no/such/folder/x.bin"],
    ));
    assert!(line.contains("cannot write"), "{line}");
    let line = one_error_line(&weft(&n.home, &["unshare", "/no/such/folder"]));
    assert!(line.contains("not shared"), "{line}");
}

/// Bytes `node` has uploaded, from its `/metrics`.
fn uploaded(node: &Node) -> u64 {
    let (api, token) = common::http::api_of(node);
    let bytes = common::http::metrics_of(&api, &token)["weft_share_upload_bytes_total"];
    // A counter of whole bytes, exact as an f64 far beyond these tests' sizes.
    bytes as u64
}

/// A tmpfs mounted for one test (root only), unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// `None` where mounting is not allowed (a container without the capability).
    fn mount(at: &std::path::Path, size: &str) -> Option<Self> {
        std::fs::create_dir_all(at).expect("mount point");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }

    /// Writes zeros until the file system refuses more.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("filler")).expect("filler file");
        let block = vec![0u8; 64 << 10];
        while f.write_all(&block).is_ok() {}
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
#[ignore = "needs root (mounts a small tmpfs); scripts/test runs it when root, as CI is"]
fn a_full_disk_fails_the_download_with_one_clear_line() {
    common::require_root("mounting a tmpfs");
    let tmp = tempfile::tempdir().unwrap();
    let full = Tmpfs::mount(&tmp.path().join("full"), "8m").expect("mount a small tmpfs");
    let data = sample(2 << 20, 9);
    let hash = hash_of(&data);
    let (sources, dl) = network(tmp.path(), &data, &[(&[], None)]);
    // The downloader whose data folder is on the small disk starts before it fills up.
    let boot = sources[0].tcp_addr();
    let dl_full = start(&full.0.join("dl"), &["--bootstrap", &boot], &[], None);
    learn_sources(&dl, &hash, 1);
    learn_sources(&dl_full, &hash, 1);
    full.fill();

    // The output on the full disk.
    let out = full.0.join("out.bin");
    let line = one_error_line(&weft(
        &dl.home,
        &["get", &hash, "-o", out.to_str().unwrap()],
    ));
    assert!(
        line.contains("No space left on device") && line.contains("run `weft get` again"),
        "{line}"
    );
    // The verified download is kept (in the data folder, on the other disk), and finishes
    // once there is room, without a second transfer.
    let sent = uploaded(&sources[0]);
    std::fs::remove_file(full.0.join("filler")).unwrap();
    let (ok, v, err) = get(&dl, &hash, &out, &[]);
    assert!(ok, "get after making room failed: {err}");
    assert_eq!(v["bytes"].as_u64(), Some(data.len() as u64));
    assert!(std::fs::read(&out).unwrap() == data, "file differs");
    assert!(partial_files(&dl).is_empty(), "{:?}", partial_files(&dl));
    // Only the size probe's two small slices travel again.
    let again = uploaded(&sources[0]) - sent;
    assert!(
        again < data.len() as u64 / 16,
        "downloaded again: {again} bytes"
    );
    std::fs::remove_file(&out).unwrap();
    full.fill();

    // The output elsewhere, the node's database on the full disk.
    let out = tmp.path().join("out.bin");
    let line = one_error_line(&weft(
        &dl_full.home,
        &["get", &hash, "-o", out.to_str().unwrap()],
    ));
    assert!(
        line.contains("weft.sqlite") && line.contains("full"),
        "{line}"
    );
    assert!(!out.exists());
    drop((dl, dl_full, sources));
}
