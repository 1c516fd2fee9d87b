//! Communication-loss watch: which messages and nodes went silent, and when they came back.
//!
//! Models the diagnosis a Nissan module runs itself (U1000 "CAN COMM CIRCUIT": no CAN signal for
//! 2 s or more with ignition ON; U0100/U0140/U0155 for a lost ECM/BCM/meter) and the
//! per-message timeouts of opendbc (missing after 10 periods): a message is lost when unseen for
//! `max(k x cycle, floor)` (defaults k = 10, floor 2 s), a node when none of its messages arrived
//! for `max(floor, k x its fastest cycle)`. After arming (start of the watch, or ignition ON), a
//! first-reception grace period lets modules wake up before anything counts as lost, so the
//! sleep handshake at ignition OFF and the wake-up at ON are not reported as faults.
//!
//! Pure and clock-free: time comes from the frames, so the watcher runs identically live and
//! over a log. Calling contract: feed every frame in time order with [`Watcher::handle_frame`]
//! (which first settles timeouts due before the frame); call [`Watcher::handle_timeout`] when
//! the deadline from [`Watcher::poll_timeout`] passes with no frame (live use) or at the end of
//! the input; drain [`Watcher::poll_event`] after each call. Arm and disarm with
//! [`Watcher::set_armed`] (the caller evaluates conditions such as ignition ON from decoded
//! signals). Per frame the work is O(1); timeouts cost O(log n) per message per timeout period.
//!
//! Over a candump log: the audio unit's 100 ms message stops at 5.0 s and returns at 9.0 s.
//! With the defaults (10 cycles, at least 2 s) it is lost 2 s after it was last seen, the
//! message first, then its node:
//!
//! ```
//! use core::time::Duration;
//! use canrelearn::log::candump::{Item, Reader};
//! use canrelearn::watch::{Event, Expectation, Subject, WatchConfig, Watcher};
//! use canrelearn::{Id, Timestamp};
//!
//! let audio = Expectation {
//!     id: Id::standard(0x355).unwrap(),
//!     name: Some("AUDIO_STATUS".into()),
//!     node: "AV".into(),
//!     cycle: Duration::from_millis(100),
//! };
//! let mut watcher = Watcher::new(WatchConfig::default(), vec![audio])?;
//! let mut log = String::new();
//! for t in (0..=50).chain(90..=92) {
//!     log += &format!("({}.{:01}00000) can0 355#00\n", t / 10, t % 10);
//! }
//! let mut reader = Reader::new(log.as_bytes());
//! let mut events = Vec::new();
//! while let Some(item) = reader.read_item()? {
//!     if let Item::Record(r) = item {
//!         if let Some(id) = r.frame.id() {
//!             watcher.handle_frame(r.timestamp, id);
//!         }
//!         events.extend(std::iter::from_fn(|| watcher.poll_event()));
//!     }
//! }
//! let ms = |n: u64| Timestamp::from_nanos(n * 1_000_000);
//! assert!(matches!(events[..], [
//!     Event::Lost { subject: Subject::Message(0), at: lost, .. },
//!     Event::Lost { subject: Subject::Node, .. },
//!     Event::Restored { subject: Subject::Message(0), at: back, .. },
//!     Event::Restored { subject: Subject::Node, .. },
//! ] if lost == ms(7_000) && back == ms(9_000)), "{events:?}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod armed;
pub mod report;

pub use armed::{ArmedEvent, ArmedWatch, NodeResult, NodeVerdict, Verdict, WatchRecord};

use core::cmp::Reverse;
use core::time::Duration;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use crate::dbc::Database;
use crate::frame::Id;
use crate::time::Timestamp;

/// What to expect of one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub id: Id,
    /// The message name (from the DBC), if known.
    pub name: Option<String>,
    /// The sending node.
    pub node: String,
    /// The nominal cycle time.
    pub cycle: Duration,
}

/// Timeouts and arming.
#[derive(Debug, Clone, PartialEq)]
pub struct WatchConfig {
    /// A message is lost after `timeout_factor x cycle` without it (at least `min_timeout`).
    pub timeout_factor: f64,
    /// The floor of every timeout.
    pub min_timeout: Duration,
    /// After arming, nothing is lost before `grace + timeout` (first-reception timeout).
    pub grace: Duration,
    /// Whether the watch is armed from the first frame (else it waits for `set_armed`).
    pub start_armed: bool,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            timeout_factor: 10.0,
            min_timeout: Duration::from_secs(2),
            grace: Duration::from_secs(2),
            start_armed: true,
        }
    }
}

