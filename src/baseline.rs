//! Learn what a healthy bus sends, from a capture of it, with no DBC.
//!
//! A [`Learner`] is fed every frame of a capture taken while the car was healthy (ignition ON,
//! every module awake) and [`Learner::finish`] says, per identifier, whether it is periodic
//! (median period, jitter, longest gap, payload lengths, what each byte does) or why it cannot
//! be judged: too few frames, too irregular (event-driven, request/response), or not present
//! over the whole capture (it started late or stopped early in a capture called healthy).
//! [`Baseline::expectations`] turns the periodic ids into the watcher's expectations, named
//! from a DBC where the DBC knows the id, so that `canrelearn watch --baseline` needs no DBC;
//! [`Baseline::missing_in`] lists the periodic ids another capture never carried, which is how
//! a module's own frames are found (unplug it, capture again, compare).
//!
//! Sans-IO and streaming: time comes from the frames, memory is bounded per identifier (the
//! interval statistics come from a fixed-size deterministic reservoir sample; the count, the
//! longest gap and the byte statistics are exact), so a capture of any length can be learnt.

use core::time::Duration;
use std::collections::HashMap;
use std::fmt;

use crate::dbc::Database;
use crate::frame::{Frame, Id};
use crate::time::Timestamp;
use crate::watch::Expectation;

/// How strict the learner is about calling an id periodic.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Fewer frames than this: not judged.
    pub min_frames: u64,
    /// The 95th-percentile interval may be at most this many median periods.
    pub max_spread: f64,
    /// The longest gap may be at most this many median periods (half the watch's default
    /// timeout factor, so that a healthy gap never reads as a loss).
    pub max_gap_factor: f64,
    /// How late an id may start, or how early it may stop, against the capture's own span
    /// before it counts as not present throughout (at least this, or `max_gap_factor`
    /// periods if that is longer).
    pub edge_tolerance: Duration,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            min_frames: 10,
            max_spread: 2.0,
            max_gap_factor: 5.0,
            edge_tolerance: Duration::from_secs(2),
        }
    }
}

/// Intervals kept per id for the median and percentiles (a reservoir sample beyond this).
const SAMPLE: usize = 2048;

/// Statistics of one byte position.
#[derive(Debug, Clone)]
struct ByteTrack {
    seen: [u64; 4],
    /// Consecutive frames that both had this byte.
    transitions: u64,
    changes: u64,
    inc8: u64,
    inc_lo: u64,
    inc_hi: u64,
}

impl ByteTrack {
    fn new(v: u8) -> Self {
        let mut t = ByteTrack {
            seen: [0; 4],
            transitions: 0,
            changes: 0,
            inc8: 0,
            inc_lo: 0,
            inc_hi: 0,
        };
        t.mark(v);
        t
    }

    fn mark(&mut self, v: u8) {
        self.seen[usize::from(v >> 6)] |= 1 << (v & 63);
    }

    fn step(&mut self, prev: u8, v: u8) {
        self.mark(v);
        self.transitions += 1;
        if v != prev {
            self.changes += 1;
        }
        if v == prev.wrapping_add(1) {
            self.inc8 += 1;
        }
        if v & 0x0F == prev.wrapping_add(1) & 0x0F {
            self.inc_lo += 1;
        }
        if v >> 4 == ((prev >> 4) + 1) & 0x0F {
            self.inc_hi += 1;
        }
    }

    fn distinct(&self) -> u32 {
        self.seen.iter().map(|w| w.count_ones()).sum()
    }

    fn only_value(&self) -> Option<u8> {
        if self.distinct() != 1 {
            return None;
        }
        (0..=255u8).find(|&v| self.seen[usize::from(v >> 6)] & (1 << (v & 63)) != 0)
    }

