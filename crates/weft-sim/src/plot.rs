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

/// What one chart file holds: one chart, or a grid of panels with a shared legend of line
/// styles `(name, dashed)`.
#[derive(Clone, Debug, PartialEq)]
pub enum Figure {
    /// One chart with its legend.
    Single(Chart),
    /// Small multiples, each on its own scale.
    Panels {
        /// Title over the grid.
        title: String,
        /// The panels, left to right, top to bottom.
        panels: Vec<Chart>,
        /// The legend: what a solid and a dashed line mean.
        legend: Vec<(String, bool)>,
    },
}

impl Figure {
    /// Whether any line has a point.
    pub fn has_points(&self) -> bool {
        let any = |c: &Chart| c.series.iter().any(|s| !s.points.is_empty());
        match self {
            Figure::Single(c) => any(c),
            Figure::Panels { panels, .. } => panels.iter().any(any),
        }
    }

    /// Writes the figure as an SVG file at `path`.
    ///
    /// # Errors
    ///
    /// As [`write_svg`].
    pub fn write_svg(&self, path: &Path) -> anyhow::Result<()> {
        match self {
            Figure::Single(c) => write_svg(path, c),
            Figure::Panels {
                title,
                panels,
                legend,
            } => write_panels_svg(path, title, panels, legend),
        }
    }
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

/// A chart's `((x0, x1), (y0, y1))` ranges, padded.
type Bounds = ((f64, f64), (f64, f64));

fn bounds(chart: &Chart) -> Option<Bounds> {
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

/// Width of the legend strip right of the plotting area, in pixels: the legend never
/// covers a data point.
const LEGEND_W: u32 = 230;

/// A tick label for a logarithmic axis: powers of ten as `10³`, nothing elsewhere (the
/// intermediate ticks stay as marks), so labels never run together.
fn log_label(v: &f64) -> String {
    if *v <= 0.0 {
        return String::new();
    }
    let e = v.log10();
    if (e - e.round()).abs() > 1e-9 {
        return String::new();
    }
    let e = e.round() as i32;
    if (0..=2).contains(&e) {
        return format!("{}", 10i32.pow(e as u32));
    }
    const SUP: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let digits: String = e
        .unsigned_abs()
        .to_string()
        .chars()
        .filter_map(|c| c.to_digit(10).map(|d| SUP[d as usize]))
        .collect();
    format!("10{}{digits}", if e < 0 { "⁻" } else { "" })
}

/// A tick label for a logarithmic value axis: [`log_label`] plus 2 and 5 times each power
/// of ten below 10^6 (a vertical axis has room for them; a horizontal one does not).
fn log_value_label(v: &f64) -> String {
    let p = log_label(v);
    if !p.is_empty() || *v <= 0.0 || *v >= 1e6 {
        return p;
    }
    let mantissa = v / 10f64.powf(v.log10().floor());
    if [2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-6) {
        linear_label(v)
    } else {
        String::new()
    }
}

/// A tick label for a linear axis: integers without decimals, others with one.
fn linear_label(v: &f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Writes `chart` as an SVG file at `path`: the plot on the left, its legend in a strip on
/// the right, each entry drawn as its line is (solid with a marker, or dashed).
///
/// # Errors
///
/// When the chart has no plottable point, or the file cannot be written.
pub fn write_svg(path: &Path, chart: &Chart) -> anyhow::Result<()> {
    let ((x0, x1), (y0, y1)) =
        bounds(chart).with_context(|| format!("chart {:?} has no points", chart.title))?;
    let root = SVGBackend::new(path, (900 + LEGEND_W, 600)).into_drawing_area();
    let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        let (plot_area, legend_area) = root.split_horizontally(900);
        let title = (chart.title.as_str(), 24);
        draw_any(&plot_area, chart, Some(title), ((x0, x1), (y0, y1)))?;
        let entries: Vec<(String, RGBColor, bool)> = chart
            .series
            .iter()
            .map(|s| (s.name.clone(), PALETTE[s.colour % PALETTE.len()], s.dashed))
            .collect();
        draw_legend(&legend_area, &entries, 70)?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))
}

/// Writes `panels` as one SVG file at `path`: a grid of small charts, each on its own scale
/// (so an algorithm whose figures are ten times the others' does not flatten them), under
/// `title`, with one legend strip on the right for the line styles.
///
/// # Errors
///
/// When no panel has a plottable point, or the file cannot be written.
pub fn write_panels_svg(
    path: &Path,
    title: &str,
    panels: &[Chart],
    legend: &[(String, bool)],
) -> anyhow::Result<()> {
    let panels: Vec<(&Chart, Bounds)> = panels
        .iter()
        .filter_map(|c| bounds(c).map(|b| (c, b)))
        .collect();
    if panels.is_empty() {
        anyhow::bail!("chart {title:?} has no points");
    }
    let cols = panels.len().min(3);
    let rows = panels.len().div_ceil(cols);
    let (w, h) = (330 * cols as u32, 40 + 270 * rows as u32);
    let root = SVGBackend::new(path, (w + LEGEND_W, h)).into_drawing_area();
    let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        let (grid, legend_area) = root.split_horizontally(w);
        let grid = grid.titled(title, ("sans-serif", 24))?;
        for (area, (chart, b)) in grid.split_evenly((rows, cols)).iter().zip(&panels) {
            draw_any(area, chart, Some((chart.title.as_str(), 16)), *b)?;
        }
        let entries: Vec<(String, RGBColor, bool)> = legend
            .iter()
            .map(|(name, dashed)| (name.clone(), RGBColor(60, 60, 60), *dashed))
            .collect();
        draw_legend(&legend_area, &entries, 60)?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("drawing {}: {e}", path.display()))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn draw_any<'a>(
    area: &Area<'a>,
    chart: &Chart,
    caption: Option<(&str, u32)>,
    ((x0, x1), (y0, y1)): Bounds,
) -> Result<(), Box<dyn std::error::Error + 'a>> {
    match (chart.log_x, chart.log_y) {
        (true, true) => draw_on(
            area,
            chart,
            caption,
            (x0..x1).log_scale(),
            (y0..y1).log_scale(),
        ),
        (true, false) => draw_on(area, chart, caption, (x0..x1).log_scale(), y0..y1),
        (false, true) => draw_on(area, chart, caption, x0..x1, (y0..y1).log_scale()),
        (false, false) => draw_on(area, chart, caption, x0..x1, y0..y1),
    }
}

