//! A baseline of the simulator's own: a ring where each node knows only its successor.
//!
//! It is not one of the paper's algorithms; it exists so the loop, the runner, the report and
//! the golden trace test have an engine that does not change when `weft-overlay` does, and as
//! the worst case the document-routing algorithms improve on: a lookup walks the ring, mean
//! `(N−1)/2` hops. Each node also pings its successor every 5 s, so timers are exercised.

use std::collections::VecDeque;
use std::time::Duration;

use weft_core::time::Time;
use weft_overlay::{Engine, PeerEvent, QueryId};

use crate::algorithm::{Algorithm, Expected, Outcome};
use crate::oracle::{Answer, Truth};
use crate::workload::Draw;
use weft_vnet::{MessageClass, VNet};

/// A message between ring nodes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum RingMessage {
    /// Walk towards `target`.
    Find {
        /// Who asked.
        origin: u32,
        /// The origin's query id.
        query: QueryId,
        /// The node that owns the key.
        target: u32,
        /// Hops so far.
        hops: u32,
    },
    /// The answer, sent straight back to the origin.
    Found {
        /// The origin's query id.
        query: QueryId,
        /// Hops the walk took.
        hops: u32,
        /// The node that owns the key (the sender).
        owner: u32,
    },
    /// Keep-alive to the successor.
    Ping,
}

/// A lookup: find the node owning position `target` (an index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLookup(pub u32);

/// A lookup finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingFound {
    /// The query id.
    pub query: QueryId,
    /// Hops the walk took.
    pub hops: u32,
    /// The node that owns the key.
    pub owner: u32,
}

/// One ring node.
#[derive(Debug)]
pub struct RingNode {
    index: u32,
    successor: u32,
    next_query: u64,
    next_ping: Time,
    outbox: VecDeque<(u32, RingMessage)>,
    events: VecDeque<RingFound>,
}

const PING_EVERY: Duration = Duration::from_secs(5);

impl RingNode {
    /// Node `index` of a ring of `n`.
    pub fn new(index: u32, n: u32) -> Self {
        RingNode {
            index,
            successor: (index + 1) % n.max(1),
            next_query: 0,
            // Spread first pings over the period so timers do not all fire together.
            next_ping: Time::from_micros(u64::from(index) * 7919 % 5_000_000),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    fn forward(&mut self, origin: u32, query: QueryId, target: u32, hops: u32) {
        if target == self.index {
            let owner = self.index;
            if origin == self.index {
                self.events.push_back(RingFound { query, hops, owner });
            } else {
                self.outbox
                    .push_back((origin, RingMessage::Found { query, hops, owner }));
            }
        } else {
            self.outbox.push_back((
                self.successor,
                RingMessage::Find {
                    origin,
                    query,
                    target,
                    hops: hops + 1,
                },
            ));
        }
    }
}

impl Engine for RingNode {
    type Addr = u32;
    type Message = RingMessage;
    type Command = RingLookup;
    type Event = RingFound;

    fn handle_message(&mut self, _now: Time, _from: u32, msg: RingMessage) {
        match msg {
            RingMessage::Find {
                origin,
                query,
                target,
                hops,
            } => self.forward(origin, query, target, hops),
            RingMessage::Found { query, hops, owner } => {
                self.events.push_back(RingFound { query, hops, owner })
            }
            RingMessage::Ping => {}
        }
    }

    fn handle_timeout(&mut self, now: Time) {
        if now >= self.next_ping {
            self.outbox.push_back((self.successor, RingMessage::Ping));
            self.next_ping = now + PING_EVERY;
        }
    }

    /// The ring is static: connections mean nothing to it.
    fn handle_peer(&mut self, _now: Time, _peer: u32, _event: PeerEvent) {}

    fn handle_command(&mut self, _now: Time, cmd: RingLookup) -> Option<QueryId> {
        let q = QueryId(self.next_query);
        self.next_query += 1;
        self.forward(self.index, q, cmd.0, 0);
        Some(q)
    }

    fn poll_transmit(&mut self) -> Option<(u32, RingMessage)> {
        self.outbox.pop_front()
    }

    fn poll_event(&mut self) -> Option<RingFound> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Time> {
        Some(self.next_ping)
    }
}

/// The successor-only ring as an [`Algorithm`] (static membership: joins are not supported, so
/// it runs converged and without churn).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ring {
    /// Ring size, fixed at build time (used to map keys to owners).
    pub n: u32,
}

impl Algorithm for Ring {
    type E = RingNode;

    fn name(&self) -> &'static str {
        "ring"
    }

    fn classify(msg: &RingMessage) -> MessageClass {
        match msg {
            RingMessage::Find { .. } => MessageClass {
                kind: 1,
                lookup: true,
            },
            RingMessage::Found { .. } => MessageClass {
                kind: 2,
                lookup: true,
            },
            RingMessage::Ping => MessageClass {
                kind: 3,
                lookup: false,
            },
        }
    }

    fn build_converged(&self, n: usize, _seed: u64) -> Vec<RingNode> {
        (0..n as u32).map(|i| RingNode::new(i, n as u32)).collect()
    }

    fn joiner(
        &self,
        index: u32,
        _seed: u64,
        _bootstrap: Option<u32>,
        _now: Time,
    ) -> (RingNode, Option<RingLookup>) {
        (RingNode::new(index, self.n), None)
    }

    fn lookup(&self, draw: &Draw, _origin: u32) -> RingLookup {
        RingLookup((draw.key.prefix_u64() % u64::from(self.n.max(1))) as u32)
    }

    fn outcome(&self, ev: &RingFound) -> Option<(QueryId, Outcome)> {
        Some((
            ev.query,
            Outcome::Success {
                hops: ev.hops,
                messages: None,
                answer: Answer::Node(ev.owner),
            },
        ))
    }

    /// The node at the key's position on the ring.
    fn truth_now(
        &self,
        _truth: &Truth,
        _sim: &VNet<RingNode>,
        draw: &Draw,
        origin: u32,
    ) -> Option<Answer> {
        let RingLookup(target) = self.lookup(draw, origin);
        Some(Answer::Node(target))
    }

    fn has_oracle(&self) -> bool {
        true
    }

    fn state_size(&self, _engine: &RingNode) -> usize {
        1
    }

    fn expected(&self, n: usize) -> Expected {
        Expected {
            hops: Some((n as f64 - 1.0) / 2.0),
            state: Some(1.0),
            hops_formula: "(N−1)/2",
            state_formula: "1",
            ..Expected::default()
        }
    }
}
