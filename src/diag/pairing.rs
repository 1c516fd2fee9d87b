//! Pairing requests with their answers in a passive trace (ISO 14229-1 / ISO 14230-3 rules).
//!
//! One streaming engine serves both the sniffer ([`super::sniff`]) and the capture analysis
//! of `script from-capture` ([`crate::procedure::capture`]):
//!
//! - A request waits for its final answer. `7F SID 78` (response pending) keeps it waiting; a
//!   positive answer (`SID + 0x40`) or any other `7F SID NRC` closes it
//!   ([`super::classify_response`] decides what answers what, without reinterpreting KWP2000
//!   bytes with UDS rules).
//! - A new request on the same channel (a request id) means whatever was waiting there went
//!   unanswered, except a TesterPresent (`3E ..`): testers send `3E 80` while they wait for a
//!   routine's answer, and it never closes or replaces the request in flight. A TesterPresent
//!   with the suppress-positive-response bit (`3E 80`) waits for nothing; another one replaces
//!   only an earlier TesterPresent.
//! - At most `capacity` requests wait at once (the oldest is dropped beyond), so memory stays
//!   bounded on a live bus.
//!
//! Calling contract: [`Pairing::request`] for each request, [`Pairing::response`] for each
//! response, in time order. Requests carry a caller-chosen tag `T` (their time, id, index...).

use std::collections::VecDeque;

use super::codec::{Nrc, ResponseClass, classify_response};

/// Whether a PDU is a TesterPresent request.
pub fn is_tester_present(pdu: &[u8]) -> bool {
    pdu.first() == Some(&0x3E)
}

/// What a response was to the requests waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    /// The final answer (positive or negative) to this request, which stops waiting.
    Final(T),
    /// A response-pending (`7F SID 78`) for this request, which keeps waiting.
    Pending(T),
    /// No waiting request is answered by it.
    Unsolicited,
}

#[derive(Debug, Clone)]
struct Waiting<K, T> {
    channel: K,
    pdu: Vec<u8>,
    tag: T,
}

/// Requests waiting for their answers.
#[derive(Debug, Clone)]
pub struct Pairing<K, T> {
    open: VecDeque<Waiting<K, T>>,
    capacity: usize,
}

impl<K: PartialEq, T: Clone> Pairing<K, T> {
    /// At most `capacity` requests (at least 1) wait at once.
    pub fn new(capacity: usize) -> Pairing<K, T> {
        Pairing {
            open: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// A request on `channel`; returns the requests it replaced (they went unanswered).
    pub fn request(&mut self, channel: K, pdu: &[u8], tag: T) -> Vec<T> {
        let mut unanswered = Vec::new();
        let tp = is_tester_present(pdu);
        if self
            .open
            .iter()
            .any(|w| w.channel == channel && is_tester_present(&w.pdu) == tp)
        {
            let mut kept = VecDeque::with_capacity(self.open.len());
            for w in self.open.drain(..) {
                if w.channel == channel && is_tester_present(&w.pdu) == tp {
                    unanswered.push(w.tag);
                } else {
                    kept.push_back(w);
                }
            }
            self.open = kept;
        }
        if tp && pdu.get(1).is_some_and(|s| s & 0x80 != 0) {
            // Suppressed positive response: nothing to wait for.
            return unanswered;
        }
        if self.open.len() >= self.capacity
            && let Some(w) = self.open.pop_front()
        {
            unanswered.push(w.tag);
        }
        self.open.push_back(Waiting {
            channel,
            pdu: pdu.to_vec(),
            tag,
        });
        unanswered
    }

    /// A response: which waiting request it answers (the oldest that it can answer).
    pub fn response(&mut self, pdu: &[u8]) -> Answer<T> {
        for (k, w) in self.open.iter().enumerate() {
            match classify_response(&w.pdu, pdu) {
                ResponseClass::Negative { nrc } if nrc == Nrc::RESPONSE_PENDING => {
                    return Answer::Pending(w.tag.clone());
                }
                ResponseClass::Positive | ResponseClass::Negative { .. } => {
                    return match self.open.remove(k) {
                        Some(w) => Answer::Final(w.tag),
                        None => Answer::Unsolicited,
                    };
                }
                ResponseClass::Unrelated(_) => {}
            }
        }
        Answer::Unsolicited
    }

    /// The requests still waiting, oldest first.
    pub fn waiting(&self) -> impl Iterator<Item = &T> {
        self.open.iter().map(|w| &w.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_pending_keeps_the_request_and_a_final_answer_closes_it() {
        let mut p: Pairing<u32, &str> = Pairing::new(8);
        assert!(p.request(0x745, &[0x21, 0x83], "a").is_empty());
        assert_eq!(p.response(&[0x7F, 0x21, 0x78]), Answer::Pending("a"));
        assert_eq!(p.response(&[0x61, 0x83, 0x01]), Answer::Final("a"));
        assert_eq!(p.response(&[0x61, 0x83, 0x01]), Answer::Unsolicited);
    }

    /// Regression: `diag sniff` showed the answer after `7F 31 78` and an intervening `3E 80`
    /// as "[no request seen]".
    #[test]
    fn test_tester_present_never_closes_the_request_in_flight() {
        let mut p: Pairing<u32, &str> = Pairing::new(8);
        p.request(0x745, &[0x31, 0x90], "routine");
        assert_eq!(p.response(&[0x7F, 0x31, 0x78]), Answer::Pending("routine"));
        for _ in 0..100 {
            assert!(p.request(0x745, &[0x3E, 0x80], "tp80").is_empty());
        }
        assert_eq!(p.response(&[0x71, 0x90]), Answer::Final("routine"));
        // A TesterPresent answered does not disturb another request either.
        assert!(p.request(0x745, &[0x3E, 0x00], "tp").is_empty());
        p.request(0x745, &[0x21, 0x01], "read");
        assert_eq!(p.response(&[0x7E, 0x00]), Answer::Final("tp"));
        assert_eq!(p.response(&[0x61, 0x01]), Answer::Final("read"));
    }

    #[test]
    fn test_a_new_request_on_the_channel_means_the_old_went_unanswered() {
        let mut p: Pairing<u32, u8> = Pairing::new(8);
        p.request(0x745, &[0x21, 0x01], 1);
        p.request(0x7E0, &[0x21, 0x02], 2);
        assert_eq!(p.request(0x745, &[0x21, 0x03], 3), vec![1]);
        assert_eq!(p.waiting().copied().collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn test_capacity_is_bounded() {
        let mut p: Pairing<u32, u32> = Pairing::new(2);
        p.request(1, &[0x21, 1], 1);
        p.request(2, &[0x21, 1], 2);
        assert_eq!(p.request(3, &[0x21, 1], 3), vec![1]);
        assert_eq!(p.waiting().count(), 2);
    }
}