/// A watch configuration or expectation the watcher refuses.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WatchError {
    #[error("the timeout factor must be a positive finite number, not {0}")]
    InvalidFactor(f64),
    #[error("message {id} is expected twice (nodes {first} and {second})")]
    DuplicateId {
        id: Id,
        first: String,
        second: String,
    },
    #[error("message {0} has a cycle time of zero")]
    ZeroCycle(Id),
}

/// What went silent or came back.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    /// A whole node (none of its messages arrived).
    Node,
    /// One message, by index into the expectations.
    Message(usize),
}

/// A watch event. Times are on the frames' time line.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Silence reached the timeout: `at` is when the loss was due (`last_seen + timeout`, or
    /// `armed + grace + timeout` for something never seen since arming).
    Lost {
        node: usize,
        subject: Subject,
        at: Timestamp,
        last_seen: Option<Timestamp>,
    },
    /// A frame arrived again after a loss: `at` is its arrival.
    Restored {
        node: usize,
        subject: Subject,
        at: Timestamp,
        last_seen: Option<Timestamp>,
        lost_at: Timestamp,
    },
}

/// Per-node loss statistics for the closing summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeSummary {
    pub losses: u32,
    /// Total time lost (from each loss to its restoration, or to the end of the watch).
    pub downtime: Duration,
    pub lost_now: bool,
}

#[derive(Debug, Clone)]
struct Track {
    timeout: Duration,
    last_seen: Option<Timestamp>,
    /// `Some(lost_at)` while lost.
    lost: Option<Timestamp>,
    losses: u32,
    downtime: Duration,
}

impl Track {
    fn new(timeout: Duration) -> Self {
        Track {
            timeout,
            last_seen: None,
            lost: None,
            losses: 0,
            downtime: Duration::ZERO,
        }
    }

    /// When this track's silence becomes a loss, given the arming time.
    fn deadline(&self, armed_at: Timestamp, grace: Duration) -> Timestamp {
        let reference = (armed_at + grace).max(self.last_seen.unwrap_or(Timestamp::ZERO));
        reference + self.timeout
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Message(usize),
    Node(usize),
}

/// The watcher state machine.
#[derive(Debug, Clone)]
pub struct Watcher {
    config: WatchConfig,
    expectations: Vec<Expectation>,
    node_names: Vec<String>,
    message_node: Vec<usize>,
    messages: Vec<Track>,
    nodes: Vec<Track>,
    by_standard_id: Vec<u32>,
    by_extended_id: HashMap<u32, usize>,
    /// `Some(t)` while armed since `t`.
    armed_at: Option<Timestamp>,
    started: bool,
    now: Timestamp,
    /// Candidate deadlines; an entry may be stale (its track was seen since) and is then
    /// re-queued with the current deadline when it comes up.
    deadlines: BinaryHeap<Reverse<(Timestamp, Key)>>,
    events: VecDeque<Event>,
}

const NO_INDEX: u32 = u32::MAX;

impl Watcher {
    /// A watcher for these expectations.
    pub fn new(config: WatchConfig, expectations: Vec<Expectation>) -> Result<Self, WatchError> {
        if !(config.timeout_factor.is_finite() && config.timeout_factor > 0.0) {
            return Err(WatchError::InvalidFactor(config.timeout_factor));
        }
        let mut node_names: Vec<String> = Vec::new();
        let mut message_node = Vec::with_capacity(expectations.len());
        let mut messages = Vec::with_capacity(expectations.len());
        let mut fastest: Vec<Duration> = Vec::new();
        let mut by_standard_id = vec![NO_INDEX; 0x800];
        let mut by_extended_id = HashMap::new();
        for (i, e) in expectations.iter().enumerate() {
            if e.cycle.is_zero() {
                return Err(WatchError::ZeroCycle(e.id));
            }
            let node = match node_names.iter().position(|n| *n == e.node) {
                Some(n) => n,
                None => {
                    node_names.push(e.node.clone());
                    fastest.push(e.cycle);
                    node_names.len() - 1
                }
            };
            fastest[node] = fastest[node].min(e.cycle);
            message_node.push(node);
            messages.push(Track::new(timeout_for(&config, e.cycle)));
            let previous = if e.id.is_extended() {
                by_extended_id.insert(e.id.raw(), i)
            } else {
                let slot = &mut by_standard_id[e.id.raw() as usize];
                let old = (*slot != NO_INDEX).then_some(*slot as usize);
                *slot = i as u32;
                old
            };
            if let Some(p) = previous {
                return Err(WatchError::DuplicateId {
                    id: e.id,
                    first: expectations[p].node.clone(),
                    second: e.node.clone(),
                });
            }
        }
        let nodes = fastest
            .iter()
            .map(|&c| Track::new(timeout_for(&config, c)))
            .collect();
        Ok(Watcher {
            config,
            expectations,
            node_names,
            message_node,
            messages,
            nodes,
            by_standard_id,
            by_extended_id,
            armed_at: None,
            started: false,
            now: Timestamp::ZERO,
            deadlines: BinaryHeap::new(),
            events: VecDeque::new(),
        })
    }

