//! Pastry: prefix routing in base 2^b with a leaf set (Rowstron and Druschel, 2001), and
//! Tapestry's suffix routing as its mirror image.
//!
//! Ids are 64-bit (the node uses `prefix_u64` of a [`Key256`](weft_core::id::Key256)),
//! read as `⌊64 / b⌋` digits of `b` bits (when `b` does not divide 64, the lowest `64 mod b`
//! bits are no digit: the leaf set resolves them). A [`Pastry`] node keeps
//! - a routing table: row `l`, column `c` holds a node sharing the first `l` digits with it
//!   and having digit `c` at position `l` (the proximity-closest such node known);
//! - a leaf set: the `L/2` numerically closest nodes on each side of it on the circle;
//! - a neighbourhood set: the `M` proximity-closest nodes known. Proximity is a fake
//!   metric: each id is hashed to a point of a 2^32 × 2^32 plane, distance is the L1
//!   distance (enough to show proximity-aware table filling without a network model).
//!
//! A message for key `k` is delivered to the node numerically closest to `k`: if `k` lies
//! within the leaf set's range it goes to the closest leaf (or stays); otherwise to the
//! routing-table entry sharing one more digit with `k`; otherwise to any known node that
//! shares as many digits and is numerically closer. `hops` counts forwards; the
//! literature gives ⌈log_{2^b} N⌉ (Rowstron and Druschel: the expected number of steps under
//! normal operation, not a bound: when the numerically closest node does not share the
//! key's last resolved digit, one more leaf-set hop reaches it).
//!
//! Each forward is acknowledged by the next node ([`Message::Ack`]); a forward not
//! acknowledged within [`Config::hop_timeout`] marks that node dead (it is removed from
//! every table and the leaf set is refilled) and the message goes to the next best node
//! instead, up to [`Config::hop_retries`] times per node, as the Pastry paper repairs
//! routes around failed nodes (§2.4).
//!
//! **Suffix (Tapestry) mode**: with [`Config::suffix`], digits are resolved from the least
//! significant end. This is implemented literally as the mirror image: every id and key is
//! bit-reversed ([`Config::position`]) and the prefix scheme runs on the reversed values,
//! so "numerically closest" means closest in reversed order. All ids in messages, events
//! and accessors are such *positions* (equal to the id when `suffix` is off).
//!
//! A node joins by routing a join request to its own position through any node; every
//! node on the path sends it its state, and the last (numerically closest) one its leaf
//! set; the newcomer then announces itself to everyone it learned of.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::QueryId;

mod engine;
mod table;

pub use engine::Pastry;

/// Settings of a Pastry node. Share one `Arc<Config>` among simulated nodes.
#[derive(Clone, Debug)]
pub struct Config {
    /// Bits per digit, `b`: 1..=8 (4).
    pub b: u32,
    /// Leaf set size `L`, half on each side (16).
    pub leaf_set: usize,
    /// Neighbourhood set size `M` (16).
    pub neighbourhood: usize,
    /// Tapestry-style suffix routing (false).
    pub suffix: bool,
    /// Period of leaf-set probing (`None`: off) (10 s).
    pub maintenance_interval: Option<Duration>,
    /// How long a probed leaf may take to answer (2 s).
    pub request_timeout: Duration,
    /// How long a lookup may take before it fails (10 s).
    pub lookup_timeout: Duration,
    /// Lookups in flight at once (64).
    pub max_lookups: usize,
    /// Forwards after which a message is dropped (64).
    pub max_hops: u32,
    /// How long the next node may take to acknowledge a forwarded message before it is
    /// taken for dead and the message goes elsewhere (1 s).
    pub hop_timeout: Duration,
    /// Times one node re-routes one message around unacknowledged hops (3).
    pub hop_retries: u32,
    /// Forwards awaiting an acknowledgement at once; further forwards go unwatched (256).
    pub max_forwards: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            b: 4,
            leaf_set: 16,
            neighbourhood: 16,
            suffix: false,
            maintenance_interval: Some(Duration::from_secs(10)),
            request_timeout: Duration::from_secs(2),
            lookup_timeout: Duration::from_secs(10),
            max_lookups: 64,
            max_hops: 64,
            hop_timeout: Duration::from_secs(1),
            hop_retries: 3,
            max_forwards: 256,
        }
    }
}

