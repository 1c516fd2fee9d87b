//! One way to get a [`FrameWriter`] for any writable [`Format`], and to copy a capture from
//! any reader into it (`convert`, `record --format`).
//!
//! The caller opens the output (this module touches no files): a [`Target`] is either
//! seekable (a file: formats whose header holds totals get them) or a plain stream (a pipe,
//! standard output). A `.gz` target is compressed here ([`Target::gzip`]): its flush is a
//! gzip sync point, so a reader sees every record flushed even if the process dies, and its
//! trailer is written by [`FrameWriter::finish`], with any error reported.
//!
//! What a format cannot carry is counted by its writer ([`FrameWriter::losses`]): [`copy`]
//! returns those counts, and the caller says them out loud.

use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use flate2::Compression;
use flate2::write::GzEncoder;

use super::{
    Format, FrameReader, FrameWriter, Item, Loss, ReadError, Record, asc, blf, candump, csv, mf4,
    pcap, trc,
};

/// A seekable output.
pub trait WriteSeek: Write + Seek + Send {}
impl<T: Write + Seek + Send> WriteSeek for T {}

/// Where a writer writes.
pub enum Target {
    /// A file: formats with totals in their header rewrite it at the end.
    Seekable(Box<dyn WriteSeek>),
    /// A pipe or standard output: written front to back only.
    Stream(Box<dyn Write + Send>),
    /// Gzip-compressed, front to back.
    Gzip(Box<dyn Write + Send>),
}

impl Target {
    /// A gzip-compressed target over `inner`.
    pub fn gzip(inner: Box<dyn Write + Send>) -> Target {
        Target::Gzip(inner)
    }
}

/// Options that some formats take (others ignore them).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// candump: the timestamp precision (`None` keeps each record's own).
    pub precision: Option<super::Precision>,
    /// candump: right-align interface names to this width (candump pads to its longest).
    pub interface_width: usize,
    /// TRC: the version to write (2.1 by default).
    pub trc_version: trc::Version,
}

/// A writer cannot be made for this format and target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriterError {
    /// The format is read only.
    #[error("{format} ({description}) can be read but not written; {hint}", description = .format.description())]
    ReadOnly { format: Format, hint: &'static str },
    /// The format must seek back (to write its header or index) and the target cannot.
    #[error(
        "{format} files are written with seeks back to their header: give a file, not a pipe or a .gz name"
    )]
    NeedsSeek { format: Format },
}

/// What `writer`'s format could not carry, once each with its count, and the interface names
/// that became channel numbers under which they will not read back: the warnings a command
/// gives after writing.
pub fn loss_warnings(writer: &dyn FrameWriter) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(map) = writer.channel_map() {
        let renamed: Vec<String> = map
            .assignments()
            .iter()
            .filter(|(name, channel)| *name != super::channel_interface(*channel))
            .map(|(name, channel)| {
                format!(
                    "{name} as channel {channel} (reads back as {})",
                    super::channel_interface(*channel)
                )
            })
            .collect();
        if !renamed.is_empty() {
            warnings.push(format!(
                "the output numbers its buses: {}",
                renamed.join(", ")
            ));
        }
    }
    for loss in writer.losses() {
        warnings.push(format!(
            "{} record{} {} {}",
            loss.count,
            if loss.count == 1 { "" } else { "s" },
            if loss.dropped {
                "not written: the output format cannot carry"
            } else {
                "written without"
            },
            loss.what
        ));
    }
    warnings
}

/// The format a file name asks for, by its extension (a trailing `.gz` is looked through):
/// `.log` candump, `.asc`, `.csv` (python-can), and the binary formats when their writers
/// exist. `None` for anything else.
pub fn format_for_path(path: &Path) -> Option<Format> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let name = name.strip_suffix(".gz").unwrap_or(&name);
    let ext = name.rsplit_once('.')?.1;
    Format::ALL
        .iter()
        .copied()
        .find(|f| f.extensions().contains(&ext))
}

/// A format name that names no format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}; the formats are {names}", names = Format::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", "))]
pub struct UnknownFormat(pub String);

/// A format by its command-line name ([`Format::from_name`]).
pub fn parse_format(name: &str) -> Result<Format, UnknownFormat> {
    Format::from_name(name).ok_or_else(|| UnknownFormat(name.to_string()))
}

