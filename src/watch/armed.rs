//! The watch as a person runs it: the [`Watcher`] armed and disarmed by a signal condition
//! (ignition ON), on frames, with an honest verdict.
//!
//! One implementation for `canrelearn watch`, `monitor`'s node panel and `demo`: an
//! [`ArmedWatch`] decodes the arming condition's message from the frames it is given, arms the
//! watcher while the condition holds, and says when it cannot judge:
//!
//! - [`ArmedEvent::ArmingMissing`]: the arming condition's message was not seen within the
//!   grace period after the first frame (on a car whose ids differ from the DBC, the watch
//!   would otherwise wait for ever and say nothing);
//! - [`ArmedWatch::verdict`]: `NotArmed` when the condition never held (nothing was judged),
//!   and per node whether it was seen, lost, or never judged (a node that sent nothing is never
//!   "ok");
//! - [`ArmedEvent::TimeWentBack`]: once, when a frame's time is earlier than the latest (the
//!   watcher then takes it as "now").
//!
//! Pure and clock-free like the watcher: times come from the frames (a log's or the kernel's).

use core::time::Duration;
use std::collections::VecDeque;

use super::{ArmCondition, Event, NodeSummary, WatchConfig, WatchError, Watcher};
use crate::dbc::{Database, Decoded, Message};
use crate::frame::{Frame, Id};
use crate::time::Timestamp;

/// The arming condition and what it needs to be decoded.
#[derive(Debug, Clone)]
struct Arming {
    condition: ArmCondition,
    id: Id,
    /// The message decoded (a presence condition on an unknown id has none).
    message: Option<Message>,
    /// For a presence condition: how long the message may be absent, and when it was last
    /// received.
    hold: Option<Duration>,
    last_present: Option<Timestamp>,
}

impl Arming {
    /// `BODY_STATUS (0x60D)`, or `0x002` for an id the DBC does not know.
    fn describe(&self) -> String {
        match &self.message {
            Some(m) => format!("{} (0x{})", m.name(), self.id),
            None => format!("0x{}", self.id),
        }
    }

    /// When a presence-armed watch disarms if its message stays away.
    fn presence_deadline(&self) -> Option<Timestamp> {
        Some(self.last_present?.saturating_add(self.hold?))
    }
}

/// What an [`ArmedWatch`] reports, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum ArmedEvent {
    /// A loss or a restoration.
    Watch(Event),
    /// The condition started to hold: losses are detected from now (after the grace).
    Armed { at: Timestamp },
    /// The condition stopped holding: silence is no longer a loss.
    Disarmed { at: Timestamp },
    /// The condition's message was not seen within the grace after the first frame.
    ArmingMissing { at: Timestamp },
    /// A frame's time was earlier than the latest frame's (reported once).
    TimeWentBack { at: Timestamp, latest: Timestamp },
}

/// How a node fared over the watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeVerdict {
    /// Seen while armed, and not lost at the end.
    Ok,
    /// Lost at the end (or never seen since arming, past its timeout).
    Lost,
    /// Never seen while armed and its first timeout had not passed: nothing can be said.
    NotJudged,
}

/// One node's line of the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeResult {
    pub name: String,
    pub verdict: NodeVerdict,
    pub summary: NodeSummary,
    /// Whether any of its frames was seen while armed.
    pub seen: bool,
}

/// What the watch could say at the end.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The arming condition never held: nothing was judged. `message_seen` says whether its
    /// message was seen at all.
    NotArmed {
        condition: String,
        message: String,
        message_seen: bool,
    },
    /// Armed at least once: the nodes.
    Judged(Vec<NodeResult>),
}

/// The watcher with its arming condition. See the module documentation.
#[derive(Debug, Clone)]
pub struct ArmedWatch {
    watcher: Watcher,
    arming: Option<Arming>,
    decoded: Decoded,
    grace: Duration,
    first: Option<Timestamp>,
    latest: Timestamp,
    arming_seen: bool,
    arming_missing_said: bool,
    went_back_said: bool,
    ever_armed: bool,
    /// Per node: seen while armed.
    seen: Vec<bool>,
    node_of: std::collections::HashMap<Id, usize>,
    events: VecDeque<ArmedEvent>,
}

