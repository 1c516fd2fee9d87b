//! End-to-end: `canrelearn monitor` in a real terminal (tmux, 160x40) over the bundled sample
//! at 4x speed: the table shows BODY_STATUS, the node panel reports the AV unit lost (the
//! sample has it silent from 8 s to 14 s), `/IPDM` + Enter leaves only the IPDM row, `q` quits
//! with exit 0, the terminal is restored (alternate screen left, tty settings unchanged) and
//! the `--record` file holds every frame.
//!
//! Needs `tmux` (the test command installs it); without it the test fails, it does not skip.
//! Every wait polls the pane with a deadline; nothing asserts on elapsed time.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn new(name: &str) -> Tmux {
        let version = Command::new("tmux").arg("-V").output();
        match version {
            Ok(o) if o.status.success() => {}
            _ => panic!(
                "this test needs tmux to run the monitor in a real terminal; install it \
                 (e.g. `sudo apt-get install tmux`)"
            ),
        }
        Tmux {
            socket: format!("canrelearn-monitor-{name}-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn capture(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "mon"])
    }

    /// Poll the pane until `check` holds, or fail with the last screen.
    fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.capture();
            if check(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; the screen was:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// The table rows (lines between the header and the bottom border of the Messages box).
fn table_rows(screen: &str) -> Vec<String> {
    screen
        .lines()
        .skip_while(|l| !l.contains("│ID "))
        .skip(1)
        .take_while(|l| l.starts_with('│'))
        .filter_map(|l| {
            let row = l.trim_start_matches('│');
            let cell = row.split('│').next().unwrap_or("").trim().to_string();
            (!cell.is_empty()).then_some(cell)
        })
        .collect()
}

#[test]
fn test_monitor_in_a_real_terminal() {
    let tmux = Tmux::new("e2e");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.log");
    let bin = env!("CARGO_BIN_EXE_canrelearn");
    let script = format!(
        "cd '{}' && before=$(stty -g); '{bin}' monitor --speed 4 --record '{}' \
         tests/data/j11-sample.log; code=$?; after=$(stty -g); \
         [ \"$before\" = \"$after\" ] && echo tty-restored; echo canrelearn-exit=$code; \
         exec sleep 600",
        root.display(),
        record.display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "mon",
        "-x",
        "160",
        "-y",
        "40",
        "sh",
        "-c",
        &script,
    ]);

    let screen = tmux.wait_for("the table with BODY_STATUS", |s| {
        s.contains("BODY_STATUS") && s.contains("canrelearn monitor")
    });
    assert!(screen.contains("│ID "), "{screen}");
    assert_eq!(
        tmux.run(&["display", "-p", "-t", "mon", "#{alternate_on}"])
            .trim(),
        "1"
    );

    // The AV unit goes silent at 8 s of log time: lost ~2 s later, listed as an event.
    let screen = tmux.wait_for("the AV node lost", |s| s.contains(" AV lost"));
    assert!(screen.contains("│AV "), "{screen}");

    // The whole log plays, the monitor stays up.
    let screen = tmux.wait_for("the end of the log", |s| s.contains("all sources ended"));
    assert!(screen.contains("AV restored"), "{screen}");
    assert!(screen.contains("frames 6892"), "{screen}");

    // Filter on IPDM: only the IPDM row remains.
    tmux.run(&["send-keys", "-t", "mon", "-l", "/IPDM"]);
    tmux.wait_for("the filter being typed", |s| s.contains("filter /IPDM_"));
    tmux.run(&["send-keys", "-t", "mon", "Enter"]);
    // (A capture can catch a redraw half done: wait for a settled screen with one row.)
    let screen = tmux.wait_for("the filter applied, one row left", |s| {
        s.contains("filter: /IPDM/") && s.contains("rows 1/14") && table_rows(s).len() == 1
    });
    let rows = table_rows(&screen);
    assert_eq!(rows.len(), 1, "{rows:?}\n{screen}");
    assert!(rows[0].starts_with("625      IPDM_STATUS"), "{rows:?}");
    assert!(!screen.contains("BODY_STATUS"), "{screen}");

    // Quit: the process exits 0, the terminal is back to normal.
    tmux.run(&["send-keys", "-t", "mon", "q"]);
    let screen = tmux.wait_for("the monitor to exit", |s| s.contains("canrelearn-exit="));
    assert!(screen.contains("canrelearn-exit=0"), "{screen}");
    assert!(
        screen.contains("tty-restored"),
        "raw mode left on:\n{screen}"
    );
    assert!(
        !screen.contains("IPDM_STATUS"),
        "alternate screen left:\n{screen}"
    );
    assert_eq!(
        tmux.run(&["display", "-p", "-t", "mon", "#{alternate_on}"])
            .trim(),
        "0"
    );

    // --record wrote every frame, in candump -L format.
    let recorded = std::fs::read_to_string(&record).unwrap();
    let sample = std::fs::read_to_string(root.join("tests/data/j11-sample.log")).unwrap();
    assert_eq!(recorded.lines().count(), 6892);
    assert_eq!(recorded.lines().next(), sample.lines().next());
    assert_eq!(recorded.lines().last(), sample.lines().last());
}

#[test]
fn test_ctrl_c_quits_and_restores_the_terminal() {
    let tmux = Tmux::new("ctrlc");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = env!("CARGO_BIN_EXE_canrelearn");
    let script = format!(
        "cd '{}' && before=$(stty -g); '{bin}' monitor tests/data/j11-sample.log; code=$?; \
         after=$(stty -g); [ \"$before\" = \"$after\" ] && echo tty-restored; \
         echo canrelearn-exit=$code; exec sleep 600",
        root.display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "mon",
        "-x",
        "160",
        "-y",
        "40",
        "sh",
        "-c",
        &script,
    ]);
    tmux.wait_for("the monitor", |s| s.contains("BODY_STATUS"));
    // Help opens on `?` and any key closes it.
    tmux.run(&["send-keys", "-t", "mon", "?"]);
    tmux.wait_for("the help", |s| s.contains("Keys (any key closes)"));
    tmux.run(&["send-keys", "-t", "mon", "x"]);
    tmux.wait_for("the help closed", |s| !s.contains("Keys (any key closes)"));
    tmux.run(&["send-keys", "-t", "mon", "C-c"]);
    let screen = tmux.wait_for("the monitor to exit", |s| s.contains("canrelearn-exit="));
    assert!(screen.contains("canrelearn-exit=0"), "{screen}");
    assert!(screen.contains("tty-restored"), "{screen}");
    assert_eq!(
        tmux.run(&["display", "-p", "-t", "mon", "#{alternate_on}"])
            .trim(),
        "0"
    );
}

