//! Vector ASC (ASCII) logs, as CANoe/CANalyzer, python-can and can-utils write them: a
//! streaming reader and a writer.
//!
//! Sources: Vector's "CAN, Log & Trigger ASC Logging Format" specification (versions 1.3.5 of
//! 2014 and 1.4.x; public copies of its text and of its examples, e.g. in Tobias Lorenz's
//! `vector_asc` test data), python-can's `can/io/asc.py` (4.6.1 and 2026 master: the reader and
//! the writer), can-utils' `asc2log.c` and `log2asc.c` (2020.11 and 2026 master), and the
//! timestamp confusions reported in python-can#468, #1788, #2022 and can-utils#348.
//!
//! # What a file holds
//!
//! A header, then one event per line, each event starting with its time in seconds
//! (`12.345678`, 1 to 9 fraction digits, 4 to 6 in practice):
//!
//! * `date <weekday> <month> <day> <hh:mm:ss[.fff]> [am|pm] <year>`: the wall-clock time the
//!   measurement started, in English (`Thu May 16 06:16:50.884 pm 2024`) or German
//!   (`Do Mär 7 18:16:50.884 2024`, `Die Dez 21 11:29:01 2004`; `Mär` in UTF-8 or Latin-1)
//!   month and weekday names, 12 h with `am`/`pm` or 24 h. A fraction of 1 to 3 digits is a
//!   count of milliseconds (CANoe writes 3 digits; python-can writes the count unpadded, so
//!   `.5` is 5 ms), 4 to 9 digits a decimal fraction. The date carries no time zone: it is read
//!   as UTC unless [`Reader::with_utc_offset`] says how far local time was from UTC.
//! * `base hex|dec  timestamps absolute|relative`: the radix of ids, DLCs and classic data
//!   bytes, and what the event times mean. Without `timestamps` (BusMaster writes
//!   `base hex  no internal events logged`, can-utils#348) they are absolute.
//! * `internal events logged` / `no internal events logged`, `// ...` comments (`// version
//!   8.2.0`), `Begin Triggerblock [<date>]`, `End TriggerBlock`: [`Item::Other`].
//!
//! # Timestamps
//!
//! `timestamps absolute` event times are seconds since the start of the measurement;
//! `timestamps relative` ones are seconds since the previous event, whatever that event is
//! (statistics and other lines we skip count too). A record's [`Timestamp`] is
//! `start + offset`, where `start` is the date of the first `Begin Triggerblock` line when one
//! comes before the first event (python-can writes the time of the first frame there and its
//! offsets from it, while its `date` line is merely when the file was written; CANoe writes the
//! same time in both), else the `date` header, else zero (the capture's own time line). Later
//! trigger blocks do not move the start: the whole measurement shares one time line. One
//! exception, for BusMaster's files (can-utils#348): when the `base` line declares no
//! `timestamps` and the first event's time falls within the hour after the date's time of day,
//! the times are taken as seconds since the date's midnight, which is what BusMaster writes.
//!
//! # Events read
//!
//! * `<t> <ch> <id>[x] Rx|Tx d <dlc> <bytes...>`: a classic data frame; `x` marks an extended
//!   id; a DLC of 9 to F (CAN 2.0 allows it) comes with 8 bytes and is kept as the raw DLC.
//!   Trailing fields (`Length = <ns>`, `BitCount = <n>`, `ID = <n>[x]`, `TE`/`WU`/`XX`) are
//!   ignored, except that `ID =` gives the number when a symbolic message name stands in the
//!   id column. `r` instead of `d`, with or without a DLC, is a remote frame.
//! * `<t> <ch> ErrorFrame [details]` and `<t> CANFD <ch> Rx|Tx ErrorFrame [details]`: an error
//!   frame. ASC keeps no SocketCAN error class, so it becomes an [`ErrorFrame`] with the class
//!   `CAN_ERR_BUSERROR` (0x80) and eight zero bytes, as can-utils' `asc2log` maps it; the
//!   classic form has no direction.
//! * `<t> CANFD <ch> Rx|Tx <id>[x] [<name>] <brs> <esi> <dlc> <length> <bytes...> <duration>
//!   <bits> <flags> <crc> ...`: a frame on a CAN FD channel. The hex flags field decides what
//!   it is (as can-utils reads it): `0x1000` (FDF) a CAN FD frame (the reader sets
//!   [`FdFlags::FDF`] too, as Linux does), else a classic frame, remote when `0x10` is set. The
//!   BRS and ESI columns give those bits. Without a flags field the line is a CAN FD frame.
//!   The older `CANFD <ch> <id> Rx|Tx <brs> <esi> d|r <dlc> <length> <bytes...>` layout is
//!   read as well. CAN FD ids and bytes are hex whatever the base (as can-utils and Vector's
//!   examples have them); the DLC is one hex digit or a decimal 10 to 15.
//! * `<t> CANXL <ch> Rx|Tx CBFF|CEFF|FBFF|FEFF ...`: classic and CAN FD frames on a CAN XL
//!   channel (specification 1.4.17, as can-utils' `asc2log` reads them).
//! * `TxRq` (transmit request) lines, CAN controller status, bus statistics, overload frames,
//!   CAN XL frames (`XLFF`), J1939 transport, LIN, FlexRay, MOST, Ethernet, K-Line, system and
//!   environment variables and other events we do not carry are [`Item::Skipped`] with a name
//!   for people; `Start of measurement` and log/trigger events are [`Item::Other`].
//!
//! Channel `N` is the interface `can{N-1}` ([`channel_interface`]).
//!
//! # Writing
//!
//! The [`Writer`] writes what python-can's `ASCWriter` and CANoe write: the `date` header and
//! `base hex  timestamps absolute` (or `relative`, [`WriteOptions::timestamps`]), `internal
//! events logged`, `Begin Triggerblock <date>`, `Start of measurement`, one line per frame and
//! `End TriggerBlock`. The start is the first record's time cut to whole milliseconds (what the
//! date holds), so that offsets from it give every record's time back exactly. Classic frames
//! are classic lines, CAN FD frames `CANFD` lines, remote frames `r <dlc>`, error frames
//! `<ch>  ErrorFrame`. Times have 6 fraction digits ([`Precision::Micros`], the most can-utils'
//! `asc2log` accepts) or 9 ([`Precision::Nanos`]). What ASC cannot carry is counted as a
//! [`Loss`] ([`FrameWriter::losses`](super::FrameWriter::losses)), never dropped: error classes
//! and details, the direction of error frames, digits below the chosen precision, times before
//! the start (or, in relative files, before the previous record), CAN FD flag bits other than
//! BRS/ESI/FDF. A record without a direction is written `Rx` (as log2asc and python-can do).
//! Interfaces become channels through a [`ChannelMap`] ([`Writer::channel_map`]).
//!
//! # Calling contract
//!
//! A [`Reader`] streams lines from any [`BufRead`] into one reusable buffer (no allocation per
//! line: records borrow their interface name from the reader's table of channel names), bounds
//! the line length ([`MAX_LINE_LEN`]), never panics on input and goes on with the next line
//! after a bad one. The [`Writer`] formats each line into one reusable buffer and writes it to
//! any [`Write`] (wrap files in a `BufWriter`). Nothing here reads the clock or opens files.

use std::borrow::Cow;
use std::io::{self, BufRead, Write};
use std::sync::Arc;

use crate::frame::{
    ClassicFrame, ErrorFrame, FdFlags, FdFrame, Frame, Id, MAX_EXTENDED_ID, MAX_STANDARD_ID,
    RemoteFrame, fd_len_to_dlc,
};
use crate::time::{Timestamp, UtcTime, days_from_civil, days_in_month};

use super::candump::Found;
use super::lex::{hexval, is_blank, skip_blanks, token_end, trimmed_len};
use super::{
    ChannelMap, Direction, Format, FormatError, FormatErrorKind, Item, Location, Loss, Losses,
    Precision, ReadError, Record, Stats, channel_interface,
};

/// The longest line a [`Reader`] accepts by default (64 KiB; a CAN XL line is at most a few
/// KiB). Longer lines are reported as [`ErrorKind::LineTooLong`] and skipped unstored.
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// The SocketCAN class an ASC error frame maps to: `CAN_ERR_BUSERROR` (as `asc2log` does).
pub const ERROR_FRAME_CLASS: u32 = 0x80;

/// ASC's flags field: the frame is a CAN FD frame.
const FLAG_FDF: u32 = 0x1000;
/// ASC's flags field: bit rate switch.
const FLAG_BRS: u32 = 0x2000;
/// ASC's flags field: error state indicator.
const FLAG_ESI: u32 = 0x4000;
/// ASC's flags field: a remote frame (classic frames on a CAN FD channel).
const FLAG_RTR: u32 = 0x10;

const NANOS_PER_SEC: i128 = 1_000_000_000;

// ---------------------------------------------------------------------------------------------
// Errors

/// Why a date in a `date` or `Begin Triggerblock` line cannot be read.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("expected a month name (English or German, e.g. `May`, `Mär`, `Okt`)")]
    ExpectedMonth,
    #[error("expected the day of the month")]
    ExpectedDay,
    #[error("expected the time of day `hh:mm:ss[.fff]`")]
    ExpectedTime,
    #[error("expected a four-digit year")]
    ExpectedYear,
    #[error("unexpected text after the year")]
    TrailingText,
    #[error("no such day or time")]
    OutOfRange,
    #[error("dates before 1970 cannot be placed on the Unix time line")]
    BeforeEpoch,
}

