//! Vector BLF (binary logging format): a streaming reader and a writer.
//!
//! Vector publishes no specification of BLF. This module follows the format as it has been
//! reconstructed in public: Tobias Lorenz's `vector_blf` C++ library (object layouts,
//! `FileStatistics`, `LogContainer`), Wireshark's `wiretap/blf.c` (the three object header
//! versions, containers read as one continuous stream, error-frame decoding), python-can's
//! `can/io/blf.py` and its tracker (python-can#1950 header version 3, #1905 short CAN FD payloads,
//! #1586 error frames, #459/#786/#1186 padding), and zariiii9003's `vblf` (sample objects).
//!
//! # The format
//! A file is a 144-byte file header (`LOGG`, header size, API number, application id and
//! version, file size, uncompressed size, object count, measurement start and end as Windows
//! `SYSTEMTIME`) followed by objects. Every object starts with a 16-byte base header (`LOBJ`,
//! header size, header version, object size, object type). File-level objects are normally
//! `LOG_CONTAINER`s (type 10): a 16-byte container header (compression method 0 = none or
//! 2 = zlib, uncompressed size) then the data. The data of consecutive containers is one
//! stream of objects: an object may start in one container and end in the next, and writers
//! fill containers to a fixed size (128 KiB for CANoe, python-can and `vector_blf`). Objects
//! may also stand in the file outside any container; they are read in place.
//!
//! The object header after the base is version 1 (flags, client index, object version,
//! 64-bit timestamp), 2 (flags, timestamp status, object version, timestamp, original
//! timestamp) or 3 (flags, static size, object version, timestamp: the `VarObjectHeader` that
//! CANoe 15 writes for trigger conditions and function-bus objects, which python-can rejects,
//! python-can#1950). All three keep the flags at byte 16 and the timestamp at byte 24; the
//! object's body starts at its header size. Flag 1 means the timestamp counts 10 us, flag 2
//! nanoseconds.
//!
//! Padding is not consistent between writers: after an object, writers put nothing, `object
//! size % 4` bytes (python-can, `vector_blf`) or up to the next multiple of 4. Like `vector_blf`,
//! Wireshark and python-can, the reader looks for the next `LOBJ`: up to 3 bytes are padding;
//! more are reported as [`ErrorKind::Garbage`] and skipped.
//!
//! # What the reader delivers
//! - `CAN_MESSAGE` (1), `CAN_MESSAGE2` (86), `CAN_FD_MESSAGE` (100) and `CAN_FD_MESSAGE_64`
//!   (101) as classic, remote or CAN FD frames, with BRS/ESI (FD frames also get FDF, as Linux
//!   delivers them), raw DLCs 9 to 15 of classic frames, and the direction (flag bit 0, or the
//!   `dir` field of `CAN_FD_MESSAGE_64`: 0 Rx, 1 Tx, 2 Tx request). A CAN FD payload shorter
//!   than its DLC says (the object holds fewer bytes than `validDataBytes`, python-can#1905, or
//!   `validDataBytes` is smaller than the DLC length) is padded with zeros to the DLC length,
//!   as CANoe does. The data of `CAN_FD_MESSAGE_64` ends at `extDataOffset` when it is set.
//! - Error frames as [`ErrorFrame`]s with SocketCAN classes (see *Error frames* below):
//!   `CAN_ERROR_EXT` (73), `CAN_FD_ERROR_64` (104), `CAN_ERROR` (2) and `CAN_OVERLOAD` (3).
//! - `APP_TEXT` (65), `EVENT_COMMENT` (92) and `GLOBAL_MARKER` (96) as [`Item::Other`] with
//!   their text; every other object type (LIN, FlexRay, Ethernet, MOST, statistics, system
//!   variables, restore points...) as [`Item::Skipped`] with its name.
//! - Channels are 1-based: channel `N` is interface `can{N-1}` ([`channel_interface`]).
//! - Timestamps: the measurement start time of the file header plus the object's timestamp,
//!   as Unix time. `SYSTEMTIME` carries no time zone: CANoe writes local time, python-can UTC;
//!   this reader takes it as UTC, as python-can does. A start time of all zeros means "not
//!   known" (python-can writes that for captures with timestamps before 1990): timestamps then
//!   count from zero. Records carry [`Precision::Nanos`] (or `Micros` for 10 us objects).
//!
//! # Error frames
//! BLF error objects describe the error as the Vector hardware saw it; they become SocketCAN
//! error frames (class bits and 8 detail bytes, `linux/can/error.h`) as follows:
//! - `CAN_ERROR_EXT` whose flags mark no detail valid (flags 0) is python-can's convention,
//!   which the [`Writer`] follows too: the id field holds the SocketCAN class and the data
//!   the detail bytes, so SocketCAN error frames go through BLF unchanged (python-can reads
//!   them back the same way). Bits 12-13 of `flagsExt`, when not zero, hold the direction
//!   (2 Rx, 3 Tx).
//! - With the CAN-Core error code valid (flag 2; `flagsExt` of `CAN_ERROR_EXT`,
//!   `errorCodeExt` of `CAN_FD_ERROR_64`), decoded as Wireshark does: bit, form and stuff
//!   errors are `CAN_ERR_PROT | CAN_ERR_BUSERROR` with `CAN_ERR_PROT_BIT` / `_FORM` / `_STUFF`
//!   in byte 2, a CRC error has `CAN_ERR_PROT_LOC_CRC_SEQ` in byte 3, an ACK delimiter error
//!   `_FORM` and `CAN_ERR_PROT_LOC_ACK_DEL`, an overload `CAN_ERR_PROT_OVERLOAD`, anything
//!   else `CAN_ERR_PROT_UNSPEC`; a not-acknowledged frame (code 7, or direction Rx NAK / Tx
//!   NAK) is `CAN_ERR_ACK | CAN_ERR_BUSERROR` at `CAN_ERR_PROT_LOC_ACK`. Tx errors add
//!   `CAN_ERR_PROT_TX` and have direction Tx.
//! - With only the SJA1000 error code capture valid (flag 1), decoded as Linux's `sja1000`
//!   driver does: type in byte 2, the segment (SocketCAN's location codes) in byte 3,
//!   `CAN_ERR_PROT_TX` unless the direction bit says Rx.
//! - Otherwise (`CAN_ERROR`, and the others without details): [`UNSPECIFIED_ERROR_CLASS`],
//!   `CAN_ERR_PROT | CAN_ERR_BUSERROR` with zero details, what Linux drivers report for an
//!   error frame of unknown type. `CAN_OVERLOAD` is `CAN_ERR_PROT` with
//!   `CAN_ERR_PROT_OVERLOAD`, as SocketCAN reports overload frames.
//!
//! # Calling contract
//! [`Reader::new`] takes any [`BufRead`]; nothing is read until the first
//! [`FrameReader::read_item`]. It decompresses one container at a time into one reused buffer
//! (memory stays flat whatever the file size; containers are bounded by
//! [`MAX_CONTAINER_SIZE`], objects by [`MAX_OBJECT_SIZE`]) and never panics on input. A
//! malformed object is an [`Item::Bad`] with its [`Location`] (the container's file offset and
//! the object's offset in the container's data, or the file offset of an object outside
//! containers) and reading goes on. A corrupt zlib stream delivers every complete object before
//! the damage, then an `Item::Bad` naming the container, then goes on with the next container.
//! A truncated file delivers every complete object, then returns `Err` naming where it ends.
//!
//! The [`Writer`] writes what python-can and CANoe read: zlib-compressed (or, optionally,
//! uncompressed) containers of 128 KiB; classic and remote frames as `CAN_MESSAGE` (or
//! `CAN_MESSAGE2`), CAN FD frames as `CAN_FD_MESSAGE_64` (its data padded to 4 bytes inside
//! the object, so that no reader depends on a padding convention), error frames as
//! `CAN_ERROR_EXT`; header version 1 with nanosecond timestamps (flag 2: python-can, which
//! writes them itself, and Wireshark read them; the peer tests check Wireshark's reading to the
//! nanosecond). Channel numbers come from a [`ChannelMap`]; a record without a direction is
//! written as Rx and counted as a [`Loss`], as are frames on channels that do not fit 16 bits
//! (dropped) and timestamps before the first record's. See [`Writer`] for the file header
//! statistics of seekable and streaming outputs. Nothing here opens files, reads the clock or
//! prints.

