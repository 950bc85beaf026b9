//! The location overlays in the node: adapters that drive the Kademlia, flood and directory
//! engines of `weft-overlay` over libp2p streams (the paper's Section 3.2, run for real).
//!
//! Each engine gets one driver task ([`driver`]) that owns it, feeds it messages, commands,
//! connection changes and timer expiries on wall-clock time mapped to protocol time
//! (microseconds since the overlay started), and sends what it transmits as length-prefixed
//! frames on one stream per peer and protocol ([`transport`]):
//!
//! | protocol | engine | runs on | handle |
//! |---|---|---|---|
//! | `/weft/kad/1` | Kademlia (the DHT) | every node | [`DhtHandle`] |
//! | `/weft/flood/1` | Gnutella 0.6 flooding | every node (leaf or ultrapeer) | [`FloodHandle`] |
//! | `/weft/dir/1` | Napster directory | servers and their clients | [`DirectoryHandle`] |
//!
//! Engines name peers by [`PeerId`]; a node's Kademlia id is `Key256::hash(peer_id.to_bytes())`
//! ([`dht::node_key`]). Peers named in messages travel with their listen addresses
//! ([`peers::WirePeer`]), so a node can dial a contact it has never met.
//!
//! The node reports what the swarm does with [`Overlay::observe`] (connections and what
//! identify says); a driver learns of a connected peer only once identify lists its protocol
//! (`membership.rs`), so peers that do not speak it never enter its engine.
//!
//! Every queue and table is bounded: requests per driver, frames per peer, sender tasks and
//! inbound streams per protocol, addresses remembered, frame sizes per protocol.

pub mod dht;
pub mod directory;
pub mod driver;
pub mod flood;
pub mod membership;
mod peer_changes;
pub mod peers;
pub mod transport;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use libp2p::{Multiaddr, PeerId, StreamProtocol};
use serde::Serialize;
use tokio::sync::mpsc;
use weft_core::peer::Role;
use weft_overlay::{directory as dir_engine, flood as flood_engine, kademlia};

use crate::driver::{NetEvent, NetHandle};
use driver::Clock;
use membership::Membership;
use peer_changes::PeerChanges;
use peers::PeerTable;
use transport::{Counters, Link, ProtocolStats};
use weft_overlay::PeerEvent;

pub use dht::{DhtHandle, DhtInfo};
pub use directory::{DirectoryHandle, DirectoryHit};
pub use flood::{FloodHandle, FloodHit, FloodInfo, MatchRequest};
pub use transport::DialError;

/// Why an overlay request failed.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    /// The driver task has stopped (the node is shutting down).
    #[error("the overlay has stopped")]
    Stopped,
    /// A DHT query failed.
    #[error("DHT: {0}")]
    Dht(#[from] kademlia::QueryError),
    /// A flood command was refused.
    #[error("flood: {0}")]
    Flood(#[from] flood_engine::Invalid),
    /// The directory server refused the request.
    #[error("directory: {0}")]
    Directory(dir_engine::Refusal),
    /// The directory server did not answer in time or is not connected.
    #[error("the directory server did not answer")]
    DirectoryUnavailable,
    /// This node has no directory server and is not one.
    #[error("no directory server configured; start the node with --directory MULTIADDR")]
    NoDirectory,
    /// The engine answered with a result of another kind (a bug).
    #[error("unexpected answer from the engine")]
    Unexpected,
    /// A protocol is already served on this swarm (the overlay was spawned twice).
    #[error("overlay protocol {0} is already registered")]
    AlreadyRegistered(StreamProtocol),
}

/// What the overlay needs to start.
#[derive(Clone, Debug)]
pub struct OverlayConfig {
    /// The node's role.
    pub role: Role,
    /// The directory server to use (ignored when `role` is [`Role::Directory`]).
    pub directory: Option<(PeerId, Multiaddr)>,
    /// Seed of the engines' random number generators.
    pub seed: u64,
    /// Kademlia settings.
    pub kademlia: kademlia::Config,
    /// Flood settings (the role is set from `role`).
    pub flood: flood_engine::Config,
    /// Directory settings.
    pub directory_engine: dir_engine::Config,
}

impl OverlayConfig {
    /// Default engine settings for `role`, seeded from `local`.
    pub fn new(local: &PeerId, role: Role, directory: Option<(PeerId, Multiaddr)>) -> Self {
        OverlayConfig {
            role,
            directory,
            seed: dht::node_key(local).prefix_u64(),
            kademlia: kademlia::Config::default(),
            flood: flood_engine::Config::default(),
            directory_engine: dir_engine::Config::default(),
        }
    }
}

/// Traffic counters of the three protocols.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OverlayStats {
    /// `/weft/kad/1`.
    pub kad: ProtocolStats,
    /// `/weft/flood/1`.
    pub flood: ProtocolStats,
    /// `/weft/dir/1` (zero when no directory driver runs).
    pub directory: ProtocolStats,
}

