//! What a test can do to the network beyond latency and loss: partitions, a hostile peer slot,
//! per-link latency, messages from any address, and held delivery (the caller picks which
//! message in flight arrives next, as the fuzz targets do).
//!
//! All of it lives behind one `Option` of the network: a run that uses none of it (the
//! simulator's) keeps its hot path. Once one control is set, every message a node sends goes
//! through [`VNet`]'s `route`, in this order:
//!
//! 1. the **hostile slot**: if the sender is the hostile node, the test's [`Tamper`] function
//!    turns the message into any number of messages (none: dropped; one: changed or
//!    redirected; several: forged). They still come from the hostile node's address, as on a
//!    real network where the sender is authenticated; a message from any other address is
//!    [`VNet::inject`]ed or [`VNet::deliver_now`]n;
//! 2. **partitions**: a message across a cut link ([`VNet::cut`]) or between two islands
//!    ([`VNet::isolate`]) is dropped and counted in [`Counters::partitioned`]; messages already
//!    in flight when the cut is made still arrive;
//! 3. **delivery**: held ([`VNet::hold`]: into a pool the caller delivers from), or a delay
//!    from the link's latency ([`VNet::set_link_latency`]) or the network model, and loss.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use weft_core::time::Time;
use weft_overlay::Engine;

use crate::queue::Due;
#[cfg(doc)]
use crate::vnet::Counters;
use crate::vnet::{Pending, VNet};

/// The hostile node's rewrite of each message it sends: `(now, to, message)` to the messages
/// that actually leave it, as `(to, message)`.
pub type Tamper<M> = Box<dyn FnMut(Time, u32, M) -> Vec<(u32, M)>>;

/// The one-way delay of a link, `(from, to)`, replacing the network model's draw.
pub type LinkLatency = Box<dyn Fn(u32, u32) -> Duration>;

/// A message in flight in held delivery: `(from, to, message)`.
pub type Held<M> = (u32, u32, M);

pub(crate) struct Controls<M> {
    cuts: BTreeSet<(u32, u32)>,
    islands: BTreeMap<u32, u32>,
    hostile: Option<(u32, Tamper<M>)>,
    link_latency: Option<LinkLatency>,
    held: Option<(VecDeque<Held<M>>, usize)>,
}

impl<M> Default for Controls<M> {
    fn default() -> Self {
        Controls {
            cuts: BTreeSet::new(),
            islands: BTreeMap::new(),
            hostile: None,
            link_latency: None,
            held: None,
        }
    }
}

impl<M> Controls<M> {
    fn blocked(&self, from: u32, to: u32) -> bool {
        let island = |n| self.islands.get(&n).copied().unwrap_or(0);
        self.cuts.contains(&(from.min(to), from.max(to))) || island(from) != island(to)
    }
}

impl<E: Engine<Addr = u32, Message: serde::Serialize>> VNet<E> {
    fn controls(&mut self) -> &mut Controls<E::Message> {
        self.controls.get_or_insert_with(Box::default)
    }

    /// Cuts the link between `a` and `b`, both ways: what either sends the other from now on
    /// is dropped.
    pub fn cut(&mut self, a: u32, b: u32) {
        self.controls().cuts.insert((a.min(b), a.max(b)));
    }

    /// Heals the link between `a` and `b`.
    pub fn heal(&mut self, a: u32, b: u32) {
        self.controls().cuts.remove(&(a.min(b), a.max(b)));
    }

    /// Puts `nodes` on island `island`: from now on a message between nodes of different
    /// islands is dropped. Every node starts on island 0, so `isolate(&group, 1)` splits the
    /// network in two.
    pub fn isolate(&mut self, nodes: &[u32], island: u32) {
        let c = self.controls();
        for &n in nodes {
            if island == 0 {
                c.islands.remove(&n);
            } else {
                c.islands.insert(n, island);
            }
        }
    }

    /// Heals every cut link and puts every node back on island 0.
    pub fn heal_all(&mut self) {
        let c = self.controls();
        c.cuts.clear();
        c.islands.clear();
    }

