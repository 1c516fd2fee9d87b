//! ASAM MDF 4 bus logging files (`.mf4`, as CANedge loggers, Vector tools, asammdf and
//! python-can write them): a reader of CAN frames, and a writer.
//!
//! Follows ASAM MDF 4.1 (block layouts: `##ID` identification, `##HD` header with the start
//! time, `##DG` data groups, `##CG` channel groups, `##CN` channels and their compositions,
//! `##CC` conversions, `##TX`/`##MD` texts, `##SI` sources; data in `##DT` blocks, zipped
//! `##DZ` blocks (deflate, or transposition + deflate), `##DL` data lists and `##HL` header
//! lists; variable-length values in `##SD` blocks or in a VLSD channel group) and the ASAM
//! MDF bus logging conventions as asammdf (`blocks/mdf_v4.py`, `v4_blocks.py`), python-can's
//! `can/io/mf4.py` and CSS Electronics' CANedge documentation and `mdf4-converters` use them:
//! a channel group per frame type, `CAN_DataFrame`, `CAN_RemoteFrame` and `CAN_ErrorFrame`,
//! with channels (usually composed under a byte-array channel of that name)
//! `<type>.BusChannel`, `.ID`, `.IDE`, `.DLC`, `.DataLength`, `.DataBytes`, `.Dir`, `.EDL`,
//! `.BRS`, `.ESI` and, for error frames, `.ErrorType`, at any byte and bit offset (CANedge packs
//! them into bit fields), and a master time channel.
//!
//! Reading: every data group holding CAN frames is streamed on its own, record by record,
//! through one buffer (a DT block is read in chunks, a DZ block is inflated whole, at most
//! [`MAX_ZIPPED_BLOCK`] bytes), and the groups' records are merged in time order by a small
//! heap (ties go to the earlier data group), so memory stays flat whatever the file size.
//! Sorted data groups (one channel group) and unsorted ones (record ids of 1, 2, 4 or 8 bytes
//! before each record, several channel groups including VLSD groups, as CANedge writes before
//! sorting) are both read; the latest VLSD values of an unsorted group are kept to resolve the
//! offsets in its records, those of an `##SD` block are read forward. Files that are not
//! finalised (`UnFinMF ` identification, CANedge) are read with the last DT block extended to
//! the next block or the end of the file, as asammdf finalises them.
//!
//! Mapping: `DataFrame` records with `EDL` set are CAN FD frames (flags `FDF`, plus `BRS` and
//! `ESI`); others are classic frames, whose `DLC` 9-15 with 8 bytes is kept as a raw DLC.
//! `RemoteFrame` records request `DLC` bytes. `ErrorFrame` records with an `ErrorType` channel
//! (ASAM: 1 bit, 2 form, 3 stuff, 4 CRC, 5 acknowledgement error) become SocketCAN error frames
//! of class `CAN_ERR_PROT` (0x08) with the protocol error type in byte 2 (`CAN_ERR_PROT_BIT`
//! 0x01, `_FORM` 0x02, `_STUFF` 0x04) or, for CRC errors, the location `CAN_ERR_PROT_LOC_CRC_SEQ`
//! (0x08) in byte 3, and acknowledgement errors class `CAN_ERR_ACK` (0x20); type 0 (unknown) is
//! `CAN_ERR_PROT` with no details. Error frames without `ErrorType` are read as python-can
//! writes them from SocketCAN: the class in `ID`, the details in `DataBytes`. `Dir` 0 is
//! received, 1 transmitted. `BusChannel` is 1-based (ASAM, CANedge, Vector): channel N is
//! interface `can{N-1}` ([`channel_interface`]); python-can's MF4Writer stores the 0-based
//! number of the interface name instead (`can0` is 0), so a file whose CAN records start with
//! channel 0 (checked on the first [`CHANNEL_PROBE`] records of each group) is read 0-based,
//! channel N as `can{N}`. Records of other buses (LIN, FlexRay, Ethernet...) are
//! [`Item::Skipped`], channel groups of plain signals are [`Item::Other`].
//!
//! Time: the header's start time (ns since 1970, UTC; a start time flagged as local time
//! without offsets, which python-can writes from `datetime.now()`, is taken as UTC, as a reader
//! in UTC reads it) plus the master channel's value in seconds (float, or an integer through
//! an identity or linear conversion; a virtual master counts records). Times before 1970 are
//! bad records.
//!
//! Calling contract: MDF needs random access, so [`Reader`] takes `R: Read + Seek` (the
//! command line refuses a pipe for MF4); it reads the block tree at the first
//! [`Reader::read_item`] and never panics on input: every length and count is checked against
//! the file and bounded. Nothing here opens files or reads the clock.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use super::{
    ChannelMap, Direction, Format, FormatError, FormatErrorKind, FrameReader, FrameWriter, Item,
    Location, Loss, Losses, Precision, ReadError, Record, Stats, channel_interface,
};
use crate::frame::{
    ClassicFrame, ErrorFrame, FD_LENGTHS, FdFlags, FdFrame, Frame, Id, MAX_EXTENDED_ID,
    RemoteFrame, fd_len_to_dlc,
};
use crate::time::Timestamp;

/// The largest zipped (DZ) block inflated, original size.
pub const MAX_ZIPPED_BLOCK: u64 = 64 << 20;
/// How many records of each CAN channel group are looked at to tell 0-based bus channels
/// (python-can) from 1-based ones.
pub const CHANNEL_PROBE: usize = 1000;

/// Metadata blocks (texts, channels, lists) larger than this are refused.
const MAX_META_BLOCK: u64 = 16 << 20;
/// Records larger than this are refused.
const MAX_RECORD: u64 = 1 << 20;
/// Channel groups per file, channels per group, data blocks per data group.
const MAX_GROUPS: usize = 1 << 16;
const MAX_CHANNELS: usize = 1 << 14;
const MAX_DATA_BLOCKS: usize = 1 << 22;
/// Bytes read from a DT block at a time.
const CHUNK: usize = 64 * 1024;
/// VLSD values kept per unsorted VLSD channel group.
const VLSD_RING: usize = 64;

const CAN_ERR_PROT: u32 = 0x08;
const CAN_ERR_ACK: u32 = 0x20;

