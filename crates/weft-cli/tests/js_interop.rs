//! A foreign libp2p implementation against a real `weft up`: js-libp2p (from npm, versions
//! pinned in `tests/js/package-lock.json`, installed by `scripts/test` with `npm ci`) dials
//! weft over TCP with Noise and with TLS (Yamux both times), checks identify, ping, a PEX
//! exchange read to its clean end and a search answered and closed; then weft dials the js
//! node given with `--bootstrap`. Everything on 127.0.0.1. This test does not skip: without
//! Node or the installed packages it fails and says what to run.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Node, log_of, poll};

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js")
}

#[test]
fn js_libp2p_and_weft_interoperate_both_ways() {
    let js = js_dir();
    assert!(
        js.join("node_modules/libp2p").is_dir(),
        "js-libp2p is not installed: run `npm ci --prefix {}` (scripts/test does)",
        js.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let a = Node::start(&dir.path().join("a"), &[]);
    // a second weft peer, so that a's PEX reply has someone in it
    let b = Node::start(&dir.path().join("b"), &["--bootstrap", &a.tcp_addr()]);
    let b_id = b.peer_id();
    poll(Duration::from_secs(30), "b to connect to a", || {
        a.connected().contains(&b_id).then_some(())
    });
    poll(
        Duration::from_secs(30),
        "a to know b's listen address",
        || {
            let out = common::weft(&a.home, &["peers", "--json"]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
            v["connected"]
                .as_array()?
                .iter()
                .any(|p| {
                    p["peer_id"] == b_id.as_str()
                        && p["listen_addrs"].as_array().is_some_and(|l| !l.is_empty())
                })
                .then_some(())
        },
    );

    let mut child = Command::new("node")
        .arg(js.join("interop.mjs"))
        .arg(a.tcp_addr())
        .current_dir(&js)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node (Node.js 20 or later) runs");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let listen = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(90))
            .unwrap_or_else(|_| {
                panic!(
                    "the js side stopped before listening: {seen:#?}\n{}",
                    stderr_of(&mut child)
                )
            });
        println!("js: {line}");
        if let Some(addr) = line.strip_prefix("LISTEN ") {
            break addr.to_string();
        }
        seen.push(line);
    };
    let js_id = listen.rsplit('/').next().expect("peer id").to_string();
    let c = Node::start(&dir.path().join("c"), &["--bootstrap", &listen]);
    poll(Duration::from_secs(30), "weft to dial the js node", || {
        c.connected().contains(&js_id).then_some(())
    });
    let agent = poll(Duration::from_secs(30), "identify of the js node", || {
        let out = common::weft(&c.home, &["peers", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["connected"]
            .as_array()?
            .iter()
            .find(|p| p["peer_id"] == js_id.as_str())?["agent"]
            .as_str()
            .map(str::to_string)
    });
    drop(child.stdin.take());
    let mut result = None;
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(40)) {
        println!("js: {line}");
        if line.starts_with("RESULT ") {
            result = Some(line);
        }
    }
    let status = child.wait().expect("node exits");
    assert!(
        status.success(),
        "the js side failed ({status}):\n{}\nweft a's log:\n{}",
        stderr_of(&mut child),
        log_of(&a.home)
    );
    let result = result.expect("a RESULT line from the js side");
    println!("{result} weft_sees_agent={}", agent.replace(' ', "_"));
    assert!(
        agent.contains("libp2p"),
        "weft identified the js node: {agent}"
    );
    // the js side checks this too; the figure on the RESULT line must say the same
    for key in ["pex_peers_noise", "pex_peers_tls"] {
        let peers: u64 = result
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{key} on the js RESULT line: {result}"));
        assert!(peers >= 1, "a's PEX reply named b: {result}");
    }
}

fn stderr_of(child: &mut std::process::Child) -> String {
    let mut s = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut s);
    }
    s
}
