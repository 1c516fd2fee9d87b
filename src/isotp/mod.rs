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
//!
//! Two channels exchanging a 20-byte message (first frame, flow control, two consecutive
//! frames), the "bus" being the caller moving frames from one to the other:
//!
//! ```
//! use canrelearn::isotp::{Channel, ChannelEvent, Config};
//! use canrelearn::{Id, Timestamp};
//!
//! let (tester_id, ecu_id) = (Id::standard(0x745).unwrap(), Id::standard(0x765).unwrap());
//! let mut tester = Channel::new(Config::new(tester_id, ecu_id))?;
//! let mut ecu = Channel::new(Config::new(ecu_id, tester_id))?;
//! let now = Timestamp::ZERO;
//! let request: Vec<u8> = (0..20).collect();
//! tester.send(now, &request)?;
//! let mut frames = 0;
//! loop {
//!     let mut moved = false;
//!     while let Some(f) = tester.poll_transmit(now) {
//!         ecu.handle_frame(now, &f);
//!         frames += 1;
//!         moved = true;
//!     }
//!     while let Some(f) = ecu.poll_transmit(now) {
//!         tester.handle_frame(now, &f); // the flow control
//!         moved = true;
//!     }
//!     if !moved {
//!         break;
//!     }
//! }
//! assert_eq!(frames, 3);
//! assert_eq!(ecu.poll_event(), Some(ChannelEvent::RxFirstFrame { len: 20 }));
//! assert_eq!(ecu.poll_event(), Some(ChannelEvent::Received(request)));
//! assert_eq!(tester.poll_event(), Some(ChannelEvent::Sent { len: 20 }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