/// Why a line of an ASC log is not valid.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("invalid event time: expected seconds and a fraction (`12.345678`)")]
    InvalidTimestamp,
    #[error("the event time is out of range on the capture's time line")]
    TimestampOutOfRange,
    #[error("expected an event after the time")]
    MissingEvent,
    #[error("invalid channel number")]
    InvalidChannel,
    #[error("expected a CAN event after the channel number")]
    MissingChannelEvent,
    #[error("invalid CAN id: unexpected {0}")]
    InvalidId(Found),
    #[error("a symbolic message name needs an `ID = <number>` field")]
    SymbolicId,
    #[error("standard id 0x{0:X} does not fit in 11 bits (extended ids end with `x`)")]
    StandardIdRange(u64),
    #[error("extended id 0x{0:X} does not fit in 29 bits")]
    ExtendedIdRange(u64),
    #[error("expected the direction `Rx`, `Tx` or `TxRq`")]
    ExpectedDirection,
    #[error("expected `d` (data frame) or `r` (remote frame)")]
    ExpectedFrameKind,
    #[error("expected a DLC from 0 to 15")]
    InvalidDlc,
    #[error("expected {expected} data bytes, found {found}")]
    MissingData { expected: u8, found: u8 },
    #[error("invalid data byte: unexpected {0}")]
    InvalidDataByte(Found),
    #[error("data byte does not fit in 8 bits")]
    DataByteRange,
    #[error("more data bytes than the DLC {0} announces")]
    TooManyData(u8),
    #[error("expected the bit rate switch and error state indicator columns (`0` or `1`)")]
    ExpectedBrsEsi,
    #[error("expected the data length (a decimal number of bytes)")]
    ExpectedDataLength,
    #[error("{0} bytes is not a CAN FD length (0-8, 12, 16, 20, 24, 32, 48 or 64)")]
    FdLength(u8),
    #[error("a classic frame carries at most 8 bytes, not {0}")]
    ClassicLength(u8),
    #[error("DLC {dlc:X} does not match the data length {len}")]
    DlcMismatch { dlc: u8, len: u8 },
    #[error("invalid flags field: expected hex digits")]
    InvalidFlags,
    #[error("invalid date: {0}")]
    InvalidDate(DateError),
    #[error("invalid number base: expected `hex` or `dec`")]
    InvalidBase,
    #[error("invalid timestamps mode: expected `absolute` or `relative`")]
    InvalidTimestampsMode,
    #[error("line longer than {0} bytes")]
    LineTooLong(usize),
}

/// A bad line: the 0-based byte offset in the line and the cause.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Bad {
    pos: usize,
    kind: ErrorKind,
}

fn bad<T>(pos: usize, kind: ErrorKind) -> Result<T, Bad> {
    Err(Bad { pos, kind })
}

// ---------------------------------------------------------------------------------------------
// Header values

/// The radix of ids, DLCs and classic data bytes (`base hex` / `base dec`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Base {
    #[default]
    Hex,
    Dec,
}

/// What event times mean (`timestamps absolute` / `timestamps relative`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum TimestampsMode {
    /// Seconds since the start of the measurement.
    #[default]
    Absolute,
    /// Seconds since the previous event.
    Relative,
}

/// A wall-clock date and time as an ASC header writes it (no time zone).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct AscDate {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
}

impl AscDate {
    /// Nanoseconds since the Unix epoch of this wall-clock time read at `utc_offset_secs`
    /// east of UTC (may be negative for dates before 1970).
    fn unix_nanos(&self, utc_offset_secs: i32) -> i128 {
        let days = i128::from(days_from_civil(self.year, self.month, self.day));
        let secs = days * 86_400
            + i128::from(self.hour) * 3600
            + i128::from(self.minute) * 60
            + i128::from(self.second)
            - i128::from(utc_offset_secs);
        secs * NANOS_PER_SEC + i128::from(self.nanos)
    }

    /// Nanoseconds since the date's midnight.
    fn time_of_day_nanos(&self) -> i128 {
        (i128::from(self.hour) * 3600 + i128::from(self.minute) * 60 + i128::from(self.second))
            * NANOS_PER_SEC
            + i128::from(self.nanos)
    }
}

// ---------------------------------------------------------------------------------------------
// Lexing

/// The next token from `p` (blanks skipped): `(start, end)`, empty at the end of the line.
#[inline(always)]
fn next_token(s: &[u8], p: usize) -> (usize, usize) {
    let start = skip_blanks(s, p);
    (start, token_end(s, start))
}

#[inline(always)]
fn slice(s: &[u8], start: usize, end: usize) -> &[u8] {
    s.get(start..end).unwrap_or_default()
}

/// An unsigned number in `base` (no sign, no prefix), at most `u64`.
fn number(tok: &[u8], base: Base) -> Option<u64> {
    if tok.is_empty() {
        return None;
    }
    let radix: u64 = match base {
        Base::Hex => 16,
        Base::Dec => 10,
    };
    let mut v: u64 = 0;
    for &b in tok {
        let d = u64::from(hexval(b));
        if d >= radix {
            return None;
        }
        v = v.checked_mul(radix)?.checked_add(d)?;
    }
    Some(v)
}

/// The first byte of `tok` that is not a digit of `base`, for error messages.
fn first_bad_digit(tok: &[u8], base: Base) -> Found {
    let radix = match base {
        Base::Hex => 16,
        Base::Dec => 10,
    };
    Found(
        tok.iter()
            .copied()
            .find(|&b| hexval(b) >= radix)
            .unwrap_or(b' '),
    )
}

/// Why `tok` is not a data byte in `base`.
fn data_byte_error(tok: &[u8], base: Base) -> ErrorKind {
    if number(tok, base).is_some() {
        ErrorKind::DataByteRange
    } else {
        ErrorKind::InvalidDataByte(first_bad_digit(tok, base))
    }
}

/// A data byte in `base`: 1-2 hex digits, or 1-3 decimal digits up to 255.
#[inline(always)]
fn data_byte(tok: &[u8], base: Base) -> Option<u8> {
    match (base, tok) {
        (Base::Hex, [h, l]) => {
            let (h, l) = (hexval(*h), hexval(*l));
            (h <= 15 && l <= 15).then_some((h << 4) | l)
        }
        (Base::Hex, [d]) => Some(hexval(*d)).filter(|&v| v <= 15),
        (Base::Dec, t) if t.len() <= 3 => number(t, Base::Dec).and_then(|v| u8::try_from(v).ok()),
        _ => None,
    }
}

/// `out.len()` hex bytes from `p` when each is one space and two hex digits (how every writer
/// lays them out) and the last ends the token: the position after them. `None` for anything
/// else, which the token-by-token path then reads (and reports).
#[inline(always)]
fn hex_bytes_fast(s: &[u8], p: usize, out: &mut [u8]) -> Option<usize> {
    let mut q = p;
    for slot in out.iter_mut() {
        let [b' ', h, l] = *s.get(q..q + 3)? else {
            return None;
        };
        let (h, l) = (hexval(h), hexval(l));
        if h > 15 || l > 15 {
            return None;
        }
        *slot = (h << 4) | l;
        q += 3;
    }
    match s.get(q) {
        Some(&b) if !is_blank(b) => None,
        _ => Some(q),
    }
}

/// A CAN id token: digits in `base` with an optional `x` (extended) suffix.
fn parse_id(tok: &[u8], base: Base) -> Result<Id, (usize, ErrorKind)> {
    let (digits, extended) = match tok.split_last() {
        Some((b'x' | b'X', rest)) => (rest, true),
        _ => (tok, false),
    };
    if digits.is_empty() {
        return Err((0, ErrorKind::InvalidId(Found(b'x'))));
    }
    let Some(raw) = number(digits, base) else {
        let pos = digits
            .iter()
            .position(|&b| {
                hexval(b)
                    >= match base {
                        Base::Hex => 16,
                        Base::Dec => 10,
                    }
            })
            .unwrap_or(0);
        return Err((pos, ErrorKind::InvalidId(first_bad_digit(digits, base))));
    };
    make_id(raw, extended).map_err(|k| (0, k))
}

fn make_id(raw: u64, extended: bool) -> Result<Id, ErrorKind> {
    if extended {
        u32::try_from(raw)
            .ok()
            .filter(|&r| r <= MAX_EXTENDED_ID)
            .and_then(Id::extended)
            .ok_or(ErrorKind::ExtendedIdRange(raw))
    } else {
        u32::try_from(raw)
            .ok()
            .filter(|&r| r <= MAX_STANDARD_ID)
            .and_then(|r| Id::new(r, false))
            .ok_or(ErrorKind::StandardIdRange(raw))
    }
}

/// A DLC in `base`, 0 to 15.
fn parse_dlc(tok: &[u8], base: Base) -> Option<u8> {
    number(tok, base)
        .filter(|&v| v <= 15)
        .and_then(|v| u8::try_from(v).ok())
}

/// A CAN FD line's DLC: one hex digit, or a decimal 10 to 15 (Vector writes it in the base).
fn parse_fd_dlc(tok: &[u8]) -> Option<u8> {
    match tok {
        [d] => Some(hexval(*d)).filter(|&v| v <= 15),
        [b'1', d] if (b'0'..=b'5').contains(d) => Some(10 + (d - b'0')),
        _ => None,
    }
}

