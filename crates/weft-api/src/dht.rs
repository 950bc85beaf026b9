//! The DHT's records: `PUT /v0/dht/{key}` stores the body ([`DhtPutQuery`], [`DhtPut`]),
//! `GET /v0/dht/{key}` answers the value as bytes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Life of a record stored through the API when the request names none (24 h).
pub const DHT_DEFAULT_TTL_SECS: u64 = 24 * 3600;

/// Query of `PUT /v0/dht/{key}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DhtPutQuery {
    /// Seconds the record stays valid (default 24 h; the DHT caps it at 48 h).
    pub ttl_secs: Option<u64>,
}

/// `PUT /v0/dht/{key}`: where the record went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DhtPut {
    /// The record key (64 hex digits).
    pub key: String,
    /// Peers that stored the record.
    pub stored: u64,
}
