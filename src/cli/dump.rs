//! `canrelearn dump`: a live decoded view of interfaces or logs.

use std::io::{self, Write};
use std::time::Duration;

use canrelearn::log::candump::{self, Precision, Record, WriteOptions};

use super::common::{
    DbcArgs, FilterArgs, Speed, deadline_after, parse_seconds, parse_speed, runtime, sleep_until,
};
use super::signals::{self, Interrupts};
use super::source::{self, Source};
use super::{CliError, exit, input};
use canrelearn::output::{Format, Formatter, FrameDecoder, Line};

/// Show frames from CAN interfaces or logs as they arrive, decoded with DBC files.
///
/// SOURCE is an interface (`can0`, `vcan0`) or a candump log (`-` for stdin); several are
/// merged in arrival order (several logs by their timestamps). Logs go as fast as possible
/// unless --speed is given. Ctrl-C, SIGTERM or SIGHUP stops.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Interfaces or logs to read.
    #[arg(value_name = "SOURCE", required = true)]
    pub sources: Vec<String>,

    #[command(flatten)]
    pub dbc: DbcArgs,

    /// Output format: text/jsonl/csv as `decode`, or candump (`candump -L` lines).
    #[arg(long, value_enum, default_value_t = DumpFormat::Text)]
    pub format: DumpFormat,

    #[command(flatten)]
    pub filter: FilterArgs,

    /// How fast logs play against their own times: a factor (1 = as recorded) or `max`.
    #[arg(long, value_name = "F|max", default_value = "max", value_parser = parse_speed)]
    pub speed: Speed,

    /// Stop after this many frames.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// Stop after this many seconds.
    #[arg(long, value_name = "S", value_parser = parse_seconds, allow_negative_numbers = true)]
    pub duration: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DumpFormat {
    Text,
    Jsonl,
    Csv,
    Candump,
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let db = input::load_dbcs(&args.dbc.dbc)?;
    let pacing = args.speed.pacing();
    let limit = args.duration;
    let sources: Vec<Source> = args.sources.iter().map(|s| Source::parse(s)).collect();
    let all_logs = sources.iter().all(|s| matches!(s, Source::Log(_)));
    let rt = runtime()?;
    rt.block_on(async {
        let buses = source::open_all(&sources, &args.filter.filters, pacing)?;
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
