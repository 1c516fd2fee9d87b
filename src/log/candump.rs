//! The can-utils `candump -l` / `candump -L` log format: a streaming reader and a writer.
//!
//! A log line is `(SECS.FRAC) IFACE FRAME[ R| T]`, as written by `candump` (`candump.c`) with the
//! compact frame syntax of can-utils `lib.c` (`snprintf_canframe` / `parse_canframe`):
//!
//! * `SECS` is one or more decimal digits (10 for an epoch time, `000` with `-tz`); `FRAC` is 6
//!   digits (microseconds) or 9 digits (nanoseconds). The [`Precision`] read is kept in the
//!   [`Record`] so that the [`Writer`] writes the line back as it was.
//! * `IFACE` is the interface name; candump right-aligns names to the longest one it has seen
//!   (`%*s`, in both `-l` and `-L` modes), so extra spaces before it are accepted.
//! * `FRAME` is `ID#DATA` (classic, 0 to 8 bytes, optional `.` between bytes, optional `_D` raw
//!   DLC 9 to F after 8 bytes), `ID#R`, `ID#R5`, `ID#R8_9` (remote), `ID##F DATA` (CAN FD, `F`
//!   one hex digit of flags: 1 BRS, 2 ESI, 4 FDF; lengths 0-8, 12, 16, 20, 24, 32, 48, 64). `ID`
//!   is 3 hex digits (standard) or 8 (extended); 8 digits with `CAN_ERR_FLAG` (0x20000000) set
//!   is an error frame whose class is `ID & 0x1FFFFFFF` followed by its 8 detail bytes (fewer
//!   bytes are accepted and padded with zeros, as can-utils does). Hex is case-insensitive.
//! * ` R` / ` T` is the direction `candump -x` appends; trailing `\r` and whitespace are ignored.
//!
//! Lines that do not start with `(` (after optional blanks) are not frames: `DROPCOUNT: ...`,
//! empty lines, comments. They are reported as [`Line::Other`] / [`Item::Other`], not as errors.
//!
//! Calling contract: [`parse_line`] parses one line (without its `\n`) and never panics; a
//! [`Reader`] streams lines from any [`BufRead`] into one reusable buffer (no allocation per
//! line; records borrow their interface name from it, so one record is alive at a time), counts
//! lines, records, other and bad lines ([`Stats`]), bounds line length ([`MAX_LINE_LEN`]) and
//! resynchronises at the next newline after a bad line. Opening files, standard input
//! and gzip is the edge's job ([`crate::open`]). The [`Writer`] and [`format_record`] / [`format_frame`] produce
//! byte-for-byte what candump writes. Nothing here reads the clock or touches a socket.

use core::fmt;
use std::io::{self, BufRead, Write};
use std::sync::Arc;

use crate::frame::{
    CAN_ERR_FLAG, ClassicFrame, ErrorFrame, FdFlags, FdFrame, Frame, Id, MAX_EXTENDED_ID,
    RemoteFrame, fd_len_to_dlc,
};
use crate::time::Timestamp;

use super::lex::{decimal, hexval, is_blank, skip_blanks, token_end, trimmed_len};

pub use super::{Direction, OwnedRecord, Precision, Record};

/// The longest line a [`Reader`] accepts by default (64 KiB); longer lines are reported as
/// [`ParseErrorKind::LineTooLong`] and skipped without being stored.
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// What one parsed line holds.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A frame line.
    Record(Record<'a>),
    /// A line that is not a frame (`DROPCOUNT: ...`, empty, comment), trailing blanks removed.
    Other(&'a str),
}

/// A byte found where it was not expected, shown as `'x'` or as `byte 0xNN`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Found(pub u8);

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() || self.0 == b' ' {
            write!(f, "'{}'", char::from(self.0))
        } else {
            write!(f, "byte 0x{:02X}", self.0)
        }
    }
}

/// Why a line is not a valid candump record.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    #[error("expected seconds digits after '('")]
    ExpectedSeconds,
    #[error("expected '.' between the seconds and the fraction of the timestamp")]
    ExpectedDot,
    #[error("timestamp fraction has {0} digits, expected 6 (microseconds) or 9 (nanoseconds)")]
    FractionDigits(usize),
    #[error("expected ')' after timestamp")]
    ExpectedCloseParen,
    #[error("timestamp does not fit in 64-bit nanoseconds")]
    TimestampOutOfRange,
    #[error("expected a space after the timestamp")]
    ExpectedSpace,
    #[error("missing interface name")]
    MissingInterface,
    #[error("interface name is not valid UTF-8")]
    InterfaceNotUtf8,
    #[error("control character {0} in the interface name")]
    InterfaceControl(Found),
    #[error("missing CAN frame after the interface name")]
    MissingFrame,
    #[error("expected '#' after the CAN id")]
    ExpectedHash,
    #[error("CAN id has {0} hex digits, expected 3 (standard) or 8 (extended)")]
    IdLength(usize),
    #[error("invalid hex digit {0} in the CAN id")]
    InvalidIdDigit(Found),
    #[error("id 0x{0:X} does not fit in 11 bits")]
    StandardIdRange(u32),
    #[error("id 0x{0:08X} does not fit in 29 bits")]
    ExtendedIdRange(u32),
    #[error("error frame id 0x{0:08X} has bits set above CAN_ERR_FLAG")]
    ErrorIdRange(u32),
    #[error("invalid hex digit {0} in the data")]
    InvalidDataDigit(Found),
    #[error("odd number of hex digits")]
    OddHexDigits,
    #[error("more than 8 data bytes in a classic CAN frame")]
    ClassicTooLong,
    #[error("more than 64 data bytes in a CAN FD frame")]
    FdTooLong,
    #[error("FD length {0} is not a valid CAN FD length")]
    FdLength(usize),
    #[error("expected a CAN FD flags hex digit after '##'")]
    ExpectedFdFlags,
    #[error("remote frame length {0} exceeds 8")]
    RemoteLength(u8),
    #[error("raw DLC suffix '_' needs exactly 8 data bytes, found {0}")]
    RawDlcNeedsEightBytes(usize),
    #[error("expected a raw DLC hex digit after '_'")]
    ExpectedRawDlc,
    #[error("raw DLC must be 9 to F, found {0:X}")]
    RawDlcRange(u8),
    #[error("an error frame cannot be a remote frame")]
    ErrorFrameRemote,
    #[error("an error frame cannot be a CAN FD frame")]
    ErrorFrameFd,
    #[error("an error frame has no raw DLC")]
    ErrorFrameRawDlc,
    #[error("unexpected {0} in the frame")]
    UnexpectedInFrame(Found),
    #[error("unexpected text after the frame (only ' R' or ' T' may follow)")]
    TrailingText,
    #[error("line longer than {0} bytes")]
    LineTooLong(usize),
    #[error("line is not valid UTF-8")]
    NotUtf8,
    /// A record on the log's last line, with no line end after it: every writer of candump
    /// logs ends its lines, so the log was cut while being written (a full disk, a crash, a
    /// pulled cable) and the record may have lost its last characters: a payload cut
    /// between two bytes would read as a shorter frame. It is not read.
    #[error(
        "the last line has no line end: the log was cut short while being written, so this \
         record may be incomplete (a payload cut between two bytes reads as a shorter frame)"
    )]
    CutShort,
}

