//! Service identifiers, negative response codes and response classification for KWP2000
//! (ISO 14230-3) and UDS (ISO 14229-1).
//!
//! Everything here works on whole diagnostic PDUs (the payload ISO-TP delivers, ISO 15765-2),
//! never on CAN frames. The tables name the services and negative response codes of both
//! dialects; where the two standards give a byte different meanings, the caller picks a
//! [`Dialect`]. [`classify_response`] decides whether a received PDU answers a request:
//! positive (`SID + 0x40`), negative (`7F SID NRC`) or unrelated. It looks at the service id
//! only, never at sub-function bits: `10 C0` is a KWP2000 session id and is never read as a
//! UDS sub-function with the suppress-positive-response bit set. Nothing here can panic.

use core::fmt;

/// Which diagnostic standard gives meaning to the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    /// KWP2000, ISO 14230-3 (over ISO-TP as ISO 15765-3 / manufacturer practice): Nissan body modules.
    #[default]
    Kwp2000,
    /// UDS, ISO 14229-1.
    Uds,
}

impl Dialect {
    /// The conventional default-session value of `$10` in this dialect (`0x81` KWP2000, `0x01` UDS).
    pub const fn default_session(self) -> u8 {
        match self {
            Dialect::Kwp2000 => 0x81,
            Dialect::Uds => 0x01,
        }
    }

