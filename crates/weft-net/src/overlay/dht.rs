//! The node's DHT: the Kademlia engine of `weft-overlay` over `/weft/kad/1`.
//!
//! A node's Kademlia id is the BLAKE3 hash of its peer id's bytes ([`node_key`]), so that
//! anyone can check it: a message whose `sender` is not the hash of the peer that sent it, or
//! a reply naming a contact whose id is not the hash of its peer id, is refused. Every peer
//! that connects is added to the routing table; the first connection (and any connection at
//! least [`BOOTSTRAP_EVERY`] after the last bootstrap) starts a bootstrap lookup of the
//! node's own id.
//!
//! Besides records and provider records, the DHT holds *postings* ([`DhtHandle::put_postings`],
//! [`DhtHandle::postings`]): under one key, small values (at most
//! [`kademlia::MAX_POSTING_LEN`] bytes) from many publishers, each tagged by the peer that
//! stored it. The holder takes the publisher from the authenticated connection (the
//! `sender` must hash to the peer id the frame came on), never from the message; a reply's
//! publishers must carry the id their peer id hashes to, and travel with a few of their
//! listen addresses so that the searcher can dial them. A reply is trimmed to fit
//! [`MAX_FRAME`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use libp2p::{PeerId, StreamProtocol};
use tokio::sync::{mpsc, oneshot};
use weft_core::id::Key256;
use weft_core::time::Time;
use weft_overlay::kademlia::{
    self, Body, Command, Contact, Event, Kademlia, PostingValue, QueryError, QueryResult,
};
use weft_overlay::{Engine, QueryId};

use super::OverlayError;
use super::driver::{Adapter, Clock};
use super::peers::{PeerTable, WirePeer};
use weft_overlay::PeerEvent;

/// The Kademlia protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/kad/1");
/// Largest Kademlia frame: a 64 KiB value plus a reply of contacts with addresses.
pub const MAX_FRAME: usize = 256 * 1024;
/// Least time between two bootstrap lookups started by new connections.
pub const BOOTSTRAP_EVERY: Duration = Duration::from_secs(60);
/// Listen addresses sent with each publisher of a postings reply.
pub const POSTING_PUBLISHER_ADDRS: usize = 4;
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
    /// Keys with postings stored.
    pub posting_keys: usize,
    /// Posting values stored (for this node and others).
    pub postings: usize,
}

