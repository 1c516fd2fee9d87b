//! What a watch says to people: a text line per record, and the closing summary with its
//! judgement. Pure: the command line prints the text and turns the [`Judgement`] into its
//! exit status.
//!
//! [`Reporter`] writes a watch's records as they come (text or JSON Lines) to any writer and
//! closes with the summary.
//!
//! Also what a watch is told to expect: the `ID:PERIOD_MS[:NODE]` form ([`ExpectSpec`]) and
//! the choice of messages from a DBC or a learnt baseline ([`select`]), and that one watch
//! reads logs or interfaces, not both ([`watches_logs`]).

use core::fmt::Write as _;
use core::time::Duration;
use std::collections::BTreeSet;
use std::io;

use super::Event;
use super::armed::{ArmedEvent, ArmedWatch, NodeVerdict, Verdict, WatchRecord};
use super::{ArmCondition, Expectation, WatchConfig, expectations_from_dbc};
use crate::baseline::Baseline;
use crate::dbc::Database;
use crate::frame::Frame;
use crate::frame::Id;
use crate::jsonl::Seconds;
use crate::time::Timestamp;

/// What the watch could conclude, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// Something was lost during the watch.
    Lost,
    /// Nothing, or some node, could not be judged (never armed, or never seen before its
    /// first timeout).
    NotJudged,
    /// Every node was judged and nothing was lost.
    Ok,
}

/// The closing summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// For people: the span watched and a line per node (or why nothing was judged).
    pub text: String,
    pub judgement: Judgement,
    /// When the watch never armed: the record that says so (the last JSON Lines record).
    pub not_armed: Option<WatchRecord>,
}

/// `1700000000.000211`.
fn secs(t: Timestamp) -> String {
    Seconds(t).text()
}

impl ArmedWatch {
    /// A record as a line for people (without the newline); `None` for the records only the
    /// summary or a warning reports.
    pub fn text_line(&self, r: &WatchRecord) -> Option<String> {
        match r {
            WatchRecord::Lost {
                node,
                message,
                id,
                timestamp,
                last_seen,
            }
            | WatchRecord::Restored {
                node,
                message,
                id,
                timestamp,
                last_seen,
            } => {
                let lost = matches!(r, WatchRecord::Lost { .. });
                let at = timestamp.0;
                let what = match id {
                    Some(id) => format!(
                        "{node:<8} {} (0x{})",
                        message.as_deref().unwrap_or("(no name)"),
                        self.watcher()
                            .expectations()
                            .iter()
                            .find(|e| e.id.raw() == *id)
                            .map_or(format!("{id:X}"), |e| e.id.to_string())
                    ),
                    None => format!("{node:<8} node"),
                };
                let gap = |ls: &Seconds| at.saturating_duration_since(ls.0).as_secs_f64();
                let detail = match (lost, last_seen) {
                    (true, Some(ls)) => {
                        format!("no frame for {:.3} s, last at {}", gap(ls), ls.text())
                    }
                    (true, None) => "never seen since arming".to_string(),
                    (false, Some(ls)) => format!("back after a {:.3} s gap", gap(ls)),
                    (false, None) => "first frame".to_string(),
                };
                let kind = if lost { "LOST" } else { "RESTORED" };
                Some(format!("{}  {kind:<9} {what:<36} {detail}", secs(at)))
            }
            WatchRecord::Armed {
                condition,
                timestamp,
            } => Some(format!(
                "{}  {:<9} ({condition} holds)",
                timestamp.text(),
                "ARMED"
            )),
            WatchRecord::Disarmed {
                condition,
                timestamp,
            } => Some(format!(
                "{}  {:<9} ({condition} no longer holds)",
                timestamp.text(),
                "DISARMED"
            )),
            WatchRecord::ArmingMissing { .. } | WatchRecord::NotArmed { .. } => None,
        }
    }

