//! The two bounded tables of a Freenet node: the LRU datastore (bounded by item count and by
//! bytes) and the LRU routing table (key position to node), whose lookup walks outward from
//! a key to the closest entries.

use std::collections::BTreeMap;

use weft_core::id::Key256;

/// Circular distance between two key positions.
pub(crate) fn distance(a: u64, b: u64) -> u64 {
    let d = a.wrapping_sub(b);
    d.min(d.wrapping_neg())
}

/// Datastore: data by key, least recently used evicted first.
#[derive(Clone, Debug)]
pub(crate) struct DataStore {
    items: BTreeMap<Key256, (u64, Vec<u8>)>,
    by_use: BTreeMap<u64, Key256>,
    clock: u64,
    bytes: u64,
    max_items: usize,
    max_bytes: u64,
}

impl DataStore {
    pub(crate) fn new(max_items: usize, max_bytes: u64) -> Self {
        DataStore {
            items: BTreeMap::new(),
            by_use: BTreeMap::new(),
            clock: 0,
            bytes: 0,
            max_items,
            max_bytes,
        }
    }

    /// The data of `key`, marking it as recently used.
    pub(crate) fn get(&mut self, key: &Key256) -> Option<&[u8]> {
        self.clock += 1;
        let (stamp, data) = self.items.get_mut(key)?;
        self.by_use.remove(stamp);
        *stamp = self.clock;
        self.by_use.insert(self.clock, *key);
        Some(data.as_slice())
    }

    /// Whether `key` is held (without touching it).
    pub(crate) fn contains(&self, key: &Key256) -> bool {
        self.items.contains_key(key)
    }

    /// Stores `data` under `key` as most recently used, evicting the least recently used
    /// items until both bounds hold. Data larger than the byte bound is not stored.
    pub(crate) fn put(&mut self, key: Key256, data: Vec<u8>) {
        if data.len() as u64 > self.max_bytes || self.max_items == 0 {
            return;
        }
        self.remove(&key);
        self.clock += 1;
        self.bytes += data.len() as u64;
        self.items.insert(key, (self.clock, data));
        self.by_use.insert(self.clock, key);
        while self.items.len() > self.max_items || self.bytes > self.max_bytes {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            if let Some((_, d)) = self.items.remove(&oldest) {
                self.bytes -= d.len() as u64;
            }
        }
    }

    fn remove(&mut self, key: &Key256) {
        if let Some((stamp, d)) = self.items.remove(key) {
            self.by_use.remove(&stamp);
            self.bytes -= d.len() as u64;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Routing table: key position to the node that supplied it, least recently used evicted.
#[derive(Clone, Debug)]
pub(crate) struct RouteTable<A> {
    entries: BTreeMap<u64, (u64, A)>,
    by_use: BTreeMap<u64, u64>,
    clock: u64,
    max: usize,
}

impl<A: Copy + Ord> RouteTable<A> {
    pub(crate) fn new(max: usize) -> Self {
        RouteTable {
            entries: BTreeMap::new(),
            by_use: BTreeMap::new(),
            clock: 0,
            max,
        }
    }

    /// Learns (or refreshes) `position -> node`, evicting the least recently used entry.
    pub(crate) fn learn(&mut self, position: u64, node: A) {
        if self.max == 0 {
            return;
        }
        self.clock += 1;
        if let Some((stamp, _)) = self.entries.insert(position, (self.clock, node)) {
            self.by_use.remove(&stamp);
        }
        self.by_use.insert(self.clock, position);
        while self.entries.len() > self.max {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    /// Forgets every entry pointing at `node`.
    pub(crate) fn forget(&mut self, node: A) {
        let stale: Vec<(u64, u64)> = self
            .entries
            .iter()
            .filter(|(_, (_, n))| *n == node)
            .map(|(p, (s, _))| (*p, *s))
            .collect();
        for (p, s) in stale {
            self.entries.remove(&p);
            self.by_use.remove(&s);
        }
    }

    /// The node of the entry closest to `target` for which `usable` holds; ties go to the
    /// smaller position. Walks outward from `target` in both directions around the circle.
    pub(crate) fn closest(&self, target: u64, mut usable: impl FnMut(A) -> bool) -> Option<A> {
        let mut up = self
            .entries
            .range(target..)
            .chain(self.entries.range(..target))
            .peekable();
        let mut down = self
            .entries
            .range(..target)
            .rev()
            .chain(self.entries.range(target..).rev())
            .peekable();
        for _ in 0..self.entries.len() {
            let take_up = match (up.peek(), down.peek()) {
                (Some((pu, _)), Some((pd, _))) => {
                    let (du, dd) = (distance(**pu, target), distance(**pd, target));
                    du < dd || (du == dd && **pu <= **pd)
                }
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => return None,
            };
            let next = if take_up { up.next() } else { down.next() };
            if let Some((_, (_, node))) = next
                && usable(*node)
            {
                return Some(*node);
            }
        }
        None
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_evicts_least_recently_used_within_both_bounds() {
        let mut s = DataStore::new(3, 10);
        let k = |i: u8| Key256([i; 32]);
        s.put(k(1), vec![0; 2]);
        s.put(k(2), vec![0; 2]);
        s.put(k(3), vec![0; 2]);
        assert!(s.get(&k(1)).is_some());
        s.put(k(4), vec![0; 2]);
        assert!(!s.contains(&k(2)), "2 was least recently used");
        s.put(k(5), vec![0; 6]);
        assert!(s.bytes() <= 10 && s.len() <= 3);
        s.put(k(6), vec![0; 11]);
        assert!(!s.contains(&k(6)), "larger than the byte bound");
    }

    #[test]
    fn closest_walks_around_the_circle() {
        let mut t = RouteTable::new(10);
        t.learn(10, 'a');
        t.learn(100, 'b');
        t.learn(u64::MAX - 5, 'c');
        assert_eq!(t.closest(0, |_| true), Some('c'));
        assert_eq!(t.closest(0, |n| n != 'c'), Some('a'));
        assert_eq!(t.closest(60, |_| true), Some('b'));
        assert_eq!(t.closest(60, |n| n == 'x'), None);
        t.forget('c');
        assert_eq!(t.closest(0, |_| true), Some('a'));
        for i in 0..20 {
            t.learn(1000 + i, 'z');
        }
        assert_eq!(t.len(), 10);
    }
}