impl ArmedWatch {
    /// A watch of `expectations`, armed by `condition` (decoded with `db`) or from the first
    /// frame when there is none. `config.start_armed` is set from the condition.
    pub fn new(
        mut config: WatchConfig,
        expectations: Vec<super::Expectation>,
        condition: Option<ArmCondition>,
        db: &Database,
    ) -> Result<ArmedWatch, WatchError> {
        let arming = match condition {
            Some(condition) => {
                let message = condition
                    .message_index()
                    .and_then(|i| db.messages().get(i))
                    .cloned();
                // A presence hold never reaches the loss timeouts' floor: an ignition OFF
                // disarms before anything is lost.
                let hold = condition
                    .presence_hold()
                    .map(|(_, hold)| hold.min(config.min_timeout / 2));
                condition.message_id(db).map(|id| Arming {
                    id,
                    condition,
                    message,
                    hold,
                    last_present: None,
                })
            }
            None => None,
        };
        config.start_armed = arming.is_none();
        let grace = config.grace;
        let node_of = expectations
            .iter()
            .map(|e| (e.id, e.node.clone()))
            .collect::<Vec<_>>();
        let watcher = Watcher::new(config, expectations)?;
        let names = watcher.node_names().to_vec();
        let node_of = node_of
            .into_iter()
            .filter_map(|(id, n)| Some((id, names.iter().position(|x| *x == n)?)))
            .collect();
        Ok(ArmedWatch {
            seen: vec![false; names.len()],
            watcher,
            arming,
            decoded: Decoded::new(),
            grace,
            first: None,
            latest: Timestamp::ZERO,
            arming_seen: false,
            arming_missing_said: false,
            went_back_said: false,
            ever_armed: false,
            node_of,
            events: VecDeque::new(),
        })
    }

    /// The watcher inside (expectations, node names, timeouts).
    pub fn watcher(&self) -> &Watcher {
        &self.watcher
    }

    /// The arming condition as written, if any.
    pub fn condition(&self) -> Option<&str> {
        self.arming.as_ref().map(|a| a.condition.text())
    }

    /// Whether the watch arms with its first frame (it has no arming condition: always
    /// armed). Before that frame [`ArmedWatch::is_armed`] is false, and no
    /// [`ArmedEvent::Armed`] is given for it.
    pub fn armed_from_start(&self) -> bool {
        self.arming.is_none()
    }

    /// Whether losses are detected now.
    pub fn is_armed(&self) -> bool {
        self.watcher.is_armed()
    }

    /// Whether the watch was armed at some point.
    pub fn was_armed(&self) -> bool {
        self.ever_armed || self.watcher.is_armed()
    }

    /// The first and latest frame times.
    pub fn span(&self) -> Option<(Timestamp, Timestamp)> {
        self.first.map(|f| (f, self.latest))
    }

    /// A frame at `now`.
    pub fn handle_frame(&mut self, now: Timestamp, frame: &Frame) {
        if self.first.is_none() {
            self.first = Some(now);
            self.latest = now;
        }
        if now < self.latest && !self.went_back_said {
            self.went_back_said = true;
            self.events.push_back(ArmedEvent::TimeWentBack {
                at: now,
                latest: self.latest,
            });
        }
        self.latest = self.latest.max(now);
        self.check_arming_missing(now);
        self.check_presence(now);
        let Some(id) = frame.id() else {
            return;
        };
        let mut change = None;
        if let Some(a) = &mut self.arming
            && a.id == id
            && let Some(data) = frame.payload()
        {
            self.arming_seen = true;
            if a.hold.is_some() {
                // Presence: armed while the message arrives.
                a.last_present = Some(now);
                if !self.watcher.is_armed() {
                    change = Some(true);
                }
            } else if let Some(m) = &a.message
                && m.decode_into(data, &mut self.decoded).is_ok()
                && let Some(s) = a.condition.signal_index().and_then(|i| self.decoded.get(i))
            {
                let holds = a.condition.holds(s.physical.as_f64());
                if holds != self.watcher.is_armed() {
                    change = Some(holds);
                }
            }
        }
        if let Some(armed) = change {
            self.set_armed(now, armed);
        }
        self.watcher.handle_frame(now, id);
        if self.watcher.is_armed()
            && let Some(&n) = self.node_of.get(&id)
            && let Some(s) = self.seen.get_mut(n)
        {
            *s = true;
        }
        self.drain();
    }

