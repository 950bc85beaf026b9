//! What a node shares, with real processes on loopback: never its data folder or any secret,
//! whatever path leads there; an edit that keeps size and mtime is found under its new hash
//! and withdrawn under the old one through every model; nested and vanished roots; the hashes
//! a user needs.

mod common;

use std::path::Path;
use std::time::Duration;
use weft_api::share::SkipKind;

use common::share::*;
use common::start;
use common::{Node, log_of, one_error_line, poll, weft};
use serde_json::Value;

fn shared_roots(node: &Node) -> Vec<Value> {
    let out = weft(&node.home, &["shared", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .expect("JSON")
        .as_array()
        .expect("an array")
        .clone()
}

fn shared_files(node: &Node) -> Vec<Value> {
    let out = weft(&node.home, &["shared", "--files", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .expect("JSON")
        .as_array()
        .expect("an array")
        .clone()
}

fn hashes_found(node: &Node, words: &str, via: &str) -> Vec<String> {
    search(node, words, via, 3)
        .into_iter()
        .map(|r| r.hash)
        .collect()
}

/// A home-like folder holds the node's own data folder (as ~/.local/share/weft), a copy of an
/// old data folder, and a music folder with links up to them; both the home and the music
/// folder are shared. No secret is found by search from another node, none can be fetched by
/// its hash, and naming one directly is refused.
#[test]
fn a_home_with_data_folders_and_links_up_shares_no_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let alice = std::fs::canonicalize(tmp.path()).unwrap().join("alice");
    let a = start(
        &alice.join(".local/share/weft"),
        &["--role", "ultrapeer"],
        &[],
        None,
    );
    let boot = a.tcp_addr();
    let b = start(&tmp.path().join("b"), &["--bootstrap", &boot], &[], None);
    let c = start(&tmp.path().join("c"), &["--bootstrap", &boot], &[], None);

    let music = alice.join("Music");
    let song = sample(300_000, 3);
    write_file(&music, "blue-train.flac", &song);
    let old = alice.join("backup/old-node");
    write_file(&old, "identity.key", b"an old private key");
    write_file(&old, "api.token", b"an old api token");
    std::os::unix::fs::symlink(&alice, music.join("up")).unwrap();
    std::os::unix::fs::symlink(a.home.join("identity.key"), music.join("key")).unwrap();
    std::os::unix::fs::symlink(a.home.join("api.token"), music.join("token.txt")).unwrap();
    // Even with hidden folders re-included, the data folders stay out.
    write_file(&alice, ".weftignore", b"!.local\n");

    let music_report = share(&a, &music);
    let home_report = share(&a, &alice);
    // Naming a secret, the data folder or something in it is refused in one line.
    for p in [
        a.home.join("identity.key"),
        a.home.clone(),
        old.join("api.token"),
    ] {
        let out = weft(&a.home, &["share", p.to_str().unwrap()]);
        let line = one_error_line(&out);
        assert!(line.contains("weft data folder"), "{line}");
    }

    // The song is found from the other nodes (so searching works) ...
    let song_hash = hash_of(&song);
    for via in ["flood", "dht"] {
        search_until(&c, "blue train", via, &song_hash, 1);
    }
    // ... and no secret is, by any of its words.
    let secrets: Vec<(String, Vec<u8>)> = ["identity.key", "api.token", "weft.sqlite", "weft.lock"]
        .iter()
        .map(|n| (n.to_string(), std::fs::read(a.home.join(n)).unwrap()))
        .collect();
    for via in ["flood", "dht"] {
        for words in [
            "identity key",
            "api token",
            "weft sqlite",
            "weft lock",
            "old node",
        ] {
            let found = search(&c, words, via, 3);
            assert!(found.is_empty(), "{via} '{words}': {found:?}");
        }
    }
    // Nor can a secret be fetched by its hash.
    for (name, bytes) in secrets.iter().take(2) {
        let out = files_of(&b).join(name);
        let (ok, v, err) = get(&b, &hash_of(bytes), &out, &["--timeout", "3"]);
        assert!(!ok, "{name} was fetched: {v}");
        assert!(!out.exists(), "{err}");
    }
    // What was left out, and why.
    let report = music_report;
    assert_eq!(report.files_hashed, 1, "{report:?}");
    let kinds: Vec<SkipKind> = report.skipped.iter().map(|s| s.kind).collect();
    assert!(kinds.contains(&SkipKind::LinkOutside), "{report:?}");
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == SkipKind::LinkIntoDataFolder)
            .count(),
        2,
        "{report:?}"
    );
    let report = home_report;
    let data_folders: Vec<&str> = report
        .skipped
        .iter()
        .filter(|s| s.kind == SkipKind::DataFolder)
        .map(|s| s.path.as_str())
        .collect();
    assert_eq!(data_folders.len(), 2, "{report:?}");
    let files = shared_files(&a);
    assert!(
        files.iter().all(|f| {
            let p = f["path"].as_str().unwrap();
            !p.contains(".local/share/weft") && !p.contains("old-node")
        }),
        "{files:?}"
    );

    drop((a, b, c));
}

/// Direct paths that are not regular files or folders are refused in one line.
#[test]
fn fifos_devices_and_link_loops_given_directly_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let a = start(&tmp.path().join("a"), &[], &[], None);
    let dir = files_of(&a);
    let lp = dir.join("loop");
    std::os::unix::fs::symlink(&lp, &lp).unwrap();
    let fifo = dir.join("pipe");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for (path, says) in [
        (Path::new("/dev/null"), "character device"),
        (fifo.as_path(), "FIFO"),
        (lp.as_path(), "symbolic link loop"),
    ] {
        let line = one_error_line(&weft(&a.home, &["share", path.to_str().unwrap()]));
        assert!(line.contains(says), "{}: {line}", path.display());
    }
    assert!(shared_roots(&a).is_empty());
}

