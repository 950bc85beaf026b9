//! Real `weft up` processes on loopback: joining by bootstrap, peer exchange, and
//! reconnecting from the peer book after a restart.

mod common;

use std::time::Duration;

use common::{Node, poll, weft};

#[test]
fn five_nodes_joined_by_bootstrap_each_see_the_four_others() {
    let dir = tempfile::tempdir().unwrap();
    let first = Node::start(&dir.path().join("n0"), &[]);
    let boot = first.tcp_addr();
    let mut nodes = vec![first];
    for i in 1..5 {
        nodes.push(Node::start(
            &dir.path().join(format!("n{i}")),
            &["--bootstrap", &boot],
        ));
    }
    let ids: Vec<String> = nodes.iter().map(Node::peer_id).collect();
    for (i, node) in nodes.iter().enumerate() {
        let mut want: Vec<String> = ids.iter().filter(|id| **id != ids[i]).cloned().collect();
        want.sort();
        poll(
            Duration::from_secs(45),
            &format!("node {i} to see the 4 others"),
            || {
                let mut got = node.connected();
                got.sort();
                (got == want).then_some(())
            },
        );
    }
    println!("RESULT mesh nodes=5 each_sees=4");
}

#[test]
fn a_restarted_node_reconnects_from_its_peer_book() {
    let dir = tempfile::tempdir().unwrap();
    let a = Node::start(&dir.path().join("a"), &[]);
    let b_home = dir.path().join("b");
    let b = Node::start(&b_home, &["--bootstrap", &a.tcp_addr()]);
    let a_id = a.peer_id();
    poll(Duration::from_secs(30), "b to connect to a", || {
        b.connected().contains(&a_id).then_some(())
    });
    assert!(b.stop().success(), "b stops cleanly on SIGTERM");
    assert!(
        !b_home.join("addrs.json").exists(),
        "addrs.json is removed on shutdown"
    );

    // No --bootstrap this time: only the peer book knows a.
    let b = Node::start(&b_home, &[]);
    poll(
        Duration::from_secs(30),
        "restarted b to reconnect to a",
        || b.connected().contains(&a_id).then_some(()),
    );
    let out = weft(&b_home, &["peers", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let known = v["known"].as_array().unwrap();
    let rec = known
        .iter()
        .find(|p| p["peer_id"] == a_id.as_str())
        .expect("a in the book");
    assert_eq!(
        rec["source"], "bootstrap",
        "the book remembers how a was found"
    );
    let conn = v["connected"].as_array().unwrap();
    let c = conn.iter().find(|p| p["peer_id"] == a_id.as_str()).unwrap();
    assert_eq!(c["source"], "book");
}

#[test]
fn a_bootstrap_peer_down_at_start_is_reached_when_it_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    let b_home = dir.path().join("b");
    let b = Node::start(&b_home, &[]);
    let b_id = b.peer_id();
    let b_addr = b.tcp_addr();
    let port = b_addr
        .split('/')
        .nth(4)
        .expect("/ip4/127.0.0.1/tcp/PORT/p2p/ID")
        .to_string();
    assert!(b.stop().success());

    let a = Node::start(&dir.path().join("a"), &["--bootstrap", &b_addr]);
    // The first dial fails, and says so at the default log level.
    poll(Duration::from_secs(30), "a to report b unreachable", || {
        common::log_of(&a.home)
            .contains("bootstrap peer unreachable")
            .then_some(())
    });
    let back = std::time::Instant::now();
    let b = Node::start(
        &b_home,
        &["--listen", &format!("/ip4/127.0.0.1/tcp/{port}")],
    );
    assert_eq!(b.peer_id(), b_id);
    poll(
        Duration::from_secs(60),
        "a to reach b once it is back",
        || a.connected().contains(&b_id).then_some(()),
    );
    println!(
        "RESULT bootstrap_redial reached_after_ms={} backoff_initial_s=5",
        back.elapsed().as_millis()
    );
}
