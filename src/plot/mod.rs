//! Signals over time, as cantools' `plot` draws them: which signals ([`Layout`], from
//! cantools' patterns), their values collected from decoded frames ([`Collector`]), and a
//! [`Chart`] ready to draw: lines broken at gaps, thinned to what a picture can show, with
//! units and value-table labels. Drawing: [`draw`] (SVG or bitmap, with `plotters`) and
//! [`text`] (a terminal chart, with ratatui).
//!
//! Patterns are cantools': `[MESSAGE.]SIGNAL` with `*` and `?` as wildcards (or regular
//! expressions with `regex`), an argument `-` starts a new subplot, and `,` puts the patterns
//! after it on a second y-axis of the same subplot. A pattern with a `.` matches
//! `MESSAGE.SIGNAL`, one without matches the signal's name in any message. A pattern that
//! matches no signal of the DBC is an error, not an empty plot.
//!
//! Pure: times come from the frames, nothing is read or written here.

pub mod draw;
pub mod nodes;
pub mod options;
pub mod run;
pub mod save;
pub mod text;

use core::time::Duration;

use regex::{Regex, RegexBuilder};

use crate::dbc::{Database, PhysicalValue};
use crate::log::FrameReader;
use crate::output::Meaning;
use crate::output::pipeline::{self, PipelineError, Sink};
use crate::time::Timestamp;

/// Why a plot cannot be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PlotError {
    #[error("invalid pattern {pattern:?}: {why}")]
    Pattern { pattern: String, why: String },
    #[error("no signal of the DBC matches {0}")]
    NoMatch(String),
    #[error("the DBC has no signal to plot")]
    NothingToPlot,
    #[error("`,` (second y-axis) given twice in one subplot")]
    ThirdAxis,
    #[error("the report holds no polled value and no watched signal's value (outcome {outcome}{}): nothing to plot; reports of runs that polled or watched a signal have them", if *dry_run { ", a dry run" } else { "" })]
    EmptyReport { outcome: String, dry_run: bool },
    #[error("drawing failed: {0}")]
    Draw(String),
}

/// One pattern, compiled.
#[derive(Debug, Clone)]
struct Matcher {
    text: String,
    /// Matches `MESSAGE.SIGNAL` (the pattern had a `.`) or `SIGNAL`.
    qualified: bool,
    regex: Regex,
}

impl Matcher {
    fn new(text: &str, as_regex: bool, ignore_case: bool) -> Result<Matcher, PlotError> {
        let body = if as_regex {
            text.to_string()
        } else {
            let mut r = String::new();
            for c in text.chars() {
                match c {
                    '*' => r.push_str(".*"),
                    '?' => r.push('.'),
                    c => r.push_str(&regex::escape(&c.to_string())),
                }
            }
            r
        };
        let regex = RegexBuilder::new(&format!("^(?:{body})$"))
            .case_insensitive(ignore_case)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| PlotError::Pattern {
                pattern: text.to_string(),
                why: e.to_string(),
            })?;
        Ok(Matcher {
            text: text.to_string(),
            qualified: text.contains('.') && !as_regex || as_regex && text.contains("\\."),
            regex,
        })
    }

    fn matches(&self, message: &str, signal: &str) -> bool {
        if self.qualified {
            self.regex.is_match(&format!("{message}.{signal}"))
        } else {
            self.regex.is_match(signal)
        }
    }
}

/// Which signals go where: subplots, each with a first and a second y-axis.
#[derive(Debug, Clone)]
pub struct Layout {
    subplots: Vec<[Vec<Matcher>; 2]>,
}

impl Layout {
    /// Parses cantools' pattern arguments: patterns, `-` (next subplot), `,` (second y-axis).
    /// No pattern at all plots every signal.
    pub fn parse(args: &[String], as_regex: bool, ignore_case: bool) -> Result<Layout, PlotError> {
        let mut subplots = vec![[Vec::new(), Vec::new()]];
        let mut axis = 0;
        for a in args {
            match a.as_str() {
                "-" => {
                    subplots.push([Vec::new(), Vec::new()]);
                    axis = 0;
                }
                "," => {
                    if axis == 1 {
                        return Err(PlotError::ThirdAxis);
                    }
                    axis = 1;
                }
                p => {
                    if let Some(s) = subplots.last_mut() {
                        s[axis].push(Matcher::new(p, as_regex, ignore_case)?);
                    }
                }
            }
        }
        subplots.retain(|s| !s[0].is_empty() || !s[1].is_empty());
        if subplots.is_empty() {
            subplots.push([vec![Matcher::new("*", false, false)?], Vec::new()]);
        }
        Ok(Layout { subplots })
    }
}

