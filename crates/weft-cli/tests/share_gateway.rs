//! The content gateway and every other path that serves content, with real processes on
//! loopback: only bytes that verify against the hash asked for are ever sent.

mod common;

use common::http::http;
use common::share::*;
use common::start;

const MIB: usize = 1 << 20;

/// A shared file changed in place with its size and modification time restored is never
/// served under its old hash: not by the gateway, not to a peer over `/weft/content/1`, not as
/// a local copy by `weft get`. (The index's stamp holds the inode's change time, which no
/// tool can restore, so the recheck every serve path runs sees the edit; the gateway's
/// group-by-group verification behind it is `weft_share::verify::read_verified`, whose
/// tests change a group under it.)
#[test]
fn a_file_changed_in_place_is_never_served_under_its_old_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let a = start(&tmp.path().join("a"), &[], &[], None);
    let a_addr = a.tcp_addr();
    let b = start(&tmp.path().join("b"), &["--bootstrap", &a_addr], &[], None);

    let data = sample(3 * MIB + 5, 11);
    let hash = hash_of(&data);
    let file = write_file(&files_of(&a).join("docs"), "report.pdf", &data);
    assert_eq!(share(&a, &file).files_hashed, 1);
    let content = format!("/content/{hash}");
    let whole = http(&a, "GET", &content, &[]);
    assert_eq!(whole.status, 200);
    assert!(whole.body == data, "the unchanged file is served whole");

    // A byte in the third MiB changes: no part of the file is served under the old hash.
    let at = 2 * MIB + MIB / 2;
    overwrite_keeping_mtime(&file, at as u64, &[data[at] ^ 0xff]);
    let short = format!("{content}?timeout_secs=2");
    for range in [None, Some("Range: bytes=0-99".to_string())] {
        let headers: Vec<&str> = range.iter().map(String::as_str).collect();
        let r = http(&a, "GET", &short, &headers);
        assert!(
            r.status == 404 || r.status == 409,
            "{range:?}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        assert!(r.body.len() < 1000, "{range:?}: an error, not content");
    }
    // A peer asking over /weft/content/1 gets nothing: no source has the content.
    let out_b = b.home.join("report.pdf");
    let (ok, _, err) = get(&b, &hash, &out_b, &["--timeout", "5"]);
    assert!(!ok, "b got the content from a changed file");
    assert!(err.contains("no source"), "{err}");
    assert!(!out_b.exists());
    // `weft get` on the sharing node does not copy the changed file under the old hash.
    let out_a = a.home.join("copy.pdf");
    let (ok, v, err) = get(&a, &hash, &out_a, &["--timeout", "5"]);
    assert!(!ok, "a copied its changed file as {hash}: {v}");
    assert!(err.contains("no source"), "{err}");
    assert!(!out_a.exists());
}

/// `Range` as RFC 9110 says: what is not one satisfiable `bytes` range is ignored (200,
/// whole), a single range past the end is 416; the answer says the content's type and name
/// (RFC 6266/8187), its `ETag` is the hash, and `If-None-Match` with it gets 304.
#[test]
fn range_and_content_headers_follow_the_rfcs() {
    let tmp = tempfile::tempdir().unwrap();
    let a = start(&tmp.path().join("a"), &[], &[], None);
    let data = sample(100_000, 5);
    let hash = hash_of(&data);
    let name = "Béla Bartók – Concerto.flac";
    let file = write_file(&files_of(&a).join("music"), name, &data);
    share(&a, &file);
    let content = format!("/content/{hash}");

    for ignored in [
        "bytes=0-1,3-4",
        "items=0-1",
        "bytes=5-2",
        "bytes=abc",
        "bytes=0-1,200000-",
    ] {
        let r = http(&a, "GET", &content, &[&format!("Range: {ignored}")]);
        assert_eq!(r.status, 200, "Range: {ignored}");
        assert!(r.body == data, "Range: {ignored}: the whole content");
    }
    let past = http(&a, "GET", &content, &["Range: bytes=100000-"]);
    assert_eq!(past.status, 416);
    assert_eq!(past.header("content-range"), Some("bytes */100000"));
    let tail = http(&a, "GET", &content, &["Range: bytes=-10"]);
    assert_eq!(tail.status, 206);
    assert_eq!(
        tail.header("content-range"),
        Some("bytes 99990-99999/100000")
    );
    assert!(tail.body == data[99_990..]);

    let whole = http(&a, "GET", &content, &[]);
    let etag = format!("\"{hash}\"");
    assert_eq!(whole.header("content-type"), Some("audio/flac"));
    assert_eq!(whole.header("etag"), Some(etag.as_str()));
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    let disposition = whole.header("content-disposition").unwrap_or_default();
    assert!(
        disposition.starts_with("inline;")
            && disposition
                .contains("filename*=UTF-8''B%C3%A9la%20Bart%C3%B3k%20%E2%80%93%20Concerto.flac"),
        "{disposition}"
    );
    let cached = http(&a, "GET", &content, &[&format!("If-None-Match: {etag}")]);
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());
    let head = http(&a, "HEAD", &content, &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("100000"));
    assert_eq!(head.header("content-type"), Some("audio/flac"));
    assert!(head.body.is_empty());
}

