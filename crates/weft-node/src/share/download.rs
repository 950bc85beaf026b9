//! `weft get`: downloads run by the node, so they go on (and resume) across invocations of
//! the command and restarts of the node.
//!
//! A download first looks for providers ([`super::sources`]: sources remembered from recent
//! searches, the DHT's providers of the hash, a flood query for `urn:<hash>`), learns and
//! verifies the size from the first provider that answers ([`super::content::probe_size`]),
//! then runs a [`Plan`]: ranges from every source in parallel, each verified on arrival
//! ([`super::session`], one pipelined stream per source) before it is written to
//! `downloads/<hash>.part` in the data folder, synced, and only then recorded as verified in
//! SQLite. A source that sends a bad range gets a strike and is banned at the plan's limit; one
//! that vanishes is dropped and cooled down while the discovery keeps looking for others. When
//! every piece is there (a resumed download also has its whole file hashed again), the file is
//! moved into place (a rename, so it appears whole or not at all); the node then indexes it,
//! which makes it a provider too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};
use weft_core::id::Key256;
use weft_core::time::Time;
use weft_net::PeerId;
use weft_share::index::Index;
use weft_share::transfer::{
    Broken, Config, Found, PieceError, PieceIndex, PieceOutcome, Plan, ResumeState, SourcePolicy,
};
use weft_store::rusqlite::{OptionalExtension, params};

use super::Share;
use super::content::FetchError;
use super::error::DownloadError;
use super::indexer::IndexJobError;
use super::piece_file::{PieceBuf, PieceFile};
use super::placing::{copy_local, hash_file, local_copy, move_into_place, place_bytes};
use super::session::{Opened, PieceResult, Session};
use super::sources::Sources;
use crate::api::HttpError;
use axum::http::StatusCode;
use weft_share::verify::{Outboard, TreeBuilder, TreeParts};

pub use weft_api::share::{DownloadState, DownloadStatus};

/// Downloads remembered (running and finished); the oldest finished ones are forgotten.
const MAX_DOWNLOADS: usize = 64;
/// Answers buffered from range requests.
const RESULT_QUEUE: usize = 512;
/// Largest hash tree assembled from a download's slices (4 MiB per GiB of content); larger
/// files are hashed again once complete instead.
const MAX_TREE_BYTES: u64 = 16 << 20;
/// Verified pieces waiting for the disk at most (each is one piece of memory).
const WRITE_QUEUE: usize = 4;
/// The log target of a download's per-source timeline (debug level): each verified piece,
/// each broken stream, timeout, cool-down and rediscovery, so that a slow download can be
/// taken apart source by source (`RUST_LOG=weft::timeline=debug`; `bench/transfer.sh` does).
pub const TIMELINE: &str = "weft::timeline";
/// Time a download may go without any source once it started, at least.
const MIN_STALL: Duration = Duration::from_secs(30);

/// What `weft get` asks for.
#[derive(Clone, Debug)]
pub struct GetRequest {
    /// The content.
    pub hash: Key256,
    /// Where the file goes (absolute).
    pub out: PathBuf,
    /// Replace `out` if it exists.
    pub force: bool,
    /// How long to look for a first source.
    pub timeout: Duration,
}

/// One download.
pub struct Download {
    status: Mutex<DownloadStatus>,
    /// Its state, for those waiting on a change ([`Download::state_change`]).
    state: watch::Sender<DownloadState>,
    started: Instant,
}

impl Download {
    /// Its current status.
    pub fn status(&self) -> DownloadStatus {
        let mut s = self
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if !s.state.is_finished() {
            s.seconds = self.started.elapsed().as_secs_f64();
        }
        s
    }

    /// Waits up to `wait` for the state to differ from `from` (without `from`, to finish).
    pub async fn state_change(&self, from: Option<DownloadState>, wait: Duration) {
        let mut rx = self.state.subscribe();
        let changed = rx.wait_for(|now| match from {
            Some(from) => *now != from,
            None => now.is_finished(),
        });
        let _ = tokio::time::timeout(wait, changed).await;
    }

    fn update(&self, f: impl FnOnce(&mut DownloadStatus)) {
        let state = {
            let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut s);
            s.state
        };
        self.state.send_if_modified(|now| {
            let changed = *now != state;
            *now = state;
            changed
        });
    }

    fn finished(&self) -> bool {
        self.status().state.is_finished()
    }
}

