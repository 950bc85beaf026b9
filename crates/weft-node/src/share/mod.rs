//! File sharing in the node: the I/O around `weft-share`'s pure parts.
//!
//! - [`indexer`]: `weft share` jobs on their own database connection, the rescan on start and
//!   the `notify` watcher thread;
//! - [`content`]: `/weft/content/1`, requests pipelined on a libp2p stream — the provider
//!   answers each with a header frame and the verified (bao) slice streamed from the shared
//!   file, under upload slots and a rate limit; the downloader verifies every slice before
//!   handing it on;
//! - [`session`]: a download's stream to one source, requests pipelined, slices verified;
//! - [`sources`]: the providers of a content (recent search results, the DHT, a flood
//!   query) and the first that proves its size, for downloads and the gateway;
//! - [`download`]: `weft get`, run by the node so it outlives the command: providers from recent
//!   search results, the DHT and a flood query, ranges from several sources in parallel under a
//!   [`weft_share::transfer::Plan`], verified pieces written to a partial file in the data
//!   folder, resume state in SQLite, every piece proven against the root hash before the atomic move into place;
//! - [`search`]: `weft search` through the directory, flooding and the DHT, and
//!   `/weft/search/1`, which answers a keyword query from the local index (used by the DHT
//!   model, whose keyword keys point to the peers that hold matching files);
//! - [`publish`]: tells the overlays what this node shares whenever the index changes;
//! - [`routes`]: the HTTP API;
//! - [`gateway`]: the `/content/{hash}` gateway.
//!
//! A provider started with `WEFT_TEST_CORRUPT=every` (or `1in50`) flips a byte in every (or
//! every 50th) slice it sends: a test-only fault injector, read once at start.

pub mod content;
pub mod download;
pub mod error;
pub mod gateway;
pub mod indexer;
pub mod per_peer;
pub mod piece_file;
mod placing;
pub mod publish;
pub mod routes;
pub mod search;
pub mod session;
pub mod sources;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use weft_core::id::Key256;
use weft_net::overlay::Overlay;
use weft_net::{NetHandle, PeerId};
use weft_share::config::ShareConfig;
use weft_store::Migration;
use weft_store::rusqlite::Connection;

/// Tables of the sharing layer: the index's, then the downloads' resume state.
pub const MIGRATIONS: &[Migration] = &[(
    "share_0100_downloads",
    "CREATE TABLE share_downloads (
        hash   BLOB PRIMARY KEY,      -- 32-byte BLAKE3 root
        size   INTEGER NOT NULL,
        out    TEXT NOT NULL,         -- where the file goes when complete
        state  BLOB NOT NULL          -- weft_share::transfer::ResumeState
    ) WITHOUT ROWID;",
)];

/// Every migration of file sharing, in order.
pub fn migrations() -> Vec<Migration> {
    weft_share::index::MIGRATIONS
        .iter()
        .chain(MIGRATIONS)
        .copied()
        .collect()
}

/// Contents remembered from search results, as sources for `weft get`.
const RECENT_CONTENTS: usize = 4096;
/// Sources remembered per content.
const RECENT_SOURCES: usize = 64;

/// What the node learned from search results: hash → (size, a name, peers that have it).
#[derive(Default)]
pub struct RecentSources {
    entries: BTreeMap<Key256, (u64, String, BTreeSet<PeerId>)>,
    order: VecDeque<Key256>,
}

impl RecentSources {
    /// Records that `peer` has `hash`.
    pub fn note(&mut self, hash: Key256, size: u64, name: &str, peer: PeerId) {
        if !self.entries.contains_key(&hash) {
            if self.order.len() >= RECENT_CONTENTS
                && let Some(old) = self.order.pop_front()
            {
                self.entries.remove(&old);
            }
            self.order.push_back(hash);
        }
        let entry = self
            .entries
            .entry(hash)
            .or_insert_with(|| (size, name.to_string(), BTreeSet::new()));
        if entry.2.len() < RECENT_SOURCES {
            entry.2.insert(peer);
        }
    }

    /// Peers known to have `hash`.
    pub fn peers(&self, hash: &Key256) -> Vec<PeerId> {
        self.entries
            .get(hash)
            .map(|e| e.2.iter().copied().collect())
            .unwrap_or_default()
    }

    /// A name `hash` was found under.
    pub fn name(&self, hash: &Key256) -> Option<String> {
        self.entries.get(hash).map(|e| e.1.clone())
    }
}

/// The sharing service of a node. Cheap to clone.
#[derive(Clone)]
pub struct Share {
    inner: Arc<Inner>,
}

struct Inner {
    db: Mutex<Connection>,
    db_path: PathBuf,
    data_dir: PathBuf,
    net: NetHandle,
    overlay: Overlay,
    config: ShareConfig,
    uploads: content::Uploads,
    downloads: download::Downloads,
    recent: Mutex<RecentSources>,
    /// Buffers that downloads verify pieces into and write them from.
    buffers: piece_file::BufferPool,
    indexer: indexer::IndexState,
    /// Woken whenever the index changes (shared, unshared, rescanned, downloaded).
    changed: Notify,
    /// The gateway's answers from the network and the sizes it proved lately.
    gateway: gateway::RemoteState,
}

