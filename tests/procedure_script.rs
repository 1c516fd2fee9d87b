//! Procedure script loading: precise errors for malformed scripts, and the bundled scripts
//! are consistent with the bundled simulator profile.

use canrelearn::diag::codec::Dialect;
use canrelearn::frame::Id;
use canrelearn::procedure::script::{Check, Provenance, StepKind, Token};
use canrelearn::procedure::{Script, ScriptError};
use canrelearn::sim::profile::Profile;

const PROFILE: &str = include_str!("../scripts/simulator/qashqai-j11.toml");
const DBC: &str = include_str!("../dbc/nissan_qashqai_j11.dbc");
const AUDIO: &str = include_str!("../scripts/audio-unit-registration.toml");
const BMS: &str = include_str!("../scripts/bms-battery-registration.toml");

const HEAD: &str =
    "[procedure]\nname = \"t\"\n[modules.BCM]\nrequest_id = 0x745\nresponse_id = 0x765\n";
// HEAD is 5 lines; the body starts on line 6.

fn err(body: &str) -> ScriptError {
    Script::from_toml(&format!("{HEAD}{body}"), "bad.toml").unwrap_err()
}

fn at(e: &ScriptError) -> (Option<usize>, Option<usize>) {
    (
        e.location.line.map(|l| l as usize),
        e.location.column.map(|c| c as usize),
    )
}

const STEP: &str = "[[step]]\nid = \"s\"\ntitle = \"s\"\nkind = \"request\"\nmodule = \"BCM\"\nprovenance = \"fact\"\n";

#[test]
fn unknown_key_is_an_error_with_line_and_column() {
    let e = err(&format!("{STEP}requets = \"21 01\"\n"));
    assert_eq!(at(&e), (Some(12), Some(1)), "{e}");
    assert!(e.message.contains("unknown field `requets`"), "{e}");
    assert!(e.to_string().starts_with("bad.toml:12:1: "), "{e}");
    let e = err("[modules.IPDM]\nrequest_id = 0x74D\nresponse_id = 0x76D\np2 = 5\n");
    assert_eq!(at(&e), (Some(9), Some(1)), "{e}");
    let e = err("[procedure.extra]\n");
    assert!(e.line().is_some(), "{e}");
}

#[test]
fn bad_values_point_at_the_step() {
    let e = err(&format!("{STEP}request = \"21 0G\"\n"));
    assert_eq!(at(&e), (Some(6), Some(1)), "{e}");
    assert!(
        e.message
            .contains("step \"s\": \"21 0G\": \"0G\" is not a hex byte"),
        "{e}"
    );
    let e = err(&format!("{STEP}request = \"31 {{capacity}}\"\n"));
    assert!(
        e.message.contains("parameter {capacity} is not declared"),
        "{e}"
    );
    let e = err(&format!(
        "{STEP}request = \"21 01\"\nexpect = \"61 .. 01\"\n"
    ));
    assert!(e.message.contains("`..` is allowed only at the end"), "{e}");
    let e = err(&format!("{STEP}request = \"21 ??\"\n"));
    assert!(
        e.message
            .contains("`??` is allowed only in response patterns"),
        "{e}"
    );
    let e = err(&STEP.replace("\"BCM\"", "\"ABS\"").replace(
        "kind = \"request\"",
        "kind = \"request\"\nrequest = \"21 01\"",
    ));
    assert!(
        e.message
            .contains("module ABS is not in [modules] (known: BCM)"),
        "{e}"
    );
    let e = err(&STEP.replace("\"request\"", "\"reed\""));
    assert!(e.message.contains("kind \"reed\" is not one of"), "{e}");
    let e = err(&format!(
        "{STEP}request = \"21 01\"\n{STEP}request = \"21 02\"\n"
    ));
    assert_eq!(at(&e), (Some(13), Some(1)), "{e}");
    assert!(e.message.contains("step id \"s\" is used twice"), "{e}");
    let e = err(&format!("{STEP}request = \"21 01\"\nprovenance2 = 1\n"));
    assert!(e.message.contains("unknown field"), "{e}");
    let e = err(&STEP.replace("provenance = \"fact\"", "provenance = \"rumour\""));
    assert!(e.line().is_some() && e.message.contains("rumour"), "{e}");
    let e = err(
        "[[step]]\nid = \"p\"\ntitle = \"p\"\nkind = \"poll\"\nmodule = \"BCM\"\nrequest = \"21 91\"\nat = 2\ninterval_ms = 100\ntimeout_s = 1\nprovenance = \"fact\"\n",
    );
    assert!(e.message.contains("needs `until"), "{e}");
    let e = err(
        "[[step]]\nid = \"w\"\ntitle = \"w\"\nkind = \"wait\"\nms = 10\nprovenance = \"fact\"\n",
    );
    assert!(e.message.contains("needs `reason`"), "{e}");
}

