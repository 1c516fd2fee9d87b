//! The watcher's view over time, as lanes: one per node, showing when the watch was armed,
//! and when the node was lost (none of its messages arriving) as the watch judged it. Built
//! from the [`ArmedEvent`]s of an [`crate::watch::ArmedWatch`] run over a capture, so the
//! picture says exactly what `canrelearn watch` says.

use crate::time::Timestamp;
use crate::watch::{ArmedEvent, Event, Subject};

/// One lane per node.
#[derive(Debug, Clone, PartialEq)]
pub struct Lanes {
    /// The first and last frame.
    pub start: Timestamp,
    pub end: Timestamp,
    pub names: Vec<String>,
    /// When the watch was armed.
    pub armed: Vec<(Timestamp, Timestamp)>,
    /// Per node: when it was lost.
    pub lost: Vec<Vec<(Timestamp, Timestamp)>>,
}

impl Lanes {
    /// How many times each node was lost.
    pub fn losses(&self) -> usize {
        self.lost.iter().map(Vec::len).sum()
    }
}

/// Records a watch's events into [`Lanes`].
#[derive(Debug, Clone)]
pub struct LaneRecorder {
    names: Vec<String>,
    armed_from_start: bool,
    first: Option<Timestamp>,
    last: Timestamp,
    armed_since: Option<Timestamp>,
    armed: Vec<(Timestamp, Timestamp)>,
    lost_since: Vec<Option<Timestamp>>,
    lost: Vec<Vec<(Timestamp, Timestamp)>>,
}

impl LaneRecorder {
    /// Lanes for `names` (the watcher's nodes); `armed_from_start` for a watch with no
    /// arming condition.
    pub fn new(names: Vec<String>, armed_from_start: bool) -> LaneRecorder {
        let n = names.len();
        LaneRecorder {
            names,
            armed_from_start,
            first: None,
            last: Timestamp::ZERO,
            armed_since: None,
            armed: Vec::new(),
            lost_since: vec![None; n],
            lost: vec![Vec::new(); n],
        }
    }

    /// A frame arrived at `at` (before its events are recorded).
    pub fn frame(&mut self, at: Timestamp) {
        if self.first.is_none() {
            self.first = Some(at);
            if self.armed_from_start {
                self.armed_since = Some(at);
            }
        }
        self.last = self.last.max(at);
    }

    /// One event of the watch.
    pub fn event(&mut self, e: &ArmedEvent) {
        match e {
            ArmedEvent::Armed { at } if self.armed_since.is_none() => {
                self.armed_since = Some(*at);
            }
            ArmedEvent::Disarmed { at } => {
                if let Some(since) = self.armed_since.take() {
                    self.armed.push((since, *at));
                }
                // Disarmed, silence is no loss any more: open losses end here.
                for (since, list) in self.lost_since.iter_mut().zip(&mut self.lost) {
                    if let Some(s) = since.take() {
                        list.push((s, (*at).max(s)));
                    }
                }
            }
            ArmedEvent::Watch(Event::Lost {
                node,
                subject: Subject::Node,
                at,
                ..
            }) => {
                if let Some(slot) = self.lost_since.get_mut(*node)
                    && slot.is_none()
                {
                    *slot = Some(*at);
                }
            }
            ArmedEvent::Watch(Event::Restored {
                node,
                subject: Subject::Node,
                at,
                ..
            }) => {
                if let (Some(slot), Some(list)) =
                    (self.lost_since.get_mut(*node), self.lost.get_mut(*node))
                    && let Some(s) = slot.take()
                {
                    list.push((s, (*at).max(s)));
                }
            }
            _ => {}
        }
    }

    /// The lanes, with what is still open ended at `end` (the last frame).
    pub fn finish(mut self, end: Timestamp) -> Lanes {
        let end = end.max(self.last);
        if let Some(since) = self.armed_since.take() {
            self.armed.push((since, end));
        }
        for (since, list) in self.lost_since.iter_mut().zip(&mut self.lost) {
            if let Some(s) = since.take() {
                list.push((s, end.max(s)));
            }
        }
        Lanes {
            start: self.first.unwrap_or(end),
            end,
            names: self.names,
            armed: self.armed,
            lost: self.lost,
        }
    }
}
