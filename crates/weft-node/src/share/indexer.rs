//! Indexing: `weft share` jobs, the rescan on start, and the watcher that rescans a shared
//! root when something in it changes. Jobs run one at a time on a blocking thread with their
//! own database connection, so searches and uploads go on while a folder is hashed.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use tracing::{info, warn};
use weft_share::index::{Index, ScanProgress, ScanReport};
use weft_share::watch::Watcher;

use super::{Share, open_db};

/// How long the watcher waits for an event before it checks for new roots.
const WATCH_POLL: Duration = Duration::from_secs(2);
/// Quiet time after the last event before a rescan.
const WATCH_SETTLE: Duration = Duration::from_millis(300);
/// Unreadable files listed in a job's status.
const UNREADABLE_SHOWN: usize = 100;

/// A file that could not be indexed.
#[derive(Clone, Debug, Serialize)]
pub struct UnreadableFile {
    /// Its path.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// The state of the latest indexing job, as `GET /v0/share` shows it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct JobStatus {
    /// The job's number (0: none yet).
    pub job: u64,
    /// `running`, `done` or `failed` (`idle` before the first job).
    pub state: &'static str,
    /// Files hashed or checked so far.
    pub files_done: u64,
    /// Files found.
    pub files_total: u64,
    /// Bytes hashed so far.
    pub bytes_done: u64,
    /// Bytes to hash.
    pub bytes_total: u64,
    /// Files hashed (done jobs).
    pub files_hashed: u64,
    /// Files skipped as unchanged.
    pub files_unchanged: u64,
    /// Files forgotten because they are gone.
    pub files_removed: u64,
    /// Files that could not be read (at most 100 listed; `unreadable_count` counts all).
    pub unreadable: Vec<UnreadableFile>,
    /// Files that could not be read.
    pub unreadable_count: u64,
    /// Why the job failed.
    pub error: Option<String>,
}

/// Indexing state shared by the API and the watcher.
#[derive(Default)]
pub struct IndexState {
    status: Mutex<JobStatus>,
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
    pub fn status(&self) -> JobStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn update(&self, f: impl FnOnce(&mut JobStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

fn apply_report(s: &mut JobStatus, r: &ScanReport) {
    s.files_hashed = r.files_hashed;
    s.files_unchanged = r.files_unchanged;
    s.files_removed = r.files_removed;
    s.unreadable_count = r.unreadable_count;
    s.unreadable = r
        .unreadable
        .iter()
        .take(UNREADABLE_SHOWN)
        .map(|u| UnreadableFile {
            path: u.path.display().to_string(),
            reason: u.reason.clone(),
        })
        .collect();
}

impl Share {
    /// Starts sharing `paths` (absolute) in the background and returns the job number; the
    /// job's progress is [`IndexState::status`].
    ///
    /// # Errors
    /// A one-line message naming the first path that does not exist or is not absolute.
    pub fn start_share(&self, paths: Vec<PathBuf>) -> Result<u64, String> {
        for p in &paths {
            if !p.is_absolute() {
                return Err(format!("{} is not an absolute path", p.display()));
            }
            if std::fs::symlink_metadata(p).is_err() {
                return Err(format!("{}: no such file or folder", p.display()));
            }
        }
        let state = &self.inner.indexer;
        let job = state.next_job.fetch_add(1, Ordering::Relaxed) + 1;
        state.update(|s| {
            *s = JobStatus {
                job,
                state: "running",
                ..JobStatus::default()
            }
        });
        let share = self.clone();
        tokio::spawn(async move {
            let inner = share.clone();
            let _one = inner.inner.indexer.running.lock().await;
            let s = share.clone();
            let result = tokio::task::spawn_blocking(move || {
                let conn = open_db(&s.inner.db_path).map_err(|e| e.to_string())?;
                let index = Index::new(&conn);
                let mut progress = |p: &ScanProgress| {
                    s.inner.indexer.update(|st| {
                        st.files_done = p.files_done;
                        st.files_total = p.files_total;
                        st.bytes_done = p.bytes_done;
                        st.bytes_total = p.bytes_total;
                    });
                };
                index
                    .share(&paths, &mut progress)
                    .map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
            match result {
                Ok(report) => {
                    info!(
                        hashed = report.files_hashed,
                        unchanged = report.files_unchanged,
                        unreadable = report.unreadable_count,
                        "shared"
                    );
                    share.inner.indexer.update(|st| {
                        apply_report(st, &report);
                        st.state = "done";
                    });
                }
                Err(e) => share.inner.indexer.update(|st| {
                    st.state = "failed";
                    st.error = Some(e);
                }),
            }
            share.index_changed();
        });
        Ok(job)
    }

    /// The latest indexing job.
    pub fn job_status(&self) -> JobStatus {
        self.inner.indexer.status()
    }
}

/// Rescans every root at start, then watches the roots and rescans the ones that change.
pub(crate) fn spawn_watcher(share: Share) {
    let handle = tokio::runtime::Handle::current();
    let spawned = std::thread::Builder::new()
        .name("weft-share-watch".into())
        .spawn(move || {
            let Ok(conn) = open_db(&share.inner.db_path) else {
                return warn!("share watcher: cannot open the database");
            };
            let index = Index::new(&conn).with_workers(1);
            {
                let _one = handle.block_on(share.inner.indexer.running.lock());
                match index.rescan(&mut |_| {}) {
                    Ok(r) if r.files_hashed + r.files_removed > 0 => {
                        info!(
                            hashed = r.files_hashed,
                            removed = r.files_removed,
                            "rescanned shared folders"
                        )
                    }
                    Ok(_) => {}
                    Err(e) => warn!("rescan: {e}"),
                }
            }
            share.index_changed();
            let mut seen_generation = u64::MAX;
            let mut watcher: Option<Watcher> = None;
            loop {
                let generation = share.inner.indexer.generation.load(Ordering::Relaxed);
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
                }
                let Some(w) = &watcher else {
                    std::thread::sleep(WATCH_POLL);
                    continue;
                };
                let changed = w.wait_changed(WATCH_POLL, WATCH_SETTLE);
                if changed.is_empty() {
                    continue;
                }
                let _one = handle.block_on(share.inner.indexer.running.lock());
                match index.rescan_roots(&changed, &mut |_| {}) {
                    Ok(r) if r.files_hashed + r.files_removed > 0 => {
                        info!(
                            hashed = r.files_hashed,
                            removed = r.files_removed,
                            "shared folder changed"
                        );
                        share.inner.changed.notify_one();
                    }
                    Ok(_) => {}
                    Err(e) => warn!("rescan: {e}"),
                }
            }
        });
    if let Err(e) = spawned {
        warn!("cannot start the share watcher: {e}");
    }
}