    /// The expectations, indexed as in [`Subject::Message`].
    pub fn expectations(&self) -> &[Expectation] {
        &self.expectations
    }

    /// The node names, indexed as in events.
    pub fn node_names(&self) -> &[String] {
        &self.node_names
    }

    /// The timeout applied to a message.
    pub fn message_timeout(&self, index: usize) -> Option<Duration> {
        self.messages.get(index).map(|t| t.timeout)
    }

    /// Whether losses are being detected now.
    pub fn is_armed(&self) -> bool {
        self.armed_at.is_some()
    }

    fn start(&mut self, now: Timestamp) {
        if !self.started {
            self.started = true;
            self.now = now;
            if self.config.start_armed {
                self.arm(now);
            }
        }
    }

    fn arm(&mut self, now: Timestamp) {
        self.armed_at = Some(now);
        self.deadlines.clear();
        for i in 0..self.messages.len() {
            self.schedule(Key::Message(i));
        }
        for n in 0..self.nodes.len() {
            self.schedule(Key::Node(n));
        }
    }

    fn track(&self, key: Key) -> &Track {
        match key {
            Key::Message(i) => &self.messages[i],
            Key::Node(n) => &self.nodes[n],
        }
    }

    fn schedule(&mut self, key: Key) {
        if let Some(armed_at) = self.armed_at {
            let track = self.track(key);
            if track.lost.is_none() {
                let at = track.deadline(armed_at, self.config.grace);
                self.deadlines.push(Reverse((at, key)));
            }
        }
    }

    /// Arm or disarm loss detection at `now` (e.g. ignition ON / OFF). Arming restarts the
    /// grace period; while disarmed nothing is reported lost, but restorations still are.
    pub fn set_armed(&mut self, now: Timestamp, armed: bool) {
        self.start(now);
        self.handle_timeout(now);
        match (armed, self.armed_at.is_some()) {
            (true, false) => self.arm(now),
            (false, true) => {
                self.armed_at = None;
                self.deadlines.clear();
            }
            _ => {}
        }
    }

    /// A frame with this id arrived at `now`. Frames must come in time order; an earlier time
    /// is treated as `now` of the latest frame.
    pub fn handle_frame(&mut self, now: Timestamp, id: Id) {
        self.start(now);
        let now = now.max(self.now);
        self.handle_timeout(now);
        let index = if id.is_extended() {
            self.by_extended_id.get(&id.raw()).copied()
        } else {
            self.by_standard_id
                .get(id.raw() as usize)
                .filter(|&&i| i != NO_INDEX)
                .map(|&i| i as usize)
        };
        let Some(index) = index else { return };
        let node = self.message_node[index];
        self.seen(now, Key::Message(index), node);
        self.seen(now, Key::Node(node), node);
    }

    fn seen(&mut self, now: Timestamp, key: Key, node: usize) {
        let track = match key {
            Key::Message(i) => &mut self.messages[i],
            Key::Node(n) => &mut self.nodes[n],
        };
        let last_seen = track.last_seen.replace(now);
        if let Some(lost_at) = track.lost.take() {
            track.downtime += now.saturating_duration_since(lost_at);
            let subject = match key {
                Key::Message(i) => Subject::Message(i),
                Key::Node(_) => Subject::Node,
            };
            self.events.push_back(Event::Restored {
                node,
                subject,
                at: now,
                last_seen,
                lost_at,
            });
            // Lost tracks have no deadline queued; watch this one again.
            self.schedule(key);
        }
    }

