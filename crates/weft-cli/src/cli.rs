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
    /// Store and look up records in the Kademlia DHT.
    #[command(subcommand)]
    Dht(DhtCommand),
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
    pub role: Option<weft_core::config::Role>,
    /// A directory server to publish to and query, e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...
    #[arg(long, value_name = "MULTIADDR")]
    pub directory: Option<String>,
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
