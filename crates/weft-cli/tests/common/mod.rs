//! The one harness of the tests that run real `weft` processes: starting `weft up` on
//! loopback (this module), talking to a node's HTTP API (`http`), and the file-sharing
//! commands and sample files (`share`). Every wait is a poll on a condition with a deadline.
#![allow(dead_code, reason = "each test file uses a different subset")]

pub mod http;
pub mod share;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use weft_api::Addrs;
use weft_api::node::Peers;

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

/// Starts `weft up` on loopback in `home` with `extra` flags, `env` variables and, if given,
/// a `config.toml`.
pub fn start(home: &Path, extra: &[&str], env: &[(&str, &str)], config: Option<&str>) -> Node {
    std::fs::create_dir_all(home).expect("create home");
    if let Some(c) = config {
        std::fs::write(home.join("config.toml"), c).expect("write config.toml");
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.join("test-node.log"))
        .expect("log file");
    let mut cmd = up_command(home, extra);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("weft up starts");
    let mut node = Node {
        home: home.to_path_buf(),
        child,
    };
    node.wait_ready();
    node
}

/// A `weft up` child process with its own data folder; killed when dropped.
pub struct Node {
    pub home: PathBuf,
    pub child: Child,
}

impl Node {
    /// Starts `weft up` on loopback with a free port, no mDNS, and `extra` flags.
    pub fn start(home: &Path, extra: &[&str]) -> Node {
        start(home, extra, &[], None)
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
    pub fn addrs(&self) -> Addrs {
        addrs(&self.home).expect("addrs.json")
    }

    /// Its peer id.
    pub fn peer_id(&self) -> String {
        self.addrs().peer_id
    }

    /// Its TCP listen address on 127.0.0.1, with `/p2p/`.
    pub fn tcp_addr(&self) -> String {
        self.addrs()
            .listen
            .into_iter()
            .find(|a| a.starts_with("/ip4/127.0.0.1/tcp/"))
            .expect("a loopback tcp address")
    }

    /// Peer ids it is connected to, from `weft peers --json`.
    pub fn connected(&self) -> Vec<String> {
        let out = weft(&self.home, &["peers", "--json"]);
        if !out.status.success() {
            return Vec::new();
        }
        let peers: Peers = serde_json::from_slice(&out.stdout).expect("peers --json is Peers");
        peers.connected.into_iter().map(|p| p.peer_id).collect()
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
pub fn addrs(home: &Path) -> Option<Addrs> {
    let a: Addrs = serde_json::from_slice(&std::fs::read(home.join("addrs.json")).ok()?).ok()?;
    (!a.listen.is_empty()).then_some(a)
}

/// The node's log so far.
pub fn log_of(home: &Path) -> String {
    std::fs::read_to_string(home.join("test-node.log")).unwrap_or_default()
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
