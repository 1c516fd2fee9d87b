//! Runs a procedure [`Tester`] on any [`Bus`], with an operator on the other end of two
//! channels (answers and interrupts).
//!
//! The loop: read the clock, fire what is due ([`Tester::handle_timeout`]), write every frame
//! [`Tester::poll_transmit`] gives (a frame the bus refuses fails the request it belongs to, so
//! the run still ends, through cleanup), report what happened, then wait for whichever comes
//! first: an interrupt, an answer to the pending question, a frame from the bus, or the
//! tester's next deadline. The same [`Tester`] runs against the simulated car in
//! [`crate::procedure::harness`]; here time comes from a [`Clock`] and the car is on the bus.
//!
//! Safety rules the loop keeps:
//! - The first interrupt aborts the run: the request in flight is dropped and cleanup runs
//!   (back to the default session, keep-alive off); later interrupts are reported and change
//!   nothing, because cleanup is bounded by the modules' P2 timers (seconds).
//! - An answer line that does not answer the question is refused and the question is asked
//!   again ([`Question::interpret`]); when the answers channel closes (end of input), a pending
//!   confirmation is answered no and a pending parameter aborts the run.
//! - A bus that fails while reading aborts the run (reason: the error); writes are still
//!   attempted, so cleanup is tried, and their failures end it.

use crate::bus::{Bus, BusError, Clock, Direction};
use crate::frame::Frame;
use crate::procedure::runner::{Outcome, Report, RunEvent};
use crate::procedure::tester::{Note, Question, Tester, TesterEvent};
use crate::time::Timestamp;
use core::time::Duration;
use tokio::sync::mpsc;

/// How long to wait when nothing has a deadline (the runner always has one while it waits
/// for anything but the operator).
const IDLE_WAIT: Duration = Duration::from_secs(3600);
/// The wait after a deadline that handling did not clear (never expected; avoids a busy loop).
const STUCK_WAIT: Duration = Duration::from_millis(1);

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
    /// An interrupt arrived; `first` when it aborted the run, otherwise cleanup is running.
    Interrupted { first: bool },
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
    mut notice: impl FnMut(Notice<'_>),
) -> Report {
    let mut reading = true;
    let mut input_open = true;
    let mut interrupts_open = true;
    let mut aborted = false;
    loop {
        let now = clock.now();
        if tester.poll_timeout().is_some_and(|t| t <= now) {
            tester.handle_timeout(now);
        }
        while let Some(f) = tester.poll_transmit(now) {
            match bus.send(&f).await {
                Ok(()) => notice(Notice::Frame {
                    at: clock.now(),
                    sent: true,
                    frame: &f,
                }),
                Err(e) => {
                    notice(Notice::BusError(&e));
                    tester.handle_send_error(clock.now(), &f, &e.to_string());
                }
            }
        }
        while let Some(n) = tester.poll_note() {
            match &n {
                Note::Tester(at, e) => notice(Notice::Tester(*at, e)),
                Note::Run(e) => notice(Notice::Run(e)),
            }
        }
        while tester.poll_action().is_some() {}
        if let Some(q) = tester.poll_question() {
            notice(Notice::Question(&q));
        }
        if let Some(r) = tester.report() {
            return r.clone();
        }
        if !input_open && let Some(q) = tester.pending_question().cloned() {
            let now = clock.now();
            match q {
                Question::Confirm { .. } => tester.answer(now, Outcome::Confirmed(false)),
                Question::Ask { parameter, .. } => tester.abort(
                    now,
                    &format!("no value for parameter {parameter} (end of input)"),
                ),
            }
            continue;
        }
        let wait = match tester.poll_timeout() {
            Some(t) if t <= now => STUCK_WAIT,
            Some(t) => t.saturating_duration_since(now),
            None => IDLE_WAIT,
        };
        let waiting_answer = tester.pending_question().is_some() && input_open;
        tokio::select! {
            biased;
            i = interrupts.recv(), if interrupts_open => match i {
                Some(()) => {
                    notice(Notice::Interrupted { first: !aborted });
                    if !aborted {
                        aborted = true;
                        tester.abort(clock.now(), "interrupted by the operator (Ctrl-C)");
                    }
                }
                None => interrupts_open = false,
            },
            line = answers.recv(), if waiting_answer => match line {
                Some(line) => {
                    if let Some(q) = tester.pending_question().cloned() {
                        match q.interpret(&line) {
                            Ok(o) => tester.answer(clock.now(), o),
                            Err(why) => {
                                notice(Notice::Refused { answer: &line, why: &why });
                                notice(Notice::Question(&q));
                            }
                        }
                    }
                }
                None => input_open = false,
            },
            r = bus.recv(), if reading => match r {
                Ok(rx) if rx.direction == Direction::OwnTx => {}
                Ok(rx) => {
                    notice(Notice::Frame { at: rx.timestamp, sent: false, frame: &rx.frame });
                    tester.handle_frame(clock.now(), &rx.frame);
                }
                Err(e) => {
                    reading = false;
                    notice(Notice::BusError(&e));
                    tester.abort(clock.now(), &format!("the bus failed: {e}"));
                }
            },
            () = tokio::time::sleep(wait) => {}
        }
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
}
