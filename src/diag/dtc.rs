//! Diagnostic trouble codes: SAE J2012 text, status bytes, and the DTC-list responses of
//! UDS `$19 02` (ISO 14229-1 reportDTCByStatusMask) and KWP2000 `$18` (ISO 14230-3
//! ReadDiagnosticTroubleCodesByStatus).
//!
//! A two-byte DTC reads as a letter and four hex digits: the top two bits pick the letter
//! (`00` P powertrain, `01` C chassis, `10` B body, `11` U network), the next two bits the first
//! digit (0-3), then three hex digits (`0xC0 0x00` is `U0000`... `0xD0 0x00` is `U1000`). A UDS
//! DTC has a third byte, the failure type, written as two more hex digits (`U100000`).
//!
//! Formats assumed (each parser rejects anything else with a typed error naming the offset):
//! - UDS positive response to `19 02 <mask>`: `59 02 <availabilityMask>` then 4 bytes per DTC
//!   (3 DTC bytes + status byte).
//! - KWP2000 positive response to `18 <status> <group hi> <group lo>`: `58 <count>` then
//!   3 bytes per DTC (2 DTC bytes + status byte); `count` must equal the number of records.
//!   This is the ISO 14230-3 layout; some ECUs send a count that disagrees with the length,
//!   which is reported as [`DtcParseError::CountMismatch`] rather than guessed around.
//!
//! Parsers take the whole response PDU, bounds-check everything and never panic.

use core::fmt;
use core::str::FromStr;

/// The category letter of a DTC (top two bits of its first byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtcCategory {
    /// `P`: powertrain (bits `00`).
    Powertrain,
    /// `C`: chassis (bits `01`).
    Chassis,
    /// `B`: body (bits `10`).
    Body,
    /// `U`: network / communication (bits `11`).
    Network,
}

impl DtcCategory {
    /// The letter: `P`, `C`, `B` or `U`.
    pub const fn letter(self) -> char {
        match self {
            DtcCategory::Powertrain => 'P',
            DtcCategory::Chassis => 'C',
            DtcCategory::Body => 'B',
            DtcCategory::Network => 'U',
        }
    }

    const fn bits(self) -> u16 {
        match self {
            DtcCategory::Powertrain => 0,
            DtcCategory::Chassis => 1,
            DtcCategory::Body => 2,
            DtcCategory::Network => 3,
        }
    }

    fn from_letter(c: char) -> Option<Self> {
        match c.to_ascii_uppercase() {
            'P' => Some(DtcCategory::Powertrain),
            'C' => Some(DtcCategory::Chassis),
            'B' => Some(DtcCategory::Body),
            'U' => Some(DtcCategory::Network),
            _ => None,
        }
    }
}

/// Who defines a DTC's meaning, from its letter and first digit (SAE J2012).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtcOrigin {
    /// Defined by SAE / ISO for every vehicle (`P0`, `P2`, `C0`, `B0`, `U0`, ...).
    SaeGeneric,
    /// Defined by the vehicle manufacturer (`P1`, `B1`, `B2`, `C1`, `U1`, ...).
    Manufacturer,
    /// `P3xxx`: split between manufacturer and SAE ranges.
    SaeOrManufacturer,
    /// `B3`, `C3`, `U3`: reserved by SAE.
    Reserved,
}

/// A two-byte DTC (SAE J2012 / ISO 15031-6), as KWP2000 sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dtc(pub u16);

impl Dtc {
    /// A DTC from its two bytes, high byte first.
    pub const fn from_bytes(hi: u8, lo: u8) -> Dtc {
        Dtc(((hi as u16) << 8) | lo as u16)
    }

    /// The two bytes, high byte first.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }

    /// The category (letter).
    pub const fn category(self) -> DtcCategory {
        match self.0 >> 14 {
            0 => DtcCategory::Powertrain,
            1 => DtcCategory::Chassis,
            2 => DtcCategory::Body,
            _ => DtcCategory::Network,
        }
    }

