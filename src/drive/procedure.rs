//! Runs a procedure [`Tester`] on any [`Bus`], with an operator on the other end of two
//! channels (answers and interrupts).
//!
//! The shared driver loop ([`super::machine::run`]) with the operator's hooks. Each turn: read
//! the clock, fire what is due ([`Tester::handle_timeout`]), write every frame
//! [`Tester::poll_transmit`] gives (a frame the bus refuses fails the request it belongs to, so
//! the run still ends, through cleanup), report what happened, then wait for whichever comes
//! first: an interrupt, an answer to the pending question, a frame from the bus, or the
//! earlier of the tester's next deadline and the cleanup bound. The same [`Tester`] runs
//! against the simulated car in [`crate::procedure::harness`]; here time comes from a
//! [`Clock`] and the car is on the bus.
//!
//! Safety rules the loop keeps:
//! - The first interrupt aborts the run: the request in flight is dropped and cleanup runs
//!   (back to the default session, keep-alive off). The second is reported and changes
//!   nothing. The third abandons cleanup: the report then names every module that may still
//!   be in a non-default session.
//! - Cleanup is bounded: [`CLEANUP_LIMIT`] after it starts (however the run ended), whatever
//!   is left of it is abandoned the same way, so a module that keeps answering "response
//!   pending" cannot hold the run for ever.
//! - What the tester decided is reported before the frames it released: an operator's answer
//!   comes before the write it allowed.
//! - An answer line that does not answer the question is refused and the question is asked
//!   again ([`Question::interpret`]); when the answers channel closes (end of input), a pending
//!   confirmation is answered no and a pending parameter aborts the run.
//! - A bus that fails while reading aborts the run (reason: the error); writes are still
//!   attempted, so cleanup is tried, and their failures end it.

use core::ops::ControlFlow;

use super::machine::{self, Hooks, Next};
use crate::bus::{Bus, BusError, Clock, Received};
use crate::frame::Frame;
use crate::procedure::runner::{Outcome, Report, RunEvent};
use crate::procedure::tester::{Note, Question, Tester, TesterEvent};
use crate::time::Timestamp;
use core::time::Duration;
use tokio::sync::mpsc;

/// The longest cleanup may take once it started: every module's `10 <default>` with its P2*
/// chain fits in it for the bundled scripts (one or two modules, P2* 5 s).
pub const CLEANUP_LIMIT: Duration = Duration::from_secs(20);

