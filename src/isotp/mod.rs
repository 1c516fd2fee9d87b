//! ISO-TP, ISO 15765-2:2016 (transport protocol over CAN and CAN FD), as pure sans-IO state
//! machines in the style of smoltcp and quinn-proto.
//!
//! - [`wire`]: typed parse/emit of N_PDUs (single, first, consecutive, flow control frames,
//!   CAN FD escapes, STmin codes).
//! - [`Channel`]: one endpoint for a tx id / rx id pair: segmentation, reassembly, flow control
//!   (block size, STmin, WAIT, OVERFLOW) and the N_As/N_Ar/N_Bs/N_Cr timers. Time is an argument
//!   ([`Timestamp`](crate::time::Timestamp)), frames are our [`Frame`](crate::frame::Frame), and
//!   the only output is what [`Channel::poll_transmit`] returns: a driver puts it on a bus. The
//!   calling contract is in the [`channel`] module documentation.
//! - [`Reassembler`]: passive reassembly of every ISO-TP message seen on a bus (for sniffing).
//! - [`virtual_link`]: two channels on a virtual link and clock, for tests and benchmarks.
//!
//! Nothing here reads a clock, touches a socket or panics on input; protocol outcomes and errors
//! are events.

pub mod channel;
pub mod reassembler;
pub mod virtual_link;
pub mod wire;

pub use channel::{
    Addressing, Channel, ChannelEvent, Config, ConfigError, FrameFormat, IgnoreReason,
    ReceiveFailure, SendError, SendFailure,
};
pub use reassembler::{IncompleteReason, Message, Observation, ObserverConfig, Reassembler};
pub use wire::{FlowControl, FlowStatus, Pdu, PduKind, StMin, WireError};