    /// Who defines this code's meaning.
    pub const fn origin(self) -> DtcOrigin {
        let digit = (self.0 >> 12) & 0x3;
        match (self.category(), digit) {
            (_, 0) => DtcOrigin::SaeGeneric,
            (_, 1) => DtcOrigin::Manufacturer,
            (DtcCategory::Powertrain, 2) => DtcOrigin::SaeGeneric,
            (_, 2) => DtcOrigin::Manufacturer,
            (DtcCategory::Powertrain, _) => DtcOrigin::SaeOrManufacturer,
            _ => DtcOrigin::Reserved,
        }
    }

    /// The known text for this code: the Nissan table first (manufacturer codes in it are
    /// Nissan's meaning), then a few SAE generic codes. `None` if unknown; see
    /// [`Dtc::describe`] for a text that always exists.
    pub fn known_text(self) -> Option<&'static str> {
        NISSAN_DTCS
            .iter()
            .chain(SAE_GENERIC_DTCS)
            .find(|&&(code, _)| code == self.0)
            .map(|&(_, text)| text)
    }

    /// A text that always exists: [`Dtc::known_text`], or the category and origin
    /// (`"network, manufacturer-specific"`).
    pub fn describe(self) -> String {
        if let Some(t) = self.known_text() {
            return t.to_string();
        }
        let cat = match self.category() {
            DtcCategory::Powertrain => "powertrain",
            DtcCategory::Chassis => "chassis",
            DtcCategory::Body => "body",
            DtcCategory::Network => "network",
        };
        let origin = match self.origin() {
            DtcOrigin::SaeGeneric => "SAE generic code",
            DtcOrigin::Manufacturer => "manufacturer-specific code",
            DtcOrigin::SaeOrManufacturer => "SAE or manufacturer-specific code",
            DtcOrigin::Reserved => "SAE-reserved code",
        };
        format!("{cat}, {origin}")
    }
}

impl fmt::Display for Dtc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{:01X}{:03X}",
            self.category().letter(),
            (self.0 >> 12) & 0x3,
            self.0 & 0x0FFF
        )
    }
}

/// Why a DTC text did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtcTextError {
    /// Wrong number of characters.
    #[error("a DTC is a letter and {expected} hex digits (like U1000), not {text:?}")]
    Length {
        /// The text given.
        text: String,
        /// Hex digits expected after the letter.
        expected: usize,
    },
    /// The first character is not P, C, B or U.
    #[error("a DTC starts with P, C, B or U, not {found:?} in {text:?}")]
    Letter {
        /// The text given.
        text: String,
        /// The first character.
        found: char,
    },
    /// A character after the letter is not a hex digit (or the first digit is above 3).
    #[error("character {column} of {text:?} must be {what}")]
    Digit {
        /// The text given.
        text: String,
        /// 1-based character position.
        column: usize,
        /// What was expected there.
        what: &'static str,
    },
}

fn parse_dtc_text(s: &str, digits: usize) -> Result<(DtcCategory, u32), DtcTextError> {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() != digits + 1 {
        return Err(DtcTextError::Length {
            text: s.to_string(),
            expected: digits,
        });
    }
    let mut iter = chars.iter();
    let first = iter.next().copied().unwrap_or(' ');
    let cat = DtcCategory::from_letter(first).ok_or_else(|| DtcTextError::Letter {
        text: s.to_string(),
        found: first,
    })?;
    let mut value: u32 = 0;
    for (i, c) in iter.enumerate() {
        let d = c.to_digit(16).ok_or_else(|| DtcTextError::Digit {
            text: s.to_string(),
            column: i + 2,
            what: "a hex digit",
        })?;
        if i == 0 && d > 3 {
            return Err(DtcTextError::Digit {
                text: s.to_string(),
                column: 2,
                what: "0, 1, 2 or 3",
            });
        }
        value = (value << 4) | d;
    }
    Ok((cat, value))
}

