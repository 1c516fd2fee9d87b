//! Opening captures: the one door every command that reads a log goes through.
//!
//! A path (or `-` for standard input) is opened, gzip is decompressed when the content starts
//! with its magic number (whatever the extension), and the format is recognised from the
//! content ([`canrelearn::log`]'s `sniff` functions), never from the extension alone. A file
//! that matches no format, or is empty, is an input error (exit 2) naming the file: a command
//! never reports "0 frames" for something it did not understand.
//!
//! Damage (a truncated or corrupt `.gz`, as a recorder killed hard leaves) is reported as an
//! input error (exit 2) after every complete frame before it: [`Damaged`] marks the
//! decompressor's errors so that callers can tell them from other read errors. Malformed
//! records are reported by [`BadLines`]: the first [`MAX_REPORTED`] one by one with file and
//! line, then counted, with a closing total.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use anyhow::anyhow;
use canrelearn::log::{self, Format, FrameReader, ReadError};
use flate2::bufread::MultiGzDecoder;

use super::{CliError, exit, out};

/// Size of the read buffers.
pub const IO_BUFFER: usize = 64 * 1024;
/// How much of a capture format detection looks at, at most.
const HEAD: usize = 4096;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The name a path goes by in messages: `<stdin>` for `-`.
pub fn display_name(path: &Path) -> Arc<str> {
    if path == Path::new("-") {
        Arc::from("<stdin>")
    } else {
        Arc::from(path.display().to_string())
    }
}

/// The bytes of a capture after decompression, with what detection read put back in front.
pub type Stream = Box<dyn BufRead + Send>;

/// An opened capture: its name, format and decompressed content.
pub struct Opened {
    pub name: Arc<str>,
    pub format: Format,
    pub gzip: bool,
    pub stream: Stream,
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

/// Whether an I/O error means damaged input (exit 2) rather than a failing device (exit 4).
pub fn is_damage(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData || e.get_ref().is_some_and(|inner| inner.is::<Damaged>())
}

/// Opens `path` (`-` is standard input): missing and unreadable files are input errors naming
/// the file.
pub fn open_raw(path: &Path) -> Result<(Arc<str>, Stream), CliError> {
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
                return Err(CliError::new(
                    exit::USAGE,
                    anyhow!("{name} is a directory, not a capture"),
                ));
            }
            Ok((name, Box::new(BufReader::with_capacity(IO_BUFFER, f))))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(CliError::new(exit::USAGE, anyhow!("{name}: no such file")))
        }
        Err(e) => Err(CliError::new(
            exit::USAGE,
            anyhow!("{name}: cannot open: {e}"),
        )),
    }
}

/// Reads up to [`HEAD`] bytes (stopping early at a newline after some text, so a live pipe is
/// recognised from its first line) without losing them: the returned stream starts with them.
fn peek(mut inner: Stream, name: &str) -> Result<(Vec<u8>, Stream), CliError> {
    let mut head = Vec::with_capacity(HEAD);
    loop {
        let buf = match inner.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                if super::signals::interrupted() {
                    break;
                }
                continue;
            }
            Err(e) => return Err(read_failed(name, &e)),
        };
        if buf.is_empty() {
            break;
        }
        let take = buf.len().min(HEAD - head.len());
        head.extend_from_slice(buf.get(..take).unwrap_or_default());
        inner.consume(take);
        // Enough to decide (a live pipe is recognised from its first frame line).
        if head.len() >= HEAD
            || (head.len() >= 2 && head.starts_with(&GZIP_MAGIC))
            || (head.contains(&b'\n') && detect(&head).is_some())
        {
            break;
        }
    }
    let stream: Stream = Box::new(io::Cursor::new(head.clone()).chain(inner));
    Ok((head, stream))
}

fn read_failed(name: &str, e: &io::Error) -> CliError {
    if is_damage(e) {
        CliError::new(exit::USAGE, anyhow!("{name}: {e}"))
    } else {
        CliError::new(exit::BUS_IO, anyhow!("{name}: read error: {e}"))
    }
}

/// The format of a capture from its first bytes.
pub fn detect(head: &[u8]) -> Option<Format> {
    if log::candump::sniff(head) {
        return Some(Format::Candump);
    }
    None
}

/// Opens a capture: decompresses gzip, recognises the format (or takes `forced`).
pub fn open(path: &Path, forced: Option<Format>) -> Result<Opened, CliError> {
    let (name, raw) = open_raw(path)?;
    let (head, raw) = peek(raw, &name)?;
    let gzip = head.starts_with(&GZIP_MAGIC);
    let (head, stream) = if gzip {
        let decoded: Stream = Box::new(BufReader::with_capacity(
            IO_BUFFER,
            Gunzip(MultiGzDecoder::new(raw)),
        ));
        peek(decoded, &name)?
    } else {
        (head, raw)
    };
    if head.is_empty() {
        return Err(CliError::new(
            exit::USAGE,
            anyhow!(
                "{name} is empty{}: no frames to read",
                if gzip { " once decompressed" } else { "" }
            ),
        ));
    }
    let format = match forced.or_else(|| detect(&head)) {
        Some(f) => f,
        None => {
            return Err(CliError::new(
                exit::USAGE,
                anyhow!(
                    "{name}: not a capture in a format canrelearn reads ({}); it starts with {}",
                    Format::ALL
                        .iter()
                        .map(|f| f.description())
                        .collect::<Vec<_>>()
                        .join(", "),
                    head_text(&head)
                ),
            ));
        }
    };
    Ok(Opened {
        name,
        format,
        gzip,
        stream,
    })
}

