//! Passive decoding of diagnostic conversations: what `canrelearn diag sniff` prints.
//!
//! Fed the observations of the passive ISO 15765-2 [`Reassembler`]
//! (complete messages, broken transfers, frames that are not ISO-TP), a [`Sniffer`] classifies
//! each message (request, positive, negative, pending), names its service or negative response
//! code ([`super::codec`]) and pairs answers with their requests by the rules of
//! [`super::pairing`] (a pending answer keeps the request waiting; a TesterPresent never closes
//! it). Each observation gives one [`Record`]: a serde type (the JSON Lines contract) with a
//! one-line text form for people. [`Stream`] runs the whole chain over raw frames. Pure:
//! times come from the frames.

use serde::Serialize;

use super::codec::{Dialect, Nrc, service_name};
use super::hex::format_hex;
use super::pairing::{Answer, Pairing};
use super::scan::IdRange;
use crate::frame::{Frame, Id};
use crate::isotp::{IncompleteReason, Observation, ObserverConfig, Reassembler};
use crate::time::Timestamp;

/// Requests kept waiting for an answer.
pub const MAX_WAITING: usize = 64;

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Request,
    Positive,
    Negative,
    Pending,
    /// A segmented transfer that did not complete.
    Broken,
    /// A frame on a diagnostic id that is not ISO-TP.
    Malformed,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Positive => "positive",
            Kind::Negative => "negative",
            Kind::Pending => "pending",
            Kind::Broken => "broken",
            Kind::Malformed => "malformed",
        }
    }
}

pub use crate::jsonl::Seconds;

/// One line of `diag sniff`: the JSON Lines contract (fields in this order; absent ones are
/// left out, `request_id` is `null` for an answer to no request seen).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// Time of the message's first frame.
    pub t: Seconds,
    /// The CAN id, as candump writes it (`745`, `18DAF110`).
    pub id: String,
    pub kind: Kind,
    /// The PDU in hex (messages and malformed frames' payload).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdu: Option<String>,
    /// The service, or the negative response code with its meaning, or why a frame is
    /// malformed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// For an answer: the request id it answers (`None` inside: no request seen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Option<String>>,
    /// For an answer: milliseconds from the end of its request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_ms: Option<f64>,
    /// For a broken transfer: bytes received, bytes announced, why it stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Record {
    fn new(at: Timestamp, id: Id, kind: Kind) -> Record {
        Record {
            t: Seconds(at),
            id: id.to_string(),
            kind,
            pdu: None,
            text: None,
            request_id: None,
            response_ms: None,
            received: None,
            expected: None,
            reason: None,
        }
    }

    /// The line in `format` (no newline).
    pub fn line(&self, format: Format) -> String {
        match format {
            Format::Text => self.text_line(),
            Format::Jsonl => self.json_line(),
        }
    }

    /// The JSON Lines form (no newline).
    pub fn json_line(&self) -> String {
        crate::jsonl::line(self)
    }

    /// The line for people (no newline): time, id, kind, PDU, name, pairing.
    pub fn text_line(&self) -> String {
        let t = self.t.0;
        let mut s = format!(
            "{}.{:06} {:>8} {:<8} ",
            t.secs(),
            t.subsec_micros(),
            self.id,
            self.kind.name()
        );
        match self.kind {
            Kind::Broken => {
                s.push_str(&format!(
                    "{} of {} bytes ({})",
                    self.received.unwrap_or(0),
                    self.expected.unwrap_or(0),
                    self.reason.as_deref().unwrap_or("")
                ));
                return s;
            }
            Kind::Malformed => {
                s.push_str(self.pdu.as_deref().unwrap_or(""));
                s.push_str(&format!("  ({})", self.reason.as_deref().unwrap_or("")));
                return s;
            }
            _ => {}
        }
        s.push_str(self.pdu.as_deref().unwrap_or(""));
        if let Some(t) = &self.text {
            s.push_str("  ");
            s.push_str(t);
        }
        match &self.request_id {
            Some(Some(req)) => s.push_str(&format!(
                " [{:.1} ms after {req}]",
                self.response_ms.unwrap_or(0.0)
            )),
            Some(None) => s.push_str(" [no request seen]"),
            None => {}
        }
        s
    }
}

/// How sniffed messages are written: a line for people, or JSON Lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// [`Record::text_line`].
    Text,
    /// [`Record::json_line`].
    Jsonl,
}

/// `$21 ReadDataByLocalIdentifier`.
pub fn service_label(dialect: Dialect, sid: u8) -> String {
    match service_name(dialect, sid) {
        Some(n) => format!("${sid:02X} {n}"),
        None => format!("${sid:02X}"),
    }
}

/// `$21 ReadDataByLocalIdentifier: NRC 0x78 requestCorrectly...: meaning`.
pub fn negative_text(dialect: Dialect, sid: u8, nrc: Nrc) -> String {
    format!(
        "{}: NRC 0x{:02X} {}: {}",
        service_label(dialect, sid),
        nrc.0,
        nrc.name(dialect),
        nrc.meaning(dialect)
    )
}

