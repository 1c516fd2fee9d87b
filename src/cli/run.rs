//! `canrelearn run`: a procedure script on a CAN interface, with the operator at the terminal.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use canrelearn::bus::{Clock, SocketCanBus, SocketCanOptions, SystemClock, TokioClock, VirtualBus};
use canrelearn::diag::format_hex;
use canrelearn::drive::procedure::{self as driver, CLEANUP_LIMIT, Notice};
use canrelearn::drive::sim as sim_driver;
use canrelearn::frame::Id;
use canrelearn::procedure::report::{RunContext, RunReport};
use canrelearn::procedure::runner::{EventKind, RunOptions, RunOutcome, Runner};
use canrelearn::procedure::script::{Provenance, Script};
use canrelearn::procedure::tester::{Question, Tester, TesterEvent};
use canrelearn::procedure::transcript::Transcript;
use canrelearn::sim::vehicle::Vehicle;
use canrelearn::time::{Timestamp, UtcTime};
use indicatif::{ProgressBar, ProgressStyle};
use std::ops::ControlFlow;
use tokio::sync::mpsc;

use super::input::{id_text, parse_id};
use super::signals::{self, Interrupts};
use super::{CliError, WithCode, consent, exit, files, input, out};

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

/// The bundled scripts, by name.
const BUNDLED: &[(&str, &str)] = &[
    ("audio-unit-registration", input::AUDIO_SCRIPT),
    ("bms-battery-registration", input::BMS_SCRIPT),
];

pub fn run(args: Args) -> Result<u8, CliError> {
    let (mut script, script_name) = load_script(&args.script)?;
    for spec in &args.ids {
        override_ids(&mut script, spec)?;
    }
    let db = input::load_dbcs(&args.dbc.dbc)?;
    let mut values = std::collections::BTreeMap::new();
    for s in &args.set {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| anyhow!("--set takes NAME=VALUE, not `{s}`"))
            .code(exit::USAGE)?;
        values.insert(k.trim().to_string(), v.trim().to_string());
    }
    // Consent to send on a real interface, once, before anything is opened.
    let real = match (&args.iface, args.simulate || args.dry_run) {
        (Some(iface), false) => {
            let targets = consent::targets(&[iface.as_str()])?;
            let modules: Vec<String> = script
                .modules
                .iter()
                .map(|(n, m)| format!("{n} on {}", id_text(m.request_id)))
                .collect();
            consent::decide(
                &targets,
                &format!(
                    "Run the procedure {} ({} steps; diagnostic requests to {}; every write is confirmed separately)",
                    script.procedure.name,
                    script.steps.len(),
                    modules.join(", ")
                ),
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
    let report_to_stdout = args.report.as_deref() == Some(Path::new("-"));
    let mut screen = Screen::new(args.frames, args.dry_run, started, report_to_stdout);
    screen.placeholders = script
        .steps
        .iter()
        .filter(|s| s.provenance == Provenance::Placeholder)
        .map(|s| s.id.clone())
        .collect();
    screen.line(&intro(
        &script,
        &script_name,
        &iface,
        args.dry_run,
        args.yes,
    ));

    // The bus first: nothing is created for a run that cannot start.
    let vbus = VirtualBus::new(&iface);
    let mut socket = match (args.dry_run, car) {
        (true, _) => None,
        (false, Some(car)) => {
            start_car(car, &vbus, &clock);
            screen.line(&format!(
                "simulated car: bundled J11 profile, faults: {}",
                if args.fault.is_empty() {
                    "none".to_string()
                } else {
                    args.fault.join(", ")
                }
            ));
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
    } = open_files(&args, &script, &script_name, &iface, started, &mut screen)?;

    let (mut answers, mut interrupts) = operator(&args, &mut screen);

    // The bus.
    let mut log = RunLog {
        transcript,
        transcript_all: args.transcript_all,
        started,
        sent: 0,
        received: 0,
        bus_error: false,
    };
    let report = {
        let mut on_notice = |n: Notice<'_>| {
            log.notice(&n, &iface, &script);
            screen.notice(&n, &iface);
        };
        match &mut socket {
            Some(bus) => {
                driver::run(
                    &mut tester,
                    bus,
                    &clock,
                    &mut answers,
                    &mut interrupts,
                    &mut on_notice,
                )
                .await
            }
            None => {
                // Dry run: an in-process bus with nobody else on it (nothing is sent); or the
                // simulated car's bus.
                let mut ep = vbus.endpoint();
                driver::run(
                    &mut tester,
                    &mut ep,
                    &clock,
                    &mut answers,
                    &mut interrupts,
                    &mut on_notice,
                )
                .await
            }
        }
    };
    screen.finish();
    // Files first (nothing lost if the terminal has gone), then the screen, then errors.
    let RunLog {
        transcript,
        sent,
        received,
        bus_error,
        ..
    } = log;
    let transcript_error =
        transcript.and_then(|t| close_transcript(t, &report, started, transcript_path.as_deref()));
    let (report_json_text, report_error) = write_report(
        &args,
        report_file,
        RunReport::new(
            &report,
            &script,
            RunContext {
                script_name: &script_name,
                interface: &iface,
                transcript: transcript_path
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .as_deref(),
                frames_sent: sent,
                frames_received: received,
            },
        ),
    );
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
        _ if bus_error => exit::BUS_IO,
        _ => exit::FAILURE,
    })
}

