//! A pure, in-process rehearsal: a procedure [`Runner`] against the simulated car
//! ([`Vehicle`]) on a virtual clock.
//!
//! The tester side is a [`Tester`] (runner, diagnostic clients, ISO-TP channels, live signals,
//! `verify_node`), exchanging CAN frames with the [`Vehicle`]; confirmations and parameter
//! questions are answered from [`Answers`]. Nothing here reads a clock or does I/O:
//! [`SimHarness::run`] advances virtual time from deadline to deadline, so minutes of procedure
//! take milliseconds. The tests use it; `crate::drive::procedure` runs the same [`Tester`] on a
//! bus with a terminal.

use core::time::Duration;
use std::collections::BTreeMap;

use super::runner::{Action, Outcome, Report, RunEvent, Runner};
pub use super::tester::TesterEvent;
use super::tester::{Note, Question, Tester, TesterError};
use crate::dbc::Database;
use crate::sim::vehicle::{Vehicle, VehicleEvent};
use crate::time::Timestamp;

/// How the simulated operator answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Answers {
    /// The answer to every confirmation.
    pub confirm: bool,
    /// Parameter answers by name (text, as typed).
    pub values: BTreeMap<String, String>,
    /// Abort (as Ctrl-C) at this time after the start, if set.
    pub abort_after: Option<Duration>,
}

impl Default for Answers {
    fn default() -> Self {
        Answers {
            confirm: true,
            values: BTreeMap::new(),
            abort_after: None,
        }
    }
}

/// Why a harness cannot be set up.
pub type HarnessError = TesterError;

/// A runner's [`Tester`] and the simulated car, on a virtual clock.
pub struct SimHarness {
    core: Tester,
    vehicle: Vehicle,
    answers: Answers,
    now: Timestamp,
    aborted: bool,
    abort_at: Option<Timestamp>,
    /// Runner events, in order.
    pub transcript: Vec<RunEvent>,
    /// Tester-side events with their times.
    pub tester: Vec<(Timestamp, TesterEvent)>,
    /// What the simulated car reported.
    pub vehicle_events: Vec<VehicleEvent>,
    /// Every action the runner produced, with its time.
    pub actions: Vec<(Timestamp, Action)>,
}

impl SimHarness {
    /// Sets up the links for every module of the runner's script.
    pub fn new(
        runner: Runner,
        vehicle: Vehicle,
        db: Database,
        answers: Answers,
    ) -> Result<SimHarness, HarnessError> {
        Ok(SimHarness {
            core: Tester::new(runner, db)?,
            vehicle,
            answers,
            now: Timestamp::ZERO,
            aborted: false,
            abort_at: None,
            transcript: Vec::new(),
            tester: Vec::new(),
            vehicle_events: Vec::new(),
            actions: Vec::new(),
        })
    }

    /// The simulated car.
    pub fn vehicle(&self) -> &Vehicle {
        &self.vehicle
    }

    /// The current virtual time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Runs until the runner finishes, at most `limit` of virtual time (then the run is
    /// aborted with reason "harness time limit reached" and cleanup still runs, bounded by the
    /// modules' P2 timers).
    pub fn run(&mut self, limit: Duration) -> Report {
        let start = self.now;
        let end = start + limit;
        if let Some(r) = self.run_until(end) {
            return r;
        }
        self.core.abort(self.now, "harness time limit reached");
        if let Some(r) = self.run_until(end + Duration::from_secs(600)) {
            return r;
        }
        // Cleanup could not finish: report what we have.
        Report {
            procedure: self.core.runner().script().procedure.name.clone(),
            outcome: super::runner::RunOutcome::Aborted,
            reason: Some("the harness could not finish the cleanup".to_string()),
            failed_step: None,
            dry_run: false,
            started: start,
            ended: self.now,
            parameters: Vec::new(),
            steps: Vec::new(),
            cleanup: Vec::new(),
            samples: Default::default(),
        }
    }

    /// Advances virtual time up to `until` at most; returns the report once the run is
    /// finished. Call it in slices to show a run as it unfolds (read the new entries of
    /// [`SimHarness::transcript`] and [`SimHarness::tester`] between calls).
    pub fn run_until(&mut self, until: Timestamp) -> Option<Report> {
        if self.abort_at.is_none() {
            self.abort_at = self.answers.abort_after.map(|d| self.now + d);
        }
        loop {
            self.pump();
            if let Some(r) = self.core.report().cloned() {
                return Some(r);
            }
            let now = self.now;
            if let Some(a) = self.abort_at
                && now >= a
                && !self.aborted
            {
                self.aborted = true;
                self.core.abort(now, "interrupted by the operator (Ctrl-C)");
                continue;
            }
            if now >= until {
                return None;
            }
            let mut next: Option<Timestamp> = None;
            let mut take = |t: Option<Timestamp>| {
                if let Some(t) = t {
                    next = Some(next.map_or(t, |n: Timestamp| n.min(t)));
                }
            };
            take(self.vehicle.poll_timeout());
            take(self.core.poll_timeout());
            if !self.aborted {
                take(self.abort_at);
            }
            take(Some(until));
            let step = Duration::from_micros(100);
            self.now = next
                .unwrap_or(now + step)
                .max(now + step)
                .min(until.max(now + step));
            self.tick();
        }
    }

    /// Deadlines due at `now`.
    fn tick(&mut self) {
        let now = self.now;
        self.vehicle.handle_timeout(now);
        self.core.handle_timeout(now);
    }

    /// Moves everything that is ready at `now` until nothing moves: frames between the tester
    /// and the car, the operator's answers, the records.
    fn pump(&mut self) {
        let now = self.now;
        for _ in 0..100_000 {
            let mut progressed = false;
            while let Some(f) = self.core.poll_transmit(now) {
                progressed = true;
                self.vehicle.handle_frame(now, &f);
            }
            while let Some(f) = self.vehicle.poll_transmit(now) {
                progressed = true;
                self.core.handle_frame(now, &f);
            }
            while let Some(e) = self.vehicle.poll_event() {
                self.vehicle_events.push(e);
            }
            if let Some(q) = self.core.poll_question() {
                progressed = true;
                self.answer(q);
            }
            while let Some(a) = self.core.poll_action() {
                self.actions.push(a);
            }
            while let Some(n) = self.core.poll_note() {
                match n {
                    Note::Run(e) => self.transcript.push(e),
                    Note::Tester(t, e) => self.tester.push((t, e)),
                }
            }
            if !progressed {
                return;
            }
        }
    }

    fn answer(&mut self, q: Question) {
        let now = self.now;
        match q {
            Question::Confirm { text, .. } => {
                self.tester.push((
                    now,
                    TesterEvent::Action(format!("confirm: {text} -> {}", self.answers.confirm)),
                ));
                self.core
                    .answer(now, Outcome::Confirmed(self.answers.confirm));
            }
            Question::Ask { parameter, .. } => match self.answers.values.get(&parameter).cloned() {
                Some(v) => self.core.answer(now, Outcome::Answer(v)),
                None => self
                    .core
                    .abort(now, &format!("no value for parameter {parameter}")),
            },
        }
    }
}
