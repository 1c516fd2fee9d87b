//! Which frames of a log a replay sends, where, and how many times: the log's interfaces
//! routed to the target interfaces ([`Route`]), frames filtered, the log walked once per loop
//! ([`walk`]), and what was left out counted ([`Skipped`]).
//!
//! Pure: the caller opens the log once per pass and hands over its records; the driver (or
//! the dry run) gets each frame with its target.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use std::io::{self, Write as _};

use super::Planner;
use crate::frame::Frame;
use crate::log::candump::{Precision, Record, WriteOptions, format_record};
use crate::time::Timestamp;

/// How many times a log plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loops {
    Times(u64),
    Forever,
}

/// A loop count that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: give a number of times (1 or more) or inf")]
pub struct LoopsError(pub String);

impl Loops {
    /// `N` (1 or more), or `inf`, `infinite`, `forever`.
    pub fn parse(s: &str) -> Result<Loops, LoopsError> {
        match s {
            "inf" | "infinite" | "forever" => Ok(Loops::Forever),
            n => match n.parse::<u64>() {
                Ok(0) | Err(_) => Err(LoopsError(s.to_string())),
                Ok(n) => Ok(Loops::Times(n)),
            },
        }
    }

    /// The loops a dry run lists: every loop of a count, one loop of an endless replay (then
    /// `true`: the listing is cut short).
    pub fn listed(self) -> (Loops, bool) {
        match self {
            Loops::Times(n) => (Loops::Times(n), false),
            Loops::Forever => (Loops::Times(1), true),
        }
    }
}

/// What a dry run says once its listing is written: `dry run: 3 frames planned, nothing was
/// sent`.
pub fn dry_run_summary(planned: u64) -> String {
    format!(
        "dry run: {planned} frame{} planned, nothing was sent",
        if planned == 1 { "" } else { "s" }
    )
}

/// A replay (or a dry run) that sent (or planned) no frame of its log: not a success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("nothing was replayed from {log}: {why}")]
pub struct NothingReplayed {
    /// The log, as given.
    pub log: String,
    /// Why nothing was sent ([`Skipped::why_nothing`]).
    pub why: String,
}

/// The interfaces chosen for sending: `iface` (every frame), then the TX side of each `map`
/// pair (`(target, log interface)`), each once. Empty when the log's own names are to be used.
pub fn chosen_targets(iface: Option<&str>, map: &[(String, String)]) -> Vec<String> {
    let mut targets: Vec<String> = iface.iter().map(|i| i.to_string()).collect();
    for (tx, _) in map {
        if !targets.contains(tx) {
            targets.push(tx.clone());
        }
    }
    targets
}

/// Log interface -> target interface index, fixed once the targets are known.
#[derive(Debug, Clone)]
pub struct Route {
    all_to_first: bool,
    map: HashMap<String, usize>,
    by_name: bool,
    targets: Vec<String>,
}

impl Route {
    /// Every frame to the first target (`single`, as `--iface` asks), else each log
    /// interface to the target `map` gives it (`(target, log interface)` pairs, as
    /// `--map TXIF=LOGIF`), else (no map) each frame to the target of its log interface's
    /// name.
    pub fn new(single: bool, map: &[(String, String)], targets: &[String]) -> Route {
        Route {
            all_to_first: single,
            by_name: !single && map.is_empty(),
            map: map
                .iter()
                .filter_map(|(tx, log)| Some((log.clone(), targets.iter().position(|t| t == tx)?)))
                .collect(),
            targets: targets.to_vec(),
        }
    }

    /// The target interfaces, by index.
    pub fn targets(&self) -> &[String] {
        &self.targets
    }

    /// [`Route::target`], except that by name a log interface not yet among the targets
    /// becomes the next one (for a listing made in one pass, before the log's interfaces
    /// are all known).
    pub fn target_or_add(&mut self, iface: &str) -> Option<usize> {
        match self.target(iface) {
            None if self.by_name && !self.all_to_first => {
                self.targets.push(iface.to_string());
                Some(self.targets.len() - 1)
            }
            t => t,
        }
    }

