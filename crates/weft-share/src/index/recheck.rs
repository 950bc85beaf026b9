//! The check before serving: is the file still there, still the same, still shareable?

use std::path::{Path, PathBuf};

use weft_core::id::Key256;

use super::scan;
use super::walk::{Found, Stamp};
use super::{Index, IndexError, file_path};

/// A row of `share_files` with what recheck needs.
struct Row {
    id: i64,
    root_id: i64,
    root: String,
    rel: String,
    name: String,
    stamp: Option<Stamp>,
}

impl Index<'_> {
    /// A path whose file holds the content `hash` now, to serve from; `None` if no shared file
    /// does any more. A file whose stamp is unchanged (the same inode, untouched since a walk
    /// checked its path) is served as it is; one whose stamp changed is checked again — its
    /// real path must lie in its root and in no weft data folder, or it is forgotten — and
    /// rehashed (re-recorded under its new hash); files that are gone are forgotten. A folder
    /// that becomes a data folder after its files were indexed is dropped by the next scan
    /// (the watcher's).
    ///
    /// # Errors
    /// A database error.
    pub fn recheck(&self, hash: &Key256) -> Result<Option<PathBuf>, IndexError> {
        let rows = self.rows_with(hash)?;
        let mut guard = None;
        let mut changed = false;
        let mut found = None;
        for row in rows {
            let abs = file_path(Path::new(&row.root), &row.rel);
            let meta = std::fs::metadata(&abs)
                .ok()
                .filter(std::fs::Metadata::is_file);
            let stamp = meta.as_ref().map(Stamp::of);
            // The same inode, unchanged since a walk (or an earlier recheck) checked its path:
            // served without the path checks below, which cost dozens of `lstat`s per piece.
            if stamp.is_some() && row.stamp == stamp {
                found = Some(abs);
                break;
            }
            // Something changed: the path must still lead to a file inside the root and
            // outside every data folder (a folder may have been swapped for a link).
            let guard = guard.get_or_insert_with(|| self.data_folders());
            let shareable = std::fs::canonicalize(&abs).ok().is_some_and(|c| {
                c.starts_with(&row.root)
                    && guard.containing(&c).is_none()
                    && !meta.as_ref().is_some_and(|m| guard.is_own_secret(m))
            });
            let (Some(stamp), true) = (stamp, shareable) else {
                self.delete_file(row.id)?;
                changed = true;
                continue;
            };
            let now = Found {
                root_id: row.root_id,
                abs,
                rel: row.rel,
                name: row.name,
                stamp,
            };
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
                    self.delete_file(row.id)?;
                    changed = true;
                }
            }
        }
        if changed {
            self.collect_outboards()?;
        }
        Ok(found)
    }

    /// Forgets the file at `path` (as [`Index::recheck`] returned it) because its bytes were
    /// found not to match its recorded hash tree; returns the shared root it was in, to scan
    /// again (which hashes it anew), or `None` if no row had that path.
    ///
    /// # Errors
    /// A database error.
    pub fn forget_mismatched(&self, path: &Path) -> Result<Option<PathBuf>, IndexError> {
        let mut root_of = None;
        for (root_id, root) in self.roots()? {
            let Some(rel) = path.strip_prefix(&root).ok().and_then(Path::to_str) else {
                continue;
            };
            let rel = rel.replace(std::path::MAIN_SEPARATOR, "/");
            let n = self.conn.execute(
                "DELETE FROM share_files WHERE root_id = ?1 AND rel_path = ?2",
                rusqlite::params![root_id, rel],
            )?;
            if n > 0 {
                root_of = Some(root);
            }
        }
        if root_of.is_some() {
            self.collect_outboards()?;
        }
        Ok(root_of)
    }

    fn rows_with(&self, hash: &Key256) -> Result<Vec<Row>, IndexError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT f.id, f.root_id, r.path, f.rel_path, f.name, f.size, f.mtime_ns,
                    f.ctime_ns, f.ino, f.dev
             FROM share_files f JOIN share_roots r ON r.id = f.root_id
             WHERE f.hash = ?1 ORDER BY f.id",
        )?;
        let rows = stmt.query_map([&hash.0[..]], |r| {
            let stamp = Stamp::from_columns(r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?);
            Ok(Row {
                id: r.get(0)?,
                root_id: r.get(1)?,
                root: r.get(2)?,
                rel: r.get(3)?,
                name: r.get(4)?,
                stamp,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
