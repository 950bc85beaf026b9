//! The collaboration part of the HTTP API.
//!
//! | route | what |
//! |---|---|
//! | `POST /v0/collab/contacts` `{"peer_id","name"}` | add a contact |
//! | `GET /v0/collab/contacts` | contacts with online / offline and last seen |
//! | `POST /v0/collab/messages` `{"to","text","wait_ms"}` | send to a contact: queued at once, delivered now or when it is back; answered once acked or after `wait_ms` (at most 10 s) |
//! | `GET /v0/collab/inbox?after=&limit=&wait_ms=` | delivered messages after an id, in order; with `wait_ms`, answered when one arrives or after at most 30 s |
//! | `GET /v0/collab/status` | counters, the outbox and what this node keeps as a mailbox |

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use weft_collab::envelope::{Body, Envelope, EnvelopeError, MAX_TEXT_BYTES};
use weft_collab::presence::Status;
use weft_collab::store::{InboxMessage, Store, StoreError};
use weft_net::PeerId;

use super::{Collab, key_of, now_us, peer_of};
use crate::api::ApiState;

/// `GET`, `POST`: contacts.
pub const ROUTE_CONTACTS: &str = "/v0/collab/contacts";
/// `POST`: send a message.
pub const ROUTE_MESSAGES: &str = "/v0/collab/messages";
/// `GET`: the inbox.
pub const ROUTE_INBOX: &str = "/v0/collab/inbox";
/// `GET`: counters.
pub const ROUTE_STATUS: &str = "/v0/collab/status";

/// Longest wait for `POST /v0/collab/messages`.
const MAX_SEND_WAIT: Duration = Duration::from_secs(10);
/// Longest wait for `GET /v0/collab/inbox`.
const MAX_INBOX_WAIT: Duration = Duration::from_secs(30);
/// Most messages per inbox answer.
const MAX_INBOX_PAGE: usize = 1000;

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": msg.into() }))).into_response()
}

fn store_error(e: StoreError) -> Response {
    let status = match e {
        StoreError::Db(_) | StoreError::Corrupt => StatusCode::INTERNAL_SERVER_ERROR,
        StoreError::UnknownContact(_) => StatusCode::NOT_FOUND,
        StoreError::NameTaken(_) | StoreError::PeerKnown(_) => StatusCode::CONFLICT,
        StoreError::Petname(_) | StoreError::TooManyContacts => StatusCode::BAD_REQUEST,
    };
    error(status, e.to_string())
}

/// The collaboration routes, to merge into the API router.
pub fn router() -> Router<Arc<ApiState>> {
    Router::new()
        .route(ROUTE_CONTACTS, post(add_contact).get(contacts))
        .route(ROUTE_MESSAGES, post(send))
        .route(ROUTE_INBOX, get(inbox))
        .route(ROUTE_STATUS, get(status))
}

/// Body of `POST /v0/collab/contacts`.
#[derive(Deserialize)]
pub struct AddContact {
    /// The peer id (`12D3KooW…`).
    pub peer_id: String,
    /// The petname.
    pub name: String,
}

/// A contact as the API shows it.
#[derive(Serialize)]
pub struct ContactView {
    /// The petname.
    pub name: String,
    /// The peer id.
    pub peer_id: String,
    /// `online` or `offline`.
    pub status: Status,
    /// When last seen, µs since the Unix epoch (none if never).
    pub last_seen_us: Option<u64>,
}

fn view(collab: &Collab, c: weft_collab::store::Contact) -> ContactView {
    let now = now_us();
    let (mut status, seen) = collab.presence().status(now, &c.key);
    if peer_of(&c.key).is_some_and(|p| collab.connected(&p)) {
        status = Status::Online;
    }
    ContactView {
        name: c.name,
        peer_id: c.peer_id,
        status,
        last_seen_us: seen.or(c.last_seen_us),
    }
}

async fn add_contact(State(s): State<Arc<ApiState>>, Json(body): Json<AddContact>) -> Response {
    let peer: PeerId = match body.peer_id.parse() {
        Ok(p) => p,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "'{}' is not a peer id; it looks like 12D3KooW… (ask your contact for the id `weft id` prints)",
                    body.peer_id
                ),
            );
        }
    };
    let Some(key) = key_of(&peer) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("peer id {peer} is not an ed25519 key; weft contacts are 12D3KooW… ids"),
        );
    };
    if peer == s.net.local_peer_id {
        return error(StatusCode::BAD_REQUEST, "that is this node's own peer id");
    }
    let added =
        Store::new(&s.collab.db()).add_contact(&body.name, &peer.to_string(), key, now_us());
    match added {
        Ok(c) => {
            s.collab.wake_outbox();
            Json(view(&s.collab, c)).into_response()
        }
        Err(e) => store_error(e),
    }
}