/// A parse error inside one line: the 1-based column (byte offset + 1) and the cause.
#[derive(Copy, Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {kind}")]
pub struct LineError {
    pub column: usize,
    pub kind: ParseErrorKind,
}

/// A bad line in a log: where (source name, 1-based line and column) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The file the line came from, when the reader knows it.
    pub source_name: Option<Arc<str>>,
    /// 1-based line number.
    pub line: u64,
    /// 1-based column (byte offset + 1).
    pub column: usize,
    pub kind: ParseErrorKind,
}

/// `capture.log:17:24: cause`, or `line 17, column 24: cause` without a source name.
impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source_name {
            Some(name) => write!(f, "{name}:{}:{}: {}", self.line, self.column, self.kind),
            None => write!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.kind
            ),
        }
    }
}

impl std::error::Error for ParseError {}

/// What can stop a [`Reader`]: an I/O error (distinct from bad lines) or, in strict mode, a
/// bad line.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}: read error after line {line}: {error}", .source_name.as_deref().unwrap_or("<input>"))]
    Io {
        source_name: Option<Arc<str>>,
        line: u64,
        #[source]
        error: io::Error,
    },
    #[error(transparent)]
    Parse(#[from] ParseError),
}

// ---------------------------------------------------------------------------------------------
// Parsing

fn err(pos: usize, kind: ParseErrorKind) -> LineError {
    LineError {
        column: pos + 1,
        kind,
    }
}

/// A record whose interface is a byte range of the line (no borrow), so the reader can loop.
#[derive(Copy, Clone, Debug, PartialEq)]
struct RawRecord {
    timestamp: Timestamp,
    precision: Precision,
    iface_start: usize,
    iface_end: usize,
    frame: Frame,
    direction: Option<Direction>,
}

enum RawLine {
    Record(RawRecord),
    Other { start: usize, end: usize },
}

#[inline]
fn parse_raw(line: &[u8]) -> Result<RawLine, LineError> {
    let s = line.get(..trimmed_len(line)).unwrap_or(line);
    if let Some(r) = parse_canonical(s) {
        return Ok(RawLine::Record(r));
    }
    parse_raw_general(s)
}

/// The start of the canonical line (see [`parse_canonical`]): `(SECS.FRAC)`, with 1 to 19
/// seconds digits and 6 or 9 fraction digits, blanks, and a printable ASCII interface name.
pub(crate) struct CanonicalHead {
    pub timestamp: Timestamp,
    pub precision: Precision,
    /// Where the interface name is in the line.
    pub interface: std::ops::Range<usize>,
    /// Past the interface name.
    pub p: usize,
}

/// The [`CanonicalHead`] of `s`, or `None` when the line does not start that way.
#[inline(always)]
pub(crate) fn canonical_head(s: &[u8]) -> Option<CanonicalHead> {
    let rest = s.strip_prefix(b"(")?;
    // Seconds: 1 to 19 digits (20 or more are out of range: the general parser says so).
    let (secs, i) = decimal(rest, 0);
    if !(1..=19).contains(&i) || rest.get(i) != Some(&b'.') {
        return None;
    }
    let frac = rest.get(i + 1..)?;
    let (f, n) = decimal(frac, 0);
    let f = u32::try_from(f).ok()?;
    let (precision, nanos) = match n {
        6 => (Precision::Micros, f * 1_000),
        9 => (Precision::Nanos, f),
        _ => return None,
    };
    if frac.get(n) != Some(&b')') {
        return None;
    }
    let timestamp = Timestamp::from_secs_nanos(secs, nanos)?;
    // Offsets from here on are in `s`: '(' + i digits + '.' + n digits + ')'.
    let mut p = 1 + i + 1 + n + 1;
    if !is_blank(*s.get(p)?) {
        return None;
    }
    p = skip_blanks(s, p);
    let iface_start = p;
    while let Some(&b) = s.get(p) {
        if is_blank(b) {
            break;
        }
        if !(0x21..0x7F).contains(&b) {
            return None;
        }
        p += 1;
    }
    if p == iface_start {
        return None;
    }
    Some(CanonicalHead {
        timestamp,
        precision,
        interface: iface_start..p,
        p,
    })
}

/// The fast path for the line shape nearly every log has: `(SECS.FRAC) IFACE ID#HEX[ R|T]`
/// with a classic data frame, an ASCII interface name and no separators in the data. Returns
/// `None` for anything else (including every malformed line), which the general parser then
/// handles; where it returns a record, it is the one the general parser gives (a property
/// test holds them to that).
#[inline]
fn parse_canonical(s: &[u8]) -> Option<RawRecord> {
    let CanonicalHead {
        timestamp,
        precision,
        interface,
        mut p,
    } = canonical_head(s)?;
    p = skip_blanks(s, p);
    // Identifier: 3 or 8 hex digits, then '#'.
    let mut raw: u32 = 0;
    let id_start = p;
    loop {
        let b = *s.get(p)?;
        if b == b'#' {
            break;
        }
        let v = hexval(b);
        if v > 15 || p - id_start == 8 {
            return None;
        }
        raw = (raw << 4) | u32::from(v);
        p += 1;
    }
    let id = match p - id_start {
        3 => Id::new(raw, false)?,
        8 => Id::extended(raw)?,
        _ => return None,
    };
    p += 1;
    // Data: hex pairs, at most 8 bytes, up to a blank or the end.
    let mut data = [0u8; 8];
    let mut len = 0;
    loop {
        match s.get(p) {
            None => break,
            Some(&b) if is_blank(b) => break,
            Some(&h) => {
                let hv = hexval(h);
                let lv = hexval(*s.get(p + 1)?);
                if hv > 15 || lv > 15 || len == 8 {
                    return None;
                }
                data[len] = (hv << 4) | lv;
                len += 1;
                p += 2;
            }
        }
    }
    let frame_end = p;
    p = skip_blanks(s, p);
    let direction = match s.get(p..)? {
        [] => None,
        [b'R'] if p > frame_end => Some(Direction::Rx),
        [b'T'] if p > frame_end => Some(Direction::Tx),
        _ => return None,
    };
    let frame = Frame::Classic(ClassicFrame::new(id, data.get(..len)?).ok()?);
    Some(RawRecord {
        timestamp,
        precision,
        iface_start: interface.start,
        iface_end: interface.end,
        frame,
        direction,
    })
}

