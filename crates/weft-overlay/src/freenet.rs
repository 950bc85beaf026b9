//! Key-closeness routing with hops-to-live, as in Freenet (Clarke et al. 2001; the paper's 6.5).
//!
//! Each node keeps two bounded LRU tables: a **datastore** (key to data, bounded by item count
//! and by bytes) and a **routing table** (key position to the node that supplied data for that
//! key). A request for a key is answered from the datastore if possible; otherwise it goes to
//! the node of the routing entry closest to the key, depth first: when that branch fails (a
//! dead end, a loop, a timeout) the node tries the next closest entry, and when none is left it
//! reports failure upstream, which backtracks in turn.
//!
//! The hops-to-live is a budget for the whole search: every hop a request takes costs one,
//! a failure returns what is left of the budget so that the node upstream can spend it on its
//! next choice, and the search ends when the budget is spent. A request id seen before is
//! refused as a loop, so no node works on the same request twice.
//!
//! When the data is found it travels back along the path; every node on the way stores it and
//! learns a routing entry from the key to the data's source (which a node replaces by itself
//! with probability [`Config::source_reset_permille`], hiding the origin). Inserts follow the
//! same route and leave the data on every node they pass. This is how routing tables learn:
//! the paper's 1,000-node ring sees request paths fall from hundreds of hops to a handful.
//!
//! Key positions on the circle are [`Key256::prefix_u64`]; distance is circular.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use weft_core::id::Key256;

use crate::QueryId;

mod engine;
mod store;

pub use engine::Freenet;

/// Largest hops-to-live a message may carry.
pub const MAX_HTL: u16 = 1000;

/// Settings of a Freenet node.
#[derive(Clone, Debug)]
pub struct Config {
    /// Most items in the datastore.
    pub store_items: usize,
    /// Most bytes in the datastore.
    pub store_bytes: u64,
    /// Most routing entries.
    pub routing_entries: usize,
    /// Most requests and inserts this node works on at once; further ones are refused.
    pub max_pending: usize,
    /// Most request ids remembered for loop detection.
    pub seen_ids: usize,
    /// Most nodes tried for one request before it is given up here.
    pub max_tries: usize,
    /// Time allowed per hop of budget handed downstream before the branch is given up.
    pub hop_timeout: Duration,
    /// Hops-to-live of requests and inserts when the command names none.
    pub default_htl: u16,
    /// Per mille chance that a node replaces a passing reply's source by itself.
    pub source_reset_permille: u16,
    /// Largest data item accepted.
    pub max_data: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            store_items: 1000,
            store_bytes: 64 << 20,
            routing_entries: 250,
            max_pending: 1024,
            seen_ids: 4096,
            max_tries: 32,
            hop_timeout: Duration::from_secs(2),
            default_htl: 20,
            source_reset_permille: 0,
            max_data: 1 << 20,
        }
    }
}

/// Names one request or insert across the network (loop detection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RequestId(pub u64);

/// Why a branch of a search ended without data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Failure {
    /// The receiver had already seen this request.
    Loop,
    /// No untried routing entry left, or the budget is spent.
    DeadEnd,
    /// The receiver is working on too many requests.
    Overloaded,
}

/// A message between two Freenet nodes. `A` names a data source, so in the node it must be a
/// globally meaningful peer name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message<A> {
    /// Find the data of `key`.
    Request {
        /// The request's id.
        id: RequestId,
        /// The key searched.
        key: Key256,
        /// Budget left after this hop.
        htl: u16,
    },
    /// Store `data` under `key` along the route.
    Insert {
        /// The insert's id.
        id: RequestId,
        /// The key.
        key: Key256,
        /// The data.
        data: Vec<u8>,
        /// Budget left after this hop.
        htl: u16,
        /// The node to learn as holder of the key.
        source: A,
    },
    /// The data was found; travels back along the path.
    Data {
        /// The request answered.
        id: RequestId,
        /// The key.
        key: Key256,
        /// The data.
        data: Vec<u8>,
        /// The node to learn as holder of the key.
        source: A,
        /// Budget left when the data was found.
        htl: u16,
        /// Nodes the reply has crossed, counting the holder.
        depth: u16,
    },
    /// This branch failed; `htl` is the budget it gives back.
    Failed {
        /// The request or insert.
        id: RequestId,
        /// Budget returned.
        htl: u16,
        /// Why.
        reason: Failure,
    },
    /// The insert has been stored along its route.
    InsertDone {
        /// The insert.
        id: RequestId,
        /// Nodes of the route from here on that stored it.
        depth: u16,
    },
}

/// Why a message was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// The hops-to-live is above [`MAX_HTL`].
    #[error("hops-to-live {0} above the limit")]
    Htl(u16),
    /// The data is larger than [`Config::max_data`].
    #[error("data of {0} bytes too large")]
    DataSize(usize),
    /// Too many requests in flight.
    #[error("too many requests in flight")]
    Busy,
}

/// A request from the local user or application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Fetch the data of `key`.
    Request {
        /// The key.
        key: Key256,
        /// Budget; `None` for [`Config::default_htl`].
        htl: Option<u16>,
    },
    /// Store `data` under `key` along the route towards the key.
    Insert {
        /// The key.
        key: Key256,
        /// The data.
        data: Vec<u8>,
        /// Budget; `None` for [`Config::default_htl`].
        htl: Option<u16>,
    },
}

/// What the application is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A request succeeded.
    Found {
        /// The command.
        id: QueryId,
        /// The key.
        key: Key256,
        /// The data.
        data: Vec<u8>,
        /// Request hops spent, backtracking included (0 if found locally).
        hops: u16,
        /// Length of the path the data came back on.
        path_len: u16,
    },
    /// A request failed: budget spent or every branch a dead end.
    NotFound {
        /// The command.
        id: QueryId,
        /// The key.
        key: Key256,
        /// Request hops spent.
        hops: u16,
    },
    /// An insert was stored along its route.
    Inserted {
        /// The command.
        id: QueryId,
        /// The key.
        key: Key256,
        /// Nodes that stored it, this one included.
        path_len: u16,
    },
    /// A command was refused (data too large, too many requests in flight).
    Refused {
        /// The command.
        id: QueryId,
        /// Why.
        reason: Invalid,
    },
}

/// Counters of one node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests and inserts received.
    pub received: u64,
    /// Of those, refused as loops.
    pub loops: u64,
    /// Requests answered from the datastore.
    pub served: u64,
    /// Messages sent.
    pub sent: u64,
    /// Branches given up after a timeout.
    pub timeouts: u64,
    /// Messages refused as invalid or unexpected.
    pub refused: u64,
}

/// The position of node `i` in a simulated network: the key its neighbours' initial routing
/// entries name it by.
pub fn node_key(i: u32) -> Key256 {
    let mut input = *b"freenet-node-key\0\0\0\0";
    input[16..].copy_from_slice(&i.to_le_bytes());
    Key256::hash(&input)
}

/// `n` nodes in a ring (the start of Clarke et al.'s experiment): node `i` has routing
/// entries for the `each_side` nodes on either side of it, under their [`node_key`]s.
pub fn ring(n: u32, each_side: u32, config: &Config, seed: u64) -> Vec<Freenet<u32>> {
    (0..n)
        .map(|i| {
            let node_seed = crate::kit::node_seed(seed, u64::from(i));
            let mut e = Freenet::new(i, config.clone(), node_seed);
            for d in 1..=each_side.min(n.saturating_sub(1) / 2) {
                for j in [(i + d) % n, (i + n - d) % n] {
                    e.add_route(node_key(j), j);
                }
            }
            e
        })
        .collect()
}