#[inline(always)]
fn direction(tok: &[u8]) -> Option<Dir> {
    match tok {
        b"Rx" => Some(Dir::Rx),
        b"Tx" => Some(Dir::Tx),
        b"TxRq" => Some(Dir::TxRq),
        _ => None,
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Dir {
    Rx,
    Tx,
    TxRq,
}

impl Dir {
    fn direction(self) -> Direction {
        match self {
            Dir::Rx => Direction::Rx,
            Dir::Tx | Dir::TxRq => Direction::Tx,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Event times

/// An event time as written: nanoseconds (signed: negative times appear in converted files)
/// and the number of fraction digits.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Offset {
    nanos: i128,
    digits: usize,
}

/// `[-]SECS.FRAC` at the start of `tok` (the whole token): 1 to 19 seconds digits, 1 or more
/// fraction digits (beyond nine they are dropped).
fn parse_offset(tok: &[u8]) -> Option<Offset> {
    let (neg, t) = match tok.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, tok),
    };
    let dot = t.iter().position(|&b| b == b'.')?;
    let (secs, frac) = (t.get(..dot)?, t.get(dot + 1..)?);
    if secs.is_empty() || secs.len() > 19 || frac.is_empty() {
        return None;
    }
    let mut s: u64 = 0;
    for &b in secs {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        s = s * 10 + u64::from(d);
    }
    let mut f: u32 = 0;
    for (i, &b) in frac.iter().enumerate() {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        if i < 9 {
            f = f * 10 + u32::from(d);
        }
    }
    let digits = frac.len();
    for _ in digits..9 {
        f *= 10;
    }
    let nanos = i128::from(s) * NANOS_PER_SEC + i128::from(f);
    Some(Offset {
        nanos: if neg { -nanos } else { nanos },
        digits,
    })
}

/// The capture's time line: the header's start and the running time of relative files.
#[derive(Clone, Debug, Default)]
struct Clock {
    mode: TimestampsMode,
    /// Whether a `base` line was seen, and whether it said `timestamps ...`.
    base_seen: bool,
    mode_declared: bool,
    header_date: Option<(i128, i128)>,
    block_date: Option<i128>,
    /// Fixed at the first event.
    start: Option<i128>,
    /// Relative files: the sum of the event times so far.
    running: i128,
}

impl Clock {
    /// The time of an event at `offset`, in nanoseconds on the capture's time line.
    fn place(&mut self, offset: i128) -> i128 {
        let start = match self.start {
            Some(s) => s,
            None => {
                let s = self.first_start(offset);
                self.start = Some(s);
                s
            }
        };
        match self.mode {
            TimestampsMode::Absolute => start.saturating_add(offset),
            TimestampsMode::Relative => {
                self.running = self.running.saturating_add(offset);
                start.saturating_add(self.running)
            }
        }
    }

    fn first_start(&self, offset: i128) -> i128 {
        if let Some(b) = self.block_date {
            return b;
        }
        let Some((date, tod)) = self.header_date else {
            return 0;
        };
        // BusMaster (can-utils#348): no `timestamps` keyword and times of day since midnight.
        let busmaster = self.base_seen
            && !self.mode_declared
            && offset >= tod - NANOS_PER_SEC
            && offset < tod + 3600 * NANOS_PER_SEC;
        if busmaster { date - tod } else { date }
    }
}

fn to_timestamp(nanos: i128) -> Option<Timestamp> {
    u64::try_from(nanos).ok().map(Timestamp::from_nanos)
}

// ---------------------------------------------------------------------------------------------
// Dates

const MONTHS: [&[u8]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

/// A month name, English or German, case-insensitive: `Mär` in UTF-8 or Latin-1, `Mrz`, `Mae`.
fn month(tok: &[u8]) -> Option<u32> {
    let mut buf = [0u8; 5];
    let lower = buf.get_mut(..tok.len())?;
    for (d, s) in lower.iter_mut().zip(tok) {
        *d = s.to_ascii_lowercase();
    }
    let l = &*lower;
    if let Some(i) = MONTHS.iter().position(|m| *m == l) {
        return u32::try_from(i + 1).ok();
    }
    Some(match l {
        b"m\xc3\xa4r" | b"m\xc3\x84r" | b"m\xe4r" | b"m\xc4r" | b"mrz" | b"mae" | b"maer" => 3,
        b"mai" => 5,
        b"okt" => 10,
        b"dez" => 12,
        _ => return None,
    })
}

/// Whether `tok` can be a weekday name: letters (any non-ASCII byte counts as one), maybe
/// with a trailing `.` or `,`.
fn is_word(tok: &[u8]) -> bool {
    let core = match tok.split_last() {
        Some((b'.' | b',', rest)) => rest,
        _ => tok,
    };
    !core.is_empty() && core.iter().all(|&b| b.is_ascii_alphabetic() || b >= 0x80)
}

fn small(tok: &[u8], max_digits: usize) -> Option<u32> {
    if tok.is_empty() || tok.len() > max_digits || !tok.iter().all(u8::is_ascii_digit) {
        return None;
    }
    number(tok, Base::Dec).and_then(|v| u32::try_from(v).ok())
}

/// `[<weekday>] <month> <day> <hh:mm:ss[.frac]> [am|pm] <year>` from `p`; the position of a
/// bad part in the error.
fn parse_date(s: &[u8], p: usize) -> Result<AscDate, (usize, DateError)> {
    let (mut a, mut b) = next_token(s, p);
    let mut mon = month(slice(s, a, b));
    if mon.is_none() && is_word(slice(s, a, b)) {
        (a, b) = next_token(s, b);
        mon = month(slice(s, a, b));
    }
    let month = mon.ok_or((a, DateError::ExpectedMonth))?;
    let (a, b) = next_token(s, b);
    let day = small(slice(s, a, b), 2).ok_or((a, DateError::ExpectedDay))?;
    let (ta, tb) = next_token(s, b);
    let (hour, minute, second, nanos) =
        parse_time(slice(s, ta, tb)).ok_or((ta, DateError::ExpectedTime))?;
    let (mut a, mut b) = next_token(s, tb);
    let meridian = match slice(s, a, b).to_ascii_lowercase().as_slice() {
        b"am" => Some(false),
        b"pm" => Some(true),
        _ => None,
    };
    if meridian.is_some() {
        (a, b) = next_token(s, b);
    }
    let year = small(slice(s, a, b), 4)
        .filter(|y| *y >= 1000)
        .ok_or((a, DateError::ExpectedYear))?;
    let (rest, _) = next_token(s, b);
    if rest < s.len() {
        return Err((rest, DateError::TrailingText));
    }
    let hour = match meridian {
        None => hour,
        Some(_) if !(1..=12).contains(&hour) => return Err((ta, DateError::OutOfRange)),
        Some(false) => hour % 12,
        Some(true) => hour % 12 + 12,
    };
    let year = i64::from(year);
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return Err((ta, DateError::OutOfRange));
    }
    Ok(AscDate {
        year,
        month,
        day,
        hour,
        minute,
        second,
        nanos,
    })
}

/// `hh:mm:ss[.frac]`: a fraction of 1-3 digits counts milliseconds (CANoe writes 3 digits,
/// python-can the count unpadded), 4-9 digits are a decimal fraction.
fn parse_time(t: &[u8]) -> Option<(u32, u32, u32, u32)> {
    let mut parts = t.splitn(3, |&b| b == b':');
    let h = small(parts.next()?, 2)?;
    let m = small(parts.next()?, 2)?;
    let rest = parts.next()?;
    let (sec, frac) = match rest.iter().position(|&b| b == b'.') {
        Some(i) => (rest.get(..i)?, Some(rest.get(i + 1..)?)),
        None => (rest, None),
    };
    let s = small(sec, 2)?;
    let nanos = match frac {
        None => 0,
        Some(f) if (1..=3).contains(&f.len()) => small(f, 3)? * 1_000_000,
        Some(f) if (4..=9).contains(&f.len()) => {
            let mut v = small(f, 9)?;
            for _ in f.len()..9 {
                v *= 10;
            }
            v
        }
        Some(_) => return None,
    };
    Some((h, m, s, nanos))
}

// ---------------------------------------------------------------------------------------------
// Line grammar

/// What one line holds, with positions instead of borrows so the reader can keep state.
#[derive(Clone, Debug, PartialEq)]
enum Parsed {
    /// A frame at `offset` on channel `channel`.
    Frame {
        offset: Offset,
        channel: u32,
        frame: Frame,
        direction: Option<Direction>,
    },
    /// A timed event that carries no frame: part of the format (`Other`) or skipped.
    Event {
        offset: Offset,
        skipped: Option<&'static str>,
    },
    /// A `date` line: the date and where it starts.
    Date(AscDate, usize),
    /// A `base` line.
    Base(Base, Option<TimestampsMode>),
    /// `Begin Triggerblock` with its date and where it starts, if any.
    BeginBlock(Option<(AscDate, usize)>),
    /// Any other line without a time (comments, `internal events logged`, empty lines).
    Other,
    /// A bad line; `offset` when its time could be read (relative files still advance).
    Bad { offset: Option<Offset>, bad: Bad },
}

/// Parses one line (without its `\n`, trailing blanks removed) in the given base.
fn parse_line(s: &[u8], base: Base) -> Parsed {
    let p = skip_blanks(s, 0);
    let Some(&first) = s.get(p) else {
        return Parsed::Other;
    };
    if first.is_ascii_digit() || (first == b'-' && s.get(p + 1).is_some_and(u8::is_ascii_digit)) {
        let end = token_end(s, p);
        let Some(offset) = parse_offset(slice(s, p, end)) else {
            return Parsed::Bad {
                offset: None,
                bad: Bad {
                    pos: p,
                    kind: ErrorKind::InvalidTimestamp,
                },
            };
        };
        return match parse_event(s, end, base, offset) {
            Ok(parsed) => parsed,
            Err(bad) => Parsed::Bad {
                offset: Some(offset),
                bad,
            },
        };
    }
    match parse_header(s, p) {
        Ok(parsed) => parsed,
        Err(bad) => Parsed::Bad { offset: None, bad },
    }
}

fn lower_eq(tok: &[u8], word: &[u8]) -> bool {
    tok.eq_ignore_ascii_case(word)
}

/// A line without a time: header lines and comments.
fn parse_header(s: &[u8], p: usize) -> Result<Parsed, Bad> {
    let (a, b) = (p, token_end(s, p));
    let word = slice(s, a, b);
    if lower_eq(word, b"date") {
        return match parse_date(s, b) {
            Ok(d) => Ok(Parsed::Date(d, next_token(s, b).0)),
            Err((pos, e)) => bad(pos, ErrorKind::InvalidDate(e)),
        };
    }
    if lower_eq(word, b"base") {
        let (a, b) = next_token(s, b);
        let base = match slice(s, a, b).to_ascii_lowercase().as_slice() {
            b"hex" => Base::Hex,
            b"dec" => Base::Dec,
            _ => return bad(a, ErrorKind::InvalidBase),
        };
        let (ka, kb) = next_token(s, b);
        if !lower_eq(slice(s, ka, kb), b"timestamps") {
            // BusMaster: `base hex  no internal events logged`.
            return Ok(Parsed::Base(base, None));
        }
        let (ma, mb) = next_token(s, kb);
        let mode = match slice(s, ma, mb).to_ascii_lowercase().as_slice() {
            b"absolute" => TimestampsMode::Absolute,
            b"relative" => TimestampsMode::Relative,
            _ => return bad(ma, ErrorKind::InvalidTimestampsMode),
        };
        return Ok(Parsed::Base(base, Some(mode)));
    }
    if lower_eq(word, b"begin") {
        let (a, b) = next_token(s, b);
        if lower_eq(slice(s, a, b), b"triggerblock") {
            let (c, _) = next_token(s, b);
            if c >= s.len() {
                return Ok(Parsed::BeginBlock(None));
            }
            return match parse_date(s, b) {
                Ok(d) => Ok(Parsed::BeginBlock(Some((d, c)))),
                Err((pos, e)) => bad(pos, ErrorKind::InvalidDate(e)),
            };
        }
    }
    Ok(Parsed::Other)
}

/// An event after its time (`p` just past the time token).
fn parse_event(s: &[u8], p: usize, base: Base, offset: Offset) -> Result<Parsed, Bad> {
    let (a, b) = next_token(s, p);
    let word = slice(s, a, b);
    let event = |skipped| Ok(Parsed::Event { offset, skipped });
    match word {
        [] => bad(a, ErrorKind::MissingEvent),
        b"CANFD" => parse_canfd(s, b, offset),
        b"CANXL" => parse_canxl(s, b, offset),
        w if w.iter().all(u8::is_ascii_digit) => parse_channel_event(s, a, b, base, offset),
        b"Start" | b"start" | b"log" | b"Log" => event(None),
        w => event(Some(other_event_name(w))),
    }
}

/// What a timed line that is not a CAN frame is, for people.
fn other_event_name(word: &[u8]) -> &'static str {
    let starts = |p: &[u8]| {
        word.get(..p.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(p))
    };
    match word {
        b"CAN" => "CAN controller status",
        b"SV:" => "system variable",
        b"EV:" => "environment variable",
        _ if starts(b"Li") => "LIN event",
        _ if starts(b"Fr") || starts(b"FlexRay") => "FlexRay event",
        _ if starts(b"ETH") => "Ethernet event",
        _ if starts(b"MOST") => "MOST event",
        _ if starts(b"KLine") || starts(b"K-Line") => "K-Line event",
        _ if starts(b"AFDX") => "AFDX event",
        _ if starts(b"GPS") => "GPS event",
        _ => "non-CAN event",
    }
}

fn channel_number(tok: &[u8]) -> Option<u32> {
    if tok.len() > 9 {
        return None;
    }
    number(tok, Base::Dec).and_then(|v| u32::try_from(v).ok())
}

/// `<ch> ...`: a classic CAN frame, an error frame, or a channel event we skip.
fn parse_channel_event(
    s: &[u8],
    ch_start: usize,
    ch_end: usize,
    base: Base,
    offset: Offset,
) -> Result<Parsed, Bad> {
    let channel = match channel_number(slice(s, ch_start, ch_end)) {
        Some(c) => c,
        None => return bad(ch_start, ErrorKind::InvalidChannel),
    };
    let (ia, ib) = next_token(s, ch_end);
    let id_tok = slice(s, ia, ib);
    let skipped = |name| {
        Ok(Parsed::Event {
            offset,
            skipped: Some(name),
        })
    };
    if id_tok.is_empty() {
        return bad(ia, ErrorKind::MissingChannelEvent);
    }
    if id_tok
        .get(..10)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"errorframe"))
    {
        return Ok(Parsed::Frame {
            offset,
            channel,
            frame: error_frame(ia)?,
            direction: None,
        });
    }
    match id_tok {
        b"OverloadFrame" => return skipped("CAN overload frame"),
        b"Statistic:" => return skipped("CAN bus statistics"),
        b"J1939TP" => return skipped("J1939 transport protocol message"),
        _ => {}
    }
    let (da, db) = next_token(s, ib);
    let dir = match direction(slice(s, da, db)) {
        Some(d) => d,
        None if parse_id(id_tok, base).is_ok() => return bad(da, ErrorKind::ExpectedDirection),
        None => return skipped("other CAN event"),
    };
    if dir == Dir::TxRq {
        return skipped("CAN transmit request (TxRq)");
    }
    let (ka, kb) = next_token(s, db);
    let (frame, end) = match slice(s, ka, kb) {
        b"d" | b"D" => {
            let (la, lb) = next_token(s, kb);
            let dlc = parse_dlc(slice(s, la, lb), base).ok_or(Bad {
                pos: la,
                kind: ErrorKind::InvalidDlc,
            })?;
            let len = dlc.min(8);
            let mut data = [0u8; 8];
            let fast = match (base, data.get_mut(..usize::from(len))) {
                (Base::Hex, Some(out)) => hex_bytes_fast(s, lb, out),
                _ => None,
            };
            let mut q = lb;
            for (i, slot) in
                data.iter_mut()
                    .enumerate()
                    .take(if fast.is_some() { 0 } else { usize::from(len) })
            {
                let (xa, xb) = next_token(s, q);
                let tok = slice(s, xa, xb);
                if tok.is_empty() {
                    return bad(
                        xa,
                        ErrorKind::MissingData {
                            expected: len,
                            found: u8::try_from(i).unwrap_or(u8::MAX),
                        },
                    );
                }
                *slot = data_byte(tok, base).ok_or_else(|| Bad {
                    pos: xa,
                    kind: data_byte_error(tok, base),
                })?;
                q = xb;
            }
            if let Some(end) = fast {
                q = end;
            }
            let (xa, xb) = next_token(s, q);
            if data_byte(slice(s, xa, xb), base).is_some() {
                return bad(xa, ErrorKind::TooManyData(dlc));
            }
            let id = message_id(s, ia, ib, q, base)?;
            let frame = if dlc > 8 {
                ClassicFrame::with_raw_dlc(id, data, dlc)
            } else {
                ClassicFrame::new(id, data.get(..usize::from(len)).unwrap_or_default())
            };
            (frame.map(Frame::Classic), la)
        }
        b"r" | b"R" => {
            let (la, lb) = next_token(s, kb);
            let (dlc, q) = match parse_dlc(slice(s, la, lb), base) {
                Some(d) => (d, lb),
                None => (0, kb),
            };
            let (xa, xb) = next_token(s, q);
            if data_byte(slice(s, xa, xb), base).is_some() {
                return bad(xa, ErrorKind::TooManyData(dlc));
            }
            let id = message_id(s, ia, ib, q, base)?;
            let frame = if dlc > 8 {
                RemoteFrame::with_raw_dlc(id, dlc)
            } else {
                RemoteFrame::new(id, dlc)
            };
            (frame.map(Frame::Remote), la)
        }
        _ => return bad(ka, ErrorKind::ExpectedFrameKind),
    };
    let frame = frame.map_err(|_| Bad {
        pos: end,
        kind: ErrorKind::InvalidDlc,
    })?;
    Ok(Parsed::Frame {
        offset,
        channel,
        frame,
        direction: Some(dir.direction()),
    })
}

