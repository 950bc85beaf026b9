//! `weft demo`: a local network of real `weft up` processes on 127.0.0.1, joined by
//! bootstrap, shown live as a who-is-connected-to-whom matrix.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use tokio::process::{Child, Command};
use weft_node::client::Client;

use crate::cli::DemoArgs;

/// Most nodes a demo starts.
const MAX_NODES: u32 = 32;
/// How long a node may take to write its addresses.
const START_TIMEOUT: Duration = Duration::from_secs(20);

struct DemoNode {
    home: PathBuf,
    child: Child,
}

/// Runs the demo until Ctrl-C or `--duration`.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    if !(2..=MAX_NODES).contains(&args.nodes) {
        bail!(
            "--nodes must be between 2 and {MAX_NODES} (got {})",
            args.nodes
        );
    }
    let dir = tempfile::Builder::new().prefix("weft-demo-").tempdir()?;
    let exe = std::env::current_exe().context("cannot find the weft executable")?;
    println!(
        "weft demo: starting {} nodes in {}",
        args.nodes,
        dir.path().display()
    );

    let mut nodes: Vec<DemoNode> = Vec::new();
    let result = async {
        let mut bootstrap: Option<String> = None;
        for i in 0..args.nodes {
            let home = dir.path().join(format!("node{i}"));
            nodes.push(start_node(&exe, &home, bootstrap.as_deref())?);
            let addrs = wait_ready(&home, &mut nodes[i as usize].child).await?;
            println!("  node{i}  {}", addrs.peer_id);
            if bootstrap.is_none() {
                bootstrap = addrs.listen.iter().find(|a| a.contains("/tcp/")).cloned();
            }
        }
        show_live(&nodes, args.duration).await
    }
    .await;

    println!("stopping {} nodes", nodes.len());
    for n in &mut nodes {
        stop_node(n).await;
    }
    result
}

fn start_node(exe: &Path, home: &Path, bootstrap: Option<&str>) -> anyhow::Result<DemoNode> {
    std::fs::create_dir_all(home)?;
    let log = std::fs::File::create(home.join("node.log"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--home")
        .arg(home)
        .args([
            "up",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--listen",
            "/ip4/127.0.0.1/udp/0/quic-v1",
        ])
        .args(["--api", "127.0.0.1:0", "--no-mdns"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    if let Some(b) = bootstrap {
        cmd.args(["--bootstrap", b]);
    }
    let child = cmd.spawn().context("cannot start a weft node")?;
    Ok(DemoNode {
        home: home.to_path_buf(),
        child,
    })
}

async fn wait_ready(home: &Path, child: &mut Child) -> anyhow::Result<weft_node::home::Addrs> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some((addrs, _)) = weft_node::home::read_running(home) {
            return Ok(addrs);
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "a demo node exited ({status}); see {}",
                home.join("node.log").display()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "a demo node did not start in time; see {}",
                home.join("node.log").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stop_node(node: &mut DemoNode) {
    if let Some(pid) = node.child.id().and_then(|p| i32::try_from(p).ok()) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
    }
    if tokio::time::timeout(Duration::from_secs(5), node.child.wait())
        .await
        .is_err()
    {
        let _ = node.child.kill().await;
    }
}

async fn show_live(nodes: &[DemoNode], duration: Option<u64>) -> anyhow::Result<()> {
    let clients: Vec<Client> = nodes
        .iter()
        .map(|n| Client::for_home(&n.home))
        .collect::<Result<_, _>>()?;
    let ids: Vec<String> = clients.iter().map(|c| c.addrs.peer_id.clone()).collect();
    let tty = std::io::stdout().is_terminal();
    let started = Instant::now();
    let stop_at = duration.map(|d| started + Duration::from_secs(d));
    let mut last = String::new();
    if duration.is_none() {
        println!("press Ctrl-C to stop");
    }
    loop {
        let view = render(&clients, &ids, started).await;
        // Without a terminal, print only when the matrix (all but the clock line) changes.
        let matrix = view.split_once('\n').map_or("", |(_, m)| m).to_string();
        if tty {
            print!("\x1b[2J\x1b[H{view}");
        } else if matrix != last {
            print!("{view}");
        }
        std::io::stdout().flush()?;
        last = matrix;
        let pause = tokio::time::sleep(Duration::from_secs(1));
        tokio::select! {
            _ = pause => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        if stop_at.is_some_and(|t| Instant::now() >= t) {
            return Ok(());
        }
    }
}

/// The connection matrix: row i, column j is `●` when node i has a connection to node j.
async fn render(clients: &[Client], ids: &[String], started: Instant) -> String {
    let mut out = format!(
        "weft demo — {} nodes on 127.0.0.1, {}s\n\n      ",
        ids.len(),
        started.elapsed().as_secs()
    );
    for j in 0..ids.len() {
        out.push_str(&format!("{j:>3}"));
    }
    out.push_str("   peers\n");
    let mut links = 0;
    for (i, c) in clients.iter().enumerate() {
        let connected: Vec<String> = match c.get::<Value>("/v0/peers").await {
            Ok(v) => v
                .get("connected")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|p| p.get("peer_id")?.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            Err(_) => {
                out.push_str(&format!("node{i:<2} (not answering)\n"));
                continue;
            }
        };
        out.push_str(&format!("node{i:<2}"));
        for (j, id) in ids.iter().enumerate() {
            let cell = if i == j {
                "·"
            } else if connected.contains(id) {
                "●"
            } else {
                " "
            };
            out.push_str(&format!("{cell:>3}"));
        }
        links += connected.len();
        out.push_str(&format!("   {}\n", connected.len()));
    }
    out.push_str(&format!(
        "\n{} connections seen from both ends: {}\n",
        links,
        if links == ids.len() * (ids.len() - 1) {
            "full mesh"
        } else {
            "joining"
        }
    ));
    out
}
