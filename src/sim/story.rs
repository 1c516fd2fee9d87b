//! The story `canrelearn demo` tells, on virtual time: the simulated car watched for
//! communication loss, and a procedure rehearsed against it, as lines for people.
//!
//! Pure: time is the car's own (from zero), advanced as fast as the computer goes; nothing
//! is sent anywhere. [`demo`] tells the whole story to a writer the caller gives; the command
//! line only chooses the exit code.

use core::fmt::Write as _;
use core::time::Duration;
use std::collections::BTreeMap;
use std::io::{self, Write};

use super::profile::Profile;
use super::vehicle::{EventKind as CarEvent, SimError, Vehicle};
use crate::bundled;
use crate::dbc::Database;
use crate::diag::format_hex;
use crate::procedure::harness::{Answers, HarnessError, SimHarness, TesterEvent};
use crate::procedure::runner::{EventKind, Report, RunOptions, RunOutcome, Runner, RunnerError};
use crate::procedure::script::ScriptError;
use crate::time::Timestamp;
use crate::watch::{ArmCondition, ArmedEvent, ArmedWatch, Event, Subject, WatchConfig, WatchError};

/// Seconds of the car's time.
fn secs(t: Timestamp) -> f64 {
    t.as_secs_f64()
}

/// Why the story could not be told.
#[derive(Debug, thiserror::Error)]
pub enum StoryError {
    #[error("the DBC's arming condition: {0}")]
    Arming(#[from] crate::watch::ArmError),
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error(transparent)]
    Harness(#[from] HarnessError),
    #[error("the rehearsal did not finish within {} simulated minutes", .0.as_secs() / 60)]
    TooLong(Duration),
}

/// What watching the car showed.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The watch's lines: when it armed, and every loss.
    pub lines: Vec<String>,
    /// The nodes reported lost.
    pub lost_nodes: Vec<String>,
}

/// Runs `car` alone for `span` with the DBC's communication-loss watch (its expectations
/// and arming condition, default timeouts), and says what the watch reported.
pub fn observe(mut car: Vehicle, db: &Database, span: Duration) -> Result<Observed, StoryError> {
    let arm = ArmCondition::from_database(db).map_err(StoryError::Arming)?;
    let expectations = crate::watch::expectations_from_dbc(db);
    let mut watch = ArmedWatch::new(WatchConfig::default(), expectations, arm, db)?;
    let end = Timestamp::ZERO + span;
    let mut seen = Observed {
        lines: Vec::new(),
        lost_nodes: Vec::new(),
    };
    let mut now = Timestamp::ZERO;
    while now <= end {
        car.handle_timeout(now);
        while let Some(frame) = car.poll_transmit(now) {
            watch.handle_frame(now, &frame);
        }
        while car.poll_event().is_some() {}
        while let Some(e) = watch.poll_event() {
            if let Some(line) = observed_line(&watch, &e, &mut seen.lost_nodes) {
                seen.lines.push(line);
            }
        }
        now = match car.poll_timeout() {
            Some(t) if t > now => t
                .min(watch.poll_timeout().unwrap_or(t))
                .max(now + Duration::from_micros(1)),
            _ => now + Duration::from_millis(1),
        };
        watch.handle_timeout(now.min(end));
    }
    Ok(seen)
}

/// An arming or a loss as a line; a lost node is added to `lost`.
fn observed_line(watch: &ArmedWatch, e: &ArmedEvent, lost: &mut Vec<String>) -> Option<String> {
    match e {
        ArmedEvent::Armed { at } => Some(format!(
            "{:7.3}  armed ({} holds)",
            secs(*at),
            watch.condition().unwrap_or_default()
        )),
        ArmedEvent::Watch(Event::Lost {
            node,
            subject,
            at,
            last_seen,
        }) => {
            let w = watch.watcher();
            let name = w.node_names().get(*node).cloned().unwrap_or_default();
            let what = match subject {
                Subject::Node => "node".to_string(),
                Subject::Message(i) => w
                    .expectations()
                    .get(*i)
                    .and_then(|x| x.name.clone())
                    .unwrap_or_default(),
            };
            let when = match last_seen {
                Some(t) => format!("last seen at {:.3}", secs(*t)),
                None => "never seen since arming".to_string(),
            };
            if !lost.contains(&name) {
                lost.push(name.clone());
            }
            Some(format!(
                "{:7.3}  LOST {name:<4} {what:<16} {when}",
                secs(*at)
            ))
        }
        _ => None,
    }
}

