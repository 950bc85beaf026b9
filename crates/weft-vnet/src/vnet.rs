//! The event loop: a `Vec` of engines, virtual time, one timer per node, and a seeded network.
//!
//! # How a step runs
//!
//! The loop keeps two schedules ordered by `(time, seq)` (see [`crate::queue`]): deliveries and
//! control events in a binary heap, and each node's single timer in an indexed heap. A step
//! takes the earliest entry of either, advances the clock to it and
//!
//! - delivers a message (`handle_message`), or fires a timer (`handle_timeout`), then
//! - drains the engine: every `poll_transmit` message gets a delay (or is lost) from the
//!   [`NetworkModel`] and is scheduled; every `poll_event` is kept for the caller
//!   ([`VNet::events`], [`VNet::drain_events`]); the node's timer is re-armed from
//!   `poll_timeout`.
//!
//! Control events ([`VNet::schedule_control`]) are handed back to the caller
//! ([`Step::Control`]), which uses them to inject lookups, make nodes leave and join, and stop.
//!
//! Every delivered event is recorded in the [`TraceHash`], a message with its contents.
//!
//! Partitions, the hostile slot, per-link latency and held delivery ([`crate::controls`]) sit
//! behind one `Option`: a run that uses none of them (the simulator's) pays one branch per
//! message for them.
//!
//! # Memory
//!
//! Beyond the engines themselves the loop keeps about 30 bytes per node (an `Option<E>` slot,
//! the timer heap entry and its index), plus the messages in flight. The caller keeps the
//! number of messages in flight bounded by injecting work at a bounded rate.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use weft_core::time::Time;
use weft_overlay::{Engine, QueryId};

use crate::controls::Controls;
use crate::network::NetworkModel;
use crate::queue::{Due, EventQueue, TimerHeap};
use crate::trace::{KIND_COMMAND, KIND_CONTROL, KIND_JOIN, KIND_LEAVE, KIND_TIMER, TraceHash};

/// How a message is traced and counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageClass {
    /// A small code for the message's variant, recorded in the trace (must be below `0xFFF0`).
    pub kind: u16,
    /// Whether the message belongs to a lookup or query (counted in `lookup_messages`) rather
    /// than to maintenance (stabilization, refresh, keep-alive).
    pub lookup: bool,
}

/// The classification of a network that does not tell messages apart (kind 0, not lookup
/// traffic): the engine tests' default. The trace still covers every message's contents.
pub fn unclassified<M>(_: &M) -> MessageClass {
    MessageClass {
        kind: 0,
        lookup: false,
    }
}

/// Counts kept by the loop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// Messages engines sent.
    pub sent: u64,
    /// Of those, messages classified as lookup traffic.
    pub lookup_sent: u64,
    /// Messages the network model dropped (loss, or a full held pool).
    pub lost: u64,
    /// Messages sent across a cut link or between two islands ([`VNet::cut`],
    /// [`VNet::isolate`]), dropped.
    pub partitioned: u64,
    /// Messages that arrived for a node that had left (or never existed).
    pub undeliverable: u64,
    /// Messages handed to an engine.
    pub delivered: u64,
    /// Timers fired.
    pub timers: u64,
    /// Commands given.
    pub commands: u64,
    /// Timers an engine re-armed for the instant they had just fired at, [`SPIN_LIMIT`] times
    /// in a row (an engine whose `poll_timeout` does not move past `now` after
    /// `handle_timeout`): the loop defers such a timer by a millisecond instead of spinning.
    /// Part of [`VNet::stuck_timers`]; non-zero means an engine bug.
    pub stuck_timers: u64,
}

/// Times in a row a node's timer may fire at the same instant before the loop calls it stuck.
pub const SPIN_LIMIT: u32 = 100;

pub(crate) enum Pending<M> {
    Deliver { from: u32, to: u32, msg: M },
    Control(u64),
}

