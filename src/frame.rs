//! The CAN frame model: identifiers, classic, CAN FD, remote and error frames.
//!
//! ISO 11898-1 frames as Linux SocketCAN presents them (`include/uapi/linux/can.h`,
//! `can/error.h`), in our own types: every frame keeps its data inline (no heap), every
//! constructor validates what it is given, and nothing here can panic on input. Conversion to
//! and from the `socketcan` crate's types happens only at the SocketCAN edge of the bus layer.

use core::fmt;

/// An 11-bit standard or 29-bit extended CAN identifier.
///
/// Stored as the raw id with bit 31 set for extended ids (the same convention as a DBC file's
/// message id), so a standard id `0x123` and an extended id `0x123` are different values.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(u32);

/// The largest standard (11-bit) id.
pub const MAX_STANDARD_ID: u32 = 0x7FF;
/// The largest extended (29-bit) id.
pub const MAX_EXTENDED_ID: u32 = 0x1FFF_FFFF;
const EXTENDED_FLAG: u32 = 1 << 31;

impl Id {
    /// A standard id; `None` above `0x7FF`.
    pub const fn standard(id: u16) -> Option<Id> {
        if id as u32 <= MAX_STANDARD_ID {
            Some(Id(id as u32))
        } else {
            None
        }
    }

    /// An extended id; `None` above `0x1FFFFFFF`.
    pub const fn extended(id: u32) -> Option<Id> {
        if id <= MAX_EXTENDED_ID {
            Some(Id(id | EXTENDED_FLAG))
        } else {
            None
        }
    }

    /// A standard or extended id from its raw value.
    pub const fn new(raw: u32, extended: bool) -> Option<Id> {
        if extended {
            Id::extended(raw)
        } else if raw <= MAX_STANDARD_ID {
            Some(Id(raw))
        } else {
            None
        }
    }

    /// An id from a DBC message id: bit 31 set means extended (the Vector convention).
    pub const fn from_dbc(dbc_id: u32) -> Option<Id> {
        if dbc_id & EXTENDED_FLAG != 0 {
            Id::extended(dbc_id & !EXTENDED_FLAG)
        } else {
            Id::new(dbc_id, false)
        }
    }

    /// The id without the extended flag.
    pub const fn raw(self) -> u32 {
        self.0 & !EXTENDED_FLAG
    }

    /// Whether this is a 29-bit id.
    pub const fn is_extended(self) -> bool {
        self.0 & EXTENDED_FLAG != 0
    }

    /// The id in the DBC convention (bit 31 set for extended ids).
    pub const fn to_dbc(self) -> u32 {
        self.0
    }
}

impl Id {
    /// A CAN id written in hex, as people type it: `0x745`, `745`, `18DAF110`. 29-bit when
    /// `extended` or when written with 8 digits; 11-bit otherwise.
    ///
    /// ```
    /// use canrelearn::frame::Id;
    /// assert_eq!(Id::parse_hex("0x745", false), Ok(Id::standard(0x745).unwrap()));
    /// assert!(Id::parse_hex("18DAF110", false).unwrap().is_extended());
    /// assert!(Id::parse_hex("800", false).is_err());
    /// ```
    pub fn parse_hex(text: &str, extended: bool) -> Result<Id, IdParseError> {
        let digits = text
            .strip_prefix("0x")
            .or_else(|| text.strip_prefix("0X"))
            .unwrap_or(text);
        let raw =
            u32::from_str_radix(digits, 16).map_err(|_| IdParseError::NotHex(text.to_string()))?;
        if extended || digits.len() == 8 {
            Id::extended(raw).ok_or_else(|| IdParseError::Extended(text.to_string()))
        } else {
            u16::try_from(raw)
                .ok()
                .and_then(Id::standard)
                .ok_or_else(|| IdParseError::Standard(text.to_string()))
        }
    }
}

/// Why [`Id::parse_hex`] refused a text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdParseError {
    #[error("`{0}` is not a hexadecimal CAN id (like 0x745 or 745)")]
    NotHex(String),
    #[error(
        "CAN id `{0}` is out of range (29-bit ids go up to 1FFFFFFF; use --extended or 8 digits for 29-bit ids)"
    )]
    Extended(String),
    #[error(
        "CAN id `{0}` is out of range (11-bit ids go up to 7FF; use --extended or 8 digits for 29-bit ids)"
    )]
    Standard(String),
}