async fn contacts(State(s): State<Arc<ApiState>>) -> Response {
    let list = Store::new(&s.collab.db()).contacts();
    match list {
        Ok(list) => {
            let contacts: Vec<ContactView> = list.into_iter().map(|c| view(&s.collab, c)).collect();
            Json(serde_json::json!({ "contacts": contacts })).into_response()
        }
        Err(e) => store_error(e),
    }
}

/// Body of `POST /v0/collab/messages`.
#[derive(Deserialize)]
pub struct SendBody {
    /// The contact's name.
    pub to: String,
    /// The text.
    pub text: String,
    /// How long to wait for the recipient's ack, ms (default 0, at most 10,000).
    #[serde(default)]
    pub wait_ms: u64,
}

/// Answer of `POST /v0/collab/messages`.
#[derive(Serialize)]
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

#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}

async fn send(State(s): State<Arc<ApiState>>, Json(body): Json<SendBody>) -> Response {
    let collab = &s.collab;
    if body.text.is_empty() {
        return error(StatusCode::BAD_REQUEST, "the message is empty");
    }
    if body.text.len() > MAX_TEXT_BYTES {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the message is {} bytes; the most is {MAX_TEXT_BYTES}",
                body.text.len()
            ),
        );
    }
    let contact = Store::new(&collab.db()).contact(&body.to);
    let contact = match contact {
        Ok(Some(c)) => c,
        Ok(None) => return store_error(StoreError::UnknownContact(body.to)),
        Err(e) => return store_error(e),
    };
    let mut acks = collab.acks();
    let now = now_us();
    let queued = Store::new(&collab.db()).queue::<SendError>(contact.key, now, |seq| {
        let sealed = Envelope::seal(
            collab.me(),
            contact.key,
            seq,
            &Body {
                sent_us: now,
                text: body.text.clone(),
            },
            &mut hpke::rand_core::UnwrapErr(getrandom::SysRng),
        )?;
        Ok(sealed)
    });
    let env = match queued {
        Ok(e) => e,
        Err(SendError::Store(e)) => return store_error(e),
        Err(SendError::Envelope(e)) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    collab.wake_outbox();
    let wait = Duration::from_millis(body.wait_ms).min(MAX_SEND_WAIT);
    let acked = |c: &Collab| {
        Store::new(&c.db())
            .unacked(&contact.key, 1)
            .map(|p| p.first().is_none_or(|p| p.envelope.seq > env.seq))
            .unwrap_or(false)
    };
    let deadline = tokio::time::Instant::now() + wait;
    let mut delivered = acked(collab);
    while !delivered && tokio::time::Instant::now() < deadline {
        if tokio::time::timeout_at(deadline, acks.changed())
            .await
            .is_err()
        {
            break;
        }
        delivered = acked(collab);
    }
    Json(Sent {
        to: contact.name,
        peer_id: contact.peer_id,
        seq: env.seq,
        delivered,
    })
    .into_response()
}

/// Query of `GET /v0/collab/inbox`.
#[derive(Deserialize)]
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

/// A message as the API shows it.
#[derive(Serialize)]
pub struct MessageView {
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

fn message_view(collab: &Collab, m: InboxMessage) -> MessageView {
    let peer_id = peer_of(&m.from).map(|p| p.to_string()).unwrap_or_default();
    MessageView {
        id: m.id,
        from: collab
            .contact_name(&m.from)
            .unwrap_or_else(|| peer_id.clone()),
        peer_id,
        seq: m.seq,
        sent_us: m.sent_us,
        received_us: m.received_us,
        text: m.text,
    }
}

async fn inbox(State(s): State<Arc<ApiState>>, Query(q): Query<InboxQuery>) -> Response {
    let collab = &s.collab;
    let limit = q.limit.unwrap_or(MAX_INBOX_PAGE).clamp(1, MAX_INBOX_PAGE);
    let wait = Duration::from_millis(q.wait_ms).min(MAX_INBOX_WAIT);
    let mut head = collab.inbox_head();
    let _ = tokio::time::timeout(wait, head.wait_for(|id| *id > q.after)).await;
    let page = Store::new(&collab.db()).inbox(q.after, limit);
    match page {
        Ok(page) => {
            let last_id = page.last().map_or(q.after, |m| m.id);
            let messages: Vec<MessageView> =
                page.into_iter().map(|m| message_view(collab, m)).collect();
            Json(serde_json::json!({ "messages": messages, "last_id": last_id })).into_response()
        }
        Err(e) => store_error(e),
    }
}

async fn status(State(s): State<Arc<ApiState>>) -> Response {
    Json(s.collab.status()).into_response()
}
