//! The local index of shared files, in the node's SQLite database.
//!
//! [`Index`] borrows a `rusqlite::Connection` on which the node's store has applied
//! [`MIGRATIONS`]. [`Index::share`] walks folders (or single files), hashes every new or
//! changed file with its bao outboard (see [`crate::verify`]) on several threads, guesses its
//! MIME type, reads artist/title/album/year from audio files, and records it with its keywords
//! in an FTS5 table (`unicode61 remove_diacritics 2`: case- and accent-folded; queries match
//! word prefixes). Files are not copied: the node serves them where they are, after
//! [`Index::recheck`] confirms they still hold the content.
//!
//! What is never shared: a weft data folder or anything in it ([`crate::data_folder`]), by
//! whatever path it is reached; the node's own folder is the one that holds the database.
//! What a walk skips by rule (hidden names, `.weftignore` patterns, links that leave the
//! root, FIFOs, sockets, devices) is listed in [`ScanReport::skipped`] with its reason; the
//! rules are in `walk.rs` and `ignore_rules.rs`.
//!
//! A rescan skips files whose stamp — size, modification time, inode change time, inode and
//! device — is unchanged, and forgets files that are gone. Files that cannot be read end up in
//! [`ScanReport::unreadable`]; they never stop a scan.
//!
//! Roots nest: a root shared inside another keeps its files (the deepest root holding a file
//! owns it), and sharing or unsharing one moves rows between roots without hashing again.
//!
//! ```
//! use weft_share::index::{Index, MIGRATIONS};
//! let dir = tempfile::tempdir().unwrap();
//! std::fs::write(dir.path().join("Blue Train.txt"), b"John Coltrane, 1957").unwrap();
//! let conn = rusqlite::Connection::open_in_memory().unwrap();
//! for (_, sql) in MIGRATIONS {
//!     conn.execute_batch(sql).unwrap();
//! }
//! let index = Index::new(&conn);
//! let report = index.share(&[dir.path()], &mut |_| {}).unwrap();
//! assert_eq!(report.files_hashed, 1);
//! assert_eq!(report.added[0].hash, weft_core::id::Key256::hash(b"John Coltrane, 1957"));
//! let hits = index.search("blue tra", 10).unwrap();
//! assert_eq!(hits[0].names, vec!["Blue Train.txt".to_string()]);
//! ```

pub mod ignore_rules;
mod recheck;
mod roots;
mod scan;
mod schema;
mod search;
mod update;
mod walk;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use weft_core::id::Key256;

use crate::data_folder::DataFolders;
use crate::verify::Outboard;

pub use roots::{RootChange, Unshared, check_shareable};
pub use schema::MIGRATIONS;
pub use search::{MAX_KEYWORDS, MAX_NAMES, SearchHit, keywords};

/// Most entries of each list in one [`ScanReport`] (unreadable, skipped, added); the rest are
/// only counted.
pub const MAX_LISTED: usize = 1000;

/// Most unreadable files listed in one [`ScanReport`] (the rest are only counted).
pub const MAX_UNREADABLE_LISTED: usize = MAX_LISTED;

/// Most files one [`Index::files`] page holds.
pub const MAX_FILES_PAGE: usize = 1000;

/// Why an index operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The database refused an operation.
    #[error("index database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A path given to share does not exist (or cannot be resolved).
    #[error("no such file or folder: {}", .0.display())]
    Missing(PathBuf),
    /// A path given to share is a symbolic link that leads nowhere.
    #[error("{}: broken symbolic link (to {}, which does not exist)", .0.display(), .1.display())]
    BrokenLink(PathBuf, PathBuf),
    /// A path given to share is a loop of symbolic links.
    #[error("{}: symbolic link loop (the links lead back to themselves)", .0.display())]
    LinkLoop(PathBuf),
    /// A path given to share is neither a regular file nor a folder.
    #[error("{}: {kind}; only regular files and folders can be shared", .0.display(), kind = .1)]
    NotRegular(PathBuf, &'static str),
    /// A path given to share is a weft data folder or lies in one.
    #[error(
        "{}: in the weft data folder {}, which holds a node's private key and API token and is never shared",
        .path.display(), .data_folder.display()
    )]
    DataFolder {
        /// The path given.
        path: PathBuf,
        /// The data folder it is or lies in.
        data_folder: PathBuf,
    },
    /// A path is not valid UTF-8.
    #[error("path is not valid UTF-8: {}", .0.display())]
    NotUtf8(PathBuf),
    /// The path is not a shared root.
    #[error("not shared: {}", .0.display())]
    NotShared(PathBuf),
    /// The database holds a value this version cannot read.
    #[error("index database holds a malformed {0}")]
    Malformed(&'static str),
}

