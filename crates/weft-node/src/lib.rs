//! The weft daemon: what `weft up` runs.
//!
//! # What the crate holds
//!
//! - [`node::run`]: the wiring. It opens the data folder ([`home`]: lock, identity key, API
//!   token, `config.toml`, `addrs.json`), the store (`weft-store`: SQLite and the peer book),
//!   spawns the network task (`weft_net::Network`) and the overlays (`weft_net::overlay`:
//!   Kademlia, flood, directory), starts file sharing ([`share::Share`]) and the HTTP API, then
//!   runs the node loop until a signal: network events into the peer book, `addrs.json` and
//!   the API's event stream; due peers redialed with backoff.
//! - [`api`]: the local HTTP API (axum, loopback only, bearer token): identity, peers,
//!   health, the event stream ([`events`], SSE from a bounded broadcast), `/metrics`
//!   ([`metrics`], OpenMetrics); each feature merges its own `Router` into [`api::router`].
//! - [`share`]: file sharing, the one feature service today: indexer, publishing to the three
//!   location models, search, the `/weft/content/1` range server, downloads, the
//!   `/content/{hash}` gateway (see its module doc for the parts).
//! - [`collab`]: contacts, presence and end-to-end messages (`/weft/msg/1`, mailboxes).
//! - [`compute`]: distributed computing (jobs, the `/weft/compute/1` protocol, the worker).
//! - The other side of the API, used by the CLI and the tests, is the `weft-api` crate.
//!
//! # How a message flows
//!
//! A peer's bytes arrive on a libp2p stream of one of weft's protocols. `weft-net` negotiates
//! it and queues it in that protocol's bounded inbound backlog (`weft_net::inbound`); the
//! protocol's accept loop takes it: an overlay driver (`weft_net::overlay`) reads bounded
//! frames, decodes them with `weft_core::wire` and hands each message to a pure engine from
//! `weft-overlay` with the authenticated sender and the time; what the engine sends goes out
//! the same way, and what it concludes (a lookup's answer, a search hit) comes back to the
//! caller through a channel. A feature's own protocol (`/weft/content/1`,
//! `/weft/search/1`) has its accept loop in the feature ([`share::content`],
//! [`share::search`]).
//!
//! # How a download flows
//!
//! `weft get HASH` is a request to the API ([`share::routes`]); the node, not the command,
//! runs the download so that it outlives it ([`share::download`]): the providers come from
//! recent search results, the DHT and a flood query ([`share::sources`]); the first that
//! proves the size fixes it; `weft_share::transfer::Plan` deals ranges to the sources; one
//! [`share::session`] per source pipelines range requests on a `/weft/content/1` stream and
//! verifies every slice against the root hash (bao); verified pieces go to a partial file in
//! the data folder ([`share::piece_file`]) with the resume state in SQLite, and the file
//! moves into place once every piece is proven. The provider's side is
//! [`share::content`]: upload slots, a rate limit, and slices read and verified from the
//! shared file before they are sent.
//!
//! # Where to add a service
//!
//! A feature is a module beside [`share`] that owns its state, its SQLite migrations (added to
//! the list the store applies at start), its `config.toml` section (its type in
//! `weft_core::config` today), its protocol accept loops
//! (`NetHandle::inbound` for inbound streams, `NetHandle::stream_control` to open them) and
//! its `Router`, which [`api::router`] merges. [`node::run`] starts it after the network and
//! the overlays and hands it the handles it needs. `ARCHITECTURE.md` ("Adding a service")
//! gives the steps.

pub mod api;
mod book;
pub mod collab;
pub mod compute;
pub mod config;
pub mod db;
pub mod events;
pub mod home;
pub mod metrics;
pub mod node;
pub mod share;

pub use node::{UpOptions, run};