    fn kind(&self) -> ByteKind {
        if let Some(v) = self.only_value() {
            return ByteKind::Constant(v);
        }
        // A counter steps by one in (almost) every frame: 90% leaves room for a lost frame
        // or a wrap done differently.
        let counts = |n: u64| self.transitions >= 4 && n * 10 >= self.transitions * 9;
        // A low-nibble counter under a constant high nibble also steps the whole byte by
        // one, except where the nibble wraps: fewer byte steps than nibble steps tell it.
        if counts(self.inc_lo) && self.inc8 < self.inc_lo {
            ByteKind::Counter(CounterBits::LowNibble)
        } else if counts(self.inc8) {
            ByteKind::Counter(CounterBits::Byte)
        } else if counts(self.inc_hi) {
            ByteKind::Counter(CounterBits::HighNibble)
        } else {
            ByteKind::Changes {
                distinct: self.distinct() as u16,
            }
        }
    }
}

/// Which bits of a byte count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterBits {
    Byte,
    LowNibble,
    HighNibble,
}

/// What one byte of a periodic message did over the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteKind {
    /// The same value in every frame.
    Constant(u8),
    /// Stepped by one from frame to frame (at least 90% of the time).
    Counter(CounterBits),
    /// Took this many distinct values.
    Changes { distinct: u16 },
}

