//! An in-memory link between two ISO-TP endpoints on a virtual clock, for tests and benches.
//!
//! [`VirtualLink`] owns two ends, `a` and `b` (two ISO-TP [`Channel`]s by default, or any
//! [`Endpoint`]: a frame [`Machine`] such as the diagnostic [`Link`](crate::diag::Link)), and a
//! queue of frames in flight with a fixed delivery delay and an optional deterministic loss
//! pattern. [`VirtualLink::run_until`] loops: take every frame the ends want to send (stamped
//! with the virtual time), deliver the frames that are due, and when nothing is due advance the
//! clock to the earliest of the next delivery and both ends' [`Machine::poll_timeout`], then
//! call [`Machine::handle_timeout`]. Everything that happens is recorded in a trace with its
//! virtual time (with the ISO-TP events of channel ends), so tests can check timing properties
//! (STmin spacing, pauses after blocks, when a timeout fired).

use core::time::Duration;
use std::collections::VecDeque;

use crate::frame::Frame;
use crate::machine::Machine;
use crate::time::Timestamp;

use super::channel::{Channel, ChannelEvent};

/// An end of a [`VirtualLink`]: a frame [`Machine`], with what the link needs beyond it.
pub trait Endpoint: Machine {
    /// The frame `poll_transmit` just returned is on the bus (see
    /// [`Channel::on_transmitted`]); called when [`VirtualLink::confirm`] is set.
    fn on_transmitted(&mut self, _now: Timestamp, _frame: &Frame) {}
    /// The next ISO-TP event to record in the trace (`None` for ends that report their own
    /// way).
    fn poll_trace_event(&mut self) -> Option<ChannelEvent> {
        None
    }
}

impl Endpoint for Channel {
    fn on_transmitted(&mut self, now: Timestamp, frame: &Frame) {
        Channel::on_transmitted(self, now, frame);
    }

    fn poll_trace_event(&mut self) -> Option<ChannelEvent> {
        self.poll_event()
    }
}

/// One of the two ends of a [`VirtualLink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    A,
    B,
}

impl Side {
    /// The other end.
    pub fn peer(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// Which frames the link loses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Loss {
    /// Nothing is lost.
    #[default]
    None,
    /// Frames number `n`, `2n`, `3n`... (counting from 1, both directions) are lost.
    EveryNth(u64),
    /// Each frame is lost with probability `per_mille / 1000`, from a xorshift generator.
    Random { per_mille: u16, seed: u64 },
    /// Only the frames whose index (from 0, both directions) is in the list are lost.
    Indices(&'static [u64]),
}

/// What the trace records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceKind {
    /// A frame `poll_transmit` returned; `lost` if the link drops it.
    Transmitted { frame: Frame, lost: bool },
    /// A frame delivered to the peer.
    Delivered { frame: Frame },
    /// An event a channel end reported.
    Event(ChannelEvent),
}

/// One trace entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceEntry {
    /// Virtual time.
    pub at: Timestamp,
    /// The channel that sent the frame, received it, or reported the event.
    pub side: Side,
    /// What happened.
    pub kind: TraceKind,
}

/// Two ends (ISO-TP channels by default) joined by a delayed, possibly lossy queue, on a
/// virtual clock.
#[derive(Debug)]
pub struct VirtualLink<A = Channel, B = Channel> {
    /// End A.
    pub a: A,
    /// End B.
    pub b: B,
    now: Timestamp,
    delay: Duration,
    loss: Loss,
    rng: u64,
    sent_count: u64,
    queue: VecDeque<(Timestamp, Side, Frame)>,
    /// Confirm each frame right after `poll_transmit` (for channels with `tx_confirmations`).
    pub confirm: bool,
    /// Record frames and events (on by default; benches turn it off).
    pub record: bool,
    trace: Vec<TraceEntry>,
}

impl VirtualLink<Channel, Channel> {
    /// The channel at `side`.
    pub fn channel(&mut self, side: Side) -> &mut Channel {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }
}

