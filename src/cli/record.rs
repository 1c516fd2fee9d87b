//! `canrelearn record`: capture interfaces to a `candump -L` log.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use canrelearn::log::candump::{Precision, Record, WriteOptions, format_record};
use flate2::Compression;
use flate2::write::GzEncoder;

use super::common::{FilterArgs, deadline_after, parse_seconds, runtime, sleep_until};
use super::signals::{self, Interrupts};
use super::source::{self, Source};
use super::{CliError, exit, files, out};

/// Record CAN interfaces to a log in the `candump -L` format (with interface names), readable
/// by canplayer, candump-based tools and `canrelearn decode`/`replay`.
///
/// The log is flushed every 100 ms and on Ctrl-C, SIGTERM, --count or --duration, so nothing
/// received is lost. Kernel drops are reported on stderr as they happen and in the summary.
/// A FILE ending in `.gz` is compressed; `-o -` writes to stdout.
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

    /// Nine-digit (nanosecond) timestamps instead of candump's six.
    #[arg(long)]
    pub nanoseconds: bool,
}

/// Where the log goes.
enum Sink {
    Plain(BufWriter<Box<dyn Write>>),
    Gzip(GzEncoder<BufWriter<File>>),
}

impl Sink {
    fn open(
        path: &std::path::Path,
        force: bool,
        inputs: &[&std::path::Path],
    ) -> Result<Sink, CliError> {
        if path == std::path::Path::new("-") {
            return Ok(Sink::Plain(BufWriter::new(Box::new(io::stdout()))));
        }
        let file = files::create(path, "the output log", force, inputs.iter().copied())?;
        if path.extension().is_some_and(|e| e == "gz") {
            Ok(Sink::Gzip(GzEncoder::new(
                BufWriter::new(file),
                Compression::default(),
            )))
        } else {
            Ok(Sink::Plain(BufWriter::new(Box::new(file))))
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.write_all(bytes),
            Sink::Gzip(w) => w.write_all(bytes),
        }
    }

    /// Push everything written so far to the file (a gzip stream gets a sync point, so the
    /// file is readable up to here even if the process is killed).
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Gzip(w) => w.flush(),
        }
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Plain(mut w) => w.flush(),
            Sink::Gzip(w) => w.finish()?.flush(),
        }
    }
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
    let options = WriteOptions {
        precision: Some(if args.nanoseconds {
            Precision::Nanos
        } else {
            Precision::Micros
        }),
        interface_width: width,
        ..WriteOptions::default()
    };
    let inputs: Vec<&std::path::Path> = sources
        .iter()
        .filter_map(|s| match s {
            Source::Log(p) => Some(p.as_path()),
            Source::Interface(_) => None,
        })
        .collect();
    // The output is checked before anything is opened or read.
    if args.output != std::path::Path::new("-") {
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
        let buses = source::open_all(
            &sources,
            &args.filter.filters,
            canrelearn::bus::Pacing::Unpaced,
        )?;
        let mut progress = source::Progress::new(buses.len());
        let mut sink = Sink::open(&args.output, args.force, &inputs)?;
        let (mut rx, stats) = source::merge_with_stats(buses, source::MERGE_CAPACITY);
        let deadline = deadline_after(limit)?;
        let mut flush_tick = tokio::time::interval(Duration::from_millis(100));
        flush_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut interrupts = Interrupts::new();
        let mut interrupted = false;
        let mut buf = Vec::with_capacity(1 << 16);
        let mut frames = 0u64;
        let mut dropped_seen = vec![0u64; stats.len()];
        let stop_at = sleep_until(deadline);
        tokio::pin!(stop_at);
        loop {
            if args.count.is_some_and(|c| frames >= c) || progress.open == 0 {
                break;
            }
            tokio::select! {
                m = rx.recv() => {
                    let Some(m) = m else { break };
                    let more = source::drain(&mut rx, m, &mut progress, |r| {
                        frames += 1;
                        format_record(
                            &mut buf,
                            &Record {
                                timestamp: r.timestamp,
                                precision: options.precision.unwrap_or_default(),
                                interface: &r.interface,
                                frame: r.frame,
                                direction: None,
                            },
                            &options,
                        );
                        Ok(args.count.is_none_or(|c| frames < c))
                    })?;
                    if buf.len() >= 1 << 15 {
                        sink.write(&buf)?;
                        buf.clear();
                    }
                    if !more {
                        break;
                    }
                }
                _ = flush_tick.tick() => {
                    sink.write(&buf)?;
                    buf.clear();
                    sink.flush()?;
                    for (s, seen) in stats.iter().zip(dropped_seen.iter_mut()) {
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
                }
                _ = interrupts.recv() => { interrupted = true; break }
                _ = &mut stop_at => break,
            }
        }
        sink.write(&buf)?;
        sink.finish()?;
        let dropped: u64 = stats.iter().map(|s| s.get().dropped).sum();
        out::note(format!(
            "recorded {frames} frame{} to {}; {dropped} dropped by the kernel",
            if frames == 1 { "" } else { "s" },
            args.output.display()
        ));
        progress.finish()?;
        Ok(if interrupted && all_logs {
            signals::exit_code()
        } else {
            exit::OK
        })
    })
}
