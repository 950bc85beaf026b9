//! Zones of the CAN coordinate space: dyadic boxes of the unit d-torus, exact arithmetic.

use serde::{Deserialize, Serialize};

/// Largest number of dimensions supported.
pub const MAX_DIMS: usize = 8;

const SPACE: u64 = 1 << 32;

/// Most halvings of one dimension: a side of `2^(32 - MAX_LEVEL)` = 1 is the smallest.
pub const MAX_LEVEL: u8 = 32;

/// A box of the d-torus `[0, 2^32)^d`: in dimension `i` it spans `[lo[i], lo[i] + 2^(32 - level[i]))`.
/// Zones only arise by halving, so every side is a power of two and volumes are exact.
///
/// # Invariant
/// A zone that a node holds or lists is [valid](Zone::is_valid) for the network's `d`:
/// `level[i] <= MAX_LEVEL` and `lo[i]` a multiple of the side (so the box never wraps past
/// `2^32`) for `i < d`, and `lo[i] = level[i] = 0` for the unused dimensions `i >= d`. The
/// engine checks every zone a peer sends against it and drops messages that break it.
/// The arithmetic below never panics on any bit pattern (zones are decoded straight from
/// the wire); on an invalid zone its answers are merely meaningless. Methods look at
/// dimensions `0..min(d, MAX_DIMS)` only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Zone {
    /// Lower corner.
    pub lo: [u32; MAX_DIMS],
    /// Halvings per dimension.
    pub level: [u8; MAX_DIMS],
}

/// A point of the space (only the first `d` coordinates are used).
pub type Point = [u32; MAX_DIMS];

impl Zone {
    /// The whole space.
    pub const WHOLE: Zone = Zone {
        lo: [0; MAX_DIMS],
        level: [0; MAX_DIMS],
    };

    /// The side in dimension `i`, in `1..=2^32` (levels past [`MAX_LEVEL`] count as it).
    fn side(&self, i: usize) -> u64 {
        SPACE >> self.level[i].min(MAX_LEVEL)
    }

    /// True if the zone satisfies the [invariant](Zone#invariant) for `d` dimensions:
    /// aligned, at most [`MAX_LEVEL`] halvings, unused dimensions zero. `d` outside
    /// `1..=MAX_DIMS` makes every zone invalid.
    pub fn is_valid(&self, d: usize) -> bool {
        if !(1..=MAX_DIMS).contains(&d) {
            return false;
        }
        let used =
            (0..d).all(|i| self.level[i] <= MAX_LEVEL && u64::from(self.lo[i]) % self.side(i) == 0);
        let unused = (d..MAX_DIMS).all(|i| self.lo[i] == 0 && self.level[i] == 0);
        used && unused
    }

    fn hi(&self, i: usize) -> u64 {
        u64::from(self.lo[i]) + self.side(i)
    }

    /// Total halvings: the volume is `2^-volume_exponent`.
    pub fn volume_exponent(&self, d: usize) -> u32 {
        self.level[..d.min(MAX_DIMS)]
            .iter()
            .map(|l| u32::from(*l))
            .sum()
    }

    /// True if `p` lies in the zone.
    pub fn contains(&self, p: &Point, d: usize) -> bool {
        (0..d.min(MAX_DIMS))
            .all(|i| u64::from(p[i]) >= u64::from(self.lo[i]) && u64::from(p[i]) < self.hi(i))
    }

    /// The halves of the zone, split along its longest side (the lowest such dimension),
    /// lower half first; `None` if it cannot be halved further.
    pub fn split(&self, d: usize) -> Option<(Zone, Zone)> {
        let dim = (0..d.min(MAX_DIMS))
            .filter(|i| self.level[*i] < 32)
            .min_by_key(|i| (self.level[*i], *i))?;
        let mut a = *self;
        a.level[dim] += 1;
        let mut b = a;
        b.lo[dim] = u32::try_from(u64::from(self.lo[dim]) + a.side(dim)).ok()?;
        Some((a, b))
    }

