//! Running the network the engine tests' way: for a span of virtual time, or until the events
//! say a query is done; and the tests' node ids.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weft_overlay::Engine;

use crate::network::NetworkModel;
use crate::vnet::{Step, VNet, unclassified};

impl<E: Engine<Addr = u32, Message: serde::Serialize>> VNet<E> {
    /// An empty network for engine tests: no loss, a delay uniform over whole milliseconds in
    /// `latency_ms` (both included), draws from `ChaCha8Rng::seed_from_u64(seed)`, messages
    /// unclassified (the trace still covers their contents).
    pub fn uniform(seed: u64, latency_ms: (u64, u64)) -> Self {
        VNet::with_rng(
            "",
            ChaCha8Rng::seed_from_u64(seed),
            NetworkModel::uniform_ms(latency_ms.0, latency_ms.1),
            unclassified,
        )
    }

    /// Runs everything due up to `now + d`, then sets the clock there. Control events due
    /// meanwhile are consumed.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now() + d;
        while self.step_until(until) != Step::Idle {}
    }

    /// Leaps the clock forward by `d` at once, as a machine that slept or a clock step does:
    /// nothing runs in between, then every timer and delivery overdue runs once, at the new
    /// time, in its order (a periodic timer fires once, not once per period missed).
    pub fn jump(&mut self, d: Duration) {
        self.now += d;
        while self.step_until(self.now) != Step::Idle {}
    }

    /// Runs until `done` holds for the events kept so far ([`VNet::events`]), or `limit` of
    /// virtual time passes (then the clock is at the limit). Returns whether `done` held.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&[(u32, E::Event)]) -> bool,
    ) -> bool {
        let until = self.now() + limit;
        loop {
            if done(self.events()) {
                return true;
            }
            if self.step_until(until) == Step::Idle {
                return done(self.events());
            }
        }
    }

    /// Delivers held messages ([`VNet::hold`]) until none is left, the next one picked by
    /// `pick(held)` (an index, taken modulo the count: `|_| 0` is first in, first out), the
    /// clock advancing by `tick` before each; when none is held, the earliest timer fires.
    /// Stops when nothing is held and no timer is armed, or after `max` deliveries and
    /// timers; returns how many ran.
    pub fn run_held(
        &mut self,
        tick: Duration,
        max: usize,
        mut pick: impl FnMut(usize) -> usize,
    ) -> usize {
        for done in 0..max {
            let n = self.held().len();
            if n > 0 {
                self.run_for(tick);
                self.deliver_held(pick(n) % n);
            } else if self.step() == Step::Idle {
                return done;
            }
        }
        max
    }
}

/// `n` sorted random ids from `seed` (duplicates dropped); a node's address is its index in
/// this list.
pub fn ids(seed: u64, n: usize) -> Vec<(u64, u32)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v: Vec<u64> = (0..n).map(|_| rng.random()).collect();
    v.sort_unstable();
    v.dedup();
    v.into_iter()
        .enumerate()
        .map(|(i, k)| (k, i as u32))
        .collect()
}
