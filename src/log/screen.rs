//! The can-utils `candump` screen format: what `candump can0 > file` saves (not the `-l`/`-L`
//! log format of [`super::candump`]). A streaming reader.
//!
//! The layout follows can-utils `candump.c` (the "long CAN frame style" printed to stdout) and
//! `snprintf_long_canframe` / `sprint_long_canframe` and `snprintf_can_error_frame` in `lib.c`
//! (<https://github.com/linux-can/can-utils>), unchanged in substance from 2018.02 through
//! 2020.11 and 2023.03 (Debian 12 and 13) to 2025.01 and later. One line per frame:
//!
//! ```text
//!  (1700000000.123456)  can0  123   [4]  11 22 33 44
//!  (2026-12-05 01:02:03.123456)  vcan10  12345678   [8]  01 02 03 04 05 06 07 08   '........'
//!  (000.000213)    can1  TX B -       7E8  [12]  02 10 03 00 00 00 00 00 00 00 00 00
//!    can0  20000004   [8]  00 04 00 00 00 00 00 00   ERRORFRAME
//! <TAB>controller-problem{rx-error-warning}
//!    can0  123   {9}  11 22 33 44 55 66 77 88
//!    can0  123   [4]  remote request
//! ```
//!
//! * An optional timestamp in parentheses (`-t`): `a` epoch seconds (10 or more digits) and 6
//!   fraction digits (9 with `-N`); `A` a local calendar time `YYYY-MM-DD HH:MM:SS.ffffff`;
//!   `z` seconds since the first frame and `d` seconds since the previous frame, both printed
//!   with at least 3 seconds digits.
//! * The interface name, right-aligned to the longest name candump has seen.
//! * With `-x`: `TX` or `RX` (sent by this host or received) and the CAN FD flags `B`/`-`
//!   (bit rate switch) and `E`/`-` (error state indicator); `S`/`R` there mark a CAN XL frame.
//! * The identifier: 3 hex digits (standard, shifted right by 5 spaces once candump has seen an
//!   extended frame), 8 (extended), or 8 with `CAN_ERR_FLAG` (0x20000000) set (an error frame
//!   whose class mask is the rest).
//! * The length: `[0]`-`[8]` classic, `{0}`-`{F}` classic with `-8` (a raw DLC of 9 to F for 8
//!   bytes), `[00]`-`[64]` CAN FD (always two digits), `[0000]` CAN XL.
//! * `remote request`, or the data bytes: upper-case hex pairs separated by spaces, binary
//!   octets with `-i`, joined by `` ` `` in reverse byte order with `-S`.
//! * Behind the data of frames of at most 8 bytes: `ERRORFRAME` for error frames, or with `-a`
//!   the bytes as ASCII between quotes (`'..A.'`; back-quotes and reversed with `-S`), which the
//!   reader checks against the data.
//! * With `-e`, the decoded error classes of an error frame on the following lines, each
//!   starting with a tab; with `-c`, ANSI colour sequences (stripped before parsing, columns in
//!   errors still count the raw bytes). `log2long`'s output (`(time)  iface  frame`) is the same
//!   layout and reads the same way.
//!
//! Timestamps: absolute (Unix time) for `-t a` and `-t A`, zero-based for `-t z`, the running
//! sum of the deltas for `-t d`, and zero for every frame when the capture has none. `-t A`
//! prints local time without saying which zone: it is read as UTC unless the caller gives the
//! capture's UTC offset ([`Reader::with_utc_offset`]); a daylight-saving change inside the
//! capture is not seen. `-t z` and `-t d` print the same text for the first frames; unless told
//! ([`Reader::with_relative_time`]), the reader looks at up to [`LOOKAHEAD_LINES`] lines ahead
//! at the first relative timestamp and takes them as deltas when the times of one interface go
//! backwards (one socket per interface delivers in order, so zero-based times never do) in at
//! least a tenth of its consecutive frames; else zero-based ([`Reader::relative_time`] says
//! which).
//!
//! Frames: CAN FD frames (a two-digit length) always carry the FDF flag, and BRS and ESI only
//! as `-x` shows them (without `-x` the screen does not say); `B`/`E` marks on a classic frame
//! are ignored. Error frames of fewer than 8 bytes are padded with zeros, as can-utils reads
//! them. Raw DLCs are seen only with `-8`, the direction only with `-x`.
//!
//! Items: frame lines are records; blank lines, the tab-indented error details and `DROPCOUNT:`
//! lines are [`Item::Other`]; CAN XL frames are [`Item::Skipped`]; anything else is
//! [`Item::Bad`] with its line and column, and reading goes on with the next line.
//!
//! Calling contract: [`Reader`] streams lines from any [`BufRead`] into one reusable buffer (no
//! allocation per line; records borrow their interface name from it), bounds line length
//! ([`MAX_LINE_LEN`]) and never panics on input. Nothing here reads the clock or touches a
//! socket.

use core::fmt;
use std::io::{self, BufRead};
use std::sync::Arc;