/// A classic data frame's id and payload, as [`scan_data_frame`] finds them.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DataFrameScan {
    /// The identifier.
    pub id: Id,
    /// The payload in its first `len` bytes, zeros after.
    pub data: [u8; 8],
    /// The payload length, 0 to 8.
    pub len: usize,
}

impl DataFrameScan {
    /// The payload.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        self.data.get(..self.len).unwrap_or_default()
    }
}

/// The quickest look at a log line (without its `\n`) for consumers that only need the frame
/// of the common shape `(SECS.FRAC) IFACE ID#HEX[ R|T]` (at most 10 seconds digits): its id and
/// payload, without building a [`Record`]. `None` for every other line, well-formed or not,
/// which [`parse_line`] then handles. Where it answers, [`parse_line`] gives a record with a
/// classic data frame of this id and payload (a property test holds them to that).
#[inline]
pub fn scan_data_frame(line: &[u8]) -> Option<DataFrameScan> {
    let s = line.get(..trimmed_len(line))?;
    let (scan, p) = scan_core(s)?;
    if p < s.len() {
        // Blanks, then `R` or `T`, and nothing else.
        let q = skip_blanks(s, p);
        if q == p || q + 1 != s.len() || !matches!(s.get(q), Some(b'R' | b'T')) {
            return None;
        }
    }
    Some(scan)
}