    /// Time passed with no frame (live), or the end of the input.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.check_arming_missing(now);
        self.check_presence(now);
        self.watcher.handle_timeout(now);
        self.drain();
    }

    fn set_armed(&mut self, at: Timestamp, armed: bool) {
        self.watcher.set_armed(at, armed);
        self.drain();
        self.ever_armed |= armed;
        self.events.push_back(if armed {
            ArmedEvent::Armed { at }
        } else {
            ArmedEvent::Disarmed { at }
        });
    }

    /// A presence-armed watch whose message stayed away for its hold disarms, as of the
    /// moment the hold ran out (losses due later are not reported).
    fn check_presence(&mut self, now: Timestamp) {
        if self.watcher.is_armed()
            && let Some(deadline) = self.arming.as_ref().and_then(Arming::presence_deadline)
            && now >= deadline
        {
            self.watcher.handle_timeout(deadline);
            self.drain();
            self.set_armed(deadline, false);
        }
    }

    /// The next deadline: a loss, or the arming message's grace.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let missing = match (&self.arming, self.first) {
            (Some(_), Some(first)) if !self.arming_seen && !self.arming_missing_said => {
                Some(first.saturating_add(self.grace))
            }
            _ => None,
        };
        let presence = self
            .arming
            .as_ref()
            .and_then(Arming::presence_deadline)
            .filter(|_| self.watcher.is_armed());
        [self.watcher.poll_timeout(), missing, presence]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<ArmedEvent> {
        self.events.pop_front()
    }

    fn check_arming_missing(&mut self, now: Timestamp) {
        if let (Some(_), Some(first)) = (&self.arming, self.first)
            && !self.arming_seen
            && !self.arming_missing_said
            && now >= first.saturating_add(self.grace)
        {
            self.arming_missing_said = true;
            self.events.push_back(ArmedEvent::ArmingMissing { at: now });
        }
    }

    fn drain(&mut self) {
        self.ever_armed |= self.watcher.is_armed();
        while let Some(e) = self.watcher.poll_event() {
            self.events.push_back(ArmedEvent::Watch(e));
        }
    }

    /// The message the arming condition decodes (`BODY_STATUS (0x60D)`), if any.
    pub fn arming_message(&self) -> Option<String> {
        self.arming.as_ref().map(Arming::describe)
    }

    /// What can be said at `end` (the last frame's time for a log, now when live).
    pub fn verdict(&self, end: Timestamp) -> Verdict {
        if !self.was_armed()
            && let Some(a) = &self.arming
        {
            return Verdict::NotArmed {
                condition: a.condition.text().to_string(),
                message: a.describe(),
                message_seen: self.arming_seen,
            };
        }
        let summaries = self.watcher.summary(end);
        let nodes = self
            .watcher
            .node_names()
            .iter()
            .zip(summaries)
            .enumerate()
            .map(|(i, (name, summary))| {
                let seen = self.seen.get(i).copied().unwrap_or(false);
                let verdict = if summary.lost_now {
                    NodeVerdict::Lost
                } else if seen {
                    NodeVerdict::Ok
                } else {
                    NodeVerdict::NotJudged
                };
                NodeResult {
                    name: name.clone(),
                    verdict,
                    summary,
                    seen,
                }
            })
            .collect();
        Verdict::Judged(nodes)
    }
}