/// One plotted signal.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// `MESSAGE.SIGNAL`.
    pub name: String,
    pub unit: String,
    /// Value-table labels by physical value (signals with factor 1 and offset 0).
    pub labels: Vec<(f64, String)>,
    /// The line's pieces: a gap longer than the break time starts a new one. Times in
    /// seconds from [`Chart::start`].
    pub segments: Vec<Vec<(f64, f64)>>,
    /// Points read (before thinning).
    pub points: u64,
}

/// One y-axis of a subplot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Axis {
    pub series: Vec<Series>,
}

impl Axis {
    /// The axis title: the unit when all series share it, else each series with its unit.
    pub fn title(&self) -> String {
        let units: Vec<&str> = self.series.iter().map(|s| s.unit.as_str()).collect();
        if let Some(first) = units.first()
            && units.iter().all(|u| u == first)
        {
            if self.series.len() == 1 {
                let s = &self.series[0];
                let signal = s.name.rsplit('.').next().unwrap_or(&s.name);
                return if first.is_empty() {
                    signal.to_string()
                } else {
                    format!("{signal} [{first}]")
                };
            }
            return first.to_string();
        }
        self.series
            .iter()
            .map(|s| {
                let signal = s.name.rsplit('.').next().unwrap_or(&s.name);
                if s.unit.is_empty() {
                    signal.to_string()
                } else {
                    format!("{signal} [{}]", s.unit)
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The labels of the axis, when its series share one value table.
    pub fn labels(&self) -> Option<&[(f64, String)]> {
        let first = &self.series.first()?.labels;
        (!first.is_empty() && self.series.iter().all(|s| s.labels == *first)).then_some(first)
    }

    /// The smallest and largest value of the axis's series.
    pub fn data_range(&self) -> Option<(f64, f64)> {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for s in &self.series {
            for &(_, v) in s.segments.iter().flatten() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        (lo.is_finite() && hi.is_finite()).then_some((lo, hi))
    }

    /// The range to draw: the values padded by 5% (never an empty range).
    pub fn range(&self) -> Option<(f64, f64)> {
        let (lo, hi) = self.data_range()?;
        let pad = if hi > lo {
            (hi - lo) * 0.05
        } else {
            lo.abs().max(1.0) * 0.1
        };
        Some((lo - pad, hi + pad))
    }
}

/// One subplot: a first y-axis and, perhaps, a second.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Panel {
    pub axes: [Axis; 2],
}

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Time zero of the x-axis (the first frame read).
    pub start: Timestamp,
    /// The time span shown, in seconds from `start`.
    pub span: (f64, f64),
    pub panels: Vec<Panel>,
    /// Spans marked across every panel (a procedure's steps), in seconds from `start`.
    pub marks: Vec<Mark>,
}

/// A labelled span of time across a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub from: f64,
    pub to: f64,
    pub label: String,
    /// Shown as a failure (a step that failed or was aborted).
    pub failed: bool,
}

impl Chart {
    /// Every series, in drawing order.
    pub fn series(&self) -> impl Iterator<Item = &Series> {
        self.panels
            .iter()
            .flat_map(|p| p.axes.iter().flat_map(|a| a.series.iter()))
    }

    /// What the logs (`frames` frames of `logs`) gave the selected signals: an error when
    /// none appears (nothing to draw), else a warning naming those that never appear, and
    /// the note that tells what is drawn.
    pub fn coverage(&self, frames: u64, logs: &str) -> Result<Coverage, NothingToDraw> {
        let s = |n: usize| if n == 1 { "" } else { "s" };
        let (seen, empty): (Vec<_>, Vec<_>) = self.series().partition(|s| s.points > 0);
        if seen.is_empty() {
            return Err(NothingToDraw {
                selected: empty.len(),
                frames,
                logs: logs.to_string(),
            });
        }
        const SHOWN: usize = 8;
        let warning = (!empty.is_empty()).then(|| {
            let names: Vec<&str> = empty.iter().take(SHOWN).map(|s| s.name.as_str()).collect();
            format!(
                "{} selected signal{} never appear{} in the logs: {}{}",
                empty.len(),
                s(empty.len()),
                if empty.len() == 1 { "s" } else { "" },
                names.join(", "),
                if empty.len() > SHOWN { ", ..." } else { "" }
            )
        });
        let points: u64 = seen.iter().map(|s| s.points).sum();
        Ok(Coverage {
            warning,
            note: format!(
                "{} signal{} ({points} values from {frames} frames)",
                seen.len(),
                s(seen.len())
            ),
        })
    }
}

/// None of the selected signals appears in the logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "none of the {selected} selected signal{} appears in {frames} frame{} of {logs} (does the DBC fit this car's ids? `canrelearn dump` shows what the log holds)",
    if *selected == 1 { "" } else { "s" },
    if *frames == 1 { "" } else { "s" }
)]
pub struct NothingToDraw {
    pub selected: usize,
    pub frames: u64,
    /// The logs, as named to the user.
    pub logs: String,
}