#[test]
fn bad_modules_parameters_and_preconditions() {
    let e = Script::from_toml(
        "[procedure]\nname = \"t\"\n[modules.BCM]\nrequest_id = 0x845\nresponse_id = 0x765\n",
        "m.toml",
    )
    .unwrap_err();
    assert_eq!(at(&e), (Some(3), Some(1)), "{e}");
    assert!(e.message.contains("0x845 does not fit in 11 bits"), "{e}");
    let e = err("[modules.X]\nrequest_id = 1\nresponse_id = 2\ndialect = \"obd\"\n");
    assert!(e.message.contains("dialect \"obd\""), "{e}");
    let e = err("[parameters.c]\ntype = \"integer\"\nmin = 120\nmax = 30\n");
    assert_eq!(at(&e), (Some(6), Some(1)), "{e}");
    let e = err("[parameters.c]\ntype = \"integer\"\nmax = 300\n");
    assert!(e.line() == Some(8), "{e}");
    let e = err("[[precondition]]\nsignal = \"IGNITION\"\nequals = 1\nprovenance = \"fact\"\n");
    assert!(e.message.contains("must be MESSAGE.SIGNAL"), "{e}");
    let e = err("[[precondition]]\nconfirm = \"ok?\"\nduring = true\nprovenance = \"fact\"\n");
    assert!(
        e.message
            .contains("`during = true` applies to signal preconditions only"),
        "{e}"
    );
    let e = err(
        "[[precondition]]\nsignal = \"A.B\"\nconfirm = \"x\"\nequals = 1\nprovenance = \"fact\"\n",
    );
    assert!(e.message.contains("exactly one of"), "{e}");
    let e = err("");
    assert!(e.message.contains("no [[step]]"), "{e}");
    // Module hex reads as every other diagnostic hex: `0x` bytes, and never a byte across a gap.
    let module = |keep_alive: &str| {
        Script::from_toml(
            &format!(
                "[procedure]\nname = \"t\"\n[modules.BCM]\nrequest_id = 0x745\nresponse_id = 0x765\nkeep_alive = {keep_alive:?}\n{STEP}request = \"21 01\"\n"
            ),
            "k.toml",
        )
    };
    let s = module("0x3E 0x80").unwrap();
    assert_eq!(
        s.modules["BCM"].keep_alive.as_deref(),
        Some(&[0x3E, 0x80][..])
    );
    let e = module("3E 8 0").unwrap_err();
    assert!(
        e.message
            .contains("keep_alive: column 4: \"8\" has an odd number of hex digits"),
        "{e}"
    );
    let e = module(" ").unwrap_err();
    assert!(
        e.message.contains("keep_alive is empty (write \"none\")"),
        "{e}"
    );
    let e = Script::from_toml("[procedure\nname = 1", "broken.toml").unwrap_err();
    assert_eq!(e.line(), Some(1), "{e}");
}

/// A routine: id, parameter count, parameter ranges.
type RoutineDef = (u8, usize, Vec<(u8, u8)>);

/// What the profile defines for one module: ids, sessions, readable local ids, routines.
struct ProfileModule {
    request: u32,
    response: u32,
    padding: Option<u8>,
    default_session: u8,
    sessions: Vec<u8>,
    lids: Vec<u8>,
    routines: Vec<RoutineDef>,
}

fn profile_module(p: &Profile, name: &str) -> ProfileModule {
    let m = p
        .modules
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("{name} not in the profile"));
    let mut lids: Vec<u8> = m.local_ids.iter().map(|l| l.id).collect();
    lids.extend(m.routines.iter().map(|r| r.status_local_id));
    ProfileModule {
        request: m.request_id.unwrap(),
        response: m.response_id.unwrap(),
        padding: m.padding,
        default_session: m.default_session,
        sessions: m.sessions.clone(),
        lids,
        routines: m
            .routines
            .iter()
            .map(|r| {
                (
                    r.id,
                    r.params.len(),
                    r.params.iter().map(|x| (x.min, x.max)).collect(),
                )
            })
            .collect(),
    }
}

