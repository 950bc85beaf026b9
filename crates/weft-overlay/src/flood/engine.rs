//! The flood engine's state machine.

use std::collections::BTreeMap;

use super::guid_cache::RecentMap;
use super::qrp::{QrpTable, QrpUpdate};
use super::{
    Capacity, Command, Config, Criteria, Event, Guid, HitItem, Invalid, MAX_HIT_ITEMS, MatchId,
    Message, Role, Stats, TTL_LIMIT,
};
use crate::kit::{Events, NodeRng, Outbox, Timers};
use crate::{Engine, PeerEvent, QueryId, Time};

/// The node's one named timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// Decide again whether to be an ultrapeer.
    Election,
}

/// Where a remembered GUID came from.
#[derive(Clone, Copy, Debug)]
enum Origin<A> {
    /// Our own query.
    Local,
    /// Forwarded from this neighbour: hits go back to it.
    From(A),
}

#[derive(Clone, Debug)]
struct Neighbor {
    role: Role,
    /// A leaf's route table (held by ultrapeers only).
    table: Option<Box<QrpTable>>,
}

#[derive(Clone, Copy, Debug)]
struct OwnQuery {
    id: QueryId,
    deadline: Time,
    hits: u32,
}

#[derive(Clone, Copy, Debug)]
struct PendingMatch<A> {
    guid: Guid,
    reply_to: A,
    hops: u8,
    deadline: Time,
}

/// A Gnutella 0.6 node: see the [module docs](super).
#[derive(Debug)]
pub struct Flood<A> {
    me: A,
    config: Config,
    role: Role,
    rng: NodeRng,
    /// GUIDs and query ids drawn so far.
    counter: u64,
    neighbors: BTreeMap<A, Neighbor>,
    seen: RecentMap<Guid, Origin<A>>,
    own: BTreeMap<Guid, OwnQuery>,
    pending: BTreeMap<MatchId, PendingMatch<A>>,
    /// A leaf's route table as last sent to its ultrapeers.
    table: Option<Box<QrpTable>>,
    capacity: Option<Capacity>,
    timers: Timers<Timer>,
    outbox: Outbox<A, Message<A>>,
    events: Events<Event<A>>,
    stats: Stats,
}

impl<A: Copy + Ord + std::fmt::Debug> Flood<A> {
    /// A node named `me` with `config`. `seed` should be derived from the run's seed and the
    /// node (GUIDs are drawn from it).
    pub fn new(me: A, config: Config, seed: u64) -> Self {
        let mut config = config;
        config.max_ttl = config.max_ttl.clamp(1, TTL_LIMIT);
        config.default_ttl = config.default_ttl.clamp(1, config.max_ttl);
        Flood {
            me,
            role: config.role,
            seen: RecentMap::new(config.guid_cache),
            config,
            rng: NodeRng::new(seed),
            counter: 0,
            neighbors: BTreeMap::new(),
            own: BTreeMap::new(),
            pending: BTreeMap::new(),
            table: None,
            capacity: None,
            timers: Timers::new(),
            outbox: Outbox::new(),
            events: Events::new(),
            stats: Stats::default(),
        }
    }

