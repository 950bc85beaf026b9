//! The command line: what each command and flag means.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// weft: a peer-to-peer node for sharing files, computing and working together.
///
/// Start a node with `weft up`; every other command talks to the node running on the same
/// data folder (--home, WEFT_HOME, or the platform's data directory).
#[derive(Parser, Debug)]
#[command(name = "weft", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// The node's data folder [default: the platform's data directory, e.g. ~/.local/share/weft]
    #[arg(long, env = "WEFT_HOME", global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Commands,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Commands {
    /// Run a node in the foreground until Ctrl-C.
    Up(UpArgs),
    /// Show this node's peer id and addresses.
    Id(JsonArg),
    /// Show connected and remembered peers.
    Peers(JsonArg),
    /// Start a small local network of nodes on 127.0.0.1 and show it live.
    Demo(DemoArgs),
    /// Run the location and routing algorithms in the discrete-event simulator
    /// (up to a million simulated peers) and compare with the literature.
    Sim(Box<weft_sim::cli::SimArgs>),
    /// Store and look up records in the Kademlia DHT.
    #[command(subcommand)]
    Dht(DhtCommand),
    /// Share files or folders: index them, answer searches for them, serve them.
    Share(ShareArgs),
    /// Stop sharing a file or folder given to `weft share`.
    Unshare(UnshareArgs),
    /// List the shared files and folders (with --files, every file with its hash).
    Shared(SharedArgs),
    /// Search the network for files; results appear as they arrive, one row per content.
    Search(SearchArgs),
    /// Download content by hash from every source at once, verified and resumable.
    Get(GetArgs),
    /// Add a contact: a name of your choice for a peer id.
    #[command(subcommand)]
    Contact(ContactCommand),
    /// List contacts: online or offline, and when last seen.
    Contacts(JsonArg),
    /// Send and read end-to-end encrypted messages; they reach contacts who are offline
    /// through mailbox peers.
    #[command(subcommand)]
    Msg(MsgCommand),
    /// Distributed computing: submit WebAssembly jobs split into work units, follow them,
    /// collect results checked by redundancy; see who computes and their credit.
    #[command(subcommand)]
    Compute(ComputeCommand),
}

/// `weft contact` subcommands.
#[derive(Subcommand, Debug)]
pub enum ContactCommand {
    /// Name a peer id (as `weft id` prints it on the other node).
    Add {
        /// The peer id, 12D3KooW…
        #[arg(value_name = "PEERID")]
        peer_id: String,
        /// The name: 1 to 32 of a-z 0-9 - _ . starting with a letter.
        #[arg(value_name = "NAME")]
        name: String,
        /// Print JSON: {"name", "peer_id", "status", "last_seen_us"}.
        #[arg(long)]
        json: bool,
    },
}

/// `weft msg` subcommands.
#[derive(Subcommand, Debug)]
pub enum MsgCommand {
    /// Send TEXT to the contact NAME: delivered now, or when NAME is back online.
    Send {
        /// The contact's name.
        #[arg(value_name = "NAME")]
        name: String,
        /// The message (at most 16 KiB).
        #[arg(value_name = "TEXT")]
        text: String,
        /// Seconds to wait for the recipient's ack before saying "queued".
        #[arg(long, value_name = "SECS", default_value_t = 3)]
        wait: u64,
        /// Print JSON: {"to", "peer_id", "seq", "delivered"}.
        #[arg(long)]
        json: bool,
    },
    /// Show the messages received, in each conversation's order.
    Inbox {
        /// Keep showing messages as they arrive, until Ctrl-C.
        #[arg(long)]
        follow: bool,
        /// Only messages after this inbox id.
        #[arg(long, value_name = "ID", default_value_t = 0)]
        after: i64,
        /// Print JSON: {"messages": [{"id", "from", "peer_id", "seq", "sent_us", "received_us",
        /// "text"}], "last_id"}; with --follow, one message object per line.
        #[arg(long)]
        json: bool,
    },
}