/// The node's downloads, by hash.
#[derive(Default)]
pub struct Downloads {
    map: Mutex<BTreeMap<Key256, Arc<Download>>>,
}

impl Share {
    /// Starts downloading (or joins the running download of the same hash) and returns its
    /// status.
    ///
    /// # Errors
    /// A one-line reason: `out` not absolute, its folder missing, or `out` existing without
    /// `force`.
    pub fn start_download(&self, req: GetRequest) -> Result<DownloadStatus, StartDownloadError> {
        let mut map = self
            .inner
            .downloads
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(d) = map.get(&req.hash)
            && !d.finished()
        {
            return Ok(d.status());
        }
        check_out(&req.out, req.force)?;
        if map.len() >= MAX_DOWNLOADS {
            let old: Vec<Key256> = map
                .iter()
                .filter(|(_, d)| d.finished())
                .map(|(k, _)| *k)
                .collect();
            for k in old {
                map.remove(&k);
            }
            if map.len() >= MAX_DOWNLOADS {
                return Err(StartDownloadError::TooMany);
            }
        }
        let d = Arc::new(Download {
            status: Mutex::new(DownloadStatus::new(
                req.hash.to_string(),
                req.out.display().to_string(),
            )),
            state: watch::Sender::new(DownloadState::Searching),
            started: Instant::now(),
        });
        map.insert(req.hash, d.clone());
        let first = d.status();
        let share = self.clone();
        tokio::spawn(async move {
            let hash = req.hash;
            let result = run(&share, &d, req).await;
            let seconds = d.started.elapsed().as_secs_f64();
            match result {
                Ok(()) => {
                    info!(%hash, seconds, "download complete");
                    d.update(|s| {
                        s.state = DownloadState::Done;
                        s.seconds = seconds;
                        s.in_flight = 0;
                        s.eta_secs = None;
                    });
                }
                Err(e) => {
                    warn!(%hash, "download failed: {e}");
                    d.update(|s| {
                        s.state = DownloadState::Failed;
                        s.error = Some(e.to_string());
                        s.seconds = seconds;
                    });
                }
            }
        });
        Ok(first)
    }

    /// The status of the download of `hash`, if there is one.
    pub fn download_status(&self, hash: &Key256) -> Option<DownloadStatus> {
        self.download(hash).map(|d| d.status())
    }

    /// The download of `hash`, if there is one.
    pub fn download(&self, hash: &Key256) -> Option<Arc<Download>> {
        let map = self
            .inner
            .downloads
            .map
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.get(hash).cloned()
    }
}

/// Why a download was not started.
#[derive(Debug, thiserror::Error)]
pub enum StartDownloadError {
    /// A relative output path.
    #[error("{} is not an absolute path", .0.display())]
    NotAbsolute(PathBuf),
    /// The output's folder is missing.
    #[error("{}: no such folder", .0.display())]
    NoFolder(PathBuf),
    /// The output is a folder.
    #[error("{} is a folder", .0.display())]
    IsFolder(PathBuf),
    /// The output exists and `force` was not given.
    #[error("{} exists; pass --force to replace it", .0.display())]
    Exists(PathBuf),
    /// As many downloads as the node keeps are running.
    #[error("{MAX_DOWNLOADS} downloads are running already")]
    TooMany,
}

impl HttpError for StartDownloadError {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
}

fn check_out(out: &Path, force: bool) -> Result<(), StartDownloadError> {
    if !out.is_absolute() {
        return Err(StartDownloadError::NotAbsolute(out.to_path_buf()));
    }
    let parent = out.parent().unwrap_or(Path::new("/"));
    if !parent.is_dir() {
        return Err(StartDownloadError::NoFolder(parent.to_path_buf()));
    }
    if out.is_dir() {
        return Err(StartDownloadError::IsFolder(out.to_path_buf()));
    }
    if out.exists() && !force {
        return Err(StartDownloadError::Exists(out.to_path_buf()));
    }
    Ok(())
}

/// Time since `t0` as protocol time.
fn since(t0: Instant) -> Time {
    Time::from_micros(u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX))
}

fn instant_of(t0: Instant, t: Time) -> Instant {
    t0 + Duration::from_micros(t.as_micros().min(u64::from(u32::MAX) * 1000))
}

