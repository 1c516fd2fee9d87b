//! A pure, in-process rehearsal: a procedure [`Runner`] against the simulated car
//! ([`Vehicle`]) on a virtual clock.
//!
//! Joins, for every module of the script, runner → diagnostic [`Client`] → tester-side ISO-TP
//! [`Channel`] ↔ [`Vehicle`]; decodes the vehicle's periodic frames with the DBC and feeds the
//! signals the script needs to the runner; answers `verify_node` with a [`NodeCheck`]; answers
//! confirmations and parameter questions from [`Answers`]. Nothing here reads a clock or does
//! I/O: [`SimHarness::run`] advances virtual time from deadline to deadline, so minutes of
//! procedure take milliseconds. The `demo` command and the tests use it; it is also the model
//! of what a real driver does (with a bus and a terminal instead).

use core::time::Duration;
use std::collections::BTreeMap;

use super::runner::{Action, Outcome, Report, RunEvent, Runner};
use super::verify::NodeCheck;
use crate::dbc::{Database, Decoded};
use crate::diag::client::{Client, Event as ClientEvent, RequestId, RequestOptions};
use crate::frame::{Frame, Id};
use crate::isotp::{self, Channel};
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
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("module {module}: {reason}")]
    Module { module: String, reason: String },
}

/// Something that happened on the tester side, for the transcript.
#[derive(Debug, Clone, PartialEq)]
pub enum TesterEvent {
    /// A PDU the tester sent (`keep_alive` for the automatic TesterPresent).
    Sent {
        module: String,
        pdu: Vec<u8>,
        keep_alive: bool,
    },
    /// A PDU the tester received.
    Received { module: String, pdu: Vec<u8> },
    /// An ISO-TP failure.
    Transport { module: String, what: String },
    /// An action the runner asked for (Send excepted).
    Action(String),
}

struct Link {
    client: Client,
    channel: Channel,
}