    /// A short name: `kwp2000` or `uds`.
    pub const fn name(self) -> &'static str {
        match self {
            Dialect::Kwp2000 => "kwp2000",
            Dialect::Uds => "uds",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The offset between a request service id and its positive response id.
pub const POSITIVE_RESPONSE_OFFSET: u8 = 0x40;
/// The first byte of every negative response (`7F SID NRC`).
pub const NEGATIVE_RESPONSE_SID: u8 = 0x7F;

/// A request service identifier (the first byte of a request PDU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId(pub u8);

impl ServiceId {
    /// `$10` StartDiagnosticSession (KWP2000) / DiagnosticSessionControl (UDS).
    pub const SESSION: ServiceId = ServiceId(0x10);
    /// `$11` EcuReset.
    pub const ECU_RESET: ServiceId = ServiceId(0x11);
    /// `$14` ClearDiagnosticInformation.
    pub const CLEAR_DIAGNOSTIC_INFORMATION: ServiceId = ServiceId(0x14);
    /// `$18` ReadDiagnosticTroubleCodesByStatus (KWP2000).
    pub const KWP_READ_DTC_BY_STATUS: ServiceId = ServiceId(0x18);
    /// `$19` ReadDTCInformation (UDS).
    pub const UDS_READ_DTC_INFORMATION: ServiceId = ServiceId(0x19);
    /// `$1A` ReadEcuIdentification (KWP2000).
    pub const KWP_READ_ECU_IDENTIFICATION: ServiceId = ServiceId(0x1A);
    /// `$21` ReadDataByLocalIdentifier (KWP2000).
    pub const KWP_READ_DATA_BY_LOCAL_ID: ServiceId = ServiceId(0x21);
    /// `$22` ReadDataByCommonIdentifier (KWP2000) / ReadDataByIdentifier (UDS).
    pub const READ_DATA_BY_ID: ServiceId = ServiceId(0x22);
    /// `$27` SecurityAccess.
    pub const SECURITY_ACCESS: ServiceId = ServiceId(0x27);
    /// `$3B` WriteDataByLocalIdentifier (KWP2000).
    pub const KWP_WRITE_DATA_BY_LOCAL_ID: ServiceId = ServiceId(0x3B);
    /// `$3E` TesterPresent.
    pub const TESTER_PRESENT: ServiceId = ServiceId(0x3E);

    /// The positive response id (`SID + 0x40`); `None` for bytes that cannot be request ids
    /// (at or above `0xC0`, where the addition would overflow).
    pub const fn positive_response(self) -> Option<u8> {
        self.0.checked_add(POSITIVE_RESPONSE_OFFSET)
    }

    /// The service's name in `dialect`, or `None` if the byte is not a request id there.
    pub fn name(self, dialect: Dialect) -> Option<&'static str> {
        service_name(dialect, self.0)
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${:02X}", self.0)
    }
}

/// ISO 14230-3 (KWP2000) request service ids and names, sorted by id.
pub const KWP2000_SERVICES: &[(u8, &str)] = &[
    (0x10, "StartDiagnosticSession"),
    (0x11, "EcuReset"),
    (0x12, "ReadFreezeFrameData"),
    (0x13, "ReadDiagnosticTroubleCodes"),
    (0x14, "ClearDiagnosticInformation"),
    (0x17, "ReadStatusOfDiagnosticTroubleCodes"),
    (0x18, "ReadDiagnosticTroubleCodesByStatus"),
    (0x1A, "ReadEcuIdentification"),
    (0x20, "StopDiagnosticSession"),
    (0x21, "ReadDataByLocalIdentifier"),
    (0x22, "ReadDataByCommonIdentifier"),
    (0x23, "ReadMemoryByAddress"),
    (0x26, "SetDataRates"),
    (0x27, "SecurityAccess"),
    (0x2C, "DynamicallyDefineLocalIdentifier"),
    (0x2E, "WriteDataByCommonIdentifier"),
    (0x2F, "InputOutputControlByCommonIdentifier"),
    (0x30, "InputOutputControlByLocalIdentifier"),
    (0x31, "StartRoutineByLocalIdentifier"),
    (0x32, "StopRoutineByLocalIdentifier"),
    (0x33, "RequestRoutineResultsByLocalIdentifier"),
    (0x34, "RequestDownload"),
    (0x35, "RequestUpload"),
    (0x36, "TransferData"),
    (0x37, "RequestTransferExit"),
    (0x38, "StartRoutineByAddress"),
    (0x39, "StopRoutineByAddress"),
    (0x3A, "RequestRoutineResultsByAddress"),
    (0x3B, "WriteDataByLocalIdentifier"),
    (0x3D, "WriteMemoryByAddress"),
    (0x3E, "TesterPresent"),
    (0x81, "StartCommunication"),
    (0x82, "StopCommunication"),
    (0x83, "AccessTimingParameters"),
    (0x85, "ControlDTCSetting"),
    (0x86, "ResponseOnEvent"),
];

/// ISO 14229-1 (UDS) request service ids and names, sorted by id.
pub const UDS_SERVICES: &[(u8, &str)] = &[
    (0x10, "DiagnosticSessionControl"),
    (0x11, "ECUReset"),
    (0x14, "ClearDiagnosticInformation"),
    (0x19, "ReadDTCInformation"),
    (0x22, "ReadDataByIdentifier"),
    (0x23, "ReadMemoryByAddress"),
    (0x24, "ReadScalingDataByIdentifier"),
    (0x27, "SecurityAccess"),
    (0x28, "CommunicationControl"),
    (0x29, "Authentication"),
    (0x2A, "ReadDataByPeriodicIdentifier"),
    (0x2C, "DynamicallyDefineDataIdentifier"),
    (0x2E, "WriteDataByIdentifier"),
    (0x2F, "InputOutputControlByIdentifier"),
    (0x31, "RoutineControl"),
    (0x34, "RequestDownload"),
    (0x35, "RequestUpload"),
    (0x36, "TransferData"),
    (0x37, "RequestTransferExit"),
    (0x38, "RequestFileTransfer"),
    (0x3D, "WriteMemoryByAddress"),
    (0x3E, "TesterPresent"),
    (0x83, "AccessTimingParameter"),
    (0x84, "SecuredDataTransmission"),
    (0x85, "ControlDTCSetting"),
    (0x86, "ResponseOnEvent"),
    (0x87, "LinkControl"),
];

fn lookup(table: &'static [(u8, &'static str)], byte: u8) -> Option<&'static str> {
    table
        .binary_search_by_key(&byte, |&(b, _)| b)
        .ok()
        .and_then(|i| table.get(i))
        .map(|&(_, name)| name)
}

/// The name of request service `sid` in `dialect`, or `None` if it is not a request id there.
pub fn service_name(dialect: Dialect, sid: u8) -> Option<&'static str> {
    match dialect {
        Dialect::Kwp2000 => lookup(KWP2000_SERVICES, sid),
        Dialect::Uds => lookup(UDS_SERVICES, sid),
    }
}

