//! PEAK-System's TRC trace format (PCAN-View, PCAN-Explorer, PCAN-Trace, python-can): a
//! streaming reader and a writer of versions 1.0 to 2.1.
//!
//! The format, as PEAK's "PEAK CAN TRC File Format" describes it: text, one message per line,
//! columns separated by blanks; lines starting with `;` are comments, except the keywords
//! `;$FILEVERSION=2.1`, `;$STARTTIME=45000.5` (days since 1899-12-30, the OLE automation
//! date, UTC) and `;$COLUMNS=N,O,T,B,I,d,R,L,D` (2.x). A file without `$FILEVERSION` is
//! version 1.0. The message lines of each version:
//!
//! ```text
//! 1.0:      1)      1841  0100  8  00 11 22 33 44 55 66 77     (also RTR, ERROR)
//! 1.1:      1)      1841.3  Rx     0100  8  00 11 22 33 44 55 66 77
//! 1.2:      1)      1841.321 1  Rx     0100  8  00 11 ...
//! 1.3:      1)      1841.321 1  Rx     0100 -  8    00 11 ...
//! 2.0:      1       1841.321 DT     0100 Rx 8  00 11 ...        (N,O,T,I,d,l,D)
//! 2.1:      1       1841.321 DT  1  0100 Rx -  8    00 11 ...   (N,O,T,B,I,d,R,L,D)
//! ```
//!
//! * Times: `O` is the offset in milliseconds after `$STARTTIME`, read exactly into
//!   nanoseconds from its decimal text (no binary float), as is `$STARTTIME` itself. A file
//!   without a start time (1.0) gives times from zero.
//! * Ids: hexadecimal; more than 4 digits is a 29-bit id (python-can's rule, and what PEAK
//!   writes: 4 digits for 11-bit ids, 8 for 29-bit ids).
//! * 2.x types: `DT` data, `RR` remote (`L`/`l` is the requested length), `FD` CAN FD, `FB`
//!   with bit rate switch, `FE` with error state indicator, `BI` with both; `ER` an error
//!   frame (below); `ST` hardware status, `EC` error counter change and `EV` events are read
//!   as [`Item::Skipped`]. `L` is the DLC (for CAN FD the code 9 to 15 gives 12 to 64 bytes;
//!   for a classic frame 9 to 15 is kept as a raw DLC with 8 data bytes), `l` the length in
//!   bytes. `B` is the bus: bus `N` is interface `can{N-1}` ([`channel_interface`]); files
//!   without a bus column are on `can0`. `d` is the direction.
//! * 1.x: `RTR` in place of the data marks a remote frame; `ERROR` lines and `Error`-type
//!   lines (error frames without the byte layout of 2.x) and `FFFFFFFF`/`Warng` lines (bus
//!   state warnings) are read as [`Item::Skipped`], counted and named, never as data frames.
//! * Error frames (`ER`): the five data bytes are PCAN-Basic's error frame: error type (1 bit,
//!   2 form, 4 stuff, 8 other), direction (0 transmitting, 1 receiving), the error capture code
//!   (position), the receive and the transmit error counter. They are read as a SocketCAN error
//!   frame of class protocol + counters: `data[2]` the type (bit 0x01, form 0x02, stuff 0x04;
//!   other leaves it unspecified) with 0x80 when it happened transmitting, `data[3]` the
//!   position, `data[6]`/`data[7]` the transmit/receive counters. The [`Writer`] writes the
//!   inverse; other error classes (bus off, controller state...) are counted as a [`Loss`].
//!
//! The [`Writer`] writes any of the versions above ([`Version`]; 2.1 by default, with
//! `;$COLUMNS=N,O,T,B,I,d,R,L,D`), CR LF line ends, a `$STARTTIME` at the UTC midnight before
//! the first record (a whole number of days: exact in any reader; 1.0 has none and counts from
//! the first record) and offsets in milliseconds with the version's decimals (1.0 none, 1.1 one,
//! later three). What a version cannot hold is counted as a [`Loss`]: finer times, records
//! without a direction (written as `Rx`), buses in versions without a bus column, and in 1.x
//! CAN FD and error frames, which are left out.
//!
//! Items: comment lines (keywords included) and blank lines are [`Item::Other`]; a malformed
//! line is [`Item::Bad`] with its line and the column of the offending field, and reading goes
//! on with the next. Nothing here reads the clock; no allocation per frame.

use core::fmt;
use std::io::{self, BufRead, Write};
use std::sync::Arc;

use super::candump::Found;
use super::lines::{LineRead, Lines};
use super::{
    ChannelMap, Direction, Format, FormatError, FormatErrorKind, FrameReader, FrameWriter, Item,
    Location, Loss, Losses, Precision, ReadError, Record, Stats, channel_interface,
};
use crate::frame::{
    ClassicFrame, ErrorFrame, FD_LENGTHS, FdFlags, FdFrame, Frame, Id, RemoteFrame,
};
use crate::time::Timestamp;

/// The longest line a [`Reader`] accepts (4 KiB; a 64-byte CAN FD line is about 250 bytes).
pub const MAX_LINE_LEN: usize = 4096;

/// Days from 1899-12-30 (the OLE automation date's origin) to 1970-01-01.
const OLE_UNIX_DAYS: u64 = 25_569;
const NS_PER_DAY: u64 = 86_400_000_000_000;

/// SocketCAN error classes used for `ER` lines.
const ERR_PROT: u32 = 0x008;
const ERR_CNT: u32 = 0x200;

