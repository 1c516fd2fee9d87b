//! The tester side of a procedure run, sans-IO: the [`Runner`] joined, for every module of its
//! script, to a diagnostic [`Link`] (the ISO 14230-3 / ISO 14229-1 client with P2/P2*, `0x78`
//! and keep-alive, on a tester-side ISO 15765-2 channel), plus the live signals the
//! preconditions need (decoded with the DBC) and the `verify_node` check ([`NodeCheck`]).
//!
//! It exchanges CAN frames, not PDUs, so the same code runs against the simulated car on a
//! virtual clock ([`super::harness::SimHarness`]) and on a real bus (`crate::drive::procedure`).
//!
//! # Calling contract
//! - It is a [`Machine`]: give it every frame read from the bus with [`Tester::handle_frame`]
//!   (frames this endpoint sent itself excepted), and call [`Tester::handle_timeout`] when
//!   [`Tester::poll_timeout`] is reached.
//! - After any input, write every frame [`Tester::poll_transmit`] returns, in order. A frame
//!   the bus refused goes back with [`Tester::handle_send_error`] (the request it belonged to
//!   fails with a transport error, so cleanup still runs and the run ends).
//! - Operator questions come from [`Tester::poll_question`]; answer each with
//!   [`Tester::answer`] (at most one is outstanding; [`Tester::pending_question`] turns `None`
//!   when the runner withdraws it, e.g. after an abort).
//! - Drain [`Tester::poll_note`]: PDUs sent and received, transport failures, what a dry run
//!   would send, and the runner's transcript, in order.
//! - [`Tester::abort`] on Ctrl-C; [`Tester::report`] is `Some` once the run is over (cleanup
//!   done).
//!
//! Each input does a bounded amount of work: the tester moves what is ready in rounds, and a
//! round is followed by another only when it handed the runner an outcome, which answers an
//! action the runner produced before (so the rounds at one instant are bounded by the runner's
//! actions). What happens to a request while its module's channel is busy is the [`Link`]'s
//! rule: it waits, in order, and is never dropped.
//!
//! In a dry run the runner produces its requests without needing outcomes; the tester sends
//! nothing and reports, for each, the CAN frames that would go on the bus
//! ([`TesterEvent::WouldSend`], from [`segment`]).

use core::time::Duration;
use std::collections::{BTreeMap, VecDeque};

use super::runner::{Action, Outcome, Report, RunEvent, Runner};
use super::verify::NodeCheck;
use crate::dbc::{Database, Decoded};
use crate::diag::client::{RequestId, RequestOptions, TransmitKind};
use crate::diag::{Link, LinkEvent, RequestOutcome};
use crate::frame::{Frame, Id};
use crate::isotp::wire::{FlowControl, Pdu, StMin};
use crate::isotp::{self, Channel};
use crate::machine::Machine;
use crate::time::Timestamp;

/// Why a tester cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TesterError {
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
    /// An ISO-TP failure or a frame the bus refused.
    Transport { module: String, what: String },
    /// Dry run: the PDU a step would send and the CAN frames that would carry it (assuming the
    /// module allows the whole message at once: flow control with block size 0, STmin 0).
    WouldSend {
        module: String,
        step: String,
        pdu: Vec<u8>,
        frames: Vec<Frame>,
        writes: bool,
    },
    /// An action the runner asked for (sends excepted), or an answer given.
    Action(String),
}

/// A tester event or a runner event, in the order they happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    Tester(Timestamp, TesterEvent),
    Run(RunEvent),
}

/// A question for the operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Question {
    /// Yes or no; answer [`Outcome::Confirmed`].
    Confirm {
        text: String,
        step: String,
        /// Whether the confirmation releases a step that changes the module.
        writes: bool,
        /// Whether that step's bytes are a placeholder (not verified on a car).
        placeholder: bool,
    },
    /// A parameter value; answer [`Outcome::Answer`].
    Ask {
        parameter: String,
        prompt: String,
        /// `30 to 120 Ah` or `flooded, efb, agm`.
        expected: String,
        /// Why the previous answer was refused.
        error: Option<String>,
    },
}

