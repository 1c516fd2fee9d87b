//! Runs a simulated [`Vehicle`] on any [`Bus`] until told to stop.
//!
//! The loop: read the clock, fire what is due ([`Vehicle::handle_timeout`]), write every frame
//! [`Vehicle::poll_transmit`] gives, report the events, then wait for whichever comes first:
//! the shutdown future, a frame from the bus ([`Vehicle::handle_frame`]), or the vehicle's next
//! deadline. Time comes from a [`Clock`], so with [`crate::bus::TokioClock`] and tokio's paused
//! time (`#[tokio::test(start_paused = true)]`) a run is instant and deterministic. Frames the
//! endpoint sent itself ([`Direction::OwnTx`]) are not fed back; frames other sockets of the
//! host sent ([`Direction::Tx`], e.g. `cansend`) are.

use core::ops::ControlFlow;
use core::time::Duration;

use crate::bus::{Bus, BusError, Clock, Direction};
use crate::sim::vehicle::{Vehicle, VehicleEvent};

/// How long to wait when the vehicle has no deadline at all.
const IDLE_WAIT: Duration = Duration::from_secs(3600);
/// The wait after a deadline that handling did not clear (never expected; avoids a busy loop).
const STUCK_WAIT: Duration = Duration::from_millis(1);

/// Counters of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Frames the vehicle sent.
    pub sent: u64,
    /// Frames read from the bus and given to the vehicle.
    pub received: u64,
    /// Events reported.
    pub events: u64,
}

/// How a run ended (errors aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The shutdown future completed.
    Shutdown,
    /// The event callback asked to stop.
    Stopped,
    /// The bus has no more frames ([`BusError::Closed`], e.g. a log source).
    BusClosed,
}

/// Runs `vehicle` on `bus` with `clock` until `shutdown` completes, the callback returns
/// `Break`, or the bus fails (the error is returned: a missing or down interface, a write
/// error). Every vehicle event goes to `on_event` as it happens.
pub async fn run<B, F, E>(
    vehicle: &mut Vehicle,
    bus: &mut B,
    clock: &dyn Clock,
    shutdown: F,
    mut on_event: E,
) -> Result<(Ended, RunStats), BusError>
where
    B: Bus,
    F: Future<Output = ()>,
    E: FnMut(&VehicleEvent) -> ControlFlow<()>,
{
    let mut stats = RunStats::default();
    let mut shutdown = core::pin::pin!(shutdown);
    loop {
        let now = clock.now();
        vehicle.handle_timeout(now);
        while let Some(frame) = vehicle.poll_transmit(now) {
            bus.send(&frame).await?;
            stats.sent += 1;
        }
        while let Some(ev) = vehicle.poll_event() {
            stats.events += 1;
            if on_event(&ev).is_break() {
                return Ok((Ended::Stopped, stats));
            }
        }
        let wait = match vehicle.poll_timeout() {
            Some(t) if t <= now => {
                tracing::debug!(%t, %now, "simulator deadline not cleared by handle_timeout");
                STUCK_WAIT
            }
            Some(t) => t.saturating_duration_since(now),
            None => IDLE_WAIT,
        };
        tokio::select! {
            biased;
            () = &mut shutdown => return Ok((Ended::Shutdown, stats)),
            r = bus.recv() => match r {
                Ok(rx) if rx.direction == Direction::OwnTx => {}
                Ok(rx) => {
                    stats.received += 1;
                    vehicle.handle_frame(clock.now(), &rx.frame);
                }
                Err(e) if e.is_end() => return Ok((Ended::BusClosed, stats)),
                Err(e) => return Err(e),
            },
            () = tokio::time::sleep(wait) => {}
        }
    }
}
