//! Events the node publishes on `GET /v0/events` (server-sent events) for the dashboard and
//! scripts. Each SSE message has `event: <kind>` and a JSON `data` line.

use serde::Serialize;

/// One live event.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ApiEvent {
    /// The first connection to a peer opened.
    PeerConnected {
        /// The peer.
        peer_id: String,
        /// The connection's remote address.
        addr: String,
        /// Which side dialed.
        direction: weft_core::peer::Direction,
        /// How it was found.
        source: &'static str,
    },
    /// The last connection to a peer closed.
    PeerDisconnected {
        /// The peer.
        peer_id: String,
    },
}

impl ApiEvent {
    /// The SSE event name.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiEvent::PeerConnected { .. } => "peer_connected",
            ApiEvent::PeerDisconnected { .. } => "peer_disconnected",
        }
    }
}