use super::candump::Found;
use super::lex::{decimal, is_blank, skip_blanks, token_end};
use super::lines::{LineRead, Lines};
use super::{
    Direction, Format, FormatError, FormatErrorKind, FrameReader, Item, Location, Precision,
    ReadError, Record, Stats,
};
use crate::frame::{
    CAN_ERR_FLAG, ClassicFrame, ErrorFrame, FdFlags, FdFrame, Frame, Id, MAX_EXTENDED_ID,
    RemoteFrame, fd_len_to_dlc,
};
use crate::time::{Timestamp, days_from_civil, days_in_month};

/// The longest line a [`Reader`] accepts by default (64 KiB); longer lines are reported as
/// [`ErrorKind::LineTooLong`] and skipped without being stored.
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// How many lines the reader looks ahead to tell `-t z` from `-t d` timestamps.
pub const LOOKAHEAD_LINES: usize = 256;

/// At most this many bytes are read ahead (with [`LOOKAHEAD_LINES`]).
const LOOKAHEAD_BYTES: usize = 256 * 1024;

/// How many interfaces the `-t z`/`-t d` detection follows.
const LOOKAHEAD_INTERFACES: usize = 32;

/// How relative timestamps (`(000.012000)`, fewer than 10 seconds digits) are read.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum RelativeTime {
    /// Decide from the lines ahead (see the module documentation).
    #[default]
    Auto,
    /// `candump -t z`: seconds since the first frame.
    Zero,
    /// `candump -t d`: seconds since the previous frame, summed.
    Delta,
}

/// Why a line is not a valid candump screen line.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("expected ')' to close the timestamp")]
    ExpectedCloseParen,
    #[error("timestamp is neither SECONDS.FRACTION nor YYYY-MM-DD HH:MM:SS.FRACTION")]
    TimestampSyntax,
    #[error("timestamp fraction has {0} digits, expected 6 (microseconds) or 9 (nanoseconds)")]
    FractionDigits(usize),
    #[error("invalid calendar date or time in the timestamp")]
    InvalidDate,
    #[error("timestamp does not fit in 64-bit nanoseconds since 1970")]
    TimestampOutOfRange,
    #[error("expected a blank after the timestamp")]
    ExpectedBlank,
    #[error("missing interface name")]
    MissingInterface,
    #[error("interface name is not valid UTF-8")]
    InterfaceNotUtf8,
    #[error("expected the CAN FD flags 'B'/'-' and 'E'/'-' after TX/RX")]
    ExpectedFlags,
    #[error("missing CAN id")]
    MissingId,
    #[error("CAN id has {0} hex digits, expected 3 (standard) or 8 (extended)")]
    IdLength(usize),
    #[error("invalid character {0} in the CAN id")]
    InvalidIdDigit(Found),
    #[error("id 0x{0:X} does not fit in 11 bits")]
    StandardIdRange(u32),
    #[error("id 0x{0:08X} does not fit in 29 bits")]
    ExtendedIdRange(u32),
    #[error("error frame id 0x{0:08X} has bits set above CAN_ERR_FLAG")]
    ErrorIdRange(u32),
    #[error("expected the length in brackets: [8], {{9}} or [64]")]
    ExpectedLength,
    #[error("length {0} is not a CAN FD length")]
    FdLength(u32),
    #[error("classic CAN length {0} exceeds 8")]
    ClassicLength(u32),
    #[error("an error frame cannot be a CAN FD frame")]
    ErrorFrameFd,
    #[error("an error frame has no raw DLC")]
    ErrorFrameRawDlc,
    #[error("a CAN FD frame cannot be a remote request")]
    RemoteFd,
    #[error("an error frame cannot be a remote request")]
    ErrorFrameRemote,
    #[error("expected {expected} data bytes, found {found}")]
    DataByteCount { expected: usize, found: usize },
    #[error("expected a data byte (two hex digits or eight binary digits), found {0}")]
    ExpectedDataByte(Found),
    #[error("data bytes are separated by both spaces and '`'")]
    MixedSeparators,
    #[error("an error frame must be marked ERRORFRAME")]
    ExpectedErrorFrameMark,
    #[error("ERRORFRAME on a frame whose id is not an error frame's")]
    UnexpectedErrorFrameMark,
    #[error("the ASCII column does not match the data bytes")]
    AsciiMismatch,
    #[error("unexpected text after the frame")]
    TrailingText,
    #[error("line longer than {0} bytes")]
    LineTooLong(usize),
    #[error("line is not valid UTF-8")]
    NotUtf8,
}

/// An error inside one line: the byte offset in the line (after ANSI sequences are removed)
/// and the cause.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct LineError {
    pos: usize,
    kind: ErrorKind,
}

fn err(pos: usize, kind: ErrorKind) -> LineError {
    LineError { pos, kind }
}

/// The timestamp as the line writes it, before the reader places it on the time line.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Stamp {
    /// No timestamp.
    None,
    /// `(1700000000.123456)`: Unix time.
    Absolute(Timestamp),
    /// `(2026-12-05 01:02:03.123456)`: local calendar time as if it were UTC (seconds may be
    /// negative before the offset is applied), and nanoseconds.
    Local { secs: i64, nanos: u32 },
    /// `(000.123456)`: zero-based or delta.
    Relative(Timestamp),
}

/// A frame line, with its interface as a byte range of the line (no borrow).
#[derive(Copy, Clone, Debug, PartialEq)]
struct RawFrame {
    stamp: Stamp,
    /// Where the timestamp starts, for errors found when placing it.
    stamp_pos: usize,
    precision: Precision,
    iface_start: usize,
    iface_end: usize,
    frame: Frame,
    direction: Option<Direction>,
}

