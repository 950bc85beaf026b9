//! The resume state of a download: which pieces are verified, as a compact bitmap the driver
//! persists next to the partial file.

/// Why stored resume state was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResumeError {
    /// The bytes are not a resume state (wrong length or header).
    #[error("resume state is malformed")]
    Malformed,
    /// The state was written for a different piece size or content size.
    #[error(
        "resume state is for {found} pieces of {found_bytes} bytes, expected {expected} of {expected_bytes}"
    )]
    Mismatch {
        /// Pieces in the stored state.
        found: u32,
        /// Piece size in the stored state.
        found_bytes: u64,
        /// Pieces this plan has.
        expected: u32,
        /// Piece size this plan uses.
        expected_bytes: u64,
    },
}

/// The set of verified pieces of one download.
///
/// Serialized as 8 bytes piece size (little endian), 4 bytes piece count, then one bit per
/// piece (least significant bit first); unused bits are zero.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeState {
    piece_bytes: u64,
    pieces: u32,
    bits: Vec<u8>,
}

const HEADER: usize = 12;

impl ResumeState {
    /// An empty state (nothing verified).
    pub fn new(piece_bytes: u64, pieces: u32) -> Self {
        ResumeState {
            piece_bytes,
            pieces,
            bits: vec![0; (pieces as usize).div_ceil(8)],
        }
    }

    /// The piece size this state was made for.
    pub fn piece_bytes(&self) -> u64 {
        self.piece_bytes
    }

    /// Number of pieces.
    pub fn pieces(&self) -> u32 {
        self.pieces
    }

    /// Whether `piece` is verified (false for pieces out of range).
    pub fn contains(&self, piece: u32) -> bool {
        piece < self.pieces && self.bits[piece as usize / 8] & (1 << (piece % 8)) != 0
    }

    /// Marks `piece` verified; pieces out of range are ignored.
    pub fn insert(&mut self, piece: u32) {
        if piece < self.pieces {
            self.bits[piece as usize / 8] |= 1 << (piece % 8);
        }
    }

    /// Number of verified pieces.
    pub fn count(&self) -> u32 {
        self.bits.iter().map(|b| b.count_ones()).sum()
    }

    /// The verified pieces in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.pieces).filter(|&p| self.contains(p))
    }

    /// The serialized form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.bits.len());
        out.extend_from_slice(&self.piece_bytes.to_le_bytes());
        out.extend_from_slice(&self.pieces.to_le_bytes());
        out.extend_from_slice(&self.bits);
        out
    }

    /// Parses the output of [`ResumeState::to_bytes`].
    ///
    /// # Errors
    /// [`ResumeError::Malformed`] for a wrong length, a zero piece size or bits set past the
    /// last piece.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ResumeError> {
        if bytes.len() < HEADER {
            return Err(ResumeError::Malformed);
        }
        let (head, bits) = bytes.split_at(HEADER);
        let mut pb = [0u8; 8];
        pb.copy_from_slice(&head[..8]);
        let mut pc = [0u8; 4];
        pc.copy_from_slice(&head[8..]);
        let (piece_bytes, pieces) = (u64::from_le_bytes(pb), u32::from_le_bytes(pc));
        if piece_bytes == 0 || bits.len() != (pieces as usize).div_ceil(8) {
            return Err(ResumeError::Malformed);
        }
        let tail = pieces % 8;
        if tail != 0 && bits.last().is_some_and(|b| b >> tail != 0) {
            return Err(ResumeError::Malformed);
        }
        Ok(ResumeState {
            piece_bytes,
            pieces,
            bits: bits.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(pieces in 0u32..200, set in proptest::collection::vec(any::<u32>(), 0..50)) {
            let mut s = ResumeState::new(1 << 20, pieces);
            for p in &set {
                s.insert(p % pieces.max(1));
            }
            let back = ResumeState::from_bytes(&s.to_bytes()).unwrap();
            prop_assert_eq!(&back, &s);
            let listed: Vec<u32> = back.iter().collect();
            prop_assert_eq!(listed.len() as u32, s.count());
            for p in listed {
                prop_assert!(set.iter().any(|q| q % pieces.max(1) == p));
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = ResumeState::from_bytes(&bytes);
        }
    }

    #[test]
    fn malformed_is_refused() {
        let mut s = ResumeState::new(1024, 3).to_bytes();
        assert_eq!(
            ResumeState::from_bytes(&s[..5]),
            Err(ResumeError::Malformed)
        );
        *s.last_mut().unwrap() = 0b1000; // bit 3 set, only 3 pieces
        assert_eq!(ResumeState::from_bytes(&s), Err(ResumeError::Malformed));
        let zero = ResumeState::new(0, 3).to_bytes();
        assert_eq!(ResumeState::from_bytes(&zero), Err(ResumeError::Malformed));
    }
}
