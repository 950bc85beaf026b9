//! The types of weft's local HTTP API, and a client for it.
//!
//! The node serves these types and the CLI, the tests and the dashboard read them, so the two
//! sides cannot drift apart: a field renamed here is renamed on both. States, directions and
//! reachability are enums that serialize as the lowercase words the API has always printed.
//!
//! - [`running`]: the files a running node leaves in its data folder for its clients;
//! - [`client`]: a connection to that node, with typed calls;
//! - [`share`]: downloads (request, status, state).

pub mod client;
pub mod running;
pub mod share;

pub use client::{Client, ClientError};
pub use running::{Addrs, read_running};
pub use weft_core::peer::{Direction, Discovery, NatStatus};
