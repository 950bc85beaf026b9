//! File sharing through each location model, with real processes on loopback: a file shared
//! on two leaves is found from a third leaf through flooding, the directory and the DHT, and
//! downloaded byte-identical; then the directory node dies and flood and DHT search still
//! answer.
//!
//! Network: one directory server, two ultrapeers, five leaves (all with `--directory`).

mod common;

use common::share::*;
use common::start;
use common::{Node, weft};

#[test]
fn each_model_finds_and_downloads_then_survives_directory_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = start(&tmp.path().join("dir"), &["--role", "directory"], &[], None);
    let dir_addr = dir.tcp_addr();
    let boot = ["--bootstrap", dir_addr.as_str()];
    let up = |name: &str| {
        start(
            &tmp.path().join(name),
            &[boot[0], boot[1], "--role", "ultrapeer"],
            &[],
            None,
        )
    };
    let u1 = up("u1");
    let u2 = up("u2");
    let leaf = |name: &str| -> Node {
        start(
            &tmp.path().join(name),
            &[boot[0], boot[1], "--directory", dir_addr.as_str()],
            &[],
            None,
        )
    };
    let a = leaf("a");
    let b = leaf("b");
    let searchers = [leaf("c"), leaf("d"), leaf("e")];

    let data = sample(6 << 20, 1);
    let hash = hash_of(&data);
    let name = "blue-train-take-two.flac";
    for n in [&a, &b] {
        let folder = files_of(n).join("music");
        write_file(&folder, name, &data);
        let report = share(n, &folder);
        assert_eq!(report.files_hashed, 1, "{report:?}");
    }

    for (via, node) in ["flood", "directory", "dht"].iter().zip(&searchers) {
        let found = search_until(node, "blue train", via, &hash, 2);
        assert_eq!(found.size, data.len() as u64, "{found:?}");
        assert!(found.names.iter().any(|n| n == name), "{found:?}");
        let out = files_of(node).join(format!("got-{via}.flac"));
        let (ok, v, err) = get(node, &hash, &out, &[]);
        assert!(ok, "get via {via} failed: {err}");
        assert_eq!(v["hash"], hash.as_str());
        assert_eq!(v["bytes"].as_u64(), Some(data.len() as u64));
        assert!(v["sources_used"].as_u64().unwrap() >= 1, "{v}");
        assert!(std::fs::read(&out).unwrap() == data, "{via}: file differs");
        assert!(partial_files(node).is_empty(), "{:?}", partial_files(node));
        // The downloader provides the file as soon as `weft get` returns: it is indexed with
        // the hash tree assembled from the verified slices.
        let (shared, listing) = shares_file(node, &out, data.len() as u64);
        assert!(shared, "{via}: {listing:?}");
    }

    // The directory dies: flood and DHT still answer (from a leaf that searched nothing yet).
    kill9(dir);
    let u1_addr = u1.tcp_addr();
    let f = start(&tmp.path().join("f"), &["--bootstrap", &u1_addr], &[], None);
    for via in ["flood", "dht"] {
        let found = search_until(&f, "train", via, &hash, 2);
        assert_eq!(found.size, data.len() as u64);
    }
    drop((u1, u2));
}

/// Nodes started with the defaults are all leaves: with no ultrapeer among them, each floods
/// as a peer of the flat network, so flood search works from the first minute.
#[test]
fn leaves_started_with_the_defaults_find_each_other_by_flooding() {
    let tmp = tempfile::tempdir().unwrap();
    let a = start(&tmp.path().join("a"), &[], &[], None);
    let a_addr = a.tcp_addr();
    let boot = ["--bootstrap", a_addr.as_str()];
    let b = start(&tmp.path().join("b"), &boot, &[], None);
    let c = start(&tmp.path().join("c"), &boot, &[], None);

    let data = sample(1 << 20, 7);
    let hash = hash_of(&data);
    let folder = files_of(&b).join("papers");
    write_file(&folder, "peer-to-peer-computing.pdf", &data);
    assert_eq!(share(&b, &folder).files_hashed, 1);

    search_until(&c, "peer computing", "flood", &hash, 1);
    let out = files_of(&c).join("got.pdf");
    let (ok, v, err) = get(&c, &hash, &out, &[]);
    assert!(ok, "get failed: {err}");
    assert_eq!(v["bytes"].as_u64(), Some(data.len() as u64));
    assert!(std::fs::read(&out).unwrap() == data, "file differs");
    drop(a);
}

/// An empty file is content like any other: posted on the DHT, found by search, got (there
/// is nothing to fetch) and shared afterwards. Content the node shares already is copied,
/// and `weft get` says so rather than "0 B from 0 sources".
#[test]
fn empty_files_and_local_copies_are_reported_for_what_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let a = start(&tmp.path().join("a"), &[], &[], None);
    let a_addr = a.tcp_addr();
    let boot = ["--bootstrap", a_addr.as_str()];
    let _b = start(&tmp.path().join("b"), &boot, &[], None);
    let c = start(&tmp.path().join("c"), &boot, &[], None);

    let folder = files_of(&a).join("field");
    write_file(&folder, "empty-field-notes.txt", b"");
    let wav = sample(200_000, 3);
    write_file(&folder, "field-recording.wav", &wav);
    assert_eq!(share(&a, &folder).files_hashed, 2);
    let empty = hash_of(b"");

    for via in ["dht", "flood"] {
        let found = search_until(&c, "empty field notes", via, &empty, 1);
        assert_eq!(found.size, 0, "{via}: {found:?}");
    }
    let out = files_of(&c).join("notes.txt");
    let (ok, v, err) = get(&c, &empty, &out, &[]);
    assert!(ok, "{err}");
    assert_eq!(v["bytes"].as_u64(), Some(0));
    assert!(v["copied_from"].is_null(), "{v}");
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 0);
    let (shared, listing) = shares_file(&c, &out, 0);
    assert!(shared, "the empty download is shared: {listing:?}");

    // Content a already shares: copied, and said so, in JSON and in words.
    let wav_hash = hash_of(&wav);
    let (ok, v, err) = get(&a, &wav_hash, &files_of(&a).join("copy.wav"), &[]);
    assert!(ok, "{err}");
    let from = v["copied_from"].as_str().unwrap_or_default();
    assert!(from.ends_with("field-recording.wav"), "{v}");
    assert_eq!(v["bytes"].as_u64(), Some(wav.len() as u64));
    let copy = files_of(&a).join("copy2.wav");
    let human = weft(&a.home, &["get", &wav_hash, "-o", copy.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&human.stdout);
    assert!(human.status.success(), "{said}");
    assert!(
        said.contains("already shared here, copied from") && said.contains("field-recording.wav"),
        "{said}"
    );
    assert!(std::fs::read(&copy).unwrap() == wav);
}
