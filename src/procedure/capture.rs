//! From a capture to a procedure script: turns a recorded dealer-tool diagnostic session (the
//! frames of one tester ↔ module pair, e.g. from a candump log) into a procedure script in the
//! TOML format of [`super::script`] (reference: `scripts/README.md`), for a person to review.
//!
//! Three stages, all pure (no clock, no I/O, no panics on input):
//!
//! 1. [`Capture`]: fed every frame of the log in time order ([`Capture::handle_frame`]); only
//!    frames on the request id (`tx`, tester → module) and the response id (`rx`) are used,
//!    reassembled both ways with the passive ISO 15765-2 observer
//!    [`Reassembler`]. It counts every id seen (for "no frame on
//!    0x745; ids seen: ..." messages), the padding of the tester's frames and CAN FD use.
//!    [`Capture::finish`] pairs each request with its final response: `7F SID 78`
//!    (response pending, ISO 14230-3 / ISO 14229-1) is counted and skipped, `7F SID NRC` is a
//!    final negative answer, a request with no answer before the next one (other than a
//!    TesterPresent) is unanswered, a TesterPresent never closes the request in flight (testers
//!    send `3E 80` while they wait for a routine). The result is an [`Analysis`].
//! 2. [`plan`]: recognises the shape of the session: TesterPresent (`3E xx`) sent at least twice
//!    becomes the module's keep-alive and period (not steps); `10 XX` answered `50 XX` becomes a
//!    session step, the default session a `close_session` step; a request repeated
//!    `min_poll_repeats` times or more in a row whose answer changed becomes one `poll` step
//!    (interval = median observed interval, `until` = the value of the last answer at the
//!    first byte that changed, timeout = a generous multiple of the observed duration); the
//!    dialect (KWP2000 or UDS) is guessed from the services used.
//! 3. [`render_script`]: the script text, with the observed timing as comments, every step
//!    `provenance = "placeholder"` with `source` saying it was captured and not reviewed,
//!    `writes = true` on services that change a module, and unanswered requests as commented
//!    lines. The text loads with [`Script::from_toml`](super::Script::from_toml).

use core::fmt::Write as _;
use core::time::Duration;
use std::collections::BTreeMap;

use crate::diag::codec::{Dialect, Nrc};
use crate::diag::codec::{ResponseClass, classify_response, service_name};
use crate::diag::hex::format_hex;
use crate::frame::{Frame, Id};
use crate::isotp::{IncompleteReason, Observation, ObserverConfig, Reassembler};
use crate::procedure::script;
use crate::time::{Timestamp, UtcTime};

/// Which ids to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureConfig {
    /// Tester → module (request) id.
    pub tx: Id,
    /// Module → tester (response) id.
    pub rx: Id,
    /// The passive reassembler's settings (normal addressing, 1 s N_Cr by default).
    pub observer: ObserverConfig,
}

impl CaptureConfig {
    /// Follow requests on `tx` and responses on `rx` with default reassembly settings.
    pub fn new(tx: Id, rx: Id) -> CaptureConfig {
        CaptureConfig {
            tx,
            rx,
            observer: ObserverConfig::default(),
        }
    }
}

/// One request and what answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The request PDU.
    pub request: Vec<u8>,
    /// Time of the request's first frame.
    pub sent: Timestamp,
    /// Time of the request's last frame.
    pub request_done: Timestamp,
    /// Response-pending (`7F SID 78`) answers before the final one.
    pub pending: u32,
    /// The final answer (positive or negative), if any.
    pub response: Option<Vec<u8>>,
    /// Time of the final answer's first frame.
    pub answered: Option<Timestamp>,
}

impl Exchange {
    /// Time from the end of the request to the start of its final answer.
    pub fn answer_time(&self) -> Option<Duration> {
        self.answered
            .map(|a| a.saturating_duration_since(self.request_done))
    }

    /// The NRC of a final negative answer.
    pub fn nrc(&self) -> Option<u8> {
        match self.response.as_deref() {
            Some([0x7F, _, nrc, ..]) => Some(*nrc),
            _ => None,
        }
    }

    /// Whether the final answer is positive.
    pub fn is_positive(&self) -> bool {
        self.response
            .as_deref()
            .is_some_and(|r| classify_response(&self.request, r) == ResponseClass::Positive)
    }

    /// The service id of the request.
    pub fn sid(&self) -> u8 {
        self.request.first().copied().unwrap_or(0)
    }
}

/// A segmented message on `tx` or `rx` that did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub id: Id,
    pub at: Timestamp,
    pub what: String,
}

/// What a capture holds for one tester ↔ module pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub tx: Id,
    pub rx: Id,
    /// Time of the first frame of the log (any id).
    pub first_frame: Option<Timestamp>,
    /// Frames seen per id (every id of the log), most frequent first.
    pub ids_seen: Vec<(Id, u64)>,
    /// Frames on `tx` and on `rx`.
    pub tx_frames: u64,
    pub rx_frames: u64,
    /// Whether any frame on `tx`/`rx` was CAN FD.
    pub fd: bool,
    /// The padding byte of the tester's frames, when they were padded with one value.
    pub padding: Option<u8>,
    /// Whether the tester's padding was not one consistent byte (the most common is used).
    pub padding_mixed: bool,
    /// Every request, in order, with its answer.
    pub exchanges: Vec<Exchange>,
    /// Messages on `rx` that answer no request (time of the first frame, PDU).
    pub unsolicited: Vec<(Timestamp, Vec<u8>)>,
    /// Transfers that did not complete.
    pub broken: Vec<Broken>,
}

impl Analysis {
    /// Frames seen on `id`.
    pub fn frames_on(&self, id: Id) -> u64 {
        self.ids_seen
            .iter()
            .find(|(i, _)| *i == id)
            .map_or(0, |(_, n)| *n)
    }

    /// When the tester's or the module's id (`what` names the option that gave it) has no
    /// frame in the log `log_name`: why, with the ids the log does carry (the 20 most
    /// frequent, with their frame counts).
    pub fn missing_id(&self, ids: [(Id, &str); 2], log_name: &str) -> Option<String> {
        let (id, what) = ids.into_iter().find(|(id, _)| self.frames_on(*id) == 0)?;
        const SHOWN: usize = 20;
        let list: Vec<String> = self
            .ids_seen
            .iter()
            .take(SHOWN)
            .map(|(id, n)| format!("{id} ({n})"))
            .collect();
        let seen = match (list.is_empty(), self.ids_seen.len() > SHOWN) {
            (true, _) => "none".to_string(),
            (false, more) => format!("{}{}", list.join(", "), if more { ", ..." } else { "" }),
        };
        Some(format!(
            "no frame with id 0x{id} ({what}) in {log_name}; ids seen (frames): {seen}"
        ))
    }
}

/// Collects the tester ↔ module conversation from a stream of frames. See the module docs.
#[derive(Debug)]
pub struct Capture {
    cfg: CaptureConfig,
    reassembler: Reassembler,
    first: Option<Timestamp>,
    ids: BTreeMap<Id, u64>,
    tx_frames: u64,
    rx_frames: u64,
    fd: bool,
    padding: BTreeMap<u8, u64>,
    unpadded: u64,
    messages: Vec<(bool, crate::isotp::Message)>,
    broken: Vec<Broken>,
}

/// More messages than this on the pair are not kept (a bound on memory for huge logs).
pub const MAX_MESSAGES: usize = 1_000_000;

impl Capture {
    pub fn new(config: CaptureConfig) -> Capture {
        let reassembler = Reassembler::new(config.observer.clone());
        Capture {
            cfg: config,
            reassembler,
            first: None,
            ids: BTreeMap::new(),
            tx_frames: 0,
            rx_frames: 0,
            fd: false,
            padding: BTreeMap::new(),
            unpadded: 0,
            messages: Vec::new(),
            broken: Vec::new(),
        }
    }

    /// Feeds one frame of the log, in time order.
    pub fn handle_frame(&mut self, now: Timestamp, frame: &Frame) {
        if self.first.is_none() {
            self.first = Some(now);
        }
        let Some(id) = frame.id() else { return };
        if frame.payload().is_none() {
            return;
        }
        *self.ids.entry(id).or_insert(0) += 1;
        if id != self.cfg.tx && id != self.cfg.rx {
            return;
        }
        if id == self.cfg.tx {
            self.tx_frames += 1;
            self.note_padding(frame);
        } else {
            self.rx_frames += 1;
        }
        self.fd |= frame.is_fd();
        self.reassembler.handle_frame(now, frame);
        self.drain();
    }

