//! Opening captures from files and standard input: the edge between the file system and the
//! pure format readers of [`crate::log`].
//!
//! With the bus layer, [`crate::load`] (definition files) and [`crate::create`] (outputs),
//! this is the only part of the library that touches files. A path (or
//! `-` for standard input) is opened, gzip is decompressed when the content starts with its
//! magic number (whatever the extension), and the format is recognised from the content
//! ([`detect`], each format module's `sniff`), never from the extension alone. A file that
//! matches no format, or is empty, is an [`OpenError`]: nothing reports "0 frames" for
//! something it did not understand.
//!
//! Damage (a truncated or corrupt `.gz`, as a recorder killed hard leaves) reaches the reader
//! as an I/O error of kind `InvalidData` wrapping [`Damaged`] ([`is_damage`] tells it from a
//! failing device), after every byte before it: readers deliver every complete record first.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};
use std::path::Path;
use std::sync::Arc;

use flate2::bufread::MultiGzDecoder;

use crate::log::{self, Format, FrameReader};

/// Size of the read buffers.
pub const IO_BUFFER: usize = 64 * 1024;
/// How much of a capture format detection looks at, at most.
pub const HEAD: usize = 4096;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The bytes of a capture after decompression.
pub type Stream = Box<dyn BufRead + Send>;

/// The name a path goes by in messages: `<stdin>` for `-`.
pub fn display_name(path: &Path) -> Arc<str> {
    if path == Path::new("-") {
        Arc::from("<stdin>")
    } else {
        Arc::from(path.display().to_string())
    }
}

/// Why a capture cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}: no such file")]
    NotFound(Arc<str>),
    #[error("{0} is a directory, not a capture")]
    Directory(Arc<str>),
    #[error("{name}: cannot open: {error}")]
    Open {
        name: Arc<str>,
        #[source]
        error: io::Error,
    },
    #[error("{name}: {error}")]
    Read {
        name: Arc<str>,
        #[source]
        error: io::Error,
    },
    #[error("{name} is empty{}: no frames to read", if *.gzip { " once decompressed" } else { "" })]
    Empty { name: Arc<str>, gzip: bool },
    #[error("{name}: not a capture in a format canrelearn reads ({known}); it starts with {head}")]
    Unrecognised {
        name: Arc<str>,
        known: String,
        head: String,
    },
}

impl OpenError {
    /// Whether the input itself is at fault (missing, empty, unknown, damaged), as opposed to
    /// a device that failed while reading.
    pub fn is_input_error(&self) -> bool {
        match self {
            OpenError::Read { error, .. } => is_damage(error),
            _ => true,
        }
    }
}

/// An error of the gzip layer: the compressed data is damaged (truncated or corrupt).
#[derive(Debug, thiserror::Error)]
#[error("the compressed data is damaged ({0})")]
pub struct Damaged(#[source] io::Error);

/// Reads through a gzip decoder, turning its errors into [`Damaged`] (kind `InvalidData`).
struct Gunzip<R>(R);

impl<R: Read> Read for Gunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => {
                let e = if e.kind() == io::ErrorKind::UnexpectedEof {
                    io::Error::new(e.kind(), "it ends in the middle (a truncated file)")
                } else {
                    e
                };
                Err(io::Error::new(io::ErrorKind::InvalidData, Damaged(e)))
            }
            r => r,
        }
    }
}

/// Whether an I/O error means damaged input rather than a failing device.
pub fn is_damage(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData || e.get_ref().is_some_and(|inner| inner.is::<Damaged>())
}

