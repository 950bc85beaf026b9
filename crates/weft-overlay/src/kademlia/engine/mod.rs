//! The Kademlia engine: its state and how it is built (here), serving requests (`serve`),
//! the query lifecycle (`query`) and maintenance (`maintain`).

mod maintain;
mod query;
mod serve;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use weft_core::time::Time;

use super::closest::{ClosestPeersIter, IterConfig, Step};
use super::key::KadKey;
use super::message::{
    Body, Contact, MAX_POSTING_LEN, MAX_POSTINGS_PER_STORE, MAX_VALUE_LEN, Message, PostingValue,
    PublisherPostings, WireRecord,
};
use super::postings::PostingStore;
use super::store::{Origin, Provider, Store, StoredRecord};
use super::table::{Seen, Table};
use super::{Command, Config, Event, FoundPostings, Posting, QueryError, QueryResult, QueryStats};
use crate::kit::{Events, NodeRng, Outbox, QueryIds, RequestIds, Timers};
use crate::{Engine, PeerEvent, QueryId};

/// The maintenance timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// Look up a random id in the next bucket.
    Refresh,
    /// Publish this node's records, provided keys and postings again.
    Republish,
    /// Drop what has expired.
    Expiry,
}

/// What a query is for.
#[derive(Clone, Debug)]
enum Kind<K, A> {
    FindNode,
    Bootstrap,
    Refresh,
    GetRecord,
    GetProviders {
        found: Vec<Contact<K, A>>,
    },
    PutRecord {
        record: WireRecord,
    },
    AddProvider,
    /// `holders`: answers that carried postings so far (the local store counts as one).
    /// `more`: some holder kept postings back, or the merge dropped some.
    GetPostings {
        found: Vec<Posting<K, A>>,
        holders: usize,
        more: bool,
    },
    PutPostings {
        values: Vec<PostingValue>,
        ttl_secs: u64,
    },
}

/// What a reply carries besides closer contacts.
enum Payload<K, A> {
    None,
    Value(Vec<u8>),
    Providers(Vec<Contact<K, A>>),
    /// And whether the holder kept more back.
    Postings(Vec<PublisherPostings<K, A>>, bool),
}

/// Where a query stands.
#[derive(Clone, Debug)]
enum Phase<A> {
    Lookup,
    /// `PutRecord` or `PutPostings` after its lookup: waiting for acknowledgements.
    Storing {
        pending: Vec<(A, u64)>,
        acks: usize,
        deadline: Time,
    },
}

#[derive(Clone, Debug)]
struct Query<K, A> {
    id: QueryId,
    /// Started by the engine itself (refresh, republish): no event.
    internal: bool,
    kind: Kind<K, A>,
    iter: ClosestPeersIter<K, A>,
    phase: Phase<A>,
    stats: QueryStats,
}

/// A probe of the least recently seen contact of a full bucket.
#[derive(Clone, Debug)]
struct Ping<K, A> {
    lru: Contact<K, A>,
    candidate: Contact<K, A>,
    req: u64,
    deadline: Time,
}

/// A Kademlia node. See the [module docs](super).
#[derive(Debug)]
pub struct Kademlia<K, A> {
    config: Arc<Config>,
    local: Contact<K, A>,
    table: Table<K, A>,
    store: Store<K, A>,
    /// Postings, allocated on first use (most simulated nodes never hold any).
    postings: Option<Box<PostingStore<K, A>>>,
    queries: Vec<Query<K, A>>,
    pings: Vec<Ping<K, A>>,
    outbox: Outbox<A, Message<K, A>>,
    events: Events<Event<K, A>>,
    req_ids: RequestIds,
    query_ids: QueryIds,
    rng: NodeRng,
    timers: Timers<Timer>,
    refresh_cursor: u32,
    /// Records and provided keys waiting to be republished (see [`Self::pump_republish`]).
    republish: VecDeque<Republish<K>>,
}

/// Something of this node's own to publish again.
#[derive(Clone, Copy, Debug)]
enum Republish<K> {
    /// A record it put.
    Record(K),
    /// A key it provides.
    Provider(K),
}

fn secs(d: Duration) -> u64 {
    d.as_secs()
}

