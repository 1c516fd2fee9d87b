//! python-can's CSV capture format: a streaming reader and a writer.
//!
//! The format is python-can's `can.CSVWriter` / `can.CSVReader` (`can/io/csv.py`,
//! <https://github.com/hardbyte/python-can>, unchanged in 4.x): a header line
//! `timestamp,arbitration_id,extended,remote,error,dlc,data`, then one row per message:
//!
//! ```text
//! timestamp,arbitration_id,extended,remote,error,dlc,data
//! 1700000000.123456,0x123,0,0,0,4,ESIzRA==
//! 1700000000.2,0x18daf110,1,1,0,8,
//! 1700000000.25,0x4,0,0,1,8,AAQAAAAAAAA=
//! ```
//!
//! * `timestamp`: Python's `repr` of a float of seconds (`1700000000.123456`, `0.5`, `1e-05`).
//!   The decimal text is read exactly into nanoseconds (digits below the nanosecond are
//!   truncated), never through a binary float; the [`Precision`] is nanoseconds when the time
//!   read is not a whole number of microseconds. Times are taken as they are: python-can writes Unix
//!   times for live captures; the file has no start time of its own.
//! * `arbitration_id`: hex, with or without `0x` (Python's `hex()`). For error frames it is the
//!   SocketCAN error class mask, as python-can's SocketCAN interface fills it
//!   (`can_id & 0x1FFFFFFF`); a `CAN_ERR_FLAG` (0x20000000) left in it is accepted.
//! * `extended`, `remote`, `error`: `1` or `0`. A remote error frame is rejected.
//! * `dlc`: python-can's `Message.dlc`, which is the data length in bytes (so 12 to 64 for CAN
//!   FD), or a raw DLC of 9 to 15 for a classic 8-byte frame (python-can's BLF reader passes
//!   one through). For a CAN FD length the DLC code (9 to 15) is accepted too.
//! * `data`: the bytes in standard base64 with padding (empty for remote frames).
//!
//! The format has no CAN FD column (python-can writes FD messages like classic ones): a data
//! frame of more than 8 bytes is read as CAN FD (with the FDF flag; BRS and ESI are not in the
//! format); one of 0 to 8 bytes as classic CAN. The [`Writer`] therefore counts, as a
//! [`Loss`] with the frame still written, CAN FD frames of at most 8 bytes (they
//! read back as classic frames) and the BRS and ESI flags. Remote frames are read without their
//! data bytes (python-can's BLF reader leaves whatever the frame buffer held in them; a remote
//! frame carries none on the bus). Error frames carry up to 8 detail bytes, padded with zeros.
//! There is no channel and no direction column: every record is read on interface `can0`, and
//! the writer counts records with a direction, and records of a second interface, as losses.
//!
//! Items: the header line (wherever it appears: python-can skips the first line unseen, we read
//! a first line that is not the header as a row) and blank lines are [`Item::Other`]; a row
//! that is not valid is [`Item::Bad`] with its line and the column of the offending field, and
//! reading goes on with the next row.
//!
//! Calling contract: the [`Reader`] streams rows from any [`BufRead`] into one reusable buffer,
//! bounds line length ([`MAX_LINE_LEN`]) and never panics on input; the [`Writer`] formats each
//! row into one reusable buffer and writes it to any [`Write`] (wrap files in a `BufWriter`).
//! Nothing here reads the clock.

use core::fmt;
use std::io::{self, BufRead, Write};
use std::sync::Arc;

use super::candump::Found;
use super::lines::{LineRead, Lines};
use super::{
    Format, FormatError, FormatErrorKind, FrameReader, FrameWriter, Item, Location, Loss, Losses,
    Precision, ReadError, Record, Stats,
};
use crate::frame::{
    CAN_ERR_FLAG, ClassicFrame, ErrorFrame, FD_LENGTHS, FdFlags, FdFrame, Frame, Id,
    MAX_EXTENDED_ID, RemoteFrame, fd_len_to_dlc,
};
use crate::time::Timestamp;

