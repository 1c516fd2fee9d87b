//! Passive ISO-TP (ISO 15765-2:2016) reassembly for sniffing a bus or reading a log.
//!
//! A [`Reassembler`] is given every frame seen, with its timestamp, without knowing in advance
//! which ids carry ISO-TP. It reassembles single frames and first + consecutive frames per CAN id
//! (and per address byte with extended addressing), reports flow control frames, and reports
//! transfers that break (wrong sequence number, interrupted, timed out, evicted, too large).
//! It never sends anything and never panics: frames that do not parse as an N_PDU are skipped.
//!
//! Memory is bounded: at most [`ObserverConfig::max_partials`] partial messages are kept (the one
//! idle longest is evicted for a new one) and none larger than
//! [`ObserverConfig::max_message_size`]. Periodic non-ISO-TP traffic can look like single frames
//! (any frame whose first byte is 0x01-0x07 does): the caller should filter ids when it can.
//!
//! Contract: call [`Reassembler::handle_frame`] for each frame in time order, drain
//! [`Reassembler::poll_event`]; optionally call [`Reassembler::handle_timeout`] at
//! [`Reassembler::poll_timeout`] on a live bus, and [`Reassembler::flush`] at the end of a log.

use core::time::Duration;
use std::collections::VecDeque;

use crate::frame::{Frame, Id};
use crate::time::Timestamp;

use super::wire::{FlowControl, Pdu};

/// Settings of a [`Reassembler`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObserverConfig {
    /// Read one address byte before the N_PCI on every id (extended addressing).
    pub extended_addressing: bool,
    /// The most partial messages kept at once.
    pub max_partials: usize,
    /// The largest message reassembled; larger first frames are reported as too large.
    pub max_message_size: usize,
    /// A partial message with no new frame for this long is dropped (reported as timed out).
    pub timeout: Duration,
}

impl Default for ObserverConfig {
    /// Normal addressing, 64 partial messages of up to 64 KiB, 1 s timeout (N_Cr).
    fn default() -> Self {
        ObserverConfig {
            extended_addressing: false,
            max_partials: 64,
            max_message_size: 65_536,
            timeout: Duration::from_secs(1),
        }
    }
}

/// A reassembled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The CAN id it was sent on.
    pub id: Id,
    /// The address byte with extended addressing.
    pub address: Option<u8>,
    /// Time of the single or first frame.
    pub first: Timestamp,
    /// Time of the last frame.
    pub last: Timestamp,
    /// Number of frames it took (flow control not counted).
    pub frames: u32,
    /// Whether it was sent with CAN FD frames.
    pub fd: bool,
    /// The payload.
    pub data: Vec<u8>,
}

/// Why a partial message was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IncompleteReason {
    /// A consecutive frame with an unexpected sequence number.
    WrongSequenceNumber { expected: u8, got: u8 },
    /// A new single or first frame on the same id.
    Interrupted,
    /// No frame for [`ObserverConfig::timeout`].
    TimedOut,
    /// Dropped to make room for a newer partial message.
    Evicted,
    /// The first frame announced more than [`ObserverConfig::max_message_size`].
    TooLarge,
    /// A consecutive frame carried fewer bytes than a full one while more were missing.
    ShortFrame,
    /// [`Reassembler::flush`] was called (end of input).
    EndOfInput,
}

/// What a [`Reassembler`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// A complete message.
    Message(Message),
    /// A flow control frame.
    FlowControl {
        id: Id,
        address: Option<u8>,
        at: Timestamp,
        fc: FlowControl,
    },
    /// A frame on a watched id that is not ISO-TP: its protocol control information does not
    /// parse, or a first frame arrived in a CAN frame shorter than 8 bytes. Reported, never
    /// dropped silently; `data` is the frame's payload.
    Malformed {
        id: Id,
        address: Option<u8>,
        at: Timestamp,
        data: Vec<u8>,
        reason: &'static str,
    },
    /// A segmented message that did not complete.
    Incomplete {
        id: Id,
        address: Option<u8>,
        first: Timestamp,
        last: Timestamp,
        received: usize,
        expected: usize,
        reason: IncompleteReason,
    },
}