    /// Report every loss due at or before `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.start(now);
        if now > self.now {
            self.now = now;
        }
        let Some(armed_at) = self.armed_at else {
            return;
        };
        while let Some(&Reverse((at, key))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            let grace = self.config.grace;
            let track = match key {
                Key::Message(i) => &mut self.messages[i],
                Key::Node(n) => &mut self.nodes[n],
            };
            if track.lost.is_some() {
                continue;
            }
            let due = track.deadline(armed_at, grace);
            if due > now {
                // Seen since this entry was queued: watch the new deadline instead.
                self.deadlines.push(Reverse((due, key)));
                continue;
            }
            track.lost = Some(due);
            track.losses += 1;
            let last_seen = track.last_seen;
            let (node, subject) = match key {
                Key::Message(i) => (self.message_node[i], Subject::Message(i)),
                Key::Node(n) => (n, Subject::Node),
            };
            self.events.push_back(Event::Lost {
                node,
                subject,
                at: due,
                last_seen,
            });
        }
    }

    /// The next time at which a loss could become due, if armed.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.deadlines.peek().map(|Reverse((at, _))| *at)
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Per-node statistics, with downtime counted up to `end` for nodes still lost.
    pub fn summary(&self, end: Timestamp) -> Vec<NodeSummary> {
        self.nodes
            .iter()
            .map(|t| NodeSummary {
                losses: t.losses,
                downtime: t.downtime
                    + t.lost
                        .map(|at| end.saturating_duration_since(at))
                        .unwrap_or_default(),
                lost_now: t.lost.is_some(),
            })
            .collect()
    }
}

fn timeout_for(config: &WatchConfig, cycle: Duration) -> Duration {
    let scaled = Duration::try_from_secs_f64(cycle.as_secs_f64() * config.timeout_factor)
        .unwrap_or(Duration::MAX);
    scaled.max(config.min_timeout)
}

/// What a DBC says to expect: every message with a sender (`BO_` transmitter) and a
/// `GenMsgCycleTime`.
pub fn expectations_from_dbc(db: &Database) -> Vec<Expectation> {
    db.messages()
        .iter()
        .filter_map(|m| {
            Some(Expectation {
                id: m.id(),
                name: Some(m.name().to_string()),
                node: m.transmitter()?.to_string(),
                cycle: Duration::from_millis(u64::from(m.cycle_time_ms()?)),
            })
        })
        .collect()
}

/// When to arm loss detection. Two kinds:
///
/// - a comparison on one decoded signal, e.g. `BODY_STATUS.IGNITION_STATE=3` (operators `=`
///   `==` `!=` `>=` `<=` `>` `<`): armed while the last value received satisfies it;
/// - a message alone, by name (`STEERING_ANGLE`) or id (`0x002`, `18DAF110x` for an extended
///   id): armed while that message keeps arriving, disarmed once it has been absent for
///   [`ArmCondition::presence_hold`]. Pick a message sent only with the ignition ON (a steering
///   angle or wheel speed frame): this arms on cars whose ignition bit is not known, such as
///   the CMF-platform J11 and X-Trail T32, and needs no signal layout at all.
///
/// A DBC can carry its own condition as the network attribute `CanrelearnWatchArm` (the
/// bundled J11 DBC does).
#[derive(Debug, Clone, PartialEq)]
pub struct ArmCondition {
    text: String,
    test: Test,
}

#[derive(Debug, Clone, PartialEq)]
enum Test {
    Signal {
        message: usize,
        signal: usize,
        op: &'static str,
        value: f64,
    },
    Present {
        id: Id,
        message: Option<usize>,
        hold: Duration,
    },
}

/// The longest a presence-armed watch waits for its message before disarming: well under the
/// 2 s floor of loss timeouts, so that an ignition OFF (every module quiet at once) disarms
/// the watch before any loss is due.
pub const PRESENCE_HOLD_MAX: Duration = Duration::from_millis(1000);
/// The shortest presence hold (for messages sent every few milliseconds).
pub const PRESENCE_HOLD_MIN: Duration = Duration::from_millis(100);
/// A presence hold is this many of the message's cycle times (within the bounds above).
pub const PRESENCE_HOLD_CYCLES: u32 = 5;

