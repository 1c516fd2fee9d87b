//! The procedure runner with hand-fed outcomes: every step kind, matching, parameters,
//! confirmation gating, preconditions, aborts, timeouts and the report.

use std::collections::BTreeMap;
use std::time::Duration;

use canrelearn::Timestamp;
use canrelearn::procedure::script::ValueError;
use canrelearn::procedure::{
    Action, EventKind, Outcome, Purpose, RunOptions, RunOutcome, Runner, RunnerError, Script,
    StepResult,
};

fn ms(v: u64) -> Timestamp {
    Timestamp::from_nanos(v * 1_000_000)
}

const HEAD: &str = r#"
[procedure]
name = "test"
[modules.BCM]
request_id = 0x745
response_id = 0x765
keep_alive = "3E 80"
p2_ms = 500
"#;

fn script(body: &str) -> Script {
    Script::from_toml(&format!("{HEAD}{body}"), "t.toml").unwrap()
}

fn runner(body: &str, params: &[(&str, &str)], opts: RunOptions) -> Runner {
    let p: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Runner::new(script(body), &p, opts).unwrap()
}

fn yes() -> RunOptions {
    RunOptions {
        assume_yes: true,
        ..RunOptions::default()
    }
}

/// The next action, which must be a Send; returns its bytes as hex.
fn expect_send(r: &mut Runner, now: Timestamp) -> String {
    match r.poll_action(now) {
        Some(Action::Send { pdu, .. }) => canrelearn::diag::format_hex(&pdu),
        other => panic!("expected a Send, got {other:?}"),
    }
}

