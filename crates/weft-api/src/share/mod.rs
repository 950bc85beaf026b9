//! File sharing: indexing jobs (`POST`/`GET`/`DELETE /v0/share`), the shared roots and files
//! (`GET /v0/shared`, `GET /v0/shared/files`), search ([`search`]) and downloads
//! ([`download`]).

pub mod download;
pub mod search;

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use download::{DownloadRequest, DownloadState, DownloadStatus, MAX_WAIT_MS, StatusQuery};
pub use search::{CutBy, CutLine, ResultGroup, SearchLine, SearchQuery, Via};

/// Longest `GET /v0/share?job=&wait_ms=` waits for the job to end, in milliseconds.
pub const MAX_SHARE_WAIT_MS: u64 = 5_000;
/// Most files in one page of `GET /v0/shared/files` (and the default).
pub const MAX_FILES_PAGE: usize = 1000;

/// Body of `POST /v0/share`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ShareRequest {
    /// Absolute paths of files or folders.
    pub paths: Vec<PathBuf>,
}

/// Answer of `POST /v0/share`: the indexing job that started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ShareStarted {
    /// The job's number.
    pub job: u64,
}

/// Query of `GET /v0/share`: with `job`, the answer waits until that job has ended, for at
/// most `wait_ms` (capped at [`MAX_SHARE_WAIT_MS`]), so a client sees the end at once without
/// polling fast.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ShareStatusQuery {
    /// The job to wait for.
    pub job: Option<u64>,
    /// How long to wait for it, in milliseconds.
    pub wait_ms: Option<u64>,
}

/// Where an indexing job is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ShareJobState {
    /// No job has run since the node started.
    #[default]
    Idle,
    /// Hashing.
    Running,
    /// Finished; the counts and lists are its report.
    Done,
    /// Stopped; `error` says why.
    Failed,
}

impl ShareJobState {
    /// Done or failed: the job will not change again.
    pub fn is_finished(self) -> bool {
        matches!(self, ShareJobState::Done | ShareJobState::Failed)
    }
}

/// A file that could not be indexed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UnreadableFile {
    /// Its path.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// The rule that left a path out of the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkipKind {
    /// A weft data folder: never shared.
    DataFolder,
    /// A hard link to the node's own `identity.key` or `api.token`.
    Secret,
    /// Its name starts with '.'.
    Hidden,
    /// A `.weftignore` or built-in pattern.
    Ignored,
    /// A symbolic link that leads outside the shared folder.
    LinkOutside,
    /// A symbolic link into a weft data folder.
    LinkIntoDataFolder,
    /// A symbolic link to a folder (its files are shared under their own paths).
    LinkToFolder,
    /// A symbolic link loop.
    LinkLoop,
    /// A symbolic link to nothing.
    LinkBroken,
    /// A FIFO, socket or device.
    Special,
    /// A name that is not UTF-8.
    NotUtf8,
    /// Too deep in the folder tree.
    TooDeep,
}

/// A path left out by a rule (a data folder, hidden, ignored, a link, a FIFO...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SkippedPath {
    /// Its path.
    pub path: String,
    /// The rule.
    pub kind: SkipKind,
    /// Why, in words.
    pub reason: String,
}

/// A file hashed and recorded by a job: the hash to give a friend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AddedFile {
    /// The content hash (64 hex digits).
    pub hash: String,
    /// The size in bytes.
    pub size: u64,
    /// Where it is.
    pub path: String,
}

/// The state of the latest indexing job, as `GET /v0/share` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ShareJob {
    /// The job's number (0: none yet).
    pub job: u64,
    /// Where it is.
    pub state: ShareJobState,
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
    /// Files hashed and recorded, with their hashes (at most 100 listed; `added_count`
    /// counts all; `GET /v0/shared/files` lists every shared file).
    pub added: Vec<AddedFile>,
    /// Files hashed and recorded.
    pub added_count: u64,
    /// Paths left out by a rule, with the reason (at most 100; `skipped_count` counts all).
    pub skipped: Vec<SkippedPath>,
    /// Paths left out by a rule.
    pub skipped_count: u64,
    /// Shared roots whose path is gone.
    pub missing_roots: Vec<String>,
    /// Roots in a weft data folder, shared by an earlier version: no longer shared.
    pub refused_roots: Vec<String>,
    /// One line per change in how roots nest (a root inside another, or holding others).
    pub root_changes: Vec<String>,
    /// Why the job failed.
    pub error: Option<String>,
}

/// Body of `DELETE /v0/share`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UnshareRequest {
    /// A shared root.
    pub path: PathBuf,
}

/// A shared root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SharedRoot {
    /// Its path.
    pub path: String,
    /// Files indexed under it.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// True if the path is gone (its files are forgotten until it is back).
    pub missing: bool,
}

/// What `DELETE /v0/share` answers: the root it stopped sharing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Unshared {
    /// The root, with what it held.
    #[serde(flatten)]
    pub root: SharedRoot,
    /// The shared root it lay in, which took its files over (`null`: they are forgotten).
    pub handed_to: Option<String>,
}

/// Query of `GET /v0/shared/files`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SharedFilesQuery {
    /// The `next_after` of the previous page (default 0: the first page).
    pub after: Option<i64>,
    /// Files per page (default and most: [`MAX_FILES_PAGE`]).
    pub limit: Option<usize>,
}

/// A shared file with its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SharedFile {
    /// The content hash (64 hex digits), the one to give to `weft get`.
    pub hash: String,
    /// The size in bytes.
    pub size: u64,
    /// Where it is.
    pub path: String,
}

/// A page of `GET /v0/shared/files`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SharedFiles {
    /// The files, in the order they were indexed.
    pub files: Vec<SharedFile>,
    /// Pass as `after` for the next page; `null` on the last page.
    pub next_after: Option<i64>,
}