/// The header line python-can writes (without its newline).
pub const HEADER: &str = "timestamp,arbitration_id,extended,remote,error,dlc,data";

/// The longest line a [`Reader`] accepts (4 KiB; a row of a 64-byte frame is about 130 bytes).
pub const MAX_LINE_LEN: usize = 4096;

/// The interface every record of a CSV capture is on.
pub const INTERFACE: &str = "can0";

/// The base64 text of 64 bytes.
const MAX_DATA_CHARS: usize = 88;

/// Why a row is not a valid python-can CSV row.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("expected 7 comma-separated fields, found {0}")]
    FieldCount(usize),
    #[error("timestamp is not a decimal number of seconds")]
    TimestampSyntax,
    #[error("timestamp is negative")]
    NegativeTimestamp,
    #[error("timestamp does not fit in 64-bit nanoseconds")]
    TimestampOutOfRange,
    #[error("arbitration id is not hexadecimal (found {0})")]
    IdSyntax(Found),
    #[error("arbitration id is empty")]
    MissingId,
    #[error("id 0x{0:X} does not fit in 11 bits (extended is 0)")]
    StandardIdRange(u32),
    #[error("id 0x{0:X} does not fit in 29 bits")]
    ExtendedIdRange(u32),
    #[error("arbitration id does not fit in 32 bits")]
    IdOverflow,
    #[error("the {0} column must be 0 or 1")]
    Flag(&'static str),
    #[error("a frame cannot be both remote and an error frame")]
    RemoteErrorFrame,
    #[error("dlc is not a number from 0 to 64")]
    DlcSyntax,
    #[error("dlc {dlc} does not match the {len} data bytes")]
    DlcMismatch { dlc: u8, len: usize },
    #[error("remote frame dlc {0} exceeds 15")]
    RemoteDlc(u8),
    #[error("invalid base64 in the data ({0})")]
    Base64(Found),
    #[error("base64 data length is not a multiple of 4")]
    Base64Length,
    #[error("data longer than 64 bytes")]
    DataTooLong,
    #[error("{0} data bytes is not a CAN FD length")]
    FdLength(usize),
    #[error("an error frame has at most 8 data bytes, not {0}")]
    ErrorFrameLength(usize),
    #[error("line longer than {0} bytes")]
    LineTooLong(usize),
}

/// An error in a row: byte offset in the line and cause.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct RowError {
    pos: usize,
    kind: ErrorKind,
}

fn err(pos: usize, kind: ErrorKind) -> RowError {
    RowError { pos, kind }
}

/// The bytes of `s` without leading and trailing blanks, and the offset of the first.
fn trim(s: &[u8], base: usize) -> (&[u8], usize) {
    let start = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    let rest = s.get(start..).unwrap_or_default();
    let end = rest.len()
        - rest
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
    (rest.get(..end).unwrap_or_default(), base + start)
}

// ---------------------------------------------------------------------------------------------
// Fields

