//! `canrelearn run`: a procedure script on a CAN interface, with the operator at the terminal.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, anyhow};
use canrelearn::bus::{
    AnyBus, Clock, SocketCanBus, SocketCanOptions, SystemClock, TokioClock, VirtualBus,
};
use canrelearn::drive::console::{self, RunLog};
use canrelearn::drive::procedure::{self as driver, Notice};
use canrelearn::drive::screen::{self, Screen};
use canrelearn::drive::sim as sim_driver;
use canrelearn::load;
use canrelearn::procedure::params;
use canrelearn::procedure::report::RunReport;
use canrelearn::procedure::runner::{RunOptions, RunOutcome, Runner};
use canrelearn::procedure::script::{IdsOverrideError, Script};
use canrelearn::procedure::tester::Tester;
use canrelearn::procedure::transcript::{self, Transcript};
use canrelearn::sim::vehicle::Vehicle;
use canrelearn::time::Timestamp;
use indicatif::ProgressDrawTarget;
use tokio::sync::mpsc;

use super::signals::{self, Interrupts};
use super::{CliError, WithCode, consent, exit, files, input};

/// Run a procedure script (a relearn) on a CAN interface.
///
/// Checks the script's preconditions on live data, then runs its steps: diagnostic sessions
/// kept alive, requests checked against the expected answers, polling until the module reports
/// done, verification that a node is back on the bus. Nothing that writes to a module is sent
/// before you answer yes (or gave --yes); cleanup (back to the default session, keep-alive
/// off) always runs, also after a failure or Ctrl-C. Every frame sent and every diagnostic
/// frame received goes to a candump-format transcript with the steps as `#` comments (by
/// default `canrelearn-<procedure>-<UTC time>.log` in the current directory).
///
/// Rehearse first: `--dry-run` lists every frame that would be sent; `--simulate` runs the
/// script against the simulated J11 in this process (add `--fault NAME` to see failures
/// handled); or `canrelearn simulate --iface vcan0` in another terminal, then `canrelearn run
/// SCRIPT --iface vcan0`. Bundled scripts can be named without a path:
/// audio-unit-registration, bms-battery-registration.
///
/// Exit: 0 completed; 1 failed or aborted (the reason is printed and in the report); 2 a
/// malformed script, a bad --set/--ids or DBC; 4 the interface cannot be opened or failed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The script: a TOML file, or the name of a bundled script.
    pub script: String,

    /// The CAN interface the car (or the simulator) is on. Not needed with --dry-run or
    /// --simulate.
    #[arg(long, short = 'i', required_unless_present_any = ["dry_run", "simulate"])]
    pub iface: Option<String>,

    /// Rehearse against the simulated J11 (the bundled simulator profile) in this process, in
    /// real time, on an in-process bus: no CAN hardware or kernel support needed.
    #[arg(long, conflicts_with_all = ["iface", "dry_run"])]
    pub simulate: bool,

    /// With --simulate: a simulator fault (repeat for several; `canrelearn simulate
    /// --list-faults` lists them).
    #[arg(long, value_name = "NAME", requires = "simulate")]
    pub fault: Vec<String>,

    /// Print every request and the CAN frames that would carry it; send nothing, open no
    /// interface.
    #[arg(long)]
    pub dry_run: bool,

    /// Answer yes to every confirmation (each is recorded in the transcript and the report),
    /// and consent to sending on a real (non-virtual) interface. On a real interface it does
    /// not release writes whose bytes are placeholders [U]: those are still asked, and only
    /// `yes` typed in full sends one (see --allow-placeholder-writes).
    #[arg(long)]
    pub yes: bool,

    /// With --yes on a real interface: also send writes whose bytes are placeholders [U]
    /// (not verified on a car) without asking. Only for scripts you have checked yourself.
    #[arg(long, requires = "yes")]
    pub allow_placeholder_writes: bool,

    /// Overwrite an existing --transcript or --report file.
    #[arg(long)]
    pub force: bool,

    /// A parameter value, e.g. --set capacity_ah=70 (repeat for more); missing ones are asked.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,

    /// Override a module's diagnostic ids: MODULE=TX/RX in hex, e.g. --ids BCM=745/765.
    #[arg(long = "ids", value_name = "MODULE=TX/RX")]
    pub ids: Vec<String>,

    /// Where to write the transcript (candump format with `#` annotations). An existing file
    /// is refused unless --force, the script itself always.
    #[arg(long, value_name = "FILE", conflicts_with = "no_transcript")]
    pub transcript: Option<PathBuf>,

    /// Write no transcript.
    #[arg(long)]
    pub no_transcript: bool,

    /// Put every frame read in the transcript, not only the modules' diagnostic frames.
    #[arg(long)]
    pub transcript_all: bool,

    /// Write the report as JSON to this file (`-` for standard output: then only the JSON
    /// goes there, and what the operator reads goes to standard error). The file is created
    /// before anything is sent; an existing one is refused unless --force. It keeps the
    /// polled values and watched signals over time: `canrelearn plot --run FILE` draws them.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    #[command(flatten)]
    pub dbc: super::common::DbcArgs,

    /// Show keep-alives and every CAN frame, not only the requests and answers.
    #[arg(long)]
    pub frames: bool,
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let (mut script, script_name) = load_script(&args.script)?;
    for spec in &args.ids {
        override_ids(&mut script, spec)?;
    }
    let db = input::load_dbcs(&args.dbc.dbc)?;
    let values = params::parse_assignments(args.set.iter().map(String::as_str))
        .map_err(|e| fail!(USAGE, "--set {e}"))?;
    // Consent to send on a real interface, once, before anything is opened.
    let real = match (&args.iface, args.simulate || args.dry_run) {
        (Some(iface), false) => {
            let targets = consent::targets(&[iface.as_str()])?;
            consent::decide(
                &targets,
                &console::consent_summary(&script),
                args.yes,
                consent::terminal,
            )?;
            !consent::all_virtual(&targets)
        }
        _ => false,
    };
    let options = RunOptions {
        assume_yes: args.yes,
        // On a real interface --yes alone does not release placeholder writes.
        yes_releases_placeholder_writes: !real || args.allow_placeholder_writes,
        dry_run: args.dry_run,
        ..RunOptions::default()
    };
    let runner = Runner::new(script, &values, options)
        .with_context(|| format!("{script_name}: cannot start"))
        .code(exit::USAGE)?;
    let car = match args.simulate {
        true => {
            let profile = input::bundled_profile()?;
            let faults: Vec<&str> = args.fault.iter().map(String::as_str).collect();
            Some(Vehicle::new(&profile, &db, &faults).code(exit::USAGE)?)
        }
        false => None,
    };
    let tester = Tester::new(runner, db)
        .with_context(|| format!("{script_name}: cannot set up the modules"))
        .code(exit::USAGE)?;
    let iface: Arc<str> = Arc::from(match (&args.iface, args.simulate) {
        (Some(i), _) => i.as_str(),
        (None, true) => "sim",
        (None, false) => "can0",
    });

    let rt = super::common::runtime()?;
    rt.block_on(drive(args, tester, car, script_name, iface))
}

