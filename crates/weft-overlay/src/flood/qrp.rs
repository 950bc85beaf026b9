//! Query routing tables (LimeWire QRP): a leaf hashes every keyword it can answer into a bit
//! vector and sends it to its ultrapeers, which then forward a query to that leaf only when
//! every keyword of the query hits a set bit.
//!
//! The hash is the one of the Gnutella QRP proposal: the lowercased keyword's bytes are folded
//! into a 32-bit word (byte `i` shifted by `8 * (i % 4)`), multiplied by `0x4F1BBCDC`, and the
//! top `log2_size` bits of the low 32 bits of the product index the table.
//!
//! Tables travel as [`QrpUpdate`]s: a `Reset` (all bits clear, given size) followed by patches
//! that flip bits relative to the previous table — a list of indices when few bits change, a
//! run of whole 64-bit words when many do. Every update is bounded and checked on receipt.

use serde::{Deserialize, Serialize};

/// Smallest table a peer may announce (2^8 bits).
pub const MIN_LOG2_SIZE: u8 = 8;
/// Largest table a peer may announce (2^20 bits, 128 KiB).
pub const MAX_LOG2_SIZE: u8 = 20;
/// The table size LimeWire uses and weft defaults to (2^16 bits).
pub const DEFAULT_LOG2_SIZE: u8 = 16;
/// Most bit indices in one `Toggle` patch.
pub const MAX_TOGGLES: usize = 4096;
/// Most 64-bit words in one `Dense` patch (8 KiB).
pub const MAX_DENSE_WORDS: usize = 1024;

/// One step of a route-table transfer from a leaf to an ultrapeer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QrpUpdate {
    /// Start over with an empty table of `2^log2_size` bits.
    Reset {
        /// Base-2 logarithm of the table size in bits.
        log2_size: u8,
    },
    /// Flip the bits at these indices.
    Toggle {
        /// Bit indices, each below the table size.
        indices: Vec<u32>,
    },
    /// XOR these words into the table starting at word `first_word`.
    Dense {
        /// Index of the first 64-bit word patched.
        first_word: u32,
        /// The words to XOR in.
        words: Vec<u64>,
    },
}

/// Why a route-table update was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QrpError {
    /// A `Reset` with a size outside [`MIN_LOG2_SIZE`]..=[`MAX_LOG2_SIZE`].
    #[error("route table size 2^{0} out of range")]
    Size(u8),
    /// A patch before any `Reset`.
    #[error("route table patch without a reset")]
    NoTable,
    /// A patch that is too long or reaches past the table.
    #[error("route table patch out of bounds")]
    OutOfBounds,
}

/// The QRP hash of `keyword` into a table of `2^log2_size` bits (the keyword is lowercased).
pub fn qrp_hash(keyword: &str, log2_size: u8) -> u32 {
    let bits = u32::from(log2_size.clamp(1, 32));
    let mut folded: u32 = 0;
    for (i, byte) in keyword.bytes().map(|b| b.to_ascii_lowercase()).enumerate() {
        folded ^= u32::from(byte) << (8 * (i % 4));
    }
    let product = u64::from(folded).wrapping_mul(0x4F1B_BCDC) as u32;
    if bits == 32 {
        product
    } else {
        product >> (32 - bits)
    }
}

/// A route table: `2^log2_size` bits, one per keyword hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrpTable {
    log2_size: u8,
    words: Vec<u64>,
}

impl QrpTable {
    /// An empty table of `2^log2_size` bits (clamped to the allowed range).
    pub fn new(log2_size: u8) -> Self {
        let log2_size = log2_size.clamp(MIN_LOG2_SIZE, MAX_LOG2_SIZE);
        QrpTable {
            log2_size,
            words: vec![0; (1usize << log2_size) / 64],
        }
    }

