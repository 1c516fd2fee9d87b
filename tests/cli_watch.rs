//! `canrelearn watch` over logs with known dropouts, through the real binary.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_canrelearn"))
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/j11-sample.log")
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("runs")
}

fn events(o: &Output) -> Vec<Value> {
    String::from_utf8(o.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// (timestamp text, id) of every frame of the log.
fn frames(log: &str) -> Vec<(String, u32)> {
    log.lines()
        .filter_map(|l| {
            let ts = l.strip_prefix('(')?.split(')').next()?.to_string();
            let frame = l.split_whitespace().nth(2)?;
            let id = u32::from_str_radix(frame.split('#').next()?, 16).ok()?;
            Some((ts, id))
        })
        .collect()
}

fn micros(ts: &str) -> u64 {
    let (s, f) = ts.split_once('.').unwrap();
    s.parse::<u64>().unwrap() * 1_000_000 + f.parse::<u64>().unwrap()
}

/// The JSON number for a time in microseconds (as `decode`/`watch` write it, parsed back).
fn secs_text(us: u64) -> Option<f64> {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
        .parse()
        .ok()
}

#[test]
fn the_audio_units_dropout_in_the_sample_is_found_at_exact_times() {
    let o = run(&["watch", "--format", "jsonl", sample().to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let ev = events(&o);
    // Expected, computed from the log itself: for each AV message, the gap of 2 s or more.
    let log = std::fs::read_to_string(sample()).unwrap();
    let all = frames(&log);
    let mut expected = Vec::new();
    for id in [0x35Du32, 0x540, 0x541] {
        let times: Vec<u64> = all
            .iter()
            .filter(|f| f.1 == id)
            .map(|f| micros(&f.0))
            .collect();
        let gaps: Vec<(u64, u64)> = times
            .windows(2)
            .filter(|w| w[1] - w[0] >= 2_000_000)
            .map(|w| (w[0], w[1]))
            .collect();
        assert_eq!(gaps.len(), 1, "one dropout of {id:X} in the sample");
        expected.push((id, gaps[0]));
    }
    let lost: Vec<&Value> = ev.iter().filter(|e| e["event"] == "lost").collect();
    let restored: Vec<&Value> = ev.iter().filter(|e| e["event"] == "restored").collect();
    assert_eq!(lost.len(), 4, "three messages and the node: {ev:?}");
    assert_eq!(restored.len(), 4);
    for (id, (last, back)) in &expected {
        let l = lost.iter().find(|e| e["id"] == *id).unwrap();
        assert_eq!(l["node"], "AV");
        assert_eq!(l["last_seen"].as_f64(), secs_text(*last));
        assert_eq!(l["timestamp"].as_f64(), secs_text(last + 2_000_000));
        let r = restored.iter().find(|e| e["id"] == *id).unwrap();
        assert_eq!(r["timestamp"].as_f64(), secs_text(*back));
    }
    // The node is lost when its last message stopped, and back with its first message.
    let node_lost = lost.iter().find(|e| e["message"].is_null()).unwrap();
    let last_any = expected.iter().map(|e| e.1.0).max().unwrap();
    let first_back = expected.iter().map(|e| e.1.1).min().unwrap();
    assert_eq!(
        node_lost["timestamp"].as_f64(),
        secs_text(last_any + 2_000_000)
    );
    assert!(node_lost["id"].is_null());
    let node_back = restored.iter().find(|e| e["message"].is_null()).unwrap();
    assert_eq!(node_back["timestamp"].as_f64(), secs_text(first_back));
    // Keys in the documented order.
    let first = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(
        first.starts_with("{\"event\": \"lost\", \"node\": \"AV\", \"message\": "),
        "{first}"
    );

    // The summary (on stderr for jsonl) counts one loss of the AV unit.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.lines()
            .any(|l| l.trim_start().starts_with("AV") && l.contains(" 1 ")),
        "{err}"
    );
}

#[test]
fn fail_on_loss_exits_3_and_text_is_for_people() {
    let o = run(&["watch", "--fail-on-loss", sample().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains("ARMED"), "{text}");
    assert!(
        text.contains("LOST      AV       AV_STATUS (0x35D)"),
        "{text}"
    );
    assert!(text.contains("RESTORED  AV       node"), "{text}");
    assert!(text.contains("Summary"), "{text}");
}

/// A J11-like log: the BCM's (0x60D with the ignition, 0x358) and the AV unit's (0x35D,
/// 0x540, 0x541) messages every 100 ms, except during `silent` (seconds from start) when
/// nothing is sent; ignition is OFF during `ign_off`.
fn synthetic(duration_s: u64, silent: (u64, u64), ign_off: (u64, u64)) -> String {
    let mut log = String::new();
    for tick in 0..duration_s * 10 {
        let t_ms = tick * 100;
        if t_ms >= silent.0 * 1000 && t_ms < silent.1 * 1000 {
            continue;
        }
        let ign = if t_ms >= ign_off.0 * 1000 && t_ms < ign_off.1 * 1000 {
            0
        } else {
            3
        };
        let (s, ms) = (1_700_000_000 + t_ms / 1000, t_ms % 1000);
        // IGNITION_STATE is bits 9-10 of BODY_STATUS: byte 1 = ign << 1.
        let _ = writeln!(
            log,
            "({s}.{ms:03}000) can0 60D#00{:02X}000000000000",
            ign << 1
        );
        let _ = writeln!(log, "({s}.{ms:03}010) can0 358#0100000000000000");
        let _ = writeln!(log, "({s}.{ms:03}050) can0 35D#8000000000000000");
        let _ = writeln!(log, "({s}.{ms:03}060) can0 540#0000000000000000");
        let _ = writeln!(log, "({s}.{ms:03}070) can0 541#0000000000000000");
    }
    log
}

#[test]
fn silence_while_ignition_is_off_is_not_a_loss() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ign.log");
    // Ignition OFF from 10 s to 30 s; modules silent from 11 s (the sleep handshake) to 30 s.
    std::fs::write(&path, synthetic(40, (11, 30), (10, 30))).unwrap();
    let args = [
        "watch",
        "--format",
        "jsonl",
        "--node",
        "AV",
        "--node",
        "BCM",
        path.to_str().unwrap(),
    ];
    let o = run(&args);
    assert_eq!(o.status.code(), Some(0));
    assert!(
        events(&o).is_empty(),
        "no loss with ignition OFF: {:?}",
        events(&o)
    );
    // Armed all the time, the same silence is a loss of both nodes.
    let o = run(&[&args[..], &["--always-armed"]].concat());
    let ev = events(&o);
    let lost_nodes: Vec<&Value> = ev
        .iter()
        .filter(|e| e["event"] == "lost" && e["message"].is_null())
        .collect();
    assert_eq!(lost_nodes.len(), 2, "{ev:?}");
}

#[test]
fn silence_with_ignition_on_is_a_loss() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("on.log");
    std::fs::write(&path, synthetic(20, (5, 9), (100, 100))).unwrap();
    let o = run(&[
        "watch",
        "--format",
        "jsonl",
        "--node",
        "AV",
        path.to_str().unwrap(),
    ]);
    let ev = events(&o);
    assert_eq!(
        ev.len(),
        8,
        "three AV messages and node AV, lost then back: {ev:?}"
    );
    // AV_STATUS last at 4.900050 s, lost 2 s later; the node with its last message (0x541).
    let av = ev.iter().find(|e| e["id"] == 0x35D).unwrap();
    assert_eq!(av["timestamp"].as_f64(), Some(1_700_000_006.900_05));
    let node = ev.iter().find(|e| e["message"].is_null()).unwrap();
    assert_eq!(node["timestamp"].as_f64(), Some(1_700_000_006.900_07));
    assert_eq!(ev.iter().filter(|e| e["event"] == "restored").count(), 4);
}

#[test]
fn expectations_can_be_given_for_unknown_ids_and_options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.log");
    // 0x5E4 every 100 ms for 3 s, silent from 1.0 to 2.0 s: with a 1 s timeout (10 x 100 ms)
    // it is lost at 1.9 s and back at 2.0 s.
    let mut log = String::new();
    for i in 0..30u64 {
        if (10..20).contains(&i) {
            continue;
        }
        let us = 1_700_000_000_000_000 + i * 100_000;
        let _ = writeln!(
            log,
            "({}.{:06}) can0 5E4#00",
            us / 1_000_000,
            us % 1_000_000
        );
    }
    std::fs::write(&path, log).unwrap();
    let o = run(&[
        "watch",
        "--format",
        "jsonl",
        "--always-armed",
        "--grace",
        "0",
        "--min-timeout",
        "0.5",
        "--node",
        "METER",
        "--expect",
        "5E4:100:METER",
        path.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let ev = events(&o);
    let lost = ev
        .iter()
        .find(|e| e["event"] == "lost" && e["id"] == 0x5E4)
        .expect("lost");
    assert_eq!(lost["timestamp"].as_f64(), Some(1_700_000_001.9));
    assert_eq!(lost["node"], "METER");

    assert_eq!(
        run(&["watch", "--node", "NOPE", path.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(&[
            "watch",
            "--arm-on",
            "BODY_STATUS.NOPE=3",
            path.to_str().unwrap()
        ])
        .status
        .code(),
        Some(2)
    );
    assert_eq!(
        run(&["watch", "--timeout-factor", "0", path.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
}

/// The bundled sample without some ids (written to a temporary file).
fn sample_without(ids: &[u32], dir: &Path, name: &str) -> PathBuf {
    let log = std::fs::read_to_string(sample()).unwrap();
    let kept: String = log
        .lines()
        .filter(|l| {
            let id = l
                .split_whitespace()
                .nth(2)
                .and_then(|f| u32::from_str_radix(f.split('#').next()?, 16).ok());
            !id.is_some_and(|i| ids.contains(&i))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let p = dir.join(name);
    std::fs::write(&p, kept).unwrap();
    p
}

/// Regression: a capture with neither the ignition frame (0x60D) nor any AV frame gave
/// `AV ok` and exit 0 even with --fail-on-loss.
#[test]
fn a_watch_that_never_armed_says_so_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample_without(&[0x60D, 0x35D, 0x540, 0x541], dir.path(), "no-ign.log");
    let o = run(&["watch", log.to_str().unwrap(), "--fail-on-loss"]);
    assert_eq!(
        o.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let summary = out
        .lines()
        .find(|l| l.starts_with("not armed"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        summary.contains("BODY_STATUS.IGNITION_STATE=3 never held"),
        "{out}"
    );
    assert!(summary.contains("nothing was judged"), "{out}");
    assert!(!out.contains(" ok"), "no node is ok: {out}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--arm-on") && err.contains("--always-armed") && err.contains("--baseline"),
        "{err}"
    );
    // The JSON Lines stream carries it too.
    let o = run(&[
        "watch",
        "--format",
        "jsonl",
        log.to_str().unwrap(),
        "--fail-on-loss",
    ]);
    assert_eq!(o.status.code(), Some(6));
    let ev = events(&o);
    assert!(ev.iter().any(|e| e["event"] == "arming_missing"), "{ev:?}");
    let last = ev.last().unwrap();
    assert_eq!(last["event"], "not_armed");
    assert_eq!(last["message_seen"], false);
    // Without --fail-on-loss the verdict is said, the status stays 0.
    let o = run(&["watch", log.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
}

/// A node that sent nothing while armed is never shown as ok: always armed, the AV unit
/// silent from the start is lost, marked as never seen.
#[test]
fn a_node_that_sent_nothing_is_never_ok() {
    let dir = tempfile::tempdir().unwrap();
    let log = sample_without(&[0x35D, 0x540, 0x541], dir.path(), "no-av.log");
    let o = run(&["watch", log.to_str().unwrap(), "--fail-on-loss"]);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    let av = out
        .lines()
        .find(|l| l.trim_start().starts_with("AV "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(av.contains("LOST (never seen)"), "{out}");
}

/// The end of a log is not a loss of everything: a log cut in the middle of normal traffic
/// reports no loss.
#[test]
fn the_end_of_a_log_is_not_a_loss() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::read_to_string(sample()).unwrap();
    let first: String = log.lines().take(2500).map(|l| format!("{l}\n")).collect();
    let p = dir.path().join("first.log");
    std::fs::write(&p, first).unwrap();
    let o = run(&[
        "watch",
        "--format",
        "jsonl",
        p.to_str().unwrap(),
        "--fail-on-loss",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(events(&o).iter().all(|e| e["event"] != "lost"));
}

/// Regression: frames whose time goes backwards were taken silently.
#[test]
fn time_going_backwards_is_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("back.log");
    std::fs::write(
        &p,
        "(1700000001.000000) can0 60D#0300000000000000\n\
         (1700000000.500000) can0 60D#0300000000000000\n\
         (1700000000.400000) can0 60D#0300000000000000\n",
    )
    .unwrap();
    let o = run(&["watch", p.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("earlier than one at").count(), 1, "{err}");
}