/// As candump writes it: 3 upper-case hex digits for standard ids, 8 for extended ids.
impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_extended() {
            write!(f, "{:08X}", self.raw())
        } else {
            write!(f, "{:03X}", self.raw())
        }
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_extended() {
            write!(f, "Id(0x{:08X}x)", self.raw())
        } else {
            write!(f, "Id(0x{:03X})", self.raw())
        }
    }
}

/// Why a frame could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("a classic CAN frame carries at most 8 bytes, not {0}")]
    ClassicTooLong(usize),
    #[error("{0} is not a CAN FD length (0-8, 12, 16, 20, 24, 32, 48 or 64)")]
    InvalidFdLength(usize),
    #[error("a raw DLC of {0} is only valid for an 8-byte frame and must be 9 to 15")]
    InvalidRawDlc(u8),
    #[error("a remote frame requests at most 8 bytes, not {0}")]
    RemoteTooLong(u8),
    #[error("CAN FD flags are a 4-bit mask, not 0x{0:X}")]
    InvalidFdFlags(u8),
    #[error("error class 0x{0:08X} does not fit in 29 bits")]
    InvalidErrorClass(u32),
}

/// A classic CAN data frame: 0 to 8 bytes, optionally with a raw DLC of 9 to 15 for an
/// 8-byte frame (Linux `len8_dlc`).
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct ClassicFrame {
    id: Id,
    len: u8,
    /// 0 when the DLC equals the length, otherwise 9..=15.
    raw_dlc: u8,
    data: [u8; 8],
}

impl ClassicFrame {
    /// A classic frame carrying `data` (at most 8 bytes).
    pub fn new(id: Id, data: &[u8]) -> Result<Self, FrameError> {
        if data.len() > 8 {
            return Err(FrameError::ClassicTooLong(data.len()));
        }
        let mut buf = [0u8; 8];
        buf[..data.len()].copy_from_slice(data);
        Ok(ClassicFrame {
            id,
            len: data.len() as u8,
            raw_dlc: 0,
            data: buf,
        })
    }

    /// An 8-byte frame sent with a raw DLC of 9 to 15.
    pub fn with_raw_dlc(id: Id, data: [u8; 8], raw_dlc: u8) -> Result<Self, FrameError> {
        if !(9..=15).contains(&raw_dlc) {
            return Err(FrameError::InvalidRawDlc(raw_dlc));
        }
        Ok(ClassicFrame {
            id,
            len: 8,
            raw_dlc,
            data,
        })
    }

    pub fn id(&self) -> Id {
        self.id
    }

    pub fn data(&self) -> &[u8] {
        &self.data[..usize::from(self.len)]
    }

    /// The raw DLC when it differs from the length (9 to 15), else `None`.
    pub fn raw_dlc(&self) -> Option<u8> {
        (self.raw_dlc != 0).then_some(self.raw_dlc)
    }

    /// The DLC on the wire: the raw DLC if set, else the length.
    pub fn dlc(&self) -> u8 {
        if self.raw_dlc != 0 {
            self.raw_dlc
        } else {
            self.len
        }
    }
}

/// The CAN FD flags as candump writes them after `##`: a 4-bit mask.
#[derive(Copy, Clone, Default, PartialEq, Eq, Hash, Debug)]
pub struct FdFlags(u8);

impl FdFlags {
    /// Bit rate switch: the data phase ran at the higher bit rate.
    pub const BRS: u8 = 0x01;
    /// Error state indicator: the sender was error passive.
    pub const ESI: u8 = 0x02;
    /// FD format: set by Linux since 6.x and written by can-utils since 2025.01.
    pub const FDF: u8 = 0x04;

    /// Flags from a 4-bit mask; `None` above `0xF`.
    pub const fn from_bits(bits: u8) -> Option<FdFlags> {
        if bits <= 0xF {
            Some(FdFlags(bits))
        } else {
            None
        }
    }

