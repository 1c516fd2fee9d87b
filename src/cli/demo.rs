//! `canrelearn demo`: the whole story on a simulated J11, in-process, with no hardware.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

use anyhow::anyhow;
use canrelearn::dbc::Database;
use canrelearn::procedure::Script;
use canrelearn::procedure::harness::{Answers, SimHarness, TesterEvent};
use canrelearn::procedure::runner::{EventKind, RunOptions, RunOutcome, Runner};
use canrelearn::sim::profile::Profile;
use canrelearn::sim::vehicle::{EventKind as CarEvent, Vehicle};
use canrelearn::time::Timestamp;
use canrelearn::watch::{
    ArmCondition, ArmedEvent, ArmedWatch, Event, Subject, WatchConfig, expectations_from_dbc,
};

use super::{CliError, WithCode, exit, input};

use input::{AUDIO_SCRIPT, BMS_SCRIPT};

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

fn secs(t: Timestamp) -> f64 {
    t.as_secs_f64()
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
        AUDIO_SCRIPT,
        "audio-unit-registration.toml",
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
        BMS_SCRIPT,
        "bms-battery-registration.toml",
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

/// Run the simulated car alone for `span` with the watcher; print its events. Returns whether
/// the AV node was reported lost.
fn observe(
    db: &Database,
    profile: &Profile,
    span: Duration,
    text: &mut String,
) -> Result<bool, CliError> {
    let mut car = Vehicle::new(profile, db, &["audio-unit-unregistered"])
        .map_err(|e| anyhow!("the simulated car: {e}"))
        .code(exit::FAILURE)?;
    let arm = ArmCondition::from_database(db)
        .map_err(|e| anyhow!("the DBC's arming condition: {e}"))
        .code(exit::FAILURE)?;
    let mut watch = ArmedWatch::new(WatchConfig::default(), expectations_from_dbc(db), arm, db)
        .code(exit::FAILURE)?;
    let end = Timestamp::ZERO + span;
    let mut lost_av = false;
    let mut now = Timestamp::ZERO;
    while now <= end {
        car.handle_timeout(now);
        while let Some(frame) = car.poll_transmit(now) {
            watch.handle_frame(now, &frame);
        }
        while car.poll_event().is_some() {}
        while let Some(e) = watch.poll_event() {
            match e {
                ArmedEvent::Armed { at } => {
                    let _ = writeln!(
                        text,
                        "   {:7.3}  armed ({} holds)",
                        secs(at),
                        watch.condition().unwrap_or_default()
                    );
                }
                ArmedEvent::Watch(Event::Lost {
                    node,
                    subject,
                    at,
                    last_seen,
                }) => {
                    let w = watch.watcher();
                    let name = w.node_names().get(node).cloned().unwrap_or_default();
                    lost_av |= name == "AV";
                    let what = match subject {
                        Subject::Node => "node".to_string(),
                        Subject::Message(i) => w
                            .expectations()
                            .get(i)
                            .and_then(|x| x.name.clone())
                            .unwrap_or_default(),
                    };
                    let _ = writeln!(
                        text,
                        "   {:7.3}  LOST {name:<4} {what:<16} {}",
                        secs(at),
                        match last_seen {
                            Some(t) => format!("last seen at {:.3}", secs(t)),
                            None => "never seen since arming".to_string(),
                        }
                    );
                }
                _ => {}
            }
        }
        now = match car.poll_timeout() {
            Some(t) if t > now => t
                .min(watch.poll_timeout().unwrap_or(t))
                .max(now + Duration::from_micros(1)),
            _ => now + Duration::from_millis(1),
        };
        watch.handle_timeout(now.min(end));
    }
    Ok(lost_av)
}

/// Run one bundled script against a fresh simulated car with the harness; print its progress
/// as it unfolds and its report. Returns whether it completed.
#[allow(clippy::too_many_arguments)]
fn rehearse(
    db: &Database,
    profile: &Profile,
    script_text: &str,
    script_name: &str,
    faults: &[&str],
    params: BTreeMap<String, String>,
    verbose: bool,
    out: &mut impl Write,
) -> Result<bool, CliError> {
    let script = Script::from_toml(script_text, script_name).code(exit::USAGE)?;
    let runner = Runner::new(script, &params, RunOptions::default()).code(exit::USAGE)?;
    let car = Vehicle::new(profile, db, faults)
        .map_err(|e| anyhow!("the simulated car: {e}"))
        .code(exit::FAILURE)?;
    let mut harness =
        SimHarness::new(runner, car, db.clone(), Answers::default()).code(exit::FAILURE)?;
    let (mut shown, mut shown_tester, mut shown_car) = (0, 0, 0);
    let mut slice = Timestamp::ZERO;
    let mut last_progress: Option<Timestamp> = None;
    let report = loop {
        slice += Duration::from_millis(500);
        let done = harness.run_until(slice);
        // Lines of this slice, put in time order at the end.
        let mut lines: Vec<(Timestamp, String)> = Vec::new();
        for e in harness.transcript.iter().skip(shown) {
            let show = match &e.kind {
                EventKind::Progress { .. } => {
                    // One progress line every 20 s of polling.
                    let due = last_progress.is_none_or(|t| {
                        e.at.saturating_duration_since(t) >= Duration::from_secs(20)
                    });
                    if due {
                        last_progress = Some(e.at);
                    }
                    due
                }
                EventKind::Exchange { .. } => verbose,
                _ => true,
            };
            if show {
                lines.push((e.at, format!("   {:7.3}  {}", secs(e.at), e.kind)));
            }
        }
        shown = harness.transcript.len();
        for (at, e) in harness.tester.iter().skip(shown_tester) {
            if let TesterEvent::Sent {
                module,
                pdu,
                keep_alive: false,
            } = e
                && (verbose || shown_tester < 4)
            {
                let line = format!(
                    "   {:7.3}    -> {module} {}",
                    secs(*at),
                    canrelearn::diag::format_hex(pdu)
                );
                lines.push((*at, line));
            }
        }
        shown_tester = harness.tester.len();
        for e in harness.vehicle_events.iter().skip(shown_car) {
            if matches!(
                e.kind,
                CarEvent::FlagSet { .. } | CarEvent::RoutineCompleted { .. }
            ) {
                lines.push((e.at, format!("   {:7.3}  car: {}", secs(e.at), e.kind)));
            }
        }
        shown_car = harness.vehicle_events.len();
        lines.sort_by_key(|l| l.0);
        for (_, line) in lines {
            writeln!(out, "{line}")?;
        }
        if let Some(r) = done {
            break r;
        }
        if slice > Timestamp::ZERO + Duration::from_secs(1200) {
            return Err(CliError::new(
                exit::FAILURE,
                anyhow!("the rehearsal did not finish within 20 simulated minutes"),
            ));
        }
    };
    let frames = harness.tester.len();
    writeln!(
        out,
        "   report ({frames} tester events; keep-alive `3E 80` every 2 s throughout):\n{}",
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
            if harness.vehicle().is_node_silent("AV") {
                "no"
            } else {
                "yes"
            }
        )?;
    }
    Ok(report.outcome == RunOutcome::Completed)
}