fn check_against_profile(script: &Script) {
    let profile = Profile::from_toml(PROFILE, "j11").unwrap();
    let db = canrelearn::dbc::Database::from_str_named(DBC, "j11.dbc").unwrap();
    for (name, spec) in &script.modules {
        let pm = profile_module(&profile, name);
        assert_eq!(
            spec.request_id,
            Id::standard(pm.request as u16).unwrap(),
            "{name}"
        );
        assert_eq!(
            spec.response_id,
            Id::standard(pm.response as u16).unwrap(),
            "{name}"
        );
        assert_eq!(spec.padding, pm.padding);
        assert_eq!(spec.default_session, pm.default_session);
        assert_eq!(spec.dialect, Dialect::Kwp2000);
        assert_eq!(spec.keep_alive.as_deref(), Some(&[0x3E, 0x80][..]));
    }
    for p in &script.preconditions {
        if let Check::Signal { signal, .. } = &p.check {
            let (msg, sig) = signal.split_once('.').unwrap();
            let m = db
                .messages()
                .iter()
                .find(|m| m.name() == msg)
                .unwrap_or_else(|| panic!("{msg}"));
            assert!(m.signal_by_name(sig).is_some(), "{signal}");
        }
    }
    for s in &script.steps {
        let bytes = |t: &[Token]| -> Vec<Option<u8>> {
            t.iter()
                .map(|x| {
                    if let Token::Byte(b) = x {
                        Some(*b)
                    } else {
                        None
                    }
                })
                .collect()
        };
        match &s.kind {
            StepKind::Session { module, session } => {
                assert!(
                    profile_module(&profile, module).sessions.contains(session),
                    "{}",
                    s.id
                );
            }
            StepKind::Request {
                module,
                request,
                writes,
                ..
            } => {
                let b = bytes(&request.0);
                let pm = profile_module(&profile, module);
                assert_eq!(
                    b[0],
                    Some(0x31),
                    "{}: the bundled writes are routines",
                    s.id
                );
                let (_, nparams, ranges) = pm
                    .routines
                    .iter()
                    .find(|r| Some(r.0) == b[1])
                    .unwrap_or_else(|| panic!("{}: routine not in the profile", s.id));
                assert_eq!(b.len() - 2, *nparams, "{}", s.id);
                // Each parameter's declared range fits the profile's range.
                for (tok, (min, max)) in request.0[2..].iter().zip(ranges) {
                    let Token::Param(name) = tok else { panic!() };
                    match &script.parameters[name].kind {
                        canrelearn::procedure::script::ParamKind::Integer {
                            min: a,
                            max: b,
                            ..
                        } => assert!(a >= min && b <= max, "{name}"),
                        canrelearn::procedure::script::ParamKind::Choice(c) => {
                            assert!(c.iter().all(|(_, v)| v >= min && v <= max), "{name}")
                        }
                    }
                }
                assert!(*writes);
                assert_eq!(s.provenance, Provenance::Placeholder);
            }
            StepKind::Read {
                module, request, ..
            }
            | StepKind::Poll {
                module, request, ..
            } => {
                let b = bytes(&request.0);
                assert_eq!(b[0], Some(0x21), "{}", s.id);
                let lid = b[1].unwrap();
                assert!(
                    profile_module(&profile, module).lids.contains(&lid),
                    "{}: local id {lid:02X} not in the profile",
                    s.id
                );
            }
            StepKind::VerifyNode { node, .. } => {
                assert!(
                    db.messages()
                        .iter()
                        .any(|m| m.transmitter() == Some(node.as_str())
                            && m.cycle_time_ms().is_some()),
                    "{node}"
                );
            }
            StepKind::CloseSession { module } => {
                assert!(script.modules.contains_key(module));
            }
            _ => {}
        }
    }
}

