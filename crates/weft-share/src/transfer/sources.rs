//! The downloader's source policy, sans-IO: which sources are being reached, which broke and
//! rest, which delivered, and when a download with no source left has waited long enough.
//!
//! It runs on protocol [`Time`] like the [`super::Plan`], so it is tested in virtual time.
//! The rules:
//!
//! - A source found but not reached yet is *pending*: its session is dialing, and it joins the
//!   plan only once its stream opens. A stale provider would otherwise hold pieces, and
//!   request slots, until its dial timed out.
//! - One broken stream is often one connection of several closing; the next request opens a
//!   new one at once. A source whose streams break [`SourcePolicy::BROKEN_TO_PAUSE`] times in a
//!   row is set aside for [`SourcePolicy::COOLDOWN`], then tried again when discovery finds
//!   it. A verified piece resets the count.
//! - A download with no source and nothing in flight fails once that has lasted `stall`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use weft_core::time::Time;

/// What a broken stream means for its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Broken {
    /// Ask it again at once (a new stream); this many breaks in a row so far.
    Retry(u32),
    /// It broke too often: out of the plan until `until`.
    Rest {
        /// When it may be tried again.
        until: Time,
    },
}

/// Whether a newly found source should be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// Start a session to it (it is pending until the stream opens); `after_rest` if it was
    /// resting and its rest is over.
    Reach {
        /// It had been set aside and is tried again.
        after_rest: bool,
    },
    /// It is reachable already: put it back into the plan if the plan dropped it.
    Rejoin,
    /// Leave it: resting, or already being reached.
    Skip,
}

/// The policy's state for one download.
#[derive(Clone, Debug)]
pub struct SourcePolicy<P> {
    pending: BTreeSet<P>,
    resting: BTreeMap<P, Time>,
    broken: BTreeMap<P, u32>,
    used: BTreeSet<P>,
    stall: Duration,
    last_alive: Time,
}

impl<P: Ord + Clone> SourcePolicy<P> {
    /// How long a source whose streams keep breaking is set aside.
    pub const COOLDOWN: Duration = Duration::from_secs(3);
    /// Breaks in a row that set a source aside.
    pub const BROKEN_TO_PAUSE: u32 = 3;

    /// A policy started at `now`, failing a download left without sources for `stall`.
    pub fn new(now: Time, stall: Duration) -> Self {
        SourcePolicy {
            pending: BTreeSet::new(),
            resting: BTreeMap::new(),
            broken: BTreeMap::new(),
            used: BTreeSet::new(),
            stall,
            last_alive: now,
        }
    }

    /// A session to `peer` is dialing: it joins the plan when [`Self::opened`] says so.
    pub fn dialing(&mut self, peer: P) {
        self.pending.insert(peer);
    }

    /// `peer`'s stream opened (or failed to): true if it was pending, so it joins the plan
    /// (when `ok`) or is let go; false for a known source's new session.
    pub fn opened(&mut self, peer: &P) -> bool {
        self.pending.remove(peer)
    }

    /// Discovery found `peer`; `has_session` says whether a session to it exists.
    pub fn found(&mut self, now: Time, peer: &P, has_session: bool) -> Found {
        if self.pending.contains(peer) || self.resting.get(peer).is_some_and(|t| *t > now) {
            return Found::Skip;
        }
        if has_session {
            return Found::Rejoin;
        }
        let after_rest = self.resting.remove(peer).is_some();
        self.pending.insert(peer.clone());
        Found::Reach { after_rest }
    }

