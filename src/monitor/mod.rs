//! The live monitor's model: one row per CAN id with rates, cycle times, jitter, staleness,
//! changed bytes and decoded signals; bus load and error statistics; node losses.
//!
//! Pure and clock-free, like [`crate::watch`]: every call takes the time. Calling contract:
//! feed every frame with [`Monitor::handle_frame`] (its receive time, in order), set the
//! kernel's drop counter with [`Monitor::set_dropped`], and before showing anything call
//! [`Monitor::handle_timeout`] with the current time: it settles node losses (a
//! [`crate::watch::Watcher`] over the DBC's cyclic messages) and decodes the rows whose data
//! changed since the last call. Then read [`Monitor::rows`] (statistics are computed at the
//! given `now`), [`Monitor::bus`], [`Monitor::nodes`] and [`Monitor::events`], or build a
//! [`view::Screen`] with [`view::snapshot`].
//!
//! Cost: per frame O(1) (an id lookup in a 2048-entry table or a hash map, a bucket update,
//! a compare of the payload) and no allocation once the row exists; decoding is deferred to
//! `handle_timeout`, at most once per row per call and only when the data changed, so a fast
//! redraw rate bounds the decoding work whatever the frame rate. Rows are capped
//! ([`MonitorConfig::max_rows`]); frames of ids beyond the cap are counted, not stored.
//!
//! States follow the same rule as the watcher: a message is *late* when unseen for more than
//! `late_factor x cycle` (1.5) and *lost* when unseen for `max(k x cycle, floor)` or more
//! (k = 10, floor 2 s, from [`WatchConfig`]); the cycle is the DBC's `GenMsgCycleTime`, or for
//! ids without one the measured mean interval (an exponential average).

pub mod clock;
pub mod render;
pub mod stats;
pub mod view;

use core::time::Duration;
use std::collections::{HashMap, VecDeque};

use crate::dbc::{Database, DecodeError, Decoded};
use crate::frame::{ERROR_CLASSES, Frame, Id};
use crate::time::Timestamp;
use crate::watch::{
    self, ArmCondition, ArmedEvent, ArmedWatch, Expectation, WatchConfig, WatchError,
};

use self::stats::{BusTiming, Window, WindowStats, frame_time_ns};

/// Settings of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorConfig {
    /// The sliding window for rates, mean cycle and jitter (per row at least 10 DBC cycles).
    pub window: Duration,
    /// How long a changed byte stays marked.
    pub changed_hold: Duration,
    /// The most rows (distinct ids); frames of further ids are counted in `overflow_frames`.
    pub max_rows: usize,
    /// Late after `late_factor x cycle` without a frame.
    pub late_factor: f64,
    /// Loss timeouts and grace, shared with the node watcher.
    pub watch: WatchConfig,
    /// Bitrates for the load estimate.
    pub timing: BusTiming,
    /// Node events kept for display.
    pub max_events: usize,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            window: Duration::from_secs(2),
            changed_hold: Duration::from_secs(1),
            max_rows: 4096,
            late_factor: 1.5,
            watch: WatchConfig::default(),
            timing: BusTiming::default(),
            max_events: 64,
        }
    }
}

/// Why a monitor cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MonitorError {
    #[error("the late factor must be a positive finite number, not {0}")]
    InvalidLateFactor(f64),
    #[error("bitrate must not be zero")]
    ZeroBitrate,
    #[error(transparent)]
    Watch(#[from] WatchError),
}

/// The state of a row or node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    /// Unseen for its timeout or more (or never seen by the first-reception timeout).
    Lost,
    /// Unseen for more than `late_factor x cycle`.
    Late,
    /// Expected but not seen yet (within the first-reception timeout).
    Waiting,
    /// Arriving on time.
    Ok,
    /// No cycle known (not cyclic in the DBC, too few frames to measure).
    Unknown,
}

impl State {
    /// A short upper-case label.
    pub fn label(self) -> &'static str {
        match self {
            State::Lost => "LOST",
            State::Late => "LATE",
            State::Waiting => "WAIT",
            State::Ok => "ok",
            State::Unknown => "-",
        }
    }
}

