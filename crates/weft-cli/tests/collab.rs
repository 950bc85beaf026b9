//! Messages between real `weft up` processes on loopback: direct delivery; store-and-forward
//! through mailbox peers while the recipient is offline (with the sender and one mailbox
//! killed meanwhile); a mailbox flood bounded by the per-sender quota; and the CLI's one-line
//! errors for bad input.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::http::{api_of, http_get};
use common::{Node, one_error_line, poll, weft};
use serde_json::{Value, json};

/// Messages sent while the recipient is offline (the 1,000, scaled to run in seconds).
const OFFLINE_MESSAGES: u64 = 120;
/// The mailboxes' per-sender quota in the flood test, and how many the sender sends.
const FLOOD_QUOTA: u64 = 20;
const FLOOD_MESSAGES: u64 = 50;
/// Bound on every wait.
const WAIT: Duration = Duration::from_secs(60);

/// Starts a node with `env` set (e.g. the mailbox quota).
fn start(home: &Path, extra: &[&str], env: &[(&str, &str)]) -> Node {
    // a node killed with SIGKILL leaves its addrs.json: wait for the new one
    let _ = std::fs::remove_file(home.join("addrs.json"));
    common::start(home, extra, env, None)
}

/// A minimal HTTP/1.1 POST of JSON; returns (status, body).
fn http_post(node: &Node, path: &str, body: &Value) -> (u16, Value) {
    let (api, token) = api_of(node);
    let body = body.to_string();
    let mut s = TcpStream::connect(&api).expect("connect to API");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn get_json(node: &Node, path: &str) -> Value {
    let (api, token) = api_of(node);
    let (status, body) = http_get(&api, path, Some(&token));
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

fn status(node: &Node) -> Value {
    get_json(node, "/v0/collab/status")
}

fn inbox(node: &Node) -> Vec<Value> {
    get_json(node, "/v0/collab/inbox")["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn add_contact(node: &Node, peer_id: &str, name: &str) {
    let out = weft(&node.home, &["contact", "add", peer_id, name]);
    assert!(
        out.status.success(),
        "contact add: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until every node sees at least `n` peers.
fn meshed(nodes: &[&Node], n: usize) {
    poll(WAIT, "nodes connected to each other", || {
        nodes.iter().all(|x| x.connected().len() >= n).then_some(())
    });
}

/// Sends `count` messages from `node` to `to` through the API, without waiting for acks.
fn send_many(node: &Node, to: &str, count: u64) {
    for n in 1..=count {
        let (code, body) = http_post(
            node,
            "/v0/collab/messages",
            &json!({"to": to, "text": format!("m{n}")}),
        );
        assert_eq!(code, 200, "send {n}: {body}");
        assert_eq!(body["seq"], n);
    }
}

/// Checks that `messages` are exactly m1..=mN from `from`, in order.
fn assert_once_in_order(messages: &[Value], from: &str, count: u64) {
    let seqs: Vec<u64> = messages.iter().filter_map(|m| m["seq"].as_u64()).collect();
    assert_eq!(
        seqs,
        (1..=count).collect::<Vec<_>>(),
        "each message once, in order"
    );
    for m in messages {
        assert_eq!(m["from"], from);
        assert_eq!(m["text"], format!("m{}", m["seq"]));
    }
}

#[test]
fn a_message_to_an_online_contact_is_delivered_directly_and_bad_input_is_one_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let alice = start(&dir.path().join("alice"), &[], &[]);
    let bob = start(
        &dir.path().join("bob"),
        &["--bootstrap", &alice.tcp_addr()],
        &[],
    );
    meshed(&[&alice, &bob], 1);
    add_contact(&alice, &bob.peer_id(), "bob");
    add_contact(&bob, &alice.peer_id(), "alice");

    let out = weft(&alice.home, &["msg", "send", "bob", "draft is ready"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("delivered to bob (#1)"),
        "{stdout}"
    );
    let out = weft(&bob.home, &["msg", "inbox", "--json"]);
    let page: Value = serde_json::from_slice(&out.stdout).expect("inbox --json");
    assert_eq!(page["messages"][0]["text"], "draft is ready");
    assert_eq!(page["messages"][0]["from"], "alice");
    let out = weft(&alice.home, &["contacts", "--json"]);
    let contacts: Value = serde_json::from_slice(&out.stdout).expect("contacts --json");
    assert_eq!(contacts["contacts"][0]["name"], "bob");
    assert_eq!(contacts["contacts"][0]["status"], "online");

    // --follow prints a message that arrives after it started, as one JSON line
    let mut follow = std::process::Command::new(common::weft_bin())
        .arg("--home")
        .arg(&bob.home)
        .args(["msg", "inbox", "--follow", "--json", "--after", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("weft msg inbox --follow");
    let stdout = follow.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let out = weft(&alice.home, &["msg", "send", "bob", "second"]);
    assert!(out.status.success());
    let line = rx
        .recv_timeout(WAIT)
        .expect("--follow printed the new message");
    let _ = follow.kill();
    let _ = follow.wait();
    let m: Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(
        (m["text"].as_str(), m["seq"].as_u64()),
        (Some("second"), Some(2))
    );

    let line = one_error_line(&weft(&alice.home, &["msg", "send", "carol", "hi"]));
    assert!(line.contains("no contact named 'carol'"), "{line}");
    let line = one_error_line(&weft(
        &alice.home,
        &["contact", "add", "12D3KooWnotapeer", "carol"],
    ));
    assert!(line.contains("is not a peer id"), "{line}");
    let line = one_error_line(&weft(
        &alice.home,
        &["contact", "add", &bob.peer_id(), "Carol Smith"],
    ));
    assert!(line.contains("contact name"), "{line}");
    let line = one_error_line(&weft(
        &alice.home,
        &["contact", "add", &bob.peer_id(), "bobby"],
    ));
    assert!(line.contains("already a contact, named 'bob'"), "{line}");
}

#[test]
fn messages_to_an_offline_recipient_wait_in_mailboxes_and_arrive_once_in_order() {
    let dir = tempfile::tempdir().expect("tmp");
    let m1 = start(&dir.path().join("m1"), &[], &[]);
    let boot = m1.tcp_addr();
    let m2 = start(&dir.path().join("m2"), &["--bootstrap", &boot], &[]);
    let m3 = start(&dir.path().join("m3"), &["--bootstrap", &boot], &[]);
    let alice = start(&dir.path().join("alice"), &["--bootstrap", &boot], &[]);
    let bob_home = dir.path().join("bob");
    let bob = start(&bob_home, &["--bootstrap", &boot], &[]);
    meshed(&[&m1, &m2, &m3, &alice, &bob], 4);
    let (bob_id, alice_id) = (bob.peer_id(), alice.peer_id());
    add_contact(&alice, &bob_id, "bob");
    add_contact(&bob, &alice_id, "alice");

    // bob goes away (killed), then alice writes
    drop(bob);
    poll(WAIT, "alice sees bob gone", || {
        (!alice.connected().contains(&bob_id)).then_some(())
    });
    send_many(&alice, "bob", OFFLINE_MESSAGES);
    for m in [&m1, &m2, &m3] {
        poll(WAIT, "a copy of every message at each mailbox", || {
            (status(m)["mailbox_messages"] == OFFLINE_MESSAGES).then_some(())
        });
    }
    // the sender and one mailbox peer die too: only the two other mailboxes can deliver
    drop(alice);
    drop(m3);

    let bob = start(&bob_home, &["--bootstrap", &boot], &[]);
    let messages = poll(WAIT, "bob has every message", || {
        let got = inbox(&bob);
        (got.len() as u64 >= OFFLINE_MESSAGES).then_some(got)
    });
    assert_once_in_order(&messages, "alice", OFFLINE_MESSAGES);
    // bob's acks delete the copies at the mailboxes
    for m in [&m1, &m2] {
        poll(WAIT, "mailbox copies removed by acks", || {
            (status(m)["mailbox_messages"] == 0).then_some(())
        });
    }
    assert_eq!(status(&bob)["delivered"], OFFLINE_MESSAGES);
}

#[test]
fn a_mailbox_keeps_at_most_the_quota_from_one_sender_and_the_sender_delivers_the_rest_after_kill_9()
{
    let dir = tempfile::tempdir().expect("tmp");
    let quota = FLOOD_QUOTA.to_string();
    let env = [("WEFT_MAILBOX_PER_SENDER", quota.as_str())];
    let m1 = start(&dir.path().join("m1"), &[], &env);
    let boot = m1.tcp_addr();
    let m2 = start(&dir.path().join("m2"), &["--bootstrap", &boot], &env);
    let alice = start(&dir.path().join("alice"), &["--bootstrap", &boot], &env);
    let bob_home = dir.path().join("bob");
    let bob = start(&bob_home, &["--bootstrap", &boot], &env);
    meshed(&[&m1, &m2, &alice, &bob], 3);
    let bob_id = bob.peer_id();
    add_contact(&alice, &bob_id, "bob");
    add_contact(&bob, &alice.peer_id(), "alice");

    drop(bob);
    poll(WAIT, "alice sees bob gone", || {
        (!alice.connected().contains(&bob_id)).then_some(())
    });
    send_many(&alice, "bob", FLOOD_MESSAGES);
    for m in [&m1, &m2] {
        let s = poll(WAIT, "the mailbox refuses past the quota", || {
            let s = status(m);
            (s["deposits_over_quota"].as_u64() > Some(0)).then_some(s)
        });
        assert_eq!(s["mailbox_messages"], FLOOD_QUOTA, "{s}");
    }
    assert_eq!(
        status(&alice)["outbox"],
        FLOOD_MESSAGES,
        "the sender keeps every message until acked"
    );
    // the messages past the quota exist only in alice's outbox: kill -9 her and start her again
    let alice_home = alice.home.clone();
    drop(alice);
    let alice = start(&alice_home, &["--bootstrap", &boot], &env);
    assert_eq!(
        status(&alice)["outbox"],
        FLOOD_MESSAGES,
        "the outbox survives kill -9"
    );

    let bob = start(&bob_home, &["--bootstrap", &boot], &[]);
    let messages = poll(WAIT, "bob has every message", || {
        let got = inbox(&bob);
        (got.len() as u64 >= FLOOD_MESSAGES).then_some(got)
    });
    assert_once_in_order(&messages, "alice", FLOOD_MESSAGES);
    poll(WAIT, "alice's outbox empties on bob's acks", || {
        (status(&alice)["outbox"] == 0).then_some(())
    });
}
