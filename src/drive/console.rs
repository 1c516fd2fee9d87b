//! A procedure run as people and files see it: the operator's screen as text and the
//! transcript's record, both built from the driver's [`Notice`]s.
//!
//! No terminal and no clock here: [`Console`] turns each notice into [`Shown`] items (lines,
//! and the progress of a polling step) that [`super::screen::Screen`] prints or draws;
//! [`RunLog`] writes the candump-format [`Transcript`], counts the frames and gives the JSON
//! report ([`RunLog::run_report`]). The same notices feed both, so what the operator read and
//! what the transcript keeps cannot drift.

use core::fmt::Write as _;
use core::time::Duration;
use std::io::{self, Write};
use std::path::Path;

use super::procedure::{CLEANUP_LIMIT, Notice};
use crate::diag::format_hex;
use crate::frame::Id;
use crate::procedure::report::{RunContext, RunReport};
use crate::procedure::runner::{EventKind, Report, RunEvent};
use crate::procedure::script::{Provenance, Script};
use crate::procedure::tester::{Question, TesterEvent};
use crate::procedure::transcript::Transcript;
use crate::time::{Timestamp, UtcTime};

/// What the operator's screen shows for a notice.
#[derive(Debug, Clone, PartialEq)]
pub enum Shown {
    /// A line of text (no trailing newline).
    Line(String),
    /// A polling step's progress, to draw as a bar: seconds elapsed of `length`, and what the
    /// last attempt read. Only when the console was made for a terminal (`bars`).
    Progress {
        position: u64,
        length: u64,
        message: String,
    },
    /// The polling step ended: remove its bar.
    ProgressEnd,
}

/// How long a polling step's progress waits between lines when no bar is drawn.
const PROGRESS_LINE_EVERY: Duration = Duration::from_secs(10);

/// The operator's screen, as text: steps, requests and answers, questions, interrupts, and a
/// polling step's progress (a bar on a terminal, else a line at most every 10 s).
#[derive(Debug)]
pub struct Console {
    /// Every frame and keep-alive, not only requests and answers (`--frames`).
    frames: bool,
    dry_run: bool,
    started: Timestamp,
    /// Progress as [`Shown::Progress`] (a terminal) rather than lines.
    bars: bool,
    last_progress_line: Option<Timestamp>,
    /// A poll step is repeating: its requests and answers are summarised by the progress.
    polling: bool,
    /// The ids of the steps whose bytes are placeholders, marked as they start.
    placeholders: Vec<String>,
}

impl Console {
    /// A console for `script`'s run, started at `started`.
    pub fn new(
        script: &Script,
        frames: bool,
        dry_run: bool,
        started: Timestamp,
        bars: bool,
    ) -> Self {
        Console {
            frames,
            dry_run,
            started,
            bars,
            last_progress_line: None,
            polling: false,
            placeholders: placeholder_steps(script),
        }
    }

    fn rel(&self, t: Timestamp) -> f64 {
        t.saturating_duration_since(self.started).as_secs_f64()
    }

    /// What `n` shows. `iface` names the bus; `interrupt` names what interrupted the run (a
    /// signal's name), for the first interrupt's line.
    pub fn notice(&mut self, n: &Notice<'_>, iface: &str, interrupt: &str) -> Vec<Shown> {
        let line = |s: String| vec![Shown::Line(s)];
        match n {
            Notice::Frame { at, sent, frame } if self.frames => line(format!(
                "{:9.3}      {} {iface} {frame}",
                self.rel(*at),
                if *sent { "T" } else { "R" }
            )),
            Notice::Frame { .. } => Vec::new(),
            Notice::Tester(at, e) => self.tester(*at, e, iface).map_or_else(Vec::new, line),
            Notice::Run(e) => self.run_event(e),
            Notice::Question(q) => line(question_text(q)),
            Notice::Refused { answer, why } => line(format!("!! `{}`: {why}", answer.trim())),
            Notice::Interrupted { count: 1 } => line(format!(
                "!! {interrupt}: aborting; returning the modules to their default session (at most {} s; interrupt twice more to give up)",
                CLEANUP_LIMIT.as_secs()
            )),
            Notice::Interrupted { count: 2 } => line(
                "!! cleanup is running (bounded); interrupt once more to abandon it and leave the modules as they are".into(),
            ),
            Notice::Interrupted { .. } => line(
                "!! cleanup abandoned: see the report for the modules that may still be in a diagnostic session".into(),
            ),
            Notice::CleanupTimedOut => line(format!(
                "!! cleanup did not finish within {} s: abandoned; see the report",
                CLEANUP_LIMIT.as_secs()
            )),
            Notice::BusError(e) => line(format!("!! bus: {e}")),
        }
    }