/// Opens `path` (`-` is standard input), without decompression or detection.
pub fn open_raw(path: &Path) -> Result<(Arc<str>, Stream), OpenError> {
    let name = display_name(path);
    if path == Path::new("-") {
        return Ok((
            name,
            Box::new(BufReader::with_capacity(IO_BUFFER, io::stdin())),
        ));
    }
    match File::open(path) {
        Ok(f) => {
            if f.metadata().is_ok_and(|m| m.is_dir()) {
                return Err(OpenError::Directory(name));
            }
            Ok((name, Box::new(BufReader::with_capacity(IO_BUFFER, f))))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(OpenError::NotFound(name)),
        Err(error) => Err(OpenError::Open { name, error }),
    }
}

/// The format of a capture from its first bytes: binary formats by their magic numbers, then
/// the text formats by their lines.
pub fn detect(head: &[u8]) -> Option<Format> {
    if let Some(f) = log::pcap::sniff_format(head) {
        return Some(f);
    }
    if log::mf4::sniff(head) {
        return Some(Format::Mf4);
    }
    if log::blf::sniff(head) {
        return Some(Format::Blf);
    }
    if log::candump::sniff(head) {
        return Some(Format::Candump);
    }
    if log::screen::sniff(head) {
        return Some(Format::CandumpScreen);
    }
    if log::csv::sniff(head) {
        return Some(Format::Csv);
    }
    if log::asc::sniff(head) {
        return Some(Format::Asc);
    }
    if log::trc::sniff(head) {
        return Some(Format::Trc);
    }
    None
}

/// Reads up to [`HEAD`] bytes without losing them (the returned stream starts with them),
/// stopping early once the format is known, so a live pipe is recognised from its first
/// frame line. `stop` is asked after an interrupted read whether to give up waiting.
fn peek(
    mut inner: Stream,
    name: &Arc<str>,
    stop: &dyn Fn() -> bool,
) -> Result<(Vec<u8>, Stream), OpenError> {
    let mut head = Vec::with_capacity(HEAD);
    loop {
        let buf = match inner.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                if stop() {
                    break;
                }
                continue;
            }
            Err(error) => {
                return Err(OpenError::Read {
                    name: name.clone(),
                    error,
                });
            }
        };
        if buf.is_empty() {
            break;
        }
        let take = buf.len().min(HEAD - head.len());
        head.extend_from_slice(buf.get(..take).unwrap_or_default());
        inner.consume(take);
        if head.len() >= HEAD
            || (head.len() >= 2 && head.starts_with(&GZIP_MAGIC))
            || detect(&head).is_some_and(|f| is_binary(f) || head.contains(&b'\n'))
        {
            break;
        }
    }
    let stream: Stream = Box::new(io::Cursor::new(head.clone()).chain(inner));
    Ok((head, stream))
}

/// Whether a format is recognised by a magic number (no need to wait for a whole line).
fn is_binary(format: Format) -> bool {
    matches!(
        format,
        Format::Pcap | Format::Pcapng | Format::Mf4 | Format::Blf
    )
}

/// Something both readable and seekable (what an MDF 4 reader needs).
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// The largest MDF 4 capture held in memory when it cannot be read from its file (from
/// standard input, or gzip-compressed): 512 MiB.
pub const MAX_SPOOLED_MF4: u64 = 512 << 20;

/// An opened capture: its name, format and decompressed content.
pub struct Opened {
    pub name: Arc<str>,
    pub format: Format,
    pub gzip: bool,
    pub stream: Stream,
    /// For formats read by seeking (MDF 4): the file itself, or the content held in memory.
    pub seekable: Option<Box<dyn ReadSeek>>,
}

/// The seekable content of an MDF 4 capture: the file itself when it is a plain file, else the
/// decompressed stream held in memory (at most [`MAX_SPOOLED_MF4`]).
fn seekable(
    path: &Path,
    name: &Arc<str>,
    gzip: bool,
    stream: &mut Stream,
) -> Result<Box<dyn ReadSeek>, OpenError> {
    if !gzip
        && path != Path::new("-")
        && let Ok(f) = File::open(path)
        && f.metadata().is_ok_and(|m| m.is_file())
    {
        return Ok(Box::new(BufReader::with_capacity(IO_BUFFER, f)));
    }
    let mut bytes = Vec::new();
    let read = stream
        .take(MAX_SPOOLED_MF4 + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| OpenError::Read {
            name: name.clone(),
            error,
        })?;
    if read as u64 > MAX_SPOOLED_MF4 {
        return Err(OpenError::Read {
            name: name.clone(),
            error: io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "an MDF 4 capture is read by seeking, and this one is not a plain file and is over {} MiB: decompress it to a file first",
                    MAX_SPOOLED_MF4 >> 20
                ),
            ),
        });
    }
    Ok(Box::new(io::Cursor::new(bytes)))
}

