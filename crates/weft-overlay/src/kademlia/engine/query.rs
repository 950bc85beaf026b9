//! The query lifecycle: starting a lookup, driving it with the replies, finishing it with one event.

use super::*;

impl<K: KadKey, A: Copy + Ord + std::fmt::Debug> Kademlia<K, A> {
    pub(super) fn on_reply(
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

    pub(super) fn on_ack(&mut self, now: Time, from: A, req: u64, stored: bool) {
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

    pub(super) fn start(
        &mut self,
        now: Time,
        target: K,
        kind: Kind<K, A>,
        internal: bool,
    ) -> QueryId {
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

    pub(super) fn emit(&mut self, mut q: Query<K, A>, now: Time, result: QueryResult<K, A>) {
        if !q.internal {
            q.stats.finished = now;
            self.events.push(Event::QueryFinished {
                id: q.id,
                result,
                stats: q.stats,
            });
        }
    }

    pub(super) fn finish(&mut self, now: Time, qi: usize, result: QueryResult<K, A>) {
        let q = self.queries.remove(qi);
        self.emit(q, now, result);
    }

    pub(super) fn drive_all(&mut self, now: Time) {
        let ids: Vec<QueryId> = self.queries.iter().map(|q| q.id).collect();
        for id in ids {
            if let Some(qi) = self.queries.iter().position(|q| q.id == id) {
                self.drive(now, qi);
            }
        }
    }

    /// Lets query `qi` send what it may; finishes it when its lookup is over.
    pub(super) fn drive(&mut self, now: Time, qi: usize) {
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

    pub(super) fn lookup_done(&mut self, now: Time, qi: usize) {
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

    pub(super) fn immediate(&mut self, now: Time, result: QueryResult<K, A>) -> QueryId {
        let id = self.query_ids.take();
        let stats = QueryStats {
            started: now,
            finished: now,
            ..QueryStats::default()
        };
        self.events.push(Event::QueryFinished { id, result, stats });
        id
    }

    /// Every Kademlia command is a query: each ends in one [`Event::QueryFinished`].
    pub(super) fn query(&mut self, now: Time, cmd: Command<K>) -> QueryId {
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

/// The outcome of a store phase that ended with `acks` acknowledgements.
pub(super) fn stored_result<K, A>(kind: &Kind<K, A>, acks: usize) -> QueryResult<K, A> {
    if acks == 0 {
        return failure(kind, QueryError::NotStored);
    }
    match kind {
        Kind::PutPostings { .. } => QueryResult::PutPostings(Ok(acks)),
        _ => QueryResult::PutRecord(Ok(acks)),
    }
}

pub(super) fn failure<K, A>(kind: &Kind<K, A>, e: QueryError) -> QueryResult<K, A> {
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