impl Question {
    /// The outcome an operator's typed `line` gives: `y`/`yes` or `n`/`no` (any case) for a
    /// confirmation, but only `yes` typed in full releases a write; the trimmed text for a
    /// parameter (the runner checks it and asks again with the reason when it is out of
    /// range). `Err` says why the line does not answer.
    pub fn interpret(&self, line: &str) -> Result<Outcome, NotAnAnswer> {
        let t = line.trim();
        match self {
            Question::Confirm { writes, .. } => match t.to_ascii_lowercase().as_str() {
                "yes" => Ok(Outcome::Confirmed(true)),
                "y" if !writes => Ok(Outcome::Confirmed(true)),
                "y" => Err(NotAnAnswer::WriteNeedsYes),
                "n" | "no" => Ok(Outcome::Confirmed(false)),
                _ => Err(NotAnAnswer::YesOrNo),
            },
            Question::Ask { .. } if t.is_empty() => Err(NotAnAnswer::Empty),
            Question::Ask { .. } => Ok(Outcome::Answer(t.to_string())),
        }
    }
}

/// Why an operator's line does not answer the question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotAnAnswer {
    #[error("this sends a write to the module: type yes in full to send it, or no")]
    WriteNeedsYes,
    #[error("answer yes or no")]
    YesOrNo,
    #[error("a value is needed")]
    Empty,
}

/// A runner with its modules' diagnostic links, exchanging CAN frames.
pub struct Tester {
    db: Database,
    runner: Runner,
    links: BTreeMap<String, Link>,
    inflight: Option<(String, RequestId)>,
    node_check: Option<NodeCheck>,
    wanted: Vec<(Id, usize, String)>,
    decoded: Decoded,
    report: Option<Report>,
    /// The question waiting for its answer, and whether it was handed out yet.
    question: Option<Question>,
    question_shown: bool,
    out: VecDeque<Frame>,
    notes: VecDeque<Note>,
    actions: VecDeque<(Timestamp, Action)>,
}

