//! `canrelearn diag` through the real binary: `sniff` over a committed capture (exact output),
//! and the argument checks of `request`, `dtc` and `scan` that need no bus.

use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_canrelearn");
const LOG: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/diag/sniff-conversation.log"
);

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run canrelearn")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn test_sniff_text_pairs_requests_and_responses() {
    let o = run(&["diag", "sniff", LOG]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let expected = "\
100.000000      745 request  10 C0  StartDiagnosticSession
100.015000      765 positive 50 C0  StartDiagnosticSession [15.0 ms after 745]
100.100000      745 request  1A 81  ReadEcuIdentification
100.112000      765 positive 5A 81 32 38 34 42 32 2D 34 45 41 30 41  ReadEcuIdentification [12.0 ms after 745]
100.300000      745 request  21 83  ReadDataByLocalIdentifier
100.310000      765 pending  7F 21 78  $21 ReadDataByLocalIdentifier: NRC 0x78 requestCorrectlyReceived-ResponsePending: the request was received and the answer will come later (wait P2*) [10.0 ms after 745]
100.320000      765 negative 7F 21 80  $21 ReadDataByLocalIdentifier: NRC 0x80 serviceNotSupportedInActiveDiagnosticSession: the service is not available in the current session (open another session with $10) [20.0 ms after 745]
100.400000      765 positive 50 C0  StartDiagnosticSession [no request seen]
100.500000      7E0 broken   6 of 10 bytes (end of input)
";
    assert_eq!(stdout(&o), expected);
}

