//! `canrelearn decode` and `canrelearn dbc`, driven through the real binary.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_canrelearn"))
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 output")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn jsonl_of_the_bundled_sample_agrees_with_cantools_frame_by_frame() {
    let sample = data("j11-sample.log");
    let o = run(&["decode", "--format", "jsonl", sample.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let golden = std::fs::read_to_string(data("j11-sample.cantools.jsonl")).unwrap();
    let ours = stdout(&o);
    let (ours, golden): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), golden.lines().collect());
    assert_eq!(ours.len(), golden.len(), "one object per frame");
    assert!(ours.len() > 6000);
    let mut compared_signals = 0;
    for (n, (a, b)) in ours.iter().zip(&golden).enumerate() {
        let a: Value =
            serde_json::from_str(a).unwrap_or_else(|e| panic!("line {}: {e}: {a}", n + 1));
        let b: Value = serde_json::from_str(b).unwrap();
        assert_eq!(a["id"], b["id"], "line {}", n + 1);
        assert_eq!(a["message"], b["message"], "line {}", n + 1);
        assert_eq!(a["extended"], Value::Bool(false));
        assert_eq!(a["interface"], "can0");
        assert!(a["timestamp"].as_f64().unwrap() >= 1_700_000_000.0);
        if b["message"].is_null() {
            continue;
        }
        // Same keys, same numbers, same typing (integers stay integers).
        assert_eq!(a["signals"], b["signals"], "line {}", n + 1);
        compared_signals += b["signals"].as_object().unwrap().len();
    }
    assert!(
        compared_signals > 15_000,
        "compared {compared_signals} signals"
    );
}

#[test]
fn jsonl_carries_labels_and_exact_timestamps() {
    let o = run(&[
        "decode",
        "--format",
        "jsonl",
        data("j11-sample.log").to_str().unwrap(),
    ]);
    let text = stdout(&o);
    let body = text
        .lines()
        .find(|l| l.contains("\"BODY_STATUS\"") && l.contains("\"IGNITION_STATE\": 3"))
        .expect("a BODY_STATUS frame with ignition ON");
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["labels"]["IGNITION_STATE"], "ON");
    assert_eq!(v["id"], 1549);
    // The timestamp is the log's text, digit for digit.
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with("{\"timestamp\": 1700000000.001855, "),
        "{first}"
    );
}

#[test]
fn text_output_is_one_readable_line_per_frame() {
    let o = run(&["decode", data("j11-sample.log").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 6892);
    let line = text.lines().find(|l| l.contains("IPDM_STATUS")).unwrap();
    assert!(line.starts_with('('), "{line}");
    assert!(line.contains(" can0 625#"), "{line}");
    assert!(line.contains("BATTERY_VOLTAGE=12.5 V"), "{line}");
    // Diagnostic frames the DBC does not describe are shown raw.
    assert!(text.lines().any(|l| l.ends_with("745#0210C0FFFFFFFFFF")));
}

#[test]
fn csv_has_a_header_and_one_row_per_signal() {
    let o = run(&[
        "decode",
        "--format",
        "csv",
        data("j11-sample.log").to_str().unwrap(),
    ]);
    let text = stdout(&o);
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("timestamp,interface,id,extended,message,signal,value,unit,label,error")
    );
    let row = lines
        .find(|l| l.contains(",IGNITION_STATE,3,"))
        .expect("an ignition row");
    assert!(row.ends_with(",IGNITION_STATE,3,,ON,"), "{row}");
    assert!(row.contains(",0x60D,0,BODY_STATUS,"), "{row}");
}

#[test]
fn stdin_and_dash_read_standard_input() {
    let log = "(1700000000.000100) can0 60D#0006000000000000\n";
    for args in [
        &["decode", "--format", "jsonl"][..],
        &["decode", "--format", "jsonl", "-"],
    ] {
        let mut child = bin()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(log.as_bytes())
            .unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0));
        let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        assert_eq!(v["signals"]["IGNITION_STATE"], 3);
    }
}

#[test]
fn malformed_lines_are_reported_with_file_and_line_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("bad.log");
    std::fs::write(
        &log,
        "(1700000000.000100) can0 60D#0006000000000000\n\
         (1700000000.000200) can0 60D#00060\n\
         (1700000000.000300) can0 358#0100000000000000\n",
    )
    .unwrap();
    let o = run(&["decode", log.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "lenient by default");
    assert_eq!(stdout(&o).lines().count(), 2);
    let err = stderr(&o);
    assert!(err.contains(&format!("{}:2:", log.display())), "{err}");
    assert!(err.contains("1 malformed line skipped"), "{err}");

    let o = run(&["decode", "--strict", log.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "strict stops with exit 2");
    assert_eq!(stdout(&o).lines().count(), 1, "what came before is written");
    assert!(stderr(&o).contains(&format!("{}:2:", log.display())));
}

#[test]
fn short_frames_of_known_messages_carry_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("short.log");
    std::fs::write(&log, "(1.000000) can0 60D#0006\n").unwrap();
    let o = run(&["decode", "--format", "jsonl", log.to_str().unwrap()]);
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["message"], "BODY_STATUS");
    assert!(v.get("signals").is_none(), "{v}");
    assert!(v["error"].as_str().unwrap().contains("2 bytes"), "{v}");
}

