//! The `directory` preset: the central directory's server state and load against users.
//!
//! One run per size (default 1,000, 10,000 and 100,000 nodes: the server and its clients,
//! each sharing 10 items). Each record adds the server's figures (see
//! [`crate::algos::directory`]): `server_state` next to `expected_server_state`,
//! `server_items`, `server_clients`, `server_messages_in`, `server_scanned_per_query`; and
//! `messages_per_query` (constant: 2).

use std::collections::BTreeMap;

use indicatif::ProgressBar;

use crate::cli::Plan;
use crate::presets::PresetRuns;
use crate::report::RunRecord;

/// Runs the preset.
pub fn run(plan: &Plan, progress: &ProgressBar) -> anyhow::Result<PresetRuns> {
    let mut runs = Vec::new();
    for n in plan.sizes_or(&[1000, 10_000, 100_000]) {
        let cfg = plan.config("directory", n);
        progress.set_message(format!("directory N={n}"));
        progress.set_length(cfg.lookups as u64);
        progress.set_position(0);
        let r = crate::algos::run_named("directory", &cfg, progress)?;
        let mut rec = RunRecord::from_result(&r);
        rec.extra
            .insert("messages_per_query".into(), rec.mean_messages.into());
        runs.push(rec);
    }
    Ok(PresetRuns {
        runs,
        extra: BTreeMap::new(),
    })
}