/// A TRC version that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown TRC version {0:?}; the versions are {versions}", versions = trc::Version::ALL.map(trc::Version::text).join(", "))]
pub struct UnknownTrcVersion(pub String);

/// A TRC version by its text (`2.1`).
pub fn parse_trc_version(text: &str) -> Result<trc::Version, UnknownTrcVersion> {
    trc::Version::parse(text).ok_or_else(|| UnknownTrcVersion(text.to_string()))
}

/// The writable formats with their extensions, as a list to choose from: `candump .log, ...`.
pub fn writable_names() -> String {
    Format::ALL
        .iter()
        .filter(|f| !f.extensions().is_empty())
        .map(|f| format!("{} .{}", f.name(), f.extensions().join("/.")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The output's format is not said and cannot be told.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputFormatError {
    /// Standard output has no extension.
    #[error("writing to standard output: say which format with --to")]
    Stdout,
    /// The file's extension names no writable format.
    #[error("{}: the extension names no format I write; say which with --to ({})", .0.display(), writable_names())]
    Extension(PathBuf),
}

/// The format to write `output` (`-`: standard output) in: `given` (`--to`), else the one
/// its extension names ([`format_for_path`]).
pub fn output_format(given: Option<Format>, output: &Path) -> Result<Format, OutputFormatError> {
    match given.or_else(|| format_for_path(output)) {
        Some(f) => Ok(f),
        None if output == Path::new("-") => Err(OutputFormatError::Stdout),
        None => Err(OutputFormatError::Extension(output.to_path_buf())),
    }
}

/// A path as messages name it: `<stdio>` for `-` (standard input or output).
pub fn shown(path: &Path) -> String {
    if path == Path::new("-") {
        "<stdio>".to_string()
    } else {
        path.display().to_string()
    }
}

/// Whether `path` asks for gzip compression (its name ends in `.gz`).
pub fn is_gzip_path(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// A writer of `format` into `target`.
pub fn writer(
    format: Format,
    target: Target,
    options: &Options,
) -> Result<Box<dyn FrameWriter + Send>, WriterError> {
    let candump_options = candump::WriteOptions {
        precision: options.precision,
        interface_width: options.interface_width,
        ..candump::WriteOptions::default()
    };
    // Formats written front to back take any target.
    let streamed = |w: Box<dyn Write + Send>| -> Result<Box<dyn FrameWriter + Send>, WriterError> {
        Ok(match format {
            Format::Candump => Box::new(candump::Writer::with_options(w, candump_options)),
            Format::Asc => Box::new(asc::Writer::new(w)),
            Format::Csv => Box::new(csv::Writer::new(w)),
            Format::Pcap => Box::new(pcap::PcapWriter::new(w)),
            Format::Pcapng => Box::new(pcap::PcapngWriter::new(w)),
            Format::Mf4 => return Err(WriterError::NeedsSeek { format }),
            // Its header's totals stay zero on a stream (every reader iterates objects).
            Format::Blf => Box::new(blf::Writer::streaming(w)),
            Format::Trc => Box::new(trc::Writer::with_version(w, options.trc_version)),
            Format::CandumpScreen => {
                return Err(WriterError::ReadOnly {
                    format,
                    hint: "write a candump log (-l style, `.log`) instead: every tool reads it",
                });
            }
        })
    };
    match target {
        // MDF 4 writes its blocks' links and lengths back once they are known.
        Target::Seekable(w) if format == Format::Mf4 => Ok(Box::new(mf4::Writer::new(w))),
        Target::Seekable(w) if format == Format::Blf => Ok(Box::new(blf::Writer::new(w))),
        Target::Seekable(w) => streamed(Box::new(w)),
        Target::Stream(w) => streamed(w),
        Target::Gzip(w) => {
            let encoder = Arc::new(Mutex::new(Some(GzEncoder::new(w, Compression::default()))));
            let inner = streamed(Box::new(SharedGz(Arc::clone(&encoder))))?;
            Ok(Box::new(Gzipped { inner, encoder }))
        }
    }
}

type Encoder = GzEncoder<Box<dyn Write + Send>>;

/// The writer's handle on a gzip encoder shared with [`Gzipped`], which finishes it.
struct SharedGz(Arc<Mutex<Option<Encoder>>>);

impl SharedGz {
    fn with<T>(&self, f: impl FnOnce(&mut Encoder) -> io::Result<T>) -> io::Result<T> {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match guard.as_mut() {
            Some(e) => f(e),
            None => Err(io::Error::other("the gzip stream is already finished")),
        }
    }
}

impl Write for SharedGz {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.with(|e| e.write(buf))
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.with(|e| e.write_all(buf))
    }
    /// A gzip sync point: everything written so far can be decompressed.
    fn flush(&mut self) -> io::Result<()> {
        self.with(Write::flush)
    }
}

/// A format writer whose output is gzip-compressed; `finish` writes the gzip trailer.
struct Gzipped {
    inner: Box<dyn FrameWriter + Send>,
    encoder: Arc<Mutex<Option<Encoder>>>,
}

impl FrameWriter for Gzipped {
    fn write_record(&mut self, record: &Record<'_>) -> io::Result<()> {
        self.inner.write_record(record)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
    fn finish(&mut self) -> io::Result<()> {
        self.inner.finish()?;
        let encoder = self
            .encoder
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match encoder {
            Some(e) => e.finish()?.flush(),
            None => Ok(()),
        }
    }
    fn losses(&self) -> &[Loss] {
        self.inner.losses()
    }
    fn channel_map(&self) -> Option<&super::ChannelMap> {
        self.inner.channel_map()
    }
}

/// What [`copy`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    /// Records read and handed to the writer (some may be counted as its losses).
    pub records: u64,
    /// Malformed records skipped (each reported through the callback).
    pub bad: u64,
    /// Things the input holds that are not CAN frames (`LIN message`...), with counts.
    pub skipped: Vec<(String, u64)>,
    /// Whether `stop` ended the copy early.
    pub stopped: bool,
}

/// A copy that read no CAN frame: there is nothing to keep.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no CAN frame in {input} ({from}){}", if *.malformed { " but malformed records (reported above)" } else { "" })]
pub struct NoFrame {
    /// The input, as named to the user.
    pub input: String,
    /// Its format.
    pub from: Format,
    /// Whether it held malformed records (reported as they were read).
    pub malformed: bool,
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl Copied {
    /// What the input (`input`, as named to the user) held that is not CAN frames, a
    /// warning a kind: `2 LIN messages in x.asc not converted (not CAN frames)`.
    pub fn skipped_warnings(&self, input: &str) -> Vec<String> {
        self.skipped
            .iter()
            .map(|(what, n)| {
                format!(
                    "{n} {what}{} in {input} not converted (not CAN frames)",
                    plural(*n)
                )
            })
            .collect()
    }

    /// What an interrupted copy left in `output` (as named to the user).
    /// `dropped`: frames read that the output format could not carry (not in the output).
    pub fn interrupted_note(&self, output: &str, dropped: u64) -> String {
        let written = self.records.saturating_sub(dropped);
        format!(
            "interrupted: {output} holds the {written} frame{} read before",
            plural(written)
        )
    }

    /// [`NoFrame`] when the copy read no CAN frame from `input` (of format `from`).
    pub fn no_frame(&self, input: &str, from: Format) -> Option<NoFrame> {
        (self.records == 0).then(|| NoFrame {
            input: input.to_string(),
            from,
            malformed: self.bad > 0,
        })
    }

    /// What a finished copy did: `converted 3 frames from a.log (candump) to b.asc (asc)`.
    /// What was converted: the frames written (`dropped`: those the output format could not
    /// carry at all, said in its warnings, are not counted).
    pub fn converted_note(
        &self,
        input: &str,
        from: Format,
        output: &str,
        to: Format,
        dropped: u64,
    ) -> String {
        let written = self.records.saturating_sub(dropped);
        let mut note = format!(
            "converted {written} frame{} from {input} ({from}) to {output} ({to})",
            plural(written)
        );
        if dropped > 0 {
            note.push_str(&format!(
                "; {dropped} of the {} read could not be written (see above)",
                self.records
            ));
        }
        note
    }

    /// Frames were read but the output format could carry none of them (`dropped`: those it
    /// did not write): there is nothing to keep.
    pub fn none_written(&self, output: &str, to: Format, dropped: u64) -> Option<NoneWritten> {
        NoneWritten::of(self.records, dropped, output, to, Came::Read)
    }
}

/// How the frames came to a writer, for [`NoneWritten`]'s message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Came {
    /// Read from a capture and converted; the output is removed (`nothing was kept`).
    Read,
    /// Received and recorded; the log stays.
    Received,
}

/// Frames came (`records`), but the output format could carry none of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "none of the {records} frame{} {} could be written to {output}: {to} cannot carry {} \
     (said above){}",
    plural(*.records),
    match .came { Came::Read => "read", Came::Received => "received" },
    if *.records == 1 { "it" } else { "them" },
    match .came { Came::Read => "; nothing was kept", Came::Received => "" }
)]
pub struct NoneWritten {
    pub output: String,
    pub to: Format,
    pub records: u64,
    pub came: Came,
}