    /// This node's name.
    pub fn local(&self) -> A {
        self.me
    }

    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Neighbours and their announced roles, in address order.
    pub fn neighbors(&self) -> impl Iterator<Item = (A, Role)> + '_ {
        self.neighbors.iter().map(|(a, n)| (*a, n.role))
    }

    /// Entries held: neighbours, remembered GUIDs, own queries, pending matches and route
    /// tables held.
    pub fn state_size(&self) -> usize {
        let tables = self
            .neighbors
            .values()
            .filter(|n| n.table.is_some())
            .count();
        self.neighbors.len() + self.seen.len() + self.own.len() + self.pending.len() + tables
    }

    /// An estimate of the heap bytes held (entries times their size, tables by their bits).
    pub fn heap_bytes(&self) -> usize {
        let a = std::mem::size_of::<A>();
        let tables: usize = self
            .neighbors
            .values()
            .filter_map(|n| n.table.as_ref())
            .map(|t| t.heap_bytes())
            .sum();
        let own_table = self.table.as_ref().map_or(0, |t| t.heap_bytes());
        self.neighbors.len() * (a + std::mem::size_of::<Neighbor>())
            + self.seen.len() * (16 + std::mem::size_of::<Origin<A>>())
            + self.own.len() * (16 + std::mem::size_of::<OwnQuery>())
            + self.pending.len() * (8 + std::mem::size_of::<PendingMatch<A>>())
            + tables
            + own_table
    }

    /// Adds `peer` as a neighbour with a known `role`, without a handshake (for simulators that
    /// wire a topology directly). Returns false if the neighbour table is full.
    pub fn add_neighbor(&mut self, peer: A, role: Role) -> bool {
        if peer == self.me
            || (self.neighbors.len() >= self.config.max_neighbors
                && !self.neighbors.contains_key(&peer))
        {
            return false;
        }
        self.neighbors.insert(peer, Neighbor { role, table: None });
        true
    }

    /// A connection to `peer` is up: remember it (as a peer until its hello says otherwise)
    /// and greet it. Ignored when the neighbour table is full.
    fn on_connected(&mut self, peer: A) {
        if self.add_neighbor(peer, Role::Peer) {
            self.outbox.send(peer, self.hello());
        }
    }

    fn hello(&self) -> Message<A> {
        let leaf_slots = if self.role == Role::Ultrapeer {
            let leaves = self
                .neighbors
                .values()
                .filter(|n| n.role == Role::Leaf)
                .count();
            u16::try_from(self.config.max_leaves.saturating_sub(leaves)).unwrap_or(u16::MAX)
        } else {
            0
        };
        Message::Hello {
            role: self.role,
            leaf_slots,
        }
    }

    fn next_guid(&mut self) -> Guid {
        self.counter += 1;
        Guid(self.rng.unique(self.counter, b"flood-gd"))
    }

    fn next_query_id(&mut self) -> QueryId {
        self.counter += 1;
        QueryId(self.counter)
    }

    /// Whether this node is a leaf with at least one ultrapeer neighbour. A leaf without one
    /// acts as a peer of the flat network (see the module documentation).
    fn shielded(&self) -> bool {
        self.role == Role::Leaf && self.neighbors.values().any(|n| n.role == Role::Ultrapeer)
    }

    /// Sends a query to the neighbours it should reach from here: everyone but `except` for a
    /// peer or ultrapeer (leaves only when their table matches), the ultrapeers for a leaf
    /// that has some, everyone but `except` for a leaf that has none.
    fn forward(&mut self, except: Option<A>, guid: Guid, ttl: u8, hops: u8, criteria: &Criteria) {
        let keys: Vec<String> = criteria.route_keys().collect();
        let shielded = self.shielded();
        let mut targets = Vec::new();
        for (addr, n) in &self.neighbors {
            if Some(*addr) == except {
                continue;
            }
            let send = match (self.role, n.role) {
                (Role::Leaf, Role::Ultrapeer) => true,
                (Role::Leaf, _) => !shielded,
                (_, Role::Leaf) => {
                    let ok = n
                        .table
                        .as_ref()
                        .is_some_and(|t| t.matches_all(keys.iter().map(String::as_str)));
                    if !ok {
                        self.stats.qrp_blocked += 1;
                    }
                    ok
                }
                _ => true,
            };
            if send {
                targets.push(*addr);
            }
        }
        for to in targets {
            self.stats.queries_sent += 1;
            self.outbox.send(
                to,
                Message::Query {
                    guid,
                    ttl,
                    hops,
                    criteria: criteria.clone(),
                },
            );
        }
    }

    fn on_query(&mut self, now: Time, from: A, guid: Guid, ttl: u8, hops: u8, criteria: Criteria) {
        self.stats.queries_received += 1;
        if self.seen.contains(&guid) {
            self.stats.duplicates_dropped += 1;
            return;
        }
        let max = self.config.max_ttl;
        let mut ttl = ttl;
        if ttl > max || u16::from(ttl) + u16::from(hops) > u16::from(max) {
            self.stats.ttl_clamped += 1;
            ttl = ttl.min(max.saturating_sub(hops));
        }
        self.seen.insert(guid, Origin::From(from));
        if ttl == 0 {
            return;
        }
        if self.pending.len() < self.config.max_pending_matches {
            self.counter += 1;
            let request = MatchId(self.counter);
            let deadline = now + self.config.match_timeout;
            self.pending.insert(
                request,
                PendingMatch {
                    guid,
                    reply_to: from,
                    hops,
                    deadline,
                },
            );
            self.events.push(Event::MatchRequest {
                request,
                criteria: criteria.clone(),
            });
        }
        if ttl > 1 && !self.shielded() {
            self.forward(Some(from), guid, ttl - 1, hops.saturating_add(1), &criteria);
        }
    }

    fn on_hit(
        &mut self,
        guid: Guid,
        ttl: u8,
        hops: u8,
        responder: A,
        items: Vec<HitItem>,
        more: bool,
    ) {
        match self.seen.get(&guid).copied() {
            Some(Origin::Local) => match self.own.get_mut(&guid) {
                Some(q) => {
                    q.hits += 1;
                    let id = q.id;
                    self.events.push(Event::Hit {
                        id,
                        responder,
                        hops: hops.saturating_add(1),
                        items,
                        more,
                    });
                }
                None => self.stats.hits_dropped += 1,
            },
            Some(Origin::From(back)) if ttl > 1 && self.neighbors.contains_key(&back) => {
                self.stats.hits_routed += 1;
                let msg = Message::QueryHit {
                    guid,
                    ttl: ttl - 1,
                    hops: hops.saturating_add(1),
                    responder,
                    items,
                    more,
                };
                self.outbox.send(back, msg);
            }
            _ => self.stats.hits_dropped += 1,
        }
    }

    fn on_route_table(&mut self, from: A, update: QrpUpdate) {
        if self.role != Role::Ultrapeer {
            return;
        }
        let Some(n) = self.neighbors.get_mut(&from) else {
            return;
        };
        if n.role != Role::Leaf {
            return;
        }
        let result = match (&update, n.table.as_mut()) {
            (QrpUpdate::Reset { log2_size }, _) => {
                n.table = Some(Box::new(QrpTable::new(*log2_size)));
                Ok(())
            }
            (_, Some(t)) => t.apply(&update),
            (_, None) => Err(super::qrp::QrpError::NoTable),
        };
        if result.is_err() {
            self.stats.refused += 1;
            n.table = None;
        }
    }

    fn start_query(&mut self, now: Time, id: QueryId, mut criteria: Criteria, ttl: Option<u8>) {
        for k in &mut criteria.keywords {
            *k = k.to_lowercase();
        }
        criteria.keywords.sort();
        criteria.keywords.dedup();
        if let Err(reason) = criteria.check() {
            self.events.push(Event::Refused { id, reason });
            return;
        }
        if self.own.len() >= self.config.max_own_queries {
            self.events.push(Event::Refused {
                id,
                reason: Invalid::Busy,
            });
            return;
        }
        let ttl = ttl
            .unwrap_or(self.config.default_ttl)
            .clamp(1, self.config.max_ttl);
        let guid = self.next_guid();
        self.seen.insert(guid, Origin::Local);
        self.own.insert(
            guid,
            OwnQuery {
                id,
                deadline: now + self.config.query_timeout,
                hits: 0,
            },
        );
        self.forward(None, guid, ttl, 0, &criteria);
    }

    fn respond(&mut self, now: Time, request: MatchId, items: Vec<HitItem>, more: bool) {
        let Some(p) = self.pending.remove(&request) else {
            return;
        };
        if p.deadline < now || items.is_empty() || !self.neighbors.contains_key(&p.reply_to) {
            return;
        }
        // The reverse path is hops + 1 links long; one hop of slack as Gnutella gives.
        let ttl = p
            .hops
            .saturating_add(2)
            .min(self.config.max_ttl.saturating_add(1));
        for chunk in items.chunks(MAX_HIT_ITEMS) {
            self.stats.hits_sent += 1;
            let msg = Message::QueryHit {
                guid: p.guid,
                ttl,
                hops: 0,
                responder: self.me,
                items: chunk.to_vec(),
                more,
            };
            self.outbox.send(p.reply_to, msg);
        }
    }

    fn set_keywords(&mut self, words: Vec<String>) {
        let table =
            QrpTable::from_keywords(self.config.qrp_log2_size, words.iter().map(String::as_str));
        let old = self.table.take();
        if self.role == Role::Leaf {
            let patches = match &old {
                Some(old) => old.patches_to(&table),
                None => reset_and_fill(&table),
            };
            let ups: Vec<A> = self
                .neighbors
                .iter()
                .filter(|(_, n)| n.role == Role::Ultrapeer)
                .map(|(a, _)| *a)
                .collect();
            for up in ups {
                for p in &patches {
                    self.outbox.send(up, Message::RouteTable(p.clone()));
                }
            }
        }
        self.table = Some(Box::new(table));
    }

    fn send_table_to(&mut self, up: A) {
        if let Some(t) = &self.table {
            for p in reset_and_fill(t) {
                self.outbox.send(up, Message::RouteTable(p));
            }
        }
    }

    fn run_election(&mut self, now: Time) {
        let Some(cap) = self.capacity else { return };
        self.timers
            .set(Timer::Election, now + self.config.election_interval);
        let rule = self.config.election;
        let capable = rule.capable(&cap);
        let count = |r: Role| self.neighbors.values().filter(|n| n.role == r).count();
        let new_role = match self.role {
            Role::Leaf if capable && count(Role::Ultrapeer) < rule.want_ultrapeers => {
                Role::Ultrapeer
            }
            Role::Ultrapeer if !capable && count(Role::Leaf) <= rule.demote_max_leaves => {
                Role::Leaf
            }
            r => r,
        };
        if new_role != self.role {
            self.role = new_role;
            let hello = self.hello();
            let all: Vec<A> = self.neighbors.keys().copied().collect();
            for a in all {
                self.outbox.send(a, hello.clone());
                if new_role == Role::Leaf
                    && self
                        .neighbors
                        .get(&a)
                        .is_some_and(|n| n.role == Role::Ultrapeer)
                {
                    self.send_table_to(a);
                }
            }
            self.events.push(Event::RoleChanged { role: new_role });
        }
    }
}

