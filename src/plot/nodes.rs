//! The watcher's view over time, as lanes: one per node, showing when the watch was armed,
//! and when the node was lost (none of its messages arriving) as the watch judged it. Built
//! from the [`ArmedEvent`]s of an [`crate::watch::ArmedWatch`] run over a capture, so the
//! picture says exactly what `canrelearn watch` says. [`NodesRun`] runs the watch over the
//! frames and records its lanes.

use crate::frame::Frame;
use crate::time::Timestamp;
use crate::watch::{ArmedEvent, ArmedWatch, Event, Subject};

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

/// The watch run over a capture's frames, its events recorded as [`Lanes`]: what
/// `canrelearn plot --nodes` draws. Sans-IO: the caller reads the frames, in order, and says
/// the warnings given back.
#[derive(Debug, Clone)]
pub struct NodesRun {
    watch: ArmedWatch,
    lanes: LaneRecorder,
    frames: u64,
    ways_out: String,
}

impl NodesRun {
    /// Runs `watch`; `ways_out` names what chooses otherwise when the arming condition's
    /// message is not seen ([`ArmedWatch::warning`]).
    pub fn new(watch: ArmedWatch, ways_out: &str) -> NodesRun {
        // A watch without an arming condition is armed from its first frame, with no event
        // saying so.
        let lanes = LaneRecorder::new(
            watch.watcher().node_names().to_vec(),
            watch.armed_from_start(),
        );
        NodesRun {
            watch,
            lanes,
            frames: 0,
            ways_out: ways_out.to_string(),
        }
    }

    /// A frame at `at`: the warnings its events call for (frames out of time order, the
    /// arming condition's message not seen), in order.
    pub fn frame(&mut self, at: Timestamp, frame: &Frame) -> Vec<String> {
        self.frames += 1;
        self.lanes.frame(at);
        self.watch.handle_frame(at, frame);
        self.drain()
    }

    /// The frames so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Records the watch's pending events, giving the warnings they call for.
    fn drain(&mut self) -> Vec<String> {
        let mut warnings = Vec::new();
        while let Some(e) = self.watch.poll_event() {
            if let Some(w) = self.watch.warning(&e, &self.ways_out) {
                warnings.push(w);
            }
            self.lanes.event(&e);
        }
        warnings
    }

    /// The lanes up to the last frame, the losses due by then judged (what came after it is
    /// unknown); `None` when no frame came.
    pub fn finish(mut self) -> Option<NodesPlot> {
        let (_, end) = self.watch.span()?;
        self.watch.handle_timeout(end);
        let warnings = self.drain();
        Some(NodesPlot {
            armed: self.watch.was_armed(),
            condition: self.watch.condition().map(str::to_string),
            lanes: self.lanes.finish(end),
            frames: self.frames,
            warnings,
        })
    }
}

/// The end of a [`NodesRun`].
#[derive(Debug, Clone, PartialEq)]
pub struct NodesPlot {
    /// The lanes to draw.
    pub lanes: Lanes,
    /// Whether the watch was armed at some point (if not, nothing was judged: every lane is
    /// grey).
    pub armed: bool,
    /// The arming condition as written, if any.
    pub condition: Option<String>,
    /// The frames the watch saw.
    pub frames: u64,
    /// The warnings of the events at the end, in order.
    pub warnings: Vec<String>,
}

impl NodesPlot {
    /// What the lanes show, in a line: `7 nodes, 1 loss over 6892 frames`.
    pub fn summary(&self) -> String {
        let nodes = self.lanes.names.len();
        let losses = self.lanes.losses();
        format!(
            "{nodes} node{}, {losses} loss{} over {} frames",
            if nodes == 1 { "" } else { "s" },
            if losses == 1 { "" } else { "es" },
            self.frames
        )
    }
}

#[cfg(test)]
mod tests {
    use core::time::Duration;

    use super::*;
    use crate::dbc::Database;
    use crate::frame::Id;
    use crate::watch::armed::tests::{DBC, ms};
    use crate::watch::{ArmCondition, Expectation, WatchConfig};

    fn frame(id: u16, b: u8) -> Frame {
        Frame::classic(Id::standard(id).unwrap(), &[b, 0, 0, 0, 0, 0, 0, 0]).unwrap()
    }

    /// A watch of AV (0x35D) and BCM (0x60D), both every 100 ms, armed by `condition`.
    fn run(condition: Option<&str>) -> NodesRun {
        let db = Database::from_bytes(DBC.as_bytes(), "t.dbc").unwrap();
        let expect = |id: u16, name: &str, node: &str| Expectation {
            id: Id::standard(id).unwrap(),
            name: Some(name.into()),
            node: node.into(),
            cycle: Duration::from_millis(100),
        };
        let exp = vec![
            expect(0x35D, "AV_STATUS", "AV"),
            expect(0x60D, "BODY", "BCM"),
        ];
        let condition = condition.map(|c| ArmCondition::parse(&db, c).unwrap());
        let watch = ArmedWatch::new(WatchConfig::default(), exp, condition, &db).unwrap();
        NodesRun::new(watch, "WAYS OUT")
    }

