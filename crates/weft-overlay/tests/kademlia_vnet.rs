//! A tiny deterministic driver for the routing-engine tests (`kademlia`, `chord`, `can`,
//! `pastry`): a `Vec` of engines addressed by index, messages delivered in virtual time
//! after a seeded latency, one timer per engine. Included by those test files with
//! `#[path]`; on its own it holds one self-test.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use weft_overlay::{Engine, PeerEvent, QueryId, Time};

/// `n` sorted random ids from `seed` (duplicates dropped); the address of a node is its
/// index in this list.
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

enum Item<M> {
    Deliver { to: u32, from: u32, msg: M },
    Timer { node: u32 },
}

/// Engines and the messages between them.
pub struct VNet<E: Engine<Addr = u32>> {
    /// The engines; `None` once crashed or removed.
    pub nodes: Vec<Option<E>>,
    /// Current virtual time.
    pub now: Time,
    /// Events reported so far, with the index of the reporting node.
    pub events: Vec<(u32, E::Event)>,
    /// Messages sent so far.
    pub sent: u64,
    /// Messages that reached a dead node and were dropped.
    pub dropped: u64,
    queue: BTreeMap<(Time, u64), Item<E::Message>>,
    timers: Vec<Option<Time>>,
    seq: u64,
    rng: ChaCha8Rng,
    latency_ms: (u64, u64),
}

impl<E: Engine<Addr = u32>> VNet<E> {
    /// An empty network whose message latency is uniform in `latency_ms` (inclusive).
    pub fn new(seed: u64, latency_ms: (u64, u64)) -> Self {
        VNet {
            nodes: Vec::new(),
            now: Time::ZERO,
            events: Vec::new(),
            sent: 0,
            dropped: 0,
            queue: BTreeMap::new(),
            timers: Vec::new(),
            seq: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
            latency_ms,
        }
    }

    /// Adds an engine; its index is its address.
    pub fn add(&mut self, e: E) -> u32 {
        let i = u32::try_from(self.nodes.len()).expect("fits");
        self.nodes.push(Some(e));
        self.timers.push(None);
        self.flush(i);
        i
    }

    /// The engine at `i`, if alive.
    pub fn node(&self, i: u32) -> Option<&E> {
        self.nodes[i as usize].as_ref()
    }

    /// Indices of live engines.
    pub fn alive(&self) -> Vec<u32> {
        (0..self.nodes.len() as u32)
            .filter(|i| self.nodes[*i as usize].is_some())
            .collect()
    }

    /// Crashes engine `i`: it disappears, messages to it are dropped.
    pub fn kill(&mut self, i: u32) -> Option<E> {
        self.timers[i as usize] = None;
        self.nodes[i as usize].take()
    }

    /// Runs `f` on engine `i` at the current time, then delivers its outputs.
    pub fn with<R>(&mut self, i: u32, f: impl FnOnce(&mut E, Time) -> R) -> R {
        let now = self.now;
        let r = f(self.nodes[i as usize].as_mut().expect("alive"), now);
        self.flush(i);
        r
    }

    /// Gives engine `i` a command: the query's id, `None` for a command that is no query.
    pub fn command(&mut self, i: u32, cmd: E::Command) -> Option<QueryId> {
        self.with(i, |e, now| e.handle_command(now, cmd))
    }

    /// [`Self::command`] for a query: its id.
    pub fn query(&mut self, i: u32, cmd: E::Command) -> QueryId {
        self.command(i, cmd).expect("the command is a query")
    }

    fn push(&mut self, at: Time, item: Item<E::Message>) {
        self.seq += 1;
        self.queue.insert((at, self.seq), item);
    }

