//! The Freenet node's state machine.

use std::collections::BTreeMap;

use weft_core::id::Key256;

use super::store::{DataStore, RouteTable};
use super::{Command, Config, Event, Failure, Invalid, MAX_HTL, Message, RequestId, Stats};
use crate::flood::guid_cache::RecentMap;
use crate::kit::{Events, NodeRng, Outbox};
use crate::{Engine, PeerEvent, QueryId, Time};

/// Who is waiting for the outcome of a search this node works on.
#[derive(Clone, Copy, Debug)]
enum Upstream<A> {
    /// A remote node.
    Remote(A),
    /// Our own command, started with this budget.
    Local(QueryId, u16),
}

#[derive(Clone, Debug)]
struct Pending<A> {
    upstream: Upstream<A>,
    key: Key256,
    /// For an insert: the data and the source to pass on.
    insert: Option<(Vec<u8>, A)>,
    /// Budget held here (zero while a branch downstream holds it).
    htl: u16,
    /// The branch being tried and the budget handed to it.
    current: Option<(A, u16)>,
    tried: Vec<A>,
    /// When the current branch is given up (set while `current` is).
    deadline: Option<Time>,
}

/// A Freenet node: see the [module docs](super). Cloning gives an independent copy (the
/// simulator's snapshots).
#[derive(Clone, Debug)]
pub struct Freenet<A> {
    me: A,
    config: Config,
    rng: NodeRng,
    /// Draws and query ids so far.
    counter: u64,
    store: DataStore,
    routes: RouteTable<A>,
    pending: BTreeMap<RequestId, Pending<A>>,
    seen: RecentMap<RequestId, ()>,
    outbox: Outbox<A, Message<A>>,
    events: Events<Event>,
    stats: Stats,
}

impl<A: Copy + Ord + std::fmt::Debug> Freenet<A> {
    /// A node named `me`. `seed` should be derived from the run's seed and the node (request
    /// ids and source resets are drawn from it).
    pub fn new(me: A, config: Config, seed: u64) -> Self {
        Freenet {
            me,
            store: DataStore::new(config.store_items, config.store_bytes),
            routes: RouteTable::new(config.routing_entries),
            seen: RecentMap::new(config.seen_ids),
            config,
            rng: NodeRng::new(seed),
            counter: 0,
            pending: BTreeMap::new(),
            outbox: Outbox::new(),
            events: Events::new(),
            stats: Stats::default(),
        }
    }

    /// This node's name.
    pub fn local(&self) -> A {
        self.me
    }

    /// Adds a routing entry (a neighbour known at start, under its key).
    pub fn add_route(&mut self, key: Key256, node: A) {
        if node != self.me {
            self.routes.learn(key.prefix_u64(), node);
        }
    }

    /// The connection to `node` is gone: forget its routing entries and move the searches
    /// waiting on it to their next choice.
    fn on_disconnected(&mut self, now: Time, node: A) {
        self.routes.forget(node);
        let waiting: Vec<RequestId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.current.is_some_and(|c| c.0 == node))
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            if let Some(p) = self.pending.get_mut(&id) {
                p.htl = p.current.map_or(0, |c| c.1);
                p.current = None;
            }
            self.advance(now, id);
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Items in the datastore.
    pub fn stored_items(&self) -> usize {
        self.store.len()
    }

    /// Bytes in the datastore.
    pub fn stored_bytes(&self) -> u64 {
        self.store.bytes()
    }

    /// Whether the datastore holds `key`.
    pub fn holds(&self, key: &Key256) -> bool {
        self.store.contains(key)
    }

    /// Routing entries held.
    pub fn routing_entries(&self) -> usize {
        self.routes.len()
    }

    /// Entries held: routing entries, stored items, searches in progress, remembered ids.
    pub fn state_size(&self) -> usize {
        self.routes.len() + self.store.len() + self.pending.len() + self.seen.len()
    }

