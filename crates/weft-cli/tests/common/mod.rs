//! Helpers for tests that run real `weft` processes on loopback.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `weft` binary under test.
pub fn weft_bin() -> &'static str {
    env!("CARGO_BIN_EXE_weft")
}

/// Runs `weft --home HOME ARGS...` to completion.
pub fn weft(home: &Path, args: &[&str]) -> Output {
    Command::new(weft_bin())
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("weft runs")
}

/// Fails the test, saying why, unless it runs as root. Root-only tests are `#[ignore]`d (so a
/// run without root shows them as skipped, not passed) and `scripts/test` runs them when root.
pub fn require_root(what: &str) {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "this test needs root ({what}): run it as root, or leave it out (it is #[ignore]d)"
    );
}

/// Polls `f` every 100 ms until it returns `Some`, or panics after `limit` with `what`.
pub fn poll<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `weft --home HOME up` on loopback with a free port, no mDNS, info logs and `extra` flags,
/// for the caller to give its standard streams and start.
pub fn up_command(home: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(weft_bin());
    cmd.arg("--home")
        .arg(home)
        .args([
            "up",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api",
            "127.0.0.1:0",
            "--no-mdns",
        ])
        .args(extra)
        .env("RUST_LOG", "info,libp2p=warn");
    cmd
}

/// A `weft up` child process with its own data folder; killed when dropped.
pub struct Node {
    pub home: PathBuf,
    pub child: Child,
}

impl Node {
    /// Starts `weft up` on loopback with a free port, no mDNS, and `extra` flags.
    pub fn start(home: &Path, extra: &[&str]) -> Node {
        std::fs::create_dir_all(home).expect("create home");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(home.join("test-node.log"))
            .expect("log file");
        let child = up_command(home, extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("weft up starts");
        let mut node = Node {
            home: home.to_path_buf(),
            child,
        };
        node.wait_ready();
        node
    }

    /// Waits for `addrs.json`.
    pub fn wait_ready(&mut self) {
        let home = self.home.clone();
        let child = &mut self.child;
        poll(Duration::from_secs(30), "addrs.json", || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("weft up exited early ({status}); log:\n{}", log_of(&home));
            }
            self::addrs(&home)
        });
    }

    /// This node's `addrs.json`.
    pub fn addrs(&self) -> Value {
        addrs(&self.home).expect("addrs.json")
    }

    /// Its peer id.
    pub fn peer_id(&self) -> String {
        self.addrs()["peer_id"]
            .as_str()
            .expect("peer_id")
            .to_string()
    }

    /// Its TCP listen address on 127.0.0.1, with `/p2p/`.
    pub fn tcp_addr(&self) -> String {
        self.addrs()["listen"]
            .as_array()
            .expect("listen")
            .iter()
            .filter_map(Value::as_str)
            .find(|a| a.starts_with("/ip4/127.0.0.1/tcp/"))
            .expect("a loopback tcp address")
            .to_string()
    }

    /// Peer ids it is connected to, from `weft peers --json`.
    pub fn connected(&self) -> Vec<String> {
        let out = weft(&self.home, &["peers", "--json"]);
        if !out.status.success() {
            return Vec::new();
        }
        let v: Value = serde_json::from_slice(&out.stdout).expect("peers --json is JSON");
        v["connected"]
            .as_array()
            .expect("connected")
            .iter()
            .filter_map(|p| p["peer_id"].as_str().map(str::to_string))
            .collect()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal");
        let status = poll(Duration::from_secs(15), "node exit", || {
            self.child.try_wait().ok().flatten()
        });
        std::mem::forget(self);
        status
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `addrs.json` in `home`, if present and complete.
pub fn addrs(home: &Path) -> Option<Value> {
    let v: Value = serde_json::from_slice(&std::fs::read(home.join("addrs.json")).ok()?).ok()?;
    v["listen"].as_array().filter(|l| !l.is_empty())?;
    Some(v)
}

/// The node's log so far.
pub fn log_of(home: &Path) -> String {
    std::fs::read_to_string(home.join("test-node.log")).unwrap_or_default()
}

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

/// The single line a failed command printed, asserting there is exactly one.
pub fn one_error_line(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "expected failure, got {:?}",
        out.status
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on stderr, got:\n{stderr}"
    );
    lines[0].to_string()
}

/// The API address and token of `node`.
pub fn api_of(node: &Node) -> (String, String) {
    let api = node.addrs()["api"].as_str().expect("api").to_string();
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
