//! `canrelearn simulate` through the real binary, for what needs no CAN interface: listing
//! faults, errors in faults, profiles and interfaces with their exit codes. The run on a real
//! interface is in tests/vcan_sim.rs.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_canrelearn"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn test_list_faults_prints_names_and_descriptions() {
    let o = run(&["simulate", "--list-faults"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let names: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert_eq!(
        names,
        [
            "bcm-silent",
            "audio-unit-unregistered",
            "nrc-conditions-not-correct",
            "slow-responses",
            "drop-flow-control",
            "ignition-off-mid-run",
            "reset-mid-session"
        ]
    );
    assert!(out.contains("audio-unit-unregistered\tThe AV unit sends nothing until"));
}

#[test]
fn test_a_missing_interface_exits_4_naming_it() {
    let o = run(&["simulate", "--iface", "nosuchcan7", "--duration", "1"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("nosuchcan7"), "{}", stderr(&o));
}

#[test]
fn test_an_unknown_fault_exits_2_listing_the_known_ones() {
    let o = run(&["simulate", "--iface", "vcan0", "--fault", "flat-tyre"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("flat-tyre") && e.contains("bcm-silent"), "{e}");
}

#[test]
fn test_iface_is_required_and_profile_options_conflict() {
    let o = run(&["simulate"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--iface"), "{}", stderr(&o));
    let o = run(&[
        "simulate",
        "--list-faults",
        "--profile",
        "qashqai-j11",
        "--profile-file",
        "x.toml",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn test_profile_file_errors_name_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let bundled = include_str!("../scripts/simulator/qashqai-j11.toml");
    // A node the DBC does not have.
    let bad_node = dir.path().join("bad-node.toml");
    std::fs::write(
        &bad_node,
        bundled.replace("node = \"AV\"", "node = \"HEAD_UNIT\""),
    )
    .unwrap();
    let o = run(&[
        "simulate",
        "--iface",
        "vcan0",
        "--profile-file",
        bad_node.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("HEAD_UNIT"), "{}", stderr(&o));
    // A syntax error: file, line and column.
    let bad_toml = dir.path().join("bad.toml");
    std::fs::write(
        &bad_toml,
        bundled.replace("s3_ms = 5000", "s3_ms = \"long\""),
    )
    .unwrap();
    let o = run(&[
        "simulate",
        "--list-faults",
        "--profile-file",
        bad_toml.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("bad.toml:"), "{}", stderr(&o));
    // A profile naming its own DBC, relative to the profile file.
    let dbc = include_str!("../dbc/nissan_qashqai_j11.dbc");
    std::fs::write(dir.path().join("car.dbc"), dbc).unwrap();
    let own = dir.path().join("own.toml");
    std::fs::write(
        &own,
        bundled.replace("dbc = \"bundled\"", "dbc = \"missing.dbc\""),
    )
    .unwrap();
    let o = run(&[
        "simulate",
        "--iface",
        "nosuchcan7",
        "--profile-file",
        own.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("missing.dbc"), "{}", stderr(&o));
    std::fs::write(
        &own,
        bundled.replace("dbc = \"bundled\"", "dbc = \"car.dbc\""),
    )
    .unwrap();
    let o = run(&[
        "simulate",
        "--iface",
        "nosuchcan7",
        "--profile-file",
        own.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(4), "the DBC loaded: {}", stderr(&o));
}
