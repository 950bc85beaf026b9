//! The charts a person reads: per-algorithm panels, legends outside the data, dashed where
//! the line is dashed, and log-axis labels that do not collide; rendered to PNG where
//! `rsvg-convert` (Debian's librsvg2-bin) is installed.

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
    // Log axis: powers of ten only, never 200 or 2000 between them.
    assert!(count("10³") >= 9, "{texts:?}");
    assert_eq!(count("200") + count("2000") + count("500"), 0, "{texts:?}");
    match std::process::Command::new("rsvg-convert")
        .arg("-o")
        .arg(dir.join("hops.png"))
        .arg(dir.join("hops.svg"))
        .status()
    {
        Ok(status) => {
            assert!(status.success(), "rsvg-convert failed");
            let png = std::fs::read(dir.join("hops.png")).unwrap();
            assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
        }
        Err(e) => eprintln!("rsvg-convert not run ({e}): SVG checked, PNG not rendered"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
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
