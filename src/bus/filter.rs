//! Receive filters with the Linux CAN_RAW id/mask semantics (`linux/can.h`, `struct can_filter`,
//! `net/can/af_can.c`), written as candump writes them.
//!
//! A filter is a kernel `can_id`/`can_mask` pair: a frame matches when
//! `frame_can_id & mask == id & mask`, or `!=` for an inverted filter (`ID~MASK`). The frame's
//! `can_id` carries the extended flag (bit 31) and the remote flag (bit 30), so a mask that
//! includes those bits also selects on the frame format. A list of filters is an OR; an empty
//! list accepts everything. Error frames are not subject to id filters (SocketCAN selects them
//! with a separate error mask).
//!
//! Text form (`--filter`), as candump: `ID:MASK` or `ID~MASK` in hex, where an ID of 8 hex
//! digits is an extended id; a bare `ID` (extension) matches exactly that standard or extended
//! id, data or remote, and an `x` suffix (`123x`) marks an extended id of any length.
//! This module is pure: the SocketCAN bus hands the pairs to the kernel, the virtual bus and the
//! log source apply [`Filter::matches`] themselves.

use core::fmt;
use core::str::FromStr;

use crate::frame::{Frame, MAX_EXTENDED_ID, MAX_STANDARD_ID};

/// `CAN_EFF_FLAG`: the extended-format bit of a kernel `can_id`.
pub(crate) const CAN_EFF_FLAG: u32 = 0x8000_0000;
/// `CAN_RTR_FLAG`: the remote-frame bit of a kernel `can_id`.
pub(crate) const CAN_RTR_FLAG: u32 = 0x4000_0000;
/// `CAN_ERR_FLAG`: the error-frame bit of a kernel `can_id`.
const CAN_ERR_FLAG: u32 = 0x2000_0000;

/// One receive filter: a kernel `can_id`/`can_mask` pair, possibly inverted.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Filter {
    id: u32,
    mask: u32,
    inverted: bool,
}

/// Why a `--filter` value could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterParseError {
    /// The id or mask is not hexadecimal (or is empty or too long).
    #[error("filter `{text}`: `{part}` is not a hexadecimal {what}")]
    NotHex {
        /// The whole filter text.
        text: String,
        /// The offending part.
        part: String,
        /// `id` or `mask`.
        what: &'static str,
    },
    /// The id does not fit in 11 (standard) or 29 (extended) bits.
    #[error("filter `{text}`: id 0x{id:X} is out of range for a {kind} id")]
    IdOutOfRange {
        /// The whole filter text.
        text: String,
        /// The id.
        id: u32,
        /// `standard` or `extended`.
        kind: &'static str,
    },
}

impl Filter {
    /// A filter from a raw kernel `can_id` (with `CAN_EFF_FLAG`/`CAN_RTR_FLAG` as needed)
    /// and `can_mask`. The error-frame bit is cleared from both, as candump does.
    pub const fn new(id: u32, mask: u32) -> Filter {
        Filter {
            id: id & !CAN_ERR_FLAG,
            mask: mask & !CAN_ERR_FLAG,
            inverted: false,
        }
    }

    /// A filter matching the frames that `Filter::new(id, mask)` does not match.
    pub const fn new_inverted(id: u32, mask: u32) -> Filter {
        Filter {
            id: id & !CAN_ERR_FLAG,
            mask: mask & !CAN_ERR_FLAG,
            inverted: true,
        }
    }

    /// A filter matching exactly one id (data and remote frames, standard or extended as `id` is).
    pub const fn exact(id: crate::frame::Id) -> Filter {
        if id.is_extended() {
            Filter::new(id.raw() | CAN_EFF_FLAG, MAX_EXTENDED_ID | CAN_EFF_FLAG)
        } else {
            Filter::new(id.raw(), MAX_STANDARD_ID | CAN_EFF_FLAG)
        }
    }

    /// The kernel `can_id` (without the inversion bit).
    pub const fn id(&self) -> u32 {
        self.id
    }

    /// The kernel `can_mask`.
    pub const fn mask(&self) -> u32 {
        self.mask
    }

    /// Whether the filter is inverted (`ID~MASK`).
    pub const fn is_inverted(&self) -> bool {
        self.inverted
    }

    /// The mask as the kernel applies it: an extended-flag mask with a standard filter id keeps
    /// only the 11 id bits and the flags (`can_rcv_list_find` in `af_can.c`).
    const fn effective_mask(&self) -> u32 {
        if self.mask & CAN_EFF_FLAG != 0 && self.id & CAN_EFF_FLAG == 0 {
            self.mask & (MAX_STANDARD_ID | CAN_EFF_FLAG | CAN_RTR_FLAG)
        } else {
            self.mask
        }
    }

