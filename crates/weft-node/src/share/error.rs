//! Why a download failed: the line its status's `error` shows (`GET /v0/downloads/{hash}`)
//! and `weft get` prints. Each case names the file or the source it is about and, where the
//! user can act, what to do.

use std::path::PathBuf;

use weft_core::id::Key256;
use weft_share::transfer::PlanError;

/// No provider proved the content's size.
#[derive(Debug, thiserror::Error)]
pub enum NoSourceError {
    /// Every way of finding providers ended without one.
    #[error("no source found for {0}")]
    Ended(Key256),
    /// None proved the size in time.
    #[error("no source found for {hash} within {secs} s")]
    Timeout {
        /// The content.
        hash: Key256,
        /// Seconds waited.
        secs: u64,
    },
}

/// Why a download stopped.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// No source at the start.
    #[error(transparent)]
    NoSource(#[from] NoSourceError),
    /// Every source went away or was banned mid-way.
    #[error("every source of {0} is gone or banned; run `weft get` again to resume")]
    SourcesGone(Key256),
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The partial file could not be created or sized.
    #[error("cannot create {}: {source}", path.display())]
    Create {
        /// The partial file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A verified piece could not be written to the partial file.
    #[error("cannot write the partial file: {0}")]
    Partial(std::io::Error),
    /// The writer stopped before every piece was written.
    #[error("the partial file could not be written")]
    PartialLost,
    /// The node's database failed; the usual cause is a full disk under the data folder, so
    /// the line names the database's file.
    #[error("{what} in {}: {source}", db.display())]
    Db {
        /// What was being done.
        what: &'static str,
        /// The database's file.
        db: PathBuf,
        /// Why.
        source: weft_store::rusqlite::Error,
    },
    /// The assembled file does not hash to the content hash (changed under the node).
    #[error("the downloaded file hashes to {got}, not {want}; start again")]
    Mismatch {
        /// What it hashes to.
        got: Key256,
        /// The content hash.
        want: Key256,
    },
    /// The verified file could not be moved into place; it is kept.
    #[error(
        "{0}; the verified download is kept: make room and run `weft get` again to finish it \
         without downloading again"
    )]
    Kept(Box<DownloadError>),
    /// The transfer plan refused the content (too large).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A blocking task of the download did not finish.
    #[error("internal error: {0}")]
    Task(#[from] tokio::task::JoinError),
}
