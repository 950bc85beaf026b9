//! Incoming connection slots: who may take one, and who gives one up when they run short.
//!
//! libp2p 0.57 has connection limits but no connection manager: at its incoming limit it
//! refuses every newcomer, however useless the peers holding the slots are. This behaviour
//! does what libp2p's (Go) connection manager and kubo's high/low water marks do, with the
//! priority weft needs:
//!
//! - **Established incoming, by priority.** When an incoming connection is established with
//!   `max_established_incoming` already taken (the high water mark), the lowest-priority
//!   connections are closed down to `incoming_low_water` and the newcomer is admitted. Lowest
//!   first: peers whose identify lists none of weft's protocols (`/weft/…`), oldest first;
//!   then peers that have not identified within [`IDENTIFY_GRACE`]. Peers that speak weft,
//!   connections we dialed, and connections younger than the grace are never closed for a
//!   newcomer; when nobody can go, the newcomer is refused.
//!
//! The swarm task tells it what identify says ([`Behaviour::identified`]). A later peer service
//! will own this view; the behaviour only needs the verdict. Connections still in their
//! handshake are [`crate::handshakes`]' business.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    CloseConnection, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{PeerId, StreamProtocol};
use tracing::info;

use crate::peer_log::{PeerEvents, PeerLog};

/// An incoming connection that has not identified this long is as good as a silent one.
pub const IDENTIFY_GRACE: Duration = Duration::from_secs(10);

/// What identify says a peer is, for slot priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standing {
    /// Identified, and speaks none of weft's protocols: first to go.
    Foreign,
    /// Not identified yet: may go once [`IDENTIFY_GRACE`] has passed.
    Unidentified,
    /// Speaks one of weft's protocols: kept.
    Weft,
}

impl Standing {
    /// The standing of a peer whose identify lists `protocols`.
    pub fn of(protocols: &[StreamProtocol]) -> Self {
        if crate::overlay::membership::speaks_weft(protocols) {
            Standing::Weft
        } else {
            Standing::Foreign
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// Every incoming slot is held by a peer that may not be closed for a newcomer.
    #[error("all {limit} incoming slots are held by peers that are kept")]
    IncomingFull {
        /// The limit.
        limit: u32,
    },
}

/// The limits this behaviour applies.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Established incoming connections: the high water mark.
    pub max_incoming: u32,
    /// Where eviction stops.
    pub low_water: u32,
}

struct Incoming {
    peer: PeerId,
    since: Instant,
}

/// The slot keeper.
pub struct Behaviour {
    config: Config,
    /// Established incoming connections.
    incoming: BTreeMap<ConnectionId, Incoming>,
    /// Standing of connected peers, from identify.
    standing: BTreeMap<PeerId, Standing>,
    /// Connections being closed, to be reported to the swarm.
    to_close: VecDeque<(PeerId, ConnectionId)>,
    /// Connections asked to close and not yet gone: not counted, not chosen again.
    closing: BTreeSet<ConnectionId>,
    refused_full: PeerLog<PeerId>,
    evicted: PeerLog<PeerId>,
}

impl Behaviour {
    /// A slot keeper applying `config`, counting what it refuses and closes in `events`.
    pub fn new(config: Config, events: &PeerEvents) -> Self {
        Behaviour {
            config,
            incoming: BTreeMap::new(),
            standing: BTreeMap::new(),
            to_close: VecDeque::new(),
            closing: BTreeSet::new(),
            refused_full: PeerLog::new("incoming_full", events.clone()),
            evicted: PeerLog::new("evicted", events.clone()),
        }
    }

    /// Records what identify says `peer` speaks.
    pub fn identified(&mut self, peer: PeerId, protocols: &[StreamProtocol]) {
        if let Some(s) = self.standing.get_mut(&peer) {
            *s = Standing::of(protocols);
        }
    }

    /// Established incoming connections counted against the limit.
    pub fn incoming(&self) -> usize {
        self.incoming.len()
    }

    fn standing(&self, peer: &PeerId) -> Standing {
        self.standing
            .get(peer)
            .copied()
            .unwrap_or(Standing::Unidentified)
    }

    /// The incoming connections that may be closed for a newcomer at `now`, first to go first.
    fn evictable(&self, now: Instant) -> Vec<(ConnectionId, PeerId)> {
        let mut v: Vec<(Standing, Instant, ConnectionId, PeerId)> = self
            .incoming
            .iter()
            .filter(|(id, _)| !self.closing.contains(id))
            .filter_map(|(id, c)| {
                let s = self.standing(&c.peer);
                let may_go = match s {
                    Standing::Foreign => true,
                    Standing::Unidentified => {
                        now.saturating_duration_since(c.since) >= IDENTIFY_GRACE
                    }
                    Standing::Weft => false,
                };
                may_go.then_some((s, c.since, *id, c.peer))
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, _, id, peer)| (id, peer)).collect()
    }