use core::fmt;
use std::collections::VecDeque;
use std::io::{self, BufRead, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::{
    ChannelMap, Direction, Format, FormatError, FormatErrorKind, FrameReader, FrameWriter, Item,
    Location, Loss, Losses, Precision, ReadError, Record, Stats, channel_interface,
};
use crate::frame::{
    ClassicFrame, ErrorFrame, FD_LENGTHS, FdFlags, FdFrame, Frame, FrameError, Id, MAX_EXTENDED_ID,
    RemoteFrame,
};
use crate::time::{Timestamp, civil_from_days, days_from_civil, days_in_month};

// ---------------------------------------------------------------------------------------------
// Format constants

/// The file signature, `LOGG`.
pub const FILE_SIGNATURE: [u8; 4] = *b"LOGG";
/// The object signature, `LOBJ`.
pub const OBJECT_SIGNATURE: [u8; 4] = *b"LOBJ";
/// The size of the file header this writer writes (and CANoe and python-can write).
pub const FILE_HEADER_SIZE: usize = 144;
/// The smallest file header a reader accepts: up to the end of the measurement end time.
const MIN_FILE_HEADER_SIZE: u32 = 72;
/// The largest file header a reader accepts.
const MAX_FILE_HEADER_SIZE: u32 = 64 * 1024;
/// The base object header: signature, header size, header version, object size, type.
const BASE_HEADER_SIZE: usize = 16;
/// The object header of versions 1 and 3 (version 2 adds an original timestamp: 48 bytes).
const OBJECT_HEADER_SIZE: usize = 32;
/// The log container header after the base header.
const CONTAINER_HEADER_SIZE: usize = 16;
/// The largest object the reader accepts (the biggest objects, Ethernet and MOST frames,
/// are far smaller).
pub const MAX_OBJECT_SIZE: u32 = 16 * 1024 * 1024;
/// The largest container data (uncompressed) the reader accepts; writers use 128 KiB.
pub const MAX_CONTAINER_SIZE: u64 = 64 * 1024 * 1024;
/// The uncompressed size of the containers the writer fills (CANoe's and python-can's).
pub const DEFAULT_CONTAINER_SIZE: usize = 128 * 1024;

/// Object timestamp flag: the timestamp counts 10 microseconds.
const TIME_TEN_MICS: u32 = 1;
/// Object timestamp flag: the timestamp counts nanoseconds.
const TIME_ONE_NANS: u32 = 2;

/// Compression methods of a log container.
const COMPRESSION_NONE: u16 = 0;
const COMPRESSION_ZLIB: u16 = 2;

/// Bit 31 of a CAN id field: extended (29-bit) id.
const ID_EXTENDED: u32 = 0x8000_0000;

/// The object types this module handles by number (Vector's `BL_OBJ_TYPE_*`).
pub mod object_type {
    pub const CAN_MESSAGE: u32 = 1;
    pub const CAN_ERROR: u32 = 2;
    pub const CAN_OVERLOAD: u32 = 3;
    pub const LOG_CONTAINER: u32 = 10;
    pub const APP_TEXT: u32 = 65;
    pub const CAN_ERROR_EXT: u32 = 73;
    pub const CAN_MESSAGE2: u32 = 86;
    pub const EVENT_COMMENT: u32 = 92;
    pub const GLOBAL_MARKER: u32 = 96;
    pub const CAN_FD_MESSAGE: u32 = 100;
    pub const CAN_FD_MESSAGE_64: u32 = 101;
    pub const CAN_FD_ERROR_64: u32 = 104;
}
use object_type as ot;

/// `CAN_MESSAGE` / `CAN_MESSAGE2` / `CAN_FD_MESSAGE` flags byte.
const MSG_FLAG_TX: u8 = 0x01;
const MSG_FLAG_RTR: u8 = 0x80;
/// `CAN_FD_MESSAGE` FD flags byte.
const FD_FLAG_EDL: u8 = 0x01;
const FD_FLAG_BRS: u8 = 0x02;
const FD_FLAG_ESI: u8 = 0x04;
/// `CAN_FD_MESSAGE_64` flags word.
const FD64_FLAG_REMOTE: u32 = 0x0010;
const FD64_FLAG_EDL: u32 = 0x1000;
const FD64_FLAG_BRS: u32 = 0x2000;
const FD64_FLAG_ESI: u32 = 0x4000;
/// The fixed part of a `CAN_FD_MESSAGE_64` body, before the data.
const FD64_FIXED: usize = 40;
/// The fixed part of a `CAN_FD_MESSAGE` body, before the data.
const FD_FIXED: usize = 20;
/// The fixed part of a `CAN_ERROR_EXT` body, before the data.
const ERROR_EXT_FIXED: usize = 24;

/// `CAN_ERROR_EXT` / `CAN_FD_ERROR_64` flags: which detail fields are valid.
const ERR_FLAG_SJA1000: u32 = 0x01;
const ERR_FLAG_CAN_CORE: u32 = 0x02;
/// `flagsExt` / `errorCodeExt` fields of the CAN-Core error code.
const ERR_EXT_CODE_SHIFT: u16 = 6;
const ERR_EXT_CODE_MASK: u16 = 0x3F;
const ERR_EXT_DIR_SHIFT: u16 = 12;
const ERR_EXT_DIR_MASK: u16 = 0x3;
const ERR_EXT_RX: u16 = 0x0020;

/// SocketCAN error classes and details (`linux/can/error.h`).
mod can_err {
    pub const PROT: u32 = 0x0008;
    pub const ACK: u32 = 0x0020;
    pub const BUSERROR: u32 = 0x0080;
    pub const PROT_UNSPEC: u8 = 0x00;
    pub const PROT_BIT: u8 = 0x01;
    pub const PROT_FORM: u8 = 0x02;
    pub const PROT_STUFF: u8 = 0x04;
    pub const PROT_OVERLOAD: u8 = 0x20;
    pub const PROT_TX: u8 = 0x80;
    pub const LOC_CRC_SEQ: u8 = 0x08;
    pub const LOC_ACK: u8 = 0x19;
    pub const LOC_ACK_DEL: u8 = 0x1B;
}

/// The SocketCAN class given to error objects that say nothing about the error
/// (`CAN_ERROR`, and `CAN_ERROR_EXT` / `CAN_FD_ERROR_64` whose flags mark no detail valid
/// other than python-can's convention): a bus error of unspecified type, which is what Linux
/// CAN drivers report for an error frame seen on the bus.
pub const UNSPECIFIED_ERROR_CLASS: u32 = can_err::PROT | can_err::BUSERROR;

// ---------------------------------------------------------------------------------------------
// Errors

/// Why (part of) a BLF file could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("not a BLF file: it does not start with LOGG")]
    NotBlf,
    #[error(
        "file header size {0} is out of range ({MIN_FILE_HEADER_SIZE} to {MAX_FILE_HEADER_SIZE} bytes)"
    )]
    FileHeaderSize(u32),
    #[error("measurement start time {0} is not a date after 1970; timestamps count from zero")]
    StartTime(SystemTime),
    #[error("{0} bytes that are not a BLF object skipped")]
    Garbage(u64),
    #[error("object header size {header} does not fit object size {size}")]
    ObjectHeader { header: u16, size: u32 },
    #[error("object of {0} bytes exceeds the {MAX_OBJECT_SIZE} byte limit")]
    ObjectTooLarge(u32),
    #[error("unsupported object header version {0} (known: 1, 2, 3)")]
    HeaderVersion(u16),
    #[error("{what} object of {size} bytes is too short")]
    ObjectTooShort { what: &'static str, size: u32 },
    #[error("unknown log container compression method {0} (known: 0 none, 2 zlib)")]
    Compression(u16),
    #[error("log container data exceeds the {MAX_CONTAINER_SIZE} byte limit")]
    ContainerTooLarge,
    #[error("corrupt zlib data in the log container ({0}); objects after the damage are lost")]
    Zlib(String),
    #[error("log container holds {actual} bytes of data, its header says {declared}")]
    ContainerSize { declared: u32, actual: u64 },
    #[error("a log container inside a log container")]
    NestedContainer,
    #[error("the input ends inside {0}")]
    Truncated(&'static str),
    #[error("an object of {0} bytes is cut off at the end of its log container")]
    CutOff(u64),
    #[error("standard CAN id 0x{0:X} does not fit in 11 bits")]
    StandardId(u32),
    #[error("CAN FD DLC {0} is out of range (0 to 15)")]
    FdDlc(u8),
    #[error("timestamp does not fit in 64-bit nanoseconds")]
    Timestamp,
    #[error("invalid frame: {0}")]
    Frame(#[from] FrameError),
}

/// A Windows `SYSTEMTIME` as BLF stores it: year, month, day of week (Sunday 0), day, hour,
/// minute, second, milliseconds.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SystemTime(pub [u16; 8]);

/// `2024-12-31 14:09:40.222`.
impl fmt::Display for SystemTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [y, mo, _, d, h, mi, s, ms] = self.0;
        write!(f, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{ms:03}")
    }
}

const NANOS_PER_MILLI: u64 = 1_000_000;
const MILLIS_PER_DAY: u64 = 86_400_000;

impl SystemTime {
    /// Whether every field is zero (python-can's "no start time").
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }

    /// The time as Unix nanoseconds, read as UTC; `None` for fields out of range or a date
    /// before 1970. A second of 60 (a leap second) is accepted.
    pub fn to_unix_nanos(&self) -> Option<u64> {
        let [year, month, _, day, hour, minute, second, millis] = self.0;
        let (year, month) = (i64::from(year), u32::from(month));
        if !(1..=12).contains(&month)
            || day == 0
            || u32::from(day) > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
            || millis > 999
        {
            return None;
        }
        let days = u64::try_from(days_from_civil(year, month, u32::from(day))).ok()?;
        let ms = days
            .checked_mul(MILLIS_PER_DAY)?
            .checked_add(u64::from(hour) * 3_600_000)?
            .checked_add(u64::from(minute) * 60_000)?
            .checked_add(u64::from(second) * 1_000)?
            .checked_add(u64::from(millis))?;
        ms.checked_mul(NANOS_PER_MILLI)
    }

    /// The `SYSTEMTIME` (UTC) of Unix milliseconds; `None` past the year 65535.
    pub fn from_unix_millis(ms: u64) -> Option<SystemTime> {
        let days = i64::try_from(ms / MILLIS_PER_DAY).ok()?;
        let rest = ms % MILLIS_PER_DAY;
        let (year, month, day) = civil_from_days(days);
        let year = u16::try_from(year).ok()?;
        let weekday = ((days + 4) % 7) as u16; // 1970-01-01 was a Thursday; Sunday is 0
        Some(SystemTime([
            year,
            month as u16,
            weekday,
            day as u16,
            (rest / 3_600_000) as u16,
            (rest / 60_000 % 60) as u16,
            (rest / 1_000 % 60) as u16,
            (rest % 1_000) as u16,
        ]))
    }
}

// ---------------------------------------------------------------------------------------------
// Little-endian field access (bounds-checked, never panicking)

#[inline(always)]
fn u8_at(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

#[inline(always)]
fn u16_at(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u16::from_le_bytes)
}

#[inline(always)]
fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

#[inline(always)]
fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

// ---------------------------------------------------------------------------------------------
// File header

/// What the file header says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileHeader {
    /// The header size (144 in every known file).
    pub header_size: u32,
    /// The BL API number (`vector_blf`: 4080200 for 4.8.2.0).
    pub api_number: u32,
    /// The application that wrote the file (`vector_blf`'s `ApplicationId`: 1 CANalyzer,
    /// 2 CANoe, ...).
    pub application_id: u8,
    /// The zlib level the writer used (0 for uncompressed files, per `vector_blf`).
    pub compression_level: u8,
    /// The writing application's major and minor version.
    pub application_version: (u8, u8),
    /// The file size the writer recorded (0 when it could not seek back).
    pub file_size: u64,
    /// The size of the file with every container decompressed, as the writer recorded it.
    pub uncompressed_size: u64,
    /// The number of objects (not counting containers) the writer recorded.
    pub object_count: u32,
    /// The measurement start time as stored.
    pub start: SystemTime,
    /// The time of the last object as stored.
    pub end: SystemTime,
}

impl FileHeader {
    fn parse(b: &[u8]) -> FileHeader {
        let time = |at: usize| {
            let mut t = [0u16; 8];
            for (i, slot) in t.iter_mut().enumerate() {
                *slot = u16_at(b, at + 2 * i);
            }
            SystemTime(t)
        };
        FileHeader {
            header_size: u32_at(b, 4),
            api_number: u32_at(b, 8),
            application_id: u8_at(b, 12),
            compression_level: u8_at(b, 13),
            application_version: (u8_at(b, 14), u8_at(b, 15)),
            file_size: u64_at(b, 16),
            uncompressed_size: u64_at(b, 24),
            object_count: u32_at(b, 32),
            start: time(40),
            end: time(56),
        }
    }
}