/// [`scan_data_frame`] on the first line of `text` when that line ends right after its data
/// (then `\n` or the end of `text`): the scan and the line's length. `None` otherwise, also for
/// lines [`scan_data_frame`] would take (trailing blanks, `\r`, a direction).
#[inline]
pub fn scan_data_frame_in(text: &[u8]) -> Option<(DataFrameScan, usize)> {
    let (scan, p) = scan_core(text)?;
    match text.get(p) {
        None | Some(b'\n') => Some((scan, p)),
        Some(_) => None,
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Eight bytes of `s` from `p`, little-endian, if there are eight.
#[inline(always)]
fn load8(s: &[u8], p: usize) -> Option<u64> {
    let b: [u8; 8] = s.get(p..p + 8)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// Per byte of `x`, the high bit set where the byte is strictly between `m` and `n`
/// (`m < n <= 128`; bytes with the high bit set never match). Bit Twiddling Hacks' `hasbetween`,
/// kept per byte: no borrow or carry crosses a byte.
#[inline(always)]
fn between(x: u64, m: u8, n: u8) -> u64 {
    let low = x & (ONES * 127);
    (ONES * (127 + u64::from(n))).wrapping_sub(low)
        & !x
        & (low + ONES * (127 - u64::from(m)))
        & HIGH
}

/// High bit set in each byte of `x` that is a decimal digit.
#[inline(always)]
fn digit_mask(x: u64) -> u64 {
    between(x, b'0' - 1, b'9' + 1)
}

/// High bit set in each byte of `x` that is a hex digit.
#[inline(always)]
fn hex_mask(x: u64) -> u64 {
    digit_mask(x) | between(x | (ONES * 0x20), b'a' - 1, b'f' + 1)
}

/// How many of the low bytes of `mask` (from [`digit_mask`] / [`hex_mask`]) match in a row.
#[inline(always)]
fn run(mask: u64) -> usize {
    ((!mask & HIGH).trailing_zeros() / 8) as usize
}

/// How many decimal digits follow `p`.
#[inline(always)]
fn digit_run(s: &[u8], p: usize) -> usize {
    let mut n = 0;
    while let Some(x) = load8(s, p + n) {
        let r = run(digit_mask(x));
        n += r;
        if r < 8 {
            return n;
        }
    }
    while s.get(p + n).is_some_and(u8::is_ascii_digit) {
        n += 1;
    }
    n
}

/// Eight hex digits (already checked) to four bytes, the first digit the high nibble of the
/// first (lowest) byte.
#[inline(always)]
fn hex8(x: u64) -> u64 {
    // Digit values: '0'-'9' low nibble; letters low nibble + 9.
    let v = (x & (ONES * 0x0F)) + ((x >> 6) & ONES) * 9;
    // Pairs: (first << 4 | second) in the low byte of each 16-bit lane.
    let t = ((v & 0x000F_000F_000F_000F) << 4) | ((v & 0x0F00_0F00_0F00_0F00) >> 8);
    let t = (t | (t >> 8)) & 0x0000_FFFF_0000_FFFF;
    (t | (t >> 16)) & 0xFFFF_FFFF
}

/// Whether `s` starts with `(SSSSSSSSSS.UUUUUU)` and a blank (an epoch time in
/// microseconds, what nearly every log has), checked with three 8-byte loads.
#[inline(always)]
fn epoch_micros(s: &[u8]) -> Option<()> {
    let (a, b, c) = (load8(s, 1)?, load8(s, 9)?, load8(s, 12)?);
    // Bytes 1-8 digits; 9-10 digits, 11 '.'; 12-17 digits, 18 ')', 19 a blank.
    let ok = digit_mask(a) == HIGH
        && digit_mask(b) & 0xFFFF == 0x8080
        && (b >> 16) & 0xFF == u64::from(b'.')
        && digit_mask(c) & 0xFFFF_FFFF_FFFF == 0x8080_8080_8080
        && (c >> 48) & 0xFF == u64::from(b')')
        && is_blank((c >> 56) as u8);
    ok.then_some(())
}

/// The frame of `(SECS.FRAC) IFACE ID#HEX` at the start of `s`, and the offset just past the
/// hex data (which ends at the first byte that is not a hex digit). No byte class accepted
/// here includes `\n`, so the scan never crosses a line.
#[inline(always)]
fn scan_core(s: &[u8]) -> Option<(DataFrameScan, usize)> {
    if *s.first()? != b'(' {
        return None;
    }
    let mut p = match epoch_micros(s) {
        // `(` 10 digits `.` 6 digits `)` and a blank, checked at once.
        Some(()) => 20,
        None => {
            // Seconds, 1 to 10 digits: any such timestamp fits a `Timestamp`.
            let n = digit_run(s, 1);
            if !(1..=10).contains(&n) || *s.get(1 + n)? != b'.' {
                return None;
            }
            let frac_start = 2 + n;
            let n = digit_run(s, frac_start);
            let p = frac_start + n;
            if !matches!(n, 6 | 9) || *s.get(p)? != b')' || !is_blank(*s.get(p + 1)?) {
                return None;
            }
            p + 2
        }
    };
    p = skip_blanks(s, p);
    // Interface: printable ASCII up to a blank, 8 bytes at a time.
    let iface_start = p;
    loop {
        match load8(s, p) {
            Some(x) => {
                let n = run(between(x, 0x20, 0x7F));
                p += n;
                if n < 8 {
                    if !is_blank(*s.get(p)?) {
                        return None;
                    }
                    break;
                }
            }
            None => {
                let b = *s.get(p)?;
                if is_blank(b) {
                    break;
                }
                if !(0x21..0x7F).contains(&b) {
                    return None;
                }
                p += 1;
            }
        }
    }
    if p == iface_start {
        return None;
    }
    p = skip_blanks(s, p);
    // Identifier: 3 or 8 hex digits, then '#'.
    let id = match load8(s, p) {
        Some(x) => {
            let n = run(hex_mask(x));
            if *s.get(p + n)? != b'#' {
                return None;
            }
            let id = match n {
                3 => Id::new(
                    (u32::from(hexval((x & 0xFF) as u8)) << 8)
                        | (u32::from(hexval((x >> 8 & 0xFF) as u8)) << 4)
                        | u32::from(hexval((x >> 16 & 0xFF) as u8)),
                    false,
                )?,
                8 => Id::extended((hex8(x) as u32).swap_bytes())?,
                _ => return None,
            };
            p += n;
            id
        }
        None => {
            let id_start = p;
            let mut raw: u32 = 0;
            loop {
                let b = *s.get(p)?;
                if b == b'#' {
                    break;
                }
                let v = hexval(b);
                if v > 15 || p - id_start == 8 {
                    return None;
                }
                raw = (raw << 4) | u32::from(v);
                p += 1;
            }
            match p - id_start {
                3 => Id::new(raw, false)?,
                8 => Id::extended(raw)?,
                _ => return None,
            }
        }
    };
    p += 1;
    // Data: up to 16 hex digits, 8 at a time when the text has 17 bytes from here (the 17th
    // must end the run), else one pair at a time.
    if let (Some(x1), Some(x2), Some(&after)) = (load8(s, p), load8(s, p + 8), s.get(p + 16)) {
        let (m1, m2) = (hex_mask(x1), hex_mask(x2));
        let n1 = run(m1);
        let digits = if n1 < 8 { n1 } else { 8 + run(m2) };
        if digits % 2 != 0 || (digits == 16 && hexval(after) <= 15) {
            return None;
        }
        let len = digits / 2;
        let bytes = hex8(x1) | (hex8(x2) << 32);
        let keep = if len == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * len)) - 1
        };
        let data = (bytes & keep).to_le_bytes();
        return Some((DataFrameScan { id, data, len }, p + digits));
    }
    let mut data = [0u8; 8];
    let mut len = 0;
    while let Some(&h) = s.get(p) {
        let hi = hexval(h);
        if hi > 15 {
            break;
        }
        let lo = hexval(*s.get(p + 1)?);
        if lo > 15 {
            return None;
        }
        *data.get_mut(len)? = (hi << 4) | lo;
        len += 1;
        p += 2;
    }
    Some((DataFrameScan { id, data, len }, p))
}

/// The general parser: every form of the grammar, and a precise error for anything else.
fn parse_raw_general(s: &[u8]) -> Result<RawLine, LineError> {
    let mut p = skip_blanks(s, 0);
    if s.get(p) != Some(&b'(') {
        return match core::str::from_utf8(s) {
            Ok(_) => Ok(RawLine::Other {
                start: 0,
                end: s.len(),
            }),
            Err(e) => Err(err(e.valid_up_to(), ParseErrorKind::NotUtf8)),
        };
    }
    p += 1;

    // Seconds.
    let secs_start = p;
    let (secs, n) = decimal(s, p);
    if n == 0 {
        return Err(err(p, ParseErrorKind::ExpectedSeconds));
    }
    // 19 digits always fit in a u64; more can only be out of range.
    let overflow = n > 19;
    p += n;
    if s.get(p) != Some(&b'.') {
        return Err(err(p, ParseErrorKind::ExpectedDot));
    }
    p += 1;

    // Fraction.
    let frac_start = p;
    let (frac, n) = decimal(s, p);
    let (precision, nanos) = match n {
        6 => (Precision::Micros, frac as u32 * 1_000),
        9 => (Precision::Nanos, frac as u32),
        n => return Err(err(frac_start, ParseErrorKind::FractionDigits(n))),
    };
    p += n;
    if s.get(p) != Some(&b')') {
        return Err(err(p, ParseErrorKind::ExpectedCloseParen));
    }
    p += 1;
    let timestamp = match (overflow, Timestamp::from_secs_nanos(secs, nanos)) {
        (false, Some(t)) => t,
        _ => return Err(err(secs_start, ParseErrorKind::TimestampOutOfRange)),
    };

    // Interface, right-aligned by candump.
    match s.get(p) {
        Some(&b) if is_blank(b) => {}
        None => return Err(err(p, ParseErrorKind::MissingInterface)),
        Some(_) => return Err(err(p, ParseErrorKind::ExpectedSpace)),
    }
    let iface_start = skip_blanks(s, p);
    let iface_end = token_end(s, iface_start);
    if iface_start == iface_end {
        return Err(err(iface_end, ParseErrorKind::MissingInterface));
    }
    let iface = s.get(iface_start..iface_end).unwrap_or_default();
    // No terminal escape sequence or other control character reaches a screen through a
    // log's interface name.
    if let Some(i) = iface.iter().position(|&b| b < 0x20 || b == 0x7F) {
        let b = iface.get(i).copied().unwrap_or(0);
        return Err(err(
            iface_start + i,
            ParseErrorKind::InterfaceControl(Found(b)),
        ));
    }
    if !iface.is_ascii()
        && let Err(e) = core::str::from_utf8(iface)
    {
        return Err(err(
            iface_start + e.valid_up_to(),
            ParseErrorKind::InterfaceNotUtf8,
        ));
    }
    let frame_start = skip_blanks(s, iface_end);
    if frame_start >= s.len() {
        return Err(err(frame_start, ParseErrorKind::MissingFrame));
    }

    // Frame.
    let frame_end = token_end(s, frame_start);
    let frame = parse_frame_at(
        s.get(frame_start..frame_end).unwrap_or_default(),
        frame_start,
    )?;

    // Direction.
    p = skip_blanks(s, frame_end);
    let direction = match s.get(p..) {
        None | Some([]) => None,
        Some([b'R']) => Some(Direction::Rx),
        Some([b'T']) => Some(Direction::Tx),
        Some(_) => return Err(err(p, ParseErrorKind::TrailingText)),
    };

    Ok(RawLine::Record(RawRecord {
        timestamp,
        precision,
        iface_start,
        iface_end,
        frame,
        direction,
    }))
}