/// What one line holds.
#[derive(Copy, Clone, Debug, PartialEq)]
enum Parsed {
    Frame(RawFrame),
    /// Part of the format, no frame (blank, error details, `DROPCOUNT:`).
    Other,
    /// A frame we recognise and do not carry.
    Skipped(&'static str),
}

// ---------------------------------------------------------------------------------------------
// Parsing

#[inline(always)]
fn hexval(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The length of `line` without trailing `\r`, `\n`, spaces and tabs.
fn trimmed_len(line: &[u8]) -> usize {
    let mut end = line.len();
    while end > 0 && line.get(end - 1).is_some_and(|b| b.is_ascii_whitespace()) {
        end -= 1;
    }
    end
}

/// The fraction after a `.` at `p`: nanoseconds, precision and the offset after the digits.
fn fraction(s: &[u8], p: usize) -> Result<(u32, Precision, usize), LineError> {
    if s.get(p) != Some(&b'.') {
        return Err(err(p, ErrorKind::TimestampSyntax));
    }
    let (v, n) = decimal(s, p + 1);
    let (nanos, precision) = match n {
        6 => (v * 1_000, Precision::Micros),
        9 => (v, Precision::Nanos),
        n => return Err(err(p + 1, ErrorKind::FractionDigits(n))),
    };
    Ok((
        u32::try_from(nanos).unwrap_or(u32::MAX),
        precision,
        p + 1 + n,
    ))
}

/// A timestamp `(...)` starting at `s[p] == '('`: the stamp, its precision and the offset
/// after `)`.
fn parse_stamp(s: &[u8], p: usize) -> Result<(Stamp, Precision, usize), LineError> {
    let start = p + 1;
    let (secs, n) = decimal(s, start);
    if n == 0 {
        return Err(err(start, ErrorKind::TimestampSyntax));
    }
    let (stamp, precision, q) = if n == 4 && s.get(start + 4) == Some(&b'-') {
        // `YYYY-MM-DD HH:MM:SS.ffffff`
        let field = |off: usize, len: usize, sep: Option<u8>| -> Result<u32, LineError> {
            let at = start + off;
            let (v, k) = decimal(s, at);
            if k != len {
                return Err(err(at, ErrorKind::TimestampSyntax));
            }
            if let Some(c) = sep
                && s.get(at + len) != Some(&c)
            {
                return Err(err(at + len, ErrorKind::TimestampSyntax));
            }
            Ok(u32::try_from(v).unwrap_or(u32::MAX))
        };
        let year = i64::from(field(0, 4, Some(b'-'))?);
        let month = field(5, 2, Some(b'-'))?;
        let day = field(8, 2, Some(b' '))?;
        let hour = field(11, 2, Some(b':'))?;
        let minute = field(14, 2, Some(b':'))?;
        let second = field(17, 2, None)?;
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return Err(err(start, ErrorKind::InvalidDate));
        }
        let (nanos, precision, q) = fraction(s, start + 19)?;
        let secs = days_from_civil(year, month, day) * 86_400
            + i64::from(hour * 3600 + minute * 60 + second);
        (Stamp::Local { secs, nanos }, precision, q)
    } else {
        let (nanos, precision, q) = fraction(s, start + n)?;
        let t = if n > 19 {
            None
        } else {
            Timestamp::from_secs_nanos(secs, nanos)
        };
        let Some(t) = t else {
            return Err(err(start, ErrorKind::TimestampOutOfRange));
        };
        // candump prints epoch times with `%010llu` and relative ones with `%03llu`.
        let stamp = if n >= 10 {
            Stamp::Absolute(t)
        } else {
            Stamp::Relative(t)
        };
        (stamp, precision, q)
    };
    if s.get(q) != Some(&b')') {
        return Err(err(q, ErrorKind::ExpectedCloseParen));
    }
    Ok((stamp, precision, q + 1))
}

/// The frame kind the length token announces.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Length {
    /// `[N]`: a classic frame of N bytes.
    Classic(u8),
    /// `{X}`: a classic frame with a DLC of X (9 to F: 8 bytes with that raw DLC).
    Dlc(u8),
    /// `[NN]`: a CAN FD frame of NN bytes.
    Fd(u8),
    /// `[NNNN]`: a CAN XL frame.
    Xl,
}

fn parse_length(s: &[u8], p: usize) -> Result<(Length, usize), LineError> {
    match s.get(p) {
        Some(b'[') => {
            let (v, n) = decimal(s, p + 1);
            if s.get(p + 1 + n) != Some(&b']') {
                return Err(err(p, ErrorKind::ExpectedLength));
            }
            let len = match n {
                1 if v <= 8 => Length::Classic(v as u8),
                1 => return Err(err(p + 1, ErrorKind::ClassicLength(v as u32))),
                2 => match u8::try_from(v)
                    .ok()
                    .filter(|&l| fd_len_to_dlc(l.into()).is_some())
                {
                    Some(l) => Length::Fd(l),
                    None => return Err(err(p + 1, ErrorKind::FdLength(v as u32))),
                },
                4 => Length::Xl,
                _ => return Err(err(p, ErrorKind::ExpectedLength)),
            };
            Ok((len, p + 2 + n))
        }
        Some(b'{') => match (s.get(p + 1).copied().and_then(hexval), s.get(p + 2)) {
            (Some(d), Some(b'}')) => Ok((Length::Dlc(d), p + 3)),
            _ => Err(err(p, ErrorKind::ExpectedLength)),
        },
        _ => Err(err(p, ErrorKind::ExpectedLength)),
    }
}