/// One JSON Lines record of `canrelearn watch --format jsonl` (write it with
/// [`crate::jsonl::line`]): `event` first, then the fields of that kind of event.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WatchRecord {
    /// A message or (with `message` and `id` null) a node went silent; `timestamp` is when
    /// the loss was due: last_seen + timeout.
    Lost {
        node: String,
        message: Option<String>,
        id: Option<u32>,
        timestamp: crate::jsonl::Seconds,
        last_seen: Option<crate::jsonl::Seconds>,
    },
    /// It came back; `timestamp` is the arrival.
    Restored {
        node: String,
        message: Option<String>,
        id: Option<u32>,
        timestamp: crate::jsonl::Seconds,
        last_seen: Option<crate::jsonl::Seconds>,
    },
    /// The arming condition started to hold.
    Armed {
        condition: String,
        timestamp: crate::jsonl::Seconds,
    },
    /// The arming condition stopped holding.
    Disarmed {
        condition: String,
        timestamp: crate::jsonl::Seconds,
    },
    /// The arming condition's message was not seen within the grace period.
    ArmingMissing {
        condition: String,
        message: String,
        timestamp: crate::jsonl::Seconds,
    },
    /// The arming condition never held: nothing was judged (the last record).
    NotArmed {
        condition: String,
        message: String,
        message_seen: bool,
        timestamp: crate::jsonl::Seconds,
    },
}

impl ArmedWatch {
    /// The record of an event (`None` for what has no record: a time going back).
    pub fn record(&self, e: &ArmedEvent) -> Option<WatchRecord> {
        use crate::jsonl::Seconds;
        let condition = || self.condition().unwrap_or_default().to_string();
        Some(match e {
            ArmedEvent::Watch(ev) => {
                let (lost, node, subject, at, last_seen) = match ev {
                    Event::Lost {
                        node,
                        subject,
                        at,
                        last_seen,
                    } => (true, *node, subject, *at, *last_seen),
                    Event::Restored {
                        node,
                        subject,
                        at,
                        last_seen,
                        ..
                    } => (false, *node, subject, *at, *last_seen),
                };
                let node = self
                    .watcher
                    .node_names()
                    .get(node)
                    .cloned()
                    .unwrap_or_default();
                let expectation = match subject {
                    super::Subject::Message(i) => self.watcher.expectations().get(*i),
                    super::Subject::Node => None,
                };
                let message = expectation.and_then(|m| m.name.clone());
                let id = expectation.map(|m| m.id.raw());
                let (timestamp, last_seen) = (Seconds(at), last_seen.map(Seconds));
                if lost {
                    WatchRecord::Lost {
                        node,
                        message,
                        id,
                        timestamp,
                        last_seen,
                    }
                } else {
                    WatchRecord::Restored {
                        node,
                        message,
                        id,
                        timestamp,
                        last_seen,
                    }
                }
            }
            ArmedEvent::Armed { at } => WatchRecord::Armed {
                condition: condition(),
                timestamp: Seconds(*at),
            },
            ArmedEvent::Disarmed { at } => WatchRecord::Disarmed {
                condition: condition(),
                timestamp: Seconds(*at),
            },
            ArmedEvent::ArmingMissing { at } => WatchRecord::ArmingMissing {
                condition: condition(),
                message: self.arming_message().unwrap_or_default(),
                timestamp: Seconds(*at),
            },
            ArmedEvent::TimeWentBack { .. } => return None,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::watch::Expectation;

    /// A body computer (0x60D, its ignition state in byte 0) and an audio unit (0x35D):
    /// also the fixture of `plot::nodes`' tests.
    pub(crate) const DBC: &str = "VERSION \"\"\nNS_ :\nBS_:\nBU_: BCM AV\n\
        BO_ 1549 BODY: 8 BCM\n SG_ IGN : 0|8@1+ (1,0) [0|255] \"\" AV\n\
        BO_ 861 AV_STATUS: 8 AV\n SG_ X : 0|8@1+ (1,0) [0|255] \"\" BCM\n";

    /// `v` ms after the fixtures' time origin.
    pub(crate) fn ms(v: u64) -> Timestamp {
        Timestamp::from_nanos(1_000_000_000_000 + v * 1_000_000)
    }

    fn watch(db: &Database) -> ArmedWatch {
        let cond = ArmCondition::parse(db, "BODY.IGN=3").unwrap();
        let exp = vec![
            Expectation {
                id: Id::standard(0x35D).unwrap(),
                name: Some("AV_STATUS".into()),
                node: "AV".into(),
                cycle: Duration::from_millis(100),
            },
            Expectation {
                id: Id::standard(0x60D).unwrap(),
                name: Some("BODY".into()),
                node: "BCM".into(),
                cycle: Duration::from_millis(100),
            },
        ];
        ArmedWatch::new(WatchConfig::default(), exp, Some(cond), db).unwrap()
    }

    fn frame(id: u16, b: u8) -> Frame {
        Frame::classic(Id::standard(id).unwrap(), &[b, 0, 0, 0, 0, 0, 0, 0]).unwrap()
    }

    /// Regression: a capture with neither the ignition frame nor any AV frame gave `AV ok`.
    #[test]
    fn test_never_armed_judges_nothing_and_says_so() {
        let db = Database::from_bytes(DBC.as_bytes(), "t.dbc").unwrap();
        let mut w = watch(&db);
        for t in 0..100 {
            w.handle_frame(ms(t * 100), &frame(0x123, 0));
        }
        w.handle_timeout(ms(9900));
        let events: Vec<_> = std::iter::from_fn(|| w.poll_event()).collect();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, ArmedEvent::ArmingMissing { .. })),
            "{events:?}"
        );
        match w.verdict(ms(9900)) {
            Verdict::NotArmed { message_seen, .. } => assert!(!message_seen),
            other => panic!("{other:?}"),
        }
    }