    /// An estimate of the heap bytes held (entries times their size, plus stored data).
    pub fn heap_bytes(&self) -> usize {
        let a = std::mem::size_of::<A>();
        self.routes.len() * (8 + 8 + a + 16)
            + self.store.len() * (32 + 8 + 24 + 40)
            + self.store.bytes() as usize
            + self.pending.len() * (8 + std::mem::size_of::<Pending<A>>())
            + self.seen.len() * 8
    }

    fn draw(&mut self) -> u64 {
        self.counter += 1;
        let u = self.rng.unique(self.counter, b"freenet!");
        let mut b = [0u8; 8];
        b.copy_from_slice(&u[..8]);
        u64::from_le_bytes(b)
    }

    fn send(&mut self, to: A, msg: Message<A>) {
        self.stats.sent += 1;
        self.outbox.send(to, msg);
    }

    /// The source a passing reply or insert names from here on.
    fn pass_source(&mut self, source: A) -> A {
        let permille = u64::from(self.config.source_reset_permille);
        if permille > 0 && self.draw() % 1000 < permille {
            self.me
        } else {
            source
        }
    }

    fn learn(&mut self, key: &Key256, source: A) {
        if source != self.me {
            self.routes.learn(key.prefix_u64(), source);
        }
    }

    /// Sends the search `id` down its next branch, or ends it here when none is left.
    fn advance(&mut self, now: Time, id: RequestId) {
        let me = self.me;
        let max_tries = self.config.max_tries;
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        let next = if p.htl == 0 || p.tried.len() >= max_tries {
            None
        } else {
            let upstream = match p.upstream {
                Upstream::Remote(u) => Some(u),
                Upstream::Local(..) => None,
            };
            let tried = &p.tried;
            self.routes.closest(p.key.prefix_u64(), |n| {
                n != me && Some(n) != upstream && !tried.contains(&n)
            })
        };
        let Some(next) = next else {
            self.finish_here(id);
            return;
        };
        let handed = p.htl - 1;
        p.htl = 0;
        p.tried.push(next);
        p.current = Some((next, handed));
        p.deadline = Some(now + self.config.hop_timeout * (u32::from(handed) + 1));
        let msg = match &p.insert {
            Some((data, source)) => Message::Insert {
                id,
                key: p.key,
                data: data.clone(),
                htl: handed,
                source: *source,
            },
            None => Message::Request {
                id,
                key: p.key,
                htl: handed,
            },
        };
        self.send(next, msg);
    }

    /// No branch left: a request fails upstream, an insert is done (stored here).
    fn finish_here(&mut self, id: RequestId) {
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        match (p.insert.is_some(), p.upstream) {
            (true, Upstream::Remote(u)) => self.send(u, Message::InsertDone { id, depth: 1 }),
            (true, Upstream::Local(qid, _)) => self.events.push(Event::Inserted {
                id: qid,
                key: p.key,
                path_len: 1,
            }),
            (false, Upstream::Remote(u)) => self.send(
                u,
                Message::Failed {
                    id,
                    htl: p.htl,
                    reason: Failure::DeadEnd,
                },
            ),
            (false, Upstream::Local(qid, start)) => self.events.push(Event::NotFound {
                id: qid,
                key: p.key,
                hops: start.saturating_sub(p.htl),
            }),
        }
    }

    /// Starts working on a search that arrived from `upstream` (or our own).
    fn open(&mut self, now: Time, id: RequestId, p: Pending<A>) {
        self.pending.insert(id, p);
        self.advance(now, id);
    }

    /// Counts request `id` from `from` as received; true if it was seen before (it came
    /// round a loop), in which case `from` is told so and it goes no further. Otherwise it is
    /// remembered as seen.
    fn looped(&mut self, from: A, id: RequestId, htl: u16) -> bool {
        self.stats.received += 1;
        if self.seen.contains(&id) {
            self.stats.loops += 1;
            self.send(
                from,
                Message::Failed {
                    id,
                    htl,
                    reason: Failure::Loop,
                },
            );
            return true;
        }
        self.seen.insert(id, ());
        false
    }

