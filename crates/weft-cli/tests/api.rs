//! The local API: token required, loopback only, every documented route served.

mod common;

use common::{Node, http_get, one_error_line, weft};

/// A well-formed content hash that nobody has.
const UNKNOWN_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn documented_paths() -> Vec<String> {
    let doc: serde_json::Value =
        serde_json::from_str(include_str!("../../weft-node/openapi.json")).expect("openapi.json");
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let Some(op) = item.get("get") else { continue };
        // Path parameters get a sample value; required query parameters too.
        let mut url = path
            .replace("{key}", "weft-api-test")
            .replace("{hash}", UNKNOWN_HASH)
            .replace("{id}", "0");
        let mut query = Vec::new();
        for param in op["parameters"].as_array().into_iter().flatten() {
            let name = param["name"].as_str().unwrap_or_default();
            if param["in"] == "query" && (param["required"] == true || name == "timeout_secs") {
                query.push(format!("{name}=1"));
            }
        }
        if !query.is_empty() {
            url = format!("{url}?{}", query.join("&"));
        }
        out.push(url);
    }
    out
}

#[test]
fn api_needs_the_token_and_serves_every_documented_route() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("n"), &[]);
    let api = node.addrs()["api"].as_str().unwrap().to_string();
    assert!(
        api.starts_with("127.0.0.1:"),
        "API bound to loopback, got {api}"
    );
    let token = std::fs::read_to_string(node.home.join("api.token")).unwrap();

    for path in documented_paths() {
        assert_eq!(http_get(&api, &path, None).0, 401, "{path} without a token");
        assert_eq!(
            http_get(&api, &path, Some("wrong")).0,
            401,
            "{path} with a wrong token"
        );
        let (status, body) = http_get(&api, &path, Some(token.trim()));
        // Routes with a sample parameter may answer "not found", with a JSON error that
        // says so; the router itself never answers 404 or 405 for a documented route.
        let sample = path.contains("weft-api-test") || path.contains(UNKNOWN_HASH);
        let ok = status == 200 || sample && status == 404 && body.contains("error");
        assert!(ok, "{path}: {status} {body}");
    }
    // Byte counters appear once traffic has flowed: connect a peer.
    let peer = Node::start(&dir.path().join("p"), &["--bootstrap", &node.tcp_addr()]);
    common::poll(
        std::time::Duration::from_secs(30),
        "peer to connect",
        || node.connected().contains(&peer.peer_id()).then_some(()),
    );
    let (_, metrics) = http_get(&api, "/metrics", Some(token.trim()));
    for name in [
        "weft_peers_connected 1",
        "weft_uptime_seconds",
        "libp2p_bandwidth_bytes_total{protocols=\"/ip4/tcp\",direction=\"Inbound\"}",
        "direction=\"Outbound\"",
    ] {
        assert!(metrics.contains(name), "metrics lack {name}:\n{metrics}");
    }
    let (_, id) = http_get(&api, "/v0/id", Some(token.trim()));
    assert!(id.contains(&node.peer_id()));
}

#[test]
fn api_refuses_a_non_loopback_address() {
    let dir = tempfile::tempdir().unwrap();
    for addr in ["0.0.0.0:0", "192.0.2.1:7733"] {
        let out = weft(
            dir.path(),
            &[
                "up",
                "--api",
                addr,
                "--no-mdns",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
            ],
        );
        let line = one_error_line(&out);
        assert!(line.contains("loopback"), "{line}");
    }
}

#[test]
fn events_stream_reports_peer_connections() {
    let dir = tempfile::tempdir().unwrap();
    let a = Node::start(&dir.path().join("a"), &[]);
    let api = a.addrs()["api"].as_str().unwrap().to_string();
    let token = std::fs::read_to_string(a.home.join("api.token")).unwrap();
    let (status, _) = http_get(&api, "/v0/events", Some(token.trim()));
    assert_eq!(status, 200);
    // Read the stream while a peer joins.
    let reader = std::thread::spawn({
        let api = api.clone();
        let token = token.trim().to_string();
        move || read_events_until(&api, &token, "peer_connected")
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let b = Node::start(&dir.path().join("b"), &["--bootstrap", &a.tcp_addr()]);
    let text = reader.join().unwrap();
    assert!(
        text.contains(&b.peer_id()),
        "event names the new peer: {text}"
    );
}

fn read_events_until(api: &str, token: &str, kind: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(api).expect("event stream");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("event stream");
    write!(
        s,
        "GET /v0/events HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .expect("event stream");
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains(&format!("event: {kind}")) || !text.contains("peer_id") {
        let n = s.read(&mut buf).expect("event arrives within 30 s");
        assert!(n > 0, "stream ended");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    text
}
