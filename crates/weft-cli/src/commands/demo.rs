//! `weft demo`: a local network of real `weft up` processes on 127.0.0.1, joined by
//! bootstrap. Node 0 is a directory server, node 1 an ultrapeer, the others leaves that
//! publish to the directory. Once the mesh has formed, two leaves share generated sample
//! files, a third finds them through each location model (directory, flood, DHT) and
//! downloads one from both sources; then the demo shows a live who-is-connected-to-whom matrix.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::process::{Child, Command};
use weft_api::client::Client;
use weft_api::share::{ResultGroup, ShareJob};

use crate::cli::DemoArgs;
use crate::output::{OutputError, out, outln};

/// Most nodes a demo starts.
const MAX_NODES: u32 = 32;
/// Fewest nodes for the file-sharing scene: a directory, an ultrapeer, two sharing leaves
/// and a searching leaf.
const SHARE_MIN_NODES: u32 = 5;
/// How long a node may take to write its addresses.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the demo waits for the full mesh before it goes on anyway.
const MESH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `weft share` may take on the sample files.
const SHARE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a model may take to find every sample file with all its sources.
const SEARCH_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the download may take.
const GET_TIMEOUT: Duration = Duration::from_secs(120);
/// Upload rate of each sharing leaf (bytes/s), so the multi-source progress bar can be seen.
const DEMO_UPLOAD_RATE: u64 = 4 << 20;

/// A sample file: its name, size, seed of its pseudo-random content, and whether both
/// sharing leaves hold it.
struct Sample {
    name: &'static str,
    size: usize,
    seed: u64,
    on_both: bool,
}

/// The sample files the sharing leaves hold.
const SAMPLES: [Sample; 3] = [
    Sample {
        name: "blue-train.flac",
        size: 12 << 20,
        seed: 1957,
        on_both: true,
    },
    Sample {
        name: "kind-of-blue.mp3",
        size: 5 << 20,
        seed: 1959,
        on_both: true,
    },
    Sample {
        name: "paper-p2p-2002.pdf",
        size: 2 << 20,
        seed: 2002,
        on_both: false,
    },
];

/// The node's place in the demo.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DemoRole {
    Directory,
    Ultrapeer,
    Leaf,
}

impl DemoRole {
    fn of(i: u32) -> Self {
        match i {
            0 => Self::Directory,
            1 => Self::Ultrapeer,
            _ => Self::Leaf,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Directory => "directory",
            Self::Ultrapeer => "ultrapeer",
            Self::Leaf => "leaf",
        }
    }
}

struct DemoNode {
    home: PathBuf,
    child: Child,
}