/// What one [`VNet::step`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Nothing is scheduled (before the deadline, for [`VNet::step_until`]).
    Idle,
    /// A message was delivered, dropped, or a timer fired.
    Progress,
    /// A control event scheduled by the caller is due; its tag.
    Control(u64),
}

/// A function shown every delivered message: `(time, from, to, message)`.
pub type Observer<M> = Box<dyn FnMut(Time, u32, u32, &M)>;

/// The virtual network: engines of type `E` addressed by their index, virtual time, seeded
/// latency and loss, and the test controls of [`crate::controls`].
pub struct VNet<E: Engine<Addr = u32, Message: serde::Serialize>> {
    engines: Vec<Option<E>>,
    alive: usize,
    timers: TimerHeap,
    pub(crate) queue: EventQueue<Pending<E::Message>>,
    pub(crate) now: Time,
    next_seq: u64,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) network: NetworkModel,
    trace: TraceHash,
    classify: fn(&E::Message) -> MessageClass,
    pub(crate) counters: Counters,
    events: Vec<(u32, E::Event)>,
    observer: Option<Observer<E::Message>>,
    /// The last timer fired (node, time) and how often in a row.
    last_timer: (u32, Time, u32),
    /// Reused buffer for encoding a delivered message into the trace.
    scratch: Vec<u8>,
    /// Partitions, the hostile slot, link latency, held delivery: `None` until a test asks.
    pub(crate) controls: Option<Box<Controls<E::Message>>>,
    /// Reused buffer for a node's messages when controls are on.
    outgoing: Vec<(u32, E::Message)>,
    /// Most messages and events one drain may take from an engine before it is called
    /// unbounded ([`VNet::limit_outputs`]).
    output_limit: usize,
}

/// The salt [`VNet::new`] mixes into its seed (the simulator's network stream).
const NETWORK_SALT: u64 = 0x5157_5f6e_6574_776b;

impl<E: Engine<Addr = u32, Message: serde::Serialize>> VNet<E> {
    /// An empty network at time zero, the simulator's way. `label` (what runs: the algorithm
    /// and its parameters) opens the trace; `seed` (mixed with a fixed salt) fixes the
    /// network's draws; `classify` names each message for the trace and the counters.
    pub fn new(
        label: &str,
        seed: u64,
        network: NetworkModel,
        classify: fn(&E::Message) -> MessageClass,
    ) -> Self {
        Self::with_rng(
            label,
            ChaCha8Rng::seed_from_u64(seed ^ NETWORK_SALT),
            network,
            classify,
        )
    }

    /// An empty network at time zero whose draws come from `rng`.
    pub fn with_rng(
        label: &str,
        rng: ChaCha8Rng,
        network: NetworkModel,
        classify: fn(&E::Message) -> MessageClass,
    ) -> Self {
        VNet {
            engines: Vec::new(),
            alive: 0,
            timers: TimerHeap::default(),
            queue: EventQueue::default(),
            now: Time::ZERO,
            next_seq: 0,
            rng,
            network,
            trace: TraceHash::new(label),
            classify,
            counters: Counters::default(),
            events: Vec::new(),
            observer: None,
            last_timer: (u32::MAX, Time::ZERO, 0),
            scratch: Vec::new(),
            controls: None,
            outgoing: Vec::new(),
            output_limit: usize::MAX,
        }
    }

    /// Shows every message delivered from now on to `observer` (presets use it to count
    /// messages by their fields, e.g. flooded queries arriving at their last hop).
    pub fn set_observer(&mut self, observer: Observer<E::Message>) {
        self.observer = Some(observer);
    }

    /// Calls a node unbounded (a panic naming it) when one drain takes more than `limit`
    /// messages and events from it: a hostile input must not make an engine's queues grow
    /// without end (the fuzz targets set it).
    pub fn limit_outputs(&mut self, limit: usize) {
        self.output_limit = limit;
    }