/// Why a line is not a valid TRC line.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("the line ends before its {0} column")]
    Missing(&'static str),
    #[error("the message number is not a number")]
    Number,
    #[error("the time offset is not a number of milliseconds")]
    Offset,
    #[error("the time does not fit in 64-bit nanoseconds")]
    TimeRange,
    #[error("the id is not hexadecimal (found {0})")]
    IdSyntax(Found),
    #[error("id 0x{0:X} does not fit in 29 bits")]
    IdRange(u32),
    #[error("the bus is not a number from 1")]
    Bus,
    #[error("the direction is neither Rx nor Tx")]
    Direction,
    #[error("unknown message type")]
    Type,
    #[error("the data length is not a number from 0 to 64")]
    Length,
    #[error("a data byte is not two hex digits")]
    DataByte,
    #[error("{declared} data bytes declared, {found} found")]
    DataCount { declared: usize, found: usize },
    #[error("{0} bytes is not a CAN FD length")]
    FdLength(usize),
    #[error("an error frame needs 5 data bytes, found {0}")]
    ErrorBytes(usize),
    #[error("$STARTTIME is not a number of days")]
    StartTime,
    #[error("$COLUMNS must list N, O, T, I and D (found {0} columns)")]
    Columns(usize),
    #[error("line longer than {0} bytes")]
    LineTooLong(usize),
}

/// The columns of a message line.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Col {
    /// Message number (`1)` in 1.x).
    Number,
    /// Time offset in ms.
    Offset,
    /// 2.x message type (`DT`, `FD`...).
    Type,
    /// 1.x message type (`Rx`, `Tx`, `Warng`, `Error`).
    Type1,
    Bus,
    Id,
    Direction,
    /// Reserved (`-`), or a column we do not know: one token, ignored.
    Ignored,
    /// DLC.
    Dlc,
    /// Length in bytes.
    Len,
    /// Data (the rest of the line).
    Data,
}

const V1_0: &[Col] = &[Col::Number, Col::Offset, Col::Id, Col::Dlc, Col::Data];
const V1_1: &[Col] = &[
    Col::Number,
    Col::Offset,
    Col::Type1,
    Col::Id,
    Col::Dlc,
    Col::Data,
];
const V1_2: &[Col] = &[
    Col::Number,
    Col::Offset,
    Col::Bus,
    Col::Type1,
    Col::Id,
    Col::Dlc,
    Col::Data,
];
const V1_3: &[Col] = &[
    Col::Number,
    Col::Offset,
    Col::Bus,
    Col::Type1,
    Col::Id,
    Col::Ignored,
    Col::Dlc,
    Col::Data,
];
const V2_0: &[Col] = &[
    Col::Number,
    Col::Offset,
    Col::Type,
    Col::Id,
    Col::Direction,
    Col::Len,
    Col::Data,
];
const V2_1: &[Col] = &[
    Col::Number,
    Col::Offset,
    Col::Type,
    Col::Bus,
    Col::Id,
    Col::Direction,
    Col::Ignored,
    Col::Dlc,
    Col::Data,
];

/// A file version read: (major, minor).
type FileVersion = (u8, u8);

fn default_columns(v: FileVersion) -> &'static [Col] {
    match v {
        (1, 0) => V1_0,
        (1, 1) => V1_1,
        (1, 2) => V1_2,
        (1, 3) => V1_3,
        (2, 0) => V2_0,
        (2, _) => V2_1,
        _ => V1_0,
    }
}

/// The tokens of a line: (start, end) byte ranges, at most `max` before the rest.
fn tokens(line: &[u8], out: &mut Vec<(usize, usize)>) {
    out.clear();
    let mut i = 0;
    while i < line.len() {
        while line.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        if i >= line.len() {
            break;
        }
        let s = i;
        while line.get(i).is_some_and(|b| !b.is_ascii_whitespace()) {
            i += 1;
        }
        out.push((s, i));
    }
}

/// Parses decimal `digits[.digits]` scaled by `scale_ns` per unit, exactly (truncated to the
/// nanosecond): `1841.321` ms with `scale_ns` 1 000 000.
fn parse_decimal(text: &[u8], scale_ns: u128) -> Option<u128> {
    let (int, frac) = match text.iter().position(|&b| b == b'.') {
        Some(p) => (text.get(..p)?, text.get(p + 1..)?),
        None => (text, &[][..]),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.iter().chain(frac).all(u8::is_ascii_digit) || int.len() > 20 {
        return None;
    }
    let mut whole: u128 = 0;
    for &d in int {
        whole = whole.checked_mul(10)?.checked_add(u128::from(d - b'0'))?;
    }
    let mut value = whole.checked_mul(scale_ns)?;
    // Fraction digits beyond 20 cannot change the nanosecond (and keep the product in range).
    let frac = frac.get(..frac.len().min(20)).unwrap_or_default();
    let mut num: u128 = 0;
    let mut den: u128 = 1;
    for &d in frac {
        num = num * 10 + u128::from(d - b'0');
        den *= 10;
    }
    value = value.checked_add(num.checked_mul(scale_ns)? / den)?;
    Some(value)
}

/// A hex id; on error, the offset in `t` of the offending character and why.
fn parse_hex_id(t: &[u8]) -> Result<Id, (usize, ErrorKind)> {
    let mut v: u32 = 0;
    for (k, &b) in t.iter().enumerate() {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err((k, ErrorKind::IdSyntax(Found(b)))),
        };
        v = v
            .checked_mul(16)
            .and_then(|v| v.checked_add(u32::from(d)))
            .ok_or((0, ErrorKind::IdRange(u32::MAX)))?;
    }
    let extended = t.len() > 4 || v > 0x7FF;
    Id::new(v, extended).ok_or((0, ErrorKind::IdRange(v)))
}