/// Parses `U1000`, `b20bd`, `P0100` (letter case-insensitive).
impl FromStr for Dtc {
    type Err = DtcTextError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (cat, v) = parse_dtc_text(s, 4)?;
        let low = u16::try_from(v & 0x3FFF).unwrap_or(0);
        Ok(Dtc((cat.bits() << 14) | low))
    }
}

/// A three-byte UDS DTC: the two-byte SAE code plus a failure-type byte (ISO 14229-1 with
/// DTC format SAE J2012-DA), written `U100000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UdsDtc {
    /// The two-byte SAE code.
    pub code: Dtc,
    /// The failure-type byte (SAE J2012-DA).
    pub failure_type: u8,
}

impl UdsDtc {
    /// From the three bytes, high byte first.
    pub const fn from_bytes(b: [u8; 3]) -> UdsDtc {
        UdsDtc {
            code: Dtc::from_bytes(b[0], b[1]),
            failure_type: b[2],
        }
    }

    /// The three bytes, high byte first.
    pub const fn to_bytes(self) -> [u8; 3] {
        let [hi, lo] = self.code.to_bytes();
        [hi, lo, self.failure_type]
    }
}

impl fmt::Display for UdsDtc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:02X}", self.code, self.failure_type)
    }
}

/// Parses `U100000` (letter, four code digits, two failure-type digits).
impl FromStr for UdsDtc {
    type Err = DtcTextError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (cat, v) = parse_dtc_text(s, 6)?;
        let low = u16::try_from((v >> 8) & 0x3FFF).unwrap_or(0);
        Ok(UdsDtc {
            code: Dtc((cat.bits() << 14) | low),
            failure_type: (v & 0xFF) as u8,
        })
    }
}

/// A DTC status byte. Bit meanings differ between the dialects: the `uds_*` accessors follow
/// ISO 14229-1 D.2; the `kwp_*` accessors follow the ISO 14230-3 statusOfDTC layout as commonly
/// described (bits 5-6 storage state, bit 7 warning lamp) and are unverified on Nissan units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DtcStatus(pub u8);

/// UDS status bit names, bit 0 first (ISO 14229-1).
pub const UDS_STATUS_BITS: [&str; 8] = [
    "testFailed",
    "testFailedThisOperationCycle",
    "pendingDTC",
    "confirmedDTC",
    "testNotCompletedSinceLastClear",
    "testFailedSinceLastClear",
    "testNotCompletedThisOperationCycle",
    "warningIndicatorRequested",
];

impl DtcStatus {
    /// UDS bit 0: the latest test failed.
    pub const fn uds_test_failed(self) -> bool {
        self.0 & 0x01 != 0
    }
    /// UDS bit 2: pending.
    pub const fn uds_pending(self) -> bool {
        self.0 & 0x04 != 0
    }
    /// UDS bit 3: confirmed (stored).
    pub const fn uds_confirmed(self) -> bool {
        self.0 & 0x08 != 0
    }
    /// UDS bit 7: warning indicator requested.
    pub const fn uds_warning_indicator(self) -> bool {
        self.0 & 0x80 != 0
    }
    /// The names of the UDS bits that are set, bit 0 first.
    pub fn uds_flags(self) -> Vec<&'static str> {
        UDS_STATUS_BITS
            .iter()
            .enumerate()
            .filter(|&(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, &n)| n)
            .collect()
    }
    /// KWP2000 bits 5-6, DTC storage state: 0 none, 1 stored but not present,
    /// 2 present but not yet stored (maturing), 3 present and stored. [unverified on Nissan]
    pub const fn kwp_storage_state(self) -> u8 {
        (self.0 >> 5) & 0x3
    }
    /// KWP2000 bit 7: warning lamp requested. [unverified on Nissan]
    pub const fn kwp_warning_lamp(self) -> bool {
        self.0 & 0x80 != 0
    }
}

