//! Search limits through each location model, with real processes on loopback: 100 files
//! shared on one leaf are all found with `--limit 100`, and a search with the default limit
//! (50) shows 50 and says that it was cut and how to ask for more.
//!
//! Network: one directory server, two leaves (both with `--directory`).

mod common;

use std::time::Duration;

use common::http::{api_of, http_get};
use common::share::*;
use common::start;
use common::{poll, weft};
use serde_json::Value;

const FILES: usize = 100;

#[test]
fn every_model_finds_all_with_a_raised_limit_and_says_when_it_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = start(&tmp.path().join("dir"), &["--role", "directory"], &[], None);
    let dir_addr = dir.tcp_addr();
    let leaf = |name: &str| {
        start(
            &tmp.path().join(name),
            &["--bootstrap", &dir_addr, "--directory", &dir_addr],
            &[],
            None,
        )
    };
    let sharer = leaf("sharer");
    let searcher = leaf("searcher");
    let folder = files_of(&sharer).join("takes");
    for i in 0..FILES {
        write_file(
            &folder,
            &format!("bench-take-{i:03}.dat"),
            &sample(64, i as u64),
        );
    }
    let report = share(&sharer, &folder);
    assert_eq!(report.files_hashed, FILES as u64, "{report:?}");

    for via in ["flood", "directory", "dht"] {
        // Raised: every file, and nothing said to be cut (polled while publishing settles).
        let all = poll(
            Duration::from_secs(90),
            &format!("{FILES} via {via}"),
            || {
                let a = search_answer(&searcher, "bench", via, 3, &["--limit", "100"]);
                let n = a["results"].as_array().map_or(0, Vec::len);
                (n == FILES).then_some(a)
            },
        );
        assert_eq!(all["cut"], false, "{via}: {all}");
        assert_eq!(all["limit"], 100, "{via}");

        // The default: 50 shown, cut, and the JSON says by whom.
        let cut = search_answer(&searcher, "bench", via, 3, &[]);
        assert_eq!(
            cut["results"].as_array().map(Vec::len),
            Some(50),
            "{via}: {cut}"
        );
        assert_eq!(cut["cut"], true, "{via}: {cut}");
        assert!(
            !cut["cut_by"].as_array().unwrap().is_empty(),
            "{via}: {cut}"
        );

        // And the human output ends with the line that says so.
        let out = weft(
            &searcher.home,
            &["search", "bench", "--via", via, "--timeout", "3"],
        );
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        let last = text.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("cut at 50 results: more exist") && last.contains("--limit 200"),
            "{via}: {text}"
        );
    }

    // The API refuses a limit out of range, with a line that says what is allowed.
    let (api, token) = api_of(&searcher);
    for bad in ["0", "1001"] {
        let (status, body) = http_get(
            &api,
            &format!("/v0/search?q=bench&limit={bad}"),
            Some(&token),
        );
        assert_eq!(status, 400, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(
            v["error"].as_str().unwrap().contains("between 1 and 1000"),
            "{v}"
        );
    }
}
