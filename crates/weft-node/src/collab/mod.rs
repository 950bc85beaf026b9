//! Collaboration in the node: the I/O around `weft-collab`'s protocol logic.
//!
//! - [`protocol`]: `/weft/msg/1`, one request and one answer per stream: direct delivery,
//!   mailbox deposits and collection, acks, heartbeats; and the client side of it;
//! - [`delivery`]: the outbox (direct delivery while the recipient is connected, otherwise
//!   deposits at the mailbox peers, the nodes closest to the recipient's id in the DHT), the
//!   collection from this node's own mailbox peers on (re)connection, heartbeats, expiry;
//! - [`routes`]: the HTTP API under `/v0/collab/`.
//!
//! Only contacts can write to a node: an envelope from a peer that is not a contact is
//! refused and counted (a stranger cannot fill the inbox). Mailbox peers keep envelopes for
//! anyone, within [`weft_collab::mailbox::Rules`].

pub mod delivery;
pub mod protocol;
pub mod routes;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, broadcast, watch};
use weft_collab::keys::{Identity, PeerKey};
use weft_collab::mailbox::Rules;
use weft_collab::presence::Presence;
use weft_collab::store::Store;
use weft_net::libp2p::identity::{self, Keypair};
use weft_net::overlay::Overlay;
use weft_net::{NetEvent, NetHandle, PeerId};
use weft_store::rusqlite::Connection;

use weft_api::collab::{CollabStatus, Presence as ContactStatus};

use crate::events::ApiEvent;

/// Tables of collaboration.
pub fn migrations() -> Vec<weft_store::Migration> {
    weft_collab::store::MIGRATIONS.to_vec()
}

