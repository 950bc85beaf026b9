//! Kademlia: XOR-metric document routing (Maymounkov and Mazières, 2002), the node's DHT.
//!
//! A [`Kademlia`] engine keeps k-buckets of contacts, answers the protocol's requests and
//! runs iterative lookups: at most `alpha` requests in flight, per-peer timeouts, finished
//! when the `k` closest peers known have answered or nobody is left to ask (the shape of
//! libp2p's `ClosestPeersIter`). On top of lookups it stores records and provider records
//! with expiry, republishes what it published, and refreshes buckets.
//!
//! # Postings
//!
//! A distributed inverted index (JXTA's shared-resource index, here with the postings in the
//! DHT itself): under one key the `k` closest nodes hold a bounded multiset of small values
//! ([`MAX_POSTING_LEN`] bytes), each tagged by its *publisher* — the node that stored it,
//! taken from the authenticated sender of the message, never from its content — and an id
//! the publisher chose. [`Command::PutPostings`] sends this node's whole set under a key to
//! the `k` closest (replacing its previous set there; an empty set withdraws it), and the
//! engine republishes it every `republish_interval`, a few keys at a time so that
//! republishing never takes every query slot. [`Command::GetPostings`] merges the postings
//! of the first `postings_quorum` nodes that hold any (or of every node the lookup reached).
//! Every bound (values per publisher per key, per key, in all; bytes per value; values per
//! reply) is enforced on receipt; a full key evicts the oldest value of the publisher that
//! holds the most there, so a hostile publisher cannot crowd out one that holds fewer.
//!
//! The engine is generic over the id type `K` ([`KadKey`]: [`Key256`] in the node, `u64`
//! in million-node simulations) and the address type `A` (a `u32` index in the simulator,
//! a peer handle in the node).
//!
//! # Hops
//!
//! Every candidate of a lookup has a *depth*: 0 for contacts taken from the local table,
//! `d + 1` for contacts named by a depth-`d` peer. The `hops` of a finished query is the
//! depth of the peer that produced the answer plus one: the closest peer that answered
//! (`FindNode`, `Bootstrap`, and the lookup phase of `PutRecord`/`AddProvider`/
//! `PutPostings`), or the first peer that returned the record / providers / postings
//! (`GetRecord`, `GetProviders`, `GetPostings`). It is the
//! length of the chain of sequential requests that led to the answer, the figure the
//! literature's "O(log N) hops" counts; an answer found in the local store has 0 hops.
//! `messages` counts every request the query sent.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use weft_overlay::{Engine, Time, kademlia::{Command, Config, Contact, Kademlia}};
//!
//! let config = Arc::new(Config::default());
//! let mut a: Kademlia<u64, u32> = Kademlia::new(config, Contact { key: 1, addr: 0 }, 7);
//! a.add_peer(Time::ZERO, 2, 1);
//! let _id = a.handle_command(Time::ZERO, Command::FindNode(3));
//! let (to, _request) = a.poll_transmit().expect("asks its only contact");
//! assert_eq!(to, 1);
//! ```
//!
//! [`Key256`]: weft_core::id::Key256

use std::time::Duration;

use crate::QueryId;
use weft_core::time::Time;

mod closest;
mod engine;
mod key;
mod message;
mod postings;
mod store;
mod table;

pub use engine::Kademlia;
pub use key::KadKey;
pub use message::{
    Body, Contact, MAX_CONTACTS_PER_REPLY, MAX_POSTING_LEN, MAX_POSTINGS_PER_REPLY,
    MAX_POSTINGS_PER_STORE, MAX_VALUE_LEN, Message, MessageError, PostingValue, PublisherPostings,
    WireRecord,
};

/// Settings of a Kademlia engine. Share one `Arc<Config>` among many simulated engines.
#[derive(Clone, Debug)]
pub struct Config {
    /// Bucket size and replication factor `k` (20).
    pub k: usize,
    /// Requests in flight per lookup while it makes progress, `alpha` (3).
    pub alpha: usize,
    /// How long to wait for one peer's answer before asking another (10 s).
    pub request_timeout: Duration,
    /// Queries running at once; more are refused with [`QueryError::TooManyQueries`] (64).
    pub max_queries: usize,
    /// Candidates one lookup remembers, closest first (`4 * k` by default, 80).
    pub max_candidates: usize,
    /// Longest life accepted for a record or provider record stored for others (48 h).
    pub max_ttl: Duration,
    /// Life of a provider record this node announces (24 h).
    pub provider_ttl: Duration,
    /// How often records and provider records this node published are re-announced
    /// (`None`: never) (1 h).
    pub republish_interval: Option<Duration>,
    /// How often one bucket is refreshed with a lookup for a random key in it, buckets taken
    /// in turn (`None`: never) (5 min).
    pub refresh_interval: Option<Duration>,
    /// How often expired records are dropped (1 min; only while anything is stored).
    pub expiry_interval: Duration,
    /// Records stored at most (1024).
    pub max_records: usize,
    /// Keys with provider records stored at most (1024).
    pub max_provider_keys: usize,
    /// Contacts probed at once before eviction from a full bucket (8).
    pub max_pings: usize,
    /// Life of the postings this node publishes (24 h).
    pub posting_ttl: Duration,
    /// Posting values held for all publishers at most (32 768).
    pub max_postings: usize,
    /// Posting values held under one key at most (256).
    pub max_postings_per_key: usize,
    /// Posting values held for one publisher under one key at most (256, and never more
    /// than [`MAX_POSTINGS_PER_STORE`]).
    pub max_postings_per_publisher: usize,
    /// Keys this node publishes postings under at most (20 000).
    pub max_published_posting_keys: usize,
    /// Posting values this node publishes at most, all keys together (65 536).
    pub max_published_postings: usize,
    /// Nodes holding postings whose answers a `GetPostings` merges before it stops (3).
    pub postings_quorum: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            k: 20,
            alpha: 3,
            request_timeout: Duration::from_secs(10),
            max_queries: 64,
            max_candidates: 80,
            max_ttl: Duration::from_secs(48 * 3600),
            provider_ttl: Duration::from_secs(24 * 3600),
            republish_interval: Some(Duration::from_secs(3600)),
            refresh_interval: Some(Duration::from_secs(300)),
            expiry_interval: Duration::from_secs(60),
            max_records: 1024,
            max_provider_keys: 1024,
            max_pings: 8,
            posting_ttl: Duration::from_secs(24 * 3600),
            max_postings: 32_768,
            max_postings_per_key: 256,
            max_postings_per_publisher: 256,
            max_published_posting_keys: 20_000,
            max_published_postings: 65_536,
            postings_quorum: 3,
        }
    }
}

