//! BLAKE3 hash trees (and so whole-file hashes) of large files, read and hashed in parts at
//! once.
//!
//! BLAKE3 is a tree: the root of content longer than one chunk joins a left subtree of a
//! power-of-two number of chunks ([`blake3::hazmat::left_subtree_len`]) and a right subtree of
//! the rest. [`outboard_of_file`] hashes the subtrees from their own offsets in the file at the
//! same time and lays out the stored tree (the bao outboard: the pair of child hashes of every
//! node above the 16 KiB chunk groups, in post-order) as the left subtree's pairs, the right
//! subtree's, then the root's. Its root is exactly `blake3::hash` of the whole content, which
//! is what [`hash_file`] returns.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use blake3::hazmat::{ChainingValue, Mode, left_subtree_len, merge_subtrees_root};
use weft_core::id::Key256;

use crate::verify::{GROUP_BYTES, Outboard, group_chaining_value};

/// Bytes read at a time by each thread: small enough that a read is hashed while it is still
/// in the CPU's caches. With 4 MiB reads, indexing one 1 GiB file took 125–131 ms warm and a
/// median of 394 ms cold (7 runs; b3sum about 360); with 1 MiB, 113–121 ms and 372 ms.
const READ_BYTES: usize = 1 << 20;
/// Below this size one thread hashes the file (threads cost more than they save).
const PARALLEL_FROM: u64 = 4 << 20;
/// Further halvings of a large file's two subtrees for [`outboard_of_file`]: 1 gives 4 parts
/// read at once.
const SPLITS: u32 = 1;

/// The BLAKE3 hash of the file at `path`: the root of its tree ([`outboard_of_file`]).
///
/// # Errors
/// Any error opening or reading the file, or `UnexpectedEof` if it shrinks while it is read.
pub fn hash_file(path: &Path) -> io::Result<Key256> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    Ok(outboard_of_file(&file, len)?.root)
}

/// The hash tree of the `size` bytes of `file`, built on two threads for large files (one for
/// small ones, as [`Outboard::compute`]). Equal to what [`Outboard::compute`] builds.
///
/// # Errors
/// Any read error, or `UnexpectedEof` if the file holds fewer than `size` bytes.
pub fn outboard_of_file(file: &File, size: u64) -> io::Result<Outboard> {
    if size < PARALLEL_FROM {
        let capacity = usize::try_from(size.clamp(4096, READ_BYTES as u64)).unwrap_or(READ_BYTES);
        return Outboard::compute(io::BufReader::with_capacity(capacity, file), size);
    }
    let left = left_subtree_len(size);
    let ((lcv, mut pairs), (rcv, rpairs)) = in_parallel(
        || tree_of(file, 0, left, SPLITS),
        || tree_of(file, left, size - left, SPLITS),
    )?;
    pairs.extend_from_slice(&rpairs);
    pairs.extend_from_slice(&lcv);
    pairs.extend_from_slice(&rcv);
    let root = merge_subtrees_root(&lcv, &rcv, Mode::Hash);
    Outboard::from_parts(Key256(*root.as_bytes()), size, pairs)
        .map_err(|e| io::Error::other(e.to_string()))
}

/// Runs `a` on a thread of its own and `b` on this one.
fn in_parallel<A, B>(
    a: impl FnOnce() -> io::Result<A> + Send,
    b: impl FnOnce() -> io::Result<B>,
) -> io::Result<(A, B)>
where
    A: Send,
{
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(a);
        let b = b();
        (a.join(), b)
    });
    Ok((
        a.map_err(|_| io::Error::other("hashing thread panicked"))??,
        b?,
    ))
}

