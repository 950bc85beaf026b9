//! Named deadlines.

use weft_core::time::Time;

/// An engine's named timers (`K` is usually a small enum: stabilize, refresh, …). A timer is
/// armed at a time or not armed at all; there is no "never" sentinel. The table is a short
/// list, scanned in full: engines name a handful of timers.
#[derive(Clone, Debug)]
pub struct Timers<K> {
    armed: Vec<(K, Time)>,
}

impl<K> Default for Timers<K> {
    fn default() -> Self {
        Timers { armed: Vec::new() }
    }
}

impl<K: Copy + Eq> Timers<K> {
    /// No timer armed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms `key` for `at`, replacing its earlier deadline.
    pub fn set(&mut self, key: K, at: Time) {
        match self.armed.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = at,
            None => self.armed.push((key, at)),
        }
    }

    /// Arms `key` for `at`, or disarms it when `at` is `None`.
    pub fn set_or_cancel(&mut self, key: K, at: Option<Time>) {
        match at {
            Some(at) => self.set(key, at),
            None => self.cancel(key),
        }
    }

    /// Arms `key` for `at` unless it is armed for earlier already.
    pub fn set_earlier(&mut self, key: K, at: Time) {
        if self.get(key).is_none_or(|t| at < t) {
            self.set(key, at);
        }
    }

    /// Disarms `key`.
    pub fn cancel(&mut self, key: K) {
        self.armed.retain(|(k, _)| *k != key);
    }

    /// When `key` fires, if armed.
    pub fn get(&self, key: K) -> Option<Time> {
        self.armed.iter().find(|(k, _)| *k == key).map(|(_, t)| *t)
    }

    /// True if `key` is armed and its time has come at `now`.
    pub fn is_due(&self, key: K, now: Time) -> bool {
        self.get(key).is_some_and(|t| now >= t)
    }

    /// If `key` is due at `now`, disarms it and returns true: the caller does its work and
    /// arms it again if it repeats.
    pub fn fire(&mut self, key: K, now: Time) -> bool {
        let due = self.is_due(key, now);
        if due {
            self.cancel(key);
        }
        due
    }

    /// The earliest deadline armed.
    pub fn next(&self) -> Option<Time> {
        self.armed.iter().map(|(_, t)| *t).min()
    }

    /// Disarms every timer.
    pub fn clear(&mut self) {
        self.armed.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum T {
        A,
        B,
    }

    #[test]
    fn armed_fired_cancelled() {
        let t0 = Time::ZERO;
        let mut t = Timers::new();
        assert_eq!(t.next(), None);
        t.set(T::A, t0 + Duration::from_secs(5));
        t.set(T::B, t0 + Duration::from_secs(3));
        assert_eq!(t.next(), Some(t0 + Duration::from_secs(3)));
        assert!(!t.fire(T::A, t0 + Duration::from_secs(4)));
        assert!(t.fire(T::B, t0 + Duration::from_secs(4)));
        assert!(!t.fire(T::B, t0 + Duration::from_secs(4)), "fired once");
        t.set(T::A, t0 + Duration::from_secs(1));
        assert_eq!(t.get(T::A), Some(t0 + Duration::from_secs(1)), "replaced");
        t.set_earlier(T::A, t0 + Duration::from_secs(2));
        assert_eq!(
            t.get(T::A),
            Some(t0 + Duration::from_secs(1)),
            "earlier kept"
        );
        t.set_or_cancel(T::A, None);
        assert_eq!(t.next(), None);
        t.set(T::B, t0);
        t.clear();
        assert!(!t.is_due(T::B, t0));
    }
}
