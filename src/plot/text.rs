//! A [`Chart`] as text for a terminal, with ratatui's chart widget (Braille dots): one block
//! per subplot, stacked; a second y-axis becomes a block of its own (a terminal chart has one
//! y-axis). Rendered into a buffer and returned as lines, so it prints like any other output
//! and can be tested.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::{
    Axis as TuiAxis, Block, Borders, Chart as TuiChart, Dataset, GraphType, Widget,
};

use super::draw::{number, time_title};
use super::{Axis, Chart};

const COLOURS: [Color; 6] = [
    Color::Cyan,
    Color::Yellow,
    Color::Magenta,
    Color::Green,
    Color::Red,
    Color::Blue,
];

/// The chart as `height` lines of `width` columns (plain text when `colour` is false).
pub fn render(chart: &Chart, width: u16, height: u16, colour: bool) -> String {
    let width = width.max(20);
    let blocks: Vec<&Axis> = chart
        .panels
        .iter()
        .flat_map(|p| p.axes.iter().filter(|a| !a.series.is_empty()))
        .collect();
    let height = height.max(6 * blocks.len().max(1) as u16);
    let area = Rect::new(0, 0, width, height);
    let mut buf = Buffer::empty(area);
    let rows = Layout::vertical(vec![
        Constraint::Ratio(1, blocks.len().max(1) as u32);
        blocks.len().max(1)
    ])
    .split(area);
    let (x0, mut x1) = chart.span;
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let mut colour_index = 0;
    for (axis, row) in blocks.iter().zip(rows.iter()) {
        let points: Vec<Vec<(f64, f64)>> = axis
            .series
            .iter()
            .map(|s| s.segments.iter().flatten().copied().collect())
            .collect();
        let mut datasets = Vec::new();
        for (s, pts) in axis.series.iter().zip(&points) {
            let style = if colour {
                Style::default().fg(COLOURS[colour_index % COLOURS.len()])
            } else {
                Style::default()
            };
            colour_index += 1;
            datasets.push(
                Dataset::default()
                    .name(s.name.clone())
                    .marker(Marker::Braille)
                    .graph_type(GraphType::Scatter)
                    .style(style)
                    .data(pts),
            );
        }
        let (y0, y1) = axis.range().unwrap_or((0.0, 1.0));
        // ratatui spreads labels evenly from bottom to top: a value table is shown as labels
        // only when its values are evenly spaced and the data stay within them.
        let table = axis.labels().and_then(|l| {
            let mut l = l.to_vec();
            l.sort_by(|a, b| a.0.total_cmp(&b.0));
            let step = l.get(1)?.0 - l.first()?.0;
            let even = l.windows(2).all(|w| (w[1].0 - w[0].0 - step).abs() < 1e-9);
            let (d0, d1) = axis.data_range()?;
            let (lo, hi) = (l.first()?.0, l.last()?.0);
            (even && l.len() <= 8 && d0 >= lo && d1 <= hi).then_some((l, lo, hi))
        });
        let (y_labels, y_bounds): (Vec<Span>, [f64; 2]) = match table {
            Some((l, lo, hi)) => (l.into_iter().map(|(_, t)| Span::raw(t)).collect(), [lo, hi]),
            None => (
                vec![
                    Span::raw(number(y0)),
                    Span::raw(number((y0 + y1) / 2.0)),
                    Span::raw(number(y1)),
                ],
                [y0, y1],
            ),
        };
        let widget = TuiChart::new(datasets)
            .block(Block::default().borders(Borders::ALL).title(axis.title()))
            .x_axis(
                TuiAxis::default()
                    .title(time_title(chart.start))
                    .bounds([x0, x1])
                    .labels(vec![
                        Span::raw(number(x0)),
                        Span::raw(number((x0 + x1) / 2.0)),
                        Span::raw(number(x1)),
                    ]),
            )
            .y_axis(TuiAxis::default().bounds(y_bounds).labels(y_labels));
        widget.render(*row, &mut buf);
    }
    let mut out = String::new();
    for y in 0..height {
        let mut line = String::new();
        for x in 0..width {
            if let Some(cell) = buf.cell((x, y)) {
                if colour && cell.fg != Color::Reset {
                    line.push_str(&ansi(cell.fg));
                    line.push_str(cell.symbol());
                    line.push_str("\u{1b}[0m");
                } else {
                    line.push_str(cell.symbol());
                }
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn ansi(c: Color) -> String {
    let n = match c {
        Color::Red => 31,
        Color::Green => 32,
        Color::Yellow => 33,
        Color::Blue => 34,
        Color::Magenta => 35,
        Color::Cyan => 36,
        _ => 39,
    };
    format!("\u{1b}[{n}m")
}

/// The watcher's lanes as text: one row per node over `width` columns, `#` watched and
/// present, `X` lost, `.` not armed (a column shows the worst of its time slice).
pub fn render_lanes(lanes: &super::nodes::Lanes, width: u16) -> String {
    let name_width = lanes
        .names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(4)
        .min(24);
    let cols = usize::from(width).saturating_sub(name_width + 3).max(10);
    let span = lanes
        .end
        .saturating_duration_since(lanes.start)
        .as_secs_f64()
        .max(1e-9);
    let slice = |c: usize| {
        let a = span * c as f64 / cols as f64;
        (a, a + span / cols as f64)
    };
    let rel = |t: crate::time::Timestamp| t.saturating_duration_since(lanes.start).as_secs_f64();
    let overlaps = |list: &[(crate::time::Timestamp, crate::time::Timestamp)],
                    (a, b): (f64, f64)| {
        list.iter().any(|&(x, y)| rel(x) < b && rel(y) >= a)
    };
    let mut out = String::new();
    for (i, name) in lanes.names.iter().enumerate() {
        let lost = lanes.lost.get(i).map_or(&[][..], Vec::as_slice);
        let row: String = (0..cols)
            .map(|c| {
                let s = slice(c);
                if overlaps(lost, s) {
                    'X'
                } else if overlaps(&lanes.armed, s) {
                    '#'
                } else {
                    '.'
                }
            })
            .collect();
        let name: String = name.chars().take(name_width).collect();
        out.push_str(&format!("{name:<name_width$} |{row}|\n"));
    }
    out.push_str(&format!(
        "{:<name_width$}  0 s{:>w$}\n",
        "",
        format!("{} s", number(span)),
        w = cols.saturating_sub(2)
    ));
    out.push_str(&format!(
        "{:<name_width$}  # watched, present   X lost   . not armed (nothing judged); {}\n",
        "",
        time_title(lanes.start)
    ));
    out
}

/// The marks (a run's steps) as lines under a text chart: span and label, `FAILED` on a
/// failure. Empty when there is none.
pub fn render_marks(marks: &[super::Mark]) -> String {
    let mut out = String::new();
    for m in marks {
        out.push_str(&format!(
            "{:>9} .. {:>9} s  {}{}\n",
            number(m.from),
            number(m.to),
            m.label,
            if m.failed { "  FAILED" } else { "" }
        ));
    }
    out
}
