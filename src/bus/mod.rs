//! The bus layer: one async interface to a CAN bus, with three implementations.
//!
//! - [`SocketCanBus`]: a Linux SocketCAN raw socket (`socketcan` 4 with tokio) in CAN FD mode,
//!   so one socket receives classic, FD, remote and (decoded) error frames, with kernel receive
//!   timestamps (`SO_TIMESTAMPNS`), the kernel's drop counter (`SO_RXQ_OVFL`), kernel id/mask
//!   filters and ENOBUFS back-off on send.
//! - [`VirtualBus`]: an in-process broadcast bus whose [`VirtualEndpoint`]s see each other's
//!   frames; for tests, the simulator and a demo without hardware.
//! - [`LogSource`]: frames from a recorded log (any iterator of [`LogRecord`]s, e.g. the candump
//!   parser), as fast as possible or paced in real time at a speed factor.
//!
//! Calling contract: [`Bus::recv`] waits for the next frame and returns it with its
//! [`Timestamp`], interface name and [`Direction`]; [`BusError::Closed`] means no frame will
//! ever come again (the end of a log) and is a normal end, not a failure ([`BusError::is_end`]). Frames already received are always returned before an
//! error such as [`BusError::InterfaceDown`], so nothing captured is lost. [`Bus::send`] waits
//! while the transmit queue is full instead of failing. Both are cancel-safe: dropping the future
//! loses no received frame and sends either the whole frame or nothing.
//!
//! This is the only part of the library (with the drivers above it) that may use tokio, sockets
//! and clocks; the pure modules below it take time as an argument.

pub mod consent;
mod filter;
pub mod link;
mod log_source;
mod socketcan;
pub mod source;
mod virtual_bus;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::frame::Frame;
use crate::time::Timestamp;

pub use self::filter::{Filter, FilterParseError, filters_match};
pub use self::link::LinkKind;
pub use self::log_source::{BoxError, LogRecord, LogSource, Pacing};
pub use self::socketcan::{
    DecodeError as KernelFrameError, ERROR_MASK_ALL, SocketCanBus, SocketCanOptions,
};
pub use self::virtual_bus::{VirtualBus, VirtualEndpoint};

