//! ISO 15765-2:2016 N_PDU wire format: typed parse and emit of the protocol control information.
//!
//! An N_PDU is what follows the optional address byte (extended addressing) in a CAN frame's
//! data: the N_PCI (one to six bytes, clause 9.6) and the payload. [`Pdu::parse`] reads one from
//! a byte slice and never panics; [`Pdu::emit`] writes one into a buffer and checks every length
//! first. Padding and the address byte are the caller's business (see [`super::Channel`]).
//!
//! | type | byte 0 | following bytes |
//! |------|--------|-----------------|
//! | single frame | `0x0L` (SF_DL 1-7) | payload |
//! | single frame, CAN_DL > 8 | `0x00` | SF_DL, payload (escape sequence) |
//! | first frame | `0x1H` | `LL` (FF_DL 12 bits, 8..=4095), payload |
//! | first frame, FF_DL > 4095 | `0x10` | `00`, FF_DL (32 bits big-endian), payload |
//! | consecutive frame | `0x2N` (SN 0-F) | payload |
//! | flow control | `0x3S` (FS 0 CTS, 1 WAIT, 2 OVERFLOW) | BS, STmin |

use core::time::Duration;

/// The four N_PDU types, for error reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PduKind {
    /// Single frame (SF).
    Single,
    /// First frame (FF).
    First,
    /// Consecutive frame (CF).
    Consecutive,
    /// Flow control (FC).
    FlowControl,
}

/// Why bytes are not a valid N_PDU, or why one cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("empty N_PDU: no protocol control information")]
    Empty,
    #[error("unknown N_PCI type 0x{0:X} (byte 0 high nibble)")]
    UnknownPciType(u8),
    #[error("{kind:?} N_PDU too short: {len} bytes")]
    TooShort { kind: PduKind, len: usize },
    #[error("single frame length SF_DL {sf_dl} invalid for an N_PDU of {len} bytes")]
    InvalidSingleFrameLength { sf_dl: usize, len: usize },
    #[error("first frame length FF_DL {0} invalid")]
    InvalidFirstFrameLength(u64),
    #[error("reserved flow status {0} in a flow control frame")]
    InvalidFlowStatus(u8),
    #[error("sequence number {0} does not fit in 4 bits")]
    InvalidSequenceNumber(u8),
    #[error("output buffer of {have} bytes too small, {need} needed")]
    BufferTooSmall { need: usize, have: usize },
}

/// The flow status of a flow control frame (ISO 15765-2 9.6.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowStatus {
    /// 0: continue to send `BS` consecutive frames.
    ContinueToSend,
    /// 1: wait for another flow control frame.
    Wait,
    /// 2: the message is too large for the receiver; the sender aborts.
    Overflow,
}

impl FlowStatus {
    /// The 4-bit code.
    pub const fn code(self) -> u8 {
        match self {
            FlowStatus::ContinueToSend => 0,
            FlowStatus::Wait => 1,
            FlowStatus::Overflow => 2,
        }
    }

    /// The status for a code; `None` for the reserved codes 3-F.
    pub const fn from_code(code: u8) -> Option<FlowStatus> {
        match code {
            0 => Some(FlowStatus::ContinueToSend),
            1 => Some(FlowStatus::Wait),
            2 => Some(FlowStatus::Overflow),
            _ => None,
        }
    }
}

/// A separation time STmin as carried in a flow control frame (ISO 15765-2 9.6.5.4).
///
/// `0x00`-`0x7F`: 0 to 127 ms; `0xF1`-`0xF9`: 100 to 900 us. The reserved values
/// (`0x80`-`0xF0`, `0xFA`-`0xFF`) are kept as received but mean 127 ms, as the standard
/// tells a sender to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StMin(u8);

impl StMin {
    /// No separation time.
    pub const ZERO: StMin = StMin(0);
    /// The longest separation time, 127 ms.
    pub const MAX: StMin = StMin(0x7F);

    /// An STmin from its raw byte (any value; reserved ones are kept).
    pub const fn from_raw(raw: u8) -> StMin {
        StMin(raw)
    }

    /// The raw byte.
    pub const fn raw(self) -> u8 {
        self.0
    }

    /// Whether the byte is one of the reserved values (treated as 127 ms).
    pub const fn is_reserved(self) -> bool {
        !matches!(self.0, 0x00..=0x7F | 0xF1..=0xF9)
    }

