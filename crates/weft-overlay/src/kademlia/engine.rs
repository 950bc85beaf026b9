//! The Kademlia engine: routing table, request handling, queries and maintenance.

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

    fn answer(&mut self, now: Time, from: A, sender: K, body: Body<K, A>) {
        match body {
            Body::Ping { req } => self.send(from, Body::Pong { req }),
            Body::Pong { req } => self.pings.retain(|p| !(p.req == req && p.lru.addr == from)),
            Body::FindNode { req, target } => {
                let closer = self.closer(&target, &sender);
                self.send(from, Body::Nodes { req, closer });
            }
            Body::GetRecord { req, key } => {
                let record = self.store.get(&key, now).map(|r| WireRecord {
                    value: r.value.to_vec(),
                    ttl_secs: secs(r.expires.saturating_since(now)),
                });
                let closer = self.closer(&key, &sender);
                self.send(
                    from,
                    Body::Record {
                        req,
                        record,
                        closer,
                    },
                );
            }
            Body::PutRecord { req, key, record } => {
                let expires = now + self.ttl(record.ttl_secs);
                let rec = StoredRecord {
                    value: record.value.into_boxed_slice(),
                    expires,
                    origin: Origin::Remote,
                };
                let stored = self.store.put(key, rec, self.config.max_records);
                self.timers
                    .set_earlier(Timer::Expiry, now + self.config.expiry_interval);
                self.send(from, Body::PutAck { req, stored });
            }
            Body::AddProvider { key, ttl_secs } => {
                let p = Provider {
                    contact: Contact {
                        key: sender,
                        addr: from,
                    },
                    expires: now + self.ttl(ttl_secs),
                };
                self.store
                    .add_provider(key, p, self.config.max_provider_keys, self.config.k);
                self.timers
                    .set_earlier(Timer::Expiry, now + self.config.expiry_interval);
            }
            Body::GetProviders { req, key } => {
                let providers = self.store.providers(&key, now, self.config.k);
                let closer = self.closer(&key, &sender);
                self.send(
                    from,
                    Body::Providers {
                        req,
                        providers,
                        closer,
                    },
                );
            }
            Body::StorePostings {
                req,
                key,
                ttl_secs,
                values,
            } => {
                let publisher = Contact {
                    key: sender,
                    addr: from,
                };
                let expires = now + self.ttl(ttl_secs);
                let stored = self.hold_postings(now, key, publisher, &values, expires);
                self.send(from, Body::PutAck { req, stored });
            }
            Body::GetPostings { req, key } => {
                let (postings, more) = self.held_postings(&key, now);
                let closer = self.closer(&key, &sender);
                self.send(
                    from,
                    Body::Postings {
                        req,
                        postings,
                        closer,
                        more,
                    },
                );
            }
            Body::Nodes { req, closer } => self.on_reply(now, from, req, closer, Payload::None),
            Body::Record {
                req,
                record,
                closer,
            } => {
                let payload = record.map_or(Payload::None, |r| Payload::Value(r.value));
                self.on_reply(now, from, req, closer, payload);
            }
            Body::Providers {
                req,
                providers,
                closer,
            } => {
                self.on_reply(now, from, req, closer, Payload::Providers(providers));
            }
            Body::Postings {
                req,
                postings,
                closer,
                more,
            } => {
                self.on_reply(now, from, req, closer, Payload::Postings(postings, more));
            }
            Body::PutAck { req, stored } => self.on_ack(now, from, req, stored),
        }
    }

    fn on_reply(
        &mut self,
        now: Time,
        from: A,
        req: u64,
        closer: Vec<Contact<K, A>>,
        payload: Payload<K, A>,
    ) {
        let Some(qi) = self
            .queries
            .iter()
            .position(|q| q.iter.is_awaiting(from, req))
        else {
            return;
        };
        let closer: Vec<(K, A)> = closer
            .into_iter()
            .filter(|c| c.key != self.local.key)
            .map(|c| (c.key, c.addr))
            .collect();
        let q = &mut self.queries[qi];
        let Some(depth) = q.iter.on_success(from, req, &closer) else {
            return;
        };
        q.stats.responses += 1;
        let hops = u32::from(depth) + 1;
        match (&mut q.kind, payload) {
            (Kind::GetRecord, Payload::Value(value)) => {
                q.stats.hops = hops;
                q.iter.finish();
                self.finish(now, qi, QueryResult::GetRecord(Ok(value)));
                return;
            }
            (Kind::GetProviders { found }, Payload::Providers(providers))
                if !providers.is_empty() =>
            {
                for p in providers {
                    if found.len() < self.config.k && !found.iter().any(|f| f.key == p.key) {
                        found.push(p);
                    }
                }
                q.stats.hops = hops;
                q.iter.finish();
                let found = std::mem::take(found);
                self.finish(now, qi, QueryResult::GetProviders(Ok(found)));
                return;
            }
            (
                Kind::GetPostings {
                    found,
                    holders,
                    more,
                },
                Payload::Postings(postings, held_back),
            ) if postings.iter().any(|p| !p.values.is_empty()) => {
                let dropped = merge_postings(found, postings, self.config.max_postings_per_key);
                *more |= held_back || dropped;
                if *holders == 0 {
                    q.stats.hops = hops;
                }
                *holders += 1;
                if *holders >= self.config.postings_quorum.max(1) {
                    q.iter.finish();
                    let found = FoundPostings {
                        postings: std::mem::take(found),
                        more: *more,
                    };
                    self.finish(now, qi, QueryResult::GetPostings(Ok(found)));
                    return;
                }
            }
            _ => {}
        }
        self.drive(now, qi);
    }

    fn on_ack(&mut self, now: Time, from: A, req: u64, stored: bool) {
        let Some(qi) = self.queries.iter().position(|q| match &q.phase {
            Phase::Storing { pending, .. } => pending.contains(&(from, req)),
            Phase::Lookup => false,
        }) else {
            return;
        };
        let q = &mut self.queries[qi];
        q.stats.responses += 1;
        if let Phase::Storing { pending, acks, .. } = &mut q.phase {
            pending.retain(|p| *p != (from, req));
            *acks += usize::from(stored);
            if pending.is_empty() {
                let result = stored_result(&q.kind, *acks);
                self.finish(now, qi, result);
            }
        }
    }

    fn start(&mut self, now: Time, target: K, kind: Kind<K, A>, internal: bool) -> QueryId {
        let id = self.query_ids.take();
        let stats = QueryStats {
            started: now,
            finished: now,
            ..QueryStats::default()
        };
        let config = IterConfig {
            alpha: self.config.alpha,
            k: self.config.k,
            peer_timeout: self.config.request_timeout,
            max_candidates: self.config.max_candidates.max(self.config.k),
        };
        let seeds = self.table.closest(&target, self.config.k);
        let empty = seeds.is_empty();
        let iter = ClosestPeersIter::new(target, config, seeds);
        let q = Query {
            id,
            internal,
            kind,
            iter,
            phase: Phase::Lookup,
            stats,
        };
        if self.queries.len() >= self.config.max_queries {
            let result = failure(&q.kind, QueryError::TooManyQueries);
            self.emit(q, now, result);
        } else if empty {
            let result = failure(&q.kind, QueryError::NoPeers);
            self.emit(q, now, result);
        } else {
            self.queries.push(q);
            let qi = self.queries.len() - 1;
            self.drive(now, qi);
        }
        id
    }

    fn emit(&mut self, mut q: Query<K, A>, now: Time, result: QueryResult<K, A>) {
        if !q.internal {
            q.stats.finished = now;
            self.events.push(Event::QueryFinished {
                id: q.id,
                result,
                stats: q.stats,
            });
        }
    }

    fn finish(&mut self, now: Time, qi: usize, result: QueryResult<K, A>) {
        let q = self.queries.remove(qi);
        self.emit(q, now, result);
    }

    fn drive_all(&mut self, now: Time) {
        let ids: Vec<QueryId> = self.queries.iter().map(|q| q.id).collect();
        for id in ids {
            if let Some(qi) = self.queries.iter().position(|q| q.id == id) {
                self.drive(now, qi);
            }
        }
    }

    /// Lets query `qi` send what it may; finishes it when its lookup is over.
    fn drive(&mut self, now: Time, qi: usize) {
        loop {
            let q = &mut self.queries[qi];
            if let Phase::Storing { deadline, acks, .. } = q.phase {
                if now >= deadline {
                    let result = stored_result(&q.kind, acks);
                    self.finish(now, qi, result);
                }
                return;
            }
            match q.iter.next(now, &mut self.req_ids) {
                Step::Contact { addr, req, .. } => {
                    q.stats.messages += 1;
                    let target = *q.iter.target();
                    let body = match q.kind {
                        Kind::GetRecord => Body::GetRecord { req, key: target },
                        Kind::GetProviders { .. } => Body::GetProviders { req, key: target },
                        Kind::GetPostings { .. } => Body::GetPostings { req, key: target },
                        _ => Body::FindNode { req, target },
                    };
                    self.send(addr, body);
                }
                Step::Waiting => return,
                Step::Finished => {
                    self.lookup_done(now, qi);
                    return;
                }
            }
        }
    }

    fn lookup_done(&mut self, now: Time, qi: usize) {
        let q = &mut self.queries[qi];
        let closest: Vec<Contact<K, A>> = q
            .iter
            .closest_succeeded()
            .map(|c| Contact {
                key: c.key,
                addr: c.addr,
            })
            .collect();
        let first_depth = q
            .iter
            .closest_succeeded()
            .next()
            .map(|c| u32::from(c.depth) + 1);
        q.stats.hops = first_depth.unwrap_or(0);
        let target = *q.iter.target();
        let result = match &q.kind {
            Kind::FindNode if closest.is_empty() => {
                QueryResult::FindNode(Err(QueryError::NotFound))
            }
            Kind::FindNode => QueryResult::FindNode(Ok(closest)),
            Kind::Bootstrap | Kind::Refresh => QueryResult::Bootstrap(Ok(self.table.len())),
            Kind::GetRecord => QueryResult::GetRecord(Err(QueryError::NotFound)),
            Kind::GetProviders { .. } => QueryResult::GetProviders(Err(QueryError::NotFound)),
            Kind::GetPostings { found, more, .. } => {
                if found.is_empty() {
                    QueryResult::GetPostings(Err(QueryError::NotFound))
                } else {
                    QueryResult::GetPostings(Ok(FoundPostings {
                        postings: found.clone(),
                        more: *more,
                    }))
                }
            }
            Kind::AddProvider => {
                let ttl_secs = secs(self.config.provider_ttl);
                for c in &closest {
                    self.outbox.send(
                        c.addr,
                        Message {
                            sender: self.local.key,
                            body: Body::AddProvider {
                                key: target,
                                ttl_secs,
                            },
                        },
                    );
                }
                let q = &mut self.queries[qi];
                q.stats.messages += u32::try_from(closest.len()).unwrap_or(u32::MAX);
                let result = if closest.is_empty() {
                    Err(QueryError::NoPeers)
                } else {
                    Ok(closest.len())
                };
                QueryResult::AddProvider(result)
            }
            Kind::PutRecord { .. } | Kind::PutPostings { .. } => {
                if closest.is_empty() {
                    failure(&q.kind, QueryError::NoPeers)
                } else {
                    let kind = q.kind.clone();
                    let mut pending = Vec::with_capacity(closest.len());
                    for c in &closest {
                        let req = self.take_req();
                        pending.push((c.addr, req));
                        let body = match &kind {
                            Kind::PutPostings { values, ttl_secs } => Body::StorePostings {
                                req,
                                key: target,
                                ttl_secs: *ttl_secs,
                                values: values.clone(),
                            },
                            Kind::PutRecord { record } => Body::PutRecord {
                                req,
                                key: target,
                                record: record.clone(),
                            },
                            _ => Body::FindNode { req, target },
                        };
                        self.send(c.addr, body);
                    }
                    let q = &mut self.queries[qi];
                    q.stats.messages += u32::try_from(pending.len()).unwrap_or(u32::MAX);
                    q.phase = Phase::Storing {
                        pending,
                        acks: 0,
                        deadline: now + self.config.request_timeout,
                    };
                    return;
                }
            }
        };
        self.finish(now, qi, result);
    }

    fn maintain(&mut self, now: Time) {
        if self.timers.fire(Timer::Expiry, now) {
            self.store.expire(now);
            if let Some(p) = self.postings.as_mut() {
                p.expire(now);
            }
            self.timers
                .set(Timer::Expiry, now + self.config.expiry_interval);
        }
        if let Some(every) = self.config.refresh_interval
            && self.timers.fire(Timer::Refresh, now)
        {
            self.timers.set(Timer::Refresh, now + every);
            if let Some((_, highest)) = self.table.populated() {
                let bucket = self.refresh_cursor % (highest + 1).min(K::BITS);
                self.refresh_cursor = self.refresh_cursor.wrapping_add(1);
                let mut rng = self.rng.draw();
                let target = self.local.key.random_in_bucket(bucket, &mut rng);
                self.start(now, target, Kind::Refresh, true);
            }
        }
        if let Some(every) = self.config.republish_interval
            && self.timers.fire(Timer::Republish, now)
        {
            self.timers.set(Timer::Republish, now + every);
            // Queued, not started at once: a node with more records than query slots would
            // see the rest refused (and dropped silently, being internal).
            self.republish.clear();
            for (key, _, _) in self.store.local_records(now) {
                self.republish.push_back(Republish::Record(key));
            }
            let provided = self.store.provided().to_vec();
            for key in provided {
                self.add_local_provider(now, key);
                self.republish.push_back(Republish::Provider(key));
            }
            if let Some(p) = self.postings.as_mut() {
                p.queue_republish();
            }
        }
        self.pump_republish(now);
    }

    /// Starts republishing queued records, provided keys, then posting keys while fewer than
    /// half the query slots are taken (user queries keep the rest).
    fn pump_republish(&mut self, now: Time) {
        let slots = (self.config.max_queries / 2).max(1);
        while self.queries.len() < slots {
            if let Some(item) = self.republish.pop_front() {
                match item {
                    Republish::Record(key) => {
                        let Some(r) = self
                            .store
                            .get(&key, now)
                            .filter(|r| r.origin == Origin::Local)
                        else {
                            continue;
                        };
                        let record = WireRecord {
                            value: r.value.to_vec(),
                            ttl_secs: secs(r.expires.saturating_since(now)),
                        };
                        self.start(now, key, Kind::PutRecord { record }, true);
                    }
                    Republish::Provider(key) => {
                        self.start(now, key, Kind::AddProvider, true);
                    }
                }
                continue;
            }
            let Some(p) = self.postings.as_mut() else {
                return;
            };
            let Some(key) = p.republish.pop_front() else {
                return;
            };
            let Some(values) = p.published(&key).cloned() else {
                continue;
            };
            self.put_postings(now, key, values, true);
        }
    }

    /// Stores this node's set under `key` locally and starts sending it to the closest.
    fn put_postings(
        &mut self,
        now: Time,
        key: K,
        values: Vec<PostingValue>,
        internal: bool,
    ) -> QueryId {
        let ttl = self.config.posting_ttl.min(self.config.max_ttl);
        let me = self.local;
        self.hold_postings(now, key, me, &values, now + ttl);
        let kind = Kind::PutPostings {
            values,
            ttl_secs: secs(ttl),
        };
        self.start(now, key, kind, internal)
    }

    fn add_local_provider(&mut self, now: Time, key: K) -> bool {
        let p = Provider {
            contact: self.local,
            expires: now + self.config.provider_ttl,
        };
        self.timers
            .set_earlier(Timer::Expiry, now + self.config.expiry_interval);
        self.store
            .add_provider(key, p, self.config.max_provider_keys, self.config.k)
            && self.store.note_provided(key, self.config.max_provider_keys)
    }

    fn immediate(&mut self, now: Time, result: QueryResult<K, A>) -> QueryId {
        let id = self.query_ids.take();
        let stats = QueryStats {
            started: now,
            finished: now,
            ..QueryStats::default()
        };
        self.events.push(Event::QueryFinished { id, result, stats });
        id
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

/// Adds the values of `postings` to `found` (deduplicated by publisher and id, at most
/// `max` in all); true if a new value was dropped at `max`.
fn merge_postings<K: KadKey, A: Copy>(
    found: &mut Vec<Posting<K, A>>,
    postings: Vec<PublisherPostings<K, A>>,
    max: usize,
) -> bool {
    for group in postings {
        for v in group.values {
            if found
                .iter()
                .any(|f| f.publisher.key == group.publisher.key && f.id == v.id)
            {
                continue;
            }
            if found.len() >= max {
                return true;
            }
            found.push(Posting {
                publisher: group.publisher,
                id: v.id,
                value: v.value,
            });
        }
    }
    false
}

/// The outcome of a store phase that ended with `acks` acknowledgements.
fn stored_result<K, A>(kind: &Kind<K, A>, acks: usize) -> QueryResult<K, A> {
    if acks == 0 {
        return failure(kind, QueryError::NotStored);
    }
    match kind {
        Kind::PutPostings { .. } => QueryResult::PutPostings(Ok(acks)),
        _ => QueryResult::PutRecord(Ok(acks)),
    }
}

fn failure<K, A>(kind: &Kind<K, A>, e: QueryError) -> QueryResult<K, A> {
    match kind {
        Kind::FindNode => QueryResult::FindNode(Err(e)),
        Kind::Bootstrap | Kind::Refresh => QueryResult::Bootstrap(Err(e)),
        Kind::GetRecord => QueryResult::GetRecord(Err(e)),
        Kind::GetProviders { .. } => QueryResult::GetProviders(Err(e)),
        Kind::PutRecord { .. } => QueryResult::PutRecord(Err(e)),
        Kind::AddProvider => QueryResult::AddProvider(Err(e)),
        Kind::GetPostings { .. } => QueryResult::GetPostings(Err(e)),
        Kind::PutPostings { .. } => QueryResult::PutPostings(Err(e)),
    }
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

impl<K: KadKey, A: Copy + Ord + std::fmt::Debug> Kademlia<K, A> {
    /// Every Kademlia command is a query: each ends in one [`Event::QueryFinished`].
    fn query(&mut self, now: Time, cmd: Command<K>) -> QueryId {
        match cmd {
            Command::FindNode(key) => self.start(now, key, Kind::FindNode, false),
            Command::Bootstrap => self.start(now, self.local.key, Kind::Bootstrap, false),
            Command::GetRecord(key) => {
                if let Some(r) = self.store.get(&key, now) {
                    let value = r.value.to_vec();
                    return self.immediate(now, QueryResult::GetRecord(Ok(value)));
                }
                self.start(now, key, Kind::GetRecord, false)
            }
            Command::GetProviders(key) => {
                let found = self.store.providers(&key, now, self.config.k);
                if !found.is_empty() {
                    return self.immediate(now, QueryResult::GetProviders(Ok(found)));
                }
                self.start(now, key, Kind::GetProviders { found }, false)
            }
            Command::PutRecord { key, value, expiry } => {
                if value.len() > MAX_VALUE_LEN {
                    let e = QueryError::ValueTooLarge(value.len());
                    return self.immediate(now, QueryResult::PutRecord(Err(e)));
                }
                let record = WireRecord {
                    value: value.clone(),
                    ttl_secs: secs(expiry.saturating_since(now)),
                };
                let rec = StoredRecord {
                    value: value.into_boxed_slice(),
                    expires: expiry,
                    origin: Origin::Local,
                };
                if !self.store.put(key, rec, self.config.max_records) {
                    return self.immediate(now, QueryResult::PutRecord(Err(QueryError::StoreFull)));
                }
                self.timers
                    .set_earlier(Timer::Expiry, now + self.config.expiry_interval);
                self.start(now, key, Kind::PutRecord { record }, false)
            }
            Command::AddProvider(key) => {
                if !self.add_local_provider(now, key) {
                    return self
                        .immediate(now, QueryResult::AddProvider(Err(QueryError::StoreFull)));
                }
                self.start(now, key, Kind::AddProvider, false)
            }
            Command::PutPostings { key, values } => {
                let max = self
                    .config
                    .max_postings_per_publisher
                    .min(MAX_POSTINGS_PER_STORE);
                if values.len() > max {
                    let e = QueryError::TooManyValues(values.len());
                    return self.immediate(now, QueryResult::PutPostings(Err(e)));
                }
                if let Some(v) = values.iter().find(|v| v.value.len() > MAX_POSTING_LEN) {
                    let e = QueryError::ValueTooLarge(v.value.len());
                    return self.immediate(now, QueryResult::PutPostings(Err(e)));
                }
                let config = self.config.clone();
                if !self.postings_mut().publish(&config, key, values.clone()) {
                    let e = QueryError::StoreFull;
                    return self.immediate(now, QueryResult::PutPostings(Err(e)));
                }
                self.put_postings(now, key, values, false)
            }
            Command::GetPostings(key) => {
                let mut found = Vec::new();
                let (local, held_back) = self.held_postings(&key, now);
                let holders = usize::from(local.iter().any(|p| !p.values.is_empty()));
                let dropped = merge_postings(&mut found, local, self.config.max_postings_per_key);
                let more = held_back || dropped;
                if self.table.len() == 0 && !found.is_empty() {
                    let found = FoundPostings {
                        postings: found,
                        more,
                    };
                    return self.immediate(now, QueryResult::GetPostings(Ok(found)));
                }
                let kind = Kind::GetPostings {
                    found,
                    holders,
                    more,
                };
                self.start(now, key, kind, false)
            }
        }
    }
}
