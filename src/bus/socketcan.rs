//! The SocketCAN bus: one Linux CAN_RAW socket in CAN FD mode (`linux/can.h`, `can/raw.h`,
//! kernel `Documentation/networking/can.rst`).
//!
//! The socket is opened with `socket(2)`, configured with the `socketcan` 4 crate (FD frames on,
//! id filters, error mask, loopback, `SO_TIMESTAMPNS`) and only then bound (as candump does, so
//! nothing arrives past the filters), driven by tokio's `AsyncFd`. Frames are read
//! with our own `recvmsg(2)` (through `libc`) because `socketcan` 4 exposes neither the message
//! flags (`MSG_DONTROUTE`/`MSG_CONFIRM`: frame sent from this host / by this socket) nor the
//! `SO_RXQ_OVFL` drop counter; its timestamp readers do not return them. Frames are converted
//! from and to the kernel's `struct can_frame` (16 bytes) / `struct canfd_frame` (72 bytes) here
//! and only here, by the byte-level [`decode_frame`] and [`encode_frame`], which cannot panic.
//!
//! Contract: [`SocketCanBus::open`] fails with [`BusError::InterfaceNotFound`] /
//! [`BusError::InterfaceDown`] / [`BusError::Unsupported`] when the interface cannot be used;
//! `recv` returns every frame the kernel queued before reporting that the interface went down
//! (`ENETDOWN`) or disappeared (`ENODEV`); `send` waits and retries while the interface's transmit
//! queue is full (`ENOBUFS`, which `poll` does not signal) instead of failing.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use socketcan::{CanFilter, Socket, SocketOptions};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::filter::{CAN_EFF_FLAG, CAN_RTR_FLAG};
use super::{Bus, BusError, BusStats, Direction, Filter, Received, SystemClock};
use crate::frame::{
    CAN_ERR_FLAG, ClassicFrame, ErrorFrame, FD_LENGTHS, FdFlags, FdFrame, Frame, Id, RemoteFrame,
};
use crate::time::Timestamp;

/// Every error class (`CAN_ERR_MASK`): the default error mask.
pub const ERROR_MASK_ALL: u32 = 0x1FFF_FFFF;

/// `sizeof(struct can_frame)`.
const CAN_MTU: usize = 16;
/// `sizeof(struct canfd_frame)`.
const CANFD_MTU: usize = 72;
const CAN_EFF_MASK: u32 = 0x1FFF_FFFF;
const CAN_SFF_MASK: u32 = 0x7FF;
/// `SO_RXQ_OVFL` (asm-generic/socket.h; not exported by `libc` for glibc targets).
#[cfg(not(any(target_arch = "sparc", target_arch = "sparc64")))]
const SO_RXQ_OVFL: libc::c_int = 40;
#[cfg(any(target_arch = "sparc", target_arch = "sparc64"))]
const SO_RXQ_OVFL: libc::c_int = 0x0024;

/// How a [`SocketCanBus`] is set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketCanOptions {
    /// Kernel id/mask filters (an OR); empty: receive every data and remote frame.
    pub filters: Vec<Filter>,
    /// Error classes to receive as [`Frame::Error`] (`CAN_RAW_ERR_FILTER`); 0: none.
    pub error_mask: u32,
    /// Whether frames we send are looped back to other sockets on this host (`CAN_RAW_LOOPBACK`).
    pub loopback: bool,
    /// Whether this socket also receives its own frames (`CAN_RAW_RECV_OWN_MSGS`), as
    /// [`Direction::OwnTx`].
    pub receive_own: bool,
    /// The socket receive buffer size in bytes (`SO_RCVBUF`), or the system default.
    pub receive_buffer: Option<usize>,
}

impl Default for SocketCanOptions {
    fn default() -> Self {
        SocketCanOptions {
            filters: Vec::new(),
            error_mask: ERROR_MASK_ALL,
            loopback: true,
            receive_own: false,
            receive_buffer: None,
        }
    }
}

/// A SocketCAN interface as a [`Bus`].
#[derive(Debug)]
pub struct SocketCanBus {
    fd: AsyncFd<socketcan::CanFdSocket>,
    iface: Arc<str>,
    stats: BusStats,
    /// The last `SO_RXQ_OVFL` value seen (the kernel's cumulative count for this socket).
    last_drop_counter: u32,
    /// An interface error reported by the kernel, held back until the frames it had already
    /// queued are returned.
    pending_error: Option<BusError>,
    /// Frames read by the last batched read (`recvmmsg`), not yet returned.
    batch: std::collections::VecDeque<RawRecv>,
}

