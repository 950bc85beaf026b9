//! The collaboration part of the HTTP API.
//!
//! | route | what |
//! |---|---|
//! | `POST /v0/collab/contacts` `{"peer_id","name"}` | add a contact |
//! | `GET /v0/collab/contacts` | contacts with online / offline and last seen |
//! | `POST /v0/collab/messages` `{"to","text","wait_ms"}` | send to a contact: queued at once, delivered now or when it is back; answered once acked or after `wait_ms` (at most 10 s) |
//! | `GET /v0/collab/inbox?after=&limit=&wait_ms=` | delivered messages after an id, in order; with `wait_ms`, answered when one arrives or after at most 30 s |
//! | `GET /v0/collab/status` | counters, the outbox and what this node keeps as a mailbox |

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use weft_api::collab::{
    AddContact, CollabStatus, Contact, Contacts, Inbox, InboxQuery, MAX_INBOX_PAGE,
    MAX_INBOX_WAIT_MS, MAX_SEND_WAIT_MS, Message, Presence, SendMessage, Sent,
};
use weft_collab::envelope::{Body, Envelope, EnvelopeError, MAX_TEXT_BYTES};
use weft_collab::presence::Status;
use weft_collab::store::{InboxMessage, Store, StoreError};
use weft_net::PeerId;

use super::{Collab, key_of, now_us, peer_of};
use crate::api::{ApiError, HttpError};

/// `GET`, `POST`: contacts.
pub const ROUTE_CONTACTS: &str = "/v0/collab/contacts";
/// `POST`: send a message.
pub const ROUTE_MESSAGES: &str = "/v0/collab/messages";
/// `GET`: the inbox.
pub const ROUTE_INBOX: &str = "/v0/collab/inbox";
/// `GET`: counters.
pub const ROUTE_STATUS: &str = "/v0/collab/status";

/// The collaboration routes as `(method, path)`.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", ROUTE_CONTACTS),
    ("get", ROUTE_CONTACTS),
    ("post", ROUTE_MESSAGES),
    ("get", ROUTE_INBOX),
    ("get", ROUTE_STATUS),
];

/// Longest wait for `POST /v0/collab/messages`.
const MAX_SEND_WAIT: Duration = Duration::from_millis(MAX_SEND_WAIT_MS);
/// Longest wait for `GET /v0/collab/inbox`.
const MAX_INBOX_WAIT: Duration = Duration::from_millis(MAX_INBOX_WAIT_MS);

/// Why a collaboration route failed.
#[derive(Debug, thiserror::Error)]
pub enum CollabRouteError {
    /// The peer id does not parse.
    #[error(
        "'{0}' is not a peer id; it looks like 12D3KooW… (ask your contact for the id `weft id` prints)"
    )]
    BadPeerId(String),
    /// The peer id is not an ed25519 key.
    #[error("peer id {0} is not an ed25519 key; weft contacts are 12D3KooW… ids")]
    NotEd25519(PeerId),
    /// The node's own peer id.
    #[error("that is this node's own peer id")]
    OwnId,
    /// An empty message.
    #[error("the message is empty")]
    Empty,
    /// A message over [`MAX_TEXT_BYTES`].
    #[error("the message is {0} bytes; the most is {MAX_TEXT_BYTES}")]
    TooLarge(usize),
    /// The contacts, inbox or outbox refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The message could not be sealed.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
}

impl HttpError for CollabRouteError {
    fn status(&self) -> StatusCode {
        match self {
            CollabRouteError::BadPeerId(_)
            | CollabRouteError::NotEd25519(_)
            | CollabRouteError::OwnId
            | CollabRouteError::Empty
            | CollabRouteError::Envelope(_) => StatusCode::BAD_REQUEST,
            CollabRouteError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            CollabRouteError::Store(e) => match e {
                StoreError::Db(_) | StoreError::Corrupt => StatusCode::INTERNAL_SERVER_ERROR,
                StoreError::UnknownContact(_) => StatusCode::NOT_FOUND,
                StoreError::NameTaken(_) | StoreError::PeerKnown(_) => StatusCode::CONFLICT,
                StoreError::Petname(_) | StoreError::TooManyContacts => StatusCode::BAD_REQUEST,
            },
        }
    }
}

impl Collab {
    /// The collaboration routes over this service, to merge into the API router.
    pub fn router(&self) -> Router {
        Router::new()
            .route(ROUTE_CONTACTS, post(add_contact).get(contacts))
            .route(ROUTE_MESSAGES, post(send))
            .route(ROUTE_INBOX, get(inbox))
            .route(ROUTE_STATUS, get(status))
            .with_state(self.clone())
    }
}

