//! Walking shared folders and hashing files, several files at a time.

use std::fs::{File, Metadata};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::UNIX_EPOCH;

use lofty::prelude::{Accessor, TaggedFileExt};

use super::{MediaTags, Unreadable};
use crate::verify::Outboard;

/// A file found on disk.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    pub root_id: i64,
    pub abs: PathBuf,
    /// Path relative to the root, '/'-separated; empty when the root is this file.
    pub rel: String,
    pub name: String,
    pub size: u64,
    pub mtime_ns: i64,
}

/// What hashing one file produced.
#[derive(Debug)]
pub(crate) struct Hashed {
    pub outboard: Outboard,
    pub mime: String,
    pub tags: MediaTags,
}

/// Nanoseconds since the Unix epoch of the file's modification time (negative before 1970,
/// zero if the platform has none).
pub(crate) fn mtime_ns(meta: &Metadata) -> i64 {
    let Ok(modified) = meta.modified() else {
        return 0;
    };
    match modified.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// Walks `root` (a folder or a single file) without following symbolic links.
pub(crate) fn walk(root_id: i64, root: &Path, unreadable: &mut Vec<Unreadable>) -> Vec<Found> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e.path().unwrap_or(root).to_path_buf();
                unreadable.push(Unreadable {
                    path,
                    reason: e.to_string(),
                });
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) => {
                unreadable.push(Unreadable {
                    path: entry.path().to_path_buf(),
                    reason: e.to_string(),
                });
                continue;
            }
        };
        let rel_path = entry.path().strip_prefix(root).unwrap_or(Path::new(""));
        let (Some(rel), Some(name)) = (
            rel_path.to_str(),
            entry.path().file_name().and_then(|n| n.to_str()),
        ) else {
            unreadable.push(Unreadable {
                path: entry.path().to_path_buf(),
                reason: "path is not valid UTF-8".into(),
            });
            continue;
        };
        out.push(Found {
            root_id,
            abs: entry.path().to_path_buf(),
            rel: rel.replace(std::path::MAIN_SEPARATOR, "/"),
            name: name.to_string(),
            size: meta.len(),
            mtime_ns: mtime_ns(&meta),
        });
    }
    out
}

/// A file whose hash tree is already known (see [`super::Index::with_known_tree`]).
#[derive(Clone, Debug)]
pub(crate) struct Known {
    /// The file's canonical path.
    pub path: PathBuf,
    /// Its hash tree.
    pub outboard: Outboard,
}

/// Hashes one file and reads its tags; fails if the file changed while it was read. A file
/// whose hash tree is `known` (same path and size) is not read.
pub(crate) fn hash_file(found: &Found, known: Option<&Known>) -> Result<Hashed, String> {
    let file = File::open(&found.abs).map_err(|e| e.to_string())?;
    let outboard = match known {
        Some(k) if k.path == found.abs && k.outboard.size == found.size => k.outboard.clone(),
        // Large files are hashed on two threads (small ones, the common case in a music
        // folder, on one, several files at a time).
        _ => crate::hashing::outboard_of_file(&file, found.size).map_err(|e| e.to_string())?,
    };
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if meta.len() != found.size || mtime_ns(&meta) != found.mtime_ns {
        return Err("file changed while it was hashed".into());
    }
    let mime = mime_guess::from_path(&found.abs).first_or_octet_stream();
    let tags = if mime.type_() == mime_guess::mime::AUDIO {
        read_tags(&found.abs)
    } else {
        MediaTags::default()
    };
    Ok(Hashed {
        outboard,
        mime: mime.essence_str().to_string(),
        tags,
    })
}

/// Artist, title, album and year from an audio file; empty on any failure.
pub(crate) fn read_tags(path: &Path) -> MediaTags {
    let Ok(tagged) = lofty::read_from_path(path) else {
        return MediaTags::default();
    };
    let Some(tag) = tagged.primary_tag().or_else(|| tagged.first_tag()) else {
        return MediaTags::default();
    };
    let clean = |s: Option<std::borrow::Cow<'_, str>>| {
        s.map(|s| s.trim().chars().take(256).collect::<String>())
            .filter(|s| !s.is_empty())
    };
    MediaTags {
        artist: clean(tag.artist()),
        title: clean(tag.title()),
        album: clean(tag.album()),
        year: tag.date().map(|d| i64::from(d.year)),
    }
}

/// Hashes `jobs` on `workers` threads, handing each result to `on_result` on the calling
/// thread, in completion order.
pub(crate) fn hash_all(
    jobs: Vec<Found>,
    workers: usize,
    known: Option<&Known>,
    mut on_result: impl FnMut(Found, Result<Hashed, String>),
) {
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::sync_channel::<(usize, Result<Hashed, String>)>(workers * 2);
    let jobs = &jobs;
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    if tx.send((i, hash_file(job, known))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (i, result) in rx {
            on_result(jobs[i].clone(), result);
        }
    });
}
