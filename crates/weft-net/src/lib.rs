//! The communication layer (the paper's Section 3.1): a libp2p swarm and the task that drives it.
//!
//! [`Network::spawn`] builds the swarm — TCP with TLS ([`tls`]) or Noise and Yamux, QUIC, identify, ping, mDNS,
//! relay client (and server on request), DCUtR hole punching, AutoNAT, connection limits — and
//! runs it on its own task. The node talks to it through a [`NetHandle`] (bounded command
//! channel, and a shared [`NetState`] snapshot for readers such as the HTTP API) and hears from
//! it through a bounded channel of [`NetEvent`]s.
//!
//! Connections to peers met through bootstrap, mDNS or the peer book are kept alive by a
//! long-lived stream on [`keepalive::PROTOCOL`]; other idle connections close after the
//! configured idle timeout. After connecting to such a peer, a node asks it for its own peers
//! ([`pex`]) and dials them, so a network joined through one bootstrap peer becomes a mesh.
//!
//! [`overlay`] runs the location engines (Kademlia DHT, flooding, directory) over streams.

#[expect(
    missing_docs,
    reason = "the NetworkBehaviour derive generates an undocumented event enum"
)]
pub mod behaviour;
pub mod driver;
pub mod framing;
pub mod keepalive;
pub mod mux;
pub mod overlay;
pub mod peer_log;
pub mod pex;
pub mod settings;
pub mod slots;
pub mod state;
pub mod tls;

/// Most listen addresses accepted from one peer's identify message.
pub const MAX_ADDRS_FROM_PEER: usize = 16;
/// Most protocols accepted from one peer's identify message.
pub const MAX_PROTOCOLS_FROM_PEER: usize = 64;

pub use driver::{Command, NetEvent, NetHandle, Network, SpawnError};
pub use libp2p::{self, Multiaddr, PeerId, identity::Keypair};
pub use settings::{NetSettings, parse_peer_multiaddr};
pub use state::{ConnectedPeer, NetState};