/// A reset followed by the patches that fill an empty table up to `t`.
fn reset_and_fill(t: &QrpTable) -> Vec<QrpUpdate> {
    let mut out = vec![QrpUpdate::Reset {
        log2_size: t.log2_size(),
    }];
    out.extend(QrpTable::new(t.log2_size()).patches_to(t));
    out
}

impl<A: Copy + Ord + std::fmt::Debug> Engine for Flood<A> {
    type Addr = A;
    type Message = Message<A>;
    type Command = Command;
    type Event = Event<A>;

    fn handle_message(&mut self, now: Time, from: A, msg: Message<A>) {
        if !self.neighbors.contains_key(&from) || msg.check().is_err() {
            self.stats.refused += 1;
            return;
        }
        match msg {
            Message::Hello { role, .. } => {
                let was = self.neighbors.get(&from).map(|n| n.role);
                if let Some(n) = self.neighbors.get_mut(&from) {
                    n.role = role;
                    if role != Role::Leaf {
                        n.table = None;
                    }
                }
                if self.role == Role::Leaf
                    && role == Role::Ultrapeer
                    && was != Some(Role::Ultrapeer)
                {
                    self.send_table_to(from);
                }
            }
            Message::Query {
                guid,
                ttl,
                hops,
                criteria,
            } => self.on_query(now, from, guid, ttl, hops, criteria),
            Message::QueryHit {
                guid,
                ttl,
                hops,
                responder,
                items,
                more,
            } => self.on_hit(guid, ttl, hops, responder, items, more),
            Message::RouteTable(update) => self.on_route_table(from, update),
        }
    }