    /// The flags of a CAN FD frame (FDF set) with the given BRS and ESI.
    pub const fn fd(brs: bool, esi: bool) -> FdFlags {
        let mut bits = Self::FDF;
        if brs {
            bits |= Self::BRS;
        }
        if esi {
            bits |= Self::ESI;
        }
        FdFlags(bits)
    }

    pub const fn bits(self) -> u8 {
        self.0
    }
    pub const fn brs(self) -> bool {
        self.0 & Self::BRS != 0
    }
    pub const fn esi(self) -> bool {
        self.0 & Self::ESI != 0
    }
    pub const fn fdf(self) -> bool {
        self.0 & Self::FDF != 0
    }
}

/// The valid CAN FD payload lengths, indexed by DLC.
pub const FD_LENGTHS: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64];

/// The DLC for a CAN FD length, or `None` if the length is not one a frame can carry.
pub fn fd_len_to_dlc(len: usize) -> Option<u8> {
    FD_LENGTHS
        .iter()
        .position(|&l| usize::from(l) == len)
        .map(|p| p as u8)
}

/// The smallest valid CAN FD length that holds `len` bytes, or `None` above 64.
pub fn fd_round_up_len(len: usize) -> Option<usize> {
    FD_LENGTHS
        .iter()
        .map(|&l| usize::from(l))
        .find(|&l| l >= len)
}

/// A CAN FD data frame: 0 to 64 bytes in one of the valid lengths.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct FdFrame {
    id: Id,
    len: u8,
    flags: FdFlags,
    data: [u8; 64],
}

impl FdFrame {
    /// An FD frame carrying `data`, whose length must be a valid CAN FD length.
    pub fn new(id: Id, data: &[u8], flags: FdFlags) -> Result<Self, FrameError> {
        if fd_len_to_dlc(data.len()).is_none() {
            return Err(FrameError::InvalidFdLength(data.len()));
        }
        let mut buf = [0u8; 64];
        buf[..data.len()].copy_from_slice(data);
        Ok(FdFrame {
            id,
            len: data.len() as u8,
            flags,
            data: buf,
        })
    }

    pub fn id(&self) -> Id {
        self.id
    }
    pub fn data(&self) -> &[u8] {
        &self.data[..usize::from(self.len)]
    }
    pub fn flags(&self) -> FdFlags {
        self.flags
    }
    /// The DLC on the wire (0 to 15).
    pub fn dlc(&self) -> u8 {
        fd_len_to_dlc(usize::from(self.len)).unwrap_or(15)
    }
}

/// A classic remote (RTR) frame requesting `len` bytes, optionally with a raw DLC of 9 to 15.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct RemoteFrame {
    id: Id,
    len: u8,
    raw_dlc: u8,
}

impl RemoteFrame {
    /// A remote frame requesting `len` (0 to 8) bytes.
    pub fn new(id: Id, len: u8) -> Result<Self, FrameError> {
        if len > 8 {
            return Err(FrameError::RemoteTooLong(len));
        }
        Ok(RemoteFrame {
            id,
            len,
            raw_dlc: 0,
        })
    }

    /// A remote frame for 8 bytes with a raw DLC of 9 to 15 (`#R8_9` in a candump log).
    pub fn with_raw_dlc(id: Id, raw_dlc: u8) -> Result<Self, FrameError> {
        if !(9..=15).contains(&raw_dlc) {
            return Err(FrameError::InvalidRawDlc(raw_dlc));
        }
        Ok(RemoteFrame {
            id,
            len: 8,
            raw_dlc,
        })
    }

    pub fn id(&self) -> Id {
        self.id
    }
    /// The number of bytes requested.
    pub fn len(&self) -> u8 {
        self.len
    }
    /// Whether the frame requests no data.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn raw_dlc(&self) -> Option<u8> {
        (self.raw_dlc != 0).then_some(self.raw_dlc)
    }
    pub fn dlc(&self) -> u8 {
        if self.raw_dlc != 0 {
            self.raw_dlc
        } else {
            self.len
        }
    }
}

/// One class bit of a SocketCAN error frame (`CAN_ERR_*` in `linux/can/error.h`).
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct ErrorClass {
    pub bit: u32,
    pub name: &'static str,
    pub description: &'static str,
}

