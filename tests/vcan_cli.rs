//! `record`, `dump` and `replay` on real vcan interfaces, against can-utils (`candump`,
//! `cangen`, `cansend`, `canplayer`).
//!
//! Built only with `--features vcan-tests`; run with `tests/vm/run-vcan-tests.sh` (native vcan,
//! or a QEMU VM). Without the interfaces every test fails with a message saying how to run
//! them: none is skipped. Timing figures (replay lateness against canplayer) are printed, not
//! asserted: run with `-- --nocapture` to see them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The two interfaces, or a failure telling how to run these tests.
fn ifaces() -> (String, String) {
    let spec = std::env::var("CANRELEARN_VCAN").unwrap_or_default();
    let mut it = spec.split(',').filter(|s| !s.is_empty());
    if let (Some(a), Some(b)) = (it.next(), it.next()) {
        return (a.to_string(), b.to_string());
    }
    let exists = |i: &str| Path::new(&format!("/sys/class/net/{i}")).exists();
    if exists("vcan0") && exists("vcan1") {
        return ("vcan0".into(), "vcan1".into());
    }
    panic!(
        "these tests need two vcan interfaces and can-utils: run them with \
         `tests/vm/run-vcan-tests.sh` (native vcan, or a QEMU VM when the kernel has none)"
    );
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_canrelearn"))
}

fn sh(cmd: &str) -> Output {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("canrelearn-vcan-cli-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The frame part (`ID#DATA`) of every frame line, without timestamps and interfaces.
fn frames_of(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with('('))
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect()
}

fn count_in(path: &Path, needle: &str) -> usize {
    fs::read_to_string(path)
        .map(|t| t.matches(needle).count())
        .unwrap_or(0)
}

/// Wait until `cond` holds, polling; fail with `what` after `limit`.
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

const MARK: &str = "7FF#A55AC3";

/// Send marker `n` until every file in `files` shows it: the recorders are listening (or,
/// after traffic, have caught up with it). On a timeout, says which files lack it.
fn sync(iface: &str, n: u8, files: &[&Path]) {
    let frame = format!("{MARK}{n:02X}");
    let start = Instant::now();
    loop {
        sh(&format!("cansend {iface} {frame}"));
        std::thread::sleep(Duration::from_millis(100));
        let missing: Vec<String> = files
            .iter()
            .filter(|f| count_in(f, &frame) == 0)
            .map(|f| {
                let size = fs::metadata(f).map(|m| m.len()).unwrap_or(0);
                format!("{} ({size} bytes)", f.display())
            })
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "marker {frame} never reached: {}",
            missing.join(", ")
        );
    }
}

/// Frames strictly between the last start marker and the first end marker.
fn between_markers(frames: &[String], start: u8, end: u8) -> Vec<String> {
    let s = format!("{MARK}{start:02X}");
    let e = format!("{MARK}{end:02X}");
    let first = frames.iter().rposition(|f| *f == s).expect("start marker") + 1;
    let last = frames.iter().position(|f| *f == e).expect("end marker");
    frames[first..last].to_vec()
}

