//! `canrelearn monitor` outside a terminal and with bad arguments.

use std::process::{Command, Stdio};

fn monitor(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_canrelearn"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("monitor")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn test_refuses_a_pipe_with_exit_2_and_suggests_dump() {
    // Standard output is a pipe here.
    let out = monitor(&["tests/data/j11-sample.log"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a terminal"), "{err}");
    assert!(err.contains("canrelearn dump"), "{err}");
}

#[test]
fn test_source_is_required() {
    let out = monitor(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SOURCE"));
}

#[test]
fn test_zero_bitrate_is_a_usage_error() {
    let out = monitor(&["--bitrate", "0", "tests/data/j11-sample.log"]);
    assert_eq!(out.status.code(), Some(2));
}
