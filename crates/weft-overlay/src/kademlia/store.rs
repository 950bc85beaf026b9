//! Records and provider records held by one node, with expiry and bounds.

use std::collections::BTreeMap;

use weft_core::time::Time;

use super::key::KadKey;
use super::message::Contact;

/// Whether this node published a record itself (it republishes those) or stores it for
/// someone else (it lets those expire).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    Local,
    Remote,
}

#[derive(Clone, Debug)]
pub(crate) struct StoredRecord {
    pub(crate) value: Box<[u8]>,
    pub(crate) expires: Time,
    pub(crate) origin: Origin,
}

#[derive(Clone, Debug)]
pub(crate) struct Provider<K, A> {
    pub(crate) contact: Contact<K, A>,
    pub(crate) expires: Time,
}

/// Record and provider storage. Empty maps allocate nothing, so idle simulated nodes cost
/// only the map headers.
#[derive(Clone, Debug)]
pub(crate) struct Store<K, A> {
    records: BTreeMap<K, StoredRecord>,
    providers: BTreeMap<K, Vec<Provider<K, A>>>,
    /// Keys this node provides itself (republished).
    provided: Vec<K>,
}

impl<K: KadKey, A: Copy + Ord> Store<K, A> {
    pub(crate) fn new() -> Self {
        Store {
            records: BTreeMap::new(),
            providers: BTreeMap::new(),
            provided: Vec::new(),
        }
    }

    /// Stores a record; false if the store is full. Replacing an existing key always works,
    /// except that a remote copy never replaces a record this node published (it only
    /// extends its life).
    pub(crate) fn put(&mut self, key: K, rec: StoredRecord, max_records: usize) -> bool {
        if !self.records.contains_key(&key) && self.records.len() >= max_records {
            return false;
        }
        if let Some(old) = self.records.get(&key)
            && old.origin == Origin::Local
            && rec.origin == Origin::Remote
        {
            // keep our own copy (and its republishing), only extend its life
            let expires = old.expires.max(rec.expires);
            if let Some(r) = self.records.get_mut(&key) {
                r.expires = expires;
            }
            return true;
        }
        self.records.insert(key, rec);
        true
    }

    pub(crate) fn get(&self, key: &K, now: Time) -> Option<&StoredRecord> {
        self.records.get(key).filter(|r| r.expires > now)
    }

    pub(crate) fn add_provider(
        &mut self,
        key: K,
        p: Provider<K, A>,
        max_keys: usize,
        max_per_key: usize,
    ) -> bool {
        if !self.providers.contains_key(&key) && self.providers.len() >= max_keys {
            return false;
        }
        let list = self.providers.entry(key).or_default();
        if let Some(old) = list.iter_mut().find(|o| o.contact.key == p.contact.key) {
            *old = p;
            return true;
        }
        if list.len() >= max_per_key {
            // replace the provider closest to expiry
            if let Some(oldest) = list.iter_mut().min_by_key(|o| o.expires) {
                *oldest = p;
            }
            return true;
        }
        list.push(p);
        true
    }

    pub(crate) fn providers(&self, key: &K, now: Time, max: usize) -> Vec<Contact<K, A>> {
        self.providers
            .get(key)
            .map(|l| {
                l.iter()
                    .filter(|p| p.expires > now)
                    .take(max)
                    .map(|p| p.contact)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(crate) fn note_provided(&mut self, key: K, max: usize) -> bool {
        if self.provided.contains(&key) {
            return true;
        }
        if self.provided.len() >= max {
            return false;
        }
        self.provided.push(key);
        true
    }

    pub(crate) fn provided(&self) -> &[K] {
        &self.provided
    }

    /// Stops providing `key`: it is no longer republished, and `local` leaves its local
    /// provider list (other providers of the key stay).
    pub(crate) fn forget_provided(&mut self, key: &K, local: &K) {
        self.provided.retain(|k| k != key);
        if let Some(list) = self.providers.get_mut(key) {
            list.retain(|p| p.contact.key != *local);
            if list.is_empty() {
                self.providers.remove(key);
            }
        }
    }

    /// Keys of records this node published itself and that are still valid.
    pub(crate) fn local_records(&self, now: Time) -> Vec<(K, Box<[u8]>, Time)> {
        self.records
            .iter()
            .filter(|(_, r)| r.origin == Origin::Local && r.expires > now)
            .map(|(k, r)| (*k, r.value.clone(), r.expires))
            .collect()
    }

    /// True if this node published any record it still holds.
    pub(crate) fn has_local_records(&self) -> bool {
        self.records.values().any(|r| r.origin == Origin::Local)
    }

    /// Drops everything expired at `now`.
    pub(crate) fn expire(&mut self, now: Time) {
        self.records.retain(|_, r| r.expires > now);
        self.providers.retain(|_, l| {
            l.retain(|p| p.expires > now);
            !l.is_empty()
        });
    }

    pub(crate) fn record_count(&self) -> usize {
        self.records.len()
    }

    pub(crate) fn provider_count(&self) -> usize {
        self.providers.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_expiry() {
        let mut s: Store<u64, u32> = Store::new();
        let rec = |t: u64, origin| StoredRecord {
            value: vec![1].into(),
            expires: Time::from_millis(t),
            origin,
        };
        assert!(s.put(1, rec(10, Origin::Remote), 1));
        assert!(!s.put(2, rec(10, Origin::Remote), 1), "store full");
        assert!(s.put(1, rec(20, Origin::Local), 1), "same key replaces");
        assert!(s.put(1, rec(30, Origin::Remote), 1));
        assert_eq!(s.local_records(Time::ZERO).len(), 1, "local copy kept");
        assert!(s.get(&1, Time::from_millis(25)).is_some());
        s.expire(Time::from_millis(30));
        assert_eq!(s.record_count(), 0);
        let p = |key, t| Provider {
            contact: Contact {
                key,
                addr: key as u32,
            },
            expires: Time::from_millis(t),
        };
        assert!(s.add_provider(5, p(1, 10), 1, 2));
        assert!(s.add_provider(5, p(2, 20), 1, 2));
        assert!(s.add_provider(5, p(3, 30), 1, 2));
        assert!(!s.add_provider(6, p(3, 30), 1, 2));
        assert_eq!(s.provider_count(), 2);
        let keys: Vec<u64> = s
            .providers(&5, Time::ZERO, 10)
            .iter()
            .map(|c| c.key)
            .collect();
        assert_eq!(keys, vec![3, 2]);
        s.expire(Time::from_millis(25));
        assert_eq!(s.providers(&5, Time::ZERO, 10).len(), 1);
    }
}