/// Artist, title, album and year read from a media file.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MediaTags {
    /// Artist.
    pub artist: Option<String>,
    /// Title.
    pub title: Option<String>,
    /// Album.
    pub album: Option<String>,
    /// Year of recording or release.
    pub year: Option<i64>,
}

/// Where a scan is, for a progress bar. The totals are known once walking is done.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanProgress {
    /// Files hashed (or found unreadable) so far.
    pub files_done: u64,
    /// Files to hash.
    pub files_total: u64,
    /// Bytes hashed so far.
    pub bytes_done: u64,
    /// Bytes to hash.
    pub bytes_total: u64,
    /// Files skipped because their stamp is unchanged.
    pub files_unchanged: u64,
}

/// A file a scan could not read, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreadable {
    /// The file (or folder).
    pub path: PathBuf,
    /// The error, as text.
    pub reason: String,
}

/// Why a walk left a path out (see `walk.rs` for the rules).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    /// A weft data folder: never shared.
    #[error("a weft data folder (it holds a node's private key and API token): never shared")]
    DataFolder,
    /// A hard link to the node's own `identity.key` or `api.token`.
    #[error("the node's own identity.key or api.token (a hard link to it): never shared")]
    Secret,
    /// The name starts with `.`.
    #[error("hidden (the name starts with '.'); a .weftignore line !NAME shares it")]
    Hidden,
    /// A pattern of a `.weftignore` or of the built-in defaults.
    #[error("ignored by {}: {pattern}", .file.as_ref().map_or_else(|| "the built-in defaults".to_string(), |f| f.display().to_string()))]
    Ignored {
        /// The `.weftignore` (`None`: the defaults).
        file: Option<PathBuf>,
        /// The pattern as written.
        pattern: String,
    },
    /// A symbolic link to something outside the shared root.
    #[error("symbolic link to {}, outside the shared folder", .target.display())]
    LinkOutside {
        /// Where it leads.
        target: PathBuf,
    },
    /// A symbolic link into a weft data folder.
    #[error("symbolic link to {}, in a weft data folder: never shared", .target.display())]
    LinkIntoDataFolder {
        /// Where it leads.
        target: PathBuf,
    },
    /// A symbolic link to a folder inside the root: its files are shared under their own path.
    #[error("symbolic link to the folder {}, whose files are shared under their own paths", .target.display())]
    LinkToFolder {
        /// Where it leads.
        target: PathBuf,
    },
    /// Links that lead back to themselves, or to a folder holding the link.
    #[error("symbolic link loop")]
    LinkLoop,
    /// A symbolic link to nothing.
    #[error("broken symbolic link (to {}, which does not exist)", .target.display())]
    LinkBroken {
        /// What it names.
        target: PathBuf,
    },
    /// A FIFO, socket or device.
    #[error("{0}, not a regular file")]
    Special(&'static str),
    /// The name is not valid UTF-8.
    #[error("the name is not valid UTF-8")]
    NotUtf8,
    /// Deeper than `walk::MAX_DEPTH` folders below the root.
    #[error("more than {} folders deep", walk::MAX_DEPTH)]
    TooDeep,
}

impl SkipReason {
    /// A stable one-word name of the reason, for JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            SkipReason::DataFolder => "data_folder",
            SkipReason::Secret => "secret",
            SkipReason::Hidden => "hidden",
            SkipReason::Ignored { .. } => "ignored",
            SkipReason::LinkOutside { .. } => "link_outside",
            SkipReason::LinkIntoDataFolder { .. } => "link_into_data_folder",
            SkipReason::LinkToFolder { .. } => "link_to_folder",
            SkipReason::LinkLoop => "link_loop",
            SkipReason::LinkBroken { .. } => "link_broken",
            SkipReason::Special(_) => "special",
            SkipReason::NotUtf8 => "not_utf8",
            SkipReason::TooDeep => "too_deep",
        }
    }
}

/// A path a walk left out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The path (a folder left out counts once, not once per file in it).
    pub path: PathBuf,
    /// Why.
    pub reason: SkipReason,
}

/// A file a scan hashed and recorded (new, or changed since the last scan).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedFile {
    /// Its content hash, the one to give to `weft get`.
    pub hash: Key256,
    /// Its size.
    pub size: u64,
    /// Where it is.
    pub path: PathBuf,
}

/// The first [`MAX_LISTED`] items of a list, and how many there were in all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed<T> {
    /// The first items.
    pub items: Vec<T>,
    /// All items, listed or not.
    pub count: u64,
}

impl<T> Default for Listed<T> {
    fn default() -> Self {
        Listed {
            items: Vec::new(),
            count: 0,
        }
    }
}

impl<T> Listed<T> {
    /// Counts `item`, and keeps it if fewer than [`MAX_LISTED`] are kept.
    pub fn push(&mut self, item: T) {
        self.count += 1;
        if self.items.len() < MAX_LISTED {
            self.items.push(item);
        }
    }

