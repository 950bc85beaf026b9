//! The node's DHT: the Kademlia engine of `weft-overlay` over `/weft/kad/1`.
//!
//! A node's Kademlia id is the BLAKE3 hash of its peer id's bytes ([`node_key`]), so that
//! anyone can check it: a message whose `sender` is not the hash of the peer that sent it, or
//! a reply naming a contact whose id is not the hash of its peer id, is refused. Every peer
//! that connects is added to the routing table; the first connection (and any connection at
//! least [`BOOTSTRAP_EVERY`] after the last bootstrap) starts a bootstrap lookup of the
//! node's own id.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use libp2p::{PeerId, StreamProtocol};
use tokio::sync::{mpsc, oneshot};
use weft_core::id::Key256;
use weft_core::time::Time;
use weft_overlay::kademlia::{
    self, Body, Command, Contact, Event, Kademlia, QueryError, QueryResult,
};
use weft_overlay::{Engine, QueryId};

use super::OverlayError;
use super::driver::{Adapter, Clock, PeerChange};
use super::peers::{PeerTable, WirePeer};

/// The Kademlia protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/kad/1");
/// Largest Kademlia frame: a 64 KiB value plus a reply of contacts with addresses.
pub const MAX_FRAME: usize = 256 * 1024;
/// Least time between two bootstrap lookups started by new connections.
pub const BOOTSTRAP_EVERY: Duration = Duration::from_secs(60);
/// Requests queued for the driver.
pub(crate) const REQUEST_QUEUE: usize = 64;

/// A Kademlia message as the engine sees it.
pub type KadMessage = kademlia::Message<Key256, PeerId>;
/// A Kademlia message as carried on the wire.
pub type KadWire = kademlia::Message<Key256, WirePeer>;
/// A contact: a node id and its peer id.
pub type KadContact = Contact<Key256, PeerId>;

/// The Kademlia id of `peer`: `Key256::hash(peer.to_bytes())`.
pub fn node_key(peer: &PeerId) -> Key256 {
    Key256::hash(&peer.to_bytes())
}

/// The DHT key a user means by `text`: the key itself if it is 64 hex digits, otherwise the
/// BLAKE3 hash of its UTF-8 bytes.
pub fn user_key(text: &str) -> Key256 {
    text.parse()
        .unwrap_or_else(|_| Key256::hash(text.as_bytes()))
}

/// Sizes of the local DHT state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DhtInfo {
    /// Contacts in the routing table.
    pub contacts: usize,
    /// Records stored.
    pub records: usize,
    /// Keys with provider records stored.
    pub provider_keys: usize,
}

pub(crate) enum DhtRequest {
    Query {
        cmd: Command<Key256>,
        reply: oneshot::Sender<QueryResult<Key256, PeerId>>,
    },
    Info(oneshot::Sender<DhtInfo>),
}

pub(crate) struct KadAdapter {
    engine: Kademlia<Key256, PeerId>,
    waiting: BTreeMap<QueryId, oneshot::Sender<QueryResult<Key256, PeerId>>>,
    last_bootstrap: Option<Time>,
}

impl KadAdapter {
    pub fn new(local: PeerId, config: kademlia::Config, seed: u64) -> Self {
        let me = Contact {
            key: node_key(&local),
            addr: local,
        };
        KadAdapter {
            engine: Kademlia::new(Arc::new(config), me, seed),
            waiting: BTreeMap::new(),
            last_bootstrap: None,
        }
    }
}

/// True if every contact in `msg` carries the id its peer id hashes to.
fn contacts_consistent(msg: &KadMessage) -> bool {
    let ok = |list: &[KadContact]| list.iter().all(|c| c.key == node_key(&c.addr));
    match &msg.body {
        Body::Nodes { closer, .. } | Body::Record { closer, .. } => ok(closer),
        Body::Providers {
            providers, closer, ..
        } => ok(providers) && ok(closer),
        _ => true,
    }
}