/// Observations kept when the caller does not drain them; older ones are dropped beyond this.
pub const MAX_QUEUED_OBSERVATIONS: usize = 4096;

#[derive(Debug)]
struct Partial {
    id: Id,
    address: Option<u8>,
    buf: Vec<u8>,
    expected: usize,
    next_sn: u8,
    cf_cap: usize,
    first: Timestamp,
    last: Timestamp,
    frames: u32,
    fd: bool,
}

/// Passive per-id ISO-TP reassembly. See the module documentation.
#[derive(Debug)]
pub struct Reassembler {
    cfg: ObserverConfig,
    partials: Vec<Partial>,
    events: VecDeque<Observation>,
}

impl Reassembler {
    /// A reassembler with `config`.
    pub fn new(config: ObserverConfig) -> Reassembler {
        Reassembler {
            cfg: config,
            partials: Vec::new(),
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ObserverConfig {
        &self.cfg
    }

    /// The number of partial messages held.
    pub fn partial_count(&self) -> usize {
        self.partials.len()
    }

    /// The next observation, if any.
    pub fn poll_event(&mut self) -> Option<Observation> {
        self.events.pop_front()
    }

    /// When the oldest partial message times out.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.partials
            .iter()
            .map(|p| p.last + self.cfg.timeout)
            .min()
    }

    /// Drops the partial messages idle for the timeout at `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let timeout = self.cfg.timeout;
        let mut i = 0;
        while let Some(p) = self.partials.get(i) {
            if p.last + timeout <= now {
                let p = self.partials.swap_remove(i);
                self.incomplete(p, IncompleteReason::TimedOut);
            } else {
                i += 1;
            }
        }
    }

    /// Reports every partial message as incomplete (end of a log).
    pub fn flush(&mut self) {
        let mut parts = core::mem::take(&mut self.partials);
        parts.sort_by_key(|p| p.first);
        for p in parts {
            self.incomplete(p, IncompleteReason::EndOfInput);
        }
    }