/// The first bytes of a capture for a message: a short printable excerpt, or hex.
fn head_text(head: &[u8]) -> String {
    let first = head.get(..48).unwrap_or(head);
    if first
        .iter()
        .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\n' || *b == b'\r' || *b == b'\t')
    {
        let line = String::from_utf8_lossy(first);
        let line = line.lines().next().unwrap_or_default();
        format!("{:?}", out::printable(line))
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
    match opened.format {
        Format::Candump => {
            Box::new(log::candump::Reader::new(opened.stream).with_source_name(opened.name.clone()))
        }
    }
}

/// Opens `path` and gives its reader.
pub fn open_reader(path: &Path, forced: Option<Format>) -> Result<Box<dyn FrameReader>, CliError> {
    Ok(reader(open(path, forced)?))
}

/// The exit code and message of a reader's error: malformed records and damaged input are
/// input errors (2), other I/O errors are 4.
pub fn read_error(e: ReadError) -> CliError {
    let code = match &e {
        ReadError::Io { error, .. } if !is_damage(error) => exit::BUS_IO,
        _ => exit::USAGE,
    };
    let text = match &e {
        ReadError::Io {
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
    };
    CliError::new(code, anyhow!(text))
}

/// At most this many malformed records are reported one by one.
pub const MAX_REPORTED: u64 = 20;

/// Reports malformed records: the first [`MAX_REPORTED`] one by one, then a count.
#[derive(Debug, Default)]
pub struct BadLines {
    count: u64,
}

impl BadLines {
    pub fn new() -> BadLines {
        BadLines::default()
    }

    /// Reports one malformed record.
    pub fn report(&mut self, e: &dyn std::fmt::Display) {
        self.count += 1;
        if self.count <= MAX_REPORTED {
            out::warn(format!("{e} (skipped)"));
        }
    }

    /// How many were reported.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The closing line, if any was reported.
    pub fn finish(&self) {
        if self.count > 0 {
            out::warn(format!(
                "{} malformed line{} skipped{}",
                self.count,
                if self.count == 1 { "" } else { "s" },
                if self.count > MAX_REPORTED {
                    format!(" (the first {MAX_REPORTED} are shown above)")
                } else {
                    String::new()
                }
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(text: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text).unwrap();
        e.finish().unwrap()
    }

    fn all_records(r: &mut dyn FrameReader) -> (Vec<String>, Option<ReadError>) {
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
            let mut r = open_reader(&path, None).unwrap();
            let (got, err) = all_records(r.as_mut());
            assert!(got.len() > 500 && got.len() < 2000, "{}", got.len());
            for (i, f) in got.iter().enumerate() {
                assert_eq!(*f, format!("123#{:08X}", i as u32 * 7919), "in order");
            }
            let e = read_error(err.expect("the damage is reported"));
            assert_eq!(e.code, exit::USAGE);
            let msg = e.error.to_string();
            assert!(msg.contains("cut.log.gz: damaged after line"), "{msg}");
            assert!(msg.contains("truncated"), "{msg}");
        }
    }

    #[test]
    fn test_unknown_content_and_empty_files_are_input_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        std::fs::write(&p, b"hello world\nthis is not a capture\n").unwrap();
        let e = open(&p, None).err().unwrap();
        assert_eq!(e.code, exit::USAGE);
        assert!(
            e.error.to_string().contains("not a capture"),
            "{:#}",
            e.error
        );
        std::fs::write(&p, b"").unwrap();
        let e = open(&p, None).err().unwrap();
        assert!(e.error.to_string().contains("empty"), "{:#}", e.error);
        let e = open(&dir.path().join("missing.lgo"), None).err().unwrap();
        assert_eq!(e.code, exit::USAGE);
        assert!(
            e.error.to_string().contains("no such file"),
            "{:#}",
            e.error
        );
    }

    #[test]
    fn test_gzip_is_found_by_content_not_extension() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("plain-name.log");
        std::fs::write(&p, gz(b"(1700000000.000000) can0 123#11\n")).unwrap();
        let o = open(&p, None).unwrap();
        assert!(o.gzip);
        assert_eq!(o.format, Format::Candump);
        let mut r = reader(o);
        assert_eq!(all_records(r.as_mut()).0, vec!["123#11"]);
    }
}
