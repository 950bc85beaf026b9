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

/// A node's place in the location overlays (the paper's Section 3.2). Every node runs the
/// Kademlia DHT and the flood protocol; the role decides the rest.
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An ordinary peer: a Gnutella leaf, shielded by ultrapeers.
    #[default]
    Leaf,
    /// A Gnutella ultrapeer: forwards queries for its leaves.
    Ultrapeer,
    /// A central directory server (Napster): indexes what connected peers share.
    Directory,
}

impl Role {
    /// The role's name as written in `config.toml` and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Leaf => "leaf",
            Role::Ultrapeer => "ultrapeer",
            Role::Directory => "directory",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = ParseRoleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "leaf" => Ok(Role::Leaf),
            "ultrapeer" => Ok(Role::Ultrapeer),
            "directory" => Ok(Role::Directory),
            _ => Err(ParseRoleError(s.to_string())),
        }
    }
}

/// A role name that is not `leaf`, `ultrapeer` or `directory`.
#[derive(Debug, thiserror::Error)]
#[error("unknown role '{0}'; expected leaf, ultrapeer or directory")]
pub struct ParseRoleError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_by_name() {
        for r in [Role::Leaf, Role::Ultrapeer, Role::Directory] {
            assert_eq!(r.as_str().parse::<Role>().ok(), Some(r));
        }
        let e = "boss".parse::<Role>().err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("unknown role 'boss'; expected leaf, ultrapeer or directory")
        );
    }
}