impl Tester {
    /// Sets up a diagnostic link for every module of the runner's script; `db` decodes the
    /// signals the script's preconditions name and knows the nodes `verify_node` checks.
    pub fn new(runner: Runner, db: Database) -> Result<Tester, TesterError> {
        let mut links = BTreeMap::new();
        for (name, spec) in &runner.script().modules {
            let link = Link::new(spec.isotp_config(), spec.client_config()).map_err(|e| {
                TesterError::Module {
                    module: name.clone(),
                    reason: e.to_string(),
                }
            })?;
            links.insert(name.clone(), link);
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
        Ok(Tester {
            db,
            runner,
            links,
            inflight: None,
            node_check: None,
            wanted,
            decoded: Decoded::new(),
            report: None,
            question: None,
            question_shown: false,
            out: VecDeque::new(),
            notes: VecDeque::new(),
            actions: VecDeque::new(),
        })
    }

    /// The runner (its script, parameters, state).
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// The report, once the run is over.
    pub fn report(&self) -> Option<&Report> {
        self.report.as_ref()
    }

    /// A frame read from the bus at `now`.
    pub fn handle_frame(&mut self, now: Timestamp, f: &Frame) {
        for l in self.links.values_mut() {
            l.handle_frame(now, f);
        }
        if let Some(id) = f.id() {
            if let Some(c) = &mut self.node_check {
                c.handle_frame(now, id);
            }
            if self.wanted.iter().any(|(w, _, _)| *w == id)
                && let Ok(Some(_)) = self.db.decode_frame(f, &mut self.decoded)
            {
                for (w, index, name) in &self.wanted {
                    if *w == id
                        && let Some(s) = self.decoded.get(*index)
                    {
                        self.runner.handle_signal(now, name, s.physical.as_f64());
                    }
                }
            }
        }
        self.pump(now);
    }

    /// The next frame to write to the bus.
    pub fn poll_transmit(&mut self, now: Timestamp) -> Option<Frame> {
        self.pump(now);
        self.out.pop_front()
    }

    /// The bus refused `frame` (from [`Tester::poll_transmit`]) with `error`: the module's
    /// transmission is aborted and a request in flight on it fails with a transport error.
    pub fn handle_send_error(&mut self, now: Timestamp, frame: &Frame, error: &str) {
        let Some(id) = frame.id() else { return };
        let Some((name, l)) = self.links.iter_mut().find(|(_, l)| l.config().tx_id == id) else {
            return;
        };
        let abandoned = l.abort_send();
        self.notes.push_back(Note::Tester(
            now,
            TesterEvent::Transport {
                module: name.clone(),
                what: format!("the bus refused a frame: {error}"),
            },
        ));
        if let Some((m, rid)) = &self.inflight
            && m == name
            && abandoned == Some(*rid)
        {
            self.inflight = None;
            self.runner.handle_outcome(
                now,
                Outcome::Transport(format!("the bus refused a frame: {error}")),
            );
        }
        self.pump(now);
    }

    /// The operator question to show now (each is returned once).
    pub fn poll_question(&mut self) -> Option<Question> {
        if self.question_shown {
            return None;
        }
        self.question_shown = true;
        self.question.clone()
    }

    /// The question waiting for its answer, if any.
    pub fn pending_question(&self) -> Option<&Question> {
        self.question.as_ref()
    }

    /// The operator's answer to the pending question ([`Outcome::Confirmed`] or
    /// [`Outcome::Answer`]); ignored when none is pending.
    pub fn answer(&mut self, now: Timestamp, answer: Outcome) {
        if self.question.take().is_none() {
            return;
        }
        let text = match &answer {
            Outcome::Confirmed(true) => "operator answered yes".to_string(),
            Outcome::Confirmed(false) => "operator answered no".to_string(),
            Outcome::Answer(a) => format!("operator answered `{a}`"),
            other => format!("operator: {other:?}"),
        };
        self.event(now, TesterEvent::Action(text));
        self.runner.handle_outcome(now, answer);
        self.pump(now);
    }

    /// Abort the run (Ctrl-C, a failing bus): the outstanding action is dropped and cleanup
    /// runs (its requests are still exchanged).
    pub fn abort(&mut self, now: Timestamp, reason: &str) {
        self.runner.abort(now, reason);
        self.pump(now);
    }

    /// Whether the run is over and cleanup is running (or done).
    pub fn in_cleanup(&self) -> bool {
        self.runner.in_cleanup()
    }

    /// Gives cleanup up (see [`Runner::abandon_cleanup`]): requests in flight are dropped and
    /// the report says which modules may still be in a non-default session.
    pub fn abandon_cleanup(&mut self, now: Timestamp, why: &str) {
        self.runner.abandon_cleanup(now, why);
        self.pump(now);
    }

    /// The next event: tester-side ones (PDUs sent and received, transport failures, dry-run
    /// frames, answers) and the runner's (steps, progress, exchanges, notes), in order.
    pub fn poll_note(&mut self) -> Option<Note> {
        self.notes.pop_front()
    }

    fn event(&mut self, now: Timestamp, e: TesterEvent) {
        self.notes.push_back(Note::Tester(now, e));
    }

    /// The next action the runner produced, with its time (an audit trail).
    pub fn poll_action(&mut self) -> Option<(Timestamp, Action)> {
        self.actions.pop_front()
    }

    /// The earliest deadline of the runner, the modules and the node check.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let mut next: Option<Timestamp> = self.runner.poll_timeout();
        let mut take = |t: Option<Timestamp>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Timestamp| n.min(t)));
            }
        };
        for l in self.links.values() {
            take(l.poll_timeout());
        }
        take(self.node_check.as_ref().and_then(NodeCheck::poll_timeout));
        next
    }

    /// Deadlines due at `now`. The modules' and the node check's outcomes due now reach the
    /// runner before its own deadlines are checked; on each link a transport failure due now
    /// (N_Bs...) ends its request before the client's P2 at the same instant, so the reason
    /// names the layer that failed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        for l in self.links.values_mut() {
            l.handle_timeout(now);
        }
        if let Some(c) = &mut self.node_check {
            c.handle_timeout(now);
        }
        self.pump(now);
        self.runner.handle_timeout(now);
        self.pump(now);
    }

    /// Moves everything that is ready at `now`, in rounds (see the module documentation).
    fn pump(&mut self, now: Timestamp) {
        while self.round(now) {}
    }

    /// The runner's actions, then every link's frames and events, then the outcomes collected
    /// go to the runner. Returns whether the runner was handed any (then its next actions may
    /// be ready).
    fn round(&mut self, now: Timestamp) -> bool {
        while let Some(a) = self.runner.poll_action(now) {
            self.drain_run_events();
            self.actions.push_back((now, a.clone()));
            self.perform(now, a);
        }
        self.drain_run_events();
        let mut outcomes: Vec<Outcome> = Vec::new();
        for (name, l) in &mut self.links {
            while let Some(f) = l.poll_transmit(now) {
                self.out.push_back(f);
            }
            while let Some(e) = l.poll_event() {
                if let Some(o) = note_link_event(&mut self.notes, &mut self.inflight, now, name, e)
                {
                    outcomes.push(o);
                }
            }
        }
        if let Some(r) = self.node_check.as_ref().and_then(|c| c.result().cloned()) {
            self.node_check = None;
            outcomes.push(match r {
                Ok(()) => Outcome::NodeSeen,
                Err(why) => Outcome::NodeNotSeen(why),
            });
        }
        let handed = !outcomes.is_empty();
        for o in outcomes {
            self.runner.handle_outcome(now, o);
        }
        handed
    }

    fn drain_run_events(&mut self) {
        while let Some(e) = self.runner.poll_event() {
            self.notes.push_back(Note::Run(e));
        }
    }

    fn perform(&mut self, now: Timestamp, a: Action) {
        match a {
            a @ Action::Send { .. } => self.send(now, a),
            Action::Confirm {
                text,
                step,
                writes,
                placeholder,
            } => self.ask(Question::Confirm {
                text,
                step,
                writes,
                placeholder,
            }),
            Action::Ask {
                parameter,
                prompt,
                expected,
                error,
            } => self.ask(Question::Ask {
                parameter,
                prompt,
                expected,
                error,
            }),
            Action::WatchNode {
                node, for_, within, ..
            } => self.watch_node(now, &node, for_, within),
            Action::Cancel => {
                self.node_check = None;
                if self.question.take().is_some() {
                    self.event(now, TesterEvent::Action("question withdrawn".into()));
                }
                if let Some((m, _)) = self.inflight.take()
                    && let Some(l) = self.links.get_mut(&m)
                {
                    l.cancel();
                }
            }
            Action::EndModule { module } => {
                if let Some(l) = self.links.get_mut(&module) {
                    l.close();
                }
            }
            Action::Finished(r) => self.report = Some(r),
        }
    }

    /// An [`Action::Send`]: a request on the module's link, or in a dry run the frames it
    /// would take.
    fn send(&mut self, now: Timestamp, a: Action) {
        let Action::Send {
            module,
            pdu,
            expect_response,
            dry_run,
            step,
            writes,
            ..
        } = a
        else {
            return;
        };
        let Some(l) = self.links.get_mut(&module) else {
            if !dry_run {
                self.runner.handle_outcome(
                    now,
                    Outcome::Transport(format!("no link for module {module}")),
                );
            }
            return;
        };
        if dry_run {
            let frames = segment(l.config(), &pdu).unwrap_or_default();
            self.event(
                now,
                TesterEvent::WouldSend {
                    module,
                    step,
                    pdu,
                    frames,
                    writes,
                },
            );
            return;
        }
        let opts = RequestOptions {
            expect_response,
            ..RequestOptions::default()
        };
        match l.request(now, &pdu, opts) {
            Ok(id) => self.inflight = Some((module, id)),
            Err(e) => self
                .runner
                .handle_outcome(now, Outcome::Transport(format!("diagnostic client: {e}"))),
        }
    }

    fn ask(&mut self, q: Question) {
        self.question = Some(q);
        self.question_shown = false;
    }

    fn watch_node(&mut self, now: Timestamp, node: &str, for_: Duration, within: Duration) {
        match NodeCheck::new(&self.db, node, for_, within, now) {
            Ok(c) => {
                self.event(
                    now,
                    TesterEvent::Action(format!(
                        "watching node {node}: {:.1} s without a gap, within {:.1} s",
                        for_.as_secs_f64(),
                        within.as_secs_f64()
                    )),
                );
                self.node_check = Some(c);
            }
            Err(e) => self
                .runner
                .handle_outcome(now, Outcome::NodeNotSeen(e.to_string())),
        }
    }
}

