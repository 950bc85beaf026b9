//! Flooded search (Gnutella 0.6): the flood engine of `weft-overlay` over `/weft/flood/1`.
//!
//! Every connected peer becomes a neighbour (the engine bounds how many). The node's role
//! decides the engine's: a leaf sends its queries to its ultrapeers and its keywords as a
//! route table; an ultrapeer (and a directory server) forwards. Queries from the network
//! that this node should answer arrive as [`MatchRequest`]s on the receiver returned by
//! [`super::Overlay::spawn`]; the application answers with [`FloodHandle::respond`].

use std::collections::BTreeMap;

use libp2p::{PeerId, StreamProtocol};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info};
use weft_core::time::Time;
use weft_overlay::flood::{
    self, Capacity, Criteria, Event, Flood, HitItem, Invalid, MAX_KEYWORD_LEN, MAX_KEYWORDS,
    MatchId, Message, Stats,
};
use weft_overlay::{Engine, QueryId};

use super::OverlayError;
use super::driver::Adapter;
use super::peers::{PeerTable, WirePeer};
use weft_overlay::PeerEvent;

/// The flood protocol name.
pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/weft/flood/1");
/// Largest flood frame (a hit of 64 items, or a route-table patch).
pub const MAX_FRAME: usize = 256 * 1024;
/// Hits buffered per query for a slow reader; more are dropped.
pub const HIT_QUEUE: usize = 256;
/// Match requests buffered for the application; more are not answered.
pub const MATCH_QUEUE: usize = 256;
/// Requests queued for the driver.
pub(crate) const REQUEST_QUEUE: usize = 64;

/// A flood message as carried on the wire.
pub type FloodWire = Message<WirePeer>;

/// Hits for one of our queries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FloodHit {
    /// The node that holds the items.
    pub responder: PeerId,
    /// Overlay hops between us and it.
    pub hops: u8,
    /// The items.
    pub items: Vec<HitItem>,
    /// The responder held back more matches (our `max_items` or its own bound cut them).
    pub more: bool,
}

/// A query from the network this node should answer from its own content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchRequest {
    /// Pass this to [`FloodHandle::respond`].
    pub request: MatchId,
    /// What is searched.
    pub criteria: Criteria,
}

pub(crate) enum FloodRequest {
    Query {
        criteria: Criteria,
        ttl: Option<u8>,
        hits: mpsc::Sender<FloodHit>,
    },
    Respond {
        request: MatchId,
        items: Vec<HitItem>,
        more: bool,
    },
    SetKeywords(Vec<String>),
    SetCapacity(Capacity),
    Stats(oneshot::Sender<(Stats, flood::Role, usize)>),
}

pub(crate) struct FloodAdapter {
    engine: Flood<PeerId>,
    queries: BTreeMap<QueryId, mpsc::Sender<FloodHit>>,
    matches: mpsc::Sender<MatchRequest>,
}

impl FloodAdapter {
    pub fn new(
        local: PeerId,
        config: flood::Config,
        seed: u64,
        matches: mpsc::Sender<MatchRequest>,
    ) -> Self {
        FloodAdapter {
            engine: Flood::new(local, config, seed),
            queries: BTreeMap::new(),
            matches,
        }
    }
}

/// Rewrites the responder of a hit; `None` if `f` refuses it.
fn map_message<A, B>(msg: Message<A>, f: impl FnOnce(A) -> Option<B>) -> Option<Message<B>> {
    Some(match msg {
        Message::Hello { role, leaf_slots } => Message::Hello { role, leaf_slots },
        Message::Query {
            guid,
            ttl,
            hops,
            criteria,
        } => Message::Query {
            guid,
            ttl,
            hops,
            criteria,
        },
        Message::QueryHit {
            guid,
            ttl,
            hops,
            responder,
            items,
            more,
        } => Message::QueryHit {
            guid,
            ttl,
            hops,
            responder: f(responder)?,
            items,
            more,
        },
        Message::RouteTable(u) => Message::RouteTable(u),
    })
}

impl Adapter for FloodAdapter {
    type E = Flood<PeerId>;
    type Wire = FloodWire;
    type Request = FloodRequest;

    fn engine(&mut self) -> &mut Self::E {
        &mut self.engine
    }

    fn to_wire(&self, msg: Message<PeerId>, peers: &PeerTable) -> Vec<FloodWire> {
        map_message(msg, |p| Some(peers.to_wire(p)))
            .into_iter()
            .collect()
    }

    fn accept(
        &mut self,
        _now: Time,
        _from: PeerId,
        wire: FloodWire,
        peers: &PeerTable,
    ) -> Option<Message<PeerId>> {
        map_message(wire, |w| peers.resolve(w))
    }

    fn on_request(&mut self, now: Time, request: FloodRequest) {
        match request {
            FloodRequest::Query {
                criteria,
                ttl,
                hits,
            } => {
                let query = flood::Command::Query { criteria, ttl };
                if let Some(id) = self.engine.handle_command(now, query) {
                    self.queries.insert(id, hits);
                }
            }
            FloodRequest::Respond {
                request,
                items,
                more,
            } => {
                self.engine.handle_command(
                    now,
                    flood::Command::Respond {
                        request,
                        items,
                        more,
                    },
                );
            }
            FloodRequest::SetKeywords(words) => {
                self.engine
                    .handle_command(now, flood::Command::SetKeywords(words));
            }
            FloodRequest::SetCapacity(c) => {
                self.engine
                    .handle_command(now, flood::Command::SetCapacity(c));
            }
            FloodRequest::Stats(reply) => {
                let neighbours = self.engine.neighbors().count();
                let _ = reply.send((self.engine.stats(), self.engine.role(), neighbours));
            }
        }
    }

