//! What the diagnostic commands report, as text and verdicts: the reply to one request (`diag
//! request`), a module found by a scan (`diag scan`) and a DTC listing (`diag dtc`).
//!
//! These lines are a documented contract (scripts read the first line of `diag request`, the
//! scan's lines and the DTC lines). Pure: the command line prints the lines and maps the
//! verdicts to exit codes; nothing here writes anywhere.

use core::time::Duration;

use super::TimeoutReason;
use super::codec::Dialect;
use super::dtc::{DtcParseError, parse_dtc_by_status};
use super::hex::format_hex;
use super::link::RequestOutcome;
use super::scan::{self, DtcAction, DtcLine};
use super::sniff::negative_text;
use crate::frame::Id;
use crate::isotp::SendFailure;

/// How a request that drew an answer (or needed none) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A positive response: success.
    Positive,
    /// A negative response: the request failed.
    Negative,
    /// Sent without waiting for a response (its last frame is written): success.
    Sent,
}

/// Why a request drew no answer: the error a reply report ends with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoReply {
    /// No final answer in time.
    #[error(
        "no answer from {rx} to `{}` sent on {tx}: {} (waited {} ms)",
        format_hex(.request),
        scan::timeout_rule(*.reason, *.pending),
        .waited.as_millis()
    )]
    Timeout {
        /// The request id.
        tx: Id,
        /// The response id.
        rx: Id,
        /// The request PDU.
        request: Vec<u8>,
        /// Which timing rule ended it.
        reason: TimeoutReason,
        /// The response-pending (`0x78`) answers received before.
        pending: u32,
        /// How long it waited.
        waited: Duration,
    },
    /// ISO-TP could not deliver the request.
    #[error("the request could not be sent on {tx}: {failure}")]
    NotSent {
        /// The request id.
        tx: Id,
        /// What went wrong.
        failure: SendFailure,
    },
}

/// What `diag request` says about a request's outcome: a note for standard error, the lines
/// for standard output, then the verdict (or why there was no answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyReport {
    /// `the module answered response pending (0x78) N times`, when it did.
    pub note: Option<String>,
    /// The response PDU in hex; for a negative response, then its NRC name and meaning.
    pub lines: Vec<String>,
    /// The verdict, or why no answer came.
    pub verdict: Result<Verdict, NoReply>,
}

impl ReplyReport {
    /// The report of `outcome`, the outcome of `request` sent on `tx` and answered on `rx`
    /// after `pending` response-pending (`0x78`) answers, named in `dialect`.
    pub fn new(
        outcome: &RequestOutcome,
        pending: u32,
        request: &[u8],
        tx: Id,
        rx: Id,
        dialect: Dialect,
    ) -> ReplyReport {
        let note = (pending > 0)
            .then(|| format!("the module answered response pending (0x78) {pending} times"));
        let (lines, verdict) = match outcome {
            RequestOutcome::Positive { pdu, .. } => (vec![format_hex(pdu)], Ok(Verdict::Positive)),
            RequestOutcome::Negative { sid, nrc, pdu, .. } => (
                vec![format_hex(pdu), negative_text(dialect, *sid, *nrc)],
                Ok(Verdict::Negative),
            ),
            RequestOutcome::SentNoResponse => (Vec::new(), Ok(Verdict::Sent)),
            RequestOutcome::Timeout { waited, reason, .. } => (
                Vec::new(),
                Err(NoReply::Timeout {
                    tx,
                    rx,
                    request: request.to_vec(),
                    reason: *reason,
                    pending,
                    waited: *waited,
                }),
            ),
            RequestOutcome::SendFailed(failure) => (
                Vec::new(),
                Err(NoReply::NotSent {
                    tx,
                    failure: *failure,
                }),
            ),
        };
        ReplyReport {
            note,
            lines,
            verdict,
        }
    }
}

/// What a scan prints when no module answered.
pub const NO_MODULE: &str = "no module answered";

/// The line of a module a scan found: `746 -> 766  1A 81: <answer>`, the answer as
/// [`scan::probe_answer`] gives it.
pub fn module_line(
    request: Id,
    response: Id,
    probe: &[u8],
    outcome: &RequestOutcome,
    dialect: Dialect,
) -> String {
    format!(
        "{} -> {}  {}: {}",
        request,
        response,
        format_hex(probe),
        scan::probe_answer(outcome, dialect)
    )
}

/// A positive answer to a DTC read that is not a DTC list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the DTC list in `{}`: {error}", format_hex(.response))]
pub struct DtcListError {
    /// The positive response.
    pub response: Vec<u8>,
    /// Why it did not parse.
    pub error: DtcParseError,
}