    /// Makes node `node` the hostile peer: every message it sends goes through `tamper`
    /// first. One node at a time; a second call replaces the first.
    pub fn set_hostile(&mut self, node: u32, tamper: Tamper<E::Message>) {
        self.controls().hostile = Some((node, tamper));
    }

    /// Takes every link's one-way delay from `latency(from, to)` instead of the network
    /// model (loss still applies).
    pub fn set_link_latency(&mut self, latency: LinkLatency) {
        self.controls().link_latency = Some(latency);
    }

    /// Holds every message sent from now on in a pool, in the order sent, at most `limit`
    /// of them (beyond, a message is lost), until the caller delivers or discards it
    /// ([`VNet::deliver_held`], [`VNet::discard_held`]). Timers still fire as the clock moves
    /// ([`VNet::step_until`]).
    pub fn hold(&mut self, limit: usize) {
        self.controls().held = Some((VecDeque::new(), limit));
    }

    /// The messages held, oldest first (empty unless [`VNet::hold`] was called).
    pub fn held(&self) -> impl ExactSizeIterator<Item = &Held<E::Message>> {
        self.controls
            .as_ref()
            .and_then(|c| c.held.as_ref())
            .map(|(pool, _)| pool.iter())
            .unwrap_or_default()
    }

    /// Delivers the held message at `index` now; false if there is none.
    pub fn deliver_held(&mut self, index: usize) -> bool {
        let Some((from, to, msg)) = self
            .controls
            .as_mut()
            .and_then(|c| c.held.as_mut())
            .and_then(|(pool, _)| pool.remove(index))
        else {
            return false;
        };
        self.deliver_now(from, to, msg);
        true
    }

    /// Drops the held message at `index`; false if there is none.
    pub fn discard_held(&mut self, index: usize) -> bool {
        self.controls
            .as_mut()
            .and_then(|c| c.held.as_mut())
            .and_then(|(pool, _)| pool.remove(index))
            .is_some()
    }

    /// Hands `msg` to node `to` now as if `from` had sent it (any address: a forged sender, a
    /// hostile peer with no engine, a replay), traced like any delivery, then drains `to`.
    pub fn deliver_now(&mut self, from: u32, to: u32, msg: E::Message) {
        let seq = self.take_seq();
        let due = Due { at: self.now, seq };
        self.deliver(due, from, to, msg);
    }

    /// Sends `msg` to node `to` from `from` (any address) through the network: it gets a
    /// delay (or is lost, or held) like a message an engine sent, but no hostile rewrite.
    pub fn inject(&mut self, from: u32, to: u32, msg: E::Message) {
        self.schedule(from, to, msg);
    }

    /// Sends one message a node queued, through the controls (see the module docs).
    pub(crate) fn route(&mut self, from: u32, to: u32, msg: E::Message) {
        let now = self.now;
        let tampered = match self.controls.as_mut().and_then(|c| c.hostile.as_mut()) {
            Some((node, tamper)) if *node == from => tamper(now, to, msg),
            _ => vec![(to, msg)],
        };
        for (to, msg) in tampered {
            if self.controls.as_ref().is_some_and(|c| c.blocked(from, to)) {
                self.counters.partitioned += 1;
                continue;
            }
            self.schedule(from, to, msg);
        }
    }

    /// Holds `msg`, or schedules it after the link's delay, or counts it lost.
    fn schedule(&mut self, from: u32, to: u32, msg: E::Message) {
        if let Some((pool, limit)) = self.controls.as_mut().and_then(|c| c.held.as_mut()) {
            if pool.len() < *limit {
                pool.push_back((from, to, msg));
            } else {
                self.counters.lost += 1;
            }
            return;
        }
        let delay = match self.controls.as_ref().and_then(|c| c.link_latency.as_ref()) {
            Some(latency) => self
                .network
                .deliver(&mut self.rng)
                .then(|| latency(from, to)),
            None => self.network.transit(&mut self.rng),
        };
        match delay {
            Some(delay) => {
                let seq = self.take_seq();
                self.queue.push(
                    Due {
                        at: self.now + delay,
                        seq,
                    },
                    Pending::Deliver { from, to, msg },
                );
            }
            None => self.counters.lost += 1,
        }
    }
}