/// The frame an ASC error frame becomes: `CAN_ERR_BUSERROR` with eight zero bytes.
fn error_frame(pos: usize) -> Result<Frame, Bad> {
    ErrorFrame::new(ERROR_FRAME_CLASS, [0; 8])
        .map(Frame::Error)
        .map_err(|_| Bad {
            pos,
            kind: ErrorKind::MissingChannelEvent,
        })
}

/// The id of a classic message line: the `ID = <n>[x]` field after the data when there is one
/// (the id column may hold a symbolic name), else the id column.
fn message_id(s: &[u8], ia: usize, ib: usize, after: usize, base: Base) -> Result<Id, Bad> {
    if let Some(found) = id_field(s, after) {
        return found;
    }
    let tok = slice(s, ia, ib);
    parse_id(tok, base).map_err(|(pos, kind)| match kind {
        ErrorKind::InvalidId(_) if !tok.first().is_some_and(u8::is_ascii_digit) => Bad {
            pos: ia,
            kind: ErrorKind::SymbolicId,
        },
        kind => Bad {
            pos: ia + pos,
            kind,
        },
    })
}

/// Finds `ID = <decimal>[x]` among the trailing fields from `p`.
fn id_field(s: &[u8], mut p: usize) -> Option<Result<Id, Bad>> {
    loop {
        let (a, b) = next_token(s, p);
        if a >= s.len() {
            return None;
        }
        let tok = slice(s, a, b);
        if tok.len() >= 2 && tok.get(..2) == Some(b"ID") {
            // `ID = 291`, `ID=291`, `ID =291`, `ID= 291`.
            let mut q = a + 2;
            q = skip_blanks(s, q);
            if s.get(q) == Some(&b'=') {
                let (na, nb) = next_token(s, q + 1);
                return Some(
                    parse_id(slice(s, na, nb), Base::Dec).map_err(|(pos, kind)| Bad {
                        pos: na + pos,
                        kind,
                    }),
                );
            }
        }
        p = b;
    }
}