    /// The closing summary after `frames` frames, of which `losses` losses were reported;
    /// `ways_out` is the advice given when the watch never armed.
    pub fn summary(&self, frames: u64, losses: u64, ways_out: &str) -> Summary {
        let (first, end) = self.span().unwrap_or((Timestamp::ZERO, Timestamp::ZERO));
        let span = match frames {
            0 => "no frames".to_string(),
            n => format!(
                "{} to {} ({:.3} s, {n} frames)",
                secs(first),
                secs(end),
                end.saturating_duration_since(first).as_secs_f64(),
            ),
        };
        let mut text = String::new();
        match self.verdict(end) {
            Verdict::NotArmed {
                condition,
                message,
                message_seen,
            } => {
                let _ = writeln!(
                    text,
                    "not armed: {condition} never held ({message} {}); nothing was judged. Ways out: {ways_out}",
                    match message_seen {
                        true => "was seen, but never with that value",
                        false => "was never seen",
                    }
                );
                let _ = writeln!(text, "Summary, {span}: nothing judged");
                Summary {
                    text,
                    judgement: Judgement::NotJudged,
                    not_armed: Some(WatchRecord::NotArmed {
                        condition,
                        message,
                        message_seen,
                        timestamp: Seconds(end),
                    }),
                }
            }
            Verdict::Judged(nodes) => {
                let _ = writeln!(text, "Summary, {span}:");
                let _ = writeln!(
                    text,
                    "  {:<10} {:>6} {:>12}  now",
                    "node", "losses", "downtime"
                );
                let mut not_judged = 0;
                for n in &nodes {
                    let state = match n.verdict {
                        NodeVerdict::Ok => "ok",
                        NodeVerdict::Lost if !n.seen => "LOST (never seen)",
                        NodeVerdict::Lost => "LOST",
                        NodeVerdict::NotJudged => {
                            not_judged += 1;
                            "not judged (not seen, and its first timeout had not passed)"
                        }
                    };
                    let _ = writeln!(
                        text,
                        "  {:<10} {:>6} {:>10.3} s  {state}",
                        n.name,
                        n.summary.losses,
                        n.summary.downtime.as_secs_f64()
                    );
                }
                let judgement = if losses > 0 {
                    Judgement::Lost
                } else if not_judged > 0 {
                    Judgement::NotJudged
                } else {
                    Judgement::Ok
                };
                Summary {
                    text,
                    judgement,
                    not_armed: None,
                }
            }
        }
    }
}

impl ArmedWatch {
    /// The warning an event calls for, if any: frames out of time order (said once), or the
    /// arming condition's message not seen within the grace period. `ways_out` names what
    /// chooses otherwise.
    pub fn warning(&self, e: &ArmedEvent, ways_out: &str) -> Option<String> {
        match e {
            ArmedEvent::TimeWentBack { at, latest } => Some(format!(
                "a frame at {} is earlier than one at {} already seen: frames out of time order are taken as arriving at the latest time (said once)",
                secs(*at),
                secs(*latest)
            )),
            ArmedEvent::ArmingMissing { .. } => Some(format!(
                "the arming condition {} needs {}, which has not been seen within the grace period: until it is, nothing is watched (this car may use other ids). Ways out: {ways_out}",
                self.condition().unwrap_or_default(),
                self.arming_message().unwrap_or_default()
            )),
            _ => None,
        }
    }
}

/// How a [`Reporter`] writes records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A line per loss, restoration, arming and disarming, for people.
    Text,
    /// One JSON object per line (the stable contract): losses, restorations, and what stops
    /// the watch from judging.
    Jsonl,
}

/// A watch that writes each record to `out` as it comes, counts the frames and losses, and
/// closes with its summary. Warnings (frames out of order, the arming message missing) go to
/// `warn`, for people.
pub struct Reporter<W: io::Write, F: FnMut(String)> {
    watch: ArmedWatch,
    format: Format,
    out: W,
    warn: F,
    ways_out: String,
    losses: u64,
    frames: u64,
}

impl<W: io::Write, F: FnMut(String)> Reporter<W, F> {
    /// `ways_out` is the advice given when the arming condition cannot hold.
    pub fn new(watch: ArmedWatch, format: Format, out: W, ways_out: &str, warn: F) -> Self {
        Reporter {
            watch,
            format,
            out,
            warn,
            ways_out: ways_out.to_string(),
            losses: 0,
            frames: 0,
        }
    }

    /// The watch.
    pub fn watch(&self) -> &ArmedWatch {
        &self.watch
    }

    /// Where the records go.
    pub fn out_mut(&mut self) -> &mut W {
        &mut self.out
    }

