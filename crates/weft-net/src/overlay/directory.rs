//! Central directory (Napster): the directory engine of `weft-overlay` over `/weft/dir/1`.
//!
//! A node started with the `directory` role is a server: every peer that connects becomes a
//! client, and its items are dropped when it disconnects. A node given a directory server
//! address is a client of it: it publishes what it shares when it connects, and sends its
//! queries there. Nodes with neither run no directory driver.

use std::collections::{BTreeMap, BTreeSet};

use libp2p::{PeerId, StreamProtocol};
use tokio::sync::{mpsc, oneshot};
use tracing::warn;
use weft_core::id::Key256;
use weft_core::time::Time;
use weft_overlay::directory::{
    self, Command, Directory, Event, Hit, Item, Load, MAX_BATCH, Message, Role,
};
use weft_overlay::{Engine, QueryId};

use super::OverlayError;
use super::driver::Adapter;
use super::peers::{PeerTable, WirePeer};
use crate::peer_log::{PeerEvents, PeerLog};
use weft_overlay::PeerEvent;

/// The directory protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/dir/1");
/// Largest directory frame (an answer of 500 hits, or a publish of [`PUBLISH_CHUNK`] items).
pub const MAX_FRAME: usize = 1024 * 1024;
/// Items per publish frame: the engine's batches of up to 1000 items are split so that a
/// frame stays under [`MAX_FRAME`] even with the longest names and most keywords.
pub const PUBLISH_CHUNK: usize = 100;
/// Requests queued for the driver.
pub(crate) const REQUEST_QUEUE: usize = 64;

/// A directory message as carried on the wire.
pub type DirectoryWire = Message<WirePeer>;
/// A directory hit: the peer that shares the item.
pub type DirectoryHit = Hit<PeerId>;

/// The server's answer to a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryAnswer {
    /// Hits, best first.
    pub hits: Vec<DirectoryHit>,
    /// The server matched more than it sent (the query's `max` or its own bounds).
    pub more: bool,
}

pub(crate) enum DirectoryRequest {
    Publish(Vec<Item>),
    Unpublish(Vec<Key256>),
    Query {
        keywords: Vec<String>,
        max: u16,
        reply: oneshot::Sender<Result<DirectoryAnswer, OverlayError>>,
    },
    Load(oneshot::Sender<Load>),
}

pub(crate) struct DirectoryAdapter {
    engine: Directory<PeerId>,
    waiting: BTreeMap<QueryId, oneshot::Sender<Result<DirectoryAnswer, OverlayError>>>,
    /// Server: peers the engine was told are connected (bounded by the connections).
    clients: BTreeSet<PeerId>,
    /// Refusals the directory server sent: counted, logged once a minute (of each kind).
    refused: (PeerLog<()>, PeerLog<()>),
}

impl DirectoryAdapter {
    pub fn new(
        local: PeerId,
        role: Role<PeerId>,
        config: directory::Config,
        events: &PeerEvents,
    ) -> Self {
        DirectoryAdapter {
            engine: Directory::new(local, role, config),
            waiting: BTreeMap::new(),
            clients: BTreeSet::new(),
            refused: (
                PeerLog::new("directory_publish_refused", events.clone()),
                PeerLog::new("directory_server_refused", events.clone()),
            ),
        }
    }
}

fn map_hits<A, B>(hits: Vec<Hit<A>>, mut f: impl FnMut(A) -> Option<B>) -> Vec<Hit<B>> {
    hits.into_iter()
        .filter_map(|h| {
            Some(Hit {
                peer: f(h.peer)?,
                hash: h.hash,
                name: h.name,
                size: h.size,
                score: h.score,
            })
        })
        .collect()
}

fn map_message<A, B>(msg: Message<A>, f: impl FnMut(A) -> Option<B>) -> Message<B> {
    match msg {
        Message::Publish { items } => Message::Publish { items },
        Message::Unpublish { hashes } => Message::Unpublish { hashes },
        Message::Query {
            query,
            keywords,
            max,
        } => Message::Query {
            query,
            keywords,
            max,
        },
        Message::Results { query, hits, more } => Message::Results {
            query,
            hits: map_hits(hits, f),
            more,
        },
        Message::Ping { nonce } => Message::Ping { nonce },
        Message::Pong { nonce } => Message::Pong { nonce },
        Message::Refused { reason } => Message::Refused { reason },
    }
}

impl Adapter for DirectoryAdapter {
    type E = Directory<PeerId>;
    type Wire = DirectoryWire;
    type Request = DirectoryRequest;

    fn engine(&mut self) -> &mut Self::E {
        &mut self.engine
    }

    fn to_wire(&self, msg: Message<PeerId>, peers: &PeerTable) -> Vec<DirectoryWire> {
        match msg {
            Message::Publish { items } if items.len() > PUBLISH_CHUNK => items
                .chunks(PUBLISH_CHUNK)
                .map(|c| Message::Publish { items: c.to_vec() })
                .collect(),
            msg => vec![map_message(msg, |p| Some(peers.to_wire(p)))],
        }
    }

