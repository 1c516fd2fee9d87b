//! An async driver that runs one sans-IO ISO-TP [`Channel`] (ISO 15765-2:2016) on any [`Bus`].
//!
//! The driver follows the channel's calling contract (see [`crate::isotp::channel`]): every
//! received frame goes to [`Channel::handle_frame`] with the bus's receive timestamp as `now`;
//! after any input the frames of [`Channel::poll_transmit`] are written to the bus in order and
//! the events drained; between inputs it sleeps (tokio) until [`Channel::poll_timeout`] and then
//! calls [`Channel::handle_timeout`]. Timers read a [`Clock`], which must be on the same time
//! line as the bus's receive timestamps: for SocketCAN (kernel timestamps on the Unix time line)
//! use [`unix_tokio_clock`]; for a [`crate::bus::VirtualBus`] use the bus's own clock (a
//! [`crate::bus::TokioClock`] makes paused-time tests deterministic). The driver never lets its
//! notion of `now` go backwards, so a kernel timestamp a few microseconds ahead of the clock is
//! harmless.
//!
//! A [`FrameObserver`] sees every CAN frame the driver writes and every frame it reads (also
//! frames on other ids), each with its timestamp, for transcripts.
//!
//! Frames looped back to this very endpoint ([`Direction::OwnTx`]) are ignored; frames sent by
//! other sockets of the same host ([`Direction::Tx`], e.g. a kernel ISO-TP peer on the same vcan)
//! are inputs like any other.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::bus::{Bus, BusError, Clock, Direction, SystemClock, TokioClock};
use crate::frame::Frame;
use crate::isotp::{
    Channel, ChannelEvent, Config, ConfigError, ReceiveFailure, SendError, SendFailure,
};
use crate::time::Timestamp;

/// Whether an observed frame was written or read by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameDirection {
    /// Written to the bus by this driver.
    Sent,
    /// Read from the bus.
    Received,
}

/// One frame seen by the driver, for transcripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedFrame {
    /// When: the receive timestamp, or the clock when the frame was written.
    pub at: Timestamp,
    /// Written or read.
    pub direction: FrameDirection,
    /// The frame.
    pub frame: Frame,
}

/// A hook called for every frame the driver writes or reads.
pub type FrameObserver = Box<dyn FnMut(&ObservedFrame) + Send>;

/// A shared, growing list of observed frames: a ready-made [`FrameObserver`] target.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    frames: Arc<Mutex<Vec<ObservedFrame>>>,
}

impl Transcript {
    /// An empty transcript.
    pub fn new() -> Transcript {
        Transcript::default()
    }

    /// An observer appending to this transcript.
    pub fn observer(&self) -> FrameObserver {
        let frames = Arc::clone(&self.frames);
        Box::new(move |f: &ObservedFrame| {
            if let Ok(mut v) = frames.lock() {
                v.push(f.clone());
            }
        })
    }

