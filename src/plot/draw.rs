//! A [`Chart`] drawn with `plotters` on any of its backends: SVG into a string, or a bitmap
//! (the command line picks the backend and writes the file). Subplots are stacked and share
//! the time axis; each has its own y-axis on the left and, when asked for, a second one on
//! the right; a legend names every series; value-table labels replace numbers on the axis of
//! an enumeration.

use plotters::chart::DualCoordChartContext;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Axis, Chart, Mark, PlotError};
use crate::time::{Timestamp, UtcTime};

/// A number for an axis: few digits, no trailing zeros, exponent for the very large or small.
pub fn number(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        return format!("{v:.2e}");
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// A value-table label where `v` is (close to) one of the table's values, else the number.
fn label_or_number(v: f64, labels: Option<&[(f64, String)]>) -> String {
    if let Some(labels) = labels
        && let Some((_, l)) = labels.iter().find(|(k, _)| (k - v).abs() < 1e-9)
    {
        return l.clone();
    }
    number(v)
}

/// The x-axis title: seconds from the first frame, with its UTC time when the capture is on
/// the Unix time line (after 2001).
pub fn time_title(start: Timestamp) -> String {
    if start.secs() >= 1_000_000_000 {
        format!("seconds from {}", UtcTime::of(start))
    } else {
        "seconds from the first frame".to_string()
    }
}

fn fail<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// `root` painted white, less the title's band when there is one.
fn canvas<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: Option<&str>,
) -> Result<DrawingArea<DB, Shift>, PlotError> {
    root.fill(&WHITE).map_err(fail)?;
    match title {
        Some(t) => root.titled(t, ("sans-serif", 20)).map_err(fail),
        None => Ok(root.clone()),
    }
}

/// Draws `chart` on `root` (`title` above it).
pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &Chart,
    title: Option<&str>,
) -> Result<(), PlotError> {
    let area = canvas(root, title)?;
    let panels = chart.panels.len().max(1);
    let areas = area.split_evenly((panels, 1));
    let (x0, mut x1) = chart.span;
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let mut colour_index = 0usize;
    // Every panel keeps room for a right axis if one has it, so the time axes line up.
    let any_second = chart.panels.iter().any(|p| !p.axes[1].series.is_empty());
    for (i, (panel, area)) in chart.panels.iter().zip(areas.iter()).enumerate() {
        let last = i + 1 == chart.panels.len();
        let second = !panel.axes[1].series.is_empty();
        let (y0, y1) = panel.axes[0].range().unwrap_or((0.0, 1.0));
        let (z0, z1) = panel.axes[1].range().unwrap_or((0.0, 1.0));
        let mut builder = ChartBuilder::on(area);
        builder
            .margin(8)
            .x_label_area_size(if last { 40 } else { 22 })
            .y_label_area_size(70);
        if any_second {
            builder.right_y_label_area_size(70);
        }
        let mut c = builder
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(fail)?
            .set_secondary_coord(x0..x1, z0..z1);
        let labels0 = panel.axes[0].labels();
        let format0 = |v: &f64| label_or_number(*v, labels0);
        let format_x = |v: &f64| number(*v);
        let title0 = panel.axes[0].title();
        let time = time_title(chart.start);
        let mut mesh = c.configure_mesh();
        mesh.y_desc(title0.as_str())
            .y_label_formatter(&format0)
            .x_label_formatter(&format_x)
            .light_line_style(WHITE.mix(0.0));
        if let Some(l) = labels0 {
            mesh.y_labels(l.len().clamp(2, 12));
        }
        if last {
            mesh.x_desc(time.as_str());
        }
        mesh.draw().map_err(fail)?;
        draw_marks(&mut c, &chart.marks, (y0, y1), i == 0)?;
        if second {
            let labels1 = panel.axes[1].labels();
            let format1 = |v: &f64| label_or_number(*v, labels1);
            let title1 = panel.axes[1].title();
            c.configure_secondary_axes()
                .y_desc(title1.as_str())
                .y_label_formatter(&format1)
                .draw()
                .map_err(fail)?;
        }
        for (axis_index, axis) in panel.axes.iter().enumerate() {
            draw_axis(&mut c, axis, axis_index == 1, second, &mut colour_index)?;
        }
        c.configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(fail)?;
    }
    root.present().map_err(fail)
}

type Cartesian =
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>;

/// Rows of mark labels at most.
const MARK_ROWS: usize = 6;

