//! The CAN node: zones, neighbours, greedy routing, join and leave.

use std::sync::Arc;

use rand::Rng;
use weft_core::time::Time;

use super::zone::{MAX_DIMS, Point, Zone, point_of};
use super::{Command, Config, Event, LookupError, LookupFinished, MAX_ENTRIES, Message};
use crate::kit::{Events, NodeRng, Outbox, RequestIds};
use crate::lookup::{Lookups, Pending};
use crate::{Engine, PeerEvent, QueryId};

/// What a lookup in flight is for.
#[derive(Clone, Copy, Debug)]
enum Purpose<A> {
    /// A user's lookup.
    Lookup,
    /// A join: the bootstrap node, the join point and the tries left.
    Join(A, Point, u32),
}

impl<A> Purpose<A> {
    fn is_join(&self) -> bool {
        matches!(self, Purpose::Join(..))
    }
}

/// A CAN node. See the [module docs](super).
#[derive(Debug)]
pub struct Can<A> {
    config: Arc<Config>,
    me: A,
    zones: Vec<Zone>,
    neighbours: Vec<(A, Zone)>,
    lookups: Lookups<Purpose<A>>,
    outbox: Outbox<A, Message<A>>,
    events: Events<Event<A>>,
    req_ids: RequestIds,
    rng: NodeRng,
    invalid_messages: u64,
}

impl<A: Copy + Ord + std::fmt::Debug> Can<A> {
    /// A node. With `owns_space` it owns the whole space (the first node of a network);
    /// otherwise it owns nothing until [`Command::Join`] completes. `seed` seeds the
    /// choice of its join point.
    ///
    /// # Panics
    /// If `config.dims` is not in `1..=MAX_DIMS`.
    pub fn new(config: Arc<Config>, me: A, owns_space: bool, seed: u64) -> Self {
        assert!(
            (1..=MAX_DIMS).contains(&config.dims),
            "CAN dims must be 1..={MAX_DIMS}"
        );
        Can {
            lookups: Lookups::new(config.max_lookups),
            config,
            me,
            zones: if owns_space {
                vec![Zone::WHOLE]
            } else {
                Vec::new()
            },
            neighbours: Vec::new(),
            outbox: Outbox::new(),
            events: Events::new(),
            req_ids: RequestIds::new(),
            rng: NodeRng::new(seed),
            invalid_messages: 0,
        }
    }

    /// A whole converged network, built directly for the simulator: the nodes of `addrs`
    /// join in order, each at a random point (seeded), splitting the owner's zone exactly
    /// as the join protocol does; neighbour lists are then computed from the final
    /// partition. Engines come back in the order of `addrs`. Runs in O(N log N).
    pub fn converged_network(config: Arc<Config>, seed: u64, addrs: &[A]) -> Vec<Self> {
        let mut rng = NodeRng::new(seed).draw();
        Self::partitioned(config, seed, addrs, |_| {
            std::array::from_fn(|_| rng.random())
        })
    }

    /// A converged network of equal zones, for checking the formulas that assume them: each
    /// newcomer halves the oldest zone of the largest size (the lower half is the
    /// newcomer's), so with `N = 2^(d·k)` nodes the space is a grid of `2^k` zones a side
    /// and every node has exactly `2d` neighbours once `2^k > 2`. Routing and tables are
    /// the engine's own; only the choice of split points differs from
    /// [`Can::converged_network`].
    pub fn grid_network(config: Arc<Config>, seed: u64, addrs: &[A]) -> Vec<Self> {
        let mut queue: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
        queue.push_back(0);
        let mut next = 1;
        Self::partitioned(config, seed, addrs, |zones| {
            let owner = queue.pop_front().unwrap_or(0);
            queue.push_back(owner);
            queue.push_back(next);
            next += 1;
            zones.get(owner).map_or([0; MAX_DIMS], |z| z.lo)
        })
    }