    fn handle_timeout(&mut self, now: Time) {
        let done: Vec<Guid> = self
            .own
            .iter()
            .filter(|(_, q)| q.deadline <= now)
            .map(|(g, _)| *g)
            .collect();
        for g in done {
            if let Some(q) = self.own.remove(&g) {
                self.events.push(Event::QueryDone {
                    id: q.id,
                    hits: q.hits,
                });
            }
        }
        self.pending.retain(|_, p| p.deadline > now);
        if self.timers.is_due(Timer::Election, now) {
            self.run_election(now);
        }
    }

    /// Connected: a new neighbour, greeted; gone or unreachable: forgotten with its route
    /// table.
    fn handle_peer(&mut self, _now: Time, peer: A, event: PeerEvent) {
        match event {
            PeerEvent::Connected => self.on_connected(peer),
            PeerEvent::Disconnected | PeerEvent::Unreachable => {
                self.neighbors.remove(&peer);
            }
        }
    }

    /// Only [`Command::Query`] is a query. Every command still advances the counter that
    /// GUIDs are drawn from, so the GUIDs of a run do not depend on which commands were
    /// queries.
    fn handle_command(&mut self, now: Time, cmd: Command) -> Option<QueryId> {
        let id = self.next_query_id();
        match cmd {
            Command::Query { criteria, ttl } => {
                self.start_query(now, id, criteria, ttl);
                return Some(id);
            }
            Command::Respond {
                request,
                items,
                more,
            } => self.respond(now, request, items, more),
            Command::SetKeywords(words) => self.set_keywords(words),
            Command::SetCapacity(cap) => {
                self.capacity = Some(cap);
                self.run_election(now);
            }
        }
        None
    }

    fn poll_transmit(&mut self) -> Option<(A, Message<A>)> {
        self.outbox.pop()
    }

    fn poll_event(&mut self) -> Option<Event<A>> {
        self.events.pop()
    }

    fn poll_timeout(&self) -> Option<Time> {
        let own = self.own.values().map(|q| q.deadline).min();
        let pending = self.pending.values().map(|p| p.deadline).min();
        [own, pending, self.timers.next()]
            .into_iter()
            .flatten()
            .min()
    }
}