/// Whether `head` (the first bytes of a capture) is a BLF file: it starts with `LOGG` and a
/// file header size of 72 to 65536 bytes (144 in every known file).
pub fn sniff(head: &[u8]) -> bool {
    head.starts_with(&FILE_SIGNATURE)
        && (MIN_FILE_HEADER_SIZE..=MAX_FILE_HEADER_SIZE).contains(&u32_at(head, 4))
}

// ---------------------------------------------------------------------------------------------
// Object names

/// A name for people of a BLF object type that carries no CAN frame.
pub fn object_name(kind: u32) -> &'static str {
    match kind {
        4 => "CAN driver statistics",
        5 => "application trigger",
        6..=9 => "environment variable",
        11 | 57 => "LIN message",
        12..=16 | 18 | 58..=61 | 87..=89 | 105 => "LIN error",
        17 | 19..=21 | 42 | 43 | 54 | 62..=64 | 75 => "LIN event",
        22..=25 | 32..=39 | 67..=70 | 76..=85 | 95 => "MOST event",
        29..=30 | 40 | 41 | 45 | 47..=50 | 66 => "FlexRay event",
        31 | 74 => "CAN driver error",
        44 => "CAN driver sync",
        46 => "GPS event",
        51 => "real-time clock",
        55 | 56 => "J1708 message",
        71 | 102 | 103 | 114 | 120..=123 => "Ethernet event",
        72 => "system variable",
        90 => "serial event",
        91 => "driver overrun",
        93 | 94 => "WLAN event",
        97 | 98 | 106 | 107 | 109 => "AFDX event",
        99 => "K-Line event",
        110..=113 => "ARINC 429 event",
        115 => "restore point index",
        118 => "test structure",
        119 => "diagnostic request interpretation",
        124 => "function bus object",
        125 | 126 => "data lost marker",
        127 => "watermark event",
        128 => "trigger condition",
        129 => "CAN settings change",
        130 | 131 => "communication setup",
        _ => "BLF object of an unknown type",
    }
}

// ---------------------------------------------------------------------------------------------
// Object decoding (pure functions over one object's bytes)

/// A decoded CAN object: the frame, its 1-based channel and its direction.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CanObject {
    pub channel: u32,
    pub frame: Frame,
    pub direction: Option<Direction>,
}

fn can_id(raw: u32) -> Result<Id, ErrorKind> {
    if raw & ID_EXTENDED != 0 {
        Id::extended(raw & MAX_EXTENDED_ID).ok_or(ErrorKind::StandardId(raw))
    } else {
        Id::new(raw, false).ok_or(ErrorKind::StandardId(raw))
    }
}

#[inline]
/// A classic data or remote frame from its DLC (9 to 15 kept as a raw DLC with 8 bytes) and
/// the stored data bytes (missing ones are zero, extra ones ignored).
fn classic_frame(id: Id, dlc: u8, remote: bool, stored: &[u8]) -> Result<Frame, ErrorKind> {
    let dlc = dlc & 0x0F;
    if remote {
        let r = if dlc > 8 {
            RemoteFrame::with_raw_dlc(id, dlc)?
        } else {
            RemoteFrame::new(id, dlc)?
        };
        return Ok(Frame::Remote(r));
    }
    if let Some(data) = stored.get(..usize::from(dlc))
        && dlc <= 8
    {
        return Ok(Frame::Classic(ClassicFrame::new(id, data)?));
    }
    let mut data = [0u8; 8];
    for (d, s) in data.iter_mut().zip(stored) {
        *d = *s;
    }
    let frame = if dlc > 8 {
        ClassicFrame::with_raw_dlc(id, data, dlc)?
    } else {
        ClassicFrame::new(id, data.get(..usize::from(dlc)).unwrap_or_default())?
    };
    Ok(Frame::Classic(frame))
}

/// A CAN FD frame of the length its DLC says, from the stored bytes (zero-padded when fewer
/// are stored, as CANoe does: python-can#1905). FDF is set, as Linux delivers FD frames.
fn fd_frame(id: Id, dlc: u8, brs: bool, esi: bool, stored: &[u8]) -> Result<Frame, ErrorKind> {
    let len = FD_LENGTHS
        .get(usize::from(dlc))
        .copied()
        .ok_or(ErrorKind::FdDlc(dlc))?;
    let mut data = [0u8; 64];
    for (d, s) in data.iter_mut().zip(stored) {
        *d = *s;
    }
    let flags = FdFlags::fd(brs, esi);
    let frame = FdFrame::new(id, data.get(..usize::from(len)).unwrap_or_default(), flags)?;
    Ok(Frame::Fd(frame))
}

fn too_short(what: &'static str, body: &[u8], header: usize) -> ErrorKind {
    ErrorKind::ObjectTooShort {
        what,
        size: u32::try_from(body.len() + header).unwrap_or(u32::MAX),
    }
}

fn tx_flag(flags: u8) -> Option<Direction> {
    Some(if flags & MSG_FLAG_TX != 0 {
        Direction::Tx
    } else {
        Direction::Rx
    })
}

#[inline]
/// `CAN_MESSAGE` (1) and `CAN_MESSAGE2` (86): channel u16, flags u8, DLC u8, id u32, 8 data
/// bytes (`CAN_MESSAGE2` then frame length, bit count and reserved bytes).
fn can_message(body: &[u8], header: usize) -> Result<CanObject, ErrorKind> {
    let flags = u8_at(body, 2);
    let dlc = u8_at(body, 3);
    let remote = flags & MSG_FLAG_RTR != 0;
    let stored = body.get(8..).unwrap_or_default();
    let needed = if remote {
        0
    } else {
        usize::from(dlc & 0x0F).min(8)
    };
    if body.len() < 8 || stored.len() < needed {
        return Err(too_short("CAN message", body, header));
    }
    Ok(CanObject {
        channel: u32::from(u16_at(body, 0)),
        frame: classic_frame(can_id(u32_at(body, 4))?, dlc, remote, stored)?,
        direction: tx_flag(flags),
    })
}

/// `CAN_FD_MESSAGE` (100): channel u16, flags u8, DLC u8, id u32, frame length u32, bit count
/// u8, FD flags u8 (EDL, BRS, ESI), valid data bytes u8, reserved (5 bytes), 64 data bytes.
fn can_fd_message(body: &[u8], header: usize) -> Result<CanObject, ErrorKind> {
    if body.len() < FD_FIXED {
        return Err(too_short("CAN FD message", body, header));
    }
    let flags = u8_at(body, 2);
    let dlc = u8_at(body, 3) & 0x0F;
    let id = can_id(u32_at(body, 4))?;
    let fd_flags = u8_at(body, 13);
    let valid = usize::from(u8_at(body, 14)).min(64);
    let data = body.get(FD_FIXED..).unwrap_or_default();
    let stored = data.get(..valid.min(data.len())).unwrap_or_default();
    let frame = if fd_flags & FD_FLAG_EDL != 0 {
        fd_frame(
            id,
            dlc,
            fd_flags & FD_FLAG_BRS != 0,
            fd_flags & FD_FLAG_ESI != 0,
            stored,
        )?
    } else {
        classic_frame(id, dlc, flags & MSG_FLAG_RTR != 0, stored)?
    };
    Ok(CanObject {
        channel: u32::from(u16_at(body, 0)),
        frame,
        direction: tx_flag(flags),
    })
}

/// `CAN_FD_MESSAGE_64` (101): channel u8, DLC u8, valid data bytes u8, tx count u8, id u32,
/// frame length u32, flags u32 (0x10 remote, 0x1000 EDL, 0x2000 BRS, 0x4000 ESI), two bit
/// timings, two time offsets, bit count u16, direction u8, ext data offset u8, CRC u32, data.
/// The data ends at the ext data offset (counted from the object start) when it is set.
fn can_fd_message_64(body: &[u8], header: usize) -> Result<CanObject, ErrorKind> {
    if body.len() < FD64_FIXED {
        return Err(too_short("CAN FD message", body, header));
    }
    let dlc = u8_at(body, 1) & 0x0F;
    let valid = usize::from(u8_at(body, 2)).min(64);
    let id = can_id(u32_at(body, 4))?;
    let flags = u32_at(body, 12);
    let ext_offset = usize::from(u8_at(body, 35));
    let end = if ext_offset == 0 {
        body.len()
    } else {
        ext_offset
            .saturating_sub(header)
            .clamp(FD64_FIXED, body.len())
    };
    let data = body.get(FD64_FIXED..end).unwrap_or_default();
    let stored = data.get(..valid.min(data.len())).unwrap_or_default();
    let frame = if flags & FD64_FLAG_EDL != 0 {
        fd_frame(
            id,
            dlc,
            flags & FD64_FLAG_BRS != 0,
            flags & FD64_FLAG_ESI != 0,
            stored,
        )?
    } else {
        classic_frame(id, dlc, flags & FD64_FLAG_REMOTE != 0, stored)?
    };
    let direction = match u8_at(body, 34) {
        0 => Some(Direction::Rx),
        1 | 2 => Some(Direction::Tx),
        _ => None,
    };
    Ok(CanObject {
        channel: u32::from(u8_at(body, 0)),
        frame,
        direction,
    })
}

/// The SocketCAN error frame of a Vector CAN-Core error code (`flagsExt` / `errorCodeExt`:
/// bits 6-11 the code, bits 12-13 0 Rx NAK, 1 Tx NAK, 2 Rx, 3 Tx), decoded as Wireshark does.
fn can_core_error(ext: u16) -> (u32, [u8; 8], Direction) {
    let code = (ext >> ERR_EXT_CODE_SHIFT) & ERR_EXT_CODE_MASK;
    let dir = (ext >> ERR_EXT_DIR_SHIFT) & ERR_EXT_DIR_MASK;
    let tx = dir & 1 != 0;
    let not_acknowledged = dir & 2 == 0;
    let mut d = [0u8; 8];
    let mut class = can_err::PROT | can_err::BUSERROR;
    match code {
        0 => d[2] = can_err::PROT_BIT,
        1 => d[2] = can_err::PROT_FORM,
        2 => d[2] = can_err::PROT_STUFF,
        4 => d[3] = can_err::LOC_CRC_SEQ,
        5 => {
            d[2] = can_err::PROT_FORM;
            d[3] = can_err::LOC_ACK_DEL;
        }
        8 => d[2] = can_err::PROT_OVERLOAD,
        _ => d[2] = can_err::PROT_UNSPEC,
    }
    if code == 7 || not_acknowledged {
        class = can_err::ACK | can_err::BUSERROR;
        d = [0; 8];
        d[3] = can_err::LOC_ACK;
    }
    if tx {
        d[2] |= can_err::PROT_TX;
    }
    (class, d, if tx { Direction::Tx } else { Direction::Rx })
}