/// Opens a capture: decompresses gzip, recognises the format (or takes `forced`). `stop`
/// is asked whether to stop waiting when a read is interrupted by a signal.
pub fn open(
    path: &Path,
    forced: Option<Format>,
    stop: &dyn Fn() -> bool,
) -> Result<Opened, OpenError> {
    let (name, raw) = open_raw(path)?;
    let (head, raw) = peek(raw, &name, stop)?;
    let gzip = head.starts_with(&GZIP_MAGIC);
    let (head, stream) = if gzip {
        let decoded: Stream = Box::new(BufReader::with_capacity(
            IO_BUFFER,
            Gunzip(MultiGzDecoder::new(raw)),
        ));
        peek(decoded, &name, stop)?
    } else {
        (head, raw)
    };
    if head.is_empty() {
        return Err(OpenError::Empty { name, gzip });
    }
    let format = match forced.or_else(|| detect(&head)) {
        Some(f) => f,
        None => {
            return Err(OpenError::Unrecognised {
                name,
                known: Format::ALL
                    .iter()
                    .map(|f| f.description())
                    .collect::<Vec<_>>()
                    .join(", "),
                head: head_text(&head),
            });
        }
    };
    let mut stream = stream;
    let seekable = if format == Format::Mf4 {
        Some(seekable(path, &name, gzip, &mut stream)?)
    } else {
        None
    };
    Ok(Opened {
        name,
        format,
        gzip,
        stream,
        seekable,
    })
}

/// The first bytes of a capture for a message: a short printable excerpt, or hex.
fn head_text(head: &[u8]) -> String {
    let first = head.get(..48).unwrap_or(head);
    let text = first
        .iter()
        .all(|b| b.is_ascii_graphic() || matches!(b, b' ' | b'\n' | b'\r' | b'\t'));
    if text {
        let line = String::from_utf8_lossy(first);
        let line = line.lines().next().unwrap_or_default().to_string();
        format!("{line:?}")
    } else {
        format!(
            "the bytes {}",
            first
                .iter()
                .take(16)
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(" ")
        )
    }
}

/// A reader for an opened capture.
pub fn reader(opened: Opened) -> Box<dyn FrameReader> {
    let name = opened.name.clone();
    match opened.format {
        Format::Candump => {
            Box::new(log::candump::Reader::new(opened.stream).with_source_name(name))
        }
        Format::Asc => Box::new(log::asc::Reader::new(opened.stream).with_source_name(name)),
        Format::CandumpScreen => {
            Box::new(log::screen::Reader::new(opened.stream).with_source_name(name))
        }
        Format::Csv => Box::new(log::csv::Reader::new(opened.stream).with_source_name(name)),
        Format::Pcap | Format::Pcapng => {
            let format = opened.format;
            Box::new(
                log::pcap::Reader::new(opened.stream)
                    .with_source_name(name)
                    .with_expected_format(format),
            )
        }
        Format::Blf => Box::new(log::blf::Reader::new(opened.stream).with_source_name(name)),
        Format::Trc => Box::new(log::trc::Reader::new(opened.stream).with_source_name(name)),
        Format::Mf4 => {
            let inner: Box<dyn ReadSeek> = match opened.seekable {
                Some(s) => s,
                // `open` always provides it; an empty input reads as a truncated file.
                None => Box::new(io::Cursor::new(Vec::new())),
            };
            Box::new(log::mf4::Reader::new(inner).with_source_name(name))
        }
    }
}

/// Items a [`ReadAhead`] hands over at a time.
const READ_AHEAD_BATCH: usize = 4096;
/// Batches in flight between the reading thread and the caller.
const READ_AHEAD_DEPTH: usize = 4;

/// An item of a capture that owns its text (interfaces as an index into the names table).
enum AheadItem {
    Record {
        timestamp: crate::time::Timestamp,
        precision: log::Precision,
        interface: usize,
        frame: crate::frame::Frame,
        direction: Option<log::Direction>,
    },
    Other(String),
    Skipped(String),
    Bad(log::ReadError),
}

