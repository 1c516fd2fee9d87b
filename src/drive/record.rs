//! Recording: the [`Consumer`] that writes every frame of a stream to a log, flushes it every
//! [`FLUSH_EVERY`] and notices the kernel's drops, and the choices made before anything is
//! opened (the output's format and writer options, the writer refused before a file is made).
//! The command line says the warnings and the summary; this module builds them.

use std::io::{self, BufWriter};
use std::path::Path;
use std::time::Duration;

use tokio::time::Instant;

use crate::bus::Received;
use crate::bus::source::SourceStats;
use crate::drive::stream::Consumer;
use crate::log::trc;
use crate::log::writers::{self, Options, Target, WriterError};
use crate::log::{Format, FrameWriter, Precision, Record};

/// How often the log is flushed (and kernel drops reported).
pub const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// The output format: `forced` (--format), else the output's extension, else candump.
pub fn output_format(forced: Option<Format>, output: &Path) -> Format {
    forced
        .or_else(|| writers::format_for_path(output))
        .unwrap_or(Format::Candump)
}

/// The writer options of a recording of sources named `names`: candump pads interface names
/// to the longest one when there are several; nanosecond or microsecond timestamps.
pub fn options(names: &[String], nanoseconds: bool, trc_version: trc::Version) -> Options {
    let width = if names.len() > 1 {
        names.iter().map(|n| n.len()).max().unwrap_or(0)
    } else {
        0
    };
    Options {
        precision: Some(precision(nanoseconds)),
        interface_width: width,
        trc_version,
    }
}

/// The timestamp precision written: nanoseconds or candump's microseconds.
pub fn precision(nanoseconds: bool) -> Precision {
    if nanoseconds {
        Precision::Nanos
    } else {
        Precision::Micros
    }
}

/// Whether `format` can be written with `options` at all (a writer onto nothing): checked
/// before any file is made or any source opened.
pub fn check_writer(format: Format, options: &Options) -> Result<(), WriterError> {
    writers::writer(format, Target::Stream(Box::new(io::sink())), options).map(|_| ())
}

/// A writer of `format` onto a stream (standard output, a pipe), buffered.
pub fn stream_writer(
    out: impl io::Write + Send + 'static,
    format: Format,
    options: &Options,
) -> Result<Box<dyn FrameWriter + Send>, WriterError> {
    let target = Target::Stream(Box::new(BufWriter::with_capacity(1 << 16, out)));
    writers::writer(format, target, options)
}

/// A writer of `format` onto `file` (created for `path`), buffered, gzip-compressed when the
/// name ends in `.gz`.
pub fn file_writer(
    file: std::fs::File,
    path: &Path,
    format: Format,
    options: &Options,
) -> Result<Box<dyn FrameWriter + Send>, WriterError> {
    let file = BufWriter::with_capacity(1 << 16, file);
    let target = if writers::is_gzip_path(path) {
        Target::gzip(Box::new(file))
    } else {
        Target::Seekable(Box::new(file))
    };
    writers::writer(format, target, options)
}

/// The closing line of a recording.
/// `frames` received, `not_written` of them that the format could not carry (said in its
/// warnings), `dropped` by the kernel.
pub fn summary(
    frames: u64,
    not_written: u64,
    output: &Path,
    format: Format,
    dropped: u64,
) -> String {
    let written = frames.saturating_sub(not_written);
    let mut s = format!(
        "recorded {written} frame{} to {} ({format})",
        if written == 1 { "" } else { "s" },
        output.display()
    );
    if not_written > 0 {
        s.push_str(&format!(
            "; {not_written} of the {frames} received could not be written (see above)"
        ));
    }
    s.push_str(&format!("; {dropped} dropped by the kernel"));
    s
}

