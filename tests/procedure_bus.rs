//! End to end on the in-process virtual bus with paused tokio time: the simulated J11 run by its
//! driver (`drive::sim`) on one endpoint, a procedure run by its driver (`drive::procedure`,
//! what `canrelearn run` uses) on another, an operator on channels. Everything is real but the
//! wires: CAN frames, ISO-TP segmentation and flow control, P2 timers, keep-alive, signals.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::time::Duration;

use canrelearn::bus::{TokioClock, VirtualBus};
use canrelearn::dbc::Database;
use canrelearn::drive::procedure::{self as driver, Notice};
use canrelearn::drive::sim;
use canrelearn::frame::Frame;
use canrelearn::procedure::tester::{Question, Tester, TesterEvent};
use canrelearn::procedure::{Report, RunOptions, RunOutcome, Runner, Script, StepResult};
use canrelearn::sim::profile::Profile;
use canrelearn::sim::vehicle::Vehicle;
use canrelearn::time::Timestamp;
use tokio::sync::{mpsc, oneshot};

const PROFILE: &str = include_str!("../scripts/simulator/qashqai-j11.toml");
const DBC: &str = include_str!("../dbc/nissan_qashqai_j11.dbc");
const AUDIO: &str = include_str!("../scripts/audio-unit-registration.toml");
const BMS: &str = include_str!("../scripts/bms-battery-registration.toml");

/// What the run showed.
#[derive(Default)]
struct Seen {
    frames_sent: Vec<Frame>,
    pdus_sent: Vec<String>,
    questions: Vec<Question>,
    refused: usize,
    interrupted: usize,
}

struct Operator {
    /// Lines typed, one per question, in order.
    lines: Vec<&'static str>,
    /// Close the input after the lines (end of input).
    close: bool,
    /// Press Ctrl-C once this many seconds after the start.
    ctrl_c_after: Option<Duration>,
}

impl Operator {
    fn yes() -> Operator {
        Operator {
            lines: Vec::new(),
            close: false,
            ctrl_c_after: None,
        }
    }
}

async fn run(
    script: &str,
    faults: &[&str],
    params: &[(&str, &str)],
    opts: RunOptions,
    op: Operator,
) -> (Report, Seen, Vehicle) {
    let db = Database::from_str_named(DBC, "j11.dbc").unwrap();
    let profile = Profile::from_toml(PROFILE, "j11").unwrap();
    let mut car = Vehicle::new(&profile, &db, faults).unwrap();
    let script = Script::from_toml(script, "script.toml").unwrap();
    let params: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let runner = Runner::new(script, &params, opts).unwrap();
    let mut tester = Tester::new(runner, db).unwrap();

    let bus = VirtualBus::new("vbus");
    let mut car_ep = bus.endpoint();
    let mut tester_ep = bus.endpoint();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let car_task = tokio::spawn(async move {
        let clock = TokioClock::new(Timestamp::ZERO);
        sim::run(
            &mut car,
            &mut car_ep,
            &clock,
            async {
                let _ = stop_rx.await;
            },
            |_| ControlFlow::Continue(()),
        )
        .await
        .unwrap();
        car
    });

    let (answer_tx, mut answers) = mpsc::unbounded_channel::<String>();
    let (int_tx, mut interrupts) = mpsc::unbounded_channel::<()>();
    let mut lines = op.lines.into_iter();
    let mut answer_tx = Some(answer_tx);
    if op.close && lines.len() == 0 {
        answer_tx = None;
    }
    if let Some(after) = op.ctrl_c_after {
        let tx = int_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tx.send(());
            // A second Ctrl-C during cleanup changes nothing.
            tokio::time::sleep(Duration::from_millis(5)).await;
            let _ = tx.send(());
        });
    }
    let clock = TokioClock::new(Timestamp::ZERO);
    let mut seen = Seen::default();
    let report = driver::run(
        &mut tester,
        &mut tester_ep,
        &clock,
        &mut answers,
        &mut interrupts,
        |n| match n {
            Notice::Frame {
                sent: true, frame, ..
            } => seen.frames_sent.push(*frame),
            Notice::Tester(
                _,
                TesterEvent::Sent {
                    pdu,
                    keep_alive: false,
                    ..
                },
            ) => seen.pdus_sent.push(canrelearn::diag::format_hex(pdu)),
            Notice::Question(q) => {
                seen.questions.push(q.clone());
                if let Some(tx) = &answer_tx {
                    match lines.next() {
                        Some(l) => {
                            let _ = tx.send(l.to_string());
                        }
                        None if op.close => answer_tx = None,
                        None => {}
                    }
                }
            }
            Notice::Refused { .. } => seen.refused += 1,
            Notice::Interrupted { .. } => seen.interrupted += 1,
            _ => {}
        },
    )
    .await;
    drop(int_tx);
    let _ = stop_tx.send(());
    let car = car_task.await.unwrap();
    (report, seen, car)
}

