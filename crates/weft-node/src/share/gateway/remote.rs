//! Content the node lacks, streamed from the network as it is asked for: the providers are
//! found the way downloads find them ([`Sources`]), the size is proven by one of them, and
//! then only the requested range is fetched, in pieces of whole chunk groups, each verified
//! ([`content::fetch`]) before it is sent. A HEAD needs only the size. Nothing is kept on
//! disk; one answer holds at most [`REMOTE_WINDOW`] pieces in memory, and at most
//! [`REMOTE_ANSWERS`] answers stream at once.

use std::collections::{BTreeSet, VecDeque};
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::sync::Notify;
use tracing::{debug, warn};
use weft_core::id::Key256;
use weft_net::PeerId;
use weft_net::peer_log::{PeerEvents, PeerLog};
use weft_share::http_range::Requested;
use weft_share::verify::GROUP_BYTES;

use super::headers::{self, Described};
use crate::api::{ApiError, HttpError};
use crate::share::Share;
use crate::share::content::{self, FetchError};
use crate::share::error::NoSourceError;
use crate::share::routes::error;
use crate::share::sources::Sources;

/// Bytes fetched from one source at a time (whole chunk groups).
const REMOTE_PIECE: u64 = 64 * GROUP_BYTES;
/// Pieces of one answer in flight (and held) at once.
const REMOTE_WINDOW: usize = 4;
/// Answers from the network streaming at once; more get 503.
const REMOTE_ANSWERS: usize = 8;
/// Sources one answer keeps at most.
const MAX_SOURCES: usize = 64;
/// How long a piece waits for a source once every known one failed.
const PIECE_PATIENCE: Duration = Duration::from_secs(30);
/// Time one source has to deliver one piece before another is asked.
const PIECE_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause before sources that failed a piece are asked again.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// Contents whose size a source proved lately, remembered at most.
const PROVEN_CONTENTS: usize = 64;
/// How long a proven size and its sources are used without asking the network again.
const PROVEN_FOR: Duration = Duration::from_secs(120);

/// What the gateway keeps for content from the network: the answers streaming (bounded) and,
/// for the last [`PROVEN_CONTENTS`] contents, the proven size and the sources that proved or
/// delivered it, so that the many `Range` requests of one player do not each look for
/// providers and probe them again. No content bytes are kept.
pub(crate) struct RemoteState {
    answers: Arc<tokio::sync::Semaphore>,
    proven: Mutex<VecDeque<Proven>>,
    /// Sources that sent data not matching the hash: counted, logged once a minute per peer.
    corrupt: PeerLog<PeerId>,
}

struct Proven {
    hash: Key256,
    size: u64,
    peers: Vec<PeerId>,
    at: Instant,
}

impl RemoteState {
    /// The gateway's state, counting what sources do wrong in `events`.
    pub(crate) fn new(events: &PeerEvents) -> Self {
        RemoteState {
            answers: Arc::new(tokio::sync::Semaphore::new(REMOTE_ANSWERS)),
            proven: Mutex::new(VecDeque::new()),
            corrupt: PeerLog::new("corrupt_source", events.clone()),
        }
    }

    fn proven(&self, hash: &Key256) -> Option<(u64, Vec<PeerId>)> {
        let mut cache = self.proven.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|p| p.at.elapsed() < PROVEN_FOR);
        cache
            .iter()
            .find(|p| p.hash == *hash)
            .map(|p| (p.size, p.peers.clone()))
    }

    fn remember(&self, hash: Key256, size: u64, peers: Vec<PeerId>) {
        let mut cache = self.proven.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|p| p.hash != hash);
        if cache.len() >= PROVEN_CONTENTS {
            cache.pop_front();
        }
        cache.push_back(Proven {
            hash,
            size,
            peers,
            at: Instant::now(),
        });
    }
}

/// Why the gateway could not answer from the network.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// As many answers as it streams at once are streaming.
    #[error("{REMOTE_ANSWERS} answers from the network are streaming already; ask again later")]
    Busy,
    /// No provider proved the size.
    #[error(transparent)]
    NoSource(#[from] NoSourceError),
    /// No source delivered a piece.
    #[error("no source delivered bytes {start}..{end} of {hash}")]
    Undelivered {
        /// The content.
        hash: Key256,
        /// The piece's first byte.
        start: u64,
        /// The byte after its last.
        end: u64,
    },
}

