//! pcap and pcapng captures of SocketCAN frames: a streaming reader of both and a writer of each.
//!
//! Containers: the classic libpcap file format (`pcap-savefile(5)`; the four magic numbers
//! `A1B2C3D4` / `A1B23C4D` for microsecond / nanosecond time stamps, in either byte order) and
//! pcapng (IETF draft-ietf-opsawg-pcapng: Section Header, Interface Description, Enhanced,
//! Simple and obsolete Packet Blocks; several sections of either byte order may follow one
//! another). The [`pcap-file`](pcap_file) crate parses the classic file header and frames
//! pcapng blocks, and writes the headers, blocks and classic records; the packet and option
//! bodies are decoded here, because that crate rejects option lists that end with the block
//! instead of an `opt_endofopt` (which the pcapng draft allows) and allocates a vector per
//! packet for options.
//!
//! Link layer: `LINKTYPE_CAN_SOCKETCAN` (227, the tcpdump.org link-type description, which
//! is Linux's `struct can_frame` / `struct canfd_frame`): a 4-byte CAN id and flags word
//! (`CAN_EFF_FLAG` 0x80000000 extended, `CAN_RTR_FLAG` 0x40000000 remote, `CAN_ERR_FLAG`
//! 0x20000000 error frame, whose class bits are the rest of the word and whose 8 data bytes
//! are the details), the payload length, the FD flags (`CANFD_BRS` 1, `CANFD_ESI` 2,
//! `CANFD_FDF` 4), a reserved byte, `len8_dlc` (the raw DLC 9-15 of an 8-byte classic frame),
//! then the payload and padding. A frame is CAN FD when `CANFD_FDF` is set and the other
//! header bits are clean (Wireshark's rule against the uninitialised flags of old captures),
//! or, without `CANFD_FDF`, when the packet is 72 bytes long (the link-type description's
//! rule for older writers) or carries more than 8 bytes. A set 0x80 bit in the length byte
//! marks a CAN XL frame, which is [`Item::Skipped`]. Linux "cooked" captures
//! (`LINKTYPE_LINUX_SLL` 113 and `LINKTYPE_LINUX_SLL2` 276, what `tcpdump -i any` writes) carry
//! the same frame after a cooked header whose protocol says CAN (0x000C), CAN FD (0x000D) or
//! CAN XL (0x000E); other protocols there and packets of any other link type are skipped.
//!
//! Byte order of the CAN id word: the link-type description says network byte order, which
//! is what libpcap writes when it captures on a CAN interface and what Wireshark reads for
//! link type 227 (its `can.byte_swap` preference flips it). In cooked captures libpcap leaves
//! the word in the capturing host's byte order and Wireshark reads it in the reading host's
//! order; we take the byte order of the file itself (libpcap writes its headers in the
//! capturing host's order). Some tools also write host order into link type 227. With
//! [`IdByteOrder::Auto`] (the default) each interface starts from that expected order and is
//! checked: a frame whose word is not a valid SocketCAN id in one order (a standard id above
//! 0x7FF, an error frame with the extended or remote flag, an FD frame marked remote or
//! error) but is in the other settles the interface's order (our own writers never write
//! a word that is invalid in network order, so their files are never misread). Frames that read validly both ways wait
//! (at most [`LOOKAHEAD`] items, in file order) until the order is settled, and otherwise take
//! the expected order, so no frame is handed out before its interface's order is known.
//! [`IdByteOrder::Big`] / [`IdByteOrder::Little`] force one order for every interface.
//!
//! Interfaces: pcapng interfaces are named by their `if_name` option, else `can<K>` with `K`
//! the interface's index in its section; the classic format has no interface names, so its
//! frames are on `can0`. An SLL2 packet names the capturing interface by index:
//! `<name>:<ifindex>` (`any:3`). Directions come from the EPB flags' inbound/outbound bits (or
//! an SLL packet type of "outgoing"/"to us"); classic pcap has none.
//!
//! Time: both containers hold Unix time, which every record keeps (absolute). pcapng honours
//! `if_tsresol` (powers of 10 or 2) and `if_tsoffset`; finer than nanoseconds is truncated. A
//! Simple Packet Block has no time: its frame gets the time of the packet before it (zero at
//! the start). [`Precision::Micros`] marks microsecond (or coarser) sources.
//!
//! Calling contract: [`Reader`] reads either container from any [`BufRead`] (detected from the
//! magic number), one packet or block at a time into one reusable buffer (oversized blocks are
//! skipped without being stored); records borrow their interface name from the reader.
//! Malformed packets are [`Item::Bad`] and reading goes on with the next block; broken framing
//! and truncation end the read with an error after every complete record before it.
//! [`PcapngWriter`] writes one Interface Description Block per interface at its first
//! appearance (`if_name`, `if_tsresol` 9 = nanoseconds) and Enhanced Packet Blocks with the
//! direction flags; [`PcapWriter`] writes the classic format with the nanosecond (default) or
//! microsecond magic, counting the interface names and directions it cannot hold. Both write
//! CAN frames as Linux captures them: 16 bytes for classic frames, 72 for CAN FD with
//! `CANFD_FDF` set (as libpcap and the link-type description recommend; Wireshark 4.0 shows
//! FD frames without it as classic CAN). Nothing here touches files, sockets or clocks.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::{self, BufRead, Write};
use std::sync::Arc;

use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::{PcapNgWriter, RawBlock};
use pcap_file::{DataLink, Endianness, TsResolution};

use super::{
    Direction, Format, FormatError, FormatErrorKind, FrameReader, FrameWriter, Item, Location,
    Loss, Losses, Precision, ReadError, Record, Stats,
};
use crate::frame::{
    CAN_ERR_FLAG, ClassicFrame, ErrorFrame, FdFlags, FdFrame, Frame, Id, MAX_EXTENDED_ID,
    RemoteFrame, fd_len_to_dlc,
};
use crate::time::Timestamp;

/// `LINKTYPE_CAN_SOCKETCAN`.
pub const LINKTYPE_CAN_SOCKETCAN: u32 = 227;
/// `LINKTYPE_LINUX_SLL` (Linux cooked capture v1).
pub const LINKTYPE_LINUX_SLL: u32 = 113;
/// `LINKTYPE_LINUX_SLL2` (Linux cooked capture v2).
pub const LINKTYPE_LINUX_SLL2: u32 = 276;

/// How many items may wait for an interface's CAN id byte order to be settled
/// ([`IdByteOrder::Auto`]) before the expected order is taken.
pub const LOOKAHEAD: usize = 512;

/// Blocks and packets longer than this are skipped without being stored.
const MAX_STORED: usize = 1 << 20;
/// The largest classic pcap record accepted; a longer length means broken framing.
const MAX_RECORD: u32 = 64 << 20;
/// Interfaces per pcapng section.
const MAX_INTERFACES: usize = 1 << 16;
/// The snapshot length written in headers (libpcap's default).
const SNAPLEN: u32 = 262_144;

const CAN_EFF_FLAG: u32 = 0x8000_0000;
const CAN_RTR_FLAG: u32 = 0x4000_0000;
const CAN_ID_MASK: u32 = MAX_EXTENDED_ID;
const CANFD_FDF: u8 = 0x04;
const CANXL_XLF: u8 = 0x80;
const CAN_HEADER: usize = 8;
const CLASSIC_MTU: usize = 16;
const FD_MTU: usize = 72;

const ETH_P_CAN: u16 = 0x000C;
const ETH_P_CANFD: u16 = 0x000D;
const ETH_P_CANXL: u16 = 0x000E;
const SLL_OUTGOING: u16 = 4;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const PB: u32 = 2;
const SPB: u32 = 3;
const NRB: u32 = 4;
const ISB: u32 = 5;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

const SKIP_NON_CAN: &str = "packet of a non-CAN link type";
const SKIP_SLL_NON_CAN: &str = "non-CAN packet in a Linux cooked capture";
const SKIP_XL: &str = "CAN XL frame";
const SKIP_OVERSIZED: &str = "packet too large for a CAN frame";

