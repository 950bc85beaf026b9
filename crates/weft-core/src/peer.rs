//! Facts about other peers shared by the network layer and the store.

use serde::{Deserialize, Serialize};

/// How a peer was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Discovery {
    /// Given with `--bootstrap` or in `config.toml`.
    Bootstrap,
    /// Found by mDNS on the local network.
    Mdns,
    /// It connected to us.
    Inbound,
    /// Learned from another peer (identify, overlays).
    Peer,
    /// Re-dialed from the peer book.
    Book,
}

impl Discovery {
    /// The stable lowercase name (as stored and as printed in `--json`).
    pub fn as_str(self) -> &'static str {
        match self {
            Discovery::Bootstrap => "bootstrap",
            Discovery::Mdns => "mdns",
            Discovery::Inbound => "inbound",
            Discovery::Peer => "peer",
            Discovery::Book => "book",
        }
    }

    /// Parses a stored name; unknown names read as [`Discovery::Peer`].
    pub fn parse(s: &str) -> Discovery {
        match s {
            "bootstrap" => Discovery::Bootstrap,
            "mdns" => Discovery::Mdns,
            "inbound" => Discovery::Inbound,
            "book" => Discovery::Book,
            _ => Discovery::Peer,
        }
    }
}