/// `weft compute` subcommands. JOB is the 64-hex-digit id `submit` prints.
#[derive(Subcommand, Debug)]
pub enum ComputeCommand {
    /// Submit a job: one work unit per file in the inputs folder, each run by R distinct
    /// workers and accepted once Q of them agree.
    Submit(SubmitArgs),
    /// Show a job's progress (all jobs without JOB).
    Status {
        /// The job.
        job: Option<String>,
        /// Print JSON: {"job","state","units","accepted","failed","running","waiting",...}.
        #[arg(long)]
        json: bool,
    },
    /// Write a job's results: one file per unit (NAME.out, NAME the input's file name), plus
    /// summary.json.
    Results {
        /// The job.
        job: String,
        /// The folder to write into (created if missing).
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
        /// Print JSON: the summary.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a job: running replicas are forgotten, accepted results kept.
    Cancel {
        /// The job.
        job: String,
        /// Print JSON: {"job","state"}.
        #[arg(long)]
        json: bool,
    },
    /// Who computed for this node and their record, and what this node lends.
    Workers(JsonArg),
    /// Validated work (fuel) granted per worker, and what this node computed for others.
    Credit(JsonArg),
}

/// `weft compute submit` arguments.
#[derive(Args, Debug)]
pub struct SubmitArgs {
    /// The WebAssembly module (see examples/compute/ and the ABI in weft-compute's docs).
    #[arg(value_name = "MODULE.wasm")]
    pub module: PathBuf,
    /// A folder with one input file per work unit.
    #[arg(long, value_name = "DIR")]
    pub inputs: PathBuf,
    /// Distinct workers that run each unit (R).
    #[arg(long, default_value_t = 2)]
    pub replicas: u8,
    /// Agreeing results needed to accept a unit (Q, at most R).
    #[arg(long, default_value_t = 2)]
    pub quorum: u8,
    /// Most replicas per unit, counting those added when results disagree [default: R + 2]
    #[arg(long, value_name = "N")]
    pub max_replicas: Option<u8>,
    /// The module's entry points: oneshot (weft_run) or resumable (weft_init/step/finish).
    #[arg(long, default_value = "oneshot")]
    pub abi: String,
    /// Seconds a worker has for a unit before it is issued elsewhere.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub deadline: u64,
    /// Fuel (deterministic instruction budget) per unit [default: 10000000000]
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Memory per unit, in MiB [default: 64]
    #[arg(long, value_name = "MIB")]
    pub memory: Option<u64>,
    /// Largest output per unit, in KiB [default: 64]
    #[arg(long, value_name = "KIB")]
    pub output_limit: Option<u32>,
    /// Wait until the job is done, showing its progress.
    #[arg(long)]
    pub wait: bool,
    /// Print JSON: {"job"} (with --wait, the final status).
    #[arg(long)]
    pub json: bool,
}

/// `weft share` arguments.
#[derive(Args, Debug)]
pub struct ShareArgs {
    /// Files or folders to share.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Print JSON (the indexing report, with the hashes added and the paths skipped) instead
    /// of a progress bar, one line per file added, and a summary.
    #[arg(long)]
    pub json: bool,
}

/// `weft shared` arguments.
#[derive(Args, Debug)]
pub struct SharedArgs {
    /// List every shared file with its hash, size and path, instead of the roots.
    #[arg(long)]
    pub files: bool,
    /// Print JSON (stable, documented in docs/cli-json.md) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `weft unshare` arguments.
#[derive(Args, Debug)]
pub struct UnshareArgs {
    /// A file or folder given to `weft share`.
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Print JSON: {"path", "files", "bytes", "missing", "handed_to"}.
    #[arg(long)]
    pub json: bool,
}

/// A location model to search through.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// Gnutella-style flooding with a TTL.
    Flood,
    /// A Napster-style directory server (needs `weft up --directory MULTIADDR`).
    Directory,
    /// The Kademlia DHT (keyword keys point to the peers with matching files).
    Dht,
}

/// `weft search` arguments.
#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Words to look for (every word must match).
    #[arg(required = true, value_name = "WORDS")]
    pub words: Vec<String>,
    /// Search through this model only [default: every model the node has]
    #[arg(long, value_enum)]
    pub via: Option<Via>,
    /// Hops a flooded query travels at most.
    #[arg(long, value_name = "N")]
    pub ttl: Option<u8>,
    /// Seconds to wait for answers.
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub timeout: u64,
    /// Show at most N results (1 to 1000); when more exist, a last line says so.
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub limit: u16,
    /// Print JSON at the end: {"results": [{"hash", "size", "names", "sources", "via"}],
    /// "limit", "cut", "cut_by"} (docs/cli-json.md).
    #[arg(long)]
    pub json: bool,
}

