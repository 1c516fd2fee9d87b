//! Finding modules and reading what they say: the request/response id ranges a scan probes,
//! the read-only probes it sends, how an answer reads, the id ranges a sniffer listens to,
//! the default DTC requests, and why a request got no answer.
//!
//! Pure: the command line parses its options with these and prints what they return; the
//! drivers send the probes.

use core::fmt;

use super::codec::Dialect;
use super::hex::{HexError, format_hex, parse_hex};
use super::link::RequestOutcome;
use super::sniff::negative_text;
use super::{DtcRecord, TimeoutReason};
use crate::frame::{Id, IdParseError};

/// The read-only probes a scan sends to each request id, in order: KWP2000 read ECU
/// identification (`1A 81`), KWP2000 read data by local identifier (`21 83`), UDS read VIN
/// (`22 F1 90`). Any answer, even negative, proves a module.
pub const PROBES: &[&[u8]] = &[&[0x1A, 0x81], &[0x21, 0x83], &[0x22, 0xF1, 0x90]];

/// The ranges a scan probes when none is given: the 11-bit block `740-74F` answered `+20`
/// (where Nissan's body modules sit), the OBD engine block `7E0-7E7+8`, and `71E:72E`.
pub const DEFAULT_SCAN: &[&str] = &["740-74F+20", "7E0-7E7+8", "71E:72E"];

/// The most request ids one range may span.
const MAX_SPAN: u32 = 0x800;

/// Why a scan range was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("`{0}`: write START-END+OFFSET (like 740-74F+20) or TX:RX")]
    Form(String),
    #[error("`{text}`: {source}")]
    Id {
        text: String,
        #[source]
        source: IdParseError,
    },
    #[error("`{0}`: START-END with both ids of the same kind, START <= END")]
    Order(String),
}

fn id(part: &str, extended: bool, text: &str) -> Result<Id, RangeError> {
    Id::parse_hex(part.trim(), extended).map_err(|source| RangeError::Id {
        text: text.to_string(),
        source,
    })
}

/// The (request id, response id) pairs a scan range names: `START-END+OFFSET` (hex; each
/// request id answered at request id + OFFSET), `ID+OFFSET`, or one pair `TX:RX`.
///
/// ```
/// use canrelearn::diag::scan::scan_pairs;
/// let pairs = scan_pairs("740-742+20", false).unwrap();
/// assert_eq!(pairs.len(), 3);
/// assert_eq!(pairs[2].1.raw(), 0x762);
/// ```
pub fn scan_pairs(text: &str, extended: bool) -> Result<Vec<(Id, Id)>, RangeError> {
    if let Some((t, r)) = text.split_once(':') {
        return Ok(vec![(id(t, extended, text)?, id(r, extended, text)?)]);
    }
    let form = || RangeError::Form(text.to_string());
    let (span, offset) = text.split_once('+').ok_or_else(form)?;
    let offset = u32::from_str_radix(offset, 16).map_err(|_| form())?;
    let (start, end) = span.split_once('-').unwrap_or((span, span));
    let (s, e) = (id(start, extended, text)?, id(end, extended, text)?);
    if s.is_extended() != e.is_extended() || s.raw() > e.raw() || e.raw() - s.raw() > MAX_SPAN {
        return Err(form());
    }
    (s.raw()..=e.raw())
        .map(|raw| {
            let mk = |r: u32| Id::new(r, s.is_extended()).ok_or_else(form);
            Ok((mk(raw)?, mk(raw.saturating_add(offset))?))
        })
        .collect()
}

/// The (request id, response id) pairs of every range in `specs`, in order, each read as
/// [`scan_pairs`] reads it; the ranges of [`DEFAULT_SCAN`] when `specs` is empty. The first
/// range refused is the error.
pub fn scan_pairs_of(specs: &[String], extended: bool) -> Result<Vec<(Id, Id)>, RangeError> {
    let specs: Vec<&str> = match specs.is_empty() {
        true => DEFAULT_SCAN.to_vec(),
        false => specs.iter().map(String::as_str).collect(),
    };
    let mut pairs = Vec::new();
    for s in specs {
        pairs.extend(scan_pairs(s, extended)?);
    }
    Ok(pairs)
}

