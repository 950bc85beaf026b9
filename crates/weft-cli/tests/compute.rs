//! Distributed computing with real processes on loopback: a coordinator and two workers run
//! the primes example with R = 2, Q = 2 and every result is right; bad input gets one clear
//! line; a coordinator killed mid-job resumes it after a restart without losing what was
//! accepted.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure is the test failing"
)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Node, one_error_line, poll, weft};
use serde_json::Value;

fn primes_wasm() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/compute/primes.wasm")
}

/// Primes in `lo..hi`, counted with a segmented sieve (a different algorithm from the
/// module's trial division, and fast in a debug build).
fn count_primes(lo: u64, hi: u64) -> u64 {
    let root = (hi as f64).sqrt() as u64 + 1;
    let mut small = vec![true; usize::try_from(root + 1).unwrap()];
    let mut base = Vec::new();
    for i in 2..=root {
        if small[i as usize] {
            base.push(i);
            let mut j = i * i;
            while j <= root {
                small[j as usize] = false;
                j += i;
            }
        }
    }
    let mut seg = vec![true; usize::try_from(hi - lo).unwrap()];
    for p in base {
        let mut m = (lo.div_ceil(p) * p).max(p * p);
        while m < hi {
            seg[(m - lo) as usize] = false;
            m += p;
        }
    }
    (lo..hi).zip(seg).filter(|&(n, is)| is && n >= 2).count() as u64
}

/// Writes `units` ranges of `span` numbers from `from`; returns the right count for each
/// file name.
fn ranges(dir: &Path, from: u64, units: u64, span: u64) -> Vec<(String, u64)> {
    std::fs::create_dir_all(dir).unwrap();
    (0..units)
        .map(|i| {
            let (lo, hi) = (from + i * span, from + (i + 1) * span);
            let name = format!("range-{i:03}");
            let bytes = [lo.to_le_bytes(), hi.to_le_bytes()].concat();
            std::fs::write(dir.join(&name), bytes).unwrap();
            (name, count_primes(lo, hi))
        })
        .collect()
}

