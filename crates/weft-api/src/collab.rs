//! Collaboration: contacts (`POST`/`GET /v0/collab/contacts`), messages (`POST
//! /v0/collab/messages`), the inbox (`GET /v0/collab/inbox`) and counters (`GET
//! /v0/collab/status`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Longest `POST /v0/collab/messages` waits for the recipient's ack, in milliseconds.
pub const MAX_SEND_WAIT_MS: u64 = 10_000;
/// Longest `GET /v0/collab/inbox` waits for a message, in milliseconds.
pub const MAX_INBOX_WAIT_MS: u64 = 30_000;
/// Most messages per inbox answer (and the default).
pub const MAX_INBOX_PAGE: usize = 1000;

/// Body of `POST /v0/collab/contacts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AddContact {
    /// The peer id (`12D3KooW…`).
    pub peer_id: String,
    /// The petname.
    pub name: String,
}

/// Whether a contact is reachable now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    /// Connected, or heard from lately.
    Online,
    /// Not heard from lately.
    Offline,
}

impl Presence {
    /// The lowercase name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Presence::Online => "online",
            Presence::Offline => "offline",
        }
    }
}

/// A contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Contact {
    /// The petname.
    pub name: String,
    /// The peer id.
    pub peer_id: String,
    /// Online or offline.
    pub status: Presence,
    /// When last seen, µs since the Unix epoch (none if never).
    pub last_seen_us: Option<u64>,
}

/// `GET /v0/collab/contacts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Contacts {
    /// Contacts by name.
    pub contacts: Vec<Contact>,
}

/// Body of `POST /v0/collab/messages`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SendMessage {
    /// The contact's name.
    pub to: String,
    /// The text.
    pub text: String,
    /// How long to wait for the recipient's ack, ms (default 0, at most 10,000).
    #[serde(default)]
    pub wait_ms: u64,
}

/// Answer of `POST /v0/collab/messages`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Sent {
    /// The contact's name.
    pub to: String,
    /// Its peer id.
    pub peer_id: String,
    /// The message's number in the conversation.
    pub seq: u64,
    /// Whether the recipient acked it within the wait.
    pub delivered: bool,
}

/// Query of `GET /v0/collab/inbox`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InboxQuery {
    /// Messages after this inbox id (default 0: from the first).
    #[serde(default)]
    pub after: i64,
    /// At most this many (default and most 1000).
    pub limit: Option<usize>,
    /// Wait this long for a message when there is none (at most 30,000 ms).
    #[serde(default)]
    pub wait_ms: u64,
}

/// A delivered message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    /// Inbox id (pass the last one as `after` to page or follow).
    pub id: i64,
    /// The sender's contact name (its peer id if it is no longer a contact).
    pub from: String,
    /// The sender's peer id.
    pub peer_id: String,
    /// Its number in the conversation.
    pub seq: u64,
    /// Sent, µs since the Unix epoch, by the sender's clock.
    pub sent_us: u64,
    /// Delivered here, µs since the Unix epoch.
    pub received_us: u64,
    /// The text.
    pub text: String,
}

/// A page of `GET /v0/collab/inbox`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Inbox {
    /// The messages, in order.
    pub messages: Vec<Message>,
    /// The last message's id (the query's `after` if none): the next `after`.
    pub last_id: i64,
}

/// `GET /v0/collab/status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CollabStatus {
    /// Messages delivered to this node's inbox since start.
    pub delivered: u64,
    /// Copies of already delivered messages dropped since start.
    pub duplicates: u64,
    /// Envelopes refused since start (forged, not for us, from a non-contact, malformed).
    pub refused: u64,
    /// Copies kept for others since start.
    pub deposits_kept: u64,
    /// Deposits refused by the per-sender quota or a full mailbox since start.
    pub deposits_over_quota: u64,
    /// Requests that could not be read since start.
    pub bad_requests: u64,
    /// Copies held now for other peers.
    pub mailbox_messages: u64,
    /// Their bytes.
    pub mailbox_bytes: u64,
    /// The per-sender quota of this mailbox.
    pub mailbox_per_sender: u64,
    /// Messages this node sent that their recipients have not acked yet.
    pub outbox: u64,
}