/// What [`Chart::coverage`] says of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Coverage {
    /// The selected signals that never appear, when some do not.
    pub warning: Option<String>,
    /// What is drawn: `2 signals (1200 values from 5000 frames)`.
    pub note: String,
}

/// A time limit given by the user: seconds from the first frame, or a time on the capture's
/// time line (Unix time for captures that say when they started).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    Relative(Duration),
    Absolute(Timestamp),
}

impl Limit {
    fn resolve(self, first: Timestamp) -> Timestamp {
        match self {
            Limit::Relative(d) => first.saturating_add(d),
            Limit::Absolute(t) => t,
        }
    }

    /// `12.5` (seconds from the first frame) or `2023-11-14T22:13:25.5` (UTC; `Z`, a space
    /// instead of `T`, and the fraction are optional).
    pub fn parse(text: &str) -> Result<Limit, LimitError> {
        let t = text.trim();
        if let Ok(s) = t.parse::<f64>() {
            if !(s.is_finite() && s >= 0.0) {
                return Err(LimitError::Negative(text.to_string()));
            }
            return Duration::try_from_secs_f64(s)
                .map(Limit::Relative)
                .map_err(|e| LimitError::TooLong(text.to_string(), e.to_string()));
        }
        parse_utc(t)
            .map(Limit::Absolute)
            .ok_or_else(|| LimitError::Unreadable(text.to_string()))
    }
}

