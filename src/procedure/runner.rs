//! The procedure interpreter: runs a [`Script`] as a sans-IO state machine.
//!
//! The runner never touches a bus, a terminal or a clock. It asks its driver to do things
//! ([`Action`]s) and is told what happened ([`Outcome`]s); time is always an argument.
//!
//! # Calling contract
//! 1. [`Runner::new`] with the script, the `--set` values and [`RunOptions`].
//! 2. Loop: call [`Runner::poll_action`]`(now)` until it returns `None`; perform each action.
//!    At most one action that needs an outcome (`Send` with `expect_response`, `Confirm`, `Ask`,
//!    `WatchNode`) is outstanding at a time: answer it with exactly one
//!    [`Runner::handle_outcome`]. `Cancel` and `EndModule` need no outcome. `Finished` comes
//!    once, last.
//! 3. Feed live decoded signals the script needs ([`Runner::wanted_signals`]) with
//!    [`Runner::handle_signal`]; call [`Runner::handle_timeout`] when [`Runner::poll_timeout`]
//!    is reached; call [`Runner::abort`] on Ctrl-C. After any input, go back to 2 and drain
//!    [`Runner::poll_event`] (transcript and progress).
//!
//! # Rules
//! - Nothing from a step marked `writes` is produced before a `Confirm` for it was answered
//!   `Confirmed(true)`, unless `assume_yes` (the operator's `--yes`), which also answers the
//!   `confirm` preconditions and `prompt` steps; every assumed answer is an event.
//! - Preconditions are all checked before the first step; a signal precondition waits up to
//!   [`RunOptions::signal_timeout`] for a first value. `during` preconditions are re-checked
//!   on every value and must be refreshed within `signal_timeout`; a failure aborts the run.
//! - The runner does not time out a `Send` itself: the driver bounds it with the module's
//!   P2/P2* ([`crate::procedure::script::ModuleSpec::client_config`]) and reports
//!   [`Outcome::Timeout`]. Poll steps fail at their `timeout_s`, checked between attempts.
//! - When the run fails or is aborted while an action is outstanding, that action is
//!   discarded: the next action is [`Action::Cancel`] (cancel the request in flight, stop
//!   asking or watching; do not report its outcome), then cleanup.
//! - Cleanup always runs: `10 <default session>` to every module a session step was sent to
//!   and that was not closed (its outcome is noted, never changes the result), then
//!   [`Action::EndModule`] for every module used (stop its keep-alive, close its client).
//! - Dry run: the same interpreter, with no outcome needed for `Send`, `Confirm` or
//!   `WatchNode`. After any `Ask` for missing parameters (which still needs an answer, since
//!   the bytes depend on it), `poll_action` returns every `Send` of the preconditions and the
//!   steps in order (a poll's request once), each with `dry_run: true` and taken as answered
//!   as expected; what needs the car or the operator (signal checks, confirmations, prompts,
//!   waits, node checks) is an event saying what a live run would do. Then the cleanup the
//!   script asks for, as after a completed run, and `Finished` with outcome `completed`,
//!   `dry_run: true` and every item `not run`.

use core::fmt;
use core::time::Duration;
use std::collections::{BTreeMap, HashMap, VecDeque};

use super::script::{Check, Extract, Pattern, Provenance, Script, Step, StepKind};
use crate::diag::codec::{Dialect, Nrc};
use crate::diag::dtc::{parse_kwp_dtc_by_status, parse_uds_dtc_by_status};
use crate::diag::hex::format_hex;
use crate::time::Timestamp;

/// How to run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// The operator's `--yes`: confirmations are answered yes (each is recorded).
    pub assume_yes: bool,
    /// Whether `assume_yes` also releases writes whose bytes are placeholders (provenance
    /// `placeholder`). The command line turns this off on a real interface unless the
    /// operator also gave `--allow-placeholder-writes`: such a write is then asked, and only
    /// `yes` typed in full sends it. Default: on.
    pub yes_releases_placeholder_writes: bool,
    /// List what would be sent; wait for no outcome (see the module documentation).
    pub dry_run: bool,
    /// How long a signal precondition waits for a first value, and how fresh a `during`
    /// value must stay (default 3 s).
    pub signal_timeout: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            assume_yes: false,
            yes_releases_placeholder_writes: true,
            dry_run: false,
            signal_timeout: Duration::from_secs(3),
        }
    }
}

/// Why a runner cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunnerError {
    #[error("parameter {name}: {reason}")]
    Parameter {
        name: String,
        reason: super::script::ValueError,
    },
    #[error("unknown parameter {name} (the script declares: {known})")]
    UnknownParameter { name: String, known: String },
}

/// Why a `Send` is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A step (the `step` field names it).
    Step,
    /// A `10 XX` session step: keep-alive starts when `50 XX` arrives (the diag client does it).
    OpenSession(u8),
    /// `10 <default>`: keep-alive stops when the answer arrives.
    CloseSession(u8),
    /// A DTC read for a `no_dtc` precondition.
    Precondition,
    /// Cleanup: `10 <default>`.
    Cleanup,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send `pdu` to `module` (ids in `script.modules[module]`); answer with `Response`,
    /// `Negative`, `Timeout`, `Transport`, or `Sent` when `expect_response` is false. In dry
    /// run, print it; no outcome.
    Send {
        module: String,
        pdu: Vec<u8>,
        expect_response: bool,
        /// The step or precondition id (`cleanup` in cleanup).
        step: String,
        purpose: Purpose,
        /// Whether the step changes the module (already confirmed when produced).
        writes: bool,
        dry_run: bool,
    },
    /// Ask the operator yes/no; answer `Confirmed(bool)`. For a write, `text` names the
    /// exact bytes, and `placeholder` says they are not verified on a car.
    Confirm {
        text: String,
        step: String,
        writes: bool,
        placeholder: bool,
    },
    /// Ask the operator for a parameter value; answer `Answer(text)`. `error` says why the
    /// previous answer was refused.
    Ask {
        parameter: String,
        prompt: String,
        /// `30 to 120 Ah` or `flooded, efb, agm`.
        expected: String,
        error: Option<String>,
    },
    /// Watch the bus: answer `NodeSeen` when DBC node `node` was seen continuously for `for_`
    /// within `within` from now, else `NodeNotSeen` (see [`super::verify::NodeCheck`]).
    WatchNode {
        node: String,
        for_: Duration,
        within: Duration,
        step: String,
    },
    /// Drop the outstanding action (cancel the request in flight, stop asking or watching).
    Cancel,
    /// Cleanup done for this module: stop its keep-alive, close its client. No outcome.
    EndModule { module: String },
    /// The run is over.
    Finished(Report),
}