impl SocketCanBus {
    /// Opens `iface` (e.g. `can0`, `vcan0`). Must be called inside a tokio runtime.
    pub fn open(iface: &str, options: &SocketCanOptions) -> Result<SocketCanBus, BusError> {
        if iface.is_empty() || iface.len() >= libc::IFNAMSIZ || iface.contains(['/', '\0']) {
            return Err(BusError::InterfaceNotFound {
                iface: iface.to_string(),
            });
        }
        let addr = socketcan::CanAddr::from_iface(iface).map_err(|e| open_error(iface, e))?;
        let sock = unbound_fd_socket().map_err(|e| open_error(iface, e))?;
        if !interface_is_up(sock.as_raw_fd(), iface)
            .map_err(|e| io_err(iface, "SIOCGIFFLAGS", e))?
        {
            return Err(BusError::InterfaceDown {
                iface: iface.to_string(),
            });
        }
        configure(&sock, options).map_err(|(op, e)| io_err(iface, op, e))?;
        // Bound last, as candump does: a socket bound before its filters and options are set
        // queues whatever arrives in between (a `--filter 60D` dump showing a 123 frame).
        sock.as_raw_socket()
            .bind(&addr.into_sock_addr())
            .map_err(|e| open_error(iface, e))?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io_err(
                iface,
                "register with tokio",
                io::Error::other("SocketCanBus::open must be called inside a tokio runtime"),
            ));
        }
        // SAFETY: `CanFdSocket` owns its descriptor (a `socket2::Socket`) and always returns that
        // same open descriptor from `as_raw_fd` until it is dropped together with the `AsyncFd`.
        let fd = unsafe { AsyncFd::register(sock) }
            .map_err(|e| io_err(iface, "register with tokio", e.into_parts().1))?;
        tracing::debug!(iface, ?options, "SocketCAN bus open");
        Ok(SocketCanBus {
            fd,
            iface: Arc::from(iface),
            stats: BusStats::default(),
            last_drop_counter: 0,
            pending_error: None,
            batch: std::collections::VecDeque::with_capacity(RECV_BATCH),
        })
    }

    /// Replaces the kernel id filters (empty: receive everything). Frames the kernel queued
    /// before the call were selected by the filters in place when they arrived; give the
    /// filters to [`open`](SocketCanBus::open) to have them hold from the first frame.
    pub fn set_filters(&mut self, filters: &[Filter]) -> Result<(), BusError> {
        set_filters(self.fd.get_ref(), filters)
            .map_err(|e| io_err(&self.iface, "CAN_RAW_FILTER", e))
    }

    fn account_drops(&mut self, counter: Option<u32>) {
        if let Some(c) = counter {
            let delta = c.wrapping_sub(self.last_drop_counter);
            if delta != 0 {
                // Once per socket: at full load this happens on every read, and callers report
                // the counter themselves (BusStats::dropped).
                if self.stats.dropped == 0 {
                    tracing::warn!(iface = %self.iface, lost = delta, "the kernel is dropping received frames (counted in the statistics)");
                } else {
                    tracing::debug!(iface = %self.iface, lost = delta, "the kernel dropped received frames");
                }
            }
            self.stats.dropped = self.stats.dropped.saturating_add(u64::from(delta));
            self.last_drop_counter = c;
        }
    }

    fn map_io(&self, op: &'static str, e: io::Error) -> BusError {
        match e.raw_os_error() {
            Some(libc::ENETDOWN) => BusError::InterfaceDown {
                iface: self.iface.to_string(),
            },
            Some(libc::ENODEV) | Some(libc::ENXIO) => BusError::InterfaceNotFound {
                iface: self.iface.to_string(),
            },
            _ => io_err(&self.iface, op, e),
        }
    }
}

fn io_err(iface: &str, op: &'static str, source: io::Error) -> BusError {
    BusError::Io {
        iface: iface.to_string(),
        op,
        source,
    }
}

fn open_error(iface: &str, e: io::Error) -> BusError {
    match e.raw_os_error() {
        Some(libc::ENODEV) | Some(libc::ENXIO) => BusError::InterfaceNotFound {
            iface: iface.to_string(),
        },
        Some(libc::ENETDOWN) => BusError::InterfaceDown {
            iface: iface.to_string(),
        },
        Some(libc::EAFNOSUPPORT) | Some(libc::EPROTONOSUPPORT) => {
            BusError::Unsupported { source: e }
        }
        _ if e.kind() == io::ErrorKind::NotFound => BusError::InterfaceNotFound {
            iface: iface.to_string(),
        },
        _ => io_err(iface, "open", e),
    }
}

