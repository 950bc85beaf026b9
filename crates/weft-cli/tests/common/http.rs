//! The node's HTTP API from tests: plain HTTP/1.1 over a loopback socket, the token from
//! the data folder, and an OpenMetrics reader.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::Node;

/// A minimal HTTP/1.1 GET against the node's API; returns (status, body).
pub fn http_get(api: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect(api).expect("connect to API");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {api}\r\n{auth}Connection: close\r\n\r\n"
    )
    .expect("send");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Streaming routes never end: read until the headers and some body have arrived.
    loop {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.len() > 1 << 20 {
            break;
        }
        if path.ends_with("/events") && buf.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("HTTP status line");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The API address and token of `node`.
pub fn api_of(node: &Node) -> (String, String) {
    let api = node.addrs().api;
    let token = std::fs::read_to_string(node.home.join("api.token")).expect("api.token");
    (api, token.trim().to_string())
}

/// Checks that `text` is OpenMetrics text (every sample belongs to a family with a `# TYPE`,
/// has a numeric value, and the text ends with `# EOF`) and returns its samples, by name with
/// labels.
pub fn parse_openmetrics(text: &str) -> BTreeMap<String, f64> {
    assert!(text.ends_with("# EOF\n"), "no final '# EOF':\n{text}");
    let mut families: Vec<(String, String)> = Vec::new();
    let mut samples = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name type");
            families.push((name.to_string(), kind.to_string()));
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        if *line == "# EOF" {
            assert_eq!(i + 1, lines.len(), "'# EOF' is the last line");
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("sample: series value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("value of '{line}' is a number"));
        let name = series.split('{').next().expect("name");
        let (family, kind) = families
            .iter()
            .rev()
            .find(|(f, _)| name.starts_with(f.as_str()))
            .unwrap_or_else(|| panic!("'{line}' has no # TYPE"));
        if kind == "counter" {
            assert!(
                name == format!("{family}_total") || name == format!("{family}_created"),
                "counter sample '{name}' ends in _total"
            );
        }
        samples.insert(series.to_string(), value);
    }
    samples
}

/// The samples of `/metrics` at `api` ([`parse_openmetrics`]).
pub fn metrics_of(api: &str, token: &str) -> BTreeMap<String, f64> {
    let (status, text) = http_get(api, "/metrics", Some(token));
    assert_eq!(status, 200, "{text}");
    parse_openmetrics(&text)
}

/// An answer of the node's HTTP API, read until the connection closed.
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// The header lines, names lowercased (`name: value`).
    pub headers: Vec<String>,
    /// The body bytes that arrived (fewer than `content-length` if the transfer broke).
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// The value of header `name` (lowercase), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
    }
}

/// `METHOD PATH` on the node's API with its token and `headers` (`"Name: value"`).
pub fn http(node: &Node, method: &str, path: &str, headers: &[&str]) -> HttpAnswer {
    let (api, token) = api_of(node);
    let mut s = TcpStream::connect(&api).expect("connect to API");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nAuthorization: Bearer {token}\r\n{extra}Connection: close\r\n\r\n"
    )
    .expect("send");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of the headers");
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("HTTP status line");
    let headers = lines
        .map(|l| match l.split_once(": ") {
            Some((k, v)) => format!("{}: {v}", k.to_ascii_lowercase()),
            None => l.to_ascii_lowercase(),
        })
        .collect();
    HttpAnswer {
        status,
        headers,
        body: buf[split + 4..].to_vec(),
    }
}