    /// Counts and keeps (within the bound) everything of `other`.
    pub fn extend(&mut self, other: Listed<T>) {
        let uncounted = other.count.saturating_sub(other.items.len() as u64);
        for item in other.items {
            self.push(item);
        }
        self.count += uncounted;
    }
}

/// What a scan did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// The roots scanned (canonical paths).
    pub roots: Vec<PathBuf>,
    /// Files hashed and recorded.
    pub files_hashed: u64,
    /// Bytes hashed.
    pub bytes_hashed: u64,
    /// Files skipped as unchanged.
    pub files_unchanged: u64,
    /// Entries removed because their file is gone (or is now left out by a rule).
    pub files_removed: u64,
    /// Files that could not be read (at most [`MAX_UNREADABLE_LISTED`]).
    pub unreadable: Vec<Unreadable>,
    /// All unreadable files, including those not listed.
    pub unreadable_count: u64,
    /// Paths left out by a rule, with the reason (at most [`MAX_LISTED`]).
    pub skipped: Vec<Skipped>,
    /// All paths left out.
    pub skipped_count: u64,
    /// Files hashed and recorded, with their hashes (at most [`MAX_LISTED`]).
    pub added: Vec<AddedFile>,
    /// All files hashed and recorded (= `files_hashed`).
    pub added_count: u64,
    /// Roots whose path is gone (their files are forgotten; the root stays shared and is
    /// scanned again when it comes back).
    pub missing_roots: Vec<PathBuf>,
    /// Roots that lie in a weft data folder (shared by an earlier version): no longer shared.
    pub refused_roots: Vec<PathBuf>,
    /// How shared roots nest, when sharing changed that.
    pub root_changes: Vec<RootChange>,
}

/// A shared root with what it holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SharedRoot {
    /// The canonical path.
    pub path: PathBuf,
    /// Files indexed under it.
    pub files: u64,
    /// Their total size.
    pub bytes: u64,
    /// True if the path does not exist now (its files are forgotten until it comes back).
    pub missing: bool,
}

/// One shared file, as [`Index::files`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedFile {
    /// Its row id: pass the last one of a page as `after` for the next page.
    pub id: i64,
    /// Its content hash.
    pub hash: Key256,
    /// Its size.
    pub size: u64,
    /// Where it is.
    pub path: PathBuf,
}

/// One distinct content in the index, for publishing to a directory or the DHT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentEntry {
    /// The content hash.
    pub hash: Key256,
    /// The content size.
    pub size: u64,
    /// Distinct names of files with this content (at most [`MAX_NAMES`]).
    pub names: Vec<String>,
    /// MIME type of the first name.
    pub mime: String,
    /// Keywords of the names and tags (see [`keywords`]), at most [`MAX_KEYWORDS`].
    pub keywords: Vec<String>,
}

pub(crate) fn hash_from_blob(blob: &[u8]) -> Result<Key256, IndexError> {
    <[u8; 32]>::try_from(blob)
        .map(Key256)
        .map_err(|_| IndexError::Malformed("hash"))
}

fn path_text(path: &Path) -> Result<&str, IndexError> {
    path.to_str()
        .ok_or_else(|| IndexError::NotUtf8(path.to_path_buf()))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `root` joined with the '/'-separated `rel` (`root` itself when `rel` is empty).
fn file_path(root: &Path, rel: &str) -> PathBuf {
    if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    }
}

/// The local index over a borrowed connection. Cheap to make; make one per operation or keep
/// one next to the connection.
pub struct Index<'c> {
    conn: &'c Connection,
    /// Hashing threads; `None`: one per core.
    workers: Option<usize>,
    known: Option<scan::Known>,
}

impl<'c> Index<'c> {
    /// An index over `conn`, which must have [`MIGRATIONS`] applied. Hashes on as many
    /// threads as the machine has cores.
    pub fn new(conn: &'c Connection) -> Self {
        Index {
            conn,
            workers: None,
            known: None,
        }
    }

    /// Takes `outboard` as the hash tree of the file at `path` instead of reading the file
    /// (when its size matches), as for a download whose every piece was verified against the
    /// tree. The file's name, type, tags and time are still read.
    pub fn with_known_tree(mut self, path: &Path, outboard: Outboard) -> Self {
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        self.known = Some(scan::Known { path, outboard });
        self
    }