/// The separator style of the data bytes.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Sep {
    Unknown,
    Space,
    Swap,
}

/// Reads `count` data bytes from `p` (at the first byte): the bytes in token order, whether the
/// order is swapped (`-S`), and the offset after the last byte.
fn parse_data(
    s: &[u8],
    mut p: usize,
    count: usize,
    out: &mut [u8; 64],
) -> Result<(bool, usize), LineError> {
    let mut sep = Sep::Unknown;
    let mut binary = None;
    for i in 0..count {
        if i > 0 {
            let this = match s.get(p) {
                Some(b'`') => {
                    p += 1;
                    Sep::Swap
                }
                Some(&b) if is_blank(b) => {
                    p = skip_blanks(s, p);
                    Sep::Space
                }
                _ => {
                    return Err(err(
                        p,
                        ErrorKind::DataByteCount {
                            expected: count,
                            found: i,
                        },
                    ));
                }
            };
            if sep != Sep::Unknown && sep != this {
                return Err(err(p, ErrorKind::MixedSeparators));
            }
            sep = this;
        }
        let Some(&first) = s.get(p) else {
            return Err(err(
                p,
                ErrorKind::DataByteCount {
                    expected: count,
                    found: i,
                },
            ));
        };
        let run = s
            .get(p..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        let is_binary = *binary.get_or_insert(run == 8);
        let byte = if is_binary {
            let digits = s.get(p..p + 8).unwrap_or_default();
            if run != 8 || digits.iter().any(|&b| b != b'0' && b != b'1') {
                return Err(err(p, ErrorKind::ExpectedDataByte(Found(first))));
            }
            digits
                .iter()
                .fold(0u8, |acc, &b| (acc << 1) | u8::from(b == b'1'))
        } else {
            if run != 2 {
                let at = p + run.min(2);
                return Err(match s.get(at) {
                    Some(&b) => err(at, ErrorKind::ExpectedDataByte(Found(b))),
                    None => err(
                        at,
                        ErrorKind::DataByteCount {
                            expected: count,
                            found: i,
                        },
                    ),
                });
            }
            let hi = s.get(p).copied().and_then(hexval).unwrap_or(0);
            let lo = s.get(p + 1).copied().and_then(hexval).unwrap_or(0);
            (hi << 4) | lo
        };
        if let Some(slot) = out.get_mut(i) {
            *slot = byte;
        }
        p += if is_binary { 8 } else { 2 };
    }
    Ok((sep == Sep::Swap, p))
}

/// The printable form candump gives a byte in its ASCII column.
#[inline]
fn ascii_of(b: u8) -> u8 {
    if (0x20..0x7F).contains(&b) { b } else { b'.' }
}

/// Parses one line (trailing blanks removed, ANSI sequences stripped).
fn parse(s: &[u8]) -> Result<Parsed, LineError> {
    if s.is_empty() || s.first() == Some(&b'\t') {
        // Blank, or the decoded error classes `candump -e` prints under an error frame.
        return match core::str::from_utf8(s) {
            Ok(_) => Ok(Parsed::Other),
            Err(e) => Err(err(e.valid_up_to(), ErrorKind::NotUtf8)),
        };
    }
    let mut p = skip_blanks(s, 0);
    if p == s.len() {
        return Ok(Parsed::Other);
    }
    if s.get(p..).is_some_and(|r| r.starts_with(b"DROPCOUNT:")) {
        return match core::str::from_utf8(s) {
            Ok(_) => Ok(Parsed::Other),
            Err(e) => Err(err(e.valid_up_to(), ErrorKind::NotUtf8)),
        };
    }

    // Timestamp.
    let stamp_pos = p;
    let (stamp, precision) = if s.get(p) == Some(&b'(') {
        let (stamp, precision, q) = parse_stamp(s, p)?;
        if q == s.len() {
            return Err(err(q, ErrorKind::MissingInterface));
        }
        if !s.get(q).is_some_and(|&b| is_blank(b)) {
            return Err(err(q, ErrorKind::ExpectedBlank));
        }
        p = skip_blanks(s, q);
        (stamp, precision)
    } else {
        (Stamp::None, Precision::Micros)
    };

    // Interface.
    let iface_start = p;
    let iface_end = token_end(s, p);
    if iface_end == iface_start {
        return Err(err(p, ErrorKind::MissingInterface));
    }
    let iface = s.get(iface_start..iface_end).unwrap_or_default();
    if let Err(e) = core::str::from_utf8(iface) {
        return Err(err(
            iface_start + e.valid_up_to(),
            ErrorKind::InterfaceNotUtf8,
        ));
    }
    p = skip_blanks(s, iface_end);

    // `-x`: direction and the FD (or XL) flags.
    let (direction, brs, esi, xl_flags, after) = parse_direction(s, p)?;
    p = after;

    // Identifier.
    let id_start = p;
    let (id, raw, id_end) = parse_identifier(s, p)?;
    p = skip_blanks(s, id_end);

    // Length.
    let len_pos = p;
    let (length, q) = parse_length(s, p)?;
    if length == Length::Xl || xl_flags {
        return Ok(Parsed::Skipped("CAN XL frame"));
    }
    if s.get(q).is_some_and(|&b| !is_blank(b)) {
        return Err(err(q, ErrorKind::ExpectedLength));
    }
    p = skip_blanks(s, q);
    let (count, raw_dlc, fd) = match length {
        Length::Classic(n) => (usize::from(n), None, false),
        Length::Dlc(d) if d > 8 => (8, Some(d), false),
        Length::Dlc(d) => (usize::from(d), None, false),
        Length::Fd(n) => (usize::from(n), None, true),
        Length::Xl => return Ok(Parsed::Skipped("CAN XL frame")),
    };
    if id.is_none() && fd {
        return Err(err(len_pos, ErrorKind::ErrorFrameFd));
    }
    if id.is_none() && raw_dlc.is_some() {
        return Err(err(len_pos, ErrorKind::ErrorFrameRawDlc));
    }

    let done = |frame: Frame| {
        Parsed::Frame(RawFrame {
            stamp,
            stamp_pos,
            precision,
            iface_start,
            iface_end,
            frame,
            direction,
        })
    };

    // Remote request.
    if s.get(p..).is_some_and(|r| r.starts_with(b"remote request")) {
        let Some(id) = id else {
            return Err(err(p, ErrorKind::ErrorFrameRemote));
        };
        if fd {
            return Err(err(p, ErrorKind::RemoteFd));
        }
        let end = p + b"remote request".len();
        if end != s.len() {
            return Err(err(end, ErrorKind::TrailingText));
        }
        let r = match raw_dlc {
            Some(d) => RemoteFrame::with_raw_dlc(id, d),
            None => RemoteFrame::new(id, count as u8),
        };
        return r
            .map(|r| done(Frame::Remote(r)))
            .map_err(|_| err(len_pos, ErrorKind::ClassicLength(count as u32)));
    }

    // Data.
    let mut tokens = [0u8; 64];
    let (swapped, data_end) = parse_data(s, p, count, &mut tokens)?;
    // Without data, what follows starts right after the length.
    let data_end = if count == 0 { q } else { data_end };
    let tokens = tokens.get(..count).unwrap_or_default();

    // What follows the data: ERRORFRAME, the ASCII column, or nothing.
    let swapped = check_tail(s, data_end, id.is_some(), tokens, swapped)?;
    let mut data = [0u8; 64];
    for (i, &b) in tokens.iter().enumerate() {
        let j = if swapped { count - 1 - i } else { i };
        if let Some(slot) = data.get_mut(j) {
            *slot = b;
        }
    }

    let frame = build_frame(
        id,
        raw,
        Shape {
            fd,
            brs,
            esi,
            raw_dlc,
        },
        data.get(..count).unwrap_or_default(),
        id_start,
        len_pos,
    )?;
    Ok(done(frame))
}

/// `candump -x`'s `TX`/`RX` and the two flag columns (`B`/`S`/`-`, `E`/`R`/`-`) at `p`, if
/// there: the direction, BRS, ESI, whether an XL flag was seen, and where the identifier
/// starts.
#[inline]
fn parse_direction(
    s: &[u8],
    mut p: usize,
) -> Result<(Option<Direction>, bool, bool, bool, usize), LineError> {
    let mut direction = None;
    let mut brs = false;
    let mut esi = false;
    let mut xl_flags = false;
    let word = s.get(p..token_end(s, p)).unwrap_or_default();
    if word == b"TX" || word == b"RX" {
        direction = Some(if word == b"TX" {
            Direction::Tx
        } else {
            Direction::Rx
        });
        p = skip_blanks(s, p + 2);
        for (i, marks) in [b"-BS", b"-ER"].iter().enumerate() {
            let mark = s.get(p).copied();
            let single = s.get(p + 1).is_none_or(|&b| is_blank(b));
            match mark {
                Some(m) if single && marks.contains(&m) => {
                    if i == 0 {
                        brs = m == b'B';
                        xl_flags |= m == b'S';
                    } else {
                        esi = m == b'E';
                        xl_flags |= m == b'R';
                    }
                }
                _ => return Err(err(p, ErrorKind::ExpectedFlags)),
            }
            p = skip_blanks(s, p + 1);
        }
    }

    Ok((direction, brs, esi, xl_flags, p))
}

/// The identifier at `id_start`: `Some(id)` for data and remote frames (3 or 8 digits),
/// `None` for an error frame (8 digits with the error flag), with the raw value and where
/// it ends.
#[inline]
fn parse_identifier(s: &[u8], id_start: usize) -> Result<(Option<Id>, u32, usize), LineError> {
    let p = id_start;
    let id_end = token_end(s, p);
    if id_end == id_start {
        return Err(err(p, ErrorKind::MissingId));
    }
    let mut raw: u32 = 0;
    for (k, &b) in s
        .get(id_start..id_end)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        match hexval(b) {
            // Digits beyond the eighth shift out; the length check below rejects them.
            Some(v) => raw = (raw << 4) | u32::from(v),
            None => return Err(err(id_start + k, ErrorKind::InvalidIdDigit(Found(b)))),
        }
    }
    let id_digits = id_end - id_start;
    // `Some(id)` for data and remote frames, `None` for error frames.
    let id = match id_digits {
        3 => match Id::new(raw, false) {
            Some(id) => Some(id),
            None => return Err(err(id_start, ErrorKind::StandardIdRange(raw))),
        },
        8 if raw & CAN_ERR_FLAG != 0 => {
            if raw > (CAN_ERR_FLAG | MAX_EXTENDED_ID) {
                return Err(err(id_start, ErrorKind::ErrorIdRange(raw)));
            }
            None
        }
        8 => match Id::extended(raw) {
            Some(id) => Some(id),
            None => return Err(err(id_start, ErrorKind::ExtendedIdRange(raw))),
        },
        n => return Err(err(id_start, ErrorKind::IdLength(n))),
    };
    Ok((id, raw, id_end))
}

