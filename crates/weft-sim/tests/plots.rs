//! The charts a person reads: per-algorithm panels, legends outside the data, dashed where
//! the line is dashed, log-axis labels that do not collide and are written alike, a summary
//! line over faint per-seed lines; each rendered to PNG with `rsvg-convert` (Debian's
//! librsvg2-bin, which `scripts/test` installs). Without it the PNG step fails as root or
//! under `CI` (where scripts/test installs it) and is skipped, with a note, elsewhere.

#![allow(clippy::unwrap_used, reason = "tests unwrap what they set up")]

mod support;

use support::args;

use weft_sim::cli::run_to;

#[test]
fn table3_charts_have_one_panel_per_algorithm_and_render_to_png() {
    let dir = std::env::temp_dir().join(format!("weft-sim-plots-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let args = args(&[
        "--preset",
        "table3",
        "--nodes",
        "100,1000",
        "--lookups",
        "40",
        "--build",
        "converged",
        "--plot",
        dir.to_str().unwrap(),
    ]);
    run_to(&args, &mut Vec::new()).unwrap();
    let svg = std::fs::read_to_string(dir.join("hops.svg")).unwrap();
    let texts = texts(&svg);
    let count = |t: &str| texts.iter().filter(|x| *x == t).count();
    // One panel per run label, each titled, so CAN's long paths get their own scale.
    for label in [
        "chord r=8",
        "can d=2",
        "can d=4",
        "pastry b=3",
        "tapestry b=4",
    ] {
        assert_eq!(count(label), 1, "panel {label}");
    }
    // The legend names both styles once, beside the panels.
    assert_eq!(count("expected (formula)"), 1);
    assert_eq!(count("measured"), 1);
    // Log axis: powers of ten only, never 200 or 2000 between them, all as 10ⁿ.
    assert!(count("10³") >= 9, "{texts:?}");
    assert_eq!(count("200") + count("2000") + count("500"), 0, "{texts:?}");
    assert_eq!(count("100") + count("1000"), 0, "{texts:?}");
    to_png(&dir.join("hops.svg"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The freenet ring: the seeds' lines faint behind their median, a linear axis that stops
/// near the data (the first windows' long paths marked on the edge with their value), the
/// x axis no longer than the requests; the table's rows say which seed.
#[test]
fn freenet_chart_shows_the_median_over_faint_seeds_on_a_linear_axis() {
    let dir = std::env::temp_dir().join(format!("weft-sim-freenet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let args = args(&[
        "--preset",
        "freenet-ring",
        "--nodes",
        "200",
        "--lookups",
        "300",
        "--plot",
        dir.to_str().unwrap(),
    ]);
    let mut out = Vec::new();
    run_to(&args, &mut out).unwrap();
    let table = String::from_utf8(out).unwrap();
    for seed in 1..=5 {
        assert!(table.contains(&format!("freenet seed {seed} ")), "{table}");
    }
    let svg = std::fs::read_to_string(dir.join("freenet-path-length.svg")).unwrap();
    let texts = texts(&svg);
    assert!(texts.iter().any(|t| t == "median of 5 seeds"), "{texts:?}");
    // linear: small whole numbers, no power-of-ten labels
    assert!(
        texts.iter().any(|t| t == "2") && texts.iter().any(|t| t == "4"),
        "{texts:?}"
    );
    let superscript = |t: &str| t.chars().any(|c| "⁰¹²³⁴⁵⁶⁷⁸⁹".contains(c));
    assert!(!texts.iter().any(|t| superscript(t)), "{texts:?}");
    // the x axis ends with the data: no tick beyond the last request (300)
    assert!(!texts.iter().any(|t| t == "350" || t == "400"), "{texts:?}");
    // faint seed lines: a pale stroke, 1 px
    assert!(
        svg.contains("opacity=\"0.45\" stroke=\"#1F77B4\" stroke-width=\"1\""),
        "no faint line"
    );
    to_png(&dir.join("freenet-path-length.svg"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Gnutella: the log axis's labels all written as 10ⁿ (it mixed "10", "100" and "10³").
#[test]
fn gnutella_chart_labels_powers_of_ten_alike() {
    let dir = std::env::temp_dir().join(format!("weft-sim-gnutella-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let args = args(&[
        "--preset",
        "gnutella",
        "--nodes",
        "2000",
        "--lookups",
        "20",
        "--plot",
        dir.to_str().unwrap(),
    ]);
    run_to(&args, &mut Vec::new()).unwrap();
    let svg = std::fs::read_to_string(dir.join("flood-messages.svg")).unwrap();
    let texts = texts(&svg);
    assert!(texts.iter().any(|t| t == "10²"), "{texts:?}");
    assert!(!texts.iter().any(|t| t == "10" || t == "100"), "{texts:?}");
    to_png(&dir.join("flood-messages.svg"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Renders `svg` to a PNG beside it and checks the PNG; see the module docs for when a
/// missing `rsvg-convert` fails the test.
fn to_png(svg: &std::path::Path) {
    let png = svg.with_extension("png");
    match std::process::Command::new("rsvg-convert")
        .arg("-o")
        .arg(&png)
        .arg(svg)
        .status()
    {
        Ok(status) => {
            assert!(status.success(), "rsvg-convert failed on {}", svg.display());
            let bytes = std::fs::read(&png).unwrap();
            assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000);
        }
        Err(e) => {
            let root = std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    == Some("0")
            });
            assert!(
                !root && std::env::var_os("CI").is_none(),
                "rsvg-convert not run ({e}): as root or in CI it must be installed (scripts/test installs librsvg2-bin)"
            );
            eprintln!("note: rsvg-convert not run ({e}): SVG checked, PNG not rendered");
        }
    }
}

/// The text of every `<text>` element, trimmed.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}