    /// Nodes `1..` of `addrs` join at the point `point(zones so far)` names, splitting
    /// its owner's zone as the join protocol does (the newcomer takes the half holding the
    /// point); then neighbour lists come from the final partition.
    fn partitioned(
        config: Arc<Config>,
        seed: u64,
        addrs: &[A],
        mut point: impl FnMut(&[Zone]) -> Point,
    ) -> Vec<Self> {
        let d = config.dims;
        let mut tree = super::tree::Tree::new();
        let mut zones: Vec<Zone> = Vec::with_capacity(addrs.len());
        if !addrs.is_empty() {
            zones.push(Zone::WHOLE);
        }
        for i in 1..addrs.len() {
            let p = point(&zones);
            let owner = tree.owner(&p, d);
            let Some((a, b)) = zones[owner].split(d) else {
                continue;
            };
            let (keep, give) = if b.contains(&p, d) { (a, b) } else { (b, a) };
            zones[owner] = keep;
            zones.push(give);
            tree.split(&p, d, owner, i, &zones);
        }
        let mut nodes: Vec<Self> = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let mut c = Can::new(config.clone(), *a, false, seed ^ i as u64);
                if let Some(z) = zones.get(i) {
                    c.zones = vec![*z];
                }
                c
            })
            .collect();
        for (i, node) in nodes.iter_mut().enumerate() {
            if let Some(z) = zones.get(i) {
                let mut ns: Vec<(A, Zone)> = tree
                    .neighbours(z, d, &zones)
                    .into_iter()
                    .filter(|j| *j != i)
                    .map(|j| (addrs[j], zones[j]))
                    .collect();
                ns.shrink_to_fit();
                node.neighbours = ns;
            }
        }
        nodes
    }

    /// This node's address.
    pub fn local(&self) -> A {
        self.me
    }

    /// Zones owned.
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// Neighbours and their zones.
    pub fn neighbours(&self) -> &[(A, Zone)] {
        &self.neighbours
    }

    /// Routing entries held: neighbour entries (the "state" of Table 3, about 2d).
    pub fn state_size(&self) -> usize {
        self.neighbours.len()
    }

    /// Bytes this node occupies with its tables.
    pub fn memory_bytes(&self) -> usize {
        size_of::<Self>()
            + self.zones.capacity() * size_of::<Zone>()
            + self.neighbours.capacity() * size_of::<(A, Zone)>()
    }

    /// True once the node has left.
    pub fn has_left(&self) -> bool {
        self.lookups.has_left()
    }

    /// Messages dropped because they broke the protocol: a zone that is not
    /// [valid](Zone::is_valid) for our `d`, a list longer than [`MAX_ENTRIES`], or a
    /// handoff of zones overlapping each other or ours.
    pub fn invalid_messages(&self) -> u64 {
        self.invalid_messages
    }

    /// True if every zone is valid for our `d` and the list is at most [`MAX_ENTRIES`] long.
    fn zones_valid<'a>(&self, mut zones: impl ExactSizeIterator<Item = &'a Zone>) -> bool {
        let d = self.d();
        zones.len() <= MAX_ENTRIES && zones.all(|z| z.is_valid(d))
    }

    /// True if a peer's message is well formed: all its zones valid, its lists bounded, and a
    /// handoff's zones disjoint from each other and from ours (so zones keep partitioning
    /// the space, and our zone list stays within [`MAX_ENTRIES`]).
    fn message_valid(&self, msg: &Message<A>) -> bool {
        let d = self.d();
        match msg {
            Message::Route { .. } | Message::Delivered { .. } | Message::Leaving => true,
            Message::Accept {
                zone, neighbours, ..
            } => zone.is_valid(d) && self.zones_valid(neighbours.iter().map(|(_, z)| z)),
            Message::Update { zones } => self.zones_valid(zones.iter()),
            Message::Handoff { zones, neighbours } => {
                let disjoint = zones.iter().enumerate().all(|(i, z)| {
                    zones[..i]
                        .iter()
                        .chain(&self.zones)
                        .all(|o| !(0..d).all(|k| z.overlaps(o, k)))
                });
                self.zones_valid(zones.iter())
                    && self.zones_valid(neighbours.iter().map(|(_, z)| z))
                    && self.zones.len() + zones.len() <= MAX_ENTRIES
                    && disjoint
            }
        }
    }

    fn d(&self) -> usize {
        self.config.dims
    }

    /// Reports a finished lookup; its id.
    fn report(&mut self, finished: LookupFinished<A>) -> QueryId {
        self.events.push(Event::LookupFinished(finished));
        finished.id
    }

    fn send(&mut self, to: A, msg: Message<A>) {
        self.outbox.send(to, msg);
    }

    fn owns(&self, p: &Point) -> bool {
        self.zones.iter().any(|z| z.contains(p, self.d()))
    }

    fn abuts_me(&self, z: &Zone) -> bool {
        self.zones.iter().any(|m| m.abuts(z, self.d()))
    }

    /// Drops neighbour entries that no longer touch our zones; keeps the list sorted and
    /// at most [`MAX_ENTRIES`] long.
    fn prune(&mut self) {
        let d = self.d();
        let zones = self.zones.clone();
        self.neighbours
            .retain(|(_, z)| zones.iter().any(|m| m.abuts(z, d)));
        self.neighbours.sort_unstable();
        self.neighbours.dedup();
        self.neighbours.truncate(MAX_ENTRIES);
    }

    fn add_neighbours(&mut self, list: impl IntoIterator<Item = (A, Zone)>) {
        for (a, z) in list {
            if a != self.me && self.abuts_me(&z) {
                self.neighbours.push((a, z));
            }
        }
        self.prune();
    }

    fn announce(&mut self) {
        let mut to: Vec<A> = self.neighbours.iter().map(|(a, _)| *a).collect();
        to.dedup();
        for a in to {
            self.send(
                a,
                Message::Update {
                    zones: self.zones.clone(),
                },
            );
        }
    }

    fn merge_zones(&mut self) {
        let d = self.d();
        'again: loop {
            for i in 0..self.zones.len() {
                for j in i + 1..self.zones.len() {
                    if let Some(m) = self.zones[i].merge(&self.zones[j], d) {
                        self.zones.swap_remove(j);
                        self.zones[i] = m;
                        continue 'again;
                    }
                }
            }
            return;
        }
    }

    fn route(&mut self, req: u64, point: Point, origin: A, hops: u32, join: bool) {
        let d = self.d();
        if self.owns(&point) {
            if join {
                self.accept(req, point, origin, hops);
            } else if origin == self.me {
                self.delivered(req, self.me, hops);
            } else {
                self.send(
                    origin,
                    Message::Delivered {
                        req,
                        owner: self.me,
                        hops,
                    },
                );
            }
            return;
        }
        let next = self
            .neighbours
            .iter()
            .min_by_key(|(a, z)| (z.distance2(&point, d), *a))
            .map(|(a, _)| *a);
        if let Some(next) = next
            && hops < self.config.max_hops
        {
            self.send(
                next,
                Message::Route {
                    req,
                    point,
                    origin,
                    hops: hops + 1,
                    join,
                },
            );
        }
    }

    fn accept(&mut self, req: u64, point: Point, joiner: A, hops: u32) {
        let d = self.d();
        let Some(i) = self.zones.iter().position(|z| z.contains(&point, d)) else {
            return;
        };
        let Some((a, b)) = self.zones[i].split(d) else {
            return;
        };
        let (keep, give) = if b.contains(&point, d) {
            (a, b)
        } else {
            (b, a)
        };
        self.zones[i] = keep;
        let mut neighbours = self.neighbours.clone();
        neighbours.extend(self.zones.iter().map(|z| (self.me, *z)));
        neighbours.truncate(MAX_ENTRIES);
        self.send(
            joiner,
            Message::Accept {
                req,
                zone: give,
                neighbours,
                hops,
            },
        );
        self.announce();
        self.add_neighbours([(joiner, give)]);
    }

    fn delivered(&mut self, req: u64, owner: A, hops: u32) {
        if let Some(l) = self.lookups.finish(req, |p| !p.is_join()) {
            self.report(l.answered(owner, hops));
        }
    }

    fn start(&mut self, now: Time, key: u64, point: Point, via: Option<A>) -> QueryId {
        let (purpose, timeout) = match via {
            Some(a) => (
                Purpose::Join(a, point, self.config.join_retries),
                self.config.join_timeout,
            ),
            None => (Purpose::Lookup, self.config.lookup_timeout),
        };
        if self.zones.is_empty() && (via.is_none() || self.lookups.len() >= self.config.max_lookups)
        {
            let refused = self.lookups.refuse(key, LookupError::NotJoined);
            return self.report(refused);
        }
        let (id, req) = match self
            .lookups
            .open(now, key, timeout, purpose, &mut self.req_ids)
        {
            Ok(p) => (p.id, p.req),
            Err(refused) => return self.report(refused),
        };
        match via {
            Some(addr) => {
                let msg = Message::Route {
                    req,
                    point,
                    origin: self.me,
                    hops: 1,
                    join: true,
                };
                self.send(addr, msg);
            }
            None => self.route(req, point, self.me, 0, false),
        }
        id
    }
}