/// `CANFD <ch> ...` after the `CANFD` keyword.
fn parse_canfd(s: &[u8], p: usize, offset: Offset) -> Result<Parsed, Bad> {
    let (ca, cb) = next_token(s, p);
    let channel = channel_number(slice(s, ca, cb)).ok_or(Bad {
        pos: ca,
        kind: ErrorKind::InvalidChannel,
    })?;
    let (a, b) = next_token(s, cb);
    let skipped = |name| {
        Ok(Parsed::Event {
            offset,
            skipped: Some(name),
        })
    };
    let Some(dir) = direction(slice(s, a, b)) else {
        // The older layout: `CANFD <ch> <id> <dir> <brs> <esi> d|r <dlc> <len> <data...>`.
        let tok = slice(s, a, b);
        if tok.is_empty() {
            return bad(a, ErrorKind::MissingChannelEvent);
        }
        if parse_id(tok, Base::Hex).is_err() {
            return skipped("CAN FD channel event");
        }
        return parse_canfd_old(s, a, b, channel, offset);
    };
    if dir == Dir::TxRq {
        return skipped("CAN transmit request (TxRq)");
    }
    let (ia, ib) = next_token(s, b);
    let id_tok = slice(s, ia, ib);
    if id_tok
        .get(..10)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"errorframe"))
    {
        return Ok(Parsed::Frame {
            offset,
            channel,
            frame: error_frame(ia)?,
            direction: Some(dir.direction()),
        });
    }
    if id_tok.is_empty() {
        return bad(ia, ErrorKind::MissingChannelEvent);
    }
    let id = parse_id(id_tok, Base::Hex).map_err(|(pos, kind)| Bad {
        pos: ia + pos,
        kind,
    })?;
    // An optional symbolic name, then BRS and ESI.
    let (mut a, mut b) = next_token(s, ib);
    if !slice(s, a, b).first().is_some_and(u8::is_ascii_digit) {
        // A symbolic name: an identifier, never starting with a digit.
        (a, b) = next_token(s, b);
    }
    let brs = flag01(slice(s, a, b)).ok_or(Bad {
        pos: a,
        kind: ErrorKind::ExpectedBrsEsi,
    })?;
    let (ea, eb) = next_token(s, b);
    let esi = flag01(slice(s, ea, eb)).ok_or(Bad {
        pos: ea,
        kind: ErrorKind::ExpectedBrsEsi,
    })?;
    let (la, lb) = next_token(s, eb);
    let dlc = parse_fd_dlc(slice(s, la, lb)).ok_or(Bad {
        pos: la,
        kind: ErrorKind::InvalidDlc,
    })?;
    let (na, nb) = next_token(s, lb);
    let len = small(slice(s, na, nb), 2)
        .and_then(|v| u8::try_from(v).ok())
        .filter(|&v| v <= 64)
        .ok_or(Bad {
            pos: na,
            kind: ErrorKind::ExpectedDataLength,
        })?;
    let mut data = [0u8; 64];
    let q = fd_data(s, nb, len, &mut data)?;
    // Message duration, bit count, then the flags (hex).
    let (_, d1) = next_token(s, q);
    let (_, d2) = next_token(s, d1);
    let (fa, fb) = next_token(s, d2);
    let flags = match slice(s, fa, fb) {
        [] => None,
        tok if tok.len() <= 8 => Some(number(tok, Base::Hex).ok_or(Bad {
            pos: fa,
            kind: ErrorKind::InvalidFlags,
        })?),
        _ => return bad(fa, ErrorKind::InvalidFlags),
    };
    let flags = flags.and_then(|f| u32::try_from(f).ok());
    let fd = flags.is_none_or(|f| f & FLAG_FDF != 0);
    let rtr = flags.is_some_and(|f| f & FLAG_RTR != 0);
    let frame = if fd {
        fd_frame(id, dlc, len, &data, brs, esi, na)?
    } else if rtr {
        remote(id, dlc, la)?
    } else {
        classic(id, dlc, len, &data, na)?
    };
    Ok(Parsed::Frame {
        offset,
        channel,
        frame,
        direction: Some(dir.direction()),
    })
}

/// `CANXL <ch> <dir> <format> <duration> <bits> <id>[x] [<name>] <dlc> <len> <data...> ...`:
/// classic (`CBFF`, `CEFF`) and CAN FD (`FBFF`, `FEFF`) frames on a CAN XL channel (Vector's
/// ASC specification 1.4.17, as can-utils' `asc2log` reads them). After the data come, for
/// classic frames, the CRC and the flags; for CAN FD frames the stuff bit count, the CRC and
/// the flags (`0x10` remote, `0x1000` FDF, `0x2000` BRS, `0x4000` ESI). CAN XL frames
/// (`XLFF`) are skipped.
fn parse_canxl(s: &[u8], p: usize, offset: Offset) -> Result<Parsed, Bad> {
    let (ca, cb) = next_token(s, p);
    let channel = channel_number(slice(s, ca, cb)).ok_or(Bad {
        pos: ca,
        kind: ErrorKind::InvalidChannel,
    })?;
    let (da, db) = next_token(s, cb);
    let dir = direction(slice(s, da, db)).ok_or(Bad {
        pos: da,
        kind: ErrorKind::ExpectedDirection,
    })?;
    let skipped = |name| {
        Ok(Parsed::Event {
            offset,
            skipped: Some(name),
        })
    };
    let (fa, fb) = next_token(s, db);
    let (extended, fd) = match slice(s, fa, fb) {
        b"CBFF" => (false, false),
        b"CEFF" => (true, false),
        b"FBFF" => (false, true),
        b"FEFF" => (true, true),
        b"XLFF" => return skipped("CAN XL frame"),
        _ => return skipped("CAN XL channel event"),
    };
    if dir == Dir::TxRq {
        return skipped("CAN transmit request (TxRq)");
    }
    // Message duration and bit count, then the id.
    let (_, b1) = next_token(s, fb);
    let (_, b2) = next_token(s, b1);
    let (ia, ib) = next_token(s, b2);
    let id_tok = slice(s, ia, ib);
    let digits = id_tok.strip_suffix(b"x").unwrap_or(id_tok);
    let raw = number(digits, Base::Hex).ok_or(Bad {
        pos: ia,
        kind: ErrorKind::InvalidId(first_bad_digit(digits, Base::Hex)),
    })?;
    let id = make_id(raw, extended).map_err(|kind| Bad { pos: ia, kind })?;
    // `[<name>] <dlc> <len>`: without a name, a DLC digit and a decimal length follow the id.
    let (mut la, mut lb) = next_token(s, ib);
    let (na, nb) = next_token(s, lb);
    let plain = parse_fd_dlc(slice(s, la, lb)).is_some() && small(slice(s, na, nb), 2).is_some();
    if !plain {
        (la, lb) = (na, nb);
    }
    let dlc = parse_fd_dlc(slice(s, la, lb)).ok_or(Bad {
        pos: la,
        kind: ErrorKind::InvalidDlc,
    })?;
    let (na, nb) = next_token(s, lb);
    let len = small(slice(s, na, nb), 2)
        .and_then(|v| u8::try_from(v).ok())
        .filter(|&v| v <= 64)
        .ok_or(Bad {
            pos: na,
            kind: ErrorKind::ExpectedDataLength,
        })?;
    let mut data = [0u8; 64];
    let mut q = fd_data(s, nb, len, &mut data)?;
    if fd {
        q = next_token(s, q).1; // stuff bit count
    }
    let (_, crc_end) = next_token(s, q);
    let (ga, gb) = next_token(s, crc_end);
    let flags = match slice(s, ga, gb) {
        tok if (1..=8).contains(&tok.len()) => number(tok, Base::Hex),
        _ => None,
    }
    .and_then(|f| u32::try_from(f).ok())
    .ok_or(Bad {
        pos: ga,
        kind: ErrorKind::InvalidFlags,
    })?;
    let frame = if fd {
        fd_frame(
            id,
            dlc,
            len,
            &data,
            flags & FLAG_BRS != 0,
            flags & FLAG_ESI != 0,
            na,
        )?
    } else if flags & FLAG_RTR != 0 {
        remote(id, dlc, la)?
    } else {
        classic(id, dlc, len, &data, na)?
    };
    Ok(Parsed::Frame {
        offset,
        channel,
        frame,
        direction: Some(dir.direction()),
    })
}

