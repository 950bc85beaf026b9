//! Indexing: `weft share` jobs, the rescan on start, and the watcher that rescans a shared
//! root when something in it changes. Jobs run one at a time on a blocking thread with their
//! own database connection, so searches and uploads go on while a folder is hashed.

use std::path::PathBuf;
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
    /// The latest job's status; `GET /v0/share?job=N&wait_ms=M` waits on it.
    status: tokio::sync::watch::Sender<JobStatus>,
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
        self.status.borrow().clone()
    }

    /// The latest job's status once job `job` has ended (or a later job has taken the
    /// status over), or after `wait`, whichever is first.
    pub async fn status_after(&self, job: u64, wait: Duration) -> JobStatus {
        let mut rx = self.status.subscribe();
        let ended = |s: &JobStatus| s.job > job || (s.job == job && s.state != "running");
        // Either way the answer is the status as it is now.
        let _ = tokio::time::timeout(wait, rx.wait_for(ended)).await;
        self.status()
    }

    fn update(&self, f: impl FnOnce(&mut JobStatus)) {
        self.status.send_modify(f);
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

    /// The latest job's status once job `job` has ended, or after `wait`
    /// ([`IndexState::status_after`]).
    pub async fn job_status_after(&self, job: u64, wait: Duration) -> JobStatus {
        self.inner.indexer.status_after(job, wait).await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn running(job: u64) -> impl FnOnce(&mut JobStatus) {
        move |s| {
            *s = JobStatus {
                job,
                state: "running",
                ..JobStatus::default()
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn status_after_answers_when_the_job_ends_not_before() {
        let state = std::sync::Arc::new(IndexState::default());
        state.update(running(1));
        // Still running: the answer comes after the wait, showing the job running.
        let s = state.status_after(1, Duration::from_millis(100)).await;
        assert_eq!((s.job, s.state), (1, "running"));
        // The job ends while the request waits: answered then, not after the 5 s.
        let ender = state.clone();
        let end = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            ender.update(|s| s.state = "done");
        });
        let t0 = tokio::time::Instant::now();
        let s = state.status_after(1, Duration::from_secs(5)).await;
        assert_eq!((s.job, s.state), (1, "done"));
        assert_eq!(t0.elapsed(), Duration::from_millis(30));
        end.await.unwrap();
        // Already ended, or taken over by a later job: answered at once.
        let t0 = tokio::time::Instant::now();
        assert_eq!(
            state.status_after(1, Duration::from_secs(5)).await.state,
            "done"
        );
        state.update(running(2));
        assert_eq!(state.status_after(1, Duration::from_secs(5)).await.job, 2);
        assert_eq!(t0.elapsed(), Duration::ZERO);
    }
}