fn yes() -> RunOptions {
    RunOptions {
        assume_yes: true,
        ..RunOptions::default()
    }
}

#[tokio::test(start_paused = true)]
async fn audio_registration_completes_on_the_bus_and_the_av_unit_is_back() {
    let (r, seen, car) = run(
        AUDIO,
        &["audio-unit-unregistered"],
        &[],
        yes(),
        Operator::yes(),
    )
    .await;
    assert_eq!(r.outcome, RunOutcome::Completed, "{r}");
    assert!(!car.is_node_silent("AV"));
    assert!(
        seen.pdus_sent.contains(&"31 90".to_string()),
        "{:?}",
        seen.pdus_sent
    );
    // The status was polled as frames for the simulated registration's minutes.
    let polls = seen
        .frames_sent
        .iter()
        .filter(|f| f.to_string() == "745#022191FFFFFFFFFF")
        .count();
    assert!(polls >= 10, "{polls} polls: {:?}", seen.frames_sent);
    // Every step passed, in order.
    assert!(
        r.steps.iter().all(|s| s.result == StepResult::Passed),
        "{r}"
    );
}

#[tokio::test(start_paused = true)]
async fn bms_registration_completes_on_the_bus() {
    let (r, seen, _) = run(
        BMS,
        &[],
        &[("capacity_ah", "70"), ("battery_type", "agm")],
        yes(),
        Operator::yes(),
    )
    .await;
    assert_eq!(r.outcome, RunOutcome::Completed, "{r}");
    assert!(seen.questions.is_empty());
}

#[tokio::test(start_paused = true)]
async fn operator_answers_at_the_terminal_and_a_bad_answer_is_asked_again() {
    // No --yes: the confirm precondition and the write confirmation are asked; the first
    // answer is not yes/no and is refused, and so is `y` for the write (only `yes` in full
    // releases a write).
    let (r, seen, _) = run(
        AUDIO,
        &["audio-unit-unregistered"],
        &[],
        RunOptions::default(),
        Operator {
            lines: vec!["ok", "yes", "y", "yes"],
            close: false,
            ctrl_c_after: None,
        },
    )
    .await;
    assert_eq!(r.outcome, RunOutcome::Completed, "{r}");
    assert_eq!(seen.refused, 2);
    assert!(
        seen.questions
            .iter()
            .any(|q| matches!(q, Question::Confirm { writes: true, .. }))
    );
}

