//! The types of weft's local HTTP API, and a client for it.
//!
//! The node serves these types and the CLI, the tests and the dashboard read them, so the two
//! sides cannot drift apart: a field renamed here is renamed on both. States, roles,
//! directions and reachability are enums that serialize as the lowercase words the API has
//! always printed. Every type derives [`schemars::JsonSchema`]: the node's `openapi.json`
//! holds their schemas, and a test checks them against these types.
//!
//! One module per part of the API:
//!
//! - [`node`]: who the node is (`/v0/id`), its peers (`/v0/peers`), `/v0/health`;
//! - [`dht`]: records in the DHT (`/v0/dht/{key}`);
//! - [`share`]: indexing jobs, shared roots and files, search, downloads;
//! - [`collab`]: contacts, messages, the inbox;
//! - [`compute`]: jobs, results, workers, credit;
//! - [`events`]: the live events of `/v0/events`;
//! - [`error`]: the body of every error answer;
//! - [`running`]: the files a running node leaves in its data folder for its clients;
//! - [`client`]: a connection to that node, with a typed call per route.

mod calls;
pub mod client;
pub mod collab;
pub mod compute;
pub mod dht;
pub mod error;
pub mod events;
pub mod node;
pub mod running;
pub mod share;

pub use calls::{Events, Lines};
pub use client::{Client, ClientError};
pub use error::ErrorBody;
pub use running::{Addrs, read_running};
pub use weft_core::peer::{Direction, Discovery, NatStatus, Role};