    fn on_request(&mut self, now: Time, from: A, id: RequestId, key: Key256, htl: u16) {
        if self.looped(from, id, htl) {
            return;
        }
        if let Some(data) = self.store.get(&key) {
            let data = data.to_vec();
            self.stats.served += 1;
            self.send(
                from,
                Message::Data {
                    id,
                    key,
                    data,
                    source: self.me,
                    htl,
                    depth: 1,
                },
            );
            return;
        }
        if self.pending.len() >= self.config.max_pending {
            self.send(
                from,
                Message::Failed {
                    id,
                    htl,
                    reason: Failure::Overloaded,
                },
            );
            return;
        }
        let p = Pending {
            upstream: Upstream::Remote(from),
            key,
            insert: None,
            htl,
            current: None,
            tried: Vec::new(),
            deadline: None,
        };
        self.open(now, id, p);
    }

    fn on_insert(&mut self, now: Time, from: A, msg: Message<A>) {
        let Message::Insert {
            id,
            key,
            data,
            htl,
            source,
        } = msg
        else {
            return;
        };
        if self.looped(from, id, htl) {
            return;
        }
        if self.store.contains(&key) {
            // A key collision ends the insert: the data is already on this route.
            self.send(from, Message::InsertDone { id, depth: 1 });
            return;
        }
        self.store.put(key, data.clone());
        self.learn(&key, source);
        if self.pending.len() >= self.config.max_pending {
            self.send(from, Message::InsertDone { id, depth: 1 });
            return;
        }
        let source = self.pass_source(source);
        let p = Pending {
            upstream: Upstream::Remote(from),
            key,
            insert: Some((data, source)),
            htl,
            current: None,
            tried: Vec::new(),
            deadline: None,
        };
        self.open(now, id, p);
    }

    /// The pending search `id` if `from` is the branch it waits on.
    fn branch_of(&self, id: RequestId, from: A) -> bool {
        self.pending
            .get(&id)
            .is_some_and(|p| p.current.is_some_and(|c| c.0 == from))
    }

    fn on_data(&mut self, from: A, id: RequestId, data: Vec<u8>, source: A, htl: u16, depth: u16) {
        if !self.branch_of(id, from) {
            self.stats.refused += 1;
            return;
        }
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        let key = p.key;
        self.store.put(key, data.clone());
        self.learn(&key, source);
        match p.upstream {
            Upstream::Remote(u) => {
                let source = self.pass_source(source);
                let depth = depth.saturating_add(1);
                self.send(
                    u,
                    Message::Data {
                        id,
                        key,
                        data,
                        source,
                        htl,
                        depth,
                    },
                );
            }
            Upstream::Local(qid, start) => {
                let hops = start.saturating_sub(htl);
                self.events.push(Event::Found {
                    id: qid,
                    key,
                    data,
                    hops,
                    path_len: depth,
                });
            }
        }
    }

    fn on_failed(&mut self, now: Time, from: A, id: RequestId, htl: u16) {
        if !self.branch_of(id, from) {
            self.stats.refused += 1;
            return;
        }
        if let Some(p) = self.pending.get_mut(&id) {
            let handed = p.current.map_or(0, |c| c.1);
            p.htl = htl.min(handed);
            p.current = None;
            p.deadline = None;
        }
        self.advance(now, id);
    }

    fn on_insert_done(&mut self, from: A, id: RequestId, depth: u16) {
        if !self.branch_of(id, from) || self.pending.get(&id).is_some_and(|p| p.insert.is_none()) {
            self.stats.refused += 1;
            return;
        }
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        let depth = depth.saturating_add(1);
        match p.upstream {
            Upstream::Remote(u) => self.send(u, Message::InsertDone { id, depth }),
            Upstream::Local(qid, _) => self.events.push(Event::Inserted {
                id: qid,
                key: p.key,
                path_len: depth,
            }),
        }
    }

    fn check(&self, msg: &Message<A>) -> Result<(), Invalid> {
        let (htl, data) = match msg {
            Message::Request { htl, .. } | Message::Failed { htl, .. } => (*htl, None),
            Message::Insert { htl, data, .. } | Message::Data { htl, data, .. } => {
                (*htl, Some(data.len()))
            }
            Message::InsertDone { .. } => (0, None),
        };
        if htl > MAX_HTL {
            return Err(Invalid::Htl(htl));
        }
        match data {
            Some(len) if len > self.config.max_data => Err(Invalid::DataSize(len)),
            _ => Ok(()),
        }
    }

