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
//! A rescan skips files whose size and modification time are unchanged and forgets files
//! that are gone. Files that cannot be read end up in [`ScanReport::unreadable`]; they never
//! stop a scan.
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
//! let hits = index.search("blue tra", 10).unwrap();
//! assert_eq!(hits[0].names, vec!["Blue Train.txt".to_string()]);
//! ```

mod scan;
mod schema;
mod search;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};
use unicode_normalization::UnicodeNormalization;
use weft_core::id::Key256;

use crate::verify::Outboard;
use scan::{Found, Hashed};

pub use schema::MIGRATIONS;
pub use search::{MAX_KEYWORDS, MAX_NAMES, SearchHit, keywords};

/// Most unreadable files listed in one [`ScanReport`] (the rest are only counted).
pub const MAX_UNREADABLE_LISTED: usize = 1000;

/// Why an index operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The database refused an operation.
    #[error("index database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A path given to share does not exist (or cannot be resolved).
    #[error("no such file or folder: {}", .0.display())]
    Missing(PathBuf),
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
    /// Files skipped because their size and time are unchanged.
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
    /// Entries removed because their file is gone.
    pub files_removed: u64,
    /// Files that could not be read (at most [`MAX_UNREADABLE_LISTED`]).
    pub unreadable: Vec<Unreadable>,
    /// All unreadable files, including those not listed.
    pub unreadable_count: u64,
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

    /// Shares `paths` (folders or files) and scans them. A path inside a shared root rescans
    /// that root; a path that contains shared roots replaces them.
    ///
    /// `progress` is called after walking and after every file hashed.
    ///
    /// # Errors
    /// [`IndexError::Missing`] if any path does not exist (nothing is shared then),
    /// [`IndexError::NotUtf8`], or a database error.
    pub fn share<P: AsRef<Path>>(
        &self,
        paths: &[P],
        progress: &mut dyn FnMut(&ScanProgress),
    ) -> Result<ScanReport, IndexError> {
        let mut canonical = Vec::with_capacity(paths.len());
        for p in paths {
            let p = p.as_ref();
            let c = std::fs::canonicalize(p).map_err(|_| IndexError::Missing(p.to_path_buf()))?;
            path_text(&c)?;
            canonical.push(c);
        }
        let mut scan: BTreeMap<i64, PathBuf> = BTreeMap::new();
        for path in canonical {
            let roots = self.roots()?;
            if let Some((id, root)) = roots.iter().find(|(_, r)| path.starts_with(r)) {
                scan.insert(*id, root.clone());
                continue;
            }
            for (id, _) in roots.iter().filter(|(_, r)| r.starts_with(&path)) {
                self.delete_root(*id)?;
                scan.remove(id);
            }
            self.conn.execute(
                "INSERT INTO share_roots(path) VALUES (?1)",
                [path_text(&path)?],
            )?;
            scan.insert(self.conn.last_insert_rowid(), path);
        }
        self.scan(scan.into_iter().collect(), progress)
    }

    /// Rescans every shared root (call on start and when the watcher reports changes).
    ///
    /// # Errors
    /// A database error.
    pub fn rescan(
        &self,
        progress: &mut dyn FnMut(&ScanProgress),
    ) -> Result<ScanReport, IndexError> {
        let roots = self.roots()?;
        self.scan(roots, progress)
    }

    /// Rescans the shared roots among `roots` (as reported by [`crate::watch::Watcher`]).
    ///
    /// # Errors
    /// A database error.
    pub fn rescan_roots(
        &self,
        roots: &[PathBuf],
        progress: &mut dyn FnMut(&ScanProgress),
    ) -> Result<ScanReport, IndexError> {
        let selected = self
            .roots()?
            .into_iter()
            .filter(|(_, r)| roots.contains(r))
            .collect();
        self.scan(selected, progress)
    }

    /// Stops sharing the root `path` and forgets its files.
    ///
    /// # Errors
    /// [`IndexError::NotShared`] if `path` is not a shared root, or a database error.
    pub fn unshare(&self, path: &Path) -> Result<SharedRoot, IndexError> {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let shared = self.shared()?;
        let Some(root) = shared
            .into_iter()
            .find(|r| r.path == canonical || r.path == path)
        else {
            return Err(IndexError::NotShared(path.to_path_buf()));
        };
        let id: i64 = self.conn.query_row(
            "SELECT id FROM share_roots WHERE path = ?1",
            [path_text(&root.path)?],
            |r| r.get(0),
        )?;
        self.delete_root(id)?;
        self.collect_outboards()?;
        Ok(root)
    }

    /// The shared roots with their file counts and sizes, by path.
    ///
    /// # Errors
    /// A database error.
    pub fn shared(&self) -> Result<Vec<SharedRoot>, IndexError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.path, count(f.id), coalesce(sum(f.size), 0)
             FROM share_roots r LEFT JOIN share_files f ON f.root_id = r.id
             GROUP BY r.id ORDER BY r.path",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(SharedRoot {
                path: PathBuf::from(r.get::<_, String>(0)?),
                files: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                bytes: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
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

    /// A path whose file holds the content `hash` now, to serve from; `None` if no shared file
    /// does any more. Files whose size or time changed are rehashed first (and re-recorded
    /// under their new hash); files that are gone are forgotten.
    ///
    /// # Errors
    /// A database error.
    pub fn recheck(&self, hash: &Key256) -> Result<Option<PathBuf>, IndexError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT f.id, f.root_id, r.path, f.rel_path, f.name, f.size, f.mtime_ns
             FROM share_files f JOIN share_roots r ON r.id = f.root_id
             WHERE f.hash = ?1 ORDER BY f.id",
        )?;
        let rows = stmt
            .query_map([&hash.0[..]], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut changed = false;
        let mut found = None;
        for (id, root_id, root, rel, name, size, mtime_ns) in rows {
            let abs = if rel.is_empty() {
                PathBuf::from(&root)
            } else {
                Path::new(&root).join(&rel)
            };
            let Ok(meta) = std::fs::metadata(&abs) else {
                self.conn
                    .execute("DELETE FROM share_files WHERE id = ?1", [id])?;
                changed = true;
                continue;
            };
            let now = Found {
                root_id,
                abs,
                rel,
                name,
                size: meta.len(),
                mtime_ns: scan::mtime_ns(&meta),
            };
            if to_i64(now.size) == size && now.mtime_ns == mtime_ns {
                found = Some(now.abs);
                break;
            }
            match scan::hash_file(&now, self.known.as_ref()) {
                Ok(hashed) => {
                    let same = hashed.outboard.root == *hash;
                    self.record(&now, &hashed)?;
                    changed |= !same;
                    if same {
                        found = Some(now.abs);
                        break;
                    }
                }
                Err(_) => {
                    self.conn
                        .execute("DELETE FROM share_files WHERE id = ?1", [id])?;
                    changed = true;
                }
            }
        }
        if changed {
            self.collect_outboards()?;
        }
        Ok(found)
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

    fn roots(&self) -> Result<Vec<(i64, PathBuf)>, IndexError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, path FROM share_roots ORDER BY path")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, PathBuf::from(r.get::<_, String>(1)?)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_root(&self, id: i64) -> Result<(), IndexError> {
        self.conn
            .execute("DELETE FROM share_files WHERE root_id = ?1", [id])?;
        self.conn
            .execute("DELETE FROM share_roots WHERE id = ?1", [id])?;
        Ok(())
    }

    fn collect_outboards(&self) -> Result<(), IndexError> {
        self.conn.execute(
            "DELETE FROM share_outboards WHERE hash NOT IN (SELECT hash FROM share_files)",
            [],
        )?;
        Ok(())
    }

    fn scan(
        &self,
        roots: Vec<(i64, PathBuf)>,
        progress: &mut dyn FnMut(&ScanProgress),
    ) -> Result<ScanReport, IndexError> {
        let mut report = ScanReport {
            roots: roots.iter().map(|(_, p)| p.clone()).collect(),
            ..Default::default()
        };
        let mut unreadable = Vec::new();
        let mut jobs = Vec::new();
        for (root_id, root) in &roots {
            let found = scan::walk(*root_id, root, &mut unreadable);
            let known = self.known_files(*root_id)?;
            let seen: BTreeSet<&str> = found.iter().map(|f| f.rel.as_str()).collect();
            for (rel, (id, _, _)) in &known {
                if !seen.contains(rel.as_str()) {
                    self.conn
                        .execute("DELETE FROM share_files WHERE id = ?1", [id])?;
                    report.files_removed += 1;
                }
            }
            for f in found {
                match known.get(&f.rel) {
                    Some(&(_, size, mtime)) if size == to_i64(f.size) && mtime == f.mtime_ns => {
                        report.files_unchanged += 1;
                    }
                    _ => jobs.push(f),
                }
            }
        }
        let mut state = ScanProgress {
            files_total: jobs.len() as u64,
            bytes_total: jobs.iter().map(|f| f.size).sum(),
            files_unchanged: report.files_unchanged,
            ..Default::default()
        };
        progress(&state);
        let mut first_error: Option<IndexError> = None;
        let mut batch = 0usize;
        self.conn.execute_batch("BEGIN")?;
        // Asked here, not in `new`: the answer reads cgroup files, and an index is opened for
        // every piece a node serves.
        let workers = self
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        scan::hash_all(jobs, workers, self.known.as_ref(), |found, result| {
            if first_error.is_some() {
                return;
            }
            match result {
                Ok(hashed) => match self.record(&found, &hashed) {
                    Ok(()) => {
                        report.files_hashed += 1;
                        report.bytes_hashed += found.size;
                    }
                    Err(e) => first_error = Some(e),
                },
                Err(reason) => unreadable.push(Unreadable {
                    path: found.abs.clone(),
                    reason,
                }),
            }
            batch += 1;
            if batch >= 256 {
                batch = 0;
                if let Err(e) = self.conn.execute_batch("COMMIT; BEGIN") {
                    first_error = Some(e.into());
                }
            }
            state.files_done += 1;
            state.bytes_done += found.size;
            progress(&state);
        });
        if let Some(e) = first_error {
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(e);
        }
        self.conn.execute_batch("COMMIT")?;
        self.collect_outboards()?;
        report.unreadable_count = unreadable.len() as u64;
        unreadable.truncate(MAX_UNREADABLE_LISTED);
        report.unreadable = unreadable;
        Ok(report)
    }

    /// rel_path → (id, size, mtime_ns) of the files recorded under a root.
    fn known_files(&self, root_id: i64) -> Result<BTreeMap<String, (i64, i64, i64)>, IndexError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT rel_path, id, size, mtime_ns FROM share_files WHERE root_id = ?1",
        )?;
        let rows = stmt.query_map([root_id], |r| {
            Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Inserts or updates one file, its outboard and its keywords.
    fn record(&self, f: &Found, h: &Hashed) -> Result<(), IndexError> {
        let hash = &h.outboard.root.0[..];
        self.conn
            .prepare_cached("INSERT INTO share_outboards(hash, size, pairs) VALUES (?1, ?2, ?3) ON CONFLICT(hash) DO NOTHING")?
            .execute(params![hash, to_i64(h.outboard.size), h.outboard.pairs])?;
        let t = &h.tags;
        let id: i64 = self.conn.prepare_cached(
            "INSERT INTO share_files(root_id, rel_path, name, size, mtime_ns, mime, hash, artist, title, album, year)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT(root_id, rel_path) DO UPDATE SET name = excluded.name, size = excluded.size,
                mtime_ns = excluded.mtime_ns, mime = excluded.mime, hash = excluded.hash,
                artist = excluded.artist, title = excluded.title, album = excluded.album, year = excluded.year
             RETURNING id",
        )?.query_row(
            params![f.root_id, f.rel, f.name, to_i64(f.size), f.mtime_ns, h.mime, hash, t.artist, t.title, t.album, t.year],
            |r| r.get(0),
        )?;
        let dir = f.rel.rsplit_once('/').map_or("", |(d, _)| d);
        let tags: Vec<&str> = [&t.artist, &t.title, &t.album]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let year = t.year.map(|y| y.to_string()).unwrap_or_default();
        let tag_text = format!("{} {}", tags.join(" "), year);
        self.conn
            .prepare_cached("DELETE FROM share_fts WHERE rowid = ?1")?
            .execute([id])?;
        self.conn
            .prepare_cached(
                "INSERT INTO share_fts(rowid, name, path, tags) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                id,
                f.name.nfc().collect::<String>(),
                dir.nfc().collect::<String>(),
                tag_text.nfc().collect::<String>()
            ])?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