/// `CANFD <ch> <id> <dir> <brs> <esi> d|r <dlc> <len> <data...> [Length = ...]`.
fn parse_canfd_old(
    s: &[u8],
    ia: usize,
    ib: usize,
    channel: u32,
    offset: Offset,
) -> Result<Parsed, Bad> {
    let id = parse_id(slice(s, ia, ib), Base::Hex).map_err(|(pos, kind)| Bad {
        pos: ia + pos,
        kind,
    })?;
    let (da, db) = next_token(s, ib);
    let dir = direction(slice(s, da, db)).ok_or(Bad {
        pos: da,
        kind: ErrorKind::ExpectedDirection,
    })?;
    if dir == Dir::TxRq {
        return Ok(Parsed::Event {
            offset,
            skipped: Some("CAN transmit request (TxRq)"),
        });
    }
    let (a, b) = next_token(s, db);
    let brs = flag01(slice(s, a, b)).ok_or(Bad {
        pos: a,
        kind: ErrorKind::ExpectedBrsEsi,
    })?;
    let (ea, eb) = next_token(s, b);
    let esi = flag01(slice(s, ea, eb)).ok_or(Bad {
        pos: ea,
        kind: ErrorKind::ExpectedBrsEsi,
    })?;
    let (ka, kb) = next_token(s, eb);
    let remote_frame = match slice(s, ka, kb) {
        b"d" | b"D" => false,
        b"r" | b"R" => true,
        _ => return bad(ka, ErrorKind::ExpectedFrameKind),
    };
    let (la, lb) = next_token(s, kb);
    let dlc = parse_fd_dlc(slice(s, la, lb)).ok_or(Bad {
        pos: la,
        kind: ErrorKind::InvalidDlc,
    })?;
    let frame = if remote_frame {
        remote(id, dlc, la)?
    } else {
        let (na, nb) = next_token(s, lb);
        let len = small(slice(s, na, nb), 2)
            .and_then(|v| u8::try_from(v).ok())
            .filter(|&v| v <= 64)
            .ok_or(Bad {
                pos: na,
                kind: ErrorKind::ExpectedDataLength,
            })?;
        let mut data = [0u8; 64];
        fd_data(s, nb, len, &mut data)?;
        fd_frame(id, dlc, len, &data, brs, esi, na)?
    };
    Ok(Parsed::Frame {
        offset,
        channel,
        frame,
        direction: Some(dir.direction()),
    })
}

fn flag01(tok: &[u8]) -> Option<bool> {
    match tok {
        b"0" => Some(false),
        b"1" => Some(true),
        _ => None,
    }
}

/// `len` hex bytes from `p` into `data`; the position after them.
fn fd_data(s: &[u8], p: usize, len: u8, data: &mut [u8; 64]) -> Result<usize, Bad> {
    if let Some(out) = data.get_mut(..usize::from(len))
        && let Some(end) = hex_bytes_fast(s, p, out)
    {
        return Ok(end);
    }
    let mut q = p;
    for (i, slot) in data.iter_mut().enumerate().take(usize::from(len)) {
        let (xa, xb) = next_token(s, q);
        let tok = slice(s, xa, xb);
        if tok.is_empty() {
            return bad(
                xa,
                ErrorKind::MissingData {
                    expected: len,
                    found: u8::try_from(i).unwrap_or(u8::MAX),
                },
            );
        }
        *slot = data_byte(tok, Base::Hex).ok_or_else(|| Bad {
            pos: xa,
            kind: data_byte_error(tok, Base::Hex),
        })?;
        q = xb;
    }
    Ok(q)
}

fn fd_frame(
    id: Id,
    dlc: u8,
    len: u8,
    data: &[u8; 64],
    brs: bool,
    esi: bool,
    len_pos: usize,
) -> Result<Frame, Bad> {
    let Some(expected) = fd_len_to_dlc(usize::from(len)) else {
        return bad(len_pos, ErrorKind::FdLength(len));
    };
    if expected != dlc {
        return bad(len_pos, ErrorKind::DlcMismatch { dlc, len });
    }
    let flags = FdFlags::fd(brs, esi);
    FdFrame::new(id, data.get(..usize::from(len)).unwrap_or_default(), flags)
        .map(Frame::Fd)
        .map_err(|_| Bad {
            pos: len_pos,
            kind: ErrorKind::FdLength(len),
        })
}

fn remote(id: Id, dlc: u8, pos: usize) -> Result<Frame, Bad> {
    let r = if dlc > 8 {
        RemoteFrame::with_raw_dlc(id, dlc)
    } else {
        RemoteFrame::new(id, dlc)
    };
    r.map(Frame::Remote).map_err(|_| Bad {
        pos,
        kind: ErrorKind::InvalidDlc,
    })
}

/// A classic frame from a `CANFD` line without the FDF flag.
fn classic(id: Id, dlc: u8, len: u8, data: &[u8; 64], len_pos: usize) -> Result<Frame, Bad> {
    if len > 8 {
        return bad(len_pos, ErrorKind::ClassicLength(len));
    }
    let f = if dlc > 8 {
        if len != 8 {
            return bad(len_pos, ErrorKind::DlcMismatch { dlc, len });
        }
        let mut eight = [0u8; 8];
        eight.copy_from_slice(data.get(..8).unwrap_or(&[0; 8]));
        ClassicFrame::with_raw_dlc(id, eight, dlc)
    } else {
        if dlc != len {
            return bad(len_pos, ErrorKind::DlcMismatch { dlc, len });
        }
        ClassicFrame::new(id, data.get(..usize::from(len)).unwrap_or_default())
    };
    f.map(Frame::Classic).map_err(|_| Bad {
        pos: len_pos,
        kind: ErrorKind::ClassicLength(len),
    })
}

// ---------------------------------------------------------------------------------------------
// Reader

enum LineRead {
    Eof,
    Line,
    TooLong,
}

/// What a line gave, without borrowing the reader.
enum Step {
    Eof,
    Record {
        timestamp: Timestamp,
        precision: Precision,
        channel: usize,
        frame: Frame,
        direction: Option<Direction>,
    },
    /// A line of the format without a frame: the byte range of its text.
    Other {
        start: usize,
        end: usize,
    },
    Skipped(&'static str),
    Bad(FormatError),
}

/// A streaming ASC reader over any [`BufRead`], reusing one line buffer.
pub struct Reader<R> {
    inner: R,
    line: Vec<u8>,
    /// Non-UTF-8 text lines, converted for [`Item::Other`].
    text: String,
    source_name: Option<Arc<str>>,
    stats: Stats,
    lines: u64,
    max_line_len: usize,
    base: Base,
    clock: Clock,
    utc_offset: i32,
    /// Channel numbers and their interface names (`can{N-1}`), in order of appearance.
    channels: Vec<(u32, String)>,
    last_channel: usize,
}

impl<R: BufRead> Reader<R> {
    /// A reader without a source name, reading dates as UTC.
    pub fn new(inner: R) -> Self {
        Reader {
            inner,
            line: Vec::with_capacity(256),
            text: String::new(),
            source_name: None,
            stats: Stats::default(),
            lines: 0,
            max_line_len: MAX_LINE_LEN,
            base: Base::Hex,
            clock: Clock::default(),
            utc_offset: 0,
            channels: Vec::new(),
            last_channel: 0,
        }
    }

    /// Names the source (a file path) in error messages: `capture.asc:17:24: ...`.
    pub fn with_source_name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.source_name = Some(name.into());
        self
    }

    /// How far the wall clock that wrote the dates was from UTC, in seconds east of UTC
    /// (`3600` for CET, `7200` for CEST); dates are read as UTC by default.
    pub fn with_utc_offset(mut self, seconds_east: i32) -> Self {
        self.utc_offset = seconds_east;
        self
    }

    /// Sets the longest accepted line (at least 1 byte).
    pub fn with_max_line_len(mut self, max: usize) -> Self {
        self.max_line_len = max.max(1);
        self
    }

    /// Lines read so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The base of the file, as its header says so far (`hex` until a `base` line).
    pub fn base(&self) -> Base {
        self.base
    }

    /// What event times mean, as the header says so far.
    pub fn timestamps_mode(&self) -> TimestampsMode {
        self.clock.mode
    }

    /// The start of the measurement on the capture's time line, once the first event fixed
    /// it (`None` before, or when it lies before 1970).
    pub fn start(&self) -> Option<Timestamp> {
        self.clock.start.and_then(to_timestamp)
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Reads the next line into the buffer, bounded by `max_line_len`.
    fn read_line(&mut self) -> io::Result<LineRead> {
        self.line.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            any = true;
            let (chunk, used, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (available.get(..i).unwrap_or_default(), i + 1, true),
                None => (available, available.len(), false),
            };
            if !too_long {
                if self.line.len() + chunk.len() > self.max_line_len {
                    too_long = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(chunk);
                }
            }
            self.inner.consume(used);
            if done {
                break;
            }
        }
        Ok(match (any, too_long) {
            (false, _) => LineRead::Eof,
            (true, false) => LineRead::Line,
            (true, true) => LineRead::TooLong,
        })
    }

    fn error(&mut self, pos: usize, kind: ErrorKind) -> Step {
        self.stats.bad += 1;
        Step::Bad(FormatError {
            source_name: self.source_name.clone(),
            format: Format::Asc,
            location: Location::Line {
                line: self.lines,
                column: pos + 1,
            },
            kind: FormatErrorKind::Asc(kind),
        })
    }