#[tokio::test(start_paused = true)]
async fn no_answer_at_end_of_input_sends_nothing_that_writes() {
    let (r, seen, car) = run(
        AUDIO,
        &["audio-unit-unregistered"],
        &[],
        RunOptions::default(),
        Operator {
            lines: vec!["yes"],
            close: true,
            ctrl_c_after: None,
        },
    )
    .await;
    assert_ne!(r.outcome, RunOutcome::Completed, "{r}");
    assert!(
        !seen.pdus_sent.contains(&"31 90".to_string()),
        "{:?}",
        seen.pdus_sent
    );
    // The session that was opened was closed again.
    assert_eq!(
        seen.pdus_sent.last().map(String::as_str),
        Some("10 81"),
        "{r}"
    );
    assert!(car.is_node_silent("AV"));
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_mid_poll_aborts_and_returns_the_bcm_to_its_default_session() {
    let (r, seen, _) = run(
        AUDIO,
        &["audio-unit-unregistered"],
        &[],
        yes(),
        Operator {
            ctrl_c_after: Some(Duration::from_secs(20)),
            ..Operator::yes()
        },
    )
    .await;
    assert_eq!(r.outcome, RunOutcome::Aborted, "{r}");
    assert!(r.reason.as_deref().unwrap_or("").contains("Ctrl-C"), "{r}");
    assert_eq!(seen.interrupted, 2);
    assert_eq!(
        seen.pdus_sent.last().map(String::as_str),
        Some("10 81"),
        "{r}"
    );
    assert!(r.cleanup.iter().any(|c| c.contains("10 81")), "{r}");
}

#[tokio::test(start_paused = true)]
async fn a_module_that_never_answers_fails_in_seconds() {
    // The ignition precondition holds (the car runs) but the BCM is silent on diagnostics:
    // with the simulator's bcm-silent fault the BCM sends nothing at all, so the run fails on
    // its signals; here the precondition is waived by a script without it.
    let script = AUDIO.split("[[precondition]]").next().unwrap().to_string()
        + &AUDIO[AUDIO.find("[[step]]").unwrap()..];
    let (r, _, _) = run(&script, &["bcm-silent"], &[], yes(), Operator::yes()).await;
    assert_eq!(r.outcome, RunOutcome::Failed, "{r}");
    assert!(
        r.ended.saturating_duration_since(r.started) < Duration::from_secs(10),
        "{r}"
    );
    assert!(
        r.reason.as_deref().unwrap_or("").contains("did not answer"),
        "{r}"
    );
}

#[tokio::test(start_paused = true)]
async fn keep_alive_holds_the_session_through_a_long_wait() {
    // The simulated BCM drops its session after S3 (5 s) without traffic; a 12 s wait in the
    // session is only survived thanks to the keep-alive frames (3E 80 every 2 s, no reply).
    let script = r#"
[procedure]
name = "hold"
[modules.BCM]
request_id = 0x745
response_id = 0x765
padding = 0xFF
keep_alive = "3E 80"
keep_alive_period_ms = 2000
[[step]]
id = "open"
title = "open"
kind = "session"
module = "BCM"
session = 0xC0
provenance = "fact"
[[step]]
id = "wait"
title = "wait"
kind = "wait"
ms = 12000
reason = "hold the session"
provenance = "fact"
[[step]]
id = "read"
title = "read"
kind = "request"
module = "BCM"
request = "21 91"
expect = "61 91 .."
provenance = "placeholder"
[[step]]
id = "close"
title = "close"
kind = "close_session"
module = "BCM"
provenance = "fact"
"#;
    let (r, seen, _) = run(script, &[], &[], yes(), Operator::yes()).await;
    assert_eq!(r.outcome, RunOutcome::Completed, "{r}");
    let keep_alive = seen
        .frames_sent
        .iter()
        .filter(|f| f.to_string() == "745#023E80FFFFFFFFFF")
        .count();
    assert!(
        (5..=7).contains(&keep_alive),
        "{keep_alive} keep-alive frames"
    );
}

#[tokio::test(start_paused = true)]
async fn ignition_off_mid_run_aborts_on_the_bus_with_cleanup() {
    let (r, seen, _) = run(
        BMS,
        &["ignition-off-mid-run"],
        &[("capacity_ah", "70"), ("battery_type", "agm")],
        yes(),
        Operator::yes(),
    )
    .await;
    // The BMS registration takes 3 s and would be over before 20 s: it completes. The audio
    // registration (2 minutes) is the one that the ignition turning off interrupts.
    assert_eq!(r.outcome, RunOutcome::Completed, "{r}");
    let (r, seen2, _) = run(
        AUDIO,
        &["audio-unit-unregistered", "ignition-off-mid-run"],
        &[],
        yes(),
        Operator::yes(),
    )
    .await;
    assert_eq!(r.outcome, RunOutcome::Aborted, "{r}");
    assert!(
        r.reason.as_deref().unwrap_or("").contains("IGNITION_STATE"),
        "{r}"
    );
    assert_eq!(
        seen2.pdus_sent.last().map(String::as_str),
        Some("10 81"),
        "{r}"
    );
    assert!(!seen.pdus_sent.is_empty());
}