/// What a run's notices leave in the transcript, and the counts the report gives.
struct RunLog {
    transcript: Option<Transcript<BufWriter<std::fs::File>>>,
    /// Every frame of the bus in the transcript, not only the diagnostic ones.
    transcript_all: bool,
    started: Timestamp,
    sent: u64,
    received: u64,
    bus_error: bool,
}

impl RunLog {
    /// Counts frames and writes to the transcript every frame sent, the frames of the
    /// script's modules (all with --transcript-all), the run's events but its poll progress,
    /// and the tester's actions.
    fn notice(&mut self, n: &Notice<'_>, iface: &str, script: &Script) {
        let since = |at: Timestamp| at.saturating_duration_since(self.started).as_secs_f64();
        match n {
            Notice::Frame { at, sent, frame } => {
                if *sent {
                    self.sent += 1;
                } else {
                    self.received += 1;
                }
                if let Some(t) = &mut self.transcript
                    && (*sent
                        || self.transcript_all
                        || frame.id().is_some_and(|id| tester_ids_contains(script, id)))
                {
                    t.frame(*at, iface, frame, *sent);
                }
            }
            Notice::Run(e) => {
                if let Some(t) = &mut self.transcript
                    && !matches!(e.kind, EventKind::Progress { .. })
                {
                    t.comment(&format!("{:.3} {}", since(e.at), e.kind));
                }
            }
            Notice::Tester(at, TesterEvent::Action(a)) => {
                if let Some(t) = &mut self.transcript {
                    t.comment(&format!("{:.3} {a}", since(*at)));
                }
            }
            Notice::BusError(_) => self.bus_error = true,
            _ => {}
        }
    }
}