    /// A frame at `now`, and what it causes.
    pub fn frame(&mut self, now: Timestamp, frame: &Frame) -> io::Result<()> {
        self.frames += 1;
        self.watch.handle_frame(now, frame);
        self.drain()
    }

    /// The time is `now`: losses due by then are reported.
    pub fn timeout(&mut self, now: Timestamp) -> io::Result<()> {
        self.watch.handle_timeout(now);
        self.drain()
    }

    /// The end of a log: the losses due by its last frame (what might have happened after
    /// it is unknown). Nothing when no frame came.
    pub fn timeout_at_last_frame(&mut self) -> io::Result<()> {
        match self.watch.span() {
            Some((_, last)) => self.timeout(last),
            None => Ok(()),
        }
    }

    fn drain(&mut self) -> io::Result<()> {
        while let Some(e) = self.watch.poll_event() {
            self.event(&e)?;
        }
        Ok(())
    }

    fn event(&mut self, e: &ArmedEvent) -> io::Result<()> {
        if let Some(w) = self.watch.warning(e, &self.ways_out) {
            (self.warn)(w);
        }
        if let ArmedEvent::Watch(Event::Lost { .. }) = e {
            self.losses += 1;
        }
        let Some(record) = self.watch.record(e) else {
            return Ok(());
        };
        match self.format {
            // ARMED/DISARMED lines are for people; the JSON Lines contract carries losses,
            // restorations and what stops the watch from judging.
            Format::Jsonl
                if matches!(
                    record,
                    WatchRecord::Armed { .. } | WatchRecord::Disarmed { .. }
                ) =>
            {
                Ok(())
            }
            Format::Jsonl => {
                let mut line = crate::jsonl::line(&record);
                line.push('\n');
                self.out.write_all(line.as_bytes())
            }
            Format::Text => match self.watch.text_line(&record) {
                Some(line) => writeln!(self.out, "{line}"),
                None => Ok(()),
            },
        }
    }

    /// The closing summary. In text it is written to `out`; in JSON Lines only the record of
    /// a watch that never armed is (the summary's text is for people: the caller shows it
    /// elsewhere). `out` is flushed.
    pub fn finish(&mut self) -> io::Result<Summary> {
        let summary = self.watch.summary(self.frames, self.losses, &self.ways_out);
        match self.format {
            Format::Text => self.out.write_all(summary.text.as_bytes())?,
            Format::Jsonl => {
                if let Some(record) = &summary.not_armed {
                    let mut line = crate::jsonl::line(record);
                    line.push('\n');
                    self.out.write_all(line.as_bytes())?;
                }
            }
        }
        self.out.flush()?;
        Ok(summary)
    }
}

/// A message to expect, as given on the command line: `ID:PERIOD_MS[:NODE]` (hex id, 29-bit
/// when longer than 3 digits or above 7FF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectSpec {
    pub id: Id,
    pub period: Duration,
    /// The sending node; when absent, the id names it.
    pub node: Option<String>,
}

/// Why an `ID:PERIOD_MS[:NODE]` text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpectSpecError {
    #[error("{0:?}: expected ID:PERIOD_MS[:NODE]")]
    Form(String),
    #[error("{0:?} is not a hex id")]
    NotHex(String),
    #[error("{0:?} is not a CAN id")]
    NotId(String),
    #[error("{0:?} is not a period in milliseconds")]
    Period(String),
}

impl ExpectSpec {
    pub fn parse(text: &str) -> Result<ExpectSpec, ExpectSpecError> {
        let mut parts = text.split(':');
        let (Some(id), Some(ms)) = (parts.next(), parts.next()) else {
            return Err(ExpectSpecError::Form(text.to_string()));
        };
        let node = parts.next().map(str::to_string);
        let raw = u32::from_str_radix(id.trim_start_matches("0x"), 16)
            .map_err(|_| ExpectSpecError::NotHex(id.to_string()))?;
        let id = Id::new(raw, id.len() > 3 || raw > 0x7FF)
            .ok_or_else(|| ExpectSpecError::NotId(id.to_string()))?;
        let ms: u64 = ms
            .parse()
            .ok()
            .filter(|&m| m > 0)
            .ok_or_else(|| ExpectSpecError::Period(ms.to_string()))?;
        Ok(ExpectSpec {
            id,
            period: Duration::from_millis(ms),
            node,
        })
    }
}