/// The error classes Linux defines, in bit order.
pub const ERROR_CLASSES: [ErrorClass; 10] = [
    ErrorClass {
        bit: 0x001,
        name: "tx-timeout",
        description: "TX timeout (by netdevice driver)",
    },
    ErrorClass {
        bit: 0x002,
        name: "lost-arbitration",
        description: "lost arbitration (bit number in data[0])",
    },
    ErrorClass {
        bit: 0x004,
        name: "controller",
        description: "controller problems (details in data[1])",
    },
    ErrorClass {
        bit: 0x008,
        name: "protocol",
        description: "protocol violation (type in data[2], location in data[3])",
    },
    ErrorClass {
        bit: 0x010,
        name: "transceiver",
        description: "transceiver status (details in data[4])",
    },
    ErrorClass {
        bit: 0x020,
        name: "no-ack",
        description: "received no ACK on transmission",
    },
    ErrorClass {
        bit: 0x040,
        name: "bus-off",
        description: "bus off",
    },
    ErrorClass {
        bit: 0x080,
        name: "bus-error",
        description: "bus error (may flood)",
    },
    ErrorClass {
        bit: 0x100,
        name: "restarted",
        description: "controller restarted",
    },
    ErrorClass {
        bit: 0x200,
        name: "counters",
        description: "TX/RX error counters in data[6]/data[7]",
    },
];

/// A SocketCAN error frame: the class bits (from the CAN id) and eight detail bytes.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct ErrorFrame {
    class: u32,
    data: [u8; 8],
}

/// The `CAN_ERR_FLAG` bit of a SocketCAN `can_id`, also set in a candump log's 8-digit id.
pub const CAN_ERR_FLAG: u32 = 0x2000_0000;

impl ErrorFrame {
    /// An error frame with the given class mask (29 bits) and details.
    pub fn new(class: u32, data: [u8; 8]) -> Result<Self, FrameError> {
        if class > MAX_EXTENDED_ID {
            return Err(FrameError::InvalidErrorClass(class));
        }
        Ok(ErrorFrame { class, data })
    }

    /// The class mask (`can_id & CAN_ERR_MASK`).
    pub fn class(&self) -> u32 {
        self.class
    }

    /// The eight detail bytes.
    pub fn data(&self) -> &[u8; 8] {
        &self.data
    }

    /// The known classes set in the mask, in bit order.
    pub fn classes(&self) -> impl Iterator<Item = &'static ErrorClass> + '_ {
        ERROR_CLASSES.iter().filter(|c| self.class & c.bit != 0)
    }

    /// Whether the controller reports bus-off.
    pub fn is_bus_off(&self) -> bool {
        self.class & 0x040 != 0
    }
}

/// Any frame SocketCAN can deliver.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub enum Frame {
    Classic(ClassicFrame),
    Fd(FdFrame),
    Remote(RemoteFrame),
    Error(ErrorFrame),
}

impl Frame {
    /// The identifier; `None` for error frames, which have none.
    pub fn id(&self) -> Option<Id> {
        match self {
            Frame::Classic(f) => Some(f.id()),
            Frame::Fd(f) => Some(f.id()),
            Frame::Remote(f) => Some(f.id()),
            Frame::Error(_) => None,
        }
    }

    /// The payload: empty for remote frames, the eight detail bytes for error frames.
    pub fn data(&self) -> &[u8] {
        match self {
            Frame::Classic(f) => f.data(),
            Frame::Fd(f) => f.data(),
            Frame::Remote(_) => &[],
            Frame::Error(f) => f.data(),
        }
    }

    /// The payload of a data frame (classic or FD), `None` for remote and error frames.
    pub fn payload(&self) -> Option<&[u8]> {
        match self {
            Frame::Classic(f) => Some(f.data()),
            Frame::Fd(f) => Some(f.data()),
            _ => None,
        }
    }

    pub fn is_fd(&self) -> bool {
        matches!(self, Frame::Fd(_))
    }
    pub fn is_remote(&self) -> bool {
        matches!(self, Frame::Remote(_))
    }
    pub fn is_error(&self) -> bool {
        matches!(self, Frame::Error(_))
    }

    /// A classic data frame; `Err` when `data` is longer than 8 bytes.
    pub fn classic(id: Id, data: &[u8]) -> Result<Frame, FrameError> {
        ClassicFrame::new(id, data).map(Frame::Classic)
    }

