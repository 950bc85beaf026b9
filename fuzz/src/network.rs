//! A few honest engines of one kind and a hostile peer, driven by fuzz input, on the one
//! virtual network (`weft_vnet::VNet`) the engine tests and the simulator use too: every
//! message is held ([`VNet::hold`]) and the input picks which arrives, which is lost, which is
//! replayed, and how the clock moves.
//!
//! The honest engines live at addresses `0..n`; the hostile peer is at `n` (and `n + 1` is a
//! second, unknown address). The input is a sequence of operations, each an opcode byte and
//! its arguments (layout below, all integers big-endian), run until the input ends or
//! [`MAX_OPS`] have run. The network drains every engine it calls ([`Engine::poll_transmit`]
//! into the held messages, [`Engine::poll_event`] to the scenario, which may answer with a
//! command); after every operation the timers due by now fire.
//!
//! | opcode % 11 | operation | arguments |
//! |---|---|---|
//! | 0 | deliver the oldest message in flight | |
//! | 1 | deliver the message in flight at an index | `u16` index |
//! | 2 | drop the message in flight at an index | `u16` index |
//! | 3 | inject a hostile message | `u8` to, `u8` from, `u16` length, bytes (the wire encoding) |
//! | 4 | replay a message in flight to another node, as another sender | `u16` index, `u8` to, `u8` from |
//! | 5 | advance the clock by up to 655 s, timers firing on time | `u16` tens of milliseconds |
//! | 6 | advance the clock to the earliest deadline | |
//! | 7 | leap the clock by an arbitrary amount ([`VNet::jump`]: overdue timers fire once) | `u64` microseconds (capped) |
//! | 8 | a local command | `u8` node, then the scenario's bytes |
//! | 9 | a scenario-specific operation (connect, disconnect, add a contact) | the scenario's bytes |
//! | 10 | deliver up to `count` messages in order | `u8` count |
//!
//! `to` is taken modulo `n`, `from` modulo `n + 2` (never `to` itself). A hostile message that does not decode is
//! dropped, as the node drops it. Messages to addresses that are not honest engines are
//! held like the others and lost when delivered.
//!
//! Besides "never panic", the harness checks two liveness properties of the engine contract:
//! one call never makes an engine emit more than [`MAX_OUTPUTS_PER_STEP`] messages and
//! events (its queues are bounded: [`VNet::limit_outputs`]), and no timer is ever stuck
//! ([`VNet::stuck_timers`]: `handle_timeout` moves the deadline past `now`, and no deadline
//! in the past goes unfired).

use std::time::Duration;

