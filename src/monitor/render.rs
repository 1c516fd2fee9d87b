//! Drawing a [`Screen`] with ratatui: a title line, the message table (states in colour: green
//! ok, yellow late, red lost; recently changed bytes highlighted), the node panel with recent
//! loss events, a status bar with bus statistics, and the key line (or the filter being typed).
//!
//! Pure: it draws into whatever buffer the `Frame` belongs to (a terminal, or ratatui's
//! `TestBackend` in tests); it does no I/O itself.

use core::fmt::Write as _;
use core::time::Duration;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Clear, Paragraph, Row, Table};

use super::State;
use super::view::{Screen, ViewState};

/// Width of the node panel beside the table.
const NODE_PANEL: u16 = 34;
/// Below this terminal width the node panel goes under the table, which keeps the full width.
const SIDE_PANEL_MIN_WIDTH: u16 = 120;

/// The keys, as shown by `?`.
pub const HELP: &[&str] = &[
    "q, Esc      quit",
    "/           filter by a regular expression over message,",
    "            signal names and ids (Enter apply, Esc cancel;",
    "            an empty filter shows everything)",
    "space       pause or resume the display (counting goes on)",
    "r           reset counters and statistics",
    "s           cycle the sort: id, name, rate, count, state",
    "Up/Down     scroll one row; PgUp/PgDn one page; Home/End",
    "Enter       expand the first row shown: every signal",
    "?           this help",
];

fn state_style(state: State) -> Style {
    match state {
        State::Ok => Style::new().fg(Color::Green),
        State::Late => Style::new().fg(Color::Yellow),
        State::Lost => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        State::Waiting => Style::new().fg(Color::Cyan),
        State::Unknown => Style::new(),
    }
}

fn ms(d: Option<Duration>, decimals: usize) -> String {
    d.map_or_else(
        || "-".to_string(),
        |d| format!("{:.*}", decimals, d.as_secs_f64() * 1000.0),
    )
}

/// The number of table rows visible in a terminal area of this height.
pub fn table_height(area_height: u16) -> usize {
    // Title, status and key lines; table borders and header.
    usize::from(area_height.saturating_sub(3 + 3))
}