/// Decodes hex byte pairs with optional `.` separators from `s[p..]` into `out`, stopping at the
/// end or at `_`. Returns the number of bytes and the position after them.
#[inline]
fn decode_data(
    s: &[u8],
    mut p: usize,
    base: usize,
    out: &mut [u8],
    too_long: ParseErrorKind,
) -> Result<(usize, usize), LineError> {
    let mut n = 0;
    loop {
        if s.get(p) == Some(&b'.') {
            p += 1;
        }
        let Some(&h) = s.get(p) else { break };
        if h == b'_' {
            break;
        }
        let hv = hexval(h);
        if hv > 15 {
            return Err(err(base + p, ParseErrorKind::InvalidDataDigit(Found(h))));
        }
        let lv = match s.get(p + 1) {
            None | Some(b'.') | Some(b'_') => {
                return Err(err(base + p, ParseErrorKind::OddHexDigits));
            }
            Some(&l) => {
                let lv = hexval(l);
                if lv > 15 {
                    return Err(err(
                        base + p + 1,
                        ParseErrorKind::InvalidDataDigit(Found(l)),
                    ));
                }
                lv
            }
        };
        match out.get_mut(n) {
            Some(slot) => *slot = (hv << 4) | lv,
            None => return Err(err(base + p, too_long)),
        }
        n += 1;
        p += 2;
    }
    Ok((n, p))
}

/// Parses the compact frame syntax (`123#11223344`, `123##1AABB`, `123#R`, `20000004#...`);
/// `base` is the byte offset of `s` in its line, for error columns.
#[inline]
fn parse_frame_at(s: &[u8], base: usize) -> Result<Frame, LineError> {
    // Id digits up to '#'.
    let mut p = 0;
    let mut raw: u32 = 0;
    while let Some(&b) = s.get(p) {
        let v = hexval(b);
        if v > 15 {
            break;
        }
        if p < 8 {
            raw = (raw << 4) | u32::from(v);
        }
        p += 1;
    }
    match s.get(p) {
        Some(b'#') => {}
        None => return Err(err(base + p, ParseErrorKind::ExpectedHash)),
        Some(&b) => return Err(err(base + p, ParseErrorKind::InvalidIdDigit(Found(b)))),
    }
    let is_error;
    let id = match p {
        3 => {
            is_error = false;
            match u16::try_from(raw).ok().and_then(Id::standard) {
                Some(id) => Some(id),
                None => return Err(err(base, ParseErrorKind::StandardIdRange(raw))),
            }
        }
        8 if raw & CAN_ERR_FLAG != 0 => {
            if raw > (CAN_ERR_FLAG | MAX_EXTENDED_ID) {
                return Err(err(base, ParseErrorKind::ErrorIdRange(raw)));
            }
            is_error = true;
            None
        }
        8 => {
            is_error = false;
            match Id::extended(raw) {
                Some(id) => Some(id),
                None => return Err(err(base, ParseErrorKind::ExtendedIdRange(raw))),
            }
        }
        n => return Err(err(base, ParseErrorKind::IdLength(n))),
    };
    p += 1;

    match (s.get(p), id) {
        (Some(b'R' | b'r'), _) if is_error => Err(err(base + p, ParseErrorKind::ErrorFrameRemote)),
        (Some(b'R' | b'r'), Some(id)) => {
            p += 1;
            let mut len = 0u8;
            let mut raw_dlc = None;
            if let Some(&c) = s.get(p) {
                let v = hexval(c);
                if v > 15 {
                    return Err(err(base + p, ParseErrorKind::UnexpectedInFrame(Found(c))));
                }
                if v > 8 {
                    return Err(err(base + p, ParseErrorKind::RemoteLength(v)));
                }
                len = v;
                p += 1;
                if s.get(p) == Some(&b'_') {
                    if len != 8 {
                        return Err(err(
                            base + p,
                            ParseErrorKind::RawDlcNeedsEightBytes(usize::from(len)),
                        ));
                    }
                    p += 1;
                    raw_dlc = Some(parse_raw_dlc(s, p, base)?);
                    p += 1;
                }
            }
            if let Some(&c) = s.get(p) {
                return Err(err(base + p, ParseErrorKind::UnexpectedInFrame(Found(c))));
            }
            let r = match raw_dlc {
                Some(d) => RemoteFrame::with_raw_dlc(id, d),
                None => RemoteFrame::new(id, len),
            };
            r.map(Frame::Remote)
                .map_err(|_| err(base + p, ParseErrorKind::RemoteLength(len)))
        }
        (Some(b'#'), _) if is_error => Err(err(base + p, ParseErrorKind::ErrorFrameFd)),
        (Some(b'#'), Some(id)) => {
            p += 1;
            let flags = match s.get(p).map(|&b| hexval(b)) {
                Some(v) if v <= 15 => v,
                _ => return Err(err(base + p, ParseErrorKind::ExpectedFdFlags)),
            };
            p += 1;
            let data_start = p;
            let mut data = [0u8; 64];
            let (n, q) = decode_data(s, p, base, &mut data, ParseErrorKind::FdTooLong)?;
            if let Some(&c) = s.get(q) {
                return Err(err(base + q, ParseErrorKind::UnexpectedInFrame(Found(c))));
            }
            if fd_len_to_dlc(n).is_none() {
                return Err(err(base + data_start, ParseErrorKind::FdLength(n)));
            }
            let flags = FdFlags::from_bits(flags).unwrap_or_default();
            FdFrame::new(id, data.get(..n).unwrap_or_default(), flags)
                .map(Frame::Fd)
                .map_err(|_| err(base + data_start, ParseErrorKind::FdLength(n)))
        }
        (_, id) => {
            let mut data = [0u8; 8];
            let (n, mut q) = decode_data(s, p, base, &mut data, ParseErrorKind::ClassicTooLong)?;
            let mut raw_dlc = None;
            if s.get(q) == Some(&b'_') {
                if is_error {
                    return Err(err(base + q, ParseErrorKind::ErrorFrameRawDlc));
                }
                if n != 8 {
                    return Err(err(base + q, ParseErrorKind::RawDlcNeedsEightBytes(n)));
                }
                raw_dlc = Some(parse_raw_dlc(s, q + 1, base)?);
                q += 2;
            }
            if let Some(&c) = s.get(q) {
                return Err(err(base + q, ParseErrorKind::UnexpectedInFrame(Found(c))));
            }
            match id {
                None => ErrorFrame::new(raw & MAX_EXTENDED_ID, data)
                    .map(Frame::Error)
                    .map_err(|_| err(base, ParseErrorKind::ErrorIdRange(raw))),
                Some(id) => {
                    let f = match raw_dlc {
                        Some(d) => ClassicFrame::with_raw_dlc(id, data, d),
                        None => ClassicFrame::new(id, data.get(..n).unwrap_or_default()),
                    };
                    f.map(Frame::Classic)
                        .map_err(|_| err(base + p, ParseErrorKind::ClassicTooLong))
                }
            }
        }
    }
}