impl<K: KadKey, A: Copy + Ord + std::fmt::Debug> Kademlia<K, A> {
    /// A node with an empty routing table. `local` is this node's id and its own address
    /// (put in provider records it hands out); `seed` with the id seeds its randomness.
    /// Maintenance timers start at a random offset within their interval.
    pub fn new(config: Arc<Config>, local: Contact<K, A>, seed: u64) -> Self {
        let table = Table::new(local.key, config.k);
        Self::with_table(config, local, seed, table)
    }

    fn with_table(
        config: Arc<Config>,
        local: Contact<K, A>,
        seed: u64,
        table: Table<K, A>,
    ) -> Self {
        let mut node = Kademlia {
            local,
            table,
            store: Store::new(),
            postings: None,
            queries: Vec::new(),
            pings: Vec::new(),
            outbox: Outbox::new(),
            events: Events::new(),
            req_ids: RequestIds::new(),
            query_ids: QueryIds::new(),
            rng: node_rng(seed, &local.key),
            timers: Timers::new(),
            refresh_cursor: 0,
            republish: VecDeque::new(),
            config,
        };
        let mut rng = node.rng.draw();
        if let Some(every) = node.config.refresh_interval {
            node.timers
                .set(Timer::Refresh, Time::ZERO + jitter(&mut rng, every));
        }
        if let Some(every) = node.config.republish_interval {
            node.timers
                .set(Timer::Republish, Time::ZERO + jitter(&mut rng, every));
        }
        node
    }

    /// The converged routing state a node would have in a stable network, built directly
    /// for the simulator (joining 10^6 nodes through the protocol is too slow).
    ///
    /// `nodes` is every node's `(id, address)`, sorted by id with no duplicates, and `me`
    /// the index of this node in it. Each bucket gets `k` contacts drawn at random (seeded)
    /// from the nodes that fall in it, or all of them if fewer: exactly what a node ends up
    /// with after enough lookups through a static network. The ids in one bucket are a
    /// contiguous run of the sorted list, so this costs O(k log N) per bucket.
    ///
    /// # Panics
    /// If `me` is out of range.
    pub fn converged(config: Arc<Config>, seed: u64, me: usize, nodes: &[(K, A)]) -> Self {
        let local = Contact {
            key: nodes[me].0,
            addr: nodes[me].1,
        };
        let mut rng = node_rng(seed, &local.key).draw();
        let mut contacts = Vec::new();
        let mut remaining = nodes.len().saturating_sub(1);
        for bucket in 0..K::BITS {
            if remaining == 0 {
                break;
            }
            let (lo, hi) = local.key.bucket_bounds(bucket);
            let start = nodes.partition_point(|(k, _)| *k < lo);
            let end = nodes.partition_point(|(k, _)| *k <= hi);
            let n = end - start;
            remaining = remaining.saturating_sub(n);
            if n <= config.k {
                contacts.extend_from_slice(&nodes[start..end]);
            } else {
                for i in rand::seq::index::sample(&mut rng, n, config.k) {
                    contacts.push(nodes[start + i]);
                }
            }
        }
        let table = Table::from_contacts(local.key, config.k, contacts);
        Self::with_table(config, local, seed, table)
    }

    /// [`Kademlia::converged`] for every node of `nodes` (sorted by id).
    pub fn converged_network(config: Arc<Config>, seed: u64, nodes: &[(K, A)]) -> Vec<Self> {
        (0..nodes.len())
            .map(|i| Self::converged(config.clone(), seed, i, nodes))
            .collect()
    }

    /// This node's id and address.
    pub fn local(&self) -> Contact<K, A> {
        self.local
    }

    /// Routing entries held: contacts in the k-buckets (the "state" of the paper's Table 3).
    pub fn state_size(&self) -> usize {
        self.table.len()
    }

    /// Bytes this engine occupies, its own size plus what its tables hold on the heap
    /// (records and queries excluded), for the simulator's memory report.
    pub fn memory_bytes(&self) -> usize {
        size_of::<Self>() + self.table.heap_bytes()
    }

