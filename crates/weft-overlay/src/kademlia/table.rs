//! The k-bucket routing table, stored compactly for simulations of a million nodes.
//!
//! All contacts live in two parallel vectors (keys, addresses) ordered by bucket index;
//! within a bucket the least recently seen contact comes first. Bucket `i` holds the
//! contacts whose distance from the local id has exactly `i` leading zero bits, so bucket 0
//! covers the far half of the keyspace and high buckets the near neighbourhood.

use super::key::KadKey;

/// What happened when a contact was seen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seen<K, A> {
    /// The contact was known; it moved to the most-recently-seen end of its bucket.
    Refreshed,
    /// The contact was inserted.
    Inserted,
    /// The bucket is full; its least recently seen contact is returned so that the caller
    /// can ping it and evict it if it does not answer.
    BucketFull {
        /// The least recently seen contact of the full bucket.
        lru: (K, A),
    },
    /// The contact is the local node.
    IsSelf,
}

/// k-buckets of one node.
#[derive(Clone, Debug)]
pub(crate) struct Table<K, A> {
    me: K,
    k: u16,
    keys: Vec<K>,
    addrs: Vec<A>,
}

impl<K: KadKey, A: Copy + Ord> Table<K, A> {
    pub(crate) fn new(me: K, k: usize) -> Self {
        Table {
            me,
            k: u16::try_from(k).unwrap_or(u16::MAX),
            keys: Vec::new(),
            addrs: Vec::new(),
        }
    }

    /// A table built from contacts, which are sorted into buckets and truncated to `k` per
    /// bucket; vectors get exactly the capacity they need.
    pub(crate) fn from_contacts(me: K, k: usize, mut contacts: Vec<(K, A)>) -> Self {
        contacts.retain(|(key, _)| *key != me);
        contacts.sort_by_key(|(key, _)| me.distance(key).leading_zeros());
        contacts.dedup_by_key(|(key, _)| *key);
        let mut t = Table::new(me, k);
        let mut keys = Vec::with_capacity(contacts.len());
        let mut addrs = Vec::with_capacity(contacts.len());
        let mut run = (u32::MAX, 0usize);
        for (key, addr) in contacts {
            let b = t.bucket_of(&key);
            if b != run.0 {
                run = (b, 0);
            }
            if run.1 < k {
                keys.push(key);
                addrs.push(addr);
                run.1 += 1;
            }
        }
        keys.shrink_to_fit();
        addrs.shrink_to_fit();
        t.keys = keys;
        t.addrs = addrs;
        t
    }

    pub(crate) fn bucket_of(&self, key: &K) -> u32 {
        self.me.distance(key).leading_zeros()
    }

    fn bucket_range(&self, bucket: u32) -> std::ops::Range<usize> {
        let start = self.keys.partition_point(|k| self.bucket_of(k) < bucket);
        let end = self.keys.partition_point(|k| self.bucket_of(k) <= bucket);
        start..end
    }

