//! Hashing the files a walk found, several files at a time.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use lofty::prelude::{Accessor, TaggedFileExt};

use super::MediaTags;
use super::walk::{Found, Stamp};
use crate::verify::Outboard;

/// What hashing one file produced.
#[derive(Debug)]
pub(crate) struct Hashed {
    pub outboard: Outboard,
    pub mime: String,
    pub tags: MediaTags,
}

/// A file whose hash tree is already known (see [`super::Index::with_known_tree`]).
#[derive(Clone, Debug)]
pub(crate) struct Known {
    /// The file's canonical path.
    pub path: PathBuf,
    /// Its hash tree.
    pub outboard: Outboard,
}

/// What a scan says of a file that changed while it was read.
pub(crate) const CHANGED_WHILE_READ: &str =
    "changed while it was read; it is hashed again once it stops changing";

/// Hashes one file and reads its tags; fails if the file changed while it was read (its
/// stamp differs after, or it ended early). A file whose hash tree is `known` (same path and
/// size) is not read.
pub(crate) fn hash_file(found: &Found, known: Option<&Known>) -> Result<Hashed, String> {
    let file = File::open(&found.abs).map_err(|e| e.to_string())?;
    let size = found.stamp.size;
    let outboard = match known {
        Some(k) if k.path == found.abs && k.outboard.size == size => Ok(k.outboard.clone()),
        // Large files are hashed on two threads (small ones, the common case in a music
        // folder, on one, several files at a time).
        _ => crate::hashing::outboard_of_file(&file, size),
    };
    let after = file.metadata().map(|m| Stamp::of(&m));
    if after.as_ref().ok() != Some(&found.stamp) {
        return Err(CHANGED_WHILE_READ.into());
    }
    let outboard = outboard.map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => CHANGED_WHILE_READ.to_string(),
        _ => e.to_string(),
    })?;
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