/// What a scan of `count` request ids sends, as the question before it says it: `Probe 16
/// request ids with read-only requests (1A 81, then 21 83, then 22 F1 90)`.
pub fn probe_description(count: usize) -> String {
    format!(
        "Probe {count} request id{} with read-only requests ({})",
        if count == 1 { "" } else { "s" },
        PROBES
            .iter()
            .map(|p| format_hex(p))
            .collect::<Vec<_>>()
            .join(", then ")
    )
}

/// A span of ids of one kind, for listening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    pub extended: bool,
    pub start: u32,
    pub end: u32,
}

impl IdRange {
    /// The ranges a diagnostic sniffer listens to when none is given: the 11-bit `700-7FF`
    /// and the 29-bit normal-fixed addressing block `18DA0000-18DAFFFF`.
    pub const DIAGNOSTIC: [IdRange; 2] = [
        IdRange {
            extended: false,
            start: 0x700,
            end: 0x7FF,
        },
        IdRange {
            extended: true,
            start: 0x18DA_0000,
            end: 0x18DA_FFFF,
        },
    ];

    /// `START-END` or one id, in hex (8 digits for 29-bit ids).
    pub fn parse(text: &str) -> Result<IdRange, RangeError> {
        let (a, b) = text.split_once('-').unwrap_or((text, text));
        let (s, e) = (id(a, false, text)?, id(b, false, text)?);
        if s.is_extended() != e.is_extended() || s.raw() > e.raw() {
            return Err(RangeError::Order(text.to_string()));
        }
        Ok(IdRange {
            extended: s.is_extended(),
            start: s.raw(),
            end: e.raw(),
        })
    }

    /// Every range of `specs`, each read as [`IdRange::parse`] reads it; the
    /// [`IdRange::DIAGNOSTIC`] ranges when `specs` is empty. The first range refused is the
    /// error.
    pub fn parse_all(specs: &[String]) -> Result<Vec<IdRange>, RangeError> {
        match specs.is_empty() {
            true => Ok(IdRange::DIAGNOSTIC.to_vec()),
            false => specs.iter().map(|s| IdRange::parse(s)).collect(),
        }
    }

    /// Whether `id` is of this range's kind and within it.
    pub fn contains(&self, id: Id) -> bool {
        id.is_extended() == self.extended && (self.start..=self.end).contains(&id.raw())
    }
}

/// How a probe's answer reads: the bytes, with the identification text when the answer
/// carries mostly printable ASCII, or the negative response's meaning.
pub fn probe_answer(outcome: &RequestOutcome, dialect: Dialect) -> String {
    match outcome {
        RequestOutcome::Positive { pdu, .. } => {
            // Skip the service byte and the identifier (one byte, two for `62`).
            let skip = match pdu.first() {
                Some(0x62) => 3,
                _ => 2,
            };
            let text = ascii_text(pdu.get(skip..).unwrap_or(&[]));
            match text.is_empty() {
                true => format_hex(pdu),
                false => format!("{} \"{text}\"", format_hex(pdu)),
            }
        }
        RequestOutcome::Negative { pdu, sid, nrc, .. } => format!(
            "{} ({})",
            format_hex(pdu),
            negative_text(dialect, *sid, *nrc)
        ),
        _ => String::new(),
    }
}

/// The printable ASCII of `bytes` (others as `.`), trimmed; empty when fewer than three in
/// four bytes are printable.
pub fn ascii_text(bytes: &[u8]) -> String {
    let printable = |b: u8| b.is_ascii_graphic() || b == b' ';
    let count = bytes.iter().filter(|&&b| printable(b)).count();
    if bytes.is_empty() || count * 4 < bytes.len() * 3 {
        return String::new();
    }
    bytes
        .iter()
        .map(|&b| if printable(b) { char::from(b) } else { '.' })
        .collect::<String>()
        .trim()
        .to_string()
}

/// What a DTC request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtcAction {
    Read,
    Clear,
}

