//! The split tree used to build a converged CAN network quickly: each inner node is a zone
//! halved by [`Zone::split`], each leaf a node's zone.

use super::zone::{Point, Zone};

#[derive(Clone, Copy, Debug)]
enum TNode {
    Leaf(usize),
    Split { low: usize, high: usize },
}

/// A binary space partition mirroring the joins.
#[derive(Debug)]
pub(crate) struct Tree {
    nodes: Vec<TNode>,
}

impl Tree {
    pub(crate) fn new() -> Self {
        Tree {
            nodes: vec![TNode::Leaf(0)],
        }
    }

    /// The tree node holding `p`, with its box.
    fn find(&self, p: &Point, d: usize) -> (usize, Zone) {
        let (mut at, mut b) = (0, Zone::WHOLE);
        loop {
            match self.nodes[at] {
                TNode::Leaf(_) => return (at, b),
                TNode::Split { low, high } => {
                    let Some((lo, hi)) = b.split(d) else {
                        return (at, b);
                    };
                    (at, b) = if lo.contains(p, d) {
                        (low, lo)
                    } else {
                        (high, hi)
                    };
                }
            }
        }
    }

    /// The owner (zone index) of `p`.
    pub(crate) fn owner(&self, p: &Point, d: usize) -> usize {
        match self.nodes[self.find(p, d).0] {
            TNode::Leaf(i) => i,
            TNode::Split { .. } => 0,
        }
    }

    /// Records that the zone of `owner` holding `p` was halved, one half going to `new`.
    pub(crate) fn split(&mut self, p: &Point, d: usize, owner: usize, new: usize, zones: &[Zone]) {
        let (at, b) = self.find(p, d);
        let Some((lo, _)) = b.split(d) else { return };
        let (low_owner, high_owner) = if zones[owner] == lo {
            (owner, new)
        } else {
            (new, owner)
        };
        let low = self.nodes.len();
        self.nodes.push(TNode::Leaf(low_owner));
        self.nodes.push(TNode::Leaf(high_owner));
        self.nodes[at] = TNode::Split { low, high: low + 1 };
    }

    /// Indices of the zones that abut `z`.
    pub(crate) fn neighbours(&self, z: &Zone, d: usize, zones: &[Zone]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = vec![(0usize, Zone::WHOLE)];
        while let Some((at, b)) = stack.pop() {
            if !(0..d).all(|i| b.overlaps(z, i) || b.touches(z, i)) {
                continue;
            }
            match self.nodes[at] {
                TNode::Leaf(i) => {
                    if zones[i].abuts(z, d) {
                        out.push(i);
                    }
                }
                TNode::Split { low, high } => {
                    if let Some((lo, hi)) = b.split(d) {
                        stack.push((low, lo));
                        stack.push((high, hi));
                    }
                }
            }
        }
        out.sort_unstable();
        out
    }
}