/// The marks as light bands (red for a failure) with a line where each begins; their labels
/// on the top panel.
fn draw_marks<DB: DrawingBackend>(
    c: &mut DualCoordChartContext<'_, DB, Cartesian, Cartesian>,
    marks: &[Mark],
    (y0, y1): (f64, f64),
    labelled: bool,
) -> Result<(), PlotError> {
    // Labels go in rows, each in the first row where it does not overlap the one before
    // (about 7 pixels a character), and never past the right edge.
    let (x0, x1) = {
        let r = c.x_range();
        (r.start, r.end)
    };
    let width_px = c.plotting_area().dim_in_pixel().0.max(1) as f64;
    let per_char = (x1 - x0) * 7.0 / width_px;
    let mut row_ends: Vec<f64> = Vec::new();
    for (k, m) in marks.iter().enumerate() {
        let band = if m.failed {
            RED.mix(0.15)
        } else if k % 2 == 0 {
            BLUE.mix(0.05)
        } else {
            BLUE.mix(0.10)
        };
        c.draw_series(std::iter::once(Rectangle::new(
            [(m.from, y0), (m.to, y1)],
            band.filled(),
        )))
        .map_err(fail)?;
        c.draw_series(std::iter::once(PathElement::new(
            vec![(m.from, y0), (m.from, y1)],
            BLACK.mix(0.3),
        )))
        .map_err(fail)?;
        if labelled {
            let colour = if m.failed { RED } else { BLACK };
            let width = per_char * m.label.chars().count() as f64;
            let x = m.from.min(x1 - width).max(x0);
            let row = match row_ends.iter().position(|&end| end < x) {
                Some(r) => r,
                None if row_ends.len() < MARK_ROWS => {
                    row_ends.push(f64::NEG_INFINITY);
                    row_ends.len() - 1
                }
                None => k % MARK_ROWS,
            };
            row_ends[row] = x + width + per_char;
            c.draw_series(std::iter::once(Text::new(
                m.label.clone(),
                (x, y1 - (y1 - y0) * 0.07 * row as f64),
                ("sans-serif", 12).into_font().color(&colour),
            )))
            .map_err(fail)?;
        }
    }
    Ok(())
}

fn draw_axis<DB: DrawingBackend>(
    c: &mut DualCoordChartContext<'_, DB, Cartesian, Cartesian>,
    axis: &Axis,
    secondary: bool,
    has_second: bool,
    colour_index: &mut usize,
) -> Result<(), PlotError> {
    for s in &axis.series {
        let colour = Palette99::pick(*colour_index).to_rgba();
        *colour_index += 1;
        let name = if has_second {
            format!("{} ({})", s.name, if secondary { "right" } else { "left" })
        } else {
            s.name.clone()
        };
        let mut labelled = false;
        for seg in &s.segments {
            let style = ShapeStyle::from(colour).stroke_width(1);
            let anno = match (seg.len(), secondary) {
                (1, false) => c.draw_series(seg.iter().map(|&p| Circle::new(p, 2, style.filled()))),
                (1, true) => {
                    c.draw_secondary_series(seg.iter().map(|&p| Circle::new(p, 2, style.filled())))
                }
                (_, false) => c.draw_series(LineSeries::new(seg.iter().copied(), style)),
                (_, true) => c.draw_secondary_series(LineSeries::new(seg.iter().copied(), style)),
            }
            .map_err(fail)?;
            if !labelled {
                labelled = true;
                anno.label(name.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour));
            }
        }
    }
    Ok(())
}

/// Seconds from `a` to `b` (0 when `b` is earlier).
fn secs(a: Timestamp, b: Timestamp) -> f64 {
    b.saturating_duration_since(a).as_secs_f64()
}

/// Draws the watcher's lanes: per node, green while watched and present, red while lost;
/// grey where the watch was not armed (nothing judged).
pub fn draw_lanes<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    lanes: &super::nodes::Lanes,
    title: Option<&str>,
) -> Result<(), PlotError> {
    let area = canvas(root, title)?;
    let n = lanes.names.len().max(1);
    let x1 = secs(lanes.start, lanes.end).max(1e-3);
    let mut c = ChartBuilder::on(&area)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(10)
        .build_cartesian_2d(0.0..x1, 0.0..n as f64)
        .map_err(fail)?;
    let format_x = |v: &f64| number(*v);
    let time = time_title(lanes.start);
    c.configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_label_formatter(&format_x)
        .x_desc(time.as_str())
        .draw()
        .map_err(fail)?;
    let grey = RGBColor(225, 225, 225);
    let green = RGBColor(60, 170, 90);
    let red = RGBColor(215, 50, 40);
    // Lane i is drawn from the top.
    let band = |i: usize| ((n - 1 - i) as f64 + 0.15, (n - 1 - i) as f64 + 0.85);
    // (x0, x1, y0, y1, kind): 0 not armed, 1 watched, 2 lost.
    let mut bars: Vec<(f64, f64, f64, f64, usize)> = Vec::new();
    for i in 0..lanes.names.len() {
        let (y0, y1) = band(i);
        bars.push((0.0, x1, y0, y1, 0));
        for &(a, b) in &lanes.armed {
            bars.push((secs(lanes.start, a), secs(lanes.start, b), y0, y1, 1));
        }
        for &(a, b) in lanes.lost.get(i).map_or(&[][..], Vec::as_slice) {
            bars.push((secs(lanes.start, a), secs(lanes.start, b), y0, y1, 2));
        }
    }
    for (kind, (name, colour)) in [
        ("not armed", grey),
        ("watched, present", green),
        ("lost", red),
    ]
    .into_iter()
    .enumerate()
    {
        let rects = bars
            .iter()
            .filter(|b| b.4 == kind)
            .map(|&(a, b, y0, y1, _)| Rectangle::new([(a, y0), (b, y1)], colour.filled()));
        c.draw_series(rects)
            .map_err(fail)?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour.filled()));
    }
    let font = ("sans-serif", 14).into_font().color(&BLACK);
    c.draw_series(lanes.names.iter().enumerate().map(|(i, name)| {
        let (y0, y1) = band(i);
        Text::new(name.clone(), (x1 * 0.005, (y0 + y1) / 2.0), font.clone())
    }))
    .map_err(fail)?;
    c.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(fail)?;
    root.present().map_err(fail)
}