/// The standard request for `action`: KWP2000 `18 02 FF 00` (read by status, all groups)
/// and `14 FF 00` (clear all), UDS `19 02 FF` (report by status mask) and `14 FF FF FF`.
pub fn dtc_request(action: DtcAction, dialect: Dialect) -> Vec<u8> {
    match (action, dialect) {
        (DtcAction::Read, Dialect::Kwp2000) => vec![0x18, 0x02, 0xFF, 0x00],
        (DtcAction::Read, Dialect::Uds) => vec![0x19, 0x02, 0xFF],
        (DtcAction::Clear, Dialect::Kwp2000) => vec![0x14, 0xFF, 0x00],
        (DtcAction::Clear, Dialect::Uds) => vec![0x14, 0xFF, 0xFF, 0xFF],
    }
}

/// The request a DTC command sends for `action`: the hex of `given` when there is one,
/// otherwise [`dtc_request`]'s standard request.
pub fn dtc_pdu(
    action: DtcAction,
    dialect: Dialect,
    given: Option<&str>,
) -> Result<Vec<u8>, HexError> {
    match given {
        Some(h) => parse_hex(h),
        None => Ok(dtc_request(action, dialect)),
    }
}

/// One stored DTC as a line: code, status byte, meaning.
pub struct DtcLine<'a>(pub &'a DtcRecord);

impl fmt::Display for DtcLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        write!(
            f,
            "{} status 0x{:02X} {}",
            r.code_text(),
            r.status.0,
            r.code.describe()
        )
    }
}

