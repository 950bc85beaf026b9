//! The Chord node: routing state, recursive lookups and the three repair timers.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use weft_core::time::Time;

use super::{
    Command, Config, Event, LookupFinished, MAX_SUCCESSORS, Message, Node, in_arc_closed,
    in_arc_open,
};
use crate::kit::{Events, NodeRng, Outbox, RequestIds, Timers};
use crate::lookup::{Forward, Forwards, Lookups};
use crate::{Engine, PeerEvent, QueryId};

/// The repair timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    Stabilize,
    FixFinger,
    CheckPredecessor,
}

/// What a lookup is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    User,
    Join,
    Finger(u8),
}

/// A request to a neighbour awaiting its answer.
#[derive(Clone, Copy, Debug)]
struct Probe {
    req: u64,
    deadline: Time,
}

/// A Chord node. See the [module docs](super).
#[derive(Debug)]
pub struct Chord<A> {
    config: Arc<Config>,
    me: Node<A>,
    pred: Option<Node<A>>,
    /// Successor list, nearest first; empty while alone or not yet joined.
    succs: Vec<Node<A>>,
    /// The node this one joins through, while its join is in progress (no successor yet).
    /// Until then it knows no part of the ring: requests it is given go on to this node
    /// rather than being answered as if it were alone.
    joining: Option<A>,
    /// `fingers[i]` = successor of `me.id + 2^i`; `me` where unknown.
    fingers: Box<[Node<A>]>,
    next_finger: u8,
    lookups: Lookups<Purpose>,
    /// Lookups this node forwarded, awaiting acknowledgement.
    forwards: Forwards<A, ()>,
    stabilize_probe: Option<Probe>,
    pred_probe: Option<Probe>,
    outbox: Outbox<A, Message<A>>,
    events: Events<Event<A>>,
    req_ids: RequestIds,
    timers: Timers<Timer>,
}

/// A random first deadline within the first period, if the timer is on.
fn start_at(rng: &mut impl Rng, every: Option<Duration>) -> Option<Time> {
    every.map(|d| {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        Time::from_micros(rng.random_range(0..us))
    })
}

fn after(now: Time, every: Option<Duration>) -> Option<Time> {
    every.map(|d| now + d)
}

impl<A: Copy + Ord + std::fmt::Debug> Chord<A> {
    /// A node alone on its ring (its own successor). Give it [`Command::Join`] to join
    /// another ring. `seed` with the id seeds the timer offsets.
    pub fn new(config: Arc<Config>, me: Node<A>, seed: u64) -> Self {
        let mut rng = NodeRng::salted(seed, me.id.rotate_left(17)).draw();
        let mut timers = Timers::new();
        let starts = [
            (Timer::Stabilize, config.stabilize_interval),
            (Timer::FixFinger, config.fix_fingers_interval),
            (Timer::CheckPredecessor, config.check_predecessor_interval),
        ];
        for (timer, every) in starts {
            timers.set_or_cancel(timer, start_at(&mut rng, every));
        }
        Chord {
            pred: None,
            succs: Vec::new(),
            joining: None,
            fingers: vec![me; 64].into_boxed_slice(),
            next_finger: 0,
            lookups: Lookups::new(config.max_lookups),
            forwards: Forwards::new(config.max_forwards),
            stabilize_probe: None,
            pred_probe: None,
            outbox: Outbox::new(),
            events: Events::new(),
            req_ids: RequestIds::new(),
            timers,
            me,
            config,
        }
    }

    /// The converged state of node `me` in a stable ring, built directly for the
    /// simulator: predecessor, `r` successors and all 64 fingers computed from `nodes`,
    /// every node's `(id, address)` sorted by id without duplicates (what PeerSim's
    /// initialisers do; joining 10^6 nodes through the protocol is too slow).
    ///
    /// # Panics
    /// If `me` is out of range.
    pub fn converged(config: Arc<Config>, seed: u64, me: usize, nodes: &[(u64, A)]) -> Self {
        let node = |i: usize| Node {
            id: nodes[i].0,
            addr: nodes[i].1,
        };
        let n = nodes.len();
        let mut c = Chord::new(config, node(me), seed);
        if n > 1 {
            c.pred = Some(node((me + n - 1) % n));
            let r = c.config.successors.min(n - 1);
            c.succs = (1..=r).map(|j| node((me + j) % n)).collect();
            for i in 0..64 {
                let target = c.me.id.wrapping_add(1u64 << i);
                let at = nodes.partition_point(|(id, _)| *id < target) % n;
                c.fingers[i] = node(at);
            }
        }
        c
    }

