//! Postings held by one node: key → a bounded multiset of small values, each tagged by the
//! node that stored it (its publisher) and an id the publisher chose; and the sets this node
//! publishes itself, republished before they expire.
//!
//! Bounds, all enforced on receipt:
//!
//! - a publisher holds one set per key, replaced whole by each `StorePostings` (an empty set
//!   withdraws it), of at most `max_postings_per_publisher` values;
//! - a key holds at most `max_postings_per_key` values: a new value evicts the oldest value
//!   of the publisher holding the most there, unless that is its own publisher (then the
//!   value is refused), so a publisher can never crowd out one that holds fewer;
//! - the store holds at most `max_postings` values in all (further values are refused);
//! - this node publishes at most `max_published_posting_keys` keys and
//!   `max_published_postings` values.
//!
//! A key under which any value was refused or evicted by these bounds is marked cut: its
//! replies say `more`, so that a searcher learns that the index holds less than was posted.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use weft_core::time::Time;

use super::Config;
use super::key::KadKey;
use super::message::{
    Contact, MAX_POSTINGS_PER_REPLY, MAX_POSTINGS_PER_STORE, PostingValue, PublisherPostings,
};

/// One value held under a key.
#[derive(Clone, Debug)]
struct Entry<K, A> {
    publisher: Contact<K, A>,
    id: u32,
    value: Box<[u8]>,
    /// When this value (with this id and these bytes) was first stored: its age.
    since: Time,
    expires: Time,
}

/// Posting storage of one engine. Created on first use.
#[derive(Clone, Debug)]
pub(crate) struct PostingStore<K, A> {
    held: BTreeMap<K, Vec<Entry<K, A>>>,
    total: usize,
    /// Held keys under which a value was refused or evicted for lack of room (a subset of
    /// `held`'s keys).
    cut: BTreeSet<K>,
    /// Sets this node publishes, by key (republished).
    local: BTreeMap<K, Vec<PostingValue>>,
    local_total: usize,
    /// Published keys waiting for a query slot to be republished.
    pub(crate) republish: VecDeque<K>,
}

/// The publisher with the most values among `entries`, with its count (ties: the smallest
/// publisher key, so that the choice is deterministic).
fn heaviest<K: KadKey, A>(entries: &[Entry<K, A>]) -> Option<(K, usize)> {
    let mut counts: BTreeMap<K, usize> = BTreeMap::new();
    for e in entries {
        *counts.entry(e.publisher.key).or_insert(0) += 1;
    }
    let mut best: Option<(K, usize)> = None;
    for (k, n) in counts {
        if best.is_none_or(|(_, b)| n > b) {
            best = Some((k, n));
        }
    }
    best
}

impl<K: KadKey, A: Copy + Ord> PostingStore<K, A> {
    pub(crate) fn new() -> Self {
        PostingStore {
            held: BTreeMap::new(),
            total: 0,
            cut: BTreeSet::new(),
            local: BTreeMap::new(),
            local_total: 0,
            republish: VecDeque::new(),
        }
    }

