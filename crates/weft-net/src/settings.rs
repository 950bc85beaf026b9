//! Network settings, parsed and checked from the node's configuration.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId, multiaddr::Protocol};
use serde::{Deserialize, Serialize};

/// Connection limits; libp2p applies none unless they are set, so weft always sets them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Incoming connections still in their handshake. A newcomer that finds them all taken
    /// ends the oldest handshake of the address group holding the most, instead of being
    /// refused.
    pub max_pending_incoming: u32,
    /// Incoming connections in their handshake from one address group (an IPv4 /24, an IPv6
    /// /64, a loopback address); a newcomer past it ends its group's oldest handshake.
    #[serde(alias = "max_pending_incoming_per_ip")]
    pub max_pending_incoming_per_net: u32,
    /// Outgoing connections still being dialed.
    pub max_pending_outgoing: u32,
    /// Established connections in total.
    pub max_established_total: u32,
    /// Established incoming connections (the high water mark): a newcomer beyond it is
    /// admitted by closing peers that speak none of weft's protocols, never identified, or
    /// have sent or answered no weft request lately, and refused if every slot is held by a
    /// peer that is kept.
    pub max_established_incoming: u32,
    /// Where closing stops once the high water mark is reached (kubo's low water mark).
    pub incoming_low_water: u32,
    /// Established connections to one peer.
    pub max_established_per_peer: u32,
    /// Seconds an idle connection is kept before it is closed (known peers are kept alive by ping).
    pub idle_timeout_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pending_incoming: 64,
            max_pending_incoming_per_net: 16,
            max_pending_outgoing: 64,
            max_established_total: 256,
            max_established_incoming: 192,
            incoming_low_water: 160,
            max_established_per_peer: 2,
            idle_timeout_secs: 60,
        }
    }
}

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

/// The network's part of the node's configuration, as `config.toml` and the command line
/// give it (the node owns the file; these are its top-level keys and `[limits]`).
#[derive(Clone, Copy, Debug)]
pub struct NetConfig<'a> {
    /// Listen addresses (multiaddrs).
    pub listen: &'a [String],
    /// Peers to dial at start (multiaddrs ending in `/p2p/<peer id>`).
    pub bootstrap: &'a [String],
    /// mDNS discovery on.
    pub mdns: bool,
    /// Serve as a circuit relay.
    pub relay_server: bool,
    /// Connection limits.
    pub limits: &'a Limits,
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
    /// Parses the listen and bootstrap addresses of the node's configuration.
    ///
    /// # Errors
    /// A [`SettingsError`] naming the first address that is malformed.
    pub fn parse(config: NetConfig<'_>) -> Result<Self, SettingsError> {
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