/// What the reading thread sends: items, interface names first seen in them, the reader's
/// counters after them, and the end of the capture (its error, if any).
struct AheadBatch {
    items: Vec<AheadItem>,
    new_interfaces: Vec<String>,
    stats: log::Stats,
    end: Option<Result<(), log::ReadError>>,
}

/// Reads a capture on a thread of its own, a batch of items ahead of the caller, so that
/// parsing (inflating a BLF, say) overlaps with what the caller does with the frames. For
/// files: a live pipe would hold frames back until a batch fills.
pub struct ReadAhead {
    rx: std::sync::mpsc::Receiver<AheadBatch>,
    format: Format,
    interfaces: Vec<String>,
    items: std::vec::IntoIter<AheadItem>,
    current: Option<AheadItem>,
    stats: log::Stats,
    end: Option<Result<(), log::ReadError>>,
    ended: bool,
}

impl ReadAhead {
    /// Moves `reader` to a thread of its own.
    pub fn new(mut reader: Box<dyn FrameReader>) -> ReadAhead {
        let format = reader.format();
        let (tx, rx) = std::sync::mpsc::sync_channel(READ_AHEAD_DEPTH);
        std::thread::spawn(move || {
            let mut names: Vec<String> = Vec::new();
            loop {
                let mut batch = AheadBatch {
                    items: Vec::with_capacity(READ_AHEAD_BATCH),
                    new_interfaces: Vec::new(),
                    stats: log::Stats::default(),
                    end: None,
                };
                while batch.items.len() < READ_AHEAD_BATCH {
                    let item = match reader.read_item() {
                        Ok(Some(log::Item::Record(r))) => {
                            let interface = match names.iter().rposition(|n| n == r.interface) {
                                Some(i) => i,
                                None => {
                                    names.push(r.interface.to_owned());
                                    batch.new_interfaces.push(r.interface.to_owned());
                                    names.len() - 1
                                }
                            };
                            AheadItem::Record {
                                timestamp: r.timestamp,
                                precision: r.precision,
                                interface,
                                frame: r.frame,
                                direction: r.direction,
                            }
                        }
                        Ok(Some(log::Item::Other(t))) => AheadItem::Other(t.to_owned()),
                        Ok(Some(log::Item::Skipped(t))) => AheadItem::Skipped(t.to_owned()),
                        Ok(Some(log::Item::Bad(e))) => AheadItem::Bad(e),
                        Ok(None) => {
                            batch.end = Some(Ok(()));
                            break;
                        }
                        Err(e) => {
                            batch.end = Some(Err(e));
                            break;
                        }
                    };
                    batch.items.push(item);
                }
                batch.stats = reader.stats();
                let last = batch.end.is_some();
                // The caller gone (it stopped early) ends the reading.
                if tx.send(batch).is_err() || last {
                    return;
                }
            }
        });
        ReadAhead {
            rx,
            format,
            interfaces: Vec::new(),
            items: Vec::new().into_iter(),
            current: None,
            stats: log::Stats::default(),
            end: None,
            ended: false,
        }
    }
}

impl FrameReader for ReadAhead {
    fn read_item(&mut self) -> Result<Option<log::Item<'_>>, log::ReadError> {
        loop {
            if let Some(item) = self.items.next() {
                self.current = Some(item);
                break;
            }
            if let Some(end) = self.end.take() {
                self.ended = true;
                return end.map(|()| None);
            }
            if self.ended {
                return Ok(None);
            }
            match self.rx.recv() {
                Ok(batch) => {
                    self.interfaces.extend(batch.new_interfaces);
                    self.stats = batch.stats;
                    self.end = batch.end;
                    self.items = batch.items.into_iter();
                }
                Err(_) => {
                    self.ended = true;
                    return Err(log::ReadError::Io {
                        source_name: None,
                        location: log::Location::Offset(0),
                        error: io::Error::other("the capture's reading thread ended unexpectedly"),
                    });
                }
            }
        }
        Ok(match self.current.take() {
            Some(AheadItem::Record {
                timestamp,
                precision,
                interface,
                frame,
                direction,
            }) => Some(log::Item::Record(log::Record {
                timestamp,
                precision,
                interface: self
                    .interfaces
                    .get(interface)
                    .map_or("can0", String::as_str),
                frame,
                direction,
            })),
            Some(AheadItem::Other(t)) => {
                self.current = Some(AheadItem::Other(t));
                match &self.current {
                    Some(AheadItem::Other(t)) => Some(log::Item::Other(t.as_str())),
                    _ => None,
                }
            }
            Some(AheadItem::Skipped(t)) => {
                self.current = Some(AheadItem::Skipped(t));
                match &self.current {
                    Some(AheadItem::Skipped(t)) => Some(log::Item::Skipped(t.as_str())),
                    _ => None,
                }
            }
            Some(AheadItem::Bad(e)) => Some(log::Item::Bad(e)),
            None => None,
        })
    }

    fn format(&self) -> Format {
        self.format
    }

    fn stats(&self) -> log::Stats {
        self.stats
    }
}