fn parse_raw_dlc(s: &[u8], p: usize, base: usize) -> Result<u8, LineError> {
    match s.get(p).map(|&b| hexval(b)) {
        Some(v) if (9..=15).contains(&v) => Ok(v),
        Some(v) if v <= 15 => Err(err(base + p, ParseErrorKind::RawDlcRange(v))),
        _ => Err(err(base + p, ParseErrorKind::ExpectedRawDlc)),
    }
}

/// Parses the compact frame syntax alone (`123#DEADBEEF`, `123##1AABB`, `123#R5`,
/// `20000004#0004000000000000`), as `cansend` takes it. Columns in errors count from 1 at the
/// first byte of `s`.
pub fn parse_frame(s: &[u8]) -> Result<Frame, LineError> {
    parse_frame_at(s, 0)
}

/// Parses one log line (with or without its trailing `\n` / `\r\n`). Never panics.
pub fn parse_line(line: &[u8]) -> Result<Line<'_>, LineError> {
    Ok(match parse_raw(line)? {
        RawLine::Record(r) => Line::Record(record_from_raw(line, &r)),
        RawLine::Other { start, end } => Line::Other(
            line.get(start..end)
                .and_then(|b| core::str::from_utf8(b).ok())
                .unwrap_or_default(),
        ),
    })
}

/// The error of `line`, the log's last line with no line end after it, when it is a record
/// ([`ParseErrorKind::CutShort`]); `None` for anything else, which is read as a line.
pub fn cut_short(line: &[u8]) -> Option<LineError> {
    matches!(parse_raw(line), Ok(RawLine::Record(_)))
        .then(|| err(line.len(), ParseErrorKind::CutShort))
}

fn record_from_raw<'a>(line: &'a [u8], r: &RawRecord) -> Record<'a> {
    let interface = line
        .get(r.iface_start..r.iface_end)
        .and_then(|b| core::str::from_utf8(b).ok())
        .unwrap_or_default();
    Record {
        timestamp: r.timestamp,
        precision: r.precision,
        interface,
        frame: r.frame,
        direction: r.direction,
    }
}

// ---------------------------------------------------------------------------------------------
// Reader

/// What a [`Reader`] does with a bad line.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    /// Count the line, hand it out as [`Item::Bad`] and go on with the next line.
    #[default]
    Lenient,
    /// Return it as `Err(ReadError::Parse)`; the caller is expected to stop (reading on
    /// continues with the next line).
    Strict,
}

/// Line counters of a [`Reader`].
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lines read (every `\n`-terminated line, and a last unterminated one).
    pub lines: u64,
    /// Frame lines parsed.
    pub records: u64,
    /// Non-frame lines (`DROPCOUNT`, empty, comments).
    pub other_lines: u64,
    /// Lines that failed to parse (including too long and non-UTF-8 lines).
    pub bad_lines: u64,
}