    fn on_event(&mut self, _now: Time, event: Event<PeerId>) {
        match event {
            Event::MatchRequest { request, criteria } => {
                // nobody listening, or the application is behind: the query goes unanswered here
                let _ = self.matches.try_send(MatchRequest { request, criteria });
            }
            Event::Hit {
                id,
                responder,
                hops,
                items,
                more,
            } => {
                if let Some(tx) = self.queries.get(&id) {
                    let hit = FloodHit {
                        responder,
                        hops,
                        items,
                        more,
                    };
                    if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(hit) {
                        self.queries.remove(&id);
                    }
                }
            }
            Event::QueryDone { id, hits } => {
                debug!(?id, hits, "flood query done");
                self.queries.remove(&id);
            }
            Event::Refused { id, reason } => {
                debug!(?id, "flood command refused: {reason}");
                self.queries.remove(&id);
            }
            Event::RoleChanged { role } => info!(?role, "flood role changed"),
        }
    }

    fn on_peer(&mut self, now: Time, peer: PeerId, change: PeerEvent) {
        self.engine.handle_peer(now, peer, change);
    }
}

/// What the flood engine reports about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FloodInfo {
    /// Traffic counters.
    pub stats: Stats,
    /// Current role.
    pub role: flood::Role,
    /// Neighbours.
    pub neighbours: usize,
}

/// The handle on the flood driver. Cheap to clone.
#[derive(Clone)]
pub struct FloodHandle {
    pub(crate) requests: mpsc::Sender<FloodRequest>,
}

impl FloodHandle {
    /// Floods a query; hits arrive on the returned receiver, which closes when the query
    /// times out (the engine's `query_timeout`) or is refused (too many in flight).
    /// `ttl` is capped by the engine; `None` uses its default.
    ///
    /// # Errors
    /// [`OverlayError::Flood`] for criteria the engine would refuse (no keyword and no hash,
    /// too many or overlong keywords); [`OverlayError::Stopped`] if the driver has stopped.
    pub async fn query(
        &self,
        criteria: Criteria,
        ttl: Option<u8>,
    ) -> Result<mpsc::Receiver<FloodHit>, OverlayError> {
        if criteria.keywords.is_empty() && criteria.hash.is_none() {
            return Err(Invalid::EmptyQuery.into());
        }
        if criteria.keywords.len() > MAX_KEYWORDS {
            return Err(Invalid::TooManyKeywords(criteria.keywords.len()).into());
        }
        if criteria
            .keywords
            .iter()
            .any(|k| k.is_empty() || k.len() > MAX_KEYWORD_LEN)
        {
            return Err(Invalid::KeywordLength.into());
        }
        let (hits, rx) = mpsc::channel(HIT_QUEUE);
        self.send(FloodRequest::Query {
            criteria,
            ttl,
            hits,
        })
        .await?;
        Ok(rx)
    }

    /// Answers a [`MatchRequest`] with matching local items (none: nothing is sent); `more`
    /// tells the querier that more matched than `items` holds.
    ///
    /// # Errors
    /// [`OverlayError::Stopped`] if the driver has stopped.
    pub async fn respond(
        &self,
        request: MatchId,
        items: Vec<HitItem>,
        more: bool,
    ) -> Result<(), OverlayError> {
        self.send(FloodRequest::Respond {
            request,
            items,
            more,
        })
        .await
    }

    /// The keywords of the local content (a leaf sends them to its ultrapeers as a route
    /// table; see `weft_overlay::flood::hash_keyword` for content hashes).
    ///
    /// # Errors
    /// [`OverlayError::Stopped`] if the driver has stopped.
    pub async fn set_keywords(&self, keywords: Vec<String>) -> Result<(), OverlayError> {
        self.send(FloodRequest::SetKeywords(keywords)).await
    }

    /// The node's capacity, for the ultrapeer election.
    ///
    /// # Errors
    /// [`OverlayError::Stopped`] if the driver has stopped.
    pub async fn set_capacity(&self, capacity: Capacity) -> Result<(), OverlayError> {
        self.send(FloodRequest::SetCapacity(capacity)).await
    }

    /// Counters, role and neighbour count.
    ///
    /// # Errors
    /// [`OverlayError::Stopped`] if the driver has stopped.
    pub async fn info(&self) -> Result<FloodInfo, OverlayError> {
        let (reply, answer) = oneshot::channel();
        self.send(FloodRequest::Stats(reply)).await?;
        let (stats, role, neighbours) = answer.await.map_err(|_| OverlayError::Stopped)?;
        Ok(FloodInfo {
            stats,
            role,
            neighbours,
        })
    }

    async fn send(&self, r: FloodRequest) -> Result<(), OverlayError> {
        self.requests
            .send(r)
            .await
            .map_err(|_| OverlayError::Stopped)
    }
}