fn json_of(home: &Path, args: &[&str]) -> Value {
    let out = weft(home, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn submit(home: &Path, inputs: &Path, extra: &[&str]) -> String {
    let wasm = primes_wasm();
    let mut args = vec![
        "compute",
        "submit",
        wasm.to_str().unwrap(),
        "--inputs",
        inputs.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    json_of(home, &args)["job"].as_str().unwrap().to_string()
}

/// Waits for the job to be done; on a timeout, shows the job, the workers and every log.
fn wait_done(home: &Path, job: &str, limit: Duration, logs: &[&Path]) -> Value {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let s = json_of(home, &["compute", "status", job, "--json"]);
        if s["state"] == "done" {
            return s;
        }
        if std::time::Instant::now() > deadline {
            let workers = json_of(home, &["compute", "workers", "--json"]);
            let logs: Vec<String> = logs
                .iter()
                .map(|h| format!("--- {}:\n{}", h.display(), common::log_of(h)))
                .collect();
            panic!(
                "job not done after {limit:?}: {s}\n{workers}\n{}",
                logs.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn check_results(home: &Path, job: &str, out: &Path, want: &[(String, u64)]) -> Value {
    let summary = json_of(
        home,
        &[
            "compute",
            "results",
            job,
            "-o",
            out.to_str().unwrap(),
            "--json",
        ],
    );
    for (name, count) in want {
        let bytes = std::fs::read(out.join(format!("{name}.out"))).unwrap();
        let got = u64::from_le_bytes(bytes.try_into().unwrap());
        assert_eq!(got, *count, "{name}");
    }
    assert!(out.join("summary.json").is_file());
    summary
}

#[test]
fn two_workers_run_a_primes_job_with_two_replicas_and_the_results_are_right() {
    let dir = tempfile::tempdir().unwrap();
    let coord = Node::start(&dir.path().join("coord"), &[]);
    let boot = coord.tcp_addr();
    let w1 = Node::start(
        &dir.path().join("w1"),
        &["--worker", "--worker-cores", "1", "--bootstrap", &boot],
    );
    let w2 = Node::start(
        &dir.path().join("w2"),
        &["--worker", "--worker-cores", "1", "--bootstrap", &boot],
    );
    let inputs = dir.path().join("ranges");
    let want = ranges(&inputs, 0, 6, 20_000);
    let job = submit(&coord.home, &inputs, &["--replicas", "2", "--quorum", "2"]);
    let done = wait_done(
        &coord.home,
        &job,
        Duration::from_secs(120),
        &[&coord.home, &w1.home, &w2.home],
    );
    assert_eq!(done["accepted"], 6, "{done}");
    assert_eq!(done["failed"], 0);
    let summary = check_results(&coord.home, &job, &dir.path().join("out"), &want);
    assert_eq!(summary["written"], 6);

    // both workers ran every unit (R = 2 distinct workers of two) and were validated
    let workers = json_of(&coord.home, &["compute", "workers", "--json"]);
    let list = workers["workers"].as_array().unwrap();
    let ids = [w1.peer_id(), w2.peer_id()];
    for id in &ids {
        let w = list
            .iter()
            .find(|w| w["peer"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} in {workers}"));
        assert_eq!(w["validated"], 6, "{w}");
        assert_eq!(w["wrong"], 0);
        assert!(w["credit"].as_u64().unwrap() > 0);
    }
    let credit = json_of(&coord.home, &["compute", "credit", "--json"]);
    assert_eq!(credit["granted"].as_array().unwrap().len(), 2, "{credit}");
    // each worker recorded what it lent, for whom
    let lent = json_of(&w1.home, &["compute", "credit", "--json"]);
    assert_eq!(
        lent["lent"][0]["coordinator"],
        coord.peer_id().as_str(),
        "{lent}"
    );
    assert_eq!(lent["lent"][0]["units"], 6);
    let lending = json_of(&w1.home, &["compute", "workers", "--json"]);
    assert_eq!(lending["lending"]["cores"], 1, "{lending}");
}

#[test]
fn a_killed_coordinator_resumes_its_job_and_keeps_what_was_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let coord_home = dir.path().join("coord");
    let mut coord = Node::start(&coord_home, &[]);
    let inputs = dir.path().join("ranges");
    // units of a fraction of a second each near 10^9, so the kill lands mid-job
    let want = ranges(&inputs, 1_000_000_000, 40, 100_000);
    let job = submit(&coord_home, &inputs, &["--replicas", "1", "--quorum", "1"]);
    let w = Node::start(
        &dir.path().join("w"),
        &[
            "--worker",
            "--worker-cores",
            "1",
            "--bootstrap",
            &coord.tcp_addr(),
        ],
    );
    let accepted_before = poll(Duration::from_secs(120), "some units accepted", || {
        let s = json_of(&coord_home, &["compute", "status", &job, "--json"]);
        let n = s["accepted"].as_u64().unwrap();
        (n >= 2).then_some(n)
    });
    // kill -9 the coordinator mid-job, then the worker
    coord.child.kill().unwrap();
    coord.child.wait().unwrap();
    drop(w);
    let _ = std::fs::remove_file(coord_home.join("addrs.json"));
    let coord = Node::start(&coord_home, &[]);
    let s = json_of(&coord_home, &["compute", "status", &job, "--json"]);
    assert_eq!(s["state"], "running", "{s}");
    assert!(
        s["accepted"].as_u64().unwrap() >= accepted_before,
        "accepted results survive the kill: {s}"
    );
    let w = Node::start(
        &dir.path().join("w"),
        &[
            "--worker",
            "--worker-cores",
            "1",
            "--bootstrap",
            &coord.tcp_addr(),
        ],
    );
    let done = wait_done(
        &coord_home,
        &job,
        Duration::from_secs(180),
        &[&coord_home, &w.home],
    );
    assert_eq!(done["accepted"], 40, "{done}");
    check_results(&coord_home, &job, &dir.path().join("out"), &want);
    // R = 1: each accepted unit validated the worker once; one accepted before the kill and
    // computed again would count twice
    let workers = json_of(&coord_home, &["compute", "workers", "--json"]);
    let record = workers["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["peer"] == w.peer_id().as_str())
        .cloned()
        .unwrap_or_else(|| panic!("{workers}"));
    assert_eq!(record["validated"], 40, "{record}");
}

#[test]
fn bad_compute_input_gets_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("ranges");
    ranges(&inputs, 0, 1, 10);
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let not_wasm = dir.path().join("notes.txt");
    std::fs::write(&not_wasm, "hello").unwrap();
    let wasm = primes_wasm();
    let (wasm, inputs, empty, not_wasm) = (
        wasm.to_str().unwrap(),
        inputs.to_str().unwrap(),
        empty.to_str().unwrap(),
        not_wasm.to_str().unwrap(),
    );
    let home = dir.path().join("home");
    let cases: &[(&[&str], &str)] = &[
        (
            &["compute", "submit", "/no/such.wasm", "--inputs", inputs],
            "does not exist",
        ),
        (
            &["compute", "submit", not_wasm, "--inputs", inputs],
            "is not a WebAssembly module",
        ),
        (
            &["compute", "submit", wasm, "--inputs", empty],
            "holds no files",
        ),
        (
            &["compute", "submit", wasm, "--inputs", "/no/such/dir"],
            "is not a folder",
        ),
        (
            &[
                "compute",
                "submit",
                wasm,
                "--inputs",
                inputs,
                "--replicas",
                "1",
                "--quorum",
                "2",
            ],
            "--quorum 2 must be between 1 and --replicas (1)",
        ),
        (&["compute", "status", "nope"], "is not a job id"),
    ];
    for (args, want) in cases {
        let out = weft(&home, args);
        let line = one_error_line(&out);
        assert!(line.contains(want), "{args:?}: {line}");
    }
    // with a node: an unknown job, and a module that breaks the ABI
    let node = Node::start(&home, &[]);
    let unknown = "0".repeat(64);
    for args in [
        &["compute", "status", unknown.as_str()][..],
        &["compute", "cancel", unknown.as_str()],
        &["compute", "results", unknown.as_str(), "-o", empty],
    ] {
        let line = one_error_line(&weft(&node.home, args));
        assert!(line.contains("no job 0000"), "{args:?}: {line}");
    }
    let importer = dir.path().join("importer.wasm");
    // (module (import "env" "clock" (func)) (memory (export "memory") 1))
    std::fs::write(
        &importer,
        b"\0asm\x01\0\0\0\x01\x04\x01\x60\0\0\x02\x0d\x01\x03env\x05clock\0\0\x05\x03\x01\0\x01\x07\x0a\x01\x06memory\x02\0",
    )
    .unwrap();
    let line = one_error_line(&weft(
        &node.home,
        &[
            "compute",
            "submit",
            importer.to_str().unwrap(),
            "--inputs",
            inputs,
        ],
    ));
    assert!(line.contains("imports env::clock"), "{line}");
}