    /// The tester's events: the requests and answers (not while a poll shows progress, unless
    /// --frames), transport failures, what a dry run would send, its actions with --frames.
    fn tester(&self, at: Timestamp, e: &TesterEvent, iface: &str) -> Option<String> {
        match e {
            TesterEvent::Sent { .. } | TesterEvent::Received { .. }
                if self.polling && !self.frames =>
            {
                None
            }
            TesterEvent::Sent {
                module,
                pdu,
                keep_alive,
            } if !*keep_alive || self.frames => Some(format!(
                "{:9.3}    -> {module} {}",
                self.rel(at),
                format_hex(pdu)
            )),
            TesterEvent::Received { module, pdu } => Some(format!(
                "{:9.3}    <- {module} {}",
                self.rel(at),
                format_hex(pdu)
            )),
            TesterEvent::Transport { module, what } => {
                Some(format!("{:9.3}    !! {module}: {what}", self.rel(at)))
            }
            TesterEvent::WouldSend {
                module,
                step,
                pdu,
                frames,
                writes,
            } => {
                let mut s = format!("   would send [{step}] {module} {}", format_hex(pdu));
                if *writes {
                    s += "   (writes: asks for confirmation first)";
                }
                if self.placeholders.contains(step) {
                    s += "   ([U] placeholder bytes: not verified on a car)";
                }
                for f in frames {
                    let _ = write!(s, "\n      {iface}  {f}");
                }
                Some(s)
            }
            TesterEvent::Action(a) if self.frames => Some(format!("{:9.3}    {a}", self.rel(at))),
            _ => None,
        }
    }

    /// The run's events: steps as they start and end, poll progress, notes.
    fn run_event(&mut self, e: &RunEvent) -> Vec<Shown> {
        match &e.kind {
            EventKind::Progress { .. } => self.progress(e).into_iter().collect(),
            EventKind::Exchange { .. } => Vec::new(),
            EventKind::StepEnded { .. } => {
                let was_polling = self.polling;
                self.polling = false;
                self.last_progress_line = None;
                let line = Shown::Line(format!("{:9.3}  {}", self.rel(e.at), e.kind));
                match was_polling && self.bars {
                    true => vec![Shown::ProgressEnd, line],
                    false => vec![line],
                }
            }
            // A step whose bytes are not verified says so as it starts.
            EventKind::StepStarted { id, .. } if self.placeholders.contains(id) => {
                let mark = "   [U] placeholder bytes: not verified on a car";
                vec![Shown::Line(match self.dry_run {
                    true => format!("   {}{mark}", e.kind),
                    false => format!("{:9.3}  {}{mark}", self.rel(e.at), e.kind),
                })]
            }
            _ if self.dry_run => vec![Shown::Line(format!("   {}", e.kind))],
            _ => vec![Shown::Line(format!("{:9.3}  {}", self.rel(e.at), e.kind))],
        }
    }

    /// A poll attempt: a bar's new state, or a line at most every 10 s.
    fn progress(&mut self, e: &RunEvent) -> Option<Shown> {
        let EventKind::Progress {
            attempt,
            value,
            elapsed,
            timeout,
            id,
        } = &e.kind
        else {
            return None;
        };
        self.polling = true;
        if self.bars {
            return Some(Shown::Progress {
                position: elapsed.as_secs(),
                length: timeout.as_secs().max(1),
                message: format!(
                    "[{id}] attempt {attempt}, value {}",
                    value.map_or("-".to_string(), |v| v.to_string())
                ),
            });
        }
        if self
            .last_progress_line
            .is_some_and(|t| e.at.saturating_duration_since(t) < PROGRESS_LINE_EVERY)
        {
            return None;
        }
        self.last_progress_line = Some(e.at);
        Some(Shown::Line(format!("{:9.3}  {}", self.rel(e.at), e.kind)))
    }
}

/// A question as the operator reads it.
fn question_text(q: &Question) -> String {
    match q {
        Question::Confirm { text, writes, .. } => format!(
            "\n?? {text}{}\n   Type yes or no, then Enter:",
            if *writes {
                "\n   (this changes the module)"
            } else {
                ""
            }
        ),
        // A refused answer's reason is the runner's note, just shown.
        Question::Ask {
            prompt, expected, ..
        } if prompt.contains(expected.as_str()) => format!("\n?? {prompt}:"),
        Question::Ask {
            prompt, expected, ..
        } => format!("\n?? {prompt} ({expected}):"),
    }
}