/// Why a pcap or pcapng capture could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("not a pcap or pcapng capture (magic number 0x{0:08X})")]
    BadMagic(u32),
    #[error("pcap version {major}.{minor} is not supported (only 2.x)")]
    PcapVersion { major: u16, minor: u16 },
    #[error("pcapng section version {major}.{minor} is not supported (only 1.x)")]
    SectionVersion { major: u16, minor: u16 },
    #[error("pcapng section header with an unknown byte-order magic 0x{0:08X}")]
    SectionByteOrder(u32),
    #[error("pcapng block length {0} is not a multiple of 4 of at least 12")]
    BlockLength(u32),
    #[error("pcapng block trailer length {trailer} differs from its header length {header}")]
    BlockTrailer { header: u32, trailer: u32 },
    #[error("pcap record length {0} is larger than any capture holds")]
    RecordLength(u32),
    #[error("pcapng {0} too short for its fixed fields")]
    ShortBlock(&'static str),
    #[error("captured length {captured} runs past the end of the block")]
    CapturedLength { captured: u32 },
    #[error("the options run past the end of the block")]
    Options,
    #[error("{0} bytes of {1} are larger than this reader stores")]
    TooLarge(u32, &'static str),
    #[error("packet of interface {0}, which no interface description block declared")]
    UnknownInterface(u32),
    #[error("more than {MAX_INTERFACES} interfaces in one section")]
    TooManyInterfaces,
    #[error("time stamp does not fit the 64-bit nanosecond time line")]
    TimestampRange,
    #[error("time stamp fraction {0} is not below one second")]
    TimestampFraction(u32),
    #[error("packet of {0} bytes is shorter than a CAN frame header")]
    ShortPacket(usize),
    #[error("payload of {len} bytes but only {captured} captured")]
    ShortPayload { len: u8, captured: usize },
    #[error("classic CAN frame with a payload length of {0} (at most 8)")]
    ClassicLength(u8),
    #[error("CAN FD frame with a payload length of {0}, which is not a CAN FD length")]
    FdLength(u8),
    #[error("remote frame requesting {0} bytes (at most 8)")]
    RemoteLength(u8),
    #[error("CAN FD frame with the {0} flag")]
    FdFlag(&'static str),
    #[error("standard CAN id word 0x{0:08X} has bits set above 11 bits")]
    StandardId(u32),
    #[error("error frame word 0x{0:08X} has the extended or remote flag set")]
    ErrorFlags(u32),
}

/// The byte order of the CAN id and flags word (see the module documentation).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum IdByteOrder {
    /// Per interface: network order for link type 227, the file's order for cooked captures,
    /// corrected by the first frame that is valid in one order only.
    #[default]
    Auto,
    /// Big-endian (network order) for every interface.
    Big,
    /// Little-endian for every interface (like Wireshark's `can.byte_swap` on link type 227).
    Little,
}

/// Which container a capture is in, from its first bytes: `Some(Format::Pcap)` for one of the
/// four classic magic numbers (micro- or nanosecond, either byte order) followed by major
/// version 2, `Some(Format::Pcapng)` for a Section Header Block (block type `0A0D0D0A` and
/// the byte-order magic `1A2B3C4D` in either order), else `None`.
pub fn sniff_format(head: &[u8]) -> Option<Format> {
    let word = |at: usize| -> Option<[u8; 4]> { head.get(at..at + 4)?.try_into().ok() };
    let magic = word(0)?;
    if magic == [0x0A, 0x0D, 0x0D, 0x0A] {
        let bom = word(8)?;
        return (bom == BYTE_ORDER_MAGIC.to_be_bytes() || bom == BYTE_ORDER_MAGIC.to_le_bytes())
            .then_some(Format::Pcapng);
    }
    let (endian, _) = classic_magic(u32::from_be_bytes(magic))?;
    let major = endian.u16(head, 4)?;
    (major == 2).then_some(Format::Pcap)
}

/// Whether `head` is the start of a pcap or pcapng capture ([`sniff_format`]).
pub fn sniff(head: &[u8]) -> bool {
    sniff_format(head).is_some()
}

/// A classic magic number read big-endian: the file's byte order and whether time stamps
/// are in nanoseconds.
fn classic_magic(magic: u32) -> Option<(Endian, bool)> {
    match magic {
        0xA1B2_C3D4 => Some((Endian::Big, false)),
        0xA1B2_3C4D => Some((Endian::Big, true)),
        0xD4C3_B2A1 => Some((Endian::Little, false)),
        0x4D3C_B2A1 => Some((Endian::Little, true)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Byte access

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Endian {
    Big,
    Little,
}

impl Endian {
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let a: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(match self {
            Endian::Big => u16::from_be_bytes(a),
            Endian::Little => u16::from_le_bytes(a),
        })
    }

    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let a: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(match self {
            Endian::Big => u32::from_be_bytes(a),
            Endian::Little => u32::from_le_bytes(a),
        })
    }

    fn word(self, a: [u8; 4]) -> u32 {
        match self {
            Endian::Big => u32::from_be_bytes(a),
            Endian::Little => u32::from_le_bytes(a),
        }
    }

    fn of(e: Endianness) -> Endian {
        match e {
            Endianness::Big => Endian::Big,
            Endianness::Little => Endian::Little,
        }
    }
}

/// Iterates over pcapng options `(code, value)` until `opt_endofopt` or the end of the block
/// (the draft tells readers not to rely on `opt_endofopt`); `Err` when one runs past the end.
fn options(endian: Endian, mut b: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), ErrorKind>> {
    core::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let code = endian.u16(b, 0)?;
        let len = usize::from(endian.u16(b, 2)?);
        if code == 0 {
            return None;
        }
        let padded = len.div_ceil(4) * 4;
        let value = b.get(4..4 + len);
        match (value, b.get(4 + padded..)) {
            (Some(v), Some(rest)) => {
                b = rest;
                Some(Ok((code, v)))
            }
            // The last option's padding may be missing.
            (Some(v), None) if b.len() >= 4 + len => {
                b = &[];
                Some(Ok((code, v)))
            }
            _ => {
                b = &[];
                Some(Err(ErrorKind::Options))
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// CAN frames

/// A CAN packet's bytes as captured, decoded once its id byte order is known.
#[derive(Copy, Clone, Debug)]
struct RawCan {
    word: [u8; 4],
    len: u8,
    fd: bool,
    flags: u8,
    len8_dlc: u8,
    captured: u8,
    data: [u8; 64],
}

/// Where the CAN frame is in a packet, and what the link layer said about it.
struct CanPacket<'a> {
    bytes: &'a [u8],
    /// From the cooked header: `Some(true)` CAN FD, `Some(false)` classic.
    fd_hint: Option<bool>,
    direction: Option<Direction>,
    ifindex: Option<u32>,
}

enum Link {
    SocketCan,
    Sll,
    Sll2,
    Other,
}

impl Link {
    fn of(linktype: u32) -> Link {
        match linktype {
            LINKTYPE_CAN_SOCKETCAN => Link::SocketCan,
            LINKTYPE_LINUX_SLL => Link::Sll,
            LINKTYPE_LINUX_SLL2 => Link::Sll2,
            _ => Link::Other,
        }
    }
}

/// Strips the link-layer header: `Ok(None)` for a packet that is not a CAN frame (the reason).
fn can_packet<'a>(
    link: &Link,
    p: &'a [u8],
) -> Result<Result<CanPacket<'a>, &'static str>, ErrorKind> {
    let be = Endian::Big;
    let short = || ErrorKind::ShortPacket(p.len());
    let (protocol, pkttype, ifindex, rest) = match link {
        Link::SocketCan => {
            return Ok(Ok(CanPacket {
                bytes: p,
                fd_hint: None,
                direction: None,
                ifindex: None,
            }));
        }
        Link::Other => return Ok(Err(SKIP_NON_CAN)),
        // pkttype(2) hatype(2) halen(2) addr(8) protocol(2)
        Link::Sll => (
            be.u16(p, 14).ok_or_else(short)?,
            be.u16(p, 0).ok_or_else(short)?,
            None,
            p.get(16..).ok_or_else(short)?,
        ),
        // protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8)
        Link::Sll2 => (
            be.u16(p, 0).ok_or_else(short)?,
            u16::from(*p.get(10).ok_or_else(short)?),
            Some(be.u32(p, 4).ok_or_else(short)?),
            p.get(20..).ok_or_else(short)?,
        ),
    };
    let fd_hint = match protocol {
        ETH_P_CAN => false,
        ETH_P_CANFD => true,
        ETH_P_CANXL => return Ok(Err(SKIP_XL)),
        _ => return Ok(Err(SKIP_SLL_NON_CAN)),
    };
    let direction = match pkttype {
        SLL_OUTGOING => Some(Direction::Tx),
        0..=3 => Some(Direction::Rx),
        _ => None,
    };
    Ok(Ok(CanPacket {
        bytes: rest,
        fd_hint: Some(fd_hint),
        direction,
        ifindex,
    }))
}

/// Splits a CAN packet into its header fields; `Ok(None)` for a CAN XL frame.
fn raw_can(p: &CanPacket<'_>) -> Result<Option<RawCan>, ErrorKind> {
    let b = p.bytes;
    if b.len() < CAN_HEADER {
        return Err(ErrorKind::ShortPacket(b.len()));
    }
    let h = |i: usize| b.get(i).copied().unwrap_or(0);
    let len = h(4);
    if len & CANXL_XLF != 0 && p.fd_hint.is_none() {
        return Ok(None);
    }
    let (flags, res0, res1) = (h(5), h(6), h(7));
    let fd = match p.fd_hint {
        Some(fd) => fd,
        None => {
            if flags & CANFD_FDF != 0 {
                flags & !0x07 == 0 && res0 == 0 && res1 == 0
            } else {
                b.len() == FD_MTU || (len > 8 && b.len() != CLASSIC_MTU)
            }
        }
    };
    let payload = b.get(CAN_HEADER..).unwrap_or_default();
    let mut data = [0u8; 64];
    let captured = payload.len().min(64);
    if let (Some(d), Some(s)) = (data.get_mut(..captured), payload.get(..captured)) {
        d.copy_from_slice(s);
    }
    Ok(Some(RawCan {
        word: [h(0), h(1), h(2), h(3)],
        len,
        fd,
        flags,
        len8_dlc: res1,
        captured: captured as u8,
        data,
    }))
}

/// Whether `word` is an id and flags word our frames can have for this kind of frame: not a
/// standard id above 0x7FF, not an error frame with the extended or remote flag, not a CAN FD
/// frame with the remote or error flag. (Error classes are not judged: Linux defines only
/// the low ten bits, but captures written from logs can carry any.)
fn plausible(word: u32, fd: bool) -> bool {
    if word & CAN_ERR_FLAG != 0 {
        return !fd && word & (CAN_EFF_FLAG | CAN_RTR_FLAG) == 0;
    }
    if fd && word & CAN_RTR_FLAG != 0 {
        return false;
    }
    word & CAN_EFF_FLAG != 0 || word & 0x1FFF_F800 == 0
}

impl RawCan {
    /// `Some(order)` when the word is valid in exactly one byte order.
    fn settles(&self) -> Option<Endian> {
        let big = u32::from_be_bytes(self.word);
        let little = u32::from_le_bytes(self.word);
        if big == little {
            return None;
        }
        match (plausible(big, self.fd), plausible(little, self.fd)) {
            (true, false) => Some(Endian::Big),
            (false, true) => Some(Endian::Little),
            _ => None,
        }
    }

    /// Whether the frame reads validly in both byte orders, differently.
    fn ambiguous(&self) -> bool {
        let big = u32::from_be_bytes(self.word);
        let little = u32::from_le_bytes(self.word);
        big != little && plausible(big, self.fd) && plausible(little, self.fd)
    }

    fn payload(&self, len: u8) -> Result<&[u8], ErrorKind> {
        self.data
            .get(..usize::from(len))
            .filter(|_| len <= self.captured)
            .ok_or(ErrorKind::ShortPayload {
                len,
                captured: usize::from(self.captured),
            })
    }

    fn decode(&self, order: Endian) -> Result<Frame, ErrorKind> {
        let word = order.word(self.word);
        if self.fd {
            if word & CAN_ERR_FLAG != 0 {
                return Err(ErrorKind::FdFlag("error"));
            }
            if word & CAN_RTR_FLAG != 0 {
                return Err(ErrorKind::FdFlag("remote"));
            }
            fd_len_to_dlc(usize::from(self.len)).ok_or(ErrorKind::FdLength(self.len))?;
            let id = frame_id(word)?;
            let flags = FdFlags::from_bits(self.flags & 0x07).unwrap_or_default();
            let frame = FdFrame::new(id, self.payload(self.len)?, flags)
                .map_err(|_| ErrorKind::FdLength(self.len))?;
            return Ok(Frame::Fd(frame));
        }
        if word & CAN_ERR_FLAG != 0 {
            if word & (CAN_EFF_FLAG | CAN_RTR_FLAG) != 0 {
                return Err(ErrorKind::ErrorFlags(word));
            }
            // can-utils pads shorter error payloads with zeros; so do we.
            let n = self.len.min(8).min(self.captured);
            let mut details = [0u8; 8];
            if let (Some(d), Some(s)) = (
                details.get_mut(..usize::from(n)),
                self.data.get(..usize::from(n)),
            ) {
                d.copy_from_slice(s);
            }
            let frame = ErrorFrame::new(word & CAN_ID_MASK, details)
                .map_err(|_| ErrorKind::ErrorFlags(word))?;
            return Ok(Frame::Error(frame));
        }
        let id = frame_id(word)?;
        let raw_dlc = (self.len == 8 && (9..=15).contains(&self.len8_dlc)).then_some(self.len8_dlc);
        if word & CAN_RTR_FLAG != 0 {
            let frame = match raw_dlc {
                Some(d) => RemoteFrame::with_raw_dlc(id, d),
                None => RemoteFrame::new(id, self.len),
            }
            .map_err(|_| ErrorKind::RemoteLength(self.len))?;
            return Ok(Frame::Remote(frame));
        }
        if self.len > 8 {
            return Err(ErrorKind::ClassicLength(self.len));
        }
        let data = self.payload(self.len)?;
        let frame = match (raw_dlc, <[u8; 8]>::try_from(data)) {
            (Some(d), Ok(eight)) => ClassicFrame::with_raw_dlc(id, eight, d),
            _ => ClassicFrame::new(id, data),
        }
        .map_err(|_| ErrorKind::ClassicLength(self.len))?;
        Ok(Frame::Classic(frame))
    }
}

fn frame_id(word: u32) -> Result<Id, ErrorKind> {
    if word & CAN_EFF_FLAG != 0 {
        Id::extended(word & CAN_ID_MASK).ok_or(ErrorKind::StandardId(word))
    } else if word & 0x1FFF_F800 != 0 {
        Err(ErrorKind::StandardId(word))
    } else {
        Id::new(word & 0x7FF, false).ok_or(ErrorKind::StandardId(word))
    }
}

/// The link-layer bytes of `frame` as Linux captures it (16 bytes classic, 72 CAN FD with
/// `CANFD_FDF` set and the undefined flag bit 0x8 cleared), into `out` (cleared first).
pub fn encode_frame(out: &mut Vec<u8>, frame: &Frame) {
    out.clear();
    let id_word = |id: Id| {
        if id.is_extended() {
            id.raw() | CAN_EFF_FLAG
        } else {
            id.raw()
        }
    };
    let (word, len, flags, len8, data, mtu): (u32, u8, u8, u8, &[u8], usize) = match frame {
        Frame::Classic(c) => (
            id_word(c.id()),
            c.data().len() as u8,
            0,
            c.raw_dlc().unwrap_or(0),
            c.data(),
            CLASSIC_MTU,
        ),
        Frame::Remote(r) => (
            id_word(r.id()) | CAN_RTR_FLAG,
            r.len(),
            0,
            r.raw_dlc().unwrap_or(0),
            &[],
            CLASSIC_MTU,
        ),
        Frame::Error(e) => (
            e.class() | CAN_ERR_FLAG,
            8,
            0,
            0,
            e.data().as_slice(),
            CLASSIC_MTU,
        ),
        Frame::Fd(f) => (
            id_word(f.id()),
            f.data().len() as u8,
            f.flags().bits() & 0x07 | CANFD_FDF,
            0,
            f.data(),
            FD_MTU,
        ),
    };
    out.extend_from_slice(&word.to_be_bytes());
    out.extend_from_slice(&[len, flags, 0, len8]);
    out.extend_from_slice(data);
    out.resize(mtu, 0);
}

// ---------------------------------------------------------------------------------------------
// Reading

/// How a pcapng interface counts time.
#[derive(Copy, Clone, Debug)]
enum TsUnit {
    /// 10^-n seconds.
    Decimal(u8),
    /// 2^-n seconds.
    Binary(u8),
}

impl TsUnit {
    fn of(tsresol: u8) -> TsUnit {
        if tsresol & 0x80 != 0 {
            TsUnit::Binary(tsresol & 0x7F)
        } else {
            TsUnit::Decimal(tsresol)
        }
    }

    fn precision(self) -> Precision {
        match self {
            TsUnit::Decimal(n) if n <= 6 => Precision::Micros,
            TsUnit::Binary(0) => Precision::Micros,
            _ => Precision::Nanos,
        }
    }

    /// Nanoseconds of `units`; `None` when they do not fit in 64 bits.
    fn nanos(self, units: u64) -> Option<u64> {
        let units = u128::from(units);
        let nanos = match self {
            TsUnit::Decimal(n) if n <= 9 => units.checked_mul(10u128.pow(u32::from(9 - n)))?,
            TsUnit::Decimal(n) => match 10u128.checked_pow(u32::from(n - 9)) {
                Some(d) => units / d,
                None => 0,
            },
            TsUnit::Binary(n) => (units * 1_000_000_000) >> n,
        };
        u64::try_from(nanos).ok()
    }
}

/// One interface of the capture.
#[derive(Clone, Debug)]
struct Iface {
    link: u32,
    /// Index into the reader's name table.
    name: usize,
    unit: TsUnit,
    offset_secs: i64,
    snaplen: u32,
    /// The expected byte order of CAN id words, and the settled one.
    expected: Endian,
    order: Option<Endian>,
}

/// An item ready to hand out.
#[derive(Debug)]
enum Ready {
    Record {
        name: usize,
        timestamp: Timestamp,
        precision: Precision,
        direction: Option<Direction>,
        frame: Frame,
    },
    Other(&'static str),
    Skipped(&'static str),
    Bad {
        at: u64,
        kind: ErrorKind,
    },
}

#[derive(Debug)]
enum Pending {
    Ready(Ready),
    /// A CAN frame waiting for its interface's byte order.
    Waiting {
        at: u64,
        iface: usize,
        name: usize,
        timestamp: Timestamp,
        precision: Precision,
        direction: Option<Direction>,
        raw: RawCan,
    },
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Container {
    /// Nothing read yet.
    Start,
    Pcap {
        endian: Endian,
        nanos: bool,
        link: u32,
        snaplen: u32,
    },
    Pcapng {
        endian: Endian,
    },
    /// After the end of the input or a fatal error.
    Done,
}

/// A streaming reader of pcap and pcapng captures over any [`BufRead`].
pub struct Reader<R> {
    inner: R,
    source_name: Option<Arc<str>>,
    order: IdByteOrder,
    container: Container,
    /// The format of the current container (pcapng until the magic says otherwise).
    format: Format,
    /// Bytes consumed from `inner`.
    offset: u64,
    buf: Vec<u8>,
    ifaces: Vec<Iface>,
    names: Vec<String>,
    /// `(base name, ifindex, name)` of SLL2 interfaces.
    sub_names: Vec<(usize, u32, usize)>,
    last_time: Timestamp,
    queue: VecDeque<Pending>,
    /// A fatal error to report once the queue is empty.
    fatal: Option<ReadError>,
    stats: Stats,
}

/// What the next step of reading produced.
enum Step {
    Item(Pending),
    Eof,
}

impl<R: BufRead> Reader<R> {
    /// A reader of either container, detected from its magic number.
    pub fn new(inner: R) -> Self {
        Reader {
            inner,
            source_name: None,
            order: IdByteOrder::Auto,
            container: Container::Start,
            format: Format::Pcapng,
            offset: 0,
            buf: Vec::with_capacity(256),
            ifaces: Vec::new(),
            names: Vec::new(),
            sub_names: Vec::new(),
            last_time: Timestamp::ZERO,
            queue: VecDeque::new(),
            fatal: None,
            stats: Stats::default(),
        }
    }

    /// Names the source (a file path) in error messages.
    pub fn with_source_name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.source_name = Some(name.into());
        self
    }

    /// What [`FrameReader::format`] says before the first read (the container detected by
    /// the caller); the magic number decides once read.
    pub fn with_expected_format(mut self, format: Format) -> Self {
        if matches!(format, Format::Pcap | Format::Pcapng) {
            self.format = format;
        }
        self
    }

    /// Sets the byte order of CAN id words ([`IdByteOrder::Auto`] by default).
    pub fn with_id_byte_order(mut self, order: IdByteOrder) -> Self {
        self.order = order;
        self
    }

    /// The source name, if any.
    pub fn source_name(&self) -> Option<&str> {
        self.source_name.as_deref()
    }

    /// The underlying reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn error(&self, location: Location, kind: FormatErrorKind) -> ReadError {
        ReadError::Format(FormatError {
            source_name: self.source_name.clone(),
            format: self.format,
            location,
            kind,
        })
    }

    fn io_error(&self, error: io::Error) -> ReadError {
        ReadError::Io {
            source_name: self.source_name.clone(),
            location: Location::Offset(self.offset),
            error,
        }
    }

    /// Appends up to `n` bytes to `buf`; returns how many the input had.
    fn fill(&mut self, n: usize) -> Result<usize, ReadError> {
        let mut got = 0;
        while got < n {
            let avail = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(e)),
            };
            if avail.is_empty() {
                break;
            }
            let take = avail.len().min(n - got);
            self.buf
                .extend_from_slice(avail.get(..take).unwrap_or_default());
            self.inner.consume(take);
            self.offset += take as u64;
            got += take;
        }
        Ok(got)
    }

    /// Discards up to `n` bytes; returns how many the input had.
    fn skip(&mut self, n: u64) -> Result<u64, ReadError> {
        let mut left = n;
        while left > 0 {
            let avail = match self.inner.fill_buf() {
                Ok(b) => b.len(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.io_error(e)),
            };
            if avail == 0 {
                break;
            }
            let take = usize::try_from(left).unwrap_or(usize::MAX).min(avail);
            self.inner.consume(take);
            self.offset += take as u64;
            left -= take as u64;
        }
        Ok(n - left)
    }

    fn truncated(&self, start: u64, what: &'static str) -> ReadError {
        self.error(Location::Offset(start), FormatErrorKind::Truncated(what))
    }

    fn fatal(&self, at: u64, kind: ErrorKind) -> ReadError {
        self.error(Location::Offset(at), FormatErrorKind::Pcap(kind))
    }

    fn name_index(&mut self, name: &str) -> usize {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return i;
        }
        self.names.push(name.to_owned());
        self.names.len() - 1
    }

    fn sub_name(&mut self, base: usize, ifindex: u32) -> usize {
        if let Some(&(_, _, n)) = self
            .sub_names
            .iter()
            .find(|(b, i, _)| *b == base && *i == ifindex)
        {
            return n;
        }
        let name = format!(
            "{}:{ifindex}",
            self.names.get(base).map_or("can0", String::as_str)
        );
        let n = self.name_index(&name);
        self.sub_names.push((base, ifindex, n));
        n
    }

    fn expected_order(&self, link: u32, file: Endian) -> (Endian, Option<Endian>) {
        let expected = if link == LINKTYPE_CAN_SOCKETCAN {
            Endian::Big
        } else {
            file
        };
        match self.order {
            IdByteOrder::Auto => (expected, None),
            IdByteOrder::Big => (Endian::Big, Some(Endian::Big)),
            IdByteOrder::Little => (Endian::Little, Some(Endian::Little)),
        }
    }

    /// Reads the classic header or the first section header.
    fn start(&mut self) -> Result<Step, ReadError> {
        self.buf.clear();
        let got = self.fill(4)?;
        if got < 4 {
            self.container = Container::Done;
            return Err(self.truncated(0, "capture file header"));
        }
        let magic = [0, 1, 2, 3].map(|i| self.buf.get(i).copied().unwrap_or(0));
        if magic == SHB.to_be_bytes() {
            self.format = Format::Pcapng;
            self.container = Container::Pcapng {
                endian: Endian::Little,
            };
            return self.block_after_type(0, SHB);
        }
        self.format = Format::Pcap;
        if classic_magic(u32::from_be_bytes(magic)).is_none() {
            self.container = Container::Done;
            return Err(self.fatal(0, ErrorKind::BadMagic(u32::from_be_bytes(magic))));
        }
        if self.fill(20)? < 20 {
            self.container = Container::Done;
            return Err(self.truncated(0, "pcap file header"));
        }
        let header = pcap_file::pcap::PcapHeader::from_slice(&self.buf)
            .map(|(_, h)| h)
            .map_err(|_| self.fatal(0, ErrorKind::BadMagic(u32::from_be_bytes(magic))))?;
        if header.version_major != 2 {
            self.container = Container::Done;
            return Err(self.fatal(
                0,
                ErrorKind::PcapVersion {
                    major: header.version_major,
                    minor: header.version_minor,
                },
            ));
        }
        let endian = Endian::of(header.endianness);
        let link = u32::from(header.datalink);
        self.container = Container::Pcap {
            endian,
            nanos: header.ts_resolution == TsResolution::NanoSecond,
            link,
            snaplen: header.snaplen,
        };
        let name = self.name_index("can0");
        let (expected, order) = self.expected_order(link, endian);
        self.ifaces.clear();
        self.ifaces.push(Iface {
            link,
            name,
            unit: TsUnit::Decimal(if header.ts_resolution == TsResolution::NanoSecond {
                9
            } else {
                6
            }),
            offset_secs: 0,
            snaplen: header.snaplen,
            expected,
            order,
        });
        Ok(Step::Item(Pending::Ready(Ready::Other("pcap file header"))))
    }

    /// Reads one classic pcap record.
    fn pcap_record(&mut self, endian: Endian, nanos: bool, link: u32) -> Result<Step, ReadError> {
        let at = self.offset;
        self.buf.clear();
        match self.fill(16)? {
            0 => return Ok(Step::Eof),
            16 => {}
            _ => return Err(self.truncated(at, "pcap record header")),
        }
        let field = |i: usize| endian.u32(&self.buf, i * 4).unwrap_or(0);
        let (secs, frac, caplen) = (field(0), field(1), field(2));
        if caplen > MAX_RECORD {
            return Err(self.fatal(at, ErrorKind::RecordLength(caplen)));
        }
        let stored = (caplen as usize).min(FD_MTU + 64);
        self.buf.clear();
        let got = self.fill(stored)?;
        let rest = u64::from(caplen) - stored as u64;
        if got < stored || self.skip(rest)? < rest {
            return Err(self.truncated(at, "pcap record"));
        }
        let limit = if nanos { 1_000_000_000 } else { 1_000_000 };
        if frac >= limit {
            return Ok(Step::Item(bad(at, ErrorKind::TimestampFraction(frac))));
        }
        let nanos_frac = if nanos { frac } else { frac * 1_000 };
        let Some(timestamp) = Timestamp::from_secs_nanos(u64::from(secs), nanos_frac) else {
            return Ok(Step::Item(bad(at, ErrorKind::TimestampRange)));
        };
        let precision = if nanos {
            Precision::Nanos
        } else {
            Precision::Micros
        };
        if caplen as usize > stored && matches!(Link::of(link), Link::SocketCan) {
            return Ok(Step::Item(Pending::Ready(Ready::Skipped(SKIP_OVERSIZED))));
        }
        Ok(Step::Item(self.packet(at, 0, timestamp, precision, None)))
    }

    /// Decodes the packet in `buf` of interface `iface`.
    fn packet(
        &mut self,
        at: u64,
        iface: usize,
        timestamp: Timestamp,
        precision: Precision,
        flags_direction: Option<Direction>,
    ) -> Pending {
        self.last_time = timestamp;
        let Some(i) = self.ifaces.get(iface) else {
            return bad(at, ErrorKind::UnknownInterface(iface as u32));
        };
        let (link, base) = (Link::of(i.link), i.name);
        let buf = std::mem::take(&mut self.buf);
        let result = can_packet(&link, &buf).and_then(|p| match p {
            Ok(p) => raw_can(&p).map(|raw| match raw {
                Some(raw) => Ok((raw, p.direction, p.ifindex)),
                None => Err(SKIP_XL),
            }),
            Err(why) => Ok(Err(why)),
        });
        self.buf = buf;
        let (raw, link_direction, ifindex) = match result {
            Ok(Ok(x)) => x,
            Ok(Err(why)) => return Pending::Ready(Ready::Skipped(why)),
            Err(kind) => return bad(at, kind),
        };
        let name = match ifindex {
            Some(ix) => self.sub_name(base, ix),
            None => base,
        };
        let direction = flags_direction.or(link_direction);
        let Some(i) = self.ifaces.get_mut(iface) else {
            return bad(at, ErrorKind::UnknownInterface(iface as u32));
        };
        if i.order.is_none() {
            if let Some(order) = raw.settles() {
                i.order = Some(order);
                if order != i.expected {
                    tracing::debug!(interface = iface, ?order, "CAN id byte order corrected");
                }
                self.settle(iface);
            } else if raw.ambiguous() {
                return Pending::Waiting {
                    at,
                    iface,
                    name,
                    timestamp,
                    precision,
                    direction,
                    raw,
                };
            }
        }
        let order = self
            .ifaces
            .get(iface)
            .map_or(Endian::Big, |i| i.order.unwrap_or(i.expected));
        resolve(at, name, timestamp, precision, direction, &raw, order)
    }

    /// Decodes the waiting frames of `iface` now that its order is settled.
    fn settle(&mut self, iface: usize) {
        let Some(order) = self.ifaces.get(iface).and_then(|i| i.order) else {
            return;
        };
        for p in self.queue.iter_mut() {
            if let Pending::Waiting {
                at,
                iface: w,
                name,
                timestamp,
                precision,
                direction,
                raw,
            } = p
                && *w == iface
            {
                *p = resolve(*at, *name, *timestamp, *precision, *direction, raw, order);
            }
        }
    }

    /// Gives interface `iface` its expected order if it has none yet.
    fn settle_expected(&mut self, iface: usize) {
        if let Some(i) = self.ifaces.get_mut(iface)
            && i.order.is_none()
        {
            i.order = Some(i.expected);
            self.settle(iface);
        }
    }

    fn settle_all(&mut self) {
        for i in 0..self.ifaces.len() {
            self.settle_expected(i);
        }
    }

    /// Reads the rest of a pcapng block whose type (4 bytes, in `buf`) has been read.
    fn block_after_type(&mut self, at: u64, block_type: u32) -> Result<Step, ReadError> {
        let Container::Pcapng { endian } = self.container else {
            return Ok(Step::Eof);
        };
        let head = if block_type == SHB { 12 } else { 8 };
        if self.fill(head - 4)? < head - 4 {
            return Err(self.truncated(at, "pcapng block header"));
        }
        let endian = if block_type == SHB {
            match self
                .buf
                .get(8..12)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
            {
                Some(b) if u32::from_be_bytes(b) == BYTE_ORDER_MAGIC => Endian::Big,
                Some(b) if u32::from_le_bytes(b) == BYTE_ORDER_MAGIC => Endian::Little,
                Some(b) => {
                    return Err(self.fatal(at, ErrorKind::SectionByteOrder(u32::from_be_bytes(b))));
                }
                None => return Err(self.truncated(at, "pcapng section header")),
            }
        } else {
            endian
        };
        let len = endian.u32(&self.buf, 4).unwrap_or(0);
        if len % 4 != 0 || len < 12 || (block_type == SHB && len < 28) {
            return Err(self.fatal(at, ErrorKind::BlockLength(len)));
        }
        let total = len as usize;
        if total > MAX_STORED {
            // Skip it unread (checking the trailer), whatever it is.
            let body = u64::from(len) - head as u64 - 4;
            if self.skip(body)? < body {
                return Err(self.truncated(at, "pcapng block"));
            }
            self.buf.clear();
            if self.fill(4)? < 4 {
                return Err(self.truncated(at, "pcapng block"));
            }
            let trailer = endian.u32(&self.buf, 0).unwrap_or(0);
            if trailer != len {
                return Err(self.fatal(
                    at,
                    ErrorKind::BlockTrailer {
                        header: len,
                        trailer,
                    },
                ));
            }
            if block_type == SHB {
                return Err(self.fatal(at, ErrorKind::TooLarge(len, "section header")));
            }
            return Ok(Step::Item(match block_type {
                EPB | PB | SPB => bad(at, ErrorKind::TooLarge(len, "a packet block")),
                _ => Pending::Ready(Ready::Other("pcapng block")),
            }));
        }
        if self.fill(total - head)? < total - head {
            return Err(self.truncated(at, "pcapng block"));
        }
        let trailer = endian.u32(&self.buf, total - 4).unwrap_or(0);
        if trailer != len {
            return Err(self.fatal(
                at,
                ErrorKind::BlockTrailer {
                    header: len,
                    trailer,
                },
            ));
        }
        // The body, without type, length and trailer.
        let body = 8..total - 4;
        match block_type {
            SHB => self.section(at, endian, body),
            IDB => Ok(Step::Item(self.interface(at, endian, body))),
            EPB | PB => Ok(Step::Item(self.enhanced(
                at,
                endian,
                body,
                block_type == PB,
            ))),
            SPB => Ok(Step::Item(self.simple(at, endian, body))),
            NRB => Ok(Step::Item(Pending::Ready(Ready::Other(
                "pcapng name resolution block",
            )))),
            ISB => Ok(Step::Item(Pending::Ready(Ready::Other(
                "pcapng interface statistics block",
            )))),
            _ => Ok(Step::Item(Pending::Ready(Ready::Other("pcapng block")))),
        }
    }

    fn section(
        &mut self,
        at: u64,
        endian: Endian,
        body: core::ops::Range<usize>,
    ) -> Result<Step, ReadError> {
        let b = self.buf.get(body).unwrap_or_default();
        let major = endian.u16(b, 4).unwrap_or(0);
        let minor = endian.u16(b, 6).unwrap_or(0);
        if major != 1 {
            return Err(self.fatal(at, ErrorKind::SectionVersion { major, minor }));
        }
        // Frames still waiting belong to the interfaces of the section that ends here.
        self.settle_all();
        self.ifaces.clear();
        self.container = Container::Pcapng { endian };
        Ok(Step::Item(Pending::Ready(Ready::Other(
            "pcapng section header",
        ))))
    }

    fn interface(&mut self, at: u64, endian: Endian, body: core::ops::Range<usize>) -> Pending {
        if self.ifaces.len() >= MAX_INTERFACES {
            return bad(at, ErrorKind::TooManyInterfaces);
        }
        let b = self.buf.get(body).unwrap_or_default();
        let index = self.ifaces.len();
        let (Some(link), Some(snaplen)) = (endian.u16(b, 0), endian.u32(b, 4)) else {
            // Keep the numbering of the interfaces after it.
            let name = self.name_index(&format!("can{index}"));
            self.ifaces.push(Iface {
                link: 0,
                name,
                unit: TsUnit::Decimal(6),
                offset_secs: 0,
                snaplen: 0,
                expected: Endian::Big,
                order: Some(Endian::Big),
            });
            return bad(at, ErrorKind::ShortBlock("interface description block"));
        };
        let link = u32::from(link);
        let mut name = None;
        let mut unit = TsUnit::Decimal(6);
        let mut offset_secs = 0i64;
        let mut problem = None;
        for option in options(endian, b.get(8..).unwrap_or_default()) {
            match option {
                Ok((2, v)) => {
                    name = Some(String::from_utf8_lossy(v).trim_end_matches('\0').to_owned())
                }
                Ok((9, [r])) => unit = TsUnit::of(*r),
                Ok((14, v)) if v.len() == 8 => {
                    let hi = endian.u32(v, 0).unwrap_or(0);
                    let lo = endian.u32(v, 4).unwrap_or(0);
                    let raw = match endian {
                        Endian::Big => (u64::from(hi) << 32) | u64::from(lo),
                        Endian::Little => (u64::from(lo) << 32) | u64::from(hi),
                    };
                    offset_secs = raw as i64;
                }
                Ok(_) => {}
                Err(e) => problem = Some(e),
            }
        }
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => self.name_index(&n),
            None => self.name_index(&format!("can{index}")),
        };
        let (expected, order) = self.expected_order(link, endian);
        self.ifaces.push(Iface {
            link,
            name,
            unit,
            offset_secs,
            snaplen,
            expected,
            order,
        });
        match problem {
            Some(kind) => bad(at, kind),
            None => Pending::Ready(Ready::Other("pcapng interface description block")),
        }
    }

    /// An Enhanced Packet Block, or an obsolete Packet Block (16-bit interface id).
    fn enhanced(
        &mut self,
        at: u64,
        endian: Endian,
        body: core::ops::Range<usize>,
        obsolete: bool,
    ) -> Pending {
        let start = body.start;
        let b = self.buf.get(body).unwrap_or_default();
        let fields = |i: usize| endian.u32(b, i * 4);
        let (Some(id_word), Some(hi), Some(lo), Some(caplen)) =
            (fields(0), fields(1), fields(2), fields(3))
        else {
            return bad(at, ErrorKind::ShortBlock("packet block"));
        };
        if b.len() < 20 {
            return bad(at, ErrorKind::ShortBlock("packet block"));
        }
        let iface_id = if obsolete {
            endian.u16(b, 0).map_or(0, u32::from)
        } else {
            id_word
        };
        let data_len = caplen as usize;
        let Some(padded) = data_len.checked_add(3).map(|n| n & !3) else {
            return bad(at, ErrorKind::CapturedLength { captured: caplen });
        };
        if 20 + padded > b.len() && 20 + data_len > b.len() {
            return bad(at, ErrorKind::CapturedLength { captured: caplen });
        }
        let mut direction = None;
        for option in options(endian, b.get(20 + padded..).unwrap_or_default()) {
            match option {
                Ok((2, v)) if v.len() == 4 => {
                    direction = match endian.u32(v, 0).unwrap_or(0) & 0x3 {
                        1 => Some(Direction::Rx),
                        2 => Some(Direction::Tx),
                        _ => None,
                    };
                }
                Ok(_) => {}
                Err(kind) => return bad(at, kind),
            }
        }
        let Some(iface) = self.ifaces.get(iface_id as usize) else {
            return bad(at, ErrorKind::UnknownInterface(iface_id));
        };
        let (unit, offset_secs) = (iface.unit, iface.offset_secs);
        let units = (u64::from(hi) << 32) | u64::from(lo);
        let Some(timestamp) = unit
            .nanos(units)
            .and_then(|n| apply_offset(n, offset_secs))
            .map(Timestamp::from_nanos)
        else {
            return bad(at, ErrorKind::TimestampRange);
        };
        // Keep only the packet bytes in the buffer.
        let from = start + 20;
        self.buf.truncate(from + data_len);
        self.buf.drain(..from);
        self.packet(
            at,
            iface_id as usize,
            timestamp,
            unit.precision(),
            direction,
        )
    }

    fn simple(&mut self, at: u64, endian: Endian, body: core::ops::Range<usize>) -> Pending {
        let start = body.start;
        let b = self.buf.get(body).unwrap_or_default();
        let Some(original) = endian.u32(b, 0) else {
            return bad(at, ErrorKind::ShortBlock("simple packet block"));
        };
        let Some(iface) = self.ifaces.first() else {
            return bad(at, ErrorKind::UnknownInterface(0));
        };
        let mut len = (original as usize).min(b.len() - 4);
        if iface.snaplen > 0 {
            len = len.min(iface.snaplen as usize);
        }
        let precision = iface.unit.precision();
        let from = start + 4;
        self.buf.truncate(from + len);
        self.buf.drain(..from);
        let timestamp = self.last_time;
        self.packet(at, 0, timestamp, precision, None)
    }

    /// Reads until something can be queued, the end of the input, or a fatal error.
    fn step(&mut self) -> Result<Step, ReadError> {
        match self.container {
            Container::Start => self.start(),
            Container::Done => Ok(Step::Eof),
            Container::Pcap {
                endian,
                nanos,
                link,
                snaplen: _,
            } => self.pcap_record(endian, nanos, link),
            Container::Pcapng { endian } => {
                let at = self.offset;
                self.buf.clear();
                match self.fill(4)? {
                    0 => return Ok(Step::Eof),
                    4 => {}
                    _ => return Err(self.truncated(at, "pcapng block header")),
                }
                let block_type = endian.u32(&self.buf, 0).unwrap_or(0);
                if block_type == SHB {
                    return self.block_after_type(at, SHB);
                }
                self.block_after_type(at, block_type)
            }
        }
    }

    /// Whether the front of the queue can be handed out.
    fn front_ready(&self) -> bool {
        matches!(self.queue.front(), Some(Pending::Ready(_)))
    }

    fn next_ready(&mut self) -> Result<Option<Ready>, ReadError> {
        loop {
            if self.front_ready()
                && let Some(Pending::Ready(r)) = self.queue.pop_front()
            {
                return Ok(Some(r));
            }
            let front_waiting = match self.queue.front() {
                Some(Pending::Waiting { iface, .. }) => Some(*iface),
                _ => None,
            };
            if let Some(iface) = front_waiting
                && (self.queue.len() >= LOOKAHEAD || self.container == Container::Done)
            {
                self.settle_expected(iface);
                continue;
            }
            if self.container == Container::Done {
                return match self.fatal.take() {
                    Some(e) => Err(e),
                    None => Ok(None),
                };
            }
            match self.step() {
                Ok(Step::Item(p)) => {
                    if self.queue.is_empty()
                        && let Pending::Ready(r) = p
                    {
                        return Ok(Some(r));
                    }
                    self.queue.push_back(p);
                }
                Ok(Step::Eof) => self.container = Container::Done,
                Err(e) => {
                    self.container = Container::Done;
                    if self.queue.is_empty() {
                        return Err(e);
                    }
                    self.fatal = Some(e);
                }
            }
        }
    }

    /// The next item of the capture; `Ok(None)` at the end, `Err` for I/O errors, broken
    /// framing or truncation (after every complete record before it).
    pub fn read_item(&mut self) -> Result<Option<Item<'_>>, ReadError> {
        let Some(ready) = self.next_ready()? else {
            return Ok(None);
        };
        Ok(Some(match ready {
            Ready::Record {
                name,
                timestamp,
                precision,
                direction,
                frame,
            } => {
                self.stats.records += 1;
                Item::Record(Record {
                    timestamp,
                    precision,
                    interface: self.names.get(name).map_or("can0", String::as_str),
                    frame,
                    direction,
                })
            }
            Ready::Other(what) => {
                self.stats.other += 1;
                Item::Other(what)
            }
            Ready::Skipped(what) => {
                self.stats.skipped += 1;
                Item::Skipped(what)
            }
            Ready::Bad { at, kind } => {
                self.stats.bad += 1;
                Item::Bad(self.error(Location::Offset(at), FormatErrorKind::Pcap(kind)))
            }
        }))
    }

    /// The format being read: [`Format::Pcap`] or [`Format::Pcapng`] (pcapng until the
    /// first bytes have been read).
    pub fn format(&self) -> Format {
        self.format
    }

    /// The counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }
}

