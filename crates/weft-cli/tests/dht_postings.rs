//! The DHT search model is a distributed inverted index: a file's postings live on the DHT
//! nodes closest to its keywords, so a search still finds the file after its only publisher
//! was killed with SIGKILL (the download cannot work, the search answers from the DHT).
//!
//! Network: five nodes that only route and hold postings, one publisher, and a searcher that
//! joins after the publisher died (so it never met it).

mod common;

use std::time::Duration;

use common::share::*;
use common::start;
use common::{Node, poll, weft};

#[test]
fn dht_search_answers_after_the_publisher_is_killed() {
    let tmp = tempfile::tempdir().unwrap();
    let first = start(&tmp.path().join("n0"), &[], &[], None);
    let boot = first.tcp_addr();
    let node =
        |name: &str| -> Node { start(&tmp.path().join(name), &["--bootstrap", &boot], &[], None) };
    let holders: Vec<Node> = (1..5).map(|i| node(&format!("n{i}"))).collect();
    let publisher = node("publisher");

    let data = sample(1 << 20, 7);
    let hash = hash_of(&data);
    let name = "kind-of-blue-so-what.flac";
    let folder = files_of(&publisher).join("music");
    write_file(&folder, name, &data);
    let report = share(&publisher, &folder);
    assert_eq!(report.files_hashed, 1, "{report:?}");

    // found while the publisher runs ...
    let found = search_until(&holders[0], "so what blue", "dht", &hash, 1);
    assert_eq!(found.size, data.len() as u64, "{found:?}");
    // ... and, once another node stores its postings (a search can be answered by the
    // publisher alone, whose store dies with it: killed before its stores to the others have
    // landed, it leaves no copy and every search after the kill fails; the failure seen was
    // 90 s of empty searches, 1 run in 6 under load) ...
    poll(
        Duration::from_secs(60),
        "a node other than the publisher to store its postings",
        || {
            holders
                .iter()
                .chain(std::iter::once(&first))
                .any(|n| {
                    let out = weft(&n.home, &["id", "--json"]);
                    serde_json::from_slice::<serde_json::Value>(&out.stdout)
                        .ok()
                        .and_then(|v| v["dht_postings"].as_u64())
                        .is_some_and(|p| p > 0)
                })
                .then_some(())
        },
    );
    // ... after it died, from a node that never met it
    kill9(publisher);
    let searcher = node("searcher");
    let found = poll(Duration::from_secs(90), "dht search after the kill", || {
        search(&searcher, "blue so what", "dht", 10)
            .into_iter()
            .find(|r| r.hash == hash)
    });
    assert_eq!(found.size, data.len() as u64, "{found:?}");
    assert!(found.names.iter().any(|n| n == name), "{found:?}");
    assert_eq!(found.via, [weft_api::share::Via::Dht], "{found:?}");
    // a word the file does not have: no result
    let none = search(&searcher, "blue train", "dht", 5);
    assert!(none.iter().all(|r| r.hash != hash), "{none:?}");
    drop((first, holders, searcher));
}