/// The SocketCAN error frame of a Philips SJA1000 error code capture register (bits 7-6 the
/// error type, bit 5 set for Rx, bits 4-0 the segment, whose codes SocketCAN's
/// `CAN_ERR_PROT_LOC_*` values are), decoded as Linux's `sja1000` driver does.
fn sja1000_error(ecc: u8) -> (u32, [u8; 8], Direction) {
    let mut d = [0u8; 8];
    d[2] = match ecc & 0xC0 {
        0x00 => can_err::PROT_BIT,
        0x40 => can_err::PROT_FORM,
        0x80 => can_err::PROT_STUFF,
        _ => can_err::PROT_UNSPEC,
    };
    d[3] = ecc & 0x1F;
    let rx = ecc & 0x20 != 0;
    if !rx {
        d[2] |= can_err::PROT_TX;
    }
    (
        can_err::PROT | can_err::BUSERROR,
        d,
        if rx { Direction::Rx } else { Direction::Tx },
    )
}

fn error_object(
    channel: u32,
    class: u32,
    data: [u8; 8],
    direction: Option<Direction>,
) -> Result<CanObject, ErrorKind> {
    Ok(CanObject {
        channel,
        frame: Frame::Error(ErrorFrame::new(class & MAX_EXTENDED_ID, data)?),
        direction,
    })
}

/// `CAN_ERROR_EXT` (73): channel u16, length u16, flags u32 (1 SJA1000 ECC valid, 2 CAN-Core
/// code valid), ECC u8, position u8, DLC u8, reserved u8, frame length u32, id u32, flagsExt
/// u16, reserved u16, data.
///
/// With flags 0 this is python-can's convention (what it writes for a SocketCAN error frame,
/// and what this module's [`Writer`] writes): the id field holds the SocketCAN class, the data
/// the eight detail bytes, and flagsExt bits 12-13 the direction when non-zero (2 Rx, 3 Tx).
fn can_error_ext(body: &[u8], header: usize) -> Result<CanObject, ErrorKind> {
    if body.len() < ERROR_EXT_FIXED {
        return Err(too_short("CAN error frame", body, header));
    }
    let channel = u32::from(u16_at(body, 0));
    let flags = u32_at(body, 4);
    let ext = u16_at(body, 20);
    if flags & ERR_FLAG_CAN_CORE != 0 {
        let (class, d, dir) = can_core_error(ext);
        return error_object(channel, class, d, Some(dir));
    }
    if flags & ERR_FLAG_SJA1000 != 0 {
        let (class, d, dir) = sja1000_error(u8_at(body, 8));
        return error_object(channel, class, d, Some(dir));
    }
    if flags != 0 {
        return error_object(channel, UNSPECIFIED_ERROR_CLASS, [0; 8], None);
    }
    let n = usize::from(u8_at(body, 10) & 0x0F).min(8);
    let mut d = [0u8; 8];
    let stored = body.get(ERROR_EXT_FIXED..).unwrap_or_default();
    for (slot, b) in d.iter_mut().zip(stored).take(n) {
        *slot = *b;
    }
    let dir = match (ext >> ERR_EXT_DIR_SHIFT) & ERR_EXT_DIR_MASK {
        0 => None,
        2 => Some(Direction::Rx),
        _ => Some(Direction::Tx),
    };
    error_object(channel, u32_at(body, 16), d, dir)
}

/// `CAN_FD_ERROR_64` (104): channel u8, DLC u8, valid data bytes u8, ECC u8, flags u16,
/// error code ext u16, FD ext flags u16, ext data offset u8, reserved u8, id u32, ... Decoded
/// like `CAN_ERROR_EXT` with details (SocketCAN error frames are classic frames whatever the
/// frame the error hit); without details it is an unspecified bus error.
fn can_fd_error_64(body: &[u8], header: usize) -> Result<CanObject, ErrorKind> {
    if body.len() < 16 {
        return Err(too_short("CAN FD error frame", body, header));
    }
    let channel = u32::from(u8_at(body, 0));
    let flags = u32::from(u16_at(body, 4));
    if flags & ERR_FLAG_CAN_CORE != 0 {
        let (class, d, dir) = can_core_error(u16_at(body, 6));
        return error_object(channel, class, d, Some(dir));
    }
    if flags & ERR_FLAG_SJA1000 != 0 {
        let (class, d, dir) = sja1000_error(u8_at(body, 3));
        return error_object(channel, class, d, Some(dir));
    }
    error_object(channel, UNSPECIFIED_ERROR_CLASS, [0; 8], None)
}

/// `CAN_ERROR` (2, channel u16, length u16) and `CAN_OVERLOAD` (3, channel u16): an
/// unspecified bus error; an overload frame as SocketCAN reports one (`CAN_ERR_PROT`,
/// `CAN_ERR_PROT_OVERLOAD`).
fn can_error(body: &[u8], header: usize, overload: bool) -> Result<CanObject, ErrorKind> {
    if body.len() < 2 {
        return Err(too_short("CAN error frame", body, header));
    }
    let channel = u32::from(u16_at(body, 0));
    if overload {
        let mut d = [0u8; 8];
        d[2] = can_err::PROT_OVERLOAD;
        error_object(channel, can_err::PROT, d, None)
    } else {
        error_object(channel, UNSPECIFIED_ERROR_CLASS, [0; 8], None)
    }
}

/// The text of an `APP_TEXT` (65: source u32, reserved u32, length u32, reserved u32, text)
/// or `EVENT_COMMENT` (92: commented type u32, length u32, reserved u64, text) object, as a
/// range of `body`.
fn text_range(body: &[u8], kind: u32) -> (usize, usize) {
    let len_at = if kind == ot::APP_TEXT { 8 } else { 4 };
    let len = usize::try_from(u32_at(body, len_at)).unwrap_or(usize::MAX);
    let start = 16.min(body.len());
    (start, start.saturating_add(len).min(body.len()))
}

/// `GLOBAL_MARKER` (96): three length-prefixed strings (group name, marker name,
/// description) at byte 40, their lengths at bytes 16, 20 and 24.
fn marker_ranges(body: &[u8]) -> [(usize, usize); 3] {
    let mut at = 40.min(body.len());
    let mut out = [(0, 0); 3];
    for (i, slot) in out.iter_mut().enumerate() {
        let len = usize::try_from(u32_at(body, 16 + 4 * i)).unwrap_or(usize::MAX);
        let end = at.saturating_add(len).min(body.len());
        *slot = (at, end);
        at = end;
    }
    out
}

/// Text bytes without trailing NULs and blanks.
fn trim_text(b: &[u8]) -> &[u8] {
    let end = b
        .iter()
        .rposition(|&c| !matches!(c, 0 | b' ' | b'\t' | b'\r' | b'\n'))
        .map_or(0, |p| p + 1);
    b.get(..end).unwrap_or_default()
}

/// Appends text bytes: UTF-8 as it is, anything else read as Latin-1 (Vector tools write
/// Windows code pages).
fn push_text(out: &mut String, b: &[u8]) {
    match core::str::from_utf8(b) {
        Ok(s) => out.push_str(s),
        Err(_) => out.extend(b.iter().map(|&c| char::from(c))),
    }
}

// ---------------------------------------------------------------------------------------------
// Reader

/// Where a byte of the object stream came from.
#[derive(Copy, Clone, Debug)]
enum Origin {
    /// The data of the container at `file_offset`, from byte `data_offset` of its data.
    Container { file_offset: u64, data_offset: u64 },
    /// An object outside containers, from byte `file_offset` of the file.
    File { file_offset: u64 },
}

/// The part of the stream buffer from `start` on comes from `origin` (until the next one).
#[derive(Copy, Clone, Debug)]
struct Segment {
    start: usize,
    origin: Origin,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum State {
    FileHeader,
    Objects,
    Done,
}

/// A record whose interface is an index into the reader's names (no borrow).
#[derive(Copy, Clone, Debug)]
struct RawRecord {
    timestamp: Timestamp,
    precision: Precision,
    interface: usize,
    frame: Frame,
    direction: Option<Direction>,
}

enum Step {
    Eof,
    Record(RawRecord),
    /// Text in the stream buffer (valid UTF-8).
    Text {
        start: usize,
        end: usize,
    },
    /// Text in the reader's text buffer.
    OwnedText,
    Skipped(&'static str),
    Bad(ReadError),
}

/// How decompressing a container ended.
enum Inflated {
    Complete,
    Truncated,
    Corrupt(String),
    TooLarge,
}

/// Reads until `buf` is full or the input ends; the number of bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while let Some(rest) = buf.get_mut(n..) {
        if rest.is_empty() {
            break;
        }
        match r.read(rest) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A streaming BLF reader over any [`BufRead`] (see the module documentation).
pub struct Reader<R> {
    inner: R,
    source_name: Option<Arc<str>>,
    state: State,
    header: Option<FileHeader>,
    /// The measurement start as Unix nanoseconds (0 when the file does not say).
    start_nanos: u64,
    /// Bytes consumed from `inner`.
    offset: u64,
    /// The object stream: container data and objects outside containers, from `pos` to
    /// `end`. The buffer is initialised to its length (zlib writes into it without zeroing
    /// it first), and grows by doubling.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    segments: Vec<Segment>,
    /// Bytes skipped while looking for the next object, and where the skipping began.
    garbage: u64,
    garbage_at: Location,
    /// After damage already reported: skip to the next object without reporting.
    resync: bool,
    /// Damage in the data loaded last, reported once the complete objects before it are read.
    damage: Option<ReadError>,
    /// Malformed things found while loading, reported before the next object.
    pending: VecDeque<ReadError>,
    /// The input has ended, and the error to report once the stream is read, if any.
    eof: bool,
    end_error: Option<ReadError>,
    inflater: Decompress,
    /// Interface names by channel, and the one used last.
    names: Vec<(u32, String)>,
    last_name: usize,
    text: String,
    stats: Stats,
}

impl<R: BufRead> Reader<R> {
    /// A reader of the BLF file `inner` (nothing is read before the first item).
    pub fn new(inner: R) -> Self {
        Reader {
            inner,
            source_name: None,
            state: State::FileHeader,
            header: None,
            start_nanos: 0,
            offset: 0,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            segments: Vec::new(),
            garbage: 0,
            garbage_at: Location::Offset(0),
            resync: false,
            damage: None,
            pending: VecDeque::new(),
            eof: false,
            end_error: None,
            inflater: Decompress::new(true),
            names: Vec::new(),
            last_name: 0,
            text: String::new(),
            stats: Stats::default(),
        }
    }

    /// Names the source (a file path) in errors: `capture.blf: byte 4096: ...`.
    pub fn with_source_name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.source_name = Some(name.into());
        self
    }

    /// The file header, once the first item has been read.
    pub fn header(&self) -> Option<&FileHeader> {
        self.header.as_ref()
    }