async fn run(share: &Share, d: &Download, req: GetRequest) -> Result<(), DownloadError> {
    let hash = req.hash;
    if hash == Key256::hash(&[]) {
        // Nothing to fetch: the empty file is written, then shared like any download.
        place_bytes(&req.out, &[]).await?;
        d.update(|s| s.size = Some(0));
        index_file(share, req.out.clone(), None).await;
        return Ok(());
    }
    // A shared copy that changed on disk is not copied: the content comes from the network.
    if let Some(local) = local_copy(share, hash).await
        && let Some(size) = copy_local(share, &local, &req.out, hash).await?
    {
        d.update(|s| {
            s.size = Some(size);
            s.bytes = size;
            s.copied_from = Some(local.display().to_string());
        });
        return Ok(());
    }
    let mut sources = Sources::discover(share, hash);
    let (size, candidates) = sources
        .first_sized(share, req.timeout, |peer| {
            d.update(|s| s.banned_peers.push(peer.to_string()));
        })
        .await?;
    // The one that proved the size is a source now; the others still being probed become
    // sources once their session's stream opens.
    let (first, probing) = candidates
        .split_first()
        .map_or((None, &[][..]), |(f, r)| (Some(*f), r));
    d.update(|s| {
        s.state = DownloadState::Downloading;
        s.size = Some(size);
    });

    let part = share.downloads_dir().join(format!("{hash}.part"));
    let (mut plan, file) = open_partial(share, hash, size, &part, &req.out).await?;
    let resumed = plan.progress(Time::ZERO).bytes_verified;
    d.update(|s| {
        s.resumed_bytes = resumed;
        s.bytes = resumed;
    });
    let (write_tx, write_rx) = mpsc::channel(WRITE_QUEUE);
    // The file's hash tree, assembled from the slices (pieces of an earlier run did not keep
    // theirs: a resumed download is hashed again at the end instead).
    let tree = (resumed == 0)
        .then(|| TreeBuilder::new(hash, size, MAX_TREE_BYTES))
        .flatten();
    let writer = tokio::spawn(write_pieces(
        share.clone(),
        PieceFile::new(file, &part),
        hash,
        plan.resume_state().clone(),
        tree,
        write_rx,
    ));
    let t0 = Instant::now();
    if let Some(p) = first {
        let added = plan.add_source(since(t0), p);
        debug!(target: TIMELINE, peer = %p, event = "source", added = ?added);
    }
    let (res_tx, mut res_rx) = mpsc::channel::<PieceResult>(RESULT_QUEUE);
    let (open_tx, mut open_rx) = mpsc::channel::<Opened>(RESULT_QUEUE);
    let mut sessions: BTreeMap<PeerId, Session> = BTreeMap::new();
    // Sources not yet reached: their session is dialing, and they join the plan only once its
    // stream is open. A provider that went away (a stale provider record, a search hit from a
    // node since stopped) would otherwise hold pieces, and slots of `max_in_flight`, until its
    // dial timed out (10 s): in 4 -> 1 with four stale providers, half the slots for 10 s.
    let mut policy = SourcePolicy::new(since(t0), req.timeout.max(MIN_STALL));
    for &peer in probing {
        policy.dialing(peer);
        let session = Session::start(share, peer, hash, size, res_tx.clone(), open_tx.clone());
        sessions.insert(peer, session);
        debug!(target: TIMELINE, %peer, event = "dialing");
    }
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    while !plan.is_complete() {
        for r in plan.next_requests(since(t0)) {
            // A session whose stream failed is replaced by a new one.
            if sessions.get(&r.peer).is_some_and(Session::is_closed) {
                sessions.remove(&r.peer);
            }
            let session = sessions.entry(r.peer).or_insert_with(|| {
                debug!(target: TIMELINE, peer = %r.peer, event = "session");
                Session::start(share, r.peer, hash, size, res_tx.clone(), open_tx.clone())
            });
            if !session.ask(r.piece, r.range) {
                plan.on_piece(since(t0), &r.peer, r.piece, Err(PieceError::Interrupted));
            }
        }
        let p = plan.progress(since(t0));
        if policy
            .check_alive(since(t0), p.sources, p.in_flight)
            .is_err()
        {
            return Err(DownloadError::SourcesGone(hash));
        }
        d.update(|s| {
            s.bytes = p.bytes_verified;
            s.rate = p.rate;
            s.sources = p.sources;
            s.banned = p.banned;
            s.in_flight = p.in_flight;
            s.eta_secs = p.eta.map(|e| e.as_secs_f64());
            s.sources_used = policy.used();
        });
        let wake = plan
            .poll_timeout()
            .map_or(t0 + Duration::from_secs(3600), |t| instant_of(t0, t));
        tokio::select! {
            Some((peer, piece, got)) = res_rx.recv() => {
                let now = since(t0);
                let unreachable = match &got {
                    Err(FetchError::Unreachable(e)) => Some(e.clone()),
                    _ => None,
                };
                let result = match &got {
                    Ok(_) => Ok(()),
                    Err(FetchError::Corrupt) => Err(PieceError::Corrupt),
                    Err(FetchError::Busy) => Err(PieceError::Busy),
                    Err(FetchError::NotFound) => Err(PieceError::NotFound),
                    Err(FetchError::Unreachable(_)) => Err(PieceError::Interrupted),
                };
                if let Err(e) = &got {
                    debug!(target: TIMELINE, %peer, event = "failed", piece, error = %e);
                }
                match plan.on_piece(now, &peer, piece, result) {
                    PieceOutcome::Write { range, .. } => {
                        // Duplicates still in flight elsewhere (endgame) are discarded when
                        // they arrive.
                        let Ok(v) = got else { continue };
                        debug!(
                            target: TIMELINE, %peer, event = "piece", piece,
                            bytes = range.end - range.start
                        );
                        policy.delivered(&peer);
                        let piece = VerifiedPiece {
                            piece,
                            offset: range.start,
                            bytes: v.bytes,
                            parts: v.parts,
                        };
                        let waited = Instant::now();
                        if write_tx.send(piece).await.is_err() {
                            // The writer stopped on an error, which it returns.
                            break;
                        }
                        if waited.elapsed() > Duration::from_millis(50) {
                            debug!(
                                target: TIMELINE, event = "write_wait",
                                ms = waited.elapsed().as_millis()
                            );
                        }
                    }
                    PieceOutcome::Banned { .. } => {
                        warn!(%peer, %hash, "source sent data that does not match the hash; banned");
                        d.update(|s| s.banned_peers.push(peer.to_string()));
                        sessions.remove(&peer);
                    }
                    PieceOutcome::Failed | PieceOutcome::Discard => {}
                }
                let Some(e) = unreachable else {
                    policy.answered(&peer);
                    continue;
                };
                // A session that broke reports each of its pieces; count it once. One broken
                // stream is often one connection of several closing: the next request opens
                // a new one at once. Only a source whose streams keep breaking is set aside.
                if !sessions.get(&peer).is_some_and(Session::is_closed) {
                    continue;
                }
                sessions.remove(&peer);
                match policy.broke(since(t0), &peer) {
                    Broken::Retry(count) => {
                        debug!(target: TIMELINE, %peer, event = "broken", count, error = %e);
                    }
                    Broken::Rest { until } => {
                        info!(%peer, "source vanished: {e}");
                        plan.remove_source(&peer);
                        debug!(
                            target: TIMELINE, %peer, event = "cooldown",
                            secs = until.saturating_since(since(t0)).as_secs_f64()
                        );
                    }
                }
            }
            Some(peer) = sources.next() => {
                if sources.is_bad(&peer) {
                    continue;
                }
                match policy.found(since(t0), &peer, sessions.contains_key(&peer)) {
                    Found::Skip => continue,
                    Found::Rejoin => {
                        // A source we reach: back into the plan if it had dropped it.
                        plan.add_source(since(t0), peer);
                        continue;
                    }
                    Found::Reach { after_rest } => {
                        if after_rest {
                            debug!(target: TIMELINE, %peer, event = "rediscovered");
                        }
                    }
                }
                let session = Session::start(share, peer, hash, size, res_tx.clone(), open_tx.clone());
                sessions.insert(peer, session);
                debug!(target: TIMELINE, %peer, event = "dialing");
            }
            Some((peer, opened)) = open_rx.recv() => {
                // Only a source not yet reached joins here; a known source's new session
                // reports its failures through its pieces.
                if !policy.opened(&peer) {
                    continue;
                }
                match opened {
                    Ok(()) => {
                        let added = plan.add_source(since(t0), peer);
                        debug!(target: TIMELINE, %peer, event = "source", added = ?added);
                    }
                    Err(e) => {
                        sessions.remove(&peer);
                        debug!(target: TIMELINE, %peer, event = "unreachable", error = %e);
                    }
                }
            }
            _ = tokio::time::sleep_until(wake.into()) => {
                // A source that missed a deadline may have a stuck stream: start afresh.
                for (peer, piece) in plan.on_timeout(since(t0)) {
                    debug!(target: TIMELINE, %peer, event = "timeout", piece);
                    sessions.remove(&peer);
                }
            }
            _ = tick.tick() => {
                // Sources whose cool-down is over get another chance; the plan's strikes and
                // bans still apply to them.
                for peer in policy.rested(since(t0)) {
                    if sources.is_bad(&peer) {
                        continue;
                    }
                    // It may have gone for good: it rejoins once a new stream opens.
                    policy.dialing(peer);
                    let session =
                        Session::start(share, peer, hash, size, res_tx.clone(), open_tx.clone());
                    sessions.insert(peer, session);
                    debug!(target: TIMELINE, %peer, event = "back");
                }
            }
        }
    }
    drop(sessions);
    drop(write_tx);
    let tree = writer.await??;
    if !plan.is_complete() {
        return Err(DownloadError::PartialLost);
    }
    d.update(|s| {
        s.state = DownloadState::Verifying;
        s.bytes = size;
        s.sources_used = policy.used();
        s.in_flight = 0;
    });
    finish(share, hash, &part, &req.out, resumed > 0, tree).await
}

