//! Incoming connection slots: who may take one, and who gives one up when they run short.
//!
//! libp2p 0.57 has connection limits but no connection manager: at its incoming limit it
//! refuses every newcomer, however useless the peers holding the slots are. This behaviour
//! does what libp2p's (Go) connection manager and kubo's high/low water marks do, with the
//! priority weft needs.
//!
//! When an incoming connection is established with `max_established_incoming` already taken
//! (the high water mark), the lowest-priority connections are closed down to
//! `incoming_low_water` and the newcomer is admitted. Priority follows what a peer *does*,
//! not what it says ([`Standing`]), lowest first, oldest first within each:
//!
//! 1. peers whose identify lists none of weft's protocols;
//! 2. peers that have not identified within [`GRACE`];
//! 3. peers that list weft's protocols but have not sent or answered a weft request within
//!    [`USEFUL_FOR`] (nor within [`GRACE`] of connecting): saying `/weft/…` costs nothing;
//! 4. peers that have (the protocols' servers and clients report it: [`Usefulness`]) are
//!    kept.
//!
//! Protected whatever they do: connections younger than [`GRACE`] (except peers that
//! identified as foreign), connections from bootstrap peers, and connections we dialed (not
//! counted here). When nobody may go, the newcomer is refused.
//!
//! The swarm task tells it what identify says ([`Behaviour::identified`]). Connections still
//! in their handshake are [`crate::handshakes`]' business.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
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

use crate::overlay::membership::speaks_weft;
use crate::peer_log::{PeerEvents, PeerLog};

/// How long a new incoming connection is kept whatever its peer does: time to identify and to
/// send a first request.
pub const GRACE: Duration = Duration::from_secs(10);
/// A peer that sent or answered a weft request this recently is kept.
pub const USEFUL_FOR: Duration = Duration::from_secs(300);

/// A peer's priority for its incoming slots, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standing {
    /// Identified, and lists none of weft's protocols: first to go.
    Foreign,
    /// Not identified yet.
    Unidentified,
    /// Lists weft's protocols, but has done nothing useful lately.
    Claims,
    /// Sent or answered a weft request within [`USEFUL_FOR`]: kept.
    Useful,
}

/// When each connected peer last sent or answered a weft request (a frame of a weft protocol
/// that decoded). The protocols report it ([`Usefulness::mark`], through
/// `NetHandle::mark_useful`); the slot keeper reads it. Only connected peers are remembered.
/// Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Usefulness {
    last: Arc<Mutex<BTreeMap<PeerId, Option<Instant>>>>,
}

impl Usefulness {
    /// `peer` sent or answered a weft request just now.
    pub fn mark(&self, peer: &PeerId) {
        self.mark_at(peer, Instant::now());
    }

    fn table(&self) -> std::sync::MutexGuard<'_, BTreeMap<PeerId, Option<Instant>>> {
        self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mark_at(&self, peer: &PeerId, now: Instant) {
        if let Some(at) = self.table().get_mut(peer) {
            *at = Some(now);
        }
    }

    fn connected(&self, peer: PeerId) {
        self.table().entry(peer).or_insert(None);
    }

    fn disconnected(&self, peer: &PeerId) {
        self.table().remove(peer);
    }

