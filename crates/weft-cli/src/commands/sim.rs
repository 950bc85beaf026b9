//! `weft sim`: the simulator's experiments, run by `weft_sim::cli::execute`, printed here
//! through the checked output.

use weft_sim::cli::SimArgs;

use crate::output::{out, outln};

/// `weft sim`: prints the report's table (or one JSON object) and the plots written.
pub async fn run(args: SimArgs) -> anyhow::Result<()> {
    // The simulator is CPU-bound: run it off the async runtime's worker threads.
    let (args, report) = tokio::task::spawn_blocking(move || {
        let report = weft_sim::cli::execute(&args);
        (args, report)
    })
    .await?;
    let report = report?;
    if args.json {
        outln!("{}", serde_json::to_string(&report)?)?;
    } else {
        out!("{}", report.table())?;
    }
    if let Some(dir) = &args.plot {
        let written = weft_sim::presets::plot(dir, &report)?;
        if !args.json {
            for p in written {
                outln!("wrote {}", p.display())?;
            }
        }
    }
    Ok(())
}
