//! `canrelearn demo`: the whole story on a simulated J11, in-process, with no hardware.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

use anyhow::anyhow;
use canrelearn::bundled;
use canrelearn::dbc::Database;
use canrelearn::procedure::runner::{RunOptions, RunOutcome, Runner};
use canrelearn::sim::profile::Profile;
use canrelearn::sim::story::{self, Rehearsal};
use canrelearn::sim::vehicle::Vehicle;

use super::{CliError, WithCode, exit, input};

/// Rehearse the whole story on a simulated Nissan Qashqai J11, in-process: no CAN hardware,
/// no kernel support, nothing sent anywhere.
///
/// 1. The car after a 12 V disconnection: the head unit (AV) sends nothing, and the watcher
///    reports it lost. 2. The bundled audio unit registration runs against the simulated BCM
///    (session, keep-alive, routine, polling for minutes, verification that the AV unit is back),
///    with the operator's confirmations answered yes. 3. The bundled BMS battery registration
///    on the IPDM E/R. Virtual time runs as fast as the computer can go; the times shown are
///    the car's. The bytes are the bundled scripts' documented hypotheses, not the dealer's.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print every frame-level exchange, not only the steps.
    #[arg(long)]
    pub verbose_transcript: bool,
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let db = input::load_dbcs(&[])?;
    let profile = input::bundled_profile()?;
    let mut out = io::stdout().lock();
    let mut text = String::new();
    let _ = writeln!(
        text,
        "canrelearn demo: a simulated Nissan Qashqai J11, in-process (no CAN hardware, nothing sent).\n\
         Virtual time runs as fast as this computer can go; times are the car's, in seconds.\n\
         The procedure bytes are the bundled scripts' documented hypotheses (see scripts/README.md).\n"
    );
    out.write_all(text.as_bytes())?;
    text.clear();

    // 1. The symptom.
    let _ = writeln!(
        text,
        "1. After a 12 V battery disconnection (simulator fault audio-unit-unregistered)\n   \
         `canrelearn watch` on the car's frames, armed while the ignition is ON:"
    );
    let lost = observe(&db, &profile, Duration::from_secs(8), &mut text)?;
    let _ = writeln!(
        text,
        "   -> {} lost: the head unit is not on the bus. Dealer fix: audio unit registration in the BCM.\n",
        if lost { "AV" } else { "nothing" }
    );
    out.write_all(text.as_bytes())?;
    text.clear();

    // 2. The relearn.
    let _ = writeln!(
        text,
        "2. Audio unit registration (scripts/audio-unit-registration.toml), operator answers yes"
    );
    out.write_all(text.as_bytes())?;
    text.clear();
    let audio = rehearse(
        &db,
        &profile,
        "audio-unit-registration",
        &["audio-unit-unregistered"],
        BTreeMap::new(),
        args.verbose_transcript,
        &mut out,
    )?;

    // 3. The battery.
    let _ = writeln!(
        text,
        "\n3. BMS battery registration (scripts/bms-battery-registration.toml): new 70 Ah AGM battery"
    );
    out.write_all(text.as_bytes())?;
    text.clear();
    let params = BTreeMap::from([
        ("capacity_ah".to_string(), "70".to_string()),
        ("battery_type".to_string(), "agm".to_string()),
    ]);
    let bms = rehearse(
        &db,
        &profile,
        "bms-battery-registration",
        &[],
        params,
        args.verbose_transcript,
        &mut out,
    )?;

    let ok = audio && bms;
    writeln!(
        out,
        "\n{}\nRehearse it yourself, answering the confirmations: `canrelearn run audio-unit-registration --simulate`.\n\
         On virtual CAN, as on a car: `canrelearn simulate --iface vcan0 --fault audio-unit-unregistered`, \
         `canrelearn watch vcan0` and `canrelearn run audio-unit-registration --iface vcan0`.",
        if ok {
            "Both procedures completed on the simulated car."
        } else {
            "A procedure did not complete: see the report above."
        }
    )?;
    out.flush()?;
    Ok(if ok { exit::OK } else { exit::FAILURE })
}

/// Runs the simulated car alone for `span` with the watcher; prints its events. Returns
/// whether the AV node was reported lost.
fn observe(
    db: &Database,
    profile: &Profile,
    span: Duration,
    text: &mut String,
) -> Result<bool, CliError> {
    let car = Vehicle::new(profile, db, &["audio-unit-unregistered"])
        .map_err(|e| anyhow!("the simulated car: {e}"))
        .code(exit::FAILURE)?;
    let seen = story::observe(car, db, span).code(exit::FAILURE)?;
    for line in &seen.lines {
        let _ = writeln!(text, "   {line}");
    }
    Ok(seen.lost_nodes.iter().any(|n| n == "AV"))
}

/// Runs one bundled script against a fresh simulated car; prints its progress as it unfolds
/// and its report. Returns whether it completed.
#[allow(clippy::too_many_arguments)]
fn rehearse(
    db: &Database,
    profile: &Profile,
    script_name: &str,
    faults: &[&str],
    params: BTreeMap<String, String>,
    verbose: bool,
    out: &mut impl Write,
) -> Result<bool, CliError> {
    let script = bundled::script(script_name)
        .ok_or_else(|| anyhow!("no bundled script {script_name} (a build problem)"))
        .code(exit::FAILURE)?
        .code(exit::USAGE)?;
    let runner = Runner::new(script, &params, RunOptions::default()).code(exit::USAGE)?;
    let car = Vehicle::new(profile, db, faults)
        .map_err(|e| anyhow!("the simulated car: {e}"))
        .code(exit::FAILURE)?;
    let mut rehearsal = Rehearsal::new(runner, car, db, verbose).code(exit::FAILURE)?;
    let report = loop {
        let (lines, done) = rehearsal.advance().code(exit::FAILURE)?;
        for line in lines {
            writeln!(out, "   {line}")?;
        }
        if let Some(r) = done {
            break r;
        }
    };
    writeln!(
        out,
        "   report ({} tester events; keep-alive `3E 80` every 2 s throughout):\n{}",
        rehearsal.tester_events(),
        report
            .to_string()
            .lines()
            .map(|l| format!("     {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    )?;
    if script_name.starts_with("audio") {
        writeln!(
            out,
            "   AV unit on the bus again: {}",
            if rehearsal.vehicle().is_node_silent("AV") {
                "no"
            } else {
                "yes"
            }
        )?;
    }
    Ok(report.outcome == RunOutcome::Completed)
}
