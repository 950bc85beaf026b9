//! Base types shared by every weft crate.
//!
//! This crate is pure: it has no async runtime, no networking and never reads the clock.
//! It holds
//!
//! - [`time`]: the integer time type every protocol engine is driven with, so that the same
//!   engine runs under the wall clock in the node and under virtual time in the simulator;
//! - [`id`]: 256-bit identifiers (overlay keys, content hashes) printed as lowercase hex;
//! - [`wire`]: the size-limited, versioned codec for every message a peer sends;
//! - [`peer`]: facts about peers every layer shares: how one was found, which side dialed,
//!   NAT status, a node's role in the location overlays.
//!
//! The node's settings are not here: each part owns its section of `config.toml`, and the
//! node (`weft-node`'s `config`) assembles them.
//!
//! ```
//! use weft_core::{time::Time, id::Key256};
//! let t = Time::ZERO + std::time::Duration::from_millis(1500);
//! assert_eq!(t.as_millis(), 1500);
//! let k = Key256::hash(b"blue train");
//! assert_eq!(k.to_string().len(), 64);
//! ```

pub mod id;
pub mod peer;
pub mod time;
pub mod wire;