fn is_request(pdu: &[u8]) -> bool {
    matches!(pdu.first(), Some(&b) if b < 0x40 || (0x80..0xC0).contains(&b))
}

fn incomplete_text(reason: IncompleteReason) -> &'static str {
    match reason {
        IncompleteReason::WrongSequenceNumber { .. } => "wrong sequence number",
        IncompleteReason::Interrupted => "interrupted",
        IncompleteReason::TimedOut => "timed out",
        IncompleteReason::Evicted => "evicted",
        IncompleteReason::TooLarge => "too large",
        IncompleteReason::ShortFrame => "short frame",
        IncompleteReason::EndOfInput => "end of input",
    }
}

/// Pairs and names what the reassembler observes.
#[derive(Debug)]
pub struct Sniffer {
    dialect: Dialect,
    /// Waiting requests, tagged with their id and the time of their last frame.
    waiting: Pairing<Id, (Id, Timestamp)>,
}

impl Sniffer {
    /// A sniffer naming services and codes in `dialect`.
    pub fn new(dialect: Dialect) -> Sniffer {
        Sniffer {
            dialect,
            waiting: Pairing::new(MAX_WAITING),
        }
    }

    /// The record for one observation (`None` for flow control frames).
    pub fn observe(&mut self, obs: Observation) -> Option<Record> {
        match obs {
            Observation::Message(m) => Some(self.message(m.id, m.first, m.last, &m.data)),
            Observation::Incomplete {
                id,
                last,
                received,
                expected,
                reason,
                ..
            } => {
                let mut r = Record::new(last, id, Kind::Broken);
                r.received = Some(received);
                r.expected = Some(expected);
                r.reason = Some(incomplete_text(reason).to_string());
                Some(r)
            }
            Observation::Malformed {
                id,
                at,
                data,
                reason,
                ..
            } => {
                let mut r = Record::new(at, id, Kind::Malformed);
                r.pdu = Some(format_hex(&data));
                r.reason = Some(reason.to_string());
                Some(r)
            }
            Observation::FlowControl { .. } => None,
        }
    }

    /// A complete message whose frames span `first..=last`.
    fn message(&mut self, id: Id, first: Timestamp, last: Timestamp, pdu: &[u8]) -> Record {
        if is_request(pdu) {
            self.waiting.request(id, pdu, (id, last));
            let mut r = Record::new(first, id, Kind::Request);
            r.pdu = Some(format_hex(pdu));
            r.text = pdu
                .first()
                .and_then(|&sid| service_name(self.dialect, sid))
                .map(str::to_string);
            return r;
        }
        let (kind, text) = match pdu {
            [0x7F, sid, nrc, ..] => {
                let nrc = Nrc(*nrc);
                let k = if nrc == Nrc::RESPONSE_PENDING {
                    Kind::Pending
                } else {
                    Kind::Negative
                };
                (k, Some(negative_text(self.dialect, *sid, nrc)))
            }
            _ => (
                Kind::Positive,
                pdu.first()
                    .and_then(|&b| service_name(self.dialect, b.wrapping_sub(0x40)))
                    .map(str::to_string),
            ),
        };
        let paired = match self.waiting.response(pdu) {
            Answer::Final(t) | Answer::Pending(t) => Some(t),
            Answer::Unsolicited => None,
        };
        let mut r = Record::new(first, id, kind);
        r.pdu = Some(format_hex(pdu));
        r.text = text;
        r.request_id = Some(paired.map(|(req, _)| req.to_string()));
        r.response_ms = paired.map(|(_, at)| {
            let ms = first.saturating_duration_since(at).as_secs_f64() * 1000.0;
            (ms * 1000.0).round() / 1000.0
        });
        r
    }
}

/// `diag sniff` over raw frames: the frames on `ranges` reassembled (both directions, every
/// id), each message classified and paired ([`Sniffer`]).
#[derive(Debug)]
pub struct Stream {
    ranges: Vec<IdRange>,
    reassembler: Reassembler,
    sniffer: Sniffer,
}

impl Stream {
    /// A sniffer of the frames on `ranges`, naming services and codes in `dialect`.
    pub fn new(dialect: Dialect, ranges: Vec<IdRange>) -> Stream {
        Stream {
            ranges,
            reassembler: Reassembler::new(ObserverConfig::default()),
            sniffer: Sniffer::new(dialect),
        }
    }

    /// A frame received at `at`; the records it completes go to `emit`.
    pub fn handle_frame(&mut self, at: Timestamp, frame: &Frame, emit: &mut dyn FnMut(Record)) {
        let Some(id) = frame.id() else { return };
        if self.ranges.iter().any(|g| g.contains(id)) {
            self.reassembler.handle_frame(at, frame);
            self.drain(emit);
        }
    }

    /// The input has ended: transfers still open are reported as broken.
    pub fn finish(&mut self, emit: &mut dyn FnMut(Record)) {
        self.reassembler.flush();
        self.drain(emit);
    }

    fn drain(&mut self, emit: &mut dyn FnMut(Record)) {
        while let Some(o) = self.reassembler.poll_event() {
            if let Some(r) = self.sniffer.observe(o) {
                emit(r);
            }
        }
    }
}