/// Draw `screen` with the settings of `view`.
pub fn draw(frame: &mut Frame<'_>, screen: &Screen, view: &ViewState) {
    let [title, body, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    // Wide: the node panel beside the table. Narrow (down to 80x24): under it, as many lines
    // as it needs up to a third of the height, so the table keeps the whole width.
    let [table_area, node_area] = if body.width >= SIDE_PANEL_MIN_WIDTH {
        Layout::horizontal([Constraint::Min(40), Constraint::Length(NODE_PANEL)]).areas(body)
    } else {
        let wanted = u16::try_from(screen.nodes.len())
            .unwrap_or(u16::MAX)
            .saturating_add(3);
        let panel = wanted.min(body.height / 3).max(3);
        Layout::vertical([Constraint::Min(3), Constraint::Length(panel)]).areas(body)
    };

    let mut t = format!(
        " canrelearn monitor   +{:.1} s   rows {}/{}   sort: {}",
        screen.elapsed,
        screen.rows.len(),
        screen.total_rows,
        view.sort.label()
    );
    if let Some(f) = &view.filter {
        let _ = write!(t, "   filter: /{}/", f.text());
    }
    let mut title_line = vec![Span::styled(t, Style::new().add_modifier(Modifier::BOLD))];
    if view.paused {
        title_line.push(Span::styled(
            "   PAUSED",
            Style::new().fg(Color::Black).bg(Color::Yellow),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(title_line)), title);

    draw_table(frame, table_area, screen, view);
    draw_nodes(frame, node_area, screen);

    let mut s = format!(
        " bus {} fr/s  load {:.1}% @ {} kbit/s",
        screen.frames_per_sec.round(),
        screen.load * 100.0,
        screen.bitrate / 1000,
    );
    if let Some(data) = screen.data_bitrate {
        let _ = write!(s, " (FD data {} kbit/s, approx.)", data / 1000);
    }
    let _ = write!(
        s,
        "  frames {}  errors {}",
        screen.frames, screen.error_frames
    );
    if !screen.error_classes.is_empty() {
        let _ = write!(s, " ({})", screen.error_classes);
    }
    let _ = write!(s, "  dropped {}", screen.dropped);
    if screen.overflow_frames > 0 {
        let _ = write!(s, "  over row cap {}", screen.overflow_frames);
    }
    let status_style = if screen.dropped > 0 || screen.error_frames > 0 {
        Style::new().fg(Color::Yellow)
    } else {
        Style::new()
    };
    frame.render_widget(Paragraph::new(s).style(status_style), status);

    let key_line = if let Some(input) = &view.input {
        Line::from(vec![
            Span::styled(" filter /", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(input.clone()),
            Span::styled("_", Style::new().add_modifier(Modifier::SLOW_BLINK)),
            Span::raw("   (Enter apply, Esc cancel)"),
        ])
    } else if let Some(n) = &view.notice {
        Line::from(Span::styled(
            format!(" {n}"),
            Style::new().fg(Color::Yellow),
        ))
    } else {
        Line::from(
            " q quit  / filter  space pause  r reset  s sort  arrows/PgUp/PgDn scroll  ? help",
        )
    };
    frame.render_widget(Paragraph::new(key_line), keys);

    if view.help {
        draw_help(frame, frame.area());
    } else if view.expanded {
        draw_expanded(frame, frame.area(), screen, view);
    }
}

/// The first row shown with every decoded signal, one per line.
fn draw_expanded(frame: &mut Frame<'_>, area: Rect, screen: &Screen, view: &ViewState) {
    let Some(row) = screen
        .rows
        .get(view.scroll.min(screen.rows.len().saturating_sub(1)))
    else {
        return;
    };
    let width = area.width.saturating_sub(4).min(100);
    let height = (u16::try_from(row.signal_list.len()).unwrap_or(u16::MAX))
        .saturating_add(3)
        .min(area.height.saturating_sub(2));
    let popup = Rect {
        x: area.x + (area.width.saturating_sub(width)) / 2,
        y: area.y + (area.height.saturating_sub(height)) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    let mut lines = vec![Line::from(format!(
        "{}  {}  data {}",
        row.id,
        row.name,
        row.data
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(" ")
    ))];
    if row.signal_list.is_empty() {
        lines.push(Line::from("(no decoded signals)"));
    }
    lines.extend(row.signal_list.iter().map(|s| Line::from(s.clone())));
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Signals (Enter or Esc closes) ")),
        popup,
    );
}

/// The table's columns: title, width (`None`: the signals, taking what is left) and its place
/// in the order columns are given up on narrow terminals (lower keeps longer).
const COLUMNS: [(&str, Option<u16>, u8); 10] = [
    ("ID", Some(8), 0),
    ("NAME", Some(18), 2),
    ("COUNT", Some(7), 6),
    ("RATE/s", Some(7), 5),
    ("CYC ms", Some(6), 4),
    ("DBC", Some(4), 7),
    ("JIT ms", Some(6), 8),
    ("STATE", Some(5), 1),
    ("DATA", Some(23), 3),
    ("SIGNALS", None, 9),
];

/// Which columns fit in `inner` cells, and the name column's width: columns are given up in
/// priority order (signals first, then jitter, the DBC cycle, the count...), and the name
/// shrinks down to 10 before anything else is given up.
fn fit_columns(inner: u16) -> ([bool; 10], u16) {
    let mut keep = [true; 10];
    let width = |keep: &[bool; 10], name_w: u16| -> u16 {
        COLUMNS
            .iter()
            .zip(keep)
            .filter(|(_, k)| **k)
            .map(|((title, w, _), _)| match (*title, w) {
                ("NAME", _) => name_w + 1,
                (_, Some(w)) => w + 1,
                (_, None) => 11,
            })
            .sum()
    };
    let mut order: Vec<usize> = (0..COLUMNS.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(COLUMNS[i].2));
    for &drop in &order {
        if width(&keep, 10) <= inner {
            break;
        }
        if COLUMNS[drop].2 == 0 {
            break; // the id always stays
        }
        keep[drop] = false;
    }
    let spare = inner.saturating_sub(width(&keep, 10));
    (keep, (10 + spare).min(18))
}

fn draw_table(frame: &mut Frame<'_>, area: Rect, screen: &Screen, view: &ViewState) {
    let (keep, name_w) = fit_columns(area.width.saturating_sub(2));
    let header = Row::new(
        COLUMNS
            .iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|((t, _, _), _)| *t),
    )
    .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let visible = usize::from(area.height.saturating_sub(3));
    let scroll = view
        .scroll
        .min(screen.rows.len().saturating_sub(visible.max(1)));
    let changed_style = Style::new().fg(Color::Black).bg(Color::Yellow);
    let rows = screen.rows.iter().skip(scroll).take(visible).map(|r| {
        let mut data = Vec::with_capacity(r.data.len() * 2);
        for (i, b) in r.data.iter().take(8).enumerate() {
            if i > 0 {
                data.push(Span::raw(" "));
            }
            let style = if r.changed & (1 << i) != 0 {
                changed_style
            } else {
                Style::new()
            };
            data.push(Span::styled(format!("{b:02X}"), style));
        }
        if r.data.len() > 8 {
            data.push(Span::raw(format!(" +{}", r.data.len() - 8)));
        }
        let cells = [
            Cell::from(r.id.clone()),
            Cell::from(r.name.clone()),
            Cell::from(Line::from(r.count.to_string()).right_aligned()),
            Cell::from(
                Line::from(r.rate.map_or_else(|| "-".into(), |x| format!("{x:.1}")))
                    .right_aligned(),
            ),
            Cell::from(Line::from(ms(r.cycle, 1)).right_aligned()),
            Cell::from(Line::from(ms(r.dbc_cycle, 0)).right_aligned()),
            Cell::from(Line::from(ms(r.jitter, 2)).right_aligned()),
            Cell::from(r.state.label()).style(state_style(r.state)),
            Cell::from(Line::from(data)),
            Cell::from(r.signals.clone()),
        ];
        Row::new(
            cells
                .into_iter()
                .zip(keep)
                .filter(|(_, k)| *k)
                .map(|(c, _)| c),
        )
    });
    // The data column shows 8 bytes (and `+N` beyond); extra width goes to the signals.
    let inner = area.width.saturating_sub(2);
    let fixed: u16 = COLUMNS
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|((t, w, _), _)| {
            if *t == "NAME" {
                name_w + 1
            } else {
                w.map_or(0, |w| w + 1)
            }
        })
        .sum();
    let data_w = if inner.saturating_sub(fixed) >= 18 + 4 {
        27
    } else {
        23
    };
    let widths: Vec<Constraint> = COLUMNS
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|((t, w, _), _)| match (*t, w) {
            ("NAME", _) => Constraint::Length(name_w),
            ("DATA", _) => Constraint::Length(data_w),
            (_, Some(w)) => Constraint::Length(*w),
            (_, None) => Constraint::Fill(1),
        })
        .collect();
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .block(Block::bordered().title(" Messages "));
    frame.render_widget(table, area);
}