    /// The measurement start the timestamps count from (Unix time), or `None` when the file
    /// does not say (timestamps then count from zero); known once the first item is read.
    pub fn start_time(&self) -> Option<Timestamp> {
        (self.start_nanos != 0).then(|| Timestamp::from_nanos(self.start_nanos))
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn error(&self, location: Location, kind: ErrorKind) -> ReadError {
        ReadError::Format(FormatError {
            source_name: self.source_name.clone(),
            format: Format::Blf,
            location,
            kind: FormatErrorKind::Blf(kind),
        })
    }

    fn io_error(&self, error: io::Error) -> ReadError {
        ReadError::Io {
            source_name: self.source_name.clone(),
            location: Location::Offset(self.offset),
            error,
        }
    }

    /// Where byte `pos` of the stream buffer came from.
    fn stream_location(&self, pos: usize) -> Location {
        match self.segments.iter().rev().find(|s| s.start <= pos) {
            Some(&Segment {
                start,
                origin:
                    Origin::Container {
                        file_offset,
                        data_offset,
                    },
            }) => Location::Inner {
                container: file_offset,
                offset: data_offset.saturating_add((pos - start) as u64),
            },
            Some(&Segment {
                start,
                origin: Origin::File { file_offset },
            }) => Location::Offset(file_offset.saturating_add((pos - start) as u64)),
            None => Location::Offset(self.offset),
        }
    }

    /// Drops the stream bytes before `pos`.
    fn compact(&mut self) {
        let pos = self.pos.min(self.end);
        if pos == 0 {
            return;
        }
        self.buf.copy_within(pos..self.end, 0);
        self.end -= pos;
        self.pos = 0;
        if self.end == 0 {
            self.segments.clear();
            if self.buf.len() > 32 * DEFAULT_CONTAINER_SIZE {
                self.buf.truncate(2 * DEFAULT_CONTAINER_SIZE);
                self.buf.shrink_to_fit();
            }
            return;
        }
        let keep = self
            .segments
            .iter()
            .rposition(|s| s.start <= pos)
            .unwrap_or(0);
        self.segments.drain(..keep);
        for s in &mut self.segments {
            if s.start <= pos {
                let moved = (pos - s.start) as u64;
                match &mut s.origin {
                    Origin::Container { data_offset, .. } => *data_offset += moved,
                    Origin::File { file_offset } => *file_offset += moved,
                }
                s.start = 0;
            } else {
                s.start -= pos;
            }
        }
    }

    /// Makes room for `n` more bytes after `end` (doubling the buffer at least).
    fn make_room(&mut self, n: usize) {
        let needed = self.end.saturating_add(n);
        if self.buf.len() < needed {
            let size = needed.max(self.buf.len() * 2).max(64 * 1024);
            self.buf.resize(size, 0);
        }
    }

    /// Reads up to `len` bytes of the input onto the end of the stream; the number read.
    fn read_into_stream(&mut self, len: u64) -> Result<u64, ReadError> {
        let mut total = 0u64;
        while total < len {
            let chunk = usize::try_from(len - total)
                .unwrap_or(usize::MAX)
                .min(64 * 1024);
            self.make_room(chunk);
            let slot = self
                .buf
                .get_mut(self.end..self.end + chunk)
                .unwrap_or_default();
            let n = read_full(&mut self.inner, slot).map_err(|e| self.io_error(e))?;
            self.end += n;
            self.offset += n as u64;
            total += n as u64;
            if n < chunk {
                break;
            }
        }
        Ok(total)
    }

    fn read_file_header(&mut self) -> Result<(), ReadError> {
        let mut head = vec![0u8; 8];
        let n = read_full(&mut self.inner, &mut head).map_err(|e| self.io_error(e))?;
        self.offset += n as u64;
        if n < 8 || !head.starts_with(&FILE_SIGNATURE) {
            return Err(self.error(Location::Offset(0), ErrorKind::NotBlf));
        }
        let size = u32_at(&head, 4);
        if !(MIN_FILE_HEADER_SIZE..=MAX_FILE_HEADER_SIZE).contains(&size) {
            return Err(self.error(Location::Offset(4), ErrorKind::FileHeaderSize(size)));
        }
        head.resize(size as usize, 0);
        let rest = head.get_mut(8..).unwrap_or_default();
        let want = rest.len();
        let n = read_full(&mut self.inner, rest).map_err(|e| self.io_error(e))?;
        self.offset += n as u64;
        if n < want {
            return Err(self.error(
                Location::Offset(self.offset),
                ErrorKind::Truncated("the file header"),
            ));
        }
        let header = FileHeader::parse(&head);
        if !header.start.is_zero() {
            match header.start.to_unix_nanos() {
                Some(ns) => self.start_nanos = ns,
                None => {
                    let e = self.error(Location::Offset(40), ErrorKind::StartTime(header.start));
                    self.pending.push_back(e);
                }
            }
        }
        self.header = Some(header);
        Ok(())
    }

    /// Skips `n` bytes of the input; false when it ends first.
    fn skip_input(&mut self, n: u64) -> Result<bool, ReadError> {
        let copied = io::copy(&mut (&mut self.inner).take(n), &mut io::sink())
            .map_err(|e| self.io_error(e))?;
        self.offset += copied;
        Ok(copied == n)
    }

    /// Reads up to the next file-level `LOBJ`; its offset, or `None` at the end of the
    /// input. Up to 3 skipped bytes are padding (up to 7 zeros at the end); more are reported.
    fn scan_file_signature(&mut self) -> Result<Option<u64>, ReadError> {
        let start = self.offset;
        let mut window = 0u32;
        let mut seen = 0u64;
        let mut nonzero = false;
        let signature = u32::from_be_bytes(OBJECT_SIGNATURE);
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(e)),
            };
            if available.is_empty() {
                // Zeros at the end are padding (a container's and an alignment's).
                if seen > 7 || nonzero {
                    let e = self.error(Location::Offset(start), ErrorKind::Garbage(seen));
                    self.pending.push_back(e);
                }
                return Ok(None);
            }
            let mut used = 0;
            let mut found = false;
            for &b in available {
                used += 1;
                seen += 1;
                nonzero |= b != 0;
                window = (window << 8) | u32::from(b);
                if seen >= 4 && window == signature {
                    found = true;
                    break;
                }
            }
            self.inner.consume(used);
            self.offset += used as u64;
            if found {
                let skipped = seen - 4;
                if skipped > 3 {
                    let e = self.error(Location::Offset(start), ErrorKind::Garbage(skipped));
                    self.pending.push_back(e);
                }
                return Ok(Some(self.offset - 4));
            }
        }
    }

    /// Reads the next file-level object into the stream; false at the end of the input.
    fn load(&mut self) -> Result<bool, ReadError> {
        if self.eof {
            return Ok(false);
        }
        let Some(at) = self.scan_file_signature()? else {
            self.eof = true;
            return Ok(false);
        };
        let mut base = [0u8; BASE_HEADER_SIZE];
        base[..4].copy_from_slice(&OBJECT_SIGNATURE);
        let n = read_full(&mut self.inner, &mut base[4..]).map_err(|e| self.io_error(e))?;
        self.offset += n as u64;
        if n < BASE_HEADER_SIZE - 4 {
            self.eof = true;
            self.end_error = Some(self.error(
                Location::Offset(at),
                ErrorKind::Truncated("an object header"),
            ));
            return Ok(false);
        }
        let header = u16_at(&base, 4);
        let size = u32_at(&base, 8);
        let kind = u32_at(&base, 12);
        if usize::from(header) < BASE_HEADER_SIZE || size < u32::from(header) {
            let e = self.error(
                Location::Offset(at),
                ErrorKind::ObjectHeader { header, size },
            );
            self.pending.push_back(e);
            return Ok(true);
        }
        if kind == ot::LOG_CONTAINER {
            self.load_container(at, header, size)?;
        } else {
            self.load_object(at, &base, size)?;
        }
        Ok(true)
    }

    /// Notes that the input ended inside what starts at `at`.
    fn ended_inside(&mut self, at: u64, what: &'static str) {
        self.eof = true;
        if self.end_error.is_none() {
            self.end_error = Some(self.error(Location::Offset(at), ErrorKind::Truncated(what)));
        }
    }

    fn load_container(&mut self, at: u64, header: u16, size: u32) -> Result<(), ReadError> {
        let extra = u64::from(header) - BASE_HEADER_SIZE as u64;
        if !self.skip_input(extra)? {
            self.ended_inside(at, "a log container header");
            return Ok(());
        }
        let mut ch = [0u8; CONTAINER_HEADER_SIZE];
        let n = read_full(&mut self.inner, &mut ch).map_err(|e| self.io_error(e))?;
        self.offset += n as u64;
        if n < CONTAINER_HEADER_SIZE {
            self.ended_inside(at, "a log container header");
            return Ok(());
        }
        let method = u16_at(&ch, 0);
        let declared = u32_at(&ch, 8);
        let Some(len) =
            u64::from(size).checked_sub(u64::from(header) + CONTAINER_HEADER_SIZE as u64)
        else {
            let e = self.error(
                Location::Offset(at),
                ErrorKind::ObjectTooShort {
                    what: "log container",
                    size,
                },
            );
            self.pending.push_back(e);
            return Ok(());
        };
        self.compact();
        let start = self.end;
        self.segments.push(Segment {
            start,
            origin: Origin::Container {
                file_offset: at,
                data_offset: 0,
            },
        });
        let complete = match method {
            COMPRESSION_NONE if len > MAX_CONTAINER_SIZE => {
                self.damage = Some(self.error(Location::Offset(at), ErrorKind::ContainerTooLarge));
                if !self.skip_input(len)? {
                    self.ended_inside(at, "a log container");
                }
                false
            }
            COMPRESSION_NONE => {
                let n = self.read_into_stream(len)?;
                if n < len {
                    self.ended_inside(at, "a log container");
                }
                n == len
            }
            COMPRESSION_ZLIB => self.inflate(at, len, declared)?,
            other => {
                self.damage = Some(self.error(Location::Offset(at), ErrorKind::Compression(other)));
                if !self.skip_input(len)? {
                    self.ended_inside(at, "a log container");
                }
                false
            }
        };
        let actual = (self.end - start) as u64;
        if complete && actual != u64::from(declared) {
            let e = self.error(
                Location::Offset(at),
                ErrorKind::ContainerSize { declared, actual },
            );
            self.pending.push_back(e);
        }
        Ok(())
    }

    /// Inflates `len` bytes of zlib data into the stream; whether the container was whole.
    fn inflate(&mut self, at: u64, len: u64, declared: u32) -> Result<bool, ReadError> {
        self.inflater.reset(true);
        let out_start = self.end;
        // The declared size is a hint: trusted up to a few containers' worth (a corrupt one
        // must not allocate 64 MiB); the buffer grows as the data really comes.
        let expected = u64::from(declared).min(8 * DEFAULT_CONTAINER_SIZE as u64) as usize;
        self.make_room(expected.max(4096));
        let mut remaining = len;
        let outcome = loop {
            if (self.end - out_start) as u64 > MAX_CONTAINER_SIZE {
                break Inflated::TooLarge;
            }
            self.make_room(4096);
            let available: &[u8] = if remaining == 0 {
                &[]
            } else {
                match self.inner.fill_buf() {
                    Ok(b) => b,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(self.io_error(e)),
                }
            };
            if remaining > 0 && available.is_empty() {
                break Inflated::Truncated;
            }
            let take = usize::try_from(remaining)
                .unwrap_or(usize::MAX)
                .min(available.len());
            let input = available.get(..take).unwrap_or_default();
            let (in0, out0) = (self.inflater.total_in(), self.inflater.total_out());
            let output = self.buf.get_mut(self.end..).unwrap_or_default();
            let result = self
                .inflater
                .decompress(input, output, FlushDecompress::None);
            let used = self.inflater.total_in() - in0;
            let made = self.inflater.total_out() - out0;
            self.end += made as usize;
            self.inner.consume(used as usize);
            self.offset += used;
            remaining -= used.min(remaining);
            match result {
                Ok(Status::StreamEnd) => break Inflated::Complete,
                Ok(_) if used == 0 && made == 0 => {
                    break Inflated::Corrupt(if remaining == 0 {
                        "the data ends before the end of the zlib stream".to_owned()
                    } else {
                        "no progress".to_owned()
                    });
                }
                Ok(_) => {}
                Err(e) => break Inflated::Corrupt(e.to_string()),
            }
        };
        match outcome {
            Inflated::Complete => {
                // Bytes after the end of the zlib stream carry nothing.
                if !self.skip_input(remaining)? {
                    self.ended_inside(at, "a log container");
                }
                Ok(true)
            }
            Inflated::Truncated => {
                self.ended_inside(at, "a log container");
                Ok(false)
            }
            Inflated::Corrupt(message) => {
                self.damage = Some(self.error(Location::Offset(at), ErrorKind::Zlib(message)));
                if !self.skip_input(remaining)? {
                    self.ended_inside(at, "a log container");
                }
                Ok(false)
            }
            Inflated::TooLarge => {
                self.damage = Some(self.error(Location::Offset(at), ErrorKind::ContainerTooLarge));
                if !self.skip_input(remaining)? {
                    self.ended_inside(at, "a log container");
                }
                Ok(false)
            }
        }
    }

    /// An object outside containers: read in place, before what is left of the stream (an
    /// object that straddles containers goes on in the next container).
    fn load_object(
        &mut self,
        at: u64,
        base: &[u8; BASE_HEADER_SIZE],
        size: u32,
    ) -> Result<(), ReadError> {
        let rest = u64::from(size).saturating_sub(BASE_HEADER_SIZE as u64);
        if size > MAX_OBJECT_SIZE {
            let e = self.error(Location::Offset(at), ErrorKind::ObjectTooLarge(size));
            self.pending.push_back(e);
            if !self.skip_input(rest)? {
                self.ended_inside(at, "an object");
            }
            return Ok(());
        }
        self.compact();
        let mut object = Vec::with_capacity((size as usize).min(64 * 1024));
        object.extend_from_slice(base);
        let n = (&mut self.inner)
            .take(rest)
            .read_to_end(&mut object)
            .map_err(|e| self.io_error(e))?;
        self.offset += n as u64;
        if (n as u64) < rest {
            self.ended_inside(at, "an object");
            return Ok(());
        }
        let len = object.len();
        for s in &mut self.segments {
            s.start += len;
        }
        self.end += len;
        self.segments.insert(
            0,
            Segment {
                start: 0,
                origin: Origin::File { file_offset: at },
            },
        );
        self.buf.splice(0..0, object);
        Ok(())
    }

    /// Counts skipped stream bytes as garbage (unless already reported).
    #[inline]
    fn skip_stream(&mut self, n: usize) {
        if n > 0 && !self.resync {
            if self.garbage == 0 {
                self.garbage_at = self.stream_location(self.pos);
            }
            self.garbage += n as u64;
        }
        self.pos += n;
    }

    /// At an object signature: the skipped bytes before it, when more than padding.
    #[inline]
    fn take_garbage(&mut self) -> Option<ReadError> {
        self.resync = false;
        let n = core::mem::take(&mut self.garbage);
        (n > 3).then(|| self.error(self.garbage_at, ErrorKind::Garbage(n)))
    }

    /// The next object of the stream, or `None` when more data is needed.
    fn parse_next(&mut self) -> Option<Step> {
        loop {
            let available = self.buf.get(self.pos..self.end).unwrap_or_default();
            if !available.starts_with(&OBJECT_SIGNATURE) {
                // Padding, garbage, or a signature split by the end of the container.
                if available.len() < OBJECT_SIGNATURE.len() {
                    return None;
                }
                match memchr::memmem::find(available, &OBJECT_SIGNATURE) {
                    Some(k) => self.skip_stream(k),
                    None => {
                        self.skip_stream(available.len() - (OBJECT_SIGNATURE.len() - 1));
                        return None;
                    }
                }
                continue;
            }
            if self.garbage != 0 || self.resync {
                if let Some(e) = self.take_garbage() {
                    return Some(Step::Bad(e));
                }
                continue;
            }
            if available.len() < BASE_HEADER_SIZE {
                return None;
            }
            let header = u16_at(available, 4);
            let version = u16_at(available, 6);
            let size = u32_at(available, 8);
            let kind = u32_at(available, 12);
            if usize::from(header) < BASE_HEADER_SIZE
                || size < u32::from(header)
                || size > MAX_OBJECT_SIZE
            {
                let location = self.stream_location(self.pos);
                self.pos += OBJECT_SIGNATURE.len();
                self.resync = true;
                let kind = if size > MAX_OBJECT_SIZE {
                    ErrorKind::ObjectTooLarge(size)
                } else {
                    ErrorKind::ObjectHeader { header, size }
                };
                return Some(Step::Bad(self.error(location, kind)));
            }
            let size = size as usize;
            if available.len() < size {
                return None;
            }
            let at = self.pos;
            self.pos += size;
            return Some(self.object(at, size, usize::from(header), version, kind));
        }
    }

    fn bad(&self, at: usize, kind: ErrorKind) -> Step {
        Step::Bad(self.error(self.stream_location(at), kind))
    }

    /// Decodes the object of `size` bytes at `at` of the stream.
    fn object(&mut self, at: usize, size: usize, header: usize, version: u16, kind: u32) -> Step {
        if kind == ot::LOG_CONTAINER {
            return self.bad(at, ErrorKind::NestedContainer);
        }
        if !(1..=3).contains(&version) {
            return self.bad(at, ErrorKind::HeaderVersion(version));
        }
        if header < OBJECT_HEADER_SIZE {
            return self.bad(
                at,
                ErrorKind::ObjectHeader {
                    header: header as u16,
                    size: size as u32,
                },
            );
        }
        let object = self.buf.get(at..at + size).unwrap_or_default();
        let flags = u32_at(object, 16);
        let stamp = u64_at(object, 24);
        let body = object.get(header..).unwrap_or_default();
        let decoded = match kind {
            ot::CAN_MESSAGE | ot::CAN_MESSAGE2 => can_message(body, header),
            ot::CAN_FD_MESSAGE_64 => can_fd_message_64(body, header),
            ot::CAN_FD_MESSAGE => can_fd_message(body, header),
            ot::CAN_ERROR_EXT => can_error_ext(body, header),
            ot::CAN_FD_ERROR_64 => can_fd_error_64(body, header),
            ot::CAN_ERROR => can_error(body, header, false),
            ot::CAN_OVERLOAD => can_error(body, header, true),
            ot::APP_TEXT | ot::EVENT_COMMENT => {
                let (s, e) = text_range(body, kind);
                let text = trim_text(body.get(s..e).unwrap_or_default());
                self.stats.other += 1;
                if core::str::from_utf8(text).is_ok() {
                    let start = at + header + s;
                    return Step::Text {
                        start,
                        end: start + text.len(),
                    };
                }
                self.text.clear();
                push_text(&mut self.text, text);
                return Step::OwnedText;
            }
            ot::GLOBAL_MARKER => {
                self.text.clear();
                for (s, e) in marker_ranges(body) {
                    let part = trim_text(body.get(s..e).unwrap_or_default());
                    if !part.is_empty() {
                        if !self.text.is_empty() {
                            self.text.push_str(": ");
                        }
                        push_text(&mut self.text, part);
                    }
                }
                self.stats.other += 1;
                return Step::OwnedText;
            }
            other => {
                self.stats.skipped += 1;
                return Step::Skipped(object_name(other));
            }
        };
        let object = match decoded {
            Ok(o) => o,
            Err(e) => return self.bad(at, e),
        };
        let (nanos, precision) = if flags == TIME_TEN_MICS {
            (stamp.checked_mul(10_000), Precision::Micros)
        } else {
            (Some(stamp), Precision::Nanos)
        };
        let Some(nanos) = nanos.and_then(|n| n.checked_add(self.start_nanos)) else {
            return self.bad(at, ErrorKind::Timestamp);
        };
        self.stats.records += 1;
        Step::Record(RawRecord {
            timestamp: Timestamp::from_nanos(nanos),
            precision,
            interface: self.interface_index(object.channel),
            frame: object.frame,
            direction: object.direction,
        })
    }

    /// The index in `names` of the interface of a 1-based channel.
    #[inline]
    fn interface_index(&mut self, channel: u32) -> usize {
        if let Some((c, _)) = self.names.get(self.last_name)
            && *c == channel
        {
            return self.last_name;
        }
        let i = match self.names.iter().position(|(c, _)| *c == channel) {
            Some(i) => i,
            None => {
                self.names.push((channel, channel_interface(channel)));
                self.names.len() - 1
            }
        };
        self.last_name = i;
        i
    }

    /// At the end of the input, with the stream read as far as it goes.
    fn at_eof(&mut self) -> Result<Step, ReadError> {
        self.state = State::Done;
        if let Some(e) = self.end_error.take() {
            return Err(e);
        }
        let tail = self.buf.get(self.pos..self.end).unwrap_or_default();
        if self.resync || tail.is_empty() && self.garbage <= 3 {
            return Ok(Step::Eof);
        }
        let at = self.pos;
        if tail.starts_with(&OBJECT_SIGNATURE)
            || (tail.len() < OBJECT_SIGNATURE.len() && OBJECT_SIGNATURE.starts_with(tail))
        {
            return Err(self.error(self.stream_location(at), ErrorKind::Truncated("an object")));
        }
        let total = self.garbage + tail.len() as u64;
        if total <= 3 && tail.iter().all(|&b| b == 0) {
            return Ok(Step::Eof);
        }
        let location = if self.garbage > 0 {
            self.garbage_at
        } else {
            self.stream_location(at)
        };
        Ok(Step::Bad(self.error(location, ErrorKind::Garbage(total))))
    }

    fn step(&mut self) -> Result<Step, ReadError> {
        match self.state {
            State::Done => return Ok(Step::Eof),
            State::FileHeader => {
                self.read_file_header()?;
                self.state = State::Objects;
            }
            State::Objects => {}
        }
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Ok(Step::Bad(e));
            }
            if let Some(step) = self.parse_next() {
                return Ok(step);
            }
            if let Some(e) = self.damage.take() {
                // The objects before the damage are read; what is left of the broken
                // container is lost, and reading resumes at the next object signature.
                self.pos = self.end;
                self.garbage = 0;
                self.resync = true;
                return Ok(Step::Bad(e));
            }
            if !self.load()? {
                if let Some(e) = self.pending.pop_front() {
                    return Ok(Step::Bad(e));
                }
                return self.at_eof();
            }
        }
    }
}

