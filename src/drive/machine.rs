//! The one driver loop: runs any sans-IO [`Machine`] (the diagnostic [`Link`](crate::diag::Link),
//! the procedure [`Tester`](crate::procedure::tester::Tester), the simulated
//! [`Vehicle`](crate::sim::vehicle::Vehicle)...) on any [`Bus`], following the machine's
//! calling contract ([`crate::machine`]), in the manner of quinn's endpoint driver over
//! quinn-proto.
//!
//! Each turn of [`run`]: read the clock (never going back), fire the machine's deadline if it
//! is due ([`Machine::handle_timeout`]), write every frame [`Machine::poll_transmit`] gives,
//! then wait for whichever comes first: the caller's other input ([`Hooks::input`], polled
//! first), a frame from the bus ([`Machine::handle_frame`], with the clock's time when it was
//! read), or the earlier of the machine's next deadline and [`Hooks::deadline`]. Frames the
//! endpoint wrote itself ([`Direction::OwnTx`]) are not fed back; frames other sockets of the
//! host wrote ([`Direction::Tx`], e.g. `cansend`) are. Time comes from a [`Clock`]: with
//! [`crate::bus::TokioClock`] and tokio's paused time (`#[tokio::test(start_paused = true)]`)
//! a run is instant and deterministic.
//!
//! What a driver does beyond that (report events, answer an operator, stop at an outcome) it
//! says through [`Hooks`], called at fixed points of each turn; the hooks end the run by
//! returning [`ControlFlow::Break`] with its output.

use core::ops::ControlFlow;
use core::time::Duration;

use crate::bus::{Bus, BusError, Clock, Direction, Received};
use crate::frame::Frame;
use crate::machine::Machine;
use crate::time::Timestamp;

/// How long to wait when nothing has a deadline (frames and other input still wake the loop).
pub const IDLE_WAIT: Duration = Duration::from_secs(3600);
/// The wait after a deadline that handling did not clear (never expected; avoids a busy loop).
pub const STUCK_WAIT: Duration = Duration::from_millis(1);

/// What [`Hooks::after_transmit`] asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait for the next input.
    Wait,
    /// Start the next turn at once (the hook gave the machine an input itself).
    Again,
}

/// The driver-specific part of a [`run`]. Every method but [`Hooks::after_transmit`] has a
/// default that does nothing (and never ends the run).
pub trait Hooks<M: Machine> {
    /// What the run returns.
    type Output;
    /// The caller's other input (operator lines, a shutdown signal).
    type Input;

    /// After due timers fired, before the frames are written.
    fn before_transmit(&mut self, _machine: &mut M, _now: Timestamp) -> ControlFlow<Self::Output> {
        ControlFlow::Continue(())
    }

    /// A frame was written (`Ok`) or refused; `at` is the clock's time after the write.
    fn on_write(
        &mut self,
        _machine: &mut M,
        _frame: &Frame,
        _at: Timestamp,
        _result: Result<(), BusError>,
    ) -> ControlFlow<Self::Output> {
        ControlFlow::Continue(())
    }

    /// After the frames were written: report what happened, decide whether to go on.
    fn after_transmit(
        &mut self,
        machine: &mut M,
        now: Timestamp,
    ) -> ControlFlow<Self::Output, Next>;

    /// A deadline of the driver's own, besides the machine's.
    fn deadline(&self) -> Option<Timestamp> {
        None
    }

    /// Waits for the caller's other input (dropped, without loss, when a frame or the deadline
    /// comes first). Never resolves by default.
    fn input(&mut self) -> impl Future<Output = Self::Input> {
        std::future::pending()
    }

    /// The caller's other input arrived at `now`.
    fn on_input(
        &mut self,
        _machine: &mut M,
        _now: Timestamp,
        _input: Self::Input,
    ) -> ControlFlow<Self::Output> {
        ControlFlow::Continue(())
    }

    /// A frame was read (before it goes to the machine).
    fn on_frame(&mut self, _rx: &Received) {}

    /// Reading failed (or a finite bus ended, [`BusError::is_end`]). Unless the hook ends the
    /// run, the bus is not read again; frames are still written.
    fn on_read_error(
        &mut self,
        machine: &mut M,
        now: Timestamp,
        error: BusError,
    ) -> ControlFlow<Self::Output>;
}

/// Runs `machine` on `bus` with `clock` until a hook ends the run. See the module
/// documentation.
pub async fn run<M, B, H>(
    machine: &mut M,
    bus: &mut B,
    clock: &dyn Clock,
    hooks: &mut H,
) -> H::Output
where
    M: Machine,
    B: Bus,
    H: Hooks<M>,
{
    let mut last = clock.now();
    let mut reading = true;
    loop {
        let now = advance(&mut last, clock);
        if machine.poll_timeout().is_some_and(|t| t <= now) {
            machine.handle_timeout(now);
        }
        if let ControlFlow::Break(out) = hooks.before_transmit(machine, now) {
            return out;
        }
        while let Some(frame) = machine.poll_transmit(now) {
            let result = bus.send(&frame).await;
            let at = advance(&mut last, clock);
            if let ControlFlow::Break(out) = hooks.on_write(machine, &frame, at, result) {
                return out;
            }
        }
        match hooks.after_transmit(machine, now) {
            ControlFlow::Break(out) => return out,
            ControlFlow::Continue(Next::Again) => continue,
            ControlFlow::Continue(Next::Wait) => {}
        }
        let wait = wait_for(machine.poll_timeout(), hooks.deadline(), now);
        let flow = tokio::select! {
            biased;
            input = hooks.input() => hooks.on_input(machine, advance(&mut last, clock), input),
            r = bus.recv(), if reading => match r {
                Ok(rx) if rx.direction == Direction::OwnTx => ControlFlow::Continue(()),
                Ok(rx) => {
                    hooks.on_frame(&rx);
                    machine.handle_frame(advance(&mut last, clock), &rx.frame);
                    ControlFlow::Continue(())
                }
                Err(e) => {
                    reading = false;
                    hooks.on_read_error(machine, advance(&mut last, clock), e)
                }
            },
            () = tokio::time::sleep(wait) => ControlFlow::Continue(()),
        };
        if let ControlFlow::Break(out) = flow {
            return out;
        }
    }
}

/// The clock's time, never earlier than `last` (which it moves on).
fn advance(last: &mut Timestamp, clock: &dyn Clock) -> Timestamp {
    *last = (*last).max(clock.now());
    *last
}

/// How long to sleep at `now` for the earlier of two deadlines.
fn wait_for(machine: Option<Timestamp>, driver: Option<Timestamp>, now: Timestamp) -> Duration {
    let deadline = match (machine, driver) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match deadline {
        Some(t) if t <= now => {
            tracing::debug!(%t, %now, "deadline not cleared by handle_timeout");
            STUCK_WAIT
        }
        Some(t) => t.saturating_duration_since(now),
        None => IDLE_WAIT,
    }
}
