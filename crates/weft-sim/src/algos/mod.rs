//! The adapters: one [`crate::algorithm::Algorithm`] per engine of `weft-overlay`, plus the
//! simulator's own successor-only [`ring`] baseline, and the dispatch from a name to a run.

use indicatif::ProgressBar;
use weft_overlay::QueryId;
use weft_overlay::lookup::LookupEvent;

use crate::algorithm::Outcome;
use crate::experiment::{self, RunConfig, RunResult};
use crate::oracle::Answer;

pub mod can;
pub mod chord;
pub mod directory;
pub mod flood;
pub mod freenet;
pub mod kademlia;
pub mod pastry;
pub mod ring;

/// Every algorithm name `--algo` accepts (`tapestry` is the Pastry engine with Tapestry's
/// suffix routing).
pub const ALL: &[&str] = &[
    "chord",
    "can",
    "pastry",
    "tapestry",
    "kademlia",
    "flood",
    "freenet",
    "directory",
    "ring",
];

/// The algorithms run when `--algo` is not given.
pub const DEFAULT: &[&str] = &["chord", "can", "pastry", "kademlia"];

/// Up to this size, `--build auto` uses the join protocol (when the algorithm has one).
pub const JOIN_LIMIT: usize = 2000;

/// Whether `algo` can build its overlay through its join protocol.
pub fn has_join(algo: &str) -> bool {
    !matches!(algo, "ring" | "flood")
}

/// The parameters the paper varies, one set for a whole invocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Pastry's (and Tapestry's) bits per digit `b`, 1..=8 (4).
    pub pastry_b: u32,
    /// CAN's dimensions `d`, 1..=8 (2).
    pub can_d: usize,
    /// Kademlia's bucket size `k` (20).
    pub kad_k: usize,
    /// Kademlia's lookup parallelism `α` (3).
    pub kad_alpha: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            pastry_b: 4,
            can_d: 2,
            kad_k: 20,
            kad_alpha: 3,
        }
    }
}

/// Runs `algo` under `cfg` with the default [`Params`].
///
/// # Errors
///
/// As [`run_with`].
pub fn run_named(algo: &str, cfg: &RunConfig, progress: &ProgressBar) -> anyhow::Result<RunResult> {
    run_with(algo, &Params::default(), cfg, progress)
}

/// Runs `algo` with `params` under `cfg`.
///
/// # Errors
///
/// An unknown name, or an algorithm whose engine is not available in this build.
pub fn run_with(
    algo: &str,
    params: &Params,
    cfg: &RunConfig,
    progress: &ProgressBar,
) -> anyhow::Result<RunResult> {
    match algo {
        "ring" => {
            if cfg.churn.is_some() {
                anyhow::bail!("--churn: the ring baseline has no join protocol");
            }
            let mut cfg = cfg.clone();
            cfg.build = crate::algorithm::BuildMode::Converged;
            Ok(experiment::run(
                &ring::Ring {
                    n: cfg.nodes as u32,
                },
                &cfg,
                progress,
            ))
        }
        "can" => Ok(experiment::run(
            &can::CanAlgo::for_size(params.can_d, cfg.nodes),
            cfg,
            progress,
        )),
        "chord" => Ok(experiment::run(
            &chord::ChordAlgo::new(cfg.seed),
            cfg,
            progress,
        )),
        "pastry" => Ok(experiment::run(
            &pastry::PastryAlgo::with(cfg.seed, params.pastry_b, false),
            cfg,
            progress,
        )),
        "tapestry" => Ok(experiment::run(
            &pastry::PastryAlgo::with(cfg.seed, params.pastry_b, true),
            cfg,
            progress,
        )),
        "flood" => {
            if cfg.churn.is_some() {
                anyhow::bail!(
                    "--churn: the flood adapter has no join protocol wired (static topologies only)"
                );
            }
            let algo =
                flood::FloodAlgo::new(cfg.nodes, flood::Topology::Flat { degree: 4 }, 7, cfg.seed);
            let mut cfg = cfg.clone();
            cfg.build = crate::algorithm::BuildMode::Converged;
            if cfg.keys == crate::workload::KeyDist::Uniform {
                cfg.keys = crate::workload::KeyDist::Zipf {
                    exponent: 0.0,
                    items: algo.items as usize,
                };
            }
            Ok(experiment::run(&algo, &cfg, progress))
        }
        "directory" => {
            let mut cfg = cfg.clone();
            if cfg.nodes < 2 {
                anyhow::bail!(
                    "--nodes: the directory needs at least 2 nodes (a server and a client)"
                );
            }
            if cfg.churn.is_none() {
                cfg.build = crate::algorithm::BuildMode::Converged;
            }
            Ok(experiment::run(
                &directory::DirectoryAlgo::new(cfg.seed),
                &cfg,
                progress,
            ))
        }
        "freenet" => {
            let algo = freenet::FreenetAlgo::clarke(cfg.seed);
            let mut cfg = cfg.clone();
            if cfg.churn.is_none() {
                cfg.build = crate::algorithm::BuildMode::Converged;
            }
            cfg.settle = cfg.settle.max(std::time::Duration::from_secs(120));
            if cfg.keys == crate::workload::KeyDist::Uniform {
                cfg.keys = crate::workload::KeyDist::Zipf {
                    exponent: 0.0,
                    items: algo.preload as usize,
                };
            }
            Ok(experiment::run(&algo, &cfg, progress))
        }
        "kademlia" => Ok(experiment::run(
            &kademlia::KademliaAlgo::with(cfg.seed, params.kad_k, params.kad_alpha),
            cfg,
            progress,
        )),
        other if ALL.contains(&other) => {
            anyhow::bail!("--algo: {other} is not wired into the simulator yet")
        }
        other => anyhow::bail!(
            "--algo: unknown algorithm {other:?} (known: {})",
            ALL.join(", ")
        ),
    }
}