    fn start(
        &mut self,
        now: Time,
        qid: QueryId,
        key: Key256,
        insert: Option<Vec<u8>>,
        htl: Option<u16>,
    ) {
        let htl = htl.unwrap_or(self.config.default_htl).min(MAX_HTL);
        if let Some(data) = &insert
            && data.len() > self.config.max_data
        {
            self.events.push(Event::Refused {
                id: qid,
                reason: Invalid::DataSize(data.len()),
            });
            return;
        }
        if insert.is_none()
            && let Some(data) = self.store.get(&key)
        {
            let data = data.to_vec();
            self.events.push(Event::Found {
                id: qid,
                key,
                data,
                hops: 0,
                path_len: 0,
            });
            return;
        }
        if self.pending.len() >= self.config.max_pending {
            self.events.push(Event::Refused {
                id: qid,
                reason: Invalid::Busy,
            });
            return;
        }
        let id = RequestId(self.draw());
        self.seen.insert(id, ());
        let insert = insert.map(|data| {
            self.store.put(key, data.clone());
            (data, self.me)
        });
        let p = Pending {
            upstream: Upstream::Local(qid, htl),
            key,
            insert,
            htl,
            current: None,
            tried: Vec::new(),
            deadline: None,
        };
        self.open(now, id, p);
    }
}

impl<A: Copy + Ord + std::fmt::Debug> Engine for Freenet<A> {
    type Addr = A;
    type Message = Message<A>;
    type Command = Command;
    type Event = Event;

    fn handle_message(&mut self, now: Time, from: A, msg: Message<A>) {
        if self.check(&msg).is_err() {
            self.stats.refused += 1;
            return;
        }
        match msg {
            Message::Request { id, key, htl } => self.on_request(now, from, id, key, htl),
            msg @ Message::Insert { .. } => self.on_insert(now, from, msg),
            Message::Data {
                id,
                data,
                source,
                htl,
                depth,
                ..
            } => self.on_data(from, id, data, source, htl, depth),
            Message::Failed { id, htl, .. } => self.on_failed(now, from, id, htl),
            Message::InsertDone { id, depth } => self.on_insert_done(from, id, depth),
        }
    }

    fn handle_timeout(&mut self, now: Time) {
        let expired: Vec<RequestId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.current.is_some() && p.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.stats.timeouts += 1;
            if let Some(p) = self.pending.get_mut(&id) {
                // The lost branch may still be spending its budget: carry on with half of it.
                p.htl = p.current.map_or(0, |c| c.1 / 2);
                p.current = None;
                p.deadline = None;
            }
            self.advance(now, id);
        }
    }

    /// A lost connection moves the searches waiting on the peer on; a new one means
    /// nothing until the peer is added as a route ([`Freenet::add_route`]).
    fn handle_peer(&mut self, now: Time, peer: A, event: PeerEvent) {
        match event {
            PeerEvent::Connected => {}
            PeerEvent::Disconnected | PeerEvent::Unreachable => self.on_disconnected(now, peer),
        }
    }

    /// Both commands are queries, answered by one event.
    fn handle_command(&mut self, now: Time, cmd: Command) -> Option<QueryId> {
        self.counter += 1;
        let qid = QueryId(self.counter);
        match cmd {
            Command::Request { key, htl } => self.start(now, qid, key, None, htl),
            Command::Insert { key, data, htl } => self.start(now, qid, key, Some(data), htl),
        }
        Some(qid)
    }

    fn poll_transmit(&mut self) -> Option<(A, Message<A>)> {
        self.outbox.pop()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    fn poll_timeout(&self) -> Option<Time> {
        self.pending
            .values()
            .filter(|p| p.current.is_some())
            .filter_map(|p| p.deadline)
            .min()
    }
}
