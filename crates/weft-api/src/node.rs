//! Who the node is and whom it knows: `GET /v0/id` ([`Id`]), `GET /v0/peers` ([`Peers`]),
//! `GET /v0/health` ([`Health`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use weft_core::peer::{Direction, Discovery, NatStatus, Role};

/// Settings shown by `GET /v0/id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeSummary {
    /// mDNS discovery on.
    pub mdns: bool,
    /// Relay server on.
    pub relay_server: bool,
    /// The role the node was started with.
    pub role: Role,
}

/// The flood engine's role now (a leaf may have been elected ultrapeer, and a leaf with no
/// ultrapeer neighbour floods as a peer of the flat network).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FloodRole {
    /// Flat network: forwards every query to every other neighbour.
    Peer,
    /// Forwards among ultrapeers and to its leaves.
    Ultrapeer,
    /// Shielded by ultrapeers.
    Leaf,
}

impl FloodRole {
    /// The lowercase name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            FloodRole::Peer => "peer",
            FloodRole::Ultrapeer => "ultrapeer",
            FloodRole::Leaf => "leaf",
        }
    }
}

/// `GET /v0/id`: who this node is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Id {
    /// Peer id.
    pub peer_id: String,
    /// Listen addresses, each ending in `/p2p/<peer id>`.
    pub listen: Vec<String>,
    /// Addresses other peers observed for this node.
    pub external: Vec<String>,
    /// AutoNAT's verdict.
    pub nat: NatStatus,
    /// The API's `host:port`.
    pub api: String,
    /// weft's version.
    pub version: String,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// Settings.
    pub node: NodeSummary,
    /// The flood engine's role now; absent if the engine did not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flood_role: Option<FloodRole>,
    /// Posting values this node's DHT store holds, its own and other publishers'; absent if
    /// the engine did not answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dht_postings: Option<u64>,
}

/// A peer with an open connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConnectedPeer {
    /// The peer's id.
    pub peer_id: String,
    /// The address of the first open connection.
    pub addr: String,
    /// Which side dialed.
    pub direction: Direction,
    /// How the peer was found.
    pub source: Discovery,
    /// Open connections to it.
    pub connections: u32,
    /// Last round-trip time measured by ping, in milliseconds (`null` until ping has run).
    pub rtt_ms: Option<f64>,
    /// Its agent string (`null` until identify has run).
    pub agent: Option<String>,
    /// Unix seconds when the first open connection was established.
    pub since: i64,
    /// The addresses it listens on, as it told us (identify).
    pub listen_addrs: Vec<String>,
}

/// A peer in the peer book.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KnownPeer {
    /// The peer's id.
    pub peer_id: String,
    /// Addresses it was reached at or announced (multiaddrs).
    pub addrs: Vec<String>,
    /// When first met (Unix seconds).
    pub first_seen: i64,
    /// When last connected (Unix seconds).
    pub last_seen: i64,
    /// How it was found first.
    pub source: Discovery,
    /// Dial failures since the last success.
    pub failures: u32,
    /// Not re-dialed before this time (Unix seconds).
    pub next_dial: i64,
}

/// `GET /v0/peers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Peers {
    /// Peers with an open connection, by peer id.
    pub connected: Vec<ConnectedPeer>,
    /// Every peer in the peer book, most recently seen first.
    pub known: Vec<KnownPeer>,
}

/// What `GET /v0/health` says of the node: it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// The node runs and answers.
    Ok,
}

/// `GET /v0/health`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// Always `ok`: a node that answers is up.
    pub status: HealthStatus,
    /// Peers with an open connection.
    pub peers: u64,
    /// Seconds since start.
    pub uptime_secs: u64,
}