    /// A CAN FD data frame with the FDF flag set (what Linux delivers).
    pub fn fd(id: Id, data: &[u8], brs: bool) -> Result<Frame, FrameError> {
        let bits = FdFlags::FDF | if brs { FdFlags::BRS } else { 0 };
        FdFrame::new(id, data, FdFlags(bits)).map(Frame::Fd)
    }
}

impl From<ClassicFrame> for Frame {
    fn from(f: ClassicFrame) -> Self {
        Frame::Classic(f)
    }
}
impl From<FdFrame> for Frame {
    fn from(f: FdFrame) -> Self {
        Frame::Fd(f)
    }
}
impl From<RemoteFrame> for Frame {
    fn from(f: RemoteFrame) -> Self {
        Frame::Remote(f)
    }
}
impl From<ErrorFrame> for Frame {
    fn from(f: ErrorFrame) -> Self {
        Frame::Error(f)
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, data: &[u8]) -> fmt::Result {
    for b in data {
        write!(f, "{b:02X}")?;
    }
    Ok(())
}

/// The candump frame syntax (`123#DEADBEEF`, `123##1AABB`, `123#R`, `20000004#...`).
impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Frame::Classic(c) => {
                write!(f, "{}#", c.id())?;
                write_hex(f, c.data())?;
                if let Some(d) = c.raw_dlc() {
                    write!(f, "_{d:X}")?;
                }
                Ok(())
            }
            Frame::Fd(c) => {
                write!(f, "{}##{:X}", c.id(), c.flags().bits())?;
                write_hex(f, c.data())
            }
            Frame::Remote(r) => {
                write!(f, "{}#R", r.id())?;
                if !r.is_empty() {
                    write!(f, "{}", r.len())?;
                }
                if let Some(d) = r.raw_dlc() {
                    write!(f, "_{d:X}")?;
                }
                Ok(())
            }
            Frame::Error(e) => {
                write!(f, "{:08X}#", e.class() | CAN_ERR_FLAG)?;
                write_hex(f, e.data())
            }
        }
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Frame({self})")
    }
}
impl fmt::Debug for ClassicFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Frame::Classic(*self), f)
    }
}
impl fmt::Debug for FdFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Frame::Fd(*self), f)
    }
}
impl fmt::Debug for RemoteFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Frame::Remote(*self), f)
    }
}
impl fmt::Debug for ErrorFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Frame::Error(*self), f)
    }
}

// ---------------------------------------------------------------------------------------------
// embedded-can: the embedded Rust ecosystem's frame and id traits

impl From<Id> for embedded_can::Id {
    fn from(id: Id) -> Self {
        // Both constructors accept every id ours can hold.
        if id.is_extended() {
            embedded_can::ExtendedId::new(id.raw()).map_or(
                embedded_can::Id::Extended(embedded_can::ExtendedId::ZERO),
                Into::into,
            )
        } else {
            embedded_can::StandardId::new(id.raw() as u16).map_or(
                embedded_can::Id::Standard(embedded_can::StandardId::ZERO),
                Into::into,
            )
        }
    }
}

impl From<embedded_can::StandardId> for Id {
    fn from(id: embedded_can::StandardId) -> Self {
        Id(u32::from(id.as_raw()))
    }
}

impl From<embedded_can::ExtendedId> for Id {
    fn from(id: embedded_can::ExtendedId) -> Self {
        Id(id.as_raw() | EXTENDED_FLAG)
    }
}

impl From<embedded_can::Id> for Id {
    fn from(id: embedded_can::Id) -> Self {
        match id {
            embedded_can::Id::Standard(s) => Id(u32::from(s.as_raw())),
            embedded_can::Id::Extended(e) => Id(e.as_raw() | EXTENDED_FLAG),
        }
    }
}