/// What `diag sniff` says when no diagnostic message was found in `frames` frames on the ids
/// given (`ids` as written; none for the default [`IdRange::DIAGNOSTIC`]).
pub fn nothing_found(frames: u64, ids: &[String]) -> String {
    format!(
        "no diagnostic message in {} frame{} on {} (--ids chooses others)",
        frames,
        if frames == 1 { "" } else { "s" },
        match ids.is_empty() {
            true => "the default ids 700-7FF and 18DA0000-18DAFFFF".to_string(),
            false => format!("the ids {}", ids.join(", ")),
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isotp::Message;

    fn msg(id: u16, ms: u64, data: &[u8]) -> Observation {
        let t = Timestamp::from_nanos(100_000_000_000 + ms * 1_000_000);
        Observation::Message(Message {
            id: Id::standard(id).unwrap(),
            address: None,
            first: t,
            last: t,
            frames: 1,
            fd: false,
            data: data.to_vec(),
        })
    }

    /// Regression: the positive answer after `7F 31 78` and an intervening `3E 80` was shown
    /// as "[no request seen]".
    #[test]
    fn test_answer_after_pending_and_tester_present_is_paired() {
        let mut s = Sniffer::new(Dialect::Kwp2000);
        s.observe(msg(0x745, 0, &[0x31, 0x90]));
        let p = s.observe(msg(0x765, 10, &[0x7F, 0x31, 0x78])).unwrap();
        assert_eq!(p.kind, Kind::Pending);
        s.observe(msg(0x745, 2000, &[0x3E, 0x80]));
        let r = s.observe(msg(0x765, 3000, &[0x71, 0x90])).unwrap();
        assert_eq!(r.request_id, Some(Some("745".to_string())));
        assert!(
            r.text_line().ends_with("[3000.0 ms after 745]"),
            "{}",
            r.text_line()
        );
    }

    /// Frames outside the ranges are not looked at; a multi-frame answer is one record; a
    /// transfer cut short is reported when the input ends.
    #[test]
    fn test_stream_over_raw_frames() {
        let mut stream = Stream::new(Dialect::Kwp2000, IdRange::DIAGNOSTIC.to_vec());
        let mut records = Vec::new();
        let at = |ms: u64| Timestamp::from_nanos(ms * 1_000_000);
        let frame = |id: u16, data: &[u8]| Frame::classic(Id::standard(id).unwrap(), data).unwrap();
        let mut feed = |ms, id, data: &[u8]| {
            stream.handle_frame(at(ms), &frame(id, data), &mut |r| records.push(r))
        };
        feed(0, 0x745, &[0x02, 0x21, 0x01, 0, 0, 0, 0, 0]);
        feed(1, 0x355, &[0x02, 0x21, 0x01, 0, 0, 0, 0, 0]); // not diagnostic
        feed(5, 0x765, &[0x10, 0x09, 0x61, 0x01, 1, 2, 3, 4]);
        feed(6, 0x745, &[0x30, 0, 0, 0, 0, 0, 0, 0]);
        feed(7, 0x765, &[0x21, 5, 6, 7, 0, 0, 0, 0]);
        feed(20, 0x745, &[0x10, 0x0A, 0x3B, 0x01, 1, 2, 3, 4]); // never completed
        stream.finish(&mut |r| records.push(r));
        let kinds: Vec<(Kind, String)> = records.iter().map(|r| (r.kind, r.id.clone())).collect();
        assert_eq!(
            kinds,
            [
                (Kind::Request, "745".to_string()),
                (Kind::Positive, "765".to_string()),
                (Kind::Broken, "745".to_string())
            ],
            "{records:?}"
        );
        assert!(
            records[1]
                .text_line()
                .contains("61 01 01 02 03 04 05 06 07")
        );
    }

    #[test]
    fn test_nothing_found_names_the_ids() {
        assert_eq!(
            nothing_found(0, &[]),
            "no diagnostic message in 0 frames on the default ids 700-7FF and 18DA0000-18DAFFFF \
             (--ids chooses others)"
        );
        assert_eq!(
            nothing_found(1, &["100-1FF".to_string(), "745".to_string()]),
            "no diagnostic message in 1 frame on the ids 100-1FF, 745 (--ids chooses others)"
        );
        // The default ids named are the ones listened to.
        assert_eq!(
            IdRange::DIAGNOSTIC,
            [
                IdRange::parse("700-7FF").unwrap(),
                IdRange::parse("18DA0000-18DAFFFF").unwrap()
            ]
        );
    }

    #[test]
    fn test_json_fields() {
        let mut s = Sniffer::new(Dialect::Kwp2000);
        let r = s.observe(msg(0x765, 15, &[0x50, 0xC0])).unwrap();
        let v: serde_json::Value = serde_json::from_str(&r.json_line()).unwrap();
        assert_eq!(v["t"], 100.015);
        assert_eq!(v["kind"], "positive");
        assert_eq!(v["request_id"], serde_json::Value::Null);
        assert!(v.get("received").is_none());
    }
}