/// Which timing rule ended a request without an answer, after `pending` response-pending
/// (`0x78`) answers.
pub fn timeout_rule(reason: TimeoutReason, pending: u32) -> String {
    match reason {
        TimeoutReason::P2 => "nothing within P2".to_string(),
        TimeoutReason::P2Star => format!(
            "no final answer within P2* of the last of {pending} response-pending (0x78) answers"
        ),
        TimeoutReason::PendingLimit => {
            format!("gave up after {pending} response-pending (0x78) answers")
        }
        TimeoutReason::OverallCap => "the overall time limit expired".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(raw: u16) -> Id {
        Id::standard(raw).unwrap()
    }

    #[test]
    fn test_scan_pairs_forms() {
        assert_eq!(
            scan_pairs("740-74F+20", false).unwrap(),
            (0x740..=0x74F)
                .map(|r| (sid(r), sid(r + 0x20)))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            scan_pairs("71E:72E", false).unwrap(),
            [(sid(0x71E), sid(0x72E))]
        );
        assert_eq!(
            scan_pairs("7E0+8", false).unwrap(),
            [(sid(0x7E0), sid(0x7E8))]
        );
        let ext = scan_pairs("18DA40F1-18DA41F1+0", false).unwrap();
        assert_eq!(ext.len(), 0x101);
        assert!(ext.iter().all(|(t, _)| t.is_extended()));
        for bad in [
            "740",
            "74F-740+20",
            "740-74F+zz",
            "7FF+1",
            "000-FFF+1",
            "x:745",
            "740-18DA0000+1",
        ] {
            assert!(scan_pairs(bad, false).is_err(), "{bad}");
        }
        // A response id past the 11-bit range is refused, not wrapped.
        assert!(scan_pairs("7F0-7FF+20", false).is_err());
        assert!(scan_pairs("740-74F", false).is_err());
        for default in DEFAULT_SCAN {
            assert!(scan_pairs(default, false).is_ok(), "{default}");
        }
    }

    #[test]
    fn test_scan_pairs_of_defaults_and_order() {
        let default = scan_pairs_of(&[], false).unwrap();
        assert_eq!(default.len(), 16 + 8 + 1);
        assert_eq!(default[0], (sid(0x740), sid(0x760)));
        assert_eq!(default[24], (sid(0x71E), sid(0x72E)));
        let given = ["71E:72E".to_string(), "7E0+8".to_string()];
        assert_eq!(
            scan_pairs_of(&given, false).unwrap(),
            [(sid(0x71E), sid(0x72E)), (sid(0x7E0), sid(0x7E8))]
        );
        let bad = ["7E0+8".to_string(), "740".to_string(), "zz".to_string()];
        assert_eq!(
            scan_pairs_of(&bad, false),
            Err(RangeError::Form("740".to_string()))
        );
    }

    #[test]
    fn test_probe_description() {
        assert_eq!(
            probe_description(1),
            "Probe 1 request id with read-only requests (1A 81, then 21 83, then 22 F1 90)"
        );
        assert!(probe_description(25).starts_with("Probe 25 request ids with "));
    }

    #[test]
    fn test_id_ranges_parse_all() {
        assert_eq!(IdRange::parse_all(&[]).unwrap(), IdRange::DIAGNOSTIC);
        let given = ["745".to_string(), "760-76F".to_string()];
        let ranges = IdRange::parse_all(&given).unwrap();
        assert_eq!(ranges.len(), 2);
        assert!(ranges[1].contains(sid(0x765)));
        let bad = ["745".to_string(), "7FF-700".to_string()];
        assert_eq!(
            IdRange::parse_all(&bad),
            Err(RangeError::Order("7FF-700".to_string()))
        );
    }

    #[test]
    fn test_dtc_pdu() {
        assert_eq!(
            dtc_pdu(DtcAction::Read, Dialect::Uds, None).unwrap(),
            [0x19, 0x02, 0xFF]
        );
        assert_eq!(
            dtc_pdu(DtcAction::Clear, Dialect::Kwp2000, Some("14 00 00")).unwrap(),
            [0x14, 0x00, 0x00]
        );
        assert!(dtc_pdu(DtcAction::Read, Dialect::Uds, Some("1")).is_err());
    }

    #[test]
    fn test_id_ranges() {
        let r = IdRange::parse("700-7FF").unwrap();
        assert_eq!(r, IdRange::DIAGNOSTIC[0]);
        assert!(r.contains(sid(0x745)) && !r.contains(sid(0x6FF)));
        assert!(!r.contains(Id::extended(0x745).unwrap()));
        let one = IdRange::parse("18DAF140").unwrap();
        assert!(one.contains(Id::extended(0x18DA_F140).unwrap()));
        assert!(!one.contains(Id::extended(0x18DA_F141).unwrap()));
        assert!(
            IdRange::parse("18DA0000-18DAFFFF")
                .unwrap()
                .contains(Id::extended(0x18DA_F110).unwrap())
        );
        for bad in ["7FF-700", "700-18DA0000", "700-18DAFFFF", "zz", "800"] {
            assert!(IdRange::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn test_ascii_text() {
        assert_eq!(ascii_text(b"  SNR123 "), "SNR123");
        assert_eq!(ascii_text(b"AB\x01C"), "AB.C");
        assert_eq!(ascii_text(&[0x01, 0x02, 0x41]), "");
        assert_eq!(ascii_text(b"284B2-4EA0A"), "284B2-4EA0A");
        assert_eq!(ascii_text(b" VIN123 \x00"), "VIN123 .");
        assert_eq!(ascii_text(&[0x01, 0x02, 0x03, 0x41]), "");
        assert_eq!(ascii_text(&[]), "");
    }

    #[test]
    fn test_probe_answer() {
        let positive = RequestOutcome::Positive {
            pdu: [&[0x62, 0xF1, 0x90][..], b"VIN0123"].concat(),
            elapsed: core::time::Duration::ZERO,
        };
        assert_eq!(
            probe_answer(&positive, Dialect::Uds),
            "62 F1 90 56 49 4E 30 31 32 33 \"VIN0123\""
        );
        let binary = RequestOutcome::Positive {
            pdu: vec![0x5A, 0x81, 0x00, 0x01],
            elapsed: core::time::Duration::ZERO,
        };
        assert_eq!(probe_answer(&binary, Dialect::Kwp2000), "5A 81 00 01");
    }

    #[test]
    fn test_dtc_requests_are_the_standard_ones() {
        use crate::diag::codec::changes_state;
        for d in [Dialect::Kwp2000, Dialect::Uds] {
            assert!(!changes_state(d, &dtc_request(DtcAction::Read, d)));
            assert!(changes_state(d, &dtc_request(DtcAction::Clear, d)));
        }
    }
}
