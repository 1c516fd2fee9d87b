//! `canrelearn simulate` on a real vcan interface, as a separate process, checked with
//! can-utils: `candump -L` captures its periodic frames, the kernel ISO-TP tools
//! (`isotpsend`/`isotprecv`) get its diagnostic answers on 0x745/0x765, and Ctrl-C (SIGINT)
//! stops it with exit status 0.
//!
//! Built only with `--features vcan-tests`; run with `tests/vm/run-vcan-tests.sh`. Without the
//! interfaces the test fails with a message saying how to run it: it is never skipped.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

static LOCK: Mutex<()> = Mutex::new(());

fn iface() -> String {
    let spec = std::env::var("CANRELEARN_VCAN").unwrap_or_default();
    if let Some(a) = spec.split(',').find(|s| !s.is_empty()) {
        return a.to_string();
    }
    if std::path::Path::new("/sys/class/net/vcan0").exists() {
        return "vcan0".into();
    }
    panic!(
        "this test needs a real vcan interface and can-utils. Run it with \
         `tests/vm/run-vcan-tests.sh`, or set CANRELEARN_VCAN=vcan0 after `sudo modprobe vcan; \
         sudo ip link add vcan0 type vcan; sudo ip link set up vcan0`."
    );
}

/// A child process whose stdout lines arrive on a channel; killed when dropped.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn spawn(cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stdin(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc { child, lines }
    }

    /// Lines until one satisfies `f` (returned last), waiting at most `within`.
    fn wait_for(&self, within: Duration, f: impl Fn(&str) -> bool) -> Vec<String> {
        let end = Instant::now() + within;
        let mut seen = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let done = f(&l);
                    seen.push(l);
                    if done {
                        return seen;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("nothing matched within {within:?}; saw {seen:#?}");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `request` (hex) to 0x745 with the kernel ISO-TP and returns the answer from 0x765.
fn isotp_ask(iface: &str, request: &str) -> String {
    for _ in 0..10 {
        let recv = Proc::spawn(Command::new("isotprecv").args(["-s", "745", "-d", "765", iface]));
        // Give isotprecv time to bind; retried below if the answer came before it did.
        std::thread::sleep(Duration::from_millis(200));
        let mut send = Command::new("isotpsend")
            .args(["-s", "745", "-d", "765", iface])
            .stdin(Stdio::piped())
            .spawn()
            .expect("isotpsend (can-utils) must be installed");
        send.stdin
            .take()
            .unwrap()
            .write_all(format!("{request}\n").as_bytes())
            .unwrap();
        assert!(send.wait().unwrap().success(), "isotpsend failed");
        if let Ok(l) = recv.lines.recv_timeout(Duration::from_secs(2)) {
            return l.trim().to_string();
        }
    }
    panic!("no ISO-TP answer to {request}");
}

#[test]
fn test_simulate_on_vcan_sends_periodic_frames_and_answers_diagnostics() {
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let iface = iface();
    let sim = Proc::spawn(Command::new(env!("CARGO_BIN_EXE_canrelearn")).args([
        "simulate",
        "--iface",
        &iface,
        "--fault",
        "audio-unit-unregistered",
        "--duration",
        "120",
    ]));
    let startup = sim.wait_for(Duration::from_secs(10), |l| l.contains("fault"));
    assert!(
        startup
            .last()
            .unwrap()
            .ends_with("fault audio-unit-unregistered applied: The AV unit sends nothing until an audio unit registration completes in the BCM (the symptom after a 12 V disconnection)."),
        "{startup:?}"
    );

    // Periodic frames, as candump sees them.
    let dump = Proc::spawn(Command::new("stdbuf").args(["-oL", "candump", "-L", &iface]));
    dump.wait_for(Duration::from_secs(10), |l| l.contains(" 60D#"));
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let end = Instant::now() + Duration::from_millis(1500);
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        let Ok(l) = dump.lines.recv_timeout(left) else {
            break;
        };
        let frame = l.split_whitespace().nth(2).unwrap_or_default().to_string();
        let (id, data) = frame.split_once('#').unwrap();
        if id == "625" {
            // IPDM_STATUS: BATTERY_VOLTAGE 12.625 V = 202 (0xCA) in byte 2, READY_TO_START 3.
            assert_eq!(&data[4..6], "CA", "{l}");
        }
        *counts.entry(id.to_string()).or_default() += 1;
    }
    drop(dump);
    for id in [
        "002", "180", "284", "354", "358", "551", "5C5", "60D", "625",
    ] {
        assert!(
            counts.get(id).copied().unwrap_or(0) >= 3,
            "{id} in {counts:?}"
        );
    }
    for id in ["35D", "540", "541"] {
        assert!(!counts.contains_key(id), "AV unit silent: {counts:?}");
    }

    // Diagnostics through the kernel's ISO-TP: a single-frame and a multi-frame answer.
    assert_eq!(isotp_ask(&iface, "10 C0"), "50 C0");
    assert_eq!(
        isotp_ask(&iface, "1A 81"),
        "5A 81 32 38 34 42 32 2D 34 45 41 30 41"
    );
    sim.wait_for(Duration::from_secs(5), |l| {
        l.ends_with("BCM: session 0x81 -> 0xC0 (requested)")
    });

    // Ctrl-C stops it cleanly.
    let mut sim = sim;
    let pid = sim.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let end = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = sim.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < end, "simulate did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{status}");
}