    /// The target index for a frame logged on `iface`; `None`: not replayed.
    pub fn target(&self, iface: &str) -> Option<usize> {
        if self.all_to_first {
            Some(0)
        } else if self.by_name {
            self.targets.iter().position(|t| t == iface)
        } else {
            self.map.get(iface).copied()
        }
    }
}

/// Frames not replayed: by the route (with the log interfaces they were on), by the filters,
/// or malformed (counted on the first pass).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub unmapped: u64,
    pub unmapped_ifaces: Vec<String>,
    pub filtered: u64,
    pub bad: u64,
}

impl Skipped {
    /// What was skipped, for a closing report: `2 on interfaces not replayed (can1)`,
    /// `3 filtered out`, `1 malformed` (nothing when nothing was).
    pub fn describe(&self) -> Vec<String> {
        let mut skip = Vec::new();
        if self.unmapped > 0 {
            skip.push(format!(
                "{} on interfaces not replayed ({})",
                self.unmapped,
                printable(&self.unmapped_ifaces.join(", "))
            ));
        }
        if self.filtered > 0 {
            skip.push(format!("{} filtered out", self.filtered));
        }
        if self.bad > 0 {
            skip.push(format!("{} malformed", self.bad));
        }
        skip
    }

    /// Whether a replay of `log` that sent `sent` frames, skipping these, did anything: an
    /// error that says why not when it sent none.
    pub fn nothing_replayed(&self, sent: u64, log: &Path) -> Result<(), NothingReplayed> {
        match sent {
            0 => Err(NothingReplayed {
                log: log.display().to_string(),
                why: self.why_nothing(),
            }),
            _ => Ok(()),
        }
    }

    /// Why a replay that sent nothing sent nothing.
    pub fn why_nothing(&self) -> String {
        if self.unmapped > 0 && self.filtered == 0 {
            format!(
                "no frame is on an interface that --map names (the log has frames on {}; --map takes TXIF=LOGIF)",
                printable(&self.unmapped_ifaces.join(", "))
            )
        } else if self.filtered > 0 {
            format!(
                "--filter matched none of the log's {} frames",
                self.filtered + self.unmapped
            )
        } else {
            "the log has no frames".to_string()
        }
    }
}

/// `text` with its control characters escaped: a log's interface names must not move the
/// terminal's cursor.
fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut s = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            s.extend(c.escape_default());
        } else {
            s.push(c);
        }
    }
    Cow::Owned(s)
}

/// One record of a pass over the log.
#[derive(Debug)]
pub enum Read<E> {
    /// A frame: its log time, the interface it was logged on.
    Frame(Timestamp, Arc<str>, Frame),
    /// A malformed record, with what is wrong with it.
    Bad(String),
    /// Damage that ends the log.
    Fatal(E),
}

/// A log that can be read from the start again, once per loop.
pub trait Passes<E> {
    /// One pass over the log's records, from its start.
    fn pass(&mut self) -> Result<Box<dyn Iterator<Item = Read<E>> + '_>, E>;
}

/// What [`walk`] hands its visitor.
#[derive(Debug)]
pub enum Step {
    LoopStart,
    /// Log time, target index, frame.
    Frame(Timestamp, usize, Frame),
    LoopEnd,
}

/// What [`walk`] says of malformed records: each of the first pass, then the end of that
/// pass (later passes repeat them silently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed<'a> {
    Record(&'a str),
    FirstPassEnded,
}

