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

/// Width of the node panel.
const NODE_PANEL: u16 = 34;

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
    let [table_area, node_area] =
        Layout::horizontal([Constraint::Min(40), Constraint::Length(NODE_PANEL)]).areas(body);

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
    }
}

fn draw_table(frame: &mut Frame<'_>, area: Rect, screen: &Screen, view: &ViewState) {
    let header = Row::new([
        "ID", "NAME", "COUNT", "RATE/s", "CYC ms", "DBC", "JIT ms", "STATE", "DATA", "SIGNALS",
    ])
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
        Row::new([
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
        ])
    });
    // Fixed columns first; the name and data columns shrink on narrow terminals, the signals
    // take what is left.
    let inner = area.width.saturating_sub(2);
    let fixed = 8 + 7 + 7 + 6 + 4 + 6 + 5 + 9;
    let rest = inner.saturating_sub(fixed);
    let data_w = if rest >= 18 + 27 { 27 } else { 23 };
    let name_w = rest.saturating_sub(data_w).clamp(4, 18);
    let widths = [
        Constraint::Length(8),
        Constraint::Length(name_w),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(4),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(data_w),
        Constraint::Fill(1),
    ];
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
