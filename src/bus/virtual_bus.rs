//! An in-process virtual CAN bus: endpoints that see each other's frames.
//!
//! A [`VirtualBus`] is a broadcast medium (`tokio::sync::broadcast`) with a name and a
//! [`Clock`]. Every [`VirtualEndpoint`] made from it receives every frame sent by the other
//! endpoints, in one global order, stamped once by the bus clock when it was sent (like a frame
//! on a wire, all receivers see the same timestamp); its own frames only when asked for
//! ([`VirtualEndpoint::set_receive_own`]). Sending never blocks: the bus keeps the last
//! `capacity` frames, and an endpoint that falls further behind skips the oldest ones and counts
//! them in [`BusStats::dropped`]. The bus never closes while an endpoint exists (any endpoint can
//! still send), so [`Bus::recv`] simply waits. Filters use the kernel semantics of [`Filter`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::broadcast;

use super::{
    Bus, BusError, BusStats, Clock, Direction, Filter, Received, SystemClock, filters_match,
};
use crate::frame::Frame;
use crate::time::Timestamp;

#[derive(Debug, Clone)]
struct Message {
    sender: u64,
    timestamp: Timestamp,
    frame: Frame,
}

#[derive(Debug)]
struct Shared {
    name: Arc<str>,
    clock: Arc<dyn Clock>,
    tx: broadcast::Sender<Message>,
    next_endpoint: AtomicU64,
}

/// An in-process CAN bus; cheap to clone (all clones are the same bus).
#[derive(Debug, Clone)]
pub struct VirtualBus {
    shared: Arc<Shared>,
}

impl VirtualBus {
    /// The default number of frames kept for slow endpoints.
    pub const DEFAULT_CAPACITY: usize = 4096;

    /// A bus named `name` stamping frames with the system clock.
    pub fn new(name: &str) -> VirtualBus {
        VirtualBus::with_clock(name, Self::DEFAULT_CAPACITY, Arc::new(SystemClock))
    }

    /// A bus named `name` keeping `capacity` frames (at least 1) and stamping with `clock`.
    pub fn with_clock(name: &str, capacity: usize, clock: Arc<dyn Clock>) -> VirtualBus {
        let (tx, _) = broadcast::channel(capacity.max(1));
        VirtualBus {
            shared: Arc::new(Shared {
                name: Arc::from(name),
                clock,
                tx,
                next_endpoint: AtomicU64::new(0),
            }),
        }
    }

    /// A new endpoint; it receives the frames sent from now on.
    pub fn endpoint(&self) -> VirtualEndpoint {
        VirtualEndpoint {
            id: self.shared.next_endpoint.fetch_add(1, Ordering::Relaxed),
            rx: self.shared.tx.subscribe(),
            shared: Arc::clone(&self.shared),
            receive_own: false,
            filters: Vec::new(),
            stats: BusStats::default(),
        }
    }

    /// The bus name (reported as the interface of received frames).
    pub fn name(&self) -> &str {
        &self.shared.name
    }
}

/// One node on a [`VirtualBus`].
#[derive(Debug)]
pub struct VirtualEndpoint {
    id: u64,
    rx: broadcast::Receiver<Message>,
    shared: Arc<Shared>,
    receive_own: bool,
    filters: Vec<Filter>,
    stats: BusStats,
}

impl VirtualEndpoint {
    /// Whether this endpoint also receives its own frames (as [`Direction::OwnTx`]).
    pub fn set_receive_own(&mut self, on: bool) {
        self.receive_own = on;
    }

    /// Only frames matching one of `filters` are received (empty: all frames). Error frames
    /// always pass.
    pub fn set_filters(&mut self, filters: &[Filter]) {
        self.filters = filters.to_vec();
    }

