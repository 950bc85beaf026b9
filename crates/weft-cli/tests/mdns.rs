//! mDNS discovery with no bootstrap at all, between nodes in network namespaces joined by a
//! bridge. The test makes the namespaces, the bridge and the links, and removes them after.
//! It needs root and `ip` (iproute2): it is `#[ignore]`d, so it shows as skipped, and
//! `scripts/test` runs it when root (CI is root); run as root, it fails if it cannot build
//! the namespaces.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Node, poll, weft_bin};

/// Network namespaces and a bridge, removed on drop.
struct Lan {
    tag: String,
    hosts: Vec<String>,
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Lan {
    /// Hosts `10.201.0.1..=n` on one bridge, each in its own namespace.
    fn new(n: usize) -> Option<Lan> {
        let tag = format!("wm{}", std::process::id() % 100_000);
        let mut lan = Lan {
            tag: tag.clone(),
            hosts: Vec::new(),
        };
        let sw = format!("{tag}sw");
        if !ip(&["netns", "add", &sw]) {
            return None;
        }
        lan.hosts.push(sw.clone());
        let ok = ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])
            && ip(&["-n", &sw, "link", "set", "br0", "up"]);
        if !ok {
            return None;
        }
        for i in 1..=n {
            let host = format!("{tag}h{i}");
            let (inner, outer) = (format!("{tag}i{i}"), format!("{tag}o{i}"));
            let addr = format!("10.201.0.{i}/24");
            let ok = ip(&["netns", "add", &host])
                && {
                    lan.hosts.push(host.clone());
                    true
                }
                && ip(&[
                    "link", "add", &inner, "type", "veth", "peer", "name", &outer,
                ])
                && ip(&["link", "set", &inner, "netns", &host])
                && ip(&["link", "set", &outer, "netns", &sw])
                && ip(&["-n", &sw, "link", "set", &outer, "master", "br0"])
                && ip(&["-n", &sw, "link", "set", &outer, "up"])
                && ip(&["-n", &host, "addr", "add", &addr, "dev", &inner])
                && ip(&["-n", &host, "link", "set", &inner, "up"])
                && ip(&["-n", &host, "link", "set", "lo", "up"]);
            if !ok {
                return None;
            }
        }
        Some(lan)
    }

    fn host(&self, i: usize) -> String {
        format!("{}h{i}", self.tag)
    }

    /// `weft ARGS` inside host `i`'s namespace.
    fn weft(&self, i: usize, home: &Path, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.host(i), weft_bin()])
            .arg("--home")
            .arg(home)
            .args(args);
        c
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for h in &self.hosts {
            ip(&["netns", "del", h]);
        }
    }
}

#[test]
#[ignore = "needs root (network namespaces); scripts/test runs it when root, as CI is"]
fn nodes_on_a_lan_find_each_other_by_mdns_alone() {
    common::require_root("network namespaces");
    let lan = Lan::new(3).expect("create network namespaces and a bridge (ip netns, ip link)");
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = Vec::new();
    for i in 1..=3 {
        let home = dir.path().join(format!("h{i}"));
        std::fs::create_dir_all(&home).unwrap();
        let log = std::fs::File::create(home.join("test-node.log")).unwrap();
        let listen = format!("/ip4/10.201.0.{i}/tcp/0");
        let child = lan
            .weft(
                i,
                &home,
                &["up", "--listen", &listen, "--api", "127.0.0.1:0"],
            )
            .env("RUST_LOG", "info,libp2p=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        nodes.push(Node { home, child });
    }
    for (i, Node { home, .. }) in nodes.iter().enumerate() {
        poll(
            Duration::from_secs(60),
            &format!("host {} to see 2 peers by mDNS", i + 1),
            || {
                let out = lan.weft(i + 1, home, &["peers", "--json"]).output().ok()?;
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
                let c = v["connected"].as_array()?;
                (c.len() == 2).then_some(())
            },
        );
        let out = lan
            .weft(i + 1, home, &["peers", "--json"])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let sources: Vec<&str> = v["known"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["source"].as_str())
            .collect();
        assert!(
            sources.contains(&"mdns"),
            "host {} found its peers by mDNS: {sources:?}",
            i + 1
        );
    }
    println!("RESULT mdns hosts=3 each_sees=2");
}
