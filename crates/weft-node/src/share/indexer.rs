//! Indexing: `weft share` jobs, the rescan on start, and the watcher that rescans a shared
//! root when something in it changes. Jobs run one at a time on a blocking thread with their
//! own database connection, so searches and uploads go on while a folder is hashed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use tracing::{info, warn};
use weft_api::share::{AddedFile, ShareJob, ShareJobState, SkipKind, SkippedPath, UnreadableFile};
use weft_share::index::{Index, IndexError, ScanProgress, ScanReport, SkipReason, check_shareable};
use weft_share::watch::Watcher;

use super::Share;
use crate::api::HttpError;

/// How long the watcher waits for an event before it checks for new roots.
const WATCH_POLL: Duration = Duration::from_secs(2);
/// Quiet time after the last event before a rescan.
const WATCH_SETTLE: Duration = Duration::from_millis(300);
/// Unreadable, skipped and added files listed in a job's status (each; the rest counted).
const LISTED_IN_STATUS: usize = 100;

/// Why an indexing job was not started.
#[derive(Debug, thiserror::Error)]
pub enum StartShareError {
    /// No path given.
    #[error("no path given")]
    NoPath,
    /// A relative path.
    #[error("{} is not an absolute path", .0.display())]
    NotAbsolute(PathBuf),
    /// A path that may not be shared (missing, a FIFO or device, a link loop, in a weft data
    /// folder).
    #[error(transparent)]
    NotShareable(#[from] IndexError),
}

impl HttpError for StartShareError {
    fn status(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }
}

/// Why an indexing job (or a rescan) failed: the line its status's `error` shows.
#[derive(Debug, thiserror::Error)]
pub enum IndexJobError {
    /// The job's own database connection could not be opened.
    #[error("cannot open the index: {0}")]
    Db(#[from] weft_store::rusqlite::Error),
    /// The index refused or failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The job's thread did not finish.
    #[error("internal error: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The API's name for the rule that left a path out.
fn skip_kind(reason: &SkipReason) -> SkipKind {
    match reason {
        SkipReason::DataFolder => SkipKind::DataFolder,
        SkipReason::Secret => SkipKind::Secret,
        SkipReason::Hidden => SkipKind::Hidden,
        SkipReason::Ignored { .. } => SkipKind::Ignored,
        SkipReason::LinkOutside { .. } => SkipKind::LinkOutside,
        SkipReason::LinkIntoDataFolder { .. } => SkipKind::LinkIntoDataFolder,
        SkipReason::LinkToFolder { .. } => SkipKind::LinkToFolder,
        SkipReason::LinkLoop => SkipKind::LinkLoop,
        SkipReason::LinkBroken { .. } => SkipKind::LinkBroken,
        SkipReason::Special(_) => SkipKind::Special,
        SkipReason::NotUtf8 => SkipKind::NotUtf8,
        SkipReason::TooDeep => SkipKind::TooDeep,
    }
}

/// Indexing state shared by the API and the watcher.
#[derive(Default)]
pub struct IndexState {
    /// The latest job's status; `GET /v0/share?job=N&wait_ms=M` waits on it.
    status: tokio::sync::watch::Sender<ShareJob>,
    /// One job at a time.
    pub(crate) running: tokio::sync::Mutex<()>,
    next_job: AtomicU64,
    /// Bumped when the set of roots may have changed (the watcher re-reads them).
    generation: AtomicU64,
}

impl IndexState {
    pub(crate) fn bump_generation(&self) {
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// The latest job's status.
    pub fn status(&self) -> ShareJob {
        self.status.borrow().clone()
    }

    /// The latest job's status once job `job` has ended (or a later job has taken the
    /// status over), or after `wait`, whichever is first.
    pub async fn status_after(&self, job: u64, wait: Duration) -> ShareJob {
        let mut rx = self.status.subscribe();
        let ended =
            |s: &ShareJob| s.job > job || (s.job == job && s.state != ShareJobState::Running);
        // Either way the answer is the status as it is now.
        let _ = tokio::time::timeout(wait, rx.wait_for(ended)).await;
        self.status()
    }

    fn update(&self, f: impl FnOnce(&mut ShareJob)) {
        self.status.send_modify(f);
    }
}

fn apply_report(s: &mut ShareJob, r: &ScanReport) {
    let text = |p: &Path| p.display().to_string();
    s.files_hashed = r.files_hashed;
    s.files_unchanged = r.files_unchanged;
    s.files_removed = r.files_removed;
    s.unreadable_count = r.unreadable_count;
    s.unreadable = r
        .unreadable
        .iter()
        .take(LISTED_IN_STATUS)
        .map(|u| UnreadableFile {
            path: text(&u.path),
            reason: u.reason.clone(),
        })
        .collect();
    s.added_count = r.added_count;
    s.added = r
        .added
        .iter()
        .take(LISTED_IN_STATUS)
        .map(|a| AddedFile {
            hash: a.hash.to_string(),
            size: a.size,
            path: text(&a.path),
        })
        .collect();
    s.skipped_count = r.skipped_count;
    s.skipped = r
        .skipped
        .iter()
        .take(LISTED_IN_STATUS)
        .map(|k| SkippedPath {
            path: text(&k.path),
            kind: skip_kind(&k.reason),
            reason: k.reason.to_string(),
        })
        .collect();
    s.missing_roots = r.missing_roots.iter().map(|p| text(p)).collect();
    s.refused_roots = r.refused_roots.iter().map(|p| text(p)).collect();
    s.root_changes = r.root_changes.iter().map(ToString::to_string).collect();
}

impl Share {
    /// Starts sharing `paths` (absolute) in the background and returns the job number; the
    /// job's progress is [`IndexState::status`].
    ///
    /// # Errors
    /// A one-line message naming the first path that is not absolute or may not be shared
    /// (missing, a FIFO or device, a link loop, in a weft data folder: see
    /// [`check_shareable`]).
    pub fn start_share(&self, paths: Vec<PathBuf>) -> Result<u64, StartShareError> {
        if paths.is_empty() {
            return Err(StartShareError::NoPath);
        }
        let guard = weft_share::data_folder::DataFolders::with_own(self.data_dir());
        for p in &paths {
            if !p.is_absolute() {
                return Err(StartShareError::NotAbsolute(p.clone()));
            }
            check_shareable(p, &guard)?;
        }
        let state = self.indexer();
        let job = state.next_job.fetch_add(1, Ordering::Relaxed) + 1;
        state.update(|s| {
            *s = ShareJob {
                job,
                state: ShareJobState::Running,
                ..ShareJob::default()
            }
        });
        let share = self.clone();
        tokio::spawn(async move {
            let inner = share.clone();
            let _one = inner.indexer().running.lock().await;
            let s = share.clone();
            let result = tokio::task::spawn_blocking(move || -> Result<_, IndexJobError> {
                let conn = s.open_db()?;
                let index = Index::new(&conn);
                let mut progress = |p: &ScanProgress| {
                    s.indexer().update(|st| {
                        st.files_done = p.files_done;
                        st.files_total = p.files_total;
                        st.bytes_done = p.bytes_done;
                        st.bytes_total = p.bytes_total;
                    });
                };
                Ok(index.share(&paths, &mut progress)?)
            })
            .await
            .unwrap_or_else(|e| Err(e.into()));
            match result {
                Ok(report) => {
                    info!(
                        hashed = report.files_hashed,
                        unchanged = report.files_unchanged,
                        unreadable = report.unreadable_count,
                        skipped = report.skipped_count,
                        "shared"
                    );
                    share.indexer().update(|st| {
                        apply_report(st, &report);
                        st.state = ShareJobState::Done;
                    });
                }
                Err(e) => share.indexer().update(|st| {
                    st.state = ShareJobState::Failed;
                    st.error = Some(e.to_string());
                }),
            }
            share.index_changed();
        });
        Ok(job)
    }

    /// The latest indexing job.
    pub fn job_status(&self) -> ShareJob {
        self.indexer().status()
    }

    /// The latest job's status once job `job` has ended, or after `wait`
    /// ([`IndexState::status_after`]).
    pub async fn job_status_after(&self, job: u64, wait: Duration) -> ShareJob {
        self.indexer().status_after(job, wait).await
    }
}

impl Share {
    /// Rescans `roots` in the background, one job at a time with the others (after an
    /// unshare handed files to a holding root, or a file was found changed while served).
    pub(crate) fn rescan_in_background(&self, roots: Vec<PathBuf>) {
        let share = self.clone();
        tokio::spawn(async move {
            let _one = share.indexer().running.lock().await;
            let s = share.clone();
            let r = tokio::task::spawn_blocking(move || -> Result<_, IndexJobError> {
                let conn = s.open_db()?;
                Ok(Index::new(&conn)
                    .with_workers(1)
                    .rescan_roots(&roots, &mut |_| {})?)
            })
            .await
            .unwrap_or_else(|e| Err(e.into()));
            match r {
                Ok(report) => log_rescan(&report, "rescanned"),
                Err(e) => warn!("rescan: {e}"),
            }
            share.index_changed();
        });
    }

    /// Called by whatever serves `path` (as [`Index::recheck`] returned it) when its bytes
    /// do not match the hash tree they were served under: the index forgets the file, the
    /// publisher withdraws the old hash, and the root is scanned again, which hashes the file
    /// anew and publishes the new hash.
    pub(crate) fn file_changed(&self, path: &Path) {
        let root = {
            let conn = self.db();
            Index::new(&conn).forget_mismatched(path)
        };
        match root {
            Ok(Some(root)) => {
                info!(path = %path.display(), "a shared file no longer matches its hash; hashing it again");
                self.index_changed();
                self.rescan_in_background(vec![root]);
            }
            Ok(None) => {}
            Err(e) => warn!("forgetting a changed file: {e}"),
        }
    }
}

fn log_rescan(r: &ScanReport, what: &'static str) {
    if r.files_hashed + r.files_removed > 0 {
        info!(hashed = r.files_hashed, removed = r.files_removed, "{what}");
    }
    for root in &r.refused_roots {
        warn!(
            "{} lies in a weft data folder, which is never shared: no longer shared",
            root.display()
        );
    }
}

/// Rescans every root at start, then watches the roots and rescans the ones that change. A
/// root that is gone is said once, looked for every poll, and rescanned when it is back.
pub(crate) fn spawn_watcher(share: Share) {
    let handle = tokio::runtime::Handle::current();
    let spawned = std::thread::Builder::new()
        .name("weft-share-watch".into())
        .spawn(move || {
            let Ok(conn) = share.open_db() else {
                return warn!("share watcher: cannot open the database");
            };
            let index = Index::new(&conn).with_workers(1);
            {
                let _one = handle.block_on(share.indexer().running.lock());
                match index.rescan(&mut |_| {}) {
                    Ok(r) => log_rescan(&r, "rescanned shared folders"),
                    Err(e) => warn!("rescan: {e}"),
                }
            }
            share.index_changed();
            let mut seen_generation = u64::MAX;
            let mut watcher: Option<Watcher> = None;
            let mut said_missing: BTreeSet<PathBuf> = BTreeSet::new();
            loop {
                let generation = share.indexer().generation.load(Ordering::Relaxed);
                if generation != seen_generation {
                    seen_generation = generation;
                    let roots: Vec<PathBuf> = index
                        .shared()
                        .map(|r| r.into_iter().map(|r| r.path).collect())
                        .unwrap_or_default();
                    watcher = match Watcher::new(roots) {
                        Ok(w) => Some(w),
                        Err(e) => {
                            warn!("{e}");
                            None
                        }
                    };
                    let missing: BTreeSet<PathBuf> = watcher
                        .as_ref()
                        .map(|w| w.missing().iter().cloned().collect())
                        .unwrap_or_default();
                    for root in missing.difference(&said_missing) {
                        warn!(
                            "shared root {} is missing; it is shared again when it is back",
                            root.display()
                        );
                    }
                    said_missing = missing;
                }
                let Some(w) = &watcher else {
                    std::thread::sleep(WATCH_POLL);
                    continue;
                };
                let back: Vec<PathBuf> = w
                    .missing()
                    .iter()
                    .filter(|r| std::fs::symlink_metadata(r).is_ok())
                    .cloned()
                    .collect();
                let changed = if back.is_empty() {
                    w.wait_changed(WATCH_POLL, WATCH_SETTLE)
                } else {
                    for root in &back {
                        info!("shared root {} is back", root.display());
                    }
                    back
                };
                if changed.is_empty() {
                    continue;
                }
                let _one = handle.block_on(share.indexer().running.lock());
                match index.rescan_roots(&changed, &mut |_| {}) {
                    Ok(r) => {
                        log_rescan(&r, "shared folder changed");
                        if r.files_hashed + r.files_removed > 0 || !r.refused_roots.is_empty() {
                            share.notify_publisher();
                        }
                        // A root gone or back changes what can be watched.
                        let gone = r.missing_roots.iter().any(|m| !said_missing.contains(m));
                        let returned = said_missing.iter().any(|m| changed.contains(m));
                        if gone || returned || !r.refused_roots.is_empty() {
                            share.indexer().bump_generation();
                        }
                    }
                    Err(e) => warn!("rescan: {e}"),
                }
            }
        });
    if let Err(e) = spawned {
        warn!("cannot start the share watcher: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(job: u64) -> impl FnOnce(&mut ShareJob) {
        move |s| {
            *s = ShareJob {
                job,
                state: ShareJobState::Running,
                ..ShareJob::default()
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn status_after_answers_when_the_job_ends_not_before() {
        let state = std::sync::Arc::new(IndexState::default());
        state.update(running(1));
        // Still running: the answer comes after the wait, showing the job running.
        let s = state.status_after(1, Duration::from_millis(100)).await;
        assert_eq!((s.job, s.state), (1, ShareJobState::Running));
        // The job ends while the request waits: answered then, not after the 5 s.
        let ender = state.clone();
        let end = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            ender.update(|s| s.state = ShareJobState::Done);
        });
        let t0 = tokio::time::Instant::now();
        let s = state.status_after(1, Duration::from_secs(5)).await;
        assert_eq!((s.job, s.state), (1, ShareJobState::Done));
        assert_eq!(t0.elapsed(), Duration::from_millis(30));
        end.await.unwrap();
        // Already ended, or taken over by a later job: answered at once.
        let t0 = tokio::time::Instant::now();
        assert_eq!(
            state.status_after(1, Duration::from_secs(5)).await.state,
            ShareJobState::Done
        );
        state.update(running(2));
        assert_eq!(state.status_after(1, Duration::from_secs(5)).await.job, 2);
        assert_eq!(t0.elapsed(), Duration::ZERO);
    }
}
