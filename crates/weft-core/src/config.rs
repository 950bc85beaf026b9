//! Node settings. Every setting has a default; `config.toml` in the data folder may override
//! any of them, and command-line flags override the file.
//!
//! ```toml
//! listen = ["/ip4/0.0.0.0/tcp/4001"]
//! bootstrap = ["/ip4/192.0.2.7/tcp/4001/p2p/12D3KooW..."]
//! mdns = true
//!
//! [limits]
//! max_established_total = 256
//! ```

use serde::{Deserialize, Serialize};

/// Where a node listens, whom it dials first, and what it allows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// libp2p listen addresses (multiaddrs). Port 0 picks a free port.
    pub listen: Vec<String>,
    /// Address of the local HTTP API; must be a loopback address. Port 0 picks a free port.
    pub api: String,
    /// Peers to dial at start (multiaddrs ending in `/p2p/<peer id>`).
    pub bootstrap: Vec<String>,
    /// Discover peers on the local network with mDNS.
    pub mdns: bool,
    /// Act as a circuit relay (v2) for peers that cannot be reached directly.
    pub relay_server: bool,
    /// Connection limits.
    pub limits: Limits,
    /// Peer book behaviour.
    pub peer_book: PeerBookConfig,
}

/// Connection limits; libp2p applies none unless they are set, so weft always sets them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Incoming connections still in their handshake.
    pub max_pending_incoming: u32,
    /// Outgoing connections still being dialed.
    pub max_pending_outgoing: u32,
    /// Established connections in total.
    pub max_established_total: u32,
    /// Established incoming connections.
    pub max_established_incoming: u32,
    /// Established connections to one peer.
    pub max_established_per_peer: u32,
    /// Seconds an idle connection is kept before it is closed (known peers are kept alive by ping).
    pub idle_timeout_secs: u64,
}

/// How the node remembers and re-dials peers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PeerBookConfig {
    /// How many remembered peers to dial at start (most recently seen first).
    pub redial_at_start: u32,
    /// First delay before re-dialing a peer that failed, in seconds; doubles on each failure.
    pub backoff_initial_secs: u64,
    /// Longest delay between re-dials of a failing peer, in seconds.
    pub backoff_max_secs: u64,
    /// Peers not seen for this many days are forgotten.
    pub forget_after_days: u64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            listen: vec![
                "/ip4/0.0.0.0/tcp/0".into(),
                "/ip4/0.0.0.0/udp/0/quic-v1".into(),
            ],
            api: "127.0.0.1:7733".into(),
            bootstrap: Vec::new(),
            mdns: true,
            relay_server: false,
            limits: Limits::default(),
            peer_book: PeerBookConfig::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pending_incoming: 64,
            max_pending_outgoing: 64,
            max_established_total: 256,
            max_established_incoming: 192,
            max_established_per_peer: 2,
            idle_timeout_secs: 60,
        }
    }
}

impl Default for PeerBookConfig {
    fn default() -> Self {
        PeerBookConfig {
            redial_at_start: 32,
            backoff_initial_secs: 5,
            backoff_max_secs: 600,
            forget_after_days: 30,
        }
    }
}

/// A `config.toml` that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl NodeConfig {
    /// Parses a `config.toml` text. Unknown keys are errors, so a typo is never silently ignored.
    ///
    /// # Errors
    /// A [`ConfigError`] whose message names the line and the key.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let msg = e.message().trim().to_string();
            ConfigError(match line {
                Some(l) => format!("line {l}: {msg}"),
                None => msg,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        assert_eq!(NodeConfig::from_toml("").unwrap(), NodeConfig::default());
    }

    #[test]
    fn overrides_apply() {
        let c = NodeConfig::from_toml("mdns = false\n[limits]\nmax_established_per_peer = 1\n")
            .unwrap();
        assert!(!c.mdns);
        assert_eq!(c.limits.max_established_per_peer, 1);
        assert_eq!(c.limits.max_established_total, 256);
    }

    #[test]
    fn errors_name_line_and_key() {
        let e = NodeConfig::from_toml("mdns = true\n\nlisen = []\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("lisen"), "{e}");
        let e = NodeConfig::from_toml("[limits]\nmax_established_total = \"many\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