impl Config {
    /// The routing position of an id: the id itself, or its bit reversal in suffix mode.
    pub fn position(&self, id: u64) -> u64 {
        if self.suffix { id.reverse_bits() } else { id }
    }

    /// Checks `b`, `L` and `M`.
    ///
    /// # Errors
    /// A message naming the bad setting.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=8).contains(&self.b) {
            return Err(format!("pastry b must be 1..=8, not {}", self.b));
        }
        if self.leaf_set < 2 || !self.leaf_set.is_multiple_of(2) || self.leaf_set > 64 {
            return Err(format!(
                "pastry leaf set must be even, 2..=64, not {}",
                self.leaf_set
            ));
        }
        if self.neighbourhood > 64 {
            return Err(format!(
                "pastry neighbourhood set at most 64, not {}",
                self.neighbourhood
            ));
        }
        Ok(())
    }
}

// `Command::Lookup` takes a key as an id; the engine maps it with [`Config::position`]. A
// node's `id` is its position (see the module docs).
pub use crate::lookup::{Command, LookupError, LookupEvent, LookupFinished, Node};

/// What a Pastry node reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<A> {
    /// A lookup finished: the node numerically closest to the key's position (`key` is the
    /// position, see [`Config::position`]), or why there is none.
    LookupFinished(LookupFinished<Node<A>>),
    /// The join completed.
    Joined {
        /// The id `handle_command` returned for the join.
        id: QueryId,
        /// Forwards the join request took.
        hops: u32,
    },
}

impl<A> LookupEvent for Event<A> {
    type Found = Node<A>;

    fn finished_lookup(&self) -> Option<&LookupFinished<Node<A>>> {
        match self {
            Event::LookupFinished(f) => Some(f),
            Event::Joined { .. } => None,
        }
    }
}

/// Longest list of nodes accepted in one message.
pub const MAX_NODES_PER_MESSAGE: usize = 1024;

/// Messages between Pastry nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message<A> {
    /// Route towards `key`; `join` when `origin` is joining (its position is the key).
    Route {
        /// The origin's request id.
        req: u64,
        /// The key's position.
        key: u64,
        /// Who asked.
        origin: Node<A>,
        /// Forwards so far.
        hops: u32,
        /// A join request.
        join: bool,
    },
    /// Answer to a lookup, to its origin.
    Delivered {
        /// The origin's request id.
        req: u64,
        /// The numerically closest node.
        owner: Node<A>,
        /// Forwards it took.
        hops: u32,
    },
    /// Routing state for a joining node, from a node on its join path.
    State {
        /// The join's request id.
        req: u64,
        /// The sender, its table, leaves and neighbours.
        nodes: Vec<Node<A>>,
        /// Sent by the numerically closest node: the join is complete.
        last: bool,
        /// Forwards the join took to reach the sender.
        hops: u32,
    },
    /// "I joined; consider me for your tables."
    Announce {
        /// The newcomer.
        node: Node<A>,
    },
    /// Leaf probe.
    Ping {
        /// Request id.
        req: u64,
        /// The sender.
        from: Node<A>,
    },
    /// Probe answer.
    Pong {
        /// Request id.
        req: u64,
    },
    /// Send me your leaf set.
    GetLeaves {
        /// The asker.
        from: Node<A>,
    },
    /// A leaf set.
    Leaves {
        /// The leaves and the sender.
        nodes: Vec<Node<A>>,
    },
    /// The sender leaves; here are its leaves to fill the gap.
    Leaving {
        /// The leaver.
        node: Node<A>,
        /// Its leaf set.
        leaves: Vec<Node<A>>,
    },
    /// "I have your forwarded message": sent back to whoever forwarded a `Route`.
    Ack {
        /// The origin's request id.
        req: u64,
        /// The origin's position.
        origin: u64,
    },
}