    /// The index of `channel` in the table of channel names (added at its first appearance).
    fn channel_index(&mut self, channel: u32) -> usize {
        if let Some((c, _)) = self.channels.get(self.last_channel)
            && *c == channel
        {
            return self.last_channel;
        }
        let i = match self.channels.iter().position(|(c, _)| *c == channel) {
            Some(i) => i,
            None => {
                self.channels.push((channel, channel_interface(channel)));
                self.channels.len() - 1
            }
        };
        self.last_channel = i;
        i
    }

    /// Places an event time on the capture's time line.
    fn place(&mut self, offset: Offset) -> Option<Timestamp> {
        to_timestamp(self.clock.place(offset.nanos))
    }

    /// Reads and classifies one line without borrowing it.
    fn step(&mut self) -> Result<Step, ReadError> {
        let read = self.read_line().map_err(|error| ReadError::Io {
            source_name: self.source_name.clone(),
            location: Location::Line {
                line: self.lines + 1,
                column: 1,
            },
            error,
        })?;
        match read {
            LineRead::Eof => return Ok(Step::Eof),
            LineRead::TooLong => {
                self.lines += 1;
                let limit = self.max_line_len;
                return Ok(self.error(limit, ErrorKind::LineTooLong(limit)));
            }
            LineRead::Line => self.lines += 1,
        }
        // A UTF-8 byte order mark before the first line.
        let skip = if self.lines == 1 && self.line.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        let end = trimmed_len(&self.line);
        let s = self.line.get(skip..end).unwrap_or_default();
        let lead = skip + skip_blanks(s, 0);
        let parsed = parse_line(s, self.base);
        Ok(match parsed {
            Parsed::Frame {
                offset,
                channel,
                frame,
                direction,
            } => match self.place(offset) {
                Some(timestamp) => {
                    self.stats.records += 1;
                    Step::Record {
                        timestamp,
                        precision: if offset.digits > 6 {
                            Precision::Nanos
                        } else {
                            Precision::Micros
                        },
                        channel: self.channel_index(channel),
                        frame,
                        direction,
                    }
                }
                None => self.error(lead, ErrorKind::TimestampOutOfRange),
            },
            Parsed::Event { offset, skipped } => {
                self.place(offset);
                match skipped {
                    Some(name) => {
                        self.stats.skipped += 1;
                        Step::Skipped(name)
                    }
                    None => self.other(skip, end),
                }
            }
            Parsed::Date(date, pos) => self.header_date(skip, skip + pos, end, date, false),
            Parsed::BeginBlock(Some((date, pos))) => {
                self.header_date(skip, skip + pos, end, date, true)
            }
            Parsed::Base(base, mode) => {
                self.base = base;
                self.clock.base_seen = true;
                if let Some(mode) = mode {
                    self.clock.mode = mode;
                    self.clock.mode_declared = true;
                }
                self.other(skip, end)
            }
            Parsed::BeginBlock(None) | Parsed::Other => self.other(skip, end),
            Parsed::Bad { offset, bad } => {
                if let Some(offset) = offset {
                    self.place(offset);
                }
                self.error(skip + bad.pos, bad.kind)
            }
        })
    }

    fn other(&mut self, start: usize, end: usize) -> Step {
        self.stats.other += 1;
        Step::Other { start, end }
    }

    /// A `date` line or a `Begin Triggerblock` date, before the first event.
    fn header_date(
        &mut self,
        skip: usize,
        pos: usize,
        end: usize,
        date: AscDate,
        block: bool,
    ) -> Step {
        let nanos = date.unix_nanos(self.utc_offset);
        if nanos < 0 {
            return self.error(pos, ErrorKind::InvalidDate(DateError::BeforeEpoch));
        }
        if self.clock.start.is_none() {
            if block {
                if self.clock.block_date.is_none() {
                    self.clock.block_date = Some(nanos);
                }
            } else {
                self.clock.header_date = Some((nanos, date.time_of_day_nanos()));
            }
        }
        self.other(skip, end)
    }

    fn item_from(&mut self, step: Step) -> Option<Item<'_>> {
        Some(match step {
            Step::Eof => return None,
            Step::Record {
                timestamp,
                precision,
                channel,
                frame,
                direction,
            } => Item::Record(Record {
                timestamp,
                precision,
                interface: self
                    .channels
                    .get(channel)
                    .map_or("can0", |(_, name)| name.as_str()),
                frame,
                direction,
            }),
            Step::Other { start, end } => {
                let bytes = self.line.get(start..end).unwrap_or_default();
                match core::str::from_utf8(bytes) {
                    Ok(text) => Item::Other(text),
                    Err(_) => {
                        self.text.clear();
                        if let Cow::Owned(t) = String::from_utf8_lossy(bytes) {
                            self.text = t;
                        }
                        Item::Other(self.text.as_str())
                    }
                }
            }
            Step::Skipped(name) => Item::Skipped(name),
            Step::Bad(e) => Item::Bad(ReadError::Format(e)),
        })
    }
}

impl<R: BufRead + Send> super::FrameReader for Reader<R> {
    fn read_item(&mut self) -> Result<Option<Item<'_>>, ReadError> {
        let step = self.step()?;
        Ok(self.item_from(step))
    }

    fn format(&self) -> Format {
        Format::Asc
    }

    fn stats(&self) -> Stats {
        self.stats
    }
}

/// Whether `head` (the first bytes of a capture) looks like an ASC log: after an optional
/// UTF-8 byte order mark, blank lines and `//` comments, its first line is a `date` line with
/// a date this module reads, or a `base hex|dec` line, or a `date <word> ...` line followed
/// within the next few lines by a `base hex|dec` line.
pub fn sniff(head: &[u8]) -> bool {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.get(..trimmed_len(l)).unwrap_or_default())
        .filter(|l| {
            let t = l.trim_ascii_start();
            !t.is_empty() && !t.starts_with(b"//")
        });
    let Some(first) = lines.next() else {
        return false;
    };
    if is_base_line(first) {
        return true;
    }
    let (a, b) = next_token(first, 0);
    if !lower_eq(slice(first, a, b), b"date") {
        return false;
    }
    if parse_date(first, b).is_ok() {
        return true;
    }
    let (wa, wb) = next_token(first, b);
    is_word(slice(first, wa, wb)) && lines.take(4).any(is_base_line)
}

fn is_base_line(line: &[u8]) -> bool {
    let (a, b) = next_token(line, 0);
    let (c, d) = next_token(line, b);
    lower_eq(slice(line, a, b), b"base")
        && matches!(
            slice(line, c, d).to_ascii_lowercase().as_slice(),
            b"hex" | b"dec"
        )
}

// ---------------------------------------------------------------------------------------------
// Writer