/// Edits `path` in place, keeping its size and modification time.
fn edit_keeping_size_and_mtime(path: &Path, bytes: &[u8]) {
    let before = std::fs::metadata(path).expect("stat");
    assert_eq!(before.len(), bytes.len() as u64);
    let mtime = before.modified().expect("mtime");
    std::fs::write(path, bytes).expect("write");
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(mtime))
        .expect("set mtime back");
    let after = std::fs::metadata(path).expect("stat");
    assert_eq!(
        (after.len(), after.modified().ok()),
        (before.len(), Some(mtime))
    );
}

/// A shared file edited in place with its size and mtime restored is found under its new
/// hash through each model within a bounded time, no longer under the old one, and the new
/// hash downloads.
#[test]
fn an_in_place_edit_keeping_size_and_mtime_is_found_under_the_new_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = start(&tmp.path().join("dir"), &["--role", "directory"], &[], None);
    let dir_addr = dir.tcp_addr();
    let flags = [
        "--bootstrap",
        dir_addr.as_str(),
        "--directory",
        dir_addr.as_str(),
    ];
    let a = start(&tmp.path().join("a"), &flags, &[], None);
    let c = start(&tmp.path().join("c"), &flags, &[], None);

    let old = sample(2 << 20, 11);
    let new = sample(2 << 20, 12);
    let (old_hash, new_hash) = (hash_of(&old), hash_of(&new));
    let file = write_file(&files_of(&a), "kind-of-blue.flac", &old);
    share(&a, &file);
    for via in ["flood", "directory", "dht"] {
        search_until(&c, "kind blue", via, &old_hash, 1);
    }
    edit_keeping_size_and_mtime(&file, &new);
    for via in ["flood", "directory", "dht"] {
        // Polled by hand, so that a timeout says what was found and what the source did.
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            let found = hashes_found(&c, "kind blue", via);
            if found.contains(&new_hash) && !found.contains(&old_hash) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{via}: after 90 s, found {found:?} (new {new_hash}, old {old_hash}); source log:\n{}",
                log_of(&a.home)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let out = files_of(&c).join("got.flac");
    let (ok, v, err) = get(&c, &new_hash, &out, &[]);
    assert!(ok, "get of the new hash failed: {err}");
    assert_eq!(v["hash"], new_hash.as_str());
    assert!(std::fs::read(&out).unwrap() == new, "the download differs");
    let stale = files_of(&c).join("stale.flac");
    let (ok, v, _) = get(&c, &old_hash, &stale, &["--timeout", "3"]);
    assert!(!ok, "the old hash was served: {v}");
    let listed = shared_files(&a);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["hash"], new_hash.as_str());
    drop((dir, a, c));
}