impl NoneWritten {
    /// `Some` when `records` came and the writer did not write any (`dropped` of them).
    pub fn of(
        records: u64,
        dropped: u64,
        output: &str,
        to: Format,
        came: Came,
    ) -> Option<NoneWritten> {
        (records > 0 && dropped >= records).then(|| NoneWritten {
            output: output.to_string(),
            to,
            records,
            came,
        })
    }
}

/// Records `writer` did not write at all (its losses that dropped them).
pub fn dropped(writer: &dyn FrameWriter) -> u64 {
    writer
        .losses()
        .iter()
        .filter(|l| l.dropped)
        .map(|l| l.count)
        .sum()
}

/// Why [`copy`] stopped before the end of the input.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// Reading failed (or, with `strict`, a record was malformed). The writer has everything
    /// read before it.
    #[error(transparent)]
    Read(ReadError),
    /// Writing failed.
    #[error("cannot write the output: {0}")]
    Write(io::Error),
}

/// Copies every record of `reader` to `writer`, in order, then finishes the writer (also
/// when reading fails or `stop` says so: what was read is kept). Malformed records go to
/// `bad` and are skipped, unless `strict`, where the first one ends the copy as an error.
/// `flush_every` records, the writer is flushed (0: never before the end).
pub fn copy(
    reader: &mut dyn FrameReader,
    writer: &mut dyn FrameWriter,
    strict: bool,
    flush_every: u64,
    stop: &dyn Fn() -> bool,
    bad: &mut dyn FnMut(&ReadError),
) -> Result<Copied, CopyError> {
    let mut copied = Copied::default();
    let outcome = loop {
        if stop() {
            copied.stopped = true;
            break Ok(());
        }
        match reader.read_item() {
            Ok(Some(Item::Record(r))) => {
                copied.records += 1;
                if let Err(e) = writer.write_record(&r) {
                    break Err(CopyError::Write(e));
                }
                if flush_every > 0
                    && copied.records % flush_every == 0
                    && let Err(e) = writer.flush()
                {
                    break Err(CopyError::Write(e));
                }
            }
            Ok(Some(Item::Other(_))) => {}
            Ok(Some(Item::Skipped(what))) => {
                match copied.skipped.iter_mut().find(|(w, _)| w == what) {
                    Some((_, n)) => *n += 1,
                    None => copied.skipped.push((what.to_string(), 1)),
                }
            }
            Ok(Some(Item::Bad(e))) => {
                if strict {
                    break Err(CopyError::Read(e));
                }
                copied.bad += 1;
                bad(&e);
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(CopyError::Read(e)),
        }
    };
    // Everything read so far is kept, whatever stopped the copy.
    let finished = writer.finish().map_err(CopyError::Write);
    outcome?;
    finished?;
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_formats_and_trc_versions_parse() {
        assert_eq!(parse_format("asc"), Ok(Format::Asc));
        let e = parse_format("nope").unwrap_err().to_string();
        assert!(
            e.starts_with("unknown format \"nope\"; the formats are candump, "),
            "{e}"
        );
        assert_eq!(parse_trc_version("1.1").map(trc::Version::text), Ok("1.1"));
        assert_eq!(
            parse_trc_version("3").unwrap_err().to_string(),
            "unknown TRC version \"3\"; the versions are 1.0, 1.1, 1.3, 2.0, 2.1"
        );
    }

    #[test]
    fn the_output_format_is_given_or_named_by_the_extension() {
        assert_eq!(output_format(None, Path::new("x.asc.gz")), Ok(Format::Asc));
        assert_eq!(
            output_format(Some(Format::Csv), Path::new("x.asc")),
            Ok(Format::Csv)
        );
        assert_eq!(
            output_format(Some(Format::Csv), Path::new("-")),
            Ok(Format::Csv)
        );
        assert_eq!(
            output_format(None, Path::new("-")).unwrap_err().to_string(),
            "writing to standard output: say which format with --to"
        );
        let e = output_format(None, Path::new("x.txt"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "x.txt: the extension names no format I write; say which with --to ({})",
                writable_names()
            )
        );
        assert!(
            writable_names().contains("candump .log"),
            "{}",
            writable_names()
        );
        assert_eq!(shown(Path::new("-")), "<stdio>");
        assert_eq!(shown(Path::new("a/b.log")), "a/b.log");
    }

    #[test]
    fn a_copy_says_what_it_did() {
        let mut c = Copied {
            records: 1,
            bad: 0,
            skipped: vec![("LIN message".into(), 2), ("marker".into(), 1)],
            stopped: false,
        };
        assert_eq!(
            c.skipped_warnings("in.asc"),
            [
                "2 LIN messages in in.asc not converted (not CAN frames)",
                "1 marker in in.asc not converted (not CAN frames)"
            ]
        );
        assert_eq!(
            c.interrupted_note("out.log", 0),
            "interrupted: out.log holds the 1 frame read before"
        );
        assert_eq!(
            c.converted_note("a.log", Format::Candump, "b.asc", Format::Asc, 0),
            format!(
                "converted 1 frame from a.log ({}) to b.asc ({})",
                Format::Candump,
                Format::Asc
            )
        );
        assert_eq!(c.no_frame("a.log", Format::Candump), None);
        c.records = 0;
        c.bad = 2;
        assert_eq!(
            c.no_frame("a.log", Format::Candump).unwrap().to_string(),
            format!(
                "no CAN frame in a.log ({}) but malformed records (reported above)",
                Format::Candump
            )
        );
        c.bad = 0;
        c.records = 5;
        assert_eq!(
            c.interrupted_note("-", 0),
            "interrupted: - holds the 5 frames read before"
        );
    }
    use crate::frame::{ClassicFrame, Frame, Id};
    use crate::log::{Direction, OwnedRecord, Precision};
    use crate::time::Timestamp;
    use std::io::{BufReader, Cursor, Read};
    use std::path::PathBuf;

    fn records() -> Vec<OwnedRecord> {
        (0..50u32)
            .map(|i| OwnedRecord {
                timestamp: Timestamp::from_secs_nanos(1_700_000_000 + u64::from(i), i * 1000)
                    .unwrap(),
                precision: Precision::Micros,
                interface: if i % 2 == 0 { "can0" } else { "can1" }.to_string(),
                frame: Frame::Classic(
                    ClassicFrame::new(Id::standard(0x100 + i as u16).unwrap(), &[i as u8, 1, 2])
                        .unwrap(),
                ),
                direction: if i % 3 == 0 {
                    Some(Direction::Tx)
                } else {
                    None
                },
            })
            .collect()
    }

    /// Records written through `writer` and read back with the candump reader.
    fn read_candump(bytes: &[u8]) -> Vec<OwnedRecord> {
        let mut r = candump::Reader::new(BufReader::new(bytes));
        let mut out = Vec::new();
        while let Some(item) = FrameReader::read_item(&mut r).unwrap() {
            if let Item::Record(rec) = item {
                out.push(rec.to_owned_record());
            }
        }
        out
    }

    #[test]
    fn test_format_for_path_by_extension_through_gz() {
        let f = |s: &str| format_for_path(&PathBuf::from(s));
        assert_eq!(f("a.log"), Some(Format::Candump));
        assert_eq!(f("dir.x/a.LOG.gz"), Some(Format::Candump));
        assert_eq!(f("a.asc"), Some(Format::Asc));
        assert_eq!(f("a.csv"), Some(Format::Csv));
        assert_eq!(f("a"), None);
        assert_eq!(f("a.gz"), None);
        assert_eq!(f("a.txt"), None);
        assert!(is_gzip_path(&PathBuf::from("x.log.GZ")));
        assert!(!is_gzip_path(&PathBuf::from("x.log")));
    }

    #[test]
    fn test_gzip_target_is_readable_at_each_flush_and_finished_by_finish() {
        let shared = Arc::new(Mutex::new(Vec::new()));
        struct Out(Arc<Mutex<Vec<u8>>>);
        impl Write for Out {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut w = writer(
            Format::Candump,
            Target::gzip(Box::new(Out(Arc::clone(&shared)))),
            &Options::default(),
        )
        .unwrap();
        let recs = records();
        for r in &recs[..10] {
            w.write_record(&r.as_record()).unwrap();
        }
        w.flush().unwrap();
        // Up to the sync point, the stream decompresses (a reader of a live file).
        let partial = shared.lock().unwrap().clone();
        let mut text = Vec::new();
        let _ = flate2::read::GzDecoder::new(&partial[..]).read_to_end(&mut text);
        assert_eq!(read_candump(&text).len(), 10);
        for r in &recs[10..] {
            w.write_record(&r.as_record()).unwrap();
        }
        w.finish().unwrap();
        let whole = shared.lock().unwrap().clone();
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(&whole[..])
            .read_to_end(&mut text)
            .unwrap();
        let back = read_candump(&text);
        assert_eq!(back.len(), recs.len());
        assert_eq!(back[7].frame, recs[7].frame);
        // Writing after finish is an error, not a silent loss.
        assert!(w.write_record(&recs[0].as_record()).is_err() || w.flush().is_err());
    }

    #[test]
    fn test_screen_output_is_read_only() {
        let e = writer(
            Format::CandumpScreen,
            Target::Stream(Box::new(Vec::new())),
            &Options::default(),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("can be read but not written"), "{e}");
    }

    #[test]
    fn test_copy_keeps_what_was_read_before_damage_and_reports_bad_records() {
        let text = "(1700000000.000000) can0 123#11\n\
                    (1700000000.000001) can0 12G#11\n\
                    (1700000000.000002) can0 124#22\n";
        let mut reader = candump::Reader::new(BufReader::new(text.as_bytes()));
        let mut out = Vec::new();
        let mut w = candump::Writer::new(&mut out);
        let mut bad = Vec::new();
        let copied = copy(&mut reader, &mut w, false, 1, &|| false, &mut |e| {
            bad.push(e.to_string())
        })
        .unwrap();
        assert_eq!((copied.records, copied.bad), (2, 1));
        assert_eq!(bad.len(), 1);
        drop(w);
        assert_eq!(read_candump(&out).len(), 2);
        // Strict: the first bad record ends the copy, with the record before it kept.
        let mut reader = candump::Reader::new(BufReader::new(text.as_bytes()));
        let mut out = Vec::new();
        let mut w = candump::Writer::new(&mut out);
        let e = copy(&mut reader, &mut w, true, 0, &|| false, &mut |_| {}).unwrap_err();
        assert!(matches!(e, CopyError::Read(_)));
        drop(w);
        assert_eq!(read_candump(&out).len(), 1);
    }

    #[test]
    fn test_copy_counts_losses_of_the_target_format() {
        // CSV carries one interface and no direction: both are counted, not dropped silently.
        let recs = records();
        let mut text = Vec::new();
        let mut w = candump::Writer::new(&mut text);
        for r in &recs {
            w.write_record(&r.as_record()).unwrap();
        }
        w.finish().unwrap();
        drop(w);
        let mut reader = candump::Reader::new(BufReader::new(&text[..]));
        let mut w = writer(
            Format::Csv,
            Target::Seekable(Box::new(Cursor::new(Vec::new()))),
            &Options::default(),
        )
        .unwrap();
        let copied = copy(&mut reader, w.as_mut(), false, 0, &|| false, &mut |_| {}).unwrap();
        assert_eq!(copied.records, 50);
        let losses = w.losses();
        assert!(!losses.is_empty());
        assert!(losses.iter().all(|l| l.count > 0));
        // Each loss is said once, with its count.
        let said = loss_warnings(w.as_ref());
        assert_eq!(said.len(), losses.len(), "{said:?}");
        for (text, loss) in said.iter().zip(losses) {
            assert!(
                text.starts_with(&format!("{} record", loss.count)),
                "{text}"
            );
            assert!(text.ends_with(&loss.what), "{text}");
        }
    }
}