    /// BCM every 100 ms up to `end` ms (with `ign`), AV except in `silent`; the warnings.
    fn feed(r: &mut NodesRun, end: u64, ign: u8, silent: std::ops::Range<u64>) -> Vec<String> {
        let mut warnings = Vec::new();
        for t in (0..=end).step_by(100) {
            warnings.extend(r.frame(ms(t), &frame(0x60D, ign)));
            if !silent.contains(&t) {
                warnings.extend(r.frame(ms(t), &frame(0x35D, 1)));
            }
        }
        warnings
    }

    #[test]
    fn test_an_armed_watch_records_a_node_lost_and_back() {
        let mut r = run(Some("BODY.IGN=3"));
        let mut warnings = feed(&mut r, 9000, 3, 3000..8000);
        assert!(warnings.is_empty(), "{warnings:?}");
        // A frame earlier than the latest is said once.
        warnings.extend(r.frame(ms(100), &frame(0x35D, 1)));
        warnings.extend(r.frame(ms(200), &frame(0x35D, 1)));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("out of time order"), "{warnings:?}");
        let frames = r.frames();
        let plot = r.finish().unwrap();
        assert_eq!(plot.frames, frames);
        assert!(plot.armed);
        assert_eq!(plot.condition.as_deref(), Some("BODY.IGN=3"));
        assert!(plot.warnings.is_empty(), "{:?}", plot.warnings);
        let lanes = &plot.lanes;
        assert_eq!(lanes.names, ["AV", "BCM"]);
        assert_eq!((lanes.start, lanes.end), (ms(0), ms(9000)));
        assert_eq!(lanes.armed, [(ms(0), ms(9000))]);
        assert_eq!(lanes.lost[1], []);
        match &lanes.lost[0][..] {
            [(lost, back)] => {
                assert!(*lost > ms(4000) && *lost < ms(6000), "{lost}");
                assert_eq!(*back, ms(8000));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            plot.summary(),
            format!("2 nodes, 1 loss over {frames} frames")
        );
    }

    /// Regression: a watch with no arming condition (`--always-armed`) drew every lane as
    /// not armed, because it arms with its first frame and no event says so.
    #[test]
    fn test_an_always_armed_watch_is_armed_from_the_first_frame() {
        let mut r = run(None);
        feed(&mut r, 9000, 0, 3000..8000);
        let plot = r.finish().unwrap();
        assert!(plot.armed);
        assert_eq!(plot.lanes.armed, [(ms(0), ms(9000))]);
        assert_eq!(plot.lanes.losses(), 1);
    }

    #[test]
    fn test_a_loss_still_open_at_the_last_frame_runs_to_it() {
        let mut r = run(None);
        feed(&mut r, 9000, 0, 4000..10_000);
        let plot = r.finish().unwrap();
        assert_eq!(plot.lanes.losses(), 1);
        assert_eq!(plot.lanes.lost[0][0].1, ms(9000));
        assert_eq!(plot.summary(), "2 nodes, 1 loss over 131 frames");
    }

    #[test]
    fn test_a_condition_that_never_holds_judges_nothing() {
        let mut r = run(Some("BODY.IGN=3"));
        let warnings = feed(&mut r, 9000, 0, 3000..8000);
        assert!(warnings.is_empty(), "{warnings:?}");
        let plot = r.finish().unwrap();
        assert!(!plot.armed);
        assert_eq!(plot.condition.as_deref(), Some("BODY.IGN=3"));
        assert!(plot.lanes.armed.is_empty());
        assert_eq!(plot.lanes.losses(), 0);
    }

    #[test]
    fn test_the_arming_message_missing_is_warned_with_the_ways_out() {
        let mut r = run(Some("BODY.IGN=3"));
        let mut warnings = Vec::new();
        for t in (0..=5000).step_by(100) {
            warnings.extend(r.frame(ms(t), &frame(0x35D, 1)));
        }
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("BODY.IGN=3"), "{warnings:?}");
        assert!(warnings[0].ends_with("Ways out: WAYS OUT"), "{warnings:?}");
        assert!(!r.finish().unwrap().armed);
    }

    #[test]
    fn test_no_frame_gives_no_lanes() {
        assert_eq!(run(None).finish(), None);
        let mut one = run(None);
        assert!(one.frame(ms(5), &frame(0x35D, 1)).is_empty());
        let plot = one.finish().unwrap();
        assert_eq!((plot.lanes.start, plot.lanes.end), (ms(5), ms(5)));
        assert!(plot.summary().starts_with("2 nodes, 0 losses over 1 "));
    }
}
