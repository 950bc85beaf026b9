//! Facts about other peers shared by the network layer and the store.

use serde::{Deserialize, Serialize};

/// How a peer was found.
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
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

/// Which side opened a connection.
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// This node dialed.
    Outbound,
    /// The peer dialed this node.
    Inbound,
}

impl Direction {
    /// `Outbound` when this node dialed, else `Inbound`.
    pub fn of(dialed: bool) -> Self {
        if dialed {
            Direction::Outbound
        } else {
            Direction::Inbound
        }
    }

    /// The stable lowercase name, as `--json` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }
}

/// Whether peers outside can reach this node, as AutoNAT last found.
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NatStatus {
    /// Not probed yet, or the probes disagreed.
    #[default]
    Unknown,
    /// Dial-backs reached this node: it is publicly reachable.
    Public,
    /// Dial-backs failed: the node is behind a NAT or a firewall.
    Private,
}

impl NatStatus {
    /// The stable lowercase name, as `--json` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            NatStatus::Unknown => "unknown",
            NatStatus::Public => "public",
            NatStatus::Private => "private",
        }
    }
}