    /// The padding bytes after the N_PDU of a tester frame (single frames and flow control).
    fn note_padding(&mut self, frame: &Frame) {
        let Some(data) = frame.payload() else { return };
        if self.cfg.observer.extended_addressing {
            return;
        }
        let used = match data.first().map(|b| (b >> 4, b & 0x0F)) {
            Some((0, n)) if n > 0 => 1 + usize::from(n),
            Some((3, _)) => 3,
            _ => return,
        };
        match data.get(used..) {
            Some(rest) if !rest.is_empty() => {
                for b in rest {
                    *self.padding.entry(*b).or_insert(0) += 1;
                }
            }
            _ => self.unpadded += 1,
        }
    }

    fn drain(&mut self) {
        while let Some(o) = self.reassembler.poll_event() {
            match o {
                Observation::Message(m) => {
                    if self.messages.len() < MAX_MESSAGES {
                        let is_tx = m.id == self.cfg.tx;
                        self.messages.push((is_tx, m));
                    }
                }
                Observation::Incomplete {
                    id,
                    first,
                    received,
                    expected,
                    reason,
                    ..
                } => {
                    let why = match reason {
                        IncompleteReason::WrongSequenceNumber { expected, got } => {
                            format!("wrong sequence number {got} (expected {expected})")
                        }
                        IncompleteReason::Interrupted => "interrupted by a new message".into(),
                        IncompleteReason::TimedOut => "no next frame within N_Cr".into(),
                        IncompleteReason::Evicted => "too many partial messages".into(),
                        IncompleteReason::TooLarge => "too large".into(),
                        IncompleteReason::ShortFrame => "short consecutive frame".into(),
                        IncompleteReason::EndOfInput => "the log ends".into(),
                    };
                    self.broken.push(Broken {
                        id,
                        at: first,
                        what: format!("{received} of {expected} bytes: {why}"),
                    });
                }
                Observation::Malformed { id, at, reason, .. } => self.broken.push(Broken {
                    id,
                    at,
                    what: reason.to_string(),
                }),
                Observation::FlowControl { .. } => {}
            }
        }
    }

    /// Ends the input and pairs requests with answers.
    pub fn finish(mut self) -> Analysis {
        self.reassembler.flush();
        self.drain();
        let mut messages = core::mem::take(&mut self.messages);
        messages.sort_by_key(|(_, m)| m.last);
        let (exchanges, unsolicited) = pair(messages);
        let mut ids_seen: Vec<(Id, u64)> = self.ids.into_iter().collect();
        ids_seen.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut pads: Vec<(u8, u64)> = self.padding.into_iter().collect();
        pads.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let padding = if pads.is_empty() || self.unpadded > pads.iter().map(|p| p.1).sum() {
            None
        } else {
            pads.first().map(|p| p.0)
        };
        Analysis {
            tx: self.cfg.tx,
            rx: self.cfg.rx,
            first_frame: self.first,
            ids_seen,
            tx_frames: self.tx_frames,
            rx_frames: self.rx_frames,
            fd: self.fd,
            padding,
            padding_mixed: pads.len() > 1,
            exchanges,
            unsolicited,
            broken: self.broken,
        }
    }
}

type Unsolicited = Vec<(Timestamp, Vec<u8>)>;

use crate::diag::pairing::is_tester_present;

/// `v` brought into the script format's `(min, max)` range, with a comment saying so when it
/// had to be (a capture can show times no script may hold).
fn in_range(v: u128, (min, max): (u64, u64)) -> (u64, String) {
    let c = u64::try_from(v).unwrap_or(u64::MAX).clamp(min, max);
    let note = if u128::from(c) == v {
        String::new()
    } else {
        format!("; brought into the allowed {min} to {max} ms")
    };
    (c, note)
}

/// Pairs requests (`true`) and responses (`false`), in completion order, with the rules of
/// [`crate::diag::pairing`].
fn pair(messages: Vec<(bool, crate::isotp::Message)>) -> (Vec<Exchange>, Unsolicited) {
    use crate::diag::pairing::{Answer, Pairing};
    let mut exchanges: Vec<Exchange> = Vec::new();
    let mut unsolicited = Vec::new();
    let mut open: Pairing<(), usize> = Pairing::new(64);
    for (is_tx, m) in messages {
        if is_tx {
            open.request((), &m.data, exchanges.len());
            exchanges.push(Exchange {
                request: m.data,
                sent: m.first,
                request_done: m.last,
                pending: 0,
                response: None,
                answered: None,
            });
            continue;
        }
        match open.response(&m.data) {
            Answer::Pending(i) => {
                if let Some(e) = exchanges.get_mut(i) {
                    e.pending += 1;
                }
            }
            Answer::Final(i) => {
                if let Some(e) = exchanges.get_mut(i) {
                    e.response = Some(m.data.clone());
                    e.answered = Some(m.first);
                }
            }
            Answer::Unsolicited => unsolicited.push((m.first, m.data)),
        }
    }
    (exchanges, unsolicited)
}

// ---------------------------------------------------------------------------------------------
// Planning

/// The keep-alive the tester sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepAliveSeen {
    pub pdu: Vec<u8>,
    /// Median interval between two TesterPresent requests.
    pub period: Duration,
    pub count: usize,
    /// How many of them the module answered.
    pub answered: usize,
}

/// A request repeated until its answer changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollPlan {
    /// The exchanges it replaces (indices into [`Analysis::exchanges`]).
    pub first: usize,
    pub count: usize,
    /// Byte offset of the value in the answer, and the value the last answer had.
    pub at: usize,
    pub until: u8,
    /// The values seen at `at`, in order of first appearance.
    pub values: Vec<u8>,
    /// The answer pattern: `None` where the answers differed.
    pub expect: Vec<Option<u8>>,
    pub interval: Duration,
    /// From the first request to the last answer.
    pub duration: Duration,
}

/// What one part of the capture becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A request step for exchange `index` (answered).
    Request {
        index: usize,
    },
    /// `10 XX` answered `50 XX`.
    Session {
        index: usize,
        session: u8,
    },
    /// `10 <default>` answered `50 <default>`.
    CloseSession {
        index: usize,
    },
    /// A request repeated with the same answer every time (one step).
    Repeated {
        first: usize,
        count: usize,
        interval: Duration,
    },
    Poll(PollPlan),
    /// A request without an answer: commented lines only.
    Unanswered {
        index: usize,
    },
}

/// How the capture maps onto a script.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub dialect: Dialect,
    /// Why that dialect (the services that decided it).
    pub dialect_reason: String,
    /// The dialect's default session (`close_session` and cleanup send it).
    pub default_session: u8,
    /// The last session the tester opened successfully, if any.
    pub final_session: Option<u8>,
    pub keep_alive: Option<KeepAliveSeen>,
    pub items: Vec<Item>,
}

impl Plan {
    /// The number of `[[step]]` tables the plan produces.
    pub fn step_count(&self) -> usize {
        self.items
            .iter()
            .filter(|i| !matches!(i, Item::Unanswered { .. }))
            .count()
    }
}

/// The median, rounded to 10 ms from 100 ms up (jitter of a few ms is not part of a procedure).
fn median(mut v: Vec<Duration>) -> Option<Duration> {
    v.sort_unstable();
    let m = v.get(v.len() / 2).copied()?;
    let ms = m.as_millis();
    Some(if ms >= 100 {
        Duration::from_millis(u64::try_from((ms + 5) / 10 * 10).unwrap_or(u64::MAX))
    } else {
        m
    })
}

