//! Location and routing engines: the paper's three location models (Section 3.2) and the
//! document-routing algorithms of its Table 3, as pure state machines.
//!
//! Every engine speaks the same vocabulary, the [`Engine`] trait: inputs come in through
//! `handle_*` with the current [`Time`], outputs are drained with `poll_*`. An engine never reads
//! a clock, opens a socket, spawns a task or draws ambient randomness (each holds an RNG seeded
//! from `(seed, node)`), so the node (over libp2p, wall-clock time) and the simulator (virtual
//! time, a million engines in a `Vec`) run the very same code.
//!
//! # Call order
//!
//! After every `handle_message`, `handle_timeout` or `handle_command`, the driver drains
//! [`Engine::poll_transmit`] and [`Engine::poll_event`] until both return `None`, then re-arms
//! its single timer for this engine from [`Engine::poll_timeout`].
//!
//! | module | model | paper |
//! |---|---|---|
//! | [`directory`] | central directory (Napster) | 3.2, 6.6 |
//! | [`flood`] | flooded requests with TTL, ultrapeers and QRP (Gnutella 0.6) | 3.2, 6.6 |
//! | [`kademlia`] | XOR-metric document routing | 3.2 |
//! | [`chord`] | identifier circle with fingers | 3.2, Table 3 |
//! | [`can`] | d-dimensional torus | 3.2, Table 3 |
//! | [`pastry`] | prefix routing (Tapestry: suffix) | 3.2, Table 3 |
//! | [`freenet`] | key-closeness routing with path caching | 3.2, 6.5 |

pub use weft_core::time::Time;

pub mod can;
pub mod chord;
pub mod directory;
pub mod flood;
pub mod freenet;
pub mod kademlia;
pub mod pastry;

/// Identifies one command (a lookup, a query, a publish) an engine was given; events that
/// answer it carry the same id.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct QueryId(pub u64);

/// The common vocabulary of every engine. See the crate docs for the call order.
pub trait Engine {
    /// How the engine names another node: a compact handle the driver maps to a real peer
    /// (a `u32` index in the simulator, an entry of the peer table in the node).
    type Addr: Copy + Ord + std::fmt::Debug;
    /// A message between two engines of this kind.
    type Message;
    /// A request from the local user or application.
    type Command;
    /// Something the local user or application is told.
    type Event;

    /// A message `msg` arrived from `from`.
    fn handle_message(&mut self, now: Time, from: Self::Addr, msg: Self::Message);
    /// The deadline last returned by `poll_timeout` has passed (or `now` is later).
    fn handle_timeout(&mut self, now: Time);
    /// Starts a command; its results come out as events carrying the returned id.
    fn handle_command(&mut self, now: Time, cmd: Self::Command) -> QueryId;
    /// Next message to send, if any.
    fn poll_transmit(&mut self) -> Option<(Self::Addr, Self::Message)>;
    /// Next event for the application, if any.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// When `handle_timeout` should next be called; `None` when nothing is pending.
    fn poll_timeout(&self) -> Option<Time>;
}