fn interrupt(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let start = Instant::now();
    while child.try_wait().ok().flatten().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "process did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Spawn with stdout to `path` and stderr to `path.err` (a file, never an unread pipe that
/// could fill and block the process).
fn spawn_to_file(cmd: &mut Command, path: &Path) -> Child {
    let err = path.with_extension("err");
    cmd.stdout(fs::File::create(path).unwrap())
        .stderr(fs::File::create(err).unwrap())
        .spawn()
        .expect("spawn")
}

/// Mixed traffic: `cangen` classic/extended/FD/BRS/remote plus specific frames.
fn mixed_traffic(iface: &str) {
    sh(&format!("cangen {iface} -n 150 -g 2 -m"));
    sh(&format!("cangen {iface} -n 50 -g 2 -e"));
    sh(&format!("cangen {iface} -n 50 -g 2 -f -b"));
    sh(&format!("cangen {iface} -n 20 -g 2 -R"));
    for f in [
        "123#",
        "12345678#DEADBEEF",
        "321##1112233445566778899AABBCCDDEEFF00",
        "321##3",
        "456#R",
        "456#R3",
    ] {
        sh(&format!("cansend {iface} {f}"));
    }
}

#[test]
fn test_record_captures_exactly_what_candump_captures() {
    let _g = lock();
    let (if0, _) = ifaces();
    let ours = tmp("record-ours.log");
    let theirs = tmp("record-candump.log");
    let mut rec = spawn_to_file(
        bin().args(["record", &if0, "-o", ours.to_str().unwrap()]),
        &tmp("x"),
    );
    let mut dump = spawn_to_file(Command::new("candump").args(["-L", &if0]), &theirs);
    sync(&if0, 1, &[&ours, &theirs]);
    mixed_traffic(&if0);
    sync(&if0, 2, &[&ours, &theirs]);
    interrupt(&mut rec);
    interrupt(&mut dump);
    let a = between_markers(&frames_of(&fs::read_to_string(&ours).unwrap()), 1, 2);
    let b = between_markers(&frames_of(&fs::read_to_string(&theirs).unwrap()), 1, 2);
    assert_eq!(a.len(), 276, "all generated frames recorded");
    assert_eq!(a, b, "record and candump -L saw the same frames");
    // Our log is what candump writes, line shape included: `(SECS.USECS) IFACE FRAME`.
    let text = fs::read_to_string(&ours).unwrap();
    for line in text.lines().take(20) {
        let (ts, rest) = line.split_once(") ").unwrap();
        assert!(ts.starts_with('(') && ts.len() == 18, "{line}");
        assert!(rest.starts_with(&format!("{if0} ")), "{line}");
    }
}

#[test]
fn test_candump_logs_decode_and_canplayer_replays_ours() {
    let _g = lock();
    let (if0, if1) = ifaces();
    // Our record of canplayer playing our own log of mixed traffic.
    let ours = tmp("cp-ours.log");
    let mut rec = spawn_to_file(
        bin().args(["record", &if0, "-o", ours.to_str().unwrap()]),
        &tmp("y"),
    );
    let theirs = tmp("cp-candump.log");
    let mut dump = spawn_to_file(Command::new("candump").args(["-L", &if0]), &theirs);
    sync(&if0, 3, &[&ours, &theirs]);
    mixed_traffic(&if0);
    // One frame of the bundled DBC (AV_STATUS): cangen's random ids may miss all of them, and
    // a decode that decodes nothing exits 1.
    sh(&format!("cansend {if0} 35D#0102030405060708"));
    sync(&if0, 4, &[&ours, &theirs]);
    interrupt(&mut rec);
    interrupt(&mut dump);
    // We read candump's log strictly: every line parses.
    let out = bin()
        .args([
            "decode",
            "--strict",
            "--format",
            "jsonl",
            theirs.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoded = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        decoded.lines().count(),
        frames_of(&fs::read_to_string(&theirs).unwrap()).len()
    );

    // canplayer accepts our log: play it onto if1 and record that with candump.
    let played = tmp("cp-played.log");
    let mut dump1 = spawn_to_file(Command::new("candump").args(["-L", &if1]), &played);
    sync(&if1, 5, &[&played]);
    sh(&format!("canplayer -t -I {} {if1}={if0}", ours.display()));
    sync(&if1, 6, &[&played]);
    interrupt(&mut dump1);
    let sent = between_markers(&frames_of(&fs::read_to_string(&ours).unwrap()), 3, 4);
    let got = between_markers(&frames_of(&fs::read_to_string(&played).unwrap()), 5, 6);
    // canplayer replays the markers of our log too; drop them.
    let got: Vec<String> = got.into_iter().filter(|f| !f.starts_with(MARK)).collect();
    assert_eq!(got, sent, "canplayer replayed our log frame for frame");
}

/// A replay plan: `n` frames with gaps of 0.5 to 8 ms, mixed kinds, as a candump log.
fn plan(n: usize, iface: &str) -> (String, Vec<(f64, String)>) {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut t = 1_700_000_000.0f64;
    let mut log = String::new();
    let mut frames = Vec::new();
    for i in 0..n {
        t += 0.0005 + (rnd() % 7500) as f64 / 1e6;
        let frame = match i % 5 {
            0 => format!("{:03X}#{:016X}", rnd() % 0x7FF, rnd()),
            1 => format!("{:08X}#{:08X}", rnd() % 0x1FFF_FFFF, rnd() as u32),
            2 => format!(
                "{:03X}##5{:032X}",
                rnd() % 0x7FF,
                u128::from(rnd()) << 64 | u128::from(rnd())
            ),
            3 => format!("{:03X}#R", rnd() % 0x7FF),
            _ => format!("{:03X}#{:04X}", rnd() % 0x7FF, rnd() as u16),
        };
        log.push_str(&format!("({t:.6}) {iface} {frame}\n"));
        frames.push((t, frame));
    }
    (log, frames)
}

/// The candump lines strictly between the last start marker and the first end marker.
fn lines_between_markers(text: &str, start: u8, end: u8) -> Vec<String> {
    let s = format!("{MARK}{start:02X}");
    let e = format!("{MARK}{end:02X}");
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with('(')).collect();
    let first = lines
        .iter()
        .rposition(|l| l.ends_with(&s))
        .expect("start marker")
        + 1;
    let last = lines
        .iter()
        .position(|l| l.ends_with(&e))
        .expect("end marker");
    lines[first..last].iter().map(|l| l.to_string()).collect()
}

/// Arrival lateness of `got` (candump lines) against the plan, in ms: median, p99, max. The
/// replay's start is arbitrary, so each frame's offset from the plan is measured against the
/// frame that came earliest relative to the plan (every value is then >= 0).
fn lateness(got: &[String], plan: &[(f64, String)]) -> (f64, f64, f64) {
    let arrivals: Vec<f64> = got
        .iter()
        .map(|l| l[1..l.find(')').unwrap()].parse::<f64>().unwrap())
        .collect();
    assert_eq!(arrivals.len(), plan.len());
    let offsets: Vec<f64> = arrivals.iter().zip(plan).map(|(a, (p, _))| a - p).collect();
    let best = offsets.iter().copied().fold(f64::INFINITY, f64::min);
    let mut late: Vec<f64> = offsets.iter().map(|o| (o - best) * 1e3).collect();
    late.sort_by(|a, b| a.total_cmp(b));
    let q = |x: f64| late[((x * late.len() as f64) as usize).min(late.len() - 1)];
    (q(0.5), q(0.99), *late.last().unwrap())
}

/// How far the first frame arrived from the schedule the others kept, in ms: its offset from
/// the plan minus the median offset (a user aligning candump's arrivals on the plan sees this).
fn first_frame_deviation(got: &[String], plan: &[(f64, String)]) -> f64 {
    let mut offsets: Vec<f64> = got
        .iter()
        .zip(plan)
        .map(|(l, (p, _))| l[1..l.find(')').unwrap()].parse::<f64>().unwrap() - p)
        .collect();
    let first = offsets[0];
    offsets.sort_by(|a, b| a.total_cmp(b));
    (first - offsets[offsets.len() / 2]) * 1e3
}

#[test]
fn test_replay_delivers_a_plan_complete_in_order_and_on_time_beside_canplayer() {
    let _g = lock();
    let (if0, if1) = ifaces();
    let (log, planned) = plan(2000, "logif");
    let plan_path = tmp("plan.log");
    fs::write(&plan_path, &log).unwrap();
    let want: Vec<String> = planned.iter().map(|(_, f)| f.clone()).collect();

    let mut figures = Vec::new();
    for tool in ["canrelearn", "canplayer"] {
        let got_path = tmp(&format!("replayed-{tool}.log"));
        let mut dump = spawn_to_file(Command::new("candump").args(["-L", &if1]), &got_path);
        sync(&if1, 7, &[&got_path]);
        let status = if tool == "canrelearn" {
            bin()
                .args(["replay", plan_path.to_str().unwrap(), "--map"])
                .arg(format!("{if1}=logif"))
                .arg("--yes")
                .status()
                .unwrap()
        } else {
            Command::new("canplayer")
                .args(["-I", plan_path.to_str().unwrap()])
                .arg(format!("{if1}=logif"))
                .status()
                .unwrap()
        };
        assert!(status.success(), "{tool} failed");
        sync(&if1, 8, &[&got_path]);
        interrupt(&mut dump);
        let text = fs::read_to_string(&got_path).unwrap();
        let got = between_markers(&frames_of(&text), 7, 8);
        assert_eq!(got, want, "{tool}: every frame, in order");
        let lines = lines_between_markers(&text, 7, 8);
        figures.push((
            tool,
            lateness(&lines, &planned),
            first_frame_deviation(&lines, &planned),
        ));
    }
    for (tool, (median, p99, max), first) in &figures {
        eprintln!(
            "replay timing over {} frames ({tool}): median {median:.3} ms, p99 {p99:.3} ms, max {max:.3} ms; first frame {first:+.3} ms off the others' schedule",
            planned.len()
        );
    }
    // The timing figures are reported, not asserted: the project's tests make no timing
    // assertions. (This one compared our first frame's offset with canplayer's and failed in
    // a loaded emulated guest where every later frame ran 5 ms late, which makes an on-time
    // first frame look early.) The first frame is sent at once and anchors the schedule
    // (src/cli/replay.rs); completeness and order are asserted above.
    let _ = if0;
}

#[test]
fn test_replay_waits_on_a_full_queue_and_delivers_every_frame() {
    let _g = lock();
    let (_, if1) = ifaces();
    let (log, planned) = plan(400, "logif");
    let plan_path = tmp("plan-enobufs.log");
    fs::write(&plan_path, &log).unwrap();
    let got_path = tmp("replayed-enobufs.log");
    let mut dump = spawn_to_file(Command::new("candump").args(["-L", &if1]), &got_path);
    sync(&if1, 9, &[&got_path]);
    // vcan's `noqueue` never fills; a token bucket makes the kernel answer ENOBUFS.
    sh(&format!(
        "ip link set {if1} txqueuelen 1 && tc qdisc replace dev {if1} root tbf rate 100kbit burst 256 limit 256"
    ));
    let out = bin()
        .args([
            "replay",
            plan_path.to_str().unwrap(),
            "--ignore-timestamps",
            "--yes",
            "--map",
        ])
        .arg(format!("{if1}=logif"))
        .output()
        .unwrap();
    sh(&format!(
        "tc qdisc del dev {if1} root; ip link set {if1} txqueuelen 10"
    ));
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{report}");
    sync(&if1, 10, &[&got_path]);
    interrupt(&mut dump);
    let got = between_markers(&frames_of(&fs::read_to_string(&got_path).unwrap()), 9, 10);
    let want: Vec<String> = planned.into_iter().map(|(_, f)| f).collect();
    assert_eq!(got, want, "every frame, in order, despite ENOBUFS");
    let waits: u64 = report
        .split("transmit queue full ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the report counts queue-full waits");
    assert!(waits > 0, "the queue did fill: {report}");
    eprintln!("ENOBUFS replay: {report}");
}

#[test]
fn test_dump_shows_live_frames_decoded() {
    let _g = lock();
    let (if0, _) = ifaces();
    let mut child = bin()
        .args([
            "dump", &if0, "--format", "jsonl", "--count", "3", "--filter", "60D",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Give dump time to open its socket: send until it has seen three.
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "dump did not finish"
        );
        sh(&format!("cansend {if0} 60D#0006000000000000"));
        sh(&format!("cansend {if0} 123#00"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["message"], "BODY_STATUS", "{text}");
        assert_eq!(v["signals"]["IGNITION_STATE"], 3, "{text}");
        assert_eq!(v["interface"], if0.as_str(), "{text}");
    }
}

#[test]
fn test_missing_interface_exits_4() {
    let _g = lock();
    let _ = ifaces();
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/j11-sample.log");
    for args in [
        &["dump", "vcan97"][..],
        &["record", "vcan97", "-o", "/dev/null"],
        &["replay", sample, "--iface", "vcan97", "--yes"],
    ] {
        let out = bin().args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(4), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("vcan97"));
    }
}

#[test]
fn test_live_watch_sees_a_node_stop_and_restart() {
    let _g = lock();
    let (if0, _) = ifaces();
    let events = tmp("watch.jsonl");
    let mut watch = spawn_to_file(
        bin().args([
            "watch",
            &if0,
            "--format",
            "jsonl",
            "--always-armed",
            "--grace",
            "0",
            "--node",
            "TESTNODE",
            "--expect",
            "123:50:TESTNODE",
        ]),
        &events,
    );
    std::thread::sleep(Duration::from_millis(500));
    // 0x123 every 50 ms for 1.5 s, silent 2.5 s (over the 2 s timeout), then again.
    sh(&format!("cangen {if0} -I 123 -L 8 -D i -g 50 -n 30"));
    std::thread::sleep(Duration::from_millis(2500));
    sh(&format!("cangen {if0} -I 123 -L 8 -D i -g 50 -n 20"));
    wait_for("the restored event", Duration::from_secs(20), || {
        count_in(&events, "\"restored\"") >= 2
    });
    interrupt(&mut watch);
    let text = fs::read_to_string(&events).unwrap();
    let kinds: Vec<(String, bool)> = text
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["event"].as_str().unwrap().to_string(),
                v["message"].is_null(),
            )
        })
        .collect();
    // The message and the node, each lost then restored (the node may come first).
    assert_eq!(kinds.len(), 4, "{text}");
    assert_eq!(kinds.iter().filter(|k| k.0 == "lost").count(), 2, "{text}");
    assert!(kinds[..2].iter().all(|k| k.0 == "lost"), "{text}");
    assert!(kinds[2..].iter().all(|k| k.0 == "restored"), "{text}");
}