impl fmt::Display for DtcStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X}", self.0)
    }
}

/// Nissan communication DTCs (service manual pages for several models; domain notes).
pub const NISSAN_DTCS: &[(u16, &str)] = &[
    (
        0xD000,
        "U1000 CAN COMM CIRCUIT: a unit sent or received no CAN signal for 2 s or more with ignition ON",
    ),
    (
        0xD010,
        "U1010 CONTROL UNIT (CAN): the unit's own CAN controller failed",
    ),
    (
        0xC100,
        "U0100 lost communication with ECM (no signal for 2 s or more)",
    ),
    (
        0xC140,
        "U0140 lost communication with BCM (no signal for 2 s or more)",
    ),
    (
        0xC155,
        "U0155 lost communication with instrument cluster / meter (no signal for 2 s or more)",
    ),
    (0xA0BD, "B20BD battery current sensor (read by IPDM E/R)"),
    (0xA0BE, "B20BE battery current sensor (read by IPDM E/R)"),
];

/// A few SAE generic (J2012) codes worth naming when no manufacturer text exists.
pub const SAE_GENERIC_DTCS: &[(u16, &str)] = &[
    (0x0100, "P0100 mass or volume air flow circuit"),
    (0xC001, "U0001 high speed CAN communication bus"),
    (0xC073, "U0073 control module communication bus off"),
    (0xC121, "U0121 lost communication with ABS control module"),
    (
        0xC126,
        "U0126 lost communication with steering angle sensor module",
    ),
    (
        0xC131,
        "U0131 lost communication with power steering control module",
    ),
    (0xC164, "U0164 lost communication with HVAC control module"),
    (0xC184, "U0184 lost communication with radio"),
];

/// One DTC record from a DTC-list response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DtcRecord {
    /// The two-byte code.
    pub code: Dtc,
    /// The UDS failure-type byte; `None` in KWP2000 records.
    pub failure_type: Option<u8>,
    /// The status byte (meaning depends on the dialect; see [`DtcStatus`]).
    pub status: DtcStatus,
}

impl DtcRecord {
    /// `U1000` for KWP2000 records, `U100000` for UDS records.
    pub fn code_text(&self) -> String {
        match self.failure_type {
            Some(ft) => UdsDtc {
                code: self.code,
                failure_type: ft,
            }
            .to_string(),
            None => self.code.to_string(),
        }
    }
}

/// A parsed UDS `59 02` response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdsDtcReport {
    /// The status bits this ECU supports (`DTCStatusAvailabilityMask`).
    pub availability_mask: u8,
    /// The DTC records in the order received.
    pub records: Vec<DtcRecord>,
}

/// Why a DTC-list response did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtcParseError {
    /// The PDU is shorter than its fixed header.
    #[error("a {what} response needs at least {needed} bytes, got {got}")]
    TooShort {
        /// Which response.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes received.
        got: usize,
    },
    /// A header byte is not what the format needs.
    #[error("byte {offset} of a {what} response must be 0x{expected:02X}, got 0x{found:02X}")]
    Header {
        /// Which response.
        what: &'static str,
        /// 0-based offset.
        offset: usize,
        /// The expected byte.
        expected: u8,
        /// The byte found.
        found: u8,
    },
    /// The records part is not a whole number of records.
    #[error(
        "a {what} response has {len} record bytes from offset {offset}, not a multiple of {record_len}"
    )]
    Trailing {
        /// Which response.
        what: &'static str,
        /// Offset of the first record byte.
        offset: usize,
        /// Number of record bytes.
        len: usize,
        /// Bytes per record.
        record_len: usize,
    },
    /// The KWP2000 count byte disagrees with the number of records.
    #[error("a KWP2000 $58 response announces {announced} DTCs but carries {found}")]
    CountMismatch {
        /// The count byte (offset 1).
        announced: u8,
        /// Whole records present.
        found: usize,
    },
}

