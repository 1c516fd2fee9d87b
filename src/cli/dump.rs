//! `canrelearn dump`: a live decoded view of interfaces or logs.

use std::io;
use std::time::Duration;

use canrelearn::drive::dump::Dump;
use canrelearn::drive::stream::{End, Limits};

use super::capture::BadLines;
use super::common::{
    DbcArgs, FilterArgs, Speed, deadline_after, parse_seconds, parse_speed, runtime,
};
use super::signals;
use super::source::{self, Source};
use super::{CliError, exit, input};
use canrelearn::output::Format;

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
    pub sources: Vec<Source>,

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
    let sources = &args.sources;
    let all_logs = sources.iter().all(|s| matches!(s, Source::Log(_)));
    let rt = runtime()?;
    rt.block_on(async {
        let merged = source::open_merged(sources, &args.filter.filters, pacing)?;
        let format = match args.format {
            DumpFormat::Text => Some(Format::Text),
            DumpFormat::Jsonl => Some(Format::Jsonl),
            DumpFormat::Csv => Some(Format::Csv),
            DumpFormat::Candump => None,
        };
        let mut bad = BadLines::new();
        let mut dump = Dump::new(&db, format, io::stdout().lock(), |t: String| bad.report(&t));
        dump.write_header()?;
        let limits = Limits {
            count: args.count,
            deadline: deadline_after(args.duration)?,
        };
        let streamed = merged.run(limits, &mut dump).await?;
        drop(dump);
        source::close(streamed.failure, &bad)?;
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