/// One item of a log, as [`Reader::read_item`] returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item<'a> {
    Record(Record<'a>),
    /// A non-frame line, trailing blanks removed.
    Other(&'a str),
    /// A bad line (lenient policy only).
    Bad(ParseError),
}

enum Step {
    Eof,
    Record(RawRecord),
    Other { start: usize, end: usize },
    Bad(ParseError),
}

enum LineRead {
    Eof,
    Line,
    /// The last line, with no `\n` after it.
    Unterminated,
    TooLong,
}

/// A streaming candump log reader over any [`BufRead`], reusing one line buffer.
pub struct Reader<R> {
    inner: R,
    line: Vec<u8>,
    source_name: Option<Arc<str>>,
    policy: Policy,
    stats: Stats,
    max_line_len: usize,
}

impl<R: BufRead> Reader<R> {
    /// A lenient reader without a source name.
    pub fn new(inner: R) -> Self {
        Reader {
            inner,
            line: Vec::with_capacity(256),
            source_name: None,
            policy: Policy::Lenient,
            stats: Stats::default(),
            max_line_len: MAX_LINE_LEN,
        }
    }

    /// Names the source (a file path) in error messages: `capture.log:17:24: ...`.
    pub fn with_source_name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.source_name = Some(name.into());
        self
    }

    /// Sets what happens to bad lines.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the longest accepted line (at least 1 byte).
    pub fn with_max_line_len(mut self, max: usize) -> Self {
        self.max_line_len = max.max(1);
        self
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The source name, if any.
    pub fn source_name(&self) -> Option<&str> {
        self.source_name.as_deref()
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
            match memchr::memchr(b'\n', available) {
                Some(i) => {
                    let chunk = available.get(..i).unwrap_or_default();
                    if !too_long {
                        if self.line.len() + chunk.len() > self.max_line_len {
                            too_long = true;
                            self.line.clear();
                        } else {
                            self.line.extend_from_slice(chunk);
                        }
                    }
                    self.inner.consume(i + 1);
                    return Ok(if too_long {
                        LineRead::TooLong
                    } else {
                        LineRead::Line
                    });
                }
                None => {
                    let n = available.len();
                    if !too_long {
                        if self.line.len() + n > self.max_line_len {
                            too_long = true;
                            self.line.clear();
                        } else {
                            self.line.extend_from_slice(available);
                        }
                    }
                    self.inner.consume(n);
                }
            }
        }
        Ok(match (any, too_long) {
            (false, _) => LineRead::Eof,
            (true, false) => LineRead::Unterminated,
            (true, true) => LineRead::TooLong,
        })
    }

    fn bad(&mut self, e: LineError) -> ParseError {
        self.stats.bad_lines += 1;
        ParseError {
            source_name: self.source_name.clone(),
            line: self.stats.lines,
            column: e.column,
            kind: e.kind,
        }
    }

    /// Reads and classifies one line without borrowing it.
    fn step(&mut self) -> Result<Step, ReadError> {
        let read = self.read_line().map_err(|error| ReadError::Io {
            source_name: self.source_name.clone(),
            line: self.stats.lines,
            error,
        })?;
        match read {
            LineRead::Eof => Ok(Step::Eof),
            LineRead::TooLong => {
                self.stats.lines += 1;
                let limit = self.max_line_len;
                Ok(Step::Bad(
                    self.bad(err(limit, ParseErrorKind::LineTooLong(limit))),
                ))
            }
            LineRead::Line | LineRead::Unterminated => {
                self.stats.lines += 1;
                if matches!(read, LineRead::Unterminated)
                    && let Some(e) = cut_short(&self.line)
                {
                    return Ok(Step::Bad(self.bad(e)));
                }
                match parse_raw(&self.line) {
                    Ok(RawLine::Record(r)) => {
                        self.stats.records += 1;
                        Ok(Step::Record(r))
                    }
                    Ok(RawLine::Other { start, end }) => {
                        self.stats.other_lines += 1;
                        Ok(Step::Other { start, end })
                    }
                    Err(e) => Ok(Step::Bad(self.bad(e))),
                }
            }
        }
    }

    /// The next item: a record, a non-frame line, or (lenient policy) a bad line.
    /// `Ok(None)` at the end of the input. In strict mode a bad line is
    /// `Err(ReadError::Parse)`.
    pub fn read_item(&mut self) -> Result<Option<Item<'_>>, ReadError> {
        match self.step()? {
            Step::Eof => Ok(None),
            Step::Record(r) => Ok(Some(Item::Record(record_from_raw(&self.line, &r)))),
            Step::Other { start, end } => Ok(Some(Item::Other(
                self.line
                    .get(start..end)
                    .and_then(|b| core::str::from_utf8(b).ok())
                    .unwrap_or_default(),
            ))),
            Step::Bad(e) => match self.policy {
                Policy::Lenient => Ok(Some(Item::Bad(e))),
                Policy::Strict => Err(ReadError::Parse(e)),
            },
        }
    }

    /// The next record, skipping non-frame lines, and bad lines in lenient mode (they are
    /// counted in [`Stats::bad_lines`] and logged at `debug` level). `None` at the end.
    pub fn next_record(&mut self) -> Option<Result<Record<'_>, ReadError>> {
        let raw = loop {
            match self.step() {
                Ok(Step::Record(r)) => break r,
                Ok(Step::Eof) => return None,
                Ok(Step::Other { .. }) => {}
                Ok(Step::Bad(e)) => match self.policy {
                    Policy::Lenient => tracing::debug!(error = %e, "skipping bad candump line"),
                    Policy::Strict => return Some(Err(ReadError::Parse(e))),
                },
                Err(e) => return Some(Err(e)),
            }
        };
        Some(Ok(record_from_raw(&self.line, &raw)))
    }
}

impl<R: BufRead + Send> super::FrameReader for Reader<R> {
    fn read_item(&mut self) -> Result<Option<super::Item<'_>>, super::ReadError> {
        let step = self.step().map_err(|e| match e {
            ReadError::Io {
                source_name,
                line,
                error,
            } => super::ReadError::Io {
                source_name,
                location: super::Location::Line { line, column: 1 },
                error,
            },
            ReadError::Parse(e) => super::ReadError::Candump(e),
        })?;
        Ok(match step {
            Step::Eof => None,
            Step::Record(r) => Some(super::Item::Record(record_from_raw(&self.line, &r))),
            Step::Other { start, end } => Some(super::Item::Other(
                self.line
                    .get(start..end)
                    .and_then(|b| core::str::from_utf8(b).ok())
                    .unwrap_or_default(),
            )),
            Step::Bad(e) => Some(super::Item::Bad(super::ReadError::Candump(e))),
        })
    }

    fn format(&self) -> super::Format {
        super::Format::Candump
    }

    fn stats(&self) -> super::Stats {
        super::Stats {
            records: self.stats.records,
            other: self.stats.other_lines,
            skipped: 0,
            bad: self.stats.bad_lines,
        }
    }
}