impl<R: BufRead + Send> FrameReader for Reader<R> {
    fn read_item(&mut self) -> Result<Option<Item<'_>>, ReadError> {
        let step = match self.step() {
            Ok(s) => s,
            Err(e) => {
                self.state = State::Done;
                return Err(e);
            }
        };
        Ok(Some(match step {
            Step::Eof => return Ok(None),
            Step::Record(r) => Item::Record(Record {
                timestamp: r.timestamp,
                precision: r.precision,
                interface: self.names.get(r.interface).map_or("can0", |(_, n)| n),
                frame: r.frame,
                direction: r.direction,
            }),
            Step::Text { start, end } => Item::Other(
                self.buf
                    .get(start..end)
                    .and_then(|b| core::str::from_utf8(b).ok())
                    .unwrap_or_default(),
            ),
            Step::OwnedText => Item::Other(&self.text),
            Step::Skipped(name) => Item::Skipped(name),
            Step::Bad(e) => {
                self.stats.bad += 1;
                Item::Bad(e)
            }
        }))
    }

    fn format(&self) -> Format {
        Format::Blf
    }

    fn stats(&self) -> Stats {
        self.stats
    }
}

// ---------------------------------------------------------------------------------------------
// Writer

/// The BL API number written in the file header (4.8.2.0, `vector_blf`'s, a version that
/// knows `CAN_FD_MESSAGE_64`).
const API_NUMBER: u32 = 4_080_200;
/// Unix time of 1990-01-01: earlier first timestamps are taken as relative (python-can's rule).
const ABSOLUTE_AFTER_SECS: u64 = 631_152_000;