/// A procedure rehearsed on the simulated car with the operator answering yes, told in
/// half-second slices of the car's time.
pub struct Rehearsal {
    harness: SimHarness,
    /// Every request and run event (not only the steps, the first requests and the car's
    /// registrations).
    verbose: bool,
    shown: usize,
    shown_tester: usize,
    shown_car: usize,
    slice: Timestamp,
    last_progress: Option<Timestamp>,
}

/// How much car time one [`Rehearsal::advance`] covers.
const SLICE: Duration = Duration::from_millis(500);
/// One progress line per this much polling.
const PROGRESS_EVERY: Duration = Duration::from_secs(20);
/// A rehearsal longer than this is a failure of its own.
const LONGEST: Duration = Duration::from_secs(1200);

impl Rehearsal {
    pub fn new(
        runner: crate::procedure::runner::Runner,
        car: Vehicle,
        db: &Database,
        verbose: bool,
    ) -> Result<Self, StoryError> {
        Ok(Rehearsal {
            harness: SimHarness::new(runner, car, db.clone(), Answers::default())?,
            verbose,
            shown: 0,
            shown_tester: 0,
            shown_car: 0,
            slice: Timestamp::ZERO,
            last_progress: None,
        })
    }

    /// Runs the next slice: its lines in time order, and the report once the run ended.
    pub fn advance(&mut self) -> Result<(Vec<String>, Option<Report>), StoryError> {
        self.slice += SLICE;
        let done = self.harness.run_until(self.slice);
        let mut lines: Vec<(Timestamp, String)> = Vec::new();
        for e in self.harness.transcript.iter().skip(self.shown) {
            let show = match &e.kind {
                EventKind::Progress { .. } => {
                    let due = self
                        .last_progress
                        .is_none_or(|t| e.at.saturating_duration_since(t) >= PROGRESS_EVERY);
                    if due {
                        self.last_progress = Some(e.at);
                    }
                    due
                }
                EventKind::Exchange { .. } => self.verbose,
                _ => true,
            };
            if show {
                lines.push((e.at, format!("{:7.3}  {}", secs(e.at), e.kind)));
            }
        }
        self.shown = self.harness.transcript.len();
        for (at, e) in self.harness.tester.iter().skip(self.shown_tester) {
            if let TesterEvent::Sent {
                module,
                pdu,
                keep_alive: false,
            } = e
                && (self.verbose || self.shown_tester < 4)
            {
                let line = format!("{:7.3}    -> {module} {}", secs(*at), format_hex(pdu));
                lines.push((*at, line));
            }
        }
        self.shown_tester = self.harness.tester.len();
        for e in self.harness.vehicle_events.iter().skip(self.shown_car) {
            if matches!(
                e.kind,
                CarEvent::FlagSet { .. } | CarEvent::RoutineCompleted { .. }
            ) {
                lines.push((e.at, format!("{:7.3}  car: {}", secs(e.at), e.kind)));
            }
        }
        self.shown_car = self.harness.vehicle_events.len();
        lines.sort_by_key(|l| l.0);
        let lines = lines.into_iter().map(|(_, l)| l).collect();
        if done.is_none() && self.slice > Timestamp::ZERO + LONGEST {
            return Err(StoryError::TooLong(LONGEST));
        }
        Ok((lines, done))
    }

    /// The number of tester events so far.
    pub fn tester_events(&self) -> usize {
        self.harness.tester.len()
    }

    /// The simulated car.
    pub fn vehicle(&self) -> &Vehicle {
        self.harness.vehicle()
    }
}