    /// A table holding `keywords`.
    pub fn from_keywords<'a>(log2_size: u8, keywords: impl IntoIterator<Item = &'a str>) -> Self {
        let mut t = QrpTable::new(log2_size);
        for k in keywords {
            t.insert(k);
        }
        t
    }

    /// Base-2 logarithm of the size in bits.
    pub fn log2_size(&self) -> u8 {
        self.log2_size
    }

    /// Sets the bit of `keyword`.
    pub fn insert(&mut self, keyword: &str) {
        let i = qrp_hash(keyword, self.log2_size) as usize;
        if let Some(w) = self.words.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    /// Whether the bit of `keyword` is set (false positives possible, no false negatives).
    pub fn contains(&self, keyword: &str) -> bool {
        let i = qrp_hash(keyword, self.log2_size) as usize;
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Whether every one of `keywords` may be answered (true for an empty list).
    pub fn matches_all<'a>(&self, mut keywords: impl Iterator<Item = &'a str>) -> bool {
        keywords.all(|k| self.contains(k))
    }

    /// Number of set bits.
    pub fn set_bits(&self) -> u32 {
        self.words.iter().map(|w| w.count_ones()).sum()
    }

    /// Bytes held by the bit vector.
    pub fn heap_bytes(&self) -> usize {
        self.words.len() * 8
    }

    /// The patches that turn `self` into `target` (both must have the same size; a different
    /// size gives a `Reset` and the full `target`).
    pub fn patches_to(&self, target: &QrpTable) -> Vec<QrpUpdate> {
        if self.log2_size != target.log2_size {
            let mut out = vec![QrpUpdate::Reset {
                log2_size: target.log2_size,
            }];
            out.extend(QrpTable::new(target.log2_size).patches_to(target));
            return out;
        }
        let diff: Vec<u64> = self
            .words
            .iter()
            .zip(&target.words)
            .map(|(a, b)| a ^ b)
            .collect();
        let flips: u32 = diff.iter().map(|w| w.count_ones()).sum();
        let mut out = Vec::new();
        // A varint index costs up to 3 bytes, a word 8 bytes: pick the smaller encoding.
        let dense_words = diff.iter().filter(|w| **w != 0).count();
        if (flips as usize) * 3 <= dense_words * 8 {
            let mut indices = Vec::new();
            for (wi, w) in diff.iter().enumerate() {
                let mut w = *w;
                while w != 0 {
                    let bit = w.trailing_zeros();
                    indices.push((wi as u32) * 64 + bit);
                    w &= w - 1;
                    if indices.len() == MAX_TOGGLES {
                        out.push(QrpUpdate::Toggle {
                            indices: std::mem::take(&mut indices),
                        });
                    }
                }
            }
            if !indices.is_empty() {
                out.push(QrpUpdate::Toggle { indices });
            }
        } else {
            for (ci, chunk) in diff.chunks(MAX_DENSE_WORDS).enumerate() {
                if chunk.iter().any(|w| *w != 0) {
                    let first_word = (ci * MAX_DENSE_WORDS) as u32;
                    out.push(QrpUpdate::Dense {
                        first_word,
                        words: chunk.to_vec(),
                    });
                }
            }
        }
        out
    }

    /// Applies one patch. A `Reset` is handled by the caller (it replaces the table).
    ///
    /// # Errors
    /// [`QrpError::OutOfBounds`] if the patch is too long or reaches past the table; the table
    /// is unchanged then.
    pub fn apply(&mut self, update: &QrpUpdate) -> Result<(), QrpError> {
        let size = 1u64 << self.log2_size;
        match update {
            QrpUpdate::Reset { log2_size } => {
                *self = QrpTable::new(*log2_size);
                Ok(())
            }
            QrpUpdate::Toggle { indices } => {
                if indices.len() > MAX_TOGGLES || indices.iter().any(|i| u64::from(*i) >= size) {
                    return Err(QrpError::OutOfBounds);
                }
                for i in indices {
                    let i = *i as usize;
                    if let Some(w) = self.words.get_mut(i / 64) {
                        *w ^= 1 << (i % 64);
                    }
                }
                Ok(())
            }
            QrpUpdate::Dense { first_word, words } => {
                let first = *first_word as usize;
                let end = first
                    .checked_add(words.len())
                    .ok_or(QrpError::OutOfBounds)?;
                if words.len() > MAX_DENSE_WORDS || end > self.words.len() {
                    return Err(QrpError::OutOfBounds);
                }
                for (dst, src) in self.words[first..end].iter_mut().zip(words) {
                    *dst ^= src;
                }
                Ok(())
            }
        }
    }
}

impl QrpUpdate {
    /// Checks the bounds that do not depend on the receiver's table.
    ///
    /// # Errors
    /// [`QrpError`] naming the violated bound.
    pub fn check(&self) -> Result<(), QrpError> {
        match self {
            QrpUpdate::Reset { log2_size }
                if !(MIN_LOG2_SIZE..=MAX_LOG2_SIZE).contains(log2_size) =>
            {
                Err(QrpError::Size(*log2_size))
            }
            QrpUpdate::Toggle { indices } if indices.len() > MAX_TOGGLES => {
                Err(QrpError::OutOfBounds)
            }
            QrpUpdate::Dense { words, .. } if words.len() > MAX_DENSE_WORDS => {
                Err(QrpError::OutOfBounds)
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hash_stays_in_range_and_ignores_case() {
        for bits in [8u8, 12, 16, 20] {
            for w in ["blue", "train", "a", "", "ärger"] {
                assert!(qrp_hash(w, bits) < (1 << bits));
            }
        }
        assert_eq!(qrp_hash("Blue", 16), qrp_hash("blue", 16));
        assert_ne!(qrp_hash("blue", 16), qrp_hash("train", 16));
    }

    proptest! {
        #[test]
        fn patches_reproduce_target(
            old in proptest::collection::vec("[a-z]{1,8}", 0..300),
            new in proptest::collection::vec("[a-z]{1,8}", 0..300),
        ) {
            let a = QrpTable::from_keywords(12, old.iter().map(String::as_str));
            let b = QrpTable::from_keywords(12, new.iter().map(String::as_str));
            let mut c = a.clone();
            for p in a.patches_to(&b) {
                prop_assert!(p.check().is_ok());
                prop_assert!(c.apply(&p).is_ok());
            }
            prop_assert_eq!(&c, &b);
            for k in &new {
                prop_assert!(b.contains(k));
            }
        }
    }

    #[test]
    fn bad_patches_are_refused() {
        let mut t = QrpTable::new(8);
        assert_eq!(
            t.apply(&QrpUpdate::Toggle { indices: vec![256] }),
            Err(QrpError::OutOfBounds)
        );
        let words = vec![1; 5];
        assert_eq!(
            t.apply(&QrpUpdate::Dense {
                first_word: 0,
                words
            }),
            Err(QrpError::OutOfBounds)
        );
        assert_eq!(t.set_bits(), 0);
        assert_eq!(
            QrpUpdate::Reset { log2_size: 30 }.check(),
            Err(QrpError::Size(30))
        );
    }
}