    /// A copy of the frames so far.
    pub fn frames(&self) -> Vec<ObservedFrame> {
        self.frames.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Takes the frames so far, leaving the transcript empty.
    pub fn take(&self) -> Vec<ObservedFrame> {
        self.frames
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

/// tokio's monotonic clock mapped onto the Unix time line at the moment of the call: the clock
/// to use with SocketCAN, whose receive timestamps are Unix times, without following wall-clock
/// jumps. Must be called inside a tokio runtime.
pub fn unix_tokio_clock() -> Arc<dyn Clock> {
    Arc::new(TokioClock::new(SystemClock.now()))
}

/// Why the driver stopped.
#[derive(Debug, thiserror::Error)]
pub enum IsoTpError {
    /// The bus failed (or ended: [`BusError::Closed`]).
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The channel refused the message.
    #[error("ISO-TP send refused: {0}")]
    Refused(#[from] SendError),
    /// The transmission was aborted by the protocol (timeout, overflow...).
    #[error("ISO-TP send failed: {0}")]
    SendFailed(SendFailure),
}

/// Runs an ISO-TP [`Channel`] on a bus. See the module documentation.
pub struct IsoTpDriver<B: Bus> {
    bus: B,
    clock: Arc<dyn Clock>,
    channel: Channel,
    observer: Option<FrameObserver>,
    last_now: Timestamp,
    /// Messages received while the caller waited for something else.
    inbox: VecDeque<(Timestamp, Vec<u8>)>,
}

impl<B: Bus> std::fmt::Debug for IsoTpDriver<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IsoTpDriver")
            .field("bus", &self.bus.name())
            .field("channel", &self.channel)
            .field("last_now", &self.last_now)
            .field("inbox", &self.inbox.len())
            .finish_non_exhaustive()
    }
}

impl<B: Bus> IsoTpDriver<B> {
    /// A driver for a channel with `config` on `bus`, timers on `clock` (see the module doc).
    pub fn new(bus: B, config: Config, clock: Arc<dyn Clock>) -> Result<Self, ConfigError> {
        let channel = Channel::new(config)?;
        let last_now = clock.now();
        Ok(IsoTpDriver {
            bus,
            clock,
            channel,
            observer: None,
            last_now,
            inbox: VecDeque::new(),
        })
    }

    /// Sets (or removes) the hook that sees every frame written and read.
    pub fn set_observer(&mut self, observer: Option<FrameObserver>) {
        self.observer = observer;
    }

    /// The channel configuration.
    pub fn config(&self) -> &Config {
        self.channel.config()
    }

    /// The bus.
    pub fn bus(&self) -> &B {
        &self.bus
    }

    /// Gives the bus back.
    pub fn into_bus(self) -> B {
        self.bus
    }

    /// The current time on the driver's time line (never earlier than a time already used).
    pub fn now(&mut self) -> Timestamp {
        let t = self.clock.now();
        self.advance(t)
    }

    fn advance(&mut self, t: Timestamp) -> Timestamp {
        if t > self.last_now {
            self.last_now = t;
        }
        self.last_now
    }

    /// Queues `data` without waiting for it to be sent: the frames go out while the caller
    /// awaits [`IsoTpDriver::next_event`] (or any other async method). The outcome is an
    /// [`ChannelEvent::Sent`] or [`ChannelEvent::SendFailed`].
    pub fn start_send(&mut self, data: &[u8]) -> Result<(), SendError> {
        let now = self.now();
        self.channel.send(now, data)
    }

    /// Whether a transmission is in progress.
    pub fn is_sending(&self) -> bool {
        self.channel.is_sending()
    }

    /// Sends `data` and waits until its last frame is written. Messages received meanwhile
    /// are kept for [`IsoTpDriver::recv`].
    pub async fn send(&mut self, data: &[u8]) -> Result<(), IsoTpError> {
        self.start_send(data)?;
        loop {
            match self.next_event(None).await? {
                Some((_, ChannelEvent::Sent { .. })) => return Ok(()),
                Some((_, ChannelEvent::SendFailed(f))) => return Err(IsoTpError::SendFailed(f)),
                Some((at, ChannelEvent::Received(m))) => self.inbox.push_back((at, m)),
                Some((_, e)) => log_event(&e),
                None => {}
            }
        }
    }

    /// Waits for the next complete message (failed receptions are logged and skipped).
    pub async fn recv(&mut self) -> Result<Vec<u8>, IsoTpError> {
        loop {
            if let Some(m) = self.recv_until(None).await? {
                return Ok(m.1);
            }
        }
    }

    /// Waits for the next complete message until `deadline` (`None`: no limit); returns it with
    /// the time its last frame arrived, or `None` at the deadline.
    pub async fn recv_until(
        &mut self,
        deadline: Option<Timestamp>,
    ) -> Result<Option<(Timestamp, Vec<u8>)>, IsoTpError> {
        if let Some(m) = self.inbox.pop_front() {
            return Ok(Some(m));
        }
        loop {
            match self.next_event(deadline).await? {
                Some((at, ChannelEvent::Received(m))) => return Ok(Some((at, m))),
                Some((_, e)) => log_event(&e),
                None => return Ok(None),
            }
        }
    }

    /// Sends `request`, then waits up to `timeout` after it was sent for a message.
    pub async fn exchange(
        &mut self,
        request: &[u8],
        timeout: Duration,
    ) -> Result<Option<Vec<u8>>, IsoTpError> {
        self.inbox.clear();
        self.send(request).await?;
        let deadline = self.now() + timeout;
        Ok(self.recv_until(Some(deadline)).await?.map(|m| m.1))
    }

    /// The core step: writes what the channel has to send, then returns the next channel event
    /// with the time it happened, reading frames and firing timers as needed. Returns `None`
    /// once `deadline` (if any) has passed with no event. Cancel-safe between frames: dropping
    /// the future loses no received frame, but may leave a due frame unsent until the next call.
    pub async fn next_event(
        &mut self,
        deadline: Option<Timestamp>,
    ) -> Result<Option<(Timestamp, ChannelEvent)>, IsoTpError> {
        loop {
            let now = self.now();
            self.flush(now).await?;
            if let Some(e) = self.channel.poll_event() {
                return Ok(Some((now, e)));
            }
            if deadline.is_some_and(|d| d <= now) {
                return Ok(None);
            }
            let wake = match (self.channel.poll_timeout(), deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let sleep_for = wake.map(|w| w.saturating_duration_since(now));
            let received = match sleep_for {
                Some(d) => {
                    tokio::select! {
                        r = self.bus.recv() => Some(r?),
                        () = tokio::time::sleep(d) => None,
                    }
                }
                None => Some(self.bus.recv().await?),
            };
            match received {
                Some(r) => {
                    if r.direction == Direction::OwnTx {
                        continue;
                    }
                    let at = self.advance(r.timestamp);
                    if let Some(obs) = self.observer.as_mut() {
                        obs(&ObservedFrame {
                            at: r.timestamp,
                            direction: FrameDirection::Received,
                            frame: r.frame,
                        });
                    }
                    self.channel.handle_frame(at, &r.frame);
                }
                None => {
                    let now = self.now();
                    self.channel.handle_timeout(now);
                }
            }
        }
    }

    /// Writes the frames the channel has due now (normally done by the other async methods).
    pub async fn flush_due(&mut self) -> Result<(), IsoTpError> {
        let now = self.now();
        self.flush(now).await
    }

    async fn flush(&mut self, now: Timestamp) -> Result<(), IsoTpError> {
        while let Some(frame) = self.channel.poll_transmit(now) {
            self.bus.send(&frame).await?;
            if let Some(obs) = self.observer.as_mut() {
                obs(&ObservedFrame {
                    at: now,
                    direction: FrameDirection::Sent,
                    frame,
                });
            }
        }
        Ok(())
    }
}

fn log_event(e: &ChannelEvent) {
    match e {
        ChannelEvent::ReceiveFailed(f) => log_receive_failure(f),
        ChannelEvent::Ignored(r) => tracing::debug!(reason = %r, "isotp frame ignored"),
        ChannelEvent::SendFailed(f) => tracing::warn!(failure = %f, "isotp send failed"),
        other => tracing::trace!(event = ?other, "isotp event"),
    }
}

fn log_receive_failure(f: &ReceiveFailure) {
    tracing::warn!(failure = %f, "isotp reception failed");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::VirtualBus;
    use crate::frame::Id;

    fn sid(raw: u16) -> Id {
        Id::standard(raw).unwrap()
    }

    fn pair() -> (
        IsoTpDriver<crate::bus::VirtualEndpoint>,
        IsoTpDriver<crate::bus::VirtualEndpoint>,
    ) {
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::new(Timestamp::ZERO));
        let bus = VirtualBus::with_clock("v", 4096, Arc::clone(&clock));
        let mut ca = Config::new(sid(0x745), sid(0x765));
        ca.padding = Some(0xFF);
        let a = IsoTpDriver::new(bus.endpoint(), ca, Arc::clone(&clock)).unwrap();
        let b = IsoTpDriver::new(
            bus.endpoint(),
            Config::new(sid(0x765), sid(0x745)),
            Arc::clone(&clock),
        )
        .unwrap();
        (a, b)
    }

    #[tokio::test(start_paused = true)]
    async fn test_multi_frame_both_ways_with_transcript() {
        let (mut a, mut b) = pair();
        let t = Transcript::new();
        a.set_observer(Some(t.observer()));
        let msg: Vec<u8> = (0..100u8).collect();
        let peer = tokio::spawn(async move {
            let got = b.recv().await.unwrap();
            b.send(&got.iter().rev().copied().collect::<Vec<_>>())
                .await
                .unwrap();
            got
        });
        a.send(&msg).await.unwrap();
        let back = a.recv().await.unwrap();
        assert_eq!(peer.await.unwrap(), msg);
        assert_eq!(back, msg.iter().rev().copied().collect::<Vec<_>>());
        let frames = t.frames();
        // 100 bytes: FF + 14 CF each way, plus one FC each way.
        let sent = frames
            .iter()
            .filter(|f| f.direction == FrameDirection::Sent)
            .count();
        let recvd = frames.len() - sent;
        assert_eq!((sent, recvd), (16, 16));
        assert!(frames.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(
            frames
                .iter()
                .filter(|f| f.direction == FrameDirection::Sent)
                .all(|f| f.frame.data().len() == 8 && f.frame.id() == Some(sid(0x745)))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn test_recv_until_deadline_and_send_timeout_bs() {
        let (mut a, _b) = pair();
        let start = a.now();
        let r = a
            .recv_until(Some(start + Duration::from_millis(300)))
            .await
            .unwrap();
        assert_eq!(r, None);
        assert_eq!(a.now(), start + Duration::from_millis(300));
        // The peer never sends flow control (its driver is not running): N_Bs after 1 s.
        let e = a.send(&[0u8; 20]).await.unwrap_err();
        assert!(
            matches!(e, IsoTpError::SendFailed(SendFailure::TimeoutBs)),
            "{e}"
        );
    }
}