/// Why a time limit does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("{0:?}: seconds from the first frame must be 0 or more")]
    Negative(String),
    #[error("{0:?}: {1}")]
    TooLong(String, String),
    #[error("{0:?} is neither seconds (12.5) nor a UTC time (2023-11-14T22:13:25.5)")]
    Unreadable(String),
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.fff][Z]` as Unix time.
fn parse_utc(t: &str) -> Option<Timestamp> {
    let t = t.strip_suffix('Z').unwrap_or(t);
    let (date, time) = t.split_once(['T', ' '])?;
    let mut d = date.splitn(3, '-');
    let (y, m, day): (i64, u32, u32) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (hms, frac) = match time.split_once('.') {
        Some((a, b)) => (a, b),
        None => (time, ""),
    };
    let mut h = hms.splitn(3, ':');
    let (hh, mm, ss): (u64, u64, u64) = (
        h.next()?.parse().ok()?,
        h.next()?.parse().ok()?,
        h.next()?.parse().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32)
    };
    let days = crate::time::days_from_civil(y, m, day);
    let secs = u64::try_from(days).ok()? * 86_400 + hh * 3600 + mm * 60 + ss;
    Timestamp::from_secs_nanos(secs, nanos)
}

/// Where one DBC signal goes.
#[derive(Debug, Clone)]
struct Slot {
    signal: usize,
    panel: usize,
    axis: usize,
    series: usize,
}

/// A series being collected: its description and its points so far.
type Collecting = (Series, Vec<(f64, f64)>);

/// Collects the values of the signals a [`Layout`] selects, frame by frame.
#[derive(Debug, Clone)]
pub struct Collector {
    /// Per DBC message: its plotted signals.
    by_message: Vec<Vec<Slot>>,
    panels: Vec<[Vec<Collecting>; 2]>,
    start: Option<Limit>,
    end: Option<Limit>,
    window: Option<(Timestamp, Timestamp)>,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
}

impl Collector {
    /// The signals of `db` that `layout` selects; every pattern must match some signal.
    pub fn new(
        db: &Database,
        layout: &Layout,
        start: Option<Limit>,
        end: Option<Limit>,
    ) -> Result<Collector, PlotError> {
        let mut by_message = vec![Vec::new(); db.messages().len()];
        let mut panels = Vec::new();
        for (p, sub) in layout.subplots.iter().enumerate() {
            let mut axes: [Vec<Collecting>; 2] = [Vec::new(), Vec::new()];
            for (a, matchers) in sub.iter().enumerate() {
                for matcher in matchers {
                    let mut any = false;
                    for (mi, m) in db.messages().iter().enumerate() {
                        for (si, s) in m.signals().iter().enumerate() {
                            if !matcher.matches(m.name(), s.name()) {
                                continue;
                            }
                            any = true;
                            let slots = &mut by_message[mi];
                            if slots
                                .iter()
                                .any(|x: &Slot| x.signal == si && x.panel == p && x.axis == a)
                            {
                                continue;
                            }
                            let labels = if s.factor() == 1.0 && s.offset() == 0.0 {
                                s.value_table()
                                    .iter()
                                    .map(|v| (v.value as f64, v.label.clone()))
                                    .collect()
                            } else {
                                Vec::new()
                            };
                            slots.push(Slot {
                                signal: si,
                                panel: p,
                                axis: a,
                                series: axes[a].len(),
                            });
                            axes[a].push((
                                Series {
                                    name: format!("{}.{}", m.name(), s.name()),
                                    unit: s.unit().to_string(),
                                    labels,
                                    segments: Vec::new(),
                                    points: 0,
                                },
                                Vec::new(),
                            ));
                        }
                    }
                    if !any {
                        return Err(if matcher.text == "*" {
                            PlotError::NothingToPlot
                        } else {
                            PlotError::NoMatch(matcher.text.clone())
                        });
                    }
                }
            }
            panels.push(axes);
        }
        Ok(Collector {
            by_message,
            panels,
            start,
            end,
            window: None,
            first: None,
            last: None,
        })
    }

    /// How many series are plotted.
    pub fn series_count(&self) -> usize {
        self.panels.iter().map(|p| p[0].len() + p[1].len()).sum()
    }

    /// Takes one decoded frame at `time` (on the capture's time line).
    pub fn push(&mut self, time: Timestamp, meaning: &Meaning<'_>) {
        let first = *self.first.get_or_insert(time);
        let (from, to) = *self.window.get_or_insert_with(|| {
            (
                self.start.map_or(Timestamp::ZERO, |l| l.resolve(first)),
                self.end.map_or(Timestamp::MAX, |l| l.resolve(first)),
            )
        });
        self.last = Some(self.last.map_or(time, |l| l.max(time)));
        if time < from || time > to {
            return;
        }
        let Meaning::Signals(_, index, decoded) = meaning else {
            return;
        };
        let Some(slots) = self.by_message.get(*index) else {
            return;
        };
        if slots.is_empty() {
            return;
        }
        let t = time.seconds_since(first);
        for slot in slots {
            let Some(d) = decoded.signals().iter().find(|d| d.index == slot.signal) else {
                continue; // another multiplexer branch
            };
            let v = match d.physical {
                PhysicalValue::Int(i) => i as f64,
                PhysicalValue::Float(f) => f,
            };
            if !v.is_finite() {
                continue;
            }
            if let Some((series, points)) = self
                .panels
                .get_mut(slot.panel)
                .and_then(|p| p.get_mut(slot.axis))
                .and_then(|a| a.get_mut(slot.series))
            {
                series.points += 1;
                points.push((t, v));
            }
        }
    }

    /// Decodes every record of one capture with `db` and takes its frames, until the end or
    /// until `stop` says so; returns how many frames it held. Malformed records and partial
    /// decodes are told to `warn` (with a count at the end), and a damaged capture is
    /// [`PipelineError::Read`], after what came before the damage was taken.
    pub fn collect(
        &mut self,
        db: &Database,
        reader: &mut dyn FrameReader,
        stop: fn() -> bool,
        warn: &mut dyn FnMut(String),
    ) -> Result<u64, PipelineError> {
        let mut sink = Sink::new(std::io::sink(), false, warn);
        let result = pipeline::each_record(db, reader, &mut sink, stop, &mut |line, _| {
            self.push(line.timestamp, &line.meaning);
            Ok(())
        });
        sink.summary();
        result.map(|()| sink.frames())
    }

    /// The first frame's time, once a frame was pushed.
    pub fn first(&self) -> Option<Timestamp> {
        self.first
    }

    /// The chart: lines broken where a series is silent longer than `break_time` (default:
    /// 10 times its median interval, as the watch's loss timeout), each thinned to at most
    /// `max_points` points by keeping every bucket's lowest and highest value.
    pub fn finish(self, break_time: Option<f64>, max_points: usize) -> Chart {
        let first = self.first.unwrap_or(Timestamp::ZERO);
        let (from, to) = self.window.unwrap_or((first, self.last.unwrap_or(first)));
        let span = (
            from.max(first).seconds_since(first),
            to.min(self.last.unwrap_or(first)).seconds_since(first),
        );
        let panels = self
            .panels
            .into_iter()
            .map(|axes| {
                let [a, b] = axes.map(|list| Axis {
                    series: list
                        .into_iter()
                        .map(|(mut s, points)| {
                            s.segments = thin(split(points, break_time), max_points);
                            s
                        })
                        .collect(),
                });
                Panel { axes: [a, b] }
            })
            .collect();
        Chart {
            start: first,
            span,
            panels,
            marks: Vec::new(),
        }
    }
}

/// Splits a series at its gaps: longer than `break_time`, or 10 median intervals.
fn split(points: Vec<(f64, f64)>, break_time: Option<f64>) -> Vec<Vec<(f64, f64)>> {
    if points.len() < 2 {
        return if points.is_empty() {
            Vec::new()
        } else {
            vec![points]
        };
    }
    let limit =
        break_time.unwrap_or_else(|| median_gap(&points).map_or(1e-6, |m| (m * 10.0).max(1e-6)));
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut last: Option<f64> = None;
    for p in points {
        if last.is_some_and(|l| p.0 - l > limit) {
            out.push(std::mem::take(&mut current));
        }
        last = Some(p.0);
        current.push(p);
    }
    out.push(current);
    out
}

/// The median interval between consecutive points (`None` for fewer than two).
fn median_gap(points: &[(f64, f64)]) -> Option<f64> {
    let mut gaps: Vec<f64> = points.windows(2).map(|w| w[1].0 - w[0].0).collect();
    if gaps.is_empty() {
        return None;
    }
    let mid = gaps.len() / 2;
    let (_, m, _) = gaps.select_nth_unstable_by(mid, f64::total_cmp);
    Some(*m)
}

/// Keeps at most about `max_points` points over all segments: each segment is cut into
/// buckets of equal time, and each bucket keeps its first, lowest, highest and last point in
/// time order, so spikes stay visible.
fn thin(segments: Vec<Vec<(f64, f64)>>, max_points: usize) -> Vec<Vec<(f64, f64)>> {
    let total: usize = segments.iter().map(Vec::len).sum();
    if total <= max_points.max(8) {
        return segments;
    }
    let (t0, t1) = (
        segments
            .first()
            .and_then(|s| s.first())
            .map_or(0.0, |p| p.0),
        segments.last().and_then(|s| s.last()).map_or(0.0, |p| p.0),
    );
    let buckets = (max_points / 4).max(2);
    let width = ((t1 - t0) / buckets as f64).max(f64::MIN_POSITIVE);
    segments
        .into_iter()
        .map(|seg| {
            let mut out = Vec::new();
            let mut i = 0;
            while i < seg.len() {
                let b = ((seg[i].0 - t0) / width).floor();
                let mut j = i;
                let (mut lo, mut hi) = (i, i);
                while j < seg.len() && ((seg[j].0 - t0) / width).floor() == b {
                    if seg[j].1 < seg[lo].1 {
                        lo = j;
                    }
                    if seg[j].1 > seg[hi].1 {
                        hi = j;
                    }
                    j += 1;
                }
                let mut keep = vec![i, lo, hi, j - 1];
                keep.sort_unstable();
                keep.dedup();
                out.extend(keep.into_iter().map(|k| seg[k]));
                i = j;
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests;
