//! Putting a finished file where the user asked for it: renamed into place whole or not at
//! all, copied from this node's own shared file when it already holds the content (checked
//! against the hash first), or written directly for the empty file.

use std::path::{Path, PathBuf};

use weft_core::id::Key256;
use weft_share::index::Index;

use super::Share;
use super::error::DownloadError;

/// Hashes the file at `path`, with the error a user can act on.
pub(super) fn hash_file(path: &Path) -> Result<Key256, DownloadError> {
    weft_share::hashing::hash_file(path).map_err(|source| DownloadError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Renames `from` to `to`; across file systems, copies next to `to` first, then renames.
pub(super) fn move_into_place(from: &Path, to: &Path) -> Result<(), DownloadError> {
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    let tmp = temp_beside(to);
    std::fs::copy(from, &tmp)
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, to))
        .map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            DownloadError::Write {
                path: to.to_path_buf(),
                source,
            }
        })?;
    let _ = std::fs::remove_file(from);
    Ok(())
}

/// The temporary name a file is written under before it is renamed to `to`.
fn temp_beside(to: &Path) -> PathBuf {
    let name = to
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    to.with_file_name(format!(".{name}.weft-part"))
}

/// The path of this node's shared file of `hash`, if one still matches its record.
pub(super) async fn local_copy(share: &Share, hash: Key256) -> Option<PathBuf> {
    let s = share.clone();
    tokio::task::spawn_blocking(move || {
        let conn = s.db();
        Index::new(&conn).recheck(&hash).ok().flatten()
    })
    .await
    .ok()
    .flatten()
}

/// Copies this node's shared file of `hash` to `to`, checking the copy's hash; returns its
/// size, or `None` if the shared file no longer holds the content (it changed on disk: the
/// index is told, and nothing is left at `to`).
pub(super) async fn copy_local(
    share: &Share,
    from: &Path,
    to: &Path,
    hash: Key256,
) -> Result<Option<u64>, DownloadError> {
    let (share, from, to) = (share.clone(), from.to_path_buf(), to.to_path_buf());
    tokio::task::spawn_blocking(move || {
        if from == to {
            // `weft get` into the shared file itself: it is checked, not copied.
            let size = std::fs::metadata(&from).map(|m| m.len()).unwrap_or(0);
            if hash_file(&from)? != hash {
                share.file_no_longer_matches(&hash, &from);
                return Ok(None);
            }
            return Ok(Some(size));
        }
        let tmp = temp_beside(&to);
        let size = std::fs::copy(&from, &tmp).map_err(|source| DownloadError::Write {
            path: tmp.clone(),
            source,
        })?;
        if hash_file(&tmp)? != hash {
            let _ = std::fs::remove_file(&tmp);
            share.file_no_longer_matches(&hash, &from);
            return Ok(None);
        }
        std::fs::rename(&tmp, &to).map_err(|source| DownloadError::Write {
            path: to.clone(),
            source,
        })?;
        Ok(Some(size))
    })
    .await?
}

/// Writes `bytes` to `to` through a temporary file beside it, so `to` appears whole.
pub(super) async fn place_bytes(to: &Path, bytes: &[u8]) -> Result<(), DownloadError> {
    let tmp = temp_beside(to);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, to))
        .map_err(|source| DownloadError::Write {
            path: to.to_path_buf(),
            source,
        })
}
