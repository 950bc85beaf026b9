//! Verified ranges: BLAKE3 hash trees (bao outboards) so that any byte range of a file can be
//! checked on its own against nothing but the file's root hash.
//!
//! The serving peer holds the file and its [`Outboard`] (the hash pairs of the tree, 64 bytes
//! per 16 KiB chunk group). For a requested byte range it writes an *encoded slice* with
//! [`encode_range`]: the hash pairs on the path from the root to the range, then the range's
//! data. The receiving peer knows only the root hash and the size; [`decode_range`] checks every
//! hash pair and every chunk group of the slice and yields the verified bytes, or an error that
//! names the range.
//!
//! Ranges are handled at the granularity of chunk groups ([`GROUP_BYTES`]): a requested range
//! is widened to whole groups for the transfer ([`aligned_range`]) and cut back to the bytes
//! asked for after verification. [`encoded_len`] says, before anything is read, exactly how
//! many encoded bytes a slice takes, so a receiver never reads more than that from a peer.
//!
//! The size is part of the tree's shape. A slice that contains the last chunk group proves the
//! size; a slice that does not is verified under the size the receiver assumed, so a download
//! is complete only once its last group has been verified (and the node checks the whole hash
//! once more before it moves the file into place).
//!
//! ```
//! use weft_share::verify::{Outboard, encode_range, decode_range};
//! let data: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
//! let outboard = Outboard::compute(&data[..], data.len() as u64).unwrap();
//! let mut slice = Vec::new();
//! encode_range(&data[..], &outboard, 20_000..30_000, &mut slice).unwrap();
//! let bytes = decode_range(outboard.root, outboard.size, 20_000..30_000, &slice).unwrap();
//! assert_eq!(bytes, &data[20_000..30_000]);
//! ```

use std::io::{self, Read, Write};
use std::ops::Range;

use bao_tree::io::EncodeError as BaoEncodeError;
use bao_tree::io::outboard::PostOrderMemOutboard;
use bao_tree::io::sync::{ReadAt, encode_ranges_validated, outboard_post_order};
use bao_tree::iter::BaoChunk;
use bao_tree::{BaoTree, BlockSize, ChunkNum, ChunkRanges, TreeNode};
use weft_core::id::Key256;

/// The chunk group size of every weft hash tree: 16 chunks of 1 KiB.
pub const BLOCK_SIZE: BlockSize = BlockSize::from_chunk_log(4);

/// Bytes in one chunk group, the unit of verification (16 KiB).
pub const GROUP_BYTES: u64 = 16 * 1024;

/// The hash tree of one file: its root hash, its size, and the hash pairs of the tree in
/// post order (64 bytes per chunk group beyond the first, nothing for files up to 16 KiB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outboard {
    /// The BLAKE3 hash of the content (equal to `blake3::hash` of the whole file).
    pub root: Key256,
    /// The content size in bytes.
    pub size: u64,
    /// The post-order hash pairs, exactly [`Outboard::stored_len`] bytes.
    pub pairs: Vec<u8>,
}

/// Why a stored outboard was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("outboard of {got} bytes does not fit content of {size} bytes (expected {expected})")]
pub struct OutboardLenError {
    /// The content size.
    pub size: u64,
    /// Bytes given.
    pub got: usize,
    /// Bytes a tree of that size has.
    pub expected: u64,
}

impl Outboard {
    /// Hashes exactly `size` bytes from `reader` and builds the tree.
    ///
    /// Reads sequentially in chunk groups; wrap a file in a large `BufReader`.
    ///
    /// # Errors
    /// Any read error, or `UnexpectedEof` if the reader holds fewer than `size` bytes.
    pub fn compute(reader: impl Read, size: u64) -> io::Result<Outboard> {
        let tree = BaoTree::new(size, BLOCK_SIZE);
        let capacity = usize::try_from(tree.outboard_size()).unwrap_or(0);
        let mut pairs = Vec::with_capacity(capacity);
        let root = outboard_post_order(reader.take(size), tree, &mut pairs)?;
        Ok(Outboard {
            root: Key256(*root.as_bytes()),
            size,
            pairs,
        })
    }

