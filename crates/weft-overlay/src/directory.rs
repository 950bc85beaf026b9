//! Central directory (Napster): one server keeps an index of what every connected client
//! shares, clients query it, and transfers then go peer to peer.
//!
//! A client publishes [`Item`]s (content hash, name, size, keywords) and unpublishes them by
//! hash; the server keeps them only while the client is connected (the driver reports
//! connections with [`Directory::handle_connected`] / [`Directory::handle_disconnected`]), and a
//! client re-publishes everything it shares when it reconnects. A query names keywords, all
//! of which must match; the server answers with at most [`Config::max_results`] hits (never
//! more than [`MAX_RESULTS`]), ranked by the holder's score: peers connected longer and
//! answering the server's pings faster come first (Napster's "best peer").
//!
//! Everything a peer sends is bounded and checked on receipt ([`Message::check`]); the server
//! refuses a message over a bound as a whole and says so ([`Message::Refused`]). The server's
//! load is exposed as counters: in total ([`Directory::load`]) and per client
//! ([`Directory::client_load`]).
//!
//! `A` names the holder of a hit, so in the node it must be a globally meaningful peer name.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_core::id::Key256;

mod engine;
mod index;

pub use engine::Directory;

/// Most items in one publish message.
pub const MAX_BATCH: usize = 1000;
/// Most keywords of one item.
pub const MAX_ITEM_KEYWORDS: usize = 32;
/// Most keywords of one query.
pub const MAX_QUERY_KEYWORDS: usize = 8;
/// Longest keyword, in bytes.
pub const MAX_KEYWORD_LEN: usize = 64;
/// Longest item name, in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Most hits in one answer, whatever the configuration says.
pub const MAX_RESULTS: usize = 500;

/// Whether this engine is the directory server or a client of one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role<A> {
    /// Keeps the index and answers queries.
    Server,
    /// Publishes to and queries the server `A`.
    Client(A),
}

/// Settings of a directory engine.
#[derive(Clone, Debug)]
pub struct Config {
    /// Most items the server keeps per client (and a client shares).
    pub max_items_per_client: usize,
    /// Most items the server keeps in total; publishes beyond it are refused.
    pub max_items_total: usize,
    /// Most clients the server serves.
    pub max_clients: usize,
    /// Hits per query (capped at [`MAX_RESULTS`]).
    pub max_results: usize,
    /// Most index entries a query may examine (bounds the server's work per query).
    pub max_scan: usize,
    /// How long a client waits for an answer.
    pub query_timeout: Duration,
    /// Most queries a client has in flight.
    pub max_queries_in_flight: usize,
    /// How often the server pings its clients to observe response times; `None` to never.
    pub ping_interval: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_items_per_client: 10_000,
            max_items_total: 10_000_000,
            max_clients: 1_000_000,
            max_results: 100,
            max_scan: 100_000,
            query_timeout: Duration::from_secs(10),
            max_queries_in_flight: 64,
            ping_interval: Some(Duration::from_secs(120)),
        }
    }
}

/// A shared item as published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Content hash.
    pub hash: Key256,
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Keywords it is found by (lowercased by the server).
    pub keywords: Vec<String>,
}

/// One answer to a query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit<A> {
    /// The peer that shares it.
    pub peer: A,
    /// Content hash.
    pub hash: Key256,
    /// File name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// The peer's score when the query was answered (higher is better).
    pub score: u64,
}

/// Why the server refused a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// A list longer than its bound.
    #[error("list too long")]
    TooMany,
    /// A string longer than its bound, or empty where it may not be.
    #[error("string empty or too long")]
    BadString,
    /// The client or the server holds as many items as allowed.
    #[error("item limit reached")]
    Full,
    /// The sender is not a connected client.
    #[error("not a connected client")]
    NotConnected,
    /// The server serves as many clients as it can.
    #[error("server full")]
    ServerFull,
}