/// `weft get` arguments.
#[derive(Args, Debug)]
pub struct GetArgs {
    /// The content hash (64 hex digits, as `weft search` prints it).
    #[arg(value_name = "HASH")]
    pub hash: String,
    /// Where to write the file [default: the hash, in the current folder]
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Seconds to look for a first source before giving up.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
    /// Print JSON: {"hash", "bytes", "sources_used", "seconds", "copied_from"}.
    #[arg(long)]
    pub json: bool,
}

/// `weft dht` subcommands. KEY is 64 hex digits, or any other text, which is hashed with
/// BLAKE3 to a 256-bit key.
#[derive(Subcommand, Debug)]
pub enum DhtCommand {
    /// Store VALUE under KEY on the closest nodes.
    Put {
        /// The key.
        key: String,
        /// The value (at most 64 KiB).
        value: String,
        /// Print JSON: {"key", "stored"}.
        #[arg(long)]
        json: bool,
    },
    /// Look KEY up and print its value.
    Get {
        /// The key.
        key: String,
        /// Print JSON: {"key", "value"} (value as UTF-8, invalid bytes replaced).
        #[arg(long)]
        json: bool,
    },
}

/// `weft up` flags; each overrides `config.toml`.
#[derive(Args, Debug)]
pub struct UpArgs {
    /// Listen on this multiaddr (repeatable) [default: /ip4/0.0.0.0/tcp/0 and /ip4/0.0.0.0/udp/0/quic-v1]
    #[arg(long, value_name = "MULTIADDR")]
    pub listen: Vec<String>,
    /// Dial this peer at start, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW... (repeatable)
    #[arg(long, value_name = "MULTIADDR")]
    pub bootstrap: Vec<String>,
    /// The local HTTP API's address; loopback only, port 0 picks a free port [default: 127.0.0.1:7733]
    #[arg(long, value_name = "ADDR")]
    pub api: Option<String>,
    /// Do not discover peers on the local network with mDNS.
    #[arg(long)]
    pub no_mdns: bool,
    /// Relay connections for peers that cannot be reached directly (circuit relay v2).
    #[arg(long)]
    pub relay_server: bool,
    /// The node's place in the location overlays: leaf, ultrapeer or directory [default: leaf]
    #[arg(long, value_name = "ROLE")]
    pub role: Option<weft_core::peer::Role>,
    /// A directory server to publish to and query, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...
    #[arg(long, value_name = "MULTIADDR")]
    pub directory: Option<String>,
    /// Lend CPU: run other peers' compute units in the WebAssembly sandbox.
    #[arg(long)]
    pub worker: bool,
    /// Cores to lend with --worker [default: all but one]
    #[arg(long, value_name = "N", requires = "worker",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub worker_cores: Option<u16>,
}

/// A `--json` switch.
#[derive(Args, Debug)]
pub struct JsonArg {
    /// Print JSON (stable, documented in docs/cli-json.md) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `weft demo` flags.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// How many nodes to start (2 to 32).
    #[arg(long, default_value_t = 5)]
    pub nodes: u32,
    /// Stop after this many seconds [default: run until Ctrl-C]
    #[arg(long, value_name = "SECS")]
    pub duration: Option<u64>,
}
