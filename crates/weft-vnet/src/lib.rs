//! weft's one virtual network: the engine tests, the fuzz targets and the simulator run the
//! `weft-overlay` engines on it, so an engine is driven one way everywhere.
//!
//! [`VNet`] holds engines of one kind in a `Vec` addressed by `u32` index, advances virtual
//! [`Time`](weft_core::time::Time) from event to event, and follows the call order
//! `weft-overlay` documents: after every `handle_*` it drains `poll_transmit` and `poll_event`
//! and re-arms the node's one timer from `poll_timeout`.
//!
//! | part | what it models |
//! |---|---|
//! | [`network`] | seeded one-way latency (log-normal, uniform, constant, whole milliseconds) and loss |
//! | [`churn`] | session lengths and replacement delays; [`VNet::crash`], [`VNet::join`] apply them |
//! | [`controls`] | partitions (cut links, islands, heal), a hostile peer slot (a node whose every outgoing message a test function rewrites, drops or multiplies), messages from any address, per-link latency, held delivery (the caller picks the next message, as the fuzz targets do) |
//! | [`trace`] | the trace hash: BLAKE3 over the run's label and every delivered event, message contents included |
//! | [`queue`] | the two schedules, ordered by `(time, seq)` so ties break the same way on every machine |
//!
//! Everything random comes from one seeded ChaCha8 stream, drawn in event order: a seed fixes
//! a run, and its [`VNet::trace_hash`]. Like the engines, the crate reads no clock, draws no
//! ambient randomness and iterates no `HashMap` (`clippy.toml`).
//!
//! # Stuck timers
//!
//! [`VNet::stuck_timers`] counts the timers a driver must never see: an engine that re-arms
//! for the instant its timer just fired, [`SPIN_LIMIT`] times in a row (its deadline does
//! not move past `now` after `handle_timeout`; the network defers it by a millisecond rather
//! than spin), and a live engine whose `poll_timeout` is in the past while the network holds
//! no timer for it at or before now (an armed timer the driver lost: a deadline changed
//! without a drain, or one the engine never fires). Every engine test asserts it is zero.
//!
//! # Golden traces
//!
//! `crates/weft-overlay/tests/golden_traces.rs` runs one fixed scenario per engine from a
//! fixed seed and compares the trace hash with a committed value, so that any change in what
//! an engine sends, to whom or when fails a test. A change meant to alter behaviour updates
//! the value on purpose (the test prints the new hash; the commit says why).
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use weft_overlay::chord::{Chord, Command, Config, Event};
//! use weft_vnet::{VNet, ids};
//! # use std::sync::Arc;
//!
//! let nodes = ids(7, 50);
//! let mut net: VNet<Chord<u32>> = VNet::uniform(7, (5, 50));
//! net.extend(Chord::converged_network(Arc::new(Config::default()), 7, &nodes));
//! net.isolate(&[3, 4], 1); // nodes 3 and 4 on an island of their own
//! let id = net.query(0, Command::Lookup(42));
//! let done = net.run_until(Duration::from_secs(30), |ev| {
//!     ev.iter().any(|(i, e)| *i == 0 && matches!(e, Event::LookupFinished(f) if f.id == id))
//! });
//! assert!(done);
//! assert_eq!(net.stuck_timers(), 0);
//! ```

pub mod churn;
pub mod controls;
mod drive;
pub mod network;
pub mod queue;
pub mod trace;
mod vnet;

pub use drive::ids;
pub use vnet::{Counters, MessageClass, Observer, SPIN_LIMIT, Step, VNet, unclassified};