/// Guesses KWP2000 or UDS from the services of the requests.
pub fn guess_dialect(exchanges: &[Exchange]) -> (Dialect, String) {
    let mut kwp: BTreeMap<String, usize> = BTreeMap::new();
    let mut uds: BTreeMap<String, usize> = BTreeMap::new();
    for e in exchanges {
        let r = &e.request;
        let Some(&sid) = r.first() else { continue };
        let key = format!("{sid:02X}");
        match sid {
            0x12 | 0x17 | 0x18 | 0x1A | 0x21 | 0x30 | 0x32 | 0x33 | 0x3B | 0x81 | 0x82 => {
                *kwp.entry(key).or_insert(0) += 1
            }
            0x19 | 0x22 | 0x24 | 0x28 | 0x29 | 0x2A | 0x2C | 0x2E | 0x2F | 0x85 | 0x86 | 0x87 => {
                *uds.entry(key).or_insert(0) += 1
            }
            0x10 => match r.get(1) {
                Some(&s @ 0x01..=0x7F) => *uds.entry(format!("10 {s:02X}")).or_insert(0) += 1,
                Some(s) => *kwp.entry(format!("10 {s:02X}")).or_insert(0) += 1,
                None => {}
            },
            0x31 => match r.get(1) {
                Some(0x01..=0x03) if r.len() >= 4 => {
                    *uds.entry("31 with sub-function".into()).or_insert(0) += 1
                }
                Some(_) => *kwp.entry("31 by local id".into()).or_insert(0) += 1,
                None => {}
            },
            _ => {}
        }
    }
    let (k, u): (usize, usize) = (kwp.values().sum(), uds.values().sum());
    let list = |m: &BTreeMap<String, usize>| m.keys().cloned().collect::<Vec<_>>().join(", ");
    if u > k {
        (
            Dialect::Uds,
            format!("UDS services ({}) outnumber KWP2000 ones", list(&uds)),
        )
    } else if k > 0 {
        (
            Dialect::Kwp2000,
            format!(
                "KWP2000 services ({}){}",
                list(&kwp),
                if u > 0 {
                    format!(" outnumber UDS ones ({})", list(&uds))
                } else {
                    String::new()
                }
            ),
        )
    } else {
        (
            Dialect::Kwp2000,
            "no service tells KWP2000 from UDS; KWP2000 assumed (Nissan body modules)".into(),
        )
    }
}

/// Maps an analysis onto steps. `min_poll_repeats` (at least 2) is how many identical requests
/// in a row make a poll.
pub fn plan(a: &Analysis, min_poll_repeats: usize) -> Plan {
    let min_poll_repeats = min_poll_repeats.max(2);
    let (dialect, dialect_reason) = guess_dialect(&a.exchanges);
    let ex = &a.exchanges;
    // Keep-alive: TesterPresent sent at least twice.
    let tp: Vec<usize> = (0..ex.len())
        .filter(|&i| ex.get(i).is_some_and(|e| is_tester_present(&e.request)))
        .collect();
    let keep_alive = if tp.len() >= 2 {
        let mut counts: BTreeMap<&[u8], usize> = BTreeMap::new();
        for &i in &tp {
            if let Some(e) = ex.get(i) {
                *counts.entry(e.request.as_slice()).or_insert(0) += 1;
            }
        }
        let pdu = counts
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(p, _)| p.to_vec())
            .unwrap_or_default();
        let gaps: Vec<Duration> = tp
            .windows(2)
            .filter_map(|w| match (ex.get(w[0]), ex.get(w[1])) {
                (Some(x), Some(y)) => Some(y.sent.saturating_duration_since(x.sent)),
                _ => None,
            })
            .collect();
        Some(KeepAliveSeen {
            pdu,
            period: median(gaps).unwrap_or(Duration::from_secs(2)),
            count: tp.len(),
            answered: tp
                .iter()
                .filter(|&&i| ex.get(i).is_some_and(|e| e.response.is_some()))
                .count(),
        })
    } else {
        None
    };
    // The default session is the dialect's; the session the capture ends in is noted.
    let final_session = ex
        .iter()
        .filter(|e| e.request.len() == 2 && e.sid() == 0x10 && e.is_positive())
        .filter_map(|e| e.request.get(1).copied())
        .next_back();
    let default_session = dialect.default_session();
    let steps: Vec<usize> = (0..ex.len())
        .filter(|i| keep_alive.is_none() || !tp.contains(i))
        .collect();
    let mut items = Vec::new();
    let mut k = 0;
    while let Some(&i) = steps.get(k) {
        let Some(e) = ex.get(i) else { break };
        // A run of identical requests (keep-alives left out).
        let mut run = 1;
        while let Some(n) = steps.get(k + run).and_then(|&j| ex.get(j)) {
            if n.request != e.request {
                break;
            }
            run += 1;
        }
        let members: Vec<&Exchange> = steps
            .iter()
            .skip(k)
            .take(run)
            .filter_map(|&j| ex.get(j))
            .collect();
        if run >= min_poll_repeats
            && let Some(item) = repetition(i, &members)
        {
            items.push(item);
            k += run;
            continue;
        }
        items.push(single(i, e, default_session));
        k += 1;
    }
    Plan {
        dialect,
        dialect_reason,
        default_session,
        final_session,
        keep_alive,
        items,
    }
}

fn single(index: usize, e: &Exchange, default_session: u8) -> Item {
    let Some(resp) = &e.response else {
        return Item::Unanswered { index };
    };
    if let [0x10, s] = e.request.as_slice()
        && resp.as_slice() == [0x50, *s]
    {
        if *s == default_session {
            return Item::CloseSession { index };
        }
        return Item::Session { index, session: *s };
    }
    Item::Request { index }
}

/// A run of identical requests, all answered positively with answers of one length: a poll if
/// the answer changed, one repeated request if it never did.
fn repetition(first: usize, members: &[&Exchange]) -> Option<Item> {
    let gaps: Vec<Duration> = members
        .windows(2)
        .map(|w| w[1].sent.saturating_duration_since(w[0].sent))
        .collect();
    let interval = median(gaps).unwrap_or(Duration::from_secs(1));
    let r0 = members.first()?.response.as_ref()?;
    if members.iter().all(|e| e.response.as_ref() == Some(r0)) {
        return Some(Item::Repeated {
            first,
            count: members.len(),
            interval,
        });
    }
    let responses: Vec<&Vec<u8>> = members
        .iter()
        .map(|e| {
            if e.is_positive() {
                e.response.as_ref()
            } else {
                None
            }
        })
        .collect::<Option<Vec<_>>>()?;
    let len = r0.len();
    if responses.iter().any(|r| r.len() != len) {
        return None;
    }
    let rl = responses.last()?;
    let at = (0..len).find(|&i| r0.get(i) != rl.get(i))?;
    let until = *rl.get(at)?;
    let mut values = Vec::new();
    for r in &responses {
        if let Some(&v) = r.get(at)
            && !values.contains(&v)
        {
            values.push(v);
        }
    }
    let expect = (0..len)
        .map(|i| {
            let b = r0.get(i).copied();
            if responses.iter().all(|r| r.get(i).copied() == b) {
                b
            } else {
                None
            }
        })
        .collect();
    let start = members.first()?.sent;
    let end = members
        .last()
        .and_then(|e| e.answered)
        .unwrap_or(members.last()?.request_done);
    Some(Item::Poll(PollPlan {
        first,
        count: members.len(),
        at,
        until,
        values,
        expect,
        interval,
        duration: end.saturating_duration_since(start),
    }))
}

// ---------------------------------------------------------------------------------------------
// Rendering

/// What the generated script says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptOptions {
    /// `[procedure] name`.
    pub name: String,
    /// The module's name in `[modules.NAME]`.
    pub module: String,
    /// The log's name, for provenance.
    pub log_name: String,
}

impl ScriptOptions {
    /// A module name is 1 to 64 letters, digits, `_` or `-` (it becomes a TOML key and
    /// appears in every step).
    pub fn valid_module_name(module: &str) -> bool {
        !module.is_empty()
            && module.len() <= 64
            && module
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }

    /// The procedure's default name from the log's file name: without `.gz` and `.log`;
    /// `captured-procedure` for standard input or an empty name.
    pub fn default_name(file_name: &str) -> String {
        let stem = file_name.strip_suffix(".gz").unwrap_or(file_name);
        let stem = stem.trim_end_matches(".log");
        match stem {
            "" | "-" => "captured-procedure".to_string(),
            s => s.to_string(),
        }
    }
}

/// One line on what a capture became: requests, steps (polls, marked writes), the keep-alive
/// seen, unanswered requests left as comments, and the guessed dialect.
pub fn summary(a: &Analysis, p: &Plan, steps: usize, polls: usize, writes: usize) -> String {
    let unanswered = p
        .items
        .iter()
        .filter(|i| matches!(i, Item::Unanswered { .. }))
        .count();
    let mut s = format!(
        "{} requests on {} -> {} became {steps} steps ({polls} poll, {writes} marked writes)",
        a.exchanges.len(),
        a.tx,
        a.rx
    );
    if let Some(k) = &p.keep_alive {
        let _ = write!(
            s,
            ", keep-alive {} every {} ms",
            format_hex(&k.pdu),
            k.period.as_millis()
        );
    }
    if unanswered > 0 {
        let _ = write!(s, ", {unanswered} unanswered left as comments");
    }
    let _ = write!(s, "; dialect {} (guessed)", p.dialect);
    s
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A table key: bare when it can be, quoted otherwise.
fn key(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        s.to_string()
    } else {
        quote(s)
    }
}