/// A CAN_RAW socket in CAN FD mode, not yet bound to an interface.
fn unbound_fd_socket() -> io::Result<socketcan::CanFdSocket> {
    let sock = socketcan::CanFdSocket::from(super::raw_socket(libc::PF_CAN, libc::CAN_RAW)?);
    sock.set_socket_option_int(libc::SOL_CAN_RAW, libc::CAN_RAW_FD_FRAMES, 1)?;
    Ok(sock)
}

fn set_filters(sock: &socketcan::CanFdSocket, filters: &[Filter]) -> io::Result<()> {
    if filters.is_empty() {
        return sock.set_filter_accept_all();
    }
    let kernel: Vec<CanFilter> = filters
        .iter()
        .map(|f| {
            if f.is_inverted() {
                CanFilter::new_inverted(f.id(), f.mask())
            } else {
                CanFilter::new(f.id(), f.mask())
            }
        })
        .collect();
    sock.set_filters(&kernel)
}

fn configure(
    sock: &socketcan::CanFdSocket,
    o: &SocketCanOptions,
) -> Result<(), (&'static str, io::Error)> {
    set_filters(sock, &o.filters).map_err(|e| ("CAN_RAW_FILTER", e))?;
    sock.set_error_filter(o.error_mask & ERROR_MASK_ALL)
        .map_err(|e| ("CAN_RAW_ERR_FILTER", e))?;
    sock.set_loopback(o.loopback)
        .map_err(|e| ("CAN_RAW_LOOPBACK", e))?;
    sock.set_recv_own_msgs(o.receive_own)
        .map_err(|e| ("CAN_RAW_RECV_OWN_MSGS", e))?;
    sock.set_recv_timestamp(true)
        .map_err(|e| ("SO_TIMESTAMPNS", e))?;
    sock.set_socket_option_int(libc::SOL_SOCKET, SO_RXQ_OVFL, 1)
        .map_err(|e| ("SO_RXQ_OVFL", e))?;
    if let Some(size) = o.receive_buffer {
        // As `candump -r`: SO_RCVBUFFORCE (root, beyond rmem_max), else SO_RCVBUF (capped by
        // the kernel at net.core.rmem_max).
        let size = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
        if sock
            .set_socket_option_int(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, size)
            .is_err()
        {
            sock.set_socket_option_int(libc::SOL_SOCKET, libc::SO_RCVBUF, size)
                .map_err(|e| ("SO_RCVBUF", e))?;
        }
    }
    sock.set_nonblocking(true).map_err(|e| ("O_NONBLOCK", e))
}

