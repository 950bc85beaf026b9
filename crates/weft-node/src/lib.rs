//! The weft daemon: it opens a data folder ([`home`]), starts the network (`weft-net`) and
//! the local HTTP API ([`api`]), keeps the peer book, and stops cleanly on a signal
//! ([`node::run`]). The other side of the API, used by the CLI, is the `weft-api` crate.

pub mod api;
mod book;
pub mod collab;
pub mod events;
pub mod home;
pub mod metrics;
pub mod node;
pub mod share;

pub use node::{UpOptions, run};
