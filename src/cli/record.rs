//! `canrelearn record`: capture interfaces to a log (`candump -L` by default, or any writable
//! format).

use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::time::Duration;

use canrelearn::log::writers::{self, Options, Target};
use canrelearn::log::{Format, FrameWriter, Precision, Record};

use canrelearn::bus::Received;
use canrelearn::bus::source::SourceStats;
use canrelearn::drive::stream::{Consumer, End, Limits};
use tokio::time::Instant;

use super::capture::BadLines;
use super::common::{FilterArgs, deadline_after, parse_seconds, runtime};
use super::signals;
use super::source::{self, Source};
use super::{CliError, WithCode, exit, files, out};

/// Record CAN interfaces to a log: by default in the `candump -L` format (with interface
/// names), readable by canplayer, candump-based tools and `canrelearn decode`/`replay`; or in
/// any writable format (--format, or the output's extension: `.asc`, `.csv`...).
///
/// The log is flushed every 100 ms and on Ctrl-C, SIGTERM, --count or --duration, so nothing
/// received is lost. Kernel drops are reported on stderr as they happen and in the summary.
/// A FILE ending in `.gz` is compressed; `-o -` writes to stdout.
///
/// Exit: 0; 1 when no frame arrived (the log is written, and the reason said on stderr: a
/// filter that lets nothing through, a quiet bus; not with --count 0); 2 a refused output
/// file, or a missing, malformed or damaged log to copy; 4 an interface that cannot be opened
/// or fails, or a write error.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Interfaces to record (logs are accepted too, which copies them).
    #[arg(value_name = "IFACE", required = true)]
    pub sources: Vec<String>,

    /// The log to write (`-` for stdout). An existing file is refused unless --force; one of
    /// the sources is refused always.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,

    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,

    /// Stop after this many frames.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// Stop after this many seconds.
    #[arg(long, value_name = "S")]
    #[arg(value_parser = parse_seconds, allow_negative_numbers = true)]
    pub duration: Option<std::time::Duration>,

    #[command(flatten)]
    pub filter: FilterArgs,

    /// Nine-digit (nanosecond) timestamps instead of candump's six (candump logs).
    #[arg(long)]
    pub nanoseconds: bool,

    /// The log's format (default: from the output's extension: `.log` candump, `.asc`,
    /// `.csv`...; candump for other names and standard output).
    #[arg(long, value_name = "FORMAT", value_parser = super::convert::parse_format)]
    pub format: Option<Format>,

    /// With --format trc (or a `.trc` output): the PEAK TRC version, 1.0, 1.1, 1.3, 2.0 or 2.1
    /// (the default; older versions lose CAN FD and error frames, buses or directions).
    #[arg(long, value_name = "V", default_value = "2.1", value_parser = super::convert::parse_trc_version)]
    pub trc_version: canrelearn::log::trc::Version,
}

/// Opens the output: standard output (candump unless --format), or a file in the format its
/// extension (or --format) names, gzip-compressed when its name ends in `.gz`.
fn open_output(
    args: &Args,
    options: &Options,
    inputs: &[&Path],
) -> Result<(Box<dyn FrameWriter + Send>, Format), CliError> {
    if args.output == Path::new("-") {
        let format = args.format.unwrap_or(Format::Candump);
        let target = Target::Stream(Box::new(BufWriter::with_capacity(1 << 16, io::stdout())));
        return Ok((
            writers::writer(format, target, options).code(exit::USAGE)?,
            format,
        ));
    }
    let format = output_format(args)?;
    let file = files::create(
        &args.output,
        "the output log",
        args.force,
        inputs.iter().copied(),
    )?;
    let file = BufWriter::with_capacity(1 << 16, file);
    let target = if writers::is_gzip_path(&args.output) {
        Target::gzip(Box::new(file))
    } else {
        Target::Seekable(Box::new(file))
    };
    Ok((
        writers::writer(format, target, options).code(exit::USAGE)?,
        format,
    ))
}

