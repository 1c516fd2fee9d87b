//! The whole story on a real vcan interface, every part a separate process: `canrelearn
//! simulate` (the J11 with its audio unit unregistered), `canrelearn watch` (reports the AV
//! unit lost, then restored), `canrelearn run` (the bundled audio unit registration), and
//! can-utils' `candump` as the independent witness of every frame on the bus.
//!
//! The simulator's registration takes 120 s in the bundled profile (the dealer's 2-5 minutes);
//! the completed-run test uses a copy of the profile with 5 s so the suite stays short; the
//! Ctrl-C test uses the bundled one.
//!
//! Built only with `--features vcan-tests`; run with `tests/vm/run-vcan-tests.sh`. Without the
//! interface the tests fail with a message saying how to run them: none is skipped.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static LOCK: Mutex<()> = Mutex::new(());

const PROFILE: &str = include_str!("../scripts/simulator/qashqai-j11.toml");

fn lock() -> std::sync::MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn iface() -> String {
    let spec = std::env::var("CANRELEARN_VCAN").unwrap_or_default();
    if let Some(a) = spec.split(',').find(|s| !s.is_empty()) {
        return a.to_string();
    }
    if Path::new("/sys/class/net/vcan0").exists() {
        return "vcan0".into();
    }
    panic!(
        "these tests need a vcan interface and can-utils: run them with \
         `tests/vm/run-vcan-tests.sh` (native vcan, or a QEMU VM when the kernel has none)"
    );
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_canrelearn"))
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("canrelearn-vcan-proc-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Spawn with stdout to `path` and stderr to `path.err`.
fn spawn_to_file(cmd: &mut Command, path: &Path) -> Child {
    let err = path.with_extension("err");
    cmd.stdout(fs::File::create(path).unwrap())
        .stderr(fs::File::create(err).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn")
}

fn interrupt(child: &Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
}

fn wait_exit(child: &mut Child, limit: Duration) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code().unwrap_or(-1);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("process did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for(what: &str, path: &Path, limit: Duration, cond: impl Fn(&str) -> bool) {
    let start = Instant::now();
    loop {
        let text = fs::read_to_string(path).unwrap_or_default();
        if cond(&text) {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "{what}: not seen within {limit:?} in {}:\n{text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops every child on drop (a failing assertion must not leave processes on the bus).
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `candump -L` and the simulated car (audio unit unregistered) on `ifc`; the candump log's
/// path.
fn car_with_witness(ifc: &str, tag: &str) -> (Procs, PathBuf) {
    let dump_out = tmp(&format!("candump-{tag}.log"));
    let mut procs = Procs(Vec::new());
    procs.0.push(spawn_to_file(
        Command::new("candump").args(["-L", ifc]),
        &dump_out,
    ));
    procs.0.push(spawn_to_file(
        bin().args([
            "simulate",
            "--iface",
            ifc,
            "--fault",
            "audio-unit-unregistered",
        ]),
        &tmp(&format!("sim-{tag}.txt")),
    ));
    std::thread::sleep(Duration::from_millis(500));
    (procs, dump_out)
}

/// `ID#DATA` of every frame line of a candump log (`(ts) iface ID#DATA [T|R]`).
fn frames(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with('('))
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect()
}

fn watch_events(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"].is_null())
        .map(|v| {
            (
                v["event"].as_str().unwrap_or("").to_string(),
                v["node"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn test_registration_on_vcan_restores_the_av_unit_as_watch_and_candump_see_it() {
    let _g = lock();
    let ifc = iface();
    let profile = tmp("fast-profile.toml");
    let fast = PROFILE.replace("duration_ms = 120000", "duration_ms = 5000");
    assert_ne!(
        fast, PROFILE,
        "the bundled profile's registration duration moved"
    );
    fs::write(&profile, fast).unwrap();
    let (sim_out, watch_out, dump_out) = (tmp("sim.txt"), tmp("watch.jsonl"), tmp("candump.log"));
    let (run_out, transcript, report) = (tmp("run.txt"), tmp("transcript.log"), tmp("report.json"));

    let mut procs = Procs(Vec::new());
    procs.0.push(spawn_to_file(
        Command::new("candump").args(["-L", &ifc]),
        &dump_out,
    ));
    procs.0.push(spawn_to_file(
        bin().args(["watch", &ifc, "--format", "jsonl", "--grace", "0"]),
        &watch_out,
    ));
    std::thread::sleep(Duration::from_millis(500));
    procs.0.push(spawn_to_file(
        bin().args([
            "simulate",
            "--iface",
            &ifc,
            "--profile-file",
            profile.to_str().unwrap(),
            "--fault",
            "audio-unit-unregistered",
        ]),
        &sim_out,
    ));
    // The symptom: the watcher reports the AV unit lost (never seen since arming).
    wait_for("AV lost", &watch_out, Duration::from_secs(30), |t| {
        watch_events(t).contains(&("lost".into(), "AV".into()))
    });

    let mut run = spawn_to_file(
        bin().args([
            "run",
            "audio-unit-registration",
            "--iface",
            &ifc,
            "--yes",
            "--transcript",
            transcript.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ]),
        &run_out,
    );
    let code = wait_exit(&mut run, Duration::from_secs(120));
    let shown = fs::read_to_string(&run_out).unwrap();
    assert_eq!(
        code,
        0,
        "run failed:\n{shown}\n{}",
        fs::read_to_string(run_out.with_extension("err")).unwrap_or_default()
    );
    // The cure, as the watcher sees it.
    wait_for("AV restored", &watch_out, Duration::from_secs(30), |t| {
        watch_events(t).contains(&("restored".into(), "AV".into()))
    });
    std::thread::sleep(Duration::from_millis(300));
    drop(procs);

    let r: serde_json::Value = serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["outcome"], "completed", "{r:#}");
    assert_eq!(r["procedure"], "audio-unit-registration");
    assert!(
        r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["result"] == "passed"),
        "{r:#}"
    );
    assert!(r["frames_sent"].as_u64().unwrap() >= 5, "{r:#}");

    // The transcript: every frame canrelearn sent, as candump saw it on the bus, in order.
    let t = fs::read_to_string(&transcript).unwrap();
    assert!(
        t.lines()
            .any(|l| l.starts_with("# ") && l.contains("[start-registration]")),
        "{t}"
    );
    let sent: Vec<String> = t
        .lines()
        .filter(|l| l.ends_with(" T"))
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect();
    assert!(sent.contains(&"745#023190FFFFFFFFFF".to_string()), "{t}");
    let received: Vec<&str> = t.lines().filter(|l| l.ends_with(" R")).collect();
    assert!(received.iter().any(|l| l.contains(" 765#027190")), "{t}");
    let on_bus: Vec<String> = frames(&fs::read_to_string(&dump_out).unwrap())
        .into_iter()
        .filter(|f| f.starts_with("745#"))
        .collect();
    assert_eq!(
        on_bus, sent,
        "candump's 0x745 frames differ from the transcript's"
    );
    // Our own reader takes the transcript, comments included, strictly (a malformed line
    // would be exit 2). Its frames are diagnostic ones, which no DBC message describes: every
    // frame is printed, and the exit is 1 saying that nothing was decoded.
    let out = bin()
        .args(["decode", "--strict", transcript.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no frame was decoded"), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        t.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .count(),
        "{err}"
    );
}

#[test]
fn test_without_yes_and_without_a_terminal_nothing_that_writes_is_sent() {
    let _g = lock();
    let ifc = iface();
    let (procs, dump_out) = car_with_witness(&ifc, "no");
    let run_out = tmp("run-no.txt");
    let report = tmp("report-no.json");
    let mut run = spawn_to_file(
        bin().args([
            "run",
            "audio-unit-registration",
            "--iface",
            &ifc,
            "--no-transcript",
            "--report",
            report.to_str().unwrap(),
        ]),
        &run_out,
    );
    let code = wait_exit(&mut run, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(300));
    drop(procs);
    let shown = fs::read_to_string(&run_out).unwrap();
    assert_eq!(code, 1, "{shown}");
    let r: serde_json::Value = serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
    assert_ne!(r["outcome"], "completed", "{r:#}");
    let on_bus = frames(&fs::read_to_string(&dump_out).unwrap());
    assert!(
        !on_bus.iter().any(|f| f.starts_with("745#023190")),
        "a write went out without confirmation: {on_bus:?}"
    );
}

#[test]
fn test_ctrl_c_mid_registration_returns_the_bcm_to_its_default_session() {
    let _g = lock();
    let ifc = iface();
    let (procs, dump_out) = car_with_witness(&ifc, "int");
    let (run_out, report) = (tmp("run-int.txt"), tmp("report-int.json"));
    let mut run = spawn_to_file(
        bin().args([
            "run",
            "audio-unit-registration",
            "--iface",
            &ifc,
            "--yes",
            "--no-transcript",
            "--report",
            report.to_str().unwrap(),
        ]),
        &run_out,
    );
    // Interrupt while the BCM is registering (the status poll has started).
    wait_for("polling", &dump_out, Duration::from_secs(30), |t| {
        frames(t)
            .iter()
            .filter(|f| f.starts_with("745#022191"))
            .count()
            >= 2
    });
    interrupt(&run);
    let code = wait_exit(&mut run, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(300));
    drop(procs);
    let shown = fs::read_to_string(&run_out).unwrap();
    assert_eq!(code, 1, "{shown}");
    let r: serde_json::Value = serde_json::from_str(&fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["outcome"], "aborted", "{r:#}");
    assert!(r["reason"].as_str().unwrap().contains("Ctrl-C"), "{r:#}");
    let ours: Vec<String> = frames(&fs::read_to_string(&dump_out).unwrap())
        .into_iter()
        .filter(|f| f.starts_with("745#"))
        .collect();
    assert_eq!(
        ours.last().map(String::as_str),
        Some("745#021081FFFFFFFFFF"),
        "the last request must return the BCM to its default session: {ours:?}"
    );
}