/// One row: everything known about one CAN id.
#[derive(Debug, Clone)]
pub struct Row {
    id: Id,
    message: Option<usize>,
    node: Option<usize>,
    dbc_cycle: Option<Duration>,
    window: Window,
    count: u64,
    remote: u64,
    fd: bool,
    first_seen: Option<Timestamp>,
    last_seen: Option<Timestamp>,
    /// Exponential average of the interval, in ns (for ids without a DBC cycle).
    ewma_ns: Option<u64>,
    data: [u8; 64],
    len: u8,
    changed_at: [Timestamp; 64],
    ever_changed: u64,
    decoded: Decoded,
    decode_error: Option<DecodeError>,
    /// Data changed since the last decode (and the row is queued in `dirty`).
    dirty: bool,
}

impl Row {
    fn new(
        id: Id,
        message: Option<usize>,
        node: Option<usize>,
        cycle: Option<Duration>,
        window: Duration,
    ) -> Row {
        let span = cycle.map_or(window, |c| window.max(c.saturating_mul(10)));
        Row {
            id,
            message,
            node,
            dbc_cycle: cycle,
            window: Window::new(span),
            count: 0,
            remote: 0,
            fd: false,
            first_seen: None,
            last_seen: None,
            ewma_ns: None,
            data: [0; 64],
            len: 0,
            changed_at: [Timestamp::ZERO; 64],
            ever_changed: 0,
            decoded: Decoded::new(),
            decode_error: None,
            dirty: false,
        }
    }

    /// The CAN id.
    pub fn id(&self) -> Id {
        self.id
    }
    /// Index of the DBC message in [`Database::messages`], if the id is defined.
    pub fn message(&self) -> Option<usize> {
        self.message
    }
    /// Index of the sending node in [`Monitor::nodes`], for watched messages.
    pub fn node(&self) -> Option<usize> {
        self.node
    }
    /// Frames seen (since the start or the last reset), remote frames included.
    pub fn count(&self) -> u64 {
        self.count
    }
    /// Remote frames among them.
    pub fn remote_count(&self) -> u64 {
        self.remote
    }
    /// Whether the latest data frame was CAN FD.
    pub fn is_fd(&self) -> bool {
        self.fd
    }
    /// The DBC's `GenMsgCycleTime`.
    pub fn dbc_cycle(&self) -> Option<Duration> {
        self.dbc_cycle
    }
    /// When the latest frame arrived.
    pub fn last_seen(&self) -> Option<Timestamp> {
        self.last_seen
    }
    /// The latest payload.
    pub fn data(&self) -> &[u8] {
        self.data.get(..usize::from(self.len)).unwrap_or_default()
    }
    /// The decoded signals of the latest payload, as of the last `handle_timeout`.
    pub fn decoded(&self) -> &Decoded {
        &self.decoded
    }
    /// Why the latest payload did not decode.
    pub fn decode_error(&self) -> Option<&DecodeError> {
        self.decode_error.as_ref()
    }

    /// Window statistics (frames, mean interval, jitter) at `now`.
    pub fn window_stats(&self, now: Timestamp) -> WindowStats {
        self.window.stats(now)
    }

    /// Measured rate in frames per second over the sliding window at `now`: `(n - 1)` intervals
    /// between the first and the latest of the `n` frames in the window (exact for a steady
    /// stream, and unaffected by a gap that began before the window); once the id is overdue
    /// (unseen for more than twice that mean spacing) the span runs to `now` instead, so the
    /// rate decays to zero as the window empties. With one frame in the window (a cycle longer
    /// than the window), the inverse of the measured average interval while the id is on time.
    /// `None` before two frames were seen.
    pub fn rate(&self, now: Timestamp) -> Option<f64> {
        let s = self.window.stats(now);
        let (Some(first), Some(last)) = (s.first, s.last) else {
            return self.first_seen.map(|_| 0.0);
        };
        if s.frames < 2 {
            // A cycle longer than the window: the measured average, while on time.
            let cycle = self.ewma_ns.map(Duration::from_nanos)?;
            let on_time = now.saturating_duration_since(last) <= cycle.saturating_mul(2);
            return Some(if on_time && !cycle.is_zero() {
                1.0 / cycle.as_secs_f64()
            } else {
                0.0
            });
        }
        let intervals = (s.frames - 1) as f64;
        let spacing = last.saturating_duration_since(first).as_secs_f64() / intervals;
        let unseen = now.saturating_duration_since(last).as_secs_f64();
        let end = if unseen > 2.0 * spacing { now } else { last };
        let span = end.saturating_duration_since(first).as_secs_f64();
        (span > 0.0).then(|| intervals / span)
    }