/// A runner, its modules' clients and channels, and the simulated car.
pub struct SimHarness {
    db: Database,
    vehicle: Vehicle,
    runner: Runner,
    links: BTreeMap<String, Link>,
    answers: Answers,
    now: Timestamp,
    inflight: Option<(String, RequestId)>,
    node_check: Option<NodeCheck>,
    wanted: Vec<(Id, usize, String)>,
    decoded: Decoded,
    report: Option<Report>,
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
        let mut links = BTreeMap::new();
        for (name, spec) in &runner.script().modules {
            let err = |reason: String| HarnessError::Module {
                module: name.clone(),
                reason,
            };
            let client = Client::new(spec.client_config()).map_err(|e| err(e.to_string()))?;
            let channel = Channel::new(spec.isotp_config()).map_err(|e| err(e.to_string()))?;
            links.insert(name.clone(), Link { client, channel });
        }
        let mut wanted = Vec::new();
        for name in runner.wanted_signals() {
            let Some((msg, sig)) = name.split_once('.') else {
                continue;
            };
            if let Some(m) = db.messages().iter().find(|m| m.name() == msg)
                && let Some((index, _)) = m.signal_by_name(sig)
            {
                wanted.push((m.id(), index, name.clone()));
            }
        }
        Ok(SimHarness {
            db,
            vehicle,
            runner,
            links,
            answers,
            now: Timestamp::ZERO,
            inflight: None,
            node_check: None,
            wanted,
            decoded: Decoded::new(),
            report: None,
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
        self.runner.abort(self.now, "harness time limit reached");
        if let Some(r) = self.run_until(end + Duration::from_secs(600)) {
            return r;
        }
        // Cleanup could not finish: report what we have.
        Report {
            procedure: self.runner.script().procedure.name.clone(),
            outcome: super::runner::RunOutcome::Aborted,
            reason: Some("the harness could not finish the cleanup".to_string()),
            failed_step: None,
            dry_run: false,
            started: start,
            ended: self.now,
            parameters: Vec::new(),
            steps: Vec::new(),
            cleanup: Vec::new(),
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
            if let Some(r) = self.report.take() {
                return Some(r);
            }
            let now = self.now;
            if let Some(a) = self.abort_at
                && now >= a
                && !self.aborted
            {
                self.aborted = true;
                self.runner
                    .abort(now, "interrupted by the operator (Ctrl-C)");
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
            take(self.runner.poll_timeout());
            for l in self.links.values() {
                take(l.channel.poll_timeout());
                take(l.client.poll_timeout());
            }
            take(self.node_check.as_ref().and_then(NodeCheck::poll_timeout));
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
        for l in self.links.values_mut() {
            l.channel.handle_timeout(now);
        }
        if let Some(c) = &mut self.node_check {
            c.handle_timeout(now);
        }
        // Transport failures due now (N_Bs...) are reported before the client's P2 at the same
        // instant, so the reason names the layer that failed.
        self.pump();
        for l in self.links.values_mut() {
            l.client.handle_timeout(now);
        }
        self.runner.handle_timeout(now);
    }

    /// Moves everything that is ready at `now` until nothing moves.
    fn pump(&mut self) {
        let now = self.now;
        for _ in 0..100_000 {
            let mut progressed = false;
            // Runner actions.
            while let Some(a) = self.runner.poll_action(now) {
                progressed = true;
                self.actions.push((now, a.clone()));
                self.perform(a);
            }
            while let Some(e) = self.runner.poll_event() {
                self.transcript.push(e);
            }
            // Clients -> channels.
            for (name, l) in &mut self.links {
                while let Some(t) = l.client.poll_transmit(now) {
                    progressed = true;
                    let keep_alive = matches!(t.kind, crate::diag::client::TransmitKind::KeepAlive);
                    self.tester.push((
                        now,
                        TesterEvent::Sent {
                            module: name.clone(),
                            pdu: t.pdu.clone(),
                            keep_alive,
                        },
                    ));
                    if let Err(e) = l.channel.send(now, &t.pdu) {
                        self.tester.push((
                            now,
                            TesterEvent::Transport {
                                module: name.clone(),
                                what: format!("cannot send: {e}"),
                            },
                        ));
                    }
                }
            }
            // Channels -> vehicle.
            let mut frames: Vec<Frame> = Vec::new();
            for l in self.links.values_mut() {
                while let Some(f) = l.channel.poll_transmit(now) {
                    frames.push(f);
                }
            }
            for f in &frames {
                progressed = true;
                self.vehicle.handle_frame(now, f);
            }
            // Vehicle -> channels, signals, node check.
            while let Some(f) = self.vehicle.poll_transmit(now) {
                progressed = true;
                self.on_bus_frame(now, &f);
            }
            while let Some(e) = self.vehicle.poll_event() {
                self.vehicle_events.push(e);
            }
            // Channel events -> clients.
            let mut outcomes: Vec<Outcome> = Vec::new();
            for (name, l) in &mut self.links {
                while let Some(ev) = l.channel.poll_event() {
                    progressed = true;
                    match ev {
                        isotp::Event::Received(pdu) => {
                            self.tester.push((
                                now,
                                TesterEvent::Received {
                                    module: name.clone(),
                                    pdu: pdu.clone(),
                                },
                            ));
                            l.client.handle_pdu(now, &pdu);
                        }
                        isotp::Event::Sent { .. } => l.client.tx_complete(now),
                        isotp::Event::SendFailed(f) => {
                            self.tester.push((
                                now,
                                TesterEvent::Transport {
                                    module: name.clone(),
                                    what: f.to_string(),
                                },
                            ));
                            if let Some((m, id)) = &self.inflight
                                && m == name
                                && l.client.in_flight() == Some(*id)
                            {
                                l.client.cancel();
                                self.inflight = None;
                                outcomes.push(Outcome::Transport(format!("ISO-TP: {f}")));
                            }
                        }
                        isotp::Event::ReceiveFailed(f) => self.tester.push((
                            now,
                            TesterEvent::Transport {
                                module: name.clone(),
                                what: f.to_string(),
                            },
                        )),
                        _ => {}
                    }
                }
                // Client events -> runner outcomes.
                while let Some(ev) = l.client.poll_event() {
                    progressed = true;
                    let ours = match (&self.inflight, ev.request_id()) {
                        (Some((m, id)), Some(rid)) => m == name && *id == rid,
                        _ => false,
                    };
                    if !ours || !ev.is_outcome() {
                        continue;
                    }
                    let o = match ev {
                        ClientEvent::Positive { pdu, .. } => Outcome::Response(pdu),
                        ClientEvent::Negative { sid, nrc, .. } => {
                            Outcome::Negative { sid, nrc: nrc.0 }
                        }
                        ClientEvent::Timeout {
                            waited,
                            pending_count,
                            ..
                        } => Outcome::Timeout {
                            waited,
                            pending: pending_count,
                        },
                        ClientEvent::SentNoResponse { .. } => Outcome::Sent,
                        _ => continue,
                    };
                    self.inflight = None;
                    outcomes.push(o);
                }
            }
            for o in outcomes {
                self.runner.handle_outcome(now, o);
            }
            // Node check result.
            if let Some(r) = self.node_check.as_ref().and_then(|c| c.result().cloned()) {
                progressed = true;
                self.node_check = None;
                let o = match r {
                    Ok(()) => Outcome::NodeSeen,
                    Err(why) => Outcome::NodeNotSeen(why),
                };
                self.runner.handle_outcome(now, o);
            }
            if !progressed {
                return;
            }
        }
    }

    fn on_bus_frame(&mut self, now: Timestamp, f: &Frame) {
        for l in self.links.values_mut() {
            l.channel.handle_frame(now, f);
        }
        let Some(id) = f.id() else { return };
        if let Some(c) = &mut self.node_check {
            c.handle_frame(now, id);
        }
        if !self.wanted.iter().any(|(w, _, _)| *w == id) {
            return;
        }
        let Ok(Some(_)) = self.db.decode_frame(f, &mut self.decoded) else {
            return;
        };
        for (w, index, name) in &self.wanted {
            if *w == id
                && let Some(s) = self.decoded.get(*index)
            {
                self.runner.handle_signal(now, name, s.physical.as_f64());
            }
        }
    }

    fn perform(&mut self, a: Action) {
        let now = self.now;
        match a {
            Action::Send {
                module,
                pdu,
                expect_response,
                dry_run,
                ..
            } => {
                if dry_run {
                    return;
                }
                let Some(l) = self.links.get_mut(&module) else {
                    self.runner.handle_outcome(
                        now,
                        Outcome::Transport(format!("no link for module {module}")),
                    );
                    return;
                };
                let opts = RequestOptions {
                    expect_response,
                    ..RequestOptions::default()
                };
                match l.client.request(now, &pdu, opts) {
                    Ok(id) => self.inflight = Some((module, id)),
                    Err(e) => self
                        .runner
                        .handle_outcome(now, Outcome::Transport(format!("diagnostic client: {e}"))),
                }
            }
            Action::Confirm { text, .. } => {
                self.tester.push((
                    now,
                    TesterEvent::Action(format!("confirm: {text} -> {}", self.answers.confirm)),
                ));
                self.runner
                    .handle_outcome(now, Outcome::Confirmed(self.answers.confirm));
            }
            Action::Ask { parameter, .. } => match self.answers.values.get(&parameter).cloned() {
                Some(v) => self.runner.handle_outcome(now, Outcome::Answer(v)),
                None => self
                    .runner
                    .abort(now, &format!("no value for parameter {parameter}")),
            },
            Action::WatchNode {
                node, for_, within, ..
            } => match NodeCheck::new(&self.db, &node, for_, within, now) {
                Ok(c) => self.node_check = Some(c),
                Err(e) => self
                    .runner
                    .handle_outcome(now, Outcome::NodeNotSeen(e.to_string())),
            },
            Action::Cancel => {
                self.node_check = None;
                if let Some((m, _)) = self.inflight.take()
                    && let Some(l) = self.links.get_mut(&m)
                {
                    l.client.cancel();
                }
            }
            Action::EndModule { module } => {
                if let Some(l) = self.links.get_mut(&module) {
                    l.client.close();
                }
            }
            Action::Finished(r) => self.report = Some(r),
        }
    }
}
