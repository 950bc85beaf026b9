//! Bad user input gets one clear line on stderr and a non-zero exit.

mod common;

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
