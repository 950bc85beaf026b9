//! Chord: an identifier circle with fingers (Stoica et al., 2001).
//!
//! Node and key positions are 64-bit integers on a circle modulo 2^64 (the node uses the
//! first 8 bytes of a [`Key256`](weft_core::id::Key256), `prefix_u64`); a key belongs to
//! its *successor*, the first node at or after it clockwise. Each [`Chord`] node keeps its
//! predecessor, a list of `r` successors and 64 fingers (`finger[i]` = successor of
//! `id + 2^i`), repaired by three timers: *stabilize* (ask the successor for its
//! predecessor and successor list, then notify it), *fix fingers* (look up one finger per
//! period, in turn) and *check predecessor* (ping it, forget it if silent).
//!
//! Lookups are recursive: each node forwards the request to the closest preceding finger
//! of the key, and the key's predecessor answers the origin directly. `hops` is the number
//! of times the request was forwarded (0 when the origin's own successor owns the key);
//! the literature's ½·log2 N counts the same thing. Each forward is acknowledged by the next
//! node ([`Message::Ack`]); a forward not acknowledged within [`Config::hop_timeout`] marks
//! that node dead (it is forgotten from fingers and successors) and the request goes to the
//! next best finger or successor instead, up to [`Config::hop_retries`] times per node: the
//! successor list is what keeps a lookup going around a crashed node (Stoica et al., §5.3).
//! A lookup whose request is lost all the same fails when its deadline passes.
//!
//! Nodes join through any live node ([`Command::Join`]): the join is a lookup of the node's
//! own id, asked again if unanswered. Until it is answered the node has no successor and
//! knows no part of the ring, so a request it is given (its own lookups, or the join of a
//! node that chose it as bootstrap) goes on to its bootstrap instead of being answered as if
//! it were alone. Stabilization follows Stoica et al. (ask the successor for its predecessor,
//! adopt it if it lies between, notify); when it finds a closer successor it asks that one
//! at once instead of a period later, so a successor far off (joins faster than the period)
//! is walked back in round trips. Nodes leave gracefully
//! ([`Command::Leave`]: predecessor and successor are told to link up) or crash (the
//! neighbours notice through their timers).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::QueryId;

mod engine;

pub use engine::Chord;

/// Settings of a Chord node. Share one `Arc<Config>` among simulated nodes.
#[derive(Clone, Debug)]
pub struct Config {
    /// Length `r` of the successor list (8).
    pub successors: usize,
    /// Stabilization period (`None`: off) (5 s).
    pub stabilize_interval: Option<Duration>,
    /// Period of fixing one finger (`None`: off) (5 s).
    pub fix_fingers_interval: Option<Duration>,
    /// Period of checking the predecessor (`None`: off) (10 s).
    pub check_predecessor_interval: Option<Duration>,
    /// How long a neighbour may take to answer before it is considered gone (2 s).
    pub request_timeout: Duration,
    /// How long a lookup may take before it fails (10 s).
    pub lookup_timeout: Duration,
    /// Lookups in flight at once; more are refused (64).
    pub max_lookups: usize,
    /// A request forwarded more often than this is dropped (128).
    pub max_hops: u32,
    /// How long the next node may take to acknowledge a forwarded lookup before it is
    /// taken for dead and the lookup goes elsewhere (1 s).
    pub hop_timeout: Duration,
    /// Times one node re-routes one lookup around unacknowledged hops (3).
    pub hop_retries: u32,
    /// Forwards awaiting an acknowledgement at once; further forwards go unwatched (256).
    pub max_forwards: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            successors: 8,
            stabilize_interval: Some(Duration::from_secs(5)),
            fix_fingers_interval: Some(Duration::from_secs(5)),
            check_predecessor_interval: Some(Duration::from_secs(10)),
            request_timeout: Duration::from_secs(2),
            lookup_timeout: Duration::from_secs(10),
            max_lookups: 64,
            max_hops: 128,
            hop_timeout: Duration::from_secs(1),
            hop_retries: 3,
            max_forwards: 256,
        }
    }
}

pub use crate::lookup::{Command, LookupError, LookupEvent, LookupFinished, Node};

/// What a Chord node reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<A> {
    /// A lookup finished: the owner of the key (its successor), or why there is none.
    LookupFinished(LookupFinished<Node<A>>),
    /// The join completed: the node has a successor.
    Joined {
        /// The id `handle_command` returned for the join.
        id: QueryId,
        /// The first successor.
        successor: Node<A>,
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

/// Messages between Chord nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message<A> {
    /// Find the successor of `key` for `origin`; forwarded until the key's predecessor.
    Lookup {
        /// The origin's request id.
        req: u64,
        /// The key.
        key: u64,
        /// Who asked.
        origin: Node<A>,
        /// Forwards so far.
        hops: u32,
    },
    /// Answer to `Lookup`, sent to the origin.
    Found {
        /// The origin's request id.
        req: u64,
        /// The owner.
        owner: Node<A>,
        /// Forwards it took.
        hops: u32,
    },
    /// Stabilize: who is your predecessor, and your successors?
    GetNeighbours {
        /// Request id.
        req: u64,
        /// The asker (so that the answer can be addressed and it can be noted).
        from: Node<A>,
    },
    /// Answer to `GetNeighbours`.
    Neighbours {
        /// Request id.
        req: u64,
        /// The answerer.
        from: Node<A>,
        /// Its predecessor.
        pred: Option<Node<A>>,
        /// Its successor list (at most `r`; longer lists are cut).
        succs: Vec<Node<A>>,
    },
    /// "I might be your predecessor."
    Notify {
        /// The sender.
        node: Node<A>,
    },
    /// Are you alive?
    Ping {
        /// Request id.
        req: u64,
    },
    /// Yes.
    Pong {
        /// Request id.
        req: u64,
    },
    /// The sender leaves: link up with these instead.
    Leaving {
        /// The leaver.
        node: Node<A>,
        /// Its predecessor (for its successor).
        pred: Option<Node<A>>,
        /// Its successors (for its predecessor).
        succs: Vec<Node<A>>,
    },
    /// "I have your forwarded lookup": sent back to whoever forwarded a `Lookup`.
    Ack {
        /// The origin's request id.
        req: u64,
        /// The origin's position.
        origin: u64,
    },
}

/// Longest successor list accepted in a message.
pub const MAX_SUCCESSORS: usize = 32;

/// True if `x` lies in the half-open arc `(a, b]` (the whole circle when `a == b`).
pub fn in_arc_closed(x: u64, a: u64, b: u64) -> bool {
    if a == b {
        return true;
    }
    let d = x.wrapping_sub(a);
    d != 0 && d <= b.wrapping_sub(a)
}

/// True if `x` lies in the open arc `(a, b)` (everything but `a` when `a == b`).
pub fn in_arc_open(x: u64, a: u64, b: u64) -> bool {
    if a == b {
        return x != a;
    }
    x.wrapping_sub(a) != 0 && x.wrapping_sub(a) < b.wrapping_sub(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arcs() {
        assert!(in_arc_closed(5, 3, 5));
        assert!(!in_arc_closed(3, 3, 5));
        assert!(in_arc_closed(1, u64::MAX - 1, 2));
        assert!(in_arc_closed(7, 4, 4));
        assert!(in_arc_open(4, 3, 5));
        assert!(!in_arc_open(5, 3, 5));
        assert!(in_arc_open(0, u64::MAX, 1));
        assert!(!in_arc_open(4, 4, 4) && in_arc_open(5, 4, 4));
    }
}