/// Why an arming condition does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArmError {
    #[error("{0:?}: expected MESSAGE.SIGNAL")]
    NotSignal(String),
    #[error("no message {0} in the DBC")]
    NoMessage(String),
    #[error("no signal {signal} in message {message}")]
    NoSignal { signal: String, message: String },
    #[error("{0:?} is not a number")]
    NotNumber(String),
    #[error(
        "{0:?}: expected MESSAGE.SIGNAL=VALUE (armed while it holds), or a message name or id such as 0x002 (armed while it arrives)"
    )]
    NotCondition(String),
}

impl ArmCondition {
    /// The name of the DBC network attribute holding a database's own condition.
    pub const ATTRIBUTE: &'static str = "CanrelearnWatchArm";

    /// Parse a condition against a database; the error says what is wrong.
    pub fn parse(db: &Database, text: &str) -> Result<ArmCondition, ArmError> {
        let ops = ["==", "!=", ">=", "<=", "=", ">", "<"];
        let Some((at, op)) = ops
            .iter()
            .filter_map(|op| text.find(op).map(|i| (i, *op)))
            .min_by_key(|(i, op)| (*i, usize::MAX - op.len()))
        else {
            return Self::parse_presence(db, text);
        };
        let (lhs, rhs) = (text[..at].trim(), text[at + op.len()..].trim());
        let (m, s) = lhs
            .split_once('.')
            .ok_or_else(|| ArmError::NotSignal(lhs.to_string()))?;
        let message = db
            .messages()
            .iter()
            .position(|x| x.name() == m)
            .ok_or_else(|| ArmError::NoMessage(m.to_string()))?;
        let (signal, _) = db
            .messages()
            .get(message)
            .and_then(|x| x.signal_by_name(s))
            .ok_or_else(|| ArmError::NoSignal {
                signal: s.to_string(),
                message: m.to_string(),
            })?;
        let value = rhs
            .parse::<f64>()
            .map_err(|_| ArmError::NotNumber(rhs.to_string()))?;
        Ok(ArmCondition {
            text: text.to_string(),
            test: Test::Signal {
                message,
                signal,
                op: if op == "==" { "=" } else { op },
                value,
            },
        })
    }

    /// `MESSAGE` or an id: armed while it arrives.
    fn parse_presence(db: &Database, text: &str) -> Result<ArmCondition, ArmError> {
        let t = text.trim();
        let by_name = db.messages().iter().position(|m| m.name() == t);
        let id = match by_name.and_then(|i| db.messages().get(i)) {
            Some(m) => m.id(),
            None => parse_id(t).ok_or_else(|| ArmError::NotCondition(t.to_string()))?,
        };
        let message = by_name.or_else(|| db.message_index(id));
        let cycle = message
            .and_then(|i| db.messages().get(i))
            .and_then(|m| m.cycle_time_ms());
        let hold = match cycle {
            Some(ms) => (Duration::from_millis(u64::from(ms)) * PRESENCE_HOLD_CYCLES)
                .clamp(PRESENCE_HOLD_MIN, PRESENCE_HOLD_MAX),
            None => PRESENCE_HOLD_MAX,
        };
        Ok(ArmCondition {
            text: t.to_string(),
            test: Test::Present { id, message, hold },
        })
    }

    /// The database's own condition, if it has one (`Ok(None)` when it has none).
    pub fn from_database(db: &Database) -> Result<Option<ArmCondition>, ArmError> {
        match db.attribute(Self::ATTRIBUTE).map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => ArmCondition::parse(db, text).map(Some),
        }
    }

    /// Whether a value of the signal satisfies the condition (a presence condition holds
    /// for any value).
    pub fn holds(&self, v: f64) -> bool {
        let Test::Signal { op, value, .. } = &self.test else {
            return true;
        };
        match *op {
            "=" => v == *value,
            "!=" => v != *value,
            ">=" => v >= *value,
            "<=" => v <= *value,
            ">" => v > *value,
            _ => v < *value,
        }
    }

    /// The condition as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Index of the message in the database (`None` for a presence condition on an id the
    /// database does not know).
    pub fn message_index(&self) -> Option<usize> {
        match &self.test {
            Test::Signal { message, .. } => Some(*message),
            Test::Present { message, .. } => *message,
        }
    }

    /// Index of the signal in its message (`None` for a presence condition).
    pub fn signal_index(&self) -> Option<usize> {
        match &self.test {
            Test::Signal { signal, .. } => Some(*signal),
            Test::Present { .. } => None,
        }
    }

    /// For a presence condition: its id and how long the message may be absent before the
    /// watch disarms.
    pub fn presence_hold(&self) -> Option<(Id, Duration)> {
        match &self.test {
            Test::Present { id, hold, .. } => Some((*id, *hold)),
            Test::Signal { .. } => None,
        }
    }

    /// The CAN id of the message (`None` for another database than the one parsed with).
    pub fn message_id(&self, db: &Database) -> Option<Id> {
        match &self.test {
            Test::Present { id, .. } => Some(*id),
            Test::Signal { message, .. } => db.messages().get(*message).map(|m| m.id()),
        }
    }
}

