//! Topologies for simulations of the flood engine, and a builder that wires engines to them.
//!
//! Adjacency lists are symmetric (`b` in `adj[a]` iff `a` in `adj[b]`), without self-loops or
//! repeated edges, and built from a seed, so the same seed gives the same graph.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Config, Flood, Role};

/// A complete tree: node 0 is the root, node `i` has children `i * fanout + 1 ..= i * fanout +
/// fanout`, down to `depth` levels below the root. With `fanout` 2 every node passes a query
/// on to two others, the paper's example (TTL 7 gives 2^7 = 128 receipts at the last hop).
pub fn tree(depth: u32, fanout: u32) -> Vec<Vec<u32>> {
    let fanout = fanout.max(1);
    let mut n: u64 = 0;
    let mut level: u64 = 1;
    for _ in 0..=depth {
        n += level;
        level *= u64::from(fanout);
    }
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    let mut adj = vec![Vec::new(); n as usize];
    for child in 1..n {
        let parent = (child - 1) / fanout;
        adj[parent as usize].push(child);
        adj[child as usize].push(parent);
    }
    adj
}

/// A random graph where every node has about `degree` neighbours (the configuration model:
/// `degree` stubs per node, paired at random; self-loops and repeated edges are dropped, so a
/// few nodes end with one or two fewer).
pub fn random_graph(n: u32, degree: u32, seed: u64) -> Vec<Vec<u32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stubs: Vec<u32> = (0..n)
        .flat_map(|i| std::iter::repeat_n(i, degree as usize))
        .collect();
    stubs.shuffle(&mut rng);
    let mut adj = vec![Vec::new(); n as usize];
    for pair in stubs.chunks_exact(2) {
        let (a, b) = (pair[0], pair[1]);
        if a != b && !adj[a as usize].contains(&b) {
            adj[a as usize].push(b);
            adj[b as usize].push(a);
        }
    }
    for l in &mut adj {
        l.sort_unstable();
    }
    adj
}

/// A two-tier network: the first `ultrapeers` nodes are ultrapeers joined by
/// [`random_graph`] of `ultrapeer_degree`; every other node is a leaf connected to
/// `leaf_links` distinct random ultrapeers. Returns each node's role and the adjacency.
pub fn two_tier(
    n: u32,
    ultrapeers: u32,
    ultrapeer_degree: u32,
    leaf_links: u32,
    seed: u64,
) -> (Vec<Role>, Vec<Vec<u32>>) {
    let ups = ultrapeers.clamp(1, n.max(1));
    let mut adj = random_graph(ups, ultrapeer_degree, seed);
    adj.resize(n as usize, Vec::new());
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_1eaf);
    let links = leaf_links.clamp(1, ups);
    for leaf in ups..n {
        let mut chosen: Vec<u32> = Vec::with_capacity(links as usize);
        while chosen.len() < links as usize {
            let u = rng.random_range(0..ups);
            if !chosen.contains(&u) {
                chosen.push(u);
            }
        }
        for u in chosen {
            adj[leaf as usize].push(u);
            adj[u as usize].push(leaf);
        }
    }
    let roles = (0..n)
        .map(|i| if i < ups { Role::Ultrapeer } else { Role::Leaf })
        .collect();
    (roles, adj)
}

/// One engine per node of `adj`, named by index, each with its role from `roles` (or
/// `config.role` when `roles` is empty) and its neighbours added with their roles. Node `i`'s
/// seed is derived from `seed` and `i`.
pub fn build(adj: &[Vec<u32>], roles: &[Role], config: &Config, seed: u64) -> Vec<Flood<u32>> {
    let role_of = |i: usize| roles.get(i).copied().unwrap_or(config.role);
    let mut config = config.clone();
    config.max_neighbors = config
        .max_neighbors
        .max(adj.iter().map(Vec::len).max().unwrap_or(0));
    (0..adj.len())
        .map(|i| {
            let cfg = Config {
                role: role_of(i),
                ..config.clone()
            };
            let mut e = Flood::new(i as u32, cfg, crate::kit::node_seed(seed, i as u64));
            for &j in &adj[i] {
                e.add_neighbor(j, role_of(j as usize));
            }
            e
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symmetric(adj: &[Vec<u32>]) -> bool {
        adj.iter().enumerate().all(|(a, l)| {
            l.iter()
                .all(|b| adj[*b as usize].contains(&(a as u32)) && *b != a as u32)
        })
    }

    #[test]
    fn shapes() {
        let t = tree(7, 2);
        assert_eq!(t.len(), 255);
        assert!(symmetric(&t));
        assert_eq!(t[0].len(), 2);
        assert_eq!(t[1].len(), 3);
        let g = random_graph(1000, 4, 1);
        assert!(symmetric(&g));
        let mean = g.iter().map(Vec::len).sum::<usize>() as f64 / 1000.0;
        assert!(mean > 3.8 && mean <= 4.0, "{mean}");
        assert_eq!(g, random_graph(1000, 4, 1));
        let (roles, adj) = two_tier(500, 50, 6, 3, 2);
        assert!(symmetric(&adj));
        assert_eq!(roles.iter().filter(|r| **r == Role::Ultrapeer).count(), 50);
        assert!(
            adj[100..]
                .iter()
                .all(|l| l.len() == 3 && l.iter().all(|u| *u < 50))
        );
    }
}
