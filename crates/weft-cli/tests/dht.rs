//! Ten `weft up` processes on loopback form a Kademlia DHT over real sockets: records put
//! from various nodes through the CLI are found from every other node, and from a node that
//! joins afterwards (whose lookups must cross the network, since it stored nothing).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const WEFT: &str = env!("CARGO_BIN_EXE_weft");

/// A `weft up` child, killed when dropped.
struct Node {
    child: Child,
    home: tempfile::TempDir,
    listen: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn start(extra: &[&str]) -> Node {
        let home = tempfile::tempdir().expect("temporary folder");
        let child = Command::new(WEFT)
            .arg("--home")
            .arg(home.path())
            .args([
                "up",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--api",
                "127.0.0.1:0",
                "--no-mdns",
            ])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("weft up starts");
        let mut node = Node {
            child,
            home,
            listen: String::new(),
        };
        node.listen = node.wait_ready();
        node
    }

    /// Waits for `addrs.json` (bounded) and returns the TCP listen address.
    fn wait_ready(&mut self) -> String {
        let path = self.home.path().join("addrs.json");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                panic!("weft up exited early: {status}");
            }
            if let Ok(text) = std::fs::read_to_string(&path)
                && let Ok(v) = serde_json::from_str::<Value>(&text)
                && let Some(a) = v["listen"].as_array().and_then(|l| {
                    l.iter()
                        .filter_map(Value::as_str)
                        .find(|a| a.contains("/tcp/"))
                })
            {
                return a.to_string();
            }
            assert!(Instant::now() < deadline, "no addrs.json after 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn home(&self) -> &Path {
        self.home.path()
    }
}

fn weft(home: &Path, args: &[&str]) -> Output {
    Command::new(WEFT)
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .expect("weft runs")
}

/// Runs `weft args` until it succeeds (bounded) and returns its JSON output.
fn weft_json_until_ok(home: &Path, args: &[&str], what: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = weft(home, args);
        if out.status.success() {
            return serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {:?}", out.stdout));
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still failing after 60 s: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn connected(home: &Path) -> usize {
    let out = weft(home, &["peers", "--json"]);
    serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v["connected"].as_array().map(Vec::len))
        .unwrap_or(0)
}

#[test]
fn ten_nodes_put_and_get_records() {
    let first = Node::start(&["--role", "ultrapeer"]);
    let id: Value = serde_json::from_slice(&weft(first.home(), &["id", "--json"]).stdout).unwrap();
    assert_eq!(id["node"]["role"], "ultrapeer");
    assert_eq!(id["flood_role"], "ultrapeer", "{id}");
    let mut nodes = vec![first];
    let boot = nodes[0].listen.clone();
    for _ in 1..10 {
        nodes.push(Node::start(&["--bootstrap", &boot]));
    }
    let leaf: Value =
        serde_json::from_slice(&weft(nodes[1].home(), &["id", "--json"]).stdout).unwrap();
    assert_eq!(leaf["node"]["role"], "leaf");
    assert_eq!(leaf["flood_role"], "leaf", "{leaf}");
    // every node reaches at least a few others before the puts start (no fixed sleeps)
    let deadline = Instant::now() + Duration::from_secs(60);
    for n in &nodes {
        while connected(n.home()) < 3 {
            assert!(Instant::now() < deadline, "nodes did not connect");
            std::thread::sleep(Duration::from_millis(200));
        }
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
        let out = weft_json_until_ok(from.home(), &["dht", "put", key, value, "--json"], "put");
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
            let out = weft_json_until_ok(n.home(), &["dht", "get", key, "--json"], "get");
            assert_eq!(out["value"], value.as_str(), "record {i} from node {j}");
        }
    }

    // a node that joins now stored nothing: each get is a lookup over the network
    let late = Node::start(&["--bootstrap", &boot]);
    for (key, value) in &records {
        let out = weft_json_until_ok(late.home(), &["dht", "get", key, "--json"], "late get");
        assert_eq!(out["value"], value.as_str());
    }
    // plain output prints the value; an absent key is one line and a non-zero exit
    let out = weft(late.home(), &["dht", "get", "record-3"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "value 3 from the DHT test"
    );
    let out = weft(late.home(), &["dht", "get", "no such record"]);
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
    let server = Node::start(&["--role", "directory"]);
    let id: Value = serde_json::from_slice(&weft(server.home(), &["id", "--json"]).stdout).unwrap();
    assert_eq!(id["node"]["role"], "directory");
    let client = Node::start(&["--directory", &server.listen]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while connected(client.home()) < 1 {
        assert!(
            Instant::now() < deadline,
            "client did not reach its directory"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
