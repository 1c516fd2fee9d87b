//! `canrelearn decode`: decode candump logs with DBC files, offline, streaming, on every core.
//!
//! The input is cut into blocks of whole lines (about 64 KiB). Worker threads parse, decode
//! and format blocks into output buffers; the main thread reads ahead, numbers the lines, and
//! writes the finished blocks strictly in input order. At most a few blocks per worker are in
//! flight, so memory stays flat however long the log. Malformed lines are reported with their
//! file and line number, in order, exactly as a sequential reader would.
//!
//! The DBC loads on the main thread while another opens the first log and reads (and scans)
//! its first blocks. In every text format (text, JSON Lines, CSV), the common line (a classic
//! data frame in the usual shape, of a message the format's fused path can write) is scanned,
//! decoded and written in one pass by the library's fused path
//! ([`canrelearn::output::Formatter::fused`]), which writes exactly what the general path
//! writes; every other line takes the general path (parse, decode, format).

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use canrelearn::dbc::layout_warnings;
use canrelearn::log::FrameReader;
use canrelearn::output::parquet::Resolution;
use canrelearn::output::pipeline::{self, Blocks, Feed, PipelineError, Sink};
use canrelearn::output::verdict::{self, Empty};
use canrelearn::output::{Format, Formatter};

use super::capture::Decodable;
use super::common::DbcArgs;
use super::signals;
use super::{CliError, capture, exit, input, out};

/// Decode captures with DBC files: candump logs (`-L`/`-l`, the fast path), candump's screen
/// output, Vector ASC, python-can CSV... recognised by content, plain or gzip.
///
/// Prints one line (text), object (jsonl) or row per signal (csv) for every frame, in order;
/// or writes a Parquet data set into a folder (--format parquet -o DIR).
/// A malformed line is reported on stderr with its file and line and skipped (exit 0 if the
/// rest decodes), unless --strict is given (exit 2 at the first one). An input with no frame
/// is an error (exit 2). Frames only partly decoded are marked and warned of. When no frame's
/// id is in the DBC (most likely the wrong DBC), everything is still printed, undecoded, and
/// the exit is 1.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub dbc: DbcArgs,

    /// Output format.
    #[arg(long, value_enum, default_value_t = DecodeFormat::Text)]
    pub format: DecodeFormat,

    /// The data set folder of `--format parquet` (created if missing; new files are added
    /// beside those of earlier runs, never over them). Other formats print to stdout.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output: Option<PathBuf>,

    /// The resolution of the Parquet timestamps: `us` (what Spark reads as a timestamp) or
    /// `ns` (DuckDB, Polars and pyarrow). Digits dropped by `us` are counted and warned of.
    #[arg(long, value_enum, default_value_t = TimeUnit::Us, value_name = "UNIT")]
    pub time_unit: TimeUnit,

    /// Stop at the first malformed line (exit 2) instead of reporting and skipping it.
    #[arg(long)]
    pub strict: bool,

    /// Worker threads (default: the number of CPUs, at most 8).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,

    /// Logs to decode, in order; `-` or none: standard input.
    #[arg(value_name = "LOG")]
    pub logs: Vec<PathBuf>,
}

/// The output formats of `decode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DecodeFormat {
    /// One line per frame for people: raw frame, message, signals with units and labels.
    Text,
    /// One JSON object per frame (stable machine contract).
    Jsonl,
    /// One row per signal, with a header.
    Csv,
    /// An Apache Parquet data set in the folder given by -o: `frames/` (every frame) and
    /// `messages/<MESSAGE>/` (one wide table per message, a typed column per signal), zstd;
    /// for DuckDB, Polars, pandas and Spark. Several logs decode in parallel, and a candump
    /// log's blocks on every core.
    Parquet,
}

/// The resolution of Parquet timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TimeUnit {
    /// Microseconds.
    Us,
    /// Nanoseconds.
    Ns,
}

