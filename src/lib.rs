//! canrelearn: a SocketCAN bus monitor, DBC decoder and body-control-module relearn tool.
//!
//! The library is layered like a protocol stack. Pure, sans-IO modules ([`frame`], [`time`],
//! log formats, DBC decoding, ISO-TP, the diagnostic client, the procedure interpreter, the
//! watcher and the ECU models) take time as an argument and never touch tokio,
//! sockets or the system clock; a test (`tests/layering.rs`) fails the build if one does. A bus
//! layer and small drivers run them on SocketCAN, an in-process virtual bus or a log (every frame
//! machine follows one calling contract, [`machine::Machine`]); [`open`]
//! is the edge that opens capture files for the format readers, [`load`] the one that reads
//! DBC files, scripts and simulator profiles for their parsers, [`create`] the one that creates
//! output files (never over an input, never over an existing file unless forced).
//!
//! The library reports through typed errors and `tracing`; it never prints. The `canrelearn`
//! binary owns all output.
//!
//! Frames meet the rest of the Rust CAN ecosystem: [`ClassicFrame`] and [`Frame`] implement
//! `embedded_can::Frame` (and [`Id`] converts to and from `embedded_can::Id`), and [`Frame`]
//! converts to and from the socketcan crate's `CanAnyFrame` (raw DLCs, FD flags and error
//! classes kept).
//!
//! ```
//! use canrelearn::{ClassicFrame, Frame};
//! use embedded_can::{Frame as _, StandardId};
//!
//! let id = StandardId::new(0x60D).unwrap();
//! let ours = ClassicFrame::new(id.into(), &[0x00, 0x06]).unwrap();
//! let theirs = socketcan::CanAnyFrame::from(&Frame::from(ours));
//! assert_eq!(theirs.data(), &[0x00, 0x06]);
//! assert_eq!(Frame::try_from(&theirs).unwrap(), Frame::Classic(ours));
//! ```

pub mod baseline;
pub mod bundled;
pub mod bus;
pub mod create;
pub mod dbc;
pub mod diag;
pub mod drive;
pub mod frame;
pub mod isotp;
pub mod jsonl;
pub mod load;
pub mod location;
pub mod log;
pub mod machine;
pub mod monitor;
pub mod open;
pub mod output;
pub(crate) mod par;
pub mod plot;
pub mod procedure;
pub mod replay;
pub mod sim;
pub mod time;
pub mod watch;

pub use frame::{ClassicFrame, ErrorFrame, FdFlags, FdFrame, Frame, FrameError, Id, RemoteFrame};
pub use time::Timestamp;