async fn drive(
    args: Args,
    mut tester: Tester,
    car: Option<Vehicle>,
    script_name: String,
    iface: Arc<str>,
) -> Result<u8, CliError> {
    let clock = TokioClock::new(SystemClock.now());
    let started = clock.now();
    let script = tester.runner().script().clone();
    // What the operator reads goes to stdout, or to stderr when stdout carries the JSON
    // report; a polling step's bar is drawn on stderr when that stream is a terminal.
    let (out, terminal): (Box<dyn Write + Send>, bool) =
        match args.report.as_deref() == Some(Path::new("-")) {
            true => (Box::new(io::stderr()), io::stderr().is_terminal()),
            false => (Box::new(io::stdout()), io::stdout().is_terminal()),
        };
    let bar = terminal.then_some(ProgressDrawTarget::stderr as fn() -> ProgressDrawTarget);
    let mut screen = Screen::new(&script, args.frames, args.dry_run, started, out, bar);
    screen.line(&console::intro(
        &script,
        &script_name,
        &iface,
        args.dry_run,
        args.yes,
    ));

    // The bus first: nothing is created for a run that cannot start.
    let vbus = VirtualBus::new(&iface);
    let socket = match (args.dry_run, car) {
        (true, _) => None,
        (false, Some(car)) => {
            sim_driver::spawn(car, &vbus, &clock);
            screen.line(&console::simulated_car(&args.fault));
            None
        }
        (false, None) => Some(
            SocketCanBus::open(&iface, &SocketCanOptions::default())
                .with_context(|| format!("cannot open CAN interface {iface}"))
                .code(exit::BUS_IO)?,
        ),
    };

    // The files, before anything is sent.
    let RunFiles {
        transcript,
        transcript_path,
        report_file,
    } = open_files(&args, &script, started, &mut screen)?;
    let mut log = RunLog::new(
        transcript,
        args.transcript_all,
        &script,
        &script_name,
        &iface,
        started,
    );

    let (mut answers, mut interrupts) = operator(&args, &mut screen);

    // The bus. Dry run: an in-process bus with nobody else on it (nothing is sent); or the
    // simulated car's bus.
    let mut bus = match socket {
        Some(bus) => AnyBus::SocketCan(bus),
        None => AnyBus::Virtual(vbus.endpoint()),
    };
    let on_notice = |n: Notice<'_>| {
        log.notice(&n, &iface);
        let interrupt = signals::last().map_or("interrupted", signals::name);
        screen.notice(&n, &iface, interrupt);
    };
    let report = driver::run(
        &mut tester,
        &mut bus,
        &clock,
        &mut answers,
        &mut interrupts,
        on_notice,
    )
    .await;
    screen.finish();
    // Files first (nothing lost if the terminal has gone), then the screen, then errors.
    let transcript_error = log.finish(&report).err().map(|e| {
        let path = transcript_path.as_deref().unwrap_or(Path::new("-"));
        anyhow!("the transcript {} is incomplete: {e}", path.display())
    });
    let run_report = log.run_report(
        &report,
        &script,
        &script_name,
        &iface,
        transcript_path.as_deref(),
    );
    let (report_json_text, report_error) = write_report(&args, report_file, run_report);
    // The operator's summary: on stdout, or on stderr when stdout carries the JSON report.
    screen.line(&format!("\n{report}"));
    if let Some(text) = report_json_text {
        let mut out = io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
    }
    if let Some(e) = transcript_error.or(report_error) {
        return Err(CliError::new(exit::BUS_IO, e));
    }
    Ok(match report.outcome {
        RunOutcome::Completed => exit::OK,
        _ if log.bus_error => exit::BUS_IO,
        _ => exit::FAILURE,
    })
}