/// A small deterministic generator for the reservoir (no randomness from the system: the
/// same capture always learns the same baseline).
fn next_random(state: &mut u64) -> u64 {
    // xorshift64*
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[derive(Debug, Clone)]
struct Track {
    count: u64,
    first: Timestamp,
    last: Timestamp,
    /// Intervals in microseconds (saturating at u32::MAX, 71 minutes).
    sample: Vec<u32>,
    intervals: u64,
    rng: u64,
    max_gap: Duration,
    lengths: Vec<(u8, u64)>,
    fd: bool,
    remote: u64,
    bytes: Vec<ByteTrack>,
    prev: Vec<u8>,
}

impl Track {
    fn new(id: Id, now: Timestamp) -> Self {
        Track {
            count: 0,
            first: now,
            last: now,
            sample: Vec::new(),
            intervals: 0,
            rng: 0x9E37_79B9_7F4A_7C15 ^ u64::from(id.raw()) ^ (u64::from(id.is_extended()) << 40),
            max_gap: Duration::ZERO,
            lengths: Vec::new(),
            fd: false,
            remote: 0,
            bytes: Vec::new(),
            prev: Vec::new(),
        }
    }

    fn add(&mut self, now: Timestamp, frame: &Frame) {
        if self.count > 0 {
            let gap = now.saturating_duration_since(self.last);
            self.max_gap = self.max_gap.max(gap);
            let us = u32::try_from(gap.as_micros()).unwrap_or(u32::MAX);
            self.intervals += 1;
            if self.sample.len() < SAMPLE {
                self.sample.push(us);
            } else {
                let j = next_random(&mut self.rng) % self.intervals;
                if let Ok(j) = usize::try_from(j)
                    && j < SAMPLE
                {
                    self.sample[j] = us;
                }
            }
        }
        self.count += 1;
        self.last = self.last.max(now);
        self.fd |= frame.is_fd();
        let Some(data) = frame.payload() else {
            self.remote += 1;
            return;
        };
        let len = data.len() as u8;
        match self.lengths.iter_mut().find(|(l, _)| *l == len) {
            Some((_, n)) => *n += 1,
            None => self.lengths.push((len, 1)),
        }
        for (i, &v) in data.iter().enumerate() {
            match (self.bytes.get_mut(i), self.prev.get(i)) {
                (Some(t), Some(&p)) if i < self.prev.len() => t.step(p, v),
                (Some(t), _) => t.mark(v),
                (None, _) => self.bytes.push(ByteTrack::new(v)),
            }
        }
        self.prev.clear();
        self.prev.extend_from_slice(data);
    }
}

/// Learns a [`Baseline`] from frames in time order.
#[derive(Debug, Clone)]
pub struct Learner {
    rules: Rules,
    ids: HashMap<Id, Track>,
    span: Option<(Timestamp, Timestamp)>,
    frames: u64,
    error_frames: u64,
    out_of_order: u64,
}

impl Default for Learner {
    fn default() -> Self {
        Learner::new(Rules::default())
    }
}

impl Learner {
    pub fn new(rules: Rules) -> Self {
        Learner {
            rules,
            ids: HashMap::new(),
            span: None,
            frames: 0,
            error_frames: 0,
            out_of_order: 0,
        }
    }

    /// One frame. Frames earlier than one already seen are taken at the latest time seen
    /// (and counted), as the watcher does.
    pub fn add(&mut self, now: Timestamp, frame: &Frame) {
        let now = match self.span {
            Some((_, last)) if now < last => {
                self.out_of_order += 1;
                last
            }
            _ => now,
        };
        self.span = Some(match self.span {
            Some((first, _)) => (first, now),
            None => (now, now),
        });
        self.frames += 1;
        let Some(id) = frame.id() else {
            self.error_frames += 1;
            return;
        };
        self.ids
            .entry(id)
            .or_insert_with(|| Track::new(id, now))
            .add(now, frame);
    }

    /// Frames fed so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// What was learnt, ids in ascending order (standard before extended).
    pub fn finish(self) -> Baseline {
        let rules = self.rules;
        let span = self.span;
        let mut ids: Vec<Learnt> = self
            .ids
            .into_iter()
            .map(|(id, t)| judge(&rules, span, id, t))
            .collect();
        ids.sort_by_key(|l| (l.id.is_extended(), l.id.raw()));
        Baseline {
            span,
            frames: self.frames,
            error_frames: self.error_frames,
            out_of_order: self.out_of_order,
            ids,
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    Duration::from_micros(u64::from(sorted[i.min(sorted.len() - 1)]))
}

fn judge(rules: &Rules, span: Option<(Timestamp, Timestamp)>, id: Id, t: Track) -> Learnt {
    let mut sample = t.sample;
    sample.sort_unstable();
    let timing = (!sample.is_empty()).then(|| Timing {
        median: percentile(&sample, 0.5),
        p5: percentile(&sample, 0.05),
        p95: percentile(&sample, 0.95),
        max_gap: t.max_gap,
    });
    let mut lengths = t.lengths;
    lengths.sort_by_key(|&(len, n)| (core::cmp::Reverse(n), len));
    let bytes = t.bytes.iter().map(ByteTrack::kind).collect();
    let not_watched = (|| {
        if t.count < rules.min_frames {
            return Some(NotWatched::TooFew { frames: t.count });
        }
        let timing = timing.as_ref()?;
        let median = timing.median;
        if median.is_zero() {
            return Some(NotWatched::Irregular {
                median,
                p95: timing.p95,
                max_gap: timing.max_gap,
            });
        }
        let spread = timing.p95.as_secs_f64() / median.as_secs_f64();
        let gap = timing.max_gap.as_secs_f64() / median.as_secs_f64();
        if spread > rules.max_spread || gap > rules.max_gap_factor {
            return Some(NotWatched::Irregular {
                median,
                p95: timing.p95,
                max_gap: timing.max_gap,
            });
        }
        let (first, last) = span?;
        let edge = rules
            .edge_tolerance
            .max(median.mul_f64(rules.max_gap_factor));
        let late = t.first.saturating_duration_since(first);
        let early = last.saturating_duration_since(t.last);
        if late > edge || early > edge {
            return Some(NotWatched::NotThroughout {
                first: t.first,
                last: t.last,
            });
        }
        None
    })();
    Learnt {
        id,
        frames: t.count,
        first: t.first,
        last: t.last,
        timing,
        lengths,
        fd: t.fd,
        remote: t.remote,
        bytes,
        not_watched,
    }
}

/// The spread of an id's intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub median: Duration,
    pub p5: Duration,
    pub p95: Duration,
    pub max_gap: Duration,
}

impl Timing {
    /// How far the 5th and 95th percentile intervals stray from the median (the larger).
    pub fn jitter(&self) -> Duration {
        (self.median.saturating_sub(self.p5)).max(self.p95.saturating_sub(self.median))
    }
}

/// Why an id of the capture is not watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotWatched {
    /// Too few frames to learn a period from.
    TooFew { frames: u64 },
    /// Intervals too spread (event-driven, requests and responses, bursts).
    Irregular {
        median: Duration,
        p95: Duration,
        max_gap: Duration,
    },
    /// Started late or stopped early against the capture's span: not sent throughout.
    NotThroughout { first: Timestamp, last: Timestamp },
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

impl fmt::Display for NotWatched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotWatched::TooFew { frames } => write!(f, "too few frames ({frames})"),
            NotWatched::Irregular {
                median,
                p95,
                max_gap,
            } => write!(
                f,
                "irregular (median interval {}, 95th percentile {}, longest gap {})",
                ms(*median),
                ms(*p95),
                ms(*max_gap)
            ),
            NotWatched::NotThroughout { first, last } => write!(
                f,
                "not sent throughout the capture (only from {:.3} s to {:.3} s)",
                first.as_secs_f64(),
                last.as_secs_f64()
            ),
        }
    }
}

