//! Bad user input gets one clear line on stderr and a non-zero exit; an output that closes or
//! fills up never makes a command panic.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{Node, one_error_line, weft};

#[test]
fn commands_without_a_running_node_say_how_to_start_one() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["id"][..],
        &["id", "--json"],
        &["peers"],
        &["peers", "--json"],
    ] {
        let out = weft(dir.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let line = one_error_line(&out);
        assert!(
            line.contains("no weft node is running") && line.contains("weft up"),
            "{args:?}: {line}"
        );
    }
}

#[test]
fn a_second_node_on_the_same_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _node = Node::start(dir.path(), &[]);
    let out = weft(
        dir.path(),
        &[
            "up",
            "--no-mdns",
            "--api",
            "127.0.0.1:0",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
        ],
    );
    let line = one_error_line(&out);
    assert!(line.contains("already running"), "{line}");
}

#[test]
fn a_malformed_config_names_the_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.toml"), "mdns = false\nlisten = 5\n").unwrap();
    let out = weft(dir.path(), &["up"]);
    let line = one_error_line(&out);
    assert!(
        line.contains("config.toml") && line.contains("line 2") && line.contains("listen"),
        "{line}"
    );
}

#[test]
fn a_malformed_bootstrap_address_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    for (addr, says) in [
        ("not-an-addr", "not a multiaddr"),
        ("/ip4/127.0.0.1/tcp/4001", "no peer id"),
    ] {
        let out = weft(
            dir.path(),
            &[
                "up",
                "--no-mdns",
                "--api",
                "127.0.0.1:0",
                "--bootstrap",
                addr,
            ],
        );
        let line = one_error_line(&out);
        assert!(line.contains(says) && line.contains(addr), "{line}");
    }
}

#[test]
fn demo_refuses_a_bad_node_count() {
    let dir = tempfile::tempdir().unwrap();
    for n in ["0", "1", "1000"] {
        let line = one_error_line(&weft(dir.path(), &["demo", "--nodes", n]));
        assert!(line.contains("--nodes"), "{line}");
    }
}

/// Runs `weft --home HOME ARGS...` with its standard output on `stdout`.
fn weft_with_stdout(home: &std::path::Path, args: &[&str], stdout: Stdio) -> Output {
    Command::new(common::weft_bin())
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .expect("weft runs")
}

/// A pipe whose reader is already gone: every write gets EPIPE.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    Stdio::from(writer)
}

/// `/dev/full`: every write gets ENOSPC.
fn full_disk() -> Stdio {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    Stdio::from(full)
}

#[test]
fn a_closed_or_full_output_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("node"), &[]);
    // A peer, so that the DHT commands have somewhere to store.
    let peer = Node::start(&dir.path().join("peer"), &["--bootstrap", &node.tcp_addr()]);
    common::poll(Duration::from_secs(30), "a connection", || {
        node.connected().contains(&peer.peer_id()).then_some(())
    });
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("blue-train.flac"), b"a blue train").unwrap();
    let shared = shared.to_str().unwrap();
    let share = || {
        let out = weft(&node.home, &["share", shared, "--json"]);
        assert!(out.status.success(), "{out:?}");
    };
    share();
    let every_command: &[&[&str]] = &[
        &["id"],
        &["id", "--json"],
        &["peers"],
        &["peers", "--json"],
        &["shared"],
        &["shared", "--json"],
        &["share", shared],
        &["share", shared, "--json"],
        &["unshare", shared],
        &["unshare", shared, "--json"],
        &["search", "blue", "--timeout", "1"],
        &["search", "blue", "--timeout", "1", "--json"],
        &["dht", "put", "greeting", "hello"],
        &["dht", "put", "greeting", "hello", "--json"],
        &["dht", "get", "greeting"],
        &["dht", "get", "greeting", "--json"],
        &["sim", "--algo", "chord", "--nodes", "64", "--lookups", "10"],
        &[
            "sim",
            "--algo",
            "chord",
            "--nodes",
            "64",
            "--lookups",
            "10",
            "--json",
        ],
        &["demo", "--nodes", "2", "--duration", "1"],
    ];
    for args in every_command {
        // A broken pipe (`weft … | head -1`): quietly, with success.
        if args[0] == "unshare" {
            share();
        }
        let out = weft_with_stdout(&node.home, args, closed_pipe());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?} on a closed pipe: {stderr}"
        );
        assert!(
            stderr.trim().is_empty(),
            "{args:?} on a closed pipe said: {stderr}"
        );
        // A full disk (`weft … > /dev/full`): one error line, exit 1.
        if args[0] == "unshare" {
            share();
        }
        let out = weft_with_stdout(&node.home, args, full_disk());
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?} on a full disk: {out:?}"
        );
        let line = one_error_line(&out);
        assert!(
            line.starts_with("error: cannot write the output") && line.contains("No space left"),
            "{args:?}: {line}"
        );
    }
}
