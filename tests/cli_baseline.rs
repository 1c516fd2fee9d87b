//! `watch --baseline` and `dbc infer` through the real binary: expectations learnt from a
//! capture of the healthy car, and the ids of a module found by comparing captures.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_canrelearn"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A candump log of a car that is not the bundled J11: 0x0A2 every 10 ms with a counter,
/// 0x3B0 (its "head unit") every 110 ms with a few ms of jitter, 0x4F0 every 500 ms, an
/// extended id every 50 ms, a diagnostic answer twice; `silent` ids never appear, and from
/// `stop_at_ms` on 0x3B0 goes quiet.
fn capture(seconds: u64, silent: &[u32], stop_at_ms: Option<u64>) -> String {
    let mut rows: Vec<(u64, String)> = Vec::new();
    for i in 0..seconds * 100 {
        rows.push((i * 10_000, format!("0A2#{:02X}00112233445566", i % 256)));
    }
    for i in 0..seconds * 1000 / 110 {
        let t = i * 110_000 + (i * 7919 % 5) * 1000;
        if stop_at_ms.is_some_and(|s| t >= s * 1000) {
            break;
        }
        rows.push((t + 3000, format!("3B0#80{:02X}", i % 4)));
    }
    for i in 0..seconds * 2 {
        rows.push((i * 500_000 + 7000, "4F0#0102030405060708".to_string()));
    }
    for i in 0..seconds * 20 {
        rows.push((
            i * 50_000 + 1000,
            format!("18FEF100#{:02X}FF", (i * 13) % 200),
        ));
    }
    rows.push((1_000_500, "7E8#0250810000000000".to_string()));
    rows.push((2_000_500, "7E8#0250810000000000".to_string()));
    rows.retain(|(_, f)| {
        let id = u32::from_str_radix(f.split('#').next().unwrap(), 16).unwrap();
        !silent.contains(&id)
    });
    rows.sort();
    let mut text = String::new();
    for (us, frame) in rows {
        let _ = writeln!(
            text,
            "({}.{:06}) can0 {frame}",
            1_700_000_000 + us / 1_000_000,
            us % 1_000_000
        );
    }
    text
}

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d =
            std::env::temp_dir().join(format!("canrelearn-baseline-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn file(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().unwrap().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn test_baseline_watch_lists_exactly_the_silent_modules_ids() {
    let d = Dir::new("silent");
    let healthy = d.file("healthy.log", &capture(30, &[], None));
    let silent = d.file("head-unit-out.log", &capture(30, &[0x3B0], None));
    let o = run(&["watch", "--baseline", &healthy, &silent, "--fail-on-loss"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let text = stdout(&o);
    // Learnt: four periodic ids; the diagnostic answer is listed, not watched.
    let err = stderr(&o);
    assert!(err.contains("5 ids: 4 periodic, 1 not watched"), "{err}");
    assert!(err.contains("7E8       too few frames (2)"), "{err}");
    let lost: Vec<&str> = text.lines().filter(|l| l.contains("LOST")).collect();
    assert_eq!(lost.len(), 3, "{text}");
    assert!(lost.iter().all(|l| l.contains("id 3B0")), "{text}");
    assert!(
        text.contains("id 3B0          0      0.000 s  LOST (never seen)")
            || text.contains("LOST (never seen)"),
        "{text}"
    );
    for ok in ["id 0A2", "id 4F0", "id 18FEF100"] {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(ok))
            .unwrap_or_else(|| panic!("{ok} in {text}"));
        assert!(line.ends_with("ok"), "{line}");
    }
}

#[test]
fn test_baseline_watch_of_a_second_healthy_capture_is_ok_and_finds_a_late_dropout() {
    let d = Dir::new("healthy");
    let healthy = d.file("healthy.log", &capture(30, &[], None));
    let again = d.file("again.log", &capture(20, &[], None));
    let o = run(&["watch", "--baseline", &healthy, &again, "--fail-on-loss"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(!stdout(&o).contains("LOST"), "{}", stdout(&o));
    // The head unit stops at 12 s: lost once, 2 s later (the floor of the timeout), in jsonl
    // with the id as a number.
    let drop = d.file("drop.log", &capture(20, &[], Some(12_000)));
    let o = run(&[
        "watch",
        "--baseline",
        &healthy,
        &drop,
        "--format",
        "jsonl",
        "--fail-on-loss",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let events: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let lost: Vec<&Value> = events.iter().filter(|e| e["event"] == "lost").collect();
    assert!(!lost.is_empty(), "{events:?}");
    assert!(lost.iter().all(|e| e["node"] == "id 3B0"), "{events:?}");
    let message_loss = lost
        .iter()
        .find(|e| e["id"] == 0x3B0)
        .expect("an event with the id");
    let at = message_loss["timestamp"].as_f64().unwrap() - 1_700_000_000.0;
    assert!((13.5..14.5).contains(&at), "{at}");
}

#[test]
fn test_dbc_infer_names_the_missing_modules_ids_and_the_skeleton_drives_watch_and_decode() {
    let d = Dir::new("infer");
    let healthy = d.file("healthy.log", &capture(30, &[], None));
    let silent = d.file("head-unit-out.log", &capture(30, &[0x3B0], None));
    let dbc = d.path("car.dbc");
    let o = run(&["dbc", "infer", &healthy, &silent, "-o", &dbc]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("periodic in healthy.log and never seen in head-unit-out.log: 0x3B0"),
        "{}",
        stderr(&o)
    );
    let text = std::fs::read_to_string(&dbc).unwrap();
    assert!(
        text.contains("BO_ 944 ID_3B0: 2 ABSENT_IN_head_unit_out"),
        "{text}"
    );
    // Intervals of 114 ms then four of 109 ms (the jitter pattern): the median is 109.
    assert!(
        text.contains("BA_ \"GenMsgCycleTime\" BO_ 944 109;"),
        "{text}"
    );
    assert!(
        text.contains("BA_ \"GenMsgCycleTime\" BO_ 162 10;"),
        "{text}"
    );
    assert!(
        text.contains("BO_ 2566844672 ID_18FEF100X: 2 UNASSIGNED"),
        "{text}"
    );
    // An existing output is not overwritten without --force.
    let again = run(&["dbc", "infer", &healthy, "-o", &dbc]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    // The skeleton checks clean (but for the non-periodic id's missing cycle time).
    let check = run(&["dbc", "check", &dbc]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    assert!(
        stdout(&check).contains("0 errors, 1 warning"),
        "{}",
        stdout(&check)
    );
    // watch with it: the absent node is lost over the silent capture, nothing else.
    let o = run(&["watch", "--dbc", &dbc, &silent, "--fail-on-loss"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let summary = stdout(&o);
    assert!(summary.contains("ABSENT_IN_head_unit_out"), "{summary}");
    assert!(
        summary
            .lines()
            .any(|l| l.trim_start().starts_with("UNASSIGNED") && l.ends_with("ok")),
        "{summary}"
    );
    // decode with it: the counter byte decodes as a signal.
    let o = run(&["decode", "--dbc", &dbc, "--format", "jsonl", &healthy]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let first = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["message"] == "ID_0A2")
        .unwrap();
    assert_eq!(first["signals"]["COUNTER_B0"], 0, "{first}");
}

#[test]
fn test_baseline_names_come_from_a_dbc_where_it_knows_the_id() {
    let d = Dir::new("names");
    let healthy = d.file("healthy.log", &capture(30, &[], None));
    let silent = d.file("silent.log", &capture(30, &[0x3B0], None));
    let dbc = d.file(
        "names.dbc",
        "VERSION \"\"\nBU_: AV ABS\nBO_ 944 AV_STATUS: 2 AV\n SG_ X : 0|8@1+ (1,0) [0|255] \"\" Vector__XXX\nBO_ 162 WHEELS: 8 ABS\n SG_ C : 0|8@1+ (1,0) [0|255] \"\" Vector__XXX\n",
    );
    let o = run(&[
        "watch",
        "--baseline",
        &healthy,
        "--dbc",
        &dbc,
        "--format",
        "jsonl",
        &silent,
        "--fail-on-loss",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let lost: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == "lost")
        .collect();
    assert!(
        lost.iter()
            .any(|e| e["node"] == "AV" && e["message"] == "AV_STATUS" && e["id"] == 944),
        "{lost:?}"
    );
    assert!(lost.iter().all(|e| e["node"] == "AV"), "{lost:?}");
    // --node takes the baseline's nodes.
    let o = run(&[
        "watch",
        "--baseline",
        &healthy,
        "--node",
        "id 4F0",
        &silent,
        "--fail-on-loss",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let o = run(&["watch", "--baseline", &healthy, "--node", "BCM", &silent]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no periodic id of the baseline is sent by node BCM"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn test_a_baseline_with_nothing_periodic_or_no_frames_is_refused() {
    let d = Dir::new("refused");
    let sparse = d.file(
        "sparse.log",
        "(1.000000) can0 123#00\n(2.000000) can0 123#00\n",
    );
    let empty = d.file("empty.log", "");
    let target = d.file("t.log", &capture(5, &[], None));
    let o = run(&["watch", "--baseline", &sparse, &target]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("sparse.log: no periodic id"),
        "{}",
        stderr(&o)
    );
    let o = run(&["dbc", "infer", &sparse]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("sparse.log: no periodic id"),
        "{}",
        stderr(&o)
    );
    let o = run(&["watch", "--baseline", &empty, &target]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("empty.log"), "{}", stderr(&o));
    assert!(Path::new(&target).exists());
}