/// The running overlays of a node. Cheap to clone; the drivers stop when every clone is
/// dropped.
#[derive(Clone)]
pub struct Overlay {
    /// The Kademlia DHT.
    pub dht: DhtHandle,
    /// Flooded search.
    pub flood: FloodHandle,
    /// The directory, if this node is a server or has one.
    pub directory: Option<DirectoryHandle>,
    role: Role,
    peers: Arc<PeerTable>,
    net: NetHandle,
    /// Each driver's protocol and its connection changes.
    drivers: Vec<(StreamProtocol, PeerChanges)>,
    membership: Arc<Mutex<Membership>>,
    counters: [Arc<Counters>; 3],
}

impl Overlay {
    /// Starts the drivers on the swarm behind `net`. Queries from the network that this node
    /// should answer from its content come out of the returned receiver (answer them with
    /// [`FloodHandle::respond`]; dropping the receiver leaves them unanswered).
    ///
    /// # Errors
    /// [`OverlayError::AlreadyRegistered`] if the overlay already runs on this swarm.
    pub fn spawn(
        net: &NetHandle,
        config: OverlayConfig,
    ) -> Result<(Overlay, mpsc::Receiver<MatchRequest>), OverlayError> {
        let local = net.local_peer_id;
        let clock = Clock::start();
        let peers = Arc::new(PeerTable::new(local));
        let counters: [Arc<Counters>; 3] = Default::default();
        let link = |protocol: StreamProtocol, max_frame: usize, c: &Arc<Counters>| Link {
            protocol,
            max_frame,
            net: net.clone(),
            peers: peers.clone(),
            counters: c.clone(),
        };
        let registered = |p: StreamProtocol| move |_| OverlayError::AlreadyRegistered(p);

        let (dht_tx, dht_rx) = mpsc::channel(dht::REQUEST_QUEUE);
        let kad = dht::KadAdapter::new(local, config.kademlia, config.seed);
        let kad_peers = driver::spawn(
            kad,
            link(dht::PROTOCOL, dht::MAX_FRAME, &counters[0]),
            clock,
            dht_rx,
        )
        .map_err(registered(dht::PROTOCOL))?;

        let (flood_tx, flood_rx) = mpsc::channel(flood::REQUEST_QUEUE);
        let (match_tx, match_rx) = mpsc::channel(flood::MATCH_QUEUE);
        let flood_config = flood_engine::Config {
            role: match config.role {
                Role::Leaf => flood_engine::Role::Leaf,
                Role::Ultrapeer | Role::Directory => flood_engine::Role::Ultrapeer,
            },
            ..config.flood
        };
        let fl = flood::FloodAdapter::new(local, flood_config, config.seed, match_tx);
        let flood_peers = driver::spawn(
            fl,
            link(flood::PROTOCOL, flood::MAX_FRAME, &counters[1]),
            clock,
            flood_rx,
        )
        .map_err(registered(flood::PROTOCOL))?;

        let mut drivers = vec![(dht::PROTOCOL, kad_peers), (flood::PROTOCOL, flood_peers)];
        let dir_role = match (config.role, &config.directory) {
            (Role::Directory, _) => Some(dir_engine::Role::Server),
            (_, Some((server, addr))) => {
                peers.learn(*server, [addr.clone()]);
                Some(dir_engine::Role::Client(*server))
            }
            _ => None,
        };
        let directory = match dir_role {
            Some(role) => {
                let (tx, rx) = mpsc::channel(directory::REQUEST_QUEUE);
                let adapter = directory::DirectoryAdapter::new(
                    local,
                    role,
                    config.directory_engine,
                    net.peer_events(),
                );
                drivers.push((
                    directory::PROTOCOL,
                    driver::spawn(
                        adapter,
                        link(directory::PROTOCOL, directory::MAX_FRAME, &counters[2]),
                        clock,
                        rx,
                    )
                    .map_err(registered(directory::PROTOCOL))?,
                ));
                Some(DirectoryHandle {
                    requests: tx,
                    server: role == dir_engine::Role::Server,
                })
            }
            None => None,
        };
        let overlay = Overlay {
            dht: DhtHandle {
                requests: dht_tx,
                clock,
            },
            flood: FloodHandle { requests: flood_tx },
            directory,
            role: config.role,
            peers,
            net: net.clone(),
            drivers,
            membership: Arc::default(),
            counters,
        };
        Ok((overlay, match_rx))
    }