/// What happened to the outstanding action.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A response PDU (a `7F` response is taken as negative).
    Response(Vec<u8>),
    /// A negative response.
    Negative { sid: u8, nrc: u8 },
    /// No final answer within P2/P2*: `waited` since the request, after `pending` `0x78`s.
    Timeout { waited: Duration, pending: u32 },
    /// A request without expected response went out.
    Sent,
    /// The transport failed (e.g. an ISO-TP N_Bs timeout: no flow control).
    Transport(String),
    /// The operator's yes/no.
    Confirmed(bool),
    /// The operator's answer to `Ask`.
    Answer(String),
    /// The node was seen as required.
    NodeSeen,
    /// It was not; why.
    NodeNotSeen(String),
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Completed,
    Failed,
    Aborted,
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RunOutcome::Completed => "completed",
            RunOutcome::Failed => "failed",
            RunOutcome::Aborted => "aborted",
        })
    }
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq)]
pub enum StepResult {
    Passed,
    Failed(String),
    /// Interrupted by an abort or a failing `during` precondition.
    Aborted(String),
    /// Never reached.
    NotRun,
}

/// One step (or precondition) in the report.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRecord {
    pub id: String,
    pub title: String,
    /// `precondition`, `session`, `request`, ...
    pub kind: String,
    pub started: Option<Timestamp>,
    pub ended: Option<Timestamp>,
    pub result: StepResult,
    /// What was seen (last response, value, ...).
    pub detail: Option<String>,
}

/// The run's outcome and audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub procedure: String,
    pub outcome: RunOutcome,
    /// The exact cause when not completed: step, request, response/NRC name or timeout.
    pub reason: Option<String>,
    /// The step (or precondition) id where it ended.
    pub failed_step: Option<String>,
    pub dry_run: bool,
    pub started: Timestamp,
    pub ended: Timestamp,
    /// Parameter values used, readable.
    pub parameters: Vec<(String, String)>,
    /// Preconditions then steps, in order.
    pub steps: Vec<StepRecord>,
    /// What cleanup did.
    pub cleanup: Vec<String>,
    /// Polled values and watched signals over time.
    pub samples: Samples,
}

impl fmt::Display for StepResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepResult::Passed => f.write_str("passed"),
            StepResult::Failed(r) => write!(f, "FAILED: {r}"),
            StepResult::Aborted(r) => write!(f, "aborted: {r}"),
            StepResult::NotRun => f.write_str("not run"),
        }
    }
}

impl fmt::Display for Report {
    /// A readable audit summary: verdict, reason, parameters, every item with its times
    /// (seconds from the start), and cleanup.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rel = |t: Option<Timestamp>| {
            t.map_or("-".to_string(), |t| {
                format!(
                    "{:.1}",
                    t.saturating_duration_since(self.started).as_secs_f64()
                )
            })
        };
        write!(f, "{}: {}", self.procedure, self.outcome)?;
        if self.dry_run {
            f.write_str(" (dry run)")?;
        }
        if let Some(r) = &self.reason {
            write!(f, ": {r}")?;
        }
        writeln!(f)?;
        for (k, v) in &self.parameters {
            writeln!(f, "  parameter {k} = {v}")?;
        }
        for s in &self.steps {
            write!(
                f,
                "  [{}] {} ({}) {} .. {} s: {}",
                s.id,
                s.title,
                s.kind,
                rel(s.started),
                rel(s.ended),
                s.result
            )?;
            if let Some(d) = &s.detail {
                write!(f, " | {d}")?;
            }
            writeln!(f)?;
        }
        for c in &self.cleanup {
            writeln!(f, "  cleanup: {c}")?;
        }
        Ok(())
    }
}

/// Most samples a run keeps (polled values and signal values together); later ones are
/// counted in [`Samples::dropped`].
pub const MAX_SAMPLES: usize = 200_000;

/// A signal's value is kept when it changes, or when this long passed since the last one
/// kept, so a steady value still shows as a line and silence shows as a gap.
pub const SIGNAL_SAMPLE_PERIOD: Duration = Duration::from_secs(1);

/// What a run measured over time, for plots (`canrelearn plot --run`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    /// Every poll attempt that read a value: step id, attempt, when, value.
    pub polls: Vec<(String, u32, Timestamp, f64)>,
    /// The live signals the preconditions watch (`MESSAGE.SIGNAL`): when, value (a value
    /// kept when it changed or [`SIGNAL_SAMPLE_PERIOD`] after the last one kept).
    pub signals: BTreeMap<String, Vec<(Timestamp, f64)>>,
    /// Samples not kept beyond [`MAX_SAMPLES`].
    pub dropped: u64,
}

impl Samples {
    fn len(&self) -> usize {
        self.polls.len() + self.signals.values().map(Vec::len).sum::<usize>()
    }

    fn poll(&mut self, id: &str, attempt: u32, at: Timestamp, v: f64) {
        if self.len() >= MAX_SAMPLES {
            self.dropped += 1;
            return;
        }
        self.polls.push((id.to_string(), attempt, at, v));
    }

    fn signal(&mut self, name: &str, at: Timestamp, v: f64) {
        if let Some(&(t, last)) = self.signals.get(name).and_then(|s| s.last())
            && last.to_bits() == v.to_bits()
            && at.saturating_duration_since(t) < SIGNAL_SAMPLE_PERIOD
        {
            return;
        }
        if self.len() >= MAX_SAMPLES {
            self.dropped += 1;
            return;
        }
        self.signals
            .entry(name.to_string())
            .or_default()
            .push((at, v));
    }
}

/// A transcript entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEvent {
    pub at: Timestamp,
    pub kind: EventKind,
}

/// What a [`RunEvent`] says.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    StepStarted {
        id: String,
        title: String,
        kind: String,
    },
    StepEnded {
        id: String,
        result: StepResult,
        elapsed: Duration,
    },
    /// A poll attempt: the value read (if any) and time left.
    Progress {
        id: String,
        attempt: u32,
        value: Option<f64>,
        elapsed: Duration,
        timeout: Duration,
    },
    /// A request and its answer (or lack of one).
    Exchange {
        module: String,
        request: String,
        answer: String,
    },
    Note(String),
    CleanupStarted,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventKind::StepStarted { id, title, kind } => write!(f, "[{id}] {kind}: {title}"),
            EventKind::StepEnded {
                id,
                result,
                elapsed,
            } => write!(f, "[{id}] {result} ({:.1} s)", elapsed.as_secs_f64()),
            EventKind::Progress {
                id,
                attempt,
                value,
                elapsed,
                timeout,
            } => write!(
                f,
                "[{id}] attempt {attempt}: value {} ({:.0} of {:.0} s)",
                value.map_or("-".to_string(), |v| v.to_string()),
                elapsed.as_secs_f64(),
                timeout.as_secs_f64()
            ),
            EventKind::Exchange {
                module,
                request,
                answer,
            } => {
                write!(f, "{module}: {request} -> {answer}")
            }
            EventKind::Note(n) => f.write_str(n),
            EventKind::CleanupStarted => f.write_str("cleanup"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Params,
    Pre(usize),
    Step(usize),
    Cleanup,
    Done,
}