    /// Rebuilds an outboard from stored parts, checking the length of `pairs`.
    ///
    /// # Errors
    /// [`OutboardLenError`] if `pairs` does not have the length a tree of `size` has.
    pub fn from_parts(
        root: Key256,
        size: u64,
        pairs: Vec<u8>,
    ) -> Result<Outboard, OutboardLenError> {
        let expected = Self::stored_len(size);
        if pairs.len() as u64 != expected {
            return Err(OutboardLenError {
                size,
                got: pairs.len(),
                expected,
            });
        }
        Ok(Outboard { root, size, pairs })
    }

    /// Bytes of hash pairs stored for content of `size` bytes.
    pub fn stored_len(size: u64) -> u64 {
        BaoTree::new(size, BLOCK_SIZE).outboard_size()
    }

    fn as_bao(&self) -> PostOrderMemOutboard<&[u8]> {
        PostOrderMemOutboard {
            root: blake3::Hash::from_bytes(self.root.0),
            tree: BaoTree::new(self.size, BLOCK_SIZE),
            data: &self.pairs,
        }
    }
}

/// Why a range could not be served or verified.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The range does not lie inside the content.
    #[error("range {}..{} is outside content of {size} bytes", range.start, range.end)]
    OutOfBounds {
        /// The range asked for.
        range: Range<u64>,
        /// The content size.
        size: u64,
    },
    /// Data or a hash pair in the slice does not match the root hash.
    #[error("range {}..{}: data near byte {offset} does not match the hash", range.start, range.end)]
    Corrupt {
        /// The range being verified.
        range: Range<u64>,
        /// Start of the chunk or subtree that failed.
        offset: u64,
    },
    /// The encoded slice ended before the range was complete.
    #[error("range {}..{}: encoded slice is truncated", range.start, range.end)]
    Truncated {
        /// The range being verified.
        range: Range<u64>,
    },
    /// The encoded slice holds more bytes than the range needs.
    #[error("range {}..{}: {extra} unexpected bytes after the slice", range.start, range.end)]
    TrailingBytes {
        /// The range being verified.
        range: Range<u64>,
        /// Bytes left over.
        extra: usize,
    },
}

impl VerifyError {
    /// The byte range this error is about.
    pub fn range(&self) -> Range<u64> {
        match self {
            VerifyError::OutOfBounds { range, .. }
            | VerifyError::Corrupt { range, .. }
            | VerifyError::Truncated { range }
            | VerifyError::TrailingBytes { range, .. } => range.clone(),
        }
    }
}

/// Why a range could not be encoded for a peer.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The range does not lie inside the content.
    #[error("range {}..{} is outside content of {size} bytes", range.start, range.end)]
    OutOfBounds {
        /// The range asked for.
        range: Range<u64>,
        /// The content size.
        size: u64,
    },
    /// The file no longer matches its hash tree (it changed on disk): recheck it.
    #[error("the file no longer matches its hash")]
    Changed,
    /// Reading the file or writing the slice failed.
    #[error("cannot serve range: {0}")]
    Io(#[from] io::Error),
}

/// The byte range actually transferred for `range`: widened to whole chunk groups, clipped to
/// the content.
///
/// # Errors
/// [`VerifyError::OutOfBounds`] if `range` is reversed or ends past `size`.
pub fn aligned_range(size: u64, range: Range<u64>) -> Result<Range<u64>, VerifyError> {
    if range.start > range.end || range.end > size {
        return Err(VerifyError::OutOfBounds { range, size });
    }
    if range.start == range.end {
        return Ok(range);
    }
    let start = range.start / GROUP_BYTES * GROUP_BYTES;
    let end = range
        .end
        .div_ceil(GROUP_BYTES)
        .saturating_mul(GROUP_BYTES)
        .min(size);
    Ok(start..end)
}

/// The chunk ranges of an aligned, non-empty byte range; open-ended when it reaches the end so
/// the last (partial) group is encoded whole.
fn chunk_ranges(size: u64, aligned: &Range<u64>) -> ChunkRanges {
    let start = ChunkNum(aligned.start / 1024);
    if aligned.end >= size {
        ChunkRanges::from(start..)
    } else {
        ChunkRanges::from(start..ChunkNum(aligned.end.div_ceil(1024)))
    }
}

/// The exact length of the encoded slice for `range` of content of `size` bytes.
///
/// # Errors
/// [`VerifyError::OutOfBounds`] as [`aligned_range`].
pub fn encoded_len(size: u64, range: Range<u64>) -> Result<u64, VerifyError> {
    let aligned = aligned_range(size, range)?;
    if aligned.is_empty() {
        return Ok(0);
    }
    let tree = BaoTree::new(size, BLOCK_SIZE);
    let ranges = chunk_ranges(size, &aligned);
    let mut len = 0u64;
    for item in tree.ranges_pre_order_chunks_iter_ref(&ranges, 0) {
        len += match item {
            BaoChunk::Parent { .. } => 64,
            BaoChunk::Leaf { size, .. } => size as u64,
        };
    }
    Ok(len)
}