    /// A node that sent nothing while armed is never "ok": lost once its timeout passed,
    /// not judged before.
    #[test]
    fn test_silent_node_is_never_ok() {
        let db = Database::from_bytes(DBC.as_bytes(), "t.dbc").unwrap();
        for (end, want) in [(1000u64, NodeVerdict::NotJudged), (9000, NodeVerdict::Lost)] {
            let mut w = watch(&db);
            let mut t = 0;
            while t <= end {
                w.handle_frame(ms(t), &frame(0x60D, 3));
                t += 100;
            }
            w.handle_timeout(ms(end));
            let Verdict::Judged(nodes) = w.verdict(ms(end)) else {
                panic!("armed")
            };
            let av = nodes.iter().find(|n| n.name == "AV").unwrap();
            assert_eq!(av.verdict, want, "end {end}");
            let bcm = nodes.iter().find(|n| n.name == "BCM").unwrap();
            assert_eq!(bcm.verdict, NodeVerdict::Ok);
        }
    }

    #[test]
    fn test_time_going_back_is_said_once() {
        let db = Database::from_bytes(DBC.as_bytes(), "t.dbc").unwrap();
        let mut w = watch(&db);
        w.handle_frame(ms(500), &frame(0x60D, 3));
        w.handle_frame(ms(100), &frame(0x60D, 3));
        w.handle_frame(ms(50), &frame(0x60D, 3));
        let back = std::iter::from_fn(|| w.poll_event())
            .filter(|e| matches!(e, ArmedEvent::TimeWentBack { .. }))
            .count();
        assert_eq!(back, 1);
    }

    #[test]
    fn test_records_keep_the_documented_shape() {
        let db = Database::from_bytes(DBC.as_bytes(), "t.dbc").unwrap();
        let w = watch(&db);
        let r = w
            .record(&ArmedEvent::Watch(Event::Lost {
                node: 0,
                subject: super::super::Subject::Message(0),
                at: ms(2000),
                last_seen: Some(ms(0)),
            }))
            .unwrap();
        assert_eq!(
            crate::jsonl::line(&r),
            "{\"event\": \"lost\", \"node\": \"AV\", \"message\": \"AV_STATUS\", \"id\": 861, \"timestamp\": 1002.000000, \"last_seen\": 1000.000000}"
        );
    }

    /// A watch armed while a message arrives (a CMF car, whose ignition bit is not known):
    /// the steering angle frame 0x002 here, sent only with the ignition ON.
    fn presence_watch(db: &Database, text: &str) -> ArmedWatch {
        let cond = ArmCondition::parse(db, text).unwrap();
        let exp = vec![Expectation {
            id: Id::standard(0x35D).unwrap(),
            name: Some("AV_STATUS".into()),
            node: "AV".into(),
            cycle: Duration::from_millis(100),
        }];
        ArmedWatch::new(WatchConfig::default(), exp, Some(cond), db).unwrap()
    }

    fn events(w: &mut ArmedWatch) -> Vec<ArmedEvent> {
        std::iter::from_fn(|| w.poll_event()).collect()
    }