    fn useful_at(&self, peer: &PeerId, now: Instant) -> bool {
        self.table()
            .get(peer)
            .copied()
            .flatten()
            .is_some_and(|at| now.saturating_duration_since(at) < USEFUL_FOR)
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
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Established incoming connections: the high water mark.
    pub max_incoming: u32,
    /// Where eviction stops.
    pub low_water: u32,
    /// Peers never closed for a newcomer (the bootstrap peers).
    pub protected: BTreeSet<PeerId>,
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
    /// Connected peers: whether identify listed weft's protocols (`None`: not identified).
    claims_weft: BTreeMap<PeerId, Option<bool>>,
    usefulness: Usefulness,
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
            claims_weft: BTreeMap::new(),
            usefulness: Usefulness::default(),
            to_close: VecDeque::new(),
            closing: BTreeSet::new(),
            refused_full: PeerLog::new("incoming_full", events.clone()),
            evicted: PeerLog::new("evicted", events.clone()),
        }
    }

    /// Records what identify says `peer` speaks.
    pub fn identified(&mut self, peer: PeerId, protocols: &[StreamProtocol]) {
        if let Some(s) = self.claims_weft.get_mut(&peer) {
            *s = Some(speaks_weft(protocols));
        }
    }

    /// Where the protocols report what peers did.
    pub fn usefulness(&self) -> Usefulness {
        self.usefulness.clone()
    }

    /// Established incoming connections counted against the limit.
    pub fn incoming(&self) -> usize {
        self.incoming.len()
    }

    /// `peer`'s standing at `now`.
    pub fn standing(&self, peer: &PeerId, now: Instant) -> Standing {
        if self.usefulness.useful_at(peer, now) {
            return Standing::Useful;
        }
        match self.claims_weft.get(peer).copied().flatten() {
            None => Standing::Unidentified,
            Some(false) => Standing::Foreign,
            Some(true) => Standing::Claims,
        }
    }

    /// The incoming connections that may be closed for a newcomer at `now`, first to go first.
    fn evictable(&self, now: Instant) -> Vec<(ConnectionId, PeerId)> {
        let mut v: Vec<(Standing, Instant, ConnectionId, PeerId)> = self
            .incoming
            .iter()
            .filter(|(id, c)| {
                !self.closing.contains(id) && !self.config.protected.contains(&c.peer)
            })
            .filter_map(|(id, c)| {
                let s = self.standing(&c.peer, now);
                let may_go = match s {
                    Standing::Foreign => true,
                    Standing::Unidentified | Standing::Claims => {
                        now.saturating_duration_since(c.since) >= GRACE
                    }
                    Standing::Useful => false,
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
                info!(%peer, standing = ?self.standing(&peer, now), repeats, "incoming slots full: closing a connection for a newcomer");
            }
            self.closing.insert(id);
            self.to_close.push_back((peer, id));
        }
        true
    }

    /// Admits the incoming connection `id` of `peer` at `now`, making room if need be.
    fn admit(&mut self, id: ConnectionId, peer: PeerId, now: Instant) -> Result<(), Refusal> {
        if !self.make_room(now) {
            let refusal = Refusal::IncomingFull {
                limit: self.config.max_incoming,
            };
            if let Some(repeats) = self.refused_full.event(&peer) {
                info!(%peer, repeats, "incoming connection refused: {refusal}");
            }
            return Err(refusal);
        }
        self.incoming.insert(id, Incoming { peer, since: now });
        self.connected(peer);
        Ok(())
    }

    fn connected(&mut self, peer: PeerId) {
        self.claims_weft.entry(peer).or_insert(None);
        self.usefulness.connected(peer);
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
        self.admit(connection_id, peer, Instant::now())
            .map_err(ConnectionDenied::new)?;
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
        self.connected(peer);
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
                    self.claims_weft.remove(&c.peer_id);
                    self.usefulness.disconnected(&c.peer_id);
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

    const WEFT: StreamProtocol = StreamProtocol::new("/weft/kad/1");
    const PING: StreamProtocol = StreamProtocol::new("/ipfs/ping/1.0.0");

    fn keeper(max_incoming: u32, low_water: u32) -> Behaviour {
        Behaviour::new(
            Config {
                max_incoming,
                low_water,
                ..Config::default()
            },
            &PeerEvents::default(),
        )
    }

    fn establish(b: &mut Behaviour, id: usize, peer: PeerId, at: Instant) -> Result<(), Refusal> {
        b.admit(ConnectionId::new_unchecked(id), peer, at)
    }

    fn closed(b: &Behaviour) -> Vec<PeerId> {
        b.to_close.iter().map(|(p, _)| *p).collect()
    }

    #[test]
    fn foreign_peers_make_room_for_a_newcomer_and_useful_peers_stay() {
        let t0 = Instant::now();
        let mut b = keeper(4, 2);
        let weft = PeerId::random();
        establish(&mut b, 0, weft, t0).unwrap();
        b.identified(weft, &[WEFT]);
        b.usefulness().mark_at(&weft, t0);
        let junk: Vec<PeerId> = (1..4).map(|_| PeerId::random()).collect();
        for (i, p) in junk.iter().enumerate() {
            establish(&mut b, i + 1, *p, t0).unwrap();
            b.identified(*p, &[PING]);
        }
        // Full: the newcomer is admitted, and foreign peers are closed down to the low water mark.
        establish(&mut b, 10, PeerId::random(), t0 + GRACE).unwrap();
        assert_eq!(
            closed(&b),
            junk[..2].to_vec(),
            "the two oldest foreign peers go"
        );
    }

    #[test]
    fn peers_that_only_claim_weft_go_once_their_grace_is_over_and_before_useful_ones() {
        let t0 = Instant::now();
        let mut b = keeper(3, 2);
        let (useful, claims, newer_claims) = (PeerId::random(), PeerId::random(), PeerId::random());
        for (i, p) in [useful, claims, newer_claims].iter().enumerate() {
            establish(&mut b, i, *p, t0).unwrap();
            b.identified(*p, &[WEFT, PING]);
        }
        // within the grace, all are kept
        assert!(establish(&mut b, 5, PeerId::random(), t0 + GRACE / 2).is_err());
        // the useful one answered a request a while ago; the others never did anything
        b.usefulness().mark_at(&useful, t0 + GRACE);
        establish(&mut b, 6, PeerId::random(), t0 + USEFUL_FOR).unwrap();
        assert_eq!(
            closed(&b),
            vec![claims],
            "the oldest that only claims weft goes"
        );
        // usefulness wears off
        let later = t0 + GRACE + USEFUL_FOR;
        assert_eq!(b.standing(&useful, later), Standing::Claims);
        assert_eq!(b.standing(&newer_claims, later), Standing::Claims);
    }

    #[test]
    fn a_newcomer_is_refused_when_everyone_holding_a_slot_is_kept() {
        let t0 = Instant::now();
        let mut b = keeper(2, 1);
        for i in 0..2 {
            let p = PeerId::random();
            establish(&mut b, i, p, t0).unwrap();
            b.identified(p, &[WEFT]);
            b.usefulness().mark_at(&p, t0 + GRACE);
        }
        assert!(establish(&mut b, 5, PeerId::random(), t0 + GRACE * 2).is_err());
        // Unidentified peers within their grace are kept as well.
        let mut b = keeper(1, 0);
        establish(&mut b, 0, PeerId::random(), t0).unwrap();
        assert!(establish(&mut b, 1, PeerId::random(), t0 + GRACE / 2).is_err());
        // and bootstrap peers, whatever they do
        let boot = PeerId::random();
        let mut b = Behaviour::new(
            Config {
                max_incoming: 1,
                low_water: 0,
                protected: [boot].into(),
            },
            &PeerEvents::default(),
        );
        establish(&mut b, 0, boot, t0).unwrap();
        b.identified(boot, &[PING]);
        assert!(establish(&mut b, 1, PeerId::random(), t0 + USEFUL_FOR).is_err());
    }

    #[test]
    fn only_connected_peers_are_remembered_as_useful() {
        let u = Usefulness::default();
        let p = PeerId::random();
        u.mark(&p);
        assert!(
            u.table().is_empty(),
            "a mark for a peer not connected is dropped"
        );
        u.connected(p);
        u.mark(&p);
        assert!(u.useful_at(&p, Instant::now()));
        u.disconnected(&p);
        assert!(u.table().is_empty());
    }
}