fn parse_small(t: &[u8], max: u32) -> Option<u32> {
    if t.is_empty() || t.len() > 5 || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = t.iter().fold(0u32, |v, &d| v * 10 + u32::from(d - b'0'));
    (v <= max).then_some(v)
}

fn hex_byte(t: &[u8]) -> Option<u8> {
    let d = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    match t {
        [h, l] => Some(d(*h)? << 4 | d(*l)?),
        _ => None,
    }
}

/// What a line turned out to be.
enum Parsed {
    Frame {
        offset_ns: u128,
        bus: u32,
        direction: Option<Direction>,
        frame: Frame,
    },
    Skipped(&'static str),
}

struct LineError {
    pos: usize,
    kind: ErrorKind,
}

fn fail(pos: usize, kind: ErrorKind) -> LineError {
    LineError { pos, kind }
}

/// The columns of a message line before its data.
#[derive(Default)]
struct Fields<'a> {
    offset_ns: Option<u128>,
    bus: u32,
    direction: Option<Direction>,
    /// The 2.x type (`DT`, `FD`...).
    kind: Option<&'a [u8]>,
    id: Option<Id>,
    id_at: usize,
    /// DLC and where it is.
    dlc: Option<(u32, usize)>,
    /// Length in bytes and where it is.
    len: Option<(u32, usize)>,
    /// The index of the first data token.
    data_from: Option<usize>,
}

fn column_name(col: Col) -> &'static str {
    match col {
        Col::Number => "number",
        Col::Offset => "time offset",
        Col::Type | Col::Type1 => "type",
        Col::Bus => "bus",
        Col::Id => "id",
        Col::Direction => "direction",
        Col::Ignored => "reserved",
        Col::Dlc | Col::Len => "length",
        Col::Data => "data",
    }
}

/// Reads the columns before the data; `Err(Ok(what))` for a line that is not a frame.
fn read_fields<'a>(
    line: &'a [u8],
    toks: &[(usize, usize)],
    cols: &[Col],
    v1: bool,
) -> Result<Fields<'a>, Result<&'static str, LineError>> {
    let mut f = Fields {
        bus: 1,
        ..Fields::default()
    };
    for (i, &col) in cols.iter().enumerate() {
        if col == Col::Data {
            f.data_from = Some(i);
            break;
        }
        let Some((t, at)) = toks
            .get(i)
            .map(|&(s, e)| (line.get(s..e).unwrap_or_default(), s))
        else {
            return Err(Err(fail(line.len(), ErrorKind::Missing(column_name(col)))));
        };
        let bad = |kind| Err(Err(fail(at, kind)));
        match col {
            Col::Number => {
                let digits = t.strip_suffix(b")").unwrap_or(t);
                if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                    return bad(ErrorKind::Number);
                }
            }
            Col::Offset => match parse_decimal(t, 1_000_000) {
                Some(ns) => f.offset_ns = Some(ns),
                None => return bad(ErrorKind::Offset),
            },
            Col::Type => match t {
                b"ST" => return Err(Ok("TRC hardware status")),
                b"EC" => return Err(Ok("TRC error counter change")),
                b"EV" => return Err(Ok("TRC event")),
                b"DT" | b"RR" | b"FD" | b"FB" | b"FE" | b"BI" | b"ER" => f.kind = Some(t),
                _ => return bad(ErrorKind::Type),
            },
            Col::Type1 => match t {
                b"Rx" => f.direction = Some(Direction::Rx),
                b"Tx" => f.direction = Some(Direction::Tx),
                b"Warng" => return Err(Ok("TRC bus state warning")),
                b"Error" => return Err(Ok("TRC 1.x error frame (no byte layout)")),
                _ => return bad(ErrorKind::Type),
            },
            Col::Bus => match parse_small(t, 65_535).filter(|&b| b >= 1) {
                Some(b) => f.bus = b,
                None => return bad(ErrorKind::Bus),
            },
            Col::Id => {
                f.id_at = at;
                if t == b"-" && f.kind == Some(b"ER") {
                    continue;
                }
                if v1 && t.eq_ignore_ascii_case(b"FFFFFFFF") {
                    return Err(Ok("TRC bus state warning"));
                }
                match parse_hex_id(t) {
                    Ok(id) => f.id = Some(id),
                    Err((k, kind)) => return Err(Err(fail(at + k, kind))),
                }
            }
            Col::Direction => match t {
                b"Rx" => f.direction = Some(Direction::Rx),
                b"Tx" => f.direction = Some(Direction::Tx),
                _ => return bad(ErrorKind::Direction),
            },
            Col::Ignored | Col::Data => {}
            Col::Dlc => match parse_small(t, 15) {
                Some(v) => f.dlc = Some((v, at)),
                None => return bad(ErrorKind::Length),
            },
            Col::Len => match parse_small(t, 64) {
                Some(v) => f.len = Some((v, at)),
                None => return bad(ErrorKind::Length),
            },
        }
    }
    Ok(f)
}

/// An `ER` line's five bytes (PCAN-Basic's error frame) as a SocketCAN protocol error.
fn error_frame(payload: &[u8], end: usize) -> Result<Frame, LineError> {
    if payload.len() != 5 {
        return Err(fail(end, ErrorKind::ErrorBytes(payload.len())));
    }
    let mut d = [0u8; 8];
    let type_bits = match payload.first() {
        Some(1) => 0x01,
        Some(2) => 0x02,
        Some(4) => 0x04,
        _ => 0x00,
    };
    let transmitting = payload.get(1) == Some(&0);
    d[2] = type_bits | if transmitting { 0x80 } else { 0 };
    d[3] = payload.get(2).copied().unwrap_or(0);
    d[7] = payload.get(3).copied().unwrap_or(0);
    d[6] = payload.get(4).copied().unwrap_or(0);
    ErrorFrame::new(ERR_PROT | ERR_CNT, d)
        .map(Frame::Error)
        .map_err(|_| fail(0, ErrorKind::Type))
}