const LOSS_DIRECTION: &str = "a known direction (BLF records one: written as Rx)";
const LOSS_EARLY: &str = "timestamps before the first record's (written as the capture start)";
const LOSS_CHANNEL: &str = "frames on channels above 65535 (BLF channels are 16-bit)";
const LOSS_FD_FLAG: &str = "CAN FD flag bit 0x8 (undefined; BLF has no place for it)";

/// Which object classic data and remote frames are written as.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum ClassicObject {
    /// `CAN_MESSAGE` (1, 48 bytes): what python-can writes, and the one object every BLF
    /// reader knows (CANoe and CANalyzer of every version, python-can, Wireshark,
    /// `vector_blf`). The default.
    #[default]
    CanMessage,
    /// `CAN_MESSAGE2` (86, 56 bytes): what recent CANoe versions write; it adds the frame
    /// duration and bit count, which a capture does not know (written as 0).
    CanMessage2,
}

/// How a [`Writer`] lays out the file.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    /// The zlib level (1 to 9) of compressed containers, 6 by default (python-can's and
    /// zlib's default); `None` writes uncompressed containers (method 0), which python-can,
    /// CANoe and Wireshark read as well.
    pub compression: Option<u32>,
    /// The object of classic data and remote frames.
    pub classic_object: ClassicObject,
    /// The uncompressed size of a container, [`DEFAULT_CONTAINER_SIZE`] by default (1 byte to
    /// [`MAX_CONTAINER_SIZE`]); objects are split across containers as CANoe does.
    pub container_size: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            compression: Some(6),
            classic_object: ClassicObject::CanMessage,
            container_size: DEFAULT_CONTAINER_SIZE,
        }
    }
}

/// The measurement start: Unix nanoseconds (whole milliseconds, as `SYSTEMTIME` holds them)
/// and its `SYSTEMTIME`, or zero for a capture on a relative time line.
#[derive(Copy, Clone, Debug, Default)]
struct Start {
    nanos: u64,
    time: SystemTime,
}

impl Start {
    fn of(first: Timestamp) -> Start {
        if first.secs() < ABSOLUTE_AFTER_SECS {
            return Start::default();
        }
        let ms = first.as_nanos() / NANOS_PER_MILLI;
        match SystemTime::from_unix_millis(ms) {
            Some(time) => Start {
                nanos: ms * NANOS_PER_MILLI,
                time,
            },
            None => Start::default(),
        }
    }
}

/// Writes the file header again at the start of the output (`written` bytes back).
type RewriteHeader<W> = fn(&mut W, u64, &[u8]) -> io::Result<()>;

/// Rewrites the header at the start of what this writer wrote (`written` bytes ago).
fn rewrite_header<W: Write + Seek>(w: &mut W, written: u64, header: &[u8]) -> io::Result<()> {
    let back = i64::try_from(written)
        .map_err(|_| io::Error::other("BLF file too large to seek back to its header"))?;
    w.seek(SeekFrom::Current(-back))?;
    w.write_all(header)?;
    w.seek(SeekFrom::Current(back - header.len() as i64))?;
    Ok(())
}

/// Writes a BLF file into any [`Write`] (see the module documentation for the objects).
///
/// The file header carries statistics that are known only at the end (file size,
/// uncompressed size, object count, time of the last object). [`Writer::new`] takes a
/// `Write + Seek` output (a file) and writes them at [`FrameWriter::finish`] (and at each
/// [`FrameWriter::flush`], so a file cut short after a flush is whole). [`Writer::streaming`]
/// takes any output (a pipe, standard output): its header has the right signature, sizes and
/// measurement start time, and zeros for the file size, uncompressed size, object count and
/// end time. python-can, Wireshark, `vector_blf` and this module's [`Reader`] read such files
/// completely (they iterate objects and use none of these fields); tools that display the
/// object count show 0.
///
/// The header is written with the first container, so that it holds the first record's
/// time (truncated to the millisecond, as `SYSTEMTIME` holds it; every object timestamp is
/// nanoseconds after it). A capture whose first timestamp is before 1990 is taken as relative
/// (python-can's rule): its start time is written as zeros and object timestamps count from
/// zero, so that readers get the same timestamps back.
///
/// Call [`FrameWriter::finish`] at the end: containers are written when full, and the last
/// one only then.
pub struct Writer<W: Write> {
    inner: W,
    options: WriteOptions,
    rewrite: Option<RewriteHeader<W>>,
    deflater: Option<Compress>,
    /// Objects not yet in a container.
    buf: Vec<u8>,
    /// A compressed container.
    out: Vec<u8>,
    channels: ChannelMap,
    losses: Losses,
    start: Option<Start>,
    last_nanos: u64,
    objects: u32,
    /// The uncompressed size: the file header and every container with its data inflated.
    uncompressed: u64,
    /// Bytes written to `inner` so far.
    written: u64,
    header_written: bool,
    finished: bool,
}

impl<W: Write + Seek> Writer<W> {
    /// A writer with the default options into a seekable output, whose header gets the
    /// final statistics.
    pub fn new(inner: W) -> Self {
        Self::with_options(inner, WriteOptions::default())
    }

    /// A writer with `options` into a seekable output.
    pub fn with_options(inner: W, options: WriteOptions) -> Self {
        Self::build(inner, options, Some(rewrite_header::<W>))
    }
}

impl<W: Write> Writer<W> {
    /// A writer into any output; its header holds no statistics (see [`Writer`]).
    pub fn streaming(inner: W) -> Self {
        Self::streaming_with_options(inner, WriteOptions::default())
    }

    /// A streaming writer with `options`.
    pub fn streaming_with_options(inner: W, options: WriteOptions) -> Self {
        Self::build(inner, options, None)
    }

    fn build(inner: W, mut options: WriteOptions, rewrite: Option<RewriteHeader<W>>) -> Self {
        options.container_size = options.container_size.clamp(1, MAX_CONTAINER_SIZE as usize);
        let deflater = options
            .compression
            .map(|level| Compress::new(Compression::new(level.clamp(1, 9)), true));
        Writer {
            inner,
            options,
            rewrite,
            deflater,
            buf: Vec::with_capacity(options.container_size + 256),
            out: Vec::new(),
            channels: ChannelMap::new(),
            losses: Losses::default(),
            start: None,
            last_nanos: 0,
            objects: 0,
            uncompressed: FILE_HEADER_SIZE as u64,
            written: 0,
            header_written: false,
            finished: false,
        }
    }

