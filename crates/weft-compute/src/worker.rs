//! The lender's engine: while it has idle slots it asks the coordinators it knows for work
//! (BOINC's pull model), one coordinator at a time in turn, and backs off from a coordinator
//! that had nothing to give.
//!
//! Sans-IO: the driver sends what [`Worker::poll_transmit`] yields, tells the engine what came
//! back ([`Worker::handle_offer`], [`Worker::handle_ask_failed`]) and when a unit ends
//! ([`Worker::handle_finished`]), and re-arms one timer from [`Worker::poll_timeout`].

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use weft_core::time::Time;

/// First wait before asking again a coordinator that had no work.
pub const MIN_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait before asking again a coordinator that had no work.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
struct Source {
    next_ask: Time,
    backoff: Duration,
    /// Slots reserved for an ask in flight.
    asking: u32,
}

/// The worker engine.
#[derive(Clone, Debug)]
pub struct Worker<P> {
    slots: u32,
    running: u32,
    sources: BTreeMap<P, Source>,
    transmit: VecDeque<(P, u32)>,
}

impl<P: Ord + Clone> Worker<P> {
    /// A worker lending `slots` cores.
    pub fn new(slots: u32) -> Self {
        Worker {
            slots,
            running: 0,
            sources: BTreeMap::new(),
            transmit: VecDeque::new(),
        }
    }

    /// Units running now.
    pub fn running(&self) -> u32 {
        self.running
    }

    /// Slots neither running a unit nor reserved by an ask in flight.
    pub fn idle(&self) -> u32 {
        let asking: u32 = self.sources.values().map(|s| s.asking).sum();
        self.slots.saturating_sub(self.running + asking)
    }

    /// A peer that may have work (it speaks `/weft/compute/1`).
    pub fn add_coordinator(&mut self, now: Time, peer: P) {
        self.sources.entry(peer).or_insert(Source {
            next_ask: now,
            backoff: MIN_BACKOFF,
            asking: 0,
        });
    }

    /// A peer that went away.
    pub fn remove_coordinator(&mut self, peer: &P) {
        self.sources.remove(peer);
    }

    /// A coordinator answered an ask with `given` units (which are now running).
    pub fn handle_offer(&mut self, now: Time, from: &P, given: u32) {
        let Some(s) = self.sources.get_mut(from) else {
            // it left while the ask was out: the units it gave still run
            self.running += given;
            return;
        };
        let asked = std::mem::take(&mut s.asking);
        self.running += given.min(asked);
        if given == 0 {
            s.next_ask = now + s.backoff;
            s.backoff = (s.backoff * 2).min(MAX_BACKOFF);
        } else {
            s.next_ask = now;
            s.backoff = MIN_BACKOFF;
        }
        self.handle_timeout(now);
    }

    /// An ask could not be sent or answered.
    pub fn handle_ask_failed(&mut self, now: Time, from: &P) {
        self.handle_offer(now, from, 0);
    }

    /// A unit ended (reported or given back).
    pub fn handle_finished(&mut self, now: Time) {
        self.running = self.running.saturating_sub(1);
        self.handle_timeout(now);
    }

    /// Asks the next due coordinator for the idle slots.
    pub fn handle_timeout(&mut self, now: Time) {
        let idle = self.idle();
        if idle == 0 || self.sources.values().any(|s| s.asking > 0) {
            return;
        }
        let due = self
            .sources
            .iter_mut()
            .filter(|(_, s)| s.next_ask <= now)
            .min_by_key(|(_, s)| s.next_ask);
        if let Some((peer, s)) = due {
            s.asking = idle;
            self.transmit.push_back((peer.clone(), idle));
        }
    }

    /// The next ask to send: `(coordinator, slots)`.
    pub fn poll_transmit(&mut self) -> Option<(P, u32)> {
        self.transmit.pop_front()
    }

    /// When to call [`Worker::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Time> {
        if self.idle() == 0 || self.sources.values().any(|s| s.asking > 0) {
            return None;
        }
        self.sources.values().map(|s| s.next_ask).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_worker_asks_in_turn_and_backs_off_from_an_empty_coordinator() {
        let mut w = Worker::new(2);
        let t0 = Time::ZERO;
        w.add_coordinator(t0, 1u32);
        w.add_coordinator(t0, 2u32);
        w.handle_timeout(t0);
        assert_eq!(w.poll_transmit(), Some((1, 2)));
        assert_eq!(w.poll_transmit(), None, "one ask in flight at a time");
        w.handle_offer(t0, &1, 0);
        assert_eq!(w.poll_transmit(), Some((2, 2)));
        w.handle_offer(t0, &2, 1);
        assert_eq!(w.running(), 1);
        assert_eq!(
            w.poll_transmit(),
            Some((2, 1)),
            "a giver is asked again at once"
        );
        w.handle_offer(t0, &2, 1);
        assert_eq!(w.idle(), 0);
        assert_eq!(w.poll_timeout(), None, "busy: nothing to ask");
        w.handle_finished(t0);
        // coordinator 1 is backing off, 2 is due
        assert_eq!(w.poll_transmit(), Some((2, 1)));
        w.handle_offer(t0, &2, 0);
        assert_eq!(w.poll_timeout(), Some(t0 + MIN_BACKOFF));
    }

    #[test]
    fn backoff_grows_to_its_bound() {
        let mut w = Worker::new(1);
        let mut now = Time::ZERO;
        w.add_coordinator(now, 1u32);
        for _ in 0..10 {
            w.handle_timeout(now);
            assert_eq!(w.poll_transmit(), Some((1, 1)));
            w.handle_ask_failed(now, &1);
            now = w.poll_timeout().unwrap();
        }
        w.handle_timeout(now);
        w.poll_transmit();
        let before = now;
        w.handle_ask_failed(now, &1);
        assert_eq!(w.poll_timeout().unwrap(), before + MAX_BACKOFF);
    }
}