/// `weft share` prints the hash of each file it added; roots nest without hashing again;
/// a vanished root is shown missing, warned about once, and shared again when it is back.
#[test]
fn hashes_nested_roots_and_a_vanished_root() {
    let tmp = tempfile::tempdir().unwrap();
    let a = start(&tmp.path().join("a"), &[], &[], None);
    let top = std::fs::canonicalize(files_of(&a)).unwrap();
    let jazz = top.join("jazz");
    let one = sample(10_000, 1);
    let two = sample(20_000, 2);
    write_file(&jazz, "one.flac", &one);
    write_file(&top.join("rock"), "two.flac", &two);

    let out = weft(&a.home, &["share", jazz.join("one.flac").to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = format!(
        "added {} {}",
        hash_of(&one),
        jazz.join("one.flac").display()
    );
    assert!(text.lines().any(|l| l == line), "{text}");

    share(&a, &jazz);
    let out = weft(&a.home, &["share", top.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("stay shared on their own"), "{text}");
    assert!(
        text.contains("1 files hashed"),
        "only two.flac is new: {text}"
    );
    let roots: Vec<String> = shared_roots(&a)
        .iter()
        .map(|r| r["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(roots.len(), 3, "{roots:?}");
    let out = weft(&a.home, &["unshare", top.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    assert_eq!(shared_roots(&a).len(), 2, "the nested roots stay");
    let files = shared_files(&a);
    assert!(
        files.iter().any(|f| f["hash"] == hash_of(&one).as_str()),
        "{files:?}"
    );
    assert!(
        files.iter().all(|f| f["hash"] != hash_of(&two).as_str()),
        "{files:?}"
    );

    // The folder goes away: shown missing (not "0 files"), said once, back when it is back.
    let away = top.join("jazz-away");
    std::fs::rename(&jazz, &away).unwrap();
    poll(Duration::from_secs(30), "jazz shown missing", || {
        shared_roots(&a)
            .iter()
            .any(|r| r["path"] == jazz.to_str().unwrap() && r["missing"] == true)
            .then_some(())
    });
    poll(Duration::from_secs(30), "the missing warning", || {
        log_of(&a.home).contains("is missing").then_some(())
    });
    std::fs::rename(&away, &jazz).unwrap();
    let one_path = jazz.join("one.flac");
    poll(Duration::from_secs(30), "jazz shared again", || {
        let roots = shared_roots(&a);
        let back = |p: &Path, files: u64| {
            roots.iter().any(|r| {
                r["path"] == p.to_str().unwrap() && r["files"] == files && r["missing"] == false
            })
        };
        // one.flac is a root of its own (shared first), so it holds the file, not jazz.
        (back(&jazz, 0) && back(&one_path, 1)).then_some(())
    });
    // Said once per root gone, however many times the watcher looked for it.
    let log = log_of(&a.home);
    for root in [&jazz, &one_path] {
        let line = format!("shared root {} is missing", root.display());
        assert_eq!(log.matches(&line).count(), 1, "{log}");
    }
    let out = weft(&a.home, &["shared"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("missing"));
}
