//! The Pastry node: routing, joins, leaf-set repair.

use std::sync::Arc;

use rand::Rng;
use weft_core::time::Time;

use super::table::{State, digit, proximity, ring_distance, shared_digits};
use super::{Command, Config, Event, LookupFinished, MAX_NODES_PER_MESSAGE, Message, Node};
use crate::kit::{Events, NodeRng, Outbox, RequestIds, Timers};
use crate::lookup::{Forward, Forwards, Lookups};
use crate::{Engine, PeerEvent, QueryId};

/// The node's one named timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// Ping the leaves.
    Maintenance,
}

#[derive(Clone, Copy, Debug)]
struct Probe<A> {
    node: Node<A>,
    req: u64,
    deadline: Time,
}

/// A Pastry (or, with `suffix`, Tapestry-style) node. See the [module docs](super).
#[derive(Debug)]
pub struct Pastry<A> {
    config: Arc<Config>,
    state: State<A>,
    /// Lookups in flight; `true` marks a join.
    lookups: Lookups<bool>,
    /// Messages this node forwarded, awaiting acknowledgement; `true` marks a join.
    forwards: Forwards<A, bool>,
    probes: Vec<Probe<A>>,
    outbox: Outbox<A, Message<A>>,
    events: Events<Event<A>>,
    req_ids: RequestIds,
    timers: Timers<Timer>,
}

impl<A: Copy + Ord + std::fmt::Debug> Pastry<A> {
    /// A node alone in its network, at the position of `id` (see [`Config::position`]).
    /// `seed` with the id seeds its timer offset.
    ///
    /// # Panics
    /// If the config is invalid ([`Config::validate`]).
    pub fn new(config: Arc<Config>, id: u64, addr: A, seed: u64) -> Self {
        if let Err(e) = config.validate() {
            panic!("{e}");
        }
        let me = Node {
            id: config.position(id),
            addr,
        };
        let mut rng = NodeRng::salted(seed, me.id.rotate_left(29)).draw();
        let mut timers = Timers::new();
        if let Some(d) = config.maintenance_interval {
            let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
            timers.set(
                Timer::Maintenance,
                Time::from_micros(rng.random_range(0..us)),
            );
        }
        Pastry {
            state: State::new(me, config.b, config.leaf_set, config.neighbourhood),
            lookups: Lookups::new(config.max_lookups),
            forwards: Forwards::new(config.max_forwards),
            probes: Vec::new(),
            outbox: Outbox::new(),
            events: Events::new(),
            req_ids: RequestIds::new(),
            timers,
            config,
        }
    }

    /// The converged state of node `me`, built directly for the simulator from `nodes`:
    /// every node's `(position, address)` sorted by position without duplicates (positions
    /// from [`Config::position`]; [`Pastry::converged_network`] does the mapping and sorting).
    /// Leaves are the `L/2` neighbours on each side; each routing-table slot holds the
    /// proximity-closest of up to 8 random nodes of the slot's id range (a contiguous run
    /// of the sorted list); the neighbourhood set the `M` proximity-closest of `4M` random
    /// nodes.
    ///
    /// # Panics
    /// If `me` is out of range or the config is invalid.
    pub fn converged(config: Arc<Config>, seed: u64, me: usize, nodes: &[(u64, A)]) -> Self {
        let n = nodes.len();
        let bits = config.b;
        // `new` maps the id to a position; undo that, `nodes` already holds positions
        let id = if config.suffix {
            nodes[me].0.reverse_bits()
        } else {
            nodes[me].0
        };
        let mut p = Pastry::new(config.clone(), id, nodes[me].1, seed);
        let my = p.state.me.id;
        let node = |i: usize| Node {
            id: nodes[i].0,
            addr: nodes[i].1,
        };
        let half = config.leaf_set / 2;
        let mut rng = NodeRng::salted(seed, my.rotate_left(7)).draw();
        for j in 1..=half.min(n.saturating_sub(1)) {
            p.state.learn(node((me + j) % n));
            p.state.learn(node((me + n - j) % n));
        }
        let width = 1usize << bits;
        for row in 0..64 / bits {
            let shift = 64 - row * bits;
            let prefix_mask = if row == 0 { 0 } else { !0u64 << shift };
            // nodes sharing `row` digits with me
            let base = my & prefix_mask;
            let span = if row == 0 {
                u64::MAX
            } else {
                (1u64 << shift) - 1
            };
            let lo = nodes.partition_point(|(k, _)| *k < base);
            let hi = nodes.partition_point(|(k, _)| *k <= base | span);
            if hi - lo <= 1 {
                break;
            }
            for col in 0..width {
                if col == digit(my, row, bits) {
                    continue;
                }
                let cbase = base | ((col as u64) << (shift - bits));
                let cspan = (1u64 << (shift - bits)) - 1;
                let a = lo + nodes[lo..hi].partition_point(|(k, _)| *k < cbase);
                let b = lo + nodes[lo..hi].partition_point(|(k, _)| *k <= cbase | cspan);
                if a < b {
                    let best = (0..8.min(b - a))
                        .map(|_| rng.random_range(a..b))
                        .min_by_key(|i| proximity(nodes[*i].0, my))
                        .unwrap_or(a);
                    p.state.set_slot(row, col, node(best));
                }
            }
        }
        for _ in 0..4 * config.neighbourhood.min(n) {
            let i = rng.random_range(0..n);
            if i != me {
                p.state.learn_near(node(i));
            }
        }
        p.state.rows.shrink_to_fit();
        p
    }