/// Where and how a node starts.
struct NodeSpec<'a> {
    role: DemoRole,
    bootstrap: Option<&'a str>,
    directory: Option<&'a str>,
    /// Limit the node's uploads (the sharing leaves).
    throttle: bool,
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
    outln!(
        "weft demo: starting {} nodes in {}",
        args.nodes,
        dir.path().display()
    )?;

    let mut nodes: Vec<DemoNode> = Vec::new();
    let result = async {
        let mut bootstrap: Option<String> = None;
        for i in 0..args.nodes {
            let home = dir.path().join(format!("node{i}"));
            let role = DemoRole::of(i);
            let spec = NodeSpec {
                role,
                bootstrap: bootstrap.as_deref(),
                directory: bootstrap.as_deref().filter(|_| role == DemoRole::Leaf),
                throttle: args.nodes >= SHARE_MIN_NODES && (i == 2 || i == 3),
            };
            nodes.push(start_node(&exe, &home, &spec)?);
            let addrs = wait_ready(&home, &mut nodes[i as usize].child).await?;
            outln!("  node{i:<2} {:<10} {}", role.name(), addrs.peer_id)?;
            if bootstrap.is_none() {
                // Node 0, the directory server, is everyone's bootstrap peer too.
                bootstrap = addrs.listen.iter().find(|a| a.contains("/tcp/")).cloned();
            }
        }
        let started = Instant::now();
        let stop_at = args.duration.map(|d| started + Duration::from_secs(d));
        let clients: Vec<Client> = nodes
            .iter()
            .map(|n| Client::for_home(&n.home))
            .collect::<Result<_, _>>()?;
        tokio::select! {
            r = scene(&exe, &nodes, &clients) => {
                match r {
                    // Output that cannot be written ends the demo, not just the scene.
                    Err(e) if e.downcast_ref::<OutputError>().is_some() => return Err(e),
                    Err(e) => outln!("demo: file sharing scene stopped: {e:#}")?,
                    Ok(()) => {}
                }
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        show_live(&clients, started, stop_at).await
    }
    .await;

    // The nodes are stopped even when this line cannot be written.
    let said = outln!("stopping {} nodes", nodes.len());
    for n in &mut nodes {
        stop_node(n).await;
    }
    result?;
    Ok(said?)
}

fn start_node(exe: &Path, home: &Path, spec: &NodeSpec<'_>) -> anyhow::Result<DemoNode> {
    std::fs::create_dir_all(home)?;
    if spec.throttle {
        std::fs::write(
            home.join("config.toml"),
            format!("[share]\nupload_rate = {DEMO_UPLOAD_RATE}\n"),
        )?;
    }
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
        .args(["--role", spec.role.name()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    if let Some(b) = spec.bootstrap {
        cmd.args(["--bootstrap", b]);
    }
    if let Some(d) = spec.directory {
        cmd.args(["--directory", d]);
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

/// The file-sharing scene: wait for the mesh, share, search through each model, download.
async fn scene(exe: &Path, nodes: &[DemoNode], clients: &[Client]) -> anyhow::Result<()> {
    let ids: Vec<String> = clients.iter().map(|c| c.addrs.peer_id.clone()).collect();
    let t = Instant::now();
    let formed = loop {
        let links = links(clients, &ids).await;
        if links == ids.len() * (ids.len() - 1) {
            break true;
        }
        if t.elapsed() > MESH_TIMEOUT {
            outln!(
                "demo: the mesh has {links} of {} connections after {}s; going on",
                ids.len() * (ids.len() - 1),
                MESH_TIMEOUT.as_secs()
            )?;
            break false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if formed {
        outln!(
            "demo: full mesh of {} nodes in {:.1}s",
            ids.len(),
            t.elapsed().as_secs_f64()
        )?;
    }
    if nodes.len() < SHARE_MIN_NODES as usize {
        outln!("demo: the file sharing scene needs --nodes {SHARE_MIN_NODES} or more; skipped")?;
        return Ok(());
    }
    let sharers = [&nodes[2], &nodes[3]];
    let searcher = nodes.len() - 1;

    outln!("\n== share: node2 and node3 index generated sample files")?;
    let mut originals: Vec<(String, Vec<u8>)> = Vec::new();
    for s in &SAMPLES {
        let bytes = sample_bytes(s.size, s.seed);
        let hash = weft_core::id::Key256::hash(&bytes).to_string();
        originals.push((hash, bytes));
    }
    for (k, node) in sharers.iter().enumerate() {
        let folder = node.home.join("shared");
        std::fs::create_dir_all(&folder)?;
        let mut held = Vec::new();
        for (s, (_, bytes)) in SAMPLES.iter().zip(&originals) {
            if k == 0 || s.on_both {
                std::fs::write(folder.join(s.name), bytes)?;
                held.push(s.name);
            }
        }
        let out: ShareJob = weft_json(
            exe,
            &node.home,
            &["share", path_str(&folder)?, "--json"],
            SHARE_TIMEOUT,
        )
        .await
        .with_context(|| format!("weft share on node{}", k + 2))?;
        outln!(
            "  node{}  {} files, {} hashed  ({})",
            k + 2,
            held.len(),
            out.files_hashed,
            held.join(", ")
        )?;
    }

    let want: Vec<(String, u64)> = SAMPLES
        .iter()
        .zip(&originals)
        .filter(|(s, _)| s.name.contains("blue"))
        .map(|(s, (h, _))| (h.clone(), if s.on_both { 2 } else { 1 }))
        .collect();
    for via in ["directory", "flood", "dht"] {
        outln!("\n== node{searcher} searches \"blue\" --via {via}")?;
        let t = Instant::now();
        let results = search_until(exe, &nodes[searcher].home, "blue", via, &want).await?;
        print_results(&results)?;
        outln!(
            "  {} results through {via} in {:.2}s",
            results.len(),
            t.elapsed().as_secs_f64()
        )?;
    }

    let (hash, original) = &originals[0];
    outln!(
        "\n== node{searcher} downloads {} ({}) from every source \
         (the sources' uploads are capped at {}/s here, so that the progress shows)",
        SAMPLES[0].name,
        indicatif::HumanBytes(original.len() as u64),
        indicatif::HumanBytes(DEMO_UPLOAD_RATE)
    )?;
    let out = nodes[searcher].home.join(SAMPLES[0].name);
    let t = Instant::now();
    let mut get = Command::new(exe);
    get.arg("--home")
        .arg(&nodes[searcher].home)
        .args(["get", hash, "-o", path_str(&out)?])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let status = tokio::time::timeout(GET_TIMEOUT, get.status())
        .await
        .map_err(|_| anyhow::anyhow!("weft get took over {}s", GET_TIMEOUT.as_secs()))??;
    if !status.success() {
        bail!("weft get failed ({status})");
    }
    let got = std::fs::read(&out).with_context(|| format!("cannot read {}", out.display()))?;
    if got != *original {
        bail!("the downloaded {} differs from the original", out.display());
    }
    let secs = t.elapsed().as_secs_f64();
    outln!(
        "demo: {} — {} found through directory, flood and dht; downloaded in {secs:.1}s, \
         byte-identical to the original (blake3 {}…)\n",
        SAMPLES[0].name,
        indicatif::HumanBytes(got.len() as u64),
        &hash[..16]
    )?;
    Ok(())
}

/// Deterministic pseudo-random bytes (xorshift64), different for each `seed`.
fn sample_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str()
        .with_context(|| format!("{} is not UTF-8", p.display()))
}

/// Runs `weft --home HOME ARGS...` and parses its standard output as JSON.
async fn weft_json<T: DeserializeOwned>(
    exe: &Path,
    home: &Path,
    args: &[&str],
    limit: Duration,
) -> anyhow::Result<T> {
    let mut cmd = Command::new(exe);
    cmd.arg("--home")
        .arg(home)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(limit, cmd.output())
        .await
        .map_err(|_| anyhow::anyhow!("no answer in {}s", limit.as_secs()))??;
    if !out.status.success() {
        bail!(
            "{}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("failed")
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// What `weft search --json` prints, as far as the demo reads it.
#[derive(Deserialize)]
struct SearchAnswer {
    results: Vec<ResultGroup>,
}

/// Searches until every `(hash, sources)` in `want` is found with at least that many sources,
/// for at most [`SEARCH_TIMEOUT`]; returns the last results.
async fn search_until(
    exe: &Path,
    home: &Path,
    words: &str,
    via: &str,
    want: &[(String, u64)],
) -> anyhow::Result<Vec<ResultGroup>> {
    let t = Instant::now();
    let mut last: Vec<ResultGroup> = Vec::new();
    loop {
        let args = ["search", words, "--via", via, "--timeout", "3", "--json"];
        match weft_json::<SearchAnswer>(exe, home, &args, Duration::from_secs(20)).await {
            Ok(v) => last = v.results,
            Err(e) => outln!("  search failed: {e:#}; trying again")?,
        }
        let complete = want.iter().all(|(hash, sources)| {
            last.iter()
                .any(|r| &r.hash == hash && r.sources >= *sources)
        });
        if complete {
            return Ok(last);
        }
        if t.elapsed() > SEARCH_TIMEOUT {
            print_results(&last)?;
            bail!(
                "{via} search did not find every sample with all its sources in {}s",
                SEARCH_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Prints search results, one row per content hash.
fn print_results(results: &[ResultGroup]) -> Result<(), OutputError> {
    outln!("  {:<18} {:>9} {:>7}  NAMES", "HASH", "SIZE", "SOURCES")?;
    for r in results {
        outln!(
            "  {:<18} {:>9} {:>7}  {}",
            format!("{}…", r.hash.get(..16).unwrap_or(&r.hash)),
            indicatif::HumanBytes(r.size).to_string(),
            r.sources,
            r.names.join(", ")
        )?;
    }
    Ok(())
}

/// The peer ids each node is connected to, or `None` for a node that does not answer.
async fn connections(clients: &[Client]) -> Vec<Option<Vec<String>>> {
    let mut all = Vec::with_capacity(clients.len());
    for c in clients {
        all.push(
            c.peers()
                .await
                .ok()
                .map(|p| p.connected.into_iter().map(|c| c.peer_id).collect()),
        );
    }
    all
}

/// Connections among the demo's nodes, counted from both ends.
async fn links(clients: &[Client], ids: &[String]) -> usize {
    connections(clients)
        .await
        .iter()
        .flatten()
        .map(|c| c.iter().filter(|p| ids.contains(p)).count())
        .sum()
}

async fn show_live(
    clients: &[Client],
    started: Instant,
    stop_at: Option<Instant>,
) -> anyhow::Result<()> {
    let ids: Vec<String> = clients.iter().map(|c| c.addrs.peer_id.clone()).collect();
    let tty = std::io::stdout().is_terminal();
    let mut last = String::new();
    if stop_at.is_none() {
        outln!("press Ctrl-C to stop")?;
    }
    loop {
        let view = render(clients, &ids, started).await;
        // Without a terminal, print only when the matrix (all but the clock line) changes.
        let matrix = view.split_once('\n').map_or("", |(_, m)| m).to_string();
        if tty {
            out!("\x1b[2J\x1b[H{view}")?;
        } else if matrix != last {
            out!("{view}")?;
        }
        last = matrix;
        if stop_at.is_some_and(|t| Instant::now() >= t) {
            return Ok(());
        }
        let pause = tokio::time::sleep(Duration::from_secs(1));
        tokio::select! {
            _ = pause => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
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
    for (i, connected) in connections(clients).await.into_iter().enumerate() {
        let Some(connected) = connected else {
            out.push_str(&format!("node{i:<2} (not answering)\n"));
            continue;
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
        out.push_str(&format!(
            "   {}  {}\n",
            connected.len(),
            DemoRole::of(i as u32).name()
        ));
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