fn draw_nodes(frame: &mut Frame<'_>, area: Rect, screen: &Screen) {
    let mut lines = vec![Line::from(Span::styled(
        "NODE      STATE     SINCE  LOSS",
        Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
    ))];
    for n in &screen.nodes {
        let since = n
            .since
            .map_or_else(|| "-".to_string(), |s| format!("{s:+.1}"));
        let name: String = n.name.chars().take(9).collect();
        lines.push(Line::from(vec![
            Span::raw(format!("{name:<9} ")),
            Span::styled(format!("{:<5}", n.state.label()), state_style(n.state)),
            Span::raw(format!(" {since:>9} {:>5}", n.losses)),
        ]));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "EVENTS (newest first)",
        Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
    )));
    if screen.events.is_empty() {
        lines.push(Line::from("none"));
    }
    for e in &screen.events {
        let style = if e.contains(" lost") {
            Style::new().fg(Color::Red)
        } else {
            Style::new().fg(Color::Green)
        };
        lines.push(Line::from(Span::styled(e.clone(), style)));
    }
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Nodes ")),
        area,
    );
}

fn draw_help(frame: &mut Frame<'_>, area: Rect) {
    let width = 62.min(area.width);
    let height = (HELP.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    let lines: Vec<Line> = HELP.iter().map(|l| Line::from(*l)).collect();
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Keys (any key closes) ")),
        popup,
    );
}