    /// [`Pastry::converged`] for every node of `nodes`, given as `(id, address)` in any
    /// order; the engines come back in the same order.
    pub fn converged_network(config: Arc<Config>, seed: u64, nodes: &[(u64, A)]) -> Vec<Self> {
        let mut sorted: Vec<(u64, A)> = nodes
            .iter()
            .map(|(id, a)| (config.position(*id), *a))
            .collect();
        let mut order: Vec<usize> = (0..nodes.len()).collect();
        order.sort_by_key(|i| sorted[*i].0);
        sorted.sort_by_key(|(p, _)| *p);
        let mut out: Vec<Option<Self>> = (0..nodes.len()).map(|_| None).collect();
        for (rank, orig) in order.into_iter().enumerate() {
            out[orig] = Some(Self::converged(config.clone(), seed, rank, &sorted));
        }
        out.into_iter().flatten().collect()
    }

    /// This node (its position and address).
    pub fn local(&self) -> Node<A> {
        self.state.me
    }

    /// The leaf set, sorted by position.
    pub fn leaves(&self) -> Vec<Node<A>> {
        self.state.leaves()
    }

    /// Routing entries held: routing-table entries plus leaf set plus neighbourhood set
    /// (distinct nodes). Table 3 gives (2^b − 1)·⌈log_{2^b} N⌉ plus the sets.
    pub fn state_size(&self) -> usize {
        self.state.all().len()
    }

    /// Filled routing-table slots only.
    pub fn table_entries(&self) -> usize {
        self.state
            .rows
            .iter()
            .filter(|n| n.id != self.state.me.id)
            .count()
    }

    /// Forwards this node made whose next node did not acknowledge within the hop timeout
    /// (each one cost the lookup that long and, retries left, sent it around the silent node),
    /// counted over the node's life: user lookups and joins alike.
    pub fn hop_timeouts(&self) -> u64 {
        self.forwards.timeouts()
    }

    /// Bytes this node occupies with its tables.
    pub fn memory_bytes(&self) -> usize {
        size_of::<Self>()
            + (self.state.rows.capacity()
                + self.state.cw.capacity()
                + self.state.ccw.capacity()
                + self.state.near.capacity())
                * size_of::<Node<A>>()
    }

