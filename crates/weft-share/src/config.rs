//! The sharing service's settings: the `[share]` section of the node's `config.toml`. The
//! node reads the file and assembles this section into its configuration.

use serde::{Deserialize, Serialize};

/// What a node gives to downloaders (`[share]` in `config.toml`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShareConfig {
    /// Ranges served at the same time, to all downloaders together.
    pub upload_slots: u32,
    /// Ranges one downloader may be served at the same time while others wait.
    pub upload_slots_per_peer: u32,
    /// Upload rate limit in bytes per second, shared by all downloaders (0: unlimited).
    pub upload_rate: u64,
}

impl Default for ShareConfig {
    fn default() -> Self {
        ShareConfig {
            upload_slots: 16,
            upload_slots_per_peer: 8,
            upload_rate: 0,
        }
    }
}