/// Whether a request writes to the module: resets, clears DTCs, IO control, routines,
/// downloads and uploads, memory and data writes, communication and DTC-setting control
/// (a procedure asks before sending one). Reading requests, session control and the
/// SecurityAccess seed request are not writes.
pub fn writes(dialect: Dialect, request: &[u8]) -> bool {
    let Some(&sid) = request.first() else {
        return false;
    };
    match sid {
        // EcuReset, ClearDiagnosticInformation, OBD clear, IO control, routines, downloads
        // and uploads, WriteMemoryByAddress, write data, CommunicationControl,
        // ControlDTCSetting, LinkControl.
        0x04 | 0x11 | 0x14 | 0x2F | 0x30 | 0x32 | 0x34 | 0x35 | 0x36 | 0x37 | 0x3B | 0x3D
        | 0x2E | 0x28 | 0x85 | 0x87 => true,
        // UDS RoutineControl request-results (03) only reads.
        0x31 => !(dialect == Dialect::Uds && request.get(1).map(|s| s & 0x7F) == Some(0x03)),
        // SecurityAccess: sending a key (even sub-function) unlocks.
        0x27 => request.get(1).is_some_and(|s| s & 0x01 == 0),
        _ => false,
    }
}

/// Whether a request changes the module's state in any way: every [`writes`] request, plus
/// session control (`10`), every SecurityAccess exchange (`27`) and dynamically defined
/// identifiers (`2C`). The command line asks before sending one to a real interface.
pub fn changes_state(dialect: Dialect, request: &[u8]) -> bool {
    matches!(request.first(), Some(0x10 | 0x27 | 0x2C)) || writes(dialect, request)
}

/// A negative response code (the third byte of `7F SID NRC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nrc(pub u8);

impl Nrc {
    /// `0x10` generalReject.
    pub const GENERAL_REJECT: Nrc = Nrc(0x10);
    /// `0x11` serviceNotSupported.
    pub const SERVICE_NOT_SUPPORTED: Nrc = Nrc(0x11);
    /// `0x12` subFunctionNotSupported (KWP2000: -InvalidFormat).
    pub const SUB_FUNCTION_NOT_SUPPORTED: Nrc = Nrc(0x12);
    /// `0x21` busyRepeatRequest: the client retries after a back-off.
    pub const BUSY_REPEAT_REQUEST: Nrc = Nrc(0x21);
    /// `0x22` conditionsNotCorrect.
    pub const CONDITIONS_NOT_CORRECT: Nrc = Nrc(0x22);
    /// `0x31` requestOutOfRange.
    pub const REQUEST_OUT_OF_RANGE: Nrc = Nrc(0x31);
    /// `0x33` securityAccessDenied.
    pub const SECURITY_ACCESS_DENIED: Nrc = Nrc(0x33);
    /// `0x78` requestCorrectlyReceived-ResponsePending: the client waits P2* more.
    pub const RESPONSE_PENDING: Nrc = Nrc(0x78);
    /// `0x7F` serviceNotSupportedInActiveSession (UDS).
    pub const SERVICE_NOT_SUPPORTED_IN_ACTIVE_SESSION: Nrc = Nrc(0x7F);
    /// `0x80` serviceNotSupportedInActiveDiagnosticSession (KWP2000; what a Nissan BCM answers
    /// to `$21` in the default session).
    pub const KWP_SERVICE_NOT_SUPPORTED_IN_ACTIVE_SESSION: Nrc = Nrc(0x80);