/// What follows the data from `data_end`: `ERRORFRAME` for (and only for) an error frame,
/// or candump's ASCII column (`'...'`, or `` `...` `` for swapped bytes), which must show
/// the same bytes. Returns whether the bytes are swapped.
#[inline]
fn check_tail(
    s: &[u8],
    data_end: usize,
    is_data: bool,
    tokens: &[u8],
    mut swapped: bool,
) -> Result<bool, LineError> {
    let count = tokens.len();
    let t = skip_blanks(s, data_end);
    let rest = s.get(t..).unwrap_or_default();
    if !rest.is_empty() && t == data_end {
        return Err(err(t, ErrorKind::TrailingText));
    }
    if !is_data {
        if rest != b"ERRORFRAME" {
            return Err(err(t, ErrorKind::ExpectedErrorFrameMark));
        }
    } else if rest == b"ERRORFRAME" {
        return Err(err(t, ErrorKind::UnexpectedErrorFrameMark));
    } else if let Some(&quote) = rest.first() {
        if (quote != b'\'' && quote != b'`') || count > 8 {
            return Err(err(t, ErrorKind::TrailingText));
        }
        if quote == b'`' && count > 1 && !swapped {
            return Err(err(t, ErrorKind::MixedSeparators));
        }
        if quote == b'\'' && swapped {
            return Err(err(t, ErrorKind::MixedSeparators));
        }
        swapped = quote == b'`';
        let text = rest.get(1..).unwrap_or_default();
        if text.len() != count + 1 || text.last() != Some(&quote) {
            return Err(err(t, ErrorKind::AsciiMismatch));
        }
        if let Some(k) = tokens
            .iter()
            .zip(text)
            .position(|(&b, &c)| ascii_of(b) != c)
        {
            return Err(err(t + 1 + k, ErrorKind::AsciiMismatch));
        }
    }
    Ok(swapped)
}