/// Writes the encoded slice for `range` of the content in `data`, checking the data against
/// the outboard as it goes (a file that changed on disk is never sent).
///
/// The slice covers [`aligned_range`] of `range` and is [`encoded_len`] bytes long.
///
/// # Errors
/// [`ServeError::OutOfBounds`] for a range outside the content, [`ServeError::Changed`] if the
/// data does not match the outboard, [`ServeError::Io`] for read or write failures.
pub fn encode_range(
    data: impl ReadAt,
    outboard: &Outboard,
    range: Range<u64>,
    out: impl Write,
) -> Result<(), ServeError> {
    let size = outboard.size;
    let aligned =
        aligned_range(size, range.clone()).map_err(|_| ServeError::OutOfBounds { range, size })?;
    if aligned.is_empty() {
        return Ok(());
    }
    let ranges = chunk_ranges(size, &aligned);
    encode_ranges_validated(data, outboard.as_bao(), &ranges, out).map_err(|e| match e {
        BaoEncodeError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => ServeError::Changed,
        BaoEncodeError::Io(e) => ServeError::Io(e),
        BaoEncodeError::ParentHashMismatch(_)
        | BaoEncodeError::LeafHashMismatch(_)
        | BaoEncodeError::SizeMismatch => ServeError::Changed,
        BaoEncodeError::ParentWrite(_) | BaoEncodeError::LeafWrite(_) => ServeError::Io(
            io::Error::new(io::ErrorKind::BrokenPipe, "peer stopped reading"),
        ),
    })
}

/// Reads `range` of the content in `data`, checks every chunk group it touches against the
/// outboard, and appends exactly the bytes of `range` to `out`: how a node serves its own
/// copy without trusting the file to still hold what was hashed.
///
/// The groups are checked by [`encode_range`]'s walk (the same as for a peer); only their
/// data reaches `out`, never the bytes of a group that failed.
///
/// # Errors
/// As [`encode_range`]: [`ServeError::Changed`] if the data does not match the outboard.
pub fn read_verified(
    data: impl ReadAt,
    outboard: &Outboard,
    range: Range<u64>,
    out: &mut Vec<u8>,
) -> Result<(), ServeError> {
    let size = outboard.size;
    let aligned = aligned_range(size, range.clone()).map_err(|_| ServeError::OutOfBounds {
        range: range.clone(),
        size,
    })?;
    if aligned.is_empty() {
        return Ok(());
    }
    let tree = BaoTree::new(size, BLOCK_SIZE);
    let parts = tree
        .ranges_pre_order_chunks_iter_ref(&chunk_ranges(size, &aligned), 0)
        .map(|item| match item {
            BaoChunk::Parent { .. } => Part::Pair,
            BaoChunk::Leaf { size, .. } => Part::Data(size as u64),
        })
        .collect();
    out.reserve(usize::try_from(range.end - range.start).unwrap_or(0));
    let leaves = GroupData {
        parts,
        next: 0,
        left: 0,
        at: aligned.start,
        want: range.clone(),
        out,
    };
    encode_range(data, outboard, range, leaves)
}

/// One item of an encoded slice, in the order [`encode_range`] writes them.
enum Part {
    /// A hash pair (64 bytes).
    Pair,
    /// A chunk group's data, this many bytes.
    Data(u64),
}

/// A writer that takes an encoded slice and keeps only the bytes of `want` from its groups'
/// data.
struct GroupData<'a> {
    parts: Vec<Part>,
    /// The next part to start.
    next: usize,
    /// Bytes left of the current part (0: start the next).
    left: u64,
    /// Content offset of the next data byte.
    at: u64,
    want: Range<u64>,
    out: &'a mut Vec<u8>,
}

