//! What the monitor shows: view settings (filter, sort, pause, scroll, help) and a [`Screen`],
//! a plain-data snapshot of the model formatted for display.
//!
//! [`snapshot`] is O(rows log rows) and is meant to run at the redraw rate (about 10 Hz), not
//! per frame. While paused the caller keeps showing the previous `Screen` (the model keeps
//! counting); scrolling applies to the kept screen at render time.

use core::fmt::Write as _;
use core::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use regex::{Regex, RegexBuilder};

use super::{Monitor, State};
use crate::dbc::PhysicalValue;
use crate::frame::ERROR_CLASSES;
use crate::time::Timestamp;

/// The row order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// By CAN id (standard before extended).
    #[default]
    Id,
    /// By message name (unnamed ids last, by id).
    Name,
    /// Highest rate first.
    Rate,
    /// Highest count first.
    Count,
    /// Worst state first (lost, late, waiting, ok, unknown), then by id.
    State,
}

impl SortKey {
    /// The next key (the `s` key cycles through them).
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Id => SortKey::Name,
            SortKey::Name => SortKey::Rate,
            SortKey::Rate => SortKey::Count,
            SortKey::Count => SortKey::State,
            SortKey::State => SortKey::Id,
        }
    }
    /// Its name.
    pub fn label(self) -> &'static str {
        match self {
            SortKey::Id => "id",
            SortKey::Name => "name",
            SortKey::Rate => "rate",
            SortKey::Count => "count",
            SortKey::State => "state",
        }
    }
}

/// A regular expression over message names, signal names and ids (case-insensitive).
#[derive(Debug, Clone)]
pub struct NameFilter {
    text: String,
    regex: Regex,
}

impl NameFilter {
    /// Compile a filter; an empty pattern matches everything.
    pub fn new(pattern: &str) -> Result<NameFilter, regex::Error> {
        let regex = RegexBuilder::new(pattern)
            .case_insensitive(true)
            .size_limit(1 << 20)
            .build()?;
        Ok(NameFilter {
            text: pattern.to_string(),
            regex,
        })
    }
    /// The pattern as typed.
    pub fn text(&self) -> &str {
        &self.text
    }
    /// Whether the row of `index` matches: its message name, one of its signal names, or its
    /// id as `0x60D` / `60D`.
    pub fn matches(&self, monitor: &Monitor, index: usize) -> bool {
        let Some(row) = monitor.rows().get(index) else {
            return false;
        };
        let message = row
            .message()
            .and_then(|m| monitor.database().messages().get(m));
        if let Some(m) = message
            && (self.regex.is_match(m.name())
                || m.signals().iter().any(|s| self.regex.is_match(s.name())))
        {
            return true;
        }
        let id = format!("0x{:X}", row.id().raw());
        self.regex.is_match(&id)
    }
}

/// View settings, changed by keys.
#[derive(Debug, Clone, Default)]
pub struct ViewState {
    pub sort: SortKey,
    pub paused: bool,
    /// First row shown.
    pub scroll: usize,
    pub help: bool,
    /// The applied filter.
    pub filter: Option<NameFilter>,
    /// The filter being typed (after `/`), if any.
    pub input: Option<String>,
    /// A message for the status line (e.g. a bad regular expression).
    pub notice: Option<String>,
    /// Whether the first row shown is expanded: every signal of it, one per line.
    pub expanded: bool,
}

/// What a key press asks of the monitor's driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    /// Nothing beyond the view's own change.
    None,
    /// Quit (`q`, Esc, Ctrl-C).
    Quit,
    /// Rebuild the screen (a new filter or sort order).
    Rebuild,
    /// Reset the statistics (`r`), then rebuild.
    Reset,
}