/// `--record` into a file that cannot grow (a size limit, as a full disk would stop it): the
/// screen says at once that the recording stopped, and why, while the monitor goes on; `q`
/// exits 4 with the file and the cause named, and what was recorded before is kept.
#[test]
fn test_a_recording_that_fails_is_said_on_the_screen_and_in_the_exit() {
    let tmux = Tmux::new("full");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("record.log");
    let errors = dir.path().join("stderr.txt");
    let bin = env!("CARGO_BIN_EXE_canrelearn");
    // 16 blocks: 8 KiB for sh's ulimit (512-byte blocks), of the sample's 300 KiB.
    let script = format!(
        "cd '{}' && (ulimit -f 16; trap '' XFSZ; exec '{bin}' monitor --speed 4 --record '{}' \
         tests/data/j11-sample.log) 2>'{}'; echo canrelearn-exit=$?; exec sleep 600",
        root.display(),
        record.display(),
        errors.display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "mon",
        "-x",
        "200",
        "-y",
        "40",
        "sh",
        "-c",
        &script,
    ]);
    let screen = tmux.wait_for("the recording's failure on the screen", |s| {
        s.contains("RECORDING STOPPED")
    });
    assert!(
        screen.contains("cannot write") && screen.contains("File too large"),
        "{screen}"
    );
    // The monitor goes on: the AV unit's loss (8 s into the log) still comes.
    let screen = tmux.wait_for("the AV node lost", |s| s.contains(" AV lost"));
    assert!(screen.contains("RECORDING STOPPED"), "{screen}");
    tmux.run(&["send-keys", "-t", "mon", "q"]);
    let screen = tmux.wait_for("the monitor to exit", |s| s.contains("canrelearn-exit="));
    assert!(screen.contains("canrelearn-exit=4"), "{screen}");
    let stderr = std::fs::read_to_string(&errors).unwrap();
    assert!(
        stderr.contains(&format!("cannot write {}", record.display()))
            && stderr.contains("File too large")
            && stderr.contains("not recorded"),
        "{stderr}"
    );
    let kept = std::fs::read_to_string(&record).unwrap();
    assert!(kept.len() > 4096 && kept.len() <= 8192, "{}", kept.len());
    let sample = std::fs::read_to_string(root.join("tests/data/j11-sample.log")).unwrap();
    assert_eq!(kept.lines().next(), sample.lines().next());
}