    /// The bus this endpoint is on.
    pub fn bus(&self) -> VirtualBus {
        VirtualBus {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Bus for VirtualEndpoint {
    async fn recv(&mut self) -> Result<Received, BusError> {
        loop {
            let msg = match self.rx.recv().await {
                Ok(m) => m,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(bus = %self.shared.name, skipped = n, "virtual endpoint lagged");
                    self.stats.dropped = self.stats.dropped.saturating_add(n);
                    continue;
                }
                // Unreachable while `self.shared` holds a sender, but typed rather than assumed.
                Err(broadcast::error::RecvError::Closed) => return Err(BusError::Closed),
            };
            let own = msg.sender == self.id;
            if own && !self.receive_own {
                continue;
            }
            if !filters_match(&self.filters, &msg.frame) {
                continue;
            }
            self.stats.rx_frames += 1;
            return Ok(Received {
                timestamp: msg.timestamp,
                interface: Arc::clone(&self.shared.name),
                frame: msg.frame,
                direction: if own { Direction::OwnTx } else { Direction::Rx },
            });
        }
    }

    async fn send(&mut self, frame: &Frame) -> Result<(), BusError> {
        let msg = Message {
            sender: self.id,
            timestamp: self.shared.clock.now(),
            frame: *frame,
        };
        // Err only when nobody listens; like a frame on an empty wire, it is simply gone.
        let _ = self.shared.tx.send(msg);
        self.stats.tx_frames += 1;
        Ok(())
    }

    fn stats(&self) -> BusStats {
        self.stats
    }

    fn name(&self) -> &str {
        &self.shared.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::TokioClock;
    use crate::frame::Id;
    use std::time::Duration;

    fn frame(id: u16, b: u8) -> Frame {
        Frame::classic(Id::standard(id).unwrap(), &[b]).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn test_endpoints_see_each_other_not_themselves() {
        let origin = Timestamp::from_secs_nanos(10, 0).unwrap();
        let bus = VirtualBus::with_clock("vbus", 16, Arc::new(TokioClock::new(origin)));
        let mut a = bus.endpoint();
        let mut b = bus.endpoint();
        let mut c = bus.endpoint();
        tokio::time::advance(Duration::from_millis(5)).await;
        a.send(&frame(0x100, 1)).await.unwrap();
        b.send(&frame(0x200, 2)).await.unwrap();

        let r = b.recv().await.unwrap();
        assert_eq!(r.frame, frame(0x100, 1));
        assert_eq!(r.direction, Direction::Rx);
        assert_eq!(&*r.interface, "vbus");
        assert_eq!(r.timestamp, origin + Duration::from_millis(5));

        let r = a.recv().await.unwrap();
        assert_eq!(r.frame, frame(0x200, 2), "a does not see its own frame");

        assert_eq!(c.recv().await.unwrap().frame, frame(0x100, 1));
        assert_eq!(c.recv().await.unwrap().frame, frame(0x200, 2));
        assert_eq!(a.stats().tx_frames, 1);
        assert_eq!(c.stats().rx_frames, 2);
    }

    #[tokio::test]
    async fn test_receive_own_and_filters() {
        let bus = VirtualBus::new("v");
        let mut a = bus.endpoint();
        a.set_receive_own(true);
        let mut b = bus.endpoint();
        b.set_filters(&[Filter::parse("200:7FF").unwrap()]);
        a.send(&frame(0x100, 1)).await.unwrap();
        a.send(&frame(0x200, 2)).await.unwrap();
        let r = a.recv().await.unwrap();
        assert_eq!((r.frame, r.direction), (frame(0x100, 1), Direction::OwnTx));
        assert_eq!(b.recv().await.unwrap().frame, frame(0x200, 2));
    }

    #[tokio::test]
    async fn test_lagging_endpoint_counts_drops() {
        let bus = VirtualBus::with_clock("v", 4, Arc::new(SystemClock));
        let mut a = bus.endpoint();
        let mut b = bus.endpoint();
        for i in 0..10u8 {
            a.send(&frame(0x100, i)).await.unwrap();
        }
        let r = b.recv().await.unwrap();
        assert_eq!(r.frame, frame(0x100, 6), "the 4 newest frames are kept");
        assert_eq!(b.stats().dropped, 6);
    }

    #[tokio::test]
    async fn test_recv_waits_for_a_frame() {
        let bus = VirtualBus::new("v");
        let mut a = bus.endpoint();
        let mut b = a.bus().endpoint();
        let t = tokio::spawn(async move { b.recv().await.map(|r| r.frame) });
        tokio::task::yield_now().await;
        a.send(&frame(0x7E0, 9)).await.unwrap();
        assert_eq!(t.await.unwrap().unwrap(), frame(0x7E0, 9));
    }
}