    /// All contacts of the routing table, far buckets first.
    pub fn contacts(&self) -> impl Iterator<Item = Contact<K, A>> + '_ {
        self.table.iter().map(|(key, addr)| Contact { key, addr })
    }

    /// The `n` contacts of the routing table closest to `target`, closest first.
    pub fn closest_contacts(&self, target: &K, n: usize) -> Vec<Contact<K, A>> {
        self.table
            .closest(target, n)
            .into_iter()
            .map(|(key, addr)| Contact { key, addr })
            .collect()
    }

    /// Records and provider records stored here (for reports and tests).
    pub fn stored_counts(&self) -> (usize, usize) {
        (self.store.record_count(), self.store.provider_count())
    }

    /// Keys with postings held here, and posting values held (for this node and others).
    pub fn posting_counts(&self) -> (usize, usize) {
        self.postings
            .as_ref()
            .map_or((0, 0), |p| (p.key_count(), p.len()))
    }

    /// The valid postings held here under `key`, grouped by publisher (for tests and
    /// reports).
    pub fn local_postings(&self, key: &K, now: Time) -> Vec<PublisherPostings<K, A>> {
        self.held_postings(key, now).0
    }

    /// The valid postings held here under `key`, and whether more are held than a reply
    /// carries.
    fn held_postings(&self, key: &K, now: Time) -> (Vec<PublisherPostings<K, A>>, bool) {
        self.postings
            .as_ref()
            .map(|p| p.get(key, now, self.config.max_postings_per_key))
            .unwrap_or_default()
    }

    fn postings_mut(&mut self) -> &mut PostingStore<K, A> {
        self.postings
            .get_or_insert_with(|| Box::new(PostingStore::new()))
    }

    /// Stores `values` for `publisher` under `key`; true if any was kept (or the set was
    /// withdrawn).
    fn hold_postings(
        &mut self,
        now: Time,
        key: K,
        publisher: Contact<K, A>,
        values: &[PostingValue],
        expires: Time,
    ) -> bool {
        let config = self.config.clone();
        let kept = self
            .postings_mut()
            .store(&config, key, publisher, values, now, expires);
        self.timers
            .set_earlier(Timer::Expiry, now + self.config.expiry_interval);
        kept > 0 || values.is_empty()
    }

    /// The node connected to a peer with id `key` at `addr`: it is put in the routing table
    /// (or, if its bucket is full, the bucket's least recently seen contact is pinged and
    /// replaced if it does not answer).
    pub fn add_peer(&mut self, now: Time, key: K, addr: A) {
        self.saw(now, key, addr);
    }

    /// The node no longer has the content of `key`: it stops providing it (no more
    /// republishing, and its local answers no longer name this node). Provider records already
    /// on other nodes expire with their TTL, as Kademlia has no withdrawal message.
    pub fn stop_providing(&mut self, key: &K) {
        let local = self.local.key;
        self.store.forget_provided(key, &local);
        self.republish
            .retain(|r| !matches!(r, Republish::Provider(k) if k == key));
    }

    /// The node lost the peer at `addr`: it leaves the routing table and requests waiting
    /// on it fail at once.
    pub fn remove_peer(&mut self, now: Time, addr: A) {
        self.table.remove_addr(&addr);
        for q in &mut self.queries {
            q.iter.fail_addr(addr);
        }
        self.drive_all(now);
    }

    fn saw(&mut self, now: Time, key: K, addr: A) {
        if let Seen::BucketFull {
            lru: (lru_key, lru_addr),
        } = self.table.seen(key, addr)
            && self.pings.len() < self.config.max_pings
            && !self
                .pings
                .iter()
                .any(|p| p.lru.key == lru_key || p.candidate.key == key)
        {
            let req = self.take_req();
            self.pings.push(Ping {
                lru: Contact {
                    key: lru_key,
                    addr: lru_addr,
                },
                candidate: Contact { key, addr },
                req,
                deadline: now + self.config.request_timeout,
            });
            self.send(lru_addr, Body::Ping { req });
        }
    }

    fn take_req(&mut self) -> u64 {
        self.req_ids.take()
    }

    fn send(&mut self, to: A, body: Body<K, A>) {
        let msg = Message {
            sender: self.local.key,
            body,
        };
        self.outbox.send(to, msg);
    }

    fn closer(&self, target: &K, asker: &K) -> Vec<Contact<K, A>> {
        self.table
            .closest(target, self.config.k + 1)
            .into_iter()
            .filter(|(k, _)| k != asker)
            .take(self.config.k)
            .map(|(key, addr)| Contact { key, addr })
            .collect()
    }

    fn ttl(&self, ttl_secs: u64) -> Duration {
        Duration::from_secs(ttl_secs).min(self.config.max_ttl)
    }
}

