//! Safety and no data loss at the command line (issue "consent, signals, files, bounds, no
//! panics"): damaged compressed logs, outputs that would overwrite inputs, live pipes,
//! signals with real processes, closed pipes, bounds. Each test is named after what it pins.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_canrelearn"))
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/j11-sample.log")
}

fn run(args: &[&str]) -> Output {
    bin()
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The bundled sample gzip-compressed and cut at two thirds (a recorder killed hard), and the
/// frame lines a decoder can read before the damage.
fn truncated_gzip(dir: &Path) -> (PathBuf, Vec<String>) {
    let plain = std::fs::read(sample()).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&plain).unwrap();
    let gz = enc.finish().unwrap();
    let cut = &gz[..gz.len() * 2 / 3];
    let path = dir.join("cut.log.gz");
    std::fs::write(&path, cut).unwrap();
    // What decompresses before the damage, whole lines only.
    let mut d = flate2::read::MultiGzDecoder::new(cut);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match d.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let whole = got.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let lines: Vec<String> = String::from_utf8_lossy(&got[..whole])
        .lines()
        .map(str::to_string)
        .collect();
    assert!(lines.len() > 1000 && lines.len() < 6892, "{}", lines.len());
    (path, lines)
}

fn frame_part(line: &str) -> String {
    line.split_whitespace()
        .nth(2)
        .unwrap_or_default()
        .to_string()
}

/// Regression: a truncated .gz decoded to a different, smaller number of lines on every run
/// (parallel decode), and dump/sniff/replay/record exited 0 with a coloured log line. Every
/// reader now delivers every complete frame before the damage, in order, then exits 2 naming
/// the file, the last good line and the cause.
#[test]
fn damaged_gzip_keeps_every_good_frame_then_exits_2_in_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let (gz, lines) = truncated_gzip(dir.path());
    let g = gz.to_str().unwrap();
    let want: Vec<String> = lines.iter().map(|l| frame_part(l)).collect();
    let check_err = |o: &Output, what: &str| {
        assert_eq!(o.status.code(), Some(2), "{what}: {}", text(&o.stderr));
        let e = text(&o.stderr);
        assert!(e.contains("cut.log.gz: damaged after line"), "{what}: {e}");
        assert!(e.contains("truncated"), "{what}: {e}");
        assert!(!e.contains("\x1b["), "{what}: no terminal colours: {e}");
    };
    // decode, several times, every -j: always the same, complete output.
    for jobs in ["1", "2", "4"] {
        for _ in 0..2 {
            let o = run(&["decode", "-j", jobs, g]);
            check_err(&o, "decode");
            let out = text(&o.stdout);
            let got: Vec<String> = out.lines().map(frame_part).collect();
            assert_eq!(got, want, "decode -j {jobs}");
        }
    }
    // dump (candump lines), record (a log source), replay --dry-run.
    let o = run(&["dump", "--format", "candump", g]);
    check_err(&o, "dump");
    let got: Vec<String> = text(&o.stdout).lines().map(frame_part).collect();
    assert_eq!(got, want, "dump");
    let out = dir.path().join("copy.log");
    let o = run(&["record", g, "-o", out.to_str().unwrap()]);
    check_err(&o, "record");
    let got: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(frame_part)
        .collect();
    assert_eq!(got, want, "record");
    let o = run(&["replay", g, "--dry-run"]);
    check_err(&o, "replay --dry-run");
    assert_eq!(
        text(&o.stdout).lines().count(),
        want.len(),
        "replay --dry-run"
    );
    // watch, diag sniff, script from-capture: judged/decoded up to the damage, then exit 2.
    check_err(&run(&["watch", g]), "watch");
    check_err(&run(&["diag", "sniff", g]), "diag sniff");
    check_err(
        &run(&[
            "script",
            "from-capture",
            g,
            "--tx",
            "745",
            "--rx",
            "765",
            "-o",
            "-",
        ]),
        "script from-capture",
    );
}

/// Regression: `record -o same.log same.log` turned 6892 lines into 1424, exit 0.
#[test]
fn record_refuses_to_overwrite_its_input_and_existing_files() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("same.log");
    std::fs::copy(sample(), &log).unwrap();
    let before = std::fs::read(&log).unwrap();
    let l = log.to_str().unwrap();
    for force in [false, true] {
        let mut args = vec!["record", l, "-o", l];
        if force {
            args.push("--force");
        }
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("same file as the input"),
            "{}",
            text(&o.stderr)
        );
    }
    assert_eq!(std::fs::read(&log).unwrap(), before);
    let other = dir.path().join("other.log");
    std::fs::write(&other, "keep").unwrap();
    let o = run(&[
        "record",
        sample().to_str().unwrap(),
        "-o",
        other.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("--force"));
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "keep");
    let o = run(&[
        "record",
        sample().to_str().unwrap(),
        "-o",
        other.to_str().unwrap(),
        "--force",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(&other).unwrap().lines().count(),
        6892
    );
}