fn id_literal(id: Id) -> String {
    if id.is_extended() {
        format!("0x{:08X}", id.raw())
    } else {
        format!("0x{:03X}", id.raw())
    }
}

/// Seconds since the first frame, with 3 decimals.
fn rel(a: &Analysis, t: Timestamp) -> String {
    let base = a.first_frame.unwrap_or(Timestamp::ZERO);
    format!("{:.3}", t.saturating_duration_since(base).as_secs_f64())
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// `2025-11-21 14:03:07 UTC` for an epoch time, `t=12.345 s` for a zero-based log.
pub fn describe_time(t: Timestamp) -> String {
    let secs = t.secs();
    if secs < 946_684_800 {
        // Before 2000: a zero-based (`candump -tz`) or relative log.
        return format!("t={:.3} s of the log", t.as_secs_f64());
    }
    let u = UtcTime::of(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        u.year, u.month, u.day, u.hour, u.minute, u.second
    )
}

pub use crate::diag::codec::writes;

fn slug(dialect: Dialect, request: &[u8]) -> String {
    let sid = request.first().copied().unwrap_or(0);
    let name = service_name(dialect, sid).unwrap_or("request");
    let mut s = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            s.push('-');
        }
        s.push(c.to_ascii_lowercase());
    }
    if let Some(b) = request.get(1) {
        let _ = write!(s, "-{b:02x}");
    }
    s
}

fn title(dialect: Dialect, request: &[u8]) -> String {
    let sid = request.first().copied().unwrap_or(0);
    match service_name(dialect, sid) {
        Some(n) => format!("{n} {}", format_hex(request)),
        None => format!("Request {}", format_hex(request)),
    }
}

fn timing(a: &Analysis, e: &Exchange) -> String {
    let mut s = format!("# t={} s", rel(a, e.sent));
    match e.answer_time() {
        Some(d) => {
            let _ = write!(s, ", answered in {} ms", ms(d));
        }
        None => s.push_str(", no answer"),
    }
    if e.pending > 0 {
        let _ = write!(
            s,
            " after {} response-pending (7F {:02X} 78)",
            e.pending,
            e.sid()
        );
    }
    s
}

/// The script text. Fails only when the plan has no step (nothing answered).
///
/// Written line by line rather than serialised: every value goes through the `toml` crate
/// (`quote`), but the reviewer needs the comments (observed timing, guesses, what to check)
/// beside each value, which a serialiser cannot place.
pub fn render_script(a: &Analysis, p: &Plan, opts: &ScriptOptions) -> Result<String, NoSteps> {
    if p.step_count() == 0 {
        return Err(NoSteps {
            tx: a.tx,
            rx: a.rx,
            requests: a.exchanges.len(),
            answers: a.exchanges.iter().filter(|e| e.response.is_some()).count(),
        });
    }
    let when = a
        .first_frame
        .map(describe_time)
        .unwrap_or_else(|| "an empty log".into());
    let provenance = format!("captured from {} on {when}, not reviewed", opts.log_name);
    let mut o = String::new();
    render_header(&mut o, a, opts, &when);
    render_procedure(&mut o, a, opts, &provenance);
    render_module(&mut o, a, p, opts, &provenance);
    let mut n = 0usize;
    for item in &p.items {
        render_step(&mut o, a, p, opts, item, &mut n);
    }
    o.push('\n');
    let _ = writeln!(o, "[cleanup]");
    let _ = writeln!(o, "close_sessions = true");
    let _ = writeln!(o, "keep_alive_off = true");
    Ok(o)
}

/// A capture with no answered request on the chosen ids: no step to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no answered request on {tx} -> {rx} (requests: {requests}, answers: {answers})")]
pub struct NoSteps {
    pub tx: Id,
    pub rx: Id,
    pub requests: usize,
    pub answers: usize,
}

/// The opening comments: what the script is, what to review, what the capture held.
fn render_header(o: &mut String, a: &Analysis, opts: &ScriptOptions, when: &str) {
    let _ = writeln!(
        o,
        "# canrelearn procedure generated by `canrelearn script from-capture` from {}.\n\
         #\n\
         # NOT REVIEWED. Every step below is what a tester sent on {} and what the module answered\n\
         # on {} in that capture, byte for byte, with the observed timing in comments. Review it\n\
         # before use: remove what is not part of the procedure, give steps their meaning, turn\n\
         # exact answers into patterns (`??`, `..`) where values vary from car to car, and check\n\
         # every step marked `writes`. Format reference: scripts/README.md.",
        opts.log_name, a.tx, a.rx
    );
    let _ = writeln!(
        o,
        "# Times (t=) are seconds from the first frame of the log ({when}).\n\
         # Capture: {} frames on {}, {} on {}; {} requests ({} TesterPresent), {} answered.",
        a.tx_frames,
        a.tx,
        a.rx_frames,
        a.rx,
        a.exchanges.len(),
        a.exchanges
            .iter()
            .filter(|e| is_tester_present(&e.request))
            .count(),
        a.exchanges.iter().filter(|e| e.response.is_some()).count()
    );
    if !a.unsolicited.is_empty() {
        let _ = writeln!(
            o,
            "# {} message(s) on {} answered no request (first: t={} s {}).",
            a.unsolicited.len(),
            a.rx,
            a.unsolicited.first().map_or(String::new(), |u| rel(a, u.0)),
            a.unsolicited
                .first()
                .map_or(String::new(), |u| format_hex(&u.1))
        );
    }
    for b in a.broken.iter().take(10) {
        let _ = writeln!(
            o,
            "# broken transfer on {} at t={} s: {}",
            b.id,
            rel(a, b.at),
            b.what
        );
    }
    o.push('\n');
}

/// The `[procedure]` table.
fn render_procedure(o: &mut String, a: &Analysis, opts: &ScriptOptions, provenance: &str) {
    let _ = writeln!(o, "[procedure]");
    let _ = writeln!(o, "name = {}", quote(&opts.name));
    let _ = writeln!(
        o,
        "description = {}",
        quote(&format!(
            "Captured dealer-tool session with the module at {} -> {}.",
            a.tx, a.rx
        ))
    );
    let _ = writeln!(o, "version = \"0.1-captured\"");
    let _ = writeln!(o, "provenance = {}", quote(provenance));
    o.push('\n');
}

/// The `[modules.NAME]` table: ids, padding, dialect, sessions, keep-alive and timing, each
/// with what the capture showed.
fn render_module(o: &mut String, a: &Analysis, p: &Plan, opts: &ScriptOptions, provenance: &str) {
    let d = p.dialect;
    let _ = writeln!(o, "[modules.{}]", key(&opts.module));
    let _ = writeln!(o, "request_id = {}", id_literal(a.tx));
    let _ = writeln!(o, "response_id = {}", id_literal(a.rx));
    if a.tx.is_extended() || a.rx.is_extended() {
        let _ = writeln!(o, "extended_ids = true");
    }
    match a.padding {
        Some(b) => {
            let _ = writeln!(
                o,
                "padding = 0x{b:02X}{}",
                if a.padding_mixed {
                    "    # the most common of several padding bytes seen"
                } else {
                    "    # seen after every short tester frame"
                }
            );
        }
        None => {
            let _ = writeln!(
                o,
                "# padding: none seen (the tester sent minimal-length frames)"
            );
        }
    }
    if a.fd {
        let _ = writeln!(
            o,
            "# The capture used CAN FD frames; scripts have no CAN FD setting yet (classic frames are sent)."
        );
    }
    let _ = writeln!(
        o,
        "dialect = \"{}\"    # guessed: {}",
        d.name(),
        p.dialect_reason
    );
    let _ = writeln!(
        o,
        "default_session = 0x{:02X}    # the {} default{}",
        p.default_session,
        d.name(),
        match p.final_session {
            Some(s) if s != p.default_session =>
                format!("; the capture ends in session 0x{s:02X} (no return to the default seen)"),
            _ => String::new(),
        }
    );
    match &p.keep_alive {
        Some(k) => {
            let _ = writeln!(
                o,
                "keep_alive = {}    # sent {} times{}",
                quote(&format_hex(&k.pdu)),
                k.count,
                if k.answered > 0 {
                    format!(
                        "; the module answered {} of them (canrelearn expects no answer to a keep-alive)",
                        k.answered
                    )
                } else {
                    ", never answered".into()
                }
            );
            let (period, note) = in_range(ms(k.period), script::KEEP_ALIVE_MS);
            let _ = writeln!(
                o,
                "keep_alive_period_ms = {period}    # median interval observed: {} ms{note}",
                ms(k.period)
            );
        }
        None => {
            let _ = writeln!(
                o,
                "keep_alive = \"none\"    # no repeated TesterPresent seen"
            );
        }
    }
    let direct = a
        .exchanges
        .iter()
        .filter(|e| e.pending == 0)
        .filter_map(Exchange::answer_time)
        .max()
        .unwrap_or_default();
    let pending = a
        .exchanges
        .iter()
        .filter(|e| e.pending > 0)
        .filter_map(Exchange::answer_time)
        .max()
        .unwrap_or_default();
    let (p2, note) = in_range((ms(direct) * 2).max(1000), script::P2_MS);
    let _ = writeln!(
        o,
        "p2_ms = {p2}    # slowest direct answer observed: {} ms{note}",
        ms(direct)
    );
    let (p2s, note) = in_range((ms(pending) * 2).max(5000), script::P2_STAR_MS);
    let _ = writeln!(
        o,
        "p2_star_ms = {p2s}    # slowest answer after response-pending: {} ms in total{note}",
        ms(pending)
    );
    let _ = writeln!(o, "provenance = {}", quote(provenance));
}

