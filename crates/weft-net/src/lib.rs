//! The communication layer (the paper's Section 3.1): a libp2p swarm, the task that drives
//! it, and the drivers that run the pure location engines over it.
//!
//! # What the crate holds
//!
//! - [`driver`]: [`Network::spawn`] builds the swarm and runs it on its own task. The node
//!   talks to it through a [`NetHandle`] (a bounded command channel, a shared [`NetState`]
//!   snapshot for readers such as the HTTP API, stream control) and hears from it through a
//!   bounded channel of [`NetEvent`]s.
//! - [`behaviour`]: what the swarm runs: connection limits, incoming [`slots`], identify,
//!   ping, mDNS, relay client and server, DCUtR hole punching, AutoNAT, and raw streams for
//!   weft's protocols (libp2p-stream for outbound, [`inbound`] for inbound).
//! - The connection stack ([`stack`]): TCP with [`tls`] (libp2p's TLS, AES-GCM first) or
//!   Noise, [`mux`] (yamux with large data frames and a bound on inbound streams per
//!   connection), the same over relays; QUIC.
//! - What peers may cost: [`handshakes`] (a deadline for an incoming socket's first bytes, and
//!   pending slots a newcomer always gets, by ending the oldest handshake of the largest
//!   address group), [`slots`] (established incoming connections, eviction by priority),
//!   [`mux`] (streams per connection), [`unnegotiated`] (streams still negotiating, across
//!   connections), [`inbound`] (a bounded backlog per protocol), and
//!   [`peer_log`] (every peer-caused event counted, its log lines rate-limited).
//! - Protocols of the layer itself: [`keepalive`] (a long-lived stream that keeps
//!   connections to bootstrap, mDNS and peer-book peers open) and [`pex`] (after connecting,
//!   a node asks its peer for its peers and dials them, so a network joined through one
//!   bootstrap peer becomes a mesh); [`framing`] (length-prefixed, size-bounded frames).
//! - [`overlay`]: the drivers that run the Kademlia DHT, flooding and directory engines of
//!   `weft-overlay` over libp2p streams.
//!
//! # How a message flows
//!
//! Outbound, a driver opens (or reuses) a stream to the peer with
//! [`NetHandle::stream_control`] and writes [`framing`] frames of `weft_core::wire`-encoded
//! messages. Inbound, the swarm negotiates the protocol on a new yamux stream (at most
//! [`mux::MAX_INBOUND_STREAMS`] per connection) and [`inbound`] queues it in the protocol's
//! backlog, refusing (counted, logged) what finds it full; the protocol's accept loop takes
//! it, bounds streams per peer and in all, reads frames of at most the protocol's size,
//! decodes them without panicking and hands each message to its engine with the
//! authenticated sender (the connection's peer id, never a field of the body) and the time.
//! A peer that sends what does not decode is counted and its stream dropped.
//!
//! # Where to add a protocol
//!
//! A protocol of the network layer is a module here with its `StreamProtocol` name, an
//! accept loop started from [`Network::spawn`] over [`NetHandle::inbound`], and bounds on
//! frame size and streams per peer; a location engine gets an adapter in [`overlay`]
//! (encode, decode and accept its messages) and runs under the generic engine driver there.
//! A feature's protocol (file transfer, search) lives in the feature's service in
//! `weft-node` and uses the same two handles. `ARCHITECTURE.md` ("Adding a protocol") gives
//! the steps.

#[expect(
    missing_docs,
    reason = "the NetworkBehaviour derive generates an undocumented event enum"
)]
pub mod behaviour;
pub mod driver;
pub mod framing;
pub mod handshakes;
pub mod inbound;
pub mod keepalive;
pub mod mux;
pub mod overlay;
pub mod peer_log;
pub mod pex;
pub mod settings;
pub mod slots;
pub mod stack;
pub mod state;
pub mod tls;
pub mod unnegotiated;

/// Most listen addresses accepted from one peer's identify message.
pub const MAX_ADDRS_FROM_PEER: usize = 16;
/// Most protocols accepted from one peer's identify message.
pub const MAX_PROTOCOLS_FROM_PEER: usize = 64;

pub use driver::{Command, NetEvent, NetHandle, Network, SpawnError};
pub use libp2p::{self, Multiaddr, PeerId, identity::Keypair};
pub use settings::{Limits, NetConfig, NetSettings, parse_peer_multiaddr};
pub use state::{ConnectedPeer, NetState};