/// Why the sharing service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    /// The database could not be opened.
    #[error("cannot open the share index: {0}")]
    Db(#[from] weft_store::rusqlite::Error),
    /// A libp2p protocol is already served (the service was started twice).
    #[error("protocol {0} is already registered")]
    AlreadyRegistered(&'static str),
    /// The data folder could not be prepared.
    #[error("cannot prepare {0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// Removes the `gateway/` folder where earlier versions kept every file the gateway fetched
/// (never cleaned up), and stops sharing what was indexed from it.
fn forget_legacy_gateway_folder(share: &Share, data_dir: &Path) {
    let dir = data_dir.join("gateway");
    if !dir.exists() {
        return;
    }
    {
        let conn = share.db();
        let index = weft_share::index::Index::new(&conn);
        let roots = index.shared().unwrap_or_default();
        for root in roots.iter().filter(|r| r.path.starts_with(&dir)) {
            if let Err(e) = index.unshare(&root.path) {
                tracing::warn!(path = %root.path.display(), "cannot unshare: {e}");
            }
        }
    }
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => tracing::info!(path = %dir.display(), "removed the old gateway folder"),
        Err(e) => {
            tracing::warn!(path = %dir.display(), "cannot remove the old gateway folder: {e}")
        }
    }
}

impl Share {
    /// Starts the service: the content and search protocols, the flood match answerer, the
    /// rescan and watcher thread, and the publisher. `matches` are the flood engine's match
    /// requests (from [`Overlay::spawn`]).
    ///
    /// # Errors
    /// [`ShareError`] if the database cannot be opened or a protocol is already served.
    pub fn start(
        db_path: PathBuf,
        data_dir: &Path,
        net: NetHandle,
        overlay: Overlay,
        config: ShareConfig,
        matches: tokio::sync::mpsc::Receiver<weft_net::overlay::MatchRequest>,
    ) -> Result<Share, ShareError> {
        let db = crate::db::open(&db_path)?;
        let downloads_dir = data_dir.join("downloads");
        std::fs::create_dir_all(&downloads_dir)
            .map_err(|e| ShareError::Io(downloads_dir.clone(), e))?;
        let gateway = gateway::RemoteState::new(net.peer_events());
        let share = Share {
            inner: Arc::new(Inner {
                db: Mutex::new(db),
                db_path,
                data_dir: data_dir.to_path_buf(),
                uploads: content::Uploads::new(&config, content::Corruption::from_env()),
                net,
                overlay,
                config,
                downloads: download::Downloads::default(),
                recent: Mutex::new(RecentSources::default()),
                buffers: piece_file::BufferPool::default(),
                indexer: indexer::IndexState::default(),
                changed: Notify::new(),
                gateway,
            }),
        };
        forget_legacy_gateway_folder(&share, data_dir);
        content::spawn_server(share.clone())?;
        search::spawn_server(share.clone())?;
        search::spawn_match_answerer(share.clone(), matches);
        indexer::spawn_watcher(share.clone());
        publish::spawn(share.clone());
        Ok(share)
    }

    /// A connection of its own to the node's database, for long work (indexing jobs,
    /// rescans) that must not hold the quick-operation connection.
    pub(crate) fn open_db(&self) -> Result<Connection, weft_store::rusqlite::Error> {
        crate::db::open(&self.inner.db_path)
    }

    /// Where the node's database is.
    pub(crate) fn db_path(&self) -> &Path {
        &self.inner.db_path
    }

    /// The node's data folder (never shared).
    pub(crate) fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Indexing jobs: their status, the one-at-a-time lock, the watcher's generation.
    pub(crate) fn indexer(&self) -> &indexer::IndexState {
        &self.inner.indexer
    }

    /// Upload slots, the rate limit and the outboard cache of the content server.
    pub(crate) fn uploads(&self) -> &content::Uploads {
        &self.inner.uploads
    }

    /// The gateway's answers from the network and the sizes it proved lately.
    pub(crate) fn gateway_state(&self) -> &gateway::RemoteState {
        &self.inner.gateway
    }

    /// The buffers downloads verify pieces into.
    pub(crate) fn buffers(&self) -> &piece_file::BufferPool {
        &self.inner.buffers
    }

    /// Wakes the publisher: what this node shares changed.
    pub(crate) fn notify_publisher(&self) {
        self.inner.changed.notify_one();
    }

    /// Waits until the index changes (see [`Share::index_changed`]).
    pub(crate) async fn index_change(&self) {
        self.inner.changed.notified().await;
    }

    /// The quick-operation connection (searches, rechecks, resume state).
    pub(crate) fn db(&self) -> MutexGuard<'_, Connection> {
        self.inner.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The network handle.
    pub(crate) fn net(&self) -> &NetHandle {
        &self.inner.net
    }

    /// The overlays.
    pub(crate) fn overlay(&self) -> &Overlay {
        &self.inner.overlay
    }

    /// This node's peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.inner.net.local_peer_id
    }

    /// Where partial downloads live.
    pub(crate) fn downloads_dir(&self) -> PathBuf {
        self.inner.data_dir.join("downloads")
    }

    /// Sources remembered from search results.
    pub(crate) fn recent(&self) -> MutexGuard<'_, RecentSources> {
        self.inner.recent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the publisher (and the watcher) that the index changed.
    pub(crate) fn index_changed(&self) {
        self.notify_publisher();
        self.inner.indexer.bump_generation();
    }

    /// Called (blocking) when the file at `path`, indexed as `hash`, was read and did not
    /// match its hash tree: it changed on disk after the index's last look at its stamp.
    /// Nothing read from it was served. The one place where a changed file goes back to the
    /// index: it forgets the file, which withdraws the old hash, and hashes it again
    /// ([`Share::file_changed`]); every reader refuses it meanwhile.
    pub(crate) fn file_no_longer_matches(&self, hash: &Key256, path: &Path) {
        tracing::warn!(
            %hash,
            path = %path.display(),
            "shared file changed on disk and no longer matches its hash; not served"
        );
        self.file_changed(path);
    }

    /// Upload counters.
    pub fn upload_stats(&self) -> content::UploadStats {
        self.inner.uploads.stats()
    }

    /// The configured sharing settings.
    pub fn config(&self) -> &ShareConfig {
        &self.inner.config
    }
}
