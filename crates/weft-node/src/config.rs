//! The node's settings, assembled from each part's own section: the network's
//! ([`weft_net::Limits`] and the top-level addresses), the peer book's ([`PeerBookConfig`]),
//! the overlays' role ([`Role`]), and each service's (`[share]`:
//! [`weft_share::config::ShareConfig`]). Every setting has a default; `config.toml` in the data folder may override
//! any of them, and command-line flags override the file.
//!
//! ```toml
//! listen = ["/ip4/0.0.0.0/tcp/4001"]
//! bootstrap = ["/ip4/192.0.2.7/tcp/4001/p2p/12D3KooW..."]
//! mdns = true
//! role = "ultrapeer"          # leaf (default), ultrapeer or directory
//! directory = "/ip4/192.0.2.9/tcp/4001/p2p/12D3KooW..."   # a directory server to publish to
//!
//! [limits]
//! max_established_total = 256
//!
//! [share]
//! upload_slots = 16
//! upload_rate = 0             # bytes per second for all uploads together; 0: unlimited
//! ```

use serde::{Deserialize, Serialize};
use weft_core::peer::Role;
use weft_net::Limits;
use weft_share::config::ShareConfig;

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
    /// The node's place in the location overlays.
    pub role: Role,
    /// A directory server (multiaddr ending in `/p2p/<peer id>`) to publish to and query.
    pub directory: Option<String>,
    /// File sharing: upload slots and rate.
    pub share: ShareConfig,
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
            role: Role::Leaf,
            directory: None,
            share: ShareConfig::default(),
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
            let msg = e.message().trim().to_string();
            let Some(span) = e.span() else {
                return ConfigError(msg);
            };
            let start = span.start.min(text.len());
            let line_no = text[..start].matches('\n').count() + 1;
            let line = text[start..].lines().next().unwrap_or("");
            let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
            let whole = text[line_start..].lines().next().unwrap_or(line);
            // Name the key when the message does not already (type errors point at the value).
            let key = whole
                .split_once('=')
                .map(|(k, _)| k.trim())
                .filter(|k| !k.is_empty());
            ConfigError(match key {
                Some(k) if !msg.contains(k) => format!("line {line_no}: key `{k}`: {msg}"),
                _ => format!("line {line_no}: {msg}"),
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
    fn role_and_directory() {
        let c =
            NodeConfig::from_toml("role = \"directory\"\ndirectory = \"/ip4/127.0.0.1/tcp/1\"\n")
                .unwrap();
        assert_eq!(c.role, Role::Directory);
        assert_eq!(c.directory.as_deref(), Some("/ip4/127.0.0.1/tcp/1"));
        let e = NodeConfig::from_toml("role = \"boss\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1"), "{e}");
        assert_eq!("ultrapeer".parse::<Role>().unwrap(), Role::Ultrapeer);
        assert!(
            "boss"
                .parse::<Role>()
                .unwrap_err()
                .to_string()
                .contains("leaf, ultrapeer")
        );
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
