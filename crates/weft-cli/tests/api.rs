//! The local API: token required, loopback only, every documented route served with the
//! `weft-api` type it documents; the content gateway's `?token=`; the overlay counters in
//! `/metrics`.

mod common;

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use weft_api::{ErrorBody, collab, compute, node, share};

use common::http::{api_of, http_get, metrics_of};
use common::{Node, one_error_line, weft};

/// A well-formed content hash that nobody has.
const UNKNOWN_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// `body` is a `T` exactly: it decodes as one, and encodes back to the same JSON (so it holds
/// no field the type lacks).
fn assert_is<T: DeserializeOwned + Serialize>(path: &str, body: &str) {
    let json: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}"));
    let typed: T = serde_json::from_value(json.clone())
        .unwrap_or_else(|e| panic!("{path}: not a {} ({e}): {body}", std::any::type_name::<T>()));
    let again = serde_json::to_value(&typed).expect("the type encodes");
    assert_eq!(again, json, "{path}: fields the type lacks");
}

/// Checks a 200 answer of `path` against the type the route serves; `false` for the routes
/// that answer no JSON (events, metrics, DHT values, search lines, content).
fn check_answer(path: &str, body: &str) -> bool {
    let route = path.split('?').next().unwrap_or(path);
    match route {
        "/v0/id" => assert_is::<node::Id>(path, body),
        "/v0/peers" => assert_is::<node::Peers>(path, body),
        "/v0/health" => assert_is::<node::Health>(path, body),
        "/v0/share" => assert_is::<share::ShareJob>(path, body),
        "/v0/shared" => assert_is::<Vec<share::SharedRoot>>(path, body),
        "/v0/shared/files" => assert_is::<share::SharedFiles>(path, body),
        "/v0/compute/jobs" => assert_is::<compute::Jobs>(path, body),
        "/v0/compute/workers" => assert_is::<compute::Workers>(path, body),
        "/v0/compute/credit" => assert_is::<compute::Credit>(path, body),
        "/v0/collab/contacts" => assert_is::<collab::Contacts>(path, body),
        "/v0/collab/inbox" => assert_is::<collab::Inbox>(path, body),
        "/v0/collab/status" => assert_is::<collab::CollabStatus>(path, body),
        _ => return false,
    }
    true
}

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
            .replace("{job}", UNKNOWN_HASH)
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
    let api = node.addrs().api;
    assert!(
        api.starts_with("127.0.0.1:"),
        "API bound to loopback, got {api}"
    );
    let token = std::fs::read_to_string(node.home.join("api.token")).unwrap();

    let mut typed = 0;
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
        if status == 200 {
            typed += usize::from(check_answer(&path, &body));
        } else {
            assert_is::<ErrorBody>(&path, &body);
        }
    }
    assert!(
        typed >= 12,
        "only {typed} routes' answers were checked against their types"
    );
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
    let id: node::Id = serde_json::from_str(&id).expect("an Id");
    assert_eq!(id.peer_id, node.peer_id());
    let (_, peers) = http_get(&api, "/v0/peers", Some(token.trim()));
    assert_is::<node::Peers>("/v0/peers", &peers);
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
    let api = a.addrs().api;
    let token = std::fs::read_to_string(a.home.join("api.token")).unwrap();
    let (status, _) = http_get(&api, "/v0/events", Some(token.trim()));
    assert_eq!(status, 200);
    // Read the stream while a peer joins. The node subscribes a reader to its events before
    // it answers the request, so once the response's headers arrive no later event is missed:
    // the peer starts then, not after a guessed delay.
    let (subscribed, on_subscribed) = std::sync::mpsc::channel();
    let reader = std::thread::spawn({
        let api = api.clone();
        let token = token.trim().to_string();
        move || read_events_until(&api, &token, "peer_connected", subscribed)
    });
    on_subscribed
        .recv_timeout(Duration::from_secs(30))
        .expect("the event stream answers within 30 s");
    let b = Node::start(&dir.path().join("b"), &["--bootstrap", &a.tcp_addr()]);
    let text = reader.join().unwrap();
    assert!(
        text.contains(&b.peer_id()),
        "event names the new peer: {text}"
    );
}

/// Reads `/v0/events` until an event of `kind` naming a peer; sends on `subscribed` once the
/// response's headers have arrived.
fn read_events_until(
    api: &str,
    token: &str,
    kind: &str,
    subscribed: std::sync::mpsc::Sender<()>,
) -> String {
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
    let mut headers_seen = false;
    while !text.contains(&format!("event: {kind}")) || !text.contains("peer_id") {
        let n = s.read(&mut buf).expect("event arrives within 30 s");
        assert!(n > 0, "stream ended");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        if !headers_seen && text.contains("\r\n\r\n") {
            headers_seen = true;
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            let _ = subscribed.send(());
        }
    }
    text
}