/// A message between a client and the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message<A> {
    /// Client to server: add (or replace) these items.
    Publish {
        /// At most [`MAX_BATCH`] items.
        items: Vec<Item>,
    },
    /// Client to server: remove the items with these hashes.
    Unpublish {
        /// At most [`MAX_BATCH`] hashes.
        hashes: Vec<Key256>,
    },
    /// Client to server: find items with all `keywords`.
    Query {
        /// The client's id for the query.
        query: u64,
        /// At most [`MAX_QUERY_KEYWORDS`] keywords.
        keywords: Vec<String>,
        /// Hits wanted (the server also applies its own bound).
        max: u16,
    },
    /// Server to client: the answer.
    Results {
        /// The query answered.
        query: u64,
        /// At most [`MAX_RESULTS`] hits, best first.
        hits: Vec<Hit<A>>,
        /// More items matched than were sent (the query's `max` or the server's bounds cut
        /// them).
        more: bool,
    },
    /// Server to client: measure the response time.
    Ping {
        /// Echoed in the pong.
        nonce: u64,
    },
    /// Client to server: the answer to a ping.
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
    /// Server to client: a message was refused.
    Refused {
        /// Why.
        reason: Refusal,
    },
}

fn check_keyword(k: &str) -> Result<(), Refusal> {
    if k.is_empty() || k.len() > MAX_KEYWORD_LEN {
        Err(Refusal::BadString)
    } else {
        Ok(())
    }
}

impl<A> Message<A> {
    /// Checks every bound of a received message.
    ///
    /// # Errors
    /// The [`Refusal`] naming the first violated bound.
    pub fn check(&self) -> Result<(), Refusal> {
        match self {
            Message::Publish { items } => {
                if items.len() > MAX_BATCH {
                    return Err(Refusal::TooMany);
                }
                for i in items {
                    if i.keywords.len() > MAX_ITEM_KEYWORDS {
                        return Err(Refusal::TooMany);
                    }
                    if i.name.len() > MAX_NAME_LEN {
                        return Err(Refusal::BadString);
                    }
                    i.keywords.iter().try_for_each(|k| check_keyword(k))?;
                }
                Ok(())
            }
            Message::Unpublish { hashes } if hashes.len() > MAX_BATCH => Err(Refusal::TooMany),
            Message::Query { keywords, .. } => {
                if keywords.len() > MAX_QUERY_KEYWORDS {
                    return Err(Refusal::TooMany);
                }
                keywords.iter().try_for_each(|k| check_keyword(k))
            }
            Message::Results { hits, .. } => {
                if hits.len() > MAX_RESULTS {
                    return Err(Refusal::TooMany);
                }
                if hits.iter().any(|h| h.name.len() > MAX_NAME_LEN) {
                    return Err(Refusal::BadString);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// A request from the local application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Client: share these items (sent now, and again on every reconnect).
    Publish(Vec<Item>),
    /// Client: stop sharing the items with these hashes.
    Unpublish(Vec<Key256>),
    /// Client: find items with all these keywords.
    Query {
        /// Keywords (lowercased by the engine).
        keywords: Vec<String>,
        /// Hits wanted, capped at [`MAX_RESULTS`].
        max: u16,
    },
}

/// What the application is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<A> {
    /// The answer to a query.
    Results {
        /// The command.
        id: crate::QueryId,
        /// Hits, best first.
        hits: Vec<Hit<A>>,
        /// The server held back more matches.
        more: bool,
    },
    /// A query got no answer in time (or the server went away).
    QueryFailed {
        /// The command.
        id: crate::QueryId,
    },
    /// A command was refused locally (over a bound, or sent to a server).
    Refused {
        /// The query's id; `None` for a publish or unpublish (no query).
        id: Option<crate::QueryId>,
        /// Why.
        reason: Refusal,
    },
    /// The server refused one of our messages.
    ServerRefused {
        /// Why.
        reason: Refusal,
    },
}

/// The server's load: totals since start, and current sizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Load {
    /// Connected clients.
    pub clients: u64,
    /// Items indexed.
    pub items: u64,
    /// Keyword postings indexed.
    pub postings: u64,
    /// Messages received.
    pub messages_in: u64,
    /// Messages sent.
    pub messages_out: u64,
    /// Queries answered.
    pub queries: u64,
    /// Index entries examined by all queries (the server's work).
    pub scanned: u64,
    /// Index entries examined by the last query.
    pub last_query_scanned: u64,
    /// Items published (including replacements).
    pub published: u64,
    /// Items removed by unpublish or disconnect.
    pub removed: u64,
    /// Messages refused.
    pub refused: u64,
}

/// One client's share of the server's load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientLoad {
    /// Items indexed for it now.
    pub items: u64,
    /// Messages received from it.
    pub messages: u64,
    /// Queries it sent.
    pub queries: u64,
    /// Index entries its queries examined.
    pub scanned: u64,
    /// When it connected.
    pub connected_at: crate::Time,
    /// Smoothed ping round trip, if measured.
    pub rtt: Option<Duration>,
}