/// One item of the plan: a `[[step]]` (numbered with `n`) or, for an unanswered request, a
/// commented-out one.
fn render_step(
    o: &mut String,
    a: &Analysis,
    p: &Plan,
    opts: &ScriptOptions,
    item: &Item,
    n: &mut usize,
) {
    let d = p.dialect;
    let ex = &a.exchanges;
    o.push('\n');
    let idx = match item {
        Item::Request { index }
        | Item::Session { index, .. }
        | Item::CloseSession { index }
        | Item::Unanswered { index } => *index,
        Item::Repeated { first, .. } => *first,
        Item::Poll(pp) => pp.first,
    };
    let Some(e) = ex.get(idx) else { return };
    let source = quote(&format!(
        "captured from {} at t={} s; not reviewed",
        opts.log_name,
        rel(a, e.sent)
    ));
    if let Item::Unanswered { .. } = item {
        let _ = writeln!(
            o,
            "# Not a step: {} got no answer before {}. A request step always waits for an\n\
             # answer; uncomment only if the module does answer it.",
            format_hex(&e.request),
            if idx + 1 < ex.len() {
                "the next request"
            } else {
                "the end of the capture"
            }
        );
        let _ = writeln!(o, "{}", timing(a, e));
        let _ = writeln!(o, "# [[step]]");
        let _ = writeln!(o, "# id = \"unanswered-{}\"", idx + 1);
        let _ = writeln!(o, "# title = {}", quote(&title(d, &e.request)));
        let _ = writeln!(o, "# kind = \"request\"");
        let _ = writeln!(o, "# module = {}", quote(&opts.module));
        let _ = writeln!(o, "# request = \"{}\"", format_hex(&e.request));
        let _ = writeln!(o, "# provenance = \"placeholder\"");
        return;
    }
    *n += 1;
    let id = format!("{n:02}-{}", slug(d, &e.request));
    match item {
        Item::Poll(pp) => {
            let _ = writeln!(
                o,
                "# {} sent {} times, every {} ms (median) for {:.1} s, until byte {} of the answer\n\
                 # went {} (values seen: {}). fail_if is not known from one capture: add it.",
                format_hex(&e.request),
                pp.count,
                ms(pp.interval),
                pp.duration.as_secs_f64(),
                pp.at,
                hexb(pp.until),
                pp.values
                    .iter()
                    .map(|v| hexb(*v))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let _ = writeln!(o, "{}", timing(a, e));
        }
        Item::Repeated {
            count, interval, ..
        } => {
            let _ = writeln!(
                o,
                "# {} sent {count} times in a row, every {} ms (median), with the same answer each time: one step.",
                format_hex(&e.request),
                ms(*interval)
            );
            let _ = writeln!(o, "{}", timing(a, e));
        }
        _ => {
            let _ = writeln!(o, "{}", timing(a, e));
        }
    }
    let _ = writeln!(o, "[[step]]");
    let _ = writeln!(o, "id = {}", quote(&id));
    render_step_fields(o, p, opts, item, e);
    let _ = writeln!(o, "provenance = \"placeholder\"");
    let _ = writeln!(o, "source = {source}");
}

/// The fields of a step's table that depend on its kind.
fn render_step_fields(o: &mut String, p: &Plan, opts: &ScriptOptions, item: &Item, e: &Exchange) {
    let d = p.dialect;
    match item {
        Item::Session { session, .. } => {
            let _ = writeln!(
                o,
                "title = {}",
                quote(&format!("Open session 0x{session:02X} (10 {session:02X})"))
            );
            let _ = writeln!(o, "kind = \"session\"");
            let _ = writeln!(o, "module = {}", quote(&opts.module));
            let _ = writeln!(o, "session = 0x{session:02X}");
        }
        Item::CloseSession { .. } => {
            let _ = writeln!(
                o,
                "title = {}",
                quote(&format!(
                    "Back to the default session (10 {:02X})",
                    p.default_session
                ))
            );
            let _ = writeln!(o, "kind = \"close_session\"");
            let _ = writeln!(o, "module = {}", quote(&opts.module));
        }
        Item::Poll(pp) => {
            let _ = writeln!(
                o,
                "title = {}",
                quote(&format!(
                    "Poll {} until byte {} is {}",
                    title(d, &e.request),
                    pp.at,
                    hexb(pp.until)
                ))
            );
            let _ = writeln!(o, "kind = \"poll\"");
            let _ = writeln!(o, "module = {}", quote(&opts.module));
            let _ = writeln!(o, "request = \"{}\"", format_hex(&e.request));
            let pat: Vec<String> = pp
                .expect
                .iter()
                .map(|b| b.map_or("??".to_string(), hexb))
                .collect();
            let _ = writeln!(o, "expect = \"{}\"", pat.join(" "));
            let _ = writeln!(o, "at = {}", pp.at);
            let _ = writeln!(o, "until = {{ equals = 0x{:02X} }}", pp.until);
            let (interval, note) = in_range(ms(pp.interval), script::POLL_INTERVAL_MS);
            let _ = writeln!(
                o,
                "interval_ms = {interval}    # median interval observed: {} ms{note}",
                ms(pp.interval)
            );
            let timeout = (pp.duration.as_secs_f64() * 3.0)
                .ceil()
                .clamp(30.0, script::MAX_STEP_SECONDS);
            let _ = writeln!(
                o,
                "timeout_s = {timeout:.0}    # 3 x the observed {:.1} s, at least 30 s, at most a day",
                pp.duration.as_secs_f64()
            );
        }
        Item::Request { .. } | Item::Repeated { .. } => {
            let _ = writeln!(o, "title = {}", quote(&title(d, &e.request)));
            let _ = writeln!(o, "kind = \"request\"");
            let _ = writeln!(o, "module = {}", quote(&opts.module));
            let _ = writeln!(o, "request = \"{}\"", format_hex(&e.request));
            match (e.nrc(), &e.response) {
                (Some(nrc), _) => {
                    let _ = writeln!(
                        o,
                        "accept_nrc = [0x{nrc:02X}]    # answered {}: {}, {}",
                        e.response.as_deref().map(format_hex).unwrap_or_default(),
                        Nrc(nrc).name(d),
                        Nrc(nrc).meaning(d)
                    );
                }
                (None, Some(r)) => {
                    let _ = writeln!(o, "expect = \"{}\"", format_hex(r));
                }
                (None, None) => {}
            }
            if writes(d, &e.request) {
                let _ = writeln!(o, "writes = true    # this service changes the module");
            }
            if e.sid() == 0x10 && e.is_positive() {
                let _ = writeln!(
                    o,
                    "# A session request answered with more than `50 XX`: a request step, since a\n\
                     # session step expects exactly `50 XX`. The keep-alive and cleanup only\n\
                     # follow session steps."
                );
            }
            if e.sid() == 0x27 {
                let _ = writeln!(
                    o,
                    "# SecurityAccess: the seed changes every time; a captured key will be refused."
                );
            }
        }
        Item::Unanswered { .. } => {}
    }
}

fn hexb(b: u8) -> String {
    format!("{b:02X}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_module_names_and_default_names() {
        for ok in ["BCM", "IPDM_ER", "av-unit", &"X".repeat(64)] {
            assert!(ScriptOptions::valid_module_name(ok), "{ok}");
        }
        for bad in ["", "B C M", "BCM.1", "é", &"X".repeat(65)] {
            assert!(!ScriptOptions::valid_module_name(bad), "{bad}");
        }
        assert_eq!(
            ScriptOptions::default_name("dealer-session.log.gz"),
            "dealer-session"
        );
        assert_eq!(ScriptOptions::default_name("dealer.log"), "dealer");
        assert_eq!(ScriptOptions::default_name("capture.asc"), "capture.asc");
        assert_eq!(ScriptOptions::default_name("-"), "captured-procedure");
        assert_eq!(ScriptOptions::default_name(""), "captured-procedure");
    }
    use crate::isotp::virtual_link::{Loss, Side, TraceKind, VirtualLink};
    use crate::procedure::Script;
    use proptest::prelude::*;

    const TX: u16 = 0x745;
    const RX: u16 = 0x765;

    fn id(raw: u16) -> Id {
        Id::standard(raw).unwrap()
    }

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_nanos(1_763_740_000_000_000_000 + ms * 1_000_000)
    }

    fn frame(i: Id, bytes: &[u8]) -> Frame {
        Frame::classic(i, bytes).unwrap()
    }

    /// Single frame padded with FF.
    fn sf(i: Id, pdu: &[u8]) -> Frame {
        let mut d = vec![pdu.len() as u8];
        d.extend_from_slice(pdu);
        d.resize(8, 0xFF);
        frame(i, &d)
    }

    /// A scripted session: (ms, direction tx?, pdu).
    struct Builder {
        cap: Capture,
        tx: Id,
        rx: Id,
    }

    impl Builder {
        fn new() -> Builder {
            Builder::with_ids(id(TX), id(RX))
        }
        fn with_ids(tx: Id, rx: Id) -> Builder {
            Builder {
                cap: Capture::new(CaptureConfig::new(tx, rx)),
                tx,
                rx,
            }
        }
        fn req(&mut self, ms: u64, pdu: &[u8]) -> &mut Self {
            let f = sf(self.tx, pdu);
            self.cap.handle_frame(t(ms), &f);
            self
        }
        fn resp(&mut self, ms: u64, pdu: &[u8]) -> &mut Self {
            let f = sf(self.rx, pdu);
            self.cap.handle_frame(t(ms), &f);
            self
        }
        fn raw(&mut self, ms: u64, i: Id, data: &[u8]) -> &mut Self {
            self.cap.handle_frame(t(ms), &frame(i, data));
            self
        }
        fn done(self) -> Analysis {
            self.cap.finish()
        }
    }

    fn opts() -> ScriptOptions {
        ScriptOptions {
            name: "captured".into(),
            module: "BCM".into(),
            log_name: "session.log".into(),
        }
    }

    fn script(a: &Analysis) -> (Plan, String, Script) {
        let p = plan(a, 3);
        let text = render_script(a, &p, &opts()).unwrap();
        let s = Script::from_toml(&text, "gen.toml").unwrap_or_else(|e| panic!("{e}\n{text}"));
        (p, text, s)
    }

    #[test]
    fn test_single_frame_exchange_and_script() {
        let mut b = Builder::new();
        b.req(0, &[0x1A, 0x81]).resp(12, &[0x5A, 0x81, 0x01]);
        let a = b.done();
        assert_eq!(a.exchanges.len(), 1);
        let e = &a.exchanges[0];
        assert_eq!(e.request, [0x1A, 0x81]);
        assert_eq!(e.response.as_deref(), Some(&[0x5A, 0x81, 0x01][..]));
        assert_eq!(e.answer_time(), Some(Duration::from_millis(12)));
        assert_eq!(a.padding, Some(0xFF));
        let (_, text, s) = script(&a);
        assert!(text.contains("# t=0.000 s, answered in 12 ms"), "{text}");
        assert_eq!(s.steps.len(), 1);
        assert_eq!(s.modules["BCM"].padding, Some(0xFF));
        assert_eq!(s.modules["BCM"].request_id, id(TX));
        match &s.steps[0].kind {
            crate::procedure::script::StepKind::Request {
                request,
                expect,
                writes,
                ..
            } => {
                assert_eq!(request.to_string(), "1A 81");
                assert_eq!(expect.as_ref().unwrap().to_string(), "5A 81 01");
                assert!(!writes);
            }
            k => panic!("{k:?}"),
        }
        assert!(s.procedure.provenance.contains("session.log on 2025-11-21"));
    }

    /// A capture's times outside what a script may hold (found by fuzzing: a 34 s answer gave
    /// `p2_ms = 68040`, over the 30 s maximum) are brought into range and said; the script loads.
    #[test]
    fn test_times_outside_the_script_ranges_are_brought_into_them() {
        let mut b = Builder::new();
        b.req(0, &[0x1A, 0x81]).resp(34_020, &[0x5A, 0x81, 0x01]);
        // TesterPresent every 50 ms (below the 200 ms minimum).
        for k in 0..10 {
            b.req(40_000 + k * 50, &[0x3E, 0x80]);
        }
        let (_, text, s) = script(&b.done());
        assert!(
            text.contains("p2_ms = 30000    # slowest direct answer observed: 34020 ms; brought into the allowed 10 to 30000 ms"),
            "{text}"
        );
        assert!(
            text.contains("keep_alive_period_ms = 200    # median interval observed: 50 ms; brought into the allowed 200 to 60000 ms"),
            "{text}"
        );
        assert_eq!(s.modules["BCM"].p2, Duration::from_secs(30));
    }

    #[test]
    fn test_multi_frame_both_ways() {
        let mut b = Builder::new();
        let (tx, rx) = (id(TX), id(RX));
        // Request 3B 90 + 8 bytes (10 bytes): FF, FC from the module, CF.
        b.raw(0, tx, &[0x10, 0x0A, 0x3B, 0x90, 1, 2, 3, 4])
            .raw(2, rx, &[0x30, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
            .raw(3, tx, &[0x21, 5, 6, 7, 8, 0xFF, 0xFF, 0xFF])
            // Answer 61 83 + 11 ASCII bytes after 20 ms: two frames.
            .raw(23, rx, &[0x10, 0x0D, 0x7B, 0x90, 0x32, 0x38, 0x34, 0x42])
            .raw(24, tx, &[0x30, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
            .raw(25, rx, &[0x21, 0x32, 0x2D, 0x34, 0x45, 0x41, 0x30, 0x41]);
        let a = b.done();
        assert_eq!(a.exchanges.len(), 1);
        let e = &a.exchanges[0];
        assert_eq!(e.request, [0x3B, 0x90, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(e.response.as_ref().unwrap().len(), 13);
        assert_eq!(e.answer_time(), Some(Duration::from_millis(20)));
        let (_, text, s) = script(&a);
        assert!(s.steps[0].writes(), "{text}");
        assert!(text.contains("expect = \"7B 90 32 38 34 42 32 2D 34 45 41 30 41\""));
    }

    #[test]
    fn test_response_pending_and_interleaved_keep_alive() {
        let mut b = Builder::new();
        b.req(0, &[0x10, 0xC0])
            .resp(10, &[0x50, 0xC0])
            .req(2000, &[0x3E, 0x80])
            .req(2500, &[0x31, 0x90])
            .resp(2515, &[0x7F, 0x31, 0x78])
            .req(4000, &[0x3E, 0x80])
            .resp(4300, &[0x71, 0x90])
            .req(6000, &[0x3E, 0x80])
            .req(7000, &[0x10, 0x81])
            .resp(7010, &[0x50, 0x81]);
        let a = b.done();
        let start = a.exchanges.iter().find(|e| e.sid() == 0x31).unwrap();
        assert_eq!(start.pending, 1);
        assert_eq!(start.response.as_deref(), Some(&[0x71, 0x90][..]));
        assert_eq!(start.answer_time(), Some(Duration::from_millis(1800)));
        let (p, text, s) = script(&a);
        let k = p.keep_alive.as_ref().unwrap();
        assert_eq!(k.pdu, [0x3E, 0x80]);
        assert_eq!(k.period, Duration::from_millis(2000));
        assert_eq!(k.answered, 0);
        let m = &s.modules["BCM"];
        assert_eq!(m.keep_alive.as_deref(), Some(&[0x3E, 0x80][..]));
        assert_eq!(m.keep_alive_period, Duration::from_millis(2000));
        assert_eq!(m.p2_star, Duration::from_millis(5000));
        let kinds: Vec<&str> = s.steps.iter().map(|s| s.kind_name()).collect();
        assert_eq!(kinds, ["session", "request", "close_session"], "{text}");
        assert!(s.steps[1].writes());
        assert!(
            text.contains("after 1 response-pending (7F 31 78)"),
            "{text}"
        );
    }

    #[test]
    fn test_negative_response_is_accepted_nrc() {
        let mut b = Builder::new();
        b.req(0, &[0x21, 0x83]).resp(9, &[0x7F, 0x21, 0x80]);
        let a = b.done();
        assert_eq!(a.exchanges[0].nrc(), Some(0x80));
        let (_, text, s) = script(&a);
        match &s.steps[0].kind {
            crate::procedure::script::StepKind::Request {
                accept_nrc, expect, ..
            } => {
                assert_eq!(accept_nrc, &[0x80]);
                assert!(expect.is_none());
            }
            k => panic!("{k:?}"),
        }
        assert!(
            text.contains("serviceNotSupportedInActiveDiagnosticSession"),
            "{text}"
        );
    }

    #[test]
    fn test_unanswered_request_is_commented_and_unsolicited_noted() {
        let mut b = Builder::new();
        b.req(0, &[0x28, 0x81])
            .req(100, &[0x1A, 0x81])
            .resp(110, &[0x5A, 0x81])
            .resp(500, &[0x62, 0x01]);
        let a = b.done();
        assert_eq!(a.exchanges.len(), 2);
        assert!(a.exchanges[0].response.is_none());
        assert_eq!(a.unsolicited.len(), 1);
        let (p, text, s) = script(&a);
        assert!(matches!(p.items[0], Item::Unanswered { index: 0 }));
        assert_eq!(s.steps.len(), 1);
        assert!(text.contains("# request = \"28 81\""), "{text}");
        assert!(text.contains("answered no request"), "{text}");
    }

    #[test]
    fn test_single_tester_present_is_a_step_not_a_keep_alive() {
        let mut b = Builder::new();
        b.req(0, &[0x3E, 0x01]).resp(5, &[0x7E, 0x01]);
        let a = b.done();
        let (p, _, s) = script(&a);
        assert!(p.keep_alive.is_none());
        assert_eq!(s.steps.len(), 1);
        assert_eq!(s.modules["BCM"].keep_alive, None);
    }

    #[test]
    fn test_polling_collapses_into_one_poll_step() {
        let mut b = Builder::new();
        b.req(0, &[0x31, 0x90]).resp(10, &[0x71, 0x90]);
        for i in 0..10u64 {
            let at = 1000 + i * 2000 + (i % 3);
            let v = if i == 9 { 0x01 } else { 0x00 };
            b.req(at, &[0x21, 0x91]).resp(at + 12, &[0x61, 0x91, v]);
            b.req(at + 1000, &[0x3E, 0x80]);
        }
        let a = b.done();
        let (p, text, s) = script(&a);
        let poll = p
            .items
            .iter()
            .find_map(|i| match i {
                Item::Poll(pp) => Some(pp),
                _ => None,
            })
            .unwrap();
        assert_eq!(poll.count, 10);
        assert_eq!(poll.at, 2);
        assert_eq!(poll.until, 1);
        assert_eq!(poll.values, [0, 1]);
        assert_eq!(poll.interval, Duration::from_millis(2000));
        assert_eq!(s.steps.len(), 2, "{text}");
        match &s.steps[1].kind {
            crate::procedure::script::StepKind::Poll {
                expect,
                extract,
                until,
                interval,
                timeout,
                ..
            } => {
                assert_eq!(expect.as_ref().unwrap().to_string(), "61 91 ??");
                assert_eq!(extract.at, 2);
                assert_eq!(until.equals, Some(1.0));
                assert_eq!(*interval, Duration::from_millis(2000));
                assert!(*timeout >= Duration::from_secs(54), "{timeout:?}");
            }
            k => panic!("{k:?}"),
        }
    }

    #[test]
    fn test_repeated_request_with_same_answer_is_one_step() {
        let mut b = Builder::new();
        for i in 0..4u64 {
            b.req(i * 500, &[0x21, 0x01])
                .resp(i * 500 + 5, &[0x61, 0x01, 7]);
        }
        let a = b.done();
        let (p, _, s) = script(&a);
        assert!(matches!(p.items[0], Item::Repeated { count: 4, .. }));
        assert_eq!(s.steps.len(), 1);
        // Two identical requests are below the threshold: two steps.
        let mut b = Builder::new();
        for i in 0..2u64 {
            b.req(i * 500, &[0x21, 0x01])
                .resp(i * 500 + 5, &[0x61, 0x01, 7]);
        }
        let (_, _, s) = script(&b.done());
        assert_eq!(s.steps.len(), 2);
    }

    #[test]
    fn test_extended_ids_and_fd_and_other_traffic() {
        let tx = Id::extended(0x18DA_40F1).unwrap();
        let rx = Id::extended(0x18DA_F140).unwrap();
        let mut b = Builder::with_ids(tx, rx);
        b.raw(0, id(0x60D), &[1, 2, 3, 4, 5, 6, 7, 8]).raw(
            1,
            Id::extended(0x18DB_33F1).unwrap(),
            &[0x02, 0x3E, 0x80],
        );
        // UDS read over CAN FD: a 20-byte answer in one FD single frame (escape form).
        b.cap.handle_frame(
            t(5),
            &Frame::fd(tx, &[0x03, 0x22, 0xF1, 0x90, 0xAA, 0xAA, 0xAA, 0xAA], true).unwrap(),
        );
        let mut d = vec![0x00, 20, 0x62, 0xF1, 0x90];
        d.extend(std::iter::repeat_n(0x41, 17));
        d.resize(24, 0xAA);
        b.cap.handle_frame(t(9), &Frame::fd(rx, &d, true).unwrap());
        let a = b.done();
        assert!(a.fd);
        assert_eq!(a.padding, Some(0xAA));
        assert_eq!(a.exchanges.len(), 1);
        assert_eq!(a.exchanges[0].response.as_ref().unwrap().len(), 20);
        assert_eq!(a.frames_on(id(0x60D)), 1);
        let (p, text, s) = script(&a);
        assert_eq!(p.dialect, Dialect::Uds);
        assert!(text.contains("extended_ids = true"));
        assert!(text.contains("CAN FD"));
        assert_eq!(s.modules["BCM"].request_id, tx);
        assert_eq!(s.modules["BCM"].dialect, Dialect::Uds);
    }

    #[test]
    fn test_uds_session_with_timing_is_a_request_and_final_session_noted() {
        let mut b = Builder::new();
        b.req(0, &[0x10, 0x03])
            .resp(10, &[0x50, 0x03, 0x00, 0x32, 0x01, 0xF4])
            .req(100, &[0x22, 0xF1, 0x90])
            .resp(110, &[0x62, 0xF1, 0x90, 0x41]);
        let a = b.done();
        let (p, text, s) = script(&a);
        assert_eq!(p.dialect, Dialect::Uds);
        assert_eq!(p.default_session, 0x01);
        assert_eq!(p.final_session, Some(0x03));
        assert!(text.contains("the capture ends in session 0x03"), "{text}");
        assert_eq!(s.steps[0].kind_name(), "request");
        assert!(
            text.contains("session step expects exactly `50 XX`"),
            "{text}"
        );
        // KWP2000: a session opened and never closed.
        let mut b = Builder::new();
        b.req(0, &[0x10, 0xC0])
            .resp(10, &[0x50, 0xC0])
            .req(100, &[0x21, 0x01])
            .resp(110, &[0x61, 0x01, 0x00]);
        let (p, text, s) = script(&b.done());
        assert_eq!(p.final_session, Some(0xC0));
        assert_eq!(s.modules["BCM"].default_session, 0x81);
        assert!(text.contains("the capture ends in session 0xC0"), "{text}");
    }

    #[test]
    fn test_repeated_negative_answers_are_one_step() {
        let mut b = Builder::new();
        for i in 0..5u64 {
            b.req(i * 300, &[0x31, 0x90])
                .resp(i * 300 + 5, &[0x7F, 0x31, 0x22]);
        }
        b.req(2000, &[0x31, 0x90]).resp(2010, &[0x71, 0x90]);
        let a = b.done();
        let (p, _, s) = script(&a);
        // Five refusals and the success are one run of six; the answers differ in length, so
        // not a poll: every exchange is its own step.
        assert_eq!(p.items.len(), 6);
        assert_eq!(s.steps.len(), 6);
        let mut b = Builder::new();
        for i in 0..5u64 {
            b.req(i * 300, &[0x31, 0x90])
                .resp(i * 300 + 5, &[0x7F, 0x31, 0x22]);
        }
        let (p, text, s) = script(&b.done());
        assert!(
            matches!(p.items[0], Item::Repeated { count: 5, .. }),
            "{p:?}"
        );
        assert_eq!(s.steps.len(), 1);
        assert!(text.contains("accept_nrc = [0x22]"), "{text}");
        assert!(s.steps[0].writes());
    }

    #[test]
    fn test_nothing_answered_is_an_error() {
        let mut b = Builder::new();
        b.req(0, &[0x10, 0xC0]);
        let a = b.done();
        let p = plan(&a, 3);
        assert_eq!(p.step_count(), 0);
        let e = render_script(&a, &p, &opts()).unwrap_err();
        assert_eq!((e.requests, e.answers), (1, 0));
        assert!(
            e.to_string()
                .starts_with("no answered request on 745 -> 765"),
            "{e}"
        );
    }

    #[test]
    fn test_dialect_guess_and_writes() {
        let ex = |r: &[u8]| Exchange {
            request: r.to_vec(),
            sent: t(0),
            request_done: t(0),
            pending: 0,
            response: None,
            answered: None,
        };
        let (d, why) = guess_dialect(&[ex(&[0x10, 0xC0]), ex(&[0x21, 0x01])]);
        assert_eq!(d, Dialect::Kwp2000);
        assert!(why.contains("10 C0"), "{why}");
        let (d, _) = guess_dialect(&[ex(&[0x10, 0x03]), ex(&[0x31, 0x01, 0xFF, 0x00])]);
        assert_eq!(d, Dialect::Uds);
        assert_eq!(guess_dialect(&[]).0, Dialect::Kwp2000);
        assert!(writes(Dialect::Kwp2000, &[0x31, 0x90]));
        assert!(writes(Dialect::Kwp2000, &[0x3B, 0x01, 0x02]));
        assert!(!writes(Dialect::Kwp2000, &[0x21, 0x01]));
        assert!(!writes(Dialect::Uds, &[0x31, 0x03, 0xFF, 0x00]));
        assert!(writes(Dialect::Uds, &[0x27, 0x02, 1, 2]));
        assert!(!writes(Dialect::Uds, &[0x27, 0x01]));
        assert!(!writes(Dialect::Uds, &[]));
    }

    #[test]
    fn test_describe_time() {
        assert_eq!(
            describe_time(Timestamp::from_nanos(1_763_740_000_000_000_000)),
            "2025-11-21 15:46:40 UTC"
        );
        assert_eq!(
            describe_time(Timestamp::from_nanos(12_345_000_000)),
            "t=12.345 s of the log"
        );
    }

    #[test]
    fn test_odd_names_are_quoted() {
        let mut b = Builder::new();
        b.req(0, &[0x1A, 0x81]).resp(12, &[0x5A, 0x81]);
        let a = b.done();
        let p = plan(&a, 3);
        let o = ScriptOptions {
            name: "my \"odd\" name".into(),
            module: "AV unit".into(),
            log_name: "c:\\logs\\x.log".into(),
        };
        let text = render_script(&a, &p, &o).unwrap();
        let s = Script::from_toml(&text, "x").unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(s.procedure.name, "my \"odd\" name");
        assert!(s.modules.contains_key("AV unit"));
    }

    /// A request (SID neither TesterPresent nor 0x3F/0x7F) and its final answer.
    fn arb_exchange() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
        let sid = (0x01u8..0x3F).prop_filter("not TesterPresent", |s| *s != 0x3E);
        (
            sid,
            proptest::collection::vec(any::<u8>(), 0..80),
            proptest::collection::vec(any::<u8>(), 0..120),
            any::<bool>(),
            (0x10u8..=0xFF).prop_filter("not pending", |n| *n != 0x78),
        )
            .prop_map(|(sid, req, resp, negative, nrc)| {
                let mut q = vec![sid];
                q.extend(req);
                let r = if negative {
                    vec![0x7F, sid, nrc]
                } else {
                    let mut r = vec![sid + 0x40];
                    r.extend(resp);
                    r
                };
                (q, r)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any frames at all on the pair: no panic, and any script made loads.
        #[test]
        fn random_frames_never_panic_and_scripts_load(
            frames in proptest::collection::vec((any::<bool>(), 0u64..3000, proptest::collection::vec(any::<u8>(), 0..=8)), 0..60),
        ) {
            let mut cap = Capture::new(CaptureConfig::new(id(TX), id(RX)));
            let mut now = 0;
            for (is_tx, dt, data) in &frames {
                now += dt;
                let f = frame(if *is_tx { id(TX) } else { id(RX) }, data);
                cap.handle_frame(t(now), &f);
            }
            let a = cap.finish();
            for min in [2, 3] {
                let p = plan(&a, min);
                if let Ok(text) = render_script(&a, &p, &opts()) {
                    prop_assert!(Script::from_toml(&text, "gen.toml").is_ok(), "{}", text);
                }
            }
        }

        /// Segment random exchanges into frames with two ISO-TP channels, feed the frames (and
        /// other traffic) to a Capture: the same request/response pairs come back.
        #[test]
        fn segmented_exchanges_come_back(
            exchanges in proptest::collection::vec(arb_exchange(), 1..12),
            extended in any::<bool>(),
            fd in any::<bool>(),
            padding in proptest::option::of(any::<u8>()),
            gap_ms in 20u64..3000,
        ) {
            let (tx, rx) = if extended {
                (Id::extended(0x18DA_40F1).unwrap(), Id::extended(0x18DA_F140).unwrap())
            } else {
                (id(0x7E0), id(0x7E8))
            };
            let cfg = |a: Id, b: Id| {
                let mut c = crate::isotp::Config::new(a, b);
                c.padding = padding;
                if fd {
                    c.format = crate::isotp::FrameFormat::Fd { tx_dl: 64, brs: true };
                }
                crate::isotp::Channel::new(c).unwrap()
            };
            let mut link = VirtualLink::new(cfg(tx, rx), cfg(rx, tx), Duration::from_micros(300), Loss::None);
            for (q, r) in &exchanges {
                let now = link.now();
                link.channel(Side::A).send(now, q).unwrap();
                link.run_for(Duration::from_secs(1));
                let now = link.now() + Duration::from_millis(7);
                link.advance_to(now);
                link.channel(Side::B).send(now, r).unwrap();
                link.run_for(Duration::from_secs(1));
                let later = link.now() + Duration::from_millis(gap_ms);
                link.advance_to(later);
            }
            let mut cap = Capture::new(CaptureConfig::new(tx, rx));
            let other = id(0x60D);
            for e in link.trace() {
                if let TraceKind::Transmitted { frame, .. } = &e.kind {
                    cap.handle_frame(e.at, &Frame::classic(other, &[1, 2, 3]).unwrap());
                    cap.handle_frame(e.at, frame);
                }
            }
            let a = cap.finish();
            let got: Vec<(Vec<u8>, Vec<u8>)> = a
                .exchanges
                .iter()
                .map(|e| (e.request.clone(), e.response.clone().unwrap_or_default()))
                .collect();
            prop_assert_eq!(got, exchanges.clone());
            prop_assert!(a.unsolicited.is_empty());
            prop_assert!(a.broken.is_empty());
            // Whatever the plan makes of them, the script loads.
            let p = plan(&a, 3);
            let text = render_script(&a, &p, &opts()).unwrap();
            prop_assert!(Script::from_toml(&text, "gen.toml").is_ok(), "{}", text);
        }
    }

    #[test]
    fn test_garbage_frames_never_panic() {
        let mut b = Builder::new();
        let (tx, rx) = (id(TX), id(RX));
        for (i, d) in [
            &[][..],
            &[0x00],
            &[0x10],
            &[0x2F, 1],
            &[0x3F],
            &[0x07, 1],
            &[0x10, 0x00, 0, 0, 0, 0, 0, 0],
        ]
        .iter()
        .enumerate()
        {
            b.raw(i as u64, tx, d).raw(i as u64, rx, d);
        }
        let a = b.done();
        let p = plan(&a, 3);
        let _ = render_script(&a, &p, &opts());
    }
}
