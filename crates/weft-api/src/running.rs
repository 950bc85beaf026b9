//! What a running node leaves in its data folder for its clients: `addrs.json` (where its API
//! and its swarm listen) and `api.token` (the bearer token the API asks for).

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// What `addrs.json` holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Addrs {
    /// The node's peer id.
    pub peer_id: String,
    /// Listen addresses, each ending in `/p2p/<peer id>`.
    pub listen: Vec<String>,
    /// The HTTP API's `host:port`.
    pub api: String,
}

/// The addresses and API token of the node running on data folder `dir`, if one runs (or ran
/// and left its files).
pub fn read_running(dir: &Path) -> Option<(Addrs, String)> {
    let addrs: Addrs = serde_json::from_slice(&fs::read(dir.join("addrs.json")).ok()?).ok()?;
    let token = fs::read_to_string(dir.join("api.token"))
        .ok()?
        .trim()
        .to_string();
    Some((addrs, token))
}
