//! Fuzz targets for every decoder of peer input, and hostile-peer runs of every engine.
//!
//! Each target in `fuzz_targets/` is a one-line call into this library, so that the logic is
//! compiled, documented and linted once:
//!
//! - [`overlay`]: the messages of every routing engine (`kademlia`, `directory`, `flood` with
//!   its QRP route tables, `chord`, `pastry`, `can`, `freenet`), decoded with
//!   [`weft_core::wire::decode`] and checked exactly as a receiving node does;
//! - [`share`]: the file-sharing messages ([`weft_share::wire`]), verified ranges
//!   ([`weft_share::verify::decode_range`]) and stored resume state;
//! - [`collab`]: `/weft/msg/1` requests and answers ([`weft_collab::wire`]), envelopes and
//!   heartbeats verified;
//! - [`net`]: peer-exchange replies and length-prefixed frames;
//! - [`network`] and [`scenarios`]: a few honest engines of one kind wired together, plus a
//!   hostile peer whose every message comes from the fuzz input; the input also decides
//!   delivery order, loss, replays, time jumps and local commands. Engines must never panic,
//!   never produce unbounded output and never keep a deadline in the past.
//!
//! Every decoder target also re-encodes what it decoded and checks that it decodes to the same
//! value ([`codec::round_trip`]).
//!
//! Seed inputs are generated from [`samples`] (one valid value of every message variant) by
//! the target binaries themselves when `WEFT_FUZZ_SEED_DIR` is set ([`seeds`]), so that they
//! always match the current message types. `scripts/fuzz` does this before every run.

pub mod codec;
pub mod collab;
pub mod input;
pub mod net;
pub mod network;
pub mod overlay;
pub mod samples;
pub mod scenarios;
pub mod seeds;
pub mod share;
