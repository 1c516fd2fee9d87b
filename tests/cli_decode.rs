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

/// Runs the binary with `args` and `input` on its standard input, written from another thread
/// so that a large input cannot block on a full pipe.
fn run_with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let o = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    o
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
        let o = run_with_stdin(args, log.as_bytes());
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

/// An over-long line is reported as the capture readers report it (`convert` reads the log
/// with the sequential candump reader): the limit, at the column past it; by `decode` in
/// every format, whether the line fits one of its blocks or not, from a file or a pipe.
#[test]
fn over_long_lines_are_reported_as_the_readers_report_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("long.log");
    let frame = |i: u32| format!("(1700000000.{i:06}) can0 60D#0006000000000000\n");
    // 70 kB: longer than the limit, shorter than a block of rows; 2 MB: longer than any block.
    let text = [
        frame(1),
        format!("(1700000000.000002) can0 123#{}\n", "A".repeat(70_000)),
        frame(3),
        format!("(1700000000.000004) can0 123#{}\n", "B".repeat(2_000_000)),
        frame(5),
    ]
    .concat();
    std::fs::write(&log, &text).unwrap();
    let path = log.to_str().unwrap();
    let want =
        |line: usize, name: &str| format!("{name}:{line}:65537: line longer than 65536 bytes");
    let asc = dir.path().join("out.asc");
    let o = run(&["convert", path, asc.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(
        err.contains(&want(2, path)) && err.contains(&want(4, path)),
        "{err}"
    );
    for format in ["text", "jsonl", "csv"] {
        let o = run(&["decode", "--format", format, path]);
        assert_eq!(o.status.code(), Some(0), "{format}");
        let err = stderr(&o);
        assert!(
            err.contains(&want(2, path)) && err.contains(&want(4, path)),
            "{format}: {err}"
        );
        assert!(err.contains("2 malformed lines skipped"), "{format}: {err}");
        let o = run_with_stdin(&["decode", "--format", format, "-"], text.as_bytes());
        let err = stderr(&o);
        assert!(
            err.contains(&want(2, "<stdin>")) && err.contains(&want(4, "<stdin>")),
            "{format}, standard input: {err}"
        );
    }
    let set = dir.path().join("set");
    let o = run(&[
        "decode",
        "--format",
        "parquet",
        "-o",
        set.to_str().unwrap(),
        path,
    ]);
    assert_eq!(o.status.code(), Some(0));
    let err = stderr(&o);
    assert!(
        err.contains(&want(2, path)) && err.contains(&want(4, path)),
        "parquet: {err}"
    );
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

/// A DBC with both kinds of frame cantools refuses: a 2-byte message whose signals reach
/// bit 48 (as in real-world vw_pq-style files) and a multiplexor value with no branch.
const PARTIAL_DBC: &str = r#"VERSION ""
NS_ :
BS_:
BU_: ECU
BO_ 976 SHORT_DECL: 2 ECU
 SG_ LOW : 0|8@1+ (1,0) [0|255] "" Vector__XXX
 SG_ HIGH : 40|8@1+ (1,0) [0|255] "" Vector__XXX
BO_ 1024 MUXED: 8 ECU
 SG_ SEL M : 0|8@1+ (1,0) [0|255] "" Vector__XXX
 SG_ ALWAYS : 8|8@1+ (1,0) [0|255] "" Vector__XXX
 SG_ A m0 : 16|8@1+ (1,0) [0|255] "" Vector__XXX
 SG_ B m1 : 16|16@1+ (1,0) [0|65535] "" Vector__XXX
"#;

const PARTIAL_LOG: &str = "(1.000000) can0 3D0#1122334455667788\n\
(1.100000) can0 400#0005AA0000000000\n\
(1.200000) can0 400#0205AA0000000000\n\
(1.300000) can0 3D0#1122\n\
(1.400000) can0 400#0105AABB00000000\n\
(1.500000) can0 400#0305AA0000000000\n";

fn partial_fixture(dir: &Path) -> (PathBuf, PathBuf) {
    let dbc = dir.join("partial.dbc");
    let log = dir.join("partial.log");
    std::fs::write(&dbc, PARTIAL_DBC).unwrap();
    std::fs::write(&log, PARTIAL_LOG).unwrap();
    (dbc, log)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("canrelearn-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn partial_decodes_are_marked_in_jsonl_and_warned_once_per_message() {
    let dir = temp_dir("partial-jsonl");
    let (dbc, log) = partial_fixture(&dir);
    let o = run(&[
        "decode",
        "--dbc",
        dbc.to_str().unwrap(),
        "--format",
        "jsonl",
        log.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let objects: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 6);
    // Signals past the declared length: the rest stays, the frame says why.
    let short = &objects[0];
    assert_eq!(short["signals"], serde_json::json!({"LOW": 0x11}));
    assert_eq!(short["partial"], Value::Bool(true));
    let why = short["error"].as_str().unwrap();
    assert!(
        why.contains("HIGH") && why.contains("beyond the message's 2 bytes"),
        "{why}"
    );
    // A multiplexor value that selects no branch.
    let miss = &objects[2];
    assert_eq!(
        miss["signals"],
        serde_json::json!({"SEL": 2, "ALWAYS": 5}),
        "{miss}"
    );
    assert_eq!(miss["partial"], Value::Bool(true));
    assert!(
        miss["error"]
            .as_str()
            .unwrap()
            .contains("multiplexor SEL = 2 selects no branch"),
        "{miss}"
    );
    // Whole decodes carry no error, and the 2-byte frame of the 2-byte message is partial too.
    for i in [1, 4] {
        assert!(objects[i].get("error").is_none(), "{}", objects[i]);
        assert!(objects[i].get("partial").is_none(), "{}", objects[i]);
    }
    assert_eq!(objects[3]["partial"], Value::Bool(true));
    assert_eq!(objects[5]["partial"], Value::Bool(true));
    // stderr: the layout error at load, then one warning per message, naming where.
    let err = stderr(&o);
    assert!(
        err.contains("signal HIGH extends past its end") && err.contains("layout error"),
        "{err}"
    );
    let warnings: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("partly decoded"))
        .collect();
    assert_eq!(warnings.len(), 2, "{err}");
    assert!(
        warnings[0].contains("partial.log:1: SHORT_DECL (0x3D0)"),
        "{err}"
    );
    assert!(
        warnings[1].contains("partial.log:3: MUXED (0x400)"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn partial_decodes_are_marked_in_text_and_csv() {
    let dir = temp_dir("partial-text");
    let (dbc, log) = partial_fixture(&dir);
    let text = run(&[
        "decode",
        "--dbc",
        dbc.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(text.status.code(), Some(0), "{}", stderr(&text));
    let lines: Vec<String> = stdout(&text).lines().map(str::to_string).collect();
    assert!(
        lines[0].ends_with(
            "SHORT_DECL: LOW=17  PARTIAL (partly decoded: signal HIGH beyond the message's 2 bytes)"
        ),
        "{}",
        lines[0]
    );
    assert!(lines[2].contains("PARTIAL (partly decoded: multiplexor SEL = 2 selects no branch)"));
    assert!(!lines[1].contains("PARTIAL") && !lines[4].contains("PARTIAL"));
    let csv = run(&[
        "decode",
        "--dbc",
        dbc.to_str().unwrap(),
        "--format",
        "csv",
        log.to_str().unwrap(),
    ]);
    assert_eq!(csv.status.code(), Some(0), "{}", stderr(&csv));
    let rows: Vec<String> = stdout(&csv).lines().map(str::to_string).collect();
    assert!(rows[0].ends_with(",label,error"), "{}", rows[0]);
    let low = rows.iter().find(|r| r.contains(",LOW,")).unwrap();
    assert!(
        low.ends_with(",partly decoded: signal HIGH beyond the message's 2 bytes"),
        "{low}"
    );
    let whole = rows.iter().find(|r| r.contains(",B,")).unwrap();
    assert!(whole.ends_with(','), "{whole}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_input_of_only_malformed_lines_is_an_error_not_an_empty_success() {
    let mut child = bin()
        .args(["decode", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"(0.0) can0 3D0#0000\n(0.000000) can0 3D0#00G0\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no CAN frame in <stdin>: all 2 records are malformed"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());
}

/// A capture none of whose frames is in the DBC is the wrong DBC far more often than a
/// capture worth decoding: everything is printed, undecoded, and the exit is 1 with the
/// reason, in every format (Parquet included: tests/cli_parquet.rs).
#[test]
fn a_dbc_that_knows_no_frame_of_the_capture_exits_1_saying_so() {
    let dir = temp_dir("no-known-frame");
    let dbc = dir.join("other-bus.dbc");
    std::fs::write(
        &dbc,
        "VERSION \"\"\nNS_ :\nBS_:\nBU_: X\nBO_ 2047 NOT_ON_THIS_BUS: 8 X\n SG_ A : 0|8@1+ (1,0) [0|255] \"\" X\n",
    )
    .unwrap();
    let sample = data("j11-sample.log");
    let frames = std::fs::read_to_string(&sample).unwrap().lines().count();
    for (format, per_frame) in [("text", 1), ("jsonl", 1), ("csv", 1)] {
        let o = run(&[
            "decode",
            "--dbc",
            dbc.to_str().unwrap(),
            "--format",
            format,
            sample.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{format}: {}", stderr(&o));
        let header = usize::from(format == "csv");
        assert_eq!(
            stdout(&o).lines().count(),
            frames * per_frame + header,
            "{format}"
        );
        let err = stderr(&o);
        assert!(
            err.contains(&format!(
                "no frame was decoded: none of the {frames} frames has the id of a message in {}",
                dbc.display()
            )),
            "{format}: {err}"
        );
    }
    // Without --dbc, the bundled DBC is named, and how to give another.
    let o = bin()
        .args(["decode", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .unwrap()
                .write_all(b"(1.000000) can0 7FF#0102\n(1.100000) can0 7FE#03\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 2);
    assert!(
        stderr(&o).contains("none of the 2 frames has the id of a message in the bundled Nissan Qashqai J11 DBC (give this bus's DBC with --dbc)"),
        "{}",
        stderr(&o)
    );
    // One known frame among them is enough for a success.
    let o = run(&["decode", sample.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A log cut short while being written (a full disk, a crash, a pulled cable) ends in a
/// record with no line end, which may have lost its last characters: `002#A1` of `002#A1F0`
/// would read as a one-byte frame. Every reader says so with its line and skips it (as a
/// malformed line: `--strict` stops there, exit 2): decode through the block pipeline (text
/// and Parquet), dump and convert through the sequential reader. A last line that is not a
/// record (a comment) is read as it is.
#[test]
fn a_record_cut_short_at_the_end_of_a_log_is_said_and_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.log");
    let whole = "(1700000000.000100) can0 002#A1F0\n(1700000000.000200) can0 180#1878\n";
    std::fs::write(&cut, format!("{whole}(1700000000.000300) can0 002#A1")).unwrap();
    let cut = cut.to_str().unwrap();
    let said = format!("{cut}:3:32: the last line has no line end");

    let o = run(&["decode", cut]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 2, "{}", stdout(&o));
    assert!(stderr(&o).contains(&said), "{}", stderr(&o));
    let o = run(&["decode", "--strict", cut]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(&said), "{}", stderr(&o));

    let o = run(&["dump", cut]);
    assert_eq!(stdout(&o).lines().count(), 2, "{}", stdout(&o));
    assert!(stderr(&o).contains(&said), "{}", stderr(&o));

    let out = dir.path().join("out.log");
    let o = run(&["convert", cut, out.to_str().unwrap()]);
    assert!(stderr(&o).contains(&said), "{}", stderr(&o));
    let converted = std::fs::read_to_string(&out).unwrap();
    assert_eq!(converted.lines().count(), 2, "{converted}");

    let set = dir.path().join("set");
    let o = run(&[
        "decode",
        "--format",
        "parquet",
        "-o",
        set.to_str().unwrap(),
        cut,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains(&said), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("2 frames into frames/"),
        "{}",
        stderr(&o)
    );

    // A comment with no line end is not a record: nothing to say.
    let comment = dir.path().join("comment.log");
    std::fs::write(&comment, format!("{whole}# end of capture")).unwrap();
    let o = run(&["decode", comment.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 2, "{}", stdout(&o));
    assert!(!stderr(&o).contains("line end"), "{}", stderr(&o));
}