impl<A: Copy + Ord + std::fmt::Debug> Engine for Can<A> {
    type Addr = A;
    type Message = Message<A>;
    type Command = Command<A>;
    type Event = Event<A>;

    fn handle_message(&mut self, _now: Time, from: A, msg: Message<A>) {
        if self.has_left() {
            return;
        }
        if !self.message_valid(&msg) {
            self.invalid_messages += 1;
            return;
        }
        match msg {
            Message::Route {
                req,
                point,
                origin,
                hops,
                join,
            } => {
                self.route(req, point, origin, hops, join);
            }
            Message::Delivered { req, owner, hops } => self.delivered(req, owner, hops),
            Message::Accept {
                req,
                zone,
                neighbours,
                hops,
            } => {
                let Some(l) = self.lookups.finish(req, Purpose::is_join) else {
                    return;
                };
                self.zones = vec![zone];
                self.neighbours.clear();
                self.add_neighbours(neighbours.into_iter().take(MAX_ENTRIES));
                self.announce();
                self.events.push(Event::Joined { id: l.id, hops });
            }
            Message::Update { zones } => {
                self.neighbours.retain(|(a, _)| *a != from);
                self.add_neighbours(zones.into_iter().take(MAX_ENTRIES).map(|z| (from, z)));
            }
            Message::Handoff { zones, neighbours } => {
                self.neighbours.retain(|(a, _)| *a != from);
                self.zones.extend(zones.into_iter().take(MAX_ENTRIES));
                self.merge_zones();
                let mut all = std::mem::take(&mut self.neighbours);
                all.extend(
                    neighbours
                        .into_iter()
                        .take(MAX_ENTRIES)
                        .filter(|(a, _)| *a != from),
                );
                self.add_neighbours(all);
                self.announce();
            }
            Message::Leaving => self.neighbours.retain(|(a, _)| *a != from),
        }
    }