/// A watch given both interfaces and logs: it watches one kind, live on the system clock or
/// over the logs' own time lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("watch either interfaces or logs, not both")]
pub struct MixedSources;

/// Whether a watch of sources that are logs (`true`) or interfaces (`false`) reads logs: all
/// of them are logs, or none is (then it watches live).
pub fn watches_logs(is_log: impl IntoIterator<Item = bool>) -> Result<bool, MixedSources> {
    let (mut logs, mut live) = (false, false);
    for log in is_log {
        match log {
            true => logs = true,
            false => live = true,
        }
    }
    match logs && live {
        true => Err(MixedSources),
        false => Ok(logs),
    }
}

/// Why [`select`] found nothing to watch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("{from} is sent by node {node} (nodes that send: {known})")]
    UnknownNode {
        from: &'static str,
        node: String,
        known: String,
    },
    #[error("nothing to watch: no message with a sender and a cycle time (use --expect)")]
    Nothing,
}

/// The messages to watch: the DBC's periodic messages with a sender (or, with a baseline, the
/// periodic ids it learnt, named by the DBC where it can), only those of `nodes` when any are
/// named, with `expect` added or overriding the cycle of the same id.
pub fn select(
    db: &Database,
    baseline: Option<&Baseline>,
    nodes: &[String],
    expect: &[ExpectSpec],
) -> Result<Vec<Expectation>, SelectError> {
    let candidates = match baseline {
        Some(b) => b.expectations(Some(db)),
        None => expectations_from_dbc(db),
    };
    let known: BTreeSet<&str> = match baseline {
        Some(_) => candidates.iter().map(|e| e.node.as_str()).collect(),
        None => db
            .messages()
            .iter()
            .filter_map(|m| m.transmitter())
            .collect(),
    };
    for n in nodes {
        if !known.contains(n.as_str()) && !expect.iter().any(|e| e.node.as_deref() == Some(n)) {
            return Err(SelectError::UnknownNode {
                from: match baseline {
                    Some(_) => "no periodic id of the baseline",
                    None => "no message in the DBC",
                },
                node: n.clone(),
                known: known.iter().copied().collect::<Vec<_>>().join(", "),
            });
        }
    }
    let wanted = |node: &str| nodes.is_empty() || nodes.iter().any(|n| n == node);
    let mut list: Vec<Expectation> = candidates.into_iter().filter(|e| wanted(&e.node)).collect();
    for e in expect {
        let node = e.node.clone().unwrap_or_else(|| Baseline::node_of(e.id));
        if wanted(&node) || node.starts_with("id ") {
            list.retain(|x| x.id != e.id);
            list.push(Expectation {
                id: e.id,
                name: db.message_by_id(e.id).map(|m| m.name().to_string()),
                node,
                cycle: e.period,
            });
        }
    }
    match list.is_empty() {
        true => Err(SelectError::Nothing),
        false => Ok(list),
    }
}

/// What a watch is told to watch and when: the command line's options.
#[derive(Debug, Clone, Copy)]
pub struct Setup<'a> {
    /// Only these nodes (none: every node with a periodic message).
    pub nodes: &'a [String],
    /// Messages to expect beside (or instead of) the DBC's.
    pub expect: &'a [ExpectSpec],
    pub timeout_factor: f64,
    pub min_timeout: Duration,
    pub grace: Duration,
    /// The arming condition given (`--arm-on`), over the DBC's.
    pub arm_on: Option<&'a str>,
    /// Armed from the first frame, whatever the DBC says.
    pub always_armed: bool,
}

/// Why a watch could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("--timeout-factor must be a positive number")]
    TimeoutFactor,
    #[error("arming condition: {0}")]
    Arming(#[from] super::ArmError),
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(transparent)]
    Watch(#[from] super::WatchError),
}