/// The ids of the steps whose bytes are placeholders.
fn placeholder_steps(script: &Script) -> Vec<String> {
    script
        .steps
        .iter()
        .filter(|s| s.provenance == Provenance::Placeholder)
        .map(|s| s.id.clone())
        .collect()
}

/// The lines a run opens with: what runs, from where, on which bus, the modules and their
/// keep-alives, how many steps carry placeholder bytes, and who answers the confirmations.
pub fn intro(script: &Script, name: &str, iface: &str, dry_run: bool, yes: bool) -> String {
    let p = &script.procedure;
    let mut s = format!(
        "{}{} ({}) from {name}{}\n",
        if dry_run {
            "DRY RUN (nothing is sent): "
        } else {
            ""
        },
        p.name,
        if p.vehicle.is_empty() {
            "any vehicle"
        } else {
            &p.vehicle
        },
        if dry_run {
            String::new()
        } else {
            format!(" on {iface}")
        },
    );
    for (n, m) in &script.modules {
        let _ = write!(
            s,
            "  module {n}: request {} response {}",
            m.request_id, m.response_id
        );
        if let Some(k) = &m.keep_alive {
            let _ = write!(
                s,
                ", keep-alive {} every {:.1} s while a session is open",
                format_hex(k),
                m.keep_alive_period.as_secs_f64()
            );
        }
        s.push('\n');
    }
    let placeholders = placeholder_steps(script).len();
    if placeholders > 0 {
        let _ = writeln!(
            s,
            "  {placeholders} of {} steps carry placeholder bytes (not verified on a car; see the script)",
            script.steps.len()
        );
    }
    if yes {
        s += "  --yes: every confirmation is answered yes (recorded)\n";
    } else if !dry_run {
        s += "  nothing that writes to a module is sent before you answer yes; Ctrl-C aborts safely\n";
    }
    s
}

/// What the operator consents to before a run on a real interface: the procedure, its number
/// of steps and the modules its diagnostic requests go to.
pub fn consent_summary(script: &Script) -> String {
    let modules: Vec<String> = script
        .modules
        .iter()
        .map(|(n, m)| format!("{n} on {}", m.request_id))
        .collect();
    format!(
        "Run the procedure {} ({} steps; diagnostic requests to {}; every write is confirmed separately)",
        script.procedure.name,
        script.steps.len(),
        modules.join(", ")
    )
}

/// The line a run on the simulated car opens with: the profile and the faults given.
pub fn simulated_car(faults: &[String]) -> String {
    format!(
        "simulated car: bundled J11 profile, faults: {}",
        if faults.is_empty() {
            "none".to_string()
        } else {
            faults.join(", ")
        }
    )
}

/// What a run's notices leave in the transcript, and the counts the report gives.
pub struct RunLog<W: Write> {
    transcript: Option<Transcript<W>>,
    /// Every frame of the bus in the transcript, not only the script's modules' frames.
    all_frames: bool,
    started: Timestamp,
    /// Frames written to the bus.
    pub sent: u64,
    /// Frames read from the bus.
    pub received: u64,
    /// The bus failed (read or write) during the run.
    pub bus_error: bool,
    /// The diagnostic ids of the script's modules.
    module_ids: Vec<Id>,
}

impl<W: Write> RunLog<W> {
    /// A log for `script`'s run on `iface`, started at `started`; `transcript` (if any) opens
    /// with a comment naming the tool, the procedure, its source, the bus and the start time.
    pub fn new(
        transcript: Option<Transcript<W>>,
        all_frames: bool,
        script: &Script,
        source: &str,
        iface: &str,
        started: Timestamp,
    ) -> Self {
        let mut log = RunLog {
            transcript,
            all_frames,
            started,
            sent: 0,
            received: 0,
            bus_error: false,
            module_ids: script
                .modules
                .values()
                .flat_map(|m| [m.request_id, m.response_id])
                .collect(),
        };
        if let Some(t) = &mut log.transcript {
            t.comment(&format!(
                "canrelearn {} run {} ({source}) on {iface}, started {}",
                env!("CARGO_PKG_VERSION"),
                script.procedure.name,
                UtcTime::of(started)
            ));
        }
        log
    }

