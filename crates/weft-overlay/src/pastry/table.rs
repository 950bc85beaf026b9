//! Pastry's routing state: routing table, leaf set, neighbourhood set.

use super::Node;

/// Shared digits of two positions, in digits of `b` bits.
pub(crate) fn shared_digits(a: u64, b: u64, bits: u32) -> u32 {
    (a ^ b).leading_zeros() / bits
}

/// Digit `l` (0 = most significant) of `x`.
pub(crate) fn digit(x: u64, l: u32, bits: u32) -> usize {
    ((x >> (64 - (l + 1) * bits)) & ((1u64 << bits) - 1)) as usize
}

/// Circular distance between positions.
pub(crate) fn ring_distance(a: u64, b: u64) -> u64 {
    a.wrapping_sub(b).min(b.wrapping_sub(a))
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The fake proximity metric: L1 distance between hashed points of the plane.
pub fn proximity(a: u64, b: u64) -> u64 {
    let (ha, hb) = (mix(a), mix(b));
    let (ax, ay) = (ha as u32, (ha >> 32) as u32);
    let (bx, by) = (hb as u32, (hb >> 32) as u32);
    u64::from(ax.abs_diff(bx)) + u64::from(ay.abs_diff(by))
}

/// The three tables of one node.
#[derive(Clone, Debug)]
pub(crate) struct State<A> {
    pub(crate) me: Node<A>,
    bits: u32,
    half_leaves: usize,
    neighbourhood: usize,
    /// Rows of `2^b` slots, as many rows as populated; an empty slot holds `me`.
    pub(crate) rows: Vec<Node<A>>,
    /// Counter-clockwise leaves, nearest first.
    pub(crate) ccw: Vec<Node<A>>,
    /// Clockwise leaves, nearest first.
    pub(crate) cw: Vec<Node<A>>,
    /// Proximity-closest nodes, closest first.
    pub(crate) near: Vec<Node<A>>,
}

impl<A: Copy + Ord> State<A> {
    pub(crate) fn new(me: Node<A>, bits: u32, leaf_set: usize, neighbourhood: usize) -> Self {
        State {
            me,
            bits,
            half_leaves: leaf_set / 2,
            neighbourhood,
            rows: Vec::new(),
            ccw: Vec::new(),
            cw: Vec::new(),
            near: Vec::new(),
        }
    }

    fn width(&self) -> usize {
        1 << self.bits
    }

    pub(crate) fn slot(&self, row: u32, col: usize) -> Option<Node<A>> {
        let n = *self.rows.get(row as usize * self.width() + col)?;
        (n.id != self.me.id).then_some(n)
    }

    /// Sets a routing-table slot, growing the table by whole rows.
    pub(crate) fn set_slot(&mut self, row: u32, col: usize, n: Node<A>) {
        let at = row as usize * self.width() + col;
        if at >= self.rows.len() {
            let len = (row as usize + 1) * self.width();
            self.rows.resize(len, self.me);
        }
        self.rows[at] = n;
    }

    /// Considers `n` for every table.
    pub(crate) fn learn(&mut self, n: Node<A>) {
        if n.id == self.me.id {
            return;
        }
        let l = shared_digits(n.id, self.me.id, self.bits);
        // Ids that share every whole digit (b not dividing 64) differ only below the last
        // digit: no routing-table slot, the leaf set holds them.
        if l < 64 / self.bits {
            let c = digit(n.id, l, self.bits);
            match self.slot(l, c) {
                Some(cur) if cur.id == n.id => self.set_slot(l, c, n),
                Some(cur) if proximity(cur.id, self.me.id) <= proximity(n.id, self.me.id) => {}
                _ => self.set_slot(l, c, n),
            }
        }
        let me = self.me.id;
        insert_sorted(&mut self.cw, n, self.half_leaves, |x| x.id.wrapping_sub(me));
        insert_sorted(&mut self.ccw, n, self.half_leaves, |x| {
            me.wrapping_sub(x.id)
        });
        insert_sorted(&mut self.near, n, self.neighbourhood, |x| {
            proximity(x.id, me)
        });
    }

    /// Considers `n` for the neighbourhood set only.
    pub(crate) fn learn_near(&mut self, n: Node<A>) {
        let me = self.me.id;
        if n.id != me {
            insert_sorted(&mut self.near, n, self.neighbourhood, |x| {
                proximity(x.id, me)
            });
        }
    }

    /// Removes `id` from every table.
    pub(crate) fn forget(&mut self, id: u64) {
        let me = self.me;
        for s in &mut self.rows {
            if s.id == id {
                *s = me;
            }
        }
        self.cw.retain(|n| n.id != id);
        self.ccw.retain(|n| n.id != id);
        self.near.retain(|n| n.id != id);
    }

    /// True if the leaf set holds every node there is: it is not full on some side, or
    /// its two sides meet on the far side of the ring (fewer than `L + 1` nodes, so the
    /// farthest clockwise leaf is at or past the farthest counter-clockwise one). The
    /// range test of [`State::leaf_for`] is only meaningful when neither holds: with
    /// wrapped sides its `lo..=hi` arc would run the wrong way and exclude the keys right
    /// next to `me`.
    fn leaves_cover_all(&self) -> bool {
        let (Some(far_cw), Some(far_ccw)) = (self.cw.last(), self.ccw.last()) else {
            return true;
        };
        let me = self.me.id;
        self.cw.len() < self.half_leaves
            || self.ccw.len() < self.half_leaves
            || far_cw.id.wrapping_sub(me) >= far_ccw.id.wrapping_sub(me)
    }

    /// The leaf (or `me`) numerically closest to `key`, if `key` is in the leaf range.
    pub(crate) fn leaf_for(&self, key: u64) -> Option<Node<A>> {
        let in_range = self.leaves_cover_all() || {
            let lo = self.ccw.last().map_or(self.me.id, |n| n.id);
            let hi = self.cw.last().map_or(self.me.id, |n| n.id);
            key.wrapping_sub(lo) <= hi.wrapping_sub(lo)
        };
        if !in_range {
            return None;
        }
        std::iter::once(&self.me)
            .chain(self.cw.iter())
            .chain(self.ccw.iter())
            .min_by_key(|n| (ring_distance(n.id, key), n.id))
            .copied()
    }

    /// Every distinct node known, for a joiner or for the rare routing case.
    pub(crate) fn all(&self) -> Vec<Node<A>> {
        let mut v: Vec<Node<A>> = self
            .rows
            .iter()
            .chain(self.cw.iter())
            .chain(self.ccw.iter())
            .chain(self.near.iter())
            .filter(|n| n.id != self.me.id)
            .copied()
            .collect();
        v.sort_unstable();
        v.dedup_by_key(|n| n.id);
        v
    }

    pub(crate) fn leaves(&self) -> Vec<Node<A>> {
        let mut v: Vec<Node<A>> = self.cw.iter().chain(self.ccw.iter()).copied().collect();
        v.sort_unstable();
        v.dedup_by_key(|n| n.id);
        v
    }
}

fn insert_sorted<A: Copy>(
    v: &mut Vec<Node<A>>,
    n: Node<A>,
    cap: usize,
    key: impl Fn(&Node<A>) -> u64,
) {
    if let Some(i) = v.iter().position(|x| x.id == n.id) {
        v[i] = n;
        return;
    }
    let k = key(&n);
    let at = v.partition_point(|x| key(x) < k);
    if at < cap {
        v.insert(at, n);
        v.truncate(cap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_and_distances() {
        assert_eq!(digit(0xABCD_0000_0000_0000, 0, 4), 0xA);
        assert_eq!(digit(0xABCD_0000_0000_0000, 3, 4), 0xD);
        assert_eq!(shared_digits(0xAB00 << 48, 0xAC00 << 48, 4), 1);
        assert_eq!(ring_distance(1, u64::MAX), 2);
        assert_eq!(proximity(5, 5), 0);
    }

    #[test]
    fn leaf_sets_keep_the_closest_on_each_side() {
        let me = Node {
            id: 1000u64,
            addr: 0u32,
        };
        let mut s = State::new(me, 4, 4, 2);
        for id in [900u64, 990, 1010, 1100, 980, 1001, 5000] {
            s.learn(Node {
                id,
                addr: id as u32,
            });
        }
        let cw: Vec<u64> = s.cw.iter().map(|n| n.id).collect();
        let ccw: Vec<u64> = s.ccw.iter().map(|n| n.id).collect();
        assert_eq!(cw, vec![1001, 1010]);
        assert_eq!(ccw, vec![990, 980]);
        assert_eq!(s.leaf_for(1004).map(|n| n.id), Some(1001));
        assert_eq!(s.leaf_for(1_000_000), None);
        s.forget(1001);
        assert_eq!(s.leaf_for(1004).map(|n| n.id), Some(1000));
        assert_eq!(s.near.len(), 2);
    }

    fn state_with(me: u64, half: usize, others: &[u64]) -> State<u32> {
        let mut s = State::new(Node { id: me, addr: 0u32 }, 4, 2 * half, 2);
        for &id in others {
            s.learn(Node {
                id,
                addr: id as u32,
            });
        }
        s
    }

    /// Regression (proptest seed 3575176663115422172, n = 9, L = 16): with at most `L`
    /// other nodes both sides of the leaf set are full and wrap round the ring to meet.
    /// The `ccw.last()..=cw.last()` range then ran the long way round, away from `me`,
    /// so keys between `me` and its direct neighbours were "out of range" and went to
    /// prefix routing, which delivered them to a node that was not the closest.
    #[test]
    fn wrapped_leaf_sides_cover_the_whole_ring() {
        // three others, two leaves a side: 3000 is on both sides
        let s = state_with(1000, 2, &[2000, 3000, 4000]);
        assert_eq!(s.cw.iter().map(|n| n.id).collect::<Vec<_>>(), [2000, 3000]);
        assert_eq!(s.ccw.iter().map(|n| n.id).collect::<Vec<_>>(), [4000, 3000]);
        for (key, owner) in [
            (1000, 1000),
            (1400, 1000),
            (1600, 2000),
            (3400, 3000),
            (3600, 4000),
            (u64::MAX - 5, 1000),
        ] {
            assert_eq!(s.leaf_for(key).map(|n| n.id), Some(owner), "key {key}");
        }
        // four others, two leaves a side: the sides are disjoint yet meet across the
        // gap 3000..4000, which is still out of the leaf range
        let s = state_with(1000, 2, &[2000, 3000, 4000, 5000]);
        assert_eq!(s.leaf_for(1400).map(|n| n.id), Some(1000));
        assert_eq!(s.leaf_for(5400).map(|n| n.id), Some(5000));
        assert_eq!(s.leaf_for(3500), None);
    }
}
