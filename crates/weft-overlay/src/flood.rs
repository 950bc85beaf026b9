//! Flooded requests: Gnutella 0.6 with ultrapeers, leaves and query routing tables.
//!
//! A query carries a 16-byte GUID, a time-to-live and a hop count. Each node answers it from
//! its own content (by asking the application, see below), remembers the GUID and the
//! neighbour it came from, and forwards it to its other neighbours with `ttl - 1` and
//! `hops + 1` while the TTL stays positive. A GUID seen before is dropped, so a query crosses
//! each node at most once; hits travel back hop by hop along the remembered reverse path. The
//! GUID memory is bounded (a two-generation map), and the TTL is capped: an incoming TTL above
//! [`Config::max_ttl`] is clamped, and so is `ttl + hops`.
//!
//! # Roles
//!
//! - [`Role::Peer`]: the flat Gnutella 0.4 network, every node forwards to every neighbour.
//! - [`Role::Ultrapeer`]: forwards among ultrapeers as a peer does, and to each of its leaves
//!   only when the leaf's route table (QRP, [`qrp`]) matches every keyword of the query.
//! - [`Role::Leaf`]: never forwards; sends its own queries to its ultrapeers and its route
//!   table (a 2^16-bit vector of hashed keywords, sent as patches) whenever its keywords change.
//!   A leaf with no ultrapeer among its neighbours has no one to shield it and no one to reach
//!   the network through, so it acts as a peer of the flat network (it sends and forwards
//!   queries to every neighbour) until an ultrapeer joins it: a network of leaves alone, such
//!   as a few nodes on a LAN started with the defaults, still floods.
//!
//! A leaf or ultrapeer that is given its [`Capacity`] (uptime, bandwidth, reachability) runs
//! the election of [`ElectionRule`] every [`Config::election_interval`]: a capable leaf that
//! lacks ultrapeers promotes itself, an ultrapeer that is no longer capable and has few leaves
//! steps down (FastTrack's supernode rule). The driver reacts to [`Event::RoleChanged`].
//!
//! # Local content
//!
//! The engine holds no file index. For every query it should answer it emits
//! [`Event::MatchRequest`]; the application looks the criteria up (the node in SQLite, the
//! simulator in a keyword set) and answers with [`Command::Respond`], which sends the hit back
//! along the reverse path. A leaf tells the engine which keywords it can answer with
//! [`Command::SetKeywords`] (used only to build its route table).
//!
//! # Driving it
//!
//! The driver reports connections with [`Flood::handle_connected`] and
//! [`Flood::handle_disconnected`] (the two ends then exchange [`Message::Hello`]); the simulator
//! may instead wire a topology directly with [`Flood::add_neighbor`] (see [`topology`]).
//! Messages from peers that are not neighbours are ignored.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_core::id::Key256;

mod engine;
pub(crate) mod guid_cache;
pub mod qrp;
pub mod topology;

pub use engine::Flood;

/// Most keywords in a query.
pub const MAX_KEYWORDS: usize = 16;
/// Longest keyword, in bytes.
pub const MAX_KEYWORD_LEN: usize = 64;
/// Most items in one query hit.
pub const MAX_HIT_ITEMS: usize = 64;
/// Items wanted from each responder by [`Criteria::from_text`].
pub const DEFAULT_MAX_ITEMS: u16 = 64;
/// Longest item name in a hit, in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Largest TTL any configuration may use.
pub const TTL_LIMIT: u8 = 16;

/// A query's globally unique id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Guid(pub [u8; 16]);

/// Names one [`Event::MatchRequest`]; the application answers with [`Command::Respond`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MatchId(pub u64);

/// A node's place in the two-tier network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Flat network: forwards every query to every other neighbour.
    Peer,
    /// Forwards among ultrapeers and to the leaves whose route table matches.
    Ultrapeer,
    /// Shielded by ultrapeers: never forwards.
    Leaf,
}

