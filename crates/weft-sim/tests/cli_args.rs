//! `weft sim` arguments: validation errors and the JSON shape, through `SimArgs` as the `weft`
//! binary passes them.

#![allow(clippy::unwrap_used, reason = "tests unwrap what they set up")]

mod support;

use support::args;

use weft_sim::cli::execute;

fn error_of(line: &[&str]) -> String {
    let e = execute(&args(line)).unwrap_err().to_string();
    assert_eq!(e.lines().count(), 1, "one line: {e}");
    e
}

#[test]
fn bad_input_gets_one_clear_line() {
    assert!(error_of(&["--nodes", "0"]).contains("--nodes"));
    assert!(error_of(&["--algo", "chrod"]).contains("unknown algorithm \"chrod\""));
    assert!(error_of(&["--preset", "table3", "--algo", "chord"]).contains("cannot be combined"));
    assert!(error_of(&["--preset", "nope"]).contains("unknown preset"));
    assert!(error_of(&["--latency", "lognormal:x:1"]).contains("--latency"));
    assert!(error_of(&["--latency", "uniform:50:10"]).contains("--latency"));
    assert!(error_of(&["--loss", "1.5"]).contains("--loss"));
    assert!(error_of(&["--churn=-1"]).contains("--churn"));
    assert!(error_of(&["--lookups", "0"]).contains("--lookups"));
    assert!(error_of(&["--build", "converged", "--churn", "1"]).contains("--churn"));
    assert!(error_of(&["--pastry-b", "9"]).contains("--pastry-b"));
    assert!(error_of(&["--can-d", "0"]).contains("--can-d"));
    assert!(error_of(&["--kad-k", "0"]).contains("--kad-k"));
    assert!(error_of(&["--kad-k", "4", "--kad-alpha", "5"]).contains("--kad-alpha"));
    assert!(error_of(&["--leave", "politely"]).contains("--leave"));
    assert!(error_of(&["--window", "0"]).contains("--window"));
}

#[test]
fn json_report_has_the_documented_fields() {
    let line = args(&[
        "--algo",
        "ring",
        "--nodes",
        "50,100",
        "--lookups",
        "200",
        "--seed",
        "9",
    ]);
    let report = execute(&line).unwrap();
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["seed"], 9);
    assert_eq!(v["trace_hash"].as_str().unwrap().len(), 64);
    let runs = v["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for key in [
        "algo",
        "nodes",
        "lookups",
        "success_rate",
        "mean_hops",
        "p50_hops",
        "p99_hops",
        "expected_hops",
        "mean_messages",
        "mean_state",
        "expected_state",
        "mean_latency_ms",
        "events",
        "wall_s",
        "peak_mb",
        "peak_source",
        "label",
        "answered_rate",
        "correct",
        "wrong",
        "oracle",
        "departed_in_window",
        "joined_in_window",
        "window_s",
        "hops_gap",
    ] {
        assert!(runs[0].get(key).is_some(), "missing {key}");
    }
    assert_eq!(runs[1]["nodes"], 100);
    assert_eq!(runs[1]["lookups"], 200);
    assert_eq!(runs[1]["success_rate"], 1.0);
    assert_eq!(runs[1]["correct"], 200);
    assert_eq!(runs[1]["oracle"], true);
    // Same arguments, same trace.
    let again = execute(&line).unwrap();
    assert_eq!(again.trace_hash, report.trace_hash);
    // Human table shows measured and expected side by side.
    let table = report.table();
    assert!(table.contains("expect"));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("ring") && l.contains("49.50")),
        "{table}"
    );
}

#[test]
fn plot_writes_svg_charts() {
    let dir = std::env::temp_dir().join(format!("weft-sim-cli-plot-{}", std::process::id()));
    let report = execute(&args(&[
        "--algo",
        "ring",
        "--nodes",
        "20,40",
        "--lookups",
        "50",
    ]))
    .unwrap();
    let files = weft_sim::presets::plot(&dir, &report).unwrap();
    assert!(files.iter().any(|f| f.ends_with("hops.svg")));
    for f in &files {
        assert!(std::fs::read_to_string(f).unwrap().contains("<svg"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
