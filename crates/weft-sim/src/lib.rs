//! weft's discrete-event simulator: runs the `weft-overlay` engines — the very code the node
//! runs — at up to a million peers, and reports what they measure next to what the literature
//! expects.
//!
//! (Full guide below; see [`cli::SimArgs`] for the command line and the JSON fields.)

pub mod algorithm;
pub mod algos;
pub mod churn;
pub mod cli;
pub mod experiment;
pub mod memory;
pub mod network;
pub mod plot;
pub mod presets;
pub mod queue;
pub mod report;
pub mod simulation;
pub mod trace;
pub mod workload;