    /// The code's name in `dialect`: the standard's name, or the name of the reserved /
    /// manufacturer-specific range it falls in. In KWP2000, a code below 0x80 that ISO 14230-3
    /// does not define but UDS does (0x13, 0x24, 0x7E, 0x7F...) gets its UDS name, since
    /// KWP2000-on-CAN ECUs use them; [`Nrc::is_defined`] tells the two apart. Never empty.
    pub fn name(self, dialect: Dialect) -> &'static str {
        self.info(dialect).0
    }

    /// A one-line meaning of the code in `dialect`. Never empty.
    pub fn meaning(self, dialect: Dialect) -> &'static str {
        self.info(dialect).1
    }

    /// Whether the standard of `dialect` defines this exact code (not just a range).
    pub fn is_defined(self, dialect: Dialect) -> bool {
        let table = match dialect {
            Dialect::Kwp2000 => KWP2000_NRCS,
            Dialect::Uds => UDS_NRCS,
        };
        table.binary_search_by_key(&self.0, |&(b, _, _)| b).is_ok()
    }

    fn info(self, dialect: Dialect) -> (&'static str, &'static str) {
        let table = match dialect {
            Dialect::Kwp2000 => KWP2000_NRCS,
            Dialect::Uds => UDS_NRCS,
        };
        if let Some(&(_, name, meaning)) = table
            .binary_search_by_key(&self.0, |&(b, _, _)| b)
            .ok()
            .and_then(|i| table.get(i))
        {
            return (name, meaning);
        }
        match (dialect, self.0) {
            // KWP2000-on-CAN ECUs often use codes ISO 14230-3 lacks but UDS defines (0x13,
            // 0x24, 0x7E, 0x7F...): give them the UDS name; `is_defined` still says false.
            (Dialect::Kwp2000, 0x00..=0x7F) => {
                if let Some(&(_, name, meaning)) = UDS_NRCS
                    .binary_search_by_key(&self.0, |&(b, _, _)| b)
                    .ok()
                    .and_then(|i| UDS_NRCS.get(i))
                {
                    return (name, meaning);
                }
                (
                    "isoSaeReserved",
                    "a code the standard reserves and does not define",
                )
            }
            (Dialect::Kwp2000, 0x90..=0xF9) => (
                "vehicleManufacturerSpecific",
                "a vehicle-manufacturer-specific negative response",
            ),
            (Dialect::Kwp2000, 0xFA..=0xFE) => (
                "systemSupplierSpecific",
                "a system-supplier-specific negative response",
            ),
            (Dialect::Uds, 0x94..=0xEF) => (
                "reservedForSpecificConditionsNotCorrect",
                "a condition for the request is not met (code reserved by ISO 14229-1)",
            ),
            (Dialect::Uds, 0xF0..=0xFE) => (
                "vehicleManufacturerSpecificConditionsNotCorrect",
                "a vehicle-manufacturer-specific condition for the request is not met",
            ),
            _ => (
                "isoSaeReserved",
                "a code the standard reserves and does not define",
            ),
        }
    }
}

impl fmt::Display for Nrc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X}", self.0)
    }
}

/// ISO 14230-3 (KWP2000) negative response codes: code, name, one-line meaning; sorted.
pub const KWP2000_NRCS: &[(u8, &str, &str)] = &[
    (
        0x10,
        "generalReject",
        "the request was rejected for an unspecified reason",
    ),
    (
        0x11,
        "serviceNotSupported",
        "the ECU does not implement this service",
    ),
    (
        0x12,
        "subFunctionNotSupported-InvalidFormat",
        "the sub-function or parameter is not supported, or the message format is wrong",
    ),
    (
        0x21,
        "busy-RepeatRequest",
        "the ECU is busy; repeat the request later",
    ),
    (
        0x22,
        "conditionsNotCorrectOrRequestSequenceError",
        "the ECU's conditions do not allow the request now, or requests came in the wrong order",
    ),
    (0x23, "routineNotComplete", "the routine is still running"),
    (
        0x31,
        "requestOutOfRange",
        "a parameter (identifier, address, value) is out of range",
    ),
    (
        0x33,
        "securityAccessDenied",
        "security access is locked or was refused",
    ),
    (0x35, "invalidKey", "the security key sent does not match"),
    (
        0x36,
        "exceedNumberOfAttempts",
        "too many wrong security keys",
    ),
    (
        0x37,
        "requiredTimeDelayNotExpired",
        "the security delay after failed attempts has not expired",
    ),
    (0x40, "downloadNotAccepted", "the download was refused"),
    (
        0x41,
        "improperDownloadType",
        "the download type is not supported",
    ),
    (
        0x42,
        "canNotDownloadToSpecifiedAddress",
        "cannot download to this address",
    ),
    (
        0x43,
        "canNotDownloadNumberOfBytesRequested",
        "cannot download this many bytes",
    ),
    (0x50, "uploadNotAccepted", "the upload was refused"),
    (
        0x51,
        "improperUploadType",
        "the upload type is not supported",
    ),
    (
        0x52,
        "canNotUploadFromSpecifiedAddress",
        "cannot upload from this address",
    ),
    (
        0x53,
        "canNotUploadNumberOfBytesRequested",
        "cannot upload this many bytes",
    ),
    (0x71, "transferSuspended", "the data transfer was suspended"),
    (0x72, "transferAborted", "the data transfer was aborted"),
    (
        0x74,
        "illegalAddressInBlockTransfer",
        "an address in the block transfer is illegal",
    ),
    (
        0x75,
        "illegalByteCountInBlockTransfer",
        "a byte count in the block transfer is illegal",
    ),
    (
        0x76,
        "illegalBlockTransferType",
        "the block transfer type is illegal",
    ),
    (
        0x77,
        "blockTransferDataChecksumError",
        "the block transfer checksum is wrong",
    ),
    (
        0x78,
        "requestCorrectlyReceived-ResponsePending",
        "the request was received and the answer will come later (wait P2*)",
    ),
    (
        0x79,
        "incorrectByteCountDuringBlockTransfer",
        "the byte count during the block transfer is wrong",
    ),
    (
        0x80,
        "serviceNotSupportedInActiveDiagnosticSession",
        "the service is not available in the current session (open another session with $10)",
    ),
];

