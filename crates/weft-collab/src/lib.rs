//! Collaboration in weft: contacts, presence, end-to-end encrypted conversations that reach
//! offline peers through mailboxes (the survey's third application class, §5.4: Groove relays
//! to offline members, Magi queues at the sender).
//!
//! This crate is the protocol logic; the node (`weft-node`'s `collab/`) drives it over
//! libp2p streams and the wall clock. Nothing here reads the clock, the network or ambient
//! randomness: time comes in as [`weft_core::time::Time`]-like microseconds, randomness as an
//! RNG argument.
//!
//! - [`keys`] — the node's ed25519 identity signs; the same key, in its X25519 form, receives
//!   HPKE (RFC 9180) messages;
//! - [`envelope`] — one message sealed to its recipient and signed by its sender;
//! - [`contacts`] — petnames;
//! - [`presence`] — signed heartbeats and last seen;
//! - [`conversation`] — per-conversation sequence numbers, each message seen once and in order;
//! - [`mailbox`] — what a mailbox peer keeps for others (retention, per-sender quotas);
//! - [`store`] — the SQLite tables of all of it;
//! - [`wire`] — `/weft/msg/1`, with its bounds.

pub mod contacts;
pub mod conversation;
pub mod envelope;
pub mod keys;
pub mod mailbox;
pub mod presence;
pub mod store;
pub mod wire;