    fn accept(
        &mut self,
        now: Time,
        from: PeerId,
        wire: DirectoryWire,
        peers: &PeerTable,
    ) -> Option<Message<PeerId>> {
        // A stream from a peer means a connection to it, even if the connection event has
        // not reached this driver yet: a server registers it before handling its publish.
        if self.engine.role() == Role::Server && !self.clients.contains(&from) {
            self.clients.insert(from);
            self.engine.handle_peer(now, from, PeerEvent::Connected);
        }
        if let Message::Publish { items } = &wire
            && items.len() > MAX_BATCH
        {
            return None;
        }
        Some(map_message(wire, |w| peers.resolve(w)))
    }

    fn on_request(&mut self, now: Time, request: DirectoryRequest) {
        match request {
            DirectoryRequest::Publish(items) => {
                self.engine.handle_command(now, Command::Publish(items));
            }
            DirectoryRequest::Unpublish(hashes) => {
                self.engine.handle_command(now, Command::Unpublish(hashes));
            }
            DirectoryRequest::Query {
                keywords,
                max,
                reply,
            } => {
                if let Some(id) = self
                    .engine
                    .handle_command(now, Command::Query { keywords, max })
                {
                    self.waiting.insert(id, reply);
                }
            }
            DirectoryRequest::Load(reply) => {
                let _ = reply.send(self.engine.load());
            }
        }
    }

    fn on_event(&mut self, _now: Time, event: Event<PeerId>) {
        let (id, result) = match event {
            Event::Results { id, hits, more } => (id, Ok(DirectoryAnswer { hits, more })),
            Event::QueryFailed { id } => (id, Err(OverlayError::DirectoryUnavailable)),
            Event::Refused {
                id: Some(id),
                reason,
            } => (id, Err(OverlayError::Directory(reason))),
            Event::Refused { id: None, reason } => {
                if let Some(repeats) = self.refused.0.event(&()) {
                    warn!(repeats, "a publish to the directory was refused: {reason}");
                }
                return;
            }
            Event::ServerRefused { reason } => {
                if let Some(repeats) = self.refused.1.event(&()) {
                    warn!(repeats, "the directory server refused a message: {reason}");
                }
                return;
            }
        };
        if let Some(reply) = self.waiting.remove(&id) {
            let _ = reply.send(result);
        }
    }

    fn on_peer(&mut self, now: Time, peer: PeerId, change: PeerEvent) {
        match change {
            PeerEvent::Connected => {
                if self.engine.role() != Role::Server || self.clients.insert(peer) {
                    self.engine.handle_peer(now, peer, change);
                }
            }
            PeerEvent::Disconnected => {
                self.clients.remove(&peer);
                self.engine.handle_peer(now, peer, change);
            }
            // a client whose server cannot be reached fails its queries at once
            PeerEvent::Unreachable => self.engine.handle_peer(now, peer, change),
        }
    }
}

/// The handle on the directory driver. Cheap to clone.
#[derive(Clone)]
pub struct DirectoryHandle {
    pub(crate) requests: mpsc::Sender<DirectoryRequest>,
    pub(crate) server: bool,
}

impl DirectoryHandle {
    /// Whether this node is the directory server.
    pub fn is_server(&self) -> bool {
        self.server
    }

    /// Client: shares `items` (sent now if connected, and again on every reconnect).
    ///
    /// # Errors
    /// [`OverlayError::Stopped`] if the driver has stopped.
    pub async fn publish(&self, items: Vec<Item>) -> Result<(), OverlayError> {
        self.send(DirectoryRequest::Publish(items)).await
    }

    /// Client: stops sharing the items with these hashes.
    ///
    /// # Errors
    /// [`OverlayError::Stopped`] if the driver has stopped.
    pub async fn unpublish(&self, hashes: Vec<Key256>) -> Result<(), OverlayError> {
        self.send(DirectoryRequest::Unpublish(hashes)).await
    }

    /// Client: asks the server for items with all `keywords`, best holders first.
    ///
    /// # Errors
    /// [`OverlayError::DirectoryUnavailable`] if the server does not answer in time,
    /// [`OverlayError::Directory`] if the query was refused.
    pub async fn query(
        &self,
        keywords: Vec<String>,
        max: u16,
    ) -> Result<DirectoryAnswer, OverlayError> {
        let (reply, answer) = oneshot::channel();
        self.send(DirectoryRequest::Query {
            keywords,
            max,
            reply,
        })
        .await?;
        answer.await.map_err(|_| OverlayError::Stopped)?
    }

    /// Server: its load so far.
    ///
    /// # Errors
    /// [`OverlayError::Stopped`] if the driver has stopped.
    pub async fn load(&self) -> Result<Load, OverlayError> {
        let (reply, answer) = oneshot::channel();
        self.send(DirectoryRequest::Load(reply)).await?;
        answer.await.map_err(|_| OverlayError::Stopped)
    }

    async fn send(&self, r: DirectoryRequest) -> Result<(), OverlayError> {
        self.requests
            .send(r)
            .await
            .map_err(|_| OverlayError::Stopped)
    }
}