#[test]
fn test_sniff_jsonl_and_id_restriction() {
    let o = run(&["diag", "sniff", LOG, "--format", "jsonl"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 9);
    assert_eq!(lines[1]["kind"], "positive");
    assert_eq!(lines[1]["pdu"], "50 C0");
    assert_eq!(lines[1]["request_id"], "745");
    assert_eq!(lines[1]["response_ms"], 15.0);
    assert_eq!(lines[6]["kind"], "negative");
    assert_eq!(lines[6]["response_ms"], 20.0);
    assert_eq!(lines[7]["request_id"], serde_json::Value::Null);
    assert_eq!(lines[8]["reason"], "end of input");

    let o = run(&["diag", "sniff", LOG, "--ids", "7E0-7E7"]);
    assert_eq!(
        stdout(&o),
        "100.500000      7E0 broken   6 of 10 bytes (end of input)\n"
    );
    // The periodic 60D frame is outside the default ranges; included on request, its first
    // byte 06 reads as a single frame (why the default restricts ids).
    let o = run(&["diag", "sniff", LOG, "--ids", "600-6FF"]);
    assert_eq!(
        stdout(&o),
        "100.200000      60D request  00 00 00 00 00 00\n"
    );
}

/// Nothing on the diagnostic ids is said, with exit 1: an empty output and exit 0 would read
/// as "no conversation" when the conversation may be on other ids.
#[test]
fn test_sniff_with_no_diagnostic_message_says_so_and_exits_1() {
    let o = run(&["diag", "sniff", LOG, "--ids", "100-1FF"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    assert!(
        err.contains("no diagnostic message in ") && err.contains("on the ids 100-1FF"),
        "{err}"
    );
    // With messages: exit 0.
    assert_eq!(run(&["diag", "sniff", LOG]).status.code(), Some(0));
}

#[test]
fn test_request_argument_errors_exit_2() {
    for args in [
        &[
            "diag", "request", "--iface", "vcan0", "--tx", "zz", "--rx", "765", "10C0",
        ][..],
        &[
            "diag", "request", "--iface", "vcan0", "--tx", "800", "--rx", "765", "10C0",
        ],
        &[
            "diag", "request", "--iface", "vcan0", "--tx", "745", "--rx", "765", "1C0",
        ],
        &[
            "diag",
            "request",
            "--iface",
            "vcan0",
            "--tx",
            "745",
            "--rx",
            "765",
            "--padding",
            "FFF",
            "10C0",
        ],
        &[
            "diag", "request", "--iface", "vcan0", "--tx", "745", "--rx", "765",
        ],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty());
    }
}

#[test]
fn test_missing_interface_exits_4() {
    let o = run(&[
        "diag",
        "request",
        "--iface",
        "nosuchcan7",
        "--tx",
        "0x745",
        "--rx",
        "0x765",
        "10",
        "C0",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("nosuchcan7"), "{}", stderr(&o));
}

/// `lo` exists on every host and is not a virtual CAN interface (no vcan link kind), so it
/// stands for a real adapter: nothing may be sent there without consent.
#[test]
fn test_dtc_clear_refuses_without_terminal_or_yes() {
    let o = run(&["diag", "dtc", "clear", "--iface", "lo", "--module", "BCM"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("--yes"), "{}", stderr(&o));
    assert!(stderr(&o).contains("Nothing was sent"), "{}", stderr(&o));
    // With --yes it goes on to open the interface (not a CAN interface here: 4).
    let o = run(&[
        "diag", "dtc", "clear", "--iface", "lo", "--module", "BCM", "--yes",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
}

/// Regression: `diag request ... 11 01` (ECU reset) and `diag dtc read --request "14 FF 00"`
/// (a clear) were sent to a real interface without a word.
#[test]
fn test_state_changing_requests_ask_on_a_real_interface() {
    let o = run(&[
        "diag", "request", "--iface", "lo", "--tx", "745", "--rx", "765", "11", "01",
    ]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("11 01") && e.contains("CHANGES THE MODULE'S STATE"),
        "{e}"
    );
    let o = run(&[
        "diag",
        "dtc",
        "read",
        "--iface",
        "lo",
        "--module",
        "BCM",
        "--request",
        "14 FF 00",
    ]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("CLEARS"), "{}", stderr(&o));
    // Read-only requests and scans ask on a real interface too.
    let o = run(&[
        "diag", "request", "--iface", "lo", "--tx", "745", "--rx", "765", "21", "01",
    ]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let o = run(&["diag", "scan", "--iface", "lo"]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
}

#[test]
fn test_dtc_unknown_module_lists_the_profile_modules() {
    let o = run(&[
        "diag",
        "dtc",
        "read",
        "--iface",
        "nosuchcan7",
        "--module",
        "RADIO",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("BCM") && e.contains("IPDM_ER"), "{e}");
    // A module without diagnostic ids in the profile.
    let o = run(&[
        "diag",
        "dtc",
        "read",
        "--iface",
        "nosuchcan7",
        "--module",
        "AV",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--tx"), "{}", stderr(&o));
}

#[test]
fn test_scan_rejects_bad_ranges() {
    let o = run(&["diag", "scan", "--iface", "nosuchcan7", "--ids", "740-74F"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = run(&[
        "diag",
        "scan",
        "--iface",
        "nosuchcan7",
        "--ids",
        "74F-740+20",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// Regression: on the bundled dealer capture, the answer `71 90` after `7F 31 78` and an
/// intervening `3E 80` was shown as "[no request seen]".
#[test]
fn test_sniff_pairs_across_pending_and_tester_present() {
    let capture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/capture/dealer-session.log"
    );
    let o = run(&["diag", "sniff", capture]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(!out.contains("[no request seen]"), "{out}");
    assert!(
        out.contains("765 positive 71 90  StartRoutineByLocalIdentifier [820.0 ms after 745]"),
        "{out}"
    );
}

/// Regression: a malformed first frame (an FF in a 4-byte CAN frame) was dropped silently.
#[test]
fn test_sniff_reports_frames_that_are_not_iso_tp() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("m.log");
    std::fs::write(
        &log,
        "(100.000000) can0 745#10140102\n(100.001000) can0 745#F0112233\n",
    )
    .unwrap();
    let o = run(&["diag", "sniff", log.to_str().unwrap()]);
    let out = stdout(&o);
    assert!(
        out.contains(
            "745 malformed 10 14 01 02  (a first frame in a CAN frame shorter than 8 bytes)"
        ),
        "{out}"
    );
    assert!(
        out.contains("745 malformed F0 11 22 33  (not an ISO-TP frame"),
        "{out}"
    );
}