impl<A: Endpoint, B: Endpoint> VirtualLink<A, B> {
    /// A link starting at time zero with delivery delay `delay` and loss pattern `loss`.
    pub fn new(a: A, b: B, delay: Duration, loss: Loss) -> VirtualLink<A, B> {
        let seed = match loss {
            Loss::Random { seed, .. } => seed | 1,
            _ => 1,
        };
        VirtualLink {
            a,
            b,
            now: Timestamp::ZERO,
            delay,
            loss,
            rng: seed,
            sent_count: 0,
            queue: VecDeque::new(),
            confirm: false,
            record: true,
            trace: Vec::new(),
        }
    }

    /// The virtual time.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Moves the clock forward to `t` (never back) without running anything.
    pub fn advance_to(&mut self, t: Timestamp) {
        self.now = self.now.max(t);
    }

    /// The end at `side`.
    pub fn end(&mut self, side: Side) -> &mut dyn Endpoint {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// The trace so far.
    pub fn trace(&self) -> &[TraceEntry] {
        &self.trace
    }

    /// The events recorded so far for `side`, with their times.
    pub fn events(&self, side: Side) -> Vec<(Timestamp, ChannelEvent)> {
        self.trace
            .iter()
            .filter(|e| e.side == side)
            .filter_map(|e| match &e.kind {
                TraceKind::Event(ev) => Some((e.at, ev.clone())),
                _ => None,
            })
            .collect()
    }

    /// Clears the trace.
    pub fn clear_trace(&mut self) {
        self.trace.clear();
    }

    fn lose(&mut self) -> bool {
        let idx = self.sent_count;
        self.sent_count += 1;
        match self.loss {
            Loss::None => false,
            Loss::EveryNth(n) => n != 0 && (idx + 1).is_multiple_of(n),
            Loss::Random { per_mille, .. } => {
                let mut x = self.rng;
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                self.rng = x;
                x % 1000 < u64::from(per_mille)
            }
            Loss::Indices(list) => list.contains(&idx),
        }
    }

    fn record(&mut self, side: Side, kind: TraceKind) {
        if self.record {
            self.trace.push(TraceEntry {
                at: self.now,
                side,
                kind,
            });
        }
    }

    /// Collects transmissions and events from both ends; returns whether anything happened.
    fn pump(&mut self) -> bool {
        let mut any = false;
        for side in [Side::A, Side::B] {
            loop {
                let now = self.now;
                let Some(frame) = self.end(side).poll_transmit(now) else {
                    break;
                };
                any = true;
                if self.confirm {
                    self.end(side).on_transmitted(now, &frame);
                }
                let lost = self.lose();
                self.record(side, TraceKind::Transmitted { frame, lost });
                if !lost {
                    self.queue.push_back((now + self.delay, side.peer(), frame));
                }
            }
            while let Some(ev) = self.end(side).poll_trace_event() {
                any = true;
                self.record(side, TraceKind::Event(ev));
            }
        }
        any
    }

    /// Runs until nothing is left to do or the next thing would happen after `limit`.
    /// Returns the number of loop iterations (bounded, so a stuck machine cannot hang a test).
    pub fn run_until(&mut self, limit: Timestamp) -> usize {
        let mut iterations = 0;
        while iterations < 10_000_000 {
            iterations += 1;
            self.pump();
            let mut delivered = false;
            while let Some(&(due, to, frame)) = self.queue.front() {
                if due > self.now {
                    break;
                }
                self.queue.pop_front();
                let now = self.now;
                self.end(to).handle_frame(now, &frame);
                self.record(to, TraceKind::Delivered { frame });
                delivered = true;
            }
            if delivered {
                continue;
            }
            let next = [
                self.queue.front().map(|q| q.0),
                self.a.poll_timeout(),
                self.b.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else { break };
            if next > limit {
                break;
            }
            let progressed = next > self.now;
            self.now = self.now.max(next);
            let now = self.now;
            self.a.handle_timeout(now);
            self.b.handle_timeout(now);
            if !progressed && !self.pump() && self.queue.front().is_none_or(|q| q.0 > now) {
                // A deadline at or before now that produced nothing: a stuck machine.
                tracing::error!("virtual link stuck at {now}");
                break;
            }
        }
        iterations
    }

    /// Runs until idle, at most `max` of virtual time from now.
    pub fn run_for(&mut self, max: Duration) -> usize {
        let limit = self.now + max;
        self.run_until(limit)
    }
}
