//! The memory figure with the counting allocator the `weft` binary installs: each run's own
//! peak heap, never 0 for a run that built something, even when it reuses heap an earlier
//! run freed (the resident-set figure read 0 for some 10^5-node runs that did).

#![allow(clippy::unwrap_used, reason = "tests unwrap what they set up")]

mod support;

use support::args;

use weft_sim::cli::execute;
use weft_sim::memory::{CountingAlloc, Source};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

#[test]
fn each_run_reports_its_own_peak_heap() {
    // Kademlia, then a ring, then Kademlia again in the heap the first one freed.
    let report = execute(&args(&[
        "--algo",
        "kademlia,ring",
        "--nodes",
        "3000,3000",
        "--lookups",
        "50",
        "--build",
        "converged",
    ]))
    .unwrap();
    let peaks: Vec<(String, f64)> = report
        .runs
        .iter()
        .map(|r| {
            assert_eq!(r.peak_source, Source::Heap, "{}", r.label);
            (r.label.clone(), r.peak_mb.unwrap())
        })
        .collect();
    eprintln!("{peaks:?}");
    let [(_, kad1), (_, ring1), (_, kad2), (_, ring2)] = peaks[..] else {
        panic!("four runs: {peaks:?}");
    };
    assert!(kad1 > 4.0 && ring1 > 0.0 && ring2 > 0.0, "{peaks:?}");
    // The same run in reused heap reads the same (the trace is the same; only the heap's
    // history differs).
    assert!((kad2 / kad1 - 1.0).abs() < 0.05, "{kad1} then {kad2}");
    assert!((ring2 / ring1 - 1.0).abs() < 0.05, "{ring1} then {ring2}");
    assert!(ring1 < kad1 / 2.0);
}
