//! Fuzz target: arbitrary text into the procedure script loader; every script that loads is
//! then run dry (every request, note and cleanup listed, parameters from a fixed set of
//! answers) and its report formatted. Nothing may panic; a loading error must point inside
//! the text. Run with `cargo fuzz run script_load`.
#![no_main]

use std::collections::BTreeMap;

use canrelearn::procedure::Script;
use canrelearn::procedure::runner::{Action, Outcome, RunOptions, Runner};
use canrelearn::time::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let script = match Script::from_toml(text, "fuzz.toml") {
        Ok(s) => s,
        Err(e) => {
            if let Some(line) = e.line().map(|l| l as usize) {
                assert!(line >= 1 && line <= text.lines().count().max(1) + 1, "{e}");
            }
            return;
        }
    };
    let opts = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let Ok(mut runner) = Runner::new(script, &BTreeMap::new(), opts) else {
        return;
    };
    let now = Timestamp::ZERO;
    let answers = ["1", "0", "yes"];
    let mut asked = 0usize;
    for _ in 0..10_000 {
        match runner.poll_action(now) {
            Some(Action::Finished(r)) => {
                let _ = r.to_string();
                return;
            }
            Some(Action::Ask { .. }) => {
                let a = answers[asked % answers.len()];
                asked += 1;
                if asked > 100 {
                    runner.abort(now, "fuzz: too many questions");
                } else {
                    runner.handle_outcome(now, Outcome::Answer(a.to_string()));
                }
            }
            Some(_) => {}
            None => runner.handle_timeout(runner.poll_timeout().unwrap_or(now)),
        }
        while runner.poll_event().is_some() {}
    }
    panic!("a dry run did not finish");
});