/// Parses a Python float literal of non-negative seconds exactly: `[+]DIGITS[.DIGITS][e[+-]N]`
/// (also `.5`, `5.`), truncated to nanoseconds. `-0`/`-0.0` are zero; `inf` and `nan` are not
/// times.
fn parse_timestamp(f: &[u8], base: usize) -> Result<(Timestamp, Precision), RowError> {
    let (f, base) = trim(f, base);
    let mut p = 0;
    let negative = match f.first() {
        Some(b'-') => {
            p = 1;
            true
        }
        Some(b'+') => {
            p = 1;
            false
        }
        _ => false,
    };
    let int_start = p;
    while f.get(p).is_some_and(u8::is_ascii_digit) {
        p += 1;
    }
    let int_digits = f.get(int_start..p).unwrap_or_default();
    let mut frac_digits: &[u8] = &[];
    if f.get(p) == Some(&b'.') {
        let s = p + 1;
        p = s;
        while f.get(p).is_some_and(u8::is_ascii_digit) {
            p += 1;
        }
        frac_digits = f.get(s..p).unwrap_or_default();
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return Err(err(base + p, ErrorKind::TimestampSyntax));
    }
    let mut exp: i64 = 0;
    if matches!(f.get(p), Some(b'e' | b'E')) {
        p += 1;
        let sign = match f.get(p) {
            Some(b'-') => {
                p += 1;
                -1
            }
            Some(b'+') => {
                p += 1;
                1
            }
            _ => 1,
        };
        let s = p;
        while let Some(&d) = f.get(p).filter(|d| d.is_ascii_digit()) {
            // Saturate: beyond a million digits the answer no longer changes.
            exp = (exp * 10 + i64::from(d - b'0')).min(1_000_000);
            p += 1;
        }
        if p == s {
            return Err(err(base + p, ErrorKind::TimestampSyntax));
        }
        exp *= sign;
    }
    if p != f.len() {
        return Err(err(base + p, ErrorKind::TimestampSyntax));
    }
    let all_zero = int_digits.iter().chain(frac_digits).all(|&d| d == b'0');
    if negative && !all_zero {
        return Err(err(base, ErrorKind::NegativeTimestamp));
    }
    // The digits with the decimal point at `point` (digit k has weight 10^(point-1-k)).
    let point = i64::try_from(int_digits.len()).unwrap_or(i64::MAX) + exp;
    let mut secs: u64 = 0;
    let mut nanos: u32 = 0;
    let out_of_range = || err(base, ErrorKind::TimestampOutOfRange);
    for (k, &d) in int_digits.iter().chain(frac_digits).enumerate() {
        let d = d - b'0';
        let pos = i64::try_from(k).unwrap_or(i64::MAX) - point;
        if pos < 0 {
            secs = secs
                .checked_mul(10)
                .and_then(|s| s.checked_add(u64::from(d)))
                .ok_or_else(out_of_range)?;
        } else {
            if pos < 9 {
                nanos += u32::from(d) * 10u32.pow(8 - pos as u32);
            }
        }
    }
    let digits = i64::try_from(int_digits.len() + frac_digits.len()).unwrap_or(i64::MAX);
    if secs != 0 {
        for _ in digits..point {
            secs = secs.checked_mul(10).ok_or_else(out_of_range)?;
        }
    }
    let t = Timestamp::from_secs_nanos(secs, nanos).ok_or_else(out_of_range)?;
    let precision = if nanos.is_multiple_of(1_000) {
        Precision::Micros
    } else {
        Precision::Nanos
    };
    Ok((t, precision))
}

/// A hex arbitration id, with or without `0x`.
fn parse_id(f: &[u8], base: usize) -> Result<u32, RowError> {
    let (f, base) = trim(f, base);
    let (digits, base) = match f {
        [b'0', b'x' | b'X', rest @ ..] => (rest, base + 2),
        _ => (f, base),
    };
    if digits.is_empty() {
        return Err(err(base, ErrorKind::MissingId));
    }
    let mut v: u32 = 0;
    for (k, &b) in digits.iter().enumerate() {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err(err(base + k, ErrorKind::IdSyntax(Found(b)))),
        };
        v = v
            .checked_mul(16)
            .and_then(|v| v.checked_add(u32::from(d)))
            .ok_or(err(base, ErrorKind::IdOverflow))?;
    }
    Ok(v)
}

fn parse_flag(f: &[u8], base: usize, name: &'static str) -> Result<bool, RowError> {
    match trim(f, base) {
        (b"0", _) => Ok(false),
        (b"1", _) => Ok(true),
        (_, at) => Err(err(at, ErrorKind::Flag(name))),
    }
}

