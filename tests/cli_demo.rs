//! `canrelearn demo`: the whole story in-process, through the real binary.

use std::process::Command;

#[test]
fn demo_tells_the_whole_story_and_both_procedures_complete() {
    let o = Command::new(env!("CARGO_BIN_EXE_canrelearn"))
        .arg("demo")
        .output()
        .expect("runs");
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // 1. The watcher finds the head unit missing.
    assert!(text.contains("LOST AV   node"), "{text}");
    assert!(text.contains("-> AV lost"), "{text}");
    // 2. The registration: session, routine, polling for minutes, verification.
    for needle in [
        "-> BCM 10 C0",
        "-> BCM 31 90",
        "car: flag audio_unit_registered set by BCM: AV resumes sending",
        "audio-unit-registration: completed",
        "[head-unit-back] passed",
        "AV unit on the bus again: yes",
    ] {
        assert!(text.contains(needle), "{needle:?} in:\n{text}");
    }
    // 3. The battery registration with its parameters.
    for needle in [
        "-> IPDM_ER 31 92 46 02",
        "bms-battery-registration: completed",
        "agm (2)",
    ] {
        assert!(text.contains(needle), "{needle:?} in:\n{text}");
    }
    // Lines of a part come in time order.
    let part2: Vec<f64> = text
        .split("2. Audio unit registration")
        .nth(1)
        .unwrap()
        .split("report (")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .collect();
    assert!(part2.len() > 10);
    assert!(part2.windows(2).all(|w| w[0] <= w[1]), "{part2:?}");
}