/// A classic data frame as an [`embedded_can::Frame`], so that code written for embedded CAN
/// drivers takes it. A remote request is a [`Frame::Remote`]: `new_remote` gives `None` here
/// (use [`Frame`], which implements the trait for every kind).
impl embedded_can::Frame for ClassicFrame {
    fn new(id: impl Into<embedded_can::Id>, data: &[u8]) -> Option<Self> {
        ClassicFrame::new(Id::from(id.into()), data).ok()
    }
    fn new_remote(_id: impl Into<embedded_can::Id>, _dlc: usize) -> Option<Self> {
        None
    }
    fn is_extended(&self) -> bool {
        self.id.is_extended()
    }
    fn is_remote_frame(&self) -> bool {
        false
    }
    fn id(&self) -> embedded_can::Id {
        self.id.into()
    }
    /// The DLC as sent: a raw DLC of 9..=15 when the frame carries one.
    fn dlc(&self) -> usize {
        usize::from(ClassicFrame::dlc(self))
    }
    fn data(&self) -> &[u8] {
        ClassicFrame::data(self)
    }
}

/// Any frame as an [`embedded_can::Frame`], as the socketcan crate does for its `CanAnyFrame`:
/// `new` makes a classic frame up to 8 bytes and a CAN FD frame (FDF set) for a valid FD
/// length above; `new_remote` a remote request. An error frame's `id` is its error class
/// (the SocketCAN convention), as an extended id; its data is the 8 bytes of details.
impl embedded_can::Frame for Frame {
    fn new(id: impl Into<embedded_can::Id>, data: &[u8]) -> Option<Self> {
        let id = Id::from(id.into());
        if data.len() <= 8 {
            ClassicFrame::new(id, data).ok().map(Frame::Classic)
        } else {
            let flags = FdFlags::from_bits(FdFlags::FDF)?;
            FdFrame::new(id, data, flags).ok().map(Frame::Fd)
        }
    }
    fn new_remote(id: impl Into<embedded_can::Id>, dlc: usize) -> Option<Self> {
        let len = u8::try_from(dlc).ok()?;
        RemoteFrame::new(Id::from(id.into()), len)
            .ok()
            .map(Frame::Remote)
    }
    fn is_extended(&self) -> bool {
        match self.id() {
            Some(id) => id.is_extended(),
            None => true,
        }
    }
    fn is_remote_frame(&self) -> bool {
        self.is_remote()
    }
    fn id(&self) -> embedded_can::Id {
        match self {
            Frame::Error(e) => Id(e.class() & MAX_EXTENDED_ID | EXTENDED_FLAG).into(),
            other => other.id().map_or(
                embedded_can::Id::Standard(embedded_can::StandardId::ZERO),
                Into::into,
            ),
        }
    }
    fn dlc(&self) -> usize {
        usize::from(match self {
            Frame::Classic(c) => c.dlc(),
            Frame::Fd(f) => f.dlc(),
            Frame::Remote(r) => r.dlc(),
            Frame::Error(_) => 8,
        })
    }
    fn data(&self) -> &[u8] {
        Frame::data(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_hex_id_forms() {
        let std = |r| Id::standard(r).unwrap();
        let ext = |r| Id::extended(r).unwrap();
        assert_eq!(Id::parse_hex("0x745", false), Ok(std(0x745)));
        assert_eq!(Id::parse_hex("0X745", false), Ok(std(0x745)));
        assert_eq!(Id::parse_hex("745", false), Ok(std(0x745)));
        assert_eq!(Id::parse_hex("18DAF110", false), Ok(ext(0x18DA_F110)));
        assert_eq!(Id::parse_hex("745", true), Ok(ext(0x745)));
        assert_eq!(Id::parse_hex("00000745", false), Ok(ext(0x745)));
        assert!(matches!(
            Id::parse_hex("800", false),
            Err(IdParseError::Standard(_))
        ));
        assert!(matches!(
            Id::parse_hex("", false),
            Err(IdParseError::NotHex(_))
        ));
        assert!(matches!(
            Id::parse_hex("7g5", false),
            Err(IdParseError::NotHex(_))
        ));
        assert!(matches!(
            Id::parse_hex("3FFFFFFF", false),
            Err(IdParseError::Extended(_))
        ));
        assert_eq!(
            Id::parse_hex("800", false).unwrap_err().to_string(),
            "CAN id `800` is out of range (11-bit ids go up to 7FF; use --extended or 8 digits for 29-bit ids)"
        );
    }

    /// Code written for embedded-can drivers, generic over the frame type.
    fn generic_summary<F: embedded_can::Frame>(f: &F) -> (bool, bool, usize, Vec<u8>) {
        (
            f.is_extended(),
            f.is_remote_frame(),
            f.dlc(),
            f.data().to_vec(),
        )
    }

    #[test]
    fn test_embedded_can_frame_for_classic_and_any_frame() {
        use embedded_can::Frame as _;
        let id = embedded_can::ExtendedId::new(0x18DA_F110).unwrap();
        let c = <ClassicFrame as embedded_can::Frame>::new(id, &[1, 2, 3]).unwrap();
        assert_eq!(generic_summary(&c), (true, false, 3, vec![1, 2, 3]));
        assert_eq!(c.id(), Id::extended(0x18DA_F110).unwrap());
        assert!(<ClassicFrame as embedded_can::Frame>::new_remote(id, 2).is_none());
        assert!(<ClassicFrame as embedded_can::Frame>::new(id, &[0; 9]).is_none());
        // A raw DLC is what the trait's dlc() reports.
        let raw = ClassicFrame::with_raw_dlc(Id::standard(0x123).unwrap(), [0; 8], 12).unwrap();
        assert_eq!(embedded_can::Frame::dlc(&raw), 12);
        let any = <Frame as embedded_can::Frame>::new(id, &[0xAA; 12]).unwrap();
        assert!(any.is_fd());
        assert_eq!(generic_summary(&any).2, 9);
        let remote = <Frame as embedded_can::Frame>::new_remote(
            embedded_can::StandardId::new(0x7DF).unwrap(),
            8,
        )
        .unwrap();
        assert_eq!(generic_summary(&remote), (false, true, 8, vec![]));
        assert!(<Frame as embedded_can::Frame>::new(id, &[0; 13]).is_none());
        // An error frame's id is its class, as SocketCAN and the socketcan crate put it.
        let e = Frame::Error(ErrorFrame::new(0x40, [0; 8]).unwrap());
        assert_eq!(
            embedded_can::Frame::id(&e),
            embedded_can::Id::from(embedded_can::ExtendedId::new(0x40).unwrap())
        );
        let _ = c.is_standard();
    }

    proptest::proptest! {
        #[test]
        fn test_embedded_can_id_round_trip(raw in 0u32..=MAX_EXTENDED_ID, extended in proptest::prelude::any::<bool>()) {
            let id = if extended { Id::extended(raw) } else { Id::standard((raw & MAX_STANDARD_ID) as u16) }.unwrap();
            let theirs: embedded_can::Id = id.into();
            proptest::prop_assert_eq!(Id::from(theirs), id);
        }
    }

    fn sid(raw: u16) -> Id {
        Id::standard(raw).unwrap()
    }

    #[test]
    fn test_id_ranges_and_flags() {
        assert!(Id::standard(0x7FF).is_some());
        assert!(Id::standard(0x800).is_none());
        assert!(Id::extended(0x1FFF_FFFF).is_some());
        assert!(Id::extended(0x2000_0000).is_none());
        let e = Id::extended(0x123).unwrap();
        assert_ne!(e, sid(0x123));
        assert_eq!(e.raw(), 0x123);
        assert!(e.is_extended());
        assert_eq!(e.to_dbc(), 0x8000_0123);
        assert_eq!(Id::from_dbc(0x8000_0123), Some(e));
        assert_eq!(Id::from_dbc(0x60D), Some(sid(0x60D)));
        assert_eq!(Id::from_dbc(0x800), None);
        assert_eq!(e.to_string(), "00000123");
        assert_eq!(sid(0x60D).to_string(), "60D");
    }

    #[test]
    fn test_classic_lengths_and_raw_dlc() {
        assert_eq!(
            ClassicFrame::new(sid(1), &[0; 9]),
            Err(FrameError::ClassicTooLong(9))
        );
        let f = ClassicFrame::with_raw_dlc(sid(1), [1; 8], 9).unwrap();
        assert_eq!(f.dlc(), 9);
        assert_eq!(f.raw_dlc(), Some(9));
        assert_eq!(
            ClassicFrame::with_raw_dlc(sid(1), [1; 8], 8),
            Err(FrameError::InvalidRawDlc(8))
        );
        assert_eq!(
            Frame::Classic(f).to_string(),
            "001#0101010101010101_9",
            "raw DLC is written as candump does"
        );
    }

    #[test]
    fn test_fd_lengths() {
        for len in 0..=64 {
            let ok = FdFrame::new(sid(1), &vec![0; len], FdFlags::default()).is_ok();
            assert_eq!(ok, FD_LENGTHS.contains(&(len as u8)), "length {len}");
        }
        assert_eq!(fd_round_up_len(9), Some(12));
        assert_eq!(fd_round_up_len(65), None);
        let f = Frame::fd(sid(0x123), &[0xAB; 12], true).unwrap();
        assert_eq!(f.to_string(), "123##5ABABABABABABABABABABABAB");
        if let Frame::Fd(fd) = f {
            assert_eq!(fd.dlc(), 9);
            assert!(fd.flags().brs() && fd.flags().fdf() && !fd.flags().esi());
        }
    }

    #[test]
    fn test_remote_frames() {
        assert_eq!(
            Frame::Remote(RemoteFrame::new(sid(0x123), 0).unwrap()).to_string(),
            "123#R"
        );
        assert_eq!(
            Frame::Remote(RemoteFrame::new(sid(0x123), 5).unwrap()).to_string(),
            "123#R5"
        );
        assert_eq!(
            Frame::Remote(RemoteFrame::with_raw_dlc(sid(0x123), 9).unwrap()).to_string(),
            "123#R8_9"
        );
        assert!(RemoteFrame::new(sid(1), 9).is_err());
    }

    #[test]
    fn test_error_frame_classes() {
        let e = ErrorFrame::new(0x0000_0044, [0, 0x04, 0, 0, 0, 0, 0, 0]).unwrap();
        let names: Vec<_> = e.classes().map(|c| c.name).collect();
        assert_eq!(names, ["controller", "bus-off"]);
        assert!(e.is_bus_off());
        assert_eq!(Frame::Error(e).to_string(), "20000044#0004000000000000");
        assert!(Frame::Error(e).id().is_none());
        assert!(ErrorFrame::new(0x2000_0000, [0; 8]).is_err());
    }

    #[test]
    fn test_frame_is_small_and_copy() {
        // Inline data, no heap: an FD frame's 64 bytes plus a small header.
        assert!(core::mem::size_of::<Frame>() <= 80);
    }
}

/// proptest strategies for frames, shared by the crate's unit tests.
#[cfg(test)]
pub(crate) mod arb {
    use super::*;
    use proptest::prelude::*;

    /// Any standard or extended id.
    pub fn id() -> impl Strategy<Value = Id> {
        prop_oneof![
            (0u16..=0x7FF).prop_map(|r| Id::standard(r).unwrap()),
            (0u32..=0x1FFF_FFFF).prop_map(|r| Id::extended(r).unwrap()),
        ]
    }

    /// Any frame: classic (with raw DLCs), remote (with raw DLCs), CAN FD of every length and
    /// flag mask, error frames.
    pub fn frame() -> impl Strategy<Value = Frame> {
        prop_oneof![
            (id(), proptest::collection::vec(any::<u8>(), 0..=8))
                .prop_map(|(id, d)| Frame::classic(id, &d).unwrap()),
            (id(), any::<[u8; 8]>(), 9u8..=15).prop_map(|(id, d, dlc)| Frame::Classic(
                ClassicFrame::with_raw_dlc(id, d, dlc).unwrap()
            )),
            (id(), 0u8..=8).prop_map(|(id, l)| Frame::Remote(RemoteFrame::new(id, l).unwrap())),
            (id(), 9u8..=15)
                .prop_map(|(id, d)| Frame::Remote(RemoteFrame::with_raw_dlc(id, d).unwrap())),
            (
                id(),
                proptest::sample::select(FD_LENGTHS.to_vec()),
                any::<[u8; 64]>(),
                0u8..=15
            )
                .prop_map(|(id, len, d, flags)| Frame::Fd(
                    FdFrame::new(
                        id,
                        &d[..usize::from(len)],
                        FdFlags::from_bits(flags).unwrap()
                    )
                    .unwrap()
                )),
            (0u32..=0x1FFF_FFFF, any::<[u8; 8]>())
                .prop_map(|(c, d)| Frame::Error(ErrorFrame::new(c, d).unwrap())),
        ]
    }
}
