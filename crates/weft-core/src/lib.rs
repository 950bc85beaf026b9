//! Base types shared by every weft crate.
//!
//! This crate is pure: it has no async runtime, no networking and never reads the clock.
//! It holds
//!
//! - [`time`]: the integer time type every protocol engine is driven with, so that the same
//!   engine runs under the wall clock in the node and under virtual time in the simulator;
//! - [`id`]: 256-bit identifiers (overlay keys, content hashes) printed as lowercase hex;
//! - [`wire`]: the size-limited, versioned codec for every message a peer sends;
//! - [`config`]: the node's settings, every one with a default, read from `config.toml`.
//!
//! ```
//! use weft_core::{time::Time, id::Key256};
//! let t = Time::ZERO + std::time::Duration::from_millis(1500);
//! assert_eq!(t.as_millis(), 1500);
//! let k = Key256::hash(b"blue train");
//! assert_eq!(k.to_string().len(), 64);
//! ```

pub mod config;
pub mod id;
pub mod peer;
pub mod time;
pub mod wire;
