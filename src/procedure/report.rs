//! The JSON report of a run (`canrelearn run --report`): one serde type, the machine
//! contract of a procedure's outcome.
//!
//! Fields: `procedure`, `script`, `interface`, `outcome` (`completed`, `failed`, `aborted`),
//! `reason`, `failed_step`, `dry_run`, `started` (UTC, ISO 8601), `started_unix_s`,
//! `duration_s`, `parameters`, `steps` (each with `id`, `title`, `kind`, `provenance` (`fact`
//! or `placeholder`), `source`, `result`, `reason`, `started_s`, `ended_s`, `duration_s`,
//! `detail`), `cleanup`, `frames_sent`, `frames_received`, `transcript`, `tool`, and what the
//! run measured over time (`canrelearn plot --run` draws it): `polls` (every poll attempt
//! that read a value: `step`, `attempt`, `t_s`, `value`), `signals` (per watched signal
//! `MESSAGE.SIGNAL`: its `unit` and `samples` as `[t_s, value]` pairs, a value kept when it
//! changed or a second after the last one kept) and `samples_dropped` (beyond
//! [`super::runner::MAX_SAMPLES`]). Times `*_s` are seconds from `started` (negative: before the run
//! started).
//!
//! The same type reads a report back; fields a report lacks (one written by an older
//! version) take their defaults.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::runner::{Report, StepResult};
use super::script::{Check, Script};
use crate::time::{Timestamp, UtcTime};

/// One step (or precondition) of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepEntry {
    pub id: String,
    pub title: String,
    pub kind: String,
    /// `fact` or `placeholder`, as the script labels the step.
    pub provenance: Option<String>,
    /// Where the step's bytes come from, as the script says.
    pub source: Option<String>,
    /// `passed`, `failed`, `aborted`, `not_run`.
    pub result: String,
    pub reason: Option<String>,
    pub started_s: Option<f64>,
    pub ended_s: Option<f64>,
    pub duration_s: Option<f64>,
    pub detail: Option<String>,
}

/// One poll attempt that read a value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollEntry {
    pub step: String,
    pub attempt: u32,
    pub t_s: f64,
    pub value: f64,
}

/// A watched signal's values over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalEntry {
    /// The unit the script gives for it.
    pub unit: String,
    /// `[t_s, value]` pairs.
    pub samples: Vec<[f64; 2]>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub procedure: String,
    pub script: String,
    pub interface: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub failed_step: Option<String>,
    pub dry_run: bool,
    pub started: String,
    pub started_unix_s: f64,
    pub duration_s: f64,
    pub parameters: BTreeMap<String, String>,
    pub steps: Vec<StepEntry>,
    pub cleanup: Vec<String>,
    pub frames_sent: u64,
    pub frames_received: u64,
    pub transcript: Option<String>,
    pub tool: String,
    #[serde(default)]
    pub polls: Vec<PollEntry>,
    #[serde(default)]
    pub signals: BTreeMap<String, SignalEntry>,
    #[serde(default)]
    pub samples_dropped: u64,
}

/// Where a run happened and what it carried, besides the runner's [`Report`].
#[derive(Debug, Clone, Copy)]
pub struct RunContext<'a> {
    /// The script's name as shown (`bundled audio-unit-registration`, a path).
    pub script_name: &'a str,
    pub interface: &'a str,
    pub transcript: Option<&'a str>,
    pub frames_sent: u64,
    pub frames_received: u64,
}

impl RunReport {
    /// The report of `report`, the steps labelled from `script`.
    pub fn new(report: &Report, script: &Script, ctx: RunContext<'_>) -> RunReport {
        let rel = |t: Option<Timestamp>| {
            t.map(|t| t.saturating_duration_since(report.started).as_secs_f64())
        };
        let steps = report
            .steps
            .iter()
            .map(|s| {
                let (result, reason) = match &s.result {
                    StepResult::Passed => ("passed", None),
                    StepResult::Failed(x) => ("failed", Some(x.clone())),
                    StepResult::Aborted(x) => ("aborted", Some(x.clone())),
                    StepResult::NotRun => ("not_run", None),
                };
                let (provenance, source) = match script.steps.iter().find(|x| x.id == s.id) {
                    Some(step) => (
                        Some(step.provenance.to_string()),
                        Some(step.source.clone()).filter(|x| !x.is_empty()),
                    ),
                    None => (
                        script
                            .preconditions
                            .iter()
                            .find(|p| p.id == s.id)
                            .map(|p| p.provenance.to_string()),
                        None,
                    ),
                };
                StepEntry {
                    id: s.id.clone(),
                    title: s.title.clone(),
                    kind: s.kind.clone(),
                    provenance,
                    source,
                    result: result.to_string(),
                    reason,
                    started_s: rel(s.started),
                    ended_s: rel(s.ended),
                    duration_s: match (s.started, s.ended) {
                        (Some(a), Some(b)) => Some(b.saturating_duration_since(a).as_secs_f64()),
                        _ => None,
                    },
                    detail: s.detail.clone(),
                }
            })
            .collect();
        RunReport {
            procedure: report.procedure.clone(),
            script: ctx.script_name.to_string(),
            interface: ctx.interface.to_string(),
            outcome: report.outcome.to_string(),
            reason: report.reason.clone(),
            failed_step: report.failed_step.clone(),
            dry_run: report.dry_run,
            started: UtcTime::of(report.started).to_string(),
            started_unix_s: report.started.as_secs_f64(),
            duration_s: report
                .ended
                .saturating_duration_since(report.started)
                .as_secs_f64(),
            parameters: report.parameters.iter().cloned().collect(),
            steps,
            cleanup: report.cleanup.clone(),
            frames_sent: ctx.frames_sent,
            frames_received: ctx.frames_received,
            transcript: ctx.transcript.map(str::to_string),
            tool: format!("canrelearn {}", env!("CARGO_PKG_VERSION")),
            polls: report
                .samples
                .polls
                .iter()
                .map(|(step, attempt, at, value)| PollEntry {
                    step: step.clone(),
                    attempt: *attempt,
                    t_s: at.seconds_since(report.started),
                    value: *value,
                })
                .collect(),
            signals: report
                .samples
                .signals
                .iter()
                .map(|(name, samples)| {
                    let unit = script
                        .preconditions
                        .iter()
                        .find_map(|p| match &p.check {
                            Check::Signal { signal, unit, .. } if signal == name => {
                                Some(unit.clone())
                            }
                            _ => None,
                        })
                        .unwrap_or_default();
                    let samples = samples
                        .iter()
                        .map(|&(at, v)| [at.seconds_since(report.started), v])
                        .collect();
                    (name.clone(), SignalEntry { unit, samples })
                })
                .collect(),
            samples_dropped: report.samples.dropped,
        }
    }

    /// A report read back from its JSON.
    pub fn from_json(text: &str) -> Result<RunReport, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Pretty-printed JSON, with a final newline.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}