/// Opens (or resumes) the partial file and its plan.
async fn open_partial(
    share: &Share,
    hash: Key256,
    size: u64,
    part: &Path,
    out: &Path,
) -> Result<(Plan<PeerId>, std::fs::File), DownloadError> {
    let share = share.clone();
    let part = part.to_path_buf();
    let out = out.display().to_string();
    tokio::task::spawn_blocking(move || {
        let stored: Option<(i64, Vec<u8>)> = share
            .db()
            .query_row(
                "SELECT size, state FROM share_downloads WHERE hash = ?1",
                [&hash.0[..]],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| db_error(&share, "cannot read the download's state", e))?;
        let part_len = std::fs::metadata(&part).map(|m| m.len()).ok();
        let resumed = match stored {
            Some((s, state)) if u64::try_from(s) == Ok(size) && part_len == Some(size) => {
                ResumeState::from_bytes(&state)
                    .ok()
                    .and_then(|st| Plan::resume(hash, size, Config::default(), &st).ok())
            }
            _ => None,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&part)
            .map_err(|source| DownloadError::Create {
                path: part.clone(),
                source,
            })?;
        let plan = match resumed {
            Some(p) => {
                info!(%hash, verified = p.resume_state().count(), "resuming download");
                p
            }
            None => {
                file.set_len(0)
                    .and_then(|()| file.set_len(size))
                    .map_err(|source| DownloadError::Create {
                        path: part.clone(),
                        source,
                    })?;
                let plan = Plan::new(hash, size, Config::default())?;
                share
                    .db()
                    .execute(
                        "INSERT OR REPLACE INTO share_downloads(hash, size, out, state) VALUES (?1, ?2, ?3, ?4)",
                        params![&hash.0[..], i64::try_from(size).unwrap_or(i64::MAX), out, plan.resume_state().to_bytes()],
                    )
                    .map_err(|e| db_error(&share, "cannot record the download", e))?;
                plan
            }
        };
        Ok((plan, file))
    })
    .await?
}