/// Writes every frame to the log; flushes it and reports new kernel drops (through `warn`)
/// every [`FLUSH_EVERY`]; malformed records of captures go to `bad`.
pub struct Recorder<W: FnMut(String), B: FnMut(String)> {
    /// The log.
    pub sink: Box<dyn FrameWriter + Send>,
    precision: Precision,
    /// Each source's counters.
    pub stats: Vec<SourceStats>,
    /// Kernel drops already reported, per source.
    dropped_seen: Vec<u64>,
    next_flush: Instant,
    warn: W,
    bad: B,
}

impl<W: FnMut(String), B: FnMut(String)> Recorder<W, B> {
    /// A recorder into `sink` of the sources counted by `stats`; the first flush is
    /// [`FLUSH_EVERY`] from now.
    pub fn new(
        sink: Box<dyn FrameWriter + Send>,
        precision: Precision,
        stats: Vec<SourceStats>,
        warn: W,
        bad: B,
    ) -> Self {
        Recorder {
            sink,
            precision,
            dropped_seen: vec![0; stats.len()],
            stats,
            next_flush: Instant::now() + FLUSH_EVERY,
            warn,
            bad,
        }
    }

    /// Kernel drops on every source so far.
    pub fn dropped(&self) -> u64 {
        self.stats.iter().map(|s| s.get().dropped).sum()
    }
}

impl<W: FnMut(String), B: FnMut(String)> Consumer for Recorder<W, B> {
    type Error = io::Error;

    fn frame(&mut self, r: Received) -> io::Result<()> {
        self.sink.write_record(&Record {
            timestamp: r.timestamp,
            precision: self.precision,
            interface: &r.interface,
            frame: r.frame,
            direction: None,
        })
    }

    fn bad_record(&mut self, text: String) {
        (self.bad)(text);
    }

    fn next_wake(&self) -> Option<Instant> {
        Some(self.next_flush)
    }

    fn wake(&mut self) -> io::Result<()> {
        self.sink.flush()?;
        for (s, seen) in self.stats.iter().zip(self.dropped_seen.iter_mut()) {
            let now = s.get().dropped;
            if now > *seen {
                (self.warn)(format!(
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::bus::{BusStats, Direction};
    use crate::drive::SharedWriter;
    use crate::frame::{ClassicFrame, Frame, Id};
    use crate::time::Timestamp;

    #[test]
    fn test_frames_are_written_and_new_kernel_drops_said_once() {
        let out = SharedWriter::default();
        let options = options(&["can0".into()], false, trc::Version::default());
        let sink = writers::writer(
            Format::Candump,
            Target::Stream(Box::new(out.clone())),
            &options,
        )
        .unwrap();
        let counters = Arc::new(Mutex::new(BusStats::default()));
        let stats = vec![SourceStats {
            name: "can0".into(),
            stats: Arc::clone(&counters),
        }];
        let mut warnings = Vec::new();
        let mut rec = Recorder::new(sink, precision(false), stats, |w| warnings.push(w), |_| {});
        rec.frame(Received {
            timestamp: Timestamp::from_micros(1_700_000_000_001_855).unwrap(),
            interface: Arc::from("can0"),
            frame: Frame::Classic(
                ClassicFrame::new(Id::new(0x123, false).unwrap(), &[0xDE, 0xAD]).unwrap(),
            ),
            direction: Direction::Rx,
        })
        .unwrap();
        rec.wake().unwrap();
        assert_eq!(
            out.text(),
            "(1700000000.001855) can0 123#DEAD\n",
            "flushed at the wake"
        );
        counters.lock().unwrap().dropped = 3;
        rec.wake().unwrap();
        rec.wake().unwrap();
        counters.lock().unwrap().dropped = 4;
        rec.wake().unwrap();
        assert_eq!(rec.dropped(), 4);
        assert!(rec.next_wake().is_some());
        drop(rec);
        assert_eq!(
            warnings,
            [
                "3 frames dropped by the kernel on can0 (3 in all)",
                "1 frame dropped by the kernel on can0 (4 in all)",
            ]
        );
    }
}
