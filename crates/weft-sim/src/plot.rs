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
    /// How much the line stands out among the others.
    pub emphasis: Emphasis,
}

/// How much a line stands out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Emphasis {
    /// A line of its own: 2 px, markers on measured lines.
    #[default]
    Normal,
    /// In the background (one of several runs behind a summary line): 1 px, pale, no markers.
    Faint,
    /// The summary line: 3 px with markers.
    Strong,
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
    /// Top of a linear y axis, when the data's few outliers would flatten the rest: points
    /// above it are drawn on it, and those of a non-faint line labelled with their value.
    pub y_max: Option<f64>,
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
    // x: the data's own range, a little inside the frame (no axis running on past it)
    let x = if chart.log_x {
        (x0 / 1.2, x1 * 1.2)
    } else {
        let margin = ((x1 - x0) * 0.03).max(0.5);
        (x0 - margin, x1 + margin)
    };
    let y = match chart.y_max {
        Some(top) if !chart.log_y => (pad(y0, y1.min(top), false).0, top),
        _ => pad(y0, y1, chart.log_y),
    };
    Some((x, y))
}

/// Width of the legend strip right of the plotting area, in pixels: the legend never
/// covers a data point.
const LEGEND_W: u32 = 230;

/// A tick label for a logarithmic axis: powers of ten as `10⁰`, `10¹`, `10³`, all alike,
/// nothing elsewhere (the intermediate ticks stay as marks), so labels never run together.
fn log_label(v: &f64) -> String {
    if *v <= 0.0 {
        return String::new();
    }
    let e = v.log10();
    if (e - e.round()).abs() > 1e-9 {
        return String::new();
    }
    let e = e.round() as i32;
    const SUP: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let digits: String = e
        .unsigned_abs()
        .to_string()
        .chars()
        .filter_map(|c| c.to_digit(10).map(|d| SUP[d as usize]))
        .collect();
    format!("10{}{digits}", if e < 0 { "⁻" } else { "" })
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
        // the strong (summary) line first, then the others in order
        let mut entries: Vec<(String, Series)> = chart
            .series
            .iter()
            .map(|s| (s.name.clone(), s.clone()))
            .collect();
        entries.sort_by_key(|(_, s)| s.emphasis != Emphasis::Strong);
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
        let entries: Vec<(String, Series)> = legend
            .iter()
            .map(|(name, dashed)| {
                let sample = Series {
                    name: name.clone(),
                    points: Vec::new(),
                    dashed: *dashed,
                    colour: 7,
                    emphasis: Emphasis::Normal,
                };
                (name.clone(), sample)
            })
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

/// How `s` is drawn: its stroke, and its markers' radius (0: none; dashed lines have none).
fn line_style(s: &Series) -> (ShapeStyle, u32) {
    let colour = PALETTE[s.colour % PALETTE.len()];
    match s.emphasis {
        Emphasis::Normal => (colour.stroke_width(2), if s.dashed { 0 } else { 4 }),
        Emphasis::Faint => (colour.mix(0.45).stroke_width(1), 0),
        Emphasis::Strong => (BLACK.stroke_width(3), if s.dashed { 0 } else { 4 }),
    }
}

/// Draws legend entries top-down in `area`: a line sample as its series is drawn (dashed,
/// faint, strong, or solid with a marker) and the name.
fn draw_legend<'a>(
    area: &Area<'a>,
    entries: &[(String, Series)],
    top: i32,
) -> Result<(), Box<dyn std::error::Error + 'a>> {
    for (i, (name, sample)) in entries.iter().enumerate() {
        let y = top + 24 * i as i32;
        let (x0, x1) = (10, 46);
        let (style, marker) = line_style(sample);
        if sample.dashed {
            // the same 6-on, 4-off pattern as the chart's dashed lines
            let mut x = x0;
            while x < x1 {
                area.draw(&PathElement::new(vec![(x, y), ((x + 6).min(x1), y)], style))?;
                x += 10;
            }
        } else {
            area.draw(&PathElement::new(vec![(x0, y), (x1, y)], style))?;
            if marker > 0 {
                area.draw(&Circle::new(
                    ((x0 + x1) / 2, y),
                    marker,
                    style.color.filled(),
                ))?;
            }
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
    let y_fmt = if chart.log_y { log_label } else { linear_label };
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
    // faint lines first, so the others are drawn over them
    let mut order: Vec<&Series> = chart.series.iter().collect();
    order.sort_by_key(|s| s.emphasis != Emphasis::Faint);
    for s in order {
        let (style, marker) = line_style(s);
        let top = chart
            .y_max
            .filter(|_| !chart.log_y)
            .unwrap_or(f64::INFINITY);
        let pts: Vec<(f64, f64)> = s.points.iter().map(|&(x, y)| (x, y.min(top))).collect();
        if s.dashed {
            ctx.draw_series(DashedLineSeries::new(pts, 6, 4, style))?;
        } else {
            ctx.draw_series(LineSeries::new(pts.clone(), style))?;
            if marker > 0 {
                ctx.draw_series(
                    pts.iter()
                        .map(|&p| Circle::new(p, marker, style.color.filled())),
                )?;
            }
        }
        if s.emphasis != Emphasis::Faint {
            // points off the top: their value beside the mark on the edge
            let off = s.points.iter().filter(|(_, y)| *y > top);
            let font = ("sans-serif", 12).into_font().color(&style.color);
            ctx.draw_series(off.map(|&(x, y)| {
                EmptyElement::at((x, top))
                    + Text::new(
                        format!("{} ↑", linear_label(&y.round())),
                        (8, 4),
                        font.clone(),
                    )
            }))?;
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
        // all powers alike: never "10", "100" then "10³" on one axis
        assert_eq!(log_label(&1.0), "10⁰");
        assert_eq!(log_label(&10.0), "10¹");
        assert_eq!(log_label(&100.0), "10²");
        assert_eq!(log_label(&2000.0), "");
        assert_eq!(log_label(&20.0), "");
        assert_eq!(log_label(&0.001), "10⁻³");
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
            y_max: None,
            series: vec![
                Series {
                    name: "chord".into(),
                    points: vec![(1e3, 5.0), (1e4, 6.6)],
                    dashed: false,
                    colour: 0,
                    emphasis: Emphasis::Normal,
                },
                Series {
                    name: "chord expected".into(),
                    points: vec![(1e3, 4.98), (1e4, 6.64)],
                    dashed: true,
                    colour: 0,
                    emphasis: Emphasis::Normal,
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