/// The text of a reader's error: damage (a truncated gzip, a failing read) names the last
/// complete line, after which nothing could be read.
pub fn read_error_text(e: &log::ReadError) -> String {
    match e {
        log::ReadError::Io {
            source_name,
            location,
            error,
        } if is_damage(error) => format!(
            "{}: damaged after {}: {}",
            source_name.as_deref().unwrap_or("<input>"),
            match location {
                log::Location::Line { line, .. } => format!("line {line}, the last complete one"),
                other => other.to_string(),
            },
            error
        ),
        _ => e.to_string(),
    }
}

/// A capture opened for decoding ([`open_decodable`]).
pub enum Decodable {
    /// Candump text, for the block pipeline.
    Lines(crate::output::pipeline::Blocks),
    /// Any other format's records.
    Records(Box<dyn FrameReader>),
}

/// Opens a capture for decoding (`-` is standard input), giving the name it goes by in
/// messages: candump text goes to the block pipeline (told whether it is a regular file:
/// otherwise it is read as it arrives, a pipe or a terminal), other formats to their reader,
/// which parses a regular file on a thread of its own ([`ReadAhead`]; a pipe is read by the
/// caller, so that its frames show as they arrive). `interrupted` stops the waits.
pub fn open_decodable(
    path: &Path,
    interrupted: fn() -> bool,
) -> Result<(Arc<str>, Decodable), OpenError> {
    let opened = open(path, None, &interrupted)?;
    let name = opened.name.clone();
    let regular = is_regular_file(path);
    let input = match opened.format {
        Format::Candump => Decodable::Lines(crate::output::pipeline::Blocks::new(
            opened.stream,
            opened.name,
            regular,
            interrupted,
        )),
        _ if regular => Decodable::Records(Box::new(ReadAhead::new(reader(opened)))),
        _ => Decodable::Records(reader(opened)),
    };
    Ok((name, input))
}