#[test]
fn gzip_logs_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("cap.log.gz");
    let plain = std::fs::read(data("j11-sample.log")).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&plain).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let a = run(&["decode", gz.to_str().unwrap()]);
    let b = run(&["decode", data("j11-sample.log").to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn input_errors_exit_2_naming_the_file() {
    let o = run(&["decode", "/nonexistent/capture.log"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/capture.log"));

    let dir = tempfile::tempdir().unwrap();
    let dbc = dir.path().join("broken.dbc");
    std::fs::write(&dbc, "VERSION \"\"\nBO_ 12 X: 8 Y\n SG_ oops\n").unwrap();
    let o = run(&["decode", "--dbc", dbc.to_str().unwrap(), "-"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains(&format!("{}:3:", dbc.display())), "{err}");
}

#[test]
fn two_dbc_files_defining_one_id_are_reported_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.dbc");
    let b = dir.path().join("b.dbc");
    std::fs::write(&a, "VERSION \"\"\nBU_: N\nBO_ 1549 ONE: 8 N\n").unwrap();
    std::fs::write(&b, "VERSION \"\"\nBU_: N\nBO_ 1549 TWO: 8 N\n").unwrap();
    let o = run(&[
        "decode",
        "--dbc",
        a.to_str().unwrap(),
        "--dbc",
        b.to_str().unwrap(),
        "-",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("a.dbc") && err.contains("b.dbc"), "{err}");
}

#[test]
fn a_closed_pipe_exits_0() {
    let mut child = bin()
        .args(["decode", data("j11-sample.log").to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    out.read_exact(&mut first).unwrap();
    drop(out);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stderr.is_empty(), "quiet: {}", stderr(&o));
}

#[test]
fn help_lists_the_exit_codes() {
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    for code in [
        "0  success",
        "1  procedure",
        "2  usage",
        "3  communication lost",
        "4  bus",
        "5  not confirmed",
        "6  nothing judged",
        "130  interrupted",
    ] {
        assert!(text.contains(code), "{code} in {text}");
    }
    assert_eq!(run(&["decode", "--no-such-flag"]).status.code(), Some(2));
}

#[test]
fn dbc_show_lists_messages_senders_cycle_times_and_layout() {
    let o = run(&["dbc", "show"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("12 messages, 8 nodes"), "{text}");
    assert!(
        text.contains("0x60D BODY_STATUS  id 1549  8 bytes  sender BCM  cycle 100 ms"),
        "{text}"
    );
    assert!(text.contains("values of IGNITION_STATE: 0 \"OFF\", 1 \"ACC\", 2 \"START\", 3 \"ON\""));
    // One message, by hex id: the Motorola odometer spans bytes 1-3.
    let o = run(&["dbc", "show", "--message", "0x5C5"]);
    let text = stdout(&o);
    assert!(text.contains("METER_ODOMETER"), "{text}");
    assert!(text.contains("byte  1   B B B B B B B B"), "{text}");
    assert!(text.contains("byte  0   . . . . . A . ."), "{text}");
}

#[test]
fn dbc_check_reports_errors_with_positions_and_exit_codes() {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("dbc/nissan_qashqai_j11.dbc");
    let o = run(&["dbc", "check", bundled.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("0 errors"), "{}", stdout(&o));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("overlap.dbc");
    std::fs::write(
        &bad,
        "VERSION \"\"\nBU_: N\nBO_ 256 M: 2 N\n SG_ A : 0|8@1+ (1,0) [0|255] \"\" N\n SG_ B : 4|8@1+ (1,0) [0|255] \"\" N\n SG_ C : 12|8@1+ (1,0) [0|255] \"\" N\n",
    )
    .unwrap();
    let o = run(&["dbc", "check", bad.to_str().unwrap()]);
    let text = stdout(&o);
    assert!(
        text.contains(&format!("{}:5:", bad.display())),
        "overlap B at line 5: {text}"
    );
    assert!(
        text.contains(&format!("{}:6:", bad.display())),
        "C outside at line 6: {text}"
    );
    assert_eq!(o.status.code(), Some(2), "{text}");
}