/// Why [`demo`] stopped before the end of its story.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The simulated car cannot be built from the profile and the DBC.
    #[error("the simulated car: {0}")]
    Car(SimError),
    /// Watching or rehearsing failed.
    #[error(transparent)]
    Story(#[from] StoryError),
    /// A bundled script is missing (a build problem).
    #[error("no bundled script {0} (a build problem)")]
    NoScript(String),
    /// A bundled script does not load.
    #[error(transparent)]
    Script(ScriptError),
    /// A runner cannot start with the story's parameters.
    #[error(transparent)]
    Runner(#[from] RunnerError),
    /// Writing the story failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Tells the whole story to `out` on the simulated car built from `profile` and `db`: the
/// car after a 12 V disconnection watched until the AV node is reported lost, then the
/// bundled audio unit registration and the bundled BMS battery registration (70 Ah AGM)
/// rehearsed with the operator answering yes (`verbose`: every frame-level exchange too).
/// Returns whether both procedures completed.
pub fn demo(
    db: &Database,
    profile: &Profile,
    verbose: bool,
    out: &mut impl Write,
) -> Result<bool, DemoError> {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "canrelearn demo: a simulated Nissan Qashqai J11, in-process (no CAN hardware, nothing sent).\n\
         Virtual time runs as fast as this computer can go; times are the car's, in seconds.\n\
         The procedure bytes are the bundled scripts' documented hypotheses (see scripts/README.md).\n"
    );
    out.write_all(text.as_bytes())?;
    text.clear();

    // 1. The symptom.
    let _ = writeln!(
        text,
        "1. After a 12 V battery disconnection (simulator fault audio-unit-unregistered)\n   \
         `canrelearn watch` on the car's frames, armed while the ignition is ON:"
    );
    let lost = demo_observe(db, profile, Duration::from_secs(8), &mut text)?;
    let _ = writeln!(
        text,
        "   -> {} lost: the head unit is not on the bus. Dealer fix: audio unit registration in the BCM.\n",
        if lost { "AV" } else { "nothing" }
    );
    out.write_all(text.as_bytes())?;
    text.clear();

    // 2. The relearn.
    let _ = writeln!(
        text,
        "2. Audio unit registration (scripts/audio-unit-registration.toml), operator answers yes"
    );
    out.write_all(text.as_bytes())?;
    text.clear();
    let audio = rehearse(
        db,
        profile,
        "audio-unit-registration",
        &["audio-unit-unregistered"],
        BTreeMap::new(),
        verbose,
        out,
    )?;

    // 3. The battery.
    let _ = writeln!(
        text,
        "\n3. BMS battery registration (scripts/bms-battery-registration.toml): new 70 Ah AGM battery"
    );
    out.write_all(text.as_bytes())?;
    text.clear();
    let params = BTreeMap::from([
        ("capacity_ah".to_string(), "70".to_string()),
        ("battery_type".to_string(), "agm".to_string()),
    ]);
    let bms = rehearse(
        db,
        profile,
        "bms-battery-registration",
        &[],
        params,
        verbose,
        out,
    )?;

    let ok = audio && bms;
    writeln!(
        out,
        "\n{}\nRehearse it yourself, answering the confirmations: `canrelearn run audio-unit-registration --simulate`.\n\
         On virtual CAN, as on a car: `canrelearn simulate --iface vcan0 --fault audio-unit-unregistered`, \
         `canrelearn watch vcan0` and `canrelearn run audio-unit-registration --iface vcan0`.",
        if ok {
            "Both procedures completed on the simulated car."
        } else {
            "A procedure did not complete: see the report above."
        }
    )?;
    out.flush()?;
    Ok(ok)
}

/// Runs the simulated car alone for `span` with the watcher; adds its events to `text`.
/// Returns whether the AV node was reported lost.
fn demo_observe(
    db: &Database,
    profile: &Profile,
    span: Duration,
    text: &mut String,
) -> Result<bool, DemoError> {
    let car = Vehicle::new(profile, db, &["audio-unit-unregistered"]).map_err(DemoError::Car)?;
    let seen = observe(car, db, span)?;
    for line in &seen.lines {
        let _ = writeln!(text, "   {line}");
    }
    Ok(seen.lost_nodes.iter().any(|n| n == "AV"))
}

/// Runs one bundled script against a fresh simulated car; writes its progress as it unfolds
/// and its report. Returns whether it completed.
#[allow(clippy::too_many_arguments)]
fn rehearse(
    db: &Database,
    profile: &Profile,
    script_name: &str,
    faults: &[&str],
    params: BTreeMap<String, String>,
    verbose: bool,
    out: &mut impl Write,
) -> Result<bool, DemoError> {
    let script = bundled::script(script_name)
        .ok_or_else(|| DemoError::NoScript(script_name.to_string()))?
        .map_err(DemoError::Script)?;
    let runner = Runner::new(script, &params, RunOptions::default())?;
    let car = Vehicle::new(profile, db, faults).map_err(DemoError::Car)?;
    let mut rehearsal = Rehearsal::new(runner, car, db, verbose)?;
    let report = loop {
        let (lines, done) = rehearsal.advance()?;
        for line in lines {
            writeln!(out, "   {line}")?;
        }
        if let Some(r) = done {
            break r;
        }
    };
    writeln!(
        out,
        "   report ({} tester events; keep-alive `3E 80` every 2 s throughout):\n{}",
        rehearsal.tester_events(),
        report
            .to_string()
            .lines()
            .map(|l| format!("     {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )?;
    if script_name.starts_with("audio") {
        writeln!(
            out,
            "   AV unit on the bus again: {}",
            if rehearsal.vehicle().is_node_silent("AV") {
                "no"
            } else {
                "yes"
            }
        )?;
    }
    Ok(report.outcome == RunOutcome::Completed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procedure::Script;
    use crate::procedure::runner::{RunOptions, RunOutcome, Runner};
    use crate::sim::profile::Profile;

    fn db() -> Database {
        Database::from_str_named(include_str!("../../dbc/nissan_qashqai_j11.dbc"), "j11.dbc")
            .unwrap()
    }

    fn car(db: &Database, faults: &[&str]) -> Vehicle {
        let profile = Profile::from_toml(
            include_str!("../../scripts/simulator/qashqai-j11.toml"),
            "j11",
        )
        .unwrap();
        Vehicle::new(&profile, db, faults).unwrap()
    }

    #[test]
    fn test_the_unregistered_audio_unit_is_seen_lost() {
        let db = db();
        let seen = observe(
            car(&db, &["audio-unit-unregistered"]),
            &db,
            Duration::from_secs(8),
        )
        .unwrap();
        assert_eq!(seen.lost_nodes, ["AV"], "{:#?}", seen.lines);
        assert!(seen.lines[0].contains("armed ("), "{:#?}", seen.lines);
        let healthy = observe(car(&db, &[]), &db, Duration::from_secs(8)).unwrap();
        assert!(healthy.lost_nodes.is_empty(), "{:#?}", healthy.lines);
    }

    #[test]
    fn test_the_audio_registration_rehearses_to_completion() {
        let db = db();
        let script = Script::from_toml(
            include_str!("../../scripts/audio-unit-registration.toml"),
            "audio-unit-registration.toml",
        )
        .unwrap();
        let runner = Runner::new(script, &Default::default(), RunOptions::default()).unwrap();
        let mut r =
            Rehearsal::new(runner, car(&db, &["audio-unit-unregistered"]), &db, false).unwrap();
        assert!(r.vehicle().is_node_silent("AV"));
        let mut lines = Vec::new();
        let report = loop {
            let (mut l, done) = r.advance().unwrap();
            lines.append(&mut l);
            if let Some(report) = done {
                break report;
            }
        };
        assert_eq!(report.outcome, RunOutcome::Completed, "{report}");
        assert!(!r.vehicle().is_node_silent("AV"));
        let times: Vec<f64> = lines
            .iter()
            .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{lines:#?}");
    }

    #[test]
    fn test_the_demo_tells_the_symptom_and_both_procedures_complete() {
        let db = db();
        let profile = Profile::from_toml(
            include_str!("../../scripts/simulator/qashqai-j11.toml"),
            "j11",
        )
        .unwrap();
        let mut out = Vec::new();
        assert!(demo(&db, &profile, false, &mut out).unwrap());
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("canrelearn demo: a simulated Nissan Qashqai J11"),
            "{text}"
        );
        assert!(
            text.contains("   -> AV lost: the head unit is not on the bus."),
            "{text}"
        );
        assert!(
            text.contains("   AV unit on the bus again: yes\n"),
            "{text}"
        );
        assert!(
            text.contains("\nBoth procedures completed on the simulated car.\n"),
            "{text}"
        );
    }
}