/// `SIOCGIFFLAGS` on the bound socket: whether `IFF_UP` is set.
fn interface_is_up(fd: libc::c_int, iface: &str) -> io::Result<bool> {
    // SAFETY: `ifreq` is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(iface.bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: `req` is a valid, writable `ifreq` with a NUL-terminated name (the name is
    // shorter than IFNAMSIZ, checked by the caller).
    let rc = unsafe { libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFFLAGS fills the `ifru_flags` member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    Ok(i32::from(flags) & libc::IFF_UP != 0)
}

/// Frames read with one `recvmmsg` at most: at full bus load a reader makes one system call
/// per batch instead of one per frame.
const RECV_BATCH: usize = 64;

/// What one `recvmsg` brought.
#[derive(Clone, Debug)]
struct RawRecv {
    buf: [u8; CANFD_MTU],
    len: usize,
    timestamp: Option<Timestamp>,
    drop_counter: Option<u32>,
    flags: libc::c_int,
}

#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct ControlBuffer([u8; 128]);

/// The timestamp and drop counter from a received message's control data.
///
/// # Safety
/// `msg` must be a `msghdr` the kernel filled, whose control buffer is still alive.
unsafe fn read_control(msg: &libc::msghdr, out: &mut RawRecv) {
    // SAFETY: the CMSG_* macros walk the control buffer the kernel filled, bounded by
    // `msg_controllen`; payloads are read unaligned and only when long enough.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            let level = (*cmsg).cmsg_level;
            let kind = (*cmsg).cmsg_type;
            let len = (*cmsg).cmsg_len as usize;
            let data = libc::CMSG_DATA(cmsg);
            if level == libc::SOL_SOCKET
                && kind == libc::SO_TIMESTAMPNS
                && len >= libc::CMSG_LEN(size_of::<libc::timespec>() as u32) as usize
            {
                let ts = std::ptr::read_unaligned(data.cast::<libc::timespec>());
                out.timestamp = u64::try_from(ts.tv_sec)
                    .ok()
                    .zip(u32::try_from(ts.tv_nsec).ok())
                    .and_then(|(s, ns)| Timestamp::from_secs_nanos(s, ns));
            } else if level == libc::SOL_SOCKET
                && kind == SO_RXQ_OVFL
                && len >= libc::CMSG_LEN(size_of::<u32>() as u32) as usize
            {
                out.drop_counter = Some(std::ptr::read_unaligned(data.cast::<u32>()));
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
}

/// Reads up to [`RECV_BATCH`] frames with one `recvmmsg` into `out` (non-blocking: at least
/// one frame, or `WouldBlock`).
fn recv_many(fd: libc::c_int, out: &mut std::collections::VecDeque<RawRecv>) -> io::Result<usize> {
    let mut bufs = [[0u8; CANFD_MTU]; RECV_BATCH];
    let mut controls = [ControlBuffer([0; 128]); RECV_BATCH];
    // SAFETY: iovec and mmsghdr are plain old data; all-zero is valid.
    let mut iovs: [libc::iovec; RECV_BATCH] = unsafe { std::mem::zeroed() };
    let mut msgs: [libc::mmsghdr; RECV_BATCH] = unsafe { std::mem::zeroed() };
    for (((iov, buf), msg), control) in iovs
        .iter_mut()
        .zip(bufs.iter_mut())
        .zip(msgs.iter_mut())
        .zip(controls.iter_mut())
    {
        iov.iov_base = buf.as_mut_ptr().cast();
        iov.iov_len = buf.len();
        msg.msg_hdr.msg_iov = iov;
        msg.msg_hdr.msg_iovlen = 1;
        msg.msg_hdr.msg_control = control.0.as_mut_ptr().cast();
        msg.msg_hdr.msg_controllen = control.0.len() as _;
    }
    // SAFETY: every header points to live, correctly sized buffers for the duration of the
    // call; MSG_DONTWAIT with no timeout.
    let n = unsafe {
        libc::recvmmsg(
            fd,
            msgs.as_mut_ptr(),
            RECV_BATCH as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = usize::try_from(n).unwrap_or(0).min(RECV_BATCH);
    for ((msg, buf), _) in msgs.iter().zip(bufs.iter()).zip(0..n) {
        let mut r = RawRecv {
            buf: *buf,
            len: (msg.msg_len as usize).min(CANFD_MTU),
            timestamp: None,
            drop_counter: None,
            flags: msg.msg_hdr.msg_flags,
        };
        // SAFETY: the kernel filled this header; its control buffer is alive.
        unsafe { read_control(&msg.msg_hdr, &mut r) };
        out.push_back(r);
    }
    Ok(n)
}

fn recv_raw(fd: libc::c_int) -> io::Result<RawRecv> {
    let mut out = RawRecv {
        buf: [0; CANFD_MTU],
        len: 0,
        timestamp: None,
        drop_counter: None,
        flags: 0,
    };
    let mut control = ControlBuffer([0; 128]);
    let mut iov = libc::iovec {
        iov_base: out.buf.as_mut_ptr().cast(),
        iov_len: out.buf.len(),
    };
    // SAFETY: `msghdr` is plain old data; all-zero is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr().cast();
    msg.msg_controllen = control.0.len() as _;
    // SAFETY: `msg` points to live, correctly sized buffers for the duration of the call.
    let n = unsafe { libc::recvmsg(fd, &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    out.len = usize::try_from(n).unwrap_or(0);
    out.flags = msg.msg_flags;
    // SAFETY: the kernel filled `msg`; its control buffer is alive.
    unsafe { read_control(&msg, &mut out) };
    Ok(out)
}

/// Why kernel frame bytes (or a socketcan crate frame) could not be turned into a [`Frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{0} bytes is neither a can_frame (16) nor a canfd_frame (72)")]
    BadSize(usize),
    #[error("invalid frame: {0}")]
    Frame(#[from] crate::frame::FrameError),
    /// A remote, error or FD frame where a classic data frame was asked for.
    #[error("not a classic data frame: {0}")]
    NotClassic(Frame),
}

fn byte(buf: &[u8], i: usize) -> u8 {
    buf.get(i).copied().unwrap_or(0)
}

/// The id 0, the fallback for [`id_of`] (which masks into range, so never needs it).
const ZERO_ID: Id = match Id::standard(0) {
    Some(id) => id,
    None => panic!("0 is a standard id"),
};

fn id_of(can_id: u32) -> Id {
    let extended = can_id & CAN_EFF_FLAG != 0;
    let raw = if extended {
        can_id & CAN_EFF_MASK
    } else {
        can_id & CAN_SFF_MASK
    };
    Id::new(raw, extended).unwrap_or(ZERO_ID)
}

/// The eight data bytes of a `struct can_frame`.
fn eight(buf: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    for (dst, src) in out.iter_mut().zip(buf.iter().skip(8)) {
        *dst = *src;
    }
    out
}

/// Decodes a kernel `struct can_frame` (16 bytes) or `struct canfd_frame` (72 bytes).
pub(crate) fn decode_frame(buf: &[u8]) -> Result<Frame, DecodeError> {
    let head: [u8; 4] = [byte(buf, 0), byte(buf, 1), byte(buf, 2), byte(buf, 3)];
    let can_id = u32::from_ne_bytes(head);
    let len = byte(buf, 4);
    let data_of = |n: usize| buf.get(8..8 + n).unwrap_or(&[]);
    match buf.len() {
        CAN_MTU => {
            let len = len.min(8);
            let len8_dlc = byte(buf, 7);
            let raw_dlc = (len == 8 && (9..=15).contains(&len8_dlc)).then_some(len8_dlc);
            if can_id & CAN_ERR_FLAG != 0 {
                return Ok(Frame::Error(ErrorFrame::new(
                    can_id & CAN_EFF_MASK,
                    eight(buf),
                )?));
            }
            let id = id_of(can_id);
            if can_id & CAN_RTR_FLAG != 0 {
                return Ok(Frame::Remote(match raw_dlc {
                    Some(d) => RemoteFrame::with_raw_dlc(id, d)?,
                    None => RemoteFrame::new(id, len)?,
                }));
            }
            let data = data_of(usize::from(len));
            Ok(Frame::Classic(match raw_dlc {
                Some(d) => ClassicFrame::with_raw_dlc(id, eight(buf), d)?,
                None => ClassicFrame::new(id, data)?,
            }))
        }
        CANFD_MTU => {
            let len = usize::from(len.min(64));
            // The kernel only delivers valid lengths; round up defensively (padding is zero).
            let len = FD_LENGTHS
                .iter()
                .map(|&l| usize::from(l))
                .find(|&l| l >= len)
                .unwrap_or(64);
            let flags = FdFlags::from_bits(byte(buf, 5) & 0x0F).unwrap_or_default();
            Ok(Frame::Fd(FdFrame::new(id_of(can_id), data_of(len), flags)?))
        }
        n => Err(DecodeError::BadSize(n)),
    }
}

/// Encodes a frame as the kernel's `struct can_frame` or `struct canfd_frame`; returns the
/// buffer and how many bytes of it to write (16 or 72).
pub(crate) fn encode_frame(frame: &Frame) -> ([u8; CANFD_MTU], usize) {
    let mut buf = [0u8; CANFD_MTU];
    let kernel_id = |id: Id| {
        if id.is_extended() {
            id.raw() | CAN_EFF_FLAG
        } else {
            id.raw()
        }
    };
    let (can_id, len, byte5, byte7, data, size): (u32, u8, u8, u8, &[u8], usize) = match frame {
        Frame::Classic(c) => (
            kernel_id(c.id()),
            c.data().len() as u8,
            0,
            c.raw_dlc().unwrap_or(0),
            c.data(),
            CAN_MTU,
        ),
        Frame::Remote(r) => (
            kernel_id(r.id()) | CAN_RTR_FLAG,
            r.len(),
            0,
            r.raw_dlc().unwrap_or(0),
            &[],
            CAN_MTU,
        ),
        Frame::Error(e) => (e.class() | CAN_ERR_FLAG, 8, 0, 0, e.data(), CAN_MTU),
        Frame::Fd(f) => (
            kernel_id(f.id()),
            f.data().len() as u8,
            f.flags().bits(),
            0,
            f.data(),
            CANFD_MTU,
        ),
    };
    for (dst, src) in buf.iter_mut().zip(can_id.to_ne_bytes()) {
        *dst = src;
    }
    buf[4] = len;
    buf[5] = byte5;
    buf[7] = byte7;
    for (dst, src) in buf.iter_mut().skip(8).zip(data) {
        *dst = *src;
    }
    (buf, size)
}

fn write_raw(fd: libc::c_int, bytes: &[u8]) -> io::Result<()> {
    // SAFETY: `bytes` is a live buffer of `bytes.len()` bytes.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if usize::try_from(n).ok() != Some(bytes.len()) {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "short write of a CAN frame",
        ));
    }
    Ok(())
}

impl Bus for SocketCanBus {
    async fn recv(&mut self) -> Result<Received, BusError> {
        loop {
            let raw = if let Some(r) = self.batch.pop_front() {
                r
            } else if self.pending_error.is_some() {
                // The kernel reports ENETDOWN/ENODEV before the frames still queued: return
                // those first (the socket is non-blocking), then the error.
                match recv_raw(self.fd.get_ref().as_raw_fd()) {
                    Ok(r) => r,
                    Err(_) => {
                        if let Some(e) = self.pending_error.take() {
                            return Err(e);
                        }
                        continue;
                    }
                }
            } else {
                let batch = &mut self.batch;
                let r = self
                    .fd
                    .async_io(Interest::READABLE, |s| recv_many(s.as_raw_fd(), batch))
                    .await;
                match r.map(|_| self.batch.pop_front()) {
                    Ok(Some(r)) => r,
                    Ok(None) => continue,
                    Err(e) => {
                        let e = self.map_io("recv", e);
                        if e.is_interface_unavailable() {
                            tracing::warn!(iface = %self.iface, error = %e, "interface lost");
                            self.pending_error = Some(e);
                            continue;
                        }
                        return Err(e);
                    }
                }
            };
            self.account_drops(raw.drop_counter);
            let frame = match decode_frame(raw.buf.get(..raw.len).unwrap_or(&[])) {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!(iface = %self.iface, error = %e, "ignoring an undecodable frame");
                    continue;
                }
            };
            let direction = if raw.flags & libc::MSG_CONFIRM != 0 {
                Direction::OwnTx
            } else if raw.flags & libc::MSG_DONTROUTE != 0 {
                Direction::Tx
            } else {
                Direction::Rx
            };
            let timestamp = raw.timestamp.unwrap_or_else(|| {
                tracing::trace!("no kernel timestamp; using the system clock");
                super::Clock::now(&SystemClock)
            });
            self.stats.rx_frames += 1;
            return Ok(Received {
                timestamp,
                interface: Arc::clone(&self.iface),
                frame,
                direction,
            });
        }
    }

    async fn ready_to_send(&mut self) -> Result<(), BusError> {
        // The guard is dropped without clearing: the socket stays known writable, so the
        // next send writes without waiting for the event loop.
        match self.fd.writable().await {
            Ok(_ready) => Ok(()),
            Err(e) => Err(self.map_io("send", e)),
        }
    }

    async fn send(&mut self, frame: &Frame) -> Result<(), BusError> {
        let (buf, size) = encode_frame(frame);
        let bytes = buf.get(..size).unwrap_or(&buf);
        let mut backoff = Duration::from_micros(50);
        loop {
            let r = self
                .fd
                .async_io(Interest::WRITABLE, |s| write_raw(s.as_raw_fd(), bytes))
                .await;
            match r {
                Ok(()) => {
                    self.stats.tx_frames += 1;
                    return Ok(());
                }
                // The interface queue is full: poll() still says writable, so back off.
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    self.stats.tx_queue_full += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(5));
                }
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) && frame.is_fd() => {
                    return Err(BusError::FdNotSupported {
                        iface: self.iface.to_string(),
                        frame: *frame,
                    });
                }
                Err(e) => return Err(self.map_io("send", e)),
            }
        }
    }

    fn stats(&self) -> BusStats {
        self.stats
    }

    fn name(&self) -> &str {
        &self.iface
    }
}