    /// Counts frames and writes to the transcript every frame sent, the frames of the
    /// script's modules (all with `all_frames`), the run's events but its poll progress,
    /// and the tester's actions.
    pub fn notice(&mut self, n: &Notice<'_>, iface: &str) {
        let since = |at: Timestamp| at.saturating_duration_since(self.started).as_secs_f64();
        match n {
            Notice::Frame { at, sent, frame } => {
                if *sent {
                    self.sent += 1;
                } else {
                    self.received += 1;
                }
                let keep = *sent
                    || self.all_frames
                    || frame.id().is_some_and(|id| self.module_ids.contains(&id));
                if let Some(t) = &mut self.transcript
                    && keep
                {
                    t.frame(*at, iface, frame, *sent);
                }
            }
            Notice::Run(e) => {
                if let Some(t) = &mut self.transcript
                    && !matches!(e.kind, EventKind::Progress { .. })
                {
                    t.comment(&format!("{:.3} {}", since(e.at), e.kind));
                }
            }
            Notice::Tester(at, TesterEvent::Action(a)) => {
                if let Some(t) = &mut self.transcript {
                    t.comment(&format!("{:.3} {a}", since(*at)));
                }
            }
            Notice::BusError(_) => self.bus_error = true,
            _ => {}
        }
    }

    /// Ends the transcript with the run's outcome (and its reason); an error if the
    /// transcript could not be written whole.
    pub fn finish(&mut self, report: &Report) -> io::Result<()> {
        let Some(mut t) = self.transcript.take() else {
            return Ok(());
        };
        let since = report.ended.saturating_duration_since(self.started);
        let mut line = format!("{:.3} {}", since.as_secs_f64(), report.outcome);
        if let Some(r) = &report.reason {
            let _ = write!(line, ": {r}");
        }
        t.comment(&line);
        t.finish()
    }

