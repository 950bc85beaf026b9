//! A snapshot of what the swarm knows, shared with readers (the HTTP API) behind a lock.

use std::collections::BTreeMap;

use serde::Serialize;
use weft_core::peer::{Direction, Discovery, NatStatus};

/// One connected peer, as shown by `weft peers`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ConnectedPeer {
    /// The peer's id.
    pub peer_id: String,
    /// The address of the first open connection.
    pub addr: String,
    /// `outbound` if we dialed, `inbound` if it dialed us.
    pub direction: Direction,
    /// How the peer was found.
    pub source: Discovery,
    /// Open connections to it.
    pub connections: u32,
    /// Last round-trip time measured by ping, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Its agent string, once identify has run.
    pub agent: Option<String>,
    /// Unix seconds when the first open connection was established.
    pub since: i64,
    /// The addresses it listens on, as it told us (identify).
    pub listen_addrs: Vec<String>,
}

/// What the swarm knows right now.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NetState {
    /// This node's peer id.
    pub peer_id: String,
    /// Addresses the swarm is listening on, each ending in `/p2p/<peer id>`.
    pub listen: Vec<String>,
    /// Addresses other peers observed for us (identify), confirmed or not.
    pub external: Vec<String>,
    /// Connected peers by id.
    pub peers: BTreeMap<String, ConnectedPeer>,
    /// AutoNAT's verdict.
    pub nat: NatStatus,
}