    /// The separation time this code asks for; reserved codes give 127 ms.
    pub const fn duration(self) -> Duration {
        match self.0 {
            ms @ 0x00..=0x7F => Duration::from_millis(ms as u64),
            us @ 0xF1..=0xF9 => Duration::from_micros((us - 0xF0) as u64 * 100),
            _ => Duration::from_millis(127),
        }
    }

    /// The shortest code whose separation time is at least `d` (saturates at 127 ms).
    pub fn at_least(d: Duration) -> StMin {
        if d.is_zero() {
            StMin(0)
        } else if d <= Duration::from_micros(900) {
            let hundreds = d.as_nanos().div_ceil(100_000);
            // 1..=9 here, so the cast and the add cannot overflow.
            StMin(0xF0 + hundreds as u8)
        } else {
            let ms = d.as_nanos().div_ceil(1_000_000);
            StMin(ms.min(0x7F) as u8)
        }
    }
}

/// The fields of a flow control frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowControl {
    /// Continue, wait or overflow.
    pub status: FlowStatus,
    /// How many consecutive frames before the next flow control; 0 means no more.
    pub block_size: u8,
    /// The minimum time between consecutive frames.
    pub st_min: StMin,
}

impl FlowControl {
    /// A clear-to-send flow control.
    pub const fn cts(block_size: u8, st_min: StMin) -> FlowControl {
        FlowControl {
            status: FlowStatus::ContinueToSend,
            block_size,
            st_min,
        }
    }
}