    /// Feeds one frame seen on the bus at `now`.
    pub fn handle_frame(&mut self, now: Timestamp, frame: &Frame) {
        if !self.partials.is_empty() {
            self.handle_timeout(now);
        }
        let (Some(data), Some(id)) = (frame.payload(), frame.id()) else {
            return;
        };
        let can_dl = data.len();
        let (address, pdu_bytes) = if self.cfg.extended_addressing {
            match data.split_first() {
                Some((&a, rest)) => (Some(a), rest),
                None => return,
            }
        } else {
            (None, data)
        };
        let pdu = match Pdu::parse(pdu_bytes, can_dl) {
            Ok(pdu) => pdu,
            Err(_) => {
                self.push(Observation::Malformed {
                    id,
                    address,
                    at: now,
                    data: data.to_vec(),
                    reason: "not an ISO-TP frame (its protocol control information does not parse)",
                });
                return;
            }
        };
        let ae = usize::from(address.is_some());
        let pos = self
            .partials
            .iter()
            .position(|p| p.id == id && p.address == address);
        match pdu {
            Pdu::Single { data, .. } => {
                if let Some(i) = pos {
                    let p = self.partials.swap_remove(i);
                    self.incomplete(p, IncompleteReason::Interrupted);
                }
                self.push(Observation::Message(Message {
                    id,
                    address,
                    first: now,
                    last: now,
                    frames: 1,
                    fd: frame.is_fd(),
                    data: data.to_vec(),
                }));
            }
            Pdu::First { len, data } => {
                if let Some(i) = pos {
                    let p = self.partials.swap_remove(i);
                    self.incomplete(p, IncompleteReason::Interrupted);
                }
                if can_dl < 8 {
                    self.push(Observation::Malformed {
                        id,
                        address,
                        at: now,
                        data: frame.payload().unwrap_or_default().to_vec(),
                        reason: "a first frame in a CAN frame shorter than 8 bytes",
                    });
                    return;
                }
                let expected = len as usize;
                let first_part = data.get(..expected.min(data.len())).unwrap_or(&[]);
                if expected > self.cfg.max_message_size {
                    self.push(Observation::Incomplete {
                        id,
                        address,
                        first: now,
                        last: now,
                        received: first_part.len(),
                        expected,
                        reason: IncompleteReason::TooLarge,
                    });
                    return;
                }
                if self.cfg.max_partials == 0 {
                    return;
                }
                if self.partials.len() >= self.cfg.max_partials
                    && let Some((i, _)) =
                        self.partials.iter().enumerate().min_by_key(|(_, p)| p.last)
                {
                    let p = self.partials.swap_remove(i);
                    self.incomplete(p, IncompleteReason::Evicted);
                }
                let mut buf = Vec::with_capacity(expected);
                buf.extend_from_slice(first_part);
                self.partials.push(Partial {
                    id,
                    address,
                    buf,
                    expected,
                    next_sn: 1,
                    cf_cap: can_dl.saturating_sub(1 + ae),
                    first: now,
                    last: now,
                    frames: 1,
                    fd: frame.is_fd(),
                });
            }
            Pdu::Consecutive { sn, data } => {
                let Some(i) = pos else { return };
                let Some(p) = self.partials.get_mut(i) else {
                    return;
                };
                if sn != p.next_sn {
                    let expected = p.next_sn;
                    let p = self.partials.swap_remove(i);
                    self.incomplete(
                        p,
                        IncompleteReason::WrongSequenceNumber { expected, got: sn },
                    );
                    return;
                }
                let missing = p.expected.saturating_sub(p.buf.len());
                let need = missing.min(p.cf_cap);
                let Some(chunk) = data.get(..need) else {
                    let p = self.partials.swap_remove(i);
                    self.incomplete(p, IncompleteReason::ShortFrame);
                    return;
                };
                p.buf.extend_from_slice(chunk);
                p.next_sn = (p.next_sn + 1) & 0x0F;
                p.last = now;
                p.frames = p.frames.saturating_add(1);
                if p.buf.len() >= p.expected {
                    let p = self.partials.swap_remove(i);
                    self.push(Observation::Message(Message {
                        id: p.id,
                        address: p.address,
                        first: p.first,
                        last: p.last,
                        frames: p.frames,
                        fd: p.fd,
                        data: p.buf,
                    }));
                }
            }
            Pdu::FlowControl(fc) => self.push(Observation::FlowControl {
                id,
                address,
                at: now,
                fc,
            }),
        }
    }

    fn incomplete(&mut self, p: Partial, reason: IncompleteReason) {
        self.push(Observation::Incomplete {
            id: p.id,
            address: p.address,
            first: p.first,
            last: p.last,
            received: p.buf.len(),
            expected: p.expected,
            reason,
        });
    }

    fn push(&mut self, o: Observation) {
        if self.events.len() >= MAX_QUEUED_OBSERVATIONS {
            tracing::warn!("isotp observation queue full: oldest dropped");
            self.events.pop_front();
        }
        self.events.push_back(o);
    }
}