    fn open_incoming(&self) -> usize {
        self.incoming.len() - self.closing.len().min(self.incoming.len())
    }

    /// Makes room for one more incoming connection; false if nobody may go.
    fn make_room(&mut self, now: Instant) -> bool {
        let open = self.open_incoming();
        let limit = self.config.max_incoming as usize;
        if open < limit {
            return true;
        }
        let target = (self.config.low_water as usize).min(limit.saturating_sub(1));
        let victims = self.evictable(now);
        if victims.is_empty() {
            return false;
        }
        for (id, peer) in victims.into_iter().take(open - target) {
            if let Some(repeats) = self.evicted.event(&peer) {
                info!(%peer, standing = ?self.standing(&peer), repeats, "incoming slots full: closing a connection for a newcomer");
            }
            self.closing.insert(id);
            self.to_close.push_back((peer, id));
        }
        true
    }
}

/// The IP address a multiaddr starts from, if any.
pub(crate) fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        _local_addr: &Multiaddr,
        _remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if !self.make_room(Instant::now()) {
            let refusal = Refusal::IncomingFull {
                limit: self.config.max_incoming,
            };
            if let Some(repeats) = self.refused_full.event(&peer) {
                info!(%peer, repeats, "incoming connection refused: {refusal}");
            }
            return Err(ConnectionDenied::new(refusal));
        }
        self.incoming.insert(
            connection_id,
            Incoming {
                peer,
                since: Instant::now(),
            },
        );
        self.standing.entry(peer).or_insert(Standing::Unidentified);
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.standing.entry(peer).or_insert(Standing::Unidentified);
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ListenFailure(f) => {
                // a connection another behaviour denied after this one admitted it
                self.incoming.remove(&f.connection_id);
            }
            FromSwarm::ConnectionClosed(c) => {
                self.incoming.remove(&c.connection_id);
                self.closing.remove(&c.connection_id);
                if c.remaining_established == 0 {
                    self.standing.remove(&c.peer_id);
                }
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Infallible, THandlerInEvent<Self>>> {
        match self.to_close.pop_front() {
            Some((peer_id, id)) => Poll::Ready(ToSwarm::CloseConnection {
                peer_id,
                connection: CloseConnection::One(id),
            }),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: &str) -> Multiaddr {
        format!("/ip4/{ip}/tcp/1").parse().unwrap()
    }

    fn keeper(max_incoming: u32, low_water: u32) -> Behaviour {
        Behaviour::new(
            Config {
                max_incoming,
                low_water,
            },
            &PeerEvents::default(),
        )
    }

    fn establish(b: &mut Behaviour, id: usize, peer: PeerId) -> Result<(), ConnectionDenied> {
        let c = ConnectionId::new_unchecked(id);
        b.handle_pending_inbound_connection(c, &addr("127.0.0.1"), &addr("127.0.0.2"))?;
        b.handle_established_inbound_connection(c, peer, &addr("127.0.0.1"), &addr("127.0.0.2"))
            .map(|_| ())
    }

    #[test]
    fn foreign_peers_make_room_for_a_newcomer_and_weft_peers_stay() {
        let mut b = keeper(4, 2);
        let weft = PeerId::random();
        establish(&mut b, 0, weft).unwrap();
        b.identified(weft, &[StreamProtocol::new("/weft/kad/1")]);
        let junk: Vec<PeerId> = (1..4).map(|_| PeerId::random()).collect();
        for (i, p) in junk.iter().enumerate() {
            establish(&mut b, i + 1, *p).unwrap();
            b.identified(*p, &[StreamProtocol::new("/ipfs/ping/1.0.0")]);
        }
        // Full: the newcomer is admitted, and foreign peers are closed down to the low water mark.
        establish(&mut b, 10, PeerId::random()).unwrap();
        let closed: Vec<PeerId> = b.to_close.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            closed,
            junk[..2].to_vec(),
            "the two oldest foreign peers go"
        );
        assert!(!closed.contains(&weft));
    }

    #[test]
    fn a_newcomer_is_refused_when_everyone_holding_a_slot_is_kept() {
        let mut b = keeper(2, 1);
        for i in 0..2 {
            let p = PeerId::random();
            establish(&mut b, i, p).unwrap();
            b.identified(p, &[StreamProtocol::new("/weft/flood/1")]);
        }
        assert!(establish(&mut b, 5, PeerId::random()).is_err());
        // Unidentified peers within their grace are kept as well.
        let mut b = keeper(1, 0);
        establish(&mut b, 0, PeerId::random()).unwrap();
        assert!(establish(&mut b, 1, PeerId::random()).is_err());
    }
}
