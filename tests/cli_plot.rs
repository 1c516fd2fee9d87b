//! `canrelearn plot`, driven through the real binary: pictures (SVG checked for its series,
//! titles and units; PNG for its signature and size), the terminal chart, and every refusal.
//! A picture needs a TrueType font: tests/all.sh installs fonts-dejavu-core.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "common/full_disk.rs"]
mod full_disk;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_canrelearn"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sample() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/j11-sample.log")
        .to_string_lossy()
        .into_owned()
}

fn out(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

#[test]
fn svg_has_every_series_with_units_labels_and_a_second_axis() {
    let dir = tempfile::tempdir().unwrap();
    let svg = out(dir.path(), "plot.svg");
    let o = run(&[
        "plot",
        &sample(),
        "STEERING_ANGLE",
        ",",
        "ENGINE_RPM",
        "-",
        "WHEEL_SPEED_F?",
        "-",
        "IGNITION_STATE",
        "-o",
        svg.to_str().unwrap(),
        "--title",
        "J11 sample",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("5 signals"), "{}", stderr(&o));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"));
    for want in [
        "J11 sample",
        "STEERING_ANGLE.STEERING_ANGLE (left)",
        "ENGINE_SPEED.ENGINE_RPM (right)",
        "WHEEL_SPEED_FRONT.WHEEL_SPEED_FL",
        "WHEEL_SPEED_FRONT.WHEEL_SPEED_FR",
        "STEERING_ANGLE [deg]",
        "ENGINE_RPM [rpm]",
        "km/h",
        // The value table on the axis of an enumeration.
        "\nON\n",
        "\nACC\n",
        "seconds from 2023-11-14T22:13:20Z",
    ] {
        assert!(text.contains(want), "the SVG lacks {want:?}");
    }
    // Lines were drawn: one polyline per segment, at least one per series.
    assert!(text.matches("<polyline").count() >= 5);
    // An existing picture is not overwritten without --force.
    let o = run(&[
        "plot",
        &sample(),
        "STEERING_ANGLE",
        "-o",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    let o = run(&[
        "plot",
        &sample(),
        "STEERING_ANGLE",
        "-o",
        svg.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn png_is_a_picture_of_the_asked_size() {
    let dir = tempfile::tempdir().unwrap();
    let png = out(dir.path(), "plot.png");
    let o = run(&[
        "plot",
        &sample(),
        "ENGINE_RPM",
        "--size",
        "800x500",
        "--start",
        "5",
        "--end",
        "15",
        "-o",
        png.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: width and height, big-endian.
    assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 800);
    assert_eq!(u32::from_be_bytes(bytes[20..24].try_into().unwrap()), 500);
    // No temporary file is left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn the_terminal_chart_is_text() {
    let o = run(&["plot", &sample(), "IGNITION_STATE", "--size", "90x20"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(text.lines().count(), 20);
    assert!(
        text.contains("IGNITION_STATE") && text.contains("ON") && text.contains("ACC"),
        "{text}"
    );
    assert!(
        text.chars().any(|c| ('\u{2801}'..='\u{28FF}').contains(&c)),
        "{text}"
    );
}

#[test]
fn refusals_are_loud() {
    let dir = tempfile::tempdir().unwrap();
    let svg = out(dir.path(), "x.svg");
    let s = svg.to_str().unwrap();
    // A pattern matching nothing in the DBC.
    let o = run(&["plot", &sample(), "NO_SUCH_SIGNAL", "-o", s]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no signal of the DBC matches NO_SUCH_SIGNAL"),
        "{}",
        stderr(&o)
    );
    // Signals the DBC has but the log never carries.
    let log = dir.path().join("other.log");
    std::fs::write(
        &log,
        "(1700000000.000000) can0 123#01\n(1700000000.010000) can0 123#02\n",
    )
    .unwrap();
    let o = run(&["plot", log.to_str().unwrap(), "ENGINE_RPM", "-o", s]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("none of the 1 selected signal appears"),
        "{}",
        stderr(&o)
    );
    // No log, a wrong extension, a bad time.
    let o = run(&["plot", "ENGINE_RPM"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no log to plot"), "{}", stderr(&o));
    let o = run(&[
        "plot",
        &sample(),
        "ENGINE_RPM",
        "-o",
        dir.path().join("x.pdf").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(".svg or .png"), "{}", stderr(&o));
    let o = run(&["plot", &sample(), "ENGINE_RPM", "--start", "yesterday"]);
    assert_eq!(o.status.code(), Some(2));
    // Nothing was written by any of them.
    assert!(!svg.exists());
    // A selected signal that never appears beside one that does: said, and drawn.
    let rpm = dir.path().join("rpm.log");
    std::fs::write(
        &rpm,
        "(1700000000.000000) can0 180#0100000000000000\n(1700000000.010000) can0 180#0200000000000000\n",
    )
    .unwrap();
    let o = run(&[
        "plot",
        rpm.to_str().unwrap(),
        "ENGINE_RPM",
        "COOLANT_TEMP",
        "--size",
        "80x20",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o)
            .contains("1 selected signal never appears in the logs: ENGINE_STATUS.COOLANT_TEMP"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn nodes_draw_what_watch_judges() {
    // The sample: the AV unit is silent from about 8 s to 14 s, lost at 9.99 s.
    let o = run(&["plot", "--nodes", &sample(), "--size", "120x10"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    let av = text.lines().find(|l| l.starts_with("AV ")).expect(&text);
    let bcm = text.lines().find(|l| l.starts_with("BCM ")).expect(&text);
    assert!(av.contains('X') && !bcm.contains('X'), "{text}");
    // The loss sits at half the capture (10 s to 14 s of 20 s).
    let row: Vec<char> = av.split('|').nth(1).unwrap().chars().collect();
    let first_x = row.iter().position(|&c| c == 'X').unwrap() as f64 / row.len() as f64;
    assert!((0.45..0.55).contains(&first_x), "{first_x} {av}");
    let dir = tempfile::tempdir().unwrap();
    let svg = out(dir.path(), "nodes.svg");
    let o = run(&["plot", "--nodes", &sample(), "-o", svg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("7 nodes, 1 loss"), "{}", stderr(&o));
    let text = std::fs::read_to_string(&svg).unwrap();
    for want in ["\nAV\n", "\nIPDM_ER\n", "\nlost\n", "\nnot armed\n"] {
        assert!(text.contains(want), "the SVG lacks {want:?}");
    }
    // A watch that never arms: said, and exit 6.
    let o = run(&[
        "plot",
        "--nodes",
        &sample(),
        "--arm-on",
        "BODY_STATUS.IGNITION_STATE=9",
        "--size",
        "80x10",
    ]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert!(stderr(&o).contains("not armed"), "{}", stderr(&o));
    // Patterns do not go with --nodes.
    let o = run(&["plot", "--nodes", &sample(), "ENGINE_RPM"]);
    assert_eq!(o.status.code(), Some(2));
}

/// A BMS registration rehearsed against the in-process simulated car, its report kept.
fn rehearsed_report(dir: &Path, extra: &[&str]) -> PathBuf {
    let report = out(dir, "run.json");
    let mut args = vec![
        "run",
        "bms-battery-registration",
        "--set",
        "capacity_ah=70",
        "--set",
        "battery_type=agm",
        "--report",
        report.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    report
}

#[test]
fn run_report_draws_polled_values_watched_signals_and_steps() {
    let dir = tempfile::tempdir().unwrap();
    let report = rehearsed_report(dir.path(), &["--simulate", "--yes"]);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    // The simulated IPDM answers "running" (0) then "done" (1) to the status poll.
    let polls = json["polls"].as_array().unwrap();
    assert!(polls.len() >= 2, "{json:#}");
    assert!(
        polls.iter().all(|p| p["step"] == "wait-registration"),
        "{json:#}"
    );
    assert_eq!(polls.first().unwrap()["value"], 0.0);
    assert_eq!(polls.last().unwrap()["value"], 1.0);
    assert!(
        !json["signals"]["BODY_STATUS.IGNITION_STATE"]["samples"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{json:#}"
    );

    let svg = out(dir.path(), "run.svg");
    let o = run(&[
        "plot",
        "--run",
        report.to_str().unwrap(),
        "-o",
        svg.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("bms-battery-registration completed"),
        "{}",
        stderr(&o)
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    for s in [
        "wait-registration (polled)",
        "BODY_STATUS.IGNITION_STATE",
        "ENGINE_STATUS.ENGINE_RUNNING",
        // Step labels.
        "open-session",
        "register-battery",
    ] {
        assert!(text.contains(s), "{s} missing from the picture");
    }

    // The terminal chart lists the steps with their spans.
    let o = run(&["plot", "--run", report.to_str().unwrap(), "--size", "80x30"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let chart = String::from_utf8_lossy(&o.stdout);
    assert!(chart.contains("wait-registration (polled)"), "{chart}");
    let steps: Vec<&str> = chart.lines().filter(|l| l.contains(" .. ")).collect();
    assert_eq!(
        steps.len(),
        json["steps"].as_array().unwrap().len(),
        "{chart}"
    );
    assert!(!chart.contains("FAILED"), "{chart}");
}

#[test]
fn run_report_refusals_are_loud() {
    let dir = tempfile::tempdir().unwrap();
    // A dry run measures nothing: nothing to plot is an error, not an empty picture.
    let report = rehearsed_report(dir.path(), &["--dry-run"]);
    let o = run(&["plot", "--run", report.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no polled value"), "{}", stderr(&o));
    assert!(stderr(&o).contains("dry run"), "{}", stderr(&o));

    // Not a report: the file, line and column are named.
    let bogus = out(dir.path(), "bogus.json");
    std::fs::write(&bogus, "{\"procedure\": 3}\n").unwrap();
    let o = run(&["plot", "--run", bogus.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("bogus.json:1:"), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a run report"), "{}", stderr(&o));

    // Logs or patterns with --run are refused, and so is --nodes.
    let o = run(&["plot", "--run", report.to_str().unwrap(), &sample()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = run(&["plot", "--run", report.to_str().unwrap(), "--nodes"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = run(&[
        "plot",
        "--run",
        out(dir.path(), "missing.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot read the run report"),
        "{}",
        stderr(&o)
    );
}

/// A picture that cannot be written whole (past the file size limit, as on a full disk) is
/// a write error, exit 4, and no truncated picture is left under its name: SVG and PNG.
#[test]
fn a_picture_that_cannot_be_written_is_exit_4_and_not_left_truncated() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["all.svg", "all.png"] {
        let picture = out(dir.path(), name);
        let p = picture.to_str().unwrap();
        // Every signal of the sample: a picture of well over the limit.
        let args = ["plot", &sample(), "*", "-o", p, "--size", "2400x2400"];
        let o = full_disk::run_with_file_limit(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(4), "{name}: {err}");
        assert!(err.contains(&format!("cannot write {p}")), "{err}");
        assert!(err.contains("File too large"), "{err}");
        assert!(!picture.exists(), "a truncated {name} was left");
        // The same picture without the limit is larger than the limit (so the test can fail).
        let o = run(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let len = std::fs::metadata(&picture).unwrap().len();
        assert!(len > full_disk::LIMIT_BYTES as u64, "{name}: {len} bytes");
    }
}