impl Machine for Tester {
    fn handle_frame(&mut self, now: Timestamp, frame: &Frame) {
        Tester::handle_frame(self, now, frame);
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        Tester::handle_timeout(self, now);
    }

    fn poll_transmit(&mut self, now: Timestamp) -> Option<Frame> {
        Tester::poll_transmit(self, now)
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        Tester::poll_timeout(self)
    }
}

/// Notes what `module`'s link reported; returns the runner's outcome when it ends the request
/// in flight.
fn note_link_event(
    notes: &mut VecDeque<Note>,
    inflight: &mut Option<(String, RequestId)>,
    now: Timestamp,
    module: &str,
    e: LinkEvent,
) -> Option<Outcome> {
    let event = match e {
        LinkEvent::Sent { pdu, kind } => TesterEvent::Sent {
            module: module.to_string(),
            pdu,
            keep_alive: kind == TransmitKind::KeepAlive,
        },
        LinkEvent::Received(pdu) => TesterEvent::Received {
            module: module.to_string(),
            pdu,
        },
        LinkEvent::SendFailed(f) => TesterEvent::Transport {
            module: module.to_string(),
            what: f.to_string(),
        },
        LinkEvent::ReceiveFailed(f) => TesterEvent::Transport {
            module: module.to_string(),
            what: f.to_string(),
        },
        LinkEvent::Client(_) => return None,
        LinkEvent::Outcome { id, outcome } => {
            if inflight
                .as_ref()
                .is_none_or(|(m, r)| m != module || *r != id)
            {
                return None;
            }
            *inflight = None;
            return Some(runner_outcome(outcome));
        }
    };
    notes.push_back(Note::Tester(now, event));
    None
}