impl Role {
    /// The role's name in lower case: `peer`, `ultrapeer` or `leaf`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Peer => "peer",
            Role::Ultrapeer => "ultrapeer",
            Role::Leaf => "leaf",
        }
    }
}

/// Whether other peers can dial this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reachability {
    /// Accepts incoming connections.
    Public,
    /// Behind a NAT or firewall.
    Firewalled,
}

/// What the driver knows of this node's resources, the input of the ultrapeer election.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    /// Time the node has been up.
    pub uptime: Duration,
    /// Upstream bandwidth, kbit/s.
    pub bandwidth_kbps: u32,
    /// Whether others can dial it.
    pub reachability: Reachability,
}

/// The ultrapeer election rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElectionRule {
    /// Least uptime of a capable node.
    pub min_uptime: Duration,
    /// Least bandwidth of a capable node, kbit/s.
    pub min_bandwidth_kbps: u32,
    /// A capable leaf with fewer ultrapeer neighbours than this promotes itself.
    pub want_ultrapeers: usize,
    /// An incapable ultrapeer with at most this many leaves steps down.
    pub demote_max_leaves: usize,
}

impl Default for ElectionRule {
    fn default() -> Self {
        ElectionRule {
            min_uptime: Duration::from_secs(3600),
            min_bandwidth_kbps: 1000,
            want_ultrapeers: 3,
            demote_max_leaves: 0,
        }
    }
}

impl ElectionRule {
    /// Whether a node with `capacity` may be an ultrapeer: publicly reachable, up long
    /// enough and with enough bandwidth.
    pub fn capable(&self, capacity: &Capacity) -> bool {
        capacity.reachability == Reachability::Public
            && capacity.uptime >= self.min_uptime
            && capacity.bandwidth_kbps >= self.min_bandwidth_kbps
    }
}

/// Settings of a flood engine.
#[derive(Clone, Debug)]
pub struct Config {
    /// The role the node starts in.
    pub role: Role,
    /// TTL cap: larger incoming TTLs (and `ttl + hops`) are clamped to it. Gnutella uses 7.
    pub max_ttl: u8,
    /// TTL of the node's own queries when the command names none.
    pub default_ttl: u8,
    /// GUIDs remembered for duplicate suppression and reverse paths.
    pub guid_cache: usize,
    /// Most neighbours (ultrapeers, peers and leaves together).
    pub max_neighbors: usize,
    /// Most leaves an ultrapeer accepts (announced to neighbours as free slots).
    pub max_leaves: usize,
    /// How long the node's own query collects hits before [`Event::QueryDone`].
    pub query_timeout: Duration,
    /// Most own queries in flight.
    pub max_own_queries: usize,
    /// Most unanswered [`Event::MatchRequest`]s; further queries are forwarded but not answered.
    pub max_pending_matches: usize,
    /// How long an answer to a match request is accepted.
    pub match_timeout: Duration,
    /// Base-2 logarithm of the QRP table size in bits (LimeWire: 16).
    pub qrp_log2_size: u8,
    /// The ultrapeer election rule.
    pub election: ElectionRule,
    /// How often the election runs once a [`Capacity`] is known.
    pub election_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            role: Role::Peer,
            max_ttl: 7,
            default_ttl: 7,
            guid_cache: 8192,
            max_neighbors: 64,
            max_leaves: 32,
            query_timeout: Duration::from_secs(30),
            max_own_queries: 64,
            max_pending_matches: 256,
            match_timeout: Duration::from_secs(10),
            qrp_log2_size: qrp::DEFAULT_LOG2_SIZE,
            election: ElectionRule::default(),
            election_interval: Duration::from_secs(60),
        }
    }
}

/// What a query asks for: items carrying all keywords, or the item with a content hash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criteria {
    /// Lowercase keywords, all of which must match.
    pub keywords: Vec<String>,
    /// A content hash (a query for sources of one item).
    pub hash: Option<Key256>,
    /// Most items the querier wants from each responder (0 counts as 1); a responder sends
    /// at most this and its own bound, and flags its hits `more` when it held back matches.
    pub max_items: u16,
}

