//! The oracle: the truth about who owns a key, from the global view only the simulator has.
//!
//! An engine's "found" says only that its lookup ended with an answer. The runner checks
//! every answer against the truth ([`crate::algorithm::Algorithm::check`]): Chord's successor
//! of the key, Pastry's numerically closest node, Kademlia's `k` closest by XOR, CAN's owner
//! of the key's point, among the nodes live when the answer arrives. Under churn the truth
//! can change while a lookup runs (one of the `k` closest leaves, a closer node joins), so an
//! answer that was the truth when the lookup started counts as correct too
//! ([`crate::algorithm::Algorithm::truth_now`]). [`Truth`] is
//! the index those checks read: every live node's position on the id circle, kept by the runner
//! as nodes join and leave.

use std::collections::BTreeMap;

/// What a lookup answered, as the adapter read it from the engine's event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// One node (the key's owner or closest node).
    Node(u32),
    /// Several nodes, closest first (Kademlia's closest peers).
    Nodes(Vec<u32>),
    /// The content itself (Freenet's data).
    Content(Vec<u8>),
    /// An answer the oracle does not judge (the algorithm has no oracle).
    Unjudged,
}

/// The oracle's verdict on one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The answer is the truth.
    Correct,
    /// The answer is not the truth.
    Wrong,
    /// The algorithm has no oracle; the engine's word is all there is.
    Unchecked,
}

impl Answer {
    /// Whether two answers name the same truth: the same node, the same content, or the same
    /// set of nodes in any order.
    pub fn same_as(&self, other: &Answer) -> bool {
        match (self, other) {
            (Answer::Nodes(a), Answer::Nodes(b)) => {
                let (mut a, mut b) = (a.clone(), b.clone());
                a.sort_unstable();
                b.sort_unstable();
                a == b
            }
            (Answer::Unjudged, _) | (_, Answer::Unjudged) => false,
            (a, b) => a == b,
        }
    }
}

impl Verdict {
    /// `Correct` when `ok`, else `Wrong`.
    pub fn of(ok: bool) -> Self {
        if ok { Verdict::Correct } else { Verdict::Wrong }
    }
}

/// Every live node's 64-bit position with its index, for the ring and XOR oracles.
#[derive(Clone, Debug, Default)]
pub struct Truth {
    by_position: BTreeMap<u64, u32>,
}

impl Truth {
    /// Node `index` is live at `position`. A position taken already (a 64-bit collision)
    /// keeps its first holder, as the converged builders do.
    pub fn insert(&mut self, position: u64, index: u32) {
        self.by_position.entry(position).or_insert(index);
    }

    /// Node `index` at `position` left.
    pub fn remove(&mut self, position: u64, index: u32) {
        if self.by_position.get(&position) == Some(&index) {
            self.by_position.remove(&position);
        }
    }

    /// Live nodes indexed.
    pub fn len(&self) -> usize {
        self.by_position.len()
    }

    /// Whether no node is indexed.
    pub fn is_empty(&self) -> bool {
        self.by_position.is_empty()
    }

    /// Chord's owner: the first node at or after `key` clockwise.
    pub fn successor(&self, key: u64) -> Option<u32> {
        self.by_position
            .range(key..)
            .next()
            .or_else(|| self.by_position.iter().next())
            .map(|(_, &i)| i)
    }

    /// Pastry's owner: the node numerically closest to `key` on the circle, ties to the
    /// smaller position (as the engine breaks them).
    pub fn closest_on_ring(&self, key: u64) -> Option<u32> {
        let after = self
            .by_position
            .range(key..)
            .next()
            .or_else(|| self.by_position.iter().next());
        let before = self
            .by_position
            .range(..key)
            .next_back()
            .or_else(|| self.by_position.iter().next_back());
        let dist = |p: u64| p.wrapping_sub(key).min(key.wrapping_sub(p));
        [after, before]
            .into_iter()
            .flatten()
            .min_by_key(|(p, _)| (dist(**p), **p))
            .map(|(_, &i)| i)
    }

    /// Kademlia's truth: the `k` nodes closest to `key` by XOR, closest first, leaving out
    /// `exclude` (the origin, which a lookup does not return).
    pub fn xor_closest(&self, key: u64, k: usize, exclude: u32) -> Vec<u32> {
        if k == 0 || self.by_position.is_empty() {
            return Vec::new();
        }
        // The k closest lie in the smallest aligned block around `key` that holds k + 1
        // nodes (the origin may be one of them): every node outside it differs from `key`
        // in a higher bit than any node inside.
        let block = |prefix: u32| -> (u64, u64) {
            if prefix == 0 {
                (0, u64::MAX)
            } else {
                let mask = !0u64 << (64 - prefix);
                (key & mask, (key & mask) | !mask)
            }
        };
        let holds = |prefix: u32| {
            let (lo, hi) = block(prefix);
            self.by_position.range(lo..=hi).take(k + 1).count() > k
        };
        // Largest prefix whose block still holds k + 1 nodes (prefix 0 is the whole space).
        let (mut lo, mut hi) = (0u32, 64u32);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if holds(mid) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let (a, b) = block(lo);
        let mut near: Vec<(u64, u32)> = self
            .by_position
            .range(a..=b)
            .filter(|(_, i)| **i != exclude)
            .map(|(p, i)| (p ^ key, *i))
            .collect();
        near.sort_unstable();
        near.into_iter().take(k).map(|(_, i)| i).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn truth(positions: &[u64]) -> Truth {
        let mut t = Truth::default();
        for (i, p) in positions.iter().enumerate() {
            t.insert(*p, i as u32);
        }
        t
    }

    #[test]
    fn ring_owners_wrap_around() {
        let t = truth(&[10, 100, 1000]);
        assert_eq!(t.successor(10), Some(0));
        assert_eq!(t.successor(11), Some(1));
        assert_eq!(t.successor(1001), Some(0));
        assert_eq!(t.closest_on_ring(54), Some(0));
        assert_eq!(t.closest_on_ring(56), Some(1));
        assert_eq!(
            t.closest_on_ring(55),
            Some(0),
            "tie to the smaller position"
        );
        assert_eq!(t.closest_on_ring(u64::MAX), Some(0));
        let mut t = t;
        t.remove(10, 0);
        assert_eq!(t.successor(1001), Some(1));
    }

    #[test]
    fn xor_closest_matches_a_full_sort() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for n in [1usize, 5, 21, 300] {
            let positions: Vec<u64> = (0..n).map(|_| rng.random()).collect();
            let t = truth(&positions);
            for _ in 0..50 {
                let key: u64 = rng.random();
                let exclude = rng.random_range(0..n as u32);
                let mut all: Vec<(u64, u32)> = positions
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i as u32 != exclude)
                    .map(|(i, p)| (p ^ key, i as u32))
                    .collect();
                all.sort_unstable();
                let want: Vec<u32> = all.iter().take(20).map(|(_, i)| *i).collect();
                assert_eq!(t.xor_closest(key, 20, exclude), want, "n={n}");
            }
        }
    }
}
