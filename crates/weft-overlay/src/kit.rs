//! The protocol kit: the parts every engine of this crate is built from, so that a new
//! protocol starts from them instead of from a copy of another engine.
//!
//! | part | what it holds |
//! |---|---|
//! | [`Engine`], [`PeerEvent`] | the one interface a driver (the node, the simulator, a test) sees |
//! | [`Outbox`], [`Events`] | the messages and events an engine queues for `poll_transmit` / `poll_event` |
//! | [`RequestIds`], [`QueryIds`] | request ids on the wire, query ids for the local user |
//! | [`Timers`] | named deadlines (stabilize, refresh, …): armed or not, never a sentinel |
//! | [`NodeRng`], [`node_seed`] | the node's seeded randomness, one stream per draw; a node's seed from the run's |
//!
//! A new engine holds an `Outbox`, an `Events`, a `Timers<ItsTimer>` and a `NodeRng`, implements
//! [`Engine`] by delegating `poll_*` to them, and calls itself `local()` for "this node".

mod engine;
mod ids;
mod outbox;
mod rng;
mod timers;

pub use engine::{Engine, PeerEvent, QueryId};
pub use ids::{QueryIds, RequestIds};
pub use outbox::{Events, Outbox};
pub use rng::{NodeRng, node_seed};
pub use timers::Timers;
