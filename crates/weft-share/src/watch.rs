//! A thin file watcher: which shared roots changed, so the node rescans just those.
//!
//! The node runs [`Watcher::wait_changed`] in a thread of its own and calls
//! [`crate::index::Index::rescan_roots`] with what it returns. Events are carried over a
//! bounded channel; if it overflows, every root is reported changed (a rescan of an
//! unchanged file costs one `stat`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};

/// Events buffered between the OS watcher and [`Watcher::wait_changed`].
pub const EVENT_QUEUE: usize = 4096;

/// Why a watcher could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch shared folders: {0}")]
pub struct WatchError(#[from] notify::Error);

/// Watches shared roots (recursively) and reports which changed.
pub struct Watcher {
    _inner: notify::RecommendedWatcher,
    rx: Receiver<Vec<PathBuf>>,
    overflow: Arc<AtomicBool>,
    roots: Vec<PathBuf>,
    missing: Vec<PathBuf>,
}

impl Watcher {
    /// Starts watching `roots` (canonical paths, as [`crate::index::SharedRoot::path`]).
    /// Roots that do not exist now are not watched: [`Watcher::missing`] lists them, for the
    /// caller to look for now and then (and make a new watcher when one is back).
    ///
    /// # Errors
    /// [`WatchError`] if the OS watcher cannot be made or an existing root cannot be watched.
    pub fn new(roots: Vec<PathBuf>) -> Result<Self, WatchError> {
        let (tx, rx): (SyncSender<Vec<PathBuf>>, _) = sync_channel(EVENT_QUEUE);
        let overflow = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&overflow);
        let mut inner =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let paths = match event {
                    Ok(e) if matches!(e.kind, EventKind::Access(_)) => return,
                    Ok(e) => e.paths,
                    // The OS dropped events: treat everything as changed.
                    Err(_) => Vec::new(),
                };
                let lost = paths.is_empty();
                if lost || matches!(tx.try_send(paths), Err(TrySendError::Full(_))) {
                    flag.store(true, Ordering::Relaxed);
                }
            })?;
        let mut missing = Vec::new();
        for root in &roots {
            let Ok(meta) = std::fs::metadata(root) else {
                missing.push(root.clone());
                continue;
            };
            let mode = if meta.is_dir() {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            match inner.watch(root, mode) {
                Ok(()) => {}
                // Gone between the check and the watch.
                Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) => {
                    missing.push(root.clone());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Watcher {
            _inner: inner,
            rx,
            overflow,
            roots,
            missing,
        })
    }

    /// The roots that did not exist when the watcher started (not watched).
    pub fn missing(&self) -> &[PathBuf] {
        &self.missing
    }

    /// Blocks until something changes or `timeout` passes, then waits until no event came
    /// for `settle`, and returns the roots touched, sorted (empty on timeout).
    pub fn wait_changed(&self, timeout: Duration, settle: Duration) -> Vec<PathBuf> {
        let mut touched = Vec::new();
        match self.rx.recv_timeout(timeout) {
            Ok(paths) => touched.extend(paths),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                if !self.overflow.load(Ordering::Relaxed) {
                    return Vec::new();
                }
            }
        }
        while let Ok(paths) = self.rx.recv_timeout(settle) {
            touched.extend(paths);
        }
        if self.overflow.swap(false, Ordering::Relaxed) {
            return self.roots.clone();
        }
        let mut roots: Vec<PathBuf> = self
            .roots
            .iter()
            .filter(|r| touched.iter().any(|p| p.starts_with(r)))
            .cloned()
            .collect();
        roots.sort();
        roots.dedup();
        roots
    }
}