    /// Uses `workers` hashing threads (at least one).
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = Some(workers.max(1));
        self
    }

    /// The data folders this index never shares: any recognised by what it holds, and the
    /// node's own, the folder of the database file.
    pub fn data_folders(&self) -> DataFolders {
        match self.conn.path().map(Path::new).and_then(Path::parent) {
            Some(dir) if !dir.as_os_str().is_empty() => DataFolders::with_own(dir),
            _ => DataFolders::recognised(),
        }
    }

    /// Local files matching every word of `query` (as prefixes), grouped by content, best
    /// first, at most `limit` (capped at 1000) contents.
    ///
    /// # Errors
    /// A database error.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<SearchHit>, IndexError> {
        search::search(self.conn, query, limit)
    }

    /// The hash tree of `hash`, if a shared file has that content.
    ///
    /// # Errors
    /// A database error, or [`IndexError::Malformed`] for a stored outboard of the wrong size.
    pub fn outboard(&self, hash: &Key256) -> Result<Option<Outboard>, IndexError> {
        let row = self
            .conn
            .query_row(
                "SELECT size, pairs FROM share_outboards WHERE hash = ?1",
                [&hash.0[..]],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
            )
            .optional()?;
        let Some((size, pairs)) = row else {
            return Ok(None);
        };
        let size = u64::try_from(size).map_err(|_| IndexError::Malformed("size"))?;
        Outboard::from_parts(*hash, size, pairs)
            .map(Some)
            .map_err(|_| IndexError::Malformed("outboard"))
    }

    /// Shared files by row id, `limit` (at most [`MAX_FILES_PAGE`]) after the id `after`,
    /// for `weft shared --files`.
    ///
    /// # Errors
    /// A database error, or [`IndexError::Malformed`] for a stored hash of the wrong size.
    pub fn files(&self, after: i64, limit: usize) -> Result<Vec<SharedFile>, IndexError> {
        let limit = to_i64(limit.min(MAX_FILES_PAGE) as u64);
        let rows = self
            .conn
            .prepare_cached(
                "SELECT f.id, f.hash, f.size, r.path, f.rel_path
                 FROM share_files f JOIN share_roots r ON r.id = f.root_id
                 WHERE f.id > ?1 ORDER BY f.id LIMIT ?2",
            )?
            .query_map(params![after, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(id, hash, size, root, rel)| {
                Ok(SharedFile {
                    id,
                    hash: hash_from_blob(&hash)?,
                    size: u64::try_from(size).unwrap_or(0),
                    path: file_path(Path::new(&root), &rel),
                })
            })
            .collect()
    }

    /// One distinct content, if a shared file has it.
    ///
    /// # Errors
    /// A database error.
    pub fn content(&self, hash: &Key256) -> Result<Option<ContentEntry>, IndexError> {
        let size: Option<i64> = self
            .conn
            .query_row(
                "SELECT size FROM share_outboards WHERE hash = ?1",
                [&hash.0[..]],
                |r| r.get(0),
            )
            .optional()?;
        match size {
            Some(size) => Ok(Some(self.entry(*hash, u64::try_from(size).unwrap_or(0))?)),
            None => Ok(None),
        }
    }

    /// Distinct contents in hash order, `limit` at a time after `after` (for paging through
    /// everything to publish).
    ///
    /// # Errors
    /// A database error.
    pub fn contents(
        &self,
        after: Option<Key256>,
        limit: usize,
    ) -> Result<Vec<ContentEntry>, IndexError> {
        let after = after.map(|k| k.0.to_vec()).unwrap_or_default();
        let limit = to_i64(limit as u64);
        let rows = self
            .conn
            .prepare_cached(
                "SELECT hash, size FROM share_outboards WHERE hash > ?1 ORDER BY hash LIMIT ?2",
            )?
            .query_map(params![after, limit], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(hash, size)| {
                self.entry(hash_from_blob(&hash)?, u64::try_from(size).unwrap_or(0))
            })
            .collect()
    }

    fn entry(&self, hash: Key256, size: u64) -> Result<ContentEntry, IndexError> {
        let rows = self
            .conn
            .prepare_cached(
                "SELECT name, mime, artist, title, album FROM share_files WHERE hash = ?1 ORDER BY id LIMIT 64",
            )?
            .query_map([&hash.0[..]], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    [r.get::<_, Option<String>>(2)?, r.get(3)?, r.get(4)?],
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut names: Vec<String> = Vec::new();
        let mut text = String::new();
        for (name, _, tags) in &rows {
            if names.len() < MAX_NAMES && !names.contains(name) {
                names.push(name.clone());
            }
            text.push_str(name);
            for t in tags.iter().flatten() {
                text.push(' ');
                text.push_str(t);
            }
            text.push(' ');
        }
        let mime = rows.first().map(|r| r.1.clone()).unwrap_or_default();
        Ok(ContentEntry {
            hash,
            size,
            names,
            mime,
            keywords: keywords(&text),
        })
    }
}

#[cfg(test)]
mod safety_tests;
#[cfg(test)]
mod tests;