/// One parsed (or to-be-emitted) N_PDU; the payload borrows from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pdu<'a> {
    /// A single frame carrying the whole message. `escaped` is the CAN FD form with SF_DL in
    /// byte 1 (only valid in frames longer than 8 bytes). `data` is exactly SF_DL bytes: any
    /// padding after it is dropped by [`Pdu::parse`].
    Single { data: &'a [u8], escaped: bool },
    /// The first frame of a segmented message of `len` bytes (the 32-bit escape is used when
    /// `len` > 4095). `data` is everything after the N_PCI (the caller keeps what it needs).
    First { len: u32, data: &'a [u8] },
    /// A consecutive frame with sequence number `sn` (0-15). `data` is everything after the
    /// N_PCI, padding included: the receiver knows how many bytes are still missing.
    Consecutive { sn: u8, data: &'a [u8] },
    /// A flow control frame (bytes after the first three are padding and ignored).
    FlowControl(FlowControl),
}

/// The largest FF_DL that the 12-bit form carries.
pub const MAX_SHORT_FF_DL: u32 = 0xFFF;

impl<'a> Pdu<'a> {
    /// Parses an N_PDU (the frame's data after any address byte).
    ///
    /// `can_dl` is the data length of the whole CAN frame: the escaped single frame form is only
    /// accepted when it is above 8, as ISO 15765-2 requires.
    pub fn parse(pdu: &'a [u8], can_dl: usize) -> Result<Pdu<'a>, WireError> {
        let (&b0, rest) = pdu.split_first().ok_or(WireError::Empty)?;
        let low = b0 & 0x0F;
        match b0 >> 4 {
            0 => {
                if low != 0 {
                    let sf_dl = usize::from(low);
                    if sf_dl > 7 {
                        return Err(WireError::InvalidSingleFrameLength {
                            sf_dl,
                            len: pdu.len(),
                        });
                    }
                    let data = rest
                        .get(..sf_dl)
                        .ok_or(WireError::InvalidSingleFrameLength {
                            sf_dl,
                            len: pdu.len(),
                        })?;
                    Ok(Pdu::Single {
                        data,
                        escaped: false,
                    })
                } else if can_dl > 8 {
                    let (&dl, rest) = rest.split_first().ok_or(WireError::TooShort {
                        kind: PduKind::Single,
                        len: pdu.len(),
                    })?;
                    let sf_dl = usize::from(dl);
                    let data = rest.get(..sf_dl).filter(|_| sf_dl > 0).ok_or(
                        WireError::InvalidSingleFrameLength {
                            sf_dl,
                            len: pdu.len(),
                        },
                    )?;
                    Ok(Pdu::Single {
                        data,
                        escaped: true,
                    })
                } else {
                    Err(WireError::InvalidSingleFrameLength {
                        sf_dl: 0,
                        len: pdu.len(),
                    })
                }
            }
            1 => {
                let (&b1, rest) = rest.split_first().ok_or(WireError::TooShort {
                    kind: PduKind::First,
                    len: pdu.len(),
                })?;
                let short = (u32::from(low) << 8) | u32::from(b1);
                if short != 0 {
                    return Ok(Pdu::First {
                        len: short,
                        data: rest,
                    });
                }
                let (bytes, data) = rest.split_first_chunk::<4>().ok_or(WireError::TooShort {
                    kind: PduKind::First,
                    len: pdu.len(),
                })?;
                let len = u32::from_be_bytes(*bytes);
                if len <= MAX_SHORT_FF_DL {
                    return Err(WireError::InvalidFirstFrameLength(u64::from(len)));
                }
                Ok(Pdu::First { len, data })
            }
            2 => Ok(Pdu::Consecutive {
                sn: low,
                data: rest,
            }),
            3 => {
                let [bs, st, ..] = *rest else {
                    return Err(WireError::TooShort {
                        kind: PduKind::FlowControl,
                        len: pdu.len(),
                    });
                };
                let status = FlowStatus::from_code(low).ok_or(WireError::InvalidFlowStatus(low))?;
                Ok(Pdu::FlowControl(FlowControl {
                    status,
                    block_size: bs,
                    st_min: StMin(st),
                }))
            }
            t => Err(WireError::UnknownPciType(t)),
        }
    }

    /// The kind of this N_PDU.
    pub fn kind(&self) -> PduKind {
        match self {
            Pdu::Single { .. } => PduKind::Single,
            Pdu::First { .. } => PduKind::First,
            Pdu::Consecutive { .. } => PduKind::Consecutive,
            Pdu::FlowControl(_) => PduKind::FlowControl,
        }
    }

    /// The number of N_PCI bytes this N_PDU takes.
    pub fn header_len(&self) -> usize {
        match self {
            Pdu::Single { escaped: false, .. } => 1,
            Pdu::Single { escaped: true, .. } => 2,
            Pdu::First { len, .. } if *len > MAX_SHORT_FF_DL => 6,
            Pdu::First { .. } => 2,
            Pdu::Consecutive { .. } => 1,
            Pdu::FlowControl(_) => 3,
        }
    }

    /// The total length [`Pdu::emit`] writes: N_PCI plus payload.
    pub fn len(&self) -> usize {
        self.header_len()
            + match self {
                Pdu::Single { data, .. }
                | Pdu::First { data, .. }
                | Pdu::Consecutive { data, .. } => data.len(),
                Pdu::FlowControl(_) => 0,
            }
    }

    /// Never true: an N_PDU has at least one N_PCI byte (for clippy's `len` convention).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes N_PCI and payload at the start of `buf`; returns the number of bytes written.
    ///
    /// Checks that the fields can be encoded: SF_DL 1-7 (or 1-255 escaped), FF_DL not 0 and
    /// not shorter than the payload carried, SN below 16.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let need = self.len();
        if buf.len() < need {
            return Err(WireError::BufferTooSmall {
                need,
                have: buf.len(),
            });
        }
        let (head, tail) = buf.split_at_mut(self.header_len());
        let data: &[u8] = match *self {
            Pdu::Single { data, escaped } => {
                let bad = WireError::InvalidSingleFrameLength {
                    sf_dl: data.len(),
                    len: need,
                };
                if escaped {
                    let dl = u8::try_from(data.len()).map_err(|_| bad)?;
                    if dl == 0 {
                        return Err(bad);
                    }
                    head.copy_from_slice(&[0x00, dl]);
                } else {
                    if !(1..=7).contains(&data.len()) {
                        return Err(bad);
                    }
                    head.copy_from_slice(&[data.len() as u8]);
                }
                data
            }
            Pdu::First { len, data } => {
                if len == 0 || (len as usize) < data.len() {
                    return Err(WireError::InvalidFirstFrameLength(u64::from(len)));
                }
                if len > MAX_SHORT_FF_DL {
                    let b = len.to_be_bytes();
                    head.copy_from_slice(&[0x10, 0x00, b[0], b[1], b[2], b[3]]);
                } else {
                    head.copy_from_slice(&[0x10 | (len >> 8) as u8, len as u8]);
                }
                data
            }
            Pdu::Consecutive { sn, data } => {
                if sn > 0x0F {
                    return Err(WireError::InvalidSequenceNumber(sn));
                }
                head.copy_from_slice(&[0x20 | sn]);
                data
            }
            Pdu::FlowControl(fc) => {
                head.copy_from_slice(&[0x30 | fc.status.code(), fc.block_size, fc.st_min.0]);
                &[]
            }
        };
        if let Some(dst) = tail.get_mut(..data.len()) {
            dst.copy_from_slice(data);
        }
        Ok(need)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(pdu: Pdu<'_>, can_dl: usize, bytes: &[u8]) {
        let mut buf = [0u8; 64];
        let n = pdu.emit(&mut buf).unwrap();
        assert_eq!(&buf[..n], bytes, "emit {pdu:?}");
        assert_eq!(
            Pdu::parse(bytes, can_dl).unwrap(),
            pdu,
            "parse {bytes:02X?}"
        );
    }

    #[test]
    fn test_parse_single_frame() {
        let p = Pdu::parse(&[0x02, 0x10, 0xC0, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA], 8).unwrap();
        assert_eq!(
            p,
            Pdu::Single {
                data: &[0x10, 0xC0],
                escaped: false
            }
        );
        assert_eq!(p.kind(), PduKind::Single);
    }

    #[test]
    fn test_emit_single_frame() {
        roundtrip(
            Pdu::Single {
                data: &[0x3E, 0x80],
                escaped: false,
            },
            3,
            &[0x02, 0x3E, 0x80],
        );
        roundtrip(
            Pdu::Single {
                data: &[1, 2, 3, 4, 5, 6, 7],
                escaped: false,
            },
            8,
            &[0x07, 1, 2, 3, 4, 5, 6, 7],
        );
    }

    #[test]
    fn test_parse_single_frame_fd_escape() {
        let mut frame = [0xCCu8; 12];
        frame[0] = 0x00;
        frame[1] = 0x09;
        for (i, b) in frame[2..11].iter_mut().enumerate() {
            *b = i as u8;
        }
        let p = Pdu::parse(&frame, 12).unwrap();
        assert_eq!(
            p,
            Pdu::Single {
                data: &[0, 1, 2, 3, 4, 5, 6, 7, 8],
                escaped: true
            }
        );
        // The escape is not valid in a frame of 8 bytes or fewer.
        assert!(matches!(
            Pdu::parse(&frame[..8], 8),
            Err(WireError::InvalidSingleFrameLength { sf_dl: 0, .. })
        ));
        // SF_DL larger than the frame, or zero.
        assert!(Pdu::parse(&[0x00, 0x0B, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 12).is_err());
        assert!(Pdu::parse(&[0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 12).is_err());
    }

    #[test]
    fn test_emit_single_frame_fd_escape() {
        let data: Vec<u8> = (0..62).collect();
        let mut bytes = vec![0x00, 62];
        bytes.extend_from_slice(&data);
        roundtrip(
            Pdu::Single {
                data: &data,
                escaped: true,
            },
            64,
            &bytes,
        );
    }

    #[test]
    fn test_parse_single_frame_invalid_lengths() {
        // SF_DL 6 but only 3 payload bytes.
        assert!(matches!(
            Pdu::parse(&[0x06, 1, 2, 3], 4),
            Err(WireError::InvalidSingleFrameLength { sf_dl: 6, len: 4 })
        ));
        // SF_DL 8 is never valid in the short form.
        assert!(Pdu::parse(&[0x08, 1, 2, 3, 4, 5, 6, 7, 8], 12).is_err());
        assert_eq!(Pdu::parse(&[], 0), Err(WireError::Empty));
    }

    #[test]
    fn test_parse_first_frame() {
        let p = Pdu::parse(&[0x10, 0x14, 0x61, 0x01, 0x02, 0x03, 0x04, 0x05], 8).unwrap();
        assert_eq!(
            p,
            Pdu::First {
                len: 20,
                data: &[0x61, 1, 2, 3, 4, 5]
            }
        );
        let p = Pdu::parse(&[0x1F, 0xFF, 0, 0, 0, 0, 0, 0], 8).unwrap();
        assert!(matches!(p, Pdu::First { len: 4095, .. }));
        assert!(matches!(
            Pdu::parse(&[0x10], 1),
            Err(WireError::TooShort {
                kind: PduKind::First,
                ..
            })
        ));
    }

    #[test]
    fn test_emit_first_frame() {
        roundtrip(
            Pdu::First {
                len: 0x123,
                data: &[1, 2, 3, 4, 5, 6],
            },
            8,
            &[0x11, 0x23, 1, 2, 3, 4, 5, 6],
        );
    }

    #[test]
    fn test_parse_first_frame_escape() {
        let p = Pdu::parse(&[0x10, 0x00, 0x00, 0x00, 0x10, 0x00, 0xAB, 0xCD], 8).unwrap();
        assert_eq!(
            p,
            Pdu::First {
                len: 4096,
                data: &[0xAB, 0xCD]
            }
        );
        // The escape must carry a length above 4095.
        assert_eq!(
            Pdu::parse(&[0x10, 0x00, 0x00, 0x00, 0x0F, 0xFF, 0, 0], 8),
            Err(WireError::InvalidFirstFrameLength(4095))
        );
        assert!(matches!(
            Pdu::parse(&[0x10, 0x00, 0x00, 0x00, 0x10], 5),
            Err(WireError::TooShort { .. })
        ));
    }

    #[test]
    fn test_emit_first_frame_escape() {
        roundtrip(
            Pdu::First {
                len: 0x0102_0304,
                data: &[9, 8],
            },
            8,
            &[0x10, 0x00, 0x01, 0x02, 0x03, 0x04, 9, 8],
        );
        let mut buf = [0u8; 8];
        assert_eq!(
            Pdu::First { len: 0, data: &[] }.emit(&mut buf),
            Err(WireError::InvalidFirstFrameLength(0))
        );
    }

    #[test]
    fn test_parse_consecutive_frame() {
        let p = Pdu::parse(&[0x2F, 1, 2, 3], 4).unwrap();
        assert_eq!(
            p,
            Pdu::Consecutive {
                sn: 15,
                data: &[1, 2, 3]
            }
        );
        assert_eq!(
            Pdu::parse(&[0x20], 1).unwrap(),
            Pdu::Consecutive { sn: 0, data: &[] }
        );
    }

    #[test]
    fn test_emit_consecutive_frame() {
        roundtrip(
            Pdu::Consecutive {
                sn: 5,
                data: &[0xAA; 7],
            },
            8,
            &[0x25, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA],
        );
        let mut buf = [0u8; 8];
        assert_eq!(
            Pdu::Consecutive { sn: 16, data: &[] }.emit(&mut buf),
            Err(WireError::InvalidSequenceNumber(16))
        );
    }

    #[test]
    fn test_parse_flow_control() {
        let p = Pdu::parse(&[0x30, 0x08, 0xF5, 0x55, 0x55], 5).unwrap();
        assert_eq!(
            p,
            Pdu::FlowControl(FlowControl {
                status: FlowStatus::ContinueToSend,
                block_size: 8,
                st_min: StMin::from_raw(0xF5)
            })
        );
        assert!(matches!(
            Pdu::parse(&[0x31, 0, 0], 3).unwrap(),
            Pdu::FlowControl(FlowControl {
                status: FlowStatus::Wait,
                ..
            })
        ));
        assert!(matches!(
            Pdu::parse(&[0x32, 0, 0], 3).unwrap(),
            Pdu::FlowControl(FlowControl {
                status: FlowStatus::Overflow,
                ..
            })
        ));
        assert_eq!(
            Pdu::parse(&[0x33, 0, 0], 3),
            Err(WireError::InvalidFlowStatus(3))
        );
        assert!(matches!(
            Pdu::parse(&[0x30, 0], 2),
            Err(WireError::TooShort {
                kind: PduKind::FlowControl,
                len: 2
            })
        ));
    }

    #[test]
    fn test_emit_flow_control() {
        for (status, b0) in [
            (FlowStatus::ContinueToSend, 0x30),
            (FlowStatus::Wait, 0x31),
            (FlowStatus::Overflow, 0x32),
        ] {
            roundtrip(
                Pdu::FlowControl(FlowControl {
                    status,
                    block_size: 0x0F,
                    st_min: StMin::from_raw(0x19),
                }),
                3,
                &[b0, 0x0F, 0x19],
            );
        }
    }

    #[test]
    fn test_parse_unknown_pci_type() {
        for t in 4u8..=15 {
            assert_eq!(
                Pdu::parse(&[t << 4, 0, 0, 0], 4),
                Err(WireError::UnknownPciType(t))
            );
        }
    }

    #[test]
    fn test_emit_buffer_too_small() {
        let mut buf = [0u8; 3];
        assert_eq!(
            Pdu::Consecutive {
                sn: 1,
                data: &[1, 2, 3]
            }
            .emit(&mut buf),
            Err(WireError::BufferTooSmall { need: 4, have: 3 })
        );
    }

    #[test]
    fn test_stmin_codes() {
        assert_eq!(StMin::from_raw(0x00).duration(), Duration::ZERO);
        assert_eq!(StMin::from_raw(0x01).duration(), Duration::from_millis(1));
        assert_eq!(StMin::from_raw(0x7F).duration(), Duration::from_millis(127));
        assert_eq!(StMin::from_raw(0xF1).duration(), Duration::from_micros(100));
        assert_eq!(StMin::from_raw(0xF9).duration(), Duration::from_micros(900));
        for reserved in (0x80..=0xF0).chain(0xFA..=0xFF) {
            let s = StMin::from_raw(reserved);
            assert!(s.is_reserved(), "0x{reserved:02X}");
            assert_eq!(s.duration(), Duration::from_millis(127), "0x{reserved:02X}");
        }
        assert!(!StMin::from_raw(0xF5).is_reserved());
        assert!(!StMin::from_raw(0x7F).is_reserved());
    }

    #[test]
    fn test_stmin_at_least() {
        assert_eq!(StMin::at_least(Duration::ZERO).raw(), 0x00);
        assert_eq!(StMin::at_least(Duration::from_micros(1)).raw(), 0xF1);
        assert_eq!(StMin::at_least(Duration::from_micros(100)).raw(), 0xF1);
        assert_eq!(StMin::at_least(Duration::from_micros(101)).raw(), 0xF2);
        assert_eq!(StMin::at_least(Duration::from_micros(900)).raw(), 0xF9);
        assert_eq!(StMin::at_least(Duration::from_micros(901)).raw(), 0x01);
        assert_eq!(StMin::at_least(Duration::from_millis(20)).raw(), 20);
        assert_eq!(StMin::at_least(Duration::from_secs(5)).raw(), 0x7F);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn arb_pdu_bytes() -> impl Strategy<Value = (u8, Vec<u8>)> {
            (0u8..4, proptest::collection::vec(any::<u8>(), 0..64))
        }

        proptest! {
            #[test]
            fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..70), can_dl in 0usize..70) {
                let _ = Pdu::parse(&bytes, can_dl);
            }

            #[test]
            fn emit_then_parse_roundtrips((kind, data) in arb_pdu_bytes(), x in any::<u32>(), b in any::<u8>(), c in any::<u8>()) {
                let mut buf = [0u8; 70];
                let pdu = match kind {
                    0 => {
                        let n = data.len().clamp(1, 62);
                        let d = data.get(..n).unwrap_or(&[]);
                        if d.is_empty() { return Ok(()); }
                        Pdu::Single { data: d, escaped: d.len() > 7 || x % 2 == 0 }
                    }
                    1 => {
                        let d = data.get(..data.len().min(58)).unwrap_or(&[]);
                        let len = x.max(d.len() as u32).max(1);
                        Pdu::First { len, data: d }
                    }
                    2 => Pdu::Consecutive { sn: b & 0x0F, data: &data },
                    _ => Pdu::FlowControl(FlowControl {
                        status: FlowStatus::from_code(b % 3).unwrap_or(FlowStatus::Wait),
                        block_size: c,
                        st_min: StMin::from_raw(x as u8),
                    }),
                };
                let n = pdu.emit(&mut buf).unwrap();
                let can_dl = if matches!(pdu, Pdu::Single { escaped: true, .. }) { 64 } else { n };
                let parsed = Pdu::parse(&buf[..n], can_dl).unwrap();
                prop_assert_eq!(parsed, pdu);
            }

            #[test]
            fn stmin_at_least_is_at_least(us in 0u64..200_000) {
                let d = Duration::from_micros(us);
                let s = StMin::at_least(d);
                prop_assert!(!s.is_reserved());
                if d <= Duration::from_millis(127) {
                    prop_assert!(s.duration() >= d);
                }
            }
        }
    }
}