/// A new `SOCK_RAW` socket (close-on-exec) of `domain` and `protocol`, owned.
fn raw_socket(domain: libc::c_int, protocol: libc::c_int) -> std::io::Result<std::os::fd::OwnedFd> {
    // SAFETY: socket(2) takes no pointers; the result is checked before use.
    let fd = unsafe { libc::socket(domain, libc::SOCK_RAW | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a descriptor socket(2) just returned; nothing else owns it.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// Where a received frame came from, as `candump -x` tells `R` from `T`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Received from the bus (another node, or another endpoint of a virtual bus).
    Rx,
    /// Sent by another socket on this host and looped back by the kernel (`candump -x` `T`).
    Tx,
    /// Sent by this very endpoint and looped back to it (only when own frames were requested).
    OwnTx,
}

/// One frame as it came off a bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// When the frame was received: the kernel's timestamp for SocketCAN (Unix time line), the
    /// bus clock for a virtual bus, the log's timestamp for a log source.
    pub timestamp: Timestamp,
    /// The interface name (`vcan0`, `can1`, the name recorded in a log, a virtual bus's name).
    pub interface: Arc<str>,
    /// The frame.
    pub frame: Frame,
    /// Whether it came from the bus or was sent from this host.
    pub direction: Direction,
}

/// Counters of a bus endpoint since it was opened.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct BusStats {
    /// Frames returned by `recv`.
    pub rx_frames: u64,
    /// Frames sent by `send`.
    pub tx_frames: u64,
    /// Frames lost before this endpoint could read them: the kernel's socket drop counter
    /// (`SO_RXQ_OVFL`) for SocketCAN, frames skipped by a lagging virtual endpoint.
    pub dropped: u64,
    /// Times `send` found the transmit queue full (ENOBUFS) and waited.
    pub tx_queue_full: u64,
}

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The interface does not exist (or is not a CAN interface, or was removed while in use).
    #[error(
        "CAN interface `{iface}` not found (or not a CAN interface); check `ip link show`, or create a \
         virtual one with `sudo modprobe vcan && sudo ip link add {iface} type vcan && sudo ip link set up {iface}`"
    )]
    InterfaceNotFound {
        /// The interface name.
        iface: String,
    },
    /// The interface exists but is down, or went down while in use.
    #[error("CAN interface `{iface}` is down; bring it up with `sudo ip link set up {iface}`")]
    InterfaceDown {
        /// The interface name.
        iface: String,
    },
    /// The running kernel has no SocketCAN support (`socket(AF_CAN)` fails).
    #[error(
        "this kernel has no SocketCAN support (socket(AF_CAN, SOCK_RAW, CAN_RAW) failed: {source}); \
         load the `can` and `can-raw` modules"
    )]
    Unsupported {
        /// The error from `socket(2)`.
        source: std::io::Error,
    },
    /// The interface cannot carry CAN FD frames (its MTU is the classic 16 bytes).
    #[error(
        "CAN interface `{iface}` does not accept CAN FD frames (its MTU is 16); cannot send {frame}"
    )]
    FdNotSupported {
        /// The interface name.
        iface: String,
        /// The frame that was refused.
        frame: Frame,
    },
    /// The bus cannot send (a log source).
    #[error("{what} is read-only: cannot send {frame}")]
    ReadOnly {
        /// What was written to.
        what: String,
        /// The frame.
        frame: Frame,
    },
    /// The log behind a [`LogSource`] failed to yield a record (parse or read error).
    #[error("reading the log failed: {0}")]
    Log(#[source] Box<dyn std::error::Error + Send + Sync + 'static>),
    /// Any other operating-system error on an interface.
    #[error("I/O error on CAN interface `{iface}` during {op}: {source}")]
    Io {
        /// The interface name.
        iface: String,
        /// What was being done (`open`, `recv`, `send`, a socket option name).
        op: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// No frame will come any more: the end of a log.
    #[error("the bus is closed: no more frames")]
    Closed,
}

impl BusError {
    /// Whether this is the normal end of a finite source ([`BusError::Closed`]).
    pub fn is_end(&self) -> bool {
        matches!(self, BusError::Closed)
    }

    /// Whether the interface is missing or down (the CLI's exit code 4).
    pub fn is_interface_unavailable(&self) -> bool {
        matches!(
            self,
            BusError::InterfaceNotFound { .. }
                | BusError::InterfaceDown { .. }
                | BusError::Unsupported { .. }
        )
    }
}

/// An async CAN bus endpoint.
///
/// The futures are `Send` so a bus can live in a spawned task. Implemented by [`SocketCanBus`],
/// [`VirtualEndpoint`], [`LogSource`] and the enum [`AnyBus`].
pub trait Bus {
    /// Waits for the next frame. Cancel-safe.
    fn recv(&mut self) -> impl Future<Output = Result<Received, BusError>> + Send;
    /// Sends a frame, waiting while the transmit queue is full. Cancel-safe.
    fn send(&mut self, frame: &Frame) -> impl Future<Output = Result<(), BusError>> + Send;
    /// Waits until [`Bus::send`] would write at once, without sending: a caller that times
    /// frames takes the time after this and just before the frame goes out (the first write
    /// on a new socket otherwise includes a trip through the event loop). Cancel-safe.
    /// Default: ready at once.
    fn ready_to_send(&mut self) -> impl Future<Output = Result<(), BusError>> + Send {
        async { Ok(()) }
    }
    /// Counters since the endpoint was opened.
    fn stats(&self) -> BusStats;
    /// The interface or bus name.
    fn name(&self) -> &str;
}

/// Any of the three bus kinds, for code that picks one at run time.
#[derive(Debug)]
pub enum AnyBus {
    /// A SocketCAN interface.
    SocketCan(SocketCanBus),
    /// An endpoint of an in-process virtual bus.
    Virtual(VirtualEndpoint),
    /// A recorded log.
    Log(LogSource),
}

impl Bus for AnyBus {
    async fn recv(&mut self) -> Result<Received, BusError> {
        match self {
            AnyBus::SocketCan(b) => b.recv().await,
            AnyBus::Virtual(b) => b.recv().await,
            AnyBus::Log(b) => b.recv().await,
        }
    }

    async fn ready_to_send(&mut self) -> Result<(), BusError> {
        match self {
            AnyBus::SocketCan(b) => b.ready_to_send().await,
            AnyBus::Virtual(_) | AnyBus::Log(_) => Ok(()),
        }
    }

    async fn send(&mut self, frame: &Frame) -> Result<(), BusError> {
        match self {
            AnyBus::SocketCan(b) => b.send(frame).await,
            AnyBus::Virtual(b) => b.send(frame).await,
            AnyBus::Log(b) => b.send(frame).await,
        }
    }

    fn stats(&self) -> BusStats {
        match self {
            AnyBus::SocketCan(b) => b.stats(),
            AnyBus::Virtual(b) => b.stats(),
            AnyBus::Log(b) => b.stats(),
        }
    }

    fn name(&self) -> &str {
        match self {
            AnyBus::SocketCan(b) => b.name(),
            AnyBus::Virtual(b) => b.name(),
            AnyBus::Log(b) => b.name(),
        }
    }
}

impl From<SocketCanBus> for AnyBus {
    fn from(b: SocketCanBus) -> Self {
        AnyBus::SocketCan(b)
    }
}
impl From<VirtualEndpoint> for AnyBus {
    fn from(b: VirtualEndpoint) -> Self {
        AnyBus::Virtual(b)
    }
}
impl From<LogSource> for AnyBus {
    fn from(b: LogSource) -> Self {
        AnyBus::Log(b)
    }
}

/// A source of timestamps for the virtual bus.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's real-time clock on the Unix time line (what kernel timestamps use).
#[derive(Copy, Clone, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        system_time_to_timestamp(SystemTime::now())
    }
}

