//! A bounded map of recently seen message ids, used for duplicate suppression and reverse-path
//! routing.
//!
//! Two generations: inserts go to the current one; when it holds half the capacity it becomes
//! the previous one (dropping the older previous). Lookups see both, so an id is remembered for
//! at least `capacity / 2` later inserts and the map never holds more than `capacity` entries.

use std::collections::BTreeMap;

/// Bounded recently-seen map, see the module docs.
#[derive(Clone, Debug)]
pub(crate) struct RecentMap<K, V> {
    current: BTreeMap<K, V>,
    previous: BTreeMap<K, V>,
    half: usize,
}

impl<K: Ord, V> RecentMap<K, V> {
    /// A map holding at most `capacity` (at least 2) entries.
    pub(crate) fn new(capacity: usize) -> Self {
        RecentMap {
            current: BTreeMap::new(),
            previous: BTreeMap::new(),
            half: (capacity / 2).max(1),
        }
    }

    /// The value remembered for `key`, if it is still remembered.
    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.current.get(key).or_else(|| self.previous.get(key))
    }

    /// Whether `key` is remembered.
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// Remembers `key` (a key already present keeps its old value and age).
    pub(crate) fn insert(&mut self, key: K, value: V) {
        if self.contains(&key) {
            return;
        }
        if self.current.len() >= self.half {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, value);
    }

    /// Number of entries held.
    pub(crate) fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_remembers_recent() {
        let mut m = RecentMap::new(10);
        for i in 0..100u32 {
            m.insert(i, i * 2);
            assert!(m.len() <= 10);
            // The last five inserts are always remembered.
            for j in i.saturating_sub(4)..=i {
                assert_eq!(m.get(&j), Some(&(j * 2)));
            }
        }
        assert!(!m.contains(&0));
    }
}