/// Walks `log` `loops` times, one [`Passes::pass`] each; each frame is routed
/// (`route`: `None` skips it), filtered (`keep`), and handed with its target to `each`, which
/// returns `false` to stop. Malformed records of the first pass go to `malformed`. Damage
/// ends the walk with its error (after the frames before it).
pub fn walk<E>(
    log: &mut impl Passes<E>,
    mut route: impl FnMut(&str) -> Option<usize>,
    keep: impl Fn(&Frame) -> bool,
    loops: Loops,
    mut malformed: impl FnMut(Malformed<'_>),
    mut each: impl FnMut(Step) -> bool,
) -> Result<Skipped, E> {
    let mut skipped = Skipped::default();
    let mut done = 0u64;
    loop {
        if let Loops::Times(n) = loops
            && done >= n
        {
            break;
        }
        if !each(Step::LoopStart) {
            break;
        }
        for item in log.pass()? {
            let (ts, iface, frame) = match item {
                Read::Frame(ts, iface, frame) => (ts, iface, frame),
                Read::Bad(e) => {
                    if done == 0 {
                        skipped.bad += 1;
                        malformed(Malformed::Record(&e));
                    }
                    continue;
                }
                Read::Fatal(e) => {
                    if done == 0 {
                        malformed(Malformed::FirstPassEnded);
                    }
                    return Err(e);
                }
            };
            match route(&iface) {
                None => {
                    skipped.unmapped += 1;
                    if !skipped.unmapped_ifaces.iter().any(|n| **n == *iface) {
                        skipped.unmapped_ifaces.push(iface.to_string());
                    }
                }
                Some(_) if !keep(&frame) => skipped.filtered += 1,
                Some(t) => {
                    if !each(Step::Frame(ts, t, frame)) {
                        return Ok(skipped);
                    }
                }
            }
        }
        if done == 0 {
            malformed(Malformed::FirstPassEnded);
        }
        done += 1;
        if !each(Step::LoopEnd) {
            break;
        }
    }
    Ok(skipped)
}

/// Why a dry run's listing stopped.
#[derive(Debug)]
pub enum ListingError<E> {
    /// The log could not be read.
    Log(E),
    /// The listing could not be written.
    Write(io::Error),
}

/// A dry run: what [`walk`] would send, each frame a candump line with its offset from the
/// start and its target interface (`+0.100000 (1700000000.000000) can0 123#00`), written to
/// `out` in one streaming pass. By name (`route` from no `--iface` or `--map`), each frame
/// goes to the interface it was logged on. Returns the frames listed and what was skipped.
pub fn write_listing<E>(
    log: &mut impl Passes<E>,
    mut route: Route,
    keep: impl Fn(&Frame) -> bool,
    loops: Loops,
    planner: &mut Planner,
    malformed: impl FnMut(Malformed<'_>),
    out: &mut dyn io::Write,
) -> Result<(u64, Skipped), ListingError<E>> {
    let route = std::cell::RefCell::new(&mut route);
    let options = WriteOptions::default();
    let mut buf = Vec::new();
    let mut write_error = None;
    let mut listed = 0u64;
    let skipped = walk(
        log,
        |iface| route.borrow_mut().target_or_add(iface),
        keep,
        loops,
        malformed,
        |step| {
            let (ts, target, frame) = match step {
                Step::LoopStart => {
                    planner.start_loop();
                    return true;
                }
                Step::LoopEnd => return true,
                Step::Frame(ts, target, frame) => (ts, target, frame),
            };
            let due = planner.due(ts);
            let route = route.borrow();
            let name = route.targets().get(target).map_or("?", |s| s.as_str());
            buf.clear();
            let _ = write!(buf, "+{:.6} ", due.as_secs_f64());
            format_record(
                &mut buf,
                &Record {
                    timestamp: ts,
                    precision: Precision::Micros,
                    interface: name,
                    frame,
                    direction: None,
                },
                &options,
            );
            listed += 1;
            match out.write_all(&buf) {
                Ok(()) => true,
                Err(e) => {
                    write_error = Some(e);
                    false
                }
            }
        },
    )
    .map_err(ListingError::Log)?;
    if let Some(e) = write_error {
        return Err(ListingError::Write(e));
    }
    Ok((listed, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_printable_escapes_terminal_sequences() {
        assert_eq!(printable("can0"), "can0");
        assert_eq!(printable("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("x\ry\n"), "x\\ry\\n");
    }

    #[test]
    fn test_skipped_says_what_and_why() {
        let none = Skipped::default();
        assert!(none.describe().is_empty());
        assert_eq!(none.why_nothing(), "the log has no frames");
        let unmapped = Skipped {
            unmapped: 2,
            unmapped_ifaces: vec!["can1".into(), "x\x1b[2J".into()],
            ..Skipped::default()
        };
        assert_eq!(
            unmapped.describe(),
            ["2 on interfaces not replayed (can1, x\\u{1b}[2J)"]
        );
        assert!(unmapped.why_nothing().starts_with(
            "no frame is on an interface that --map names (the log has frames on can1, x\\u{1b}"
        ));
        let filtered = Skipped {
            filtered: 3,
            bad: 1,
            ..unmapped
        };
        assert_eq!(filtered.describe()[1..], ["3 filtered out", "1 malformed"]);
        assert_eq!(
            filtered.why_nothing(),
            "--filter matched none of the log's 5 frames"
        );
    }
    use crate::frame::Id;

    fn frame(id: u16) -> Frame {
        Frame::classic(Id::standard(id).unwrap(), &[]).unwrap()
    }

    /// A log in memory, counting its passes.
    struct Mem {
        records: fn() -> Vec<Read<String>>,
        passes: u32,
    }

    impl Passes<String> for Mem {
        fn pass(&mut self) -> Result<Box<dyn Iterator<Item = Read<String>> + '_>, String> {
            self.passes += 1;
            Ok(Box::new((self.records)().into_iter()))
        }
    }

    fn mem(records: fn() -> Vec<Read<String>>) -> Mem {
        Mem { records, passes: 0 }
    }

    fn log() -> Vec<Read<String>> {
        let at = |ms: u64| Timestamp::from_nanos(ms * 1_000_000);
        vec![
            Read::Frame(at(0), Arc::from("can0"), frame(1)),
            Read::Bad("line 2: not a frame".into()),
            Read::Frame(at(10), Arc::from("can1"), frame(2)),
            Read::Frame(at(20), Arc::from("can0"), frame(3)),
        ]
    }

    /// Each frame listed with its offset and target: the log's own interface by name, the
    /// mapped one otherwise; the malformed record and the filtered frame are counted.
    #[test]
    fn test_listing_of_a_dry_run() {
        let listing = |route: Route, loops: u64| {
            let mut out = Vec::new();
            let mut planner = Planner::new(crate::replay::PlanConfig {
                speed: 2.0,
                ..Default::default()
            })
            .unwrap();
            let (listed, skipped) = write_listing(
                &mut mem(log),
                route,
                |f| f.id().is_some_and(|id| id.raw() != 3),
                Loops::Times(loops),
                &mut planner,
                |_| {},
                &mut out,
            )
            .unwrap();
            (String::from_utf8(out).unwrap(), listed, skipped)
        };
        let (text, listed, skipped) = listing(Route::new(false, &[], &[]), 2);
        assert_eq!(
            text,
            // The second loop starts where the first one's last frame went out.
            "+0.000000 (0000000000.000000) can0 001#\n+0.005000 (0000000000.010000) can1 002#\n\
             +0.005000 (0000000000.000000) can0 001#\n+0.010000 (0000000000.010000) can1 002#\n"
        );
        assert_eq!(listed, 4);
        // Filtered in each loop; malformed counted once.
        assert_eq!((skipped.bad, skipped.filtered, skipped.unmapped), (1, 2, 0));
        let map = [("vcan1".to_string(), "can1".to_string())];
        let (text, listed, skipped) = listing(Route::new(false, &map, &["vcan1".into()]), 1);
        // The first frame sent is due at once.
        assert_eq!(text, "+0.000000 (0000000000.010000) vcan1 002#\n");
        assert_eq!(
            (listed, skipped.unmapped_ifaces),
            (1, vec!["can0".to_string()])
        );
    }

    #[test]
    fn test_nothing_replayed_and_dry_run_summary() {
        let filtered = Skipped {
            filtered: 3,
            ..Skipped::default()
        };
        assert_eq!(filtered.nothing_replayed(1, Path::new("a.log")), Ok(()));
        let e = filtered
            .nothing_replayed(0, Path::new("a.log"))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "nothing was replayed from a.log: --filter matched none of the log's 3 frames"
        );
        assert_eq!(
            dry_run_summary(1),
            "dry run: 1 frame planned, nothing was sent"
        );
        assert_eq!(
            dry_run_summary(0),
            "dry run: 0 frames planned, nothing was sent"
        );
        assert_eq!(Loops::Times(3).listed(), (Loops::Times(3), false));
        assert_eq!(Loops::Forever.listed(), (Loops::Times(1), true));
    }

    #[test]
    fn test_loops_parse() {
        assert_eq!(Loops::parse("3"), Ok(Loops::Times(3)));
        assert_eq!(Loops::parse("inf"), Ok(Loops::Forever));
        assert!(Loops::parse("0").is_err() && Loops::parse("-1").is_err());
    }

    #[test]
    fn test_routes() {
        let targets = ["vcan0".to_string(), "vcan1".to_string()];
        let single = Route::new(true, &[], &targets[..1]);
        assert_eq!(single.target("anything"), Some(0));
        let map = [("vcan1".to_string(), "can0".to_string())];
        let mapped = Route::new(false, &map, &targets);
        assert_eq!(
            (mapped.target("can0"), mapped.target("can1")),
            (Some(1), None)
        );
        let by_name = Route::new(false, &[], &targets);
        assert_eq!(
            (by_name.target("vcan1"), by_name.target("can0")),
            (Some(1), None)
        );
    }

    #[test]
    fn test_walk_routes_filters_and_counts_each_pass() {
        let mut said = Vec::new();
        let mut sent = Vec::new();
        let mut m = mem(log);
        let skipped = walk(
            &mut m,
            |iface| (iface == "can0").then_some(0),
            |f| f.id() != Some(Id::standard(3).unwrap()),
            Loops::Times(2),
            |m| said.push(format!("{m:?}")),
            |step| {
                if let Step::Frame(ts, t, f) = step {
                    sent.push((ts.as_nanos() / 1_000_000, t, f.id().unwrap().raw()));
                }
                true
            },
        )
        .unwrap();
        assert_eq!(m.passes, 2);
        assert_eq!(sent, [(0, 0, 1), (0, 0, 1)]);
        assert_eq!(
            skipped,
            Skipped {
                unmapped: 2,
                unmapped_ifaces: vec!["can1".into()],
                filtered: 2,
                bad: 1,
            }
        );
        assert_eq!(said, ["Record(\"line 2: not a frame\")", "FirstPassEnded"]);
    }

    #[test]
    fn test_walk_stops_when_asked_and_on_damage() {
        let mut n = 0;
        let skipped = walk(
            &mut mem(log),
            |_| Some(0),
            |_| true,
            Loops::Forever,
            |_| {},
            |step| {
                n += matches!(step, Step::Frame(..)) as u32;
                n < 5
            },
        )
        .unwrap();
        assert_eq!(n, 5, "stopped at the fifth frame, in the second loop");
        assert_eq!(skipped.bad, 1, "malformed records count once");
        fn damaged() -> Vec<Read<String>> {
            let mut l = log();
            l.insert(1, Read::Fatal("truncated".to_string()));
            l
        }
        let mut frames = 0;
        let r = walk(
            &mut mem(damaged),
            |_| Some(0),
            |_| true,
            Loops::Times(1),
            |_| {},
            |s| {
                frames += matches!(s, Step::Frame(..)) as u32;
                true
            },
        );
        assert_eq!(r, Err("truncated".to_string()));
        assert_eq!(frames, 1, "the frames before the damage went out");
    }
}