    /// Adds already-built engines (e.g. a converged overlay) as nodes `len()..`, without a trace
    /// record; arms their timers and drains anything they queued.
    pub fn extend(&mut self, engines: impl IntoIterator<Item = E>) {
        for e in engines {
            self.add(e);
        }
    }

    /// Adds one already-built engine as node `len()` (untraced, as [`VNet::extend`]); its
    /// index, which is its address.
    pub fn add(&mut self, engine: E) -> u32 {
        let i = self.engines.len() as u32;
        self.engines.push(Some(engine));
        self.alive += 1;
        self.drain(i);
        i
    }

    /// Adds one engine as a new node joining now (traced), and returns its index. `via` is the
    /// bootstrap node, recorded in the trace.
    pub fn join(&mut self, engine: E, via: Option<u32>) -> u32 {
        let i = self.engines.len() as u32;
        self.engines.push(Some(engine));
        self.alive += 1;
        let seq = self.take_seq();
        self.trace
            .record(self.now.as_micros(), seq, KIND_JOIN, via.unwrap_or(i), i);
        self.drain(i);
        i
    }

    /// Crashes node `index` now: it sends nothing more, messages to it are lost, its address is
    /// never reused. Returns the engine, or `None` if it had already left.
    pub fn crash(&mut self, index: u32) -> Option<E> {
        let e = self.engines.get_mut(index as usize)?.take()?;
        self.alive -= 1;
        self.timers.clear(index);
        let seq = self.take_seq();
        self.trace
            .record(self.now.as_micros(), seq, KIND_LEAVE, index, index);
        Some(e)
    }

    /// Gives node `index` a command now. The query's id, or `None` if the node has left or
    /// the command is no query.
    pub fn command(&mut self, index: u32, cmd: E::Command) -> Option<QueryId> {
        let now = self.now;
        let e = self.engines.get_mut(index as usize)?.as_mut()?;
        let id = e.handle_command(now, cmd);
        self.counters.commands += 1;
        let seq = self.take_seq();
        self.trace
            .record(now.as_micros(), seq, KIND_COMMAND, index, index);
        self.drain(index);
        id
    }

    /// [`VNet::command`] for a query: its id (panics if the node has left or the command is
    /// no query, a broken test).
    pub fn query(&mut self, index: u32, cmd: E::Command) -> QueryId {
        self.command(index, cmd)
            .expect("a query to a live node returns its id")
    }

    /// Runs `f` on node `index`'s engine now (e.g. to tell it a connection came up or went
    /// down), then drains its outputs. Returns `None` if the node has left.
    pub fn poke<R>(&mut self, index: u32, f: impl FnOnce(&mut E, Time) -> R) -> Option<R> {
        let now = self.now;
        let e = self.engines.get_mut(index as usize)?.as_mut()?;
        let r = f(e, now);
        self.drain(index);
        Some(r)
    }

    /// Schedules a control event `tag` at `at` (not before now); [`VNet::step`] returns
    /// it as [`Step::Control`] when due.
    pub fn schedule_control(&mut self, at: Time, tag: u64) {
        let seq = self.take_seq();
        self.queue.push(
            Due {
                at: at.max(self.now),
                seq,
            },
            Pending::Control(tag),
        );
    }

    /// Runs the earliest scheduled entry.
    pub fn step(&mut self) -> Step {
        self.step_until(Time::MAX)
    }