    /// Replaces `publisher`'s set under `key` by `values` (deduplicated by id, the last
    /// wins; at most the per-publisher bound), valid until `expires`. Returns how many values
    /// are held for it afterwards.
    pub(crate) fn store(
        &mut self,
        config: &Config,
        key: K,
        publisher: Contact<K, A>,
        values: &[PostingValue],
        now: Time,
        expires: Time,
    ) -> usize {
        let per_publisher = config
            .max_postings_per_publisher
            .min(MAX_POSTINGS_PER_STORE);
        let mut wanted: Vec<&PostingValue> = Vec::with_capacity(values.len().min(per_publisher));
        for v in values.iter().rev() {
            if !wanted.iter().any(|w| w.id == v.id) {
                wanted.push(v);
            }
        }
        wanted.reverse();
        let mut cut = wanted.len() > per_publisher;
        wanted.truncate(per_publisher);
        let offered = wanted.len();

        let list = self.held.entry(key).or_default();
        // the publisher's previous set goes; a value sent again keeps its age
        let mut old: Vec<Entry<K, A>> = Vec::new();
        list.retain(|e| {
            if e.publisher.key == publisher.key {
                old.push(e.clone());
                false
            } else {
                true
            }
        });
        self.total -= old.len();
        let mut stored = 0usize;
        for v in wanted {
            if self.total >= config.max_postings {
                break;
            }
            if list.len() >= config.max_postings_per_key.max(1) {
                cut = true;
                let Some((victim, n)) = heaviest(list) else {
                    break;
                };
                if victim == publisher.key || n <= stored + 1 {
                    break;
                }
                let Some(oldest) = list
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.publisher.key == victim)
                    .min_by_key(|(_, e)| (e.since, e.id))
                    .map(|(i, _)| i)
                else {
                    break;
                };
                list.remove(oldest);
                self.total -= 1;
            }
            let since = old
                .iter()
                .find(|o| o.id == v.id && *o.value == *v.value)
                .map_or(now, |o| o.since);
            list.push(Entry {
                publisher,
                id: v.id,
                value: v.value.clone().into_boxed_slice(),
                since,
                expires,
            });
            self.total += 1;
            stored += 1;
        }
        cut |= stored < offered;
        if list.is_empty() {
            self.held.remove(&key);
            self.cut.remove(&key);
        } else if cut {
            self.cut.insert(key);
        }
        stored
    }

    /// The valid postings under `key`, grouped by publisher, at most `max` values; and
    /// whether more valid ones are held.
    pub(crate) fn get(
        &self,
        key: &K,
        now: Time,
        max: usize,
    ) -> (Vec<PublisherPostings<K, A>>, bool) {
        let mut out: Vec<PublisherPostings<K, A>> = Vec::new();
        let Some(list) = self.held.get(key) else {
            return (out, false);
        };
        let max = max.min(MAX_POSTINGS_PER_REPLY);
        let mut valid = list.iter().filter(|e| e.expires > now);
        for e in valid.by_ref().take(max) {
            let value = PostingValue {
                id: e.id,
                value: e.value.to_vec(),
            };
            match out.iter_mut().find(|p| p.publisher.key == e.publisher.key) {
                Some(p) => p.values.push(value),
                None => out.push(PublisherPostings {
                    publisher: e.publisher,
                    values: vec![value],
                }),
            }
        }
        let more = valid.next().is_some() || self.cut.contains(key);
        (out, more)
    }

    /// Drops every value expired at `now`.
    pub(crate) fn expire(&mut self, now: Time) {
        let mut total = 0;
        let cut = &mut self.cut;
        self.held.retain(|k, l| {
            l.retain(|e| e.expires > now);
            total += l.len();
            if l.is_empty() {
                cut.remove(k);
            }
            !l.is_empty()
        });
        self.total = total;
    }

    /// Values held in all (for this node and others).
    pub(crate) fn len(&self) -> usize {
        self.total
    }

    /// Keys with values held.
    pub(crate) fn key_count(&self) -> usize {
        self.held.len()
    }

    /// Records `values` as this node's set under `key` (an empty set forgets the key).
    /// False if the bounds on what this node publishes would be exceeded.
    pub(crate) fn publish(&mut self, config: &Config, key: K, values: Vec<PostingValue>) -> bool {
        let before = self.local.get(&key).map_or(0, Vec::len);
        if values.is_empty() {
            self.local.remove(&key);
            self.local_total -= before;
            return true;
        }
        let is_new = before == 0;
        if (is_new && self.local.len() >= config.max_published_posting_keys)
            || self.local_total - before + values.len() > config.max_published_postings
        {
            return false;
        }
        self.local_total = self.local_total - before + values.len();
        self.local.insert(key, values);
        true
    }

    /// This node's set under `key`, if it publishes one.
    pub(crate) fn published(&self, key: &K) -> Option<&Vec<PostingValue>> {
        self.local.get(key)
    }

    /// True if this node publishes anything.
    pub(crate) fn publishes(&self) -> bool {
        !self.local.is_empty()
    }

    /// Queues every published key for republishing (those not queued yet).
    pub(crate) fn queue_republish(&mut self) {
        let queued: std::collections::BTreeSet<K> = self.republish.iter().copied().collect();
        let keys: Vec<K> = self
            .local
            .keys()
            .filter(|k| !queued.contains(k))
            .copied()
            .collect();
        self.republish.extend(keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(id: u32, len: usize) -> PostingValue {
        PostingValue {
            id,
            value: vec![id as u8; len],
        }
    }

    fn c(key: u64) -> Contact<u64, u32> {
        Contact {
            key,
            addr: key as u32,
        }
    }

    fn config() -> Config {
        Config {
            max_postings_per_key: 8,
            max_postings_per_publisher: 4,
            max_postings: 12,
            ..Config::default()
        }
    }

    #[test]
    fn replace_withdraw_and_expire() {
        let cfg = config();
        let mut s: PostingStore<u64, u32> = PostingStore::new();
        let t = |ms| Time::from_millis(ms);
        assert_eq!(
            s.store(&cfg, 1, c(10), &[v(1, 3), v(2, 3)], t(0), t(100)),
            2
        );
        assert_eq!(s.store(&cfg, 1, c(11), &[v(1, 3)], t(0), t(50)), 1);
        assert_eq!(s.len(), 3);
        // a new set replaces the old one; duplicate ids keep the last
        let dup = [v(5, 1), v(5, 2), v(6, 1)];
        assert_eq!(s.store(&cfg, 1, c(10), &dup, t(1), t(100)), 2);
        let (got, more) = s.get(&1, t(0), 100);
        assert_eq!(got.len(), 2);
        assert!(!more);
        // asked for fewer than are held: the rest is said to exist
        let (cut, more) = s.get(&1, t(0), 2);
        assert_eq!(cut.iter().map(|g| g.values.len()).sum::<usize>(), 2);
        assert!(more, "a third posting is held");
        let mine = got.iter().find(|g| g.publisher.key == 10).unwrap();
        assert_eq!(mine.values[0].value, vec![5, 5], "the last duplicate wins");
        assert_eq!(s.len(), 3);
        // per-publisher bound: the key is marked cut, its replies say more
        let many: Vec<PostingValue> = (0..10).map(|i| v(i, 1)).collect();
        assert_eq!(s.store(&cfg, 2, c(10), &many, t(0), t(100)), 4);
        assert!(s.get(&2, t(0), 100).1, "six values were refused");
        assert!(!s.get(&1, t(0), 100).1);
        // withdraw
        assert_eq!(s.store(&cfg, 2, c(10), &[], t(0), t(100)), 0);
        assert_eq!(s.key_count(), 1);
        s.expire(t(50));
        assert_eq!(s.get(&1, t(0), 100).0.len(), 1, "publisher 11 expired");
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn full_key_evicts_the_heaviest_publisher_never_a_lighter_one() {
        let cfg = config();
        let mut s: PostingStore<u64, u32> = PostingStore::new();
        let t = Time::from_millis;
        // two hostile publishers fill the key
        let four: Vec<PostingValue> = (0..4).map(|i| v(i, 1)).collect();
        assert_eq!(s.store(&cfg, 1, c(66), &four, t(0), t(1000)), 4);
        assert_eq!(s.store(&cfg, 1, c(67), &four, t(1), t(1000)), 4);
        assert!(!s.get(&1, t(0), 100).1, "full, nothing lost yet");
        // an honest publisher still gets in, at the heaviest one's expense
        assert_eq!(s.store(&cfg, 1, c(5), &[v(9, 1)], t(2), t(1000)), 1);
        assert!(
            s.get(&1, t(0), 100).1,
            "a value was evicted: replies say more"
        );
        let count = |s: &PostingStore<u64, u32>, p| {
            s.get(&1, t(0), 100)
                .0
                .iter()
                .filter(|g| g.publisher.key == p)
                .map(|g| g.values.len())
                .sum::<usize>()
        };
        assert_eq!(count(&s, 5), 1);
        assert_eq!(count(&s, 66), 3, "the oldest of the heaviest went");
        // hostile re-stores cannot push the honest value out
        for round in 0..10 {
            assert!(s.store(&cfg, 1, c(66), &four, t(10 + round), t(1000)) <= 4);
            s.store(&cfg, 1, c(67), &four, t(10 + round), t(1000));
            assert_eq!(count(&s, 5), 1);
            assert!(
                s.get(&1, t(0), 100)
                    .0
                    .iter()
                    .map(|g| g.values.len())
                    .sum::<usize>()
                    <= 8
            );
        }
        // the global bound
        let total_before = s.len();
        assert!(total_before <= 12);
        let stored: usize = (100..110)
            .map(|k| s.store(&cfg, k, c(66), &four, t(0), t(1000)))
            .sum();
        assert_eq!(s.len(), 12);
        assert_eq!(stored, 12 - total_before);
    }

    #[test]
    fn published_bounds() {
        let cfg = Config {
            max_published_posting_keys: 2,
            max_published_postings: 3,
            ..Config::default()
        };
        let mut s: PostingStore<u64, u32> = PostingStore::new();
        assert!(s.publish(&cfg, 1, vec![v(1, 1)]));
        assert!(s.publish(&cfg, 2, vec![v(1, 1), v(2, 1)]));
        assert!(!s.publish(&cfg, 3, vec![v(1, 1)]), "too many keys");
        assert!(
            !s.publish(&cfg, 1, vec![v(1, 1), v(2, 1)]),
            "too many values"
        );
        assert!(s.publish(&cfg, 2, vec![v(1, 1)]));
        assert!(s.publish(&cfg, 1, vec![v(1, 1), v(2, 1)]));
        s.queue_republish();
        s.queue_republish();
        assert_eq!(s.republish.len(), 2);
        assert!(s.publish(&cfg, 1, Vec::new()));
        assert!(s.published(&1).is_none());
        assert!(s.publishes());
    }
}
