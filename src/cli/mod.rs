//! Command-line front end: clap-derived arguments, one module per subcommand, exit codes.
//!
//! Every subcommand returns `Result<u8, CliError>`: the exit code on success (some commands
//! finish with a non-zero code that is not an error, e.g. a negative diagnostic response), or an
//! error carrying its exit code and an `anyhow` chain of context for the message on stderr.

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A [`CliError`] with its exit code and a formatted message: `fail!(USAGE, "no log {name}")`.
macro_rules! fail {
    ($code:ident, $($message:tt)+) => {
        $crate::cli::CliError::new($crate::cli::exit::$code, ::anyhow::anyhow!($($message)+))
    };
}

mod capture;
mod common;
mod consent;
mod convert;
mod dbc_cmd;
mod decode;
mod demo;
mod diag;
mod dump;
pub mod exit;
mod files;
mod input;
mod monitor;
mod out;
mod parquet;
mod plot;
mod record;
mod replay;
mod run;
mod script_cmd;
mod signals;
mod simulate;
mod source;
mod watch;

/// Monitor a car's CAN bus, decode captures with DBC files, and run module relearn procedures.
#[derive(Debug, Parser)]
#[command(
    name = "canrelearn",
    version,
    about,
    long_about = "canrelearn decodes CAN traffic with DBC files (the bundled Nissan Qashqai J11 \
                  definitions or your own), records and replays candump logs, watches for \
                  modules going silent (live on SocketCAN or over a capture, or in a terminal \
                  monitor), talks to modules over ISO-TP (KWP2000/UDS), simulates the car, and \
                  rehearses relearn procedures (`demo`). Nothing is ever sent to a car without \
                  your confirmation.",
    after_help = exit::HELP_TABLE,
    propagate_version = true
)]
pub struct Cli {
    /// More diagnostics on stderr (repeat for more); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(about = "Decode captures (candump, ASC, CSV...) with DBC files (offline, streaming)")]
    Decode(decode::Args),
    #[command(about = "Plot signals over time from captures (SVG, PNG, or a terminal chart)")]
    Plot(plot::Args),
    #[command(about = "Inspect and check DBC files")]
    Dbc(dbc_cmd::Args),
    #[command(about = "Live decoded view of CAN interfaces or logs")]
    Dump(dump::Args),
    #[command(about = "Record CAN interfaces to a candump log")]
    Record(record::Args),
    #[command(
        about = "Convert a capture between formats (candump, ASC, CSV, ...), keeping what each can carry"
    )]
    Convert(convert::Args),
    #[command(about = "Replay a candump log onto CAN interfaces, on time")]
    Replay(replay::Args),
    #[command(
        about = "Report messages and nodes that stop arriving (communication loss), live or in a log"
    )]
    Watch(watch::Args),
    #[command(
        about = "Simulate a car (periodic frames, diagnostic answers, faults) on a CAN interface"
    )]
    Simulate(simulate::Args),
    #[command(about = "Diagnostics over ISO-TP: requests, module scan, DTCs, passive sniffing")]
    Diag(diag::Args),
    #[command(
        about = "The whole story on a simulated J11, in-process: symptom, relearn, battery registration"
    )]
    Demo(demo::Args),
    #[command(about = "Run a procedure script (a relearn) on a CAN interface, with confirmations")]
    Run(run::Args),
    #[command(
        about = "Watch the bus live in a terminal: rates, cycle times, staleness, decoded signals"
    )]
    Monitor(monitor::Args),
    #[command(
        about = "Make and check procedure scripts: from a captured dealer-tool session, or review one"
    )]
    Script(script_cmd::Args),
}

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub error: anyhow::Error,
}

impl CliError {
    pub fn new(code: u8, error: impl Into<anyhow::Error>) -> Self {
        CliError {
            code,
            error: error.into(),
        }
    }
}

/// Tag a result's error with an exit code (`.code(exit::USAGE)?`).
pub trait WithCode<T> {
    fn code(self, code: u8) -> Result<T, CliError>;
}

impl<T, E: Into<anyhow::Error>> WithCode<T> for Result<T, E> {
    fn code(self, code: u8) -> Result<T, CliError> {
        self.map_err(|e| CliError::new(code, e))
    }
}

/// Output errors: a closed pipe ends the program quietly, anything else is an I/O error.
impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        CliError::new(
            exit::BUS_IO,
            anyhow::Error::new(e).context("writing output"),
        )
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes, `: `-separated, leaving out a cause whose text the message
/// before it already ends with (`cannot open a.log: No such file or directory` once, not twice).
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if text.ends_with(&c) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c);
    }
    text
}

fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Parse the arguments, run the subcommand, map the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    signals::install();
    init_tracing(cli.verbose);
    let result = match cli.command {
        Command::Decode(args) => decode::run(args),
        Command::Plot(args) => plot::run(args),
        Command::Dbc(args) => dbc_cmd::run(args),
        Command::Dump(args) => dump::run(args),
        Command::Record(args) => record::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Watch(args) => watch::run(args),
        Command::Simulate(args) => simulate::run(args),
        Command::Diag(args) => diag::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Run(args) => run::run(args),
        Command::Monitor(args) => monitor::run(args),
        Command::Script(args) => script_cmd::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e.error) => ExitCode::from(exit::OK),
        Err(e) => {
            out::err_line(format!("canrelearn: error: {}", error_text(&e.error)));
            ExitCode::from(e.code)
        }
    }
}