fn bad(at: u64, kind: ErrorKind) -> Pending {
    Pending::Ready(Ready::Bad { at, kind })
}

fn resolve(
    at: u64,
    name: usize,
    timestamp: Timestamp,
    precision: Precision,
    direction: Option<Direction>,
    raw: &RawCan,
    order: Endian,
) -> Pending {
    match raw.decode(order) {
        Ok(frame) => Pending::Ready(Ready::Record {
            name,
            timestamp,
            precision,
            direction,
            frame,
        }),
        Err(kind) => bad(at, kind),
    }
}

fn apply_offset(nanos: u64, offset_secs: i64) -> Option<u64> {
    let offset = i128::from(offset_secs).checked_mul(1_000_000_000)?;
    u64::try_from(i128::from(nanos).checked_add(offset)?).ok()
}

impl<R: BufRead + Send> FrameReader for Reader<R> {
    fn read_item(&mut self) -> Result<Option<Item<'_>>, ReadError> {
        Reader::read_item(self)
    }

    fn format(&self) -> Format {
        self.format
    }

    fn stats(&self) -> Stats {
        self.stats
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

const LOSS_NAME: &str = "interface names (classic pcap has one unnamed interface, read as can0)";
const LOSS_DIRECTION: &str = "direction (classic pcap has none)";
const LOSS_TIME: &str = "frames after 2106 (classic pcap time stamps are 32-bit seconds)";
const LOSS_FD_FLAG: &str = "CAN FD flag bit 0x8 (SocketCAN defines only BRS, ESI and FDF)";
const AFTER_FINISH: &str = "record written after finish";

/// Counts what [`encode_frame`] cannot carry.
fn count_frame_losses(losses: &mut Losses, frame: &Frame) {
    if let Frame::Fd(f) = frame
        && f.flags().bits() & 0x08 != 0
    {
        losses.add(LOSS_FD_FLAG, false);
    }
}

/// Writes the classic pcap format, link type 227, little-endian, nanosecond time stamps by
/// default. Frames of every interface go to the one interface the format has; interface
/// names other than `can0` and directions are counted as [`Loss`]es (the frames are written).
pub struct PcapWriter<W: Write> {
    inner: W,
    nanos: bool,
    started: bool,
    finished: bool,
    buf: Vec<u8>,
    losses: Losses,
}

impl<W: Write> PcapWriter<W> {
    /// A writer with nanosecond time stamps (magic `A1B23C4D`).
    pub fn new(inner: W) -> Self {
        PcapWriter {
            inner,
            nanos: true,
            started: false,
            finished: false,
            buf: Vec::with_capacity(FD_MTU + 16),
            losses: Losses::default(),
        }
    }

    /// Microsecond time stamps (magic `A1B2C3D4`, what tcpdump writes by default): the
    /// sub-microsecond part of each time is dropped.
    pub fn with_microseconds(mut self) -> Self {
        self.nanos = false;
        self
    }

    fn header(&mut self) -> io::Result<()> {
        if self.started {
            return Ok(());
        }
        let header = pcap_file::pcap::PcapHeader {
            version_major: 2,
            version_minor: 4,
            ts_correction: 0,
            ts_accuracy: 0,
            snaplen: SNAPLEN,
            datalink: DataLink::CAN_SOCKETCAN,
            ts_resolution: if self.nanos {
                TsResolution::NanoSecond
            } else {
                TsResolution::MicroSecond
            },
            endianness: Endianness::Little,
        };
        header.write_to(&mut self.inner).map_err(pcap_io)?;
        self.started = true;
        Ok(())
    }

    /// Writes one record.
    pub fn write_record(&mut self, record: &Record<'_>) -> io::Result<()> {
        if self.finished {
            return Err(io::Error::other(AFTER_FINISH));
        }
        self.header()?;
        let t = record.timestamp;
        let Ok(secs) = u32::try_from(t.secs()) else {
            self.losses.add(LOSS_TIME, true);
            return Ok(());
        };
        if record.interface != "can0" {
            self.losses.add(LOSS_NAME, false);
        }
        if record.direction.is_some() {
            self.losses.add(LOSS_DIRECTION, false);
        }
        let frac = if self.nanos {
            t.subsec_nanos()
        } else {
            t.subsec_micros()
        };
        count_frame_losses(&mut self.losses, &record.frame);
        encode_frame(&mut self.buf, &record.frame);
        let len = self.buf.len() as u32;
        // The 16-byte record header goes in front of the frame: one write per record.
        let mut head = [0u8; 16];
        for (slot, v) in head.chunks_exact_mut(4).zip([secs, frac, len, len]) {
            slot.copy_from_slice(&v.to_le_bytes());
        }
        self.buf.splice(0..0, head);
        self.inner.write_all(&self.buf)
    }

    /// The underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> FrameWriter for PcapWriter<W> {
    fn write_record(&mut self, record: &Record<'_>) -> io::Result<()> {
        PcapWriter::write_record(self, record)
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

/// The state of a [`PcapngWriter`]'s output.
enum NgSink<W: Write> {
    /// Nothing written yet.
    Unstarted(W),
    /// The section header is written.
    Open(PcapNgWriter<W>),
    /// Writing the section header failed; the writer is gone.
    Broken,
}

/// Writes pcapng: one little-endian section, one Interface Description Block per interface
/// name at its first appearance (link type 227, `if_name`, `if_tsresol` 9), an Enhanced
/// Packet Block per record with the direction in its flags. It loses only the CAN FD flag
/// bit 0x8, which SocketCAN does not define (counted).
pub struct PcapngWriter<W: Write> {
    sink: NgSink<W>,
    finished: bool,
    interfaces: Vec<String>,
    last: usize,
    frame: Vec<u8>,
    body: Vec<u8>,
    losses: Losses,
}

impl<W: Write> PcapngWriter<W> {
    /// A writer; the section header is written with the first record (or by `finish`).
    pub fn new(inner: W) -> Self {
        PcapngWriter {
            sink: NgSink::Unstarted(inner),
            finished: false,
            interfaces: Vec::new(),
            last: 0,
            frame: Vec::with_capacity(FD_MTU),
            body: Vec::with_capacity(128),
            losses: Losses::default(),
        }
    }

    /// The pcap-file writer, writing the section header first if needed.
    fn open(&mut self) -> io::Result<&mut PcapNgWriter<W>> {
        if let NgSink::Unstarted(_) = self.sink {
            let NgSink::Unstarted(inner) = std::mem::replace(&mut self.sink, NgSink::Broken) else {
                return Err(io::Error::other("pcapng writer state"));
            };
            let shb = SectionHeaderBlock {
                endianness: Endianness::Little,
                major_version: 1,
                minor_version: 0,
                section_length: -1,
                options: vec![SectionHeaderOption::UserApplication(Cow::Borrowed(
                    concat!("canrelearn ", env!("CARGO_PKG_VERSION")),
                ))],
            };
            self.sink =
                NgSink::Open(PcapNgWriter::with_section_header(inner, shb).map_err(pcap_io)?);
        }
        match &mut self.sink {
            NgSink::Open(w) => Ok(w),
            _ => Err(io::Error::other(
                "the pcapng section header could not be written",
            )),
        }
    }

    /// The interface id of `name`, writing its description block at its first appearance.
    fn interface(&mut self, name: &str) -> io::Result<u32> {
        if self.interfaces.get(self.last).is_some_and(|n| n == name) {
            return Ok(self.last as u32);
        }
        if let Some(i) = self.interfaces.iter().position(|n| n == name) {
            self.last = i;
            return Ok(i as u32);
        }
        let idb = InterfaceDescriptionBlock {
            linktype: DataLink::CAN_SOCKETCAN,
            snaplen: SNAPLEN,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Borrowed(name)),
                InterfaceDescriptionOption::IfTsResol(9),
            ],
        };
        self.open()?.write_pcapng_block(idb).map_err(pcap_io)?;
        self.interfaces.push(name.to_owned());
        self.last = self.interfaces.len() - 1;
        Ok(self.last as u32)
    }

    /// Writes one record.
    pub fn write_record(&mut self, record: &Record<'_>) -> io::Result<()> {
        if self.finished {
            return Err(io::Error::other(AFTER_FINISH));
        }
        self.open()?;
        let id = self.interface(record.interface)?;
        count_frame_losses(&mut self.losses, &record.frame);
        encode_frame(&mut self.frame, &record.frame);
        let units = record.timestamp.as_nanos();
        let b = &mut self.body;
        b.clear();
        b.extend_from_slice(&id.to_le_bytes());
        b.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(units as u32).to_le_bytes());
        let len = self.frame.len() as u32;
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&self.frame);
        b.resize(b.len().div_ceil(4) * 4, 0);
        if let Some(d) = record.direction {
            let flags: u32 = match d {
                Direction::Rx => 1,
                Direction::Tx => 2,
            };
            b.extend_from_slice(&2u16.to_le_bytes());
            b.extend_from_slice(&4u16.to_le_bytes());
            b.extend_from_slice(&flags.to_le_bytes());
            b.extend_from_slice(&[0; 4]);
        }
        let total = b.len() as u32 + 12;
        let block = RawBlock {
            type_: EPB,
            initial_len: total,
            body: Cow::Borrowed(b.as_slice()),
            trailer_len: total,
        };
        match &mut self.sink {
            NgSink::Open(w) => w.write_raw_block(&block).map(drop).map_err(pcap_io),
            _ => Err(io::Error::other("pcapng writer is not open")),
        }
    }

    /// The underlying writer (not flushed); `None` if writing the section header failed.
    pub fn into_inner(self) -> Option<W> {
        match self.sink {
            NgSink::Unstarted(w) => Some(w),
            NgSink::Open(w) => Some(w.into_inner()),
            NgSink::Broken => None,
        }
    }
}

impl<W: Write> FrameWriter for PcapngWriter<W> {
    fn write_record(&mut self, record: &Record<'_>) -> io::Result<()> {
        PcapngWriter::write_record(self, record)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.open()?.get_mut().flush()
    }

    fn finish(&mut self) -> io::Result<()> {
        let w = self.open()?;
        w.get_mut().flush()?;
        self.finished = true;
        Ok(())
    }

    fn losses(&self) -> &[Loss] {
        self.losses.list()
    }
}

fn pcap_io(e: pcap_file::PcapError) -> io::Error {
    match e {
        pcap_file::PcapError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

#[cfg(test)]
mod tests;