// ---------------------------------------------------------------------------------------------
// The socketcan crate's frame types, through the kernel structs both sides share.

/// The kernel struct of `frame` as the socketcan crate's frame (which sets the FDF flag on
/// every CAN FD frame it builds).
impl From<&Frame> for socketcan::CanAnyFrame {
    fn from(frame: &Frame) -> Self {
        let (buf, size) = encode_frame(frame);
        let word = |i: usize| {
            u32::from_ne_bytes([
                byte(&buf, i),
                byte(&buf, i + 1),
                byte(&buf, i + 2),
                byte(&buf, i + 3),
            ])
        };
        if size == CANFD_MTU {
            let mut raw = socketcan::frame::canfd_frame_default();
            raw.can_id = word(0);
            raw.len = byte(&buf, 4);
            raw.flags = byte(&buf, 5);
            for (dst, src) in raw.data.iter_mut().zip(buf.iter().skip(8)) {
                *dst = *src;
            }
            socketcan::CanAnyFrame::Fd(socketcan::CanFdFrame::from(raw))
        } else {
            let mut raw = socketcan::frame::can_frame_default();
            raw.can_id = word(0);
            raw.can_dlc = byte(&buf, 4);
            raw.len8_dlc = byte(&buf, 7);
            raw.data = eight(&buf);
            socketcan::CanAnyFrame::from(socketcan::CanFrame::from(raw))
        }
    }
}