fn view(collab: &Collab, c: weft_collab::store::Contact) -> Contact {
    let now = now_us();
    let (mut status, seen) = collab.presence().status(now, &c.key);
    if peer_of(&c.key).is_some_and(|p| collab.connected(&p)) {
        status = Status::Online;
    }
    Contact {
        name: c.name,
        peer_id: c.peer_id,
        status: match status {
            Status::Online => Presence::Online,
            Status::Offline => Presence::Offline,
        },
        last_seen_us: seen.or(c.last_seen_us),
    }
}

async fn add_contact(
    State(collab): State<Collab>,
    Json(body): Json<AddContact>,
) -> Result<Json<Contact>, ApiError> {
    let peer: PeerId = body
        .peer_id
        .parse()
        .map_err(|_| CollabRouteError::BadPeerId(body.peer_id.clone()))?;
    let key = key_of(&peer).ok_or(CollabRouteError::NotEd25519(peer))?;
    if peer == collab.net().local_peer_id {
        return Err(CollabRouteError::OwnId.into());
    }
    let added = Store::new(&collab.db())
        .add_contact(&body.name, &peer.to_string(), key, now_us())
        .map_err(CollabRouteError::from)?;
    collab.wake_outbox();
    Ok(Json(view(&collab, added)))
}

async fn contacts(State(collab): State<Collab>) -> Result<Json<Contacts>, ApiError> {
    let list = Store::new(&collab.db())
        .contacts()
        .map_err(CollabRouteError::from)?;
    let contacts = list.into_iter().map(|c| view(&collab, c)).collect();
    Ok(Json(Contacts { contacts }))
}

async fn send(
    State(collab): State<Collab>,
    Json(body): Json<SendMessage>,
) -> Result<Json<Sent>, ApiError> {
    if body.text.is_empty() {
        return Err(CollabRouteError::Empty.into());
    }
    if body.text.len() > MAX_TEXT_BYTES {
        return Err(CollabRouteError::TooLarge(body.text.len()).into());
    }
    let contact = Store::new(&collab.db())
        .contact(&body.to)
        .map_err(CollabRouteError::from)?
        .ok_or_else(|| CollabRouteError::Store(StoreError::UnknownContact(body.to.clone())))?;
    let mut acks = collab.acks();
    let now = now_us();
    let env = Store::new(&collab.db()).queue::<CollabRouteError>(contact.key, now, |seq| {
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
    })?;
    collab.wake_outbox();
    let wait = Duration::from_millis(body.wait_ms).min(MAX_SEND_WAIT);
    let acked = |c: &Collab| {
        Store::new(&c.db())
            .unacked(&contact.key, 1)
            .map(|p| p.first().is_none_or(|p| p.envelope.seq > env.seq))
            .unwrap_or(false)
    };
    let deadline = tokio::time::Instant::now() + wait;
    let mut delivered = acked(&collab);
    while !delivered && tokio::time::Instant::now() < deadline {
        if tokio::time::timeout_at(deadline, acks.changed())
            .await
            .is_err()
        {
            break;
        }
        delivered = acked(&collab);
    }
    Ok(Json(Sent {
        to: contact.name,
        peer_id: contact.peer_id,
        seq: env.seq,
        delivered,
    }))
}

fn message_view(collab: &Collab, m: InboxMessage) -> Message {
    let peer_id = peer_of(&m.from).map(|p| p.to_string()).unwrap_or_default();
    Message {
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

async fn inbox(
    State(collab): State<Collab>,
    Query(q): Query<InboxQuery>,
) -> Result<Json<Inbox>, ApiError> {
    let limit = q.limit.unwrap_or(MAX_INBOX_PAGE).clamp(1, MAX_INBOX_PAGE);
    let wait = Duration::from_millis(q.wait_ms).min(MAX_INBOX_WAIT);
    let mut head = collab.inbox_head();
    let _ = tokio::time::timeout(wait, head.wait_for(|id| *id > q.after)).await;
    let page = Store::new(&collab.db())
        .inbox(q.after, limit)
        .map_err(CollabRouteError::from)?;
    let last_id = page.last().map_or(q.after, |m| m.id);
    let messages = page.into_iter().map(|m| message_view(&collab, m)).collect();
    Ok(Json(Inbox { messages, last_id }))
}

async fn status(State(collab): State<Collab>) -> Json<CollabStatus> {
    Json(collab.status())
}
