//! `canrelearn dump`: a live decoded view of interfaces or logs.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use canrelearn::bus::{Filter, Pacing};
use canrelearn::log::candump::{self, Precision, Record, WriteOptions};

use super::signals::{self, Interrupts};
use super::source::{self, Source};
use super::{CliError, WithCode, exit, input};
use canrelearn::output::{Format, Formatter, FrameDecoder, Line};

/// Show frames from CAN interfaces or logs as they arrive, decoded with DBC files.
///
/// SOURCE is an interface (`can0`, `vcan0`) or a candump log (`-` for stdin); several are
/// merged in arrival order. Logs go as fast as possible unless --speed is given. Ctrl-C stops.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Interfaces or logs to read.
    #[arg(value_name = "SOURCE", required = true)]
    pub sources: Vec<String>,

    /// DBC file to decode with (repeat for several); default: the bundled J11 definitions.
    #[arg(long = "dbc", value_name = "FILE")]
    pub dbc: Vec<PathBuf>,

    /// Output format: text/jsonl/csv as `decode`, or candump (`candump -L` lines).
    #[arg(long, value_enum, default_value_t = DumpFormat::Text)]
    pub format: DumpFormat,

    /// Only frames matching ID[:MASK] (candump syntax: `123`, `123:7FF`, `12345678:1FFFFFFF`,
    /// `123~7FF` inverted); repeat for several. Kernel filters on interfaces.
    #[arg(long = "filter", value_name = "ID[:MASK]", value_parser = parse_filter)]
    pub filters: Vec<Filter>,

    /// Play logs at real time times this factor (e.g. 1, 10) instead of as fast as possible.
    #[arg(long, value_name = "F")]
    pub speed: Option<f64>,

    /// Stop after this many frames.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// Stop after this many seconds.
    #[arg(long, value_name = "S")]
    pub duration: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DumpFormat {
    Text,
    Jsonl,
    Csv,
    Candump,
}

pub fn parse_filter(text: &str) -> Result<Filter, String> {
    Filter::parse(text).map_err(|e| e.to_string())
}

/// The longest duration a command takes: 100 years.
pub const MAX_SECONDS: f64 = 100.0 * 365.25 * 86_400.0;

/// Seconds as a duration: 0 to 100 years; negative, non-finite or larger values are usage
/// errors (exit 2).
pub fn seconds(s: f64, what: &str) -> Result<Duration, CliError> {
    if !(s.is_finite() && (0.0..=MAX_SECONDS).contains(&s)) {
        return Err(CliError::new(
            exit::USAGE,
            anyhow::anyhow!(
                "{what} must be a number of seconds from 0 to {MAX_SECONDS:.0} (100 years), not {s}"
            ),
        ));
    }
    Duration::try_from_secs_f64(s)
        .map_err(|_| anyhow::anyhow!("{what} must be a number of seconds, not {s}"))
        .code(exit::USAGE)
}

/// The pacing for logs from a `--speed` option.
pub fn pacing(speed: Option<f64>) -> Result<Pacing, CliError> {
    match speed {
        None => Ok(Pacing::Unpaced),
        Some(s) if s.is_finite() && s > 0.0 => Ok(Pacing::RealTime { speed: s }),
        Some(s) => Err(CliError::new(
            exit::USAGE,
            anyhow::anyhow!("--speed must be a positive number, not {s}"),
        )),
    }
}

/// A current-thread tokio runtime for a live command.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .code(exit::BUS_IO)
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let db = input::load_dbcs(&args.dbc)?;
    let pacing = pacing(args.speed)?;
    let limit = args
        .duration
        .map(|d| seconds(d, "--duration"))
        .transpose()?;
    let sources: Vec<Source> = args.sources.iter().map(|s| Source::parse(s)).collect();
    let all_logs = sources.iter().all(|s| matches!(s, Source::Log(_)));
    let rt = runtime()?;
    rt.block_on(async {
        let buses = source::open_all(&sources, &args.filters, pacing)?;
        let mut progress = source::Progress::new(buses.len());
        let mut rx = source::merge(buses);
        let formatter = (args.format != DumpFormat::Candump).then(|| {
            Formatter::new(
                match args.format {
                    DumpFormat::Jsonl => Format::Jsonl,
                    DumpFormat::Csv => Format::Csv,
                    _ => Format::Text,
                },
                &db,
            )
        });
        let mut decoder = FrameDecoder::new(&db);
        let mut out = io::stdout().lock();
        let mut buf = Vec::with_capacity(1 << 16);
        if let Some(f) = &formatter {
            out.write_all(f.header())?;
        }
        let options = WriteOptions::default();
        let deadline = deadline_after(limit)?;
        let mut seen = 0u64;
        let mut interrupts = Interrupts::new();
        let mut interrupted = false;
        while progress.open > 0 {
            let first = tokio::select! {
                m = rx.recv() => m,
                _ = interrupts.recv() => { interrupted = true; break }
                _ = sleep_until(deadline) => break,
            };
            let Some(first) = first else { break };
            // What is already there in one go, then one write: low latency, few syscalls.
            let more = source::drain(&mut rx, first, &mut progress, |r| {
                if args.count.is_some_and(|c| seen >= c) {
                    return Ok(false);
                }
                seen += 1;
                match &formatter {
                    Some(f) => {
                        let meaning = decoder.decode(&r.frame);
                        f.format(
                            &Line {
                                raw: None,
                                timestamp: r.timestamp,
                                precision: Precision::Micros,
                                interface: &r.interface,
                                frame: &r.frame,
                                meaning,
                            },
                            &mut buf,
                        );
                    }
                    None => candump::format_record(
                        &mut buf,
                        &Record {
                            timestamp: r.timestamp,
                            precision: Precision::Micros,
                            interface: &r.interface,
                            frame: r.frame,
                            direction: None,
                        },
                        &options,
                    ),
                }
                Ok(args.count.is_none_or(|c| seen < c))
            })?;
            out.write_all(&buf)?;
            out.flush()?;
            buf.clear();
            if !more {
                break;
            }
        }
        out.write_all(&buf)?;
        out.flush()?;
        progress.finish()?;
        // Reading captures ends by itself: cut short, it says so in its status.
        Ok(if interrupted && all_logs {
            signals::exit_code()
        } else {
            exit::OK
        })
    })
}

/// The instant `limit` from now; a limit too far to represent is a usage error.
pub fn deadline_after(limit: Option<Duration>) -> Result<Option<tokio::time::Instant>, CliError> {
    limit
        .map(|d| {
            tokio::time::Instant::now().checked_add(d).ok_or_else(|| {
                CliError::new(exit::USAGE, anyhow::anyhow!("--duration is too long"))
            })
        })
        .transpose()
}

/// Sleep until `deadline`, or forever when there is none.
pub async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