/// tokio's monotonic clock mapped onto a time line starting at `origin`: follows tokio's paused
/// and advanced time in tests, so timestamps are deterministic there.
#[derive(Copy, Clone, Debug)]
pub struct TokioClock {
    start: tokio::time::Instant,
    origin: Timestamp,
}

impl TokioClock {
    /// A clock reading `origin` now. Must be called inside a tokio runtime when time is paused.
    pub fn new(origin: Timestamp) -> Self {
        TokioClock {
            start: tokio::time::Instant::now(),
            origin,
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.origin.saturating_add(self.start.elapsed())
    }
}

/// A `SystemTime` as a [`Timestamp`] on the Unix time line (times before 1970 become zero).
pub(crate) fn system_time_to_timestamp(t: SystemTime) -> Timestamp {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    Timestamp::ZERO.saturating_add(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_error_classification() {
        let e = BusError::InterfaceDown {
            iface: "vcan0".into(),
        };
        assert!(e.is_interface_unavailable());
        assert!(!e.is_end());
        assert!(e.to_string().contains("ip link set up vcan0"));
        assert!(BusError::Closed.is_end());
        let nf = BusError::InterfaceNotFound {
            iface: "can9".into(),
        };
        assert!(nf.to_string().contains("`can9` not found"));
    }

    #[test]
    fn test_system_time_to_timestamp() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        assert_eq!(
            system_time_to_timestamp(t),
            Timestamp::from_secs_nanos(1_700_000_000, 123_456_789).unwrap()
        );
        assert_eq!(
            system_time_to_timestamp(UNIX_EPOCH - Duration::from_secs(5)),
            Timestamp::ZERO
        );
    }

    #[tokio::test(start_paused = true)]
    async fn test_tokio_clock_follows_paused_time() {
        let origin = Timestamp::from_secs_nanos(100, 0).unwrap();
        let c = TokioClock::new(origin);
        assert_eq!(c.now(), origin);
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(
            c.now(),
            Timestamp::from_secs_nanos(101, 500_000_000).unwrap()
        );
    }
}
