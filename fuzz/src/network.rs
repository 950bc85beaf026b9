//! A few honest engines of one kind and a hostile peer, driven by fuzz input.
//!
//! The honest engines live at addresses `0..n`; the hostile peer is at `n` (and `n + 1` is a
//! second, unknown address). The input is a sequence of operations, each an opcode byte and
//! its arguments (layout below, all integers big-endian), run until the input ends or
//! [`MAX_OPS`] have run. After every operation each engine that was touched is drained
//! ([`Engine::poll_transmit`] into the in-flight queue, [`Engine::poll_event`] to the
//! scenario, which may answer with a command), and engines whose deadline has passed get
//! `handle_timeout`.
//!
//! | opcode % 11 | operation | arguments |
//! |---|---|---|
//! | 0 | deliver the oldest message in flight | |
//! | 1 | deliver the message in flight at an index | `u16` index |
//! | 2 | drop the message in flight at an index | `u16` index |
//! | 3 | inject a hostile message | `u8` to, `u8` from, `u16` length, bytes (the wire encoding) |
//! | 4 | replay a message in flight to another node, as another sender | `u16` index, `u8` to, `u8` from |
//! | 5 | advance the clock by up to 655 s | `u16` tens of milliseconds |
//! | 6 | advance the clock to the earliest deadline | |
//! | 7 | advance the clock by an arbitrary amount | `u64` microseconds (capped) |
//! | 8 | a local command | `u8` node, then the scenario's bytes |
//! | 9 | a scenario-specific operation (connect, disconnect, add a contact) | the scenario's bytes |
//! | 10 | deliver up to `count` messages in order | `u8` count |
//!
//! `to` is taken modulo `n`, `from` modulo `n + 2` (never `to` itself). A hostile message that does not decode is
//! dropped, as the node drops it. Messages to addresses that are not honest engines are
//! dropped.
//!
//! Besides "never panic", the harness checks two liveness properties of the engine contract:
//! one input never makes an engine emit more than [`MAX_OUTPUTS_PER_STEP`] messages and
//! events (its queues are bounded), and `handle_timeout` moves the deadline past `now` (a
//! driver that re-arms its timer from `poll_timeout` would otherwise spin).

use std::collections::VecDeque;
use std::time::Duration;

use weft_overlay::{Engine, Time};

use crate::input::Input;

/// Most operations run per input.
pub const MAX_OPS: usize = 1024;
/// Most messages in flight; honest messages beyond are lost.
pub const MAX_IN_FLIGHT: usize = 4096;
/// Most messages and events one engine may emit for one input before it is called unbounded.
pub const MAX_OUTPUTS_PER_STEP: usize = 100_000;
/// The clock never goes past this (about 146,000 years), so that `now + interval` is never
/// saturated at `Time::MAX`, which no real node reaches.
pub const TIME_CAP: u64 = 1 << 62;
/// Times `handle_timeout` is called in a row while the deadline stays at or before `now`
/// before the engine is declared spinning.
pub const MAX_TIMER_SPINS: usize = 64;

/// Opcodes of the operations (see the module docs).
pub mod op {
    /// Deliver the oldest message in flight.
    pub const DELIVER: u8 = 0;
    /// Deliver the message at an index.
    pub const DELIVER_AT: u8 = 1;
    /// Drop the message at an index.
    pub const DROP: u8 = 2;
    /// Inject a hostile message.
    pub const INJECT: u8 = 3;
    /// Replay a message in flight.
    pub const REPLAY: u8 = 4;
    /// Advance the clock a little.
    pub const ADVANCE: u8 = 5;
    /// Advance to the next deadline.
    pub const NEXT_TIMER: u8 = 6;
    /// Advance the clock by an arbitrary amount.
    pub const JUMP: u8 = 7;
    /// A local command.
    pub const COMMAND: u8 = 8;
    /// A scenario-specific operation.
    pub const EXTRA: u8 = 9;
    /// Deliver several messages.
    pub const RUN: u8 = 10;
    /// Number of opcodes.
    pub const COUNT: u8 = 11;
}

/// What a scenario starts with: the honest engines, and `(node, command)` pairs to run first.
pub type Setup<E> = (Vec<E>, Vec<(u32, <E as Engine>::Command)>);