/// Something for the operator's screen and the transcript.
#[derive(Debug)]
pub enum Notice<'a> {
    /// A frame written (`sent`) or read, with its time (the bus's receive time for frames
    /// read, the clock after the write for frames written).
    Frame {
        at: Timestamp,
        sent: bool,
        frame: &'a Frame,
    },
    /// A tester-side event (PDUs, transport failures, dry-run frames, answers).
    Tester(Timestamp, &'a TesterEvent),
    /// A runner event (steps, progress, exchanges, notes).
    Run(&'a RunEvent),
    /// A question to show; answer with a line on the answers channel.
    Question(&'a Question),
    /// An answer was refused; the question is asked again.
    Refused { answer: &'a str, why: &'a str },
    /// An interrupt arrived: the first aborts the run, the second changes nothing (cleanup is
    /// running), the third abandons cleanup. `count` is how many arrived so far.
    Interrupted { count: usize },
    /// Cleanup took longer than [`CLEANUP_LIMIT`] and was abandoned.
    CleanupTimedOut,
    /// The bus failed while reading (the run is aborted) or refused a frame.
    BusError(&'a BusError),
}

/// Runs `tester` on `bus` until its report is ready.
///
/// `answers` carries the operator's lines, `interrupts` one message per Ctrl-C. Everything
/// sent and received, and every event, goes to `notice` as it happens.
pub async fn run<B: Bus>(
    tester: &mut Tester,
    bus: &mut B,
    clock: &dyn Clock,
    answers: &mut mpsc::UnboundedReceiver<String>,
    interrupts: &mut mpsc::UnboundedReceiver<()>,
    notice: impl FnMut(Notice<'_>),
) -> Report {
    let mut operator = Operator {
        answers,
        interrupts,
        notice,
        input_open: true,
        interrupts_open: true,
        interrupts_seen: 0,
        waiting_answer: false,
        cleanup_until: None,
    };
    machine::run(tester, bus, clock, &mut operator).await
}

/// The procedure driver's hooks: the operator's two channels, the notices, the cleanup bound.
struct Operator<'a, N> {
    answers: &'a mut mpsc::UnboundedReceiver<String>,
    interrupts: &'a mut mpsc::UnboundedReceiver<()>,
    notice: N,
    input_open: bool,
    interrupts_open: bool,
    interrupts_seen: usize,
    /// Whether the next wait listens for an answer (a question is pending, input is open).
    waiting_answer: bool,
    cleanup_until: Option<Timestamp>,
}

/// What the operator did.
enum OperatorInput {
    /// An interrupt (`None`: the interrupts channel closed).
    Interrupt(Option<()>),
    /// An answer line (`None`: end of input).
    Line(Option<String>),
}

impl<N: FnMut(Notice<'_>)> Operator<'_, N> {
    /// Reports the tester's notes, in order.
    fn drain_notes(&mut self, tester: &mut Tester) {
        while let Some(n) = tester.poll_note() {
            match &n {
                Note::Tester(at, e) => (self.notice)(Notice::Tester(*at, e)),
                Note::Run(e) => (self.notice)(Notice::Run(e)),
            }
        }
    }

    fn interrupted(&mut self, tester: &mut Tester, now: Timestamp) {
        self.interrupts_seen += 1;
        (self.notice)(Notice::Interrupted {
            count: self.interrupts_seen,
        });
        match self.interrupts_seen {
            1 => tester.abort(
                now,
                "interrupted by the operator (Ctrl-C, SIGTERM or SIGHUP)",
            ),
            3 => tester.abandon_cleanup(now, "the operator interrupted a third time"),
            _ => {}
        }
    }

    fn answered(&mut self, tester: &mut Tester, now: Timestamp, line: &str) {
        let Some(q) = tester.pending_question().cloned() else {
            return;
        };
        match q.interpret(line) {
            Ok(o) => tester.answer(now, o),
            Err(why) => {
                (self.notice)(Notice::Refused {
                    answer: line,
                    why: &why.to_string(),
                });
                (self.notice)(Notice::Question(&q));
            }
        }
    }
}

impl<N: FnMut(Notice<'_>)> Hooks<Tester> for Operator<'_, N> {
    type Output = Report;
    type Input = OperatorInput;

    /// The cleanup bound, then what was decided first (an answer, a step starting), before
    /// the frames it released.
    fn before_transmit(&mut self, tester: &mut Tester, now: Timestamp) -> ControlFlow<Report> {
        if tester.in_cleanup() && tester.report().is_none() {
            let until = *self
                .cleanup_until
                .get_or_insert_with(|| now.saturating_add(CLEANUP_LIMIT));
            if now >= until {
                (self.notice)(Notice::CleanupTimedOut);
                tester.abandon_cleanup(
                    now,
                    &format!("it did not finish within {} s", CLEANUP_LIMIT.as_secs()),
                );
            }
        }
        self.drain_notes(tester);
        ControlFlow::Continue(())
    }

    /// A frame the bus refused fails the request it belongs to, so the run still ends,
    /// through cleanup.
    fn on_write(
        &mut self,
        tester: &mut Tester,
        frame: &Frame,
        at: Timestamp,
        result: Result<(), BusError>,
    ) -> ControlFlow<Report> {
        match result {
            Ok(()) => (self.notice)(Notice::Frame {
                at,
                sent: true,
                frame,
            }),
            Err(e) => {
                (self.notice)(Notice::BusError(&e));
                tester.handle_send_error(at, frame, &e.to_string());
            }
        }
        ControlFlow::Continue(())
    }

    fn after_transmit(&mut self, tester: &mut Tester, now: Timestamp) -> ControlFlow<Report, Next> {
        self.drain_notes(tester);
        while tester.poll_action().is_some() {}
        if let Some(q) = tester.poll_question() {
            (self.notice)(Notice::Question(&q));
        }
        if let Some(r) = tester.report() {
            return ControlFlow::Break(r.clone());
        }
        if !self.input_open
            && let Some(q) = tester.pending_question().cloned()
        {
            match q {
                Question::Confirm { .. } => tester.answer(now, Outcome::Confirmed(false)),
                Question::Ask { parameter, .. } => tester.abort(
                    now,
                    &format!("no value for parameter {parameter} (end of input)"),
                ),
            }
            return ControlFlow::Continue(Next::Again);
        }
        self.waiting_answer = tester.pending_question().is_some() && self.input_open;
        ControlFlow::Continue(Next::Wait)
    }

    fn deadline(&self) -> Option<Timestamp> {
        self.cleanup_until
    }

    /// Interrupts first, then an answer to the pending question.
    fn input(&mut self) -> impl Future<Output = OperatorInput> {
        let interrupts_open = self.interrupts_open;
        let waiting_answer = self.waiting_answer;
        let (interrupts, answers) = (&mut *self.interrupts, &mut *self.answers);
        async move {
            tokio::select! {
                biased;
                i = interrupts.recv(), if interrupts_open => OperatorInput::Interrupt(i),
                line = answers.recv(), if waiting_answer => OperatorInput::Line(line),
                else => std::future::pending().await,
            }
        }
    }

    fn on_input(
        &mut self,
        tester: &mut Tester,
        now: Timestamp,
        input: OperatorInput,
    ) -> ControlFlow<Report> {
        match input {
            OperatorInput::Interrupt(Some(())) => self.interrupted(tester, now),
            OperatorInput::Interrupt(None) => self.interrupts_open = false,
            OperatorInput::Line(Some(line)) => self.answered(tester, now, &line),
            OperatorInput::Line(None) => self.input_open = false,
        }
        ControlFlow::Continue(())
    }

    fn on_frame(&mut self, rx: &Received) {
        (self.notice)(Notice::Frame {
            at: rx.timestamp,
            sent: false,
            frame: &rx.frame,
        });
    }

    /// A bus that fails while reading aborts the run; writes are still attempted, so cleanup
    /// is tried, and their failures end it.
    fn on_read_error(
        &mut self,
        tester: &mut Tester,
        now: Timestamp,
        e: BusError,
    ) -> ControlFlow<Report> {
        (self.notice)(Notice::BusError(&e));
        tester.abort(now, &format!("the bus failed: {e}"));
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{TokioClock, VirtualBus};
    use crate::dbc::Database;
    use crate::procedure::runner::{RunOptions, RunOutcome, Runner};
    use crate::procedure::script::Script;
    use std::collections::BTreeMap;

    const SCRIPT: &str = r#"
[procedure]
name = "t"
[modules.M]
request_id = 0x745
response_id = 0x765
padding = 0xFF
[[step]]
id = "read"
title = "read"
kind = "request"
module = "M"
request = "21 01"
expect = "61 01 .."
provenance = "placeholder"
"#;

    fn tester() -> Tester {
        let script = Script::from_toml(SCRIPT, "t.toml").unwrap();
        let runner = Runner::new(script, &BTreeMap::new(), RunOptions::default()).unwrap();
        Tester::new(runner, Database::empty()).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn test_module_that_never_answers_fails_within_p2() {
        let bus = VirtualBus::new("v");
        let mut ep = bus.endpoint();
        let _other = bus.endpoint();
        let clock = TokioClock::new(Timestamp::ZERO);
        let (_atx, mut arx) = mpsc::unbounded_channel();
        let (_itx, mut irx) = mpsc::unbounded_channel();
        let mut sent = 0;
        let mut t = tester();
        let r = run(&mut t, &mut ep, &clock, &mut arx, &mut irx, |n| {
            if let Notice::Frame { sent: true, .. } = n {
                sent += 1;
            }
        })
        .await;
        assert_eq!(r.outcome, RunOutcome::Failed, "{r}");
        assert!(
            r.reason
                .as_deref()
                .unwrap_or("")
                .contains("did not answer 21 01"),
            "{r}"
        );
        assert!(
            r.ended.saturating_duration_since(r.started) < Duration::from_secs(2),
            "{r}"
        );
        assert_eq!(sent, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn test_answer_from_a_module_on_the_bus() {
        let bus = VirtualBus::new("v");
        let mut ep = bus.endpoint();
        let mut ecu = bus.endpoint();
        let clock = TokioClock::new(Timestamp::ZERO);
        let (_atx, mut arx) = mpsc::unbounded_channel();
        let (_itx, mut irx) = mpsc::unbounded_channel();
        let ecu_task = tokio::spawn(async move {
            let rx = ecu.recv().await.unwrap();
            assert_eq!(rx.frame.to_string(), "745#022101FFFFFFFFFF");
            let answer = Frame::classic(
                crate::frame::Id::standard(0x765).unwrap(),
                &[0x03, 0x61, 0x01, 0x2A, 0, 0, 0, 0],
            )
            .unwrap();
            ecu.send(&answer).await.unwrap();
        });
        let mut t = tester();
        let r = run(&mut t, &mut ep, &clock, &mut arx, &mut irx, |_| {}).await;
        ecu_task.await.unwrap();
        assert_eq!(r.outcome, RunOutcome::Completed, "{r}");
    }

    const STUCK_SCRIPT: &str = r#"
[procedure]
name = "t"
[modules.M]
request_id = 0x745
response_id = 0x765
padding = 0xFF
[[step]]
id = "open"
title = "open"
kind = "session"
module = "M"
session = 0xC0
provenance = "placeholder"
[[step]]
id = "read"
title = "read"
kind = "request"
module = "M"
request = "21 01"
expect = "61 01 .."
provenance = "placeholder"
"#;

    /// A module that opens its session, then answers every other request (keep-alive
    /// aside) with "response pending" every second, for ever.
    fn stuck_module(mut ecu: crate::bus::VirtualEndpoint) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let id = crate::frame::Id::standard(0x765).unwrap();
            let mut pending: Option<u8> = None;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                let answer = tokio::select! {
                    rx = ecu.recv() => {
                        let Ok(rx) = rx else { return };
                        match rx.frame.data().get(1..3) {
                            Some([0x10, 0xC0]) => vec![0x02, 0x50, 0xC0],
                            Some([0x3E, _]) | None => continue,
                            Some([sid, _]) => {
                                pending = Some(*sid);
                                vec![0x03, 0x7F, *sid, 0x78]
                            }
                            Some(_) => continue,
                        }
                    }
                    _ = tick.tick() => match pending {
                        Some(sid) => vec![0x03, 0x7F, sid, 0x78],
                        None => continue,
                    },
                };
                if ecu
                    .send(&Frame::classic(id, &answer).unwrap())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        })
    }

    fn stuck_tester() -> Tester {
        let script = Script::from_toml(STUCK_SCRIPT, "t.toml").unwrap();
        let runner = Runner::new(script, &BTreeMap::new(), RunOptions::default()).unwrap();
        Tester::new(runner, Database::empty()).unwrap()
    }

    /// Cleanup that never finishes (the module answers "pending" for ever) is abandoned
    /// after CLEANUP_LIMIT, and the report names the module left in its session.
    #[tokio::test(start_paused = true)]
    async fn test_cleanup_is_bounded() {
        let bus = VirtualBus::new("v");
        let mut ep = bus.endpoint();
        let _ecu = stuck_module(bus.endpoint());
        let clock = TokioClock::new(Timestamp::ZERO);
        let (_atx, mut arx) = mpsc::unbounded_channel();
        let (itx, mut irx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let _ = itx.send(());
            std::future::pending::<()>().await;
        });
        let mut t = stuck_tester();
        let mut timed_out = false;
        let r = run(&mut t, &mut ep, &clock, &mut arx, &mut irx, |n| {
            if let Notice::CleanupTimedOut = n {
                timed_out = true;
            }
        })
        .await;
        assert!(timed_out);
        assert_eq!(r.outcome, RunOutcome::Aborted, "{r}");
        let took = r.ended.saturating_duration_since(r.started);
        assert!(
            took >= Duration::from_secs(23) && took < Duration::from_secs(25),
            "abort at 3 s + {CLEANUP_LIMIT:?}: {took:?}"
        );
        let notes = r.cleanup.join("\n");
        assert!(
            notes.contains("M: cleanup abandoned") && notes.contains("non-default"),
            "{notes}"
        );
    }

    /// The third interrupt abandons cleanup at once.
    #[tokio::test(start_paused = true)]
    async fn test_third_interrupt_abandons_cleanup() {
        let bus = VirtualBus::new("v");
        let mut ep = bus.endpoint();
        let _ecu = stuck_module(bus.endpoint());
        let clock = TokioClock::new(Timestamp::ZERO);
        let (_atx, mut arx) = mpsc::unbounded_channel();
        let (itx, mut irx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            for _ in 0..3 {
                let _ = itx.send(());
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            std::future::pending::<()>().await;
        });
        let mut t = stuck_tester();
        let mut counts = Vec::new();
        let r = run(&mut t, &mut ep, &clock, &mut arx, &mut irx, |n| {
            if let Notice::Interrupted { count } = n {
                counts.push(count);
            }
        })
        .await;
        assert_eq!(counts, [1, 2, 3]);
        assert_eq!(r.outcome, RunOutcome::Aborted, "{r}");
        let took = r.ended.saturating_duration_since(r.started);
        assert!(took < Duration::from_secs(20), "abandoned early: {took:?}");
        assert!(
            r.cleanup.join("\n").contains("interrupted a third time"),
            "{r}"
        );
    }
}