impl Default for Reassembler {
    fn default() -> Self {
        Reassembler::new(ObserverConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isotp::wire::{FlowStatus, StMin};

    fn sid(raw: u16) -> Id {
        Id::standard(raw).unwrap()
    }
    fn t(ms: u64) -> Timestamp {
        Timestamp::from_nanos(ms * 1_000_000)
    }
    fn cf(id: u16, bytes: &[u8]) -> Frame {
        Frame::classic(sid(id), bytes).unwrap()
    }

    fn drain(r: &mut Reassembler) -> Vec<Observation> {
        std::iter::from_fn(|| r.poll_event()).collect()
    }

    #[test]
    fn test_reassemble_single_and_multi_frame() {
        let mut r = Reassembler::default();
        r.handle_frame(
            t(0),
            &cf(0x745, &[0x02, 0x10, 0xC0, 0x55, 0x55, 0x55, 0x55, 0x55]),
        );
        r.handle_frame(t(1), &cf(0x765, &[0x10, 0x0A, 0x61, 0x83, 1, 2, 3, 4]));
        r.handle_frame(t(2), &cf(0x745, &[0x30, 0x00, 0x0A]));
        r.handle_frame(t(13), &cf(0x765, &[0x21, 5, 6, 7, 8, 0xFF, 0xFF, 0xFF]));
        let ev = drain(&mut r);
        assert_eq!(ev.len(), 3, "{ev:?}");
        assert!(
            matches!(&ev[0], Observation::Message(m) if m.id == sid(0x745) && m.data == [0x10, 0xC0])
        );
        assert!(matches!(&ev[1], Observation::FlowControl { id, fc, .. }
            if *id == sid(0x745) && fc.status == FlowStatus::ContinueToSend && fc.st_min == StMin::from_raw(10)));
        match &ev[2] {
            Observation::Message(m) => {
                assert_eq!(m.id, sid(0x765));
                assert_eq!(m.data, [0x61, 0x83, 1, 2, 3, 4, 5, 6, 7, 8]);
                assert_eq!((m.first, m.last, m.frames), (t(1), t(13), 2));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.partial_count(), 0);
    }

    #[test]
    fn test_wrong_sequence_and_timeout_and_eviction() {
        let mut r = Reassembler::new(ObserverConfig {
            max_partials: 2,
            ..ObserverConfig::default()
        });
        let ff = [0x10, 0x20, 0, 0, 0, 0, 0, 0];
        r.handle_frame(t(0), &cf(0x100, &ff));
        r.handle_frame(t(1), &cf(0x100, &[0x22, 0, 0, 0, 0, 0, 0, 0]));
        r.handle_frame(t(2), &cf(0x101, &ff));
        r.handle_frame(t(3), &cf(0x102, &ff));
        r.handle_frame(t(4), &cf(0x103, &ff));
        assert_eq!(r.partial_count(), 2);
        assert_eq!(r.poll_timeout(), Some(t(1003)));
        r.handle_timeout(t(2000));
        let reasons: Vec<_> = drain(&mut r)
            .into_iter()
            .filter_map(|o| match o {
                Observation::Incomplete { id, reason, .. } => Some((id.raw(), reason)),
                _ => None,
            })
            .collect();
        assert_eq!(
            reasons[..2],
            [
                (
                    0x100,
                    IncompleteReason::WrongSequenceNumber {
                        expected: 1,
                        got: 2
                    }
                ),
                (0x101, IncompleteReason::Evicted)
            ]
        );
        assert_eq!(reasons.len(), 4);
        assert!(
            reasons[2..]
                .iter()
                .all(|(_, r)| *r == IncompleteReason::TimedOut)
        );
        assert_eq!(r.partial_count(), 0);
    }

    #[test]
    fn test_too_large_and_flush() {
        let mut r = Reassembler::new(ObserverConfig {
            max_message_size: 100,
            ..ObserverConfig::default()
        });
        r.handle_frame(t(0), &cf(0x200, &[0x11, 0x00, 0, 0, 0, 0, 0, 0]));
        r.handle_frame(t(0), &cf(0x201, &[0x10, 0x10, 0, 0, 0, 0, 0, 0]));
        r.flush();
        let ev = drain(&mut r);
        assert!(matches!(
            ev[0],
            Observation::Incomplete {
                expected: 256,
                reason: IncompleteReason::TooLarge,
                ..
            }
        ));
        assert!(matches!(
            ev[1],
            Observation::Incomplete {
                expected: 16,
                received: 6,
                reason: IncompleteReason::EndOfInput,
                ..
            }
        ));
    }
}