fn parse_dlc(f: &[u8], base: usize) -> Result<u8, RowError> {
    let (f, at) = trim(f, base);
    if f.is_empty() || f.len() > 3 || !f.iter().all(u8::is_ascii_digit) {
        return Err(err(at, ErrorKind::DlcSyntax));
    }
    let v = f.iter().fold(0u32, |v, &d| v * 10 + u32::from(d - b'0'));
    u8::try_from(v)
        .ok()
        .filter(|&v| v <= 64)
        .ok_or(err(at, ErrorKind::DlcSyntax))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64_value(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Decodes standard padded base64 into `out`; returns the number of bytes.
fn decode_base64(f: &[u8], base: usize, out: &mut [u8; 64]) -> Result<usize, RowError> {
    let (f, base) = trim(f, base);
    if f.len() > MAX_DATA_CHARS {
        return Err(err(base, ErrorKind::DataTooLong));
    }
    if f.len() % 4 != 0 {
        return Err(err(base, ErrorKind::Base64Length));
    }
    let mut n = 0;
    let quads = f.len() / 4;
    for (q, quad) in f.chunks_exact(4).enumerate() {
        let last = q + 1 == quads;
        let pad = if last {
            quad.iter().rev().take_while(|&&c| c == b'=').count()
        } else {
            0
        };
        if pad > 2 {
            return Err(err(base + q * 4 + 1, ErrorKind::Base64(Found(b'='))));
        }
        let mut v: u32 = 0;
        for (i, &c) in quad.iter().enumerate() {
            let d = if i >= 4 - pad {
                0
            } else {
                b64_value(c).ok_or(err(base + q * 4 + i, ErrorKind::Base64(Found(c))))?
            };
            v = (v << 6) | d;
        }
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        for &b in bytes.iter().take(3 - pad) {
            let slot = out.get_mut(n).ok_or(err(base, ErrorKind::DataTooLong))?;
            *slot = b;
            n += 1;
        }
    }
    Ok(n)
}

/// Parses one row (no trailing newline): a frame, or the header / a blank line (`None`).
fn parse_row(line: &[u8]) -> Result<Option<(Timestamp, Precision, Frame)>, RowError> {
    if line.iter().all(u8::is_ascii_whitespace) || trim(line, 0).0 == HEADER.as_bytes() {
        return Ok(None);
    }
    let mut fields = [(0usize, 0usize); 7];
    let mut n = 0;
    let mut start = 0;
    for (i, &b) in line.iter().enumerate() {
        if b == b',' {
            if let Some(slot) = fields.get_mut(n) {
                *slot = (start, i);
            }
            n += 1;
            start = i + 1;
        }
    }
    if let Some(slot) = fields.get_mut(n) {
        *slot = (start, line.len());
    }
    n += 1;
    if n != 7 {
        return Err(err(0, ErrorKind::FieldCount(n)));
    }
    let field = |i: usize| {
        let (s, e) = fields.get(i).copied().unwrap_or_default();
        (line.get(s..e).unwrap_or_default(), s)
    };
    let (ts, ts_at) = field(0);
    let (timestamp, precision) = parse_timestamp(ts, ts_at)?;
    let (f, id_at) = field(1);
    let raw_id = parse_id(f, id_at)?;
    let (f, at) = field(2);
    let extended = parse_flag(f, at, "extended")?;
    let (f, remote_at) = field(3);
    let remote = parse_flag(f, remote_at, "remote")?;
    let (f, at) = field(4);
    let error = parse_flag(f, at, "error")?;
    let (f, dlc_at) = field(5);
    let dlc = parse_dlc(f, dlc_at)?;
    let (f, data_at) = field(6);
    let mut data = [0u8; 64];
    let len = decode_base64(f, data_at, &mut data)?;
    let payload = data.get(..len).unwrap_or_default();
    let mismatch = || err(dlc_at, ErrorKind::DlcMismatch { dlc, len });

    let id = || {
        if extended {
            Id::extended(raw_id).ok_or(err(id_at, ErrorKind::ExtendedIdRange(raw_id)))
        } else {
            Id::new(raw_id, false).ok_or(err(id_at, ErrorKind::StandardIdRange(raw_id)))
        }
    };
    let frame = if error {
        if remote {
            return Err(err(remote_at, ErrorKind::RemoteErrorFrame));
        }
        let class = if raw_id & CAN_ERR_FLAG != 0 && raw_id <= (CAN_ERR_FLAG | MAX_EXTENDED_ID) {
            raw_id & MAX_EXTENDED_ID
        } else {
            raw_id
        };
        if len > 8 {
            return Err(err(data_at, ErrorKind::ErrorFrameLength(len)));
        }
        if usize::from(dlc) != len {
            return Err(mismatch());
        }
        let mut d = [0u8; 8];
        for (slot, &b) in d.iter_mut().zip(payload) {
            *slot = b;
        }
        Frame::Error(
            ErrorFrame::new(class, d).map_err(|_| err(id_at, ErrorKind::ExtendedIdRange(class)))?,
        )
    } else if remote {
        let id = id()?;
        let r = match dlc {
            0..=8 => RemoteFrame::new(id, dlc),
            9..=15 => RemoteFrame::with_raw_dlc(id, dlc),
            _ => return Err(err(dlc_at, ErrorKind::RemoteDlc(dlc))),
        };
        Frame::Remote(r.map_err(|_| err(dlc_at, ErrorKind::RemoteDlc(dlc)))?)
    } else if len <= 8 {
        let id = id()?;
        let f = if usize::from(dlc) == len {
            ClassicFrame::new(id, payload)
        } else if len == 8 && (9..=15).contains(&dlc) {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(data.get(..8).unwrap_or(&[0; 8]));
            ClassicFrame::with_raw_dlc(id, eight, dlc)
        } else {
            return Err(mismatch());
        };
        Frame::Classic(f.map_err(|_| mismatch())?)
    } else {
        let id = id()?;
        if fd_len_to_dlc(len).is_none() {
            return Err(err(data_at, ErrorKind::FdLength(len)));
        }
        let dlc_len = FD_LENGTHS
            .get(usize::from(dlc))
            .copied()
            .filter(|_| dlc <= 15);
        if usize::from(dlc) != len && dlc_len.map(usize::from) != Some(len) {
            return Err(mismatch());
        }
        let flags = FdFlags::from_bits(FdFlags::FDF).unwrap_or_default();
        Frame::Fd(
            FdFrame::new(id, payload, flags).map_err(|_| err(data_at, ErrorKind::FdLength(len)))?,
        )
    };
    Ok(Some((timestamp, precision, frame)))
}

// ---------------------------------------------------------------------------------------------
// Reader

enum Step {
    Eof,
    Record(Timestamp, Precision, Frame),
    Other(usize),
    Bad(ReadError),
}

/// A streaming reader of python-can CSV over any [`BufRead`].
pub struct Reader<R> {
    lines: Lines<R>,
    source_name: Option<Arc<str>>,
    stats: Stats,
}

impl<R: BufRead> Reader<R> {
    /// A reader without a source name.
    pub fn new(inner: R) -> Self {
        Reader {
            lines: Lines::new(inner, MAX_LINE_LEN),
            source_name: None,
            stats: Stats::default(),
        }
    }

    /// Names the source (a file path) in error messages: `capture.csv:17:24: ...`.
    pub fn with_source_name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.source_name = Some(name.into());
        self
    }

    /// Sets the longest accepted line (at least 1 byte).
    pub fn with_max_line_len(mut self, max: usize) -> Self {
        self.lines.set_max_len(max);
        self
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.lines.into_inner()
    }

    fn bad(&mut self, column: usize, kind: ErrorKind) -> ReadError {
        self.stats.bad += 1;
        ReadError::Format(FormatError {
            source_name: self.source_name.clone(),
            format: Format::Csv,
            location: Location::Line {
                line: self.lines.number(),
                column,
            },
            kind: FormatErrorKind::Csv(kind),
        })
    }

    fn step(&mut self) -> Result<Step, ReadError> {
        let read = self.lines.read().map_err(|error| ReadError::Io {
            source_name: self.source_name.clone(),
            location: Location::Line {
                line: self.lines.number().saturating_add(1),
                column: 1,
            },
            error,
        })?;
        match read {
            LineRead::Eof => Ok(Step::Eof),
            LineRead::TooLong => {
                let max = self.lines.max_len();
                Ok(Step::Bad(self.bad(max + 1, ErrorKind::LineTooLong(max))))
            }
            LineRead::Line => {
                let line = &self.lines.line;
                let end = line.len()
                    - line
                        .iter()
                        .rev()
                        .take_while(|b| b.is_ascii_whitespace())
                        .count();
                match parse_row(line.get(..end).unwrap_or_default()) {
                    Ok(Some((t, p, f))) => {
                        self.stats.records += 1;
                        Ok(Step::Record(t, p, f))
                    }
                    Ok(None) => {
                        if core::str::from_utf8(line.get(..end).unwrap_or_default()).is_err() {
                            // Only blanks and the (ASCII) header get here.
                            return Ok(Step::Bad(self.bad(1, ErrorKind::FieldCount(1))));
                        }
                        self.stats.other += 1;
                        Ok(Step::Other(end))
                    }
                    Err(e) => Ok(Step::Bad(self.bad(e.pos + 1, e.kind))),
                }
            }
        }
    }
}

impl<R: BufRead + Send> FrameReader for Reader<R> {
    fn read_item(&mut self) -> Result<Option<Item<'_>>, ReadError> {
        Ok(match self.step()? {
            Step::Eof => None,
            Step::Record(timestamp, precision, frame) => Some(Item::Record(Record {
                timestamp,
                precision,
                interface: INTERFACE,
                frame,
                direction: None,
            })),
            Step::Other(end) => Some(Item::Other(self.lines.text(end))),
            Step::Bad(e) => Some(Item::Bad(e)),
        })
    }

    fn format(&self) -> Format {
        Format::Csv
    }

    fn stats(&self) -> Stats {
        self.stats
    }
}