impl From<DecodeFormat> for Format {
    fn from(f: DecodeFormat) -> Format {
        match f {
            DecodeFormat::Text => Format::Text,
            DecodeFormat::Jsonl => Format::Jsonl,
            DecodeFormat::Csv => Format::Csv,
            // Parquet is written by its own path; the jsonl formatter is never used for it.
            DecodeFormat::Parquet => Format::Jsonl,
        }
    }
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let logs = if args.logs.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.logs.clone()
    };
    let jobs = usize::from(args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get().min(8))
            .try_into()
            .unwrap_or(1)
    }));
    match (&args.output, args.format) {
        (Some(root), DecodeFormat::Parquet) => {
            let unit = match args.time_unit {
                TimeUnit::Us => Resolution::Micros,
                TimeUnit::Ns => Resolution::Nanos,
            };
            return super::parquet::run(&args.dbc.dbc, &logs, root, unit, args.strict, jobs);
        }
        (None, DecodeFormat::Parquet) => {
            return Err(fail!(
                USAGE,
                "--format parquet writes a data set folder: give it with -o DIR"
            ));
        }
        (Some(_), _) => {
            return Err(fail!(
                USAGE,
                "-o is the data set folder of --format parquet; text, jsonl and csv go to \
                     stdout (redirect them)"
            ));
        }
        (None, _) => {}
    }
    // The DBC loads on this thread while another opens the first log and reads (and scans)
    // its first blocks; then the formatter's plans and, on a thread of its own, the layout
    // check.
    let (loaded, first) = input::load_dbcs_beside(
        &args.dbc.dbc,
        |db| {
            let (formatter, warnings) = std::thread::scope(|scope| {
                let check = std::thread::Builder::new()
                    .spawn_scoped(scope, || layout_warnings(&db, LAYOUT_SHOWN));
                let formatter = Formatter::new(args.format.into(), &db);
                let warnings = match check.ok().and_then(|h| h.join().ok()) {
                    Some(w) => w,
                    None => layout_warnings(&db, LAYOUT_SHOWN),
                };
                (formatter, warnings)
            });
            (db, formatter, warnings)
        },
        logs.first().map(|path| {
            move |keep_going: &dyn Fn() -> bool| {
                open(path).map(|input| match input {
                    Input::Lines(blocks) => Input::Feed(pipeline::prefetch(blocks, keep_going)),
                    other => other,
                })
            }
        }),
    );
    let first =
        first.map(|r| r.unwrap_or_else(|_| Err(fail!(USAGE, "opening the first log failed"))));
    let (db, formatter, warnings) = loaded?;
    warn_layout_errors(warnings);
    let mut first = first;
    let mut warn = |w: String| out::warn(w);
    let mut sink = Sink::new(io::stdout().lock(), args.strict, &mut warn);
    sink.out.write_all(formatter.header())?;
    for path in &logs {
        let input = match first.take() {
            Some(input) => input?,
            None => open(path)?,
        };
        let outcome = match input {
            Input::Feed(feed) => {
                pipeline::decode_feed(&db, &formatter, args.strict, feed, &mut sink, jobs)
            }
            Input::Lines(blocks) => pipeline::decode_feed(
                &db,
                &formatter,
                args.strict,
                Feed::new(blocks),
                &mut sink,
                jobs,
            ),
            Input::Records(mut reader) => pipeline::decode_records(
                &db,
                &formatter,
                reader.as_mut(),
                &mut sink,
                signals::interrupted,
            ),
        };
        if let Err(e) = outcome {
            sink.out.flush()?;
            sink.summary();
            return Err(pipeline_error(e));
        }
        if signals::interrupted() {
            break;
        }
    }
    sink.out.flush()?;
    sink.summary();
    if signals::interrupted() {
        return Ok(signals::exit_code());
    }
    // The process ends with this command: the compiled DBC's and the plans' allocations (tens
    // of thousands for a large DBC) are left to the exit instead of freed one by one.
    std::mem::forget((db, formatter));
    verdict(
        &logs,
        &args.dbc.dbc,
        sink.frames(),
        sink.known(),
        sink.bad(),
    )
}

/// [`verdict::verdict`] as this command ends: no frame is an input error (exit 2), no frame
/// decoded is said and exits 1, for every output format.
pub(super) fn verdict(
    logs: &[PathBuf],
    dbc: &[PathBuf],
    frames: u64,
    known: u64,
    bad: u64,
) -> Result<u8, CliError> {
    let names: Vec<_> = logs
        .iter()
        .map(|p| canrelearn::open::display_name(p))
        .collect();
    match verdict::verdict(&names, dbc, frames, known, bad) {
        None => Ok(exit::OK),
        Some(e @ Empty::NoFrame { .. }) => Err(CliError::new(exit::USAGE, e)),
        Some(e @ Empty::NothingDecoded { .. }) => {
            out::warn(e.to_string());
            Ok(exit::FAILURE)
        }
    }
}

/// An opened log: candump text for the block pipeline (read ahead or not), or any other
/// format's records.
enum Input {
    Lines(Blocks),
    Feed(Feed),
    Records(Box<dyn FrameReader>),
}

/// The exit code of a decoding error: the input's (2, or 4 for a failing device), or an
/// output error.
fn pipeline_error(e: PipelineError) -> CliError {
    match e {
        PipelineError::Read(e) => capture::read_error(e),
        PipelineError::Write(e) => CliError::from(e),
    }
}

/// [`capture::open_decodable`], for the decode loop.
fn open(path: &Path) -> Result<Input, CliError> {
    Ok(match capture::open_decodable(path)?.1 {
        Decodable::Lines(blocks) => Input::Lines(blocks),
        Decodable::Records(reader) => Input::Records(reader),
    })
}

/// The layout errors named one by one in the warnings of [`layout_warnings`] (the rest are
/// counted).
pub(super) const LAYOUT_SHOWN: usize = 10;

/// Says out loud what in the DBC's layout cannot decode as written (overlapping signals,
/// signals past the message's length...), the warnings of [`layout_warnings`]: decoding goes
/// on, each signal from its own bits, and frames of a message only partly decoded are
/// marked; cantools refuses such frames.
pub(super) fn warn_layout_errors(warnings: Vec<String>) {
    for w in warnings {
        out::warn(w);
    }
}