/// The files a run writes, created before anything is sent.
struct RunFiles {
    transcript: Option<Transcript<BufWriter<std::fs::File>>>,
    transcript_path: Option<PathBuf>,
    report_file: Option<std::fs::File>,
}

/// Creates the transcript and the report: an existing file is refused unless --force, the
/// script and the DBCs always; a default transcript name is never reused.
fn open_files(
    args: &Args,
    script: &Script,
    started: Timestamp,
    screen: &mut Screen,
) -> Result<RunFiles, CliError> {
    let inputs: Vec<&Path> = std::iter::once(Path::new(&args.script))
        .filter(|p| p.exists())
        .chain(args.dbc.dbc.iter().map(PathBuf::as_path))
        .collect();
    let transcript_file = match (
        &args.transcript,
        args.no_transcript || args.dry_run || args.simulate,
    ) {
        (Some(p), _) => Some((
            files::create(p, "the transcript", args.force, inputs.iter().copied())?,
            p.clone(),
        )),
        (None, true) => None,
        (None, false) => Some(files::create_unique(
            Path::new("."),
            &transcript::default_stem(&script.procedure.name, started),
            "log",
            "the transcript",
        )?),
    };
    let transcript_path = transcript_file.as_ref().map(|(_, p)| p.clone());
    let report_file = match &args.report {
        Some(p) if p != Path::new("-") => Some(files::create(
            p,
            "the report",
            args.force,
            inputs.iter().copied().chain(transcript_path.as_deref()),
        )?),
        _ => None,
    };
    let transcript = transcript_file.map(|(f, p)| {
        screen.line(&format!("transcript: {}", p.display()));
        Transcript::new(BufWriter::new(f))
    });
    Ok(RunFiles {
        transcript,
        transcript_path,
        report_file,
    })
}