impl<R> fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("csv::Reader")
            .field("source_name", &self.source_name)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Whether `head` (the first bytes of a capture) is python-can CSV: its first line is the
/// header `timestamp,arbitration_id,extended,remote,error,dlc,data` (trailing `\r` and blanks
/// allowed). Headerless files (python-can's append mode) are not detected.
pub fn sniff(head: &[u8]) -> bool {
    let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
    trim(first, 0).0 == HEADER.as_bytes()
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Appends the timestamp as exact decimal seconds, at least one fraction digit, no trailing
/// zeros beyond it (`1700000000.123456`, `0.5`, `12.0`), which Python's `float()` reads.
fn push_timestamp(out: &mut Vec<u8>, t: Timestamp) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(t.secs()).as_bytes());
    out.push(b'.');
    let mut digits = [b'0'; 9];
    let mut v = t.subsec_nanos();
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    let keep = 9 - digits.iter().rev().take_while(|&&d| d == b'0').count();
    out.extend_from_slice(digits.get(..keep.max(1)).unwrap_or(b"0"));
}

/// Appends `0x` and the lower-case hex of `v`, as Python's `hex()`.
fn push_hex(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(b"0x");
    let digits = (32 - v.leading_zeros()).div_ceil(4).max(1);
    for i in (0..digits).rev() {
        out.push(b"0123456789abcdef"[((v >> (4 * i)) & 0xF) as usize]);
    }
}