    /// Bit mask of the payload bytes that changed within `hold` before `now` (bit i = byte i).
    pub fn changed_mask(&self, now: Timestamp, hold: Duration) -> u64 {
        let mut mask = 0u64;
        let mut bits = self.ever_changed;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if let Some(at) = self.changed_at.get(i)
                && now.saturating_duration_since(*at) < hold
            {
                mask |= 1 << i;
            }
        }
        mask
    }

    /// The cycle the state rule uses: the DBC's, else the measured average interval.
    pub fn cycle(&self) -> Option<Duration> {
        self.dbc_cycle.or(self.ewma_ns.map(Duration::from_nanos))
    }

    fn reset(&mut self) {
        self.window.clear();
        self.count = 0;
        self.remote = 0;
        self.first_seen = None;
        self.ewma_ns = None;
        self.ever_changed = 0;
    }
}

/// A node of the DBC that sends cyclic messages, as the watcher sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeStatus {
    pub name: String,
    /// `Waiting` until its first frame, then `Ok` or `Lost`.
    pub state: State,
    /// When the state last changed (a loss is dated when it became due).
    pub since: Option<Timestamp>,
    pub losses: u32,
    pub last_seen: Option<Timestamp>,
}

/// A node lost or restored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeEvent {
    pub at: Timestamp,
    pub node: usize,
    pub lost: bool,
    /// For a restoration: how long the node was lost.
    pub downtime: Option<Duration>,
}

/// Bus-wide counters.
#[derive(Debug, Clone, PartialEq)]
pub struct BusCounters {
    pub frames: u64,
    /// CAN FD frames among them (their bus time is an approximation).
    pub fd_frames: u64,
    pub error_frames: u64,
    /// Error frames per class, indexed like [`ERROR_CLASSES`].
    pub error_classes: [u64; ERROR_CLASSES.len()],
    /// Frames the kernel dropped before we read them (`BusStats::dropped`, summed).
    pub dropped: u64,
    /// Frames of ids beyond the row cap.
    pub overflow_frames: u64,
    window: Window,
}

/// Bus statistics over the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BusLoad {
    /// Frames per second over the window.
    pub frames_per_sec: f64,
    /// Estimated bus load (0.0 to 1.0, can exceed 1.0 if the bitrate is wrong).
    pub load: f64,
}

/// The monitor model.
#[derive(Debug, Clone)]
pub struct Monitor {
    config: MonitorConfig,
    db: Database,
    rows: Vec<Row>,
    by_standard: Vec<u32>,
    by_extended: HashMap<u32, u32>,
    dirty: Vec<u32>,
    bus: BusCounters,
    expectations: Vec<Expectation>,
    /// The node watch: the same [`ArmedWatch`] as `canrelearn watch`, armed by the DBC's own
    /// condition (`CanrelearnWatchArm`), so the panel and the watch always agree.
    watcher: ArmedWatch,
    arm: Option<ArmCondition>,
    nodes: Vec<NodeStatus>,
    events: VecDeque<NodeEvent>,
    origin: Option<Timestamp>,
    started: Option<Timestamp>,
    now: Timestamp,
}

const NO_ROW: u32 = u32::MAX;