/// The output format: --format, else the output's extension, else candump.
fn output_format(args: &Args) -> Result<Format, CliError> {
    Ok(args
        .format
        .or_else(|| writers::format_for_path(&args.output))
        .unwrap_or(Format::Candump))
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let limit = args.duration;
    let sources: Vec<Source> = args.sources.iter().map(|s| Source::parse(s)).collect();
    // candump pads interface names to the longest one it records.
    let width = if sources.len() > 1 {
        sources.iter().map(|s| s.name().len()).max().unwrap_or(0)
    } else {
        0
    };
    let precision = if args.nanoseconds {
        Precision::Nanos
    } else {
        Precision::Micros
    };
    let options = Options {
        precision: Some(precision),
        interface_width: width,
        trc_version: args.trc_version,
    };
    let inputs: Vec<&std::path::Path> = sources
        .iter()
        .filter_map(|s| match s {
            Source::Log(p) => Some(p.as_path()),
            Source::Interface(_) => None,
        })
        .collect();
    // The output is checked before anything is opened or read.
    if args.output != Path::new("-") {
        if let Err(e) = writers::writer(
            output_format(&args)?,
            Target::Stream(Box::new(io::sink())),
            &options,
        ) {
            return Err(CliError::new(exit::USAGE, e));
        }
        files::check(
            &args.output,
            "the output log",
            args.force,
            inputs.iter().copied(),
        )?;
    }
    let all_logs = inputs.len() == sources.len();
    let rt = runtime()?;
    rt.block_on(async {
        let merged = source::open_merged(
            &sources,
            &args.filter.filters,
            canrelearn::bus::Pacing::Unpaced,
        )?;
        let (sink, format) = open_output(&args, &options, &inputs)?;
        let stats = merged.stats();
        let limits = Limits {
            count: args.count,
            deadline: deadline_after(limit)?,
        };
        let mut recorder = Recorder {
            sink,
            precision,
            dropped_seen: vec![0; stats.len()],
            stats,
            next_flush: Instant::now() + FLUSH_EVERY,
            bad: BadLines::new(),
        };
        let streamed = merged.run(limits, &mut recorder).await;
        // What was received is written out, also after a failed write.
        let finished = recorder.sink.finish();
        let streamed = streamed?;
        finished?;
        super::convert::say_losses(recorder.sink.as_ref());
        let dropped: u64 = recorder.stats.iter().map(|s| s.get().dropped).sum();
        out::note(format!(
            "recorded {} frame{} to {} ({format}); {dropped} dropped by the kernel",
            streamed.frames,
            if streamed.frames == 1 { "" } else { "s" },
            args.output.display()
        ));
        source::close(streamed.failure, &recorder.bad)?;
        Ok(match streamed.end {
            End::Stopped if all_logs => signals::exit_code(),
            end if streamed.frames == 0 && args.count != Some(0) => source::nothing_came(
                "the recording is empty",
                !args.filter.filters.is_empty(),
                end,
            ),
            _ => exit::OK,
        })
    })
}

/// How often the log is flushed (and kernel drops reported).
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Writes every frame to the log; flushes it and reports new kernel drops every
/// [`FLUSH_EVERY`].
struct Recorder {
    sink: Box<dyn FrameWriter + Send>,
    precision: Precision,
    stats: Vec<SourceStats>,
    /// Kernel drops already reported, per source.
    dropped_seen: Vec<u64>,
    next_flush: Instant,
    bad: BadLines,
}

impl Consumer for Recorder {
    type Error = CliError;

    fn frame(&mut self, r: Received) -> Result<(), CliError> {
        self.sink.write_record(&Record {
            timestamp: r.timestamp,
            precision: self.precision,
            interface: &r.interface,
            frame: r.frame,
            direction: None,
        })?;
        Ok(())
    }

    fn bad_record(&mut self, text: String) {
        self.bad.report(&text);
    }

    fn next_wake(&self) -> Option<Instant> {
        Some(self.next_flush)
    }

    fn wake(&mut self) -> Result<(), CliError> {
        self.sink.flush()?;
        for (s, seen) in self.stats.iter().zip(self.dropped_seen.iter_mut()) {
            let now = s.get().dropped;
            if now > *seen {
                out::warn(format!(
                    "{} frame{} dropped by the kernel on {} ({} in all)",
                    now - *seen,
                    if now - *seen == 1 { "" } else { "s" },
                    s.name,
                    now
                ));
                *seen = now;
            }
        }
        self.next_flush = Instant::now() + FLUSH_EVERY;
        Ok(())
    }
}