/// What the capture showed of one id.
#[derive(Debug, Clone, PartialEq)]
pub struct Learnt {
    pub id: Id,
    pub frames: u64,
    pub first: Timestamp,
    pub last: Timestamp,
    /// Interval statistics (`None` with a single frame).
    pub timing: Option<Timing>,
    /// Payload lengths in bytes with their frame counts, the most common first.
    pub lengths: Vec<(u8, u64)>,
    /// Whether any frame was CAN FD.
    pub fd: bool,
    /// Remote frames among them.
    pub remote: u64,
    /// What each byte position did (as long as the longest payload).
    pub bytes: Vec<ByteKind>,
    /// `None` when periodic and watched.
    pub not_watched: Option<NotWatched>,
}

impl Learnt {
    pub fn is_periodic(&self) -> bool {
        self.not_watched.is_none()
    }

    /// The most common payload length.
    pub fn length(&self) -> u8 {
        self.lengths.first().map_or(0, |&(l, _)| l)
    }

    /// The median period, for a periodic id.
    pub fn period(&self) -> Option<Duration> {
        self.timing.filter(|_| self.is_periodic()).map(|t| t.median)
    }

    /// What the bytes did, for people: `0-1 constant (00 06), 3 counter, 4-7 change`.
    pub fn describe_bytes(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut i = 0;
        while i < self.bytes.len() {
            let kind = self.bytes[i];
            let mut j = i + 1;
            let same = |a: ByteKind, b: ByteKind| {
                matches!(
                    (a, b),
                    (ByteKind::Constant(_), ByteKind::Constant(_))
                        | (ByteKind::Changes { .. }, ByteKind::Changes { .. })
                )
            };
            while j < self.bytes.len() && same(kind, self.bytes[j]) {
                j += 1;
            }
            let range = if j - i == 1 {
                format!("{i}")
            } else {
                format!("{}-{}", i, j - 1)
            };
            parts.push(match kind {
                ByteKind::Constant(_) => {
                    let values: Vec<String> = self.bytes[i..j]
                        .iter()
                        .map(|b| match b {
                            ByteKind::Constant(v) => format!("{v:02X}"),
                            _ => String::new(),
                        })
                        .collect();
                    format!("{range} constant ({})", values.join(" "))
                }
                ByteKind::Counter(CounterBits::Byte) => format!("{range} counter"),
                ByteKind::Counter(CounterBits::LowNibble) => {
                    format!("{range} counter in the low 4 bits")
                }
                ByteKind::Counter(CounterBits::HighNibble) => {
                    format!("{range} counter in the high 4 bits")
                }
                ByteKind::Changes { .. } => {
                    let most = self.bytes[i..j]
                        .iter()
                        .map(|b| match b {
                            ByteKind::Changes { distinct } => *distinct,
                            _ => 0,
                        })
                        .max()
                        .unwrap_or(0);
                    format!(
                        "{range} change{} (up to {most} values)",
                        if j - i == 1 { "s" } else { "" }
                    )
                }
            });
            i = j;
        }
        parts.join(", ")
    }
}