impl ViewState {
    /// Handles a key: typing a filter after `/`, closing help or the expanded row, sorting,
    /// pausing, scrolling (`page` rows per PgUp/PgDn).
    pub fn key(&mut self, key: KeyEvent, page: usize) -> KeyAction {
        if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
            return KeyAction::Quit;
        }
        if let Some(input) = &mut self.input {
            match key.code {
                KeyCode::Esc => self.input = None,
                KeyCode::Enter => {
                    let text = core::mem::take(input);
                    self.input = None;
                    self.apply_filter(&text);
                    return KeyAction::Rebuild;
                }
                KeyCode::Backspace => {
                    input.pop();
                }
                KeyCode::Char(c) => input.push(c),
                _ => {}
            }
            return KeyAction::None;
        }
        if self.help {
            self.help = false;
            return KeyAction::None;
        }
        if self.expanded && matches!(key.code, KeyCode::Esc | KeyCode::Enter) {
            self.expanded = false;
            return KeyAction::None;
        }
        let page = page.max(1);
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return KeyAction::Quit,
            KeyCode::Char('/') => self.input = Some(String::new()),
            KeyCode::Char(' ') => self.paused = !self.paused,
            KeyCode::Char('r') => return KeyAction::Reset,
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                return KeyAction::Rebuild;
            }
            KeyCode::Char('?') => self.help = true,
            KeyCode::Enter => self.expanded = true,
            KeyCode::Up => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::Down => self.scroll = self.scroll.saturating_add(1),
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(page),
            KeyCode::PageDown => self.scroll = self.scroll.saturating_add(page),
            KeyCode::Home => self.scroll = 0,
            KeyCode::End => self.scroll = usize::MAX,
            _ => {}
        }
        KeyAction::None
    }

    /// The filter typed after `/`: none when empty; a bad regular expression is refused in
    /// the status line and the filter before it stays.
    fn apply_filter(&mut self, text: &str) {
        if text.is_empty() {
            self.filter = None;
        } else {
            match NameFilter::new(text) {
                Ok(f) => {
                    self.filter = Some(f);
                    self.notice = None;
                }
                Err(e) => {
                    let first = e.to_string();
                    let first = first.lines().last().unwrap_or_default();
                    self.notice = Some(format!("bad regular expression /{text}/: {first}"));
                }
            }
        }
        self.scroll = 0;
    }
}

/// One formatted table row.
#[derive(Debug, Clone, PartialEq)]
pub struct RowLine {
    pub id: String,
    pub name: String,
    pub count: u64,
    pub rate: Option<f64>,
    pub cycle: Option<Duration>,
    pub dbc_cycle: Option<Duration>,
    pub jitter: Option<Duration>,
    pub state: State,
    pub data: Vec<u8>,
    /// Bit i set: byte i changed recently.
    pub changed: u64,
    /// The decoded signals, `NAME=value unit` or `NAME=label`, space-separated.
    pub signals: String,
    /// The same, one entry per signal (for the expanded view).
    pub signal_list: Vec<String>,
}

/// One node line.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeLine {
    pub name: String,
    pub state: State,
    /// Seconds since the origin when the state last changed.
    pub since: Option<f64>,
    pub losses: u32,
}

/// Everything drawn, as plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct Screen {
    /// Seconds since the first frame.
    pub elapsed: f64,
    pub rows: Vec<RowLine>,
    /// Rows in the model (before filtering).
    pub total_rows: usize,
    pub nodes: Vec<NodeLine>,
    /// Node events, newest first, formatted (`+9.900 AV lost`).
    pub events: Vec<String>,
    pub frames: u64,
    pub frames_per_sec: f64,
    pub load: f64,
    pub bitrate: u32,
    /// The CAN FD data-phase bitrate, shown when FD frames were seen.
    pub data_bitrate: Option<u32>,
    pub error_frames: u64,
    /// Non-zero error classes, formatted (`bus-error 3`).
    pub error_classes: String,
    pub dropped: u64,
    pub overflow_frames: u64,
}

fn relative(monitor: &Monitor, t: Timestamp) -> f64 {
    let origin = monitor.origin().unwrap_or(Timestamp::ZERO);
    if t >= origin {
        t.saturating_duration_since(origin).as_secs_f64()
    } else {
        -origin.saturating_duration_since(t).as_secs_f64()
    }
}

/// A physical value for display: integers as they are, floats with at most 4 decimals and
/// no trailing zeros (`12.1`, not `12.100000000000001`).
fn push_value(out: &mut String, v: PhysicalValue) {
    match v {
        PhysicalValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        PhysicalValue::Float(x) if x.is_finite() => {
            let text = format!("{x:.4}");
            let text = text.trim_end_matches('0').trim_end_matches('.');
            out.push_str(if text == "-0" { "0" } else { text });
        }
        PhysicalValue::Float(x) => {
            let _ = write!(out, "{x}");
        }
    }
}

/// Format the decoded signals of a row: `NAME=value unit` or `NAME=label`, one per entry.
fn signals_text(monitor: &Monitor, index: usize) -> Vec<String> {
    let mut list = Vec::new();
    let Some(row) = monitor.rows().get(index) else {
        return list;
    };
    let Some(message) = row
        .message()
        .and_then(|m| monitor.database().messages().get(m))
    else {
        return list;
    };
    if let Some(e) = row.decode_error() {
        list.push(format!("({e})"));
        return list;
    }
    for s in row.decoded().signals() {
        let Some(signal) = message.signals().get(s.index) else {
            continue;
        };
        let mut out = String::new();
        out.push_str(signal.name());
        out.push('=');
        match s.label(message) {
            Some(label) => out.push_str(label),
            None => {
                push_value(&mut out, s.physical);
                if !signal.unit().is_empty() {
                    out.push(' ');
                    out.push_str(signal.unit());
                }
            }
        }
        list.push(out);
    }
    list
}

