//! SVG charts with plotters' SVG backend.
//!
//! Only SVG is written: plotters renders PNG through its bitmap backend, which needs a font
//! rasterizer and system fonts; the SVG backend writes `<text>` elements and lets the viewer
//! pick the font, so it works on a machine with no fonts installed.

use std::path::Path;

use anyhow::Context as _;
use plotters::prelude::*;

/// One line on a chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Points `(x, y)`, in x order.
    pub points: Vec<(f64, f64)>,
    /// Dashed (expected figures) rather than solid with markers (measured).
    pub dashed: bool,
    /// Colour index: measured and expected series of one algorithm share it.
    pub colour: usize,
}

/// A chart: axes, labels and series.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    /// Title at the top.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Logarithmic x axis (for node counts).
    pub log_x: bool,
    /// Logarithmic y axis (for exponential growth).
    pub log_y: bool,
    /// The lines.
    pub series: Vec<Series>,
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn bounds(chart: &Chart) -> Option<((f64, f64), (f64, f64))> {
    let pts = chart
        .series
        .iter()
        .flat_map(|s| s.points.iter())
        .filter(|(x, y)| {
            x.is_finite()
                && y.is_finite()
                && (!chart.log_x || *x > 0.0)
                && (!chart.log_y || *y > 0.0)
        });
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    let mut any = false;
    for &(x, y) in pts {
        any = true;
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if !any {
        return None;
    }
    let pad = |lo: f64, hi: f64, log: bool| {
        if log {
            (lo / 1.5, hi * 1.5)
        } else {
            let span = (hi - lo).max(hi.abs() * 0.1).max(1.0);
            (
                if lo >= 0.0 { 0.0 } else { lo - 0.05 * span },
                hi + 0.1 * span,
            )
        }
    };
    Some((pad(x0, x1, chart.log_x), pad(y0, y1, chart.log_y)))
}

/// Writes `chart` as an SVG file at `path`.
///
/// # Errors
///
/// When the chart has no plottable point, or the file cannot be written.
pub fn write_svg(path: &Path, chart: &Chart) -> anyhow::Result<()> {
    let ((x0, x1), (y0, y1)) =
        bounds(chart).with_context(|| format!("chart {:?} has no points", chart.title))?;
    let root = SVGBackend::new(path, (900, 600)).into_drawing_area();
    let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        match (chart.log_x, chart.log_y) {
            (true, true) => draw_on(&root, chart, (x0..x1).log_scale(), (y0..y1).log_scale())?,
            (true, false) => draw_on(&root, chart, (x0..x1).log_scale(), y0..y1)?,
            (false, true) => draw_on(&root, chart, x0..x1, (y0..y1).log_scale())?,
            (false, false) => draw_on(&root, chart, x0..x1, y0..y1)?,
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))
}

fn draw_on<'a, X, Y>(
    root: &DrawingArea<SVGBackend<'a>, plotters::coord::Shift>,
    chart: &Chart,
    x: X,
    y: Y,
) -> Result<(), Box<dyn std::error::Error + 'a>>
where
    X: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    Y: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    X::CoordDescType: plotters::coord::ranged1d::ValueFormatter<f64>,
    Y::CoordDescType: plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let mut ctx = ChartBuilder::on(root)
        .caption(&chart.title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x, y)?;
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .draw()?;
    for s in &chart.series {
        let colour = PALETTE[s.colour % PALETTE.len()];
        let pts: Vec<(f64, f64)> = s.points.clone();
        if s.dashed {
            ctx.draw_series(DashedLineSeries::new(pts, 6, 4, colour.stroke_width(2)))?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(1))
                });
        } else {
            ctx.draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))?
                .label(s.name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
                });
            ctx.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, colour.filled())))?;
        }
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_an_svg_without_system_fonts() {
        let dir = std::env::temp_dir().join(format!("weft-sim-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hops.svg");
        let chart = Chart {
            title: "hops against N".into(),
            x_label: "nodes".into(),
            y_label: "hops".into(),
            log_x: true,
            log_y: false,
            series: vec![
                Series {
                    name: "chord".into(),
                    points: vec![(1e3, 5.0), (1e4, 6.6)],
                    dashed: false,
                    colour: 0,
                },
                Series {
                    name: "chord expected".into(),
                    points: vec![(1e3, 4.98), (1e4, 6.64)],
                    dashed: true,
                    colour: 0,
                },
            ],
        };
        write_svg(&path, &chart).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("chord expected"));
        std::fs::remove_dir_all(&dir).unwrap();
        let empty = Chart {
            series: vec![],
            ..chart
        };
        assert!(write_svg(&dir.join("x.svg"), &empty).is_err());
    }
}