/// The UDS request `19 02 <status mask>` (reportDTCByStatusMask).
pub const fn uds_read_dtc_by_status_request(status_mask: u8) -> [u8; 3] {
    [0x19, 0x02, status_mask]
}

/// The KWP2000 request `18 <status> <group hi> <group lo>`; `18 02 FF 00` (status 0x02,
/// group 0xFF00 = all groups) is the common "all stored DTCs" form. [Unverified on Nissan units:
/// make it configurable where it is used.]
pub const fn kwp_read_dtc_by_status_request(status: u8, group: u16) -> [u8; 4] {
    let [hi, lo] = group.to_be_bytes();
    [0x18, status, hi, lo]
}

/// Parses a UDS `59 02 <mask> (DTC[3] status)*` response.
pub fn parse_uds_dtc_by_status(pdu: &[u8]) -> Result<UdsDtcReport, DtcParseError> {
    const WHAT: &str = "UDS $59 02";
    let [a, b, mask, rest @ ..] = pdu else {
        return Err(DtcParseError::TooShort {
            what: WHAT,
            needed: 3,
            got: pdu.len(),
        });
    };
    for (offset, (&found, expected)) in [(a, 0x59u8), (b, 0x02u8)].into_iter().enumerate() {
        if found != expected {
            return Err(DtcParseError::Header {
                what: WHAT,
                offset,
                expected,
                found,
            });
        }
    }
    let chunks = rest.chunks_exact(4);
    if !chunks.remainder().is_empty() {
        return Err(DtcParseError::Trailing {
            what: WHAT,
            offset: 3,
            len: rest.len(),
            record_len: 4,
        });
    }
    let records = chunks
        .filter_map(|c| match c {
            &[h, l, ft, st] => Some(DtcRecord {
                code: Dtc::from_bytes(h, l),
                failure_type: Some(ft),
                status: DtcStatus(st),
            }),
            _ => None,
        })
        .collect();
    Ok(UdsDtcReport {
        availability_mask: *mask,
        records,
    })
}

/// The stored DTCs in a positive answer to a read-by-status request, UDS (`59 02 ...`) or
/// KWP2000 (`58 ...`), told apart by the first byte.
pub fn parse_dtc_by_status(pdu: &[u8]) -> Result<Vec<DtcRecord>, DtcParseError> {
    match pdu.first() {
        Some(0x59) => parse_uds_dtc_by_status(pdu).map(|r| r.records),
        _ => parse_kwp_dtc_by_status(pdu),
    }
}

