//! 256-bit identifiers: overlay keys and content hashes.

use std::fmt;
use std::str::FromStr;

/// A 256-bit key: a node or record position in an overlay keyspace, or a BLAKE3 content hash.
///
/// Displayed and parsed as 64 lowercase hex digits. Ordered as a big-endian integer.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct Key256(pub [u8; 32]);

/// Why a string is not a [`Key256`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseKeyError {
    /// Not 64 characters long.
    #[error("expected 64 hex digits, got {0} characters")]
    Length(usize),
    /// A character that is not a hex digit.
    #[error("not a hex digit in the hash")]
    NotHex,
}

impl Key256 {
    /// The BLAKE3 hash of `data`.
    pub fn hash(data: &[u8]) -> Self {
        Key256(*blake3::hash(data).as_bytes())
    }

    /// The XOR distance to `other` (the Kademlia metric).
    pub fn distance(&self, other: &Key256) -> Key256 {
        let mut out = [0u8; 32];
        for (o, (a, b)) in out.iter_mut().zip(self.0.iter().zip(other.0.iter())) {
            *o = a ^ b;
        }
        Key256(out)
    }

    /// Number of leading zero bits (256 for the zero key).
    pub fn leading_zeros(&self) -> u32 {
        let mut n = 0;
        for b in self.0 {
            if b == 0 {
                n += 8;
            } else {
                return n + b.leading_zeros();
            }
        }
        n
    }

    /// The first 8 bytes as a big-endian integer: a compact position for ring overlays.
    pub fn prefix_u64(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.0[..8]);
        u64::from_be_bytes(b)
    }

    /// A short form for logs: the first 8 hex digits.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for Key256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Key256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key256({})", self.short())
    }
}

impl FromStr for Key256 {
    type Err = ParseKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 64 {
            return Err(ParseKeyError::Length(s.chars().count()));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.to_ascii_lowercase(), &mut out)
            .map_err(|_| ParseKeyError::NotHex)?;
        Ok(Key256(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn hex_round_trip(bytes in any::<[u8; 32]>()) {
            let k = Key256(bytes);
            prop_assert_eq!(k.to_string().parse::<Key256>(), Ok(k));
        }

        #[test]
        fn xor_is_a_metric(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
            let (a, b) = (Key256(a), Key256(b));
            prop_assert_eq!(a.distance(&b), b.distance(&a));
            prop_assert_eq!(a.distance(&a), Key256::default());
        }
    }

    #[test]
    fn parse_errors() {
        assert_eq!("ab".parse::<Key256>(), Err(ParseKeyError::Length(2)));
        assert_eq!("z".repeat(64).parse::<Key256>(), Err(ParseKeyError::NotHex));
        assert_eq!(Key256::default().leading_zeros(), 256);
    }
}