/// Files a node keeps under `dir` larger than `limit` bytes.
fn files_larger_than(dir: &std::path::Path, limit: u64) -> Vec<String> {
    let mut big = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            big.extend(files_larger_than(&p, limit));
        } else if e.metadata().map(|m| m.len()).unwrap_or(0) > limit {
            big.push(p.display().to_string());
        }
    }
    big
}

/// A 1-byte `Range` of a large remote file moves about one chunk group from the source, not
/// the file, and leaves no copy; HEAD needs only the (verified) size; a whole GET streams the
/// verified content piece by piece; the `gateway/` folder of earlier versions is removed.
#[test]
fn a_range_of_remote_content_moves_only_that_range() {
    let tmp = tempfile::tempdir().unwrap();
    let a = start(&tmp.path().join("a"), &[], &[], None);
    let a_addr = a.tcp_addr();
    let b_home = tmp.path().join("b");
    write_file(
        &b_home.join("gateway"),
        "0123abcd",
        b"left by an earlier version",
    );
    let b = start(&b_home, &["--bootstrap", &a_addr], &[], None);
    assert!(
        !b_home.join("gateway").exists(),
        "the old gateway folder is removed"
    );

    let big = sample(64 * MIB, 21);
    let big_hash = hash_of(&big);
    let small = sample(3 * MIB + 7, 22);
    let small_hash = hash_of(&small);
    let folder = files_of(&a).join("field");
    write_file(&folder, "big-field-recording.wav", &big);
    write_file(&folder, "small-take.wav", &small);
    assert_eq!(share(&a, &folder).files_hashed, 2);
    // b learns the names (and sources) from a search.
    search_until(&b, "big field recording", "dht", &big_hash, 1);

    let (api_a, token_a) = common::http::api_of(&a);
    let uploaded = || common::http::metrics_of(&api_a, &token_a)["weft_share_upload_bytes_total"];
    let before = uploaded();
    let at = 40_000_000usize;
    let big_content = format!("/content/{big_hash}?timeout_secs=30");
    let r = http(
        &b,
        "GET",
        &big_content,
        &[&format!("Range: bytes={at}-{at}")],
    );
    assert_eq!(r.status, 206, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.body == big[at..=at], "the verified byte");
    assert_eq!(
        r.header("content-range"),
        Some(format!("bytes {at}-{at}/{}", big.len()).as_str())
    );
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("audio/")),
        "{:?}",
        r.headers
    );
    assert!(
        r.header("content-disposition")
            .is_some_and(|d| d.contains("big-field-recording.wav")),
        "{:?}",
        r.headers
    );
    let moved = uploaded() - before;
    println!(
        "RESULT gateway_remote_range file_bytes={} range_bytes=1 source_sent_bytes={moved}",
        big.len()
    );
    // The size probe (two groups) and the range (one group), with their hash pairs.
    assert!(
        moved < 256.0 * 1024.0,
        "a 1-byte range cost {moved} bytes from the source"
    );

    let head = http(&b, "HEAD", &big_content, &[]);
    assert_eq!(head.status, 200);
    let len = big.len().to_string();
    assert_eq!(head.header("content-length"), Some(len.as_str()));
    assert!(head.body.is_empty());
    let moved = uploaded() - before;
    assert!(
        moved < 512.0 * 1024.0,
        "HEAD fetched content: {moved} bytes"
    );
    assert!(partial_files(&b).is_empty(), "{:?}", partial_files(&b));
    let copies = files_larger_than(&b.home, 8 * MIB as u64);
    assert!(copies.is_empty(), "b keeps a copy: {copies:?}");

    let whole = http(&b, "GET", &format!("/content/{small_hash}"), &[]);
    assert_eq!(whole.status, 200);
    assert!(whole.body == small, "the whole remote content, verified");
}

/// A source that corrupts what it sends never gets a byte through the gateway: beside an
/// honest source the content arrives intact; alone, it is no source at all.
#[test]
fn the_gateway_never_passes_on_a_corrupting_source_s_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let honest = start(&tmp.path().join("honest"), &[], &[], None);
    let boot_addr = honest.tcp_addr();
    let boot = ["--bootstrap", boot_addr.as_str()];
    let liar = start(
        &tmp.path().join("liar"),
        &boot,
        &[("WEFT_TEST_CORRUPT", "every")],
        None,
    );
    let b = start(&tmp.path().join("b"), &boot, &[], None);

    let both = sample(3 * MIB + 1, 31);
    let both_hash = hash_of(&both);
    for n in [&honest, &liar] {
        let f = write_file(&files_of(n).join("music"), "night-train.ogg", &both);
        share(n, &f);
    }
    let only_liar = sample(100_000, 32);
    let f = write_file(
        &files_of(&liar).join("other"),
        "lonely-liar.ogg",
        &only_liar,
    );
    share(&liar, &f);
    search_until(&b, "night train", "dht", &both_hash, 2);

    let r = http(&b, "GET", &format!("/content/{both_hash}"), &[]);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.body == both, "only verified bytes, all of them");

    search_until(&b, "lonely liar", "dht", &hash_of(&only_liar), 1);
    let path = format!("/content/{}?timeout_secs=3", hash_of(&only_liar));
    let r = http(&b, "GET", &path, &[]);
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
    let r = http(&b, "GET", &path, &["Range: bytes=0-10"]);
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
}