/// Parses a KWP2000 `58 <count> (DTC[2] status)*` response.
pub fn parse_kwp_dtc_by_status(pdu: &[u8]) -> Result<Vec<DtcRecord>, DtcParseError> {
    const WHAT: &str = "KWP2000 $58";
    let [first, count, rest @ ..] = pdu else {
        return Err(DtcParseError::TooShort {
            what: WHAT,
            needed: 2,
            got: pdu.len(),
        });
    };
    if *first != 0x58 {
        return Err(DtcParseError::Header {
            what: WHAT,
            offset: 0,
            expected: 0x58,
            found: *first,
        });
    }
    let chunks = rest.chunks_exact(3);
    if !chunks.remainder().is_empty() {
        return Err(DtcParseError::Trailing {
            what: WHAT,
            offset: 2,
            len: rest.len(),
            record_len: 3,
        });
    }
    let records: Vec<DtcRecord> = chunks
        .filter_map(|c| match c {
            &[h, l, st] => Some(DtcRecord {
                code: Dtc::from_bytes(h, l),
                failure_type: None,
                status: DtcStatus(st),
            }),
            _ => None,
        })
        .collect();
    if records.len() != usize::from(*count) {
        return Err(DtcParseError::CountMismatch {
            announced: *count,
            found: records.len(),
        });
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn test_emit_dtc_text() {
        assert_eq!(Dtc::from_bytes(0xD0, 0x00).to_string(), "U1000");
        assert_eq!(Dtc::from_bytes(0xD0, 0x10).to_string(), "U1010");
        assert_eq!(Dtc::from_bytes(0xC1, 0x00).to_string(), "U0100");
        assert_eq!(Dtc::from_bytes(0xC1, 0x40).to_string(), "U0140");
        assert_eq!(Dtc::from_bytes(0xC1, 0x55).to_string(), "U0155");
        assert_eq!(Dtc::from_bytes(0xA0, 0xBD).to_string(), "B20BD");
        assert_eq!(Dtc::from_bytes(0x01, 0x00).to_string(), "P0100");
        assert_eq!(Dtc::from_bytes(0x40, 0x35).to_string(), "C0035");
        assert_eq!(Dtc::from_bytes(0x00, 0x00).to_string(), "P0000");
        assert_eq!(Dtc::from_bytes(0xFF, 0xFF).to_string(), "U3FFF");
        assert_eq!(
            UdsDtc::from_bytes([0xD0, 0x00, 0x00]).to_string(),
            "U100000"
        );
        assert_eq!(
            UdsDtc::from_bytes([0xA0, 0xBD, 0x1C]).to_string(),
            "B20BD1C"
        );
    }

    #[test]
    fn test_parse_dtc_text() {
        assert_eq!("U1000".parse::<Dtc>(), Ok(Dtc(0xD000)));
        assert_eq!("b20bd".parse::<Dtc>(), Ok(Dtc(0xA0BD)));
        assert_eq!("P0100".parse::<Dtc>(), Ok(Dtc(0x0100)));
        assert_eq!(
            "U100000".parse::<UdsDtc>(),
            Ok(UdsDtc::from_bytes([0xD0, 0, 0]))
        );
        assert!(matches!(
            "U10000".parse::<Dtc>(),
            Err(DtcTextError::Length { .. })
        ));
        assert!(matches!(
            "X1000".parse::<Dtc>(),
            Err(DtcTextError::Letter { found: 'X', .. })
        ));
        assert!(matches!(
            "U4000".parse::<Dtc>(),
            Err(DtcTextError::Digit { column: 2, .. })
        ));
        assert!(matches!(
            "U10G0".parse::<Dtc>(),
            Err(DtcTextError::Digit { column: 4, .. })
        ));
        assert!(matches!(
            "".parse::<Dtc>(),
            Err(DtcTextError::Length { .. })
        ));
        assert!(matches!(
            "Ü1000".parse::<Dtc>(),
            Err(DtcTextError::Letter { .. })
        ));
    }

    #[test]
    fn test_dtc_origin_and_text() {
        assert_eq!(Dtc(0xD000).origin(), DtcOrigin::Manufacturer);
        assert_eq!(Dtc(0xC140).origin(), DtcOrigin::SaeGeneric);
        assert_eq!(Dtc(0x2000).origin(), DtcOrigin::SaeGeneric); // P2000
        assert_eq!(Dtc(0xA000).origin(), DtcOrigin::Manufacturer); // B2000
        assert_eq!(Dtc(0x3000).origin(), DtcOrigin::SaeOrManufacturer); // P3000
        assert_eq!(Dtc(0xF000).origin(), DtcOrigin::Reserved); // U3000
        assert!(
            Dtc(0xD000)
                .known_text()
                .unwrap()
                .contains("CAN COMM CIRCUIT")
        );
        assert!(
            Dtc(0xD010)
                .known_text()
                .unwrap()
                .contains("CONTROL UNIT (CAN)")
        );
        assert!(Dtc(0xC100).known_text().unwrap().contains("ECM"));
        assert!(Dtc(0xC140).known_text().unwrap().contains("BCM"));
        assert!(
            Dtc(0xC155)
                .known_text()
                .unwrap()
                .contains("instrument cluster")
        );
        assert_eq!(Dtc(0xD123).known_text(), None);
        assert_eq!(
            Dtc(0xD123).describe(),
            "network, manufacturer-specific code"
        );
        assert_eq!(Dtc(0x0455).describe(), "powertrain, SAE generic code");
        // Every table entry's text starts with its own code.
        for &(code, text) in NISSAN_DTCS.iter().chain(SAE_GENERIC_DTCS) {
            assert!(text.starts_with(&Dtc(code).to_string()), "{text}");
        }
    }

    #[test]
    fn test_status_bits() {
        let s = DtcStatus(0x09);
        assert!(s.uds_test_failed() && s.uds_confirmed() && !s.uds_pending());
        assert_eq!(s.uds_flags(), vec!["testFailed", "confirmedDTC"]);
        assert!(DtcStatus(0x80).uds_warning_indicator());
        assert_eq!(DtcStatus(0xE0).kwp_storage_state(), 3);
        assert!(DtcStatus(0xE0).kwp_warning_lamp());
        assert_eq!(DtcStatus(0x20).kwp_storage_state(), 1);
    }

    #[test]
    fn test_parse_uds_59_02() {
        let pdu = [
            0x59, 0x02, 0xFF, 0xD0, 0x00, 0x00, 0x09, 0xC1, 0x40, 0x87, 0x2F,
        ];
        let r = parse_uds_dtc_by_status(&pdu).unwrap();
        assert_eq!(r.availability_mask, 0xFF);
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.records[0].code_text(), "U100000");
        assert_eq!(r.records[0].status, DtcStatus(0x09));
        assert_eq!(r.records[1].code_text(), "U014087");
        assert_eq!(r.records[1].failure_type, Some(0x87));
        assert_eq!(
            parse_uds_dtc_by_status(&[0x59, 0x02, 0x7F])
                .unwrap()
                .records,
            vec![]
        );
    }

    #[test]
    fn test_parse_uds_59_02_errors() {
        assert_eq!(
            parse_uds_dtc_by_status(&[0x59, 0x02]),
            Err(DtcParseError::TooShort {
                what: "UDS $59 02",
                needed: 3,
                got: 2
            })
        );
        assert!(matches!(
            parse_uds_dtc_by_status(&[0x59, 0x01, 0xFF]),
            Err(DtcParseError::Header { offset: 1, .. })
        ));
        assert!(matches!(
            parse_uds_dtc_by_status(&[0x58, 0x02, 0xFF]),
            Err(DtcParseError::Header { offset: 0, .. })
        ));
        assert!(matches!(
            parse_uds_dtc_by_status(&[0x59, 0x02, 0xFF, 0xD0, 0x00, 0x00]),
            Err(DtcParseError::Trailing { len: 3, .. })
        ));
    }

    #[test]
    fn test_parse_kwp_58() {
        let pdu = [0x58, 0x02, 0xD0, 0x00, 0x60, 0xC1, 0x40, 0x20];
        let r = parse_kwp_dtc_by_status(&pdu).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].code_text(), "U1000");
        assert_eq!(r[0].status.kwp_storage_state(), 3);
        assert_eq!(r[1].code_text(), "U0140");
        assert_eq!(r[1].failure_type, None);
        assert_eq!(parse_kwp_dtc_by_status(&[0x58, 0x00]).unwrap(), vec![]);
        assert_eq!(
            parse_kwp_dtc_by_status(&[0x58, 0x02, 0xD0, 0x00, 0x60]),
            Err(DtcParseError::CountMismatch {
                announced: 2,
                found: 1
            })
        );
        assert!(matches!(
            parse_kwp_dtc_by_status(&[0x58, 0x01, 0xD0, 0x00]),
            Err(DtcParseError::Trailing { .. })
        ));
        assert!(matches!(
            parse_kwp_dtc_by_status(&[0x58]),
            Err(DtcParseError::TooShort { .. })
        ));
        assert!(matches!(
            parse_kwp_dtc_by_status(&[0x7F, 0x18, 0x12]),
            Err(DtcParseError::Header { found: 0x7F, .. })
        ));
    }

    #[test]
    fn test_parse_either_dialects_answer() {
        let uds = parse_dtc_by_status(&[0x59, 0x02, 0xFF, 0xD0, 0x00, 0x00, 0x09]).unwrap();
        assert_eq!(uds.len(), 1);
        assert_eq!(uds[0].code.to_string(), "U1000");
        assert_eq!(uds[0].failure_type, Some(0));
        let kwp = parse_dtc_by_status(&[0x58, 0x01, 0xD0, 0x00, 0x60]).unwrap();
        assert_eq!(
            (kwp[0].code.to_string(), kwp[0].failure_type),
            ("U1000".into(), None)
        );
        assert!(parse_dtc_by_status(&[0x59]).is_err());
        assert!(parse_dtc_by_status(&[0x7F, 0x18, 0x11]).is_err());
        assert!(parse_dtc_by_status(&[]).is_err());
    }

    #[test]
    fn test_emit_requests() {
        assert_eq!(uds_read_dtc_by_status_request(0xFF), [0x19, 0x02, 0xFF]);
        assert_eq!(
            kwp_read_dtc_by_status_request(0x02, 0xFF00),
            [0x18, 0x02, 0xFF, 0x00]
        );
    }

    proptest! {
        #[test]
        fn test_dtc_text_round_trip(v in any::<u16>()) {
            let text = Dtc(v).to_string();
            prop_assert_eq!(text.len(), 5);
            prop_assert_eq!(text.parse::<Dtc>(), Ok(Dtc(v)));
            prop_assert_eq!(text.to_lowercase().parse::<Dtc>(), Ok(Dtc(v)));
        }

        #[test]
        fn test_uds_dtc_text_round_trip(b in any::<[u8; 3]>()) {
            let d = UdsDtc::from_bytes(b);
            prop_assert_eq!(d.to_bytes(), b);
            prop_assert_eq!(d.to_string().parse::<UdsDtc>(), Ok(d));
        }

        #[test]
        fn test_uds_report_round_trip(mask in any::<u8>(), recs in proptest::collection::vec(any::<[u8; 4]>(), 0..20)) {
            let mut pdu = vec![0x59, 0x02, mask];
            for r in &recs { pdu.extend_from_slice(r); }
            let rep = parse_uds_dtc_by_status(&pdu).unwrap();
            prop_assert_eq!(rep.availability_mask, mask);
            prop_assert_eq!(rep.records.len(), recs.len());
            for (rec, raw) in rep.records.iter().zip(&recs) {
                prop_assert_eq!(UdsDtc { code: rec.code, failure_type: rec.failure_type.unwrap() }.to_bytes(), [raw[0], raw[1], raw[2]]);
                prop_assert_eq!(rec.status.0, raw[3]);
            }
        }

        #[test]
        fn test_kwp_report_round_trip(recs in proptest::collection::vec(any::<[u8; 3]>(), 0..40)) {
            let mut pdu = vec![0x58, recs.len() as u8];
            for r in &recs { pdu.extend_from_slice(r); }
            let parsed = parse_kwp_dtc_by_status(&pdu).unwrap();
            let back: Vec<[u8; 3]> = parsed.iter().map(|r| { let [h, l] = r.code.to_bytes(); [h, l, r.status.0] }).collect();
            prop_assert_eq!(back, recs);
        }

        #[test]
        fn test_parsers_never_panic(pdu in proptest::collection::vec(any::<u8>(), 0..64), s in ".{0,10}") {
            let _ = parse_uds_dtc_by_status(&pdu);
            let _ = parse_kwp_dtc_by_status(&pdu);
            let _ = s.parse::<Dtc>();
            let _ = s.parse::<UdsDtc>();
        }
    }
}
