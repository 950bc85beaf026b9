//! Maintenance: record expiry, bucket refresh, republishing and the provider records this node holds itself.

use super::*;

impl<K: KadKey, A: Copy + Ord + std::fmt::Debug> Kademlia<K, A> {
    pub(super) fn maintain(&mut self, now: Time) {
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
    pub(super) fn pump_republish(&mut self, now: Time) {
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
    pub(super) fn put_postings(
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

    pub(super) fn add_local_provider(&mut self, now: Time, key: K) -> bool {
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
}