impl Criteria {
    /// Criteria from free text: split on anything not alphanumeric, lowercased, deduplicated.
    pub fn from_text(text: &str) -> Self {
        Criteria {
            keywords: keywords(text),
            hash: None,
            max_items: DEFAULT_MAX_ITEMS,
        }
    }

    /// The route-table keys of these criteria: the keywords and, for a hash query,
    /// [`hash_keyword`] of the hash.
    pub fn route_keys(&self) -> impl Iterator<Item = String> + '_ {
        self.keywords
            .iter()
            .cloned()
            .chain(self.hash.map(|h| hash_keyword(&h)))
    }

    fn check(&self) -> Result<(), Invalid> {
        if self.keywords.is_empty() && self.hash.is_none() {
            return Err(Invalid::EmptyQuery);
        }
        if self.keywords.len() > MAX_KEYWORDS {
            return Err(Invalid::TooManyKeywords(self.keywords.len()));
        }
        if self
            .keywords
            .iter()
            .any(|k| k.is_empty() || k.len() > MAX_KEYWORD_LEN)
        {
            return Err(Invalid::KeywordLength);
        }
        Ok(())
    }
}

/// Splits free text into lowercase keywords (alphanumeric runs), sorted and deduplicated, at
/// most [`MAX_KEYWORDS`] of at most [`MAX_KEYWORD_LEN`] bytes.
pub fn keywords(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.len() <= MAX_KEYWORD_LEN)
        .map(str::to_lowercase)
        .collect();
    out.sort();
    out.dedup();
    out.truncate(MAX_KEYWORDS);
    out
}

/// The route-table key under which a leaf announces that it holds content `hash`
/// (`urn:` and the hex hash, as LimeWire put SHA-1 URNs into its tables).
pub fn hash_keyword(hash: &Key256) -> String {
    format!("urn:{hash}")
}

/// One item of a query hit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HitItem {
    /// Content hash.
    pub hash: Key256,
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
}

/// A message between two flood engines. `A` names the responder of a hit, so in the node it
/// must be a globally meaningful peer name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message<A> {
    /// Sent on connection and after a role change.
    Hello {
        /// The sender's role.
        role: Role,
        /// Leaves the sender would still accept (0 unless ultrapeer).
        leaf_slots: u16,
    },
    /// A search.
    Query {
        /// The query's id.
        guid: Guid,
        /// Remaining hops.
        ttl: u8,
        /// Hops taken so far.
        hops: u8,
        /// What is searched.
        criteria: Criteria,
    },
    /// Matches, travelling back along the query's reverse path.
    QueryHit {
        /// The query answered.
        guid: Guid,
        /// Remaining hops.
        ttl: u8,
        /// Hops taken so far.
        hops: u8,
        /// The node that holds the items.
        responder: A,
        /// The matching items.
        items: Vec<HitItem>,
        /// The responder matched more items than it sent (the query's `max_items` or its own
        /// bound cut them).
        more: bool,
    },
    /// A leaf's route table, reset or patch.
    RouteTable(qrp::QrpUpdate),
}

/// Why a message or command was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// A query with neither keywords nor hash.
    #[error("query names no keyword and no hash")]
    EmptyQuery,
    /// Too many keywords.
    #[error("{0} keywords, more than allowed")]
    TooManyKeywords(usize),
    /// An empty or overlong keyword.
    #[error("keyword empty or too long")]
    KeywordLength,
    /// A hit with no item or too many.
    #[error("hit with {0} items")]
    HitItems(usize),
    /// An overlong item name.
    #[error("item name too long")]
    NameLength,
    /// A zero TTL.
    #[error("message with zero ttl")]
    ZeroTtl,
    /// A bad route-table update.
    #[error("route table: {0}")]
    RouteTable(#[from] qrp::QrpError),
    /// Too many own queries in flight.
    #[error("too many queries in flight")]
    Busy,
}