/// A socketcan crate frame as ours (raw DLCs, FD flags and error classes kept).
impl TryFrom<&socketcan::CanAnyFrame> for Frame {
    type Error = DecodeError;

    fn try_from(frame: &socketcan::CanAnyFrame) -> Result<Self, DecodeError> {
        let classic = |raw: &libc::can_frame| {
            let mut buf = [0u8; CAN_MTU];
            for (dst, src) in buf.iter_mut().zip(raw.can_id.to_ne_bytes()) {
                *dst = src;
            }
            buf[4] = raw.can_dlc;
            buf[7] = raw.len8_dlc;
            for (dst, src) in buf.iter_mut().skip(8).zip(raw.data) {
                *dst = src;
            }
            decode_frame(&buf)
        };
        match frame {
            socketcan::CanAnyFrame::Normal(f) => classic(f.as_ref()),
            socketcan::CanAnyFrame::Remote(f) => classic(f.as_ref()),
            socketcan::CanAnyFrame::Error(f) => classic(f.as_ref()),
            socketcan::CanAnyFrame::Fd(f) => {
                let raw: &libc::canfd_frame = f.as_ref();
                let mut buf = [0u8; CANFD_MTU];
                for (dst, src) in buf.iter_mut().zip(raw.can_id.to_ne_bytes()) {
                    *dst = src;
                }
                buf[4] = raw.len;
                buf[5] = raw.flags;
                for (dst, src) in buf.iter_mut().skip(8).zip(raw.data) {
                    *dst = src;
                }
                decode_frame(&buf)
            }
        }
    }
}