    /// Sources whose rest is over at `now` (no longer resting; not pending): the caller
    /// reaches them again, calling [`Self::dialing`].
    pub fn rested(&mut self, now: Time) -> Vec<P> {
        let ready: Vec<P> = self
            .resting
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(p, _)| p.clone())
            .collect();
        for p in &ready {
            self.resting.remove(p);
        }
        ready
            .into_iter()
            .filter(|p| !self.pending.contains(p))
            .collect()
    }

    /// A verified piece came from `peer`.
    pub fn delivered(&mut self, peer: &P) {
        self.used.insert(peer.clone());
        self.broken.remove(peer);
    }

    /// An answer from `peer` that was not a broken stream (a piece, or a refusal).
    pub fn answered(&mut self, peer: &P) {
        self.broken.remove(peer);
    }

    /// `peer`'s stream broke (counted once per session).
    pub fn broke(&mut self, now: Time, peer: &P) -> Broken {
        let n = self.broken.entry(peer.clone()).or_insert(0);
        *n += 1;
        if *n < Self::BROKEN_TO_PAUSE {
            return Broken::Retry(*n);
        }
        self.broken.remove(peer);
        let until = now + Self::COOLDOWN;
        self.resting.insert(peer.clone(), until);
        Broken::Rest { until }
    }

    /// Sources that delivered verified data.
    pub fn used(&self) -> usize {
        self.used.len()
    }

    /// Checks, with the plan's count of `sources` and pieces `in_flight`, that the download
    /// still has something to wait for; `Err` with how long it has had nothing.
    ///
    /// # Errors
    /// The time without sources, once it exceeds `stall`.
    pub fn check_alive(
        &mut self,
        now: Time,
        sources: usize,
        in_flight: usize,
    ) -> Result<(), Duration> {
        if sources > 0 || in_flight > 0 || !self.pending.is_empty() {
            self.last_alive = now;
            return Ok(());
        }
        let idle = now.saturating_since(self.last_alive);
        if idle > self.stall { Err(idle) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Policy = SourcePolicy<&'static str>;

    fn secs(s: u64) -> Time {
        Time::from_millis(s * 1000)
    }

    #[test]
    fn a_source_joins_once_its_stream_opens_and_is_not_reached_twice() {
        let mut p = Policy::new(Time::ZERO, Duration::from_secs(30));
        assert_eq!(
            p.found(Time::ZERO, &"a", false),
            Found::Reach { after_rest: false }
        );
        assert_eq!(
            p.found(Time::ZERO, &"a", true),
            Found::Skip,
            "still dialing"
        );
        assert!(p.opened(&"a"));
        assert!(!p.opened(&"a"), "a later session's opening is no join");
        assert_eq!(p.found(Time::ZERO, &"a", true), Found::Rejoin);
    }

    #[test]
    fn streams_that_keep_breaking_rest_the_source_then_it_is_tried_again() {
        let mut p = Policy::new(Time::ZERO, Duration::from_secs(30));
        assert_eq!(p.broke(secs(1), &"a"), Broken::Retry(1));
        assert_eq!(p.broke(secs(1), &"a"), Broken::Retry(2));
        let until = secs(1) + Policy::COOLDOWN;
        assert_eq!(p.broke(secs(1), &"a"), Broken::Rest { until });
        assert_eq!(p.found(secs(2), &"a", false), Found::Skip, "resting");
        assert!(p.rested(secs(2)).is_empty());
        let mut q = p.clone();
        assert_eq!(q.rested(until), vec!["a"], "its rest is over");
        assert!(q.rested(until).is_empty(), "handed out once");
        assert_eq!(
            p.found(until + Duration::from_millis(1), &"a", false),
            Found::Reach { after_rest: true }
        );
    }

    #[test]
    fn a_verified_piece_forgives_earlier_breaks() {
        let mut p = Policy::new(Time::ZERO, Duration::from_secs(30));
        p.broke(secs(1), &"a");
        p.broke(secs(1), &"a");
        p.delivered(&"a");
        assert_eq!(p.broke(secs(2), &"a"), Broken::Retry(1));
        assert_eq!(p.used(), 1);
    }

    #[test]
    fn a_download_without_sources_fails_after_the_stall_time_and_not_before() {
        let mut p = Policy::new(Time::ZERO, Duration::from_secs(30));
        assert_eq!(p.check_alive(secs(5), 1, 0), Ok(()));
        assert_eq!(p.check_alive(secs(20), 0, 0), Ok(()));
        assert_eq!(p.check_alive(secs(35), 0, 0), Ok(()), "30 s since 5 s");
        assert_eq!(p.check_alive(secs(36), 0, 0), Err(Duration::from_secs(31)));
        // A source being dialed counts as something to wait for.
        let mut p = Policy::new(Time::ZERO, Duration::from_secs(30));
        p.dialing("b");
        assert_eq!(p.check_alive(secs(100), 0, 0), Ok(()));
    }
}