    /// [`Chord::converged`] for every node of `nodes` (sorted by id).
    pub fn converged_network(config: Arc<Config>, seed: u64, nodes: &[(u64, A)]) -> Vec<Self> {
        (0..nodes.len())
            .map(|i| Self::converged(config.clone(), seed, i, nodes))
            .collect()
    }

    /// This node.
    pub fn local(&self) -> Node<A> {
        self.me
    }

    /// Its predecessor, if known.
    pub fn predecessor(&self) -> Option<Node<A>> {
        self.pred
    }

    /// Its successor list, nearest first.
    pub fn successors(&self) -> &[Node<A>] {
        &self.succs
    }

    /// Routing entries held: distinct other nodes among fingers, successors and
    /// predecessor (the "state" of the paper's Table 3, O(log N)).
    pub fn state_size(&self) -> usize {
        let mut ids: Vec<u64> = self
            .fingers
            .iter()
            .chain(self.succs.iter())
            .chain(self.pred.iter())
            .map(|n| n.id)
            .filter(|id| *id != self.me.id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    /// Forwards this node made whose next node did not acknowledge within the hop timeout
    /// (each one cost the lookup that long and, retries left, sent it around the silent node),
    /// counted over the node's life: user lookups and the engine's own (joins, finger fixes).
    pub fn hop_timeouts(&self) -> u64 {
        self.forwards.timeouts()
    }

    /// Bytes this node occupies with its tables, for the simulator's memory report.
    pub fn memory_bytes(&self) -> usize {
        size_of::<Self>()
            + self.fingers.len() * size_of::<Node<A>>()
            + self.succs.capacity() * size_of::<Node<A>>()
    }

    /// True once the node has left.
    pub fn has_left(&self) -> bool {
        self.lookups.has_left()
    }

    fn successor(&self) -> Node<A> {
        self.succs.first().copied().unwrap_or(self.me)
    }

    fn take_req(&mut self) -> u64 {
        self.req_ids.take()
    }

    /// Reports a finished lookup; its id.
    fn report(&mut self, finished: LookupFinished<Node<A>>) -> QueryId {
        self.events.push(Event::LookupFinished(finished));
        finished.id
    }

    fn send(&mut self, to: A, msg: Message<A>) {
        self.outbox.send(to, msg);
    }

    /// The known node closest before `key` (fingers and successors), if any beats `me`.
    fn closest_preceding(&self, key: u64) -> Option<Node<A>> {
        self.fingers
            .iter()
            .chain(self.succs.iter())
            .filter(|n| in_arc_open(n.id, self.me.id, key))
            .max_by_key(|n| n.id.wrapping_sub(self.me.id))
            .copied()
    }

    /// One routing step for a lookup of `key`: answer the origin, or forward (watching for
    /// the next node's acknowledgement). `retries`: re-routes of it by this node so far.
    fn route(&mut self, now: Time, req: u64, key: u64, origin: Node<A>, hops: u32, retries: u32) {
        if self.succs.is_empty()
            && let Some(via) = self.joining
        {
            // Not in the ring yet: alone, this node would claim every key. The node it joins
            // through knows the ring (a lookup of its own, or one from a node joining through
            // it, goes there).
            if hops < self.config.max_hops {
                let msg = Message::Lookup {
                    req,
                    key,
                    origin,
                    hops: hops + 1,
                };
                self.send(via, msg);
            }
            return;
        }
        let owner = if self
            .pred
            .is_some_and(|p| in_arc_closed(key, p.id, self.me.id))
        {
            Some(self.me)
        } else if in_arc_closed(key, self.me.id, self.successor().id) {
            Some(self.successor())
        } else {
            None
        };
        let next = if owner.is_none() {
            self.closest_preceding(key)
        } else {
            None
        };
        match (owner, next) {
            (owner, None) | (owner @ Some(_), _) => {
                let owner = owner.unwrap_or(self.successor());
                let msg = Message::Found { req, owner, hops };
                if origin.addr == self.me.addr && origin.id == self.me.id {
                    self.on_found(req, owner, hops);
                } else {
                    self.send(origin.addr, msg);
                }
            }
            (None, Some(next)) => {
                if hops < self.config.max_hops {
                    self.forwards.watch(Forward {
                        origin,
                        req,
                        key,
                        hops,
                        next,
                        deadline: now + self.config.hop_timeout,
                        retries,
                        extra: (),
                    });
                    self.send(
                        next.addr,
                        Message::Lookup {
                            req,
                            key,
                            origin,
                            hops: hops + 1,
                        },
                    );
                }
            }
        }
    }

    fn start_lookup(&mut self, now: Time, key: u64, purpose: Purpose, via: Option<A>) -> QueryId {
        let timeout = self.config.lookup_timeout;
        let opened = self
            .lookups
            .open(now, key, timeout, purpose, &mut self.req_ids);
        let (id, req) = match opened {
            Ok(p) => (p.id, p.req),
            Err(refused) if purpose == Purpose::User => return self.report(refused),
            Err(refused) => return refused.id,
        };
        match via {
            Some(addr) => self.send(
                addr,
                Message::Lookup {
                    req,
                    key,
                    origin: self.me,
                    hops: 1,
                },
            ),
            None => self.route(now, req, key, self.me, 0, 0),
        }
        id
    }

    /// Forwards whose next node did not acknowledge in time: that node is taken for dead
    /// and forgotten, and the lookup is routed again without it.
    fn reroute_unacknowledged(&mut self, now: Time) {
        for f in self.forwards.expire(now) {
            self.forget(f.next.id);
            if f.retries < self.config.hop_retries {
                self.route(now, f.req, f.key, f.origin, f.hops, f.retries + 1);
            }
        }
    }

    fn on_found(&mut self, req: u64, owner: Node<A>, hops: u32) {
        let Some(l) = self.lookups.finish(req, |_| true) else {
            return;
        };
        match l.purpose {
            Purpose::User => {
                self.report(l.answered(owner, hops));
            }
            Purpose::Join => {
                if owner.id != self.me.id {
                    self.joining = None;
                    self.succs = vec![owner];
                    self.events.push(Event::Joined {
                        id: l.id,
                        successor: owner,
                    });
                    self.send(owner.addr, Message::Notify { node: self.me });
                }
            }
            Purpose::Finger(i) => self.fingers[usize::from(i)] = owner,
        }
    }

    /// Forgets a node found dead everywhere it appears.
    fn forget(&mut self, id: u64) {
        self.succs.retain(|n| n.id != id);
        if self.pred.is_some_and(|p| p.id == id) {
            self.pred = None;
        }
        let me = self.me;
        for f in self.fingers.iter_mut() {
            if f.id == id {
                *f = me;
            }
        }
    }

    fn adopt_successors(&mut self, first: Node<A>, rest: &[Node<A>]) {
        let mut list = Vec::with_capacity(self.config.successors);
        for n in std::iter::once(&first).chain(rest.iter()) {
            if n.id != self.me.id && !list.iter().any(|m: &Node<A>| m.id == n.id) {
                list.push(*n);
            }
            if list.len() >= self.config.successors {
                break;
            }
        }
        self.succs = list;
    }

    /// Asks the successor for its predecessor and successor list, unless a request is out.
    fn stabilize(&mut self, now: Time) {
        let succ = self.successor();
        if succ.id != self.me.id && self.stabilize_probe.is_none() {
            let req = self.take_req();
            self.stabilize_probe = Some(Probe {
                req,
                deadline: now + self.config.request_timeout,
            });
            self.send(succ.addr, Message::GetNeighbours { req, from: self.me });
        }
    }

    fn maintain(&mut self, now: Time) {
        self.reroute_unacknowledged(now);
        if let Some(p) = self.stabilize_probe
            && now >= p.deadline
        {
            self.stabilize_probe = None;
            let dead = self.successor();
            self.forget(dead.id);
        }
        if let Some(p) = self.pred_probe
            && now >= p.deadline
        {
            self.pred_probe = None;
            self.pred = None;
        }
        if self.timers.fire(Timer::Stabilize, now) {
            let at = after(now, self.config.stabilize_interval);
            self.timers.set_or_cancel(Timer::Stabilize, at);
            self.stabilize(now);
        }
        if self.timers.fire(Timer::CheckPredecessor, now) {
            let at = after(now, self.config.check_predecessor_interval);
            self.timers.set_or_cancel(Timer::CheckPredecessor, at);
            if let Some(p) = self.pred
                && self.pred_probe.is_none()
            {
                let req = self.take_req();
                self.pred_probe = Some(Probe {
                    req,
                    deadline: now + self.config.request_timeout,
                });
                self.send(p.addr, Message::Ping { req });
            }
        }
        if self.timers.fire(Timer::FixFinger, now) {
            let at = after(now, self.config.fix_fingers_interval);
            self.timers.set_or_cancel(Timer::FixFinger, at);
            if !self.succs.is_empty() {
                let i = self.next_finger;
                self.next_finger = (self.next_finger + 1) % 64;
                let key = self.me.id.wrapping_add(1u64 << i);
                self.start_lookup(now, key, Purpose::Finger(i), None);
            }
        }
        for l in self.lookups.expire(now) {
            if l.purpose == Purpose::Join
                && let Some(via) = self.joining
            {
                // unanswered (the answer or the request was lost): ask again, as long as
                // the node has no successor
                self.lookups.reopen(l, now + self.config.lookup_timeout);
                let msg = Message::Lookup {
                    req: l.req,
                    key: l.key,
                    origin: self.me,
                    hops: 1,
                };
                self.send(via, msg);
            } else if l.purpose == Purpose::User {
                self.report(l.timed_out());
            }
        }
    }
}

impl<A: Copy + Ord + std::fmt::Debug> Engine for Chord<A> {
    type Addr = A;
    type Message = Message<A>;
    type Command = Command<A>;
    type Event = Event<A>;

    fn handle_message(&mut self, now: Time, from: A, msg: Message<A>) {
        if self.has_left() {
            return;
        }
        match msg {
            Message::Lookup {
                req,
                key,
                origin,
                hops,
            } => {
                self.send(
                    from,
                    Message::Ack {
                        req,
                        origin: origin.id,
                    },
                );
                self.route(now, req, key, origin, hops, 0);
            }
            Message::Ack { req, origin } => self.forwards.acknowledged(req, origin, from),
            Message::Found { req, owner, hops } => self.on_found(req, owner, hops),
            // the answer goes to the sender, never to a node the body names
            Message::GetNeighbours { req, from: _ } => {
                let mut succs = self.succs.clone();
                succs.truncate(MAX_SUCCESSORS);
                let msg = Message::Neighbours {
                    req,
                    from: self.me,
                    pred: self.pred,
                    succs,
                };
                self.send(from, msg);
            }
            Message::Neighbours {
                req,
                from: succ,
                pred,
                mut succs,
            } => {
                if self.stabilize_probe.is_none_or(|p| p.req != req) || succ.addr != from {
                    return;
                }
                self.stabilize_probe = None;
                succs.truncate(MAX_SUCCESSORS);
                let closer = match pred {
                    Some(x) if x.id != self.me.id && in_arc_open(x.id, self.me.id, succ.id) => {
                        let mut rest = vec![succ];
                        rest.extend(succs);
                        self.adopt_successors(x, &rest);
                        true
                    }
                    _ => {
                        self.adopt_successors(succ, &succs);
                        false
                    }
                };
                let s = self.successor();
                if s.id != self.me.id {
                    self.send(s.addr, Message::Notify { node: self.me });
                }
                if self.fingers[0].id == self.me.id
                    || in_arc_open(s.id, self.me.id, self.fingers[0].id)
                {
                    self.fingers[0] = s;
                }
                if closer {
                    // A node sits between this one and its successor: ask it at once rather
                    // than a period later. A successor far off (joins faster than the
                    // period, or a join answered from a stale view) is then walked back in
                    // round trips, not in periods; each step moves strictly closer, so the
                    // walk ends.
                    self.stabilize(now);
                }
            }
            Message::Notify { node } => {
                if node.id == self.me.id || node.addr != from {
                    return;
                }
                if self
                    .pred
                    .is_none_or(|p| in_arc_open(node.id, p.id, self.me.id))
                {
                    self.pred = Some(node);
                }
                if self.succs.is_empty() && self.joining.is_none() {
                    // alone on the ring until now: the newcomer is also the successor
                    self.succs.push(node);
                    self.fingers[0] = node;
                }
            }
            Message::Ping { req } => self.send(from, Message::Pong { req }),
            Message::Pong { req } => {
                if self.pred_probe.is_some_and(|p| p.req == req) {
                    self.pred_probe = None;
                }
            }
            Message::Leaving {
                node,
                pred,
                mut succs,
            } => {
                // only a node itself can say it leaves
                if node.addr != from {
                    return;
                }
                succs.truncate(MAX_SUCCESSORS);
                if self.pred.is_some_and(|p| p.id == node.id) {
                    self.pred = pred.filter(|p| p.id != self.me.id);
                }
                let was_succ = self.successor().id == node.id;
                self.forget(node.id);
                if was_succ && let Some((first, rest)) = succs.split_first() {
                    let (first, rest) = (*first, rest.to_vec());
                    if first.id != self.me.id {
                        self.adopt_successors(first, &rest);
                    }
                }
            }
        }
    }

    fn handle_timeout(&mut self, now: Time) {
        if !self.has_left() {
            self.maintain(now);
        }
    }

    fn handle_peer(&mut self, _now: Time, _peer: A, _event: PeerEvent) {
        // liveness comes from the node's own probes and acknowledgements, which also work
        // where one connection carries many protocols
    }

    fn handle_command(&mut self, now: Time, cmd: Command<A>) -> Option<QueryId> {
        if let Some(refused) = self.lookups.after_leaving(&cmd) {
            return refused.map(|f| self.report(f));
        }
        match cmd {
            Command::Lookup(key) => Some(self.start_lookup(now, key, Purpose::User, None)),
            Command::Join(via) => {
                self.joining = Some(via);
                Some(self.start_lookup(now, self.me.id, Purpose::Join, Some(via)))
            }
            Command::Leave => {
                let succ = self.successor();
                if succ.id != self.me.id {
                    let msg = Message::Leaving {
                        node: self.me,
                        pred: self.pred,
                        succs: Vec::new(),
                    };
                    self.send(succ.addr, msg);
                }
                if let Some(p) = self.pred
                    && p.id != self.me.id
                {
                    let msg = Message::Leaving {
                        node: self.me,
                        pred: None,
                        succs: self.succs.clone(),
                    };
                    self.send(p.addr, msg);
                }
                self.lookups.leave();
                self.forwards.clear();
                self.stabilize_probe = None;
                self.pred_probe = None;
                self.timers.clear();
                None
            }
        }
    }

    fn poll_transmit(&mut self) -> Option<(A, Message<A>)> {
        self.outbox.pop()
    }

    fn poll_event(&mut self) -> Option<Event<A>> {
        self.events.pop()
    }

    fn poll_timeout(&self) -> Option<Time> {
        if self.has_left() {
            return None;
        }
        let probes = self.stabilize_probe.iter().chain(self.pred_probe.iter());
        self.timers
            .next()
            .into_iter()
            .chain(probes.map(|p| p.deadline))
            .chain(self.lookups.next_deadline())
            .chain(self.forwards.next_deadline())
            .min()
    }
}