/// The lines of `diag dtc` for a positive `response` to `action`: `DTCs cleared (54 FF 00)`
/// for a clear; for a read, one [`DtcLine`] per stored DTC, or `no stored DTCs`.
pub fn dtc_lines(action: DtcAction, response: &[u8]) -> Result<Vec<String>, DtcListError> {
    if action == DtcAction::Clear {
        return Ok(vec![format!("DTCs cleared ({})", format_hex(response))]);
    }
    let records = parse_dtc_by_status(response).map_err(|error| DtcListError {
        response: response.to_vec(),
        error,
    })?;
    if records.is_empty() {
        return Ok(vec!["no stored DTCs".to_string()]);
    }
    Ok(records.iter().map(|r| DtcLine(r).to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Nrc;

    fn sid(raw: u16) -> Id {
        Id::standard(raw).unwrap()
    }

    fn report(outcome: RequestOutcome, pending: u32) -> ReplyReport {
        ReplyReport::new(
            &outcome,
            pending,
            &[0x1A, 0x81],
            sid(0x7E0),
            sid(0x7E8),
            Dialect::Kwp2000,
        )
    }

    #[test]
    fn test_positive_reply_is_its_pdu() {
        let r = report(
            RequestOutcome::Positive {
                pdu: vec![0x50, 0xC0],
                elapsed: Duration::ZERO,
            },
            0,
        );
        assert_eq!(r.note, None);
        assert_eq!(r.lines, ["50 C0"]);
        assert_eq!(r.verdict, Ok(Verdict::Positive));
    }

    #[test]
    fn test_negative_reply_names_the_nrc() {
        let r = report(
            RequestOutcome::Negative {
                sid: 0x21,
                nrc: Nrc(0x80),
                pdu: vec![0x7F, 0x21, 0x80],
                elapsed: Duration::ZERO,
            },
            0,
        );
        assert_eq!(
            r.lines,
            [
                "7F 21 80",
                "$21 ReadDataByLocalIdentifier: NRC 0x80 serviceNotSupportedInActiveDiagnosticSession: the service is not available in the current session (open another session with $10)"
            ]
        );
        assert_eq!(r.verdict, Ok(Verdict::Negative));
    }

    #[test]
    fn test_pending_answers_are_noted() {
        let r = report(
            RequestOutcome::Positive {
                pdu: vec![0x71, 0x90],
                elapsed: Duration::ZERO,
            },
            3,
        );
        assert_eq!(
            r.note.as_deref(),
            Some("the module answered response pending (0x78) 3 times")
        );
        assert_eq!(r.lines, ["71 90"]);
    }

    #[test]
    fn test_sent_without_response_prints_nothing() {
        let r = report(RequestOutcome::SentNoResponse, 0);
        assert!(r.lines.is_empty());
        assert_eq!(r.verdict, Ok(Verdict::Sent));
    }

    #[test]
    fn test_timeouts_say_which_rule_and_how_long() {
        let timeout = |reason, pending| {
            report(
                RequestOutcome::Timeout {
                    waited: Duration::from_millis(1003),
                    reason,
                    pending_count: pending,
                },
                pending,
            )
        };
        let r = timeout(TimeoutReason::P2, 0);
        assert!(r.lines.is_empty());
        assert_eq!(
            r.verdict.unwrap_err().to_string(),
            "no answer from 7E8 to `1A 81` sent on 7E0: nothing within P2 (waited 1003 ms)"
        );
        let r = timeout(TimeoutReason::P2Star, 3);
        assert_eq!(
            r.verdict.unwrap_err().to_string(),
            "no answer from 7E8 to `1A 81` sent on 7E0: no final answer within P2* of the last \
             of 3 response-pending (0x78) answers (waited 1003 ms)"
        );
    }

    #[test]
    fn test_send_failure_names_the_request_id() {
        let r = report(RequestOutcome::SendFailed(SendFailure::TimeoutBs), 0);
        assert!(r.lines.is_empty());
        assert_eq!(
            r.verdict.unwrap_err().to_string(),
            "the request could not be sent on 7E0: N_Bs timeout: no flow control from the receiver"
        );
    }

    #[test]
    fn test_module_line() {
        let outcome = RequestOutcome::Positive {
            pdu: [&[0x5A, 0x81][..], b"284B2-4EA0A"].concat(),
            elapsed: Duration::ZERO,
        };
        assert_eq!(
            module_line(
                sid(0x746),
                sid(0x766),
                &[0x1A, 0x81],
                &outcome,
                Dialect::Kwp2000
            ),
            "746 -> 766  1A 81: 5A 81 32 38 34 42 32 2D 34 45 41 30 41 \"284B2-4EA0A\""
        );
        assert_eq!(NO_MODULE, "no module answered");
    }

    #[test]
    fn test_dtc_lines() {
        assert_eq!(
            dtc_lines(DtcAction::Clear, &[0x54, 0xFF, 0x00]).unwrap(),
            ["DTCs cleared (54 FF 00)"]
        );
        assert_eq!(
            dtc_lines(DtcAction::Read, &[0x58, 0x00]).unwrap(),
            ["no stored DTCs"]
        );
        let lines = dtc_lines(
            DtcAction::Read,
            &[0x58, 0x02, 0xD0, 0x00, 0x20, 0x01, 0x23, 0x61],
        )
        .unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            "U1000 status 0x20 U1000 CAN COMM CIRCUIT: a unit sent or received no CAN signal for 2 s or more with ignition ON"
        );
        assert_eq!(lines[1], "P0123 status 0x61 powertrain, SAE generic code");
        let e = dtc_lines(DtcAction::Read, &[0x58]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot read the DTC list in `58`: a KWP2000 $58 response needs at least 2 bytes, got 1"
        );
    }
}
