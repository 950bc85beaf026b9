//! Whole-file BLAKE3 hashes on two threads.
//!
//! BLAKE3 is a tree: the root of content longer than one chunk joins a left subtree of a
//! power-of-two number of chunks ([`blake3::hazmat::left_subtree_len`]) and a right subtree of
//! the rest. The two are hashed at the same time from their own offsets in the file and merged
//! into the root, which is exactly `blake3::hash` of the whole content.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use blake3::hazmat::{ChainingValue, HasherExt, Mode, left_subtree_len, merge_subtrees_root};
use weft_core::id::Key256;

/// Bytes read at a time by each thread.
const READ_BYTES: usize = 1 << 20;
/// Below this size one thread hashes the file (threads cost more than they save).
const PARALLEL_FROM: u64 = 4 << 20;

/// The BLAKE3 hash of the file at `path`.
///
/// # Errors
/// Any error opening or reading the file, or `UnexpectedEof` if it shrinks while it is read.
pub fn hash_file(path: &Path) -> io::Result<Key256> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if len < PARALLEL_FROM {
        let mut h = blake3::Hasher::new();
        update_from(&mut h, &file, 0, len)?;
        return Ok(Key256(*h.finalize().as_bytes()));
    }
    let left = left_subtree_len(len);
    let (l, r) = std::thread::scope(|s| {
        let l = s.spawn(|| subtree(&file, 0, left));
        let r = subtree(&file, left, len - left);
        (l.join(), r)
    });
    let l = l.map_err(|_| io::Error::other("hashing thread panicked"))??;
    let root = merge_subtrees_root(&l, &r?, Mode::Hash);
    Ok(Key256(*root.as_bytes()))
}

/// The chaining value of the subtree of `len` bytes at `offset`.
fn subtree(file: &File, offset: u64, len: u64) -> io::Result<ChainingValue> {
    let mut h = blake3::Hasher::new();
    if offset > 0 {
        h.set_input_offset(offset);
    }
    update_from(&mut h, file, offset, len)?;
    Ok(h.finalize_non_root())
}

fn update_from(h: &mut blake3::Hasher, file: &File, offset: u64, len: u64) -> io::Result<()> {
    let mut buf = vec![0u8; READ_BYTES.min(usize::try_from(len).unwrap_or(READ_BYTES))];
    let mut done = 0u64;
    while done < len {
        let want = usize::try_from((len - done).min(buf.len() as u64)).unwrap_or(buf.len());
        let n = file.read_at(&mut buf[..want], offset + done)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        h.update(&buf[..n]);
        done += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_the_plain_hash_at_every_size() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(9u32 << 20) + 77).map(|i| (i % 253) as u8).collect();
        let sizes = [
            0usize,
            1,
            1024,
            1025,
            (4 << 20) - 1,
            4 << 20,
            (4 << 20) + 1,
            (8 << 20) + 1024,
            data.len(),
        ];
        for size in sizes {
            let path = dir.path().join(format!("f{size}"));
            std::fs::write(&path, &data[..size]).unwrap();
            assert_eq!(
                hash_file(&path).unwrap(),
                Key256::hash(&data[..size]),
                "size {size}"
            );
        }
    }
}