    /// True once the node has left.
    pub fn has_left(&self) -> bool {
        self.lookups.has_left()
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

    /// The next hop for `key`, or `None` if this node is the numerically closest it knows.
    fn next_hop(&self, key: u64) -> Option<Node<A>> {
        let me = self.state.me;
        let bits = self.config.b;
        if let Some(n) = self.state.leaf_for(key) {
            return (n.id != me.id).then_some(n);
        }
        let l = shared_digits(key, me.id, bits);
        if l < 64 / bits
            && let Some(n) = self.state.slot(l, digit(key, l, bits))
        {
            return Some(n);
        }
        let mine = ring_distance(me.id, key);
        self.state
            .all()
            .into_iter()
            .filter(|n| shared_digits(n.id, key, bits) >= l && ring_distance(n.id, key) < mine)
            .min_by_key(|n| (ring_distance(n.id, key), n.id))
    }

    /// One routing step: hand a joiner our state, forward (watching for the next node's
    /// acknowledgement), or deliver. `retries`: re-routes of it by this node so far.
    #[expect(
        clippy::too_many_arguments,
        reason = "one routing step's whole context"
    )]
    fn route(
        &mut self,
        now: Time,
        req: u64,
        key: u64,
        origin: Node<A>,
        hops: u32,
        join: bool,
        retries: u32,
    ) {
        if join && origin.id != self.state.me.id {
            // every node on a join path hands the newcomer its state
            let mut nodes = self.state.all();
            nodes.push(self.state.me);
            nodes.truncate(MAX_NODES_PER_MESSAGE);
            let last = self.next_hop(key).is_none_or(|n| n.id == origin.id);
            self.send(
                origin.addr,
                Message::State {
                    req,
                    nodes,
                    last,
                    hops,
                },
            );
            if last {
                return;
            }
        }
        match self.next_hop(key).filter(|n| !(join && n.id == origin.id)) {
            Some(next) if hops < self.config.max_hops => {
                self.forwards.watch(Forward {
                    origin,
                    req,
                    key,
                    hops,
                    next,
                    deadline: now + self.config.hop_timeout,
                    retries,
                    extra: join,
                });
                let msg = Message::Route {
                    req,
                    key,
                    origin,
                    hops: hops + 1,
                    join,
                };
                self.send(next.addr, msg);
            }
            Some(_) => {}
            None if join => {}
            None => {
                let owner = self.state.me;
                if origin.id == owner.id {
                    self.on_delivered(req, owner, hops);
                } else {
                    self.send(origin.addr, Message::Delivered { req, owner, hops });
                }
            }
        }
    }

    fn on_delivered(&mut self, req: u64, owner: Node<A>, hops: u32) {
        if let Some(l) = self.lookups.finish(req, |join| !join) {
            self.report(l.answered(owner, hops));
        }
    }

    fn start(&mut self, now: Time, key: u64, via: Option<A>) -> QueryId {
        let join = via.is_some();
        let timeout = self.config.lookup_timeout;
        let (id, req) = match self
            .lookups
            .open(now, key, timeout, join, &mut self.req_ids)
        {
            Ok(p) => (p.id, p.req),
            Err(refused) => return self.report(refused),
        };
        let me = self.state.me;
        match via {
            Some(addr) => {
                self.send(
                    addr,
                    Message::Route {
                        req,
                        key,
                        origin: me,
                        hops: 1,
                        join: true,
                    },
                );
            }
            None => self.route(now, req, key, me, 0, false, 0),
        }
        id
    }

    /// Forwards whose next node did not acknowledge in time: that node is taken for dead,
    /// removed from every table (its leaf-set side refilled), and the message routed again.
    fn reroute_unacknowledged(&mut self, now: Time) {
        for f in self.forwards.expire(now) {
            self.forget_dead(f.next.id);
            if f.retries < self.config.hop_retries {
                self.route(now, f.req, f.key, f.origin, f.hops, f.extra, f.retries + 1);
            }
        }
    }

    /// Removes a node found dead and asks the farthest leaves for more to refill the set.
    fn forget_dead(&mut self, id: u64) {
        self.state.forget(id);
        let me = self.state.me;
        for far in [
            self.state.cw.last().copied(),
            self.state.ccw.last().copied(),
        ]
        .into_iter()
        .flatten()
        {
            self.send(far.addr, Message::GetLeaves { from: me });
        }
    }

    fn maintain(&mut self, now: Time) {
        self.reroute_unacknowledged(now);
        let mut i = 0;
        while i < self.probes.len() {
            if now >= self.probes[i].deadline {
                let p = self.probes.remove(i);
                // refill the side that lost a leaf from its farthest remaining leaf
                self.forget_dead(p.node.id);
            } else {
                i += 1;
            }
        }
        if self.timers.fire(Timer::Maintenance, now) {
            let at = self.config.maintenance_interval.map(|d| now + d);
            self.timers.set_or_cancel(Timer::Maintenance, at);
            let me = self.state.me;
            for leaf in self.state.leaves() {
                if self.probes.iter().any(|p| p.node.id == leaf.id) {
                    continue;
                }
                let req = self.take_req();
                let deadline = now + self.config.request_timeout;
                self.probes.push(Probe {
                    node: leaf,
                    req,
                    deadline,
                });
                self.send(leaf.addr, Message::Ping { req, from: me });
            }
        }
        for l in self.lookups.expire(now) {
            self.report(l.timed_out());
        }
    }
}