/// Regression: `dump --duration 1e19` panicked (exit 101).
#[test]
fn overflowing_durations_are_usage_errors() {
    for args in [
        &["dump", "--duration", "1e19", "-"][..],
        &["record", "can0", "-o", "-", "--duration", "1e300"],
        &["watch", "--min-timeout", "1e30", "-"],
        &["dump", "--duration=-1", "-"],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains("seconds"),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
}

/// Regression: `dump capture.lgo` (a typo) suggested `ip link add capture.lgo type vcan`.
#[test]
fn a_missing_log_is_a_missing_file_not_an_interface() {
    let o = run(&["dump", "capture.lgo"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let e = text(&o.stderr);
    assert!(e.contains("capture.lgo: no such file"), "{e}");
    assert!(!e.contains("ip link"), "{e}");
    // And the cause is said once.
    let o = run(&["decode", "/nonexistent/dir/x.log"]);
    let e = text(&o.stderr);
    assert_eq!(e.matches("no such file").count(), 1, "{e}");
}

/// Regression: `/dev/zero` as a log made dump and record read for ever; as a DBC it grew
/// without end.
#[test]
fn endless_or_unknown_inputs_are_refused() {
    let o = run(&["dump", "/dev/zero"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("not a capture"),
        "{}",
        text(&o.stderr)
    );
    let o = run(&["dbc", "check", "/dev/zero"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("larger than 64 MiB"),
        "{}",
        text(&o.stderr)
    );
    let o = run(&["script", "check", "/dev/zero"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("larger than 4 MiB"),
        "{}",
        text(&o.stderr)
    );
}

/// Regression: `dbc check FILE | head -1` exited 0 on a file with errors (2 without the pipe).
#[test]
fn dbc_check_keeps_its_verdict_when_the_pipe_closes() {
    let dir = tempfile::tempdir().unwrap();
    let dbc = dir.path().join("bad.dbc");
    let mut t = String::from("VERSION \"\"\nNS_ :\nBS_:\nBU_: N\n");
    for i in 0..2000 {
        t += &format!(
            "BO_ {} M{i}: 1 N\n SG_ A : 0|8@1+ (1,0) [0|0] \"\" N\n SG_ B : 4|8@1+ (1,0) [0|0] \"\" N\n",
            100 + i
        );
    }
    std::fs::write(&dbc, t).unwrap();
    let mut child = bin()
        .args(["dbc", "check", dbc.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reading end is closed now (dropped): like `| head -1`.
    let status = child.wait().unwrap();
    assert!(!first.is_empty());
    assert_eq!(status.code(), Some(2));
}

/// Regression: `decode LOG 2>&1 | head -1` panicked (exit 101) when warnings hit the closed
/// pipe. Output and warnings share one pipe that is closed after one line.
#[test]
fn printing_to_a_closed_pipe_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("bad-lines.log");
    let mut t = String::new();
    for i in 0..5000 {
        t += &format!("(1700000000.{i:06}) can0 60D#000600000000000\n"); // odd hex digits
        t += &format!("(1700000000.{i:06}) can0 60D#0006000000000000\n");
    }
    std::fs::write(&log, t).unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    let mut child = bin()
        .args(["decode", log.to_str().unwrap()])
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(reader).read_line(&mut first).unwrap();
    let status = child.wait().unwrap();
    assert_ne!(status.code(), Some(101), "panicked");
    assert!(status.code().is_some(), "killed by a signal: {status:?}");
}

/// Waits (bounded) until `cond` holds.
fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Regression: `decode` from a pipe waited for a 64 KiB block; `candump -L can0 | canrelearn
/// decode` must show frames as they arrive.
#[test]
fn decode_from_a_pipe_is_live() {
    let mut child = bin()
        .arg("decode")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    // One line, the pipe kept open: its decoded line must come (reading blocks until it does).
    stdin
        .write_all(b"(1700000000.000100) can0 60D#0006000000000000\n")
        .unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("BODY_STATUS"), "{line}");
    stdin
        .write_all(b"(1700000000.000200) can0 60D#0006000000000000\n")
        .unwrap();
    stdin.flush().unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("000200"), "{line}");
    drop(stdin);
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// Sends `signal` to a child.
fn kill(child: &std::process::Child, signal: i32) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
}

/// Regression: from a FIFO, `record` and `dump` held the only runtime thread in a blocking
/// read: SIGTERM did not stop them, and 3 of 6 tries lost the frames already read. They now
/// stop at once on SIGTERM, SIGINT or SIGHUP, with everything received written.
#[test]
fn record_and_dump_from_a_fifo_stop_on_signals_and_keep_every_frame() {
    let lines: String = std::fs::read_to_string(sample())
        .unwrap()
        .lines()
        .take(500)
        .map(|l| format!("{l}\n"))
        .collect();
    for (signal, name) in [
        (libc::SIGTERM, "sigterm"),
        (libc::SIGINT, "sigint"),
        (libc::SIGHUP, "sighup"),
    ] {
        for cmd in ["record", "dump"] {
            let dir = tempfile::tempdir().unwrap();
            let fifo = dir.path().join("feed");
            mkfifo(&fifo);
            let out = dir.path().join("out.log");
            let mut c = bin();
            match cmd {
                "record" => c.args([
                    "record",
                    fifo.to_str().unwrap(),
                    "-o",
                    out.to_str().unwrap(),
                ]),
                _ => c.args(["dump", "--format", "candump", fifo.to_str().unwrap()]),
            };
            let mut child = c
                .stdout(std::fs::File::create(dir.path().join("stdout")).unwrap())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            // The writer keeps the FIFO open: the reader never sees its end.
            let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            w.write_all(lines.as_bytes()).unwrap();
            w.flush().unwrap();
            let written = || match cmd {
                "record" => std::fs::read_to_string(&out).unwrap_or_default(),
                _ => std::fs::read_to_string(dir.path().join("stdout")).unwrap_or_default(),
            };
            wait_until("every frame read", Duration::from_secs(30), || {
                written().lines().count() == 500
            });
            kill(&child, signal);
            let start = Instant::now();
            loop {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "{cmd} did not stop on {name}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            drop(w);
            let status = child.wait().unwrap();
            assert_eq!(written().lines().count(), 500, "{cmd} {name}: nothing lost");
            assert_eq!(
                status.code(),
                Some(128 + signal),
                "{cmd} {name}: a capture cut short says so"
            );
        }
    }
}

/// Regression: `replay --map vcan0=nope` replayed nothing and exited 0 without a word, and
/// `--dry-run` read the log twice (every warning printed twice).
#[test]
fn replay_says_when_nothing_is_replayed_and_reads_once() {
    let o = run(&[
        "replay",
        sample().to_str().unwrap(),
        "--map",
        "vcan0=nope",
        "--dry-run",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("nothing was replayed"),
        "{}",
        text(&o.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("one-bad.log");
    std::fs::write(
        &log,
        "(1.000000) can0 123#11\n(2.000000) can0 123#1\n(3.000000) can0 123#22\n",
    )
    .unwrap();
    let o = run(&["replay", log.to_str().unwrap(), "--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stderr).matches("odd number of hex digits").count(),
        1
    );
    assert_eq!(text(&o.stdout).lines().count(), 2);
}

/// Regression: `dump a.log b.log` gave one log's frames, then the other's (9 backwards jumps
/// on the bundled sample split in two): logs are merged by timestamp.
#[test]
fn dump_merges_logs_by_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let all = std::fs::read_to_string(sample()).unwrap();
    let (mut a, mut b) = (String::new(), String::new());
    for (i, l) in all.lines().enumerate() {
        let target = if i % 3 == 0 { &mut a } else { &mut b };
        target.push_str(l);
        target.push('\n');
    }
    let (pa, pb) = (dir.path().join("a.log"), dir.path().join("b.log"));
    std::fs::write(&pa, a).unwrap();
    std::fs::write(&pb, b).unwrap();
    let o = run(&[
        "dump",
        "--format",
        "candump",
        pa.to_str().unwrap(),
        pb.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let times: Vec<String> = text(&o.stdout)
        .lines()
        .map(|l| l.split(')').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(times.len(), 6892);
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
}

/// No frame is not an answer: `dump` and `record` whose sources give no frame (all filtered
/// out here) say so on stderr and exit 1, where a script would otherwise take an empty output
/// for a capture; `--count 0` asks for none and gets exit 0.
#[test]
fn dump_and_record_with_no_frame_say_so_and_exit_1() {
    let s = sample();
    let s = s.to_str().unwrap();
    let o = run(&["dump", s, "--filter", "7A1"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(o.stdout.is_empty());
    assert!(
        text(&o.stderr).contains("dump: no frame arrived that --filter lets through"),
        "{}",
        text(&o.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("empty.log");
    let o = run(&["record", s, "--filter", "7A1", "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let e = text(&o.stderr);
    assert!(e.contains("recorded 0 frames"), "{e}");
    assert!(
        e.contains("the recording is empty: no frame arrived"),
        "{e}"
    );
    // Frames through: exit 0; none asked for: exit 0.
    assert_eq!(run(&["dump", s, "--count", "3"]).status.code(), Some(0));
    assert_eq!(run(&["dump", s, "--count", "0"]).status.code(), Some(0));
}