/// ISO 14229-1 (UDS) negative response codes: code, name, one-line meaning; sorted.
pub const UDS_NRCS: &[(u8, &str, &str)] = &[
    (
        0x10,
        "generalReject",
        "the request was rejected for an unspecified reason",
    ),
    (
        0x11,
        "serviceNotSupported",
        "the ECU does not implement this service",
    ),
    (
        0x12,
        "subFunctionNotSupported",
        "the ECU does not implement this sub-function",
    ),
    (
        0x13,
        "incorrectMessageLengthOrInvalidFormat",
        "the request's length or format is wrong",
    ),
    (
        0x14,
        "responseTooLong",
        "the answer would be longer than the transport allows",
    ),
    (
        0x21,
        "busyRepeatRequest",
        "the ECU is busy; repeat the request later",
    ),
    (
        0x22,
        "conditionsNotCorrect",
        "the ECU's conditions do not allow the request now",
    ),
    (
        0x24,
        "requestSequenceError",
        "the request came in the wrong order",
    ),
    (
        0x25,
        "noResponseFromSubnetComponent",
        "a sub-network component the ECU asked did not answer",
    ),
    (
        0x26,
        "failurePreventsExecutionOfRequestedAction",
        "a fault prevents the requested action",
    ),
    (
        0x31,
        "requestOutOfRange",
        "a parameter (identifier, address, value) is out of range",
    ),
    (
        0x33,
        "securityAccessDenied",
        "security access is locked or was refused",
    ),
    (
        0x34,
        "authenticationRequired",
        "the service needs authentication first",
    ),
    (0x35, "invalidKey", "the security key sent does not match"),
    (
        0x36,
        "exceededNumberOfAttempts",
        "too many wrong security keys",
    ),
    (
        0x37,
        "requiredTimeDelayNotExpired",
        "the security delay after failed attempts has not expired",
    ),
    (
        0x70,
        "uploadDownloadNotAccepted",
        "the upload or download was refused",
    ),
    (
        0x71,
        "transferDataSuspended",
        "the data transfer was suspended",
    ),
    (
        0x72,
        "generalProgrammingFailure",
        "erasing or programming memory failed",
    ),
    (
        0x73,
        "wrongBlockSequenceCounter",
        "the transfer block sequence counter is wrong",
    ),
    (
        0x78,
        "requestCorrectlyReceived-ResponsePending",
        "the request was received and the answer will come later (wait P2*)",
    ),
    (
        0x7E,
        "subFunctionNotSupportedInActiveSession",
        "the sub-function is not available in the current session",
    ),
    (
        0x7F,
        "serviceNotSupportedInActiveSession",
        "the service is not available in the current session",
    ),
    (0x81, "rpmTooHigh", "engine speed is too high"),
    (0x82, "rpmTooLow", "engine speed is too low"),
    (0x83, "engineIsRunning", "the engine must be stopped"),
    (0x84, "engineIsNotRunning", "the engine must be running"),
    (
        0x85,
        "engineRunTimeTooLow",
        "the engine has not run long enough",
    ),
    (0x86, "temperatureTooHigh", "a temperature is too high"),
    (0x87, "temperatureTooLow", "a temperature is too low"),
    (0x88, "vehicleSpeedTooHigh", "vehicle speed is too high"),
    (0x89, "vehicleSpeedTooLow", "vehicle speed is too low"),
    (
        0x8A,
        "throttle/PedalTooHigh",
        "throttle or pedal position is too high",
    ),
    (
        0x8B,
        "throttle/PedalTooLow",
        "throttle or pedal position is too low",
    ),
    (
        0x8C,
        "transmissionRangeNotInNeutral",
        "the transmission must be in neutral",
    ),
    (
        0x8D,
        "transmissionRangeNotInGear",
        "the transmission must be in gear",
    ),
    (
        0x8F,
        "brakeSwitch(es)NotClosed",
        "the brake pedal must be pressed",
    ),
    (
        0x90,
        "shifterLeverNotInPark",
        "the shift lever must be in park",
    ),
    (
        0x91,
        "torqueConverterClutchLocked",
        "the torque converter clutch is locked",
    ),
    (0x92, "voltageTooHigh", "supply voltage is too high"),
    (0x93, "voltageTooLow", "supply voltage is too low"),
];