fn push_base64(out: &mut Vec<u8>, data: &[u8]) {
    for chunk in data.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let v = (b(0) << 16) | (b(1) << 8) | b(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((v >> (18 - 6 * i)) & 0x3F) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

/// Appends one CSV row (with its `\n`) for `frame` at `t`, as python-can's `CSVWriter` writes
/// the equivalent message.
pub fn format_row(out: &mut Vec<u8>, t: Timestamp, frame: &Frame) {
    push_timestamp(out, t);
    out.push(b',');
    let (id, ext, remote, error, dlc, data): (u32, bool, bool, bool, u8, &[u8]) = match frame {
        Frame::Classic(c) => (
            c.id().raw(),
            c.id().is_extended(),
            false,
            false,
            c.dlc(),
            c.data(),
        ),
        Frame::Fd(f) => {
            let len = f.data().len() as u8;
            (
                f.id().raw(),
                f.id().is_extended(),
                false,
                false,
                len,
                f.data(),
            )
        }
        Frame::Remote(r) => (
            r.id().raw(),
            r.id().is_extended(),
            true,
            false,
            r.dlc(),
            &[],
        ),
        Frame::Error(e) => (e.class(), false, false, true, 8, e.data()),
    };
    push_hex(out, id);
    for flag in [ext, remote, error] {
        out.push(b',');
        out.push(if flag { b'1' } else { b'0' });
    }
    out.push(b',');
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(dlc).as_bytes());
    out.push(b',');
    push_base64(out, data);
    out.push(b'\n');
}

/// Writes python-can CSV into any [`Write`]: the header before the first row (or at
/// [`FrameWriter::finish`] for an empty capture), then one row per record.
pub struct Writer<W: Write> {
    inner: W,
    buf: Vec<u8>,
    header_written: bool,
    finished: bool,
    first_interface: Option<String>,
    losses: Losses,
}

impl<W: Write> Writer<W> {
    /// A writer; nothing is written until the first record, flush or finish.
    pub fn new(inner: W) -> Self {
        Writer {
            inner,
            buf: Vec::with_capacity(256),
            header_written: false,
            finished: false,
            first_interface: None,
            losses: Losses::default(),
        }
    }

    /// The underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.inner
    }

    fn header(&mut self) -> io::Result<()> {
        if !self.header_written {
            self.header_written = true;
            self.inner.write_all(HEADER.as_bytes())?;
            self.inner.write_all(b"\n")?;
        }
        Ok(())
    }
}