    /// The zone that `self` and `other` make together, if they are the two halves of one.
    pub fn merge(&self, other: &Zone, d: usize) -> Option<Zone> {
        if self.level != other.level {
            return None;
        }
        let mut diff = (0..d.min(MAX_DIMS)).filter(|i| self.lo[*i] != other.lo[*i]);
        let (Some(dim), None) = (diff.next(), diff.next()) else {
            return None;
        };
        let (low, high) = if self.lo[dim] < other.lo[dim] {
            (self, other)
        } else {
            (other, self)
        };
        let side = low.side(dim);
        if self.level[dim] == 0 || u64::from(low.lo[dim]) % (2 * side) != 0 {
            return None;
        }
        if u64::from(low.lo[dim]) + side != u64::from(high.lo[dim]) {
            return None;
        }
        let mut z = *low;
        z.level[dim] -= 1;
        Some(z)
    }

    pub(crate) fn overlaps(&self, o: &Zone, i: usize) -> bool {
        u64::from(self.lo[i]) < o.hi(i) && u64::from(o.lo[i]) < self.hi(i)
    }

    pub(crate) fn touches(&self, o: &Zone, i: usize) -> bool {
        self.hi(i) % SPACE == u64::from(o.lo[i]) || o.hi(i) % SPACE == u64::from(self.lo[i])
    }

    /// True if the zones share a (d−1)-dimensional face on the torus: they overlap in all
    /// dimensions but one, and touch in that one.
    pub fn abuts(&self, o: &Zone, d: usize) -> bool {
        let mut touching = 0;
        for i in 0..d.min(MAX_DIMS) {
            if self.overlaps(o, i) {
                continue;
            }
            if self.touches(o, i) {
                touching += 1;
            } else {
                return false;
            }
        }
        touching == 1
    }

    /// Squared Euclidean distance from `p` to the nearest point of the zone, on the torus.
    ///
    /// Computed modulo `2^32` per dimension, so it is total: a zone that wraps past `2^32`
    /// (invalid, see the [invariant](Zone#invariant)) is measured as the wrapped box.
    /// Each term is below `2^64` and there are at most [`MAX_DIMS`] of them, so the sum
    /// fits a `u128`.
    pub fn distance2(&self, p: &Point, d: usize) -> u128 {
        (0..d.min(MAX_DIMS))
            .map(|i| {
                // offset of p from lo going up the ring, in 0..2^32
                let offset = u64::from(p[i].wrapping_sub(self.lo[i]));
                let side = self.side(i);
                let dist = if offset < side {
                    0
                } else {
                    // offset in side..2^32: both terms lie in 1..2^32
                    let below = SPACE - offset; // p up to lo
                    let above = offset - (side - 1); // lo + side - 1 up to p
                    below.min(above)
                };
                u128::from(dist) * u128::from(dist)
            })
            .sum()
    }
}

/// The point of a key: `d` coordinates hashed from it.
pub fn point_of(key: u64) -> Point {
    let mut p = [0u32; MAX_DIMS];
    for (i, c) in p.iter_mut().enumerate() {
        let mut z = key.wrapping_add((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        *c = (z ^ (z >> 31)) as u32;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_merge_abut() {
        let (a, b) = Zone::WHOLE.split(2).expect("halves");
        assert_eq!(a.merge(&b, 2), Some(Zone::WHOLE));
        assert!(a.abuts(&b, 2));
        let (c, e) = a.split(2).expect("quarters");
        assert_eq!((c.level[1], e.lo[1]), (1, 1 << 31));
        assert!(c.abuts(&e, 2) && c.abuts(&b, 2) && e.abuts(&b, 2));
        assert_eq!(c.merge(&b, 2), None);
        assert_eq!(c.volume_exponent(2), 2);
        let p = [5, (1 << 31) + 3, 0, 0, 0, 0, 0, 0];
        assert!(e.contains(&p, 2) && !c.contains(&p, 2));
        assert_eq!(e.distance2(&p, 2), 0);
        assert!(c.distance2(&p, 2) > 0);
    }
}
