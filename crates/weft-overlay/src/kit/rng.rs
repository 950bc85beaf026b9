//! The node's seeded randomness.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Everything random a node draws comes from here: a ChaCha8 generator keyed by the node's
/// seed, one fresh stream per [`draw`](NodeRng::draw), so a draw never depends on how many
/// numbers an earlier one used. Ids that must be unique rather than uniform (a flood GUID, a
/// request id another node sees) come from [`unique`](NodeRng::unique): a keyed hash of the
/// seed, a counter and a tag.
///
/// The driver derives the seed from its run seed and the node (the simulator from its
/// `--seed`, the node from its key); engines add a salt of their own ([`NodeRng::salted`]) so
/// two protocols on one node draw differently. Nothing here reads ambient randomness.
#[derive(Clone, Debug)]
pub struct NodeRng {
    seed: u64,
    stream: u64,
}

impl NodeRng {
    /// The randomness of the node with this seed.
    pub fn new(seed: u64) -> Self {
        NodeRng { seed, stream: 0 }
    }

    /// [`NodeRng::new`] of `seed ^ salt`.
    pub fn salted(seed: u64, salt: u64) -> Self {
        Self::new(seed ^ salt)
    }

    /// The seed it was built from (salt included).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A generator for one draw (or one batch of draws): the next stream of the seed.
    pub fn draw(&mut self) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(self.stream);
        self.stream = self.stream.wrapping_add(1);
        rng
    }

    /// 16 bytes unique to (seed, `counter`, `tag`): the first half of
    /// BLAKE3(seed ‖ counter ‖ tag), little-endian integers.
    pub fn unique(&self, counter: u64, tag: &[u8; 8]) -> [u8; 16] {
        let mut input = [0u8; 24];
        input[..8].copy_from_slice(&self.seed.to_le_bytes());
        input[8..16].copy_from_slice(&counter.to_le_bytes());
        input[16..].copy_from_slice(tag);
        let h = blake3::hash(&input);
        let mut out = [0u8; 16];
        out.copy_from_slice(&h.as_bytes()[..16]);
        out
    }
}

/// The seed of node `node` in a run seeded with `run_seed`: the run seed mixed with the node's
/// index (times the 64-bit golden ratio, so that neighbouring indices differ in many bits).
/// Builders of whole networks and the simulator's joiners derive each node's seed this way.
pub fn node_seed(run_seed: u64, node: u64) -> u64 {
    run_seed ^ node.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;

    #[test]
    fn draws_are_seeded_and_distinct() {
        let mut a = NodeRng::new(7);
        let mut b = NodeRng::salted(3, 4);
        let first: u64 = a.draw().random();
        assert_eq!(first, b.draw().random::<u64>(), "same seed, same stream");
        assert_ne!(
            first,
            a.draw().random::<u64>(),
            "the next draw is a new stream"
        );
        // stream 0 is what a generator seeded the plain way gives
        assert_eq!(first, ChaCha8Rng::seed_from_u64(7).random::<u64>());
        assert_ne!(a.unique(1, b"testtest"), a.unique(2, b"testtest"));
        assert_ne!(a.unique(1, b"testtest"), a.unique(1, b"othertag"));
        assert_eq!(node_seed(5, 0), 5);
        assert_ne!(node_seed(5, 1), node_seed(5, 2));
    }
}