    /// Whether this filter lets `frame` through. Error frames always pass (they are selected
    /// by an error mask, not by id filters).
    pub fn matches(&self, frame: &Frame) -> bool {
        let Some(can_id) = kernel_can_id(frame) else {
            return true;
        };
        let mask = self.effective_mask();
        let hit = can_id & mask == self.id & mask;
        hit != self.inverted
    }

    /// Parses the candump text form (see the module documentation).
    pub fn parse(text: &str) -> Result<Filter, FilterParseError> {
        let (id_part, mask_part, inverted) = if let Some((i, m)) = text.split_once(':') {
            (i, Some(m), false)
        } else if let Some((i, m)) = text.split_once('~') {
            (i, Some(m), true)
        } else {
            (text, None, false)
        };
        let (digits, x_suffix) = match id_part.strip_suffix(['x', 'X']) {
            Some(d) => (d, true),
            None => (id_part, false),
        };
        let id = parse_hex(text, digits, "id")?;
        let extended = x_suffix || digits.len() == 8;
        if !extended && id > MAX_STANDARD_ID && mask_part.is_none() {
            return Err(FilterParseError::IdOutOfRange {
                text: text.to_string(),
                id,
                kind: "standard",
            });
        }
        if extended && id > MAX_EXTENDED_ID && id & !(CAN_EFF_FLAG | MAX_EXTENDED_ID) != 0 {
            return Err(FilterParseError::IdOutOfRange {
                text: text.to_string(),
                id,
                kind: "extended",
            });
        }
        let kernel_id = if extended { id | CAN_EFF_FLAG } else { id };
        Ok(match mask_part {
            None if extended => Filter::new(kernel_id, MAX_EXTENDED_ID | CAN_EFF_FLAG),
            None => Filter::new(kernel_id, MAX_STANDARD_ID | CAN_EFF_FLAG),
            Some(m) => {
                let mask = parse_hex(text, m, "mask")?;
                if inverted {
                    Filter::new_inverted(kernel_id, mask)
                } else {
                    Filter::new(kernel_id, mask)
                }
            }
        })
    }
}

fn parse_hex(text: &str, part: &str, what: &'static str) -> Result<u32, FilterParseError> {
    let ok = !part.is_empty() && part.len() <= 8 && part.bytes().all(|b| b.is_ascii_hexdigit());
    let value = if ok {
        u32::from_str_radix(part, 16).ok()
    } else {
        None
    };
    value.ok_or_else(|| FilterParseError::NotHex {
        text: text.to_string(),
        part: part.to_string(),
        what,
    })
}

impl FromStr for Filter {
    type Err = FilterParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::parse(s)
    }
}

/// The candump form: `ID:MASK` or `ID~MASK`, an extended id written with 8 digits.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if self.inverted { '~' } else { ':' };
        if self.id & CAN_EFF_FLAG != 0 {
            write!(f, "{:08X}{sep}{:08X}", self.id & !CAN_EFF_FLAG, self.mask)
        } else {
            write!(f, "{:03X}{sep}{:08X}", self.id, self.mask)
        }
    }
}

/// Whether any of `filters` lets `frame` through; an empty list accepts every frame.
pub fn filters_match(filters: &[Filter], frame: &Frame) -> bool {
    filters.is_empty() || filters.iter().any(|f| f.matches(frame))
}

