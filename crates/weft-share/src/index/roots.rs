//! Shared roots: what may be shared, sharing and unsharing, and how roots nest.
//!
//! A file belongs to the deepest root that holds it. Sharing a folder inside a shared root
//! makes it a root of its own and moves the rows of its files over; sharing a parent of shared
//! roots leaves them roots of their own; unsharing a root inside another hands its rows to
//! that one. Rows are moved, never deleted and hashed again.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use rusqlite::params;

use super::update::folder_text;
use super::walk::{is_link_loop, special_kind};
use super::{Index, IndexError, ScanProgress, ScanReport, SharedRoot, path_text};
use crate::data_folder::DataFolders;

/// How sharing changed the nesting of roots, for the one line `weft share` prints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootChange {
    /// `root` was part of the shared root `parent`; it is now a root of its own and took
    /// `files` indexed files along (not hashed again).
    SplitFrom {
        /// The new root.
        root: PathBuf,
        /// The root it lies in.
        parent: PathBuf,
        /// Files moved over.
        files: u64,
    },
    /// `root` holds roots shared before, which stay roots of their own.
    Holds {
        /// The new root.
        root: PathBuf,
        /// The roots inside it.
        nested: Vec<PathBuf>,
    },
}

impl fmt::Display for RootChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootChange::SplitFrom {
                root,
                parent,
                files,
            } => write!(
                f,
                "{} was shared as part of {}; it is now shared on its own too ({files} files kept, none hashed again)",
                root.display(),
                parent.display()
            ),
            RootChange::Holds { root, nested } => {
                let names: Vec<String> = nested.iter().map(|p| p.display().to_string()).collect();
                write!(
                    f,
                    "{} holds {} shared before, which stay shared on their own (unsharing {} leaves them shared)",
                    root.display(),
                    names.join(", "),
                    root.display()
                )
            }
        }
    }
}

/// What [`Index::unshare`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unshared {
    /// The root, with what it held.
    pub root: SharedRoot,
    /// The shared root it lay in, which now holds its files; `None`: its files are forgotten.
    pub handed_to: Option<PathBuf>,
}

/// The canonical path of `path` if it may be shared: it exists, is a regular file or a
/// folder (after links), and is not a weft data folder nor inside one.
///
/// # Errors
/// [`IndexError::Missing`], [`IndexError::BrokenLink`], [`IndexError::LinkLoop`],
/// [`IndexError::NotRegular`], [`IndexError::DataFolder`] or [`IndexError::NotUtf8`].
pub fn check_shareable(path: &Path, guard: &DataFolders) -> Result<PathBuf, IndexError> {
    let canonical = match std::fs::canonicalize(path) {
        Ok(c) => c,
        Err(e) if is_link_loop(&e) => return Err(IndexError::LinkLoop(path.to_path_buf())),
        Err(_) => {
            return Err(match std::fs::read_link(path) {
                Ok(target) if std::fs::symlink_metadata(path).is_ok() => {
                    IndexError::BrokenLink(path.to_path_buf(), target)
                }
                _ => IndexError::Missing(path.to_path_buf()),
            });
        }
    };
    let meta =
        std::fs::metadata(&canonical).map_err(|_| IndexError::Missing(path.to_path_buf()))?;
    if !meta.is_file() && !meta.is_dir() {
        return Err(IndexError::NotRegular(
            path.to_path_buf(),
            special_kind(meta.file_type()),
        ));
    }
    if let Some(data_folder) = guard.containing(&canonical) {
        return Err(IndexError::DataFolder {
            path: path.to_path_buf(),
            data_folder,
        });
    }
    path_text(&canonical)?;
    Ok(canonical)
}

/// `path` relative to `root` as the index writes it ('/'-separated).
fn relative(path: &Path, root: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?.to_str()?;
    Some(rel.replace(std::path::MAIN_SEPARATOR, "/"))
}