impl<A> Message<A> {
    /// Checks every bound of a received message.
    ///
    /// # Errors
    /// [`Invalid`] naming the first violated bound.
    pub fn check(&self) -> Result<(), Invalid> {
        match self {
            Message::Hello { .. } => Ok(()),
            Message::Query { ttl, criteria, .. } => {
                if *ttl == 0 {
                    return Err(Invalid::ZeroTtl);
                }
                criteria.check()
            }
            Message::QueryHit { ttl, items, .. } => {
                if *ttl == 0 {
                    return Err(Invalid::ZeroTtl);
                }
                if items.is_empty() || items.len() > MAX_HIT_ITEMS {
                    return Err(Invalid::HitItems(items.len()));
                }
                if items.iter().any(|i| i.name.len() > MAX_NAME_LEN) {
                    return Err(Invalid::NameLength);
                }
                Ok(())
            }
            Message::RouteTable(u) => Ok(u.check()?),
        }
    }
}

/// A request from the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Search the network. Hits arrive as [`Event::Hit`], the end as [`Event::QueryDone`].
    Query {
        /// What to search for (keywords are lowercased by the engine).
        criteria: Criteria,
        /// TTL, capped at [`Config::max_ttl`]; `None` for [`Config::default_ttl`].
        ttl: Option<u8>,
    },
    /// The answer to an [`Event::MatchRequest`]; an empty list sends nothing.
    Respond {
        /// The request answered.
        request: MatchId,
        /// Matching local items (sent in hits of at most [`MAX_HIT_ITEMS`]).
        items: Vec<HitItem>,
        /// More items matched than `items` holds: the hits say so to the querier.
        more: bool,
    },
    /// The keywords (and [`hash_keyword`]s) of the local content: a leaf sends them to its
    /// ultrapeers as a route table.
    SetKeywords(Vec<String>),
    /// The node's capacity; runs the ultrapeer election now and then periodically.
    SetCapacity(Capacity),
}

/// Something the application is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<A> {
    /// Look up local items matching `criteria` and answer with [`Command::Respond`].
    MatchRequest {
        /// Name of this request.
        request: MatchId,
        /// What is searched.
        criteria: Criteria,
    },
    /// Hits for one of our queries.
    Hit {
        /// The query.
        id: crate::QueryId,
        /// The node holding the items.
        responder: A,
        /// Overlay hops between us and the responder.
        hops: u8,
        /// The items.
        items: Vec<HitItem>,
        /// The responder held back more matches.
        more: bool,
    },
    /// One of our queries timed out; later hits are dropped.
    QueryDone {
        /// The query.
        id: crate::QueryId,
        /// Hit messages received.
        hits: u32,
    },
    /// A command was refused.
    Refused {
        /// The command's id.
        id: crate::QueryId,
        /// Why.
        reason: Invalid,
    },
    /// The election changed this node's role; the driver may adjust its connections.
    RoleChanged {
        /// The new role.
        role: Role,
    },
}

/// Counters of one flood engine (the simulator's messages-per-query figures).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Query messages received from neighbours (duplicates included).
    pub queries_received: u64,
    /// Of those, dropped as duplicates.
    pub duplicates_dropped: u64,
    /// Of those, whose TTL was clamped.
    pub ttl_clamped: u64,
    /// Query messages sent (own and forwarded).
    pub queries_sent: u64,
    /// Leaves not sent a query because their route table did not match.
    pub qrp_blocked: u64,
    /// Hit messages sent by this node as responder.
    pub hits_sent: u64,
    /// Hit messages forwarded along a reverse path.
    pub hits_routed: u64,
    /// Hits dropped: unknown GUID, expired TTL, or query already done.
    pub hits_dropped: u64,
    /// Messages refused by [`Message::check`] or from non-neighbours.
    pub refused: u64,
}