/// A data or remote frame from its fields and data bytes (`data[..n]`).
fn data_frame(
    f: &Fields<'_>,
    remote: bool,
    data: &[u8; 64],
    n: usize,
    end: usize,
) -> Result<Frame, LineError> {
    let id = f.id.ok_or(fail(f.id_at, ErrorKind::Missing("id")))?;
    let kind = f.kind.unwrap_or(b"DT");
    let fd = matches!(kind, b"FD" | b"FB" | b"FE" | b"BI");
    // The length in bytes the line declares, and its DLC code when given.
    let (declared, code, at) = match (f.dlc, f.len) {
        (Some((code, at)), _) => {
            let bytes = if fd || code <= 8 {
                usize::from(FD_LENGTHS.get(code as usize).copied().unwrap_or(0))
            } else {
                8
            };
            (bytes, Some(code as u8), at)
        }
        (None, Some((bytes, at))) => (bytes as usize, None, at),
        (None, None) => return Err(fail(end, ErrorKind::Missing("length"))),
    };
    let payload = data.get(..n).unwrap_or_default();
    let length_error = |_| fail(at, ErrorKind::Length);
    if remote {
        let r = match code {
            Some(c @ 9..=15) => RemoteFrame::with_raw_dlc(id, c),
            _ => RemoteFrame::new(id, declared.min(8) as u8),
        };
        return r.map(Frame::Remote).map_err(length_error);
    }
    if n != declared {
        return Err(fail(at, ErrorKind::DataCount { declared, found: n }));
    }
    if fd {
        let flags = FdFlags::fd(matches!(kind, b"FB" | b"BI"), matches!(kind, b"FE" | b"BI"));
        return FdFrame::new(id, payload, flags)
            .map(Frame::Fd)
            .map_err(|_| fail(at, ErrorKind::FdLength(n)));
    }
    let c = match code {
        Some(c @ 9..=15) => {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(data.get(..8).unwrap_or(&[0; 8]));
            ClassicFrame::with_raw_dlc(id, eight, c)
        }
        _ => ClassicFrame::new(id, payload),
    };
    c.map(Frame::Classic).map_err(length_error)
}

/// Parses a message line with `cols`; `toks` are its tokens.
fn parse_line(
    line: &[u8],
    toks: &[(usize, usize)],
    cols: &[Col],
    v1: bool,
) -> Result<Parsed, LineError> {
    let end = line.len();
    let f = match read_fields(line, toks, cols, v1) {
        Ok(f) => f,
        Err(Ok(what)) => return Ok(Parsed::Skipped(what)),
        Err(Err(e)) => return Err(e),
    };
    let offset_ns = f
        .offset_ns
        .ok_or(fail(0, ErrorKind::Missing("time offset")))?;
    let data_toks = match f.data_from {
        Some(from) => toks.get(from..).unwrap_or_default(),
        None => &[],
    };
    let first_data = data_toks
        .first()
        .map(|&(s, e)| line.get(s..e).unwrap_or_default());
    if v1 && first_data == Some(b"ERROR".as_slice()) {
        return Ok(Parsed::Skipped("TRC 1.x error frame (no byte layout)"));
    }
    let remote = (v1 && first_data == Some(b"RTR".as_slice())) || f.kind == Some(b"RR");
    let mut data = [0u8; 64];
    let mut n = 0;
    if !remote {
        for &(s, e) in data_toks {
            let b =
                hex_byte(line.get(s..e).unwrap_or_default()).ok_or(fail(s, ErrorKind::DataByte))?;
            let found = data_toks.len();
            *data.get_mut(n).ok_or(fail(
                s,
                ErrorKind::DataCount {
                    declared: 64,
                    found,
                },
            ))? = b;
            n += 1;
        }
    }
    let frame = if f.kind == Some(b"ER") {
        error_frame(data.get(..n).unwrap_or_default(), end)?
    } else {
        data_frame(&f, remote, &data, n, end)?
    };
    Ok(Parsed::Frame {
        offset_ns,
        bus: f.bus,
        direction: f.direction,
        frame,
    })
}

/// Parses `$COLUMNS=N,O,T,B,I,d,R,L,D` into `out`.
fn parse_columns(text: &[u8], out: &mut Vec<Col>) -> Result<(), ErrorKind> {
    out.clear();
    for name in text.split(|&b| b == b',') {
        let name = name.trim_ascii();
        out.push(match name {
            b"N" => Col::Number,
            b"O" => Col::Offset,
            b"T" => Col::Type,
            b"B" => Col::Bus,
            b"I" => Col::Id,
            b"d" => Col::Direction,
            b"L" => Col::Dlc,
            b"l" => Col::Len,
            b"D" => Col::Data,
            _ => Col::Ignored,
        });
    }
    let has = |c: Col| out.contains(&c);
    let ok = has(Col::Number)
        && has(Col::Offset)
        && has(Col::Type)
        && has(Col::Id)
        && has(Col::Data)
        && (has(Col::Dlc) || has(Col::Len))
        && out.last() == Some(&Col::Data);
    if ok {
        Ok(())
    } else {
        Err(ErrorKind::Columns(out.len()))
    }
}

// ---------------------------------------------------------------------------------------------
// Reader