#[test]
fn metrics_count_overlay_messages_per_protocol() {
    const KAD_SENT: &str = "weft_overlay_messages_sent_total{protocol=\"kad\"}";
    const KAD_RECEIVED: &str = "weft_overlay_messages_received_total{protocol=\"kad\"}";
    let dir = tempfile::tempdir().unwrap();
    let a = Node::start(&dir.path().join("a"), &[]);
    let b = Node::start(&dir.path().join("b"), &["--bootstrap", &a.tcp_addr()]);
    common::poll(Duration::from_secs(30), "b to connect to a", || {
        a.connected().contains(&b.peer_id()).then_some(())
    });
    let (api_a, token_a) = api_of(&a);
    let (api_b, token_b) = api_of(&b);

    let before = metrics_of(&api_a, &token_a);
    for protocol in ["kad", "flood", "directory"] {
        for name in [
            "messages_sent",
            "messages_received",
            "bad_frames",
            "dropped",
            "open_failures",
            "refused_streams",
        ] {
            let series = format!("weft_overlay_{name}_total{{protocol=\"{protocol}\"}}");
            assert!(before.contains_key(&series), "no {series}: {before:?}");
        }
    }
    for series in [
        "weft_share_upload_slices_total",
        "weft_share_upload_bytes_total",
        "weft_share_upload_busy_total",
    ] {
        assert!(before.contains_key(series), "no {series}: {before:?}");
    }

    // The first put may find a's routing table still empty: retry until it is stored.
    common::poll(Duration::from_secs(30), "dht put", || {
        let out = weft(
            &a.home,
            &["dht", "put", "metrics-test", "counted", "--json"],
        );
        out.status.success().then_some(())
    });
    let after = metrics_of(&api_a, &token_a);
    assert!(
        after[KAD_SENT] > 0.0 && after[KAD_SENT] > before[KAD_SENT],
        "kad messages sent: {} before the put, {} after",
        before[KAD_SENT],
        after[KAD_SENT]
    );
    assert!(after[KAD_RECEIVED] > 0.0, "a got kad answers: {after:?}");
    // b stored the record: it received kad messages and answered them.
    let get = weft(&b.home, &["dht", "get", "metrics-test"]);
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "counted");
    let at_b = metrics_of(&api_b, &token_b);
    assert!(at_b[KAD_RECEIVED] > 0.0, "{at_b:?}");
    assert!(at_b[KAD_SENT] > 0.0, "{at_b:?}");
}

#[test]
fn content_gateway_takes_the_token_as_a_query_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(&dir.path().join("n"), &[]);
    let (api, token) = api_of(&node);
    let bytes: Vec<u8> = (0..20_000u32)
        .map(|i| b"weft gateway test\n"[(i % 18) as usize])
        .collect();
    let file = common::share::write_file(&dir.path().join("files"), "page.txt", &bytes);
    common::share::share(&node, &file);
    let hash = common::share::hash_of(&bytes);
    let content = format!("/content/{hash}");

    // Right token in the query, no header: the bytes.
    let (status, body) = http_get(&api, &format!("{content}?token={token}"), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_bytes(), &bytes[..]);
    // Beside other parameters, and with HEAD.
    let (status, body) = http_get(
        &api,
        &format!("{content}?timeout_secs=5&token={token}"),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(body.len(), bytes.len());
    let head = raw_request(&api, &format!("HEAD {content}?token={token}"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {}", bytes.len())),
        "{head}"
    );

    // Wrong, empty or absent: 401, one line saying what to send.
    for path in [
        format!("{content}?token=wrong"),
        format!("{content}?token="),
        format!("{content}?token={token}x"),
        content.clone(),
    ] {
        let (status, body) = http_get(&api, &path, None);
        assert_eq!(status, 401, "{path}: {body}");
        let error: ErrorBody = serde_json::from_str(&body).expect("JSON error");
        let error = error.error.as_str();
        assert_eq!(error.lines().count(), 1, "{error}");
        let token_file = node.home.join("api.token");
        for needle in [
            "Authorization: Bearer",
            &token_file.display().to_string(),
            "?token=",
        ] {
            assert!(error.contains(needle), "'{needle}' not in: {error}");
        }
    }

    // Nowhere else: the query token opens no other route, with or without a wrong header.
    for path in ["/v0/peers", "/v0/id", "/metrics", "/v0/shared", "/v0/dht/x"] {
        let (status, body) = http_get(&api, &format!("{path}?token={token}"), None);
        assert_eq!(status, 401, "{path}?token=: {body}");
        let (status, _) = http_get(&api, &format!("{path}?token={token}"), Some("wrong"));
        assert_eq!(status, 401, "{path}?token= with a wrong header");
    }
    // Nor another method on the gateway's path.
    let post = raw_request(&api, &format!("POST {content}?token={token}"));
    assert!(post.starts_with("HTTP/1.1 401"), "{post}");
    // The header still works alone.
    let (status, body) = http_get(&api, &content, Some(&token));
    assert_eq!(status, 200);
    assert_eq!(body.as_bytes(), &bytes[..]);
}

/// Sends `"METHOD PATH"` with no token header; returns the whole answer as text.
fn raw_request(api: &str, request_line: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(api).expect("connect to API");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "{request_line} HTTP/1.1\r\nHost: {api}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}