impl Write for GroupData<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            if self.left == 0 {
                let Some(part) = self.parts.get(self.next) else {
                    return Err(io::Error::other("more bytes than the slice holds"));
                };
                self.next += 1;
                self.left = match part {
                    Part::Pair => 64,
                    Part::Data(n) => *n,
                };
                continue;
            }
            let n = usize::try_from(self.left)
                .unwrap_or(usize::MAX)
                .min(rest.len());
            let (head, tail) = rest.split_at(n);
            if let Some(Part::Data(_)) = self.parts.get(self.next - 1) {
                let from = self.want.start.max(self.at);
                let to = self.want.end.min(self.at + n as u64);
                if from < to {
                    self.out
                        .extend_from_slice(&head[offset_in(self.at, from)..offset_in(self.at, to)]);
                }
                self.at += n as u64;
            }
            self.left -= n as u64;
            rest = tail;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Verifies the encoded slice for `range` against `root` and `size` and returns exactly the
/// bytes of `range`. The slice must be complete: trailing bytes are an error.
///
/// # Errors
/// [`VerifyError`] naming `range`: out of bounds, corrupt, truncated or too long.
pub fn decode_range(
    root: Key256,
    size: u64,
    range: Range<u64>,
    encoded: &[u8],
) -> Result<Vec<u8>, VerifyError> {
    aligned_range(size, range.clone())?;
    // Every byte of the range travels in the slice: a slice shorter than the range is cut
    // short, whatever sizes the peer claimed, and nothing is allocated for it.
    let len = range.end - range.start;
    if len > encoded.len() as u64 {
        return Err(VerifyError::Truncated { range });
    }
    let mut out = vec![0; usize::try_from(len).unwrap_or(0)];
    decode_range_into(root, size, range, encoded, &mut out)?;
    Ok(out)
}

/// The hash pairs of the tree nodes a verified slice carried, for a [`TreeBuilder`].
#[derive(Debug, Default)]
pub struct TreeParts(Vec<(TreeNode, (blake3::Hash, blake3::Hash))>);

