//! The calling contract every sans-IO machine that exchanges CAN frames follows, in the style
//! of quinn-proto's `Connection` and smoltcp's sockets: the machine never reads a clock or
//! touches a bus; time is an argument and frames go in and out by method calls.
//!
//! # Contract
//! - Give it every frame read from the bus with [`Machine::handle_frame`] (frames this very
//!   endpoint wrote excepted), with the time it was read.
//! - When the time reaches [`Machine::poll_timeout`], call [`Machine::handle_timeout`]. A
//!   deadline that is already past is due at once; calling `handle_timeout` early is harmless.
//! - After any input (a frame, a timeout, or a call of the machine's own API such as a
//!   request), write every frame [`Machine::poll_transmit`] returns, in order, until it returns
//!   `None`.
//!
//! Implemented by the ISO-TP [`Channel`](crate::isotp::Channel) (ISO 15765-2), the diagnostic
//! [`Link`](crate::diag::Link) (ISO-TP plus the ISO 14229-1 / ISO 14230-3 client), the
//! procedure [`Tester`](crate::procedure::tester::Tester) and the simulated
//! [`Vehicle`](crate::sim::vehicle::Vehicle). One async loop runs any of them on a bus
//! (`crate::drive::machine`); a virtual link runs two of them against each other on a virtual
//! clock ([`crate::isotp::virtual_link::VirtualLink`]).

use crate::frame::Frame;
use crate::time::Timestamp;

/// A sans-IO machine that exchanges CAN frames. See the module documentation.
pub trait Machine {
    /// A frame read from the bus at `now`.
    fn handle_frame(&mut self, now: Timestamp, frame: &Frame);
    /// Fires what is due at `now`.
    fn handle_timeout(&mut self, now: Timestamp);
    /// The next frame to write, if one is due at `now`.
    fn poll_transmit(&mut self, now: Timestamp) -> Option<Frame>;
    /// The next instant [`Machine::handle_timeout`] has something to do (`None`: nothing is
    /// timed; the machine waits for frames or for its caller).
    fn poll_timeout(&self) -> Option<Timestamp>;
}