/// A classic data frame as the socketcan crate's data frame (a raw DLC of 9..=15 kept).
impl From<ClassicFrame> for socketcan::CanDataFrame {
    fn from(frame: ClassicFrame) -> Self {
        let mut raw = socketcan::frame::can_frame_default();
        raw.can_id = if frame.id().is_extended() {
            frame.id().raw() | CAN_EFF_FLAG
        } else {
            frame.id().raw()
        };
        raw.can_dlc = frame.data().len() as u8;
        raw.len8_dlc = frame.raw_dlc().unwrap_or(0);
        for (dst, src) in raw.data.iter_mut().zip(frame.data()) {
            *dst = *src;
        }
        match socketcan::CanFrame::from(raw) {
            socketcan::CanFrame::Data(d) => d,
            // A frame built without the RTR and ERR flags is a data frame.
            _ => socketcan::CanDataFrame::default(),
        }
    }
}

/// The socketcan crate's data frame as ours.
impl TryFrom<socketcan::CanDataFrame> for ClassicFrame {
    type Error = DecodeError;

    fn try_from(frame: socketcan::CanDataFrame) -> Result<Self, DecodeError> {
        match Frame::try_from(&socketcan::CanAnyFrame::Normal(frame))? {
            Frame::Classic(c) => Ok(c),
            other => Err(DecodeError::NotClassic(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sid(raw: u16) -> Id {
        Id::standard(raw).unwrap()
    }

    #[tokio::test]
    async fn test_open_missing_interface_is_typed() {
        // Runs on any kernel: the name lookup fails before a CAN socket is needed.
        for name in ["canrelearn-no0", "", "way-too-long-interface-name", "a/b"] {
            match SocketCanBus::open(name, &SocketCanOptions::default()) {
                Err(BusError::InterfaceNotFound { iface }) => assert_eq!(iface, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        // `lo` exists but is not CAN: not found on a CAN kernel, unsupported on one without.
        let e = SocketCanBus::open("lo", &SocketCanOptions::default()).unwrap_err();
        assert!(e.is_interface_unavailable(), "{e:?}");
    }

    #[test]
    fn test_emit_classic_layout() {
        let f = Frame::classic(Id::extended(0x18DA_F110).unwrap(), &[1, 2, 3]).unwrap();
        let (buf, n) = encode_frame(&f);
        assert_eq!(n, 16);
        assert_eq!(
            u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]),
            0x98DA_F110
        );
        assert_eq!(&buf[4..11], &[3, 0, 0, 0, 1, 2, 3]);
    }

    #[test]
    fn test_emit_raw_dlc_remote_error_fd() {
        let f = Frame::Classic(ClassicFrame::with_raw_dlc(sid(1), [7; 8], 12).unwrap());
        let (buf, _) = encode_frame(&f);
        assert_eq!((buf[4], buf[7]), (8, 12));
        let r = Frame::Remote(RemoteFrame::new(sid(0x123), 4).unwrap());
        let (buf, _) = encode_frame(&r);
        assert_eq!(
            u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]),
            0x4000_0123
        );
        assert_eq!(buf[4], 4);
        let e = Frame::Error(ErrorFrame::new(0x44, [0, 4, 0, 0, 0, 0, 0, 0]).unwrap());
        let (buf, _) = encode_frame(&e);
        assert_eq!(
            u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]),
            0x2000_0044
        );
        let fd = Frame::fd(sid(0x7FF), &[0xAA; 12], true).unwrap();
        let (buf, n) = encode_frame(&fd);
        assert_eq!((n, buf[4], buf[5]), (72, 12, 0x05));
    }

    #[test]
    fn test_parse_kernel_frames() {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&0x123u32.to_ne_bytes());
        b[4] = 2;
        b[8] = 0xDE;
        b[9] = 0xAD;
        assert_eq!(
            decode_frame(&b).unwrap(),
            Frame::classic(sid(0x123), &[0xDE, 0xAD]).unwrap()
        );
        assert_eq!(decode_frame(&b[..15]), Err(DecodeError::BadSize(15)));
        // A too-long classic length is clamped to 8, as the kernel guarantees anyway.
        b[4] = 200;
        assert_eq!(decode_frame(&b).unwrap().data().len(), 8);
        // An FD frame with an invalid length is rounded up to the next valid one.
        let mut fd = [0u8; 72];
        fd[4] = 9;
        assert_eq!(decode_frame(&fd).unwrap().data().len(), 12);
    }

