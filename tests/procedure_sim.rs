//! End to end, pure: each bundled procedure script against the simulated J11 (bundled profile
//! and DBC) on a virtual clock, through the runner, the diagnostic client and ISO-TP, with
//! every simulator fault.

use std::collections::BTreeMap;
use std::time::Duration;

use canrelearn::dbc::Database;
use canrelearn::procedure::harness::{Answers, SimHarness, TesterEvent};
use canrelearn::procedure::{
    Action, Purpose, Report, RunOptions, RunOutcome, Runner, Script, StepResult,
};
use canrelearn::sim::profile::Profile;
use canrelearn::sim::vehicle::Vehicle;

const PROFILE: &str = include_str!("../scripts/simulator/qashqai-j11.toml");
const DBC: &str = include_str!("../dbc/nissan_qashqai_j11.dbc");
const AUDIO: &str = include_str!("../scripts/audio-unit-registration.toml");
const BMS: &str = include_str!("../scripts/bms-battery-registration.toml");

fn bms_params() -> BTreeMap<String, String> {
    [("capacity_ah", "70"), ("battery_type", "agm")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn harness(
    script: &str,
    faults: &[&str],
    params: BTreeMap<String, String>,
    answers: Answers,
) -> SimHarness {
    let db = Database::from_str_named(DBC, "j11.dbc").unwrap();
    let profile = Profile::from_toml(PROFILE, "j11").unwrap();
    let vehicle = Vehicle::new(&profile, &db, faults).unwrap();
    let script = Script::from_toml(script, "script.toml").unwrap();
    let runner = Runner::new(script, &params, RunOptions::default()).unwrap();
    SimHarness::new(runner, vehicle, db, answers).unwrap()
}

fn run(script: &str, faults: &[&str], params: BTreeMap<String, String>) -> (Report, SimHarness) {
    let mut h = harness(script, faults, params, Answers::default());
    let r = h.run(Duration::from_secs(900));
    (r, h)
}

fn sent(h: &SimHarness, module: &str) -> Vec<String> {
    h.tester
        .iter()
        .filter_map(|(_, e)| match e {
            TesterEvent::Sent {
                module: m,
                pdu,
                keep_alive: false,
            } if m == module => Some(canrelearn::diag::format_hex(pdu)),
            _ => None,
        })
        .collect()
}

#[test]
fn audio_registration_completes_and_the_av_unit_is_back() {
    let (r, h) = run(AUDIO, &["audio-unit-unregistered"], BTreeMap::new());
    assert_eq!(r.outcome, RunOutcome::Completed, "{r:#?}");
    assert!(r.reason.is_none());
    assert!(h.vehicle().flags().contains("audio_unit_registered"));
    assert!(!h.vehicle().is_node_silent("AV"));
    assert!(
        r.steps.iter().all(|s| s.result == StepResult::Passed),
        "{r:#?}"
    );
    let s = sent(&h, "BCM");
    assert_eq!(s.first().map(String::as_str), Some("10 C0"));
    assert_eq!(s.get(1).map(String::as_str), Some("31 90"));
    assert!(s.iter().filter(|x| *x == "21 91").count() > 10, "{s:?}");
    assert!(s.contains(&"10 81".to_string()));
    // The routine takes 120 s in the simulator: the poll step took at least that.
    let poll = r
        .steps
        .iter()
        .find(|s| s.id == "wait-registration")
        .unwrap();
    let took = poll
        .ended
        .unwrap()
        .saturating_duration_since(poll.started.unwrap());
    assert!(took >= Duration::from_secs(120), "{took:?}");
    // Keep-alive went out while polling? Polls every 2 s keep the session busy; at least the
    // session never dropped.
    assert_eq!(h.vehicle().session("BCM"), Some(0x81));
}

#[test]
fn bms_registration_completes() {
    let (r, h) = run(BMS, &[], bms_params());
    assert_eq!(r.outcome, RunOutcome::Completed, "{r:#?}");
    assert!(h.vehicle().flags().contains("battery_registered"));
    let s = sent(&h, "IPDM_ER");
    assert_eq!(&s[..2], ["10 C0", "31 92 46 02"]);
    assert_eq!(s.last().map(String::as_str), Some("10 81"));
    assert!(
        r.parameters
            .contains(&("capacity_ah".to_string(), "70 Ah".to_string()))
    );
    assert!(
        r.parameters
            .contains(&("battery_type".to_string(), "agm (2)".to_string()))
    );
    let text = r.to_string();
    assert!(
        text.starts_with("bms-battery-registration: completed\n"),
        "{text}"
    );
    assert!(text.contains("  parameter capacity_ah = 70 Ah\n"), "{text}");
    assert!(
        text.contains("[battery-status] Battery status reads OK (21 94 = 00) (read)"),
        "{text}"
    );
    assert!(text.contains("passed | 61 94 00: value 0"), "{text}");
}

/// The audio script without its signal preconditions (to reach the BCM when its periodic
/// frames are silent too).
fn audio_without_signal_preconditions() -> String {
    let start = AUDIO
        .find("[[precondition]]\nid = \"ignition-on\"")
        .unwrap();
    let end = AUDIO
        .find("[[precondition]]\nid = \"head-unit-on\"")
        .unwrap();
    format!("{}{}", &AUDIO[..start], &AUDIO[end..])
}

#[test]
fn bcm_silent_fails_on_the_ignition_precondition_before_anything_is_sent() {
    // The BCM also sends BODY_STATUS: with it silent, the ignition state is unknown.
    let (r, h) = run(
        AUDIO,
        &["audio-unit-unregistered", "bcm-silent"],
        BTreeMap::new(),
    );
    assert_eq!(r.outcome, RunOutcome::Failed);
    assert_eq!(r.failed_step.as_deref(), Some("ignition-on"));
    let reason = r.reason.unwrap();
    assert!(
        reason.contains("no value of BODY_STATUS.IGNITION_STATE"),
        "{reason}"
    );
    assert!(sent(&h, "BCM").is_empty());
    assert!(
        !h.actions
            .iter()
            .any(|(_, a)| matches!(a, Action::Send { .. }))
    );
}

#[test]
fn bcm_silent_module_never_answers_fails_within_p2() {
    let script = audio_without_signal_preconditions();
    let (r, h) = run(
        &script,
        &["audio-unit-unregistered", "bcm-silent"],
        BTreeMap::new(),
    );
    assert_eq!(r.outcome, RunOutcome::Failed, "{r:#?}");
    assert_eq!(r.failed_step.as_deref(), Some("open-session"));
    let reason = r.reason.unwrap();
    assert!(reason.contains("BCM did not answer 10 C0"), "{reason}");
    assert!(reason.contains("no answer within 1.0 s"), "{reason}");
    // Failed at P2 (1 s); cleanup's 10 81 also times out at P2: the whole run is about 2 s.
    assert!(r.ended.as_secs_f64() < 2.5, "{}", r.ended);
    assert_eq!(sent(&h, "BCM"), ["10 C0", "10 81"]);
    assert!(
        r.cleanup[0].contains("10 81 -> no answer"),
        "{:?}",
        r.cleanup
    );
    // Nothing that writes went out, and the write was never even asked for.
    assert!(
        !h.actions
            .iter()
            .any(|(_, a)| matches!(a, Action::Confirm { writes: true, .. }))
    );
}

#[test]
fn nrc_conditions_not_correct_is_named_in_the_reason() {
    for (script, faults, params, step, req) in [
        (
            AUDIO,
            vec!["audio-unit-unregistered", "nrc-conditions-not-correct"],
            BTreeMap::new(),
            "start-registration",
            "31 90",
        ),
        (
            BMS,
            vec!["nrc-conditions-not-correct"],
            bms_params(),
            "register-battery",
            "31 92 46 02",
        ),
    ] {
        let (r, h) = run(script, &faults, params);
        assert_eq!(r.outcome, RunOutcome::Failed);
        assert_eq!(r.failed_step.as_deref(), Some(step));
        let reason = r.reason.unwrap();
        assert!(
            reason.contains(&format!(
                "answered {req} with NRC 0x22 conditionsNotCorrect"
            )),
            "{reason}"
        );
        // Cleanup returned the module to its default session.
        let module = if script == AUDIO { "BCM" } else { "IPDM_ER" };
        assert_eq!(sent(&h, module).last().map(String::as_str), Some("10 81"));
        assert_eq!(h.vehicle().session(module), Some(0x81));
        assert!(r.cleanup[0].ends_with("10 81 -> 50 81"), "{:?}", r.cleanup);
    }
}

#[test]
fn slow_responses_are_waited_for_through_response_pending() {
    // Every answer comes after 20 x 0x78 over 6 s; the client's P2* (5 s, restarted by each
    // 0x78) keeps waiting, so no request times out, and the module's S3 counts from its
    // final answer (ISO 14229-2), so the session holds: the run completes.
    for (script, faults, params, module) in [
        (
            AUDIO,
            vec!["audio-unit-unregistered", "slow-responses"],
            BTreeMap::new(),
            "BCM",
        ),
        (BMS, vec!["slow-responses"], bms_params(), "IPDM_ER"),
    ] {
        let (r, h) = run(script, &faults, params);
        let pendings = h
            .tester
            .iter()
            .filter(|(_, e)| matches!(e, TesterEvent::Received { pdu, .. } if pdu.len() == 3 && pdu[0] == 0x7F && pdu[2] == 0x78))
            .count();
        assert!(pendings >= 20, "{pendings}");
        assert!(
            !r.reason.as_deref().unwrap_or("").contains("timeout"),
            "{r:#?}"
        );
        assert_eq!(r.outcome, RunOutcome::Completed, "{r:#?}");
        assert_eq!(sent(&h, module).last().map(String::as_str), Some("10 81"));
    }
}

#[test]
fn reset_mid_session_fails_the_long_registration_with_a_clear_reason() {
    let (r, h) = run(
        AUDIO,
        &["audio-unit-unregistered", "reset-mid-session"],
        BTreeMap::new(),
    );
    assert_eq!(r.outcome, RunOutcome::Failed);
    assert_eq!(r.failed_step.as_deref(), Some("wait-registration"));
    let reason = r.reason.unwrap();
    assert!(reason.contains("21 91 with NRC 0x80"), "{reason}");
    assert!(
        reason.contains("may have reset or dropped the session"),
        "{reason}"
    );
    // The module reset 30 s after 10 C0: the failure comes with the first poll after it.
    let t = r.ended.as_secs_f64();
    assert!((30.0..40.0).contains(&t), "{t}");
    assert!(!h.vehicle().flags().contains("audio_unit_registered"));
    // The short battery registration (3 s) finishes before the reset.
    let (r, _) = run(BMS, &["reset-mid-session"], bms_params());
    assert_eq!(r.outcome, RunOutcome::Completed, "{r:#?}");
}

/// A session, then a 10-byte write: a first frame that needs the module's flow control.
const LONG_WRITE: &str = r#"
[procedure]
name = "long-write"
[modules.BCM]
request_id = 0x745
response_id = 0x765
padding = 0xFF
[[step]]
id = "open"
title = "open"
kind = "session"
module = "BCM"
session = 0xC0
provenance = "fact"
[[step]]
id = "long"
title = "a multi-frame request"
kind = "request"
module = "BCM"
request = "3B 83 32 38 34 42 32 2D 34 45"
writes = true
provenance = "placeholder"
"#;

#[test]
fn drop_flow_control_only_breaks_multi_frame_requests() {
    // Both bundled scripts send only single-frame requests (at most 7 bytes): unaffected.
    let (r, _) = run(
        AUDIO,
        &["audio-unit-unregistered", "drop-flow-control"],
        BTreeMap::new(),
    );
    assert_eq!(r.outcome, RunOutcome::Completed, "{r:#?}");
    let (r, _) = run(BMS, &["drop-flow-control"], bms_params());
    assert_eq!(r.outcome, RunOutcome::Completed, "{r:#?}");
    // A 10-byte request needs a first frame and the module's flow control, which never comes:
    // ISO-TP gives up after N_Bs (1 s) and the step fails with that reason.
    let script = LONG_WRITE;
    let (r, h) = run(script, &["drop-flow-control"], BTreeMap::new());
    assert_eq!(r.outcome, RunOutcome::Failed);
    assert_eq!(r.failed_step.as_deref(), Some("long"));
    let reason = r.reason.unwrap();
    assert!(reason.contains("N_Bs timeout"), "{reason}");
    assert_eq!(sent(&h, "BCM").last().map(String::as_str), Some("10 81"));
    assert_eq!(h.vehicle().session("BCM"), Some(0x81));
}

/// Regression: on Ctrl-C while a multi-frame request waited for the module's flow control,
/// the cleanup's `10 81` was handed to the ISO-TP channel still busy with the stalled transfer,
/// refused as busy and dropped: cleanup then waited P2 for an answer to a request never sent,
/// and the module was left in its session. It now waits for the channel (N_Bs ends the stalled
/// transfer) and goes out.
#[test]
fn cleanup_waits_for_a_stalled_transfer_instead_of_being_dropped() {
    let script = LONG_WRITE;
    let answers = Answers {
        abort_after: Some(Duration::from_millis(300)),
        ..Answers::default()
    };
    let mut h = harness(script, &["drop-flow-control"], BTreeMap::new(), answers);
    let r = h.run(Duration::from_secs(900));
    assert_eq!(r.outcome, RunOutcome::Aborted, "{r:#?}");
    assert_eq!(r.failed_step.as_deref(), Some("long"));
    assert_eq!(sent(&h, "BCM").last().map(String::as_str), Some("10 81"));
    assert_eq!(h.vehicle().session("BCM"), Some(0x81));
    let transport: Vec<_> = h
        .tester
        .iter()
        .filter_map(|(_, e)| match e {
            TesterEvent::Transport { what, .. } => Some(what.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        transport.iter().all(|w| w.contains("N_Bs timeout")),
        "{transport:?}"
    );
    assert_eq!(r.cleanup, ["BCM: 10 81 -> 50 81"]);
}

#[test]
fn operator_declining_the_write_sends_nothing_that_writes() {
    let mut h = harness(
        AUDIO,
        &["audio-unit-unregistered"],
        BTreeMap::new(),
        Answers {
            confirm: false,
            ..Answers::default()
        },
    );
    let r = h.run(Duration::from_secs(900));
    // The head-unit confirmation (a precondition) is the first one refused.
    assert_eq!(r.outcome, RunOutcome::Aborted);
    assert_eq!(r.failed_step.as_deref(), Some("head-unit-on"));
    assert!(sent(&h, "BCM").is_empty());
}

#[test]
fn ctrl_c_mid_poll_aborts_and_cleans_up() {
    let answers = Answers {
        abort_after: Some(Duration::from_secs(40)),
        ..Answers::default()
    };
    let mut h = harness(
        AUDIO,
        &["audio-unit-unregistered"],
        BTreeMap::new(),
        answers,
    );
    let r = h.run(Duration::from_secs(900));
    assert_eq!(r.outcome, RunOutcome::Aborted);
    assert_eq!(r.failed_step.as_deref(), Some("wait-registration"));
    assert!(r.reason.unwrap().contains("Ctrl-C"));
    assert_eq!(sent(&h, "BCM").last().map(String::as_str), Some("10 81"));
    assert_eq!(h.vehicle().session("BCM"), Some(0x81));
    let cleanup_sends: Vec<_> = h
        .actions
        .iter()
        .filter(|(_, a)| {
            matches!(
                a,
                Action::Send {
                    purpose: Purpose::Cleanup,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(cleanup_sends.len(), 1);
    assert!(
        h.actions
            .iter()
            .any(|(_, a)| matches!(a, Action::EndModule { module } if module == "BCM"))
    );
}

#[test]
fn missing_parameter_without_answer_aborts_before_sending() {
    let (r, h) = run(BMS, &[], BTreeMap::new());
    assert_eq!(r.outcome, RunOutcome::Aborted);
    assert!(r.reason.unwrap().contains("no value for parameter"));
    assert!(sent(&h, "IPDM_ER").is_empty());
}

#[test]
fn runs_in_slices_and_a_time_limit_aborts_with_cleanup() {
    let mut h = harness(
        AUDIO,
        &["audio-unit-unregistered"],
        BTreeMap::new(),
        Answers::default(),
    );
    // Slices of 10 s: the transcript grows as the run unfolds.
    let mut seen = 0;
    let mut slices = 0;
    let report = loop {
        let until = h.now() + Duration::from_secs(10);
        if let Some(r) = h.run_until(until) {
            break r;
        }
        slices += 1;
        assert!(h.transcript.len() >= seen);
        seen = h.transcript.len();
    };
    assert_eq!(report.outcome, RunOutcome::Completed);
    assert!(slices >= 12, "{slices}");
    // A 60 s limit stops the 120 s registration: aborted, cleanup sent.
    let mut h = harness(
        AUDIO,
        &["audio-unit-unregistered"],
        BTreeMap::new(),
        Answers::default(),
    );
    let r = h.run(Duration::from_secs(60));
    assert_eq!(r.outcome, RunOutcome::Aborted);
    assert_eq!(
        r.reason.as_deref(),
        Some("wait-registration: aborted: harness time limit reached")
    );
    assert_eq!(sent(&h, "BCM").last().map(String::as_str), Some("10 81"));
}

#[test]
fn ignition_off_mid_registration_aborts_and_returns_the_bcm_to_its_default_session() {
    let (r, h) = run(
        AUDIO,
        &["audio-unit-unregistered", "ignition-off-mid-run"],
        BTreeMap::new(),
    );
    assert_eq!(r.outcome, RunOutcome::Aborted, "{r}");
    let reason = r.reason.as_deref().unwrap_or("");
    assert!(reason.contains("BODY_STATUS.IGNITION_STATE"), "{r}");
    // Aborted at the simulator's 20 s, mid-poll, not at the poll's timeout.
    let t = r.ended.saturating_duration_since(r.started);
    assert!(
        t >= Duration::from_secs(20) && t < Duration::from_secs(30),
        "{r}"
    );
    assert_eq!(
        sent(&h, "BCM").last().map(String::as_str),
        Some("10 81"),
        "{r}"
    );
    assert!(h.vehicle().is_node_silent("AV"));
}