/// The armed watch `setup` describes over `db` (and the `baseline` learnt from a capture of
/// the healthy car, if any), with the notes that explain how it arms.
///
/// The arming condition is `arm_on`, else the DBC's (`CanrelearnWatchArm`); with a baseline,
/// the DBC's only when the baseline carried its message (else armed from the first frame,
/// said in a note).
pub fn build(
    setup: &Setup<'_>,
    db: &Database,
    baseline: Option<&Baseline>,
) -> Result<(ArmedWatch, Vec<String>), SetupError> {
    if !(setup.timeout_factor.is_finite() && setup.timeout_factor > 0.0) {
        return Err(SetupError::TimeoutFactor);
    }
    let mut notes = Vec::new();
    let arm_text = match setup.always_armed {
        true => None,
        false => setup
            .arm_on
            .map(str::to_string)
            .or_else(|| {
                let text = db.attribute(ArmCondition::ATTRIBUTE)?;
                let Some(b) = baseline else {
                    return Some(text.to_string());
                };
                // The DBC's condition only if this car sends its message.
                let id = ArmCondition::parse(db, text).ok()?.message_id(db)?;
                if b.get(id).is_some() {
                    return Some(text.to_string());
                }
                notes.push(format!(
                    "the DBC's arming condition {text} needs 0x{id}, which the baseline never carried: armed from the first frame instead (--arm-on ID arms while a frame sent only with the ignition ON arrives)"
                ));
                None
            })
            .filter(|t| !t.trim().is_empty()),
    };
    if baseline.is_some() && arm_text.is_none() && !setup.always_armed {
        notes.push(
            "armed from the first frame: with the ignition OFF every id reads as lost (--arm-on ID arms while a frame sent only with the ignition ON arrives)".to_string(),
        );
    }
    let arm = arm_text
        .map(|t| ArmCondition::parse(db, &t).map_err(SetupError::Arming))
        .transpose()?;
    let config = WatchConfig {
        timeout_factor: setup.timeout_factor,
        min_timeout: setup.min_timeout,
        grace: setup.grace,
        start_armed: arm.is_none(),
    };
    let expectations = select(db, baseline, setup.nodes, setup.expect)?;
    Ok((ArmedWatch::new(config, expectations, arm, db)?, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_watches_logs_or_interfaces() {
        assert_eq!(watches_logs([true, true]), Ok(true));
        assert_eq!(watches_logs([false]), Ok(false));
        assert_eq!(watches_logs([]), Ok(false));
        assert_eq!(watches_logs([false, true]), Err(MixedSources));
        assert_eq!(
            MixedSources.to_string(),
            "watch either interfaces or logs, not both"
        );
    }

    #[test]
    fn test_expect_spec() {
        let e = ExpectSpec::parse("355:100:AV").unwrap();
        assert_eq!(e.id, Id::standard(0x355).unwrap());
        assert_eq!(e.period, Duration::from_millis(100));
        assert_eq!(e.node.as_deref(), Some("AV"));
        let e = ExpectSpec::parse("0x18DAF140:50").unwrap();
        assert!(e.id.is_extended());
        assert_eq!(e.node, None);
        assert!(ExpectSpec::parse("0x0001:20").unwrap().id.is_extended());
        for bad in ["355", "zz:100", "355:0", "355:-5", "355:ms"] {
            assert!(ExpectSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn test_build_arms_from_the_dbc_unless_told_otherwise() {
        let db =
            Database::from_str_named(include_str!("../../dbc/nissan_qashqai_j11.dbc"), "j11.dbc")
                .unwrap();
        let setup = Setup {
            nodes: &[],
            expect: &[],
            timeout_factor: 10.0,
            min_timeout: Duration::from_secs(2),
            grace: Duration::from_secs(2),
            arm_on: None,
            always_armed: false,
        };
        let (watch, notes) = build(&setup, &db, None).unwrap();
        assert!(notes.is_empty());
        assert_eq!(watch.condition(), db.attribute(ArmCondition::ATTRIBUTE));
        assert!(!watch.is_armed());
        let always = Setup {
            always_armed: true,
            ..setup
        };
        let (watch, _) = build(&always, &db, None).unwrap();
        assert_eq!(watch.condition(), None, "armed from the first frame");
        let bad = Setup {
            arm_on: Some("NO_SUCH.SIGNAL=1"),
            ..setup
        };
        assert!(matches!(build(&bad, &db, None), Err(SetupError::Arming(_))));
        let zero = Setup {
            timeout_factor: 0.0,
            ..setup
        };
        assert!(matches!(
            build(&zero, &db, None),
            Err(SetupError::TimeoutFactor)
        ));
    }

    fn reporter(
        format: Format,
        warnings: &mut Vec<String>,
    ) -> Reporter<Vec<u8>, impl FnMut(String) + '_> {
        let setup = Setup {
            nodes: &[],
            expect: &[ExpectSpec::parse("355:100:AV").unwrap()],
            timeout_factor: 10.0,
            min_timeout: Duration::from_secs(2),
            grace: Duration::from_secs(2),
            arm_on: None,
            always_armed: true,
        };
        let (watch, _) = build(&setup, &Database::empty(), None).unwrap();
        Reporter::new(watch, format, Vec::new(), "WAYS", |w| warnings.push(w))
    }

    fn ms(n: u64) -> Timestamp {
        Timestamp::from_nanos(n * 1_000_000)
    }

    /// AV's frame every 100 ms for 1 s, one out of order, silence until 5 s, back at 6 s.
    fn feed<W: io::Write, F: FnMut(String)>(r: &mut Reporter<W, F>) {
        let frame = Frame::classic(Id::standard(0x355).unwrap(), &[0; 8]).unwrap();
        for k in 0..=10 {
            r.frame(ms(1000 + 100 * k), &frame).unwrap();
        }
        r.frame(ms(1500), &frame).unwrap();
        r.timeout(ms(5000)).unwrap();
        r.frame(ms(6000), &frame).unwrap();
    }

    #[test]
    fn test_reporter_writes_each_record_and_the_summary() {
        let mut warnings = Vec::new();
        let mut r = reporter(Format::Text, &mut warnings);
        feed(&mut r);
        let summary = r.finish().unwrap();
        assert_eq!(summary.judgement, Judgement::Lost);
        let text = String::from_utf8(r.out_mut().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4 + summary.text.lines().count(), "{text}");
        // The message, then its node; each when the time comes, with the last frame's time.
        for (line, what) in lines.iter().zip(["LOST", "LOST", "RESTORED", "RESTORED"]) {
            assert!(line.contains(what) && line.contains(" AV "), "{line}");
        }
        assert!(lines[0].contains("(0x355)") && lines[1].contains("node"));
        assert!(lines[0].starts_with("5.000000") && lines[0].ends_with("last at 2.000000"));
        assert!(lines[2].starts_with("6.000000") && lines[2].contains("back after a 4.000 s gap"));
        assert!(text.ends_with(&summary.text), "the summary closes the text");
        // Restored by the end: one loss, and the node is fine now.
        assert!(
            summary.text.contains("  AV              1 "),
            "{}",
            summary.text
        );
        assert!(!summary.text.contains("LOST"));
        drop(r);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("earlier than one at 2.000000"));
    }

    #[test]
    fn test_reporter_in_json_lines_keeps_the_summary_out_of_the_records() {
        let mut warnings = Vec::new();
        let mut r = reporter(Format::Jsonl, &mut warnings);
        feed(&mut r);
        let summary = r.finish().unwrap();
        assert_eq!(summary.judgement, Judgement::Lost);
        let text = String::from_utf8(r.out_mut().clone()).unwrap();
        let kinds: Vec<String> = text
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["event"].as_str().unwrap_or_default().to_string()
            })
            .collect();
        assert_eq!(kinds, ["lost", "lost", "restored", "restored"], "{text}");
        assert!(!text.contains("Summary"));
        drop(r);
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn test_select_from_expect_only() {
        let db = Database::empty();
        assert_eq!(select(&db, None, &[], &[]), Err(SelectError::Nothing));
        let spec = ExpectSpec::parse("355:100:AV").unwrap();
        let list = select(&db, None, &["AV".into()], std::slice::from_ref(&spec)).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!((list[0].node.as_str(), list[0].cycle), ("AV", spec.period));
        let err = select(&db, None, &["BCM".into()], &[spec]).unwrap_err();
        assert!(matches!(err, SelectError::UnknownNode { ref node, .. } if node == "BCM"));
        assert!(
            err.to_string()
                .starts_with("no message in the DBC is sent by node BCM")
        );
    }
}