impl Adapter for KadAdapter {
    type E = Kademlia<Key256, PeerId>;
    type Wire = KadWire;
    type Request = DhtRequest;

    fn engine(&mut self) -> &mut Self::E {
        &mut self.engine
    }

    fn to_wire(&self, msg: KadMessage, peers: &PeerTable) -> Vec<KadWire> {
        vec![msg.map_addrs(|p| Some(peers.to_wire(p)))]
    }

    fn accept(
        &mut self,
        _now: Time,
        from: PeerId,
        wire: KadWire,
        peers: &PeerTable,
    ) -> Option<KadMessage> {
        if wire.sender != node_key(&from) {
            return None;
        }
        let mut malformed = false;
        let msg = wire.map_addrs(|w| {
            let p = peers.resolve(w);
            malformed |= p.is_none();
            p
        });
        (!malformed && contacts_consistent(&msg)).then_some(msg)
    }

    fn on_request(&mut self, now: Time, request: DhtRequest) {
        match request {
            DhtRequest::Query { cmd, reply } => {
                let id = self.engine.handle_command(now, cmd);
                self.waiting.insert(id, reply);
            }
            DhtRequest::Info(reply) => {
                let (records, provider_keys) = self.engine.stored_counts();
                let _ = reply.send(DhtInfo {
                    contacts: self.engine.state_size(),
                    records,
                    provider_keys,
                });
            }
        }
    }

    fn on_event(&mut self, _now: Time, event: Event<Key256, PeerId>) {
        let Event::QueryFinished { id, result, .. } = event;
        if let Some(reply) = self.waiting.remove(&id) {
            let _ = reply.send(result);
        }
    }

    fn on_peer(&mut self, now: Time, peer: PeerId, change: PeerChange) {
        match change {
            PeerChange::Connected => {
                self.engine.add_peer(now, node_key(&peer), peer);
                let due = self
                    .last_bootstrap
                    .is_none_or(|t| now.saturating_since(t) >= BOOTSTRAP_EVERY);
                if due {
                    self.last_bootstrap = Some(now);
                    self.engine.handle_command(now, Command::Bootstrap);
                }
            }
            // a contact stays in the table while disconnected; it is reached again by dialing
            PeerChange::Disconnected => {}
            PeerChange::Unreachable => self.engine.remove_peer(now, peer),
        }
    }
}

/// The handle on the DHT driver. Cheap to clone.
#[derive(Clone)]
pub struct DhtHandle {
    pub(crate) requests: mpsc::Sender<DhtRequest>,
    pub(crate) clock: Clock,
}

