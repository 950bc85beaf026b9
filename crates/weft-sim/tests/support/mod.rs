//! What the simulator's integration tests share: `weft sim` arguments parsed as the `weft`
//! binary parses them.

use clap::Parser;
use weft_sim::cli::SimArgs;

#[derive(Parser)]
struct Weft {
    #[command(flatten)]
    sim: SimArgs,
}

/// `weft sim LINE...` as `SimArgs`.
///
/// # Panics
/// If clap refuses the line (a test's own typo).
pub fn args(line: &[&str]) -> SimArgs {
    let mut argv = vec!["weft-sim"];
    argv.extend_from_slice(line);
    match Weft::try_parse_from(argv) {
        Ok(w) => w.sim,
        Err(e) => panic!("weft sim {line:?}: {e}"),
    }
}