/// Whether `path` names a regular file (not `-`, a pipe, a FIFO or a device): one that can be
/// read ahead of its consumer without holding back frames that are still arriving.
pub fn is_regular_file(path: &Path) -> bool {
    path != Path::new("-") && std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// Opens `path` and gives its reader.
pub fn open_reader(
    path: &Path,
    forced: Option<Format>,
    stop: &dyn Fn() -> bool,
) -> Result<Box<dyn FrameReader>, OpenError> {
    Ok(reader(open(path, forced, stop)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every capture under tests/data, each written by a real peer or by us: recognised as
    /// what it is (the formats' own sniffers must not claim each other's files).
    /// Counts the frames of a capture read through [`open_reader`].
    fn frames_of(path: &Path) -> usize {
        let mut r = open_reader(path, None, &|| false).unwrap();
        let mut n = 0;
        while let Some(item) = r.read_item().unwrap() {
            if matches!(item, log::Item::Record(_)) {
                n += 1;
            }
        }
        n
    }

    /// Every item of a capture, described, and how it ended.
    fn describe_all(mut r: Box<dyn FrameReader>) -> (Vec<String>, String) {
        let mut out = Vec::new();
        let end = loop {
            match r.read_item() {
                Ok(Some(log::Item::Record(rec))) => out.push(format!(
                    "{} {} {} {:?}",
                    rec.timestamp.as_nanos(),
                    rec.interface,
                    rec.frame,
                    rec.direction
                )),
                Ok(Some(log::Item::Other(t))) => out.push(format!("other {t}")),
                Ok(Some(log::Item::Skipped(t))) => out.push(format!("skipped {t}")),
                Ok(Some(log::Item::Bad(e))) => out.push(format!("bad {e}")),
                Ok(None) => break "end".to_string(),
                Err(e) => break format!("error {e}"),
            }
        };
        (out, end)
    }

    /// Reading ahead on a thread gives exactly the items, in order, and the end (an error
    /// included) that reading in place gives.
    #[test]
    fn test_read_ahead_gives_the_same_items_and_end() {
        use std::io::Write as _;
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let dir = std::env::temp_dir().join(format!("canrelearn-ahead-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A long log (several batches, two interfaces) cut inside its gzip stream.
        let mut long = String::new();
        for i in 0..10_000u32 {
            long.push_str(&format!(
                "(1.{i:06}) can{} {:03X}#{:02X}\n",
                i % 2,
                i % 0x800,
                i % 256
            ));
            if i == 5000 {
                long.push_str("(1.5) can0 XYZ#00\n");
            }
        }
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(long.as_bytes()).unwrap();
        let gz = e.finish().unwrap();
        let cut = dir.join("cut.log.gz");
        std::fs::File::create(&cut)
            .unwrap()
            .write_all(&gz[..gz.len() * 3 / 4])
            .unwrap();
        let mut paths = vec![cut];
        for f in [
            "formats/blf/python-can-mixed.blf",
            "formats/trc/python-can-2.1.trc",
            "formats/asc",
            "candump/bad.log",
        ] {
            let p = root.join(f);
            if p.is_dir() {
                paths.extend(
                    std::fs::read_dir(&p)
                        .unwrap()
                        .map(|e| e.unwrap().path())
                        .filter(|p| p.extension().is_some_and(|e| e == "asc")),
                );
            } else {
                paths.push(p);
            }
        }
        for path in paths {
            let direct = describe_all(open_reader(&path, None, &|| false).unwrap());
            let ahead = describe_all(Box::new(ReadAhead::new(
                open_reader(&path, None, &|| false).unwrap(),
            )));
            assert_eq!(direct, ahead, "{}", path.display());
            assert!(!direct.0.is_empty(), "{}", path.display());
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    /// MDF 4 is read by seeking: from its file, or held in memory when gzip-compressed;
    /// pcapng streams through gzip like the text formats.
    #[test]
    fn test_binary_captures_read_plain_and_gzipped() {
        use std::io::Write as _;
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/formats");
        let dir = std::env::temp_dir().join(format!("canrelearn-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (fixture, want) in [
            ("mf4/python-can.mf4", 17),
            ("mf4/asammdf-deflate.mf4", 17),
            ("pcap/scapy.pcapng", 0),
            ("blf/python-can-mixed.blf", 0),
            ("blf/python-can-mixed-raw.blf", 0),
        ] {
            let plain = root.join(fixture);
            let n = frames_of(&plain);
            if want > 0 {
                assert_eq!(n, want, "{fixture}");
            }
            assert!(n > 0, "{fixture}");
            let gz = dir.join(format!(
                "{}.gz",
                plain.file_name().unwrap().to_string_lossy()
            ));
            let mut e = flate2::write::GzEncoder::new(
                std::fs::File::create(&gz).unwrap(),
                flate2::Compression::fast(),
            );
            e.write_all(&std::fs::read(&plain).unwrap()).unwrap();
            e.finish().unwrap();
            assert_eq!(frames_of(&gz), n, "{fixture} gzipped");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn test_detect_every_fixture_as_its_format() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let mut pending = vec![root];
        let mut seen = 0;
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                let name = path.to_string_lossy().into_owned();
                let want = match path.extension().and_then(|e| e.to_str()) {
                    Some("asc") => Format::Asc,
                    Some("csv") => Format::Csv,
                    Some("pcap") => Format::Pcap,
                    Some("pcapng") => Format::Pcapng,
                    Some("mf4") => Format::Mf4,
                    Some("blf") => Format::Blf,
                    Some("trc") => Format::Trc,
                    Some("txt")
                        if name.contains("candump-real/screen")
                            && !name.ends_with("versions.txt") =>
                    {
                        Format::CandumpScreen
                    }
                    // bad.log starts with a malformed line on purpose: still a candump log.
                    Some("log") => Format::Candump,
                    _ => continue,
                };
                let bytes = std::fs::read(&path).unwrap();
                let head = bytes.get(..HEAD).unwrap_or(&bytes);
                assert_eq!(detect(head), Some(want), "{name}");
                seen += 1;
            }
        }
        assert!(seen >= 40, "{seen} captures");
    }

    #[test]
    fn test_detect_refuses_what_no_reader_reads() {
        for head in [
            &b"hello\n"[..],
            b"",
            b"\n\n",
            b"{\"timestamp\": 1}\n",
            b" (1700000000.000000)  can0  1FF   [1]  11 frames\n"
                .get(..10)
                .unwrap(),
        ] {
            assert_eq!(detect(head), None, "{:?}", String::from_utf8_lossy(head));
        }
    }

    fn gz(text: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text).unwrap();
        e.finish().unwrap()
    }

    /// The frames of a reader as text, and the error that ended it, if any.
    fn all_records(r: &mut dyn FrameReader) -> (Vec<String>, Option<log::ReadError>) {
        let mut got = Vec::new();
        loop {
            match r.read_item() {
                Ok(Some(log::Item::Record(rec))) => got.push(rec.frame.to_string()),
                Ok(Some(_)) => {}
                Ok(None) => return (got, None),
                Err(e) => return (got, Some(e)),
            }
        }
    }

    #[test]
    fn test_truncated_gzip_delivers_every_complete_line_then_damage() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = Vec::new();
        for i in 0..2000u32 {
            text.extend_from_slice(
                format!("(1700000000.{:06}) can0 123#{:08X}\n", i, i * 7919).as_bytes(),
            );
        }
        let z = gz(&text);
        let path = dir.path().join("cut.log.gz");
        std::fs::write(&path, &z[..z.len() * 2 / 3]).unwrap();
        for _ in 0..3 {
            let mut r = open_reader(&path, None, &|| false).unwrap();
            let (got, err) = all_records(r.as_mut());
            assert!(got.len() > 500 && got.len() < 2000, "{}", got.len());
            for (i, f) in got.iter().enumerate() {
                assert_eq!(*f, format!("123#{:08X}", i as u32 * 7919), "in order");
            }
            let err = err.expect("the damage is reported");
            // Damage, not a failing device (the command line's input error, exit 2).
            assert!(
                matches!(&err, log::ReadError::Io { error, .. } if is_damage(error)),
                "{err}"
            );
            let msg = read_error_text(&err);
            assert!(msg.contains("cut.log.gz: damaged after line"), "{msg}");
            assert!(msg.contains("truncated"), "{msg}");
        }
    }

    #[test]
    fn test_unknown_content_and_empty_files_are_input_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        std::fs::write(&p, b"hello world\nthis is not a capture\n").unwrap();
        let e = open(&p, None, &|| false).err().unwrap();
        assert!(e.is_input_error());
        assert!(e.to_string().contains("not a capture"), "{e}");
        std::fs::write(&p, b"").unwrap();
        let e = open(&p, None, &|| false).err().unwrap();
        assert!(e.to_string().contains("empty"), "{e}");
        let e = open(&dir.path().join("missing.lgo"), None, &|| false)
            .err()
            .unwrap();
        assert!(e.is_input_error());
        assert!(e.to_string().contains("no such file"), "{e}");
    }

    #[test]
    fn test_gzip_is_found_by_content_not_extension() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plain-name.log");
        std::fs::write(&p, gz(b"(1700000000.000000) can0 123#11\n")).unwrap();
        let o = open(&p, None, &|| false).unwrap();
        assert!(o.gzip);
        assert_eq!(o.format, Format::Candump);
        let mut r = reader(o);
        assert_eq!(all_records(r.as_mut()).0, vec!["123#11"]);
    }
}
