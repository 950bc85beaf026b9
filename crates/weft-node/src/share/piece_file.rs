//! The partial file of a download, written around the page cache where the system allows.
//!
//! A downloader writes each verified piece once and does not read it back, yet a buffered
//! write copies it into fresh page-cache pages and the sync then writes them out. In
//! `bench/transfer.sh` that copy was the largest single cost of a downloader: 31 % of its CPU
//! for one download, 48 % each for four at once (`perf`, `copy_folio_from_iter_atomic`).
//! [`PieceFile`] writes whole pieces with `O_DIRECT` instead, from one reused buffer aligned
//! to [`ALIGN`], so the bytes go from that buffer to the disk. What direct I/O cannot take (a
//! last piece whose length is not a multiple of [`ALIGN`], a file system that refuses
//! `O_DIRECT`, such as tmpfs on older kernels) is written through the page cache as before.
//! [`PieceFile::sync`] makes both durable.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Alignment of direct writes: buffer address, file offset and length. 4 KiB covers disks
/// with 512-byte and 4 KiB logical blocks.
pub const ALIGN: usize = 4096;

/// A partial file open for writing pieces.
pub struct PieceFile {
    buffered: File,
    direct: Option<File>,
    /// Reused for every direct write; holds one aligned window of up to a piece.
    scratch: Vec<u8>,
}

impl PieceFile {
    /// Wraps `file`, and opens `path` (the same file) a second time for direct writes of up
    /// to `max_piece` bytes. Without direct I/O every write goes through `file`.
    pub fn new(file: File, path: &Path, max_piece: usize) -> Self {
        let direct = open_direct(path);
        let scratch = if direct.is_some() {
            vec![0; max_piece + ALIGN]
        } else {
            Vec::new()
        };
        PieceFile {
            buffered: file,
            direct,
            scratch,
        }
    }

    /// Whether whole pieces bypass the page cache.
    pub fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Writes `bytes` at `offset`.
    ///
    /// # Errors
    /// The write's error. A direct write the file system refuses (`EINVAL`) is retried
    /// through the page cache, and direct I/O is then left off for this file.
    pub fn write_at(&mut self, bytes: &[u8], offset: u64) -> io::Result<()> {
        let aligned = bytes.len().is_multiple_of(ALIGN)
            && offset.is_multiple_of(ALIGN as u64)
            && bytes.len() + ALIGN <= self.scratch.len();
        if let (true, Some(direct)) = (aligned, self.direct.as_ref()) {
            let start = self.scratch.as_ptr().align_offset(ALIGN);
            let window = &mut self.scratch[start..start + bytes.len()];
            window.copy_from_slice(bytes);
            match direct.write_all_at(window, offset) {
                Ok(()) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => self.direct = None,
                Err(e) => return Err(e),
            }
        }
        self.buffered.write_all_at(bytes, offset)
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

    /// Pieces written out of order, the last one short, read back identical after a sync.
    fn round_trip(dir: &Path) -> bool {
        let path = dir.join("x.part");
        let piece = 64 * 1024;
        let size = 5 * piece + 1000;
        let file = create(&path, size as u64);
        let mut pf = PieceFile::new(file, &path, piece);
        let direct = pf.is_direct();
        let want = pattern(size, 7);
        for i in [3usize, 0, 5, 1, 4, 2] {
            let end = ((i + 1) * piece).min(size);
            pf.write_at(&want[i * piece..end], (i * piece) as u64)
                .unwrap();
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
        let mut pf = PieceFile::new(file, &path, piece);
        pf.write_at(&pattern(piece, 2), 0).unwrap();
        pf.sync().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), pattern(piece, 2));
    }
}