enum Step {
    Eof,
    Record {
        timestamp: Timestamp,
        bus: usize,
        direction: Option<Direction>,
        frame: Frame,
    },
    Other(usize),
    Skipped(&'static str),
    Bad(ReadError),
}

/// A streaming reader of TRC files over any [`BufRead`].
pub struct Reader<R> {
    lines: Lines<R>,
    source_name: Option<Arc<str>>,
    version: FileVersion,
    start_ns: u128,
    columns: Vec<Col>,
    toks: Vec<(usize, usize)>,
    /// Bus numbers and their interface names, in order of first appearance.
    buses: Vec<(u32, String)>,
    stats: Stats,
}

impl<R: BufRead> Reader<R> {
    /// A reader without a source name.
    pub fn new(inner: R) -> Self {
        Reader {
            lines: Lines::new(inner, MAX_LINE_LEN),
            source_name: None,
            version: (1, 0),
            start_ns: 0,
            columns: V1_0.to_vec(),
            toks: Vec::with_capacity(80),
            buses: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Names the source (a file path) in error messages: `trace.trc:17:24: ...`.
    pub fn with_source_name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.source_name = Some(name.into());
        self
    }

    /// The file version read so far (1.0 until a `$FILEVERSION` says otherwise).
    pub fn version(&self) -> (u8, u8) {
        self.version
    }

    fn bad(&mut self, column: usize, kind: ErrorKind) -> ReadError {
        self.stats.bad += 1;
        ReadError::Format(FormatError {
            source_name: self.source_name.clone(),
            format: Format::Trc,
            location: Location::Line {
                line: self.lines.number(),
                column,
            },
            kind: FormatErrorKind::Trc(kind),
        })
    }

    fn bus_index(&mut self, bus: u32) -> usize {
        match self.buses.iter().position(|(b, _)| *b == bus) {
            Some(i) => i,
            None => {
                self.buses.push((bus, channel_interface(bus)));
                self.buses.len() - 1
            }
        }
    }

    /// A keyword comment line: `;$KEY=VALUE`.
    fn keyword(&mut self, line: &[u8]) -> Result<(), (usize, ErrorKind)> {
        let Some(rest) = line.trim_ascii().strip_prefix(b";$") else {
            return Ok(());
        };
        let Some(eq) = rest.iter().position(|&b| b == b'=') else {
            return Ok(());
        };
        let (key, value) = (
            rest.get(..eq).unwrap_or_default(),
            rest.get(eq + 1..).unwrap_or_default(),
        );
        let value = value.trim_ascii();
        match key {
            b"FILEVERSION" => {
                let mut parts = value.split(|&b| b == b'.');
                let major = parts.next().and_then(|p| parse_small(p, 255));
                let minor = parts.next().and_then(|p| parse_small(p, 255)).unwrap_or(0);
                if let Some(major) = major {
                    self.version = (major as u8, minor as u8);
                    self.columns.clear();
                    self.columns
                        .extend_from_slice(default_columns(self.version));
                }
            }
            b"STARTTIME" => {
                let days =
                    parse_decimal(value, NS_PER_DAY as u128).ok_or((1, ErrorKind::StartTime))?;
                let unix = u128::from(OLE_UNIX_DAYS) * u128::from(NS_PER_DAY);
                // Before 1970 cannot be a Unix time: taken as relative.
                self.start_ns = days.saturating_sub(unix);
            }
            b"COLUMNS" => {
                let mut cols = Vec::new();
                parse_columns(value, &mut cols).map_err(|k| (1, k))?;
                self.columns = cols;
            }
            _ => {}
        }
        Ok(())
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
            LineRead::Eof => return Ok(Step::Eof),
            LineRead::TooLong => {
                let max = self.lines.max_len();
                return Ok(Step::Bad(self.bad(max + 1, ErrorKind::LineTooLong(max))));
            }
            LineRead::Line => {}
        }
        let line = std::mem::take(&mut self.lines.line);
        let end = line.len()
            - line
                .iter()
                .rev()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
        let text = line.get(..end).unwrap_or_default();
        let step = if text.trim_ascii().is_empty() {
            self.stats.other += 1;
            Step::Other(end)
        } else if text.trim_ascii_start().starts_with(b";") {
            match self.keyword(text) {
                Ok(()) => {
                    self.stats.other += 1;
                    Step::Other(end)
                }
                Err((col, kind)) => Step::Bad(self.bad(col, kind)),
            }
        } else {
            tokens(text, &mut self.toks);
            let v1 = self.version.0 < 2;
            match parse_line(text, &self.toks, &self.columns, v1) {
                Ok(Parsed::Skipped(what)) => {
                    self.stats.skipped += 1;
                    Step::Skipped(what)
                }
                Ok(Parsed::Frame {
                    offset_ns,
                    bus,
                    direction,
                    frame,
                }) => {
                    let ns = self.start_ns.saturating_add(offset_ns);
                    match u64::try_from(ns) {
                        Ok(ns) => {
                            self.stats.records += 1;
                            Step::Record {
                                timestamp: Timestamp::from_nanos(ns),
                                bus: self.bus_index(bus),
                                direction,
                                frame,
                            }
                        }
                        Err(_) => Step::Bad(self.bad(1, ErrorKind::TimeRange)),
                    }
                }
                Err(e) => Step::Bad(self.bad(e.pos + 1, e.kind)),
            }
        };
        self.lines.line = line;
        Ok(step)
    }
}

impl<R: BufRead + Send> FrameReader for Reader<R> {
    fn read_item(&mut self) -> Result<Option<Item<'_>>, ReadError> {
        Ok(match self.step()? {
            Step::Eof => None,
            Step::Record {
                timestamp,
                bus,
                direction,
                frame,
            } => Some(Item::Record(Record {
                timestamp,
                precision: if timestamp.subsec_nanos().is_multiple_of(1000) {
                    Precision::Micros
                } else {
                    Precision::Nanos
                },
                interface: self.buses.get(bus).map_or("can0", |(_, n)| n.as_str()),
                frame,
                direction,
            })),
            Step::Other(end) => Some(Item::Other(self.lines.text(end))),
            Step::Skipped(what) => Some(Item::Skipped(what)),
            Step::Bad(e) => Some(Item::Bad(e)),
        })
    }

