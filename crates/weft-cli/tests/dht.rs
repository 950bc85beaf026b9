//! Ten `weft up` processes on loopback form a Kademlia DHT over real sockets: records put
//! from various nodes through the CLI are found from every other node, and from a node that
//! joins afterwards (whose lookups must cross the network, since it stored nothing).

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Node, poll, weft};
use serde_json::Value;

/// Runs `weft args` until it succeeds (bounded) and returns its JSON output.
fn weft_json_until_ok(home: &Path, args: &[&str], what: &str) -> Value {
    let mut last = String::new();
    let out = poll(Duration::from_secs(60), what, || {
        let out = weft(home, args);
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        out.status.success().then_some(out)
    });
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {last}"))
}

#[test]
fn ten_nodes_put_and_get_records() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Node::start(&tmp.path().join("n0"), &["--role", "ultrapeer"]);
    let id: Value = serde_json::from_slice(&weft(&first.home, &["id", "--json"]).stdout).unwrap();
    assert_eq!(id["node"]["role"], "ultrapeer");
    assert_eq!(id["flood_role"], "ultrapeer", "{id}");
    let mut nodes = vec![first];
    let boot = nodes[0].tcp_addr();
    for i in 1..10 {
        nodes.push(Node::start(
            &tmp.path().join(format!("n{i}")),
            &["--bootstrap", &boot],
        ));
    }
    let leaf: Value =
        serde_json::from_slice(&weft(&nodes[1].home, &["id", "--json"]).stdout).unwrap();
    assert_eq!(leaf["node"]["role"], "leaf");
    assert_eq!(leaf["flood_role"], "leaf", "{leaf}");
    // every node reaches at least a few others before the puts start (no fixed sleeps)
    for (i, n) in nodes.iter().enumerate() {
        poll(
            Duration::from_secs(60),
            &format!("node {i} to reach 3 peers"),
            || (n.connected().len() >= 3).then_some(()),
        );
    }

    let records: Vec<(String, String)> = (0..20)
        .map(|i| {
            (
                format!("record-{i}"),
                format!("value {i} from the DHT test"),
            )
        })
        .collect();
    let mut stored_total = 0;
    for (i, (key, value)) in records.iter().enumerate() {
        let from = &nodes[i % nodes.len()];
        let out = weft_json_until_ok(&from.home, &["dht", "put", key, value, "--json"], "put");
        let stored = out["stored"].as_u64().unwrap();
        assert!(stored >= 1, "{out}");
        assert_eq!(out["key"].as_str().unwrap().len(), 64);
        stored_total += stored;
    }
    println!(
        "20 records put, {:.1} replicas each on average",
        stored_total as f64 / 20.0
    );

    for (i, (key, value)) in records.iter().enumerate() {
        for (j, n) in nodes.iter().enumerate() {
            if j == i % nodes.len() {
                continue;
            }
            let out = weft_json_until_ok(&n.home, &["dht", "get", key, "--json"], "get");
            assert_eq!(out["value"], value.as_str(), "record {i} from node {j}");
        }
    }

    // a node that joins now stored nothing: each get is a lookup over the network
    let late = Node::start(&tmp.path().join("late"), &["--bootstrap", &boot]);
    for (key, value) in &records {
        let out = weft_json_until_ok(&late.home, &["dht", "get", key, "--json"], "late get");
        assert_eq!(out["value"], value.as_str());
    }
    // plain output prints the value; an absent key is one line and a non-zero exit
    let out = weft(&late.home, &["dht", "get", "record-3"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "value 3 from the DHT test"
    );
    let out = weft(&late.home, &["dht", "get", "no such record"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no record under"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn bad_role_and_directory_get_one_line() {
    let home = tempfile::tempdir().unwrap();
    let out = weft(home.path(), &["up", "--role", "boss", "--no-mdns"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("leaf, ultrapeer or directory"), "{err}");
    let out = weft(
        home.path(),
        &[
            "up",
            "--no-mdns",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api",
            "127.0.0.1:0",
            "--directory",
            "/ip4/127.0.0.1/tcp/9",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("directory address") && err.contains("no peer id"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn directory_role_starts_and_clients_connect() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Node::start(&tmp.path().join("server"), &["--role", "directory"]);
    let id: Value = serde_json::from_slice(&weft(&server.home, &["id", "--json"]).stdout).unwrap();
    assert_eq!(id["node"]["role"], "directory");
    let client = Node::start(
        &tmp.path().join("client"),
        &["--directory", &server.tcp_addr()],
    );
    poll(
        Duration::from_secs(30),
        "the client to reach its directory",
        || (!client.connected().is_empty()).then_some(()),
    );
}
