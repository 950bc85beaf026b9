//! Network settings, parsed and checked from the node's configuration.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId, multiaddr::Protocol};
use weft_core::config::{Limits, NodeConfig};

/// Everything the swarm needs, already parsed.
#[derive(Clone, Debug)]
pub struct NetSettings {
    /// Addresses to listen on.
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start, with their ids.
    pub bootstrap: Vec<(PeerId, Multiaddr)>,
    /// mDNS discovery on or off.
    pub mdns: bool,
    /// Serve as a circuit relay.
    pub relay_server: bool,
    /// Connection limits.
    pub limits: Limits,
}

/// A setting that cannot be used; the message says which and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

/// Parses a peer address: a multiaddr that ends in `/p2p/<peer id>`.
///
/// # Errors
/// A [`SettingsError`] that quotes the address and says what is wrong with it.
pub fn parse_peer_multiaddr(s: &str) -> Result<(PeerId, Multiaddr), SettingsError> {
    let addr: Multiaddr = s.parse().map_err(|e| {
        SettingsError(format!(
            "'{s}' is not a multiaddr ({e}); expected e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW..."
        ))
    })?;
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => Ok((peer, addr)),
        _ => Err(SettingsError(format!(
            "'{s}' has no peer id; append /p2p/<peer id> (see `weft id` on that node)"
        ))),
    }
}

impl NetSettings {
    /// Parses the listen and bootstrap addresses of `config`.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the first address that is malformed.
    pub fn from_config(config: &NodeConfig) -> Result<Self, SettingsError> {
        let listen = config
            .listen
            .iter()
            .map(|s| {
                s.parse::<Multiaddr>().map_err(|e| {
                    SettingsError(format!(
                        "listen address '{s}' is not a multiaddr ({e}); expected e.g. /ip4/0.0.0.0/tcp/0"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let bootstrap = config
            .bootstrap
            .iter()
            .map(|s| {
                parse_peer_multiaddr(s)
                    .map_err(|e| SettingsError(format!("bootstrap address: {}", e.0)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NetSettings {
            listen,
            bootstrap,
            mdns: config.mdns,
            relay_server: config.relay_server,
            limits: config.limits.clone(),
        })
    }

    /// The idle timeout for connections that are not kept alive.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.limits.idle_timeout_secs.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_addresses_need_a_peer_id() {
        assert!(
            parse_peer_multiaddr("/ip4/127.0.0.1/tcp/1")
                .unwrap_err()
                .0
                .contains("no peer id")
        );
        assert!(
            parse_peer_multiaddr("nonsense")
                .unwrap_err()
                .0
                .contains("not a multiaddr")
        );
        let id = PeerId::random();
        let (p, _) = parse_peer_multiaddr(&format!("/ip4/127.0.0.1/tcp/1/p2p/{id}")).unwrap();
        assert_eq!(p, id);
    }
}