/// How a [`Writer`] lays out a file.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    /// `timestamps absolute` (the default: seconds since the start, what python-can and
    /// CANoe write) or `timestamps relative` (seconds since the previous event).
    pub timestamps: TimestampsMode,
    /// Fraction digits of event times: 6 (the default; can-utils' `asc2log` reads no more) or 9.
    pub precision: Precision,
    /// Seconds east of UTC of the wall clock the dates are written in (0: UTC).
    pub utc_offset_secs: i32,
    /// The start of the measurement; by default the first record's time. Cut to whole
    /// milliseconds (what the `date` line holds).
    pub start: Option<Timestamp>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            timestamps: TimestampsMode::Absolute,
            precision: Precision::Micros,
            utc_offset_secs: 0,
            start: None,
        }
    }
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";
const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Thu May 16 06:16:50.884 pm 2024`: the date as CANoe writes it in English (12 h clock,
/// milliseconds), of the time `at` on a wall clock `utc_offset_secs` east of UTC.
fn format_date(out: &mut Vec<u8>, at: Timestamp, utc_offset_secs: i32) {
    let local = i128::from(at.as_nanos()) + i128::from(utc_offset_secs) * NANOS_PER_SEC;
    let local = u64::try_from(local.max(0)).unwrap_or(u64::MAX);
    let t = Timestamp::from_nanos(local);
    let c = UtcTime::of(t);
    let days = t.secs() / 86_400;
    let weekday = WEEKDAYS.get((days % 7) as usize).copied().unwrap_or("Thu");
    let month = MONTH_NAMES
        .get(c.month.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("Jan");
    let (hour12, meridian) = match c.hour {
        0 => (12, "am"),
        h @ 1..=11 => (h, "am"),
        12 => (12, "pm"),
        h => (h - 12, "pm"),
    };
    let _ = write!(
        out,
        "{weekday} {month} {} {hour12:02}:{:02}:{:02}.{:03} {meridian} {}",
        c.day,
        c.minute,
        c.second,
        t.subsec_nanos() / 1_000_000,
        c.year
    );
}

/// Writes ASC logs into any [`Write`], formatting each line into one reusable buffer.
pub struct Writer<W: Write> {
    inner: W,
    buf: Vec<u8>,
    options: WriteOptions,
    channels: ChannelMap,
    /// The start (whole milliseconds), once the header is written.
    start: Option<u64>,
    /// The last time written (relative files write the difference to it).
    last: u64,
    losses: Losses,
    finished: bool,
}

impl<W: Write> Writer<W> {
    /// A writer with the default options.
    pub fn new(inner: W) -> Self {
        Self::with_options(inner, WriteOptions::default())
    }

    /// A writer with the given options.
    pub fn with_options(inner: W, options: WriteOptions) -> Self {
        Writer {
            inner,
            buf: Vec::with_capacity(512),
            options,
            channels: ChannelMap::new(),
            start: None,
            last: 0,
            losses: Losses::default(),
            finished: false,
        }
    }

    /// The interfaces seen so far and the channel each was written as.
    pub fn channel_map(&self) -> &ChannelMap {
        &self.channels
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The underlying writer (not flushed; the trailer is only there when
    /// [`FrameWriter::finish`](super::FrameWriter::finish) ran).
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// Writes the header for a capture starting at `start` nanoseconds (whole milliseconds).
    fn header(&mut self, start: u64) {
        let at = Timestamp::from_nanos(start);
        let b = &mut self.buf;
        b.extend_from_slice(b"date ");
        format_date(b, at, self.options.utc_offset_secs);
        b.extend_from_slice(match self.options.timestamps {
            TimestampsMode::Absolute => b"\nbase hex  timestamps absolute\n".as_slice(),
            TimestampsMode::Relative => b"\nbase hex  timestamps relative\n".as_slice(),
        });
        b.extend_from_slice(b"internal events logged\nBegin Triggerblock ");
        format_date(b, at, self.options.utc_offset_secs);
        b.push(b'\n');
        self.push_time(0);
        self.buf.extend_from_slice(b" Start of measurement\n");
        self.start = Some(start);
        self.last = start;
    }

    /// Event time `offset` (nanoseconds), right-aligned as CANoe writes it (`   2.501000`).
    fn push_time(&mut self, offset: u64) {
        let t = Timestamp::from_nanos(offset);
        let mut secs = itoa::Buffer::new();
        let secs = secs.format(t.secs());
        for _ in secs.len()..4 {
            self.buf.push(b' ');
        }
        self.buf.extend_from_slice(secs.as_bytes());
        self.buf.push(b'.');
        let (mut v, n) = match self.options.precision {
            Precision::Micros => (t.subsec_micros(), 6),
            Precision::Nanos => (t.subsec_nanos(), 9),
        };
        let mut digits = [b'0'; 9];
        for slot in digits.iter_mut().take(n).rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        self.buf
            .extend_from_slice(digits.get(..n).unwrap_or_default());
    }

    fn push_id(&mut self, id: Id, width: usize, left: bool) {
        let mut text = [0u8; 9];
        let mut n = 0;
        let raw = id.raw();
        let mut started = false;
        for shift in (0..8).rev() {
            let d = (raw >> (shift * 4)) & 0xF;
            if d != 0 || started || shift == 0 {
                started = true;
                if let Some(slot) = text.get_mut(n) {
                    *slot = HEX_UPPER[d as usize];
                }
                n += 1;
            }
        }
        if id.is_extended() {
            if let Some(slot) = text.get_mut(n) {
                *slot = b'x';
            }
            n += 1;
        }
        let text = text.get(..n).unwrap_or_default();
        if !left {
            for _ in n..width {
                self.buf.push(b' ');
            }
        }
        self.buf.extend_from_slice(text);
        if left {
            for _ in n..width {
                self.buf.push(b' ');
            }
        }
    }

    fn push_bytes(&mut self, data: &[u8]) {
        for &b in data {
            self.buf.push(b' ');
            self.buf.push(HEX_UPPER[usize::from(b >> 4)]);
            self.buf.push(HEX_UPPER[usize::from(b & 0xF)]);
        }
    }

    fn push_channel(&mut self, channel: u32) {
        let mut t = itoa::Buffer::new();
        self.buf.extend_from_slice(t.format(channel).as_bytes());
    }

    /// Formats one record's line into the buffer (after the header).
    fn format(&mut self, record: &Record<'_>) {
        let Some(start) = self.start else { return };
        let mut t = record.timestamp.as_nanos();
        if t < start {
            self.losses.add(
                "time before the start of the capture (written at the start)",
                false,
            );
            t = start;
        }
        let mut offset = t - start;
        if self.options.precision == Precision::Micros && !offset.is_multiple_of(1_000) {
            self.losses.add("time digits below a microsecond", false);
            offset -= offset % 1_000;
        }
        let written = start.saturating_add(offset);
        let shown = match self.options.timestamps {
            TimestampsMode::Absolute => offset,
            TimestampsMode::Relative => {
                if written < self.last {
                    self.losses.add(
                        "time earlier than the previous record (relative times cannot go \
                         back: written at the previous time)",
                        false,
                    );
                    0
                } else {
                    let d = written - self.last;
                    self.last = written;
                    d
                }
            }
        };
        self.push_time(shown);
        self.buf.push(b' ');
        let channel = self.channels.channel(record.interface);
        let dir: &[u8] = match record.direction {
            Some(Direction::Tx) => b"Tx",
            Some(Direction::Rx) | None => b"Rx",
        };
        match &record.frame {
            Frame::Classic(c) => {
                self.push_channel(channel);
                self.buf.extend_from_slice(b"  ");
                self.push_id(c.id(), 15, true);
                self.buf.push(b' ');
                self.buf.extend_from_slice(dir);
                self.buf.extend_from_slice(b"   d ");
                self.buf.push(HEX_LOWER[usize::from(c.dlc() & 0xF)]);
                self.push_bytes(c.data());
            }
            Frame::Remote(r) => {
                self.push_channel(channel);
                self.buf.extend_from_slice(b"  ");
                self.push_id(r.id(), 15, true);
                self.buf.push(b' ');
                self.buf.extend_from_slice(dir);
                self.buf.extend_from_slice(b"   r ");
                self.buf.push(HEX_LOWER[usize::from(r.dlc() & 0xF)]);
            }
            Frame::Error(e) => {
                if ErrorFrame::new(ERROR_FRAME_CLASS, [0; 8]).ok().as_ref() != Some(e) {
                    self.losses.add(
                        "error class and details (ASC error frames carry none)",
                        false,
                    );
                }
                if record.direction.is_some() {
                    self.losses.add(
                        "direction of error frames (ASC error frames have none)",
                        false,
                    );
                }
                self.push_channel(channel);
                self.buf.extend_from_slice(b"  ErrorFrame");
            }
            Frame::Fd(f) => {
                self.buf.extend_from_slice(b"CANFD ");
                let mut t = itoa::Buffer::new();
                let ch = t.format(channel);
                for _ in ch.len()..3 {
                    self.buf.push(b' ');
                }
                self.buf.extend_from_slice(ch.as_bytes());
                self.buf.push(b' ');
                self.buf.extend_from_slice(dir);
                self.buf.extend_from_slice(b"   ");
                self.push_id(f.id(), 8, false);
                // The (empty) symbolic name column, 32 wide, as python-can writes it.
                self.buf.extend_from_slice(&[b' '; 34]);
                let flags = f.flags();
                if flags.bits() & !(FdFlags::BRS | FdFlags::ESI | FdFlags::FDF) != 0 {
                    self.losses
                        .add("CAN FD flag bits other than BRS, ESI and FDF", false);
                }
                self.buf.push(if flags.brs() { b'1' } else { b'0' });
                self.buf.push(b' ');
                self.buf.push(if flags.esi() { b'1' } else { b'0' });
                self.buf.push(b' ');
                self.buf.push(HEX_LOWER[usize::from(f.dlc() & 0xF)]);
                self.buf.push(b' ');
                let len = f.data().len();
                if len < 10 {
                    self.buf.push(b' ');
                }
                let mut t = itoa::Buffer::new();
                self.buf.extend_from_slice(t.format(len).as_bytes());
                if f.data().is_empty() {
                    // python-can writes ` {data} ` even when there is no data.
                    self.buf.push(b' ');
                }
                self.push_bytes(f.data());
                let mut bits = FLAG_FDF;
                if flags.brs() {
                    bits |= FLAG_BRS;
                }
                if flags.esi() {
                    bits |= FLAG_ESI;
                }
                // Message duration and bit count are unknown (0, as python-can writes them),
                // then the flags, the CRC and four bit timing fields.
                self.buf.extend_from_slice(b"        0    0 ");
                let mut hex = [b' '; 8];
                let mut v = bits;
                for slot in hex.iter_mut().rev() {
                    *slot = HEX_UPPER[(v & 0xF) as usize];
                    v >>= 4;
                    if v == 0 {
                        break;
                    }
                }
                self.buf.extend_from_slice(&hex);
                self.buf
                    .extend_from_slice(b"        0        0        0        0        0");
            }
        }
        self.buf.push(b'\n');
    }
}

impl<W: Write> super::FrameWriter for Writer<W> {
    fn write_record(&mut self, record: &Record<'_>) -> io::Result<()> {
        if self.finished {
            return Err(io::Error::other("ASC writer: record written after finish"));
        }
        self.buf.clear();
        if self.start.is_none() {
            let first = self.options.start.unwrap_or(record.timestamp).as_nanos();
            self.header(first - first % 1_000_000);
        }
        self.format(record);
        self.inner.write_all(&self.buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        if !self.finished {
            self.buf.clear();
            if self.start.is_none() {
                let first = self.options.start.unwrap_or_default().as_nanos();
                self.header(first - first % 1_000_000);
            }
            self.buf.extend_from_slice(b"End TriggerBlock\n");
            self.inner.write_all(&self.buf)?;
            self.finished = true;
        }
        self.inner.flush()
    }

    fn losses(&self) -> &[Loss] {
        self.losses.list()
    }

    fn channel_map(&self) -> Option<&ChannelMap> {
        Some(&self.channels)
    }
}

#[cfg(test)]
mod tests;