/// CPU seconds (user + system) a process has used so far, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map(|r| r.1).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the ')'.
    (ticks(11) + ticks(12)) / 100.0
}

/// One flood of `n` frames at cangen gap `gap_ms`, recorded by `record` and candump and
/// watched by `watch`: (frames/s sent, ours, candump's, watch's, CPU s of each).
fn flood(
    if0: &str,
    n: usize,
    gap_ms: &str,
    first_marker: u8,
) -> (f64, usize, usize, usize, [f64; 3]) {
    let ours = tmp(&format!("flood-ours-{first_marker}.log"));
    let theirs = tmp(&format!("flood-candump-{first_marker}.log"));
    let watched = tmp(&format!("flood-watch-{first_marker}.txt"));
    let mut rec = spawn_to_file(
        bin().args(["record", if0, "-o", ours.to_str().unwrap()]),
        &tmp("z"),
    );
    let mut dump = spawn_to_file(Command::new("candump").args(["-L", if0]), &theirs);
    let mut watch = spawn_to_file(
        bin().args([
            "watch",
            if0,
            "--always-armed",
            "--node",
            "FLOOD",
            "--expect",
            "7FF:60000:FLOOD",
        ]),
        &watched,
    );
    sync(if0, first_marker, &[&ours, &theirs]);
    std::thread::sleep(Duration::from_millis(300));
    let cpu0 = [
        cpu_seconds(rec.id()),
        cpu_seconds(dump.id()),
        cpu_seconds(watch.id()),
    ];
    let start = Instant::now();
    sh(&format!("cangen {if0} -g {gap_ms} -n {n} -I i -L 8 -D i"));
    let secs = start.elapsed().as_secs_f64();
    sync(if0, first_marker + 1, &[&ours, &theirs]);
    let cpu = [
        cpu_seconds(rec.id()) - cpu0[0],
        cpu_seconds(dump.id()) - cpu0[1],
        cpu_seconds(watch.id()) - cpu0[2],
    ];
    interrupt(&mut watch);
    interrupt(&mut rec);
    interrupt(&mut dump);
    let a = between_markers(
        &frames_of(&fs::read_to_string(&ours).unwrap()),
        first_marker,
        first_marker + 1,
    )
    .len();
    let b = between_markers(
        &frames_of(&fs::read_to_string(&theirs).unwrap()),
        first_marker,
        first_marker + 1,
    )
    .len();
    let summary = fs::read_to_string(&watched).unwrap();
    let w: usize = summary
        .split(" frames)")
        .next()
        .and_then(|h| h.rsplit(", ").next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("watch's summary counts frames: {summary}"));
    (n as f64 / secs, a, b, w, cpu)
}