/// Environment setting: copies one sender may keep at this node's mailbox (default
/// [`Rules::default`]'s 2,000). Lets tests show the quota with few messages.
pub const MAILBOX_QUOTA_ENV: &str = "WEFT_MAILBOX_PER_SENDER";

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum CollabError {
    /// The database could not be opened.
    #[error("cannot open the collaboration tables: {0}")]
    Db(#[from] weft_store::rusqlite::Error),
    /// The identity is not ed25519.
    #[error("the node's identity is not an ed25519 key; collaboration needs one")]
    NotEd25519,
    /// `/weft/msg/1` is served already.
    #[error("protocol /weft/msg/1 is already registered")]
    AlreadyRegistered,
}

/// Counters of what peers sent, for `GET /v0/collab/status`.
#[derive(Default)]
pub struct Counters {
    /// Messages delivered to the inbox.
    pub delivered: AtomicU64,
    /// Copies of messages already delivered (direct and mailboxes overlap).
    pub duplicates: AtomicU64,
    /// Envelopes refused: forged, not for us, from a non-contact, malformed.
    pub refused: AtomicU64,
    /// Copies kept for others at this mailbox.
    pub deposits_kept: AtomicU64,
    /// Deposits refused by the quotas.
    pub deposits_over_quota: AtomicU64,
    /// Requests that could not be read (malformed, too large, timed out).
    pub bad_requests: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The collaboration service of a node. Cheap to clone.
#[derive(Clone)]
pub struct Collab {
    inner: Arc<Inner>,
}

struct Inner {
    db: Mutex<Connection>,
    me: Identity,
    net: NetHandle,
    overlay: Overlay,
    events: broadcast::Sender<ApiEvent>,
    presence: Mutex<Presence>,
    rules: Rules,
    /// Woken when the outbox has something new or a peer connected.
    outbox: Notify,
    /// Woken when this node should collect from its mailboxes.
    collect: Notify,
    /// The id of the newest inbox message (for `--follow`).
    inbox_head: watch::Sender<i64>,
    /// Bumped on every end-to-end ack (for `weft msg send` waiting to say "delivered").
    acks: watch::Sender<u64>,
    counters: Counters,
}

/// The ed25519 key of a peer id, if it is an ed25519 peer id (`12D3KooW…`).
pub fn key_of(peer: &PeerId) -> Option<PeerKey> {
    let mh = peer.as_ref();
    if mh.code() != 0 {
        return None;
    }
    let public = identity::PublicKey::try_decode_protobuf(mh.digest()).ok()?;
    Some(PeerKey(public.try_into_ed25519().ok()?.to_bytes()))
}

/// The peer id of an ed25519 key.
pub fn peer_of(key: &PeerKey) -> Option<PeerId> {
    let public = identity::ed25519::PublicKey::try_from_bytes(&key.0).ok()?;
    Some(identity::PublicKey::from(public).to_peer_id())
}

/// Microseconds since the Unix epoch.
pub(crate) fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn rules_from_env() -> Rules {
    let mut rules = Rules::default();
    if let Some(n) = std::env::var(MAILBOX_QUOTA_ENV)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        rules.per_sender_messages = n;
    }
    rules
}

impl Collab {
    /// Starts the service: `/weft/msg/1`, the outbox, collection and heartbeats.
    ///
    /// # Errors
    /// [`CollabError`] if the database cannot be opened, the key is not ed25519 or the
    /// protocol is served already.
    pub fn start(
        db_path: &std::path::Path,
        key: &Keypair,
        net: NetHandle,
        overlay: Overlay,
        events: broadcast::Sender<ApiEvent>,
    ) -> Result<Collab, CollabError> {
        let ed = key
            .clone()
            .try_into_ed25519()
            .map_err(|_| CollabError::NotEd25519)?;
        let seed: [u8; 32] = ed
            .secret()
            .as_ref()
            .try_into()
            .map_err(|_| CollabError::NotEd25519)?;
        let me = Identity::from_seed(&seed);
        let db = crate::db::open(db_path)?;
        db.busy_timeout(Duration::from_secs(10))?;
        let seen: Vec<(PeerKey, u64)> = Store::new(&db)
            .contacts()
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| Some((c.key, c.last_seen_us?)))
            .collect();
        let head = Store::new(&db).last_inbox_id().unwrap_or(0);
        let collab = Collab {
            inner: Arc::new(Inner {
                db: Mutex::new(db),
                me,
                net,
                overlay,
                events,
                presence: Mutex::new(Presence::with_last_seen(seen)),
                rules: rules_from_env(),
                outbox: Notify::new(),
                collect: Notify::new(),
                inbox_head: watch::channel(head).0,
                acks: watch::channel(0).0,
                counters: Counters::default(),
            }),
        };
        protocol::spawn_server(collab.clone())?;
        delivery::spawn(collab.clone());
        Ok(collab)
    }

    pub(crate) fn db(&self) -> MutexGuard<'_, Connection> {
        self.inner.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn presence(&self) -> MutexGuard<'_, Presence> {
        self.inner
            .presence
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn me(&self) -> &Identity {
        &self.inner.me
    }

    pub(crate) fn net(&self) -> &NetHandle {
        &self.inner.net
    }

    pub(crate) fn overlay(&self) -> &Overlay {
        &self.inner.overlay
    }

    pub(crate) fn rules(&self) -> &Rules {
        &self.inner.rules
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    pub(crate) fn emit(&self, event: ApiEvent) {
        let _ = self.inner.events.send(event);
    }

    /// Wakes the outbox.
    pub(crate) fn wake_outbox(&self) {
        self.inner.outbox.notify_one();
    }

    /// Waits until the outbox is woken ([`Collab::wake_outbox`], a new connection).
    pub(crate) async fn outbox_woken(&self) {
        self.inner.outbox.notified().await;
    }

    /// Waits until a new connection asks for a collection from the mailboxes.
    pub(crate) async fn collect_woken(&self) {
        self.inner.collect.notified().await;
    }

    /// Whether `peer` has a connection now.
    pub(crate) fn connected(&self, peer: &PeerId) -> bool {
        self.inner.net.state().peers.contains_key(&peer.to_string())
    }

    /// The name of the contact with `key`, if it is one.
    pub(crate) fn contact_name(&self, key: &PeerKey) -> Option<String> {
        Store::new(&self.db())
            .contact_by_key(key)
            .ok()
            .flatten()
            .map(|c| c.name)
    }

    pub(crate) fn inbox_head(&self) -> watch::Receiver<i64> {
        self.inner.inbox_head.subscribe()
    }

    pub(crate) fn set_inbox_head(&self, id: i64) {
        self.inner.inbox_head.send_if_modified(|h| {
            let newer = id > *h;
            if newer {
                *h = id;
            }
            newer
        });
    }

    pub(crate) fn acks(&self) -> watch::Receiver<u64> {
        self.inner.acks.subscribe()
    }

    pub(crate) fn note_ack(&self) {
        self.inner.acks.send_modify(|n| *n += 1);
    }

    /// Follows the swarm: presence of contacts, and on every new connection a look at the
    /// outbox and the mailboxes (the recipient's return, or this node's).
    pub fn observe(&self, event: &NetEvent) {
        let (peer, up) = match event {
            NetEvent::Connected { peer, .. } => (*peer, true),
            NetEvent::Disconnected { peer } => (*peer, false),
            _ => return,
        };
        if up {
            self.inner.outbox.notify_one();
            self.inner.collect.notify_one();
        }
        let Some(key) = key_of(&peer) else { return };
        let Some(name) = self.contact_name(&key) else {
            return;
        };
        let now = now_us();
        self.presence().on_connection(now, key, up);
        if let Err(e) = Store::new(&self.db()).set_last_seen(&key, now) {
            tracing::warn!("cannot record when {name} was last seen: {e}");
        }
        self.emit(ApiEvent::ContactPresence {
            name,
            peer_id: peer.to_string(),
            status: if up {
                ContactStatus::Online
            } else {
                ContactStatus::Offline
            },
        });
    }

    /// Counters for the API.
    pub fn status(&self) -> CollabStatus {
        let c = &self.inner.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let usage = Store::new(&self.db())
            .mailbox_usage(&self.me().peer_key())
            .unwrap_or_default();
        CollabStatus {
            delivered: load(&c.delivered),
            duplicates: load(&c.duplicates),
            refused: load(&c.refused),
            deposits_kept: load(&c.deposits_kept),
            deposits_over_quota: load(&c.deposits_over_quota),
            bad_requests: load(&c.bad_requests),
            mailbox_messages: usage.total_messages,
            mailbox_bytes: usage.total_bytes,
            mailbox_per_sender: self.inner.rules.per_sender_messages,
            outbox: Store::new(&self.db()).outbox_len().unwrap_or(0),
        }
    }
}