impl Monitor {
    /// A monitor decoding with `db`: rows are created up front for the DBC's cyclic messages
    /// (so a message that never comes shows as lost), the rest on first sight.
    pub fn new(config: MonitorConfig, db: Database) -> Result<Monitor, MonitorError> {
        if !(config.late_factor.is_finite() && config.late_factor > 0.0) {
            return Err(MonitorError::InvalidLateFactor(config.late_factor));
        }
        if config.timing.bitrate == 0 {
            return Err(MonitorError::ZeroBitrate);
        }
        let expectations: Vec<Expectation> = db
            .messages()
            .iter()
            .filter_map(|m| {
                let cycle = m.cycle_time_ms().filter(|&c| c > 0)?;
                Some(Expectation {
                    id: m.id(),
                    name: Some(m.name().to_string()),
                    node: m.transmitter()?.to_string(),
                    cycle: Duration::from_millis(u64::from(cycle)),
                })
            })
            .collect();
        let arm = ArmCondition::from_database(&db).ok().flatten();
        let watcher =
            ArmedWatch::new(config.watch.clone(), expectations.clone(), arm.clone(), &db)?;
        let nodes = watcher
            .watcher()
            .node_names()
            .iter()
            .map(|n| NodeStatus {
                name: n.clone(),
                state: State::Waiting,
                since: None,
                losses: 0,
                last_seen: None,
            })
            .collect();
        let window = Window::new(config.window);
        let mut monitor = Monitor {
            bus: BusCounters {
                frames: 0,
                fd_frames: 0,
                error_frames: 0,
                error_classes: [0; ERROR_CLASSES.len()],
                dropped: 0,
                overflow_frames: 0,
                window,
            },
            config,
            db,
            rows: Vec::new(),
            by_standard: vec![NO_ROW; 0x800],
            by_extended: HashMap::new(),
            dirty: Vec::new(),
            expectations,
            watcher,
            arm,
            nodes,
            events: VecDeque::new(),
            origin: None,
            started: None,
            now: Timestamp::ZERO,
        };
        let cyclic: Vec<Id> = monitor
            .db
            .messages()
            .iter()
            .filter(|m| m.cycle_time_ms().is_some_and(|c| c > 0))
            .map(|m| m.id())
            .collect();
        for id in cyclic {
            monitor.row_index(id);
        }
        Ok(monitor)
    }