#[test]
fn test_record_and_watch_keep_up_with_a_flood_beside_candump() {
    let _g = lock();
    let (if0, _) = ifaces();
    // Flat out (in a VM every reader may drop here): the recorder drops no more than candump
    // beside it in the same run (regression: 42621 against candump's 46951 of 50000).
    let n = 50_000;
    let (rate, a, b, w, cpu) = flood(&if0, n, "0", 11);
    eprintln!(
        "flood, cangen -g 0: {n} frames at {rate:.0} frames/s; record {a} (CPU {:.2} s), candump {b} (CPU {:.2} s), watch {w} (CPU {:.2} s)",
        cpu[0], cpu[1], cpu[2]
    );
    assert!(
        a >= b,
        "record kept {a}, candump {b}: the recorder dropped more"
    );
    // At a rate candump keeps up with, we must too: no drops where candump has none.
    let n = 10_000;
    let (rate, a, b, w, cpu) = flood(&if0, n, "0.2", 13);
    eprintln!(
        "flood, cangen -g 0.2: {n} frames at {rate:.0} frames/s; record {a} (CPU {:.2} s), candump {b} (CPU {:.2} s), watch {w} (CPU {:.2} s)",
        cpu[0], cpu[1], cpu[2]
    );
    if b == n {
        assert_eq!(a, n, "candump had every frame, so must record");
        assert!(w >= n, "candump had every frame, so must watch ({w})");
    }
}