/// The operator's inputs: answers read from the terminal (none without one: every
/// confirmation is then answered no), and Ctrl-C, SIGTERM and SIGHUP alike (the first
/// aborts through cleanup).
fn operator(
    args: &Args,
    screen: &mut Screen,
) -> (mpsc::UnboundedReceiver<String>, mpsc::UnboundedReceiver<()>) {
    let answers = if io::stdin().is_terminal() && !(args.dry_run && args.yes) {
        screen::read_answers(io::BufReader::new(io::stdin()))
    } else {
        // No terminal: confirmations are answered no (use --yes), parameters must be --set.
        if !args.yes && !args.dry_run {
            screen.line(
                "standard input is not a terminal: every confirmation will be answered no (give --yes to confirm)",
            );
        }
        mpsc::unbounded_channel::<String>().1
    };
    let (interrupt_tx, interrupts) = mpsc::unbounded_channel::<()>();
    tokio::spawn(async move {
        let mut signals = Interrupts::new();
        loop {
            signals.recv().await;
            if interrupt_tx.send(()).is_err() {
                return;
            }
        }
    });
    (answers, interrupts)
}

/// Writes the JSON report to its file, or gives its text for stdout (`--report -`); with
/// the error if the file could not be written.
fn write_report(
    args: &Args,
    file: Option<std::fs::File>,
    report: RunReport,
) -> (Option<String>, Option<anyhow::Error>) {
    if args.report.is_none() {
        return (None, None);
    }
    let text = report.to_json();
    match (file, &args.report) {
        (Some(f), Some(path)) => {
            // Whole or not at all: a truncated report is no JSON for a script to read.
            let error = canrelearn::create::fill(f, path, text.as_bytes())
                .err()
                .map(|e| anyhow!("cannot write the report {}: {e}", path.display()));
            (None, error)
        }
        _ => (Some(text), None),
    }
}

/// [`load::script_or_bundled`].
fn load_script(arg: &str) -> Result<(Script, String), CliError> {
    load::script_or_bundled(arg).code(exit::USAGE)
}

/// `--ids MODULE=TX/RX` ([`Script::override_ids`]), errors naming the option.
fn override_ids(script: &mut Script, spec: &str) -> Result<(), CliError> {
    script.override_ids(spec).map_err(|e| {
        CliError::new(
            exit::USAGE,
            match e {
                IdsOverrideError::Syntax(_) => anyhow!("--ids {e}"),
                IdsOverrideError::Id(e) => anyhow!(e),
                IdsOverrideError::Module(_) => anyhow!("--ids {spec}: {e}"),
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use canrelearn::frame::Id;

    #[test]
    fn test_override_ids_errors_name_the_option() {
        let (mut s, _) = load_script("audio-unit-registration").unwrap();
        override_ids(&mut s, "BCM=7A0/7A8").unwrap();
        assert_eq!(s.modules["BCM"].request_id, Id::standard(0x7A0).unwrap());
        let text = |spec: &str| {
            let e = override_ids(&mut s.clone(), spec).unwrap_err();
            assert_eq!(e.code, exit::USAGE);
            e.error.to_string()
        };
        assert_eq!(
            text("BCM745/765"),
            "--ids takes MODULE=TX/RX in hex (like BCM=745/765), not `BCM745/765`"
        );
        assert!(text("XYZ=1/2").starts_with("--ids XYZ=1/2: the script has no module XYZ"));
        assert!(
            text("BCM=800/765").contains("`800` is out of range"),
            "{}",
            text("BCM=800/765")
        );
    }
}
