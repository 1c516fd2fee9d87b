//! `canrelearn record`: capture interfaces to a log (`candump -L` by default, or any writable
//! format).

use std::io;
use std::path::{Path, PathBuf};

use canrelearn::drive::record::{self, Recorder};
use canrelearn::drive::stream::{End, Limits};
use canrelearn::log::writers::{self, Came, NoneWritten, Options, shown};
use canrelearn::log::{Format, FrameWriter};

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
    pub sources: Vec<Source>,

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
        return Ok((
            record::stream_writer(io::stdout(), format, options).code(exit::USAGE)?,
            format,
        ));
    }
    let format = record::output_format(args.format, &args.output);
    let file = files::create(
        &args.output,
        "the output log",
        args.force,
        inputs.iter().copied(),
    )?;
    let writer = record::file_writer(file, &args.output, format, options).code(exit::USAGE)?;
    Ok((writer, format))
}

/// A write error of the log, named by its file (`cannot write rec.log: No space left on
/// device`) rather than as standard output's `writing output`, which stays for `-o -` (where
/// a closed pipe must still be recognised).
fn named(e: CliError, output: &Path) -> CliError {
    if output == Path::new("-") || e.code != exit::BUS_IO {
        return e;
    }
    let cause = e.error.root_cause().to_string();
    CliError::new(
        exit::BUS_IO,
        anyhow::anyhow!("cannot write {}: {cause}", output.display()),
    )
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let sources = &args.sources;
    let names: Vec<String> = sources.iter().map(Source::name).collect();
    let options = record::options(&names, args.nanoseconds, args.trc_version);
    let inputs: Vec<&Path> = sources
        .iter()
        .filter_map(|s| match s {
            Source::Log(p) => Some(p.as_path()),
            Source::Interface(_) => None,
        })
        .collect();
    // The output is checked before anything is opened or read.
    if args.output != Path::new("-") {
        let format = record::output_format(args.format, &args.output);
        record::check_writer(format, &options).code(exit::USAGE)?;
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
            sources,
            &args.filter.filters,
            canrelearn::bus::Pacing::Unpaced,
        )?;
        let (sink, format) = open_output(&args, &options, &inputs)?;
        let limits = Limits {
            count: args.count,
            deadline: deadline_after(args.duration)?,
        };
        let mut bad = BadLines::new();
        let precision = record::precision(args.nanoseconds);
        let mut recorder =
            Recorder::new(sink, precision, merged.stats(), out::warn, |t: String| {
                bad.report(&t)
            });
        let streamed = merged.run(limits, &mut recorder).await;
        // What was received is written out, also after a failed write.
        let finished = recorder.sink.finish();
        let streamed = streamed.map_err(|e| named(e, &args.output))?;
        finished.map_err(|e| named(e.into(), &args.output))?;
        super::convert::say_losses(recorder.sink.as_ref());
        let dropped = recorder.dropped();
        let not_written = writers::dropped(recorder.sink.as_ref());
        drop(recorder);
        out::note(record::summary(
            streamed.frames,
            not_written,
            &args.output,
            format,
            dropped,
        ));
        source::close(streamed.failure, &bad)?;
        if let Some(none) = NoneWritten::of(
            streamed.frames,
            not_written,
            &shown(&args.output),
            format,
            Came::Received,
        ) {
            return Err(none).code(exit::USAGE);
        }
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