    fn flush(&mut self, i: u32) {
        let Some(e) = self.nodes[i as usize].as_mut() else {
            return;
        };
        let mut out = Vec::new();
        while let Some(t) = e.poll_transmit() {
            out.push(t);
        }
        while let Some(ev) = e.poll_event() {
            self.events.push((i, ev));
        }
        let deadline = e.poll_timeout();
        for (to, msg) in out {
            self.sent += 1;
            let ms = self.rng.random_range(self.latency_ms.0..=self.latency_ms.1);
            let at = self.now + Duration::from_millis(ms);
            self.push(at, Item::Deliver { to, from: i, msg });
        }
        if deadline != self.timers[i as usize] {
            self.timers[i as usize] = deadline;
            if let Some(t) = deadline {
                self.push(t.max(self.now), Item::Timer { node: i });
            }
        }
    }

    /// Processes one queued item; false when nothing is queued before `until`.
    pub fn step(&mut self, until: Time) -> bool {
        let Some(entry) = self.queue.first_entry() else {
            return false;
        };
        let (at, _) = *entry.key();
        if at > until {
            return false;
        }
        let item = entry.remove();
        self.now = self.now.max(at);
        match item {
            Item::Deliver { to, from, msg } => match self.nodes[to as usize].as_mut() {
                Some(e) => {
                    e.handle_message(self.now, from, msg);
                    self.flush(to);
                }
                None => self.dropped += 1,
            },
            Item::Timer { node } => {
                let armed = self.timers[node as usize];
                if let (Some(e), Some(t)) = (self.nodes[node as usize].as_mut(), armed)
                    && t <= self.now
                {
                    self.timers[node as usize] = None;
                    e.handle_timeout(self.now);
                    self.flush(node);
                }
            }
        }
        true
    }

    /// Runs everything due up to `now + d`, then sets the clock there.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        while self.step(until) {}
        self.now = until;
    }

    /// Runs until `done` holds for the events so far, or `limit` virtual time passes.
    /// Returns whether `done` held.
    pub fn run_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&[(u32, E::Event)]) -> bool,
    ) -> bool {
        let until = self.now + limit;
        loop {
            if done(&self.events) {
                return true;
            }
            if !self.step(until) {
                self.now = until;
                return done(&self.events);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine that forwards a counter to the next index until it reaches zero.
    struct Relay {
        me: u32,
        n: u32,
        out: Vec<(u32, u32)>,
        seen: Vec<u32>,
    }

    impl Engine for Relay {
        type Addr = u32;
        type Message = u32;
        type Command = u32;
        type Event = u32;
        fn handle_message(&mut self, _: Time, _: u32, msg: u32) {
            self.seen.push(msg);
            if msg > 0 {
                self.out.push(((self.me + 1) % self.n, msg - 1));
            }
        }
        fn handle_timeout(&mut self, _: Time) {}
        fn handle_peer(&mut self, _: Time, _: u32, _: PeerEvent) {}
        fn handle_command(&mut self, _: Time, cmd: u32) -> Option<QueryId> {
            self.out.push(((self.me + 1) % self.n, cmd));
            None
        }
        fn poll_transmit(&mut self) -> Option<(u32, u32)> {
            self.out.pop()
        }
        fn poll_event(&mut self) -> Option<u32> {
            self.seen.pop()
        }
        fn poll_timeout(&self) -> Option<Time> {
            None
        }
    }

    #[test]
    fn messages_are_delivered_in_time_order() {
        let mut net: VNet<Relay> = VNet::new(1, (10, 10));
        for me in 0..3 {
            net.add(Relay {
                me,
                n: 3,
                out: vec![],
                seen: vec![],
            });
        }
        net.command(0, 4);
        net.run_for(Duration::from_secs(1));
        let got: Vec<(u32, u32)> = net.events.iter().map(|(i, e)| (*i, *e)).collect();
        assert_eq!(got, vec![(1, 4), (2, 3), (0, 2), (1, 1), (2, 0)]);
        assert_eq!(net.sent, 5);
        net.kill(0);
        net.command(1, 1);
        net.run_for(Duration::from_secs(1));
        assert_eq!(net.dropped, 1);
    }
}