/// What the runner makes of a request's outcome.
fn runner_outcome(o: RequestOutcome) -> Outcome {
    match o {
        RequestOutcome::Positive { pdu, .. } => Outcome::Response(pdu),
        RequestOutcome::Negative { sid, nrc, .. } => Outcome::Negative { sid, nrc: nrc.0 },
        RequestOutcome::Timeout {
            waited,
            pending_count,
            ..
        } => Outcome::Timeout {
            waited,
            pending: pending_count,
        },
        RequestOutcome::SentNoResponse => Outcome::Sent,
        RequestOutcome::SendFailed(f) => Outcome::Transport(format!("ISO-TP: {f}")),
    }
}

/// The CAN frames that carry `pdu` from the tester with `config`, assuming the receiver's flow
/// control allows the whole message at once (block size 0, STmin 0). `None` when the PDU cannot
/// be sent with this configuration (empty, too long).
pub fn segment(config: &isotp::Config, pdu: &[u8]) -> Option<Vec<Frame>> {
    let mut ch = Channel::new(config.clone()).ok()?;
    let t = Timestamp::ZERO;
    ch.send(t, pdu).ok()?;
    let mut frames = Vec::new();
    let fc = flow_control_frame(config)?;
    let mut fc_sent = false;
    for _ in 0..4096 {
        match ch.poll_transmit(t) {
            Some(f) => frames.push(f),
            None if ch.is_sending() && !fc_sent => {
                ch.handle_frame(t, &fc);
                fc_sent = true;
            }
            None if ch.is_sending() => {
                // STmin 0 may still ask for a deadline: move through it.
                match ch.poll_timeout() {
                    Some(d) => ch.handle_timeout(d),
                    None => return None,
                }
            }
            None => return Some(frames),
        }
    }
    None
}