#[test]
fn bundled_audio_script_loads_and_matches_the_profile() {
    let s = Script::from_toml(AUDIO, "audio-unit-registration.toml").unwrap();
    assert_eq!(s.procedure.name, "audio-unit-registration");
    assert_eq!(s.modules.keys().collect::<Vec<_>>(), ["BCM"]);
    assert_eq!(
        s.signals(),
        ["BODY_STATUS.IGNITION_STATE", "IPDM_STATUS.BATTERY_VOLTAGE"]
    );
    let ids: Vec<&str> = s.steps.iter().map(|x| x.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "open-session",
            "start-registration",
            "wait-registration",
            "close-session",
            "head-unit-back"
        ]
    );
    assert_eq!(s.steps.iter().filter(|x| x.writes()).count(), 1);
    check_against_profile(&s);
}

#[test]
fn bundled_bms_script_loads_and_matches_the_profile() {
    let s = Script::from_toml(BMS, "bms-battery-registration.toml").unwrap();
    assert_eq!(s.modules.keys().collect::<Vec<_>>(), ["IPDM_ER"]);
    assert_eq!(
        s.parameters.keys().collect::<Vec<_>>(),
        ["battery_type", "capacity_ah"]
    );
    assert_eq!(
        s.signals(),
        ["BODY_STATUS.IGNITION_STATE", "ENGINE_STATUS.ENGINE_RUNNING"]
    );
    check_against_profile(&s);
}

#[test]
fn bundled_scripts_load_from_disk() {
    for f in [
        "scripts/audio-unit-registration.toml",
        "scripts/bms-battery-registration.toml",
    ] {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(f);
        Script::from_toml(&std::fs::read_to_string(&p).unwrap(), f).unwrap();
    }
}

#[test]
fn keys_of_another_step_kind_are_errors() {
    let e = err(&format!("{STEP}request = \"21 01\"\nsession = 0xC0\n"));
    assert!(
        e.message
            .contains("`session` does not apply to a request step"),
        "{e}"
    );
    assert_eq!(at(&e), (Some(6), Some(1)), "{e}");
    let e = err(&format!("{STEP}request = \"21 01\"\nat = 2\n"));
    assert!(
        e.message.contains("`at` does not apply to a request step"),
        "{e}"
    );
    let e = err(
        "[[step]]\nid = \"w\"\ntitle = \"w\"\nkind = \"wait\"\nms = 10\nreason = \"r\"\ntext = \"t\"\nprovenance = \"fact\"\n",
    );
    assert!(
        e.message.contains("`text` does not apply to a wait step"),
        "{e}"
    );
    let e = err(
        "[[step]]\nid = \"w\"\ntitle = \"w\"\nkind = \"prompt\"\ntext = \"t\"\nfor_s = 3\nprovenance = \"fact\"\n",
    );
    assert!(
        e.message
            .contains("`for_s` does not apply to a prompt step"),
        "{e}"
    );
}

/// Regression: a keep-alive every 1 ms sent 500 frames/s; times are now bounded.
#[test]
fn times_have_documented_ranges() {
    let module = "[modules.M]\nrequest_id = 0x745\nresponse_id = 0x765\n";
    for (key, value, ok) in [
        ("keep_alive_period_ms", "1", false),
        ("keep_alive_period_ms", "199", false),
        ("keep_alive_period_ms", "200", true),
        ("p2_ms", "0", false),
        ("p2_ms", "30001", false),
        ("p2_star_ms", "600000", true),
        ("p2_star_ms", "600001", false),
    ] {
        let text = format!(
            "[procedure]\nname = \"t\"\n{module}keep_alive = \"3E 80\"\n{key} = {value}\n{STEP}request = \"21 01\"\n"
        )
        .replace("module = \"BCM\"", "module = \"M\"");
        let r = Script::from_toml(&text, "t.toml");
        assert_eq!(r.is_ok(), ok, "{key} = {value}: {r:?}");
        if let Err(e) = r {
            assert!(e.message.contains("outside"), "{e}");
        }
    }
    let wait = |ms: &str| {
        format!(
            "{HEAD}[[step]]\nid = \"w\"\ntitle = \"w\"\nkind = \"wait\"\nms = {ms}\nreason = \"r\"\nprovenance = \"fact\"\n"
        )
    };
    assert!(Script::from_toml(&wait("3600000"), "t").is_ok());
    assert!(Script::from_toml(&wait("3600001"), "t").is_err());
}