impl<A: Copy + Ord + std::fmt::Debug> Engine for Pastry<A> {
    type Addr = A;
    type Message = Message<A>;
    type Command = Command<A>;
    type Event = Event<A>;

    fn handle_message(&mut self, now: Time, from: A, msg: Message<A>) {
        if self.has_left() {
            return;
        }
        match msg {
            Message::Route {
                req,
                key,
                origin,
                hops,
                join,
            } => {
                self.send(
                    from,
                    Message::Ack {
                        req,
                        origin: origin.id,
                    },
                );
                self.route(now, req, key, origin, hops, join, 0);
                if join {
                    self.state.learn(origin);
                }
            }
            Message::Delivered { req, owner, hops } => self.on_delivered(req, owner, hops),
            Message::State {
                req,
                nodes,
                last,
                hops,
            } => {
                if !self.lookups.is_open(req, |join| *join) {
                    return;
                }
                for n in nodes.into_iter().take(MAX_NODES_PER_MESSAGE) {
                    self.state.learn(n);
                }
                if last && let Some(l) = self.lookups.finish(req, |join| *join) {
                    let me = self.state.me;
                    for n in self.state.all() {
                        self.send(n.addr, Message::Announce { node: me });
                    }
                    self.events.push(Event::Joined { id: l.id, hops });
                }
            }
            // a node is learnt from what it says of itself only (the body's node must be the
            // sender), and answers go to the sender
            Message::Announce { node } if node.addr == from => self.state.learn(node),
            Message::Announce { .. } => {}
            Message::Ping { req, from: node } => {
                if node.addr == from {
                    self.state.learn(node);
                }
                self.send(from, Message::Pong { req });
            }
            Message::Pong { req } => self.probes.retain(|p| p.req != req),
            Message::GetLeaves { from: node } => {
                let mut nodes = self.state.leaves();
                nodes.push(self.state.me);
                self.send(from, Message::Leaves { nodes });
                if node.addr == from {
                    self.state.learn(node);
                }
            }
            Message::Leaves { nodes } => {
                for n in nodes.into_iter().take(MAX_NODES_PER_MESSAGE) {
                    self.state.learn(n);
                }
            }
            Message::Ack { req, origin } => self.forwards.acknowledged(req, origin, from),
            Message::Leaving { node, .. } if node.addr != from => {}
            Message::Leaving { node, leaves } => {
                self.state.forget(node.id);
                for n in leaves.into_iter().take(MAX_NODES_PER_MESSAGE) {
                    if n.id != node.id {
                        self.state.learn(n);
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
        // liveness comes from the node's own leaf probes and acknowledgements
    }

    fn handle_command(&mut self, now: Time, cmd: Command<A>) -> Option<QueryId> {
        if let Some(refused) = self.lookups.after_leaving(&cmd) {
            return refused.map(|f| {
                let key = self.config.position(f.key);
                self.report(LookupFinished { key, ..f })
            });
        }
        match cmd {
            Command::Lookup(key) => {
                let key = self.config.position(key);
                Some(self.start(now, key, None))
            }
            Command::Join(via) => {
                let key = self.state.me.id;
                Some(self.start(now, key, Some(via)))
            }
            Command::Leave => {
                let me = self.state.me;
                let leaves = self.state.leaves();
                for n in &leaves {
                    self.send(
                        n.addr,
                        Message::Leaving {
                            node: me,
                            leaves: leaves.clone(),
                        },
                    );
                }
                self.lookups.leave();
                self.forwards.clear();
                self.probes.clear();
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
        self.probes
            .iter()
            .map(|p| p.deadline)
            .chain(self.lookups.next_deadline())
            .chain(self.forwards.next_deadline())
            .chain(self.timers.next())
            .min()
    }
}
