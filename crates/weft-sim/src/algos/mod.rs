//! The adapters: one [`crate::algorithm::Algorithm`] per engine of `weft-overlay`, plus the
//! simulator's own successor-only [`ring`] baseline, and the dispatch from a name to a run.

use indicatif::ProgressBar;

use crate::experiment::{self, RunConfig, RunResult};

pub mod kademlia;
pub mod ring;

/// Every algorithm name `--algo` accepts.
pub const ALL: &[&str] = &[
    "chord",
    "can",
    "pastry",
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
    !matches!(algo, "ring")
}

/// Runs `algo` under `cfg`.
///
/// # Errors
///
/// An unknown name, or an algorithm whose engine is not available in this build.
pub fn run_named(algo: &str, cfg: &RunConfig, progress: &ProgressBar) -> anyhow::Result<RunResult> {
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
        "kademlia" => Ok(experiment::run(
            &kademlia::KademliaAlgo::new(cfg.seed),
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