/// Why an MDF 4 file could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("not an MDF 4 file (identification {0:?})")]
    NotMdf4(String),
    #[error("expected a {expected} block, found {found:?}")]
    BlockId {
        expected: &'static str,
        found: String,
    },
    #[error("block length {0} is impossible")]
    BlockLength(u64),
    #[error("link to byte {0}, beyond the end of the file")]
    Link(u64),
    #[error("{0} too large to read")]
    TooLarge(&'static str),
    #[error("a CAN group's records are 0 bytes long")]
    EmptyRecord,
    #[error("the data blocks of a group link in a cycle or are too many")]
    DataListCycle,
    #[error("unsupported {0}")]
    Unsupported(&'static str),
    #[error("zipped block inflates to {got} bytes, not the {expected} it declares")]
    Inflate { expected: u64, got: u64 },
    #[error("zipped block is not valid deflate data")]
    Deflate,
    #[error("record id {0} belongs to no channel group of this data group")]
    RecordId(u64),
    #[error("channel group {name} has no time channel")]
    NoTime { name: &'static str },
    #[error("channel {0} lies outside its record")]
    ChannelOutside(&'static str),
    #[error("variable-length value at offset {0} not found")]
    VlsdOffset(u64),
    #[error("time stamp outside the 64-bit nanosecond time line")]
    TimestampRange,
    #[error("classic CAN frame with a data length of {0} (at most 8)")]
    ClassicLength(u64),
    #[error("CAN FD frame with a data length of {0}, which is not a CAN FD length")]
    FdLength(u64),
    #[error("remote frame requesting {0} bytes")]
    RemoteLength(u64),
    #[error("data length {len} but only {available} data bytes")]
    DataBytes { len: u64, available: usize },
    #[error("CAN id 0x{0:X} does not fit its format")]
    IdRange(u64),
}

/// Whether `head` starts an MDF 4 file: the identification `MDF     ` (or `UnFinMF ` for a
/// file that is not finalised) followed by a version string starting with `4.`.
pub fn sniff(head: &[u8]) -> bool {
    (head.starts_with(b"MDF     ") || head.starts_with(b"UnFinMF "))
        && head.get(8..10) == Some(b"4.".as_slice())
}

// ---------------------------------------------------------------------------------------------
// Byte access

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

fn le_f64(b: &[u8], at: usize) -> Option<f64> {
    le_u64(b, at).map(f64::from_bits)
}

/// A failure while reading: where, and whether reading can go on.
#[derive(Debug)]
enum Fail {
    /// A malformed block or record at a byte offset.
    Format(u64, ErrorKind),
    /// The file ends inside a block or record.
    Truncated(u64, &'static str),
    Io(io::Error),
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Fail {
        Fail::Io(e)
    }
}

fn fmt(at: u64, kind: ErrorKind) -> Fail {
    Fail::Format(at, kind)
}

/// Random access to the file, with its length.
struct File<R> {
    inner: R,
    len: u64,
}

impl<R: Read + Seek> File<R> {
    /// Reads exactly `buf.len()` bytes at `at`; `Truncated` if the file ends first.
    fn read_at(&mut self, at: u64, buf: &mut [u8], what: &'static str) -> Result<(), Fail> {
        let end = at.checked_add(buf.len() as u64);
        if end.is_none_or(|e| e > self.len) {
            return Err(Fail::Truncated(at, what));
        }
        self.inner.seek(SeekFrom::Start(at))?;
        match self.inner.read_exact(buf) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(Fail::Truncated(at, what)),
            Err(e) => Err(Fail::Io(e)),
        }
    }

    /// Appends `n` bytes at `at` to `out`.
    fn append_at(
        &mut self,
        at: u64,
        n: usize,
        out: &mut Vec<u8>,
        what: &'static str,
    ) -> Result<(), Fail> {
        let start = out.len();
        out.resize(start + n, 0);
        let r = self.read_at(at, out.get_mut(start..).unwrap_or_default(), what);
        if r.is_err() {
            out.truncate(start);
        }
        r
    }
}

/// A metadata block read whole: its id, links and data section.
struct Block {
    at: u64,
    links: Vec<u64>,
    data: Vec<u8>,
}

impl Block {
    fn link(&self, i: usize) -> u64 {
        self.links.get(i).copied().unwrap_or(0)
    }
}

fn id_text(id: [u8; 4]) -> String {
    String::from_utf8_lossy(&id).into_owned()
}

impl<R: Read + Seek> File<R> {
    /// The 24-byte common header at `at`: id, length, link count.
    fn header(&mut self, at: u64) -> Result<([u8; 4], u64, u64), Fail> {
        if at == 0 || at >= self.len {
            return Err(fmt(at, ErrorKind::Link(at)));
        }
        let mut h = [0u8; 24];
        self.read_at(at, &mut h, "block header")?;
        let id = [h[0], h[1], h[2], h[3]];
        let length = le_u64(&h, 8).unwrap_or(0);
        let links = le_u64(&h, 16).unwrap_or(0);
        if length < 24 || links > (length - 24) / 8 {
            return Err(fmt(at, ErrorKind::BlockLength(length)));
        }
        Ok((id, length, links))
    }

    /// A whole metadata block of one of the `expected` ids.
    fn block(&mut self, at: u64, expected: &'static str) -> Result<Block, Fail> {
        let (id, length, links) = self.header(at)?;
        if !expected
            .split('/')
            .any(|e| e.as_bytes() == id.get(2..).unwrap_or_default())
        {
            return Err(fmt(
                at,
                ErrorKind::BlockId {
                    expected,
                    found: id_text(id),
                },
            ));
        }
        if length > MAX_META_BLOCK {
            return Err(fmt(at, ErrorKind::TooLarge("metadata block")));
        }
        let mut rest = Vec::new();
        self.append_at(at + 24, (length - 24) as usize, &mut rest, "block")?;
        let n = links as usize;
        let link_bytes = n * 8;
        let links = (0..n).map(|i| le_u64(&rest, i * 8).unwrap_or(0)).collect();
        let data = rest.get(link_bytes..).unwrap_or_default().to_vec();
        Ok(Block { at, links, data })
    }

    /// The text of a TX or MD block (empty for link 0), up to its first NUL.
    fn text(&mut self, at: u64) -> Result<String, Fail> {
        if at == 0 {
            return Ok(String::new());
        }
        let b = self.block(at, "TX/MD")?;
        let end = b.data.iter().position(|&c| c == 0).unwrap_or(b.data.len());
        Ok(String::from_utf8_lossy(b.data.get(..end).unwrap_or_default()).into_owned())
    }
}

// ---------------------------------------------------------------------------------------------
// Data blocks

/// One block of a data stream.
#[derive(Clone, Debug)]
enum DataBlock {
    /// DT/SD/RD: `len` bytes at `at`.
    Raw { at: u64, len: u64 },
    /// DZ: `zipped` bytes at `at`, inflating to `original`; transposed in rows of `columns`.
    Zipped {
        at: u64,
        zipped: u64,
        original: u64,
        columns: Option<u32>,
    },
}

impl<R: Read + Seek> File<R> {
    /// The data blocks a data link leads to, in order (DT, SD or DZ blocks of `kind`, through
    /// DL and HL lists).
    fn data_blocks(
        &mut self,
        link: u64,
        kind: &'static str,
        out: &mut Vec<DataBlock>,
        addresses: &mut Vec<u64>,
    ) -> Result<(), Fail> {
        let start = out.len();
        let mut lists = HashSet::new();
        self.collect_blocks(link, kind, out, addresses, &mut lists)?;
        // A block listed twice (two lists sharing it, or a list naming it again) would be
        // read again and again: a file can claim billions of records from a few bytes.
        let mut seen = HashSet::new();
        for b in out.get(start..).unwrap_or_default() {
            let at = match b {
                DataBlock::Raw { at, .. } | DataBlock::Zipped { at, .. } => *at,
            };
            if !seen.insert(at) {
                return Err(fmt(link, ErrorKind::DataListCycle));
            }
        }
        Ok(())
    }

    /// The data blocks under `link`, in order; `lists` holds the list blocks already walked.
    fn collect_blocks(
        &mut self,
        link: u64,
        kind: &'static str,
        out: &mut Vec<DataBlock>,
        addresses: &mut Vec<u64>,
        lists: &mut HashSet<u64>,
    ) -> Result<(), Fail> {
        if link == 0 {
            return Ok(());
        }
        let (id, length, links) = self.header(link)?;
        addresses.push(link);
        let code = id.get(2..4).unwrap_or_default();
        match code {
            b"DT" | b"SD" | b"RD" | b"DV" => {
                if code != kind.as_bytes() && !(kind == "DT" && code == b"DV") {
                    return Err(fmt(
                        link,
                        ErrorKind::BlockId {
                            expected: kind,
                            found: id_text(id),
                        },
                    ));
                }
                let at = link.saturating_add(24 + links * 8);
                out.push(DataBlock::Raw {
                    at,
                    len: length - 24 - links * 8,
                });
            }
            b"DZ" => {
                let mut h = [0u8; 24];
                self.read_at(link + 24, &mut h, "DZ block")?;
                if h.get(..2) != Some(kind.as_bytes()) {
                    return Err(fmt(
                        link,
                        ErrorKind::BlockId {
                            expected: kind,
                            found: format!("DZ of {}", String::from_utf8_lossy(&h[..2])),
                        },
                    ));
                }
                let zip = h[2];
                let param = le_u32(&h, 4).unwrap_or(0);
                let original = le_u64(&h, 8).unwrap_or(0);
                let zipped = le_u64(&h, 16).unwrap_or(0);
                if zipped > length.saturating_sub(48) {
                    return Err(fmt(link, ErrorKind::BlockLength(length)));
                }
                let columns = match zip {
                    0 => None,
                    1 => Some(param),
                    _ => return Err(fmt(link, ErrorKind::Unsupported("zip type (not deflate)"))),
                };
                out.push(DataBlock::Zipped {
                    at: link + 48,
                    zipped,
                    original,
                    columns,
                });
            }
            b"DL" => {
                let mut next = link;
                while next != 0 {
                    if !lists.insert(next)
                        || lists.len() > MAX_DATA_BLOCKS
                        || out.len() > MAX_DATA_BLOCKS
                    {
                        return Err(fmt(link, ErrorKind::DataListCycle));
                    }
                    let dl = self.block(next, "DL")?;
                    addresses.push(next);
                    for &l in dl.links.iter().skip(1) {
                        if lists.contains(&l) {
                            return Err(fmt(next, ErrorKind::DataListCycle));
                        }
                        self.collect_blocks(l, kind, out, addresses, lists)?;
                    }
                    next = dl.link(0);
                }
            }
            b"HL" => {
                if !lists.insert(link) {
                    return Err(fmt(link, ErrorKind::DataListCycle));
                }
                let hl = self.block(link, "HL")?;
                self.collect_blocks(hl.link(0), kind, out, addresses, lists)?;
            }
            _ => {
                return Err(fmt(
                    link,
                    ErrorKind::BlockId {
                        expected: "DT/DZ/DL/HL",
                        found: id_text(id),
                    },
                ));
            }
        }
        Ok(())
    }
}

/// Undoes DZ transposition: `data` holds `columns` columns of `rows` bytes each, then the
/// bytes that did not fill a row.
fn untranspose(data: &[u8], columns: usize, out: &mut Vec<u8>) {
    out.clear();
    if columns == 0 {
        out.extend_from_slice(data);
        return;
    }
    let rows = data.len() / columns;
    let body = rows * columns;
    out.resize(body, 0);
    for c in 0..columns {
        for r in 0..rows {
            if let (Some(dst), Some(&src)) = (out.get_mut(r * columns + c), data.get(c * rows + r))
            {
                *dst = src;
            }
        }
    }
    out.extend_from_slice(data.get(body..).unwrap_or_default());
}

/// The bytes of a data stream (the blocks of one data link), read forward.
struct Source {
    blocks: Vec<DataBlock>,
    next: usize,
    /// The current DT block: where its unread bytes are and how many.
    raw_at: u64,
    raw_left: u64,
    buf: Vec<u8>,
    pos: usize,
    /// Bytes consumed from the stream so far.
    consumed: u64,
    /// Where the current block starts in the file, for error locations.
    block_at: u64,
    zipped: Vec<u8>,
    plain: Vec<u8>,
}

impl Source {
    fn new(blocks: Vec<DataBlock>) -> Source {
        Source {
            blocks,
            next: 0,
            raw_at: 0,
            raw_left: 0,
            buf: Vec::new(),
            pos: 0,
            consumed: 0,
            block_at: 0,
            zipped: Vec::new(),
            plain: Vec::new(),
        }
    }

    /// Makes `n` bytes available at `pos`; `Ok(false)` when the stream ends first.
    fn need<R: Read + Seek>(&mut self, file: &mut File<R>, n: usize) -> Result<bool, Fail> {
        while self.buf.len() - self.pos < n {
            if self.pos > 0 {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            if self.raw_left > 0 {
                let take = (self.raw_left.min(CHUNK.max(n) as u64)) as usize;
                file.append_at(self.raw_at, take, &mut self.buf, "data block")?;
                self.raw_at += take as u64;
                self.raw_left -= take as u64;
                continue;
            }
            let Some(block) = self.blocks.get(self.next).cloned() else {
                return Ok(false);
            };
            self.next += 1;
            match block {
                DataBlock::Raw { at, len } => {
                    self.block_at = at.saturating_sub(24);
                    self.raw_at = at;
                    self.raw_left = len;
                }
                DataBlock::Zipped {
                    at,
                    zipped,
                    original,
                    columns,
                } => {
                    self.block_at = at.saturating_sub(48);
                    if original > MAX_ZIPPED_BLOCK || zipped > MAX_ZIPPED_BLOCK {
                        return Err(fmt(self.block_at, ErrorKind::TooLarge("zipped data block")));
                    }
                    self.zipped.clear();
                    file.append_at(at, zipped as usize, &mut self.zipped, "DZ block")?;
                    self.plain.clear();
                    self.plain.reserve(original as usize);
                    let mut z =
                        flate2::read::ZlibDecoder::new(self.zipped.as_slice()).take(original + 1);
                    if z.read_to_end(&mut self.plain).is_err() {
                        return Err(fmt(self.block_at, ErrorKind::Deflate));
                    }
                    if self.plain.len() as u64 != original {
                        return Err(fmt(
                            self.block_at,
                            ErrorKind::Inflate {
                                expected: original,
                                got: self.plain.len() as u64,
                            },
                        ));
                    }
                    match columns {
                        Some(c) if c > 1 => {
                            let mut t = std::mem::take(&mut self.zipped);
                            untranspose(&self.plain, c as usize, &mut t);
                            self.buf.extend_from_slice(&t);
                            self.zipped = t;
                        }
                        _ => self.buf.extend_from_slice(&self.plain),
                    }
                }
            }
        }
        Ok(true)
    }

    /// The `n` bytes made available by [`Source::need`].
    fn take(&mut self, n: usize) -> &[u8] {
        let s = self.buf.get(self.pos..self.pos + n).unwrap_or_default();
        self.pos += n;
        self.consumed += n as u64;
        s
    }

    /// Skips `n` bytes; `Ok(false)` if the stream ends first.
    fn skip<R: Read + Seek>(&mut self, file: &mut File<R>, mut n: u64) -> Result<bool, Fail> {
        while n > 0 {
            let step = n.min(CHUNK as u64) as usize;
            if !self.need(file, step)? {
                return Ok(false);
            }
            self.take(step);
            n -= step as u64;
        }
        Ok(true)
    }
}

// ---------------------------------------------------------------------------------------------
// Channels

/// Where a value is in a record and how to read it.
#[derive(Copy, Clone, Debug)]
struct Field {
    byte: usize,
    bit: u8,
    bits: u32,
    data_type: u8,
    /// The record bit that says the value is invalid, if any.
    invalid_bit: Option<u64>,
}

impl Field {
    /// The raw unsigned value (integer types; the bits of floats).
    fn raw(&self, rec: &[u8]) -> Option<u64> {
        if self.bits == 0 || self.bits > 64 {
            return None;
        }
        let total = u32::from(self.bit) + self.bits;
        let n = total.div_ceil(8) as usize;
        let bytes = rec.get(self.byte..self.byte.checked_add(n)?)?;
        let mut v: u128 = 0;
        if self.data_type == 1 || self.data_type == 3 || self.data_type == 5 {
            // Big-endian: the bit offset counts from the least significant bit of the
            // last byte.
            for &b in bytes {
                v = (v << 8) | u128::from(b);
            }
        } else {
            for (i, &b) in bytes.iter().enumerate() {
                v |= u128::from(b) << (8 * i);
            }
        }
        let v = (v >> self.bit) & ((1u128 << self.bits) - 1);
        Some(v as u64)
    }

    fn invalid(&self, rec: &[u8], data_bytes: usize) -> bool {
        self.invalid_bit.is_some_and(|pos| {
            let byte = data_bytes + (pos / 8) as usize;
            rec.get(byte).is_some_and(|b| b >> (pos % 8) & 1 != 0)
        })
    }

    /// The value as a number (integers and floats).
    fn number(&self, rec: &[u8]) -> Option<f64> {
        let raw = self.raw(rec)?;
        Some(match (self.data_type, self.bits) {
            (4 | 5, 64) => f64::from_bits(raw),
            (4 | 5, 32) => f64::from(f32::from_bits(raw as u32)),
            // Sign-extend a `b`-bit two's complement value.
            (2 | 3, b) => ((raw << (64 - b)) as i64 >> (64 - b)) as f64,
            _ => raw as f64,
        })
    }
}

/// How the master channel gives seconds.
#[derive(Copy, Clone, Debug)]
enum Clock {
    /// A value in the record through `offset + factor * raw`.
    Value {
        field: Field,
        offset: f64,
        factor: f64,
    },
    /// The record's index through `offset + factor * index`.
    Virtual { offset: f64, factor: f64 },
}

/// The frame type of a CAN channel group.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Kind {
    Data,
    Remote,
    Error,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Data => "CAN_DataFrame",
            Kind::Remote => "CAN_RemoteFrame",
            Kind::Error => "CAN_ErrorFrame",
        }
    }
}

/// Where the data bytes are.
#[derive(Clone, Debug)]
enum Bytes {
    None,
    /// A byte array in the record.
    Fixed {
        byte: usize,
        len: usize,
    },
    /// An offset into a VLSD stream: the group's SD source (sorted) or a VLSD channel group
    /// (unsorted, by record id).
    Sd {
        offset: Field,
        source: usize,
    },
    VlsdGroup {
        offset: Field,
        record_id: u64,
    },
}

/// A CAN channel group's layout.
#[derive(Clone, Debug)]
struct CanLayout {
    kind: Kind,
    clock: Clock,
    precision: Precision,
    data_bytes: usize,
    bus: Option<Field>,
    id: Option<Field>,
    ide: Option<Field>,
    dlc: Option<Field>,
    len: Option<Field>,
    bytes: Bytes,
    dir: Option<Field>,
    edl: Option<Field>,
    brs: Option<Field>,
    esi: Option<Field>,
    error_type: Option<Field>,
}

/// What a channel group's records are.
#[derive(Clone, Debug)]
enum GroupKind {
    Can(Box<CanLayout>),
    /// Variable-length values for a VLSD channel of another group of the data group.
    Vlsd,
    /// Records of another bus, skipped one by one.
    OtherBus(&'static str),
    /// Plain signals.
    Signals,
    /// A CAN group we cannot read (reported once).
    Broken(ErrorKind),
}

#[derive(Clone, Debug)]
struct Group {
    record_id: u64,
    /// Record size without the record id (data + invalidation bytes).
    size: usize,
    kind: GroupKind,
}

/// A channel read from the file.
struct Channel {
    name: String,
    ty: u8,
    sync: u8,
    field: Field,
    data_link: u64,
    conversion: u64,
}

// ---------------------------------------------------------------------------------------------
// Streams

/// A record ready to merge.
#[derive(Debug)]
enum Event {
    Frame {
        ns: i128,
        bus: Option<u64>,
        frame: Frame,
        direction: Option<Direction>,
        precision: Precision,
    },
    Skipped(&'static str),
    Bad(u64, ErrorKind),
}

/// The latest values of a VLSD channel group of an unsorted data group, in a ring of
/// reused buffers.
struct VlsdValues {
    record_id: u64,
    /// Bytes of the group's stream read so far (the offset of its next value).
    consumed: u64,
    /// `(offset, value)` slots.
    ring: Vec<(u64, Vec<u8>)>,
    next: usize,
}

impl VlsdValues {
    fn new(record_id: u64) -> VlsdValues {
        VlsdValues {
            record_id,
            consumed: 0,
            ring: Vec::new(),
            next: 0,
        }
    }

    fn push(&mut self, value: &[u8]) {
        let offset = self.consumed;
        self.consumed += 4 + value.len() as u64;
        if self.ring.len() < VLSD_RING {
            self.ring.push((offset, value.to_vec()));
            return;
        }
        if let Some((o, v)) = self.ring.get_mut(self.next) {
            *o = offset;
            v.clear();
            v.extend_from_slice(value);
        }
        self.next = (self.next + 1) % VLSD_RING;
    }

    fn get(&self, offset: u64) -> Option<&[u8]> {
        self.ring
            .iter()
            .find(|(o, _)| *o == offset)
            .map(|(_, v)| v.as_slice())
    }
}

/// One data group's records, read in order.
struct Stream {
    dg_at: u64,
    record_id_size: u8,
    source: Source,
    groups: Vec<Group>,
    /// SD sources of sorted VLSD channels (indexed by `Bytes::Sd::source`) and their positions.
    sd: Vec<Source>,
    /// Unsorted VLSD groups and their latest values.
    vlsd: Vec<VlsdValues>,
    /// Records read per group (for virtual masters).
    counts: Vec<u64>,
    record: Vec<u8>,
    value: Vec<u8>,
    last_ns: i128,
    done: bool,
}

impl Stream {
    /// The next event of this data group; `None` at its end.
    fn next<R: Read + Seek>(
        &mut self,
        file: &mut File<R>,
        start_ns: i128,
    ) -> Result<Option<Event>, Fail> {
        loop {
            if self.done {
                return Ok(None);
            }
            let at = self.source.consumed;
            // The record id (unsorted) or the only group (sorted).
            let gi = if self.record_id_size == 0 {
                0
            } else {
                let n = usize::from(self.record_id_size);
                if !self.source.need(file, n)? {
                    self.done = true;
                    return Ok(None);
                }
                let b = self.source.take(n);
                let mut id = 0u64;
                for (i, &x) in b.iter().enumerate() {
                    id |= u64::from(x) << (8 * i);
                }
                match self.groups.iter().position(|g| g.record_id == id) {
                    Some(i) => i,
                    None => {
                        // The record size is unknown: nothing after it can be read.
                        self.done = true;
                        return Ok(Some(Event::Bad(
                            self.source.block_at,
                            ErrorKind::RecordId(id),
                        )));
                    }
                }
            };
            let Some(group) = self.groups.get(gi) else {
                self.done = true;
                return Ok(None);
            };
            let record_id = group.record_id;
            let vlsd_group = matches!(group.kind, GroupKind::Vlsd);
            let size = if vlsd_group {
                if !self.source.need(file, 4)? {
                    return self.cut(at);
                }
                let len = u64::from(le_u32(self.source.take(4), 0).unwrap_or(0));
                if len > MAX_RECORD {
                    self.done = true;
                    return Ok(Some(Event::Bad(
                        self.source.block_at,
                        ErrorKind::TooLarge("variable-length value"),
                    )));
                }
                len as usize
            } else {
                group.size
            };
            if !self.source.need(file, size)? {
                if self.record_id_size == 0 && self.source.buf.len() == self.source.pos {
                    self.done = true;
                    return Ok(None);
                }
                return self.cut(at);
            }
            self.record.clear();
            let bytes = self.source.take(size);
            self.record.extend_from_slice(bytes);
            if vlsd_group {
                if let Some(v) = self.vlsd.iter_mut().find(|v| v.record_id == record_id) {
                    v.push(&self.record);
                }
                continue;
            }
            let index = self.counts.get(gi).copied().unwrap_or(0);
            if let Some(c) = self.counts.get_mut(gi) {
                *c += 1;
            }
            // The layouts are lent out while the record is decoded (no copy per record).
            let groups = std::mem::take(&mut self.groups);
            let event = match groups.get(gi).map(|g| &g.kind) {
                Some(GroupKind::Can(layout)) => Some(self.decode(file, layout, index, start_ns)),
                Some(GroupKind::OtherBus(what)) => Some(Ok(Event::Skipped(what))),
                _ => None,
            };
            self.groups = groups;
            if let Some(event) = event {
                let event = event?;
                if let Event::Frame { ns, .. } = &event {
                    self.last_ns = *ns;
                }
                return Ok(Some(event));
            }
        }
    }

    fn cut(&mut self, _at: u64) -> Result<Option<Event>, Fail> {
        self.done = true;
        Err(Fail::Truncated(self.source.block_at, "MDF record"))
    }

    /// Decodes the CAN record in `self.record`.
    fn decode<R: Read + Seek>(
        &mut self,
        file: &mut File<R>,
        l: &CanLayout,
        index: u64,
        start_ns: i128,
    ) -> Result<Event, Fail> {
        let at = self.source.block_at;
        let rec = std::mem::take(&mut self.record);
        let result = self.decode_record(file, l, index, start_ns, &rec);
        self.record = rec;
        Ok(match result? {
            Ok(e) => e,
            Err(kind) => Event::Bad(at, kind),
        })
    }

    fn decode_record<R: Read + Seek>(
        &mut self,
        file: &mut File<R>,
        l: &CanLayout,
        index: u64,
        start_ns: i128,
        rec: &[u8],
    ) -> Result<Result<Event, ErrorKind>, Fail> {
        let get = |f: &Option<Field>| -> Option<u64> {
            f.as_ref()
                .filter(|f| !f.invalid(rec, l.data_bytes))
                .and_then(|f| f.raw(rec))
        };
        let ns = match record_time(l, rec, index, start_ns) {
            Ok(ns) => ns,
            Err(k) => return Ok(Err(k)),
        };
        let bus = get(&l.bus);
        let direction = get(&l.dir).map(|d| if d == 0 { Direction::Rx } else { Direction::Tx });
        let raw_id = get(&l.id).unwrap_or(0);
        let extended = match get(&l.ide) {
            Some(x) => x != 0,
            None => raw_id & 0x8000_0000 != 0 || raw_id & 0x1FFF_FFFF > 0x7FF,
        };
        let id_value = (raw_id & u64::from(MAX_EXTENDED_ID)) as u32;
        let dlc = get(&l.dlc);
        let len = get(&l.len);
        let frame = match l.kind {
            Kind::Remote => {
                let Some(id) = Id::new(id_value, extended) else {
                    return Ok(Err(ErrorKind::IdRange(raw_id)));
                };
                let requested = dlc.or(len).unwrap_or(0);
                let f = if (9..=15).contains(&requested) {
                    RemoteFrame::with_raw_dlc(id, requested as u8)
                } else if requested <= 8 {
                    RemoteFrame::new(id, requested as u8)
                } else {
                    return Ok(Err(ErrorKind::RemoteLength(requested)));
                };
                match f {
                    Ok(f) => Frame::Remote(f),
                    Err(_) => return Ok(Err(ErrorKind::RemoteLength(requested))),
                }
            }
            Kind::Data => {
                let fd = get(&l.edl).is_some_and(|e| e != 0);
                // Without DataLength and DLC, a variable-length value has its own length.
                let n = match (len, dlc) {
                    (Some(n), _) => Some(n),
                    (None, Some(d)) if fd => {
                        Some(u64::from(*FD_LENGTHS.get(d as usize).unwrap_or(&64)))
                    }
                    (None, Some(d)) => Some(d.min(8)),
                    (None, None) => None,
                };
                let Some(id) = Id::new(id_value, extended) else {
                    return Ok(Err(ErrorKind::IdRange(raw_id)));
                };
                let data = match self.bytes(file, l, rec, n)? {
                    Ok(d) => d,
                    Err(k) => return Ok(Err(k)),
                };
                let brs = get(&l.brs).is_some_and(|b| b != 0);
                let esi = get(&l.esi).is_some_and(|b| b != 0);
                match data_frame(id, data, fd, brs, esi, dlc) {
                    Ok(f) => f,
                    Err(k) => return Ok(Err(k)),
                }
            }
            Kind::Error => {
                let mut details = [0u8; 8];
                let class = match l.error_type {
                    Some(_) => {
                        let t = get(&l.error_type).unwrap_or(0);
                        match t {
                            1 => details[2] = 0x01,
                            2 => details[2] = 0x02,
                            3 => details[2] = 0x04,
                            4 => details[3] = 0x08,
                            _ => {}
                        }
                        if t == 5 { CAN_ERR_ACK } else { CAN_ERR_PROT }
                    }
                    None => {
                        let n = len.unwrap_or(8).min(8);
                        let data = match self.bytes(file, l, rec, Some(n))? {
                            Ok(d) => d,
                            Err(_) => &[][..],
                        };
                        let k = data.len().min(8);
                        if let (Some(d), Some(s)) = (details.get_mut(..k), data.get(..k)) {
                            d.copy_from_slice(s);
                        }
                        id_value
                    }
                };
                match ErrorFrame::new(class, details) {
                    Ok(f) => Frame::Error(f),
                    Err(_) => return Ok(Err(ErrorKind::IdRange(raw_id))),
                }
            }
        };
        Ok(Ok(Event::Frame {
            ns,
            bus,
            frame,
            direction,
            precision: l.precision,
        }))
    }

    /// The first `n` data bytes of the record in `rec` (into `self.value` for VLSD), or all
    /// of a variable-length value when `n` is `None`.
    fn bytes<'s, R: Read + Seek>(
        &'s mut self,
        file: &mut File<R>,
        l: &CanLayout,
        rec: &'s [u8],
        n: Option<u64>,
    ) -> Result<Result<&'s [u8], ErrorKind>, Fail> {
        let slice: &[u8] = match &l.bytes {
            Bytes::None => &[],
            Bytes::Fixed { byte, len } => rec
                .get(*byte..byte.saturating_add(*len))
                .unwrap_or_default(),
            Bytes::Sd { offset, source } => {
                let Some(off) = offset.raw(rec) else {
                    return Ok(Err(ErrorKind::ChannelOutside("DataBytes")));
                };
                let Some(src) = self.sd.get_mut(*source) else {
                    return Ok(Err(ErrorKind::VlsdOffset(off)));
                };
                match sd_value(src, file, off, &mut self.value)? {
                    true => self.value.as_slice(),
                    false => return Ok(Err(ErrorKind::VlsdOffset(off))),
                }
            }
            Bytes::VlsdGroup { offset, record_id } => {
                let Some(off) = offset.raw(rec) else {
                    return Ok(Err(ErrorKind::ChannelOutside("DataBytes")));
                };
                let found = self
                    .vlsd
                    .iter()
                    .find(|v| v.record_id == *record_id)
                    .and_then(|v| v.get(off));
                match found {
                    Some(v) => {
                        self.value.clear();
                        self.value.extend_from_slice(v);
                        self.value.as_slice()
                    }
                    None => return Ok(Err(ErrorKind::VlsdOffset(off))),
                }
            }
        };
        let n = match (n, &l.bytes) {
            (Some(n), _) => n,
            (None, Bytes::Sd { .. } | Bytes::VlsdGroup { .. }) => slice.len() as u64,
            (None, _) => 0,
        };
        match usize::try_from(n).ok().and_then(|n| slice.get(..n)) {
            Some(s) => Ok(Ok(s)),
            None => Ok(Err(ErrorKind::DataBytes {
                len: n,
                available: slice.len(),
            })),
        }
    }
}

/// Reads the VLSD value at stream offset `off` of an SD source into `out`, reading forward
/// (from the start again if `off` is behind). `Ok(false)` if there is none.
fn sd_value<R: Read + Seek>(
    src: &mut Source,
    file: &mut File<R>,
    off: u64,
    out: &mut Vec<u8>,
) -> Result<bool, Fail> {
    if off < src.consumed {
        let blocks = std::mem::take(&mut src.blocks);
        *src = Source::new(blocks);
    }
    if !src.skip(file, off - src.consumed)? {
        return Ok(false);
    }
    if !src.need(file, 4)? {
        return Ok(false);
    }
    let len = u64::from(le_u32(src.take(4), 0).unwrap_or(0));
    if len > MAX_RECORD || !src.need(file, len as usize)? {
        return Ok(false);
    }
    out.clear();
    out.extend_from_slice(src.take(len as usize));
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// Opening

/// What the block tree says.
struct Layout {
    start_ns: i128,
    streams: Vec<Stream>,
    /// Skipped records of other buses in sorted groups, and groups of signals.
    skips: Vec<(&'static str, u64)>,
    others: u64,
    bad: Vec<(u64, ErrorKind)>,
}

fn can_kind(name: &str) -> Option<Kind> {
    let base = name.split('.').next().unwrap_or(name);
    match base {
        "CAN_DataFrame" => Some(Kind::Data),
        "CAN_RemoteFrame" => Some(Kind::Remote),
        "CAN_ErrorFrame" => Some(Kind::Error),
        _ => None,
    }
}

fn other_bus(name: &str) -> Option<&'static str> {
    let base = name.split('.').next().unwrap_or(name);
    let prefix = base.split('_').next().unwrap_or(base);
    match prefix {
        "LIN" => Some("LIN bus record"),
        "FLX" | "FlexRay" => Some("FlexRay bus record"),
        "ETH" => Some("Ethernet bus record"),
        "MOST" => Some("MOST bus record"),
        "KLINE" | "K" => Some("K-Line bus record"),
        "CAN" => Some("other CAN bus record"),
        _ => None,
    }
}

impl<R: Read + Seek> File<R> {
    /// The channels of a group, compositions flattened (with their parents).
    fn channels(&mut self, first: u64, out: &mut Vec<Channel>, depth: u32) -> Result<(), Fail> {
        let mut next = first;
        while next != 0 {
            if out.len() >= MAX_CHANNELS || depth > 8 {
                return Err(fmt(next, ErrorKind::TooLarge("channel list")));
            }
            let cn = self.block(next, "CN")?;
            let d = &cn.data;
            let ty = d.first().copied().unwrap_or(0);
            let sync = d.get(1).copied().unwrap_or(0);
            let data_type = d.get(2).copied().unwrap_or(0);
            let bit = d.get(3).copied().unwrap_or(0);
            let byte = le_u32(d, 4).unwrap_or(0) as usize;
            let bits = le_u32(d, 8).unwrap_or(0);
            let flags = le_u32(d, 12).unwrap_or(0);
            let inval = le_u32(d, 16).unwrap_or(0);
            let name = self.text(cn.link(2))?;
            out.push(Channel {
                name,
                ty,
                sync,
                field: Field {
                    byte,
                    bit: bit % 8,
                    bits,
                    data_type,
                    invalid_bit: (flags & 0x2 != 0).then_some(u64::from(inval)),
                },
                data_link: cn.link(5),
                conversion: cn.link(4),
            });
            let composition = cn.link(1);
            if composition != 0 && composition != next {
                // A composition is channels (a structure) or a CA block (an array): only
                // channel structures carry bus logging fields.
                let (id, _, _) = self.header(composition)?;
                if id.get(2..4) == Some(b"CN".as_slice()) {
                    self.channels(composition, out, depth + 1)?;
                }
            }
            let n = cn.link(0);
            if n == next {
                return Err(fmt(next, ErrorKind::DataListCycle));
            }
            next = n;
        }
        Ok(())
    }

    /// The linear conversion `(offset, factor)` of a CC block (identity for link 0).
    fn conversion(&mut self, link: u64) -> Result<Option<(f64, f64)>, Fail> {
        if link == 0 {
            return Ok(Some((0.0, 1.0)));
        }
        let cc = self.block(link, "CC")?;
        let ty = cc.data.first().copied().unwrap_or(0xFF);
        Ok(match ty {
            0 => Some((0.0, 1.0)),
            1 => match (le_f64(&cc.data, 24), le_f64(&cc.data, 32)) {
                (Some(b), Some(a)) if a.is_finite() && b.is_finite() => Some((b, a)),
                _ => None,
            },
            _ => None,
        })
    }
}

fn field_of(channels: &[Channel], kind: Kind, name: &str) -> Option<Field> {
    let full = format!("{}.{name}", kind.prefix());
    channels
        .iter()
        .find(|c| {
            c.name == full
                || c.name.rsplit('.').next() == Some(name) && c.name.starts_with(kind.prefix())
        })
        .filter(|c| c.ty == 0 || c.ty == 1)
        .map(|c| c.field)
}

/// Builds the layout of a CAN channel group.
/// A channel group's record shape.
struct Shape {
    data_bytes: usize,
    record_size: usize,
    unsorted: bool,
}

fn can_layout<R: Read + Seek>(
    file: &mut File<R>,
    kind: Kind,
    channels: &[Channel],
    shape: &Shape,
    sd: &mut Vec<Source>,
    addresses: &mut Vec<u64>,
) -> Result<Result<CanLayout, ErrorKind>, Fail> {
    let Shape {
        data_bytes,
        record_size,
        unsorted,
    } = *shape;
    let name = kind.prefix();
    let master = channels
        .iter()
        .find(|c| (c.ty == 2 || c.ty == 3) && c.sync == 1);
    let Some(master) = master else {
        return Ok(Err(ErrorKind::NoTime { name }));
    };
    let Some((offset, factor)) = file.conversion(master.conversion)? else {
        return Ok(Err(ErrorKind::Unsupported("time conversion (not linear)")));
    };
    let clock = if master.ty == 3 {
        Clock::Virtual { offset, factor }
    } else {
        let f = master.field;
        if matches!(f.data_type, 4 | 5) && f.bits != 32 && f.bits != 64 {
            return Ok(Err(ErrorKind::Unsupported("floating-point time width")));
        }
        if f.data_type > 5 {
            return Ok(Err(ErrorKind::Unsupported("time channel data type")));
        }
        Clock::Value {
            field: f,
            offset,
            factor,
        }
    };
    let precision = match clock {
        Clock::Value { field, factor, .. }
            if field.data_type < 4
                && factor >= 1e-6
                && ((factor * 1e6) - (factor * 1e6).round()).abs() < 1e-9 =>
        {
            Precision::Micros
        }
        _ => Precision::Nanos,
    };
    let data = channels.iter().find(|c| {
        c.name == format!("{name}.DataBytes")
            || (c.name.ends_with(".DataBytes") && c.name.starts_with(name))
    });
    let bytes = match data {
        None => Bytes::None,
        Some(c) if c.ty == 1 => {
            if unsorted {
                let (id, _, _) = file.header(c.data_link)?;
                if id.get(2..4) == Some(b"CG".as_slice()) {
                    let cg = file.block(c.data_link, "CG")?;
                    Bytes::VlsdGroup {
                        offset: c.field,
                        record_id: le_u64(&cg.data, 0).unwrap_or(0),
                    }
                } else {
                    let mut blocks = Vec::new();
                    file.data_blocks(c.data_link, "SD", &mut blocks, addresses)?;
                    sd.push(Source::new(blocks));
                    Bytes::Sd {
                        offset: c.field,
                        source: sd.len() - 1,
                    }
                }
            } else {
                let mut blocks = Vec::new();
                file.data_blocks(c.data_link, "SD", &mut blocks, addresses)?;
                sd.push(Source::new(blocks));
                Bytes::Sd {
                    offset: c.field,
                    source: sd.len() - 1,
                }
            }
        }
        Some(c) if c.ty == 0 && c.field.bit == 0 && c.field.bits % 8 == 0 => {
            let len = (c.field.bits / 8) as usize;
            if c.field
                .byte
                .checked_add(len)
                .is_none_or(|e| e > record_size)
            {
                return Ok(Err(ErrorKind::ChannelOutside("DataBytes")));
            }
            Bytes::Fixed {
                byte: c.field.byte,
                len,
            }
        }
        Some(_) => return Ok(Err(ErrorKind::Unsupported("DataBytes channel layout"))),
    };
    Ok(Ok(CanLayout {
        kind,
        clock,
        precision,
        data_bytes,
        bus: field_of(channels, kind, "BusChannel"),
        id: field_of(channels, kind, "ID"),
        ide: field_of(channels, kind, "IDE"),
        dlc: field_of(channels, kind, "DLC"),
        len: field_of(channels, kind, "DataLength"),
        bytes,
        dir: field_of(channels, kind, "Dir"),
        edl: field_of(channels, kind, "EDL"),
        brs: field_of(channels, kind, "BRS"),
        esi: field_of(channels, kind, "ESI"),
        error_type: field_of(channels, kind, "ErrorType"),
    }))
}

fn open<R: Read + Seek>(file: &mut File<R>) -> Result<Layout, Fail> {
    let mut id = [0u8; 64];
    file.read_at(0, &mut id, "identification block")?;
    if !sniff(&id) {
        return Err(fmt(
            0,
            ErrorKind::NotMdf4(String::from_utf8_lossy(id.get(..16).unwrap_or_default()).into()),
        ));
    }
    let unfinalised = le_u16(&id, 60).unwrap_or(0);
    let hd = file.block(64, "HD")?;
    let start_ns = i128::from(le_u64(&hd.data, 0).unwrap_or(0));
    let mut layout = Layout {
        start_ns,
        streams: Vec::new(),
        skips: Vec::new(),
        others: 0,
        bad: Vec::new(),
    };
    let mut addresses = vec![0u64, 64];
    let mut dg_link = hd.link(0);
    let mut groups_seen = 0usize;
    let mut last_dt: Vec<(usize, usize)> = Vec::new();
    while dg_link != 0 {
        let dg = file.block(dg_link, "DG")?;
        addresses.push(dg_link);
        let record_id_size = dg.data.first().copied().unwrap_or(0);
        if !matches!(record_id_size, 0 | 1 | 2 | 4 | 8) {
            layout
                .bad
                .push((dg.at, ErrorKind::Unsupported("record id size")));
            dg_link = next_link(&dg, dg_link)?;
            continue;
        }
        let mut groups = Vec::new();
        let mut sd = Vec::new();
        let mut vlsd = Vec::new();
        let mut cg_link = dg.link(1);
        let mut pending_skips = Vec::new();
        while cg_link != 0 {
            groups_seen += 1;
            if groups_seen > MAX_GROUPS {
                return Err(fmt(cg_link, ErrorKind::TooLarge("channel group list")));
            }
            let cg = file.block(cg_link, "CG")?;
            addresses.push(cg_link);
            let record_id = le_u64(&cg.data, 0).unwrap_or(0);
            let cycles = le_u64(&cg.data, 8).unwrap_or(0);
            let flags = le_u16(&cg.data, 16).unwrap_or(0);
            let data_bytes = le_u32(&cg.data, 24).unwrap_or(0) as usize;
            let inval_bytes = le_u32(&cg.data, 28).unwrap_or(0) as usize;
            let size = data_bytes + inval_bytes;
            if flags & 1 != 0 {
                vlsd.push(VlsdValues::new(record_id));
                groups.push(Group {
                    record_id,
                    size: 0,
                    kind: GroupKind::Vlsd,
                });
                cg_link = next_link(&cg, cg_link)?;
                continue;
            }
            let kind = classify_group(
                file,
                &cg,
                Shape {
                    data_bytes,
                    record_size: size,
                    unsorted: record_id_size != 0,
                },
                flags,
                &mut sd,
                &mut addresses,
            )?;
            match &kind {
                GroupKind::Broken(k) => layout.bad.push((cg_link, k.clone())),
                GroupKind::Signals => layout.others += 1,
                GroupKind::OtherBus(what) if record_id_size == 0 => {
                    pending_skips.push((*what, cycles, size));
                }
                _ => {}
            }
            groups.push(Group {
                record_id,
                size,
                kind,
            });
            cg_link = next_link(&cg, cg_link)?;
        }
        if !pending_skips.is_empty() {
            skip_other_buses(file, &dg, pending_skips, &mut addresses, &mut layout.skips);
        }
        let wanted = groups.iter().any(|g| {
            matches!(g.kind, GroupKind::Can(_))
                || (record_id_size != 0 && matches!(g.kind, GroupKind::OtherBus(_)))
        });
        if wanted {
            if record_id_size == 0 && groups.len() > 1 {
                layout.bad.push((
                    dg.at,
                    ErrorKind::Unsupported("sorted data group with several channel groups"),
                ));
            } else {
                let mut blocks = Vec::new();
                file.data_blocks(dg.link(2), "DT", &mut blocks, &mut addresses)?;
                let counts = vec![0; groups.len()];
                layout.streams.push(Stream {
                    dg_at: dg.at,
                    record_id_size,
                    source: Source::new(blocks),
                    groups,
                    sd,
                    vlsd,
                    counts,
                    record: Vec::new(),
                    value: Vec::new(),
                    last_ns: start_ns,
                    done: false,
                });
                let s = layout.streams.len() - 1;
                if let Some(b) = layout.streams.get(s).map(|st| st.source.blocks.len())
                    && b > 0
                {
                    last_dt.push((s, b - 1));
                }
            }
        }
        dg_link = next_link(&dg, dg_link)?;
    }
    if unfinalised & 0x4 != 0 {
        extend_last_blocks(&mut layout, last_dt, addresses, file.len);
    }
    Ok(layout)
}

/// What a channel group of `cg` holds, from its channels' and acquisition's names: CAN
/// frames (with their layout), another bus's records, plain signals, or a CAN group we
/// cannot read.
fn classify_group<R: Read + Seek>(
    file: &mut File<R>,
    cg: &Block,
    shape: Shape,
    flags: u16,
    sd: &mut Vec<Source>,
    addresses: &mut Vec<u64>,
) -> Result<GroupKind, Fail> {
    let mut channels = Vec::new();
    file.channels(cg.link(1), &mut channels, 0)?;
    let acq_name = file.text(cg.link(2))?;
    let named = channels
        .iter()
        .find_map(|c| can_kind(&c.name))
        .or_else(|| can_kind(&acq_name));
    let size = shape.record_size;
    Ok(if size as u64 > MAX_RECORD {
        GroupKind::Broken(ErrorKind::TooLarge("record"))
    } else if size == 0 && named.is_some() {
        // A CAN group whose records hold no byte would yield records without end.
        GroupKind::Broken(ErrorKind::EmptyRecord)
    } else if let Some(kind) = named {
        match can_layout(file, kind, &channels, &shape, sd, addresses)? {
            Ok(l) => GroupKind::Can(Box::new(l)),
            Err(k) => GroupKind::Broken(k),
        }
    } else if flags & 0x2 != 0 {
        let what = channels
            .iter()
            .find_map(|c| other_bus(&c.name))
            .or_else(|| other_bus(&acq_name))
            .unwrap_or("unknown bus record");
        GroupKind::OtherBus(what)
    } else {
        GroupKind::Signals
    })
}

/// The records of other buses' groups in a sorted data group, each skipped record by record
/// but never more records than the data holds: the cycle count is only the file's word (a
/// few bytes can claim 2^64 records). A group that holds none is still reported once.
fn skip_other_buses<R: Read + Seek>(
    file: &mut File<R>,
    dg: &Block,
    pending: Vec<(&'static str, u64, usize)>,
    addresses: &mut Vec<u64>,
    skips: &mut Vec<(&'static str, u64)>,
) {
    // A group of another bus is skipped record by record, but never more records than
    // its data holds: the cycle count is only the file's word (a few bytes can claim
    // 2^64 records). A group that holds none is still reported once.
    let mut blocks = Vec::new();
    let held = match file.data_blocks(dg.link(2), "DT", &mut blocks, addresses) {
        Ok(()) => blocks
            .iter()
            .map(|b| match *b {
                DataBlock::Raw { at, len } => len.min(file.len.saturating_sub(at)),
                DataBlock::Zipped { original, .. } => original.min(MAX_ZIPPED_BLOCK),
            })
            .fold(0u64, u64::saturating_add),
        Err(_) => 0,
    };
    for (what, cycles, size) in pending {
        let records = held.checked_div(size as u64).unwrap_or(0);
        skips.push((what, cycles.min(records).max(1)));
    }
}

/// A file that is not finalised may not have the length of its last DT blocks yet: each
/// runs to the next block or the end of the file.
fn extend_last_blocks(
    layout: &mut Layout,
    last_dt: Vec<(usize, usize)>,
    mut addresses: Vec<u64>,
    file_len: u64,
) {
    addresses.sort_unstable();
    for (s, b) in last_dt {
        if let Some(DataBlock::Raw { at, len }) = layout
            .streams
            .get_mut(s)
            .and_then(|st| st.source.blocks.get_mut(b))
        {
            let header = at.saturating_sub(24);
            let limit = addresses
                .iter()
                .copied()
                .find(|&a| a > header)
                .unwrap_or(file_len)
                .min(file_len);
            *len = limit
                .saturating_sub(*at)
                .max(*len)
                .min(file_len.saturating_sub(*at));
        }
    }
}

fn next_link(b: &Block, at: u64) -> Result<u64, Fail> {
    let n = b.link(0);
    if n == at {
        return Err(fmt(at, ErrorKind::DataListCycle));
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// Reader

enum State {
    Closed,
    Open,
    Done,
}

/// A reader of the CAN frames of an MDF 4 file, in time order.
pub struct Reader<R> {
    file: File<R>,
    source_name: Option<Arc<str>>,
    state: State,
    start_ns: i128,
    streams: Vec<Stream>,
    /// The next event of each stream.
    pending: Vec<Option<Event>>,
    heap: BinaryHeap<Reverse<(i128, usize)>>,
    skips: Vec<(&'static str, u64)>,
    others: u64,
    bad: Vec<(u64, ErrorKind)>,
    /// 0-based bus channels (python-can).
    zero_based: bool,
    names: Vec<(u64, String)>,
    /// A truncation or I/O error that ended a stream, reported after the other streams.
    fatal: Option<Fail>,
    stats: Stats,
}

impl<R: Read + Seek> Reader<R> {
    /// A reader; nothing is read until the first [`Reader::read_item`].
    pub fn new(inner: R) -> Self {
        Reader {
            file: File { inner, len: 0 },
            source_name: None,
            state: State::Closed,
            start_ns: 0,
            streams: Vec::new(),
            pending: Vec::new(),
            heap: BinaryHeap::new(),
            skips: Vec::new(),
            others: 0,
            bad: Vec::new(),
            zero_based: false,
            names: Vec::new(),
            fatal: None,
            stats: Stats::default(),
        }
    }

    /// Names the source (a file path) in error messages.
    pub fn with_source_name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.source_name = Some(name.into());
        self
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.file.inner
    }

    fn error(&self, at: u64, kind: FormatErrorKind) -> ReadError {
        ReadError::Format(FormatError {
            source_name: self.source_name.clone(),
            format: Format::Mf4,
            location: Location::Offset(at),
            kind,
        })
    }

    fn fail(&self, f: Fail) -> ReadError {
        match f {
            Fail::Format(at, kind) => self.error(at, FormatErrorKind::Mf4(kind)),
            Fail::Truncated(at, what) => self.error(at, FormatErrorKind::Truncated(what)),
            Fail::Io(error) => ReadError::Io {
                source_name: self.source_name.clone(),
                location: Location::Offset(0),
                error,
            },
        }
    }

    fn open(&mut self) -> Result<(), Fail> {
        self.file.len = self.file.inner.seek(SeekFrom::End(0))?;
        let layout = open(&mut self.file)?;
        self.start_ns = layout.start_ns;
        self.skips = layout.skips;
        self.others = layout.others;
        self.bad = layout.bad;
        self.zero_based = self.probe_channels(&layout.streams)?;
        self.streams = layout.streams;
        self.pending = (0..self.streams.len()).map(|_| None).collect();
        for s in 0..self.streams.len() {
            self.refill(s);
        }
        Ok(())
    }

    /// Whether the first records of the CAN groups use bus channel 0 (python-can's 0-based
    /// numbering), read on copies of the streams.
    fn probe_channels(&mut self, streams: &[Stream]) -> Result<bool, Fail> {
        for s in streams {
            let mut probe = Stream {
                dg_at: s.dg_at,
                record_id_size: s.record_id_size,
                source: Source::new(s.source.blocks.clone()),
                groups: s.groups.clone(),
                sd: s
                    .sd
                    .iter()
                    .map(|src| Source::new(src.blocks.clone()))
                    .collect(),
                vlsd: s
                    .vlsd
                    .iter()
                    .map(|v| VlsdValues::new(v.record_id))
                    .collect(),
                counts: vec![0; s.groups.len()],
                record: Vec::new(),
                value: Vec::new(),
                last_ns: s.last_ns,
                done: false,
            };
            for _ in 0..CHANNEL_PROBE {
                match probe.next(&mut self.file, self.start_ns) {
                    Ok(Some(Event::Frame { bus: Some(0), .. })) => return Ok(true),
                    Ok(Some(_)) => {}
                    Ok(None) | Err(Fail::Truncated(..)) | Err(Fail::Format(..)) => break,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(false)
    }

    /// Reads the next event of stream `s` into `pending` and the heap. A malformed block ends
    /// the stream with a bad item; truncation and I/O errors end it and are reported once
    /// every other stream is done.
    fn refill(&mut self, s: usize) {
        let start_ns = self.start_ns;
        let Some(stream) = self.streams.get_mut(s) else {
            return;
        };
        let event = match stream.next(&mut self.file, start_ns) {
            Ok(e) => e,
            Err(Fail::Format(at, kind)) => {
                stream.done = true;
                Some(Event::Bad(at, kind))
            }
            Err(f) => {
                stream.done = true;
                if self.fatal.is_none() {
                    self.fatal = Some(f);
                }
                None
            }
        };
        let key = match &event {
            Some(Event::Frame { ns, .. }) => *ns,
            Some(_) => stream.last_ns,
            None => return,
        };
        if let Some(p) = self.pending.get_mut(s) {
            *p = event;
        }
        self.heap.push(Reverse((key, s)));
    }

    fn interface(&mut self, bus: Option<u64>) -> usize {
        let key = bus.unwrap_or(u64::MAX);
        if let Some(i) = self.names.iter().position(|(b, _)| *b == key) {
            return i;
        }
        let name = match bus {
            None => "can0".to_owned(),
            Some(n) if self.zero_based => format!("can{n}"),
            Some(n) => channel_interface(u32::try_from(n).unwrap_or(u32::MAX)),
        };
        self.names.push((key, name));
        self.names.len() - 1
    }

    /// The next item: frames in time order, then nothing; `Err` for an I/O error, a broken
    /// block tree or a truncated file (after every complete record before it).
    pub fn read_item(&mut self) -> Result<Option<Item<'_>>, ReadError> {
        if let State::Closed = self.state {
            self.state = State::Open;
            if let Err(f) = self.open() {
                self.state = State::Done;
                return Err(self.fail(f));
            }
        }
        if let State::Done = self.state {
            return Ok(None);
        }
        if let Some((at, kind)) = self.bad.pop() {
            self.stats.bad += 1;
            return Ok(Some(Item::Bad(self.error(at, FormatErrorKind::Mf4(kind)))));
        }
        if self.others > 0 {
            self.others -= 1;
            self.stats.other += 1;
            return Ok(Some(Item::Other("MDF channel group of signals")));
        }
        if let Some((what, n)) = self.skips.last_mut() {
            let what = *what;
            if *n <= 1 {
                self.skips.pop();
            } else {
                *n -= 1;
            }
            self.stats.skipped += 1;
            return Ok(Some(Item::Skipped(what)));
        }
        let Some(Reverse((_, s))) = self.heap.pop() else {
            self.state = State::Done;
            return match self.fatal.take() {
                Some(f) => Err(self.fail(f)),
                None => Ok(None),
            };
        };
        let event = self.pending.get_mut(s).and_then(Option::take);
        self.refill(s);
        Ok(Some(match event {
            Some(Event::Frame {
                ns,
                bus,
                frame,
                direction,
                precision,
            }) => {
                let i = self.interface(bus);
                self.stats.records += 1;
                Item::Record(Record {
                    timestamp: Timestamp::from_nanos(ns as u64),
                    precision,
                    interface: self.names.get(i).map_or("can0", |(_, n)| n.as_str()),
                    frame,
                    direction,
                })
            }
            Some(Event::Skipped(what)) => {
                self.stats.skipped += 1;
                Item::Skipped(what)
            }
            Some(Event::Bad(at, kind)) => {
                self.stats.bad += 1;
                Item::Bad(self.error(at, FormatErrorKind::Mf4(kind)))
            }
            None => return self.read_item(),
        }))
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }
}

impl<R: Read + Seek + Send> FrameReader for Reader<R> {
    fn read_item(&mut self) -> Result<Option<Item<'_>>, ReadError> {
        Reader::read_item(self)
    }

    fn format(&self) -> Format {
        Format::Mf4
    }

    fn stats(&self) -> Stats {
        self.stats
    }
}

/// A record's time in nanoseconds on the file's time line: the time channel's value (or the
/// record's index for a virtual clock) scaled, plus the file's start. Integer ticks of whole
/// nanoseconds are exact; the rest goes through f64 (float-to-integer casts saturate, the
/// sums are checked).
fn record_time(l: &CanLayout, rec: &[u8], index: u64, start_ns: i128) -> Result<i128, ErrorKind> {
    let seconds = match l.clock {
        Clock::Value {
            field,
            offset,
            factor,
        } => match field.number(rec) {
            Some(v) => Some((v, offset, factor)),
            None => return Err(ErrorKind::ChannelOutside("time")),
        },
        Clock::Virtual { offset, factor } => Some((index as f64, offset, factor)),
    };
    let ns = match seconds {
        Some((raw, offset, factor)) => {
            let per_ns = factor * 1e9;
            // Integer ticks of whole nanoseconds are exact; the rest goes through f64
            // (float-to-integer casts saturate, the sums are checked).
            let rel =
                if per_ns >= 1.0 && (per_ns - per_ns.round()).abs() < 1e-6 && raw.fract() == 0.0 {
                    (raw as i128)
                        .checked_mul(per_ns.round() as i128)
                        .and_then(|v| v.checked_add((offset * 1e9).round() as i128))
                } else {
                    Some(((offset + factor * raw) * 1e9).round() as i128)
                };
            match rel.and_then(|r| start_ns.checked_add(r)) {
                Some(ns) => ns,
                None => return Err(ErrorKind::TimestampRange),
            }
        }
        None => start_ns,
    };
    if !(0..=i128::from(u64::MAX)).contains(&ns) {
        return Err(ErrorKind::TimestampRange);
    }
    Ok(ns)
}

/// A data frame from its payload: CAN FD with its flags, or classic (a raw DLC of 9-15 kept
/// when the payload is 8 bytes).
fn data_frame(
    id: Id,
    data: &[u8],
    fd: bool,
    brs: bool,
    esi: bool,
    dlc: Option<u64>,
) -> Result<Frame, ErrorKind> {
    let n = data.len() as u64;
    if fd {
        if fd_len_to_dlc(n as usize).is_none() {
            return Err(ErrorKind::FdLength(n));
        }
        FdFrame::new(id, data, FdFlags::fd(brs, esi))
            .map(Frame::Fd)
            .map_err(|_| ErrorKind::FdLength(n))
    } else {
        if n > 8 {
            return Err(ErrorKind::ClassicLength(n));
        }
        let raw_dlc = dlc.filter(|d| n == 8 && (9..=15).contains(d));
        let f = match (raw_dlc, <[u8; 8]>::try_from(data)) {
            (Some(d), Ok(eight)) => ClassicFrame::with_raw_dlc(id, eight, d as u8),
            _ => ClassicFrame::new(id, data),
        };
        f.map(Frame::Classic)
            .map_err(|_| ErrorKind::ClassicLength(n))
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

/// Data written to a group's buffer before it becomes a DT block.
const DT_BLOCK: usize = 1 << 20;
/// Beyond this many nanoseconds from the first record, `f64` seconds lose nanoseconds.
const EXACT_SPAN_NS: u64 = 4_000_000_000_000_000;

const LOSS_DIRECTION: &str = "a known direction (MDF records Rx or Tx: written as Rx)";
const LOSS_CHANNEL: &str = "frames on bus channels above 255 (BusChannel is one byte)";
const LOSS_FD_FLAG: &str = "CAN FD flag bit 0x8 (MDF has only EDL, BRS and ESI)";
const LOSS_SPAN: &str = "nanoseconds of times more than 46 days after the first frame";
const AFTER_FINISH: &str = "record written after finish";

/// The record layout of one of the three groups, as python-can's MF4Writer has it.
struct WriteGroup {
    kind: Kind,
    /// `(name, byte offset, bytes, data type)` of the composed channels.
    fields: &'static [(&'static str, u32, u32, u8)],
    size: usize,
    buf: Vec<u8>,
    /// `(offset of the DT block, data bytes)`.
    blocks: Vec<(u64, u64)>,
    cycles: u64,
}

const DATA_FIELDS: &[(&str, u32, u32, u8)] = &[
    ("BusChannel", 8, 1, 0),
    ("ID", 9, 4, 0),
    ("IDE", 13, 1, 0),
    ("DLC", 14, 1, 0),
    ("DataLength", 15, 1, 0),
    ("DataBytes", 16, 64, 10),
    ("Dir", 80, 1, 0),
    ("EDL", 81, 1, 0),
    ("BRS", 82, 1, 0),
    ("ESI", 83, 1, 0),
];

const REMOTE_FIELDS: &[(&str, u32, u32, u8)] = &[
    ("BusChannel", 8, 1, 0),
    ("ID", 9, 4, 0),
    ("IDE", 13, 1, 0),
    ("DLC", 14, 1, 0),
    ("DataLength", 15, 1, 0),
    ("Dir", 16, 1, 0),
];

impl WriteGroup {
    fn new(kind: Kind) -> WriteGroup {
        let (fields, size) = match kind {
            Kind::Remote => (REMOTE_FIELDS, 17),
            _ => (DATA_FIELDS, 84),
        };
        WriteGroup {
            kind,
            fields,
            size,
            buf: Vec::new(),
            blocks: Vec::new(),
            cycles: 0,
        }
    }
}

/// Blocks laid out from a base address, children before the blocks that link to them.
struct Blocks {
    base: u64,
    bytes: Vec<u8>,
}

impl Blocks {
    /// Appends a block (8-byte aligned) and returns its address.
    fn add(&mut self, id: &[u8; 4], links: &[u64], data: &[u8]) -> u64 {
        let pad = (8 - self.bytes.len() % 8) % 8;
        self.bytes.extend(std::iter::repeat_n(0u8, pad));
        let at = self.base + self.bytes.len() as u64;
        let len = 24 + 8 * links.len() as u64 + data.len() as u64;
        self.bytes.extend_from_slice(id);
        self.bytes.extend_from_slice(&[0; 4]);
        self.bytes.extend_from_slice(&len.to_le_bytes());
        self.bytes
            .extend_from_slice(&(links.len() as u64).to_le_bytes());
        for l in links {
            self.bytes.extend_from_slice(&l.to_le_bytes());
        }
        self.bytes.extend_from_slice(data);
        at
    }

    fn text(&mut self, id: &[u8; 4], text: &str) -> u64 {
        let mut data = text.as_bytes().to_vec();
        data.push(0);
        data.resize(data.len().div_ceil(8) * 8, 0);
        self.add(id, &[], &data)
    }

    /// A CN block.
    #[allow(clippy::too_many_arguments)]
    fn channel(
        &mut self,
        next: u64,
        composition: u64,
        name: u64,
        source: u64,
        unit: u64,
        (ty, sync, data_type): (u8, u8, u8),
        (byte, bits): (u32, u32),
        flags: u32,
    ) -> u64 {
        let mut d = Vec::with_capacity(72);
        d.extend_from_slice(&[ty, sync, data_type, 0]);
        d.extend_from_slice(&byte.to_le_bytes());
        d.extend_from_slice(&bits.to_le_bytes());
        d.extend_from_slice(&flags.to_le_bytes());
        d.extend_from_slice(&0u32.to_le_bytes());
        d.extend_from_slice(&[0, 0, 0, 0]);
        d.extend_from_slice(&[0; 48]);
        self.add(
            b"##CN",
            &[next, composition, name, source, 0, 0, unit, 0],
            &d,
        )
    }
}

/// Writes MDF 4.10 bus logging as python-can's MF4Writer lays it out (so that asammdf,
/// python-can and CANedge tools read it): sorted data groups `CAN_DataFrame` (classic and CAN
/// FD frames), `CAN_ErrorFrame` and `CAN_RemoteFrame` (only those that have frames), each a
/// master channel `time` (float seconds from the header's start time, which is the first
/// frame's time) and a byte-array channel composed of `BusChannel` (1-based, from the
/// interface names by [`ChannelMap`]), `ID`, `IDE`, `DLC` (raw DLCs 9-15 of classic frames
/// kept), `DataLength`, `DataBytes` (64 bytes), `Dir` (0 Rx, 1 Tx), `EDL`, `BRS`, `ESI`; error
/// frames carry their SocketCAN class in `ID` and their details in `DataBytes`, as python-can
/// writes them. Records are buffered per group and written as DT blocks of about 1 MiB
/// (data lists join them); [`FrameWriter::finish`] writes the channel tree and the header, so
/// the writer needs `Seek` and the file is `UnFinMF ` until then.
pub struct Writer<W: Write + Seek> {
    inner: W,
    /// The end of what was written.
    end: u64,
    started: bool,
    finished: bool,
    start_ns: Option<u64>,
    groups: [WriteGroup; 3],
    channels: ChannelMap,
    losses: Losses,
}

impl<W: Write + Seek> Writer<W> {
    /// A writer into `inner`, which should be empty (it is written from its current position
    /// on, taken as offset 0 of the file).
    pub fn new(inner: W) -> Self {
        Writer {
            inner,
            end: 0,
            started: false,
            finished: false,
            start_ns: None,
            groups: [
                WriteGroup::new(Kind::Data),
                WriteGroup::new(Kind::Error),
                WriteGroup::new(Kind::Remote),
            ],
            channels: ChannelMap::without_channel_0(),
            losses: Losses::default(),
        }
    }

    fn identification(finished: bool) -> [u8; 64] {
        let mut id = [0u8; 64];
        let file_id: &[u8; 8] = if finished { b"MDF     " } else { b"UnFinMF " };
        id[..8].copy_from_slice(file_id);
        id[8..16].copy_from_slice(b"4.10    ");
        id[16..24].copy_from_slice(b"crelearn");
        id[28..30].copy_from_slice(&410u16.to_le_bytes());
        id
    }

    fn header(dg: u64, fh: u64, start_ns: u64) -> Vec<u8> {
        let mut b = Blocks {
            base: 64,
            bytes: Vec::new(),
        };
        let mut d = Vec::with_capacity(32);
        d.extend_from_slice(&start_ns.to_le_bytes());
        d.extend_from_slice(&[0; 24]);
        b.add(b"##HD", &[dg, fh, 0, 0, 0, 0], &d);
        b.bytes
    }

    fn start(&mut self) -> io::Result<()> {
        if self.started {
            return Ok(());
        }
        self.inner.seek(SeekFrom::Start(0))?;
        self.inner.write_all(&Self::identification(false))?;
        self.inner.write_all(&Self::header(0, 0, 0))?;
        self.end = 64 + 104;
        self.started = true;
        Ok(())
    }

    /// Writes `data` as a DT block at the end; returns its address.
    fn data_block(&mut self, data: &[u8]) -> io::Result<u64> {
        let pad = (8 - self.end % 8) % 8;
        self.inner.seek(SeekFrom::Start(self.end))?;
        self.inner.write_all(&[0u8; 8][..pad as usize])?;
        let at = self.end + pad;
        let len = 24 + data.len() as u64;
        let mut head = [0u8; 24];
        head[..4].copy_from_slice(b"##DT");
        head[8..16].copy_from_slice(&len.to_le_bytes());
        self.inner.write_all(&head)?;
        self.inner.write_all(data)?;
        self.end = at + len;
        Ok(at)
    }

    fn flush_group(&mut self, g: usize) -> io::Result<()> {
        let Some(group) = self.groups.get_mut(g) else {
            return Ok(());
        };
        if group.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut group.buf);
        let at = self.data_block(&buf)?;
        if let Some(group) = self.groups.get_mut(g) {
            group.blocks.push((at, buf.len() as u64));
            group.buf = buf;
            group.buf.clear();
        }
        Ok(())
    }

    /// Writes one record.
    pub fn write_record(&mut self, record: &Record<'_>) -> io::Result<()> {
        if self.finished {
            return Err(io::Error::other(AFTER_FINISH));
        }
        self.start()?;
        let channel = self.channels.channel(record.interface);
        let Ok(bus) = u8::try_from(channel) else {
            self.losses.add(LOSS_CHANNEL, true);
            return Ok(());
        };
        let dir = match record.direction {
            Some(Direction::Tx) => 1u8,
            Some(Direction::Rx) => 0,
            None => {
                self.losses.add(LOSS_DIRECTION, false);
                0
            }
        };
        let t = record.timestamp.as_nanos();
        let start = *self.start_ns.get_or_insert(t);
        let rel_ns = i128::from(t) - i128::from(start);
        if rel_ns.unsigned_abs() > u128::from(EXACT_SPAN_NS) {
            self.losses.add(LOSS_SPAN, false);
        }
        let seconds = rel_ns as f64 / 1e9;
        let id_fields = |id: Id| (id.raw(), u8::from(id.is_extended()));
        let (g, id, ide, dlc, len, data, fd): (usize, u32, u8, u8, u8, &[u8], Option<FdFlags>) =
            match &record.frame {
                Frame::Classic(c) => {
                    let (id, ide) = id_fields(c.id());
                    (0, id, ide, c.dlc(), c.data().len() as u8, c.data(), None)
                }
                Frame::Fd(f) => {
                    let (id, ide) = id_fields(f.id());
                    if f.flags().bits() & 0x8 != 0 {
                        self.losses.add(LOSS_FD_FLAG, false);
                    }
                    (
                        0,
                        id,
                        ide,
                        f.dlc(),
                        f.data().len() as u8,
                        f.data(),
                        Some(f.flags()),
                    )
                }
                Frame::Error(e) => (1, e.class(), 0, 8, 8, e.data().as_slice(), None),
                Frame::Remote(r) => {
                    let (id, ide) = id_fields(r.id());
                    (2, id, ide, r.dlc(), 0, &[], None)
                }
            };
        let Some(group) = self.groups.get_mut(g) else {
            return Ok(());
        };
        let base = group.buf.len();
        group.buf.resize(base + group.size, 0);
        let Some(rec) = group.buf.get_mut(base..) else {
            return Ok(());
        };
        rec[..8].copy_from_slice(&seconds.to_le_bytes());
        rec[8] = bus;
        rec[9..13].copy_from_slice(&id.to_le_bytes());
        rec[13] = ide;
        rec[14] = dlc;
        rec[15] = len;
        if group.kind == Kind::Remote {
            rec[16] = dir;
        } else {
            if let Some(d) = rec.get_mut(16..16 + data.len()) {
                d.copy_from_slice(data);
            }
            rec[80] = dir;
            if let Some(flags) = fd {
                rec[81] = 1;
                rec[82] = u8::from(flags.brs());
                rec[83] = u8::from(flags.esi());
            }
        }
        group.cycles += 1;
        if group.buf.len() >= DT_BLOCK {
            self.flush_group(g)?;
        }
        Ok(())
    }

    /// Writes the channel tree and the header; the file is complete afterwards.
    fn finalize(&mut self) -> io::Result<()> {
        self.start()?;
        for g in 0..self.groups.len() {
            self.flush_group(g)?;
        }
        let base = self.end.div_ceil(8) * 8;
        let mut b = Blocks {
            base,
            bytes: Vec::new(),
        };
        let start_ns = self.start_ns.unwrap_or(0);
        let time_name = b.text(b"##TX", "time");
        let unit = b.text(b"##TX", "s");
        let acq_name = b.text(b"##TX", "CAN");
        let mut si = vec![0u8; 8];
        si[0] = 2; // bus
        si[1] = 2; // CAN
        let source = b.add(b"##SI", &[0, 0, 0], &si);
        let mut next_dg = 0;
        for group in self.groups.iter().rev() {
            if group.cycles == 0 {
                continue;
            }
            let prefix = group.kind.prefix();
            let mut next = 0;
            for &(name, byte, bytes, data_type) in group.fields.iter().rev() {
                let name = b.text(b"##TX", &format!("{prefix}.{name}"));
                next = b.channel(
                    next,
                    0,
                    name,
                    0,
                    0,
                    (0, 0, data_type),
                    (byte, bytes * 8),
                    0x400,
                );
            }
            let parent_name = b.text(b"##TX", prefix);
            let parent = b.channel(
                0,
                next,
                parent_name,
                source,
                0,
                (0, 0, 10),
                (8, (group.size as u32 - 8) * 8),
                0x400,
            );
            let master = b.channel(parent, 0, time_name, 0, unit, (2, 1, 4), (0, 64), 0);
            let mut cg = Vec::with_capacity(32);
            cg.extend_from_slice(&1u64.to_le_bytes());
            cg.extend_from_slice(&group.cycles.to_le_bytes());
            cg.extend_from_slice(&0x6u16.to_le_bytes());
            cg.extend_from_slice(&u16::from(b'.').to_le_bytes());
            cg.extend_from_slice(&[0; 4]);
            cg.extend_from_slice(&(group.size as u32).to_le_bytes());
            cg.extend_from_slice(&0u32.to_le_bytes());
            let cg = b.add(b"##CG", &[0, master, acq_name, source, 0, 0], &cg);
            let data = match group.blocks.as_slice() {
                [] => 0,
                [(at, _)] => *at,
                blocks => {
                    let mut links = vec![0u64];
                    let mut d = Vec::with_capacity(8 + 8 * blocks.len());
                    d.extend_from_slice(&[0, 0, 0, 0]);
                    d.extend_from_slice(&(blocks.len() as u32).to_le_bytes());
                    let mut offset = 0u64;
                    for (at, len) in blocks {
                        links.push(*at);
                        d.extend_from_slice(&offset.to_le_bytes());
                        offset += len;
                    }
                    b.add(b"##DL", &links, &d)
                }
            };
            next_dg = b.add(b"##DG", &[next_dg, cg, data, 0], &[0; 8]);
        }
        let comment = concat!(
            "<FHcomment>\n<TX>created</TX>\n<tool_id>canrelearn</tool_id>\n",
            "<tool_vendor>canrelearn</tool_vendor>\n<tool_version>",
            env!("CARGO_PKG_VERSION"),
            "</tool_version>\n</FHcomment>"
        );
        let md = b.text(b"##MD", comment);
        let mut fh = Vec::with_capacity(16);
        fh.extend_from_slice(&start_ns.to_le_bytes());
        fh.extend_from_slice(&[0; 8]);
        let fh = b.add(b"##FH", &[0, md], &fh);
        self.inner.seek(SeekFrom::Start(self.end))?;
        self.inner
            .write_all(&[0u8; 8][..(base - self.end) as usize])?;
        self.inner.write_all(&b.bytes)?;
        self.end = base + b.bytes.len() as u64;
        self.inner.seek(SeekFrom::Start(64))?;
        self.inner.write_all(&Self::header(next_dg, fh, start_ns))?;
        self.inner.seek(SeekFrom::Start(0))?;
        self.inner.write_all(&Self::identification(true))?;
        self.inner.seek(SeekFrom::Start(self.end))?;
        self.inner.flush()
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write + Seek> FrameWriter for Writer<W> {
    fn write_record(&mut self, record: &Record<'_>) -> io::Result<()> {
        Writer::write_record(self, record)
    }

    /// Pushes the buffered records out as DT blocks; the file is readable only after
    /// [`FrameWriter::finish`] (MDF needs its channel tree).
    fn flush(&mut self) -> io::Result<()> {
        self.start()?;
        for g in 0..self.groups.len() {
            self.flush_group(g)?;
        }
        self.inner.flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finalize()?;
        self.finished = true;
        Ok(())
    }

    fn losses(&self) -> &[Loss] {
        self.losses.list()
    }
    /// Interface names become bus channels ([`ChannelMap`]); a name other than `can<K-1>`
    /// for channel K reads back under that name, which the caller says.
    fn channel_map(&self) -> Option<&ChannelMap> {
        Some(&self.channels)
    }
}

#[cfg(test)]
mod tests;