/// A request to a Kademlia engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command<K> {
    /// Find the `k` nodes closest to a key.
    FindNode(K),
    /// Store a record locally and on the `k` nodes closest to its key, valid until
    /// `expiry`; republished while valid.
    PutRecord {
        /// The record key.
        key: K,
        /// The value, at most [`MAX_VALUE_LEN`] bytes.
        value: Vec<u8>,
        /// When the record stops being valid.
        expiry: Time,
    },
    /// Fetch the record under a key (the first valid copy found ends the lookup).
    GetRecord(K),
    /// Announce that this node provides a key, to the `k` nodes closest to it.
    AddProvider(K),
    /// Find nodes that provide a key (the first answer with providers ends the lookup).
    GetProviders(K),
    /// Publish this node's whole set of postings under a key (at most
    /// `max_postings_per_publisher` values of at most [`MAX_POSTING_LEN`] bytes, ids unique)
    /// on the `k` nodes closest to it, replacing the set it published there before;
    /// republished until replaced. An empty set withdraws the key.
    PutPostings {
        /// The key posted under.
        key: K,
        /// The values.
        values: Vec<PostingValue>,
    },
    /// Fetch the postings held under a key, merged from several of the closest nodes.
    GetPostings(K),
    /// Look up the local id, which fills the buckets near it. Call after `add_peer` with a
    /// bootstrap node.
    Bootstrap,
}

/// Why a query failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The routing table is empty.
    #[error("no known peers")]
    NoPeers,
    /// The lookup finished without finding the record or a provider.
    #[error("not found")]
    NotFound,
    /// No peer acknowledged the record.
    #[error("no peer stored the record")]
    NotStored,
    /// The value is larger than [`MAX_VALUE_LEN`].
    #[error("record value of {0} bytes is too large")]
    ValueTooLarge(usize),
    /// The local record or provider store is full.
    #[error("local store full")]
    StoreFull,
    /// Too many queries already running.
    #[error("too many queries running")]
    TooManyQueries,
    /// A posting set larger than the engine accepts.
    #[error("{0} posting values are too many")]
    TooManyValues(usize),
}

/// A posting found by [`Command::GetPostings`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posting<K, A> {
    /// The node that stored it.
    pub publisher: Contact<K, A>,
    /// Its id within the publisher's set.
    pub id: u32,
    /// The posted bytes (at most [`MAX_POSTING_LEN`]).
    pub value: Vec<u8>,
}

/// What a `GetPostings` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundPostings<K, A> {
    /// The postings, deduplicated by publisher and id.
    pub postings: Vec<Posting<K, A>>,
    /// More exist: a holder said it kept back some, or the merge dropped some at
    /// `max_postings_per_key`.
    pub more: bool,
}

/// The outcome of a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryResult<K, A> {
    /// The closest nodes that answered, closest first.
    FindNode(Result<Vec<Contact<K, A>>, QueryError>),
    /// The record's value.
    GetRecord(Result<Vec<u8>, QueryError>),
    /// How many peers stored the record.
    PutRecord(Result<usize, QueryError>),
    /// How many peers were told.
    AddProvider(Result<usize, QueryError>),
    /// Providers found (at most `k`).
    GetProviders(Result<Vec<Contact<K, A>>, QueryError>),
    /// Contacts in the routing table afterwards.
    Bootstrap(Result<usize, QueryError>),
    /// How many peers stored the postings (or took the withdrawal).
    PutPostings(Result<usize, QueryError>),
    /// The postings found, deduplicated by publisher and id (at most
    /// `max_postings_per_key`).
    GetPostings(Result<FoundPostings<K, A>, QueryError>),
}

impl<K, A> QueryResult<K, A> {
    /// True if the query achieved what it was asked.
    pub fn is_success(&self) -> bool {
        match self {
            QueryResult::FindNode(r) | QueryResult::GetProviders(r) => r.is_ok(),
            QueryResult::GetRecord(r) => r.is_ok(),
            QueryResult::PutRecord(r)
            | QueryResult::AddProvider(r)
            | QueryResult::Bootstrap(r)
            | QueryResult::PutPostings(r) => r.is_ok(),
            QueryResult::GetPostings(r) => r.is_ok(),
        }
    }
}

/// What a query cost. See the module docs for the definition of `hops`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Length of the chain of requests that led to the answer.
    pub hops: u32,
    /// Requests sent by this query.
    pub messages: u32,
    /// Answers received.
    pub responses: u32,
    /// When the query started.
    pub started: Time,
    /// When it finished.
    pub finished: Time,
}

/// What a Kademlia engine reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<K, A> {
    /// A query started with `handle_command` finished.
    QueryFinished {
        /// The id `handle_command` returned.
        id: QueryId,
        /// The outcome.
        result: QueryResult<K, A>,
        /// Its cost.
        stats: QueryStats,
    },
}