    use crate::frame::arb::frame as arb_frame;

    proptest! {
        #[test]
        fn test_encode_decode_round_trip(f in arb_frame()) {
            let (buf, n) = encode_frame(&f);
            prop_assert_eq!(decode_frame(&buf[..n]).unwrap(), f);
        }

        #[test]
        fn test_socketcan_crate_frames_round_trip(f in arb_frame()) {
            let theirs = ::socketcan::CanAnyFrame::from(&f);
            // The socketcan crate sets FDF on every FD frame it builds.
            let expected = match f {
                Frame::Fd(fd) => Frame::Fd(FdFrame::new(
                    fd.id(),
                    fd.data(),
                    FdFlags::from_bits(fd.flags().bits() | FdFlags::FDF).unwrap(),
                ).unwrap()),
                other => other,
            };
            prop_assert_eq!(Frame::try_from(&theirs).unwrap(), expected);
            // The two sides agree on what the frame is.
            use ::socketcan::EmbeddedFrame as _;
            prop_assert_eq!(theirs.is_remote_frame(), f.is_remote());
            if let Frame::Classic(c) = f {
                let data = ::socketcan::CanDataFrame::from(c);
                prop_assert_eq!(data.data(), c.data());
                prop_assert_eq!(ClassicFrame::try_from(data).unwrap(), c);
            }
        }

        /// Frames built by the socketcan crate through embedded-can read back as ours.
        #[test]
        fn test_embedded_can_frames_from_the_socketcan_crate(
            raw in 0u32..=0x1FFF_FFFF,
            extended in any::<bool>(),
            data in proptest::collection::vec(any::<u8>(), 0..=8),
        ) {
            use embedded_can::Frame as _;
            let id: embedded_can::Id = if extended {
                embedded_can::ExtendedId::new(raw).unwrap().into()
            } else {
                embedded_can::StandardId::new((raw & 0x7FF) as u16).unwrap().into()
            };
            let theirs = ::socketcan::CanAnyFrame::new(id, &data).unwrap();
            let ours = <Frame as embedded_can::Frame>::new(id, &data).unwrap();
            prop_assert_eq!(Frame::try_from(&theirs).unwrap(), ours);
            prop_assert_eq!(embedded_can::Frame::id(&ours), id);
            prop_assert_eq!(embedded_can::Frame::data(&ours), &data[..]);
            let remote = <Frame as embedded_can::Frame>::new_remote(id, data.len()).unwrap();
            let theirs = ::socketcan::CanAnyFrame::new_remote(id, data.len()).unwrap();
            prop_assert_eq!(Frame::try_from(&theirs).unwrap(), remote);
        }

        #[test]
        fn test_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = decode_frame(&bytes);
        }

        #[test]
        fn test_decode_never_panics_on_frame_sizes(a in any::<[u8; 16]>(), b in proptest::collection::vec(any::<u8>(), 72)) {
            let _ = decode_frame(&a);
            let _ = decode_frame(&b);
        }
    }
}