    #[test]
    fn test_presence_arming_catches_a_silent_unit_while_the_message_flows() {
        let db = Database::from_bytes(DBC.as_bytes(), "t.dbc").unwrap();
        let mut w = presence_watch(&db, "0x002");
        assert_eq!(w.arming_message().as_deref(), Some("0x002"));
        // Steering angle every 10 ms for 6 s; the AV unit sends for 1 s, then stops.
        for t in (0..6000).step_by(10) {
            if t < 1000 && t % 100 == 0 {
                w.handle_frame(ms(t), &frame(0x35D, 0));
            }
            w.handle_frame(ms(t), &frame(0x002, 0));
        }
        w.handle_timeout(ms(6000));
        let ev = events(&mut w);
        assert!(
            matches!(ev.first(), Some(ArmedEvent::Armed { .. })),
            "{ev:?}"
        );
        assert!(
            ev.iter()
                .any(|e| matches!(e, ArmedEvent::Watch(Event::Lost { .. }))),
            "{ev:?}"
        );
        let Verdict::Judged(nodes) = w.verdict(ms(6000)) else {
            panic!("armed")
        };
        assert_eq!(nodes[0].verdict, NodeVerdict::Lost);
    }

    #[test]
    fn test_presence_arming_disarms_before_an_ignition_off_looks_like_a_loss() {
        let db = Database::from_bytes(DBC.as_bytes(), "t.dbc").unwrap();
        let mut w = presence_watch(&db, "0x002");
        // Everything flows for 3 s, then the whole bus goes quiet (ignition OFF), for a minute.
        for t in (0..3000).step_by(10) {
            if t % 100 == 0 {
                w.handle_frame(ms(t), &frame(0x35D, 0));
            }
            w.handle_frame(ms(t), &frame(0x002, 0));
        }
        let mut now = 3000;
        while let Some(deadline) = w.poll_timeout() {
            let at = deadline.as_nanos().saturating_sub(ms(0).as_nanos()) / 1_000_000;
            if at > 60_000 {
                break;
            }
            now = at;
            w.handle_timeout(deadline);
        }
        w.handle_timeout(ms(63_000));
        let ev = events(&mut w);
        assert!(
            !ev.iter()
                .any(|e| matches!(e, ArmedEvent::Watch(Event::Lost { .. }))),
            "{ev:?}"
        );
        // Disarmed one hold (5 x 10 ms is below the 100 ms minimum) after the last frame.
        let disarmed = ev.iter().find_map(|e| match e {
            ArmedEvent::Disarmed { at } => Some(*at),
            _ => None,
        });
        assert_eq!(disarmed, Some(ms(2990 + 1000)), "{ev:?} {now}");
        let Verdict::Judged(nodes) = w.verdict(ms(63_000)) else {
            panic!("was armed")
        };
        assert_eq!(nodes[0].verdict, NodeVerdict::Ok);
    }

    #[test]
    fn test_presence_arming_by_message_name_and_its_errors() {
        let db = Database::from_bytes(DBC.as_bytes(), "t.dbc").unwrap();
        let c = ArmCondition::parse(&db, "BODY").unwrap();
        assert_eq!(c.message_id(&db), Id::standard(0x60D));
        // No cycle time in this DBC: the longest hold.
        assert_eq!(
            c.presence_hold().unwrap().1,
            super::super::PRESENCE_HOLD_MAX
        );
        let x = ArmCondition::parse(&db, "18DAF110x").unwrap();
        assert_eq!(x.message_id(&db), Id::extended(0x18DA_F110));
        let e = ArmCondition::parse(&db, "NOPE").unwrap_err();
        assert_eq!(e, super::super::ArmError::NotCondition("NOPE".into()));
        assert!(e.to_string().contains("message name or id"), "{e}");
        // Never seen: nothing judged, and said.
        let mut w = presence_watch(&db, "BODY");
        for t in (0..5000).step_by(100) {
            w.handle_frame(ms(t), &frame(0x35D, 0));
        }
        w.handle_timeout(ms(5000));
        assert!(matches!(
            w.verdict(ms(5000)),
            Verdict::NotArmed {
                message_seen: false,
                ..
            }
        ));
    }
}
