//! Bringing the recorded files of some roots up to date with the disk: walk, compare stamps,
//! hash what is new or changed, record it, forget what is gone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use rusqlite::params;
use unicode_normalization::UnicodeNormalization;

use super::scan::{self, Hashed};
use super::walk::{self, Found, Stamp};
use super::{AddedFile, Index, IndexError, Listed, ScanProgress, ScanReport, Unreadable, to_i64};

/// What the index holds of one file: its row and its stamp (`None` for a row recorded before
/// stamps had ctime, inode and device).
struct KnownFile {
    id: i64,
    stamp: Option<Stamp>,
}

impl Index<'_> {
    /// Scans `roots` (ids and canonical paths of shared roots).
    pub(super) fn scan(
        &self,
        roots: Vec<(i64, PathBuf)>,
        progress: &mut dyn FnMut(&ScanProgress),
    ) -> Result<ScanReport, IndexError> {
        let guard = self.data_folders();
        let all_roots = self.roots()?;
        let mut report = ScanReport::default();
        let mut unreadable: Listed<Unreadable> = Listed::default();
        let mut skipped = Listed::default();
        let mut jobs = Vec::new();
        for (root_id, root) in &roots {
            if guard.containing(root).is_some() {
                // Shared by an earlier version, or the folder became a data folder since.
                self.delete_root(*root_id)?;
                report.refused_roots.push(root.clone());
                continue;
            }
            report.roots.push(root.clone());
            let known = self.known_files(*root_id)?;
            if std::fs::symlink_metadata(root).is_err() {
                for k in known.values() {
                    self.delete_file(k.id)?;
                }
                report.files_removed += known.len() as u64;
                report.missing_roots.push(root.clone());
                continue;
            }
            let nested: Vec<PathBuf> = all_roots
                .iter()
                .filter(|(_, r)| r != root && r.starts_with(root))
                .map(|(_, r)| r.clone())
                .collect();
            let walked = walk::walk(*root_id, root, &nested, &guard);
            unreadable.extend(walked.unreadable);
            skipped.extend(walked.skipped);
            let seen: BTreeSet<&str> = walked.found.iter().map(|f| f.rel.as_str()).collect();
            for (rel, k) in &known {
                if !seen.contains(rel.as_str()) {
                    self.delete_file(k.id)?;
                    report.files_removed += 1;
                }
            }
            for f in walked.found {
                match known.get(&f.rel) {
                    Some(KnownFile {
                        stamp: Some(stamp), ..
                    }) if *stamp == f.stamp => report.files_unchanged += 1,
                    _ => jobs.push(f),
                }
            }
        }
        let mut state = ScanProgress {
            files_total: jobs.len() as u64,
            bytes_total: jobs.iter().map(|f| f.stamp.size).sum(),
            files_unchanged: report.files_unchanged,
            ..Default::default()
        };
        progress(&state);
        let mut first_error: Option<IndexError> = None;
        let mut added: Listed<AddedFile> = Listed::default();
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
            let size = found.stamp.size;
            match result {
                Ok(hashed) => match self.record(&found, &hashed) {
                    Ok(()) => {
                        report.files_hashed += 1;
                        report.bytes_hashed += size;
                        added.push(AddedFile {
                            hash: hashed.outboard.root,
                            size,
                            path: found.abs.clone(),
                        });
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
            state.bytes_done += size;
            progress(&state);
        });
        if let Some(e) = first_error {
            let _ = self.conn.execute_batch("ROLLBACK");
            return Err(e);
        }
        self.conn.execute_batch("COMMIT")?;
        self.collect_outboards()?;
        report.unreadable_count = unreadable.count;
        report.unreadable = unreadable.items;
        report.skipped_count = skipped.count;
        report.skipped = skipped.items;
        report.added_count = added.count;
        report.added = added.items;
        Ok(report)
    }

    /// rel_path → row and stamp of the files recorded under a root.
    fn known_files(&self, root_id: i64) -> Result<BTreeMap<String, KnownFile>, IndexError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT rel_path, id, size, mtime_ns, ctime_ns, ino, dev FROM share_files
             WHERE root_id = ?1",
        )?;
        let rows = stmt.query_map([root_id], |r| {
            let stamp = Stamp::from_columns(r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?);
            Ok((
                r.get(0)?,
                KnownFile {
                    id: r.get(1)?,
                    stamp,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(super) fn delete_file(&self, id: i64) -> Result<(), IndexError> {
        self.conn
            .prepare_cached("DELETE FROM share_files WHERE id = ?1")?
            .execute([id])?;
        Ok(())
    }

    pub(super) fn collect_outboards(&self) -> Result<(), IndexError> {
        self.conn.execute(
            "DELETE FROM share_outboards WHERE hash NOT IN (SELECT hash FROM share_files)",
            [],
        )?;
        Ok(())
    }

    /// Inserts or updates one file, its outboard and its keywords.
    pub(super) fn record(&self, f: &Found, h: &Hashed) -> Result<(), IndexError> {
        let hash = &h.outboard.root.0[..];
        self.conn
            .prepare_cached("INSERT INTO share_outboards(hash, size, pairs) VALUES (?1, ?2, ?3) ON CONFLICT(hash) DO NOTHING")?
            .execute(params![hash, to_i64(h.outboard.size), h.outboard.pairs])?;
        let t = &h.tags;
        let s = &f.stamp;
        let id: i64 = self.conn.prepare_cached(
            "INSERT INTO share_files(root_id, rel_path, name, size, mtime_ns, ctime_ns, ino, dev, mime, hash, artist, title, album, year)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT(root_id, rel_path) DO UPDATE SET name = excluded.name, size = excluded.size,
                mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, ino = excluded.ino,
                dev = excluded.dev, mime = excluded.mime, hash = excluded.hash,
                artist = excluded.artist, title = excluded.title, album = excluded.album, year = excluded.year
             RETURNING id",
        )?.query_row(
            params![f.root_id, f.rel, f.name, to_i64(s.size), s.mtime_ns, s.ctime_ns, s.ino, s.dev, h.mime, hash, t.artist, t.title, t.album, t.year],
            |r| r.get(0),
        )?;
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
                folder_text(&f.rel),
                tag_text.nfc().collect::<String>()
            ])?;
        Ok(())
    }
}

/// The searchable folder part of a file's path relative to its root (NFC).
pub(super) fn folder_text(rel: &str) -> String {
    let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
    dir.nfc().collect()
}