    /// The settings.
    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }
    /// The database rows are decoded with.
    pub fn database(&self) -> &Database {
        &self.db
    }
    /// All rows, in creation order.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }
    /// Bus-wide counters.
    pub fn bus(&self) -> &BusCounters {
        &self.bus
    }
    /// The arming condition of the node watch and whether it holds now (`None`: always
    /// armed).
    pub fn arming(&self) -> Option<(&str, bool)> {
        self.watcher
            .condition()
            .map(|c| (c, self.watcher.is_armed()))
    }

    /// The watched nodes.
    pub fn nodes(&self) -> &[NodeStatus] {
        &self.nodes
    }
    /// Node events, oldest first (the latest `max_events`).
    pub fn events(&self) -> impl DoubleEndedIterator<Item = &NodeEvent> {
        self.events.iter()
    }
    /// The time of the first frame (the origin of relative times).
    pub fn origin(&self) -> Option<Timestamp> {
        self.origin
    }
    /// The latest time given.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The row for `id`, created if there is room.
    fn row_index(&mut self, id: Id) -> Option<usize> {
        let existing = if id.is_extended() {
            self.by_extended.get(&id.raw()).copied()
        } else {
            self.by_standard
                .get(id.raw() as usize)
                .copied()
                .filter(|&i| i != NO_ROW)
        };
        if let Some(i) = existing {
            return Some(i as usize);
        }
        if self.rows.len() >= self.config.max_rows {
            return None;
        }
        let index = self.rows.len();
        let message = self.db.message_index(id);
        let msg = message.and_then(|m| self.db.messages().get(m));
        let cycle = msg
            .and_then(|m| m.cycle_time_ms())
            .filter(|&c| c > 0)
            .map(|c| Duration::from_millis(u64::from(c)));
        let node = msg
            .filter(|_| cycle.is_some())
            .and_then(|m| m.transmitter())
            .and_then(|t| {
                self.watcher
                    .watcher()
                    .node_names()
                    .iter()
                    .position(|n| n == t)
            });
        self.rows
            .push(Row::new(id, message, node, cycle, self.config.window));
        if id.is_extended() {
            self.by_extended.insert(id.raw(), index as u32);
        } else if let Some(slot) = self.by_standard.get_mut(id.raw() as usize) {
            *slot = index as u32;
        }
        Some(index)
    }

    fn start(&mut self, now: Timestamp) {
        if self.started.is_none() {
            self.started = Some(now);
            self.origin = Some(now);
        }
        if now > self.now {
            self.now = now;
        }
    }

    /// A frame received at `now`.
    pub fn handle_frame(&mut self, now: Timestamp, frame: &Frame) {
        self.start(now);
        self.bus.frames += 1;
        if frame.is_fd() {
            self.bus.fd_frames += 1;
        }
        let busy = frame_time_ns(frame, &self.config.timing);
        self.bus.window.record(now, None, busy);
        let Some(id) = frame.id() else {
            if let Frame::Error(e) = frame {
                self.bus.error_frames += 1;
                for (i, class) in ERROR_CLASSES.iter().enumerate() {
                    if e.class() & class.bit != 0
                        && let Some(c) = self.bus.error_classes.get_mut(i)
                    {
                        *c += 1;
                    }
                }
            }
            return;
        };
        self.watcher.handle_frame(now, frame);
        while let Some(event) = self.watcher.poll_event() {
            self.apply(event);
        }
        let Some(index) = self.row_index(id) else {
            self.bus.overflow_frames += 1;
            return;
        };
        let Some(row) = self.rows.get_mut(index) else {
            return;
        };
        let interval = row.last_seen.map(|l| now.saturating_duration_since(l));
        if let Some(iv) = interval {
            let iv = u64::try_from(iv.as_nanos()).unwrap_or(u64::MAX);
            row.ewma_ns = Some(match row.ewma_ns {
                None => iv,
                Some(e) => {
                    let e = e as i128;
                    (e + (iv as i128 - e) / 8) as u64
                }
            });
        }
        row.window.record(now, interval, 0);
        row.count += 1;
        row.first_seen.get_or_insert(now);
        row.last_seen = Some(now);
        if let Some(node) = row.node.and_then(|n| self.nodes.get_mut(n)) {
            node.last_seen = Some(now);
            // As the watch: a node is ok once seen while armed.
            if node.state == State::Waiting && self.watcher.is_armed() {
                node.state = State::Ok;
                node.since = Some(now);
            }
        }
        let data = match frame {
            Frame::Remote(_) => {
                row.remote += 1;
                return;
            }
            Frame::Fd(_) => {
                row.fd = true;
                frame.data()
            }
            _ => {
                row.fd = false;
                frame.data()
            }
        };
        let len = data.len().min(64);
        let old = row.data();
        if old != data {
            if row.len != 0 || row.count > 1 {
                let mut changed = 0u64;
                for (i, (slot, new)) in row.data.iter().zip(data).enumerate() {
                    if *slot != *new || i >= usize::from(row.len) {
                        changed |= 1 << i;
                    }
                }
                let mut bits = changed;
                while bits != 0 {
                    let i = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    if let Some(at) = row.changed_at.get_mut(i) {
                        *at = now;
                    }
                }
                row.ever_changed |= changed;
            }
            if let (Some(dst), Some(src)) = (row.data.get_mut(..len), data.get(..len)) {
                dst.copy_from_slice(src);
            }
            row.len = len as u8;
            if !row.dirty && row.message.is_some() {
                row.dirty = true;
                self.dirty.push(index as u32);
            }
        } else if row.count == 1 && row.message.is_some() && !row.dirty {
            // First frame with an all-zero (or empty) payload equal to the initial buffer.
            row.dirty = true;
            self.dirty.push(index as u32);
        }
    }

    /// The kernel's drop counter (the sum over sources of `BusStats::dropped`).
    pub fn set_dropped(&mut self, dropped: u64) {
        self.bus.dropped = dropped;
    }

    /// Settle node losses due by `now` and decode the rows whose data changed.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.start(now);
        let now = self.now;
        if self.started.is_some() {
            self.watcher.handle_timeout(now);
        }
        while let Some(event) = self.watcher.poll_event() {
            self.apply(event);
        }
        for index in self.dirty.drain(..) {
            let Some(row) = self.rows.get_mut(index as usize) else {
                continue;
            };
            row.dirty = false;
            let Some(message) = row.message.and_then(|m| self.db.messages().get(m)) else {
                continue;
            };
            let len = usize::from(row.len);
            row.decode_error = message
                .decode_into(row.data.get(..len).unwrap_or_default(), &mut row.decoded)
                .err();
        }
    }

    fn apply(&mut self, event: ArmedEvent) {
        let ArmedEvent::Watch(event) = event else {
            return;
        };
        let (node, lost, at, downtime) = match event {
            watch::Event::Lost {
                node,
                subject: watch::Subject::Node,
                at,
                ..
            } => (node, true, at, None),
            watch::Event::Restored {
                node,
                subject: watch::Subject::Node,
                at,
                lost_at,
                ..
            } => (node, false, at, Some(at.saturating_duration_since(lost_at))),
            _ => return,
        };
        if let Some(n) = self.nodes.get_mut(node) {
            n.state = if lost { State::Lost } else { State::Ok };
            n.since = Some(at);
            if lost {
                n.losses += 1;
            }
        }
        if self.config.max_events > 0 {
            while self.events.len() >= self.config.max_events {
                self.events.pop_front();
            }
            self.events.push_back(NodeEvent {
                at,
                node,
                lost,
                downtime,
            });
        }
    }

    /// The loss timeout for a cycle: `max(k x cycle, floor)`, as the watcher computes it.
    pub fn timeout_for(&self, cycle: Duration) -> Duration {
        let scaled =
            Duration::try_from_secs_f64(cycle.as_secs_f64() * self.config.watch.timeout_factor)
                .unwrap_or(Duration::MAX);
        scaled.max(self.config.watch.min_timeout)
    }

    /// A row's state at `now`.
    pub fn row_state(&self, row: &Row, now: Timestamp) -> State {
        let Some(cycle) = row.cycle() else {
            return State::Unknown;
        };
        let timeout = self.timeout_for(cycle);
        match row.last_seen {
            Some(last) => {
                let unseen = now.saturating_duration_since(last);
                // Like the watcher (and U1000's "2 s or more"): a gap of exactly the timeout
                // is a loss.
                if unseen >= timeout {
                    State::Lost
                } else if unseen.as_secs_f64() > cycle.as_secs_f64() * self.config.late_factor {
                    State::Late
                } else {
                    State::Ok
                }
            }
            None => {
                // First-reception timeout, as in the watcher: grace + timeout after the start.
                let Some(start) = self.started else {
                    return State::Waiting;
                };
                if now.saturating_duration_since(start) >= self.config.watch.grace + timeout {
                    State::Lost
                } else {
                    State::Waiting
                }
            }
        }
    }

    /// Bus frames per second and estimated load over the window at `now`.
    pub fn bus_load(&self, now: Timestamp) -> BusLoad {
        let s = self.bus.window.stats(now);
        let start = self.started.unwrap_or(now).max(s.start);
        let span = now.saturating_duration_since(start).as_secs_f64();
        if span <= 0.0 {
            return BusLoad {
                frames_per_sec: 0.0,
                load: 0.0,
            };
        }
        BusLoad {
            frames_per_sec: s.frames as f64 / span,
            load: s.busy.as_secs_f64() / span,
        }
    }

    /// Zero every counter and statistic and start the node watch over (rows, latest data and
    /// decoded values stay).
    pub fn reset(&mut self, now: Timestamp) {
        for row in &mut self.rows {
            row.reset();
        }
        self.bus.frames = 0;
        self.bus.fd_frames = 0;
        self.bus.error_frames = 0;
        self.bus.error_classes = [0; ERROR_CLASSES.len()];
        self.bus.overflow_frames = 0;
        self.bus.window.clear();
        if let Ok(w) = ArmedWatch::new(
            self.config.watch.clone(),
            self.expectations.clone(),
            self.arm.clone(),
            &self.db,
        ) {
            self.watcher = w;
        }
        for n in &mut self.nodes {
            n.state = State::Waiting;
            n.since = None;
            n.losses = 0;
        }
        self.events.clear();
        self.started = Some(now.max(self.now));
        self.watcher.handle_timeout(now.max(self.now));
    }
}

#[cfg(test)]
mod tests;