/// `what` failed in the node's database: says which file, since the usual cause is a full
/// disk under the node's data folder rather than under the output.
fn db_error(share: &Share, what: &'static str, e: weft_store::rusqlite::Error) -> DownloadError {
    DownloadError::Db {
        what,
        db: share.db_path().to_path_buf(),
        source: e,
    }
}

/// A verified piece on its way to the partial file.
struct VerifiedPiece {
    piece: PieceIndex,
    offset: u64,
    bytes: PieceBuf,
    parts: TreeParts,
}

/// Writes verified pieces to the partial file in batches (group commit): every piece waiting
/// when a batch starts is written, the file is synced once, and only then are those pieces
/// recorded as verified in SQLite. A piece is thus never recorded before it is on disk, and
/// the download loop never waits on the disk unless [`WRITE_QUEUE`] pieces are queued.
/// Returns the file's hash tree when `tree` received every node.
async fn write_pieces(
    share: Share,
    mut file: PieceFile,
    hash: Key256,
    mut durable: ResumeState,
    mut tree: Option<TreeBuilder>,
    mut rx: mpsc::Receiver<VerifiedPiece>,
) -> Result<Option<Outboard>, DownloadError> {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < WRITE_QUEUE
            && let Ok(p) = rx.try_recv()
        {
            batch.push(p);
        }
        if let Some(t) = tree.as_mut() {
            for p in &batch {
                t.add(&p.parts);
            }
        }
        let share = share.clone();
        (file, durable) = tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            for p in &batch {
                file.write_at(&p.bytes, p.offset)
                    .map_err(DownloadError::Partial)?;
            }
            let written = t.elapsed();
            file.sync().map_err(DownloadError::Partial)?;
            debug!(
                target: TIMELINE, event = "sync", pieces = batch.len(),
                write_ms = written.as_millis(), sync_ms = (t.elapsed() - written).as_millis()
            );
            for p in &batch {
                durable.insert(p.piece);
            }
            share
                .db()
                .execute(
                    "UPDATE share_downloads SET state = ?2 WHERE hash = ?1",
                    params![&hash.0[..], durable.to_bytes()],
                )
                .map_err(|e| db_error(&share, "cannot record verified pieces", e))?;
            Ok::<_, DownloadError>((file, durable))
        })
        .await??;
    }
    Ok(tree.and_then(TreeBuilder::finish))
}