    /// The JSON report of the run that ended with `report`: `script` run from `source` on
    /// `iface`, its transcript at `transcript` (if any), with the frames counted here.
    pub fn run_report(
        &self,
        report: &Report,
        script: &Script,
        source: &str,
        iface: &str,
        transcript: Option<&Path>,
    ) -> RunReport {
        let transcript = transcript.map(|p| p.display().to_string());
        RunReport::new(
            report,
            script,
            RunContext {
                script_name: source,
                interface: iface,
                transcript: transcript.as_deref(),
                frames_sent: self.sent,
                frames_received: self.received,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;
    use crate::procedure::runner::{RunOutcome, StepResult};

    fn script() -> Script {
        Script::from_toml(
            include_str!("../../scripts/audio-unit-registration.toml"),
            "audio-unit-registration.toml",
        )
        .unwrap()
    }

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_nanos(1_700_000_000_000_000_000 + ms * 1_000_000)
    }

    #[test]
    fn test_intro_names_modules_and_placeholders() {
        let s = script();
        let text = intro(&s, "bundled audio-unit-registration", "can0", false, false);
        assert!(text.contains(" on can0\n"), "{text}");
        for m in s.modules.values() {
            assert!(text.contains(&format!(
                "request {} response {}",
                m.request_id, m.response_id
            )));
        }
        assert!(text.contains("nothing that writes to a module is sent before you answer yes"));
        let dry = intro(&s, "x", "can0", true, true);
        assert!(dry.starts_with("DRY RUN (nothing is sent): "));
        assert!(!dry.contains(" on can0"));
        assert!(dry.contains("--yes: every confirmation is answered yes"));
    }

    #[test]
    fn test_consent_summary_and_simulated_car_lines() {
        let s = script();
        assert_eq!(
            consent_summary(&s),
            "Run the procedure audio-unit-registration (5 steps; diagnostic requests to BCM on 745; every write is confirmed separately)"
        );
        assert_eq!(
            simulated_car(&[]),
            "simulated car: bundled J11 profile, faults: none"
        );
        assert_eq!(
            simulated_car(&["bcm-silent".into(), "slow-responses".into()]),
            "simulated car: bundled J11 profile, faults: bcm-silent, slow-responses"
        );
    }

    #[test]
    fn test_progress_is_a_bar_on_a_terminal_and_a_line_every_10_s_otherwise() {
        let s = script();
        let poll = |ms: u64| RunEvent {
            at: at(ms),
            kind: EventKind::Progress {
                id: "poll".into(),
                attempt: 1,
                value: Some(2.0),
                elapsed: Duration::from_millis(ms),
                timeout: Duration::from_secs(60),
            },
        };
        let ended = RunEvent {
            at: at(30_000),
            kind: EventKind::StepEnded {
                id: "poll".into(),
                result: StepResult::Passed,
                elapsed: Duration::from_secs(30),
            },
        };
        let mut tty = Console::new(&s, false, false, at(0), true);
        let shown = tty.notice(&Notice::Run(&poll(3000)), "can0", "SIGINT");
        assert!(
            matches!(&shown[..], [Shown::Progress { position: 3, length: 60, message }] if message.contains("value 2"))
        );
        let shown = tty.notice(&Notice::Run(&ended), "can0", "SIGINT");
        assert!(
            matches!(&shown[..], [Shown::ProgressEnd, Shown::Line(_)]),
            "{shown:?}"
        );

        let mut lines = Console::new(&s, false, false, at(0), false);
        let n: Vec<usize> = [0, 4000, 9000, 10_500, 15_000]
            .iter()
            .map(|&ms| {
                lines
                    .notice(&Notice::Run(&poll(ms)), "can0", "SIGINT")
                    .len()
            })
            .collect();
        assert_eq!(n, [1, 0, 0, 1, 0]);
        let shown = lines.notice(&Notice::Run(&ended), "can0", "SIGINT");
        assert!(matches!(&shown[..], [Shown::Line(_)]), "{shown:?}");
    }

    #[test]
    fn test_polling_hides_requests_unless_frames() {
        let s = script();
        let sent = TesterEvent::Sent {
            module: "BCM".into(),
            pdu: vec![0x21, 0x01],
            keep_alive: false,
        };
        let mut c = Console::new(&s, false, false, at(0), false);
        assert_eq!(
            c.notice(&Notice::Tester(at(1500), &sent), "can0", "SIGINT"),
            [Shown::Line("    1.500    -> BCM 21 01".into())]
        );
        c.polling = true;
        assert!(
            c.notice(&Notice::Tester(at(1500), &sent), "can0", "SIGINT")
                .is_empty()
        );
        let mut f = Console::new(&s, true, false, at(0), false);
        f.polling = true;
        assert_eq!(
            f.notice(&Notice::Tester(at(1500), &sent), "can0", "SIGINT")
                .len(),
            1
        );
        let first = c.notice(&Notice::Interrupted { count: 1 }, "can0", "SIGTERM");
        assert!(matches!(&first[..], [Shown::Line(l)] if l.starts_with("!! SIGTERM: aborting")));
    }

    #[test]
    fn test_run_log_keeps_module_frames_and_counts_all() {
        let s = script();
        let module = s.modules.values().next().unwrap().response_id;
        let other = Frame::classic(Id::standard(0x123).unwrap(), &[1]).unwrap();
        let answer = Frame::classic(module, &[0x02, 0x50, 0x81]).unwrap();
        let mut out = Vec::new();
        {
            let mut log = RunLog::new(
                Some(Transcript::new(&mut out)),
                false,
                &s,
                "src",
                "can0",
                at(0),
            );
            for f in [&other, &answer] {
                log.notice(
                    &Notice::Frame {
                        at: at(5),
                        sent: false,
                        frame: f,
                    },
                    "can0",
                );
            }
            assert_eq!((log.sent, log.received), (0, 2));
            let report = Report {
                procedure: s.procedure.name.clone(),
                outcome: RunOutcome::Failed,
                reason: Some("no answer".into()),
                failed_step: None,
                dry_run: false,
                started: at(0),
                ended: at(2500),
                parameters: Vec::new(),
                steps: Vec::new(),
                cleanup: Vec::new(),
                samples: Default::default(),
            };
            log.finish(&report).unwrap();
            assert!(
                log.finish(&report).is_ok(),
                "finishing twice writes nothing more"
            );
            let json = log.run_report(&report, &s, "src", "can0", Some(Path::new("t.log")));
            assert_eq!((json.frames_sent, json.frames_received), (0, 2));
            assert_eq!(
                (json.script.as_str(), json.interface.as_str()),
                ("src", "can0")
            );
            assert_eq!(json.transcript.as_deref(), Some("t.log"));
        }
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("# canrelearn "), "{text}");
        assert!(!text.contains(" 123#"), "{text}");
        assert!(text.contains(&format!(" {module}#025081")), "{text}");
        assert!(
            text.trim_end().ends_with("# 2.500 failed: no answer"),
            "{text}"
        );
    }
}