/// A clear-to-send flow control from the module (block size 0, STmin 0), as a frame on the
/// tester's receive id with its addressing.
fn flow_control_frame(config: &isotp::Config) -> Option<Frame> {
    let mut buf = [0u8; 8];
    let (start, mut data) = match config.addressing {
        isotp::Addressing::Normal => (0, Vec::new()),
        isotp::Addressing::Extended { rx_addr, .. } => (1, vec![rx_addr]),
    };
    let n = Pdu::FlowControl(FlowControl::cts(0, StMin::ZERO))
        .emit(buf.get_mut(start..)?)
        .ok()?;
    data.extend_from_slice(buf.get(start..start + n)?);
    while data.len() < 8 {
        data.push(config.padding.unwrap_or(0));
    }
    Frame::classic(config.rx_id, &data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_segment_single_and_multi_frame() {
        let mut c = isotp::Config::new(Id::standard(0x745).unwrap(), Id::standard(0x765).unwrap());
        c.padding = Some(0xFF);
        let f = segment(&c, &[0x10, 0xC0]).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].to_string(), "745#0210C0FFFFFFFFFF");
        let pdu: Vec<u8> = (0..20).collect();
        let f = segment(&c, &pdu).unwrap();
        // FF carries 6 bytes, then 7 per CF: 6 + 7 + 7 = 20.
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].to_string(), "745#1014000102030405");
        assert_eq!(f[1].to_string(), "745#21060708090A0B0C");
        assert_eq!(f[2].to_string(), "745#220D0E0F10111213");
        assert!(segment(&c, &[]).is_none());
    }

    #[test]
    fn test_interpret_answers() {
        let c = Question::Confirm {
            text: "go?".into(),
            step: "s".into(),
            writes: true,
            placeholder: true,
        };
        assert_eq!(c.interpret(" YES\n"), Ok(Outcome::Confirmed(true)));
        assert_eq!(c.interpret("n"), Ok(Outcome::Confirmed(false)));
        // Only an explicit yes releases a write: anything else is asked again.
        assert!(c.interpret("").is_err());
        assert!(c.interpret("ok").is_err());
        // Regression: `y` and `Y` released a write; README says `yes`.
        assert!(c.interpret("y").is_err());
        assert!(c.interpret("Y\n").is_err());
        let pre = Question::Confirm {
            text: "Head unit on?".into(),
            step: "p".into(),
            writes: false,
            placeholder: false,
        };
        assert_eq!(pre.interpret("y"), Ok(Outcome::Confirmed(true)));
        let a = Question::Ask {
            parameter: "capacity_ah".into(),
            prompt: "Ah".into(),
            expected: "30 to 120 Ah".into(),
            error: None,
        };
        assert_eq!(a.interpret(" 70 "), Ok(Outcome::Answer("70".into())));
        assert!(a.interpret("  ").is_err());
    }
}