    /// Tells the drivers what the swarm did. Call it with every [`NetEvent`].
    pub fn observe(&self, event: &NetEvent) {
        let changes: Vec<(usize, PeerId, PeerEvent)> = match event {
            NetEvent::Connected {
                peer,
                addr,
                outbound,
                ..
            } => {
                if *outbound {
                    self.peers.learn(*peer, [addr.clone()]);
                }
                // connected, but a member of no overlay until identify says which it speaks
                self.peers.set_connected(*peer, true);
                Vec::new()
            }
            NetEvent::Disconnected { peer } => {
                self.peers.set_connected(*peer, false);
                self.membership()
                    .disconnected(peer)
                    .into_iter()
                    .map(|i| (i, *peer, PeerEvent::Disconnected))
                    .collect()
            }
            NetEvent::Identified {
                peer,
                listen_addrs,
                protocols,
                ..
            } => {
                self.peers.learn(*peer, listen_addrs.iter().cloned());
                let overlays: Vec<StreamProtocol> =
                    self.drivers.iter().map(|(p, _)| p.clone()).collect();
                self.membership()
                    .identified(*peer, protocols, &overlays)
                    .into_iter()
                    .map(|(i, change)| (i, *peer, change))
                    .collect()
            }
            NetEvent::Listening { .. } | NetEvent::DialFailed { .. } => Vec::new(),
        };
        for (i, peer, change) in changes {
            if let Some((_, driver)) = self.drivers.get(i) {
                driver.post(peer, change);
            }
        }
    }

    fn membership(&self) -> std::sync::MutexGuard<'_, Membership> {
        self.membership.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The node's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Makes sure `peer` is connected, dialing its known addresses and waiting at most
    /// `timeout` for the connection (woken by it, not polling).
    ///
    /// # Errors
    /// [`DialError`] when no connection came up.
    pub async fn connect(&self, peer: PeerId, timeout: Duration) -> Result<(), DialError> {
        transport::dial_and_wait(&self.net, &self.peers, peer, timeout).await
    }

    /// Known listen addresses of `peer` (from identify and from overlay messages).
    pub fn addresses(&self, peer: &PeerId) -> Vec<Multiaddr> {
        self.peers.addresses(peer)
    }

    /// Traffic counters of the three protocols.
    pub fn stats(&self) -> OverlayStats {
        OverlayStats {
            kad: self.counters[0].snapshot(),
            flood: self.counters[1].snapshot(),
            directory: self.counters[2].snapshot(),
        }
    }
}
