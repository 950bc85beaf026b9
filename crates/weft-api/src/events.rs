//! Events the node publishes on `GET /v0/events` (server-sent events) for the dashboard and
//! scripts. Each SSE message has `event: <kind>` ([`ApiEvent::kind`]) and a JSON `data` line
//! (an [`ApiEvent`], tagged by `type`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use weft_core::peer::{Direction, Discovery};

use crate::collab::Presence;

/// One live event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ApiEvent {
    /// The first connection to a peer opened.
    PeerConnected {
        /// The peer.
        peer_id: String,
        /// The connection's remote address.
        addr: String,
        /// Which side dialed.
        direction: Direction,
        /// How it was found.
        source: Discovery,
    },
    /// The last connection to a peer closed.
    PeerDisconnected {
        /// The peer.
        peer_id: String,
    },
    /// A message was delivered to the inbox (in its conversation's order).
    MessageReceived {
        /// Its inbox id.
        id: i64,
        /// The sender's contact name.
        from: String,
        /// The sender's peer id.
        peer_id: String,
        /// Its number in the conversation.
        seq: u64,
        /// The text.
        text: String,
    },
    /// A recipient acked every message up to `up_to` (end to end).
    MessageAcked {
        /// The recipient's contact name.
        to: String,
        /// The recipient's peer id.
        peer_id: String,
        /// The highest number acked.
        up_to: u64,
    },
    /// A contact connected or disconnected.
    ContactPresence {
        /// The contact name.
        name: String,
        /// Its peer id.
        peer_id: String,
        /// Online or offline.
        status: Presence,
    },
}

impl ApiEvent {
    /// The SSE event name.
    pub fn kind(&self) -> &'static str {
        match self {
            ApiEvent::PeerConnected { .. } => "peer_connected",
            ApiEvent::PeerDisconnected { .. } => "peer_disconnected",
            ApiEvent::MessageReceived { .. } => "message_received",
            ApiEvent::MessageAcked { .. } => "message_acked",
            ApiEvent::ContactPresence { .. } => "contact_presence",
        }
    }
}