    fn format(&self) -> Format {
        Format::Trc
    }

    fn stats(&self) -> Stats {
        self.stats
    }
}

impl<R> fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("trc::Reader")
            .field("source_name", &self.source_name)
            .field("version", &self.version)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Whether `head` (the first bytes of a capture) is a TRC file: a `;$FILEVERSION=` or
/// `;$STARTTIME=` keyword among its leading comment lines, or (version 1.0 files, whose header
/// is free text) leading `;` comment lines followed by a message line `N)  TIME  ...`.
pub fn sniff(head: &[u8]) -> bool {
    let mut saw_comment = false;
    for line in head.split(|&b| b == b'\n') {
        let t = line.trim_ascii();
        if t.is_empty() {
            continue;
        }
        if let Some(rest) = t.strip_prefix(b";") {
            if rest.starts_with(b"$FILEVERSION=") || rest.starts_with(b"$STARTTIME=") {
                return true;
            }
            saw_comment = true;
            continue;
        }
        // The first line that is not a comment: a 1.x message line `N) TIME ...`.
        let mut words = t.split(u8::is_ascii_whitespace).filter(|w| !w.is_empty());
        let number = words.next().unwrap_or_default();
        let time = words.next().unwrap_or_default();
        let numbered = number
            .strip_suffix(b")")
            .is_some_and(|d| !d.is_empty() && d.iter().all(u8::is_ascii_digit));
        return saw_comment && numbered && parse_decimal(time, 1).is_some();
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Writing

/// A TRC version the [`Writer`] writes.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Version {
    /// No start time, bus or direction; whole milliseconds; classic and remote frames.
    V1_0,
    /// Start time and direction; 0.1 ms; classic and remote frames (PCAN-Explorer 4/5).
    V1_1,
    /// Start time, bus and direction; microseconds; classic and remote frames.
    V1_3,
    /// Start time, direction, CAN FD and error frames, lengths in bytes; no bus.
    V2_0,
    /// Everything TRC holds: bus, direction, CAN FD, error frames, DLCs (the default).
    #[default]
    V2_1,
}

impl Version {
    /// Every version, oldest first.
    pub const ALL: [Version; 5] = [
        Version::V1_0,
        Version::V1_1,
        Version::V1_3,
        Version::V2_0,
        Version::V2_1,
    ];

    /// `1.0`, `1.1`, `1.3`, `2.0` or `2.1`.
    pub fn text(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_3 => "1.3",
            Version::V2_0 => "2.0",
            Version::V2_1 => "2.1",
        }
    }

    /// A version from its text.
    pub fn parse(text: &str) -> Option<Version> {
        Version::ALL.into_iter().find(|v| v.text() == text)
    }

    fn v2(self) -> bool {
        matches!(self, Version::V2_0 | Version::V2_1)
    }

    fn has_bus(self) -> bool {
        matches!(self, Version::V1_3 | Version::V2_1)
    }

    /// The time resolution in nanoseconds.
    fn resolution_ns(self) -> u64 {
        match self {
            Version::V1_0 => 1_000_000,
            Version::V1_1 => 100_000,
            _ => 1_000,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

const LOSS_DIRECTION: &str = "a known direction (TRC records Rx or Tx: written as Rx)";
const LOSS_NO_DIRECTION: &str = "direction (TRC 1.0 has no direction column)";
const LOSS_RESOLUTION: &str =
    "time below the version's resolution (1 ms in TRC 1.0, 0.1 ms in 1.1, 1 us from 1.3)";
const LOSS_ERROR_CLASS: &str =
    "error frame classes TRC cannot hold (only protocol errors and counters are written)";
const LOSS_FD_FLAGS: &str = "CAN FD flag bits other than BRS and ESI (TRC types carry only those)";
const LOSS_EARLY: &str = "a time before the first record's start (written at offset 0)";
const LOSS_FD_V1: &str = "CAN FD frames (TRC 1.x is classic CAN only)";
const LOSS_ERROR_V1: &str = "error frames (TRC 1.x has no error frame layout)";
const LOSS_BUS: &str =
    "a bus of their own (this TRC version has no bus column: every record on bus 1)";
const LOSS_RAW_DLC: &str = "raw DLCs above 8 (TRC 2.0 holds lengths in bytes: written as 8)";
const LOSS_START: &str = "absolute time (TRC 1.0 has no start time: offsets from the first record)";

/// Writes TRC (version 2.1 by default; see [`Writer::with_version`]) into any [`Write`].
pub struct Writer<W: Write> {
    inner: W,
    version: Version,
    buf: Vec<u8>,
    /// The time offsets count from (set with the header).
    start_ns: Option<u64>,
    number: u64,
    channels: ChannelMap,
    first_interface: Option<String>,
    finished: bool,
    losses: Losses,
}

impl<W: Write> Writer<W> {
    /// A version 2.1 writer; the header is written with the first record (or by `finish`).
    pub fn new(inner: W) -> Self {
        Self::with_version(inner, Version::V2_1)
    }

    /// A writer of `version`. What an older version cannot hold is counted as a [`Loss`]:
    /// CAN FD and error frames are left out of 1.x files; records of a second interface go on
    /// the single bus of versions without a bus column.
    pub fn with_version(inner: W, version: Version) -> Self {
        Writer {
            inner,
            version,
            buf: Vec::with_capacity(512),
            start_ns: None,
            number: 0,
            channels: ChannelMap::new(),
            first_interface: None,
            finished: false,
            losses: Losses::default(),
        }
    }

    /// The underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.inner
    }

    fn header(&mut self, first: Timestamp) -> io::Result<()> {
        if self.start_ns.is_some() {
            return Ok(());
        }
        let v = self.version;
        let mut text = String::new();
        if v == Version::V1_0 {
            // No start time: offsets count from the first record.
            self.start_ns = Some(first.as_nanos());
            text.push_str(";##########################################################################\r\n;   Generated by canrelearn (PEAK TRC 1.0)\r\n;\r\n;   Columns description:\r\n;   ~~~~~~~~~~~~~~~~~~~~~\r\n;   +-current number in actual sample\r\n;   |     +time offset of message (ms)\r\n;   |     |        +ID of message (hex)\r\n;   |     |        |    +data length code\r\n;   |     |        |    |  +data bytes (hex) ...\r\n;   |     |        |    |  |\r\n;----+- ---+--- ----+--- + -+ -- -- ...\r\n");
            return self.inner.write_all(text.as_bytes());
        }
        let day = first.as_nanos() / NS_PER_DAY;
        self.start_ns = Some(day * NS_PER_DAY);
        text.push_str(&format!(
            ";$FILEVERSION={v}\r\n;$STARTTIME={}\r\n",
            OLE_UNIX_DAYS + day
        ));
        match v {
            Version::V2_0 => text.push_str(";$COLUMNS=N,O,T,I,d,l,D\r\n"),
            Version::V2_1 => text.push_str(";$COLUMNS=N,O,T,B,I,d,R,L,D\r\n"),
            _ => {}
        }
        text.push_str(&format!(
            ";\r\n;   Generated by canrelearn (PEAK TRC {v}); the start time is the UTC midnight before the first message\r\n;   Columns: message number, time offset (ms), {}\r\n;\r\n",
            match v {
                Version::V1_1 => "Rx/Tx, ID (hex), data length code, data (hex)",
                Version::V1_3 => "bus, Rx/Tx, ID (hex), reserved, data length code, data (hex)",
                Version::V2_0 => "type, ID (hex), Rx/Tx, data length (bytes), data (hex)",
                _ => "type, bus, ID (hex), Rx/Tx, reserved, data length code, data (hex)",
            }
        ));
        self.inner.write_all(text.as_bytes())
    }

    /// Counts what this record loses and says whether it is written at all.
    fn count_losses(&mut self, record: &Record<'_>) -> bool {
        let v = self.version;
        match &record.frame {
            Frame::Fd(_) if !v.v2() => {
                self.losses.add(LOSS_FD_V1, true);
                return false;
            }
            Frame::Error(_) if !v.v2() => {
                self.losses.add(LOSS_ERROR_V1, true);
                return false;
            }
            Frame::Fd(f)
                if f.flags().bits() & !(FdFlags::BRS | FdFlags::ESI | FdFlags::FDF) != 0 =>
            {
                self.losses.add(LOSS_FD_FLAGS, false);
            }
            Frame::Error(e) if e.class() & !(ERR_PROT | ERR_CNT) != 0 => {
                self.losses.add(LOSS_ERROR_CLASS, false);
            }
            Frame::Classic(c) if v == Version::V2_0 && c.dlc() > 8 => {
                self.losses.add(LOSS_RAW_DLC, false);
            }
            Frame::Remote(r) if v == Version::V2_0 && r.dlc() > 8 => {
                self.losses.add(LOSS_RAW_DLC, false);
            }
            _ => {}
        }
        if v == Version::V1_0 {
            self.losses.add(LOSS_NO_DIRECTION, false);
        } else if record.direction.is_none() {
            self.losses.add(LOSS_DIRECTION, false);
        }
        if !v.has_bus() {
            match &self.first_interface {
                None => self.first_interface = Some(record.interface.to_owned()),
                Some(first) if first != record.interface => self.losses.add(LOSS_BUS, false),
                Some(_) => {}
            }
        }
        true
    }
}

fn push_hex_digits(out: &mut Vec<u8>, v: u32, digits: u32) {
    for i in (0..digits).rev() {
        out.push(b"0123456789ABCDEF"[((v >> (4 * i)) & 0xF) as usize]);
    }
}

fn push_padded(out: &mut Vec<u8>, text: &[u8], width: usize) {
    for _ in text.len()..width {
        out.push(b' ');
    }
    out.extend_from_slice(text);
}

/// The id right-aligned in 8 columns (4 hex digits for 11-bit ids, 8 for 29-bit ids), or `-`.
fn push_id(out: &mut Vec<u8>, id: Option<Id>) {
    match id {
        Some(id) if id.is_extended() => push_hex_digits(out, id.raw(), 8),
        Some(id) => {
            out.extend_from_slice(b"    ");
            push_hex_digits(out, id.raw(), 4);
        }
        None => out.extend_from_slice(b"       -"),
    }
}

/// The time offset in milliseconds with `decimals` digits (truncated).
fn push_offset(out: &mut Vec<u8>, offset_ns: u64, decimals: u32, width: usize) {
    let unit = 10u64.pow(6 - decimals);
    let ticks = offset_ns / unit;
    let scale = 10u64.pow(decimals);
    let text = if decimals == 0 {
        format!("{ticks}")
    } else {
        format!(
            "{}.{:0w$}",
            ticks / scale,
            ticks % scale,
            w = decimals as usize
        )
    };
    push_padded(out, text.as_bytes(), width);
}

/// What a record is written as: type, id, the DLC (or length), the data bytes.
fn line_parts(frame: &Frame) -> (&'static [u8], Option<Id>, u8, [u8; 64], usize) {
    let mut d = [0u8; 64];
    match frame {
        Frame::Classic(c) => {
            d[..c.data().len()].copy_from_slice(c.data());
            (b"DT", Some(c.id()), c.dlc(), d, c.data().len())
        }
        Frame::Fd(f) => {
            d[..f.data().len()].copy_from_slice(f.data());
            let kind: &'static [u8] = match (f.flags().brs(), f.flags().esi()) {
                (false, false) => b"FD",
                (true, false) => b"FB",
                (false, true) => b"FE",
                (true, true) => b"BI",
            };
            (kind, Some(f.id()), f.dlc(), d, f.data().len())
        }
        Frame::Remote(r) => (b"RR", Some(r.id()), r.dlc(), d, 0),
        Frame::Error(e) => {
            let raw = e.data();
            d[0] = match raw[2] & 0x07 {
                0x01 => 1,
                0x02 => 2,
                0x04 => 4,
                _ => 8,
            };
            d[1] = if raw[2] & 0x80 != 0 { 0 } else { 1 };
            d[2] = raw[3];
            d[3] = raw[7];
            d[4] = raw[6];
            (b"ER", None, 5, d, 5)
        }
    }
}

impl<W: Write> FrameWriter for Writer<W> {
    fn write_record(&mut self, record: &Record<'_>) -> io::Result<()> {
        if self.finished {
            return Err(io::Error::other("TRC record written after finish"));
        }
        self.header(record.timestamp)?;
        if !self.count_losses(record) {
            return Ok(());
        }
        let v = self.version;
        let start = self.start_ns.unwrap_or(0);
        let mut ns = record.timestamp.as_nanos();
        if ns < start {
            self.losses.add(LOSS_EARLY, false);
            ns = start;
        }
        let offset = ns - start;
        if !offset.is_multiple_of(v.resolution_ns()) {
            self.losses.add(LOSS_RESOLUTION, false);
        }
        let direction: &[u8] = match record.direction {
            Some(Direction::Tx) => b"Tx",
            _ => b"Rx",
        };
        let bus = if v.has_bus() {
            self.channels.channel(record.interface)
        } else {
            1
        };
        self.number += 1;
        let (kind, id, code, data, n) = line_parts(&record.frame);
        let remote = matches!(record.frame, Frame::Remote(_));
        let out = &mut self.buf;
        out.clear();
        let mut b = itoa::Buffer::new();
        if v.v2() {
            push_padded(out, b.format(self.number).as_bytes(), 7);
            out.push(b' ');
            push_offset(out, offset, 3, 13);
            out.push(b' ');
            out.extend_from_slice(kind);
            out.push(b' ');
            if v == Version::V2_1 {
                push_padded(out, b.format(bus).as_bytes(), 2);
                out.push(b' ');
            }
            push_id(out, id);
            out.push(b' ');
            out.extend_from_slice(direction);
            let len_text = if v == Version::V2_1 {
                out.extend_from_slice(b" -  ");
                b.format(code)
            } else {
                out.push(b' ');
                // 2.0 holds the length in bytes (a remote frame: the length requested).
                let len = match &record.frame {
                    Frame::Remote(r) => usize::from(r.dlc().min(8)),
                    Frame::Classic(_) => n.min(8),
                    _ => n,
                };
                b.format(len)
            };
            out.extend_from_slice(len_text.as_bytes());
            for _ in len_text.len()..4 {
                out.push(b' ');
            }
        } else {
            push_padded(out, b.format(self.number).as_bytes(), 6);
            out.extend_from_slice(b") ");
            match v {
                Version::V1_0 => push_offset(out, offset, 0, 9),
                Version::V1_1 => push_offset(out, offset, 1, 11),
                _ => push_offset(out, offset, 3, 13),
            }
            out.push(b' ');
            if v == Version::V1_3 {
                push_padded(out, b.format(bus).as_bytes(), 1);
                out.push(b' ');
            }
            if v != Version::V1_0 {
                out.extend_from_slice(direction);
                out.extend_from_slice(b"    ");
            }
            push_id(out, id);
            out.extend_from_slice(if v == Version::V1_3 { b" -  " } else { b"  " });
            out.extend_from_slice(b.format(code).as_bytes());
            out.push(b' ');
            if remote {
                out.extend_from_slice(b" RTR");
            }
        }
        for byte in data.get(..n).unwrap_or_default() {
            out.push(b' ');
            push_hex_digits(out, u32::from(*byte), 2);
        }
        // Trailing blanks of a frame without data are left out.
        while out.last() == Some(&b' ') {
            out.pop();
        }
        out.extend_from_slice(b"\r\n");
        self.inner.write_all(out)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.start_ns.is_none() {
            self.header(Timestamp::ZERO)?;
        }
        if self.version == Version::V1_0 && self.number > 0 {
            self.losses.add(LOSS_START, false);
        }
        self.finished = true;
        self.inner.flush()
    }

    fn losses(&self) -> &[Loss] {
        self.losses.list()
    }

    fn channel_map(&self) -> Option<&ChannelMap> {
        self.version.has_bus().then_some(&self.channels)
    }
}

#[cfg(test)]
mod tests;