    fn handle_timeout(&mut self, now: Time) {
        for l in self.lookups.expire(now) {
            match l.purpose {
                Purpose::Join(via, point, tries) if tries > 0 && self.zones.is_empty() => {
                    // the join was lost (or its bootstrap had no zone yet): ask again
                    let again = Pending {
                        purpose: Purpose::Join(via, point, tries - 1),
                        ..l
                    };
                    self.lookups.reopen(again, now + self.config.join_timeout);
                    let msg = Message::Route {
                        req: l.req,
                        point,
                        origin: self.me,
                        hops: 1,
                        join: true,
                    };
                    self.send(via, msg);
                }
                Purpose::Join(..) => {}
                Purpose::Lookup => {
                    self.report(l.timed_out());
                }
            }
        }
    }

    fn handle_peer(&mut self, _now: Time, _peer: A, _event: PeerEvent) {
        // a neighbour that is gone is dropped when it leaves (`Leaving`, `Handoff`); lookups
        // routed through a dead one time out
    }

    fn handle_command(&mut self, now: Time, cmd: Command<A>) -> Option<QueryId> {
        if let Some(refused) = self.lookups.after_leaving(&cmd) {
            return refused.map(|f| self.report(f));
        }
        match cmd {
            Command::Lookup(key) => Some(self.start(now, key, point_of(key), None)),
            Command::Join(via) => {
                let mut rng = self.rng.draw();
                let p: Point = std::array::from_fn(|_| rng.random());
                Some(self.start(now, 0, p, Some(via)))
            }
            Command::Leave => {
                let d = self.d();
                // a neighbour whose single zone merges with ours, else the smallest
                let mut owners: Vec<A> = self.neighbours.iter().map(|(a, _)| *a).collect();
                owners.dedup();
                let volume = |a: &A| -> u32 {
                    self.neighbours
                        .iter()
                        .filter(|(b, _)| b == a)
                        .map(|(_, z)| z.volume_exponent(d))
                        .max()
                        .unwrap_or(0)
                };
                let buddy = self.neighbours.iter().find(|(a, z)| {
                    self.neighbours.iter().filter(|(b, _)| b == a).count() == 1
                        && self.zones.iter().any(|m| m.merge(z, d).is_some())
                });
                let taker = buddy.map(|(a, _)| *a).or_else(|| {
                    owners
                        .iter()
                        .copied()
                        .max_by_key(|a| (volume(a), std::cmp::Reverse(*a)))
                });
                if let Some(taker) = taker {
                    for a in owners.iter().filter(|a| **a != taker) {
                        self.send(*a, Message::Leaving);
                    }
                    let msg = Message::Handoff {
                        zones: self.zones.clone(),
                        neighbours: self.neighbours.clone(),
                    };
                    self.send(taker, msg);
                    self.zones.clear();
                    self.neighbours.clear();
                }
                self.lookups.leave();
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
        self.lookups.next_deadline()
    }
}