impl DhtHandle {
    /// Runs one Kademlia command and waits for its result.
    ///
    /// # Errors
    /// [`OverlayError::Stopped`] if the driver has stopped.
    pub async fn query(
        &self,
        cmd: Command<Key256>,
    ) -> Result<QueryResult<Key256, PeerId>, OverlayError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(DhtRequest::Query { cmd, reply })
            .await
            .map_err(|_| OverlayError::Stopped)?;
        answer.await.map_err(|_| OverlayError::Stopped)
    }

    /// Stores `value` under `key` on the closest nodes, valid for `ttl` (the engine caps
    /// it) and republished meanwhile. Returns how many peers stored it.
    ///
    /// # Errors
    /// [`OverlayError::Dht`] if nobody stored it or the value is too large.
    pub async fn put(
        &self,
        key: Key256,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<usize, OverlayError> {
        let expiry = self.clock.now() + ttl;
        match self
            .query(Command::PutRecord { key, value, expiry })
            .await?
        {
            QueryResult::PutRecord(r) => Ok(r?),
            _ => Err(OverlayError::Unexpected),
        }
    }

    /// The value under `key`, `None` if the lookup did not find it.
    ///
    /// # Errors
    /// [`OverlayError::Dht`] if the lookup could not run (no peers, too many queries).
    pub async fn get(&self, key: Key256) -> Result<Option<Vec<u8>>, OverlayError> {
        match self.query(Command::GetRecord(key)).await? {
            QueryResult::GetRecord(Ok(v)) => Ok(Some(v)),
            QueryResult::GetRecord(Err(QueryError::NotFound)) => Ok(None),
            QueryResult::GetRecord(Err(e)) => Err(e.into()),
            _ => Err(OverlayError::Unexpected),
        }
    }

    /// Announces that this node provides `key`. Returns how many peers were told.
    ///
    /// # Errors
    /// [`OverlayError::Dht`] if the announcement could not be made.
    pub async fn provide(&self, key: Key256) -> Result<usize, OverlayError> {
        match self.query(Command::AddProvider(key)).await? {
            QueryResult::AddProvider(r) => Ok(r?),
            _ => Err(OverlayError::Unexpected),
        }
    }

    /// Peers that provide `key` (empty if none was found).
    ///
    /// # Errors
    /// [`OverlayError::Dht`] if the lookup could not run.
    pub async fn providers(&self, key: Key256) -> Result<Vec<PeerId>, OverlayError> {
        match self.query(Command::GetProviders(key)).await? {
            QueryResult::GetProviders(Ok(v)) => Ok(v.into_iter().map(|c| c.addr).collect()),
            QueryResult::GetProviders(Err(QueryError::NotFound)) => Ok(Vec::new()),
            QueryResult::GetProviders(Err(e)) => Err(e.into()),
            _ => Err(OverlayError::Unexpected),
        }
    }

    /// The closest peers to `key` that answered, closest first.
    ///
    /// # Errors
    /// [`OverlayError::Dht`] if the lookup could not run.
    pub async fn closest(&self, key: Key256) -> Result<Vec<PeerId>, OverlayError> {
        match self.query(Command::FindNode(key)).await? {
            QueryResult::FindNode(r) => Ok(r?.into_iter().map(|c| c.addr).collect()),
            _ => Err(OverlayError::Unexpected),
        }
    }

    /// Sizes of the local DHT state.
    ///
    /// # Errors
    /// [`OverlayError::Stopped`] if the driver has stopped.
    pub async fn info(&self) -> Result<DhtInfo, OverlayError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(DhtRequest::Info(reply))
            .await
            .map_err(|_| OverlayError::Stopped)?;
        answer.await.map_err(|_| OverlayError::Stopped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_keys() {
        let hex = "ab".repeat(32);
        assert_eq!(user_key(&hex).to_string(), hex);
        assert_eq!(user_key("hello"), Key256::hash(b"hello"));
        assert_ne!(user_key("hello"), user_key("hello "));
    }

    #[test]
    fn forged_sender_and_contacts_are_refused() {
        let local = PeerId::random();
        let peers = PeerTable::new(local);
        let mut a = KadAdapter::new(local, kademlia::Config::default(), 1);
        let from = PeerId::random();
        let other = PeerId::random();
        let good = KadMessage {
            sender: node_key(&from),
            body: Body::Nodes {
                req: 1,
                closer: vec![Contact {
                    key: node_key(&other),
                    addr: other,
                }],
            },
        };
        let wire = a.to_wire(good.clone(), &peers).remove(0);
        assert_eq!(a.accept(Time::ZERO, from, wire.clone(), &peers), Some(good));
        // the same message from another peer: the sender id does not match
        assert_eq!(a.accept(Time::ZERO, other, wire, &peers), None);
        let forged = KadMessage {
            sender: node_key(&from),
            body: Body::Nodes {
                req: 1,
                closer: vec![Contact {
                    key: Key256::hash(b"somewhere else"),
                    addr: other,
                }],
            },
        };
        let wire = a.to_wire(forged, &peers).remove(0);
        assert_eq!(a.accept(Time::ZERO, from, wire, &peers), None);
    }
}
