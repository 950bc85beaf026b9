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
//! After every `handle_message`, `handle_peer`, `handle_timeout` or `handle_command`, the driver drains
//! [`Engine::poll_transmit`] and [`Engine::poll_event`] until both return `None`, then re-arms
//! its single timer for this engine from [`Engine::poll_timeout`].
//!
//! Engines are built from the [`kit`]: its outbox, event queue, id counters, named timers and
//! seeded RNG, so that every engine reads the same way.
//!
//! # Testing
//!
//! Outside the node, every engine runs on one virtual network, `weft_vnet::VNet` (a
//! dev-dependency here): the engine tests in `tests/`, the fuzz targets and the simulator. Each
//! engine has a golden trace (`tests/golden_traces.rs`: a fixed scenario's trace hash, message
//! contents included) and asserts that no timer is stuck (`VNet::stuck_timers`).
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
pub mod kit;
pub mod lookup;
pub mod pastry;

pub use kit::{Engine, PeerEvent, QueryId};
