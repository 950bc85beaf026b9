//! The keyspace a Kademlia engine works in: anything with an XOR metric.

use std::fmt::Debug;

use rand::Rng;
use serde::{Serialize, de::DeserializeOwned};
use weft_core::id::Key256;

/// A Kademlia identifier: node ids and record keys live in the same space, and the distance
/// between two of them is their XOR read as an unsigned big-endian integer.
///
/// [`Key256`] is what the node uses. `u64` is offered for the simulator, where a million
/// nodes with full k-buckets must fit in memory: with 64-bit ids the chance that two of
/// 10^6 random ids collide is below 10^-7, and a contact costs 12 bytes instead of 36.
///
/// `Ord` must order keys as big-endian integers (so that XOR distances compare correctly
/// and the ids sharing a prefix form a contiguous run in a sorted list).
pub trait KadKey: Copy + Ord + Debug + Serialize + DeserializeOwned {
    /// Width of the keyspace in bits.
    const BITS: u32;

    /// The XOR distance to `other`, itself a key (compare distances with `Ord`).
    fn distance(&self, other: &Self) -> Self;

    /// Number of leading zero bits (`BITS` for the zero key).
    fn leading_zeros(&self) -> u32;

    /// A uniformly random key whose distance from `self` has exactly `bucket` leading zeros,
    /// that is, a key that falls into k-bucket `bucket` of a node with id `self`.
    /// `bucket` must be below `BITS`.
    fn random_in_bucket<R: Rng>(&self, bucket: u32, rng: &mut R) -> Self;

    /// The smallest and the largest key of k-bucket `bucket` of a node with id `self`
    /// (the keys sharing the first `bucket` bits with `self` and differing at the next).
    /// In a sorted list of ids, that bucket is the contiguous run between them.
    /// `bucket` must be below `BITS`.
    fn bucket_bounds(&self, bucket: u32) -> (Self, Self);

    /// A 64-bit digest of the key (its first 64 bits), to seed per-node randomness.
    fn fold_u64(&self) -> u64;

    /// Maps an application key (a content hash, a node's [`Key256`]) into this keyspace.
    fn from_key256(key: &Key256) -> Self;
}

impl KadKey for u64 {
    const BITS: u32 = 64;

    fn distance(&self, other: &Self) -> Self {
        self ^ other
    }

    fn leading_zeros(&self) -> u32 {
        u64::leading_zeros(*self)
    }

    fn random_in_bucket<R: Rng>(&self, bucket: u32, rng: &mut R) -> Self {
        let bit = 63 - bucket;
        let low_mask = (1u64 << bit).wrapping_sub(1);
        let flipped = self ^ (1u64 << bit);
        (flipped & !low_mask) | (rng.random::<u64>() & low_mask)
    }

    fn bucket_bounds(&self, bucket: u32) -> (Self, Self) {
        let bit = 63 - bucket;
        let low_mask = (1u64 << bit).wrapping_sub(1);
        let base = (self ^ (1u64 << bit)) & !low_mask;
        (base, base | low_mask)
    }

    fn fold_u64(&self) -> u64 {
        *self
    }

    fn from_key256(key: &Key256) -> Self {
        key.prefix_u64()
    }
}

impl KadKey for Key256 {
    const BITS: u32 = 256;

    fn distance(&self, other: &Self) -> Self {
        Key256::distance(self, other)
    }

    fn leading_zeros(&self) -> u32 {
        Key256::leading_zeros(self)
    }

    fn random_in_bucket<R: Rng>(&self, bucket: u32, rng: &mut R) -> Self {
        let mut out = self.0;
        let byte = (bucket / 8) as usize;
        let bit = 7 - (bucket % 8);
        out[byte] ^= 1 << bit;
        let keep = !((1u16 << bit) as u8).wrapping_sub(1);
        out[byte] = (out[byte] & keep) | (rng.random::<u8>() & !keep);
        for b in out.iter_mut().skip(byte + 1) {
            *b = rng.random();
        }
        Key256(out)
    }

    fn bucket_bounds(&self, bucket: u32) -> (Self, Self) {
        let mut lo = self.0;
        let byte = (bucket / 8) as usize;
        let bit = 7 - (bucket % 8);
        lo[byte] ^= 1 << bit;
        let keep = !((1u16 << bit) as u8).wrapping_sub(1);
        lo[byte] &= keep;
        let mut hi = lo;
        hi[byte] |= !keep;
        for (l, h) in lo.iter_mut().zip(hi.iter_mut()).skip(byte + 1) {
            *l = 0;
            *h = 0xff;
        }
        (Key256(lo), Key256(hi))
    }

    fn fold_u64(&self) -> u64 {
        self.prefix_u64()
    }

    fn from_key256(key: &Key256) -> Self {
        *key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn check_bucket<K: KadKey>(me: K) {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for bucket in [0, 1, 7, 8, 9, K::BITS / 2, K::BITS - 1] {
            for _ in 0..20 {
                let k = me.random_in_bucket(bucket, &mut rng);
                assert_eq!(me.distance(&k).leading_zeros(), bucket, "bucket {bucket}");
                let (lo, hi) = me.bucket_bounds(bucket);
                assert!(lo <= k && k <= hi);
                assert_eq!(me.distance(&lo).leading_zeros(), bucket);
                assert_eq!(me.distance(&hi).leading_zeros(), bucket);
            }
        }
    }

    #[test]
    fn random_keys_land_in_their_bucket() {
        check_bucket(0x0123_4567_89ab_cdefu64);
        check_bucket(Key256::hash(b"me"));
    }

    #[test]
    fn bucket_bounds_of_zero() {
        assert_eq!(0u64.bucket_bounds(0), (1 << 63, u64::MAX));
        assert_eq!(0u64.bucket_bounds(63), (1, 1));
        let (lo, hi) = Key256::default().bucket_bounds(9);
        assert_eq!((lo.0[1], hi.0[1], hi.0[0], hi.0[31]), (0x40, 0x7f, 0, 0xff));
    }
}