/// The kernel `can_id` of a data or remote frame (with its format flags); `None` for errors.
pub(crate) fn kernel_can_id(frame: &Frame) -> Option<u32> {
    let id = frame.id()?;
    let mut can_id = id.raw();
    if id.is_extended() {
        can_id |= CAN_EFF_FLAG;
    }
    if frame.is_remote() {
        can_id |= CAN_RTR_FLAG;
    }
    Some(can_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{ErrorFrame, Id, RemoteFrame};
    use proptest::prelude::*;

    fn std_frame(id: u16) -> Frame {
        Frame::classic(Id::standard(id).unwrap(), &[1]).unwrap()
    }
    fn ext_frame(id: u32) -> Frame {
        Frame::classic(Id::extended(id).unwrap(), &[1]).unwrap()
    }
    fn rtr(id: u16) -> Frame {
        Frame::Remote(RemoteFrame::new(Id::standard(id).unwrap(), 0).unwrap())
    }

    #[test]
    fn test_parse_candump_forms() {
        assert_eq!(Filter::parse("123:7FF").unwrap(), Filter::new(0x123, 0x7FF));
        assert_eq!(
            Filter::parse("12345678:DFFFFFFF").unwrap(),
            Filter::new(0x9234_5678, 0xDFFF_FFFF)
        );
        assert_eq!(
            Filter::parse("400~7F0").unwrap(),
            Filter::new_inverted(0x400, 0x7F0)
        );
        assert_eq!(
            Filter::parse("123").unwrap(),
            Filter::new(0x123, 0x8000_07FF)
        );
        assert_eq!(
            Filter::parse("18DAF110").unwrap(),
            Filter::new(0x98DA_F110, 0x9FFF_FFFF)
        );
        assert_eq!(
            Filter::parse("7e0x").unwrap(),
            Filter::new(0x8000_07E0, 0x9FFF_FFFF)
        );
    }

    #[test]
    fn test_parse_rejects_bad_input() {
        assert!(matches!(
            Filter::parse("12G:7FF"),
            Err(FilterParseError::NotHex { what: "id", .. })
        ));
        assert!(matches!(
            Filter::parse("123:"),
            Err(FilterParseError::NotHex { what: "mask", .. })
        ));
        assert!(matches!(
            Filter::parse("800"),
            Err(FilterParseError::IdOutOfRange { .. })
        ));
        assert!(Filter::parse("").is_err());
        assert!(Filter::parse("123456789:0").is_err());
    }

    #[test]
    fn test_match_like_candump_examples() {
        // candump's help: "123:7FF matches CAN ID 123 - including EFF and RTR frames".
        let f = Filter::parse("123:7FF").unwrap();
        assert!(f.matches(&std_frame(0x123)));
        assert!(f.matches(&ext_frame(0x123)));
        assert!(f.matches(&rtr(0x123)));
        assert!(!f.matches(&std_frame(0x124)));
        // "123:C00007FF matches CAN ID 123 - only SFF and non-RTR frames".
        let f = Filter::parse("123:C00007FF").unwrap();
        assert!(f.matches(&std_frame(0x123)));
        assert!(!f.matches(&ext_frame(0x123)));
        assert!(!f.matches(&rtr(0x123)));
        // "12345678:DFFFFFFF match only for extended CAN ID 12345678".
        let f = Filter::parse("12345678:DFFFFFFF").unwrap();
        assert!(f.matches(&ext_frame(0x1234_5678)));
        assert!(!f.matches(&ext_frame(0x1234_5679)));
        let inv = Filter::parse("400~7F0").unwrap();
        assert!(!inv.matches(&std_frame(0x40A)));
        assert!(inv.matches(&std_frame(0x50A)));
    }

    #[test]
    fn test_exact_filter_and_error_frames() {
        let f = Filter::exact(Id::standard(0x7E8).unwrap());
        assert!(f.matches(&std_frame(0x7E8)));
        assert!(f.matches(&rtr(0x7E8)));
        assert!(!f.matches(&ext_frame(0x7E8)));
        let err = Frame::Error(ErrorFrame::new(0x4, [0; 8]).unwrap());
        assert!(f.matches(&err));
        assert!(filters_match(&[], &std_frame(1)));
        assert!(!filters_match(&[f], &std_frame(1)));
    }

    #[test]
    fn test_kernel_sff_mask_reduction() {
        // An EFF-flag mask with a standard id only compares the 11 id bits (af_can.c).
        let f = Filter::new(0x123, 0xFFFF_FFFF);
        assert!(f.matches(&std_frame(0x123)));
        assert!(!f.matches(&ext_frame(0x123)));
    }

    proptest! {
        #[test]
        fn test_parse_never_panics(s in "\\PC{0,24}") {
            let _ = Filter::parse(&s);
        }

        #[test]
        fn test_display_parse_round_trip(id in 0u32..=0x1FFF_FFFF, ext: bool, mask: u32, inv: bool) {
            let id = if ext { id | CAN_EFF_FLAG } else { id & 0x7FF };
            let f = if inv { Filter::new_inverted(id, mask) } else { Filter::new(id, mask) };
            prop_assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
        }

        #[test]
        fn test_inverted_is_complement(raw in 0u16..=0x7FF, id in 0u32..=0x7FF, mask: u32) {
            let fr = std_frame(raw);
            prop_assert_ne!(Filter::new(id, mask).matches(&fr), Filter::new_inverted(id, mask).matches(&fr));
        }
    }
}