use weft_overlay::Engine;
use weft_vnet::VNet;

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
/// Commands the scenario may give in answer to events after one operation.
pub const MAX_REACTIONS: usize = 1024;

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
    type E: Engine<Addr = u32, Message: serde::Serialize + serde::de::DeserializeOwned>
        + std::fmt::Debug;

    /// The honest engines at addresses `0..n` (`n` at least 2), and the commands to run
    /// first (a join, a bootstrap), as `(node, command)`. Reads exactly one setup byte from
    /// `input` (a seed or a configuration choice).
    fn build(input: &mut Input<'_>) -> Setup<Self::E>;

    /// Decodes a hostile message exactly as the node decodes it: the wire codec, within the
    /// overlay's frame limit (every engine's messages travel the same way).
    fn decode(bytes: &[u8]) -> Option<<Self::E as Engine>::Message> {
        crate::codec::decode(bytes, crate::overlay::MAX_FRAME)
    }

    /// A local command for node `node`, read from `input`.
    fn command(input: &mut Input<'_>, node: u32, n: u32) -> <Self::E as Engine>::Command;

    /// A scenario-specific operation (connections, contacts) read from `input`, run on the
    /// network's engines (through [`VNet::poke`], which drains them).
    fn extra(input: &mut Input<'_>, net: &mut VNet<Self::E>) {
        let _ = (input, net);
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
    fn check(net: &VNet<Self::E>) {
        let _ = net;
    }
}

/// The running network of one input.
struct Net<S: Scenario> {
    net: VNet<S::E>,
}

impl<S: Scenario> Net<S>
where
    <S::E as Engine>::Message: Clone + std::fmt::Debug,
{
    fn n(&self) -> u32 {
        self.net.len() as u32
    }

    /// Fires the timers due by now and gives the scenario's answers to the events, until
    /// quiet; no timer may be stuck.
    fn settle(&mut self) {
        let mut reactions = 0;
        loop {
            self.net.run_for(Duration::ZERO);
            let stuck = self.net.stuck_timers();
            assert!(
                stuck == 0,
                "{stuck} stuck timers at {:?}: a deadline at or before now after handle_timeout, or one never fired",
                self.net.now(),
            );
            let events: Vec<_> = self.net.drain_events().collect();
            if events.is_empty() {
                return;
            }
            for (i, event) in events {
                if let Some(cmd) = S::react(i, &event)
                    && reactions < MAX_REACTIONS
                {
                    reactions += 1;
                    self.net.command(i, cmd);
                }
            }
        }
    }

    /// Moves the clock forward by `micros` (up to [`TIME_CAP`]): timers fire on time, or, for
    /// a leap, once at the new time.
    fn advance(&mut self, micros: u64, leap: bool) {
        let now = self.net.now().as_micros();
        let d = Duration::from_micros(now.saturating_add(micros).min(TIME_CAP).saturating_sub(now));
        if leap {
            self.net.jump(d);
        } else {
            self.net.run_for(d);
        }
    }

    fn index(&self, raw: u16) -> usize {
        match self.net.held().len() {
            0 => 0,
            len => usize::from(raw) % len,
        }
    }

    /// Runs one operation.
    fn step(&mut self, input: &mut Input<'_>) {
        let n = self.n();
        let code = input.byte() % op::COUNT;
        if tracing() {
            eprintln!(
                "op {code} at {:?}, {} in flight, next: {:?}",
                self.net.now(),
                self.net.held().len(),
                self.net.held().next()
            );
        }
        match code {
            op::DELIVER => {
                self.net.deliver_held(0);
            }
            op::DELIVER_AT => {
                let i = self.index(input.u16());
                self.net.deliver_held(i);
            }
            op::DROP => {
                let i = self.index(input.u16());
                self.net.discard_held(i);
            }
            op::INJECT => {
                let to = u32::from(input.byte()) % n;
                let from = sender(input.byte(), to, n);
                if let Some(msg) = S::decode(input.frame()) {
                    self.net.deliver_now(from, to, msg);
                }
            }
            op::REPLAY => {
                let i = self.index(input.u16());
                let to = u32::from(input.byte()) % n;
                let from = sender(input.byte(), to, n);
                let msg = self.net.held().nth(i).map(|(_, _, msg)| msg.clone());
                if let Some(msg) = msg {
                    self.net.deliver_now(from, to, msg);
                }
            }
            op::ADVANCE => self.advance(u64::from(input.u16()) * 10_000, false),
            op::NEXT_TIMER => {
                let next = self.net.live().filter_map(|(_, e)| e.poll_timeout()).min();
                if let Some(t) = next {
                    let now = self.net.now();
                    self.advance(t.as_micros().saturating_sub(now.as_micros()), true);
                }
            }
            op::JUMP => self.advance(input.u64(), true),
            op::COMMAND => {
                let node = u32::from(input.byte()) % n;
                let cmd = S::command(input, node, n);
                self.net.command(node, cmd);
            }
            op::EXTRA => S::extra(input, &mut self.net),
            _ => {
                for _ in 0..input.byte() {
                    if !self.net.deliver_held(0) {
                        break;
                    }
                    self.settle();
                }
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
    let mut net = VNet::uniform(0, (0, 0));
    net.hold(MAX_IN_FLIGHT);
    net.limit_outputs(MAX_OUTPUTS_PER_STEP);
    net.extend(nodes);
    let mut net = Net::<S> { net };
    net.settle();
    for (node, cmd) in first {
        net.net.command(node, cmd);
        net.settle();
    }
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        net.step(&mut input);
        net.settle();
        S::check(&net.net);
    }
}

/// A duration of whole seconds, as commands and configurations use.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