/// Node `index`'s 64-bit id for algorithm `tag` under `seed`: the first 8 bytes of
/// `BLAKE3(seed ‖ tag ‖ index)`, read big-endian.
pub fn node_id(seed: u64, tag: &str, index: u32) -> u64 {
    let mut h = blake3::Hasher::new();
    h.update(&seed.to_le_bytes());
    h.update(tag.as_bytes());
    h.update(&index.to_le_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.finalize().as_bytes()[..8]);
    u64::from_be_bytes(b)
}

/// The outcome of a recursive lookup (Chord, Pastry, CAN), if `ev` reports one: the node it
/// found, as `addr` names it, after `hops` forwards that cost `messages(hops)` messages.
pub fn lookup_outcome<Ev: LookupEvent>(
    ev: &Ev,
    messages: impl Fn(u32) -> u32,
    addr: impl Fn(&Ev::Found) -> u32,
) -> Option<(QueryId, Outcome)> {
    let f = ev.finished_lookup()?;
    let outcome = match &f.result {
        Ok(found) => Outcome::Success {
            hops: f.hops,
            messages: Some(messages(f.hops)),
            answer: Answer::Node(addr(found)),
        },
        Err(_) => Outcome::Failure,
    };
    Some((f.id, outcome))
}

/// Builds a converged overlay whose constructor takes every node's `(id, address)` sorted by
/// id and returns engines in that order, and puts each engine at its address: node `i` gets
/// id `id_of(i)`. Ids that collide with an earlier one (chance below 10^-7 at 10^6 nodes)
/// are left out of the tables, and their slot gets `alone(i)`.
pub fn converged_by_address<E>(
    n: usize,
    id_of: impl Fn(u32) -> u64,
    build: impl FnOnce(&[(u64, u32)]) -> Vec<E>,
    addr_of: impl Fn(&E) -> u32,
    alone: impl Fn(u32) -> E,
) -> Vec<E> {
    let mut nodes: Vec<(u64, u32)> = (0..n as u32).map(|i| (id_of(i), i)).collect();
    nodes.sort_unstable();
    nodes.dedup_by_key(|(k, _)| *k);
    let mut slots: Vec<Option<E>> = (0..n).map(|_| None).collect();
    for e in build(&nodes) {
        let a = addr_of(&e) as usize;
        if let Some(slot) = slots.get_mut(a) {
            *slot = Some(e);
        }
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(i, s)| s.unwrap_or_else(|| alone(i as u32)))
        .collect()
}