    /// Runs the earliest scheduled entry if it is due by `deadline`; otherwise advances the
    /// clock to `deadline` (when it is finite) and returns [`Step::Idle`].
    pub fn step_until(&mut self, deadline: Time) -> Step {
        let next_msg = self.queue.peek();
        let next_timer = self.timers.peek();
        let timer_first = match (next_msg, next_timer) {
            (None, None) => {
                if deadline != Time::MAX {
                    self.now = self.now.max(deadline);
                }
                return Step::Idle;
            }
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some(m), Some((t, _))) => t < m,
        };
        let due = if timer_first {
            next_timer.map(|(d, _)| d)
        } else {
            next_msg
        };
        if due.is_some_and(|d| d.at > deadline) {
            self.now = self.now.max(deadline);
            return Step::Idle;
        }
        if timer_first {
            let Some((due, node)) = self.timers.pop() else {
                return Step::Idle;
            };
            self.fire(due, node);
            return Step::Progress;
        }
        let Some((mut due, pending)) = self.queue.pop() else {
            return Step::Idle;
        };
        // Only after a [`VNet::jump`] is an entry overdue: it runs at the new time.
        due.at = due.at.max(self.now);
        self.now = due.at;
        match pending {
            Pending::Control(tag) => {
                self.trace.record(
                    due.at.as_micros(),
                    due.seq,
                    KIND_CONTROL,
                    u32::MAX,
                    u32::MAX,
                );
                Step::Control(tag)
            }
            Pending::Deliver { from, to, msg } => {
                self.deliver(due, from, to, msg);
                Step::Progress
            }
        }
    }

    /// Fires node `node`'s timer, due at `due` (just popped from the heap).
    fn fire(&mut self, mut due: Due, node: u32) {
        due.at = due.at.max(self.now);
        self.now = due.at;
        let (last_node, last_at, repeats) = self.last_timer;
        let repeats = if last_node == node && last_at == due.at {
            repeats + 1
        } else {
            0
        };
        self.last_timer = (node, due.at, repeats);
        if repeats >= SPIN_LIMIT {
            self.counters.stuck_timers += 1;
            self.last_timer = (u32::MAX, Time::ZERO, 0);
            let seq = self.take_seq();
            self.timers.set(
                node,
                Due {
                    at: due.at + std::time::Duration::from_millis(1),
                    seq,
                },
            );
            return;
        }
        self.trace
            .record(due.at.as_micros(), due.seq, KIND_TIMER, node, node);
        self.counters.timers += 1;
        if let Some(e) = self.engines.get_mut(node as usize).and_then(Option::as_mut) {
            e.handle_timeout(due.at);
            self.drain(node);
        }
    }

    /// Hands `msg` from `from` to node `to` at `due` (traced, observed, counted), then drains
    /// the receiver; a message for a node that is not there is counted undeliverable.
    pub(crate) fn deliver(&mut self, due: Due, from: u32, to: u32, msg: E::Message) {
        let Some(e) = self.engines.get_mut(to as usize).and_then(Option::as_mut) else {
            self.counters.undeliverable += 1;
            return;
        };
        let kind = (self.classify)(&msg).kind;
        // Our own engines' messages always encode; should one not, its contents are left out
        // of the hash rather than stopping the run.
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let buf = postcard::to_extend(&msg, buf).unwrap_or_default();
        self.trace
            .record_message(due.at.as_micros(), due.seq, kind, from, to, &buf);
        self.scratch = buf;
        self.counters.delivered += 1;
        if let Some(obs) = self.observer.as_mut() {
            obs(due.at, from, to, &msg);
        }
        e.handle_message(due.at, from, msg);
        self.drain(to);
    }

    /// Drains node `i`'s outputs: schedules its messages, keeps its events, re-arms its timer.
    fn drain(&mut self, i: u32) {
        let now = self.now;
        let Some(e) = self.engines.get_mut(i as usize).and_then(Option::as_mut) else {
            return;
        };
        let mut outputs = 0usize;
        while let Some((to, msg)) = e.poll_transmit() {
            outputs += 1;
            assert!(
                outputs <= self.output_limit,
                "node {i} emits unbounded output"
            );
            self.counters.sent += 1;
            if (self.classify)(&msg).lookup {
                self.counters.lookup_sent += 1;
            }
            if self.controls.is_some() {
                self.outgoing.push((to, msg));
                continue;
            }
            match self.network.transit(&mut self.rng) {
                Some(delay) => {
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    self.queue.push(
                        Due {
                            at: now + delay,
                            seq,
                        },
                        Pending::Deliver { from: i, to, msg },
                    );
                }
                None => self.counters.lost += 1,
            }
        }
        while let Some(ev) = e.poll_event() {
            outputs += 1;
            assert!(
                outputs <= self.output_limit,
                "node {i} emits unbounded output"
            );
            self.events.push((i, ev));
        }
        let deadline = e.poll_timeout();
        if !self.outgoing.is_empty() {
            let mut out = std::mem::take(&mut self.outgoing);
            for (to, msg) in out.drain(..) {
                self.route(i, to, msg);
            }
            self.outgoing = out;
        }
        match deadline {
            Some(at) if at != Time::MAX => {
                let at = at.max(now);
                if self.timers.get(i).is_none_or(|d| d.at != at) {
                    let seq = self.take_seq();
                    self.timers.set(i, Due { at, seq });
                }
            }
            _ => self.timers.clear(i),
        }
    }

    /// The next sequence number (the tie-break of entries scheduled for the same instant).
    pub(crate) fn take_seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    /// Events the engines emitted and the caller has not drained, with the emitting node, in
    /// order.
    pub fn events(&self) -> &[(u32, E::Event)] {
        &self.events
    }

    /// Takes the events the engines emitted since the last call, with the emitting node, in
    /// order.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, (u32, E::Event)> {
        self.events.drain(..)
    }

    /// The current virtual time.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Node slots, including departed ones (`None`).
    pub fn len(&self) -> usize {
        self.engines.len()
    }

    /// Whether there are no node slots.
    pub fn is_empty(&self) -> bool {
        self.engines.is_empty()
    }

    /// Nodes currently in the network.
    pub fn alive(&self) -> usize {
        self.alive
    }

    /// Node `index`'s engine, if it is in the network.
    pub fn engine(&self, index: u32) -> Option<&E> {
        self.engines.get(index as usize).and_then(Option::as_ref)
    }

    /// Node `index`'s engine, mutably (for test setup). Its outputs are drained on its next
    /// step, and a deadline changed here is not re-armed (see [`VNet::stuck_timers`]): prefer
    /// [`VNet::poke`].
    pub fn engine_mut(&mut self, index: u32) -> Option<&mut E> {
        self.engines
            .get_mut(index as usize)
            .and_then(Option::as_mut)
    }

    /// Live nodes with their index.
    pub fn live(&self) -> impl Iterator<Item = (u32, &E)> {
        self.engines
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (i as u32, e)))
    }

    /// The indices of the live nodes, in order.
    pub fn live_indices(&self) -> Vec<u32> {
        self.live().map(|(i, _)| i).collect()
    }

    /// The loop's counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Stuck timers: the timers that spun ([`Counters::stuck_timers`]) plus, now, the live
    /// nodes whose engine reports a deadline in the past that the network holds no timer for
    /// at or before now (a timer the driver lost: the engine's deadline changed without a
    /// drain, or an engine reports a deadline it never fires). `0` in every healthy run; the
    /// engine tests assert it.
    pub fn stuck_timers(&self) -> u64 {
        let now = self.now;
        let lost = self
            .live()
            .filter(|(i, e)| {
                e.poll_timeout()
                    .is_some_and(|t| t < now && self.timers.get(*i).is_none_or(|d| d.at > now))
            })
            .count();
        self.counters.stuck_timers + lost as u64
    }

    /// Events recorded in the trace so far.
    pub fn trace_events(&self) -> u64 {
        self.trace.events()
    }

    /// The trace hash so far (64 hex digits).
    pub fn trace_hash(&self) -> String {
        self.trace.hex()
    }

    /// Entries scheduled now (messages in flight and control events) and the peak so far.
    pub fn queue_len(&self) -> (usize, usize) {
        (self.queue.len(), self.queue.peak_len())
    }

    /// The RNG the loop draws network delays from; runners may draw from it too (in event
    /// order, so runs stay deterministic).
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }
}