/// Runs the simulated car on the in-process bus, in real time, until the run is over.
fn start_car(mut car: Vehicle, vbus: &VirtualBus, clock: &TokioClock) {
    let mut car_ep = vbus.endpoint();
    let car_clock = TokioClock::new(clock.now());
    tokio::spawn(async move {
        let r = sim_driver::run(
            &mut car,
            &mut car_ep,
            &car_clock,
            std::future::pending(),
            |_| ControlFlow::Continue(()),
        )
        .await;
        if let Err(e) = r {
            tracing::warn!("the simulated car stopped: {e}");
        }
    });
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
    script_name: &str,
    iface: &str,
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
        (None, false) => {
            // The procedure's name made safe for a file name.
            let name: String = script
                .procedure
                .name
                .chars()
                .map(|c| match c {
                    'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => c,
                    _ => '_',
                })
                .collect();
            Some(files::create_unique(
                Path::new("."),
                &format!("canrelearn-{name}-{}", utc_compact(started)),
                "log",
                "the transcript",
            )?)
        }
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
        let mut t = Transcript::new(BufWriter::new(f));
        t.comment(&format!(
            "canrelearn {} run {} ({}) on {}, started {}",
            env!("CARGO_PKG_VERSION"),
            script.procedure.name,
            script_name,
            iface,
            utc_iso(started)
        ));
        screen.line(&format!("transcript: {}", p.display()));
        t
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
    let (answer_tx, answers) = mpsc::unbounded_channel::<String>();
    if io::stdin().is_terminal() && !(args.dry_run && args.yes) {
        std::thread::spawn(move || {
            let mut line = String::new();
            loop {
                line.clear();
                match io::stdin().read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if answer_tx.send(line.clone()).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    } else {
        // No terminal: confirmations are answered no (use --yes), parameters must be --set.
        if !args.yes && !args.dry_run {
            screen.line(
                "standard input is not a terminal: every confirmation will be answered no (give --yes to confirm)",
            );
        }
        drop(answer_tx);
    }
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

/// Ends the transcript with the outcome; an error if it could not be written whole.
fn close_transcript(
    mut t: Transcript<BufWriter<std::fs::File>>,
    report: &canrelearn::procedure::runner::Report,
    started: Timestamp,
    path: Option<&Path>,
) -> Option<anyhow::Error> {
    t.comment(&format!(
        "{:.3} {}{}",
        report
            .ended
            .saturating_duration_since(started)
            .as_secs_f64(),
        report.outcome,
        report
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    ));
    t.finish().err().map(|e| {
        anyhow!(
            "the transcript {} is incomplete: {e}",
            path.unwrap_or(Path::new("-")).display()
        )
    })
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
        (Some(mut f), Some(path)) => {
            let error = f
                .write_all(text.as_bytes())
                .and_then(|()| f.flush())
                .err()
                .map(|e| anyhow!("cannot write the report {}: {e}", path.display()));
            (None, error)
        }
        _ => (Some(text), None),
    }
}

fn tester_ids_contains(script: &Script, id: Id) -> bool {
    script
        .modules
        .values()
        .any(|m| m.request_id == id || m.response_id == id)
}

/// A script from a file or, when no such file exists, a bundled one by name.
fn load_script(arg: &str) -> Result<(Script, String), CliError> {
    let path = Path::new(arg);
    if !path.exists() {
        let name = arg.trim_end_matches(".toml");
        if let Some((n, text)) = BUNDLED.iter().find(|(n, _)| *n == name) {
            let script = Script::from_toml(text, &format!("bundled {n}.toml"))
                .context("a bundled script does not load (a build problem)")
                .code(exit::USAGE)?;
            return Ok((script, format!("bundled {n}")));
        }
        let names: Vec<&str> = BUNDLED.iter().map(|(n, _)| *n).collect();
        return Err(CliError::new(
            exit::USAGE,
            anyhow!(
                "{arg}: no such file, and not a bundled script (bundled: {})",
                names.join(", ")
            ),
        ));
    }
    let script = input::load_script(path)?;
    Ok((script, path.display().to_string()))
}

/// `MODULE=TX/RX` (hex; 8 digits for 29-bit ids).
fn override_ids(script: &mut Script, spec: &str) -> Result<(), CliError> {
    let bad = || {
        CliError::new(
            exit::USAGE,
            anyhow!("--ids takes MODULE=TX/RX in hex (like BCM=745/765), not `{spec}`"),
        )
    };
    let (module, ids) = spec.split_once('=').ok_or_else(bad)?;
    let (tx, rx) = ids.split_once('/').ok_or_else(bad)?;
    let (tx, rx) = (parse_id(tx.trim(), false)?, parse_id(rx.trim(), false)?);
    let known: Vec<String> = script.modules.keys().cloned().collect();
    let m = script.modules.get_mut(module.trim()).ok_or_else(|| {
        CliError::new(
            exit::USAGE,
            anyhow!(
                "--ids {spec}: the script has no module {module} (it has: {})",
                known.join(", ")
            ),
        )
    })?;
    m.request_id = tx;
    m.response_id = rx;
    Ok(())
}

fn intro(script: &Script, name: &str, iface: &str, dry_run: bool, yes: bool) -> String {
    let p = &script.procedure;
    let mut s = format!(
        "{}{} ({}) from {name}{}\n",
        if dry_run {
            "DRY RUN (nothing is sent): "
        } else {
            ""
        },
        p.name,
        if p.vehicle.is_empty() {
            "any vehicle"
        } else {
            &p.vehicle
        },
        if dry_run {
            String::new()
        } else {
            format!(" on {iface}")
        },
    );
    for (n, m) in &script.modules {
        s += &format!(
            "  module {n}: request {} response {}{}\n",
            id_text(m.request_id),
            id_text(m.response_id),
            match &m.keep_alive {
                Some(k) => format!(
                    ", keep-alive {} every {:.1} s while a session is open",
                    format_hex(k),
                    m.keep_alive_period.as_secs_f64()
                ),
                None => String::new(),
            }
        );
    }
    let placeholders = script
        .steps
        .iter()
        .filter(|s| s.provenance == Provenance::Placeholder)
        .count();
    if placeholders > 0 {
        s += &format!(
            "  {placeholders} of {} steps carry placeholder bytes (not verified on a car; see the script)\n",
            script.steps.len()
        );
    }
    if yes {
        s += "  --yes: every confirmation is answered yes (recorded)\n";
    } else if !dry_run {
        s += "  nothing that writes to a module is sent before you answer yes; Ctrl-C aborts safely\n";
    }
    s
}

/// What the operator sees: steps, requests and answers, questions, a progress bar while a
/// step polls (on a terminal; lines otherwise).
struct Screen {
    /// Lines go to stderr (stdout carries the JSON report).
    to_stderr: bool,
    frames: bool,
    dry_run: bool,
    started: Timestamp,
    bar: Option<ProgressBar>,
    tty: bool,
    last_progress_line: Option<Timestamp>,
    /// A poll step is repeating: its requests and answers are summarised by the progress.
    polling: bool,
    /// The ids of the steps whose bytes are placeholders, marked as they start.
    placeholders: Vec<String>,
}

impl Screen {
    fn new(frames: bool, dry_run: bool, started: Timestamp, to_stderr: bool) -> Screen {
        Screen {
            to_stderr,
            frames,
            dry_run,
            started,
            bar: None,
            tty: if to_stderr {
                io::stderr().is_terminal()
            } else {
                io::stdout().is_terminal()
            },
            last_progress_line: None,
            polling: false,
            placeholders: Vec::new(),
        }
    }

    fn rel(&self, t: Timestamp) -> f64 {
        t.saturating_duration_since(self.started).as_secs_f64()
    }

    fn line(&self, text: &str) {
        let text = text.trim_end_matches('\n');
        match &self.bar {
            Some(b) => b.println(text),
            None if self.to_stderr => out::err_line(text),
            None => {
                let mut out = io::stdout().lock();
                let _ = writeln!(out, "{text}");
                let _ = out.flush();
            }
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }

    fn notice(&mut self, n: &Notice<'_>, iface: &str) {
        match n {
            Notice::Frame { at, sent, frame } if self.frames => {
                self.line(&format!(
                    "{:9.3}      {} {iface} {frame}",
                    self.rel(*at),
                    if *sent { "T" } else { "R" }
                ));
            }
            Notice::Frame { .. } => {}
            Notice::Tester(at, e) => self.tester(*at, e, iface),
            Notice::Run(e) => self.run_event(e),
            Notice::Question(q) => {
                let text = match q {
                    Question::Confirm { text, writes, .. } => format!(
                        "\n?? {text}{}\n   Type yes or no, then Enter:",
                        if *writes {
                            "\n   (this changes the module)"
                        } else {
                            ""
                        }
                    ),
                    // A refused answer's reason is the runner's note, just shown.
                    Question::Ask {
                        prompt, expected, ..
                    } if prompt.contains(expected.as_str()) => format!("\n?? {prompt}:"),
                    Question::Ask {
                        prompt, expected, ..
                    } => format!("\n?? {prompt} ({expected}):"),
                };
                self.line(&text);
            }
            Notice::Refused { answer, why } => {
                self.line(&format!("!! `{}`: {why}", answer.trim()));
            }
            Notice::Interrupted { count: 1 } => {
                self.line(&format!(
                    "!! {}: aborting; returning the modules to their default session (at most {} s; interrupt twice more to give up)",
                    signals::last().map_or("interrupted", signals::name),
                    CLEANUP_LIMIT.as_secs()
                ));
            }
            Notice::Interrupted { count: 2 } => {
                self.line("!! cleanup is running (bounded); interrupt once more to abandon it and leave the modules as they are");
            }
            Notice::Interrupted { .. } => {
                self.line("!! cleanup abandoned: see the report for the modules that may still be in a diagnostic session");
            }
            Notice::CleanupTimedOut => {
                self.line(&format!(
                    "!! cleanup did not finish within {} s: abandoned; see the report",
                    CLEANUP_LIMIT.as_secs()
                ));
            }
            Notice::BusError(e) => self.line(&format!("!! bus: {e}")),
        }
    }

    /// The tester's events: the requests and answers (not while a poll shows progress, unless
    /// --frames), transport failures, what a dry run would send, its actions with --frames.
    fn tester(&mut self, at: Timestamp, e: &TesterEvent, iface: &str) {
        match e {
            TesterEvent::Sent { .. } | TesterEvent::Received { .. }
                if self.polling && !self.frames => {}
            TesterEvent::Sent {
                module,
                pdu,
                keep_alive,
            } if !*keep_alive || self.frames => {
                self.line(&format!(
                    "{:9.3}    -> {module} {}",
                    self.rel(at),
                    format_hex(pdu)
                ));
            }
            TesterEvent::Received { module, pdu } => {
                self.line(&format!(
                    "{:9.3}    <- {module} {}",
                    self.rel(at),
                    format_hex(pdu)
                ));
            }
            TesterEvent::Transport { module, what } => {
                self.line(&format!("{:9.3}    !! {module}: {what}", self.rel(at)));
            }
            TesterEvent::WouldSend {
                module,
                step,
                pdu,
                frames,
                writes,
            } => {
                let mut notes = Vec::new();
                if *writes {
                    notes.push("writes: asks for confirmation first");
                }
                if self.placeholders.contains(step) {
                    notes.push("[U] placeholder bytes: not verified on a car");
                }
                let mut s = format!("   would send [{step}] {module} {}", format_hex(pdu));
                for n in notes {
                    s += &format!("   ({n})");
                }
                for f in frames {
                    s += &format!("\n      {iface}  {f}");
                }
                self.line(&s);
            }
            TesterEvent::Action(a) if self.frames => {
                self.line(&format!("{:9.3}    {a}", self.rel(at)));
            }
            _ => {}
        }
    }

    /// The run's events: steps as they start and end, poll progress, notes.
    fn run_event(&mut self, e: &canrelearn::procedure::runner::RunEvent) {
        match &e.kind {
            EventKind::Progress { .. } => self.progress(e),
            EventKind::Exchange { .. } => {}
            EventKind::StepEnded { .. } => {
                self.finish();
                self.polling = false;
                self.last_progress_line = None;
                self.line(&format!("{:9.3}  {}", self.rel(e.at), e.kind));
            }
            // A step whose bytes are not verified says so as it starts.
            EventKind::StepStarted { id, .. } if self.placeholders.contains(id) => {
                let mark = "   [U] placeholder bytes: not verified on a car";
                if self.dry_run {
                    self.line(&format!("   {}{mark}", e.kind));
                } else {
                    self.line(&format!("{:9.3}  {}{mark}", self.rel(e.at), e.kind));
                }
            }
            _ if self.dry_run => self.line(&format!("   {}", e.kind)),
            _ => self.line(&format!("{:9.3}  {}", self.rel(e.at), e.kind)),
        }
    }

    /// A poll attempt: a progress bar on a terminal, else a line at most every 10 s.
    fn progress(&mut self, e: &canrelearn::procedure::runner::RunEvent) {
        let EventKind::Progress {
            attempt,
            value,
            elapsed,
            timeout,
            id,
        } = &e.kind
        else {
            return;
        };
        self.polling = true;
        if self.tty {
            let bar = self.bar.get_or_insert_with(|| {
                let b = ProgressBar::new(timeout.as_secs().max(1));
                b.set_style(
                    ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} s  {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                b.enable_steady_tick(Duration::from_millis(200));
                b
            });
            bar.set_position(elapsed.as_secs());
            bar.set_message(format!(
                "[{id}] attempt {attempt}, value {}",
                value.map_or("-".to_string(), |v| v.to_string())
            ));
        } else if self
            .last_progress_line
            .is_none_or(|t| e.at.saturating_duration_since(t) >= Duration::from_secs(10))
        {
            self.last_progress_line = Some(e.at);
            self.line(&format!("{:9.3}  {}", self.rel(e.at), e.kind));
        }
    }
}

/// `2026-11-21T19:40:05Z`.
fn utc_iso(t: Timestamp) -> String {
    UtcTime::of(t).to_string()
}

/// `20261121T194005Z`, for file names.
fn utc_compact(t: Timestamp) -> String {
    UtcTime::of(t).compact()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_override_ids() {
        let (mut s, _) = load_script("audio-unit-registration").unwrap();
        override_ids(&mut s, "BCM=7A0/7A8").unwrap();
        assert_eq!(s.modules["BCM"].request_id, Id::standard(0x7A0).unwrap());
        assert_eq!(s.modules["BCM"].response_id, Id::standard(0x7A8).unwrap());
        override_ids(&mut s, "BCM=18DA40F1/18DAF140").unwrap();
        assert!(s.modules["BCM"].request_id.is_extended());
        assert!(override_ids(&mut s, "XYZ=1/2").is_err());
        assert!(override_ids(&mut s, "BCM=800/765").is_err());
        assert!(override_ids(&mut s, "BCM745/765").is_err());
    }
}
