//! Runs a simulated [`Vehicle`] on any [`Bus`] until told to stop: the shared driver loop
//! ([`super::machine::run`]) with hooks that count frames, report the vehicle's events and stop
//! on the shutdown future.
//!
//! Each turn: read the clock, fire what is due ([`Vehicle::handle_timeout`]), write every frame
//! [`Vehicle::poll_transmit`] gives, report the events, then wait for whichever comes first:
//! the shutdown future, a frame from the bus ([`Vehicle::handle_frame`]), or the vehicle's next
//! deadline. Time comes from a [`Clock`], so with [`crate::bus::TokioClock`] and tokio's paused
//! time (`#[tokio::test(start_paused = true)]`) a run is instant and deterministic. Frames the
//! endpoint sent itself ([`Direction::OwnTx`](crate::bus::Direction::OwnTx)) are not fed back;
//! frames other sockets of the host sent (`Direction::Tx`, e.g. `cansend`) are.

use core::ops::ControlFlow;
use core::pin::Pin;

use super::machine::{self, Hooks, Next};
use crate::bus::{Bus, BusError, Clock, Received, TokioClock, VirtualBus};
use crate::frame::Frame;
use crate::sim::vehicle::{Vehicle, VehicleEvent};
use crate::time::Timestamp;

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

type RunResult = Result<(Ended, RunStats), BusError>;

/// Runs `vehicle` on `bus` with `clock` until `shutdown` completes, the callback returns
/// `Break`, or the bus fails (the error is returned: a missing or down interface, a write
/// error). Every vehicle event goes to `on_event` as it happens.
pub async fn run<B, F, E>(
    vehicle: &mut Vehicle,
    bus: &mut B,
    clock: &dyn Clock,
    shutdown: F,
    on_event: E,
) -> RunResult
where
    B: Bus,
    F: Future<Output = ()>,
    E: FnMut(&VehicleEvent) -> ControlFlow<()>,
{
    let mut hooks = SimHooks {
        stats: RunStats::default(),
        shutdown: core::pin::pin!(shutdown),
        on_event,
    };
    machine::run(vehicle, bus, clock, &mut hooks).await
}

/// Runs `car` on an endpoint of the in-process `vbus`, in real time from `clock`'s now, on a
/// task of its own until the runtime ends; a bus error stops it with a warning in the log.
pub fn spawn(mut car: Vehicle, vbus: &VirtualBus, clock: &TokioClock) {
    let mut car_ep = vbus.endpoint();
    let car_clock = TokioClock::new(clock.now());
    tokio::spawn(async move {
        let r = run(
            &mut car,
            &mut car_ep,
            &car_clock,
            core::future::pending(),
            |_| ControlFlow::Continue(()),
        )
        .await;
        if let Err(e) = r {
            tracing::warn!("the simulated car stopped: {e}");
        }
    });
}

struct SimHooks<'f, F, E> {
    stats: RunStats,
    shutdown: Pin<&'f mut F>,
    on_event: E,
}

impl<F, E> SimHooks<'_, F, E> {
    fn end<T>(&self, how: Ended) -> ControlFlow<RunResult, T> {
        ControlFlow::Break(Ok((how, self.stats)))
    }
}

impl<F, E> Hooks<Vehicle> for SimHooks<'_, F, E>
where
    F: Future<Output = ()>,
    E: FnMut(&VehicleEvent) -> ControlFlow<()>,
{
    type Output = RunResult;
    type Input = ();

    fn on_write(
        &mut self,
        _: &mut Vehicle,
        _: &Frame,
        _: Timestamp,
        result: Result<(), BusError>,
    ) -> ControlFlow<RunResult> {
        match result {
            Ok(()) => {
                self.stats.sent += 1;
                ControlFlow::Continue(())
            }
            Err(e) => ControlFlow::Break(Err(e)),
        }
    }

    fn after_transmit(
        &mut self,
        vehicle: &mut Vehicle,
        _: Timestamp,
    ) -> ControlFlow<RunResult, Next> {
        while let Some(ev) = vehicle.poll_event() {
            self.stats.events += 1;
            if (self.on_event)(&ev).is_break() {
                return self.end(Ended::Stopped);
            }
        }
        ControlFlow::Continue(Next::Wait)
    }

    fn input(&mut self) -> impl Future<Output = ()> {
        self.shutdown.as_mut()
    }

    fn on_input(&mut self, _: &mut Vehicle, _: Timestamp, (): ()) -> ControlFlow<RunResult> {
        self.end(Ended::Shutdown)
    }

    fn on_frame(&mut self, _: &Received) {
        self.stats.received += 1;
    }

    fn on_read_error(
        &mut self,
        _: &mut Vehicle,
        _: Timestamp,
        e: BusError,
    ) -> ControlFlow<RunResult> {
        if e.is_end() {
            self.end(Ended::BusClosed)
        } else {
            ControlFlow::Break(Err(e))
        }
    }
}