/// What a capture taught: every id seen, periodic or not, and why not.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// First and last timestamps (`None` for an empty capture).
    pub span: Option<(Timestamp, Timestamp)>,
    pub frames: u64,
    pub error_frames: u64,
    /// Frames earlier than one already seen (taken at the latest time).
    pub out_of_order: u64,
    /// Every id seen, ascending.
    pub ids: Vec<Learnt>,
}

/// A baseline with no periodic id: nothing a watch could use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{name}: no periodic id (each needs {min_frames} frames or more at a steady period, present throughout the capture): nothing a watch could use; capture a longer stretch of the running car"
)]
pub struct NoPeriodicId {
    pub name: String,
    pub min_frames: u64,
}

impl Baseline {
    pub fn periodic(&self) -> impl Iterator<Item = &Learnt> {
        self.ids.iter().filter(|l| l.is_periodic())
    }

    pub fn not_watched(&self) -> impl Iterator<Item = (&Learnt, NotWatched)> {
        self.ids
            .iter()
            .filter_map(|l| l.not_watched.map(|n| (l, n)))
    }

    pub fn get(&self, id: Id) -> Option<&Learnt> {
        self.ids
            .binary_search_by_key(&(id.is_extended(), id.raw()), |l| {
                (l.id.is_extended(), l.id.raw())
            })
            .ok()
            .map(|i| &self.ids[i])
    }

    /// One line on what the baseline holds: `healthy.log: 24013 frames over 120.4 s, 41 ids:
    /// 37 periodic, 4 not watched`, then the ids not watched and why (at most `detail`).
    pub fn describe(&self, name: &str, detail: usize) -> String {
        use core::fmt::Write as _;
        let span = self
            .span
            .map_or(0.0, |(f, l)| l.saturating_duration_since(f).as_secs_f64());
        let periodic = self.periodic().count();
        let mut text = format!(
            "{name}: {} frames over {span:.1} s, {} ids: {periodic} periodic, {} not watched",
            self.frames,
            self.ids.len(),
            self.ids.len() - periodic
        );
        for (i, (l, why)) in self.not_watched().enumerate() {
            if i == detail {
                let _ = write!(
                    text,
                    "\n  ... and {} more",
                    self.ids.len() - periodic - detail
                );
                break;
            }
            let _ = write!(text, "\n  {:<9} {why}", l.id.to_string());
        }
        text
    }

    /// A baseline is of use to a watch only with a periodic id: otherwise why not, naming
    /// the capture `name`.
    pub fn require_periodic(&self, name: &str) -> Result<(), NoPeriodicId> {
        match self.periodic().next() {
            Some(_) => Ok(()),
            None => Err(NoPeriodicId {
                name: name.to_string(),
                min_frames: Rules::default().min_frames,
            }),
        }
    }

    /// The node a baseline id is watched as when no DBC names its sender.
    pub fn node_of(id: Id) -> String {
        format!("id {id}")
    }

    /// The watcher's expectations: every periodic id at its median period. Where `db`
    /// describes the id, the message's name and sender come from it; otherwise the id is a
    /// node of its own, `id 35D`.
    pub fn expectations(&self, db: Option<&Database>) -> Vec<Expectation> {
        self.periodic()
            .filter_map(|l| {
                let message = db.and_then(|db| db.message_by_id(l.id));
                Some(Expectation {
                    id: l.id,
                    name: message.map(|m| m.name().to_string()),
                    node: message
                        .and_then(|m| m.transmitter())
                        .map_or_else(|| Self::node_of(l.id), str::to_string),
                    cycle: l.period()?,
                })
            })
            .collect()
    }

    /// Periodic ids of this capture that `other` never carried at all.
    pub fn missing_in(&self, other: &Baseline) -> Vec<Id> {
        self.periodic()
            .filter(|l| other.get(l.id).is_none())
            .map(|l| l.id)
            .collect()
    }
}

#[cfg(test)]
mod tests;
