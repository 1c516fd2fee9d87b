//! `canrelearn dump`: a live decoded view of interfaces or logs.

use std::io::{self, Write};
use std::time::Duration;

use canrelearn::log::candump::{self, Precision, Record, WriteOptions};

use canrelearn::bus::Received;
use canrelearn::drive::stream::{Consumer, End, Limits};

use super::capture::BadLines;
use super::common::{
    DbcArgs, FilterArgs, Speed, deadline_after, parse_seconds, parse_speed, runtime,
};
use super::signals;
use super::source::{self, Source};
use super::{CliError, exit, input};
use canrelearn::output::{Format, Formatter, FrameDecoder, Line};

/// Show frames from CAN interfaces or logs as they arrive, decoded with DBC files.
///
/// SOURCE is an interface (`can0`, `vcan0`) or a candump log (`-` for stdin); several are
/// merged in arrival order (several logs by their timestamps). Logs go as fast as possible
/// unless --speed is given. Ctrl-C, SIGTERM or SIGHUP stops.
///
/// Exit: 0; 1 when no frame arrived (said on stderr: a filter that lets nothing through, a
/// quiet bus; not with --count 0); 2 a missing, malformed or damaged log (after every frame
/// before the damage); 4 an interface that cannot be opened or fails; 130 (143, 129) when a
/// signal cut the reading of logs short.
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
    let sources: Vec<Source> = args.sources.iter().map(|s| Source::parse(s)).collect();
    let all_logs = sources.iter().all(|s| matches!(s, Source::Log(_)));
    let rt = runtime()?;
    rt.block_on(async {
        let merged = source::open_merged(&sources, &args.filter.filters, pacing)?;
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
        let mut dump = Dump {
            decoder: FrameDecoder::new(&db),
            formatter,
            out: io::stdout().lock(),
            buf: Vec::with_capacity(1 << 16),
            options: WriteOptions::default(),
            bad: BadLines::new(),
        };
        if let Some(f) = &dump.formatter {
            dump.out.write_all(f.header())?;
        }
        let limits = Limits {
            count: args.count,
            deadline: deadline_after(args.duration)?,
        };
        let streamed = merged.run(limits, &mut dump).await?;
        source::close(streamed.failure, &dump.bad)?;
        // Reading captures ends by itself: cut short, it says so in its status.
        Ok(match streamed.end {
            End::Stopped if all_logs => signals::exit_code(),
            end if streamed.frames == 0 && args.count != Some(0) => {
                source::nothing_came("dump", !args.filter.filters.is_empty(), end)
            }
            _ => exit::OK,
        })
    })
}

/// Frames as lines on standard output, one write per batch: low latency, few syscalls.
struct Dump<'a> {
    decoder: FrameDecoder<'a>,
    formatter: Option<Formatter>,
    out: io::StdoutLock<'static>,
    buf: Vec<u8>,
    options: WriteOptions,
    bad: BadLines,
}

impl Consumer for Dump<'_> {
    type Error = CliError;

    fn frame(&mut self, r: Received) -> Result<(), CliError> {
        match &self.formatter {
            Some(f) => {
                let meaning = self.decoder.decode(&r.frame);
                f.format(
                    &Line {
                        raw: None,
                        timestamp: r.timestamp,
                        precision: Precision::Micros,
                        interface: &r.interface,
                        frame: &r.frame,
                        meaning,
                    },
                    &mut self.buf,
                );
            }
            None => candump::format_record(
                &mut self.buf,
                &Record {
                    timestamp: r.timestamp,
                    precision: Precision::Micros,
                    interface: &r.interface,
                    frame: r.frame,
                    direction: None,
                },
                &self.options,
            ),
        }
        Ok(())
    }

    fn bad_record(&mut self, text: String) {
        self.bad.report(&text);
    }

    fn batch_end(&mut self) -> Result<(), CliError> {
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        self.buf.clear();
        Ok(())
    }
}
