//! `canrelearn simulate`: a simulated car on a CAN interface, to rehearse without a vehicle.
//!
//! Loads a simulator profile (the bundled Qashqai J11 one, or a file), the DBC it names (the
//! bundled J11 DBC for `dbc = "bundled"`, or `--dbc`), builds a [`Vehicle`] with the selected
//! faults and runs it on a SocketCAN interface (`vcan0` works) until Ctrl-C or `--duration`.
//! Every vehicle event is printed on stdout as one line: seconds since the start, then what
//! happened (`BCM: session 0x81 -> 0xC0 (requested)`).

use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use canrelearn::bus::{Clock, SocketCanBus, SocketCanOptions, SystemClock};
use canrelearn::dbc::Database;
use canrelearn::drive::sim as driver;
use canrelearn::sim::profile::Profile;
use canrelearn::sim::vehicle::Vehicle;

use super::signals::Interrupts;
use super::{CliError, WithCode, consent, exit, input};

/// The bundled profile's name for `--profile`.
pub const BUNDLED_PROFILE_NAME: &str = canrelearn::bundled::PROFILE_NAME;

/// Simulate a car on a CAN interface: periodic frames of every module and diagnostic answers.
///
/// The modules send their DBC messages at their cycle times and answer KWP2000 requests on
/// their diagnostic ids (BCM 0x745 -> 0x765, ...). Faults (see --list-faults) make modules
/// silent, refuse routines, answer slowly, reset, switch the ignition off mid-run, or keep the AV
/// unit silent until an audio unit registration.
///
/// Try it on a virtual interface (`sudo modprobe vcan`, `sudo ip link add vcan0 type vcan`,
/// `sudo ip link set up vcan0`): `canrelearn simulate --iface vcan0 --fault
/// audio-unit-unregistered`, then `canrelearn watch vcan0` and `canrelearn run
/// audio-unit-registration --iface vcan0` in other terminals. Without vcan, `canrelearn run
/// SCRIPT --simulate` rehearses against the same simulated car in-process.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The CAN interface to simulate the car on (e.g. vcan0).
    #[arg(long, value_name = "IFACE", required_unless_present = "list_faults")]
    pub iface: Option<String>,

    /// The bundled profile to use.
    #[arg(long, value_name = "NAME", default_value = BUNDLED_PROFILE_NAME,
          value_parser = [BUNDLED_PROFILE_NAME], conflicts_with = "profile_file")]
    pub profile: String,

    /// A simulator profile file (TOML) instead of the bundled one.
    #[arg(long, value_name = "PATH")]
    pub profile_file: Option<PathBuf>,

    /// DBC file(s) whose messages the modules send (default: what the profile names; the
    /// bundled J11 DBC for `dbc = "bundled"`).
    #[arg(long = "dbc", value_name = "FILE")]
    pub dbc: Vec<PathBuf>,

    /// Apply a fault from the profile (repeat for several).
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<String>,

    /// Print the profile's faults with their descriptions, and exit.
    #[arg(long)]
    pub list_faults: bool,

    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "S", value_parser = super::common::parse_seconds)]
    pub duration: Option<Duration>,

    /// Print no events.
    #[arg(long, short)]
    pub quiet: bool,

    /// Simulate on a real (non-virtual) CAN interface without asking. On a car the simulated
    /// modules would impersonate its own: only for a bench with no car attached.
    #[arg(long)]
    pub yes: bool,
}

/// The profile and the name it goes by.
fn load_profile(args: &Args) -> Result<(Profile, Option<PathBuf>), CliError> {
    match &args.profile_file {
        Some(path) => Ok((input::load_profile(path)?, Some(path.clone()))),
        None => Ok((input::bundled_profile()?, None)),
    }
}

/// `--dbc`, else the profile's `dbc` (relative to the profile file), else the bundled DBC.
fn load_db(
    args: &Args,
    profile: &Profile,
    profile_path: Option<&Path>,
) -> Result<Database, CliError> {
    match profile.dbc_path(profile_path) {
        Some(path) if args.dbc.is_empty() => input::load_dbcs(&[path]),
        _ => input::load_dbcs(&args.dbc),
    }
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let (profile, profile_path) = load_profile(&args)?;
    let mut out = io::stdout().lock();
    if args.list_faults {
        for f in &profile.faults {
            writeln!(out, "{}\t{}", f.name, f.description)?;
        }
        return Ok(exit::OK);
    }
    let db = load_db(&args, &profile, profile_path.as_deref())?;
    let faults: Vec<&str> = args.faults.iter().map(String::as_str).collect();
    let mut vehicle = Vehicle::new(&profile, &db, &faults).code(exit::USAGE)?;
    let Some(iface) = args.iface.clone() else {
        return Err(fail!(USAGE, "--iface is required"));
    };

    consent::require(
        &[&iface],
        &format!(
            "Simulate {} (the periodic frames of {} messages and the diagnostic answers of its modules, impersonating them)",
            profile.vehicle.name,
            vehicle.periodic_messages().len()
        ),
        args.yes,
    )?;
    let rt = super::common::runtime()?;
    rt.block_on(async {
        let mut bus = SocketCanBus::open(&iface, &SocketCanOptions::default())
            .with_context(|| format!("cannot open CAN interface {iface}"))
            .code(exit::BUS_IO)?;
        if !args.quiet {
            let modules: Vec<String> = vehicle
                .modules()
                .iter()
                .map(|m| match (m.request_id, m.response_id) {
                    (Some(rq), Some(rs)) => format!("{} ({rq}/{rs})", m.name),
                    _ => m.name.to_string(),
                })
                .collect();
            super::out::err_line(format!(
                "simulating {} on {iface}: {} periodic messages; modules {}; faults: {}. Ctrl-C stops.",
                profile.vehicle.name,
                vehicle.periodic_messages().len(),
                modules.join(", "),
                if faults.is_empty() { "none".to_string() } else { faults.join(", ") },
            ));
        }
        let clock = SystemClock;
        let start = clock.now();
        let duration = args.duration;
        let shutdown = async move {
            let stop = async {
                match duration {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            let mut interrupts = Interrupts::new();
            tokio::select! {
                _ = interrupts.recv() => {}
                () = stop => {}
            }
        };
        let mut write_error: Option<io::Error> = None;
        let quiet = args.quiet;
        let on_event = |ev: &canrelearn::sim::vehicle::VehicleEvent| {
            if quiet {
                return ControlFlow::Continue(());
            }
            let t = ev.at.saturating_duration_since(start).as_secs_f64();
            match writeln!(out, "{t:10.3} {}", ev.kind).and_then(|()| out.flush()) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    write_error = Some(e);
                    ControlFlow::Break(())
                }
            }
        };
        let (ended, stats) = driver::run(&mut vehicle, &mut bus, &clock, shutdown, on_event)
            .await
            .with_context(|| format!("simulation on {iface} failed"))
            .code(exit::BUS_IO)?;
        if let Some(e) = write_error {
            return Err(CliError::from(e));
        }
        tracing::info!(?ended, sent = stats.sent, received = stats.received, "simulation ended");
        if !quiet {
            super::out::err_line(format!(
                "simulation stopped: {} frames sent, {} received",
                stats.sent, stats.received
            ));
        }
        Ok(exit::OK)
    })
}
