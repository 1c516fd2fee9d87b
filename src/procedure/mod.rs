//! Guided procedures (issue 6): a TOML script format ([`script`]), a sans-IO interpreter
//! ([`runner`]), the `verify_node` check ([`verify`]) and a pure rehearsal harness against
//! the simulated car ([`harness`]).
//!
//! The dealer pattern (CONSULT "Work Support") is: preconditions checked on live data for the
//! whole run, prerequisite steps in order, "START", wait for completion, then a clear
//! completed/failed verdict with the reason. Scripts carry every vehicle-specific byte, each
//! step labelled as public fact or placeholder (see `scripts/README.md`). Nothing that writes
//! is sent without a confirmation; cleanup (back to the default session, keep-alive off)
//! always runs. Diagnostic services follow ISO 14230-3 (KWP2000) or ISO 14229-1 (UDS) as the
//! script says, over ISO 15765-2 transport; the runner never reinterprets the bytes.

pub mod capture;
pub mod harness;
pub mod params;
pub mod report;
pub mod review;
pub mod runner;
pub mod script;
pub mod tester;
pub mod transcript;
pub mod verify;

pub use runner::{
    Action, EventKind, Outcome, Purpose, Report, RunEvent, RunOptions, RunOutcome, Runner,
    RunnerError, StepRecord, StepResult,
};
pub use script::{Script, ScriptError};
