//! Workloads: which keys lookups ask for.
//!
//! Keys come from a catalogue of items; item `i`'s key is `BLAKE3(seed ‖ "item" ‖ i)`, so the
//! catalogue is fixed by the seed. Uniform keys draw fresh random 256-bit keys (every lookup a
//! different key); Zipf draws item `i` (0-based rank) with probability ∝ `1/(i+1)^s`, the
//! popularity law measured for file-sharing queries.

use rand::Rng;
use weft_core::id::Key256;

/// How lookup keys are drawn.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub enum KeyDist {
    /// A fresh uniformly random key per lookup.
    Uniform,
    /// Items of a catalogue with Zipf popularity.
    Zipf {
        /// Exponent `s` (around 0.8–1.0 for file sharing).
        exponent: f64,
        /// Number of items in the catalogue.
        items: usize,
    },
}

/// The key of catalogue item `index` under `seed`.
pub fn item_key(seed: u64, index: u64) -> Key256 {
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_le_bytes());
    h.update(b"item");
    h.update(&index.to_le_bytes());
    Key256(*h.finalize().as_bytes())
}

/// Draws lookup keys.
pub struct Workload {
    seed: u64,
    dist: KeyDist,
    /// Cumulative Zipf weights, normalised to end at 1 (empty for uniform).
    cdf: Vec<f64>,
}

/// One drawn key, and its catalogue item when it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Draw {
    /// The key to look up.
    pub key: Key256,
    /// The catalogue index, for catalogue workloads.
    pub item: Option<u64>,
}

impl Workload {
    /// A workload over `dist` for `seed`.
    pub fn new(seed: u64, dist: KeyDist) -> Self {
        let cdf = match dist {
            KeyDist::Uniform => Vec::new(),
            KeyDist::Zipf { exponent, items } => {
                let mut acc = 0.0;
                let mut cdf: Vec<f64> = (0..items.max(1))
                    .map(|i| {
                        acc += 1.0 / ((i + 1) as f64).powf(exponent);
                        acc
                    })
                    .collect();
                for c in &mut cdf {
                    *c /= acc;
                }
                cdf
            }
        };
        Workload { seed, dist, cdf }
    }

    /// The key distribution.
    pub fn dist(&self) -> KeyDist {
        self.dist
    }

    /// Draws the next key.
    pub fn next(&self, rng: &mut impl Rng) -> Draw {
        match self.dist {
            KeyDist::Uniform => Draw {
                key: Key256(rng.random()),
                item: None,
            },
            KeyDist::Zipf { .. } => {
                let u: f64 = rng.random();
                let i = self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1) as u64;
                Draw {
                    key: item_key(self.seed, i),
                    item: Some(i),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn zipf_rank_frequencies_follow_the_law() {
        let w = Workload::new(
            1,
            KeyDist::Zipf {
                exponent: 1.0,
                items: 100,
            },
        );
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut counts = [0u32; 100];
        for _ in 0..100_000 {
            let d = w.next(&mut rng);
            counts[d.item.unwrap() as usize] += 1;
        }
        // rank 1 is twice as popular as rank 2 and ten times rank 10
        let r12 = f64::from(counts[0]) / f64::from(counts[1]);
        let r110 = f64::from(counts[0]) / f64::from(counts[9]);
        assert!((r12 - 2.0).abs() < 0.15, "{r12}");
        assert!((r110 - 10.0).abs() < 1.5, "{r110}");
    }

    #[test]
    fn same_seed_same_keys_and_items_differ() {
        let w = Workload::new(5, KeyDist::Uniform);
        let a: Vec<_> = (0..10)
            .map({
                let mut rng = ChaCha8Rng::seed_from_u64(2);
                move |_| w.next(&mut rng).key
            })
            .collect();
        let w = Workload::new(5, KeyDist::Uniform);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let b: Vec<_> = (0..10).map(|_| w.next(&mut rng).key).collect();
        assert_eq!(a, b);
        assert_ne!(item_key(5, 0), item_key(5, 1));
        assert_ne!(item_key(5, 0), item_key(6, 0));
    }
}