    /// Number of contacts held.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Bytes held on the heap.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.keys.capacity() * size_of::<K>() + self.addrs.capacity() * size_of::<A>()
    }

    /// All contacts, bucket by bucket.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, A)> + '_ {
        self.keys.iter().copied().zip(self.addrs.iter().copied())
    }

    /// Index range of populated buckets: `(lowest, highest)`, `None` when empty.
    pub(crate) fn populated(&self) -> Option<(u32, u32)> {
        let first = self.keys.first()?;
        let last = self.keys.last()?;
        Some((self.bucket_of(first), self.bucket_of(last)))
    }

    /// Records that `key` was heard from at `addr`.
    pub(crate) fn seen(&mut self, key: K, addr: A) -> Seen<K, A> {
        if key == self.me {
            return Seen::IsSelf;
        }
        let bucket = self.bucket_of(&key);
        let range = self.bucket_range(bucket);
        if let Some(pos) = self.keys[range.clone()].iter().position(|k| *k == key) {
            let at = range.start + pos;
            self.keys[at..range.end].rotate_left(1);
            self.addrs[at..range.end].rotate_left(1);
            self.addrs[range.end - 1] = addr;
            return Seen::Refreshed;
        }
        if range.len() >= usize::from(self.k) {
            return Seen::BucketFull {
                lru: (self.keys[range.start], self.addrs[range.start]),
            };
        }
        self.keys.insert(range.end, key);
        self.addrs.insert(range.end, addr);
        Seen::Inserted
    }

    /// Removes the contact with `key`; true if it was there.
    pub(crate) fn remove_key(&mut self, key: &K) -> bool {
        let bucket = self.bucket_of(key);
        let range = self.bucket_range(bucket);
        match self.keys[range.clone()].iter().position(|k| k == key) {
            Some(pos) => {
                self.keys.remove(range.start + pos);
                self.addrs.remove(range.start + pos);
                true
            }
            None => false,
        }
    }

    /// Removes every contact reached at `addr`; returns how many.
    pub(crate) fn remove_addr(&mut self, addr: &A) -> usize {
        let before = self.keys.len();
        let mut i = 0;
        while i < self.keys.len() {
            if self.addrs[i] == *addr {
                self.keys.remove(i);
                self.addrs.remove(i);
            } else {
                i += 1;
            }
        }
        before - self.keys.len()
    }

    /// True if `key` is in the table.
    pub(crate) fn contains(&self, key: &K) -> bool {
        let range = self.bucket_range(self.bucket_of(key));
        self.keys[range].contains(key)
    }

    /// The `n` contacts closest to `target`, closest first.
    pub(crate) fn closest(&self, target: &K, n: usize) -> Vec<(K, A)> {
        let mut all: Vec<(K, usize)> = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.distance(target), i))
            .collect();
        if all.len() > n && n > 0 {
            all.select_nth_unstable(n - 1);
            all.truncate(n);
        } else if n == 0 {
            all.clear();
        }
        all.sort_unstable();
        all.into_iter()
            .map(|(_, i)| (self.keys[i], self.addrs[i]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_at_most_k_and_stay_sorted() {
        let mut t: Table<u64, u32> = Table::new(0, 2);
        assert_eq!(t.seen(1 << 63, 1), Seen::Inserted);
        assert_eq!(t.seen((1 << 63) | 5, 2), Seen::Inserted);
        assert_eq!(
            t.seen((1 << 63) | 9, 3),
            Seen::BucketFull { lru: (1 << 63, 1) }
        );
        assert_eq!(t.seen(1, 4), Seen::Inserted);
        assert_eq!(t.seen(1 << 63, 1), Seen::Refreshed);
        assert_eq!(
            t.seen((1 << 63) | 9, 3),
            Seen::BucketFull {
                lru: ((1 << 63) | 5, 2)
            }
        );
        assert_eq!(t.seen(0, 9), Seen::IsSelf);
        let buckets: Vec<u32> = t.iter().map(|(k, _)| t.bucket_of(&k)).collect();
        assert_eq!(buckets, vec![0, 0, 63]);
        assert_eq!(t.closest(&3, 2), vec![(1, 4), (1 << 63, 1)]);
        assert!(t.remove_key(&1));
        assert_eq!(t.remove_addr(&2), 1);
        assert_eq!(t.len(), 1);
        assert_eq!(t.iter().next(), Some((1 << 63, 1)));
    }

    #[test]
    fn from_contacts_truncates_buckets() {
        let contacts: Vec<(u64, u32)> = (1..100u64).map(|i| (i << 56, i as u32)).collect();
        let t = Table::from_contacts(0, 3, contacts);
        // bucket 0 holds ids >= 2^63: none of i < 128 shifted by 56 reach it except 0x80..
        for (k, _) in t.iter() {
            assert_ne!(k, 0);
        }
        let mut counts = std::collections::BTreeMap::new();
        for (k, _) in t.iter() {
            *counts.entry(t.bucket_of(&k)).or_insert(0) += 1;
        }
        assert!(counts.values().all(|c| *c <= 3));
        assert_eq!(t.len(), t.keys.capacity());
    }
}