pub(crate) enum DhtRequest {
    Query {
        cmd: Command<Key256>,
        reply: oneshot::Sender<QueryResult<Key256, PeerId>>,
    },
    Info(oneshot::Sender<DhtInfo>),
    StopProviding(Key256),
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
        Body::Postings {
            postings, closer, ..
        } => {
            postings
                .iter()
                .all(|p| p.publisher.key == node_key(&p.publisher.addr))
                && ok(closer)
        }
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
        let postings = matches!(msg.body, Body::Postings { .. });
        let mut wire = msg.map_addrs(|p| Some(peers.to_wire(p)));
        if postings {
            fit_postings(&mut wire);
        }
        vec![wire]
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
                if let Some(id) = self.engine.handle_command(now, cmd) {
                    self.waiting.insert(id, reply);
                }
            }
            DhtRequest::StopProviding(key) => self.engine.stop_providing(&key),
            DhtRequest::Info(reply) => {
                let (records, provider_keys) = self.engine.stored_counts();
                let (posting_keys, postings) = self.engine.posting_counts();
                let _ = reply.send(DhtInfo {
                    contacts: self.engine.state_size(),
                    records,
                    provider_keys,
                    posting_keys,
                    postings,
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

    fn on_peer(&mut self, now: Time, peer: PeerId, change: PeerEvent) {
        match change {
            PeerEvent::Connected => {
                self.engine.add_peer(now, node_key(&peer), peer);
                let due = self
                    .last_bootstrap
                    .is_none_or(|t| now.saturating_since(t) >= BOOTSTRAP_EVERY);
                if due {
                    self.last_bootstrap = Some(now);
                    self.engine.handle_command(now, Command::Bootstrap);
                }
            }
            // a contact stays in the table while disconnected; an unreachable one goes
            PeerEvent::Disconnected | PeerEvent::Unreachable => {
                self.engine.handle_peer(now, peer, change);
            }
        }
    }
}

/// Makes a postings reply fit in one frame: at most [`POSTING_PUBLISHER_ADDRS`] addresses per
/// publisher, then whole publishers dropped from the end while the frame is too large (the
/// reply then says `more`).
fn fit_postings(wire: &mut KadWire) {
    let Body::Postings { postings, .. } = &mut wire.body else {
        return;
    };
    for p in postings.iter_mut() {
        p.publisher.addr.addrs.truncate(POSTING_PUBLISHER_ADDRS);
    }
    while weft_core::wire::encode(&*wire, MAX_FRAME).is_err() {
        let Body::Postings { postings, more, .. } = &mut wire.body else {
            return;
        };
        if postings.is_empty() {
            return;
        }
        postings.truncate(postings.len() / 2);
        *more = true;
    }
}

/// The postings found under one key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DhtPostings {
    /// Each posting's bytes, with the peer that published it.
    pub postings: Vec<(PeerId, Vec<u8>)>,
    /// More exist than were found: a holder kept some back, a reply was cut to fit its
    /// frame, or the merge dropped some at the engine's bound.
    pub more: bool,
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

    /// Stops providing `key` (see `Kademlia::stop_providing`): call when the content is no
    /// longer shared here.
    ///
    /// # Errors
    /// [`OverlayError::Stopped`] if the driver has stopped.
    pub async fn stop_providing(&self, key: Key256) -> Result<(), OverlayError> {
        self.requests
            .send(DhtRequest::StopProviding(key))
            .await
            .map_err(|_| OverlayError::Stopped)
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

    /// Publishes this node's whole set of postings under `key` (at most
    /// [`kademlia::MAX_POSTINGS_PER_STORE`] values of at most [`kademlia::MAX_POSTING_LEN`]
    /// bytes, ids unique) on the closest nodes, replacing the set it published there
    /// before; the engine republishes it until it is replaced. An empty set withdraws the
    /// key. Returns how many peers stored it.
    ///
    /// # Errors
    /// [`OverlayError::Dht`] if nobody stored it, or the set is over the bounds.
    pub async fn put_postings(
        &self,
        key: Key256,
        values: Vec<PostingValue>,
    ) -> Result<usize, OverlayError> {
        match self.query(Command::PutPostings { key, values }).await? {
            QueryResult::PutPostings(r) => Ok(r?),
            _ => Err(OverlayError::Unexpected),
        }
    }

    /// The postings held under `key`, merged from several of the closest nodes: each with
    /// the peer that published it (empty if none was found), and whether more exist.
    ///
    /// # Errors
    /// [`OverlayError::Dht`] if the lookup could not run.
    pub async fn postings(&self, key: Key256) -> Result<DhtPostings, OverlayError> {
        match self.query(Command::GetPostings(key)).await? {
            QueryResult::GetPostings(Ok(found)) => Ok(DhtPostings {
                postings: found
                    .postings
                    .into_iter()
                    .map(|p| (p.publisher.addr, p.value))
                    .collect(),
                more: found.more,
            }),
            QueryResult::GetPostings(Err(QueryError::NotFound)) => Ok(DhtPostings::default()),
            QueryResult::GetPostings(Err(e)) => Err(e.into()),
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

    fn postings_reply(from: &PeerId, publisher: Contact<Key256, PeerId>, n: usize) -> KadMessage {
        KadMessage {
            sender: node_key(from),
            body: Body::Postings {
                req: 1,
                postings: (0..n)
                    .map(|i| kademlia::PublisherPostings {
                        publisher,
                        values: vec![PostingValue {
                            id: i as u32,
                            value: vec![7; kademlia::MAX_POSTING_LEN],
                        }],
                    })
                    .collect(),
                closer: Vec::new(),
                more: false,
            },
        }
    }

    #[test]
    fn posting_publishers_must_match_their_peer_ids() {
        let local = PeerId::random();
        let peers = PeerTable::new(local);
        let mut a = KadAdapter::new(local, kademlia::Config::default(), 1);
        let from = PeerId::random();
        let publisher = PeerId::random();
        let honest = Contact {
            key: node_key(&publisher),
            addr: publisher,
        };
        let good = postings_reply(&from, honest, 2);
        let wire = a.to_wire(good.clone(), &peers).remove(0);
        assert_eq!(a.accept(Time::ZERO, from, wire, &peers), Some(good));
        let forged = Contact {
            key: Key256::hash(b"someone else"),
            addr: publisher,
        };
        let wire = a
            .to_wire(postings_reply(&from, forged, 2), &peers)
            .remove(0);
        assert_eq!(a.accept(Time::ZERO, from, wire, &peers), None);
    }

    #[test]
    fn postings_replies_fit_in_a_frame() {
        let local = PeerId::random();
        let peers = PeerTable::new(local);
        let a = KadAdapter::new(local, kademlia::Config::default(), 1);
        // a publisher with the most addresses the book keeps, each as long as accepted
        let publisher = PeerId::random();
        let long: libp2p::Multiaddr = format!("/dns4/{}/tcp/1", "a".repeat(200)).parse().unwrap();
        let addrs: Vec<libp2p::Multiaddr> = (0..8)
            .map(|i| long.clone().with(libp2p::multiaddr::Protocol::Udp(i)))
            .collect();
        peers.learn(publisher, addrs);
        let contact = Contact {
            key: node_key(&publisher),
            addr: publisher,
        };
        let msg = postings_reply(&PeerId::random(), contact, kademlia::MAX_POSTINGS_PER_REPLY);
        let wire = a.to_wire(msg, &peers).remove(0);
        let bytes = weft_core::wire::encode(&wire, MAX_FRAME).unwrap();
        assert!(bytes.len() <= MAX_FRAME);
        let Body::Postings { postings, .. } = &wire.body else {
            panic!()
        };
        assert!(!postings.is_empty());
        assert!(
            postings
                .iter()
                .all(|p| p.publisher.addr.addrs.len() <= POSTING_PUBLISHER_ADDRS)
        );
    }
}
