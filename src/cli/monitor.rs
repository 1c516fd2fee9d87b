//! `canrelearn monitor`: a live terminal view of the bus (ratatui + crossterm).
//!
//! One row per CAN id with rates, cycle times against the DBC, jitter, staleness, changed
//! bytes and decoded signals; a node panel with losses; bus load and errors. The model is the
//! pure [`canrelearn::monitor::Monitor`] and its driver [`canrelearn::drive::monitor`] (with
//! the keyboard thread and the terminal's guard); this file opens the sources and the
//! terminal, and turns the end into an exit code.
//!
//! The terminal is restored on every exit path: normal quit, errors (a guard's `Drop`),
//! panics (ratatui's panic hook), Ctrl-C (a key in raw mode, or SIGINT/SIGTERM).

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use canrelearn::bus::AnyBus;
use canrelearn::drive::monitor::{
    self as drive_monitor, Ended, Inputs, Recording, spawn_key_reader,
};
use canrelearn::log::candump;
use canrelearn::monitor::clock::ModelClock;
use canrelearn::monitor::stats::BusTiming;
use canrelearn::monitor::{Monitor, MonitorConfig};

use super::common::{DbcArgs, Speed, parse_speed};
use super::source::{self, Source};
use super::{CliError, WithCode, exit, input};

/// Watch the bus live in a terminal: rates, cycle times, jitter, staleness, decoded signals.
///
/// SOURCE is a CAN interface (can0, vcan0) or a candump log (played at its real pace, or
/// --speed times faster). Several sources are merged. Keys: q quit, / filter, space pause,
/// r reset, s sort, arrows and PgUp/PgDn scroll, ? help. Needs a terminal: to print frames
/// to a pipe or a file, use `canrelearn dump` or `decode`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Interfaces or candump logs to watch.
    #[arg(value_name = "SOURCE", required = true)]
    pub sources: Vec<Source>,

    #[command(flatten)]
    pub dbc: DbcArgs,

    /// Also write every frame to FILE in `candump -L` format (flushed every 100 ms and on
    /// exit). An existing FILE is refused unless --force.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Overwrite the --record file if it exists.
    #[arg(long, requires = "record")]
    pub force: bool,

    /// Nominal bitrate for the bus-load estimate, in bit/s.
    #[arg(long, value_name = "B", default_value_t = 500_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub bitrate: u32,

    /// CAN FD data-phase bitrate for the load estimate, in bit/s (frames with BRS).
    #[arg(long, value_name = "B", default_value_t = 2_000_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub data_bitrate: u32,

    /// How fast logs play against their own times: a factor (1 = as recorded) or `max`.
    #[arg(long, value_name = "F|max", default_value = "1", value_parser = parse_speed)]
    pub speed: Speed,
}

pub fn run(args: Args) -> Result<u8, CliError> {
    if !io::stdout().is_terminal() {
        return Err(fail!(
            USAGE,
            "monitor needs a terminal on standard output; to print frames to a pipe or a \
                 file use `canrelearn dump` (or `canrelearn decode` for a log)"
        ));
    }
    let db = input::load_dbcs(&args.dbc.dbc)?;
    let config = MonitorConfig {
        timing: BusTiming {
            bitrate: args.bitrate,
            data_bitrate: args.data_bitrate,
        },
        ..MonitorConfig::default()
    };
    let monitor = Monitor::new(config, db)
        .context("cannot watch the DBC's messages")
        .code(exit::USAGE)?;
    let sources = args.sources;
    let inputs: Vec<&std::path::Path> = sources
        .iter()
        .filter_map(|s| match s {
            Source::Log(p) => Some(p.as_path()),
            Source::Interface(_) => None,
        })
        .collect();
    let record = match &args.record {
        Some(path) => Some(Recording {
            writer: candump::Writer::new(BufWriter::new(super::files::create(
                path,
                "the --record file",
                args.force,
                inputs,
            )?)),
            name: path.display().to_string(),
        }),
        None => None,
    };
    let runtime = super::common::runtime()?;
    runtime.block_on(run_async(args.speed, sources, monitor, record))
}

async fn run_async(
    speed: Speed,
    sources: Vec<Source>,
    monitor: Monitor,
    record: Option<Recording<BufWriter<File>>>,
) -> Result<u8, CliError> {
    let record_name = record.as_ref().map(|r| r.name.clone()).unwrap_or_default();
    let pacing = speed.pacing();
    let live = sources.iter().any(|s| matches!(s, Source::Interface(_)));
    let buses: Vec<AnyBus> = source::open_all(&sources, &[], pacing)?;
    let open_count = buses.len();
    // A deep buffer: at full load the UI drains it in batches between redraws.
    let (frames, stats) = source::merge_with_stats(buses, 65_536);

    let stop = Arc::new(AtomicBool::new(false));
    let (key_thread, keys) = spawn_key_reader(stop.clone());

    let mut terminal = ratatui::try_init()
        .context("cannot set up the terminal")
        .code(exit::BUS_IO)?;
    let guard = TerminalGuard;

    let clock = match (live, speed) {
        (true, _) => ModelClock::live(),
        (false, Speed::Factor(f)) => ModelClock::log(f),
        (false, Speed::Max) => ModelClock::log(0.0),
    };
    let inputs = Inputs {
        frames,
        sources: open_count,
        stats,
        keys,
        record,
    };
    let mut interrupts = super::signals::Interrupts::new();
    let ended = drive_monitor::run(
        &mut terminal,
        monitor,
        clock,
        inputs,
        async move { interrupts.recv().await },
        &source::describe,
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    drop(terminal);
    drop(guard);
    let _ = key_thread.join();
    close(
        ended.map_err(|e| CliError::new(exit::BUS_IO, e))?,
        &record_name,
    )
}

/// After the terminal is restored: the recording's error (of the file `record`) is the
/// outcome, then the malformed records counted, then a source's error.
fn close(ended: Ended, record: &str) -> Result<u8, CliError> {
    if let Some(e) = ended.record_error {
        return Err(CliError::new(
            exit::BUS_IO,
            anyhow::anyhow!(
                "cannot write {record}: {e}; the recording stopped there: the frames after it \
                 were not recorded"
            ),
        ));
    }
    if ended.bad_lines > 0 {
        super::out::warn(format!(
            "{} malformed record{} skipped",
            ended.bad_lines,
            if ended.bad_lines == 1 { "" } else { "s" }
        ));
    }
    match ended.failure {
        Some(f) => Err(source::failure(f)),
        None => Ok(exit::OK),
    }
}

/// Restores the terminal when dropped (error paths); a panic is handled by ratatui's hook.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = crossterm::execute!(io::stdout(), crossterm::cursor::Show);
        ratatui::restore();
    }
}