/// How a frame's length and flags were written.
struct Shape {
    fd: bool,
    brs: bool,
    esi: bool,
    /// A classic DLC of 9-15.
    raw_dlc: Option<u8>,
}

/// The frame of a parsed line: an error frame (`id` none), a CAN FD frame or a classic one.
#[inline]
fn build_frame(
    id: Option<Id>,
    raw: u32,
    shape: Shape,
    data: &[u8],
    id_start: usize,
    len_pos: usize,
) -> Result<Frame, LineError> {
    let Shape {
        fd,
        brs,
        esi,
        raw_dlc,
    } = shape;
    let count = data.len();
    Ok(match id {
        None => {
            let mut d = [0u8; 8];
            for (slot, &b) in d.iter_mut().zip(data.iter().take(count)) {
                *slot = b;
            }
            ErrorFrame::new(raw & MAX_EXTENDED_ID, d)
                .map(Frame::Error)
                .map_err(|_| err(id_start, ErrorKind::ErrorIdRange(raw)))?
        }
        Some(id) if fd => FdFrame::new(
            id,
            data.get(..count).unwrap_or_default(),
            FdFlags::fd(brs, esi),
        )
        .map(Frame::Fd)
        .map_err(|_| err(len_pos, ErrorKind::FdLength(count as u32)))?,
        Some(id) => {
            let f = match raw_dlc {
                Some(d) => {
                    let mut eight = [0u8; 8];
                    for (slot, &b) in eight.iter_mut().zip(data.iter()) {
                        *slot = b;
                    }
                    ClassicFrame::with_raw_dlc(id, eight, d)
                }
                None => ClassicFrame::new(id, data.get(..count).unwrap_or_default()),
            };
            f.map(Frame::Classic)
                .map_err(|_| err(len_pos, ErrorKind::ClassicLength(count as u32)))?
        }
    })
}

/// Removes ANSI escape sequences (`ESC [ params final`, what `candump -c` adds) from `line` in
/// place, noting in `removed` where bytes went (position in the result, bytes removed up to
/// there) so that columns can be given in the raw line.
fn strip_ansi(line: &mut Vec<u8>, removed: &mut Vec<(usize, usize)>) {
    removed.clear();
    let Some(first) = memchr::memchr(0x1B, line) else {
        return;
    };
    let mut r = first;
    let mut w = first;
    let mut total = 0;
    while let Some(&b) = line.get(r) {
        if b == 0x1B && line.get(r + 1) == Some(&b'[') {
            let mut e = r + 2;
            while line.get(e).is_some_and(|c| (0x20..=0x3F).contains(c)) {
                e += 1;
            }
            if line.get(e).is_some_and(|c| (0x40..=0x7E).contains(c)) {
                e += 1;
                total += e - r;
                removed.push((w, total));
                r = e;
                continue;
            }
        }
        if let Some(slot) = line.get_mut(w) {
            *slot = b;
        }
        w += 1;
        r += 1;
    }
    line.truncate(w);
}