fn finish(r: &mut Runner, now: Timestamp) -> canrelearn::procedure::Report {
    loop {
        match r.poll_action(now) {
            Some(Action::Finished(rep)) => return rep,
            Some(Action::Send { .. }) => r.handle_outcome(now, Outcome::Response(vec![0x50, 0x81])),
            Some(Action::Cancel) | Some(Action::EndModule { .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn resp(hex: &str) -> Outcome {
    Outcome::Response(canrelearn::diag::parse_hex(hex).unwrap())
}

const SESSION: &str = r#"
[[step]]
id = "open"
title = "open"
kind = "session"
module = "BCM"
session = 0xC0
provenance = "fact"
"#;

#[test]
fn every_step_kind_in_order() {
    let body = format!(
        "{SESSION}{}",
        r#"
[[step]]
id = "go"
title = "start"
kind = "request"
module = "BCM"
request = "31 90"
expect = "71 90"
writes = true
provenance = "placeholder"
[[step]]
id = "poll"
title = "poll"
kind = "poll"
module = "BCM"
request = "21 91"
expect = "61 91 ??"
at = 2
until = { equals = 1 }
fail_if = { equals = 0xFF }
interval_ms = 1000
timeout_s = 10
provenance = "placeholder"
[[step]]
id = "read"
title = "read"
kind = "read"
module = "BCM"
request = "21 94"
at = 2
length = 2
scale = 0.5
offset = 1
min = 10
provenance = "placeholder"
[[step]]
id = "pause"
title = "pause"
kind = "wait"
ms = 1500
reason = "let it settle"
provenance = "fact"
[[step]]
id = "ask"
title = "ask"
kind = "prompt"
text = "Is the radio on?"
provenance = "fact"
[[step]]
id = "av"
title = "av"
kind = "verify_node"
node = "AV"
for_s = 10
timeout_s = 60
provenance = "placeholder"
[[step]]
id = "close"
title = "close"
kind = "close_session"
module = "BCM"
provenance = "fact"
"#
    );
    let mut r = runner(&body, &[], RunOptions::default());
    let t0 = ms(0);
    match r.poll_action(t0) {
        Some(Action::Send {
            module,
            pdu,
            purpose: Purpose::OpenSession(0xC0),
            expect_response: true,
            writes: false,
            dry_run: false,
            step,
        }) => {
            assert_eq!(
                (module.as_str(), pdu.as_slice(), step.as_str()),
                ("BCM", &[0x10, 0xC0][..], "open")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.poll_action(t0), None, "one outstanding action at a time");
    r.handle_outcome(ms(10), resp("50 C0"));
    // The write needs a confirmation first.
    match r.poll_action(ms(10)) {
        Some(Action::Confirm {
            writes: true,
            step,
            text,
            ..
        }) => {
            assert_eq!(step, "go");
            assert!(text.contains("31 90"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    r.handle_outcome(ms(20), Outcome::Confirmed(true));
    match r.poll_action(ms(20)) {
        Some(Action::Send {
            pdu,
            writes: true,
            purpose: Purpose::Step,
            ..
        }) => assert_eq!(pdu, [0x31, 0x90]),
        other => panic!("{other:?}"),
    }
    r.handle_outcome(ms(30), resp("71 90"));
    // Poll: running, running, done.
    assert_eq!(expect_send(&mut r, ms(30)), "21 91");
    r.handle_outcome(ms(40), resp("61 91 00"));
    assert_eq!(r.poll_action(ms(40)), None);
    assert_eq!(
        r.poll_timeout(),
        Some(ms(1030)),
        "next attempt one interval after the last send"
    );
    assert_eq!(r.poll_action(ms(1029)), None);
    r.handle_timeout(ms(1030));
    assert_eq!(expect_send(&mut r, ms(1030)), "21 91");
    r.handle_outcome(ms(1040), resp("61 91 00"));
    assert_eq!(expect_send(&mut r, ms(2030)), "21 91");
    r.handle_outcome(ms(2040), resp("61 91 01"));
    // Read: (0x00 0x20 = 32) * 0.5 + 1 = 17 >= 10.
    assert_eq!(expect_send(&mut r, ms(2040)), "21 94");
    r.handle_outcome(ms(2050), resp("61 94 00 20"));
    // Wait 1.5 s.
    assert_eq!(r.poll_action(ms(2050)), None);
    assert_eq!(r.poll_timeout(), Some(ms(3550)));
    match r.poll_action(ms(3550)) {
        Some(Action::Confirm {
            writes: false,
            text,
            ..
        }) => assert_eq!(text, "Is the radio on?"),
        other => panic!("{other:?}"),
    }
    r.handle_outcome(ms(4000), Outcome::Confirmed(true));
    match r.poll_action(ms(4000)) {
        Some(Action::WatchNode {
            node,
            for_,
            within,
            step,
        }) => {
            assert_eq!(
                (node.as_str(), for_, within, step.as_str()),
                ("AV", Duration::from_secs(10), Duration::from_secs(60), "av")
            );
        }
        other => panic!("{other:?}"),
    }
    r.handle_outcome(ms(20_000), Outcome::NodeSeen);
    match r.poll_action(ms(20_000)) {
        Some(Action::Send {
            pdu,
            purpose: Purpose::CloseSession(0x81),
            ..
        }) => assert_eq!(pdu, [0x10, 0x81]),
        other => panic!("{other:?}"),
    }
    r.handle_outcome(ms(20_010), resp("50 81"));
    // Closed: cleanup has no session to close, only the module to end.
    assert_eq!(
        r.poll_action(ms(20_010)),
        Some(Action::EndModule {
            module: "BCM".into()
        })
    );
    let Some(Action::Finished(rep)) = r.poll_action(ms(20_010)) else {
        panic!()
    };
    assert_eq!(r.poll_action(ms(20_010)), None);
    assert!(r.is_finished());
    assert_eq!(rep.outcome, RunOutcome::Completed);
    assert_eq!(rep.reason, None);
    assert_eq!(rep.steps.len(), 8);
    assert!(
        rep.steps.iter().all(|s| s.result == StepResult::Passed),
        "{rep:#?}"
    );
    let poll = &rep.steps[2];
    assert_eq!((poll.started, poll.ended), (Some(ms(30)), Some(ms(2040))));
    assert!(poll.detail.as_deref().unwrap().contains("after 3 attempts"));
    assert_eq!(
        rep.steps[3].detail.as_deref(),
        Some("61 94 00 20: value 17")
    );
    assert_eq!((rep.started, rep.ended), (ms(0), ms(20_010)));
    // Events: every step started and ended, poll progress.
    let mut events = Vec::new();
    while let Some(e) = r.poll_event() {
        events.push(e);
    }
    let started = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::StepStarted { .. }))
        .count();
    let ended = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::StepEnded { .. }))
        .count();
    let progress = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Progress { .. }))
        .count();
    assert_eq!((started, ended, progress), (8, 8, 3));
}

#[test]
fn patterns_wildcards_rest_and_accepted_nrcs() {
    let body = r#"
[[step]]
id = "a"
title = "a"
kind = "request"
module = "BCM"
request = "1A 81"
expect = "5A 81 ?? 38 .."
provenance = "fact"
[[step]]
id = "b"
title = "b"
kind = "request"
module = "BCM"
request = "14 FF 00"
accept_nrc = [0x31]
provenance = "fact"
[[step]]
id = "c"
title = "c"
kind = "request"
module = "BCM"
request = "21 01"
expect = "61 01 ??"
provenance = "fact"
"#;
    let mut r = runner(body, &[], RunOptions::default());
    assert_eq!(expect_send(&mut r, ms(0)), "1A 81");
    r.handle_outcome(ms(1), resp("5A 81 32 38 34 42"));
    assert_eq!(expect_send(&mut r, ms(1)), "14 FF 00");
    r.handle_outcome(
        ms(2),
        Outcome::Negative {
            sid: 0x14,
            nrc: 0x31,
        },
    );
    assert_eq!(expect_send(&mut r, ms(2)), "21 01");
    // One byte too many: without `..` the length must match.
    r.handle_outcome(ms(3), resp("61 01 05 06"));
    let rep = finish(&mut r, ms(3));
    assert_eq!(rep.outcome, RunOutcome::Failed);
    assert_eq!(rep.failed_step.as_deref(), Some("c"));
    assert_eq!(
        rep.reason.as_deref(),
        Some("c: BCM answered 21 01 with 61 01 05 06, expected 61 01 ??")
    );
    assert_eq!(rep.steps[1].result, StepResult::Passed);
    assert!(
        rep.steps[1]
            .detail
            .as_deref()
            .unwrap()
            .contains("requestOutOfRange")
    );
}

#[test]
fn unaccepted_nrc_is_named_and_a_raw_7f_counts_as_negative() {
    let body = r#"
[[step]]
id = "go"
title = "go"
kind = "request"
module = "BCM"
request = "31 90"
provenance = "fact"
"#;
    let mut r = runner(body, &[], RunOptions::default());
    assert_eq!(expect_send(&mut r, ms(0)), "31 90");
    r.handle_outcome(ms(1), resp("7F 31 22"));
    let rep = finish(&mut r, ms(1));
    assert_eq!(rep.outcome, RunOutcome::Failed);
    let reason = rep.reason.unwrap();
    assert!(
        reason.starts_with("go: BCM answered 31 90 with NRC 0x22 conditionsNotCorrect"),
        "{reason}"
    );
}

const PARAMS: &str = r#"
[parameters.capacity_ah]
type = "integer"
min = 30
max = 120
unit = "Ah"
prompt = "Capacity"
[parameters.battery_type]
type = "choice"
choices = { flooded = 0, efb = 1, agm = 2 }
prompt = "Type"
[[step]]
id = "reg"
title = "register"
kind = "request"
module = "BCM"
request = "31 92 {capacity_ah} {battery_type}"
expect = "71 92"
writes = true
provenance = "placeholder"
"#;

#[test]
fn parameters_substituted_range_checked_and_asked() {
    let mut r = runner(
        PARAMS,
        &[("capacity_ah", "0x46"), ("battery_type", "AGM")],
        yes(),
    );
    assert_eq!(expect_send(&mut r, ms(0)), "31 92 46 02");
    // Out of range, not a choice, unknown name: refused before anything runs.
    let s = script(PARAMS);
    let one = |k: &str, v: &str| {
        let p: BTreeMap<String, String> = [(k.to_string(), v.to_string())].into();
        Runner::new(s.clone(), &p, RunOptions::default()).unwrap_err()
    };
    let e = one("capacity_ah", "200");
    assert_eq!(
        e.to_string(),
        "parameter capacity_ah: 200 Ah is out of range (30 to 120 Ah)"
    );
    assert!(matches!(
        e,
        RunnerError::Parameter {
            reason: ValueError::OutOfRange {
                value: 200,
                min: 30,
                max: 120,
                ..
            },
            ..
        }
    ));
    assert!(
        matches!(one("battery_type", "lead"), RunnerError::Parameter { reason: ValueError::NotAChoice { choices, .. }, .. } if choices == "flooded, efb, agm")
    );
    assert!(matches!(
        one("voltage", "12"),
        RunnerError::UnknownParameter { .. }
    ));
    // Missing values are asked; a bad answer is asked again with the error.
    let mut r = runner(PARAMS, &[("battery_type", "1")], yes());
    match r.poll_action(ms(0)) {
        Some(Action::Ask {
            parameter,
            expected,
            error: None,
            ..
        }) => {
            assert_eq!(
                (parameter.as_str(), expected.as_str()),
                ("capacity_ah", "30 to 120 Ah")
            );
        }
        other => panic!("{other:?}"),
    }
    r.handle_outcome(ms(1), Outcome::Answer("12".into()));
    match r.poll_action(ms(1)) {
        Some(Action::Ask { error: Some(e), .. }) => {
            assert_eq!(e, "12 Ah is out of range (30 to 120 Ah)")
        }
        other => panic!("{other:?}"),
    }
    r.handle_outcome(ms(2), Outcome::Answer("95".into()));
    assert_eq!(expect_send(&mut r, ms(2)), "31 92 5F 01");
    r.handle_outcome(ms(3), resp("71 92"));
    let rep = finish(&mut r, ms(3));
    assert_eq!(rep.outcome, RunOutcome::Completed);
    assert_eq!(
        rep.parameters,
        [
            ("battery_type".to_string(), "efb (1)".to_string()),
            ("capacity_ah".to_string(), "95 Ah".to_string())
        ]
    );
}

#[test]
fn writes_are_never_sent_without_confirmation() {
    let body = format!("{SESSION}{PARAMS}");
    let p = [("capacity_ah", "70"), ("battery_type", "agm")];
    let mut r = runner(&body, &p, RunOptions::default());
    assert_eq!(expect_send(&mut r, ms(0)), "10 C0");
    r.handle_outcome(ms(1), resp("50 C0"));
    assert!(matches!(
        r.poll_action(ms(1)),
        Some(Action::Confirm { writes: true, .. })
    ));
    r.handle_outcome(ms(2), Outcome::Confirmed(false));
    // Declined: aborted, cleanup returns the module to the default session.
    match r.poll_action(ms(2)) {
        Some(Action::Send {
            pdu,
            purpose: Purpose::Cleanup,
            ..
        }) => assert_eq!(pdu, [0x10, 0x81]),
        other => panic!("{other:?}"),
    }
    r.handle_outcome(ms(3), resp("50 81"));
    assert_eq!(
        r.poll_action(ms(3)),
        Some(Action::EndModule {
            module: "BCM".into()
        })
    );
    let Some(Action::Finished(rep)) = r.poll_action(ms(3)) else {
        panic!()
    };
    assert_eq!(rep.outcome, RunOutcome::Aborted);
    assert_eq!(rep.reason.as_deref(), Some("reg: the operator answered no"));
    assert_eq!(rep.cleanup, ["BCM: 10 81 -> 50 81"]);
    // With --yes: no question, the write goes out, and the transcript says why.
    let mut r = runner(&body, &p, yes());
    assert_eq!(expect_send(&mut r, ms(0)), "10 C0");
    r.handle_outcome(ms(1), resp("50 C0"));
    assert_eq!(expect_send(&mut r, ms(1)), "31 92 46 02");
    let mut notes = Vec::new();
    while let Some(e) = r.poll_event() {
        if let EventKind::Note(n) = e.kind {
            notes.push(n);
        }
    }
    assert!(
        notes.iter().any(|n| n.contains("write confirmed by --yes")),
        "{notes:?}"
    );
}

/// On a real interface `--yes` alone does not release a write of placeholder bytes: it is
/// asked, with the exact bytes and the word PLACEHOLDER; a verified write is released.
#[test]
fn yes_does_not_release_placeholder_writes_when_told_so() {
    let body = format!("{SESSION}{PARAMS}");
    let p = [("capacity_ah", "70"), ("battery_type", "agm")];
    let strict = RunOptions {
        yes_releases_placeholder_writes: false,
        ..yes()
    };
    let mut r = runner(&body, &p, strict.clone());
    assert_eq!(expect_send(&mut r, ms(0)), "10 C0");
    r.handle_outcome(ms(1), resp("50 C0"));
    match r.poll_action(ms(1)) {
        Some(Action::Confirm {
            writes: true,
            placeholder: true,
            text,
            ..
        }) => {
            assert!(text.contains("31 92 46 02"), "{text}");
            assert!(text.contains("PLACEHOLDER [U]"), "{text}");
            assert!(text.contains("0x745") || text.contains("745"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    let mut notes = Vec::new();
    while let Some(e) = r.poll_event() {
        if let EventKind::Note(n) = e.kind {
            notes.push(n);
        }
    }
    assert!(
        notes
            .iter()
            .any(|n| n.contains("--yes does not release a write of placeholder bytes")),
        "{notes:?}"
    );
    // A write marked as a fact is released by --yes as before.
    let fact = body.replacen("provenance = \"placeholder\"", "provenance = \"fact\"", 1);
    assert_ne!(fact, body, "the test script has a placeholder write");
    let mut r = runner(&fact, &p, strict);
    assert_eq!(expect_send(&mut r, ms(0)), "10 C0");
    r.handle_outcome(ms(1), resp("50 C0"));
    assert_eq!(expect_send(&mut r, ms(1)), "31 92 46 02");
}

const PRE: &str = r#"
[[precondition]]
id = "ign"
signal = "BODY_STATUS.IGNITION_STATE"
equals = 3
during = true
provenance = "fact"
[[precondition]]
id = "volts"
signal = "IPDM_STATUS.BATTERY_VOLTAGE"
min = 12.2
unit = "V"
during = true
provenance = "placeholder"
[[precondition]]
id = "hu"
confirm = "Head unit on?"
provenance = "fact"
"#;

#[test]
fn failing_precondition_stops_before_anything_is_sent() {
    let body = format!("{PRE}{SESSION}");
    let mut r = runner(&body, &[], RunOptions::default());
    assert_eq!(
        r.wanted_signals(),
        ["BODY_STATUS.IGNITION_STATE", "IPDM_STATUS.BATTERY_VOLTAGE"]
    );
    assert_eq!(r.poll_action(ms(0)), None, "waits for a value");
    r.handle_signal(ms(100), "BODY_STATUS.IGNITION_STATE", 3.0);
    r.handle_signal(ms(100), "IPDM_STATUS.BATTERY_VOLTAGE", 11.8);
    let rep = match r.poll_action(ms(100)) {
        Some(Action::Finished(rep)) => rep,
        other => panic!("nothing may be sent or asked: {other:?}"),
    };
    assert_eq!(rep.outcome, RunOutcome::Failed);
    assert_eq!(rep.failed_step.as_deref(), Some("volts"));
    assert_eq!(
        rep.reason.as_deref(),
        Some("volts: precondition not met: IPDM_STATUS.BATTERY_VOLTAGE = 11.8 V, needs >= 12.2 V")
    );
    assert_eq!(rep.steps[0].result, StepResult::Passed);
    assert_eq!(rep.steps[3].result, StepResult::NotRun);
    // No value at all: fails after the signal timeout.
    let mut r = runner(&body, &[], RunOptions::default());
    assert_eq!(r.poll_action(ms(0)), None);
    assert_eq!(r.poll_timeout(), Some(ms(3000)));
    r.handle_timeout(ms(3000));
    let Some(Action::Finished(rep)) = r.poll_action(ms(3000)) else {
        panic!()
    };
    assert!(
        rep.reason
            .unwrap()
            .contains("no value of BODY_STATUS.IGNITION_STATE received within 3.0 s")
    );
}

#[test]
fn confirm_preconditions_need_an_answer_unless_yes() {
    let body = format!("{PRE}{SESSION}");
    let mut r = runner(&body, &[], RunOptions::default());
    r.handle_signal(ms(0), "BODY_STATUS.IGNITION_STATE", 3.0);
    r.handle_signal(ms(0), "IPDM_STATUS.BATTERY_VOLTAGE", 12.6);
    assert!(
        matches!(r.poll_action(ms(0)), Some(Action::Confirm { writes: false, ref text, .. }) if text == "Head unit on?")
    );
    r.handle_outcome(ms(1), Outcome::Confirmed(true));
    assert_eq!(expect_send(&mut r, ms(1)), "10 C0");
    let mut r = runner(&body, &[], yes());
    r.handle_signal(ms(0), "BODY_STATUS.IGNITION_STATE", 3.0);
    r.handle_signal(ms(0), "IPDM_STATUS.BATTERY_VOLTAGE", 12.6);
    assert_eq!(expect_send(&mut r, ms(0)), "10 C0");
}

const POLL: &str = r#"
[[step]]
id = "wait"
title = "wait for it"
kind = "poll"
module = "BCM"
request = "21 91"
at = 2
until = { equals = 1 }
interval_ms = 2000
timeout_s = 300
provenance = "placeholder"
"#;

#[test]
fn during_precondition_turning_false_aborts_with_cleanup() {
    let body = format!("{PRE}{SESSION}{POLL}");
    let mut r = runner(&body, &[], yes());
    r.handle_signal(ms(0), "BODY_STATUS.IGNITION_STATE", 3.0);
    r.handle_signal(ms(0), "IPDM_STATUS.BATTERY_VOLTAGE", 12.6);
    assert_eq!(expect_send(&mut r, ms(0)), "10 C0");
    r.handle_outcome(ms(10), resp("50 C0"));
    assert_eq!(expect_send(&mut r, ms(10)), "21 91");
    r.handle_outcome(ms(20), resp("61 91 00"));
    r.handle_signal(ms(500), "IPDM_STATUS.BATTERY_VOLTAGE", 12.5);
    r.handle_signal(ms(1000), "BODY_STATUS.IGNITION_STATE", 3.0);
    assert_eq!(expect_send(&mut r, ms(2010)), "21 91");
    // Mid-request the battery sags: the request in flight is cancelled, then cleanup.
    r.handle_signal(ms(2100), "IPDM_STATUS.BATTERY_VOLTAGE", 11.9);
    assert_eq!(r.poll_action(ms(2100)), Some(Action::Cancel));
    match r.poll_action(ms(2100)) {
        Some(Action::Send {
            pdu,
            purpose: Purpose::Cleanup,
            ..
        }) => assert_eq!(pdu, [0x10, 0x81]),
        other => panic!("{other:?}"),
    }
    r.handle_outcome(ms(2110), resp("50 81"));
    let rep = finish(&mut r, ms(2110));
    assert_eq!(rep.outcome, RunOutcome::Aborted);
    assert_eq!(rep.failed_step.as_deref(), Some("wait"));
    assert_eq!(
        rep.reason.as_deref(),
        Some(
            "wait: precondition volts no longer holds: IPDM_STATUS.BATTERY_VOLTAGE = 11.9 V, needs >= 12.2 V"
        )
    );
    assert!(matches!(
        rep.steps.last().unwrap().result,
        StepResult::Aborted(_)
    ));
}

#[test]
fn during_signal_going_silent_aborts() {
    let body = format!("{PRE}{SESSION}{POLL}");
    let mut r = runner(&body, &[], yes());
    r.handle_signal(ms(0), "BODY_STATUS.IGNITION_STATE", 3.0);
    r.handle_signal(ms(0), "IPDM_STATUS.BATTERY_VOLTAGE", 12.6);
    assert_eq!(expect_send(&mut r, ms(0)), "10 C0");
    r.handle_outcome(ms(10), resp("50 C0"));
    assert_eq!(expect_send(&mut r, ms(10)), "21 91");
    r.handle_outcome(ms(20), resp("61 91 00"));
    assert_eq!(r.poll_timeout(), Some(ms(2010)));
    r.handle_signal(ms(2000), "BODY_STATUS.IGNITION_STATE", 3.0);
    assert_eq!(expect_send(&mut r, ms(2010)), "21 91");
    r.handle_outcome(ms(2020), resp("61 91 00"));
    // The voltage was last seen at 0: stale after 3 s.
    assert_eq!(r.poll_timeout(), Some(ms(3001)));
    r.handle_timeout(ms(3001));
    match r.poll_action(ms(3001)) {
        Some(Action::Send {
            purpose: Purpose::Cleanup,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    r.handle_outcome(ms(3010), resp("50 81"));
    let rep = finish(&mut r, ms(3010));
    assert_eq!(rep.outcome, RunOutcome::Aborted);
    assert!(
        rep.reason
            .unwrap()
            .contains("no value of IPDM_STATUS.BATTERY_VOLTAGE for 3.0 s")
    );
}

#[test]
fn abort_mid_poll_cancels_and_cleans_up() {
    let body = format!("{SESSION}{POLL}");
    let mut r = runner(&body, &[], RunOptions::default());
    assert_eq!(expect_send(&mut r, ms(0)), "10 C0");
    r.handle_outcome(ms(10), resp("50 C0"));
    assert_eq!(expect_send(&mut r, ms(10)), "21 91");
    r.handle_outcome(ms(20), resp("61 91 00"));
    // Between attempts: nothing to cancel.
    r.abort(ms(1000), "Ctrl-C");
    match r.poll_action(ms(1000)) {
        Some(Action::Send {
            pdu,
            purpose: Purpose::Cleanup,
            step,
            ..
        }) => {
            assert_eq!(
                (pdu.as_slice(), step.as_str()),
                (&[0x10, 0x81][..], "cleanup")
            );
        }
        other => panic!("{other:?}"),
    }
    // The module does not answer the cleanup: noted, the result stays "aborted".
    r.handle_outcome(
        ms(1500),
        Outcome::Timeout {
            waited: Duration::from_millis(500),
            pending: 0,
        },
    );
    assert_eq!(
        r.poll_action(ms(1500)),
        Some(Action::EndModule {
            module: "BCM".into()
        })
    );
    let Some(Action::Finished(rep)) = r.poll_action(ms(1500)) else {
        panic!()
    };
    assert_eq!(rep.outcome, RunOutcome::Aborted);
    assert_eq!(rep.reason.as_deref(), Some("wait: aborted: Ctrl-C"));
    assert!(
        rep.cleanup[0].starts_with("BCM: 10 81 -> no answer within 0.5 s (timeout)"),
        "{:?}",
        rep.cleanup
    );
    // A late outcome is ignored.
    r.handle_outcome(ms(1600), resp("50 81"));
    assert_eq!(r.poll_action(ms(1600)), None);
}

#[test]
fn poll_times_out_and_fail_if_fails() {
    let body = POLL.replace("timeout_s = 300", "timeout_s = 5").replace(
        "until = { equals = 1 }",
        "until = { equals = 1 }\nfail_if = { equals = 0xFF }",
    );
    let mut r = runner(&body, &[], RunOptions::default());
    let mut t = 0;
    loop {
        match r.poll_action(ms(t)) {
            Some(Action::Send { .. }) => r.handle_outcome(ms(t + 10), resp("61 91 00")),
            Some(Action::EndModule { .. }) => {}
            Some(Action::Finished(rep)) => {
                assert_eq!(rep.outcome, RunOutcome::Failed);
                let reason = rep.reason.unwrap();
                assert!(
                    reason.starts_with(
                        "wait: timeout after 4.0 s: BCM still answers 21 91 with 61 91 00"
                    ),
                    "{reason}"
                );
                break;
            }
            None => t = r.poll_timeout().map_or(t + 1, |x| x.as_nanos() / 1_000_000),
            other => panic!("{other:?}"),
        }
    }
    let mut r = runner(&body, &[], RunOptions::default());
    assert_eq!(expect_send(&mut r, ms(0)), "21 91");
    r.handle_outcome(ms(10), resp("61 91 FF"));
    let rep = finish(&mut r, ms(10));
    assert!(
        rep.reason
            .unwrap()
            .contains("value 255 means failure (= 255)")
    );
}

#[test]
fn module_that_never_answers_fails_the_step() {
    let mut r = runner(SESSION, &[], RunOptions::default());
    assert_eq!(expect_send(&mut r, ms(0)), "10 C0");
    r.handle_outcome(
        ms(500),
        Outcome::Timeout {
            waited: Duration::from_millis(500),
            pending: 0,
        },
    );
    match r.poll_action(ms(500)) {
        Some(Action::Send {
            purpose: Purpose::Cleanup,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    r.handle_outcome(
        ms(1000),
        Outcome::Timeout {
            waited: Duration::from_millis(500),
            pending: 0,
        },
    );
    let rep = finish(&mut r, ms(1000));
    assert_eq!(rep.outcome, RunOutcome::Failed);
    assert_eq!(
        rep.reason.as_deref(),
        Some("open: BCM did not answer 10 C0: no answer within 0.5 s (timeout)")
    );
    assert_eq!(rep.steps[0].started, Some(ms(0)));
    assert_eq!(rep.steps[0].ended, Some(ms(500)));
}

#[test]
fn no_dtc_precondition_reads_and_checks_codes() {
    let body = format!(
        "{}{SESSION}",
        r#"
[[precondition]]
id = "no-u1000"
no_dtc = { module = "BCM", codes = ["U1000"] }
provenance = "fact"
"#
    );
    let mut r = runner(&body, &[], RunOptions::default());
    match r.poll_action(ms(0)) {
        Some(Action::Send {
            pdu,
            purpose: Purpose::Precondition,
            step,
            ..
        }) => {
            assert_eq!(
                (pdu.as_slice(), step.as_str()),
                (&[0x18, 0x00, 0xFF, 0x00][..], "no-u1000")
            );
        }
        other => panic!("{other:?}"),
    }
    r.handle_outcome(ms(1), resp("58 01 D0 00 20"));
    let rep = finish(&mut r, ms(1));
    assert_eq!(rep.outcome, RunOutcome::Failed);
    assert_eq!(
        rep.reason.as_deref(),
        Some("no-u1000: precondition not met: BCM has U1000 stored")
    );
    let mut r = runner(&body, &[], RunOptions::default());
    expect_send(&mut r, ms(0));
    r.handle_outcome(ms(1), resp("58 00"));
    assert_eq!(expect_send(&mut r, ms(1)), "10 C0");
}

/// Every request and module end a run produces, answering each request with `answer`.
fn requests(r: &mut Runner, answer: impl Fn(&str) -> Option<&'static str>) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        match r.poll_action(ms(0)) {
            Some(Action::Send { pdu, dry_run, .. }) => {
                let hex = canrelearn::diag::format_hex(&pdu);
                if !dry_run {
                    r.handle_outcome(ms(0), resp(answer(&hex).expect("an answer")));
                }
                seen.push(hex);
            }
            Some(Action::EndModule { module }) => seen.push(format!("end {module}")),
            Some(Action::Finished(rep)) => {
                assert_eq!(rep.outcome, RunOutcome::Completed, "{rep:?}");
                return seen;
            }
            other => panic!("{other:?}"),
        }
    }
}

/// The dry run is the live interpreter: it lists what a completed live run sends, in the same
/// order, and follows the script's cleanup settings.
#[test]
fn dry_run_sends_what_a_completed_live_run_sends() {
    let body = format!("{PRE}{SESSION}{PARAMS}{POLL}");
    let params = [("capacity_ah", "70"), ("battery_type", "efb")];
    let answers = |hex: &str| match hex {
        "10 C0" => Some("50 C0"),
        "31 92 46 01" => Some("71 92"),
        "21 91" => Some("61 91 01"),
        "10 81" => Some("50 81"),
        _ => None,
    };
    let mut live = runner(&body, &params, yes());
    live.handle_signal(ms(0), "BODY_STATUS.IGNITION_STATE", 3.0);
    live.handle_signal(ms(0), "IPDM_STATUS.BATTERY_VOLTAGE", 12.6);
    let sent = requests(&mut live, answers);
    assert_eq!(sent, ["10 C0", "31 92 46 01", "21 91", "10 81", "end BCM"]);
    let dry_opts = || RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let mut dry = runner(&body, &params, dry_opts());
    assert_eq!(requests(&mut dry, |_| None), sent);

    // A script that asks for no cleanup gets none in its dry run either.
    let none = format!("{body}[cleanup]\nclose_sessions = false\nkeep_alive_off = false\n");
    let mut dry = runner(&none, &params, dry_opts());
    assert_eq!(
        requests(&mut dry, |_| None),
        ["10 C0", "31 92 46 01", "21 91"]
    );
}

#[test]
fn dry_run_lists_every_frame_in_order_without_outcomes() {
    let body = format!("{PRE}{SESSION}{PARAMS}{POLL}");
    let opts = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let mut r = runner(&body, &[("capacity_ah", "70")], opts);
    // A missing parameter is still asked (the bytes depend on it).
    assert!(matches!(r.poll_action(ms(0)), Some(Action::Ask { .. })));
    r.handle_outcome(ms(0), Outcome::Answer("efb".into()));
    let mut list = Vec::new();
    let rep = loop {
        match r.poll_action(ms(0)) {
            Some(Action::Send {
                pdu,
                dry_run: true,
                purpose,
                ..
            }) => list.push((canrelearn::diag::format_hex(&pdu), purpose)),
            Some(Action::EndModule { module }) => {
                list.push((format!("end {module}"), Purpose::Cleanup))
            }
            Some(Action::Finished(rep)) => break rep,
            other => panic!("{other:?}"),
        }
    };
    let texts: Vec<&str> = list.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(texts, ["10 C0", "31 92 46 01", "21 91", "10 81", "end BCM"]);
    assert_eq!(list[3].1, Purpose::Cleanup);
    assert!(rep.dry_run);
    assert_eq!(rep.outcome, RunOutcome::Completed);
    let notes: Vec<String> = std::iter::from_fn(|| r.poll_event())
        .filter_map(|e| match e.kind {
            EventKind::Note(n) => Some(n),
            _ => None,
        })
        .collect();
    assert!(
        notes.iter().any(
            |n| n.contains("would check IPDM_STATUS.BATTERY_VOLTAGE >= 12.2 for the whole run")
        ),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("[reg] would ask for confirmation before writing")),
        "{notes:?}"
    );
}

#[test]
fn node_not_seen_fails_with_the_reason() {
    let body = r#"
[[step]]
id = "av"
title = "av"
kind = "verify_node"
node = "AV"
for_s = 10
timeout_s = 60
provenance = "placeholder"
"#;
    let mut r = runner(body, &[], RunOptions::default());
    assert!(matches!(
        r.poll_action(ms(0)),
        Some(Action::WatchNode { .. })
    ));
    r.handle_outcome(
        ms(60_000),
        Outcome::NodeNotSeen("no frame of AV within 60.0 s".into()),
    );
    let rep = finish(&mut r, ms(60_000));
    assert_eq!(
        rep.reason.as_deref(),
        Some("av: node AV not seen as required: no frame of AV within 60.0 s")
    );
}