/// Verifies the encoded slice for `range`, held whole in `encoded`, and writes exactly the
/// bytes of `range` into `out`; returns the hash pairs the slice proved, so that a downloader
/// can build the content's hash tree from its slices instead of hashing the file again.
///
/// Every chunk group is hashed where it lies in `encoded`, and only what verified is copied,
/// once, into `out` (a downloader passes the buffer it writes to disk from). Nothing is
/// written to `out` past the first group that fails.
///
/// # Errors
/// As [`decode_range`]; [`VerifyError::OutOfBounds`] also if `out` is not as long as `range`.
pub fn decode_range_into(
    root: Key256,
    size: u64,
    range: Range<u64>,
    encoded: &[u8],
    out: &mut [u8],
) -> Result<TreeParts, VerifyError> {
    let aligned = aligned_range(size, range.clone())?;
    if out.len() as u64 != range.end - range.start {
        return Err(VerifyError::OutOfBounds { range, size });
    }
    let mut parts = TreeParts::default();
    if size == 0 {
        // An empty tree has a single empty leaf and nothing to transfer.
        if root != Key256::hash(&[]) {
            return Err(VerifyError::Corrupt { range, offset: 0 });
        }
        return Ok(parts);
    }
    if aligned.is_empty() {
        return Ok(parts);
    }
    let corrupt = |offset| VerifyError::Corrupt {
        range: range.clone(),
        offset,
    };
    let tree = BaoTree::new(size, BLOCK_SIZE);
    let ranges = chunk_ranges(size, &aligned);
    // Hashes still to be matched, the next one on top: the pre-order walk meets each node
    // right after its parent proved the node's hash.
    let mut expected = vec![blake3::Hash::from_bytes(root.0)];
    let mut rest = encoded;
    let mut take = |n: usize| {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    // Where the next chunk group must start.
    let mut next = aligned.start;
    for chunk in tree.ranges_pre_order_chunks_iter_ref(&ranges, 0) {
        let Some(want) = expected.pop() else { break };
        match chunk {
            BaoChunk::Parent {
                is_root,
                left,
                right,
                node,
                ..
            } => {
                let pair = take(64).ok_or_else(|| VerifyError::Truncated {
                    range: range.clone(),
                })?;
                let (l, r) = pair.split_at(32);
                let l = blake3::Hash::from_slice(l).map_err(|_| corrupt(0))?;
                let r = blake3::Hash::from_slice(r).map_err(|_| corrupt(0))?;
                if parent_hash(&l, &r, is_root) != want {
                    return Err(corrupt(node.chunk_range().start.to_bytes()));
                }
                if right {
                    expected.push(r);
                }
                if left {
                    expected.push(l);
                }
                parts.0.push((node, (l, r)));
            }
            BaoChunk::Leaf {
                size: len,
                is_root,
                start_chunk,
                ..
            } => {
                let at = start_chunk.to_bytes();
                let data = take(len).ok_or_else(|| VerifyError::Truncated {
                    range: range.clone(),
                })?;
                if at != next || group_hash(at, data, is_root) != want {
                    return Err(corrupt(at));
                }
                next = at + len as u64;
                // The part of this group inside `range`.
                let from = range.start.max(at);
                let to = range.end.min(next);
                if from < to {
                    let src = &data[offset_in(at, from)..offset_in(at, to)];
                    out[offset_in(range.start, from)..offset_in(range.start, to)]
                        .copy_from_slice(src);
                }
            }
        }
    }
    if next != aligned.end {
        return Err(VerifyError::Truncated { range });
    }
    if !rest.is_empty() {
        let extra = rest.len();
        return Err(VerifyError::TrailingBytes { range, extra });
    }
    Ok(parts)
}

/// `at - base` as an index (both inside one slice held in memory).
fn offset_in(base: u64, at: u64) -> usize {
    usize::try_from(at - base).unwrap_or(usize::MAX)
}

/// The hash of a tree node from its children's.
fn parent_hash(left: &blake3::Hash, right: &blake3::Hash, is_root: bool) -> blake3::Hash {
    use blake3::hazmat::{Mode, merge_subtrees_non_root, merge_subtrees_root};
    let (l, r) = (left.as_bytes(), right.as_bytes());
    if is_root {
        merge_subtrees_root(l, r, Mode::Hash)
    } else {
        blake3::Hash::from(merge_subtrees_non_root(l, r, Mode::Hash))
    }
}

/// The hash of the chunk group `data` that starts at byte `at` of the content.
fn group_hash(at: u64, data: &[u8], is_root: bool) -> blake3::Hash {
    if is_root {
        return blake3::hash(data);
    }
    blake3::Hash::from(group_chaining_value(at, data))
}

/// The chaining value of the chunk group `data` that starts at byte `at` of content larger
/// than one group (a group that is not the tree's root).
pub(crate) fn group_chaining_value(at: u64, data: &[u8]) -> blake3::hazmat::ChainingValue {
    use blake3::hazmat::HasherExt;
    let mut h = blake3::Hasher::new();
    h.set_input_offset(at);
    h.update(data);
    h.finalize_non_root()
}

/// Assembles the [`Outboard`] of content from the [`TreeParts`] of verified slices. Every
/// pair it is given was proven against the root, so once every node is filled the outboard is
/// exactly the one [`Outboard::compute`] would build from the whole file.
pub struct TreeBuilder {
    outboard: PostOrderMemOutboard<Vec<u8>>,
    filled: Vec<bool>,
    missing: usize,
}

impl TreeBuilder {
    /// A builder for content of `size` bytes with root hash `root`; `None` if the tree would
    /// take more than `max_bytes` of memory.
    pub fn new(root: Key256, size: u64, max_bytes: u64) -> Option<Self> {
        let len = Outboard::stored_len(size);
        if len > max_bytes {
            return None;
        }
        let nodes = usize::try_from(len / 64).ok()?;
        Some(TreeBuilder {
            outboard: PostOrderMemOutboard {
                root: blake3::Hash::from_bytes(root.0),
                tree: BaoTree::new(size, BLOCK_SIZE),
                data: vec![0; usize::try_from(len).ok()?],
            },
            filled: vec![false; nodes],
            missing: nodes,
        })
    }

    /// Records the pairs of one verified slice.
    pub fn add(&mut self, parts: &TreeParts) {
        use bao_tree::io::sync::OutboardMut;
        for (node, pair) in &parts.0 {
            let Some(i) = self
                .outboard
                .tree
                .post_order_offset(*node)
                .and_then(|o| usize::try_from(o.value()).ok())
            else {
                continue;
            };
            if i < self.filled.len() && self.outboard.save(*node, pair).is_ok() && !self.filled[i] {
                self.filled[i] = true;
                self.missing -= 1;
            }
        }
    }

    /// The outboard, if every node has been recorded.
    pub fn finish(self) -> Option<Outboard> {
        (self.missing == 0).then(|| Outboard {
            root: Key256(*self.outboard.root.as_bytes()),
            size: self.outboard.tree.size(),
            pairs: self.outboard.data,
        })
    }
}

#[cfg(test)]
mod tests;