/// The raw-line column (1-based) of stripped offset `pos`.
fn raw_column(pos: usize, removed: &[(usize, usize)]) -> usize {
    let shift = removed
        .iter()
        .take_while(|(at, _)| *at <= pos)
        .last()
        .map_or(0, |(_, total)| *total);
    pos + shift + 1
}

// ---------------------------------------------------------------------------------------------
// Reader

/// What one step of the reader produced, without borrowing the line.
enum Step {
    Eof,
    Record(RawFrame, Timestamp),
    Other(usize),
    Skipped(&'static str),
    Bad(ReadError),
}

/// A streaming reader of `candump` screen output over any [`BufRead`].
pub struct Reader<R> {
    lines: Lines<R>,
    removed: Vec<(usize, usize)>,
    source_name: Option<Arc<str>>,
    stats: Stats,
    relative: RelativeTime,
    /// The running time of `-t d` captures.
    clock: Timestamp,
    utc_offset: i64,
}

impl<R: BufRead> Reader<R> {
    /// A reader without a source name; relative timestamps detected, `-t A` read as UTC.
    pub fn new(inner: R) -> Self {
        Reader {
            lines: Lines::new(inner, MAX_LINE_LEN),
            removed: Vec::new(),
            source_name: None,
            stats: Stats::default(),
            relative: RelativeTime::Auto,
            clock: Timestamp::ZERO,
            utc_offset: 0,
        }
    }

    /// Names the source (a file path) in error messages: `capture.txt:17:24: ...`.
    pub fn with_source_name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.source_name = Some(name.into());
        self
    }

    /// How to read relative timestamps (`-t z` or `-t d`); [`RelativeTime::Auto`] by default.
    pub fn with_relative_time(mut self, relative: RelativeTime) -> Self {
        self.relative = relative;
        self
    }

    /// The offset from UTC, in seconds east, of the local time `candump -t A` printed (3600
    /// for CET); 0 (read as UTC) by default.
    pub fn with_utc_offset(mut self, seconds: i32) -> Self {
        self.utc_offset = i64::from(seconds);
        self
    }

    /// Sets the longest accepted line (at least 1 byte).
    pub fn with_max_line_len(mut self, max: usize) -> Self {
        self.lines.set_max_len(max);
        self
    }

    /// How relative timestamps are read: what was set, or what [`RelativeTime::Auto`] decided
    /// (still `Auto` until the first relative timestamp).
    pub fn relative_time(&self) -> RelativeTime {
        self.relative
    }

    /// The underlying reader (lines read ahead are lost).
    pub fn into_inner(self) -> R {
        self.lines.into_inner()
    }

    fn bad(&mut self, column: usize, kind: ErrorKind) -> ReadError {
        self.stats.bad += 1;
        ReadError::Format(FormatError {
            source_name: self.source_name.clone(),
            format: Format::CandumpScreen,
            location: Location::Line {
                line: self.lines.number(),
                column,
            },
            kind: FormatErrorKind::CandumpScreen(kind),
        })
    }

    /// Looks ahead to tell `-t z` from `-t d` (the current line holds the first relative
    /// timestamp, `first`, of interface `iface`).
    fn detect_relative(&mut self, iface: &[u8], first: Timestamp) -> io::Result<RelativeTime> {
        let mut last: Vec<(Vec<u8>, Timestamp)> = vec![(iface.to_vec(), first)];
        let (mut pairs, mut backwards) = (0u32, 0u32);
        let max_len = self.lines.max_len();
        let ahead = self.lines.peek_ahead(LOOKAHEAD_LINES, LOOKAHEAD_BYTES)?;
        let mut scratch = Vec::new();
        let mut removed = Vec::new();
        for raw in ahead.split(|&b| b == b'\n') {
            if raw.len() > max_len {
                continue;
            }
            scratch.clear();
            scratch.extend_from_slice(raw);
            strip_ansi(&mut scratch, &mut removed);
            let line = scratch.get(..trimmed_len(&scratch)).unwrap_or_default();
            let Ok(Parsed::Frame(f)) = parse(line) else {
                continue;
            };
            let Stamp::Relative(t) = f.stamp else {
                continue;
            };
            let name = line.get(f.iface_start..f.iface_end).unwrap_or_default();
            match last.iter().position(|(n, _)| n == name) {
                Some(i) => {
                    if let Some((_, prev)) = last.get_mut(i) {
                        pairs += 1;
                        if t < *prev {
                            backwards += 1;
                        }
                        *prev = t;
                    }
                }
                None if last.len() < LOOKAHEAD_INTERFACES => last.push((name.to_vec(), t)),
                None => {}
            }
        }
        let style = if backwards > 0 && backwards.saturating_mul(10) >= pairs {
            RelativeTime::Delta
        } else {
            RelativeTime::Zero
        };
        tracing::debug!(
            pairs,
            backwards,
            ?style,
            "candump screen: relative timestamps read as {}",
            if style == RelativeTime::Delta {
                "deltas (-t d)"
            } else {
                "zero-based (-t z)"
            }
        );
        Ok(style)
    }