/// The node's randomness: the run seed spread over 64 bits, salted with the node's id.
fn node_rng<K: KadKey>(seed: u64, key: &K) -> NodeRng {
    NodeRng::salted(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), key.fold_u64())
}

fn jitter(rng: &mut impl Rng, every: Duration) -> Duration {
    let us = u64::try_from(every.as_micros()).unwrap_or(u64::MAX).max(1);
    Duration::from_micros(rng.random_range(0..us))
}

impl<K: KadKey, A: Copy + Ord + std::fmt::Debug> Engine for Kademlia<K, A> {
    type Addr = A;
    type Message = Message<K, A>;
    type Command = Command<K>;
    type Event = Event<K, A>;

    fn handle_message(&mut self, now: Time, from: A, msg: Message<K, A>) {
        if msg.sender == self.local.key {
            return;
        }
        if msg.validate(self.config.k).is_err() {
            // a malformed answer counts as a failed request
            let req = match msg.body {
                Body::Nodes { req, .. }
                | Body::Record { req, .. }
                | Body::Providers { req, .. }
                | Body::Postings { req, .. } => Some(req),
                _ => None,
            };
            if let Some(req) = req {
                for q in &mut self.queries {
                    q.iter.on_failure(from, req);
                }
                self.drive_all(now);
            }
            return;
        }
        if matches!(msg.body, Body::Ping { .. } | Body::Pong { .. }) {
            // liveness probes refresh a known contact but never start probes of their own,
            // which would cascade through full buckets
            if self.table.contains(&msg.sender) {
                self.table.seen(msg.sender, from);
            }
        } else {
            self.saw(now, msg.sender, from);
        }
        self.answer(now, from, msg.sender, msg.body);
        self.pump_republish(now);
    }

    fn handle_timeout(&mut self, now: Time) {
        let mut i = 0;
        while i < self.pings.len() {
            if now >= self.pings[i].deadline {
                let p = self.pings.remove(i);
                self.table.remove_key(&p.lru.key);
                self.table.seen(p.candidate.key, p.candidate.addr);
            } else {
                i += 1;
            }
        }
        self.drive_all(now);
        self.maintain(now);
    }

    /// `Connected` is not enough to add a contact (its key is needed: [`Kademlia::add_peer`]);
    /// a contact stays in the table while disconnected and is dialed again when needed; an
    /// `Unreachable` one is removed ([`Kademlia::remove_peer`]).
    fn handle_peer(&mut self, now: Time, peer: A, event: PeerEvent) {
        match event {
            PeerEvent::Connected | PeerEvent::Disconnected => {}
            PeerEvent::Unreachable => self.remove_peer(now, peer),
        }
    }

    fn handle_command(&mut self, now: Time, cmd: Command<K>) -> Option<QueryId> {
        Some(self.query(now, cmd))
    }

    fn poll_transmit(&mut self) -> Option<(A, Message<K, A>)> {
        self.outbox.pop()
    }

    fn poll_event(&mut self) -> Option<Event<K, A>> {
        self.events.pop()
    }

    fn poll_timeout(&self) -> Option<Time> {
        let pings = self.pings.iter().map(|p| p.deadline);
        let queries = self.queries.iter().filter_map(|q| match &q.phase {
            Phase::Lookup => q.iter.next_deadline(),
            Phase::Storing { deadline, .. } => Some(*deadline),
        });
        let refresh = (self.table.len() > 0)
            .then(|| self.timers.get(Timer::Refresh))
            .flatten();
        let (posting_keys, _) = self.posting_counts();
        let publishes = self.postings.as_ref().is_some_and(|p| p.publishes());
        let republish =
            (self.store.has_local_records() || !self.store.provided().is_empty() || publishes)
                .then(|| self.timers.get(Timer::Republish))
                .flatten();
        let expiry = (self.store.record_count() + self.store.provider_count() + posting_keys > 0)
            .then(|| self.timers.get(Timer::Expiry))
            .flatten();
        pings
            .chain(queries)
            .chain(refresh)
            .chain(republish)
            .chain(expiry)
            .min()
    }
}