impl<W: Write> FrameWriter for Writer<W> {
    fn write_record(&mut self, record: &Record<'_>) -> io::Result<()> {
        if self.finished {
            return Err(io::Error::other("CSV record written after finish"));
        }
        self.header()?;
        match &self.first_interface {
            None => self.first_interface = Some(record.interface.to_owned()),
            Some(first) if first != record.interface => {
                self.losses
                    .add("interface (python-can CSV holds one bus)", false);
            }
            Some(_) => {}
        }
        if record.direction.is_some() {
            self.losses
                .add("direction (python-can CSV has no direction column)", false);
        }
        if let Frame::Fd(f) = &record.frame {
            if f.data().len() <= 8 {
                self.losses.add(
                    "CAN FD format of frames of 8 bytes or fewer (python-can CSV reads them as classic)",
                    false,
                );
            }
            if f.flags().brs() {
                self.losses
                    .add("CAN FD bit rate switch flag (not in python-can CSV)", false);
            }
            if f.flags().esi() {
                self.losses.add(
                    "CAN FD error state indicator flag (not in python-can CSV)",
                    false,
                );
            }
        }
        self.buf.clear();
        format_row(&mut self.buf, record.timestamp, &record.frame);
        self.inner.write_all(&self.buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.header()?;
        self.inner.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.header()?;
        self.finished = true;
        self.inner.flush()
    }

    fn losses(&self) -> &[Loss] {
        self.losses.list()
    }
}

#[cfg(test)]
mod tests;