/// What the outstanding action was.
#[derive(Debug, Clone, PartialEq)]
enum Awaiting {
    Send { module: String, pdu: Vec<u8> },
    Confirm,
    Ask(String),
    Watch,
}

/// Sub-state of the current item.
#[derive(Debug, Clone, Default)]
struct Sub {
    entered: bool,
    started: Option<Timestamp>,
    confirmed: bool,
    sent: bool,
    attempt: u32,
    next_at: Option<Timestamp>,
    last_value: Option<f64>,
}

/// The interpreter (see the module documentation).
#[derive(Debug)]
pub struct Runner {
    script: Script,
    opts: RunOptions,
    wanted: Vec<String>,
    params: BTreeMap<String, u8>,
    to_ask: VecDeque<String>,
    ask_error: Option<String>,
    signals: HashMap<String, (f64, Timestamp)>,
    stage: Stage,
    sub: Sub,
    awaiting: Option<Awaiting>,
    cancel_pending: bool,
    opened: Vec<String>,
    used: Vec<String>,
    cleanup: VecDeque<Action>,
    cleanup_notes: Vec<String>,
    ending: Option<(RunOutcome, String, Option<String>)>,
    records: Vec<StepRecord>,
    events: VecDeque<RunEvent>,
    started: Option<Timestamp>,
    samples: Samples,
}