/// Draws legend entries top-down in `area`: a line sample as its series is drawn (dashed,
/// or solid with a marker) and the name.
fn draw_legend<'a>(
    area: &Area<'a>,
    entries: &[(String, RGBColor, bool)],
    top: i32,
) -> Result<(), Box<dyn std::error::Error + 'a>> {
    for (i, (name, colour, dashed)) in entries.iter().enumerate() {
        let y = top + 24 * i as i32;
        let (x0, x1) = (10, 46);
        if *dashed {
            // the same 6-on, 4-off pattern as the chart's dashed lines
            let mut x = x0;
            while x < x1 {
                area.draw(&PathElement::new(
                    vec![(x, y), ((x + 6).min(x1), y)],
                    colour.stroke_width(2),
                ))?;
                x += 10;
            }
        } else {
            area.draw(&PathElement::new(
                vec![(x0, y), (x1, y)],
                colour.stroke_width(2),
            ))?;
            area.draw(&Circle::new(((x0 + x1) / 2, y), 4, colour.filled()))?;
        }
        area.draw(&Text::new(
            name.clone(),
            (x1 + 8, y - 7),
            ("sans-serif", 14).into_font().color(&BLACK),
        ))?;
    }
    Ok(())
}

fn draw_on<'a, X, Y>(
    root: &Area<'a>,
    chart: &Chart,
    caption: Option<(&str, u32)>,
    x: X,
    y: Y,
) -> Result<(), Box<dyn std::error::Error + 'a>>
where
    X: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    Y: plotters::coord::ranged1d::AsRangedCoord<Value = f64>,
    X::CoordDescType: plotters::coord::ranged1d::ValueFormatter<f64>,
    Y::CoordDescType: plotters::coord::ranged1d::ValueFormatter<f64>,
{
    let mut builder = ChartBuilder::on(root);
    if let Some((text, size)) = caption {
        builder.caption(text, ("sans-serif", size));
    }
    let mut ctx = builder
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(x, y)?;
    let x_fmt = if chart.log_x { log_label } else { linear_label };
    let y_fmt = if chart.log_y {
        log_value_label
    } else {
        linear_label
    };
    ctx.configure_mesh()
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .x_labels(if chart.log_x { 12 } else { 8 })
        .y_labels(if chart.log_y { 12 } else { 6 })
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(("sans-serif", 13))
        // no minor grid: on a log axis it packs dozens of lines into the last decade
        .light_line_style(TRANSPARENT)
        .draw()?;
    for s in &chart.series {
        let colour = PALETTE[s.colour % PALETTE.len()];
        let pts: Vec<(f64, f64)> = s.points.clone();
        if s.dashed {
            ctx.draw_series(DashedLineSeries::new(pts, 6, 4, colour.stroke_width(2)))?;
        } else {
            ctx.draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))?;
            ctx.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, colour.filled())))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axis_labels_are_powers_of_ten_only() {
        assert_eq!(log_label(&1000.0), "10³");
        assert_eq!(log_label(&100_000.0), "10⁵");
        assert_eq!(log_label(&100.0), "100");
        assert_eq!(log_label(&2000.0), "");
        assert_eq!(log_label(&0.001), "10⁻³");
        assert_eq!(log_value_label(&20.0), "20");
        assert_eq!(log_value_label(&30.0), "");
    }

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
        // Powers of ten only on the log axis: no run-together 2000, 3000, ... labels.
        assert!(svg.contains("10⁴") && !svg.contains(">2000<"), "{svg}");
        std::fs::remove_dir_all(&dir).unwrap();
        let empty = Chart {
            series: vec![],
            ..chart
        };
        assert!(write_svg(&dir.join("x.svg"), &empty).is_err());
    }
}