impl HttpError for RemoteError {
    fn status(&self) -> StatusCode {
        match self {
            RemoteError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            RemoteError::NoSource(_) => StatusCode::NOT_FOUND,
            RemoteError::Undelivered { .. } => StatusCode::BAD_GATEWAY,
        }
    }
}

fn failed(e: RemoteError) -> Response {
    ApiError::from(e).into_response()
}

/// Answers `GET`/`HEAD` for `hash` from the network.
pub(super) async fn serve(
    share: &Share,
    hash: Key256,
    method: &Method,
    request: &HeaderMap,
    find_timeout: Duration,
) -> Response {
    let state = share.gateway_state();
    let Ok(permit) = state.answers.clone().try_acquire_owned() else {
        return failed(RemoteError::Busy);
    };
    let (size, peers, sources) = match state.proven(&hash) {
        Some((size, peers)) => (size, peers, None),
        None => {
            let mut sources = Sources::discover(share, hash);
            match sources.first_sized(share, find_timeout, |_| {}).await {
                Ok((size, peers)) => {
                    state.remember(hash, size, peers.clone());
                    (size, peers, Some(sources))
                }
                Err(e) => return failed(e.into()),
            }
        }
    };
    let name = share.recent().name(&hash);
    let d = Described::named(hash, size, name);
    let what = headers::requested(request, &d);
    let range = match &what {
        Some(Requested::Whole) => 0..size,
        Some(Requested::Part(r)) => r.clone(),
        None | Some(Requested::Unsatisfiable) => 0..0,
    };
    let answer = headers::answer(&d, what.as_ref());
    if range.is_empty() || method == Method::HEAD {
        return answer
            .body(Body::empty())
            .unwrap_or_else(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()));
    }
    let pool = Arc::new(Pool::new(share, hash, peers));
    if let Some(sources) = sources {
        pool.keep_discovering(sources);
    }
    let mut pieces = pieces(range);
    let Some(first) = pieces.next() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "empty range");
    };
    // The first piece comes before the status line: a failure is a clear error.
    let first = match fetch_piece(share, &pool, hash, size, first, 0).await {
        Ok(b) => b,
        Err(e) => return failed(e),
    };
    let s = share.clone();
    let rest = futures::stream::iter(pieces.enumerate())
        .map(move |(i, r)| {
            let (s, pool) = (s.clone(), pool.clone());
            async move { fetch_piece(&s, &pool, hash, size, r, i + 1).await }
        })
        .buffered(REMOTE_WINDOW);
    let body = futures::stream::once(async move { Ok(first) })
        .chain(rest)
        .map(move |piece| {
            // Held while the body streams.
            let _held = &permit;
            piece.map_err(std::io::Error::other)
        });
    answer
        .body(Body::from_stream(body))
        .unwrap_or_else(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// `range` cut at the multiples of [`REMOTE_PIECE`].
fn pieces(range: Range<u64>) -> impl Iterator<Item = Range<u64>> {
    let mut at = range.start;
    std::iter::from_fn(move || {
        if at >= range.end {
            return None;
        }
        let end = (at / REMOTE_PIECE + 1)
            .saturating_mul(REMOTE_PIECE)
            .min(range.end);
        let piece = at..end;
        at = end;
        Some(piece)
    })
}

/// The sources of one answer: those known, and those that sent bad data; discovery adds
/// more while the answer streams, once the known ones are not enough.
struct Pool {
    state: Mutex<PoolState>,
    added: Notify,
    share: Share,
    hash: Key256,
    discovery: Mutex<Option<AbortOnDrop>>,
}

#[derive(Default)]
struct PoolState {
    peers: Vec<PeerId>,
    bad: BTreeSet<PeerId>,
}

impl Pool {
    fn new(share: &Share, hash: Key256, peers: Vec<PeerId>) -> Self {
        Pool {
            state: Mutex::new(PoolState {
                peers,
                bad: BTreeSet::new(),
            }),
            added: Notify::new(),
            share: share.clone(),
            hash,
            discovery: Mutex::new(None),
        }
    }

    /// Adds what `sources` finds from now on, until the pool is dropped.
    fn keep_discovering(self: &Arc<Self>, sources: Sources) {
        let mut discovery = self.discovery.lock().unwrap_or_else(|p| p.into_inner());
        if discovery.is_none() {
            let feeder = tokio::spawn(feed(Arc::downgrade(self), sources));
            *discovery = Some(AbortOnDrop(feeder.abort_handle()));
        }
    }

    /// Starts discovery, unless it runs already.
    fn discover(self: &Arc<Self>) {
        let running = self
            .discovery
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        if !running {
            self.keep_discovering(Sources::discover(&self.share, self.hash));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn pick(&self, turn: usize, tried: &BTreeSet<PeerId>) -> Option<PeerId> {
        self.lock().pick(turn, tried)
    }

    fn ban(&self, peer: PeerId) {
        self.lock().ban(peer);
    }
}

impl PoolState {
    /// The source to ask for piece `turn` next, not one of `tried` (spreading pieces over
    /// the sources).
    fn pick(&self, turn: usize, tried: &BTreeSet<PeerId>) -> Option<PeerId> {
        let n = self.peers.len();
        (0..n)
            .map(|k| self.peers[(turn + k) % n])
            .find(|p| !tried.contains(p))
    }

    fn ban(&mut self, peer: PeerId) {
        self.peers.retain(|p| *p != peer);
        self.bad.insert(peer);
    }
}

/// Adds the providers discovery keeps finding to `pool`, while it lives.
async fn feed(pool: std::sync::Weak<Pool>, mut sources: Sources) {
    while let Some(peer) = sources.next().await {
        let Some(pool) = pool.upgrade() else { return };
        let mut st = pool.lock();
        if st.peers.len() < MAX_SOURCES && !st.bad.contains(&peer) && !st.peers.contains(&peer) {
            st.peers.push(peer);
            drop(st);
            pool.added.notify_waiters();
        }
    }
}

/// Fetches and verifies `range` from the sources in `pool`, trying each until one delivers;
/// waits for new sources for up to [`PIECE_PATIENCE`] when all have failed.
async fn fetch_piece(
    share: &Share,
    pool: &Arc<Pool>,
    hash: Key256,
    size: u64,
    range: Range<u64>,
    turn: usize,
) -> Result<Bytes, RemoteError> {
    let deadline = Instant::now() + PIECE_PATIENCE;
    let mut tried = BTreeSet::new();
    loop {
        let Some(peer) = pool.pick(turn, &tried) else {
            pool.discover();
            if Instant::now() > deadline {
                return Err(RemoteError::Undelivered {
                    hash,
                    start: range.start,
                    end: range.end,
                });
            }
            let added = pool.added.notified();
            let _ = tokio::time::timeout(RETRY_PAUSE, added).await;
            tried.clear();
            continue;
        };
        tried.insert(peer);
        let fetch = content::fetch(share, peer, hash, Some(size), range.clone());
        let fetched = tokio::time::timeout(PIECE_TIMEOUT, fetch)
            .await
            .unwrap_or_else(|_| Err(FetchError::Unreachable("timed out".into())));
        match fetched {
            Ok(f) => return Ok(Bytes::from(f.bytes)),
            Err(FetchError::Corrupt) => {
                if let Some(repeats) = share.inner.gateway.corrupt.event(&peer) {
                    warn!(%peer, %hash, repeats, "source sent data that does not match the hash; dropped");
                }
                pool.ban(peer);
            }
            Err(e) => debug!(%peer, %hash, "gateway piece {}..{}: {e}", range.start, range.end),
        }
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_range_on_piece_boundaries() {
        let p: Vec<_> = pieces(5..2 * REMOTE_PIECE + 3).collect();
        assert_eq!(
            p,
            vec![
                5..REMOTE_PIECE,
                REMOTE_PIECE..2 * REMOTE_PIECE,
                2 * REMOTE_PIECE..2 * REMOTE_PIECE + 3
            ]
        );
        assert_eq!(pieces(7..8).collect::<Vec<_>>(), vec![7..8]);
        assert_eq!(pieces(3..3).count(), 0);
        assert_eq!(REMOTE_PIECE % GROUP_BYTES, 0);
    }

    #[test]
    fn pieces_spread_over_the_sources() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut pool = PoolState {
            peers: vec![a, b],
            bad: BTreeSet::new(),
        };
        let none = BTreeSet::new();
        assert_eq!(pool.pick(0, &none), Some(a));
        assert_eq!(pool.pick(1, &none), Some(b));
        assert_eq!(pool.pick(0, &[a].into()), Some(b));
        assert_eq!(pool.pick(0, &[a, b].into()), None);
        pool.ban(a);
        assert_eq!(pool.pick(0, &none), Some(b));
    }
}
