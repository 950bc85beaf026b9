//! CAN: a content-addressable network on a d-dimensional torus (Ratnasamy et al., 2001).
//!
//! The coordinate space `[0, 2^32)^d` (d configurable up to [`MAX_DIMS`]) is partitioned into
//! zones, each owned by one node; a key is hashed to a point ([`point_of`]) and belongs to
//! the node whose zone contains it. A [`Can`] node keeps its zones (one, or more after
//! taking over a departed neighbour's) and its neighbours (nodes whose zones share a face
//! with one of its own), with their zones.
//!
//! - **Routing** is greedy: forward to the neighbour whose zone is nearest to the point
//!   (squared torus distance to the zone box; this strictly decreases, so it cannot loop).
//!   `hops` counts forwards; the literature gives (d/4)·N^(1/d) on average.
//! - **Join**: the newcomer picks a random point and routes a join request to it through
//!   any node; the owner halves the zone holding the point (along its longest side, the
//!   lowest dimension first: dimensions in order), keeps one half, hands the other to the
//!   newcomer with its neighbour list, and both announce their zones to their neighbours.
//! - **Leave**: the leaver hands its zones to a neighbour: one whose zone merges with it
//!   into a single box if there is one, otherwise the neighbour with the smallest volume,
//!   which then holds several zones. Zones therefore always partition the space exactly.
//!
//! Not done: crash recovery (a crashed node's zone stays unowned; neighbours only drop it
//! from their lists when told), multiple realities, and background zone reassignment.

use serde::{Deserialize, Serialize};

use crate::QueryId;

mod engine;
mod tree;
mod zone;

pub use engine::Can;
pub use zone::{MAX_DIMS, Point, Zone, point_of};

/// Settings of a CAN node. Share one `Arc<Config>` among simulated nodes.
#[derive(Clone, Debug)]
pub struct Config {
    /// Dimensions `d`, 1..=[`MAX_DIMS`] (2).
    pub dims: usize,
    /// How long a lookup may take (10 s).
    pub lookup_timeout: std::time::Duration,
    /// Lookups in flight at once (64).
    pub max_lookups: usize,
    /// Forwards after which a message is dropped (4096).
    pub max_hops: u32,
    /// How long a join may take before it is sent again (10 s). A join answered after that
    /// and answered again would leave the first zone handed over unowned, so keep it well
    /// above a join's round trip.
    pub join_timeout: std::time::Duration,
    /// Times a join that got no zone before its deadline is sent again through the same
    /// node (a bootstrap that had not joined yet itself drops join requests) (3).
    pub join_retries: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dims: 2,
            lookup_timeout: std::time::Duration::from_secs(10),
            max_lookups: 64,
            max_hops: 4096,
            join_timeout: std::time::Duration::from_secs(10),
            join_retries: 3,
        }
    }
}

pub use crate::lookup::{Command, LookupError, LookupEvent, LookupFinished};

/// What a CAN node reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event<A> {
    /// A lookup finished: the owner of the key's point, or why there is none
    /// ([`LookupError::NotJoined`] while the node owns no zone).
    LookupFinished(LookupFinished<A>),
    /// The node received its zone.
    Joined {
        /// The id `handle_command` returned for the join.
        id: QueryId,
        /// Forwards the join request took.
        hops: u32,
    },
}

impl<A> LookupEvent for Event<A> {
    type Found = A;

    fn finished_lookup(&self) -> Option<&LookupFinished<A>> {
        match self {
            Event::LookupFinished(f) => Some(f),
            Event::Joined { .. } => None,
        }
    }
}

/// Longest zone or neighbour list accepted in a message.
pub const MAX_ENTRIES: usize = 512;

/// Messages between CAN nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message<A> {
    /// Route to the owner of `point`; a join when `join` is set.
    Route {
        /// The origin's request id.
        req: u64,
        /// The destination point.
        point: Point,
        /// Who asked.
        origin: A,
        /// Forwards so far.
        hops: u32,
        /// A join request from `origin`.
        join: bool,
    },
    /// Answer to a lookup.
    Delivered {
        /// The origin's request id.
        req: u64,
        /// The owner of the point.
        owner: A,
        /// Forwards it took.
        hops: u32,
    },
    /// Answer to a join: the newcomer's zone and the owner's neighbours (itself included).
    Accept {
        /// The join's request id.
        req: u64,
        /// The zone handed over.
        zone: Zone,
        /// Candidate neighbours with their zones.
        neighbours: Vec<(A, Zone)>,
        /// Forwards the join took.
        hops: u32,
    },
    /// The sender's zones now (sent to neighbours whenever they change).
    Update {
        /// All zones of the sender.
        zones: Vec<Zone>,
    },
    /// The sender leaves: take over these zones; these are its neighbours.
    Handoff {
        /// Its zones.
        zones: Vec<Zone>,
        /// Its neighbours.
        neighbours: Vec<(A, Zone)>,
    },
    /// The sender leaves (its zones go to another neighbour, which will announce them).
    Leaving,
}
