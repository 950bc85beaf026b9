//! The partial file of a download, written around the page cache where the system allows.
//!
//! A downloader writes each verified piece once and does not read it back, yet a buffered
//! write copies it into fresh page-cache pages and the sync then writes them out, the largest
//! single cost of a downloader (`docs/measurements.md`). [`PieceFile`] writes whole pieces with `O_DIRECT` instead, so the bytes go from memory to
//! the disk. A piece is a [`PieceBuf`] from a [`BufferPool`], aligned to [`ALIGN`], which the
//! slice was verified straight into, and which is written as it is. What direct I/O cannot
//! take (a last piece whose length is not a multiple of [`ALIGN`], a file system that refuses
//! `O_DIRECT`, such as tmpfs on older kernels) is written through the page cache as before.
//! [`PieceFile::sync`] makes both durable.

use std::fs::File;
use std::io;
use std::ops::{Deref, DerefMut};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Alignment of direct writes: buffer address, file offset and length. 4 KiB covers disks
/// with 512-byte and 4 KiB logical blocks.
pub const ALIGN: usize = 4096;

/// Buffers kept for reuse: as many as a download has pieces in flight and queued for the
/// disk, so that a steady download allocates none (more at once allocate the rest).
const POOL_KEEP: usize = 16;

/// Piece buffers whose bytes start at an [`ALIGN`]ed address, kept for reuse when dropped.
/// Cheap to clone (all clones share the buffers).
#[derive(Clone, Default)]
pub struct BufferPool(Arc<Mutex<Vec<Vec<u8>>>>);

impl BufferPool {
    /// A buffer of `len` bytes, aligned; its contents are whatever a previous user left.
    pub fn take(&self, len: usize) -> PieceBuf {
        let reused = self.0.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let vec = match reused {
            Some(v) if v.len() >= len + ALIGN => v,
            _ => vec![0; len + ALIGN],
        };
        let start = vec.as_ptr().align_offset(ALIGN).min(ALIGN);
        PieceBuf {
            vec,
            start,
            len,
            pool: self.clone(),
        }
    }
}

/// A buffer from a [`BufferPool`]: `len` bytes starting at an aligned address. Goes back to
/// the pool when dropped.
pub struct PieceBuf {
    vec: Vec<u8>,
    start: usize,
    len: usize,
    pool: BufferPool,
}

impl Deref for PieceBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.vec[self.start..self.start + self.len]
    }
}

impl DerefMut for PieceBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.vec[self.start..self.start + self.len]
    }
}

impl Drop for PieceBuf {
    fn drop(&mut self) {
        let mut kept = self.pool.0.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() < POOL_KEEP {
            kept.push(std::mem::take(&mut self.vec));
        }
    }
}

impl std::fmt::Debug for PieceBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PieceBuf({} bytes)", self.len)
    }
}

/// A partial file open for writing pieces.
pub struct PieceFile {
    buffered: File,
    direct: Option<File>,
}

impl PieceFile {
    /// Wraps `file`, and opens `path` (the same file) a second time for direct writes. Without
    /// direct I/O every write goes through `file`.
    pub fn new(file: File, path: &Path) -> Self {
        PieceFile {
            buffered: file,
            direct: open_direct(path),
        }
    }

    /// Whether whole pieces bypass the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Writes `piece` at `offset`: directly when its length and offset are whole blocks (its
    /// address is, being a [`PieceBuf`]), else through the page cache.
    ///
    /// # Errors
    /// The write's error. A direct write the file system refuses (`EINVAL`) is retried
    /// through the page cache, and direct I/O is then left off for this file.
    pub fn write_at(&mut self, piece: &PieceBuf, offset: u64) -> io::Result<()> {
        let whole_blocks = piece.len().is_multiple_of(ALIGN) && offset.is_multiple_of(ALIGN as u64);
        if let (true, Some(direct)) = (whole_blocks, self.direct.as_ref()) {
            match direct.write_all_at(piece, offset) {
                Ok(()) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => self.direct = None,
                Err(e) => return Err(e),
            }
        }
        self.buffered.write_all_at(piece, offset)
    }

    /// Makes every write so far durable (direct writes may still sit in the disk's cache).
    ///
    /// # Errors
    /// The sync's error.
    pub fn sync(&self) -> io::Result<()> {
        self.buffered.sync_data()
    }
}

#[cfg(target_os = "linux")]
fn open_direct(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_path: &Path) -> Option<File> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    fn create(path: &Path, len: u64) -> File {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .unwrap();
        file.set_len(len).unwrap();
        file
    }

    /// A pool buffer holding `bytes`.
    fn in_buffer(pool: &BufferPool, bytes: &[u8]) -> PieceBuf {
        let mut buf = pool.take(bytes.len());
        buf.copy_from_slice(bytes);
        buf
    }

    /// Pieces written out of order, the last one short, read back identical after a sync.
    fn round_trip(dir: &Path) -> bool {
        let path = dir.join("x.part");
        let piece = 64 * 1024;
        let size = 5 * piece + 1000;
        let file = create(&path, size as u64);
        let mut pf = PieceFile::new(file, &path);
        let direct = pf.is_direct();
        let want = pattern(size, 7);
        let pool = BufferPool::default();
        for i in [3usize, 0, 5, 1, 4, 2] {
            let bytes = &want[i * piece..((i + 1) * piece).min(size)];
            let buf = in_buffer(&pool, bytes);
            assert_eq!(buf.as_ptr().align_offset(ALIGN), 0);
            pf.write_at(&buf, (i * piece) as u64).unwrap();
        }
        pf.sync().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), want);
        direct
    }

    #[test]
    fn pieces_land_identical_with_or_without_direct_io() {
        let dir = tempfile::tempdir().unwrap();
        let direct = round_trip(dir.path());
        eprintln!("direct I/O in {}: {direct}", dir.path().display());
        // tmpfs refused O_DIRECT before Linux 6.6; either way the bytes must land.
        if Path::new("/dev/shm").is_dir()
            && let Ok(shm) = tempfile::tempdir_in("/dev/shm")
        {
            round_trip(shm.path());
        }
    }

    #[test]
    fn overwriting_a_piece_directly_replaces_what_the_page_cache_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("y.part");
        let piece = 2 * ALIGN;
        let file = create(&path, piece as u64);
        // Old bytes through the page cache (as a resumed run's file may hold), new ones
        // direct: a read must see the new ones.
        file.write_all_at(&pattern(piece, 1), 0).unwrap();
        let mut pf = PieceFile::new(file, &path);
        pf.write_at(&in_buffer(&BufferPool::default(), &pattern(piece, 2)), 0)
            .unwrap();
        pf.sync().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), pattern(piece, 2));
    }

    #[test]
    fn pool_buffers_are_reused_and_aligned_whatever_their_length() {
        let pool = BufferPool::default();
        let first = pool.take(ALIGN * 3);
        let at = first.as_ptr();
        drop(first);
        let again = pool.take(ALIGN * 2);
        assert_eq!(again.as_ptr(), at, "a dropped buffer is taken again");
        assert_eq!(again.len(), ALIGN * 2);
        // A longer piece than any kept buffer gets a new one; both stay aligned.
        let longer = pool.take(ALIGN * 5 + 3);
        assert_eq!(longer.len(), ALIGN * 5 + 3);
        for b in [&again, &longer] {
            assert_eq!(b.as_ptr().align_offset(ALIGN), 0);
        }
    }
}
