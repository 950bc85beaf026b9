//! The peer book's keeper: records the peers met, backs off failing ones, re-dials due ones.
//!
//! Its SQLite writes run on a thread of their own, fed through a bounded queue the node loop
//! never waits on: the node loop takes the swarm's events, and the swarm task waits on the
//! node loop when its event queue is full, so a slow disk under the loop would stall every
//! connection. When the queue is full a record is skipped (the peer is seen again on its next
//! connection), counted, and said at most once a minute.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::NodeConfig;
use tokio::sync::mpsc;
use tracing::warn;
use weft_core::peer::Discovery;
use weft_net::libp2p::multiaddr::Protocol;
use weft_net::{Command, Multiaddr, NetHandle, PeerId};
use weft_store::Store;

/// Peer book writes waiting for the disk at most.
const QUEUE: usize = 4096;
/// The "peer book is behind" line comes at most this often.
const BEHIND_LOG_EVERY: Duration = Duration::from_secs(60);

/// One write to the peer book.
enum Op {
    Seen {
        peer: PeerId,
        addrs: Vec<String>,
        source: Discovery,
        at: i64,
    },
    DialFailed {
        peer: PeerId,
        error: String,
        at: i64,
    },
}

/// Keeps the peer book. Cheap to clone.
#[derive(Clone)]
pub(crate) struct BookKeeper {
    inner: Arc<Inner>,
    ops: mpsc::Sender<Op>,
}

struct Inner {
    store: Store,
    config: NodeConfig,
    /// The peers the node was told to dial: their failures are worth a line at the default
    /// level (at most one per backoff interval); other peers' are not.
    bootstrap: BTreeSet<PeerId>,
    /// Records skipped because the writer was behind.
    skipped: AtomicU64,
    /// When the writer being behind was last said.
    said_behind: Mutex<Option<Instant>>,
    /// A re-dial round is under way (rounds do not overlap).
    redialing: AtomicBool,
}

impl BookKeeper {
    /// Starts the writer thread.
    ///
    /// # Errors
    /// If the thread cannot be started.
    pub(crate) fn start(
        store: Store,
        config: NodeConfig,
        bootstrap: BTreeSet<PeerId>,
    ) -> std::io::Result<Self> {
        let inner = Arc::new(Inner {
            store,
            config,
            bootstrap,
            skipped: AtomicU64::new(0),
            said_behind: Mutex::new(None),
            redialing: AtomicBool::new(false),
        });
        let (ops, mut rx) = mpsc::channel(QUEUE);
        let writer = inner.clone();
        std::thread::Builder::new()
            .name("weft-peer-book".into())
            .spawn(move || {
                while let Some(op) = rx.blocking_recv() {
                    writer.apply(op);
                }
            })?;
        Ok(BookKeeper { inner, ops })
    }

    /// Records that `peer` was met at `addrs` (written by the book's thread).
    pub(crate) fn seen(&self, peer: PeerId, addrs: &[Multiaddr], source: Discovery) {
        let addrs = addrs.iter().map(ToString::to_string).collect();
        self.queue(Op::Seen {
            peer,
            addrs,
            source,
            at: unix_now(),
        });
    }

    /// Records a failed dial of `peer`, backing it off (written by the book's thread).
    pub(crate) fn dial_failed(&self, peer: PeerId, error: &str) {
        self.queue(Op::DialFailed {
            peer,
            error: error.to_string(),
            at: unix_now(),
        });
    }

    fn queue(&self, op: Op) {
        if self.ops.try_send(op).is_ok() {
            return;
        }
        let skipped = self.inner.skipped.fetch_add(1, Ordering::Relaxed) + 1;
        let mut said = self
            .inner
            .said_behind
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if said.is_none_or(|t| t.elapsed() >= BEHIND_LOG_EVERY) {
            *said = Some(Instant::now());
            warn!(
                skipped,
                "the peer book's disk is behind; peers met are not all recorded"
            );
        }
    }

    /// Remembers a bootstrap peer before its first dial, so that one down at start is
    /// re-dialed with backoff like any other peer of the book (written now, at start).
    pub(crate) fn remember_bootstrap(&self, peer: PeerId, addr: &Multiaddr) {
        let addrs = [with_peer(addr.clone(), peer).to_string()];
        let r = self.inner.store.peers().remember(
            &peer.to_string(),
            &addrs,
            Discovery::Bootstrap,
            unix_now(),
        );
        if let Err(e) = r {
            warn!("peer book: {e}");
        }
    }

    /// Forgets peers not seen for the configured number of days (now, at start).
    pub(crate) fn forget_stale(&self) {
        let days = i64::try_from(self.inner.config.peer_book.forget_after_days).unwrap_or(i64::MAX);
        let cutoff = unix_now().saturating_sub(days.saturating_mul(86_400));
        if let Err(e) = self.inner.store.peers().forget_older_than(cutoff) {
            warn!("peer book: {e}");
        }
    }

    /// Dials up to `limit` peers of the book that are due and not connected, in a task of
    /// its own (the book is read off the runtime); a round still running is not doubled.
    pub(crate) fn redial(&self, net: &NetHandle, limit: u32) {
        if self.inner.redialing.swap(true, Ordering::AcqRel) {
            return;
        }
        let (inner, net) = (self.inner.clone(), net.clone());
        tokio::spawn(async move {
            redial_round(&inner, &net, limit).await;
            inner.redialing.store(false, Ordering::Release);
        });
    }
}

impl Inner {
    fn apply(&self, op: Op) {
        match op {
            Op::Seen {
                peer,
                addrs,
                source,
                at,
            } => {
                if let Err(e) = self
                    .store
                    .peers()
                    .seen(&peer.to_string(), &addrs, source, at)
                {
                    warn!("peer book: {e}");
                }
            }
            Op::DialFailed { peer, error, at } => {
                let pb = &self.config.peer_book;
                let r = self.store.peers().dial_failed(
                    &peer.to_string(),
                    at,
                    pb.backoff_initial_secs,
                    pb.backoff_max_secs,
                );
                match r {
                    Ok(Some(retry_secs)) if self.bootstrap.contains(&peer) => {
                        warn!(%peer, retry_secs, "bootstrap peer unreachable, retrying with backoff: {error}");
                    }
                    Ok(_) => {}
                    Err(e) => warn!("peer book: {e}"),
                }
            }
        }
    }
}

async fn redial_round(inner: &Arc<Inner>, net: &NetHandle, limit: u32) {
    let connected = net.state().peers;
    let reader = inner.clone();
    let due = tokio::task::spawn_blocking(move || {
        reader
            .store
            .peers()
            .due(unix_now(), limit.saturating_add(64))
    })
    .await;
    let due = match due {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return warn!("peer book: {e}"),
        Err(e) => return warn!("peer book: {e}"),
    };
    let mut dialed = 0;
    for record in due {
        if dialed >= limit || connected.contains_key(&record.peer_id) {
            continue;
        }
        let Ok(peer) = record.peer_id.parse::<PeerId>() else {
            continue;
        };
        let addrs: Vec<Multiaddr> = record.addrs.iter().filter_map(|a| a.parse().ok()).collect();
        if addrs.is_empty() {
            continue;
        }
        // A dial already under way is not repeated; a failure comes back as an event and
        // backs the peer off.
        net.send(Command::Dial {
            peer,
            addrs,
            source: Discovery::Book,
        })
        .await;
        dialed += 1;
    }
}

/// `addr` ending in `/p2p/<peer>`.
pub(crate) fn with_peer(addr: Multiaddr, peer: PeerId) -> Multiaddr {
    if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr
    } else {
        addr.with(Protocol::P2p(peer))
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