impl Index<'_> {
    /// Shares `paths` (folders or files) and scans them. A path that is shared already is
    /// scanned again; a new one becomes a root of its own, also when it lies in or holds
    /// other roots (see the module doc; [`ScanReport::root_changes`] says what changed).
    ///
    /// `progress` is called after walking and after every file hashed.
    ///
    /// # Errors
    /// Any error of [`check_shareable`] for any path (nothing is shared then), or a database
    /// error.
    pub fn share<P: AsRef<Path>>(
        &self,
        paths: &[P],
        progress: &mut dyn FnMut(&ScanProgress),
    ) -> Result<ScanReport, IndexError> {
        let guard = self.data_folders();
        let mut canonical = Vec::with_capacity(paths.len());
        for p in paths {
            canonical.push(check_shareable(p.as_ref(), &guard)?);
        }
        let mut changes = Vec::new();
        let mut scan: BTreeSet<i64> = BTreeSet::new();
        let tx = self.conn.unchecked_transaction()?;
        for path in canonical {
            let roots = self.roots()?;
            if let Some((id, _)) = roots.iter().find(|(_, r)| *r == path) {
                scan.insert(*id);
                continue;
            }
            self.conn.execute(
                "INSERT INTO share_roots(path) VALUES (?1)",
                [path_text(&path)?],
            )?;
            let id = self.conn.last_insert_rowid();
            let parent = roots
                .iter()
                .filter(|(_, r)| path.starts_with(r))
                .max_by_key(|(_, r)| r.components().count());
            if let Some((parent_id, parent)) = parent {
                let files = self.move_rows(*parent_id, parent, id, &path)?;
                changes.push(RootChange::SplitFrom {
                    root: path.clone(),
                    parent: parent.clone(),
                    files,
                });
            }
            let nested: Vec<PathBuf> = roots
                .iter()
                .filter(|(_, r)| r.starts_with(&path))
                .map(|(_, r)| r.clone())
                .collect();
            if !nested.is_empty() {
                changes.push(RootChange::Holds {
                    root: path.clone(),
                    nested,
                });
            }
            scan.insert(id);
        }
        tx.commit()?;
        let selected = self
            .roots()?
            .into_iter()
            .filter(|(id, _)| scan.contains(id))
            .collect();
        let mut report = self.scan(selected, progress)?;
        report.root_changes = changes;
        Ok(report)
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

    /// Stops sharing the root `path`. If it lies in another shared root, that one takes its
    /// files over (rescan it then: its own rules may leave some out); otherwise they are
    /// forgotten. Roots inside it stay shared.
    ///
    /// # Errors
    /// [`IndexError::NotShared`] if `path` is not a shared root, or a database error.
    pub fn unshare(&self, path: &Path) -> Result<Unshared, IndexError> {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let Some(root) = self
            .shared()?
            .into_iter()
            .find(|r| r.path == canonical || r.path == path)
        else {
            return Err(IndexError::NotShared(path.to_path_buf()));
        };
        let roots = self.roots()?;
        let Some((id, _)) = roots.iter().find(|(_, r)| *r == root.path) else {
            return Err(IndexError::NotShared(path.to_path_buf()));
        };
        let parent = roots
            .iter()
            .filter(|(_, r)| *r != root.path && root.path.starts_with(r))
            .max_by_key(|(_, r)| r.components().count());
        let tx = self.conn.unchecked_transaction()?;
        let handed_to = match parent {
            Some((parent_id, parent)) => {
                self.hand_rows(*id, &root.path, *parent_id, parent)?;
                self.conn
                    .execute("DELETE FROM share_roots WHERE id = ?1", [id])?;
                Some(parent.clone())
            }
            None => {
                self.delete_root(*id)?;
                None
            }
        };
        self.collect_outboards()?;
        tx.commit()?;
        Ok(Unshared { root, handed_to })
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
            let path = PathBuf::from(r.get::<_, String>(0)?);
            Ok(SharedRoot {
                missing: std::fs::symlink_metadata(&path).is_err(),
                path,
                files: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                bytes: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Ids and paths of the shared roots, by path.
    pub(super) fn roots(&self) -> Result<Vec<(i64, PathBuf)>, IndexError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, path FROM share_roots ORDER BY path")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, PathBuf::from(r.get::<_, String>(1)?)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(super) fn delete_root(&self, id: i64) -> Result<(), IndexError> {
        self.conn
            .execute("DELETE FROM share_files WHERE root_id = ?1", [id])?;
        self.conn
            .execute("DELETE FROM share_roots WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Moves the rows of root `from` (at `from_path`) that lie under `to_path` to the new
    /// root `to`. Returns how many moved.
    fn move_rows(
        &self,
        from: i64,
        from_path: &Path,
        to: i64,
        to_path: &Path,
    ) -> Result<u64, IndexError> {
        let Some(prefix) = relative(to_path, from_path) else {
            return Ok(0);
        };
        let mut moved = 0;
        for (id, rel) in self.rows_of(from)? {
            let new_rel = if rel == prefix {
                String::new()
            } else if let Some(rest) = rel.strip_prefix(&prefix).and_then(|r| r.strip_prefix('/')) {
                rest.to_string()
            } else {
                continue;
            };
            self.set_row(id, to, &new_rel)?;
            moved += 1;
        }
        Ok(moved)
    }

    /// Moves every row of root `from` (at `from_path`) to the root `to` (at `to_path`), which
    /// holds it.
    fn hand_rows(
        &self,
        from: i64,
        from_path: &Path,
        to: i64,
        to_path: &Path,
    ) -> Result<(), IndexError> {
        let Some(prefix) = relative(from_path, to_path) else {
            return Ok(());
        };
        for (id, rel) in self.rows_of(from)? {
            let new_rel = if rel.is_empty() {
                prefix.clone()
            } else {
                format!("{prefix}/{rel}")
            };
            // The holding root has no row there (the file belonged to `from`); a stale one
            // would block the move.
            self.conn.execute(
                "DELETE FROM share_files WHERE root_id = ?1 AND rel_path = ?2",
                params![to, new_rel],
            )?;
            self.set_row(id, to, &new_rel)?;
        }
        Ok(())
    }

    fn rows_of(&self, root: i64) -> Result<Vec<(i64, String)>, IndexError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, rel_path FROM share_files WHERE root_id = ?1")?;
        let rows = stmt.query_map([root], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Gives row `id` to `root` at `rel`, and its searchable folder text with it.
    fn set_row(&self, id: i64, root: i64, rel: &str) -> Result<(), IndexError> {
        self.conn
            .prepare_cached("UPDATE share_files SET root_id = ?1, rel_path = ?2 WHERE id = ?3")?
            .execute(params![root, rel, id])?;
        self.conn
            .prepare_cached("UPDATE share_fts SET path = ?1 WHERE rowid = ?2")?
            .execute(params![folder_text(rel), id])?;
        Ok(())
    }
}