/// Why a received PDU does not answer the request it was compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unrelated {
    /// The PDU is empty.
    Empty,
    /// The request PDU is empty, so nothing can answer it.
    EmptyRequest,
    /// A `7F` PDU shorter than `7F SID NRC`.
    TruncatedNegative,
    /// A negative response to another service.
    NegativeForOtherService {
        /// The service the negative response names.
        sid: u8,
        /// Its negative response code.
        nrc: Nrc,
    },
    /// A PDU whose first byte is not the request's positive response id.
    OtherService {
        /// The PDU's first byte.
        response_sid: u8,
    },
}

/// What a received PDU is with respect to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseClass {
    /// The first byte is the request's SID + 0x40.
    Positive,
    /// `7F SID NRC` naming the request's SID (bytes after the NRC are ignored).
    Negative {
        /// The negative response code.
        nrc: Nrc,
    },
    /// Not an answer to this request.
    Unrelated(Unrelated),
}

/// Classifies `response` against `request` by service id alone (sub-function bytes are neither
/// compared nor interpreted, so KWP2000 and UDS requests are treated the same).
pub fn classify_response(request: &[u8], response: &[u8]) -> ResponseClass {
    let Some(&request_sid) = request.first() else {
        return ResponseClass::Unrelated(Unrelated::EmptyRequest);
    };
    match response {
        [] => ResponseClass::Unrelated(Unrelated::Empty),
        [NEGATIVE_RESPONSE_SID, sid, nrc, ..] => {
            if *sid == request_sid {
                ResponseClass::Negative { nrc: Nrc(*nrc) }
            } else {
                ResponseClass::Unrelated(Unrelated::NegativeForOtherService {
                    sid: *sid,
                    nrc: Nrc(*nrc),
                })
            }
        }
        [NEGATIVE_RESPONSE_SID, ..] if request_sid != NEGATIVE_RESPONSE_SID - 0x40 => {
            ResponseClass::Unrelated(Unrelated::TruncatedNegative)
        }
        [first, ..] => {
            if ServiceId(request_sid).positive_response() == Some(*first) {
                ResponseClass::Positive
            } else {
                ResponseClass::Unrelated(Unrelated::OtherService {
                    response_sid: *first,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn test_tables_sorted_and_unique() {
        for t in [KWP2000_SERVICES, UDS_SERVICES] {
            assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
        }
        for t in [KWP2000_NRCS, UDS_NRCS] {
            assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
            assert!(t.iter().all(|&(_, n, m)| !n.is_empty() && !m.is_empty()));
        }
    }

    #[test]
    fn test_service_names_kwp() {
        let k = Dialect::Kwp2000;
        assert_eq!(service_name(k, 0x10), Some("StartDiagnosticSession"));
        assert_eq!(service_name(k, 0x11), Some("EcuReset"));
        assert_eq!(service_name(k, 0x14), Some("ClearDiagnosticInformation"));
        assert_eq!(
            service_name(k, 0x17),
            Some("ReadStatusOfDiagnosticTroubleCodes")
        );
        assert_eq!(
            service_name(k, 0x18),
            Some("ReadDiagnosticTroubleCodesByStatus")
        );
        assert_eq!(service_name(k, 0x1A), Some("ReadEcuIdentification"));
        assert_eq!(service_name(k, 0x21), Some("ReadDataByLocalIdentifier"));
        assert_eq!(service_name(k, 0x27), Some("SecurityAccess"));
        assert_eq!(
            service_name(k, 0x30),
            Some("InputOutputControlByLocalIdentifier")
        );
        assert_eq!(service_name(k, 0x31), Some("StartRoutineByLocalIdentifier"));
        assert_eq!(service_name(k, 0x32), Some("StopRoutineByLocalIdentifier"));
        assert_eq!(
            service_name(k, 0x33),
            Some("RequestRoutineResultsByLocalIdentifier")
        );
        assert_eq!(service_name(k, 0x3B), Some("WriteDataByLocalIdentifier"));
        assert_eq!(service_name(k, 0x3E), Some("TesterPresent"));
        assert_eq!(service_name(k, 0x81), Some("StartCommunication"));
        assert_eq!(service_name(k, 0x82), Some("StopCommunication"));
        assert_eq!(service_name(k, 0x19), None);
        assert_eq!(service_name(k, 0x50), None);
    }

    #[test]
    fn test_service_names_uds() {
        let u = Dialect::Uds;
        assert_eq!(service_name(u, 0x10), Some("DiagnosticSessionControl"));
        assert_eq!(service_name(u, 0x19), Some("ReadDTCInformation"));
        assert_eq!(service_name(u, 0x22), Some("ReadDataByIdentifier"));
        assert_eq!(service_name(u, 0x28), Some("CommunicationControl"));
        assert_eq!(
            service_name(u, 0x2F),
            Some("InputOutputControlByIdentifier")
        );
        assert_eq!(service_name(u, 0x31), Some("RoutineControl"));
        assert_eq!(service_name(u, 0x85), Some("ControlDTCSetting"));
        // Local-identifier services exist only in KWP2000.
        assert_eq!(service_name(u, 0x21), None);
        assert_eq!(service_name(u, 0x3B), None);
        assert_eq!(ServiceId(0x31).name(u), Some("RoutineControl"));
        assert_eq!(ServiceId(0x31).to_string(), "$31");
    }

    #[test]
    fn test_positive_response_id() {
        assert_eq!(ServiceId(0x10).positive_response(), Some(0x50));
        assert_eq!(ServiceId(0x81).positive_response(), Some(0xC1));
        assert_eq!(ServiceId(0xC0).positive_response(), None);
    }

    #[test]
    fn test_nrc_names_per_dialect() {
        let (k, u) = (Dialect::Kwp2000, Dialect::Uds);
        assert_eq!(Nrc(0x10).name(u), "generalReject");
        assert_eq!(Nrc(0x12).name(k), "subFunctionNotSupported-InvalidFormat");
        assert_eq!(Nrc(0x12).name(u), "subFunctionNotSupported");
        assert_eq!(Nrc(0x13).name(u), "incorrectMessageLengthOrInvalidFormat");
        assert_eq!(Nrc(0x21).name(u), "busyRepeatRequest");
        assert_eq!(Nrc(0x22).name(u), "conditionsNotCorrect");
        assert_eq!(Nrc(0x24).name(u), "requestSequenceError");
        assert_eq!(Nrc(0x31).name(k), "requestOutOfRange");
        assert_eq!(Nrc(0x33).name(k), "securityAccessDenied");
        assert_eq!(Nrc(0x35).name(u), "invalidKey");
        assert_eq!(Nrc(0x36).name(u), "exceededNumberOfAttempts");
        assert_eq!(Nrc(0x37).name(u), "requiredTimeDelayNotExpired");
        assert_eq!(
            Nrc(0x78).name(k),
            "requestCorrectlyReceived-ResponsePending"
        );
        assert_eq!(Nrc(0x7E).name(u), "subFunctionNotSupportedInActiveSession");
        assert_eq!(Nrc(0x7F).name(u), "serviceNotSupportedInActiveSession");
        assert_eq!(
            Nrc(0x80).name(k),
            "serviceNotSupportedInActiveDiagnosticSession"
        );
        assert_eq!(Nrc(0x80).name(u), "isoSaeReserved");
        assert_eq!(Nrc(0x81).name(u), "rpmTooHigh");
        assert_eq!(Nrc(0x93).name(u), "voltageTooLow");
        assert_eq!(Nrc(0x95).name(u), "reservedForSpecificConditionsNotCorrect");
        assert_eq!(
            Nrc(0xF3).name(u),
            "vehicleManufacturerSpecificConditionsNotCorrect"
        );
        assert_eq!(Nrc(0x95).name(k), "vehicleManufacturerSpecific");
        assert_eq!(Nrc(0xFB).name(k), "systemSupplierSpecific");
        assert_eq!(Nrc(0x00).name(k), "isoSaeReserved");
        assert_eq!(Nrc(0x7F).name(k), "serviceNotSupportedInActiveSession");
        assert!(!Nrc(0x7F).is_defined(k));
        assert_eq!(Nrc(0x13).name(k), "incorrectMessageLengthOrInvalidFormat");
        assert_eq!(Nrc(0x8E).name(k), "isoSaeReserved");
        assert_eq!(Nrc(0x81).name(k), "isoSaeReserved");
        assert_eq!(Nrc(0x91).name(k), "vehicleManufacturerSpecific");
        assert_eq!(Nrc(0xFF).name(k), "isoSaeReserved");
        assert!(Nrc(0x80).is_defined(k));
        assert!(!Nrc(0x80).is_defined(u));
        assert!(Nrc(0x80).meaning(k).contains("session"));
    }

    #[test]
    fn test_classify_positive_negative_unrelated() {
        assert_eq!(
            classify_response(&[0x10, 0xC0], &[0x50, 0xC0]),
            ResponseClass::Positive
        );
        assert_eq!(
            classify_response(&[0x21, 0x01], &[0x7F, 0x21, 0x80]),
            ResponseClass::Negative { nrc: Nrc(0x80) }
        );
        assert_eq!(
            classify_response(&[0x21, 0x01], &[0x7F, 0x22, 0x31]),
            ResponseClass::Unrelated(Unrelated::NegativeForOtherService {
                sid: 0x22,
                nrc: Nrc(0x31)
            })
        );
        assert_eq!(
            classify_response(&[0x21, 0x01], &[0x62, 0x01]),
            ResponseClass::Unrelated(Unrelated::OtherService { response_sid: 0x62 })
        );
        assert_eq!(
            classify_response(&[0x21], &[]),
            ResponseClass::Unrelated(Unrelated::Empty)
        );
        assert_eq!(
            classify_response(&[], &[0x50]),
            ResponseClass::Unrelated(Unrelated::EmptyRequest)
        );
        assert_eq!(
            classify_response(&[0x21], &[0x7F, 0x21]),
            ResponseClass::Unrelated(Unrelated::TruncatedNegative)
        );
        // A sub-function with bit 7 set is not interpreted: `10 C0` answered by `50 C0`.
        assert_eq!(
            classify_response(&[0x10, 0xC0], &[0x50]),
            ResponseClass::Positive
        );
    }

    #[test]
    fn test_classify_request_3f_gets_7f_positive() {
        // `$3F` is not a service, but if a caller sends it a `7F ..` reply of two bytes
        // is its positive response by the SID + 0x40 rule, not a truncated negative.
        assert_eq!(
            classify_response(&[0x3F], &[0x7F, 0x00]),
            ResponseClass::Positive
        );
    }

    proptest! {
        #[test]
        fn test_classify_never_panics(req in proptest::collection::vec(any::<u8>(), 0..8),
                                       resp in proptest::collection::vec(any::<u8>(), 0..8)) {
            let class = classify_response(&req, &resp);
            if class == ResponseClass::Positive {
                prop_assert_eq!(Some(resp[0]), req[0].checked_add(0x40));
            }
        }

        #[test]
        fn test_nrc_always_named(b in any::<u8>()) {
            for d in [Dialect::Kwp2000, Dialect::Uds] {
                prop_assert!(!Nrc(b).name(d).is_empty());
                prop_assert!(!Nrc(b).meaning(d).is_empty());
            }
        }
    }
}
