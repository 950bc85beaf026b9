//! The weft daemon: what `weft up` runs.
//!
//! # What the crate holds
//!
//! - [`node::run`]: the wiring. It opens the data folder ([`home`]: lock, identity key, API
//!   token, `config.toml`, `addrs.json`), reads the settings ([`config`]: `config.toml`
//!   assembled from each part's own section), opens the store (`weft-store`: SQLite with
//!   every service's migrations, and the peer book), spawns the network task
//!   (`weft_net::Network`) and the overlays (`weft_net::overlay`: Kademlia, flood,
//!   directory), starts the services ([`share::Share`], [`compute::Compute`],
//!   [`collab::Collab`]) with the handles each needs, and the HTTP API; then runs the node
//!   loop until a signal: network events into the peer book, `addrs.json`, the services and
//!   the API's event stream; due peers redialed with backoff.
//! - [`api`]: the local HTTP API (axum, loopback only, bearer token): the node's own routes
//!   (identity, peers, health, the event stream ([`events`], SSE from a bounded broadcast),
//!   `/metrics` ([`metrics`], OpenMetrics), DHT records) over [`api::ApiState`], and each
//!   service's `Router` over the service's own state, merged by [`api::router`]. Every
//!   request, response and event is a type from the `weft-api` crate, which the CLI and the
//!   tests read through its typed `Client`; every failure is a route's error enum
//!   ([`api::HttpError`]: one status, one line).
//! - The services, one module each, each owning its state, tables, settings and router:
//!   [`share`] (indexer, publishing to the three location models, search, the
//!   `/weft/content/1` range server, downloads, the `/content/{hash}` gateway; see its module
//!   doc), [`collab`] (contacts, presence and end-to-end messages: `/weft/msg/1`, mailboxes),
//!   [`compute`] (jobs, the `/weft/compute/1` protocol, the worker).
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
//! `weft get HASH` is a request to the API (`POST /v0/downloads`, [`share::routes`]); the node, not the command,
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
//! A feature is a module beside [`share`] with a cheaply cloned service type that owns its
//! state (other modules call its methods, never reach into its fields), its SQLite
//! migrations (`FEATURE::migrations()`, concatenated by [`node::migrations`]), its
//! `config.toml` section (a type in the feature's crate, as `weft_share::config::ShareConfig`,
//! held by [`config::NodeConfig`]), its protocol accept loops (`NetHandle::inbound` for
//! inbound streams, `NetHandle::stream_control` to open them) and a `Router` over its own
//! state with its `ROUTES`, whose types live in `weft-api` and whose schemas are in
//! `openapi.json`. [`node::run`] starts it after the network and the overlays, hands it the
//! handles it needs (net, overlay, events sender, its settings) and merges its router.
//! `ARCHITECTURE.md` ("Adding a service") gives the steps.

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
