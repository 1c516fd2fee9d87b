//! `canrelearn script from-capture` and `script check`, driving the real binary, on the
//! bundled synthetic dealer-session capture (tests/data/capture/dealer-session.log, written by
//! tests/tools/make_dealer_capture.py): the generated script loads, checks, lists the captured
//! requests in a dry run, and completes against the simulated J11 on the pure harness.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use canrelearn::Timestamp;
use canrelearn::dbc::Database;
use canrelearn::procedure::harness::{Answers, SimHarness, TesterEvent};
use canrelearn::procedure::script::StepKind;
use canrelearn::procedure::{Action, RunOptions, RunOutcome, Runner, Script};
use canrelearn::sim::profile::Profile;
use canrelearn::sim::vehicle::Vehicle;

const BIN: &str = env!("CARGO_BIN_EXE_canrelearn");
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/capture/dealer-session.log"
);
const PROFILE: &str = include_str!("../scripts/simulator/qashqai-j11.toml");
const DBC: &str = include_str!("../dbc/nissan_qashqai_j11.dbc");

fn canrelearn(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// from-capture on the fixture into `dir/name`; returns the script text.
fn generate(dir: &Path, name: &str) -> String {
    let out = dir.join(name);
    let o = canrelearn(&[
        "script",
        "from-capture",
        FIXTURE,
        "--tx",
        "745",
        "--rx",
        "0x765",
        "--module",
        "BCM",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("became 8 steps (1 poll, 1 marked writes)"),
        "{}",
        text(&o.stderr)
    );
    std::fs::read_to_string(out).unwrap()
}

#[test]
fn from_capture_makes_a_script_that_loads_with_the_captured_shape() {
    let dir = tempfile::tempdir().unwrap();
    let toml = generate(dir.path(), "bcm.toml");
    let s = Script::from_toml(&toml, "bcm.toml").unwrap();
    assert_eq!(s.procedure.name, "dealer-session");
    assert!(s.procedure.provenance.contains("not reviewed"));
    let m = &s.modules["BCM"];
    assert_eq!(m.request_id.raw(), 0x745);
    assert_eq!(m.response_id.raw(), 0x765);
    assert_eq!(m.padding, Some(0xFF));
    assert_eq!(m.keep_alive.as_deref(), Some(&[0x3E, 0x80][..]));
    assert_eq!(m.keep_alive_period, Duration::from_millis(2000));
    assert_eq!(m.default_session, 0x81);
    let kinds: Vec<&str> = s.steps.iter().map(|s| s.kind_name()).collect();
    assert_eq!(
        kinds,
        [
            "request",
            "request",
            "session",
            "request",
            "request",
            "request",
            "poll",
            "close_session"
        ]
    );
    // Only the routine start writes; every step is a captured placeholder.
    let writes: Vec<&str> = s
        .steps
        .iter()
        .filter(|s| s.writes())
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(writes, ["06-start-routine-by-local-identifier-90"]);
    assert!(s.steps.iter().all(|s| s.source.contains("not reviewed")));
    match &s.steps[6].kind {
        StepKind::Poll {
            request,
            expect,
            until,
            interval,
            timeout,
            ..
        } => {
            assert_eq!(request.to_string(), "21 91");
            assert_eq!(expect.as_ref().unwrap().to_string(), "61 91 ??");
            assert_eq!(until.equals, Some(1.0));
            assert_eq!(*interval, Duration::from_secs(2));
            assert!(*timeout >= Duration::from_secs(300));
        }
        k => panic!("{k:?}"),
    }
    // The meter's exchange (0x743/0x763) and the functional 0x7DF traffic are not in it.
    assert!(!toml.contains("24810"));
    assert!(toml.contains("# t=6.496 s, answered in 820 ms after 1 response-pending (7F 31 78)"));
}

#[test]
fn generated_script_checks_and_dry_runs_the_captured_requests() {
    let dir = tempfile::tempdir().unwrap();
    let toml = generate(dir.path(), "bcm.toml");
    let path = dir.path().join("bcm.toml");
    let o = canrelearn(&["script", "check", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("ok: 8 steps, 1 write"), "{out}");
    assert!(out.contains("WRITES"), "{out}");
    assert!(out.contains("keep-alive 3E 80 every 2000 ms"), "{out}");

    // Dry run: every captured request once, in order; nothing needs an answer.
    let script = Script::from_toml(&toml, "bcm.toml").unwrap();
    let mut runner = Runner::new(
        script,
        &BTreeMap::new(),
        RunOptions {
            dry_run: true,
            ..RunOptions::default()
        },
    )
    .unwrap();
    let mut sent = Vec::new();
    let mut finished = None;
    for _ in 0..1000 {
        let Some(a) = runner.poll_action(Timestamp::ZERO) else {
            break;
        };
        match a {
            Action::Send { pdu, dry_run, .. } => {
                assert!(dry_run);
                sent.push(canrelearn::diag::format_hex(&pdu));
            }
            Action::Finished(r) => finished = Some(r),
            _ => {}
        }
    }
    assert_eq!(finished.unwrap().outcome, RunOutcome::Completed);
    assert_eq!(
        sent,
        [
            "1A 81", "21 83", "10 C0", "21 83", "21 91", "31 90", "21 91", "10 81"
        ]
    );
}

#[test]
fn generated_script_completes_against_the_simulated_car() {
    let dir = tempfile::tempdir().unwrap();
    let toml = generate(dir.path(), "bcm.toml");
    let db = Database::from_str_named(DBC, "j11.dbc").unwrap();
    let profile = Profile::from_toml(PROFILE, "j11").unwrap();
    let vehicle = Vehicle::new(&profile, &db, &["audio-unit-unregistered"]).unwrap();
    let script = Script::from_toml(&toml, "bcm.toml").unwrap();
    let runner = Runner::new(script, &BTreeMap::new(), RunOptions::default()).unwrap();
    let mut h = SimHarness::new(runner, vehicle, db, Answers::default()).unwrap();
    let report = h.run(Duration::from_secs(900));
    assert_eq!(report.outcome, RunOutcome::Completed, "{report}");
    assert!(h.vehicle().flags().contains("audio_unit_registered"));
    // The status was polled until the simulated routine finished (120 s at 2 s intervals).
    let polls = h
        .tester
        .iter()
        .filter(
            |(_, e)| matches!(e, TesterEvent::Sent { pdu, .. } if pdu.as_slice() == [0x21, 0x91]),
        )
        .count();
    assert!(polls > 50, "{polls} polls");
}

#[test]
fn from_capture_to_stdout_and_refuses_to_overwrite() {
    let o = canrelearn(&[
        "script",
        "from-capture",
        FIXTURE,
        "--tx",
        "745",
        "--rx",
        "765",
        "--name",
        "audio-unit-registration-captured",
        "-o",
        "-",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let s = Script::from_toml(&text(&o.stdout), "stdout").unwrap();
    assert_eq!(s.procedure.name, "audio-unit-registration-captured");
    assert!(s.modules.contains_key("module"));

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.toml");
    std::fs::write(&out, "keep me").unwrap();
    let args = [
        "script",
        "from-capture",
        FIXTURE,
        "--tx",
        "745",
        "--rx",
        "765",
        "-o",
        out.to_str().unwrap(),
    ];
    let o = canrelearn(&args);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("exists; give --force"),
        "{}",
        text(&o.stderr)
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me");
    let mut forced = args.to_vec();
    forced.push("--force");
    let o = canrelearn(&forced);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(Script::from_toml(&std::fs::read_to_string(&out).unwrap(), "out.toml").is_ok());
}

#[test]
fn unknown_ids_name_the_ids_seen() {
    let o = canrelearn(&[
        "script",
        "from-capture",
        FIXTURE,
        "--tx",
        "7E0",
        "--rx",
        "7E8",
        "-o",
        "-",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = text(&o.stderr);
    assert!(e.contains("no frame with id 0x7E0 (--tx)"), "{e}");
    assert!(e.contains("ids seen (frames): 60D (1320)"), "{e}");
    assert!(e.contains("745 ("), "{e}");
    assert!(o.stdout.is_empty());
    // A bad id is a usage error too.
    let o = canrelearn(&[
        "script",
        "from-capture",
        FIXTURE,
        "--tx",
        "800",
        "--rx",
        "7E8",
        "-o",
        "-",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("out of range"));
}

const SMALL: &str = "\
(1700000000.000000) can0 18DA40F1#0322F190AAAAAAAA
(1700000000.010000) can0 18DAF140#100B62F190414243
(1700000000.010500) can0 18DA40F1#300000AAAAAAAAAA
(1700000000.011000) can0 18DAF140#2144454647484900
";

#[test]
fn extended_ids_and_malformed_lines() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("uds.log");
    std::fs::write(&good, SMALL).unwrap();
    let o = canrelearn(&[
        "script",
        "from-capture",
        good.to_str().unwrap(),
        "--tx",
        "18DA40F1",
        "--rx",
        "18DAF140",
        "-o",
        "-",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let s = Script::from_toml(&text(&o.stdout), "uds").unwrap();
    let m = &s.modules["module"];
    assert!(m.request_id.is_extended());
    assert_eq!(m.request_id.raw(), 0x18DA_40F1);
    assert_eq!(m.padding, Some(0xAA));
    assert!(text(&o.stdout).contains("expect = \"62 F1 90 41 42 43 44 45 46 47 48\""));

    // A malformed third line: a warning with file:line, or exit 2 with --strict.
    let bad = dir.path().join("bad.log");
    let mut lines: Vec<&str> = SMALL.lines().collect();
    lines.insert(2, "(1700000000.010200) can0 18DA40F1#3G");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
    let args = [
        "script",
        "from-capture",
        bad.to_str().unwrap(),
        "--tx",
        "18DA40F1",
        "--rx",
        "18DAF140",
        "-o",
        "-",
    ];
    let o = canrelearn(&args);
    let e = text(&o.stderr);
    assert!(e.contains("bad.log:3:"), "{e}");
    assert!(e.contains("1 malformed line skipped"), "{e}");
    let mut strict = args.to_vec();
    strict.push("--strict");
    let o = canrelearn(&strict);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("bad.log:3:"),
        "{}",
        text(&o.stderr)
    );
    assert!(o.stdout.is_empty());
}

#[test]
fn no_answered_exchange_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("quiet.log");
    std::fs::write(
        &log,
        "(1700000000.000000) can0 745#0210C0FFFFFFFFFF\n\
         (1700000000.010000) can0 765#037F3122FFFFFFFF\n",
    )
    .unwrap();
    let o = canrelearn(&[
        "script",
        "from-capture",
        log.to_str().unwrap(),
        "--tx",
        "745",
        "--rx",
        "765",
        "-o",
        "-",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = text(&o.stderr);
    assert!(e.contains("no answered request on 745 -> 765"), "{e}");
    assert!(o.stdout.is_empty());
}

#[test]
fn check_reports_errors_with_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("broken.toml");
    std::fs::write(
        &p,
        "[procedure]\nname = \"x\"\n\n[[step]]\nid = \"a\"\ntitle = \"t\"\nkind = \"wait\"\nms = 10\nreason = \"r\"\nprovenance = \"guess\"\n",
    )
    .unwrap();
    let o = canrelearn(&["script", "check", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = text(&o.stderr);
    assert!(e.contains("broken.toml:10:"), "{e}");
    // The bundled scripts check.
    for s in [
        "scripts/audio-unit-registration.toml",
        "scripts/bms-battery-registration.toml",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(s);
        let o = canrelearn(&["script", "check", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        assert!(text(&o.stdout).contains("ok: "), "{}", text(&o.stdout));
    }
}