/// Moves the file into place, forgets the resume state, and indexes the file (so the node
/// provides it).
///
/// When every piece was verified in this run, their proofs against the root hash already
/// cover the whole file, so it is not read again, and `tree` (assembled from the slices) is
/// its hash tree: the file is indexed before the download reports done, without reading it. A
/// download that resumed pieces from an earlier run has its whole file hashed first (the
/// partial file sat on disk in between) and is indexed, hashing it again, after.
async fn finish(
    share: &Share,
    hash: Key256,
    part: &Path,
    out: &Path,
    resumed: bool,
    tree: Option<Outboard>,
) -> Result<(), DownloadError> {
    let (s, part, out) = (share.clone(), part.to_path_buf(), out.to_path_buf());
    let out2 = out.clone();
    tokio::task::spawn_blocking(move || {
        let got = if resumed { hash_file(&part)? } else { hash };
        if got != hash {
            // Every piece verified, so this means the file was changed under us.
            let _ = std::fs::remove_file(&part);
            let _ = s
                .db()
                .execute("DELETE FROM share_downloads WHERE hash = ?1", [&hash.0[..]]);
            return Err(DownloadError::Mismatch { got, want: hash });
        }
        move_into_place(&part, &out).map_err(|e| DownloadError::Kept(Box::new(e)))?;
        s.db()
            .execute("DELETE FROM share_downloads WHERE hash = ?1", [&hash.0[..]])
            .map_err(|e| db_error(&s, "cannot forget the finished download", e))?;
        Ok(())
    })
    .await??;
    match tree {
        Some(tree) => index_file(share, out2, Some(tree)).await,
        None => {
            // The file is in place: the download is done. Indexing it (hashing it again to
            // build the tree it is served with) happens after.
            let share = share.clone();
            tokio::spawn(async move { index_file(&share, out2, None).await });
        }
    }
    Ok(())
}

/// Indexes a downloaded file so the node serves and announces it; with its `tree` known, the
/// file is not read.
async fn index_file(share: &Share, path: PathBuf, tree: Option<Outboard>) {
    let s = share.clone();
    let _one = share.indexer().running.lock().await;
    let r = tokio::task::spawn_blocking(move || -> Result<_, IndexJobError> {
        let conn = s.open_db()?;
        let mut index = Index::new(&conn);
        if let Some(tree) = tree {
            index = index.with_known_tree(&path, tree);
        }
        Ok(index.share(&[path], &mut |_| {})?)
    })
    .await
    .unwrap_or_else(|e| Err(e.into()));
    match r {
        Ok(_) => share.index_changed(),
        Err(e) => warn!("cannot index the downloaded file: {e}"),
    }
}