    /// The channel numbers given to interface names so far.
    pub fn channels(&self) -> &ChannelMap {
        &self.channels
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The underlying writer (call [`FrameWriter::finish`] first).
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// The file header; with the statistics, or zeros in their place.
    fn header_bytes(&self, statistics: bool) -> [u8; FILE_HEADER_SIZE] {
        let mut h = [0u8; FILE_HEADER_SIZE];
        let start = self.start.unwrap_or_default();
        let mut put = |at: usize, bytes: &[u8]| {
            if let Some(slot) = h.get_mut(at..at + bytes.len()) {
                slot.copy_from_slice(bytes);
            }
        };
        put(0, &FILE_SIGNATURE);
        put(4, &(FILE_HEADER_SIZE as u32).to_le_bytes());
        put(8, &API_NUMBER.to_le_bytes());
        // Application id 0 ("unknown": this is no Vector tool), version 0.0; the
        // compression level, 0 for uncompressed containers (`vblf` relies on it).
        let level = self.options.compression.map_or(0, |l| l.clamp(1, 9)) as u8;
        put(12, &[0, level, 0, 0]);
        let mut times = [start.time, SystemTime::default()];
        if statistics {
            put(16, &self.written.to_le_bytes());
            put(24, &self.uncompressed.to_le_bytes());
            put(32, &self.objects.to_le_bytes());
            if start.nanos != 0 {
                times[1] = SystemTime::from_unix_millis(self.last_nanos / NANOS_PER_MILLI)
                    .unwrap_or_default();
            }
        }
        for (i, t) in times.iter().enumerate() {
            for (j, v) in t.0.iter().enumerate() {
                put(40 + 16 * i + 2 * j, &v.to_le_bytes());
            }
        }
        h
    }

    fn ensure_header(&mut self) -> io::Result<()> {
        if !self.header_written {
            let h = self.header_bytes(false);
            self.inner.write_all(&h)?;
            self.written += h.len() as u64;
            self.header_written = true;
        }
        Ok(())
    }

    /// Writes `self.buf[from..to]` as one container.
    fn write_container(&mut self, from: usize, to: usize) -> io::Result<()> {
        self.ensure_header()?;
        let data = self.buf.get(from..to).unwrap_or_default();
        let (method, payload): (u16, &[u8]) = match &mut self.deflater {
            Some(c) => {
                c.reset();
                self.out.clear();
                self.out.reserve(data.len() / 2 + 1024);
                loop {
                    let consumed = c.total_in() as usize;
                    let input = data.get(consumed..).unwrap_or_default();
                    let status = c
                        .compress_vec(input, &mut self.out, FlushCompress::Finish)
                        .map_err(io::Error::other)?;
                    if status == Status::StreamEnd {
                        break;
                    }
                    if self.out.capacity() - self.out.len() < 1024 {
                        self.out.reserve(64 * 1024);
                    }
                }
                (COMPRESSION_ZLIB, &self.out)
            }
            None => (COMPRESSION_NONE, data),
        };
        let size = BASE_HEADER_SIZE + CONTAINER_HEADER_SIZE + payload.len();
        let size32 =
            u32::try_from(size).map_err(|_| io::Error::other("BLF container larger than 4 GiB"))?;
        let mut head = [0u8; BASE_HEADER_SIZE + CONTAINER_HEADER_SIZE];
        head[..4].copy_from_slice(&OBJECT_SIGNATURE);
        head[4..6].copy_from_slice(&(BASE_HEADER_SIZE as u16).to_le_bytes());
        head[6..8].copy_from_slice(&1u16.to_le_bytes());
        head[8..12].copy_from_slice(&size32.to_le_bytes());
        head[12..16].copy_from_slice(&ot::LOG_CONTAINER.to_le_bytes());
        head[16..18].copy_from_slice(&method.to_le_bytes());
        head[24..28].copy_from_slice(&(data.len() as u32).to_le_bytes());
        // The padding python-can and `vector_blf` write after a container (python-can's
        // reader expects exactly this many bytes before the next container).
        let padding = size % 4;
        self.inner.write_all(&head)?;
        self.inner.write_all(payload)?;
        self.inner.write_all(&[0u8; 4][..padding])?;
        self.written += (size + padding) as u64;
        self.uncompressed += (BASE_HEADER_SIZE + CONTAINER_HEADER_SIZE + data.len()) as u64;
        Ok(())
    }

    /// Writes every full container of buffered objects.
    fn write_full_containers(&mut self) -> io::Result<()> {
        let size = self.options.container_size;
        let mut done = 0;
        while self.buf.len() - done >= size {
            self.write_container(done, done + size)?;
            done += size;
        }
        self.buf.drain(..done);
        Ok(())
    }

    /// Writes the buffered objects as a (short) container.
    fn write_rest(&mut self) -> io::Result<()> {
        self.write_full_containers()?;
        if !self.buf.is_empty() {
            self.write_container(0, self.buf.len())?;
            self.buf.clear();
        }
        Ok(())
    }

    fn write_statistics(&mut self) -> io::Result<()> {
        self.ensure_header()?;
        if let Some(rewrite) = self.rewrite {
            let h = self.header_bytes(true);
            rewrite(&mut self.inner, self.written, &h)?;
        }
        Ok(())
    }

    /// The object timestamp (nanoseconds after the measurement start) of `t`.
    fn object_time(&mut self, t: Timestamp) -> u64 {
        let start = *self.start.get_or_insert_with(|| Start::of(t));
        self.last_nanos = self.last_nanos.max(t.as_nanos());
        match t.as_nanos().checked_sub(start.nanos) {
            Some(n) => n,
            None => {
                self.losses.add(LOSS_EARLY, false);
                0
            }
        }
    }

    /// Appends the 32-byte version 1 object header of an object with a `body`-byte body.
    fn push_object_header(&mut self, kind: u32, body: usize, stamp: u64) {
        let size = (OBJECT_HEADER_SIZE + body) as u32;
        let mut h = [0u8; OBJECT_HEADER_SIZE];
        h[..4].copy_from_slice(&OBJECT_SIGNATURE);
        h[4..6].copy_from_slice(&(OBJECT_HEADER_SIZE as u16).to_le_bytes());
        h[6..8].copy_from_slice(&1u16.to_le_bytes());
        h[8..12].copy_from_slice(&size.to_le_bytes());
        h[12..16].copy_from_slice(&kind.to_le_bytes());
        h[16..20].copy_from_slice(&TIME_ONE_NANS.to_le_bytes());
        h[24..32].copy_from_slice(&stamp.to_le_bytes());
        self.buf.extend_from_slice(&h);
    }

    /// Writes one record (or counts it as a loss).
    pub fn write_record(&mut self, record: &Record<'_>) -> io::Result<()> {
        if self.finished {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "BLF writer: record written after finish",
            ));
        }
        let channel = self.channels.channel(record.interface);
        let Ok(channel16) = u16::try_from(channel) else {
            self.losses.add(LOSS_CHANNEL, true);
            return Ok(());
        };
        let tx = match record.direction {
            Some(Direction::Tx) => true,
            Some(Direction::Rx) => false,
            None => {
                self.losses.add(LOSS_DIRECTION, false);
                false
            }
        };
        let stamp = self.object_time(record.timestamp);
        let id_field = |id: Id| {
            if id.is_extended() {
                id.raw() | ID_EXTENDED
            } else {
                id.raw()
            }
        };
        let mut body = [0u8; 88];
        let (kind, len) = match &record.frame {
            Frame::Classic(_) | Frame::Remote(_) => {
                let (id, dlc, data, rtr) = match &record.frame {
                    Frame::Classic(f) => (f.id(), f.dlc(), f.data(), 0),
                    Frame::Remote(r) => (r.id(), r.dlc(), &[][..], MSG_FLAG_RTR),
                    _ => return Ok(()),
                };
                body[..2].copy_from_slice(&channel16.to_le_bytes());
                body[2] = rtr | if tx { MSG_FLAG_TX } else { 0 };
                body[3] = dlc;
                body[4..8].copy_from_slice(&id_field(id).to_le_bytes());
                for (d, s) in body[8..16].iter_mut().zip(data) {
                    *d = *s;
                }
                match self.options.classic_object {
                    ClassicObject::CanMessage => (ot::CAN_MESSAGE, 16),
                    ClassicObject::CanMessage2 => (ot::CAN_MESSAGE2, 24),
                }
            }
            Frame::Fd(f) => {
                let flags = f.flags();
                let data = f.data();
                if flags.bits() & 0x8 != 0 {
                    self.losses.add(LOSS_FD_FLAG, false);
                }
                if let Ok(channel8) = u8::try_from(channel) {
                    // CAN_FD_MESSAGE_64, its data padded to 4 bytes inside the object.
                    let mut bits = FD64_FLAG_EDL;
                    if flags.brs() {
                        bits |= FD64_FLAG_BRS;
                    }
                    if flags.esi() {
                        bits |= FD64_FLAG_ESI;
                    }
                    let len = FD64_FIXED + data.len().div_ceil(4) * 4;
                    self.push_object_header(ot::CAN_FD_MESSAGE_64, len, stamp);
                    let mut b = [0u8; FD64_FIXED + 64];
                    b[0] = channel8;
                    b[1] = f.dlc();
                    b[2] = data.len() as u8;
                    b[4..8].copy_from_slice(&id_field(f.id()).to_le_bytes());
                    b[12..16].copy_from_slice(&bits.to_le_bytes());
                    b[34] = u8::from(tx);
                    for (d, s) in b[FD64_FIXED..].iter_mut().zip(data) {
                        *d = *s;
                    }
                    self.buf.extend_from_slice(b.get(..len).unwrap_or_default());
                    return self.finish_object();
                }
                // Channels above 255 do not fit CAN_FD_MESSAGE_64: CAN_FD_MESSAGE.
                let mut fd = FD_FLAG_EDL;
                if flags.brs() {
                    fd |= FD_FLAG_BRS;
                }
                if flags.esi() {
                    fd |= FD_FLAG_ESI;
                }
                body[..2].copy_from_slice(&channel16.to_le_bytes());
                body[2] = if tx { MSG_FLAG_TX } else { 0 };
                body[3] = f.dlc();
                body[4..8].copy_from_slice(&id_field(f.id()).to_le_bytes());
                body[13] = fd;
                body[14] = data.len() as u8;
                for (d, s) in body[FD_FIXED..FD_FIXED + 64].iter_mut().zip(data) {
                    *d = *s;
                }
                (ot::CAN_FD_MESSAGE, 88)
            }
            Frame::Error(e) => {
                // python-can's layout: no Vector detail valid, the SocketCAN class in the id
                // field, the details in the data; the direction in flagsExt bits 12-13.
                body[..2].copy_from_slice(&channel16.to_le_bytes());
                body[10] = 8;
                body[16..20].copy_from_slice(&e.class().to_le_bytes());
                let ext: u16 = if tx {
                    3 << ERR_EXT_DIR_SHIFT
                } else {
                    (2 << ERR_EXT_DIR_SHIFT) | ERR_EXT_RX
                };
                body[20..22].copy_from_slice(&ext.to_le_bytes());
                body[24..32].copy_from_slice(e.data());
                (ot::CAN_ERROR_EXT, 32)
            }
        };
        self.push_object_header(kind, len, stamp);
        self.buf
            .extend_from_slice(body.get(..len).unwrap_or_default());
        self.finish_object()
    }

    fn finish_object(&mut self) -> io::Result<()> {
        self.objects = self.objects.saturating_add(1);
        if self.buf.len() >= self.options.container_size {
            self.write_full_containers()?;
        }
        Ok(())
    }
}

impl<W: Write> FrameWriter for Writer<W> {
    fn write_record(&mut self, record: &Record<'_>) -> io::Result<()> {
        Writer::write_record(self, record)
    }

    /// Writes the buffered objects as a container (and, on a seekable output, the header
    /// statistics so far), then flushes the output.
    fn flush(&mut self) -> io::Result<()> {
        if self.finished {
            return self.inner.flush();
        }
        if !self.buf.is_empty() {
            self.write_rest()?;
            if self.rewrite.is_some() {
                self.write_statistics()?;
            }
        }
        self.inner.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.finished {
            return Ok(());
        }
        self.write_rest()?;
        self.write_statistics()?;
        self.finished = true;
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