fn dur_s(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

impl Runner {
    /// A runner for `script` with `--set` values `params` (name -> text).
    pub fn new(
        script: Script,
        params: &BTreeMap<String, String>,
        opts: RunOptions,
    ) -> Result<Runner, RunnerError> {
        let mut values = BTreeMap::new();
        for (name, text) in params {
            let Some(p) = script.parameters.get(name) else {
                return Err(RunnerError::UnknownParameter {
                    name: name.clone(),
                    known: script
                        .parameters
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            let v = p
                .parse_value(text)
                .map_err(|reason| RunnerError::Parameter {
                    name: name.clone(),
                    reason,
                })?;
            values.insert(name.clone(), v);
        }
        let to_ask = script
            .parameters
            .keys()
            .filter(|k| !values.contains_key(*k))
            .cloned()
            .collect();
        let mut records: Vec<StepRecord> = script
            .preconditions
            .iter()
            .map(|p| StepRecord {
                id: p.id.clone(),
                title: p.title.clone(),
                kind: "precondition".to_string(),
                started: None,
                ended: None,
                result: StepResult::NotRun,
                detail: None,
            })
            .collect();
        records.extend(script.steps.iter().map(|s| StepRecord {
            id: s.id.clone(),
            title: s.title.clone(),
            kind: s.kind_name().to_string(),
            started: None,
            ended: None,
            result: StepResult::NotRun,
            detail: None,
        }));
        let wanted = script.signals().into_iter().map(str::to_string).collect();
        Ok(Runner {
            script,
            opts,
            wanted,
            params: values,
            to_ask,
            ask_error: None,
            signals: HashMap::new(),
            stage: Stage::Params,
            sub: Sub::default(),
            awaiting: None,
            cancel_pending: false,
            opened: Vec::new(),
            used: Vec::new(),
            cleanup: VecDeque::new(),
            cleanup_notes: Vec::new(),
            ending: None,
            records,
            events: VecDeque::new(),
            started: None,
            samples: Samples::default(),
        })
    }

    /// The script being run.
    pub fn script(&self) -> &Script {
        &self.script
    }

    /// The `MESSAGE.SIGNAL` names to feed with [`Runner::handle_signal`].
    pub fn wanted_signals(&self) -> Vec<String> {
        self.wanted.clone()
    }

    /// Whether `Finished` was produced.
    pub fn is_finished(&self) -> bool {
        self.stage == Stage::Done
    }

    /// The parameter values (after `--set` and answers).
    pub fn parameters(&self) -> &BTreeMap<String, u8> {
        &self.params
    }

    /// The next transcript event.
    pub fn poll_event(&mut self) -> Option<RunEvent> {
        self.events.pop_front()
    }

    fn event(&mut self, at: Timestamp, kind: EventKind) {
        tracing::debug!(%at, "{kind}");
        self.events.push_back(RunEvent { at, kind });
    }

    /// A note in the run's events (and transcript).
    fn note(&mut self, at: Timestamp, text: impl Into<String>) {
        self.event(at, EventKind::Note(text.into()));
    }

    fn dialect(&self, module: &str) -> Dialect {
        self.script
            .modules
            .get(module)
            .map_or(Dialect::Kwp2000, |m| m.dialect)
    }

    fn default_session(&self, module: &str) -> u8 {
        self.script
            .modules
            .get(module)
            .map_or(0x81, |m| m.default_session)
    }

    fn record_index(&self) -> Option<usize> {
        match self.stage {
            Stage::Pre(i) => Some(i),
            Stage::Step(i) => Some(self.script.preconditions.len() + i),
            _ => None,
        }
    }

    fn current_id(&self) -> Option<String> {
        self.record_index()
            .and_then(|i| self.records.get(i))
            .map(|r| r.id.clone())
    }

    fn set_detail(&mut self, detail: String) {
        if let Some(r) = self.record_index().and_then(|i| self.records.get_mut(i)) {
            r.detail = Some(detail);
        }
    }

    fn enter(&mut self, now: Timestamp) {
        if self.sub.entered {
            return;
        }
        self.sub.entered = true;
        self.sub.started = Some(now);
        // A dry run starts no step: each stays `not run` in the report.
        if self.opts.dry_run {
            return;
        }
        if let Some(i) = self.record_index()
            && let Some(r) = self.records.get_mut(i)
        {
            r.started = Some(now);
            let (id, title, kind) = (r.id.clone(), r.title.clone(), r.kind.clone());
            self.event(now, EventKind::StepStarted { id, title, kind });
        }
    }

    fn end_item(&mut self, now: Timestamp, result: StepResult) {
        if let Some(i) = self.record_index()
            && let Some(r) = self.records.get_mut(i)
        {
            r.ended = Some(now);
            r.result = result.clone();
            let elapsed = r
                .started
                .map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
            let id = r.id.clone();
            self.event(
                now,
                EventKind::StepEnded {
                    id,
                    result,
                    elapsed,
                },
            );
        }
    }

    /// A question for the operator (a confirmation precondition or a prompt step): asked, or
    /// answered yes and recorded under `--yes`.
    fn ask_operator(&mut self, now: Timestamp, text: &str, id: &str) -> Next {
        if self.opts.dry_run {
            return self.dry_skip(now, format!("[{id}] would ask: {text}"));
        }
        if self.opts.assume_yes {
            self.note(now, format!("assumed yes (--yes): {text}"));
            self.set_detail("assumed yes (--yes)".to_string());
            self.pass(now);
            return Next::Again;
        }
        self.awaiting = Some(Awaiting::Confirm);
        Next::Act(Action::Confirm {
            text: text.to_string(),
            step: id.to_string(),
            writes: false,
            placeholder: false,
        })
    }

    /// Passes the current item and moves on.
    fn pass(&mut self, now: Timestamp) {
        self.end_item(now, StepResult::Passed);
        self.advance(now);
    }

    /// A dry run's item that needs the car or the operator: says what a live run would do
    /// there, and moves on without a result (it stays `not run`).
    fn dry_skip(&mut self, now: Timestamp, would: String) -> Next {
        self.note(now, would);
        self.advance(now);
        Next::Again
    }

    /// Moves on to the next item (or to cleanup after the last step).
    fn advance(&mut self, now: Timestamp) {
        self.stage = match self.stage {
            Stage::Pre(i) if i + 1 < self.script.preconditions.len() => Stage::Pre(i + 1),
            Stage::Pre(_) => Stage::Step(0),
            Stage::Step(i) if i + 1 < self.script.steps.len() => Stage::Step(i + 1),
            Stage::Step(_) => {
                self.start_cleanup(now, None);
                return;
            }
            s => s,
        };
        self.sub = Sub::default();
    }

    /// Ends the run with `outcome` at the current item and starts cleanup.
    fn stop(&mut self, now: Timestamp, outcome: RunOutcome, reason: String) {
        if matches!(self.stage, Stage::Cleanup | Stage::Done) {
            return;
        }
        tracing::info!(%now, %outcome, "{reason}");
        let step = self.current_id();
        let result = match outcome {
            RunOutcome::Aborted => StepResult::Aborted(reason.clone()),
            _ => StepResult::Failed(reason.clone()),
        };
        if self.sub.entered {
            self.end_item(now, result);
        }
        if self.awaiting.take().is_some() {
            self.cancel_pending = true;
        }
        let reason = match &step {
            Some(id) => format!("{id}: {reason}"),
            None => reason,
        };
        self.start_cleanup(now, Some((outcome, reason, step)));
    }

    fn start_cleanup(
        &mut self,
        now: Timestamp,
        ending: Option<(RunOutcome, String, Option<String>)>,
    ) {
        self.ending = ending;
        self.stage = Stage::Cleanup;
        self.sub = Sub::default();
        self.event(now, EventKind::CleanupStarted);
        if self.opts.dry_run {
            self.cleanup_notes
                .push("dry run: nothing was sent".to_string());
        }
        if self.script.cleanup.close_sessions {
            for m in self.opened.clone() {
                let s = self.default_session(&m);
                self.cleanup.push_back(Action::Send {
                    module: m,
                    pdu: vec![0x10, s],
                    expect_response: true,
                    step: "cleanup".to_string(),
                    purpose: Purpose::Cleanup,
                    writes: false,
                    dry_run: self.opts.dry_run,
                });
            }
        }
        if self.script.cleanup.keep_alive_off {
            for m in self.used.clone() {
                self.cleanup.push_back(Action::EndModule { module: m });
            }
        }
    }

    fn report(&self, now: Timestamp) -> Report {
        let (outcome, reason, failed_step) = match &self.ending {
            Some((o, r, s)) => (*o, Some(r.clone()), s.clone()),
            None => (RunOutcome::Completed, None, None),
        };
        Report {
            procedure: self.script.procedure.name.clone(),
            outcome,
            reason,
            failed_step,
            dry_run: self.opts.dry_run,
            started: self.started.unwrap_or(now),
            ended: now,
            parameters: self
                .params
                .iter()
                .map(|(k, v)| {
                    let text = self
                        .script
                        .parameters
                        .get(k)
                        .map_or(v.to_string(), |p| p.describe_value(*v));
                    (k.clone(), text)
                })
                .collect(),
            steps: self.records.clone(),
            samples: self.samples.clone(),
            cleanup: self.cleanup_notes.clone(),
        }
    }

    /// A request to `module`. In a dry run no outcome comes: a closed session is taken as
    /// closed, and the item moves on at once.
    fn send(
        &mut self,
        now: Timestamp,
        module: &str,
        pdu: Vec<u8>,
        purpose: Purpose,
        writes: bool,
    ) -> Action {
        if !self.used.iter().any(|m| m == module) {
            self.used.push(module.to_string());
        }
        if let Purpose::OpenSession(_) = purpose
            && !self.opened.iter().any(|m| m == module)
        {
            self.opened.push(module.to_string());
        }
        let step = if purpose == Purpose::Cleanup {
            "cleanup".to_string()
        } else {
            self.current_id().unwrap_or_default()
        };
        if !self.opts.dry_run {
            self.awaiting = Some(Awaiting::Send {
                module: module.to_string(),
                pdu: pdu.clone(),
            });
        } else if purpose != Purpose::Cleanup {
            if let Purpose::CloseSession(_) = purpose {
                self.opened.retain(|m| m != module);
            }
            self.advance(now);
        }
        Action::Send {
            module: module.to_string(),
            pdu,
            expect_response: true,
            step,
            purpose,
            writes,
            dry_run: self.opts.dry_run,
        }
    }

    /// The next action at `now`, if any (see the module documentation).
    pub fn poll_action(&mut self, now: Timestamp) -> Option<Action> {
        self.started.get_or_insert(now);
        if self.cancel_pending {
            self.cancel_pending = false;
            return Some(Action::Cancel);
        }
        if self.awaiting.is_some() {
            return None;
        }
        self.check_stale(now);
        if self.cancel_pending {
            self.cancel_pending = false;
            return Some(Action::Cancel);
        }
        for _ in 0..10_000 {
            match self.stage {
                Stage::Done => return None,
                Stage::Cleanup => {
                    if let Some(a) = self.cleanup.pop_front() {
                        if let Action::Send { module, pdu, .. } = &a
                            && !self.opts.dry_run
                        {
                            self.awaiting = Some(Awaiting::Send {
                                module: module.clone(),
                                pdu: pdu.clone(),
                            });
                        }
                        return Some(a);
                    }
                    self.stage = Stage::Done;
                    return Some(Action::Finished(self.report(now)));
                }
                Stage::Params => {
                    if let Some(name) = self.to_ask.front().cloned() {
                        let p = self.script.parameters.get(&name)?;
                        let expected = match &p.kind {
                            super::script::ParamKind::Integer { min, max, unit } => {
                                format!("{min} to {max} {unit}").trim_end().to_string()
                            }
                            super::script::ParamKind::Choice(c) => c
                                .iter()
                                .map(|(n, _)| n.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        };
                        self.awaiting = Some(Awaiting::Ask(name.clone()));
                        return Some(Action::Ask {
                            parameter: name,
                            prompt: p.prompt.clone(),
                            expected,
                            error: self.ask_error.take(),
                        });
                    }
                    self.stage = if self.script.preconditions.is_empty() {
                        Stage::Step(0)
                    } else {
                        Stage::Pre(0)
                    };
                    self.sub = Sub::default();
                }
                Stage::Pre(i) => match self.precondition(now, i) {
                    Next::Act(a) => return Some(a),
                    Next::Wait => return None,
                    Next::Again => {}
                },
                Stage::Step(i) => match self.step(now, i) {
                    Next::Act(a) => return Some(a),
                    Next::Wait => return None,
                    Next::Again => {}
                },
            }
        }
        None
    }

    fn precondition(&mut self, now: Timestamp, i: usize) -> Next {
        self.enter(now);
        let Some(pre) = self.script.preconditions.get(i).cloned() else {
            self.pass(now);
            return Next::Again;
        };
        match &pre.check {
            Check::Signal { signal, cond, .. } if self.opts.dry_run => self.dry_skip(
                now,
                format!(
                    "[{}] would check {signal} {cond}{}",
                    pre.id,
                    if pre.during { " for the whole run" } else { "" }
                ),
            ),
            Check::Signal { signal, cond, unit } => match self.signals.get(signal) {
                Some(&(v, _)) => {
                    self.set_detail(format!("{signal} = {v}{}", unit_sfx(unit)));
                    if cond.holds(v) {
                        self.pass(now);
                        Next::Again
                    } else {
                        self.stop(
                            now,
                            RunOutcome::Failed,
                            format!(
                                "precondition not met: {signal} = {v}{}, needs {cond}{}",
                                unit_sfx(unit),
                                unit_sfx(unit)
                            ),
                        );
                        Next::Again
                    }
                }
                None => {
                    let start = self.sub.started.unwrap_or(now);
                    if now.saturating_duration_since(start) >= self.opts.signal_timeout {
                        self.stop(
                            now,
                            RunOutcome::Failed,
                            format!(
                                "precondition not checked: no value of {signal} received within {} (is its sender on the bus? check the DBC)",
                                dur_s(self.opts.signal_timeout)
                            ),
                        );
                        Next::Again
                    } else {
                        self.sub.next_at = Some(start + self.opts.signal_timeout);
                        Next::Wait
                    }
                }
            },
            Check::NoDtc {
                module, request, ..
            } => {
                if self.sub.sent {
                    // The outcome was handled in handle_outcome.
                    return Next::Wait;
                }
                self.sub.sent = true;
                Next::Act(self.send(now, module, request.clone(), Purpose::Precondition, false))
            }
            Check::Confirm(text) => self.ask_operator(now, text, &pre.id),
        }
    }

    fn step(&mut self, now: Timestamp, i: usize) -> Next {
        self.enter(now);
        let Some(step) = self.script.steps.get(i).cloned() else {
            self.pass(now);
            return Next::Again;
        };
        match &step.kind {
            StepKind::Session { module, session } => Next::Act(self.send(
                now,
                module,
                vec![0x10, *session],
                Purpose::OpenSession(*session),
                false,
            )),
            StepKind::CloseSession { module } => {
                let s = self.default_session(module);
                Next::Act(self.send(now, module, vec![0x10, s], Purpose::CloseSession(s), false))
            }
            StepKind::Request {
                module,
                request,
                writes,
                ..
            } => {
                if *writes && let Some(ask) = self.confirm_write(now, &step, module, request) {
                    return ask;
                }
                self.render_and_send(now, module, request, *writes)
            }
            StepKind::Read {
                module, request, ..
            } => self.render_and_send(now, module, request, false),
            StepKind::Poll {
                module,
                request,
                interval,
                timeout,
                ..
            } => {
                if self.opts.dry_run {
                    self.note(
                        now,
                        format!(
                            "[{}] would repeat every {} ms for up to {}",
                            step.id,
                            interval.as_millis(),
                            dur_s(*timeout)
                        ),
                    );
                    return self.render_and_send(now, module, request, false);
                }
                if let Some(at) = self.sub.next_at
                    && now < at
                {
                    return Next::Wait;
                }
                self.sub.attempt += 1;
                self.sub.next_at = Some(now);
                self.render_and_send(now, module, request, false)
            }
            StepKind::Wait { duration, reason } if self.opts.dry_run => self.dry_skip(
                now,
                format!("[{}] would wait {}: {reason}", step.id, dur_s(*duration)),
            ),
            StepKind::Wait { duration, reason } => {
                let start = self.sub.started.unwrap_or(now);
                if self.sub.next_at.is_none() {
                    self.note(
                        now,
                        format!("[{}] waiting {}: {reason}", step.id, dur_s(*duration)),
                    );
                    self.sub.next_at = Some(start + *duration);
                }
                if now.saturating_duration_since(start) >= *duration {
                    self.pass(now);
                    Next::Again
                } else {
                    Next::Wait
                }
            }
            StepKind::Prompt { text } => self.ask_operator(now, text, &step.id),
            StepKind::VerifyNode { node, for_, within } if self.opts.dry_run => self.dry_skip(
                now,
                format!(
                    "[{}] would watch node {node} for {} within {}",
                    step.id,
                    dur_s(*for_),
                    dur_s(*within)
                ),
            ),
            StepKind::VerifyNode { node, for_, within } => {
                self.awaiting = Some(Awaiting::Watch);
                Next::Act(Action::WatchNode {
                    node: node.clone(),
                    for_: *for_,
                    within: *within,
                    step: step.id.clone(),
                })
            }
        }
    }

    /// Before a step's write: the confirmation to ask, unless it is already confirmed (or
    /// `--yes` releases it, recorded as a note). A dry run notes that a live run would ask.
    fn confirm_write(
        &mut self,
        now: Timestamp,
        step: &Step,
        module: &str,
        request: &super::script::Template,
    ) -> Option<Next> {
        if self.opts.dry_run {
            self.note(
                now,
                format!("[{}] would ask for confirmation before writing", step.id),
            );
            return None;
        }
        if self.sub.confirmed {
            return None;
        }
        let placeholder = step.provenance == Provenance::Placeholder;
        if self.opts.assume_yes && (!placeholder || self.opts.yes_releases_placeholder_writes) {
            self.sub.confirmed = true;
            self.note(
                now,
                format!("[{}] write confirmed by --yes: {}", step.id, step.title),
            );
            return None;
        }
        if self.opts.assume_yes {
            self.note(now, format!(
                    "[{}] --yes does not release a write of placeholder bytes on a real interface: asking",
                    step.id
                ));
        }
        self.awaiting = Some(Awaiting::Confirm);
        let bytes = request
            .render(&self.params)
            .map_or_else(|_| request.to_string(), |b| format_hex(&b));
        let to = self
            .script
            .modules
            .get(module)
            .map(|m| format!(" on {}", m.request_id))
            .unwrap_or_default();
        Some(Next::Act(Action::Confirm {
            text: format!(
                "{} will change {module}: it sends {bytes}{to}. These bytes are {}. Send them?",
                step.title,
                if placeholder {
                    "a PLACEHOLDER [U]: not verified on a car"
                } else {
                    "verified [C] (see the script's provenance)"
                }
            ),
            step: step.id.clone(),
            writes: true,
            placeholder,
        }))
    }

    fn render_and_send(
        &mut self,
        now: Timestamp,
        module: &str,
        request: &super::script::Template,
        writes: bool,
    ) -> Next {
        match request.render(&self.params) {
            Ok(pdu) => Next::Act(self.send(now, module, pdu, Purpose::Step, writes)),
            Err(missing) => {
                self.stop(
                    now,
                    RunOutcome::Failed,
                    format!("parameter {missing} has no value"),
                );
                Next::Again
            }
        }
    }

    /// A read or poll step's value: the answer must match `expect` and hold the value;
    /// otherwise the reason, starting with `said` ("MODULE answered REQUEST with ANSWER").
    fn step_value(
        &self,
        expect: Option<&Pattern>,
        extract: &Extract,
        response: &[u8],
        said: &str,
    ) -> Result<f64, String> {
        if let Some(p) = expect
            && !p.matches(response, &self.params)
        {
            return Err(format!("{said}, expected {p}"));
        }
        value(extract, response).map_err(|e| format!("{said}: {e}"))
    }

    /// The outcome of the outstanding action.
    pub fn handle_outcome(&mut self, now: Timestamp, outcome: Outcome) {
        let Some(awaiting) = self.awaiting.take() else {
            tracing::warn!(?outcome, "outcome with no outstanding action: ignored");
            self.note(
                now,
                format!("ignored an outcome with no outstanding action: {outcome:?}"),
            );
            return;
        };
        // Normalise a raw negative response.
        let outcome = match outcome {
            Outcome::Response(pdu) if pdu.first() == Some(&0x7F) => Outcome::Negative {
                sid: pdu.get(1).copied().unwrap_or(0),
                nrc: pdu.get(2).copied().unwrap_or(0),
            },
            o => o,
        };
        match awaiting {
            Awaiting::Ask(name) => self.on_answer(now, name, outcome),
            Awaiting::Confirm => match outcome {
                Outcome::Confirmed(true) => {
                    self.sub.confirmed = true;
                    if let Stage::Pre(_) = self.stage {
                        self.set_detail("confirmed by the operator".to_string());
                        self.pass(now);
                    } else if let Some(StepKind::Prompt { .. }) =
                        self.current_step().map(|s| &s.kind)
                    {
                        self.set_detail("confirmed by the operator".to_string());
                        self.pass(now);
                    }
                }
                Outcome::Confirmed(false) => self.stop(
                    now,
                    RunOutcome::Aborted,
                    "the operator answered no".to_string(),
                ),
                other => self.stop(
                    now,
                    RunOutcome::Failed,
                    format!("expected a confirmation, got {other:?}"),
                ),
            },
            Awaiting::Watch => match outcome {
                Outcome::NodeSeen => self.pass(now),
                Outcome::NodeNotSeen(why) => {
                    let node = match self.current_step().map(|s| &s.kind) {
                        Some(StepKind::VerifyNode { node, .. }) => node.clone(),
                        _ => String::new(),
                    };
                    self.stop(
                        now,
                        RunOutcome::Failed,
                        format!("node {node} not seen as required: {why}"),
                    )
                }
                other => self.stop(
                    now,
                    RunOutcome::Failed,
                    format!("expected a node check result, got {other:?}"),
                ),
            },
            Awaiting::Send { module, pdu } => self.on_response(now, module, pdu, outcome),
        }
    }

    fn current_step(&self) -> Option<&Step> {
        match self.stage {
            Stage::Step(i) => self.script.steps.get(i),
            _ => None,
        }
    }

    fn on_answer(&mut self, now: Timestamp, name: String, outcome: Outcome) {
        let Outcome::Answer(text) = outcome else {
            self.stop(
                now,
                RunOutcome::Aborted,
                format!("no value given for parameter {name}"),
            );
            return;
        };
        let Some(p) = self.script.parameters.get(&name) else {
            return;
        };
        match p.parse_value(&text) {
            Ok(v) => {
                self.note(now, format!("parameter {name} = {}", p.describe_value(v)));
                self.params.insert(name, v);
                self.to_ask.pop_front();
            }
            Err(e) => {
                self.note(now, format!("parameter {name}: {e}"));
                self.ask_error = Some(e.to_string());
            }
        }
    }

    fn describe_answer(&self, module: &str, outcome: &Outcome) -> String {
        match outcome {
            Outcome::Response(p) => format_hex(p),
            Outcome::Negative { sid, nrc } => {
                let d = self.dialect(module);
                format!(
                    "NRC 0x{nrc:02X} {} (7F {sid:02X} {nrc:02X})",
                    Nrc(*nrc).name(d)
                )
            }
            Outcome::Timeout { waited, pending } if *pending > 0 => format!(
                "no final answer within {} after {pending} response-pending (0x78) answers",
                dur_s(*waited)
            ),
            Outcome::Timeout { waited, .. } => {
                format!("no answer within {} (timeout)", dur_s(*waited))
            }
            Outcome::Sent => "sent (no answer expected)".to_string(),
            Outcome::Transport(e) => format!("transport failure: {e}"),
            other => format!("{other:?}"),
        }
    }

    fn on_response(&mut self, now: Timestamp, module: String, pdu: Vec<u8>, outcome: Outcome) {
        let answer = self.describe_answer(&module, &outcome);
        let request = format_hex(&pdu);
        self.event(
            now,
            EventKind::Exchange {
                module: module.clone(),
                request: request.clone(),
                answer: answer.clone(),
            },
        );
        if self.stage == Stage::Cleanup {
            let ok = matches!(&outcome, Outcome::Response(p) if p.first() == Some(&0x50));
            let note = format!("{module}: {request} -> {answer}");
            self.cleanup_notes.push(if ok { note } else { format!("{note} (the module may still be in a non-default session; it returns to default by itself after S3 without traffic)") });
            return;
        }
        let Some(response) = self.response_or_end(now, &module, &request, &answer, &outcome) else {
            return;
        };
        self.set_detail(answer.clone());
        if let Stage::Pre(i) = self.stage {
            self.on_dtc(now, i, &module, &response);
            return;
        }
        let Some(step) = self.current_step().cloned() else {
            return;
        };
        let mismatch =
            |exp: &Pattern| format!("{module} answered {request} with {answer}, expected {exp}");
        let said = format!("{module} answered {request} with {answer}");
        match &step.kind {
            StepKind::Session { session, .. } => {
                if response != [0x50, *session] {
                    self.stop(
                        now,
                        RunOutcome::Failed,
                        format!(
                            "{module} answered {request} with {answer}, expected 50 {session:02X}"
                        ),
                    );
                } else {
                    self.pass(now);
                }
            }
            StepKind::CloseSession { .. } => {
                let d = self.default_session(&module);
                if response != [0x50, d] {
                    self.stop(
                        now,
                        RunOutcome::Failed,
                        format!("{module} answered {request} with {answer}, expected 50 {d:02X}"),
                    );
                } else {
                    self.opened.retain(|m| *m != module);
                    self.pass(now);
                }
            }
            StepKind::Request { expect, .. } => match expect {
                Some(p) if !p.matches(&response, &self.params) => {
                    let r = mismatch(p);
                    self.stop(now, RunOutcome::Failed, r)
                }
                _ => self.pass(now),
            },
            StepKind::Read {
                expect,
                extract,
                check,
                ..
            } => {
                let v = match self.step_value(expect.as_ref(), extract, &response, &said) {
                    Ok(v) => v,
                    Err(r) => return self.stop(now, RunOutcome::Failed, r),
                };
                self.set_detail(format!("{answer}: value {v}{}", unit_sfx(&extract.unit)));
                if check.holds(v) {
                    self.pass(now)
                } else {
                    self.stop(now, RunOutcome::Failed, format!("{module} answered {request} with {answer}: value {v}{} does not satisfy {check}", unit_sfx(&extract.unit)))
                }
            }
            StepKind::Poll {
                expect,
                extract,
                until,
                fail_if,
                interval,
                timeout,
                ..
            } => {
                let v = match self.step_value(expect.as_ref(), extract, &response, &said) {
                    Ok(v) => v,
                    Err(r) => return self.stop(now, RunOutcome::Failed, r),
                };
                self.sub.last_value = Some(v);
                let started = self.sub.started.unwrap_or(now);
                let elapsed = now.saturating_duration_since(started);
                self.samples.poll(&step.id, self.sub.attempt, now, v);
                self.event(
                    now,
                    EventKind::Progress {
                        id: step.id.clone(),
                        attempt: self.sub.attempt,
                        value: Some(v),
                        elapsed,
                        timeout: *timeout,
                    },
                );
                if until.holds(v) {
                    self.set_detail(format!(
                        "{answer} after {} attempts ({})",
                        self.sub.attempt,
                        dur_s(elapsed)
                    ));
                    self.pass(now);
                } else if let Some(f) = fail_if
                    && f.holds(v)
                {
                    self.stop(now, RunOutcome::Failed, format!("{module} answered {request} with {answer}: value {v} means failure ({f})"));
                } else {
                    let sent_at = self.sub.next_at.unwrap_or(now);
                    let next = (sent_at + *interval).max(now);
                    if next.saturating_duration_since(started) > *timeout {
                        self.stop(now, RunOutcome::Failed, format!("timeout after {}: {module} still answers {request} with {answer} (waiting for value {until})", dur_s(elapsed)));
                    } else {
                        self.sub.next_at = Some(next);
                    }
                }
            }
            _ => {}
        }
    }

    /// The response of a request, or `None` when the outcome already ended the step: an
    /// accepted negative response passes it; any other negative response, a timeout or a
    /// transport failure stops the run, naming the module, the request and the answer.
    fn response_or_end(
        &mut self,
        now: Timestamp,
        module: &str,
        request: &str,
        answer: &str,
        outcome: &Outcome,
    ) -> Option<Vec<u8>> {
        let hint = |nrc: u8| match nrc {
            0x80 | 0x7F => {
                " (the module is not in the session this service needs: it may have reset or dropped the session)"
            }
            0x22 => " (the module refuses in the current vehicle state)",
            _ => "",
        };
        match outcome {
            Outcome::Response(p) => Some(p.clone()),
            Outcome::Negative { nrc, .. } => {
                let accepted = matches!(self.current_step().map(|s| &s.kind), Some(StepKind::Request { accept_nrc, .. }) if accept_nrc.contains(nrc));
                if accepted {
                    self.set_detail(answer.to_string());
                    self.note(now, format!("accepted negative response: {answer}"));
                    self.pass(now);
                    return None;
                }
                let h = hint(*nrc);
                self.set_detail(answer.to_string());
                self.stop(
                    now,
                    RunOutcome::Failed,
                    format!("{module} answered {request} with {answer}{h}"),
                );
                None
            }
            Outcome::Sent => Some(Vec::new()),
            Outcome::Timeout { .. } => {
                self.set_detail(answer.to_string());
                self.stop(
                    now,
                    RunOutcome::Failed,
                    format!("{module} did not answer {request}: {answer}"),
                );
                None
            }
            Outcome::Transport(_) => {
                self.set_detail(answer.to_string());
                self.stop(
                    now,
                    RunOutcome::Failed,
                    format!("{module} {request}: {answer}"),
                );
                None
            }
            other => {
                self.stop(
                    now,
                    RunOutcome::Failed,
                    format!("expected a response from {module} to {request}, got {other:?}"),
                );
                None
            }
        }
    }

    fn on_dtc(&mut self, now: Timestamp, i: usize, module: &str, response: &[u8]) {
        let Some(Check::NoDtc { codes, .. }) =
            self.script.preconditions.get(i).map(|p| p.check.clone())
        else {
            return;
        };
        let parsed = match self.dialect(module) {
            Dialect::Kwp2000 => parse_kwp_dtc_by_status(response),
            Dialect::Uds => parse_uds_dtc_by_status(response).map(|r| r.records),
        };
        match parsed {
            Err(e) => self.stop(
                now,
                RunOutcome::Failed,
                format!("cannot read the DTCs of {module}: {e}"),
            ),
            Ok(records) => {
                let stored: Vec<String> = records.iter().map(|r| r.code_text()).collect();
                let found: Vec<&String> = stored
                    .iter()
                    .filter(|s| codes.iter().any(|c| s.starts_with(c.as_str())))
                    .collect();
                self.set_detail(format!(
                    "stored in {module}: {}",
                    if stored.is_empty() {
                        "none".to_string()
                    } else {
                        stored.join(", ")
                    }
                ));
                if found.is_empty() {
                    self.pass(now);
                } else {
                    let f: Vec<&str> = found.iter().map(|s| s.as_str()).collect();
                    self.stop(
                        now,
                        RunOutcome::Failed,
                        format!("precondition not met: {module} has {} stored", f.join(", ")),
                    );
                }
            }
        }
    }

    /// A live decoded value `MESSAGE.SIGNAL` at `now`.
    pub fn handle_signal(&mut self, now: Timestamp, name: &str, v: f64) {
        if !self.wanted.iter().any(|w| w == name) {
            return;
        }
        self.signals.insert(name.to_string(), (v, now));
        self.samples.signal(name, now, v);
        if !matches!(self.stage, Stage::Step(_) | Stage::Pre(_)) {
            return;
        }
        let failing = self
            .during_checked()
            .into_iter()
            .find_map(|p| match &p.check {
                Check::Signal { signal, cond, unit } if signal == name && !cond.holds(v) => {
                    Some(format!(
                        "precondition {} no longer holds: {signal} = {v}{}, needs {cond}{}",
                        p.id,
                        unit_sfx(unit),
                        unit_sfx(unit)
                    ))
                }
                _ => None,
            });
        if let Some(r) = failing {
            self.stop(now, RunOutcome::Aborted, r);
        }
    }

    /// The `during` preconditions already passed.
    fn during_checked(&self) -> Vec<super::script::Precondition> {
        let upto = match self.stage {
            Stage::Pre(i) => i,
            Stage::Step(_) => self.script.preconditions.len(),
            _ => 0,
        };
        self.script
            .preconditions
            .iter()
            .take(upto)
            .filter(|p| p.during)
            .cloned()
            .collect()
    }

    fn check_stale(&mut self, now: Timestamp) {
        if !matches!(self.stage, Stage::Step(_) | Stage::Pre(_)) || self.opts.dry_run {
            return;
        }
        let stale = self.during_checked().into_iter().find_map(|p| match &p.check {
            Check::Signal { signal, .. } => match self.signals.get(signal) {
                Some(&(_, at)) if now.saturating_duration_since(at) > self.opts.signal_timeout => Some(format!(
                    "precondition {} can no longer be checked: no value of {signal} for {} (its sender went silent?)",
                    p.id,
                    dur_s(now.saturating_duration_since(at))
                )),
                _ => None,
            },
            _ => None,
        });
        if let Some(r) = stale {
            self.stop(now, RunOutcome::Aborted, r);
        }
    }

    /// Ctrl-C: stop, run cleanup; the report says `aborted` with `reason`.
    pub fn abort(&mut self, now: Timestamp, reason: &str) {
        self.stop(now, RunOutcome::Aborted, format!("aborted: {reason}"));
    }

    /// Whether the run is over and cleanup is running (or done).
    pub fn in_cleanup(&self) -> bool {
        matches!(self.stage, Stage::Cleanup | Stage::Done)
    }

    /// Gives cleanup up (a third interrupt, or cleanup past its time bound): what is left of
    /// it is not done, and the report's cleanup notes name each module that may still be in
    /// a non-default diagnostic session. Does nothing before cleanup.
    pub fn abandon_cleanup(&mut self, now: Timestamp, why: &str) {
        if self.stage != Stage::Cleanup {
            return;
        }
        let mut left: Vec<String> = Vec::new();
        if let Some(Awaiting::Send { module, .. }) = self.awaiting.take() {
            self.cancel_pending = true;
            left.push(module);
        }
        for a in self.cleanup.drain(..) {
            if let Action::Send { module, .. } = a
                && !left.contains(&module)
            {
                left.push(module);
            }
        }
        self.note(now, format!("cleanup abandoned: {why}"));
        if left.is_empty() {
            self.cleanup_notes.push(format!(
                "cleanup abandoned ({why}); no session was left to close"
            ));
        }
        for m in left {
            self.cleanup_notes.push(format!(
                "{m}: cleanup abandoned ({why}): the module may still be in a non-default diagnostic session; it falls back to its default session by itself after S3 (about 5 s) without requests; to be sure, switch the ignition off and on"
            ));
        }
    }

    /// The next time [`Runner::handle_timeout`] is due (waits, poll intervals, signal checks).
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        if self.cancel_pending {
            return Some(Timestamp::ZERO);
        }
        let mut t: Option<Timestamp> = None;
        let mut take = |x: Timestamp| t = Some(t.map_or(x, |y: Timestamp| y.min(x)));
        if matches!(self.stage, Stage::Step(_) | Stage::Pre(_)) && !self.opts.dry_run {
            if self.awaiting.is_none()
                && let Some(n) = self.sub.next_at
            {
                take(n);
            }
            for p in self.during_checked() {
                if let Check::Signal { signal, .. } = &p.check
                    && let Some(&(_, at)) = self.signals.get(signal)
                {
                    take(at + self.opts.signal_timeout + Duration::from_millis(1));
                }
            }
        }
        t
    }

    /// Time passed: advances waits and polls, checks `during` freshness. Then call
    /// [`Runner::poll_action`].
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.check_stale(now);
    }
}

/// What the interpreter does next (a transient return value, never stored, so its size
/// does not matter).
#[allow(clippy::large_enum_variant)]
enum Next {
    Act(Action),
    Wait,
    Again,
}

fn unit_sfx(unit: &str) -> String {
    if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    }
}

fn value(extract: &Extract, pdu: &[u8]) -> Result<f64, String> {
    extract.value(pdu).ok_or_else(|| {
        format!(
            "the answer has {} bytes, the value needs bytes {} to {}",
            pdu.len(),
            extract.at,
            extract.at + extract.length - 1
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_samples_keep_changes_and_one_a_second_up_to_the_limit() {
        let ms = |n: u64| Timestamp::from_nanos(n * 1_000_000);
        let mut s = Samples::default();
        for k in 0..50 {
            // 100 ms cycle, value steady for 2.5 s, then a change.
            s.signal("B.V", ms(k * 100), if k < 25 { 12.0 } else { 11.5 });
        }
        let kept: Vec<u64> = s.signals["B.V"]
            .iter()
            .map(|(t, _)| t.as_nanos() / 1_000_000)
            .collect();
        assert_eq!(kept, [0, 1000, 2000, 2500, 3500, 4500]);
        s.poll("wait", 1, ms(10), 0.0);
        assert_eq!(s.polls.len(), 1);
        // Beyond the limit, samples are counted, not kept.
        let room = MAX_SAMPLES - s.len();
        for k in 0..(room as u64 + 3) {
            s.poll("wait", 2, ms(k), k as f64);
        }
        assert_eq!(s.len(), MAX_SAMPLES);
        assert_eq!(s.dropped, 3);
        s.signal("B.V", ms(99_000), 1.0);
        assert_eq!(s.dropped, 4);
    }
}