/// One kind of engine set up for the harness.
pub trait Scenario {
    /// The engine, addressed by `u32` indices.
    type E: Engine<Addr = u32> + std::fmt::Debug;

    /// The honest engines at addresses `0..n` (`n` at least 2), and the commands to run
    /// first (a join, a bootstrap), as `(node, command)`. Reads exactly one setup byte from
    /// `input` (a seed or a configuration choice).
    fn build(input: &mut Input<'_>) -> Setup<Self::E>;

    /// Decodes a hostile message exactly as the node would decode it.
    fn decode(bytes: &[u8]) -> Option<<Self::E as Engine>::Message>;

    /// A local command for node `node`, read from `input`.
    fn command(input: &mut Input<'_>, node: u32, n: u32) -> <Self::E as Engine>::Command;

    /// A scenario-specific operation (connections, contacts) read from `input`; returns the
    /// nodes it touched.
    fn extra(input: &mut Input<'_>, now: Time, nodes: &mut [Self::E]) -> Vec<u32> {
        let _ = (input, now, nodes);
        Vec::new()
    }

    /// The application's answer to an event of node `node`, if it gives one.
    fn react(
        node: u32,
        event: &<Self::E as Engine>::Event,
    ) -> Option<<Self::E as Engine>::Command> {
        let _ = (node, event);
        None
    }

    /// Invariants that must hold for every engine after every operation.
    fn check(nodes: &[Self::E]) {
        let _ = nodes;
    }
}

/// The running network of one input.
struct Net<S: Scenario> {
    nodes: Vec<S::E>,
    now: Time,
    in_flight: VecDeque<(u32, u32, <S::E as Engine>::Message)>,
}

impl<S: Scenario> Net<S>
where
    <S::E as Engine>::Message: Clone + std::fmt::Debug,
{
    fn n(&self) -> u32 {
        self.nodes.len() as u32
    }

    /// Drains node `i` (and any commands its events cause), then fires due timers everywhere.
    fn settle(&mut self, touched: &[u32]) {
        for &i in touched {
            self.drain(i);
        }
        self.fire_timers();
    }

    fn drain(&mut self, i: u32) {
        let n = self.n();
        let now = self.now;
        let Some(node) = self.nodes.get_mut(i as usize) else {
            return;
        };
        let in_flight = &mut self.in_flight;
        let mut outputs = 0usize;
        let mut reactions = VecDeque::new();
        loop {
            let mut progressed = false;
            while let Some((to, msg)) = node.poll_transmit() {
                progressed = true;
                outputs += 1;
                if to < n && in_flight.len() < MAX_IN_FLIGHT {
                    in_flight.push_back((i, to, msg));
                }
                assert!(
                    outputs <= MAX_OUTPUTS_PER_STEP,
                    "node {i} emits unbounded output"
                );
            }
            while let Some(event) = node.poll_event() {
                progressed = true;
                outputs += 1;
                if let Some(cmd) = S::react(i, &event)
                    && reactions.len() < 1024
                {
                    reactions.push_back(cmd);
                }
                assert!(
                    outputs <= MAX_OUTPUTS_PER_STEP,
                    "node {i} emits unbounded output"
                );
            }
            match reactions.pop_front() {
                Some(cmd) => {
                    node.handle_command(now, cmd);
                }
                None if !progressed => return,
                None => {}
            }
        }
    }

    fn fire_timers(&mut self) {
        for i in 0..self.n() {
            let mut spins = 0;
            while self.nodes[i as usize]
                .poll_timeout()
                .is_some_and(|t| t <= self.now)
            {
                spins += 1;
                assert!(
                    spins <= MAX_TIMER_SPINS,
                    "node {i} keeps a deadline ({:?}) at or before now ({:?}) after handle_timeout: {:#?}",
                    self.nodes[i as usize].poll_timeout(),
                    self.now,
                    self.nodes[i as usize]
                );
                self.nodes[i as usize].handle_timeout(self.now);
                self.drain(i);
            }
        }
    }

    fn advance(&mut self, micros: u64) {
        let t = self.now.as_micros().saturating_add(micros).min(TIME_CAP);
        self.now = Time::from_micros(t);
    }

    fn deliver(&mut self, index: usize) -> Vec<u32> {
        match self.in_flight.remove(index) {
            Some((from, to, msg)) => {
                self.nodes[to as usize].handle_message(self.now, from, msg);
                vec![to]
            }
            None => Vec::new(),
        }
    }

    fn index(&self, raw: u16) -> usize {
        match self.in_flight.len() {
            0 => 0,
            len => usize::from(raw) % len,
        }
    }

    /// Runs one operation; returns the nodes to drain.
    fn step(&mut self, input: &mut Input<'_>) -> Vec<u32> {
        let n = self.n();
        let code = input.byte() % op::COUNT;
        if tracing() {
            eprintln!(
                "op {code} at {:?}, {} in flight, next: {:?}",
                self.now,
                self.in_flight.len(),
                self.in_flight.front()
            );
        }
        match code {
            op::DELIVER => self.deliver(0),
            op::DELIVER_AT => {
                let i = self.index(input.u16());
                self.deliver(i)
            }
            op::DROP => {
                let i = self.index(input.u16());
                self.in_flight.remove(i);
                Vec::new()
            }
            op::INJECT => {
                let to = u32::from(input.byte()) % n;
                let from = sender(input.byte(), to, n);
                match S::decode(input.frame()) {
                    Some(msg) => {
                        self.nodes[to as usize].handle_message(self.now, from, msg);
                        vec![to]
                    }
                    None => Vec::new(),
                }
            }
            op::REPLAY => {
                let i = self.index(input.u16());
                let to = u32::from(input.byte()) % n;
                let from = sender(input.byte(), to, n);
                match self.in_flight.get(i) {
                    Some((_, _, msg)) => {
                        let msg = msg.clone();
                        self.nodes[to as usize].handle_message(self.now, from, msg);
                        vec![to]
                    }
                    None => Vec::new(),
                }
            }
            op::ADVANCE => {
                self.advance(u64::from(input.u16()) * 10_000);
                Vec::new()
            }
            op::NEXT_TIMER => {
                let next = self.nodes.iter().filter_map(|e| e.poll_timeout()).min();
                if let Some(t) = next {
                    self.advance(t.as_micros().saturating_sub(self.now.as_micros()));
                }
                Vec::new()
            }
            op::JUMP => {
                self.advance(input.u64());
                Vec::new()
            }
            op::COMMAND => {
                let node = u32::from(input.byte()) % n;
                let cmd = S::command(input, node, n);
                self.nodes[node as usize].handle_command(self.now, cmd);
                vec![node]
            }
            op::EXTRA => S::extra(input, self.now, &mut self.nodes),
            _ => {
                for _ in 0..input.byte() {
                    if self.in_flight.is_empty() {
                        break;
                    }
                    for t in self.deliver(0) {
                        self.drain(t);
                    }
                }
                Vec::new()
            }
        }
    }
}

/// Whether `WEFT_FUZZ_TRACE` is set: then every operation is printed (to read a crash).
fn tracing() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("WEFT_FUZZ_TRACE").is_some())
}

/// The sender named by `byte` for a message to `to`: any address of `0..n + 2` but `to`
/// itself (a node never receives from its own address; that becomes the hostile peer's).
pub fn sender(byte: u8, to: u32, n: u32) -> u32 {
    match u32::from(byte) % (n + 2) {
        from if from == to => n,
        from => from,
    }
}

/// Runs one fuzz input against scenario `S`.
pub fn run<S: Scenario>(data: &[u8])
where
    <S::E as Engine>::Message: Clone + std::fmt::Debug,
{
    let mut input = Input::new(data);
    let (nodes, first) = S::build(&mut input);
    assert!(nodes.len() >= 2, "a scenario needs at least two nodes");
    let mut net = Net::<S> {
        nodes,
        now: Time::ZERO,
        in_flight: VecDeque::new(),
    };
    let all: Vec<u32> = (0..net.n()).collect();
    net.settle(&all);
    for (node, cmd) in first {
        net.nodes[node as usize].handle_command(net.now, cmd);
        net.settle(&[node]);
    }
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        let touched = net.step(&mut input);
        net.settle(&touched);
        S::check(&net.nodes);
    }
}

/// A duration of whole seconds, as commands and configurations use.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