/// A healthy capture written by `candump -L` while two ids run (0x123 every 20 ms, 0x456
/// every 50 ms): `dbc infer` measures both; `watch --baseline` live on the interface, with
/// only 0x123 sent, reports exactly 0x456 lost.
#[test]
fn test_baseline_from_a_candump_capture_watches_live() {
    let _g = lock();
    let (if0, _) = ifaces();
    let healthy = tmp("baseline-healthy.log");
    let mut dump = spawn_to_file(Command::new("candump").args(["-L", &if0]), &healthy);
    std::thread::sleep(Duration::from_millis(300));
    let mut fast = Command::new("cangen")
        .args([
            &if0, "-I", "123", "-L", "8", "-D", "i", "-g", "20", "-n", "150",
        ])
        .spawn()
        .unwrap();
    sh(&format!("cangen {if0} -I 456 -L 2 -D r -g 50 -n 60"));
    assert!(fast.wait().unwrap().success());
    std::thread::sleep(Duration::from_millis(200));
    interrupt(&mut dump);

    let dbc = tmp("baseline.dbc");
    let _ = fs::remove_file(&dbc);
    let o = bin()
        .args([
            "dbc",
            "infer",
            healthy.to_str().unwrap(),
            "-o",
            dbc.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let db =
        canrelearn::dbc::Database::from_bytes(&fs::read(&dbc).unwrap(), "baseline.dbc").unwrap();
    let cycle = |id: u16| {
        db.message_by_id(canrelearn::frame::Id::standard(id).unwrap())
            .and_then(|m| m.cycle_time_ms())
    };
    let (a, b) = (cycle(0x123).unwrap(), cycle(0x456).unwrap());
    println!("dbc infer over candump's capture: 0x123 every {a} ms, 0x456 every {b} ms");
    assert!((15..=40).contains(&a), "{a}");
    assert!((45..=80).contains(&b), "{b}");

    let events = tmp("baseline-watch.jsonl");
    let mut watch = spawn_to_file(
        bin().args([
            "watch",
            "--baseline",
            healthy.to_str().unwrap(),
            &if0,
            "--format",
            "jsonl",
            "--grace",
            "0",
        ]),
        &events,
    );
    std::thread::sleep(Duration::from_millis(500));
    sh(&format!("cangen {if0} -I 123 -L 8 -D i -g 20 -n 150"));
    wait_for("the lost event", Duration::from_secs(20), || {
        count_in(&events, "\"lost\"") >= 2
    });
    interrupt(&mut watch);
    let text = fs::read_to_string(&events).unwrap();
    let lost: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["event"] == "lost")
        .collect();
    assert!(!lost.is_empty(), "{text}");
    assert!(lost.iter().all(|v| v["node"] == "id 456"), "{text}");
    assert!(lost.iter().any(|v| v["id"] == 0x456), "{text}");
}
