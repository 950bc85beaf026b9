//! Logs are plain text unless stderr is a terminal, and never coloured with `NO_COLOR`.

mod common;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Node, log_of, poll};

const ESC: char = '\x1b';

#[test]
fn a_log_written_to_a_file_holds_no_escape_codes() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start(dir.path(), &[]);
    // `weft up` logs its listen addresses at info once it is ready.
    let log = poll(Duration::from_secs(10), "log lines", || {
        let log = log_of(&node.home);
        log.contains("listening").then_some(log)
    });
    assert!(!log.contains(ESC), "escape codes in the log file:\n{log:?}");
}

/// Runs `weft up` with stderr on a terminal (a pty) until it has logged that it listens;
/// returns what it wrote there.
fn log_on_a_terminal(no_color: Option<&str>) -> String {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let pty = nix::pty::openpty(None, None).expect("a pty");
    let mut cmd = common::up_command(dir.path(), &[]);
    cmd.env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(pty.slave));
    if let Some(v) = no_color {
        cmd.env("NO_COLOR", v);
    }
    let mut child = cmd.spawn().expect("weft up starts");
    drop(cmd);
    let mut master = std::fs::File::from(pty.master);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && !String::from_utf8_lossy(&seen).contains("listening") {
        match master.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(
        text.contains("listening"),
        "no log line on the terminal: {text:?}"
    );
    text
}

#[test]
fn a_terminal_gets_colour_unless_no_color_is_set() {
    assert!(
        log_on_a_terminal(None).contains(ESC),
        "no colour on a terminal"
    );
    assert!(
        log_on_a_terminal(Some("")).contains(ESC),
        "an empty NO_COLOR is unset"
    );
    let plain = log_on_a_terminal(Some("1"));
    assert!(!plain.contains(ESC), "colour despite NO_COLOR: {plain:?}");
}