/// `0x60D`, `60D`, `18DAF110x` (an extended id ends in `x`, as in our messages) or an 8-digit
/// hex id (extended).
fn parse_id(text: &str) -> Option<Id> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let (digits, extended) = match t.strip_suffix('x').or_else(|| t.strip_suffix('X')) {
        Some(d) => (d, true),
        None => (t, t.len() == 8),
    };
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let raw = u32::from_str_radix(digits, 16).ok()?;
    Id::new(raw, extended)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Timestamp {
        Timestamp::from_nanos(v * 1_000_000)
    }
    fn sid(v: u16) -> Id {
        Id::standard(v).unwrap()
    }
    fn exp(id: u16, node: &str, cycle_ms: u64) -> Expectation {
        Expectation {
            id: sid(id),
            name: Some(format!("M{id:X}")),
            node: node.into(),
            cycle: Duration::from_millis(cycle_ms),
        }
    }

    /// Feed periodic frames for `ids` from `from` to `to` (ms, exclusive) every `period` ms.
    fn feed(w: &mut Watcher, ids: &[u16], from: u64, to: u64, period: u64) -> Vec<Event> {
        let mut out = Vec::new();
        let mut t = from;
        while t < to {
            for &id in ids {
                w.handle_frame(ms(t), sid(id));
            }
            while let Some(e) = w.poll_event() {
                out.push(e);
            }
            t += period;
        }
        out
    }

    #[test]
    fn test_timeouts_follow_factor_and_floor() {
        let w = Watcher::new(
            WatchConfig::default(),
            vec![
                exp(0x35D, "AV", 100),
                exp(0x180, "ECM", 10),
                exp(0x5C5, "METER", 500),
            ],
        )
        .unwrap();
        assert_eq!(w.message_timeout(0), Some(Duration::from_secs(2)));
        assert_eq!(w.message_timeout(1), Some(Duration::from_secs(2)));
        assert_eq!(w.message_timeout(2), Some(Duration::from_secs(5)));
    }

    #[test]
    fn test_dropout_is_lost_at_last_seen_plus_timeout_and_restored_on_arrival() {
        let mut w = Watcher::new(
            WatchConfig::default(),
            vec![exp(0x35D, "AV", 100), exp(0x60D, "BCM", 100)],
        )
        .unwrap();
        let mut events = feed(&mut w, &[0x35D, 0x60D], 0, 8000, 100);
        assert!(events.is_empty(), "no loss while both send: {events:?}");
        // AV stops after its frame at 7900 ms; BCM goes on.
        events.extend(feed(&mut w, &[0x60D], 8000, 14000, 100));
        events.extend(feed(&mut w, &[0x35D, 0x60D], 14000, 15000, 100));
        assert_eq!(
            events,
            vec![
                Event::Lost {
                    node: 0,
                    subject: Subject::Message(0),
                    at: ms(9900),
                    last_seen: Some(ms(7900)),
                },
                Event::Lost {
                    node: 0,
                    subject: Subject::Node,
                    at: ms(9900),
                    last_seen: Some(ms(7900)),
                },
                Event::Restored {
                    node: 0,
                    subject: Subject::Message(0),
                    at: ms(14000),
                    last_seen: Some(ms(7900)),
                    lost_at: ms(9900),
                },
                Event::Restored {
                    node: 0,
                    subject: Subject::Node,
                    at: ms(14000),
                    last_seen: Some(ms(7900)),
                    lost_at: ms(9900),
                },
            ]
        );
        let summary = w.summary(ms(15000));
        assert_eq!(summary[0].losses, 1);
        assert_eq!(summary[0].downtime, Duration::from_millis(4100));
        assert_eq!(summary[1], NodeSummary::default());
    }

    #[test]
    fn test_short_gap_and_jitter_are_not_losses() {
        let mut w = Watcher::new(WatchConfig::default(), vec![exp(0x35D, "AV", 100)]).unwrap();
        let mut events = feed(&mut w, &[0x35D], 0, 3000, 100);
        // Last frame at 2.9 s; a 1.9 s gap (under the 2 s timeout), then jittery frames.
        events.extend(feed(&mut w, &[0x35D], 4800, 6000, 137));
        assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn test_gap_of_exactly_the_timeout_is_a_loss() {
        // U1000: "no CAN signal for 2 s or more".
        let mut w = Watcher::new(WatchConfig::default(), vec![exp(0x35D, "AV", 100)]).unwrap();
        feed(&mut w, &[0x35D], 0, 3000, 100);
        let events = feed(&mut w, &[0x35D], 4900, 5000, 100);
        assert_eq!(
            events.len(),
            4,
            "lost then restored, message and node: {events:?}"
        );
        assert!(matches!(events[0], Event::Lost { at, .. } if at == ms(4900)));
    }

    #[test]
    fn test_node_with_two_messages_is_lost_only_when_both_stop() {
        let mut w = Watcher::new(
            WatchConfig::default(),
            vec![exp(0x35D, "AV", 100), exp(0x540, "AV", 100)],
        )
        .unwrap();
        feed(&mut w, &[0x35D, 0x540], 0, 3000, 100);
        let events = feed(&mut w, &[0x540], 3000, 7000, 100);
        assert_eq!(events.len(), 1, "only the message: {events:?}");
        assert!(matches!(
            events[0],
            Event::Lost {
                subject: Subject::Message(0),
                ..
            }
        ));
    }

    #[test]
    fn test_never_seen_message_is_lost_after_grace_plus_timeout() {
        let mut w = Watcher::new(
            WatchConfig::default(),
            vec![exp(0x35D, "AV", 100), exp(0x60D, "BCM", 100)],
        )
        .unwrap();
        let events = feed(&mut w, &[0x60D], 1000, 6000, 100);
        assert_eq!(
            events[0],
            Event::Lost {
                node: 0,
                subject: Subject::Message(0),
                at: ms(5000),
                last_seen: None,
            }
        );
    }

    #[test]
    fn test_disarmed_silence_is_not_reported_and_rearming_restarts_grace() {
        let mut w = Watcher::new(
            WatchConfig::default(),
            vec![exp(0x35D, "AV", 100), exp(0x60D, "BCM", 100)],
        )
        .unwrap();
        feed(&mut w, &[0x35D, 0x60D], 0, 5000, 100);
        // Ignition OFF at 5 s: everyone goes quiet for a minute (the sleep handshake).
        w.set_armed(ms(5000), false);
        w.handle_timeout(ms(65000));
        assert_eq!(w.poll_event(), None);
        // Ignition ON at 65 s; modules wake within the grace period.
        w.set_armed(ms(65000), true);
        let events = feed(&mut w, &[0x35D, 0x60D], 66500, 70000, 100);
        assert!(events.is_empty(), "{events:?}");
    }

    #[test]
    fn test_handle_timeout_reports_in_due_order() {
        let mut w = Watcher::new(
            WatchConfig {
                grace: Duration::ZERO,
                ..WatchConfig::default()
            },
            vec![exp(0x100, "A", 100), exp(0x200, "B", 1000)],
        )
        .unwrap();
        w.handle_frame(ms(0), sid(0x100));
        w.handle_frame(ms(0), sid(0x200));
        assert_eq!(w.poll_timeout(), Some(ms(2000)));
        w.handle_timeout(ms(20000));
        let at: Vec<_> = std::iter::from_fn(|| w.poll_event())
            .map(|e| match e {
                Event::Lost { at, .. } => at,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(at, [ms(2000), ms(2000), ms(10000), ms(10000)]);
    }

    #[test]
    fn test_rejects_duplicates_and_bad_config() {
        assert!(matches!(
            Watcher::new(
                WatchConfig::default(),
                vec![exp(0x100, "A", 100), exp(0x100, "B", 100)]
            ),
            Err(WatchError::DuplicateId { .. })
        ));
        assert!(
            Watcher::new(
                WatchConfig {
                    timeout_factor: 0.0,
                    ..WatchConfig::default()
                },
                vec![]
            )
            .is_err()
        );
        assert!(Watcher::new(WatchConfig::default(), vec![exp(1, "A", 0)]).is_err());
    }

    #[test]
    fn test_arm_conditions_parse_against_the_dbc() {
        let db = Database::from_bytes(
            b"VERSION \"\"\nBU_: BCM\nBO_ 1549 BODY_STATUS: 8 BCM\n SG_ IGN : 9|2@1+ (1,0) [0|3] \"\" BCM\n",
            "t.dbc",
        )
        .unwrap();
        let c = ArmCondition::parse(&db, "BODY_STATUS.IGN=3").unwrap();
        assert!(c.holds(3.0) && !c.holds(1.0));
        assert_eq!(c.message_id(&db), Id::standard(0x60D));
        assert!(
            ArmCondition::parse(&db, "BODY_STATUS.IGN>=1")
                .unwrap()
                .holds(2.0)
        );
        assert!(
            ArmCondition::parse(&db, "BODY_STATUS.IGN!=0")
                .unwrap()
                .holds(2.0)
        );
        assert!(
            !ArmCondition::parse(&db, "BODY_STATUS.IGN<1")
                .unwrap()
                .holds(2.0)
        );
        assert!(
            ArmCondition::parse(&db, "BODY_STATUS.IGN==3")
                .unwrap()
                .holds(3.0)
        );
        assert!(ArmCondition::parse(&db, "BODY_STATUS.NOPE=3").is_err());
        assert!(ArmCondition::parse(&db, "NOPE.IGN=3").is_err());
        assert!(ArmCondition::parse(&db, "BODY_STATUS.IGN").is_err());
        assert!(ArmCondition::parse(&db, "BODY_STATUS.IGN=x").is_err());
        assert_eq!(ArmCondition::from_database(&db), Ok(None));
        let exps = expectations_from_dbc(&db);
        assert!(exps.is_empty(), "no cycle time, nothing expected");
    }

    #[test]
    fn test_unknown_ids_are_ignored() {
        let mut w = Watcher::new(WatchConfig::default(), vec![exp(0x100, "A", 100)]).unwrap();
        w.handle_frame(ms(0), sid(0x7DF));
        w.handle_frame(ms(0), Id::extended(0x100).unwrap());
        assert_eq!(w.poll_event(), None);
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Over random timelines of two nodes: events alternate lost/restored per subject, a loss
        /// is reported exactly at last_seen + timeout (or after the grace when never seen), and
        /// a gap shorter than the timeout is never a loss.
        #[test]
        fn losses_match_the_gaps(
            frames in proptest::collection::vec((0u64..6000, any::<bool>()), 1..300),
        ) {
            let config = WatchConfig { grace: Duration::ZERO, ..WatchConfig::default() };
            let exps = vec![
                Expectation { id: Id::standard(0x100).unwrap(), name: None, node: "A".into(), cycle: Duration::from_millis(100) },
                Expectation { id: Id::standard(0x200).unwrap(), name: None, node: "B".into(), cycle: Duration::from_millis(100) },
            ];
            let mut w = Watcher::new(config, exps).unwrap();
            let timeout = Duration::from_secs(2);
            let mut t = Timestamp::ZERO;
            let mut events = Vec::new();
            for (gap_ms, which) in frames {
                t += Duration::from_millis(gap_ms);
                w.handle_frame(t, Id::standard(if which { 0x200 } else { 0x100 }).unwrap());
                while let Some(e) = w.poll_event() { events.push(e); }
            }
            // Check the events against the model: alternation and exact times.
            let mut state = [false; 2];
            let mut seen: [Option<Timestamp>; 2] = [None, None];
            for e in &events {
                match e {
                    Event::Lost { node, subject: Subject::Message(m), at, last_seen } => {
                        prop_assert_eq!(*node, *m);
                        prop_assert!(!state[*m], "lost twice");
                        state[*m] = true;
                        if let Some(ls) = last_seen { prop_assert_eq!(*at, *ls + timeout); }
                        seen[*m] = *last_seen;
                    }
                    Event::Restored { node, subject: Subject::Message(m), at, last_seen, lost_at } => {
                        prop_assert_eq!(*node, *m);
                        prop_assert!(state[*m], "restored without loss");
                        state[*m] = false;
                        prop_assert_eq!(*last_seen, seen[*m]);
                        prop_assert!(*at >= *lost_at);
                        if let Some(ls) = last_seen { prop_assert!(at.saturating_duration_since(*ls) >= timeout); }
                    }
                    _ => {}
                }
            }
        }
    }
}