/// Build the screen for `view` from the model at `now`. Call [`Monitor::handle_timeout`]
/// first so node events and decoded values are current.
pub fn snapshot(monitor: &Monitor, view: &ViewState, now: Timestamp) -> Screen {
    let hold = monitor.config().changed_hold;
    let mut rows: Vec<(usize, RowLine)> = monitor
        .rows()
        .iter()
        .enumerate()
        .filter(|(i, _)| view.filter.as_ref().is_none_or(|f| f.matches(monitor, *i)))
        .map(|(i, row)| {
            let stats = row.window_stats(now);
            let name = row
                .message()
                .and_then(|m| monitor.database().messages().get(m))
                .map(|m| m.name().to_string())
                .unwrap_or_default();
            let id = if row.id().is_extended() {
                format!("{:08X}", row.id().raw())
            } else {
                format!("{:03X}", row.id().raw())
            };
            (
                i,
                RowLine {
                    id,
                    name,
                    count: row.count(),
                    rate: row.rate(now),
                    cycle: stats.mean,
                    dbc_cycle: row.dbc_cycle(),
                    jitter: stats.std_dev,
                    state: monitor.row_state(row, now),
                    data: row.data().to_vec(),
                    changed: row.changed_mask(now, hold),
                    signal_list: signals_text(monitor, i),
                    signals: String::new(),
                },
            )
        })
        .collect();
    for (_, r) in &mut rows {
        r.signals = r.signal_list.join(" ");
    }
    let key_id = |i: &usize| {
        monitor
            .rows()
            .get(*i)
            .map_or((true, u32::MAX), |r| (r.id().is_extended(), r.id().raw()))
    };
    match view.sort {
        SortKey::Id => rows.sort_by_key(|(i, _)| key_id(i)),
        SortKey::Name => rows.sort_by(|(ia, a), (ib, b)| {
            (a.name.is_empty(), &a.name, key_id(ia)).cmp(&(b.name.is_empty(), &b.name, key_id(ib)))
        }),
        SortKey::Rate => rows.sort_by(|(ia, a), (ib, b)| {
            b.rate
                .unwrap_or(0.0)
                .total_cmp(&a.rate.unwrap_or(0.0))
                .then(key_id(ia).cmp(&key_id(ib)))
        }),
        SortKey::Count => {
            rows.sort_by(|(ia, a), (ib, b)| b.count.cmp(&a.count).then(key_id(ia).cmp(&key_id(ib))))
        }
        SortKey::State => {
            rows.sort_by(|(ia, a), (ib, b)| a.state.cmp(&b.state).then(key_id(ia).cmp(&key_id(ib))))
        }
    }
    let nodes = monitor
        .nodes()
        .iter()
        .map(|n| NodeLine {
            name: n.name.clone(),
            state: n.state,
            since: n.since.map(|t| relative(monitor, t)),
            losses: n.losses,
        })
        .collect();
    let events = monitor
        .events()
        .rev()
        .map(|e| {
            let name = monitor.nodes().get(e.node).map_or("?", |n| n.name.as_str());
            let mut s = format!(
                "{:+.3} {} {}",
                relative(monitor, e.at),
                name,
                if e.lost { "lost" } else { "restored" }
            );
            if let Some(d) = e.downtime {
                let _ = write!(s, " ({:.1} s)", d.as_secs_f64());
            }
            s
        })
        .collect();
    let bus = monitor.bus();
    let load = monitor.bus_load(now);
    let mut error_classes = String::new();
    for (class, n) in ERROR_CLASSES.iter().zip(bus.error_classes) {
        if n > 0 {
            if !error_classes.is_empty() {
                error_classes.push_str(", ");
            }
            let _ = write!(error_classes, "{} {n}", class.name);
        }
    }
    Screen {
        elapsed: relative(monitor, now).max(0.0),
        rows: rows.into_iter().map(|(_, r)| r).collect(),
        total_rows: monitor.rows().len(),
        nodes,
        events,
        frames: bus.frames,
        frames_per_sec: load.frames_per_sec,
        load: load.load,
        bitrate: monitor.config().timing.bitrate,
        data_bitrate: (bus.fd_frames > 0).then_some(monitor.config().timing.data_bitrate),
        error_frames: bus.error_frames,
        error_classes,
        dropped: bus.dropped,
        overflow_frames: bus.overflow_frames,
    }
}