/// Whether `head` (the first bytes of a capture) looks like a candump log: its first line
/// that is not blank, a `#` comment or a `DROPCOUNT` line is a whole log record
/// (`(SECS.FRAC) IFACE FRAME[ R|T]`), or at least looks like one: `(`, digits, `.`, `) `
/// and a `#` (a malformed record, which the reader then reports with its line). The
/// timestamped screen output of `candump can0` (` (SECS.FRAC)  can0  123   [1]  11`, two
/// spaces after the time) is not taken for a log.
pub fn sniff(head: &[u8]) -> bool {
    for line in head.split(|&b| b == b'\n') {
        let text = line.trim_ascii();
        if text.is_empty() || text.starts_with(b"#") || text.starts_with(b"DROPCOUNT") {
            continue;
        }
        if matches!(parse_line(text), Ok(Line::Record(_))) {
            return true;
        }
        let Some(rest) = text.strip_prefix(b"(") else {
            return false;
        };
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || rest.get(digits) != Some(&b'.') {
            return false;
        }
        // A log puts one space after the time, the screen output two.
        let Some(close) = memchr::memchr(b')', rest) else {
            return false;
        };
        return rest.get(close + 1) == Some(&b' ')
            && rest
                .get(close + 2)
                .is_some_and(|b| !b.is_ascii_whitespace())
            && rest.contains(&b'#');
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Writing

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

#[inline(always)]
fn hex_digit(v: u32) -> u8 {
    HEX_UPPER[(v & 0xF) as usize]
}

#[inline]
fn push_hex_bytes(out: &mut Vec<u8>, data: &[u8]) {
    out.reserve(data.len() * 2);
    for &b in data {
        out.push(hex_digit(u32::from(b >> 4)));
        out.push(hex_digit(u32::from(b)));
    }
}

#[inline]
fn push_id(out: &mut Vec<u8>, raw: u32, digits: u32) {
    for i in (0..digits).rev() {
        out.push(hex_digit(raw >> (4 * i)));
    }
}

fn push_frame_id(out: &mut Vec<u8>, id: Id) {
    if id.is_extended() {
        push_id(out, id.raw(), 8);
    } else {
        push_id(out, id.raw(), 3);
    }
}

/// Appends `frame` in candump's compact syntax (upper-case hex, no separators), exactly as
/// can-utils `snprintf_canframe` writes it: `123#DEADBEEF`, `123#1122334455667788_9`,
/// `12345678#R`, `123#R5`, `123#R8_9`, `123##5AABB`, `20000004#0004000000000000`.
pub fn format_frame(out: &mut Vec<u8>, frame: &Frame) {
    match frame {
        Frame::Classic(c) => {
            push_frame_id(out, c.id());
            out.push(b'#');
            push_hex_bytes(out, c.data());
            if let Some(d) = c.raw_dlc() {
                out.push(b'_');
                out.push(hex_digit(u32::from(d)));
            }
        }
        Frame::Fd(f) => {
            push_frame_id(out, f.id());
            out.extend_from_slice(b"##");
            out.push(hex_digit(u32::from(f.flags().bits())));
            push_hex_bytes(out, f.data());
        }
        Frame::Remote(r) => {
            push_frame_id(out, r.id());
            out.extend_from_slice(b"#R");
            if !r.is_empty() {
                out.push(b'0' + r.len());
            }
            if let Some(d) = r.raw_dlc() {
                out.push(b'_');
                out.push(hex_digit(u32::from(d)));
            }
        }
        Frame::Error(e) => {
            push_id(out, e.class() | CAN_ERR_FLAG, 8);
            out.push(b'#');
            push_hex_bytes(out, e.data());
        }
    }
}

/// How a [`Writer`] lays out lines.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    /// Fraction digits; `None` keeps each record's own precision (the default).
    pub precision: Option<Precision>,
    /// Minimum seconds digits, zero-padded: 10 as candump writes epoch times (the default),
    /// 3 for the `-tz` style.
    pub secs_width: usize,
    /// Right-align interface names to this width (candump pads to its longest interface
    /// name); 0, the default, writes them as they are.
    pub interface_width: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            precision: None,
            secs_width: 10,
            interface_width: 0,
        }
    }
}

fn push_padded_u64(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut b = itoa::Buffer::new();
    let digits = b.format(v).as_bytes();
    for _ in digits.len()..width {
        out.push(b'0');
    }
    out.extend_from_slice(digits);
}

fn push_fraction(out: &mut Vec<u8>, mut v: u32, digits: usize) {
    let mut buf = [b'0'; 9];
    let n = digits.min(9);
    for slot in buf.iter_mut().take(n).rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(buf.get(..n).unwrap_or_default());
}

/// Appends one log line for `record`, with its `\n`: `(1700000000.000211) can0 123#11 R`.
pub fn format_record(out: &mut Vec<u8>, record: &Record<'_>, options: &WriteOptions) {
    let t = record.timestamp;
    out.push(b'(');
    push_padded_u64(out, t.secs(), options.secs_width);
    out.push(b'.');
    match options.precision.unwrap_or(record.precision) {
        Precision::Micros => push_fraction(out, t.subsec_micros(), 6),
        Precision::Nanos => push_fraction(out, t.subsec_nanos(), 9),
    }
    out.extend_from_slice(b") ");
    for _ in record.interface.len()..options.interface_width {
        out.push(b' ');
    }
    out.extend_from_slice(record.interface.as_bytes());
    out.push(b' ');
    format_frame(out, &record.frame);
    match record.direction {
        None => {}
        Some(Direction::Rx) => out.extend_from_slice(b" R"),
        Some(Direction::Tx) => out.extend_from_slice(b" T"),
    }
    out.push(b'\n');
}

/// Writes candump log lines into any [`Write`], formatting into one reusable buffer (one
/// `write_all` per record: wrap files and stdout in a `BufWriter`).
pub struct Writer<W: Write> {
    inner: W,
    buf: Vec<u8>,
    options: WriteOptions,
}

impl<W: Write> Writer<W> {
    /// A writer with the default options (record's precision, 10-digit seconds, no padding).
    pub fn new(inner: W) -> Self {
        Self::with_options(inner, WriteOptions::default())
    }

    /// A writer with the given options.
    pub fn with_options(inner: W, options: WriteOptions) -> Self {
        Writer {
            inner,
            buf: Vec::with_capacity(256),
            options,
        }
    }

    /// Writes one record line.
    pub fn write_record(&mut self, record: &Record<'_>) -> io::Result<()> {
        self.buf.clear();
        format_record(&mut self.buf, record, &self.options);
        self.inner.write_all(&self.buf)
    }

    /// Writes a non-frame line (such as a `DROPCOUNT: ...` line) followed by `\n`.
    pub fn write_other(&mut self, text: &str) -> io::Result<()> {
        self.buf.clear();
        self.buf.extend_from_slice(text.as_bytes());
        self.buf.push(b'\n');
        self.inner.write_all(&self.buf)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> super::FrameWriter for Writer<W> {
    fn write_record(&mut self, record: &Record<'_>) -> io::Result<()> {
        Writer::write_record(self, record)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    fn losses(&self) -> &[super::Loss] {
        &[]
    }
}

#[cfg(test)]
mod tests;