/// The chaining value and post-order hash pairs of the subtree of `len` bytes at `offset`
/// (a whole subtree of the content's tree: `offset` is a multiple of its largest size); a
/// large subtree is split `splits` more times, its halves read and hashed at once (several
/// reads in flight read a cold file faster, even on few cores).
fn tree_of(
    file: &File,
    offset: u64,
    len: u64,
    splits: u32,
) -> io::Result<(ChainingValue, Vec<u8>)> {
    if splits > 0 && len >= PARALLEL_FROM {
        let left = left_subtree_len(len);
        let ((lcv, mut pairs), (rcv, rpairs)) = in_parallel(
            || tree_of(file, offset, left, splits - 1),
            || tree_of(file, offset + left, len - left, splits - 1),
        )?;
        pairs.extend_from_slice(&rpairs);
        pairs.extend_from_slice(&lcv);
        pairs.extend_from_slice(&rcv);
        return Ok((
            blake3::hazmat::merge_subtrees_non_root(&lcv, &rcv, Mode::Hash),
            pairs,
        ));
    }
    let mut pairs = Vec::with_capacity(usize::try_from(len / GROUP_BYTES * 64).unwrap_or(0));
    let mut buf = vec![0u8; READ_BYTES];
    let cv = subtree_pairs(file, offset, len, &mut buf, &mut pairs)?;
    Ok((cv, pairs))
}

fn subtree_pairs(
    file: &File,
    offset: u64,
    len: u64,
    buf: &mut [u8],
    pairs: &mut Vec<u8>,
) -> io::Result<ChainingValue> {
    if len <= buf.len() as u64 {
        let n = usize::try_from(len).unwrap_or(buf.len());
        file.read_exact_at(&mut buf[..n], offset)?;
        return Ok(in_memory(&buf[..n], offset, pairs));
    }
    let left = left_subtree_len(len);
    let lcv = subtree_pairs(file, offset, left, buf, pairs)?;
    let rcv = subtree_pairs(file, offset + left, len - left, buf, pairs)?;
    pairs.extend_from_slice(&lcv);
    pairs.extend_from_slice(&rcv);
    Ok(blake3::hazmat::merge_subtrees_non_root(
        &lcv,
        &rcv,
        Mode::Hash,
    ))
}

/// As [`subtree_pairs`] for bytes in memory; `data` is a whole subtree at `offset`.
fn in_memory(data: &[u8], offset: u64, pairs: &mut Vec<u8>) -> ChainingValue {
    if data.len() as u64 <= GROUP_BYTES {
        return group_chaining_value(offset, data);
    }
    let left = usize::try_from(left_subtree_len(data.len() as u64)).unwrap_or(data.len());
    let lcv = in_memory(&data[..left], offset, pairs);
    let rcv = in_memory(&data[left..], offset + left as u64, pairs);
    pairs.extend_from_slice(&lcv);
    pairs.extend_from_slice(&rcv);
    blake3::hazmat::merge_subtrees_non_root(&lcv, &rcv, Mode::Hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes around the single-thread threshold, the chunk-group size and the splits.
    const SIZES: [usize; 10] = [
        0,
        1,
        16_384,
        16_385,
        (4 << 20) - 1,
        4 << 20,
        (4 << 20) + 1,
        (5 << 20) + 16_384 * 3 + 7,
        (8 << 20) + 1024,
        (9 << 20) + 77,
    ];

    #[test]
    fn tree_and_hash_equal_the_plain_ones_at_every_size() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(9u32 << 20) + 77).map(|i| (i % 251) as u8).collect();
        for size in SIZES {
            let path = dir.path().join(format!("t{size}"));
            std::fs::write(&path, &data[..size]).unwrap();
            let file = File::open(&path).unwrap();
            let got = outboard_of_file(&file, size as u64).unwrap();
            let want = Outboard::compute(&data[..size], size as u64).unwrap();
            assert_eq!(got.root, want.root, "size {size}");
            assert_eq!(got.pairs, want.pairs, "size {size}");
            assert_eq!(
                hash_file(&path).unwrap(),
                Key256::hash(&data[..size]),
                "size {size}"
            );
        }
    }
}