    fn io_error(&self, error: io::Error) -> ReadError {
        ReadError::Io {
            source_name: self.source_name.clone(),
            location: Location::Line {
                line: self.lines.number().saturating_add(1),
                column: 1,
            },
            error,
        }
    }

    fn step(&mut self) -> Result<Step, ReadError> {
        let read = self.lines.read().map_err(|e| self.io_error(e))?;
        match read {
            LineRead::Eof => return Ok(Step::Eof),
            LineRead::TooLong => {
                let max = self.lines.max_len();
                return Ok(Step::Bad(self.bad(max + 1, ErrorKind::LineTooLong(max))));
            }
            LineRead::Line => {}
        }
        strip_ansi(&mut self.lines.line, &mut self.removed);
        let end = trimmed_len(&self.lines.line);
        self.lines.line.truncate(end);
        let parsed = parse(&self.lines.line);
        let raw = match parsed {
            Ok(Parsed::Other) => {
                self.stats.other += 1;
                return Ok(Step::Other(end));
            }
            Ok(Parsed::Skipped(what)) => {
                self.stats.skipped += 1;
                return Ok(Step::Skipped(what));
            }
            Ok(Parsed::Frame(f)) => f,
            Err(e) => {
                let column = raw_column(e.pos, &self.removed);
                return Ok(Step::Bad(self.bad(column, e.kind)));
            }
        };
        let out_of_range = |me: &mut Self| {
            let column = raw_column(raw.stamp_pos, &me.removed);
            Ok(Step::Bad(me.bad(column, ErrorKind::TimestampOutOfRange)))
        };
        let timestamp = match raw.stamp {
            Stamp::None => Timestamp::ZERO,
            Stamp::Absolute(t) => t,
            Stamp::Local { secs, nanos } => {
                match u64::try_from(secs.saturating_sub(self.utc_offset))
                    .ok()
                    .and_then(|s| Timestamp::from_secs_nanos(s, nanos))
                {
                    Some(t) => t,
                    None => return out_of_range(self),
                }
            }
            Stamp::Relative(t) => {
                if self.relative == RelativeTime::Auto {
                    let iface = self
                        .lines
                        .line
                        .get(raw.iface_start..raw.iface_end)
                        .unwrap_or_default()
                        .to_vec();
                    self.relative = self
                        .detect_relative(&iface, t)
                        .map_err(|e| self.io_error(e))?;
                }
                match self.relative {
                    RelativeTime::Delta => {
                        match self
                            .clock
                            .checked_add(core::time::Duration::from_nanos(t.as_nanos()))
                        {
                            Some(c) => {
                                self.clock = c;
                                c
                            }
                            None => return out_of_range(self),
                        }
                    }
                    _ => t,
                }
            }
        };
        self.stats.records += 1;
        Ok(Step::Record(raw, timestamp))
    }
}

impl<R: BufRead + Send> FrameReader for Reader<R> {
    fn read_item(&mut self) -> Result<Option<Item<'_>>, ReadError> {
        Ok(match self.step()? {
            Step::Eof => None,
            Step::Record(raw, timestamp) => {
                let interface = self
                    .lines
                    .line
                    .get(raw.iface_start..raw.iface_end)
                    .and_then(|b| core::str::from_utf8(b).ok())
                    .unwrap_or_default();
                Some(Item::Record(Record {
                    timestamp,
                    precision: raw.precision,
                    interface,
                    frame: raw.frame,
                    direction: raw.direction,
                }))
            }
            Step::Other(end) => Some(Item::Other(self.lines.text(end))),
            Step::Skipped(what) => Some(Item::Skipped(what)),
            Step::Bad(e) => Some(Item::Bad(e)),
        })
    }

    fn format(&self) -> Format {
        Format::CandumpScreen
    }

    fn stats(&self) -> Stats {
        self.stats
    }
}

impl<R> fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("screen::Reader")
            .field("source_name", &self.source_name)
            .field("stats", &self.stats)
            .field("relative", &self.relative)
            .finish_non_exhaustive()
    }
}

/// Whether `head` (the first bytes of a capture) looks like candump screen output: after
/// blank lines, `DROPCOUNT:` lines and tab-indented error details, the first line is a whole
/// screen frame line (optional timestamp, interface, id, bracketed length, the data or
/// `remote request`, and only what candump prints after them), ANSI colours stripped. A
/// `candump -l` log line (`(...) can0 123#11`) never is one.
pub fn sniff(head: &[u8]) -> bool {
    let mut buf = Vec::new();
    let mut removed = Vec::new();
    for raw in head.split(|&b| b == b'\n') {
        buf.clear();
        buf.extend_from_slice(raw);
        strip_ansi(&mut buf, &mut removed);
        let line = buf.get(..trimmed_len(&buf)).unwrap_or_default();
        match parse(line) {
            Ok(Parsed::Other) => continue,
            Ok(Parsed::Frame(_)) | Ok(Parsed::Skipped(_)) => return true,
            Err(_) => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests;
