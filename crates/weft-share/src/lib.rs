//! File sharing for weft: the pure parts (no async runtime, no networking).
//!
//! - [`index`]: the local index of shared files in the node's SQLite database — walking
//!   folders, hashing every file with a BLAKE3 hash tree, MIME types, audio tags, FTS5 keyword
//!   search (case- and accent-folded, prefix matches) grouped by content, rescans that skip
//!   unchanged files, and the recheck a file gets before it is served;
//! - [`data_folder`]: recognising weft data folders, which hold a node's secrets and are never
//!   shared;
//! - [`hashing`]: whole-file BLAKE3 hashes, the tree's two halves on two threads;
//! - [`http_range`]: the HTTP `Range` header resolved against a content size (RFC 9110);
//! - [`verify`]: verified ranges — the encoded slice a provider sends for a byte range, and
//!   its verification against nothing but the root hash;
//! - [`transfer`]: the sans-IO multi-source download planner (pieces, windows, endgame,
//!   strikes and bans, timeouts, resume state);
//! - [`wire`]: the bounded messages of the transfer, search and publish protocols;
//! - [`watch`]: a thin `notify` watcher reporting which shared roots changed.
//!
//! How the node puts them together for `weft get`:
//!
//! ```
//! use weft_core::{id::Key256, time::Time};
//! use weft_share::transfer::{Config, Plan, PieceError, PieceOutcome};
//! use weft_share::verify::{Outboard, decode_range, encode_range};
//!
//! // A provider's file and its hash tree (from the index, in the node).
//! let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
//! let outboard = Outboard::compute(&data[..], data.len() as u64).unwrap();
//! let (hash, size) = (outboard.root, outboard.size);
//!
//! // The downloader knows only the hash and the size.
//! let mut plan = Plan::new(hash, size, Config::default()).unwrap();
//! plan.add_source(Time::ZERO, "provider");
//! let mut file = vec![0u8; size as usize];
//! let mut now = Time::ZERO;
//! while !plan.is_complete() {
//!     for req in plan.next_requests(now) {
//!         let mut slice = Vec::new(); // sent over a stream by the provider
//!         encode_range(&data[..], &outboard, req.range.clone(), &mut slice).unwrap();
//!         now += std::time::Duration::from_millis(10);
//!         let verified = decode_range(hash, size, req.range.clone(), &slice);
//!         let result = verified.as_ref().map(|_| ()).map_err(|_| PieceError::Corrupt);
//!         if let PieceOutcome::Write { range, .. } = plan.on_piece(now, &req.peer, req.piece, result) {
//!             let bytes = verified.unwrap();
//!             file[range.start as usize..range.end as usize].copy_from_slice(&bytes);
//!         }
//!     }
//! }
//! assert_eq!(Key256::hash(&file), hash);
//! ```

pub mod config;
pub mod data_folder;
pub mod hashing;
pub mod http_range;
pub mod index;
pub mod transfer;
pub mod verify;
pub mod watch;
pub mod wire;
