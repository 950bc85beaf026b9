//! `weft sim` without the rest of the `weft` binary:
//! `cargo run --release -p weft-sim --example sim -- --algo kademlia --nodes 10000`.

use clap::Parser;

/// Counts heap bytes so each run reports its own peak (`weft_sim::memory`).
#[global_allocator]
static ALLOC: weft_sim::memory::CountingAlloc = weft_sim::memory::CountingAlloc;

/// Runs the weft simulator.
#[derive(Parser)]
#[command(name = "weft-sim")]
struct Cli {
    #[command(flatten)]
    sim: weft_sim::cli::SimArgs,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = weft_sim::cli::run(cli.sim) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
