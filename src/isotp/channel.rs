//! One ISO-TP connection (ISO 15765-2:2016 clause 9): segmentation, reassembly, flow control
//! and the N_As/N_Ar/N_Bs/N_Cr timers for one transmit id / receive id pair, sans IO.
//!
//! # Calling contract
//!
//! A [`Channel`] never touches a bus or a clock. The driver:
//! 1. feeds every received frame to [`Channel::handle_frame`] (frames with other ids, remote and
//!    error frames are ignored, so the driver may pass everything it reads);
//! 2. after any input ([`Channel::send`], [`Channel::handle_frame`], [`Channel::handle_timeout`],
//!    [`Channel::on_transmitted`]) calls [`Channel::poll_transmit`] until it returns `None` and
//!    writes those frames to the bus, in order; then drains [`Channel::poll_event`];
//! 3. sleeps until [`Channel::poll_timeout`] (or the next frame), then calls
//!    [`Channel::handle_timeout`] and goes back to 2. The deadline is either a protocol timer or the
//!    STmin pacing of the next consecutive frame: `poll_transmit` returns `None` until then.
//!
//! Transmit confirmations are optional. With [`Config::tx_confirmations`] off (the default) a
//! frame counts as sent when `poll_transmit` returns it, and N_As/N_Ar are not supervised. With it
//! on, the driver calls [`Channel::on_transmitted`] once the frame is on the bus (for SocketCAN:
//! when the write returned or the loopback echo arrived); until then `poll_transmit` returns
//! `None`, STmin and N_Bs/N_Cr start at the confirmation time, and a missing confirmation ends
//! the transfer with [`SendFailure::TimeoutAs`] / [`ReceiveFailure::TimeoutAr`]. A frame
//! received from the peer also confirms the frame in flight (the bus evidently works).
//!
//! Transmission and reception are independent (full duplex, like Linux `CAN_ISOTP`): a channel
//! can receive a message while it sends one. Outcomes, errors included, are [`ChannelEvent`]s; nothing
//! here returns `Err` for bus input or panics. Flow control: the block size and STmin of the
//! first clear-to-send frame are used for the whole message (as Linux does); WAIT frames restart
//! N_Bs and more than [`Config::max_wait_frames`] in a row abort. This side never sends WAIT.

use core::time::Duration;
use std::collections::VecDeque;

use crate::frame::{Frame, Id, fd_round_up_len};
use crate::machine::Machine;
use crate::time::Timestamp;

use super::wire::{FlowControl, FlowStatus, Pdu, PduKind, StMin, WireError};

/// How ISO-TP addresses are carried (ISO 15765-2 10.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Addressing {
    /// Normal (and normal fixed) addressing: the CAN id is the whole address.
    #[default]
    Normal,
    /// Extended addressing: one target address byte precedes the N_PCI. `tx_addr` is written in
    /// every frame we send; frames received whose first byte is not `rx_addr` are ignored.
    Extended { tx_addr: u8, rx_addr: u8 },
}

impl Addressing {
    /// Bytes taken by the address (0 or 1).
    pub const fn overhead(self) -> usize {
        match self {
            Addressing::Normal => 0,
            Addressing::Extended { .. } => 1,
        }
    }
}

/// The link layer the channel sends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FrameFormat {
    /// Classic CAN, 8-byte frames (TX_DL = 8).
    #[default]
    Classic,
    /// CAN FD frames with TX_DL `tx_dl` (8, 12, 16, 20, 24, 32, 48 or 64), bit rate switch `brs`.
    Fd { tx_dl: u8, brs: bool },
}

/// The configuration of one [`Channel`]. Build with [`Config::new`] and adjust the fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The CAN id we send on (requests, and flow control for received messages).
    pub tx_id: Id,
    /// The CAN id we receive on.
    pub rx_id: Id,
    /// Normal or extended addressing.
    pub addressing: Addressing,
    /// `Some(b)`: pad every frame with `b` to 8 bytes, or to the next valid CAN FD length above
    /// 8. `None`: minimal lengths (CAN FD frames above 8 bytes are still rounded up to a valid
    /// length, filled with 0xCC). Received frames are accepted padded or not.
    pub padding: Option<u8>,
    /// Classic CAN or CAN FD for what we send (we receive both).
    pub format: FrameFormat,
    /// The block size we advertise when receiving (0: no further flow control).
    pub block_size: u8,
    /// The STmin we advertise when receiving.
    pub st_min: StMin,
    /// When sending, use this separation time instead of the one the peer asked for.
    pub tx_st_min_override: Option<Duration>,
    /// N_As: time for a frame we send to be confirmed (only with `tx_confirmations`).
    pub n_as: Duration,
    /// N_Ar: time for a flow control we send to be confirmed (only with `tx_confirmations`).
    pub n_ar: Duration,
    /// N_Bs: time to wait for the peer's flow control after a first frame or a block.
    pub n_bs: Duration,
    /// N_Cr: time to wait for the peer's next consecutive frame.
    pub n_cr: Duration,
    /// N_WFTmax: WAIT flow controls accepted in a row before the send is aborted.
    pub max_wait_frames: u32,
    /// The largest message we accept; a larger first frame gets FC OVERFLOW.
    pub max_rx_size: u32,
    /// Whether the driver calls [`Channel::on_transmitted`] (see the module documentation).
    pub tx_confirmations: bool,
}

impl Config {
    /// Classic CAN, normal addressing, no padding, BS 0, STmin 0, all timers 1 s, N_WFTmax 10,
    /// messages up to 4095 bytes, no transmit confirmations.
    pub fn new(tx_id: Id, rx_id: Id) -> Config {
        Config {
            tx_id,
            rx_id,
            addressing: Addressing::Normal,
            padding: None,
            format: FrameFormat::Classic,
            block_size: 0,
            st_min: StMin::ZERO,
            tx_st_min_override: None,
            n_as: Duration::from_secs(1),
            n_ar: Duration::from_secs(1),
            n_bs: Duration::from_secs(1),
            n_cr: Duration::from_secs(1),
            max_wait_frames: 10,
            max_rx_size: 4095,
            tx_confirmations: false,
        }
    }

    /// TX_DL: the data length of the frames we send.
    pub fn tx_dl(&self) -> usize {
        match self.format {
            FrameFormat::Classic => 8,
            FrameFormat::Fd { tx_dl, .. } => usize::from(tx_dl),
        }
    }
}

/// A configuration that cannot work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("TX_DL {0} is not a CAN FD length of 8 or more (8, 12, 16, 20, 24, 32, 48, 64)")]
    InvalidTxDl(u8),
}

/// Why [`Channel::send`] refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("a transmission is already in progress")]
    Busy,
    #[error("ISO-TP cannot carry an empty message")]
    Empty,
    #[error("message of {len} bytes is larger than the maximum of {max}")]
    TooLarge { len: usize, max: usize },
}

/// Why a transmission ended without [`ChannelEvent::Sent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendFailure {
    #[error("N_As timeout: a frame was not confirmed as transmitted")]
    TimeoutAs,
    #[error("N_Bs timeout: no flow control from the receiver")]
    TimeoutBs,
    #[error("the receiver answered flow control OVERFLOW (message too large for it)")]
    Overflow,
    #[error("the receiver sent more than {0} WAIT flow controls in a row")]
    WaitLimit(u32),
    #[error("the receiver sent a flow control with reserved flow status {0}")]
    InvalidFlowStatus(u8),
    #[error("internal error: a frame could not be built")]
    Internal,
}

/// Why a reception ended without [`ChannelEvent::Received`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReceiveFailure {
    #[error("N_Ar timeout: our flow control was not confirmed as transmitted")]
    TimeoutAr,
    #[error("N_Cr timeout after {received} of {expected} bytes")]
    TimeoutCr { received: usize, expected: usize },
    #[error("wrong sequence number: expected {expected}, got {got}")]
    WrongSequenceNumber { expected: u8, got: u8 },
    #[error("consecutive frame carries {got} bytes, at least {expected} expected")]
    InvalidLength { expected: usize, got: usize },
    #[error(
        "a new single or first frame interrupted the reception after {received} of {expected} bytes"
    )]
    Interrupted { received: usize, expected: usize },
    #[error("message of {len} bytes exceeds our maximum of {max}: sent flow control OVERFLOW")]
    TooLarge { len: u32, max: u32 },
}

/// Why a frame addressed to us was ignored (informational: no transfer ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreReason {
    #[error("malformed N_PDU: {0}")]
    Malformed(#[from] WireError),
    #[error("unexpected {0:?} frame")]
    UnexpectedPdu(PduKind),
    #[error("first frame too short or with FF_DL {ff_dl} too small for a frame of {can_dl} bytes")]
    InvalidFirstFrame { ff_dl: u32, can_dl: usize },
}

/// What a [`Channel`] reports through [`Channel::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelEvent {
    /// A complete message from the peer (one allocation per message).
    Received(Vec<u8>),
    /// The peer started a segmented message of `len` bytes (progress, before the FC is sent).
    RxFirstFrame { len: u32 },
    /// Our message of `len` bytes was sent completely.
    Sent { len: usize },
    /// Our transmission was aborted; the channel can `send` again.
    SendFailed(SendFailure),
    /// A reception was aborted.
    ReceiveFailed(ReceiveFailure),
    /// A frame on our receive id was ignored.
    Ignored(IgnoreReason),
}

/// Events kept when the driver does not drain them; older ones are dropped beyond this.
pub const MAX_QUEUED_EVENTS: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterData {
    Done,
    WaitFc,
    NextCf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SentKind {
    Fc(FlowStatus),
    Data(AfterData),
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    kind: SentKind,
    frame: Frame,
    deadline: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxState {
    Idle,
    /// The single or first frame is ready to go.
    Start,
    /// Waiting for a flow control until `deadline` (N_Bs).
    WaitFc {
        deadline: Timestamp,
    },
    /// The next consecutive frame is due at `due` (STmin).
    Cf {
        due: Timestamp,
    },
    /// A frame was handed out and is not yet confirmed.
    InFlight,
}

#[derive(Debug)]
struct Tx {
    state: TxState,
    data: Vec<u8>,
    offset: usize,
    sn: u8,
    /// Block size from the first CTS (0: unlimited); `None` before it.
    bs: Option<u8>,
    block_left: u8,
    st_min: Duration,
    waits: u32,
}

#[derive(Debug)]
struct Rx {
    active: bool,
    /// N_Cr deadline; `None` while our flow control is pending or in flight.
    deadline: Option<Timestamp>,
    buf: Vec<u8>,
    expected: usize,
    sn: u8,
    block_count: u8,
    /// Payload bytes a full consecutive frame carries (RX_DL - 1 - address).
    cf_cap: usize,
    /// Whether to answer with CAN FD frames (the first frame was FD).
    fd: bool,
}

/// One ISO-TP endpoint for a tx id / rx id pair. See the module documentation for the contract.
#[derive(Debug)]
pub struct Channel {
    cfg: Config,
    tx_dl: usize,
    tx: Tx,
    rx: Rx,
    fc_pending: Option<(FlowControl, bool)>,
    in_flight: Option<InFlight>,
    events: VecDeque<ChannelEvent>,
}

impl Channel {
    /// A channel with `config`; fails when the TX_DL is not a CAN FD length of 8 or more.
    pub fn new(config: Config) -> Result<Channel, ConfigError> {
        if let FrameFormat::Fd { tx_dl, .. } = config.format
            && (tx_dl < 8 || fd_round_up_len(usize::from(tx_dl)) != Some(usize::from(tx_dl)))
        {
            return Err(ConfigError::InvalidTxDl(tx_dl));
        }
        Ok(Channel {
            tx_dl: config.tx_dl(),
            cfg: config,
            tx: Tx {
                state: TxState::Idle,
                data: Vec::new(),
                offset: 0,
                sn: 0,
                bs: None,
                block_left: 0,
                st_min: Duration::ZERO,
                waits: 0,
            },
            rx: Rx {
                active: false,
                deadline: None,
                buf: Vec::new(),
                expected: 0,
                sn: 0,
                block_count: 0,
                cf_cap: 7,
                fd: false,
            },
            fc_pending: None,
            in_flight: None,
            events: VecDeque::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The largest message [`Channel::send`] accepts (the 32-bit FF_DL limit).
    pub fn max_tx_size(&self) -> usize {
        usize::try_from(u32::MAX).unwrap_or(usize::MAX)
    }

    /// Whether a transmission is in progress (then `send` returns [`SendError::Busy`]).
    pub fn is_sending(&self) -> bool {
        self.tx.state != TxState::Idle
    }

    /// Whether a segmented reception is in progress.
    pub fn is_receiving(&self) -> bool {
        self.rx.active
    }

    /// Queues `data` for transmission. The frames come out of [`Channel::poll_transmit`]; the
    /// outcome is [`ChannelEvent::Sent`] or [`ChannelEvent::SendFailed`].
    pub fn send(&mut self, now: Timestamp, data: &[u8]) -> Result<(), SendError> {
        if self.tx.state != TxState::Idle {
            return Err(SendError::Busy);
        }
        if data.is_empty() {
            return Err(SendError::Empty);
        }
        let max = self.max_tx_size();
        if data.len() > max {
            return Err(SendError::TooLarge {
                len: data.len(),
                max,
            });
        }
        tracing::trace!(len = data.len(), at = %now, "isotp send queued");
        self.tx.data.clear();
        self.tx.data.extend_from_slice(data);
        self.tx.offset = 0;
        self.tx.sn = 0;
        self.tx.bs = None;
        self.tx.block_left = 0;
        self.tx.st_min = Duration::ZERO;
        self.tx.waits = 0;
        self.tx.state = TxState::Start;
        Ok(())
    }

    /// Aborts the transmission in progress, if any, without an event.
    pub fn abort_send(&mut self) {
        if matches!(
            self.in_flight,
            Some(InFlight {
                kind: SentKind::Data(_),
                ..
            })
        ) {
            self.in_flight = None;
        }
        self.reset_tx();
    }

    /// Aborts the reception in progress, if any, without an event.
    pub fn abort_receive(&mut self) {
        if matches!(
            self.in_flight,
            Some(InFlight {
                kind: SentKind::Fc(_),
                ..
            })
        ) {
            self.in_flight = None;
        }
        self.fc_pending = None;
        self.reset_rx();
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ChannelEvent> {
        self.events.pop_front()
    }

    /// The next deadline: a protocol timer or the time the next consecutive frame is due.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let mut t: Option<Timestamp> = None;
        let mut add = |d: Timestamp| t = Some(t.map_or(d, |x| x.min(d)));
        if let Some(f) = self.in_flight {
            add(f.deadline);
        }
        match self.tx.state {
            TxState::WaitFc { deadline } => add(deadline),
            TxState::Cf { due } if self.in_flight.is_none() => add(due),
            _ => {}
        }
        if let Some(d) = self.rx.deadline {
            add(d);
        }
        t
    }

    /// Fires the timers that are due at `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if let Some(f) = self.in_flight
            && f.deadline <= now
        {
            self.in_flight = None;
            match f.kind {
                SentKind::Data(_) => {
                    self.reset_tx();
                    self.push(ChannelEvent::SendFailed(SendFailure::TimeoutAs));
                }
                SentKind::Fc(_) => {
                    let was_active = self.rx.active;
                    self.reset_rx();
                    if was_active {
                        self.push(ChannelEvent::ReceiveFailed(ReceiveFailure::TimeoutAr));
                    }
                }
            }
        }
        if let TxState::WaitFc { deadline } = self.tx.state
            && deadline <= now
        {
            self.reset_tx();
            self.push(ChannelEvent::SendFailed(SendFailure::TimeoutBs));
        }
        if let Some(d) = self.rx.deadline
            && d <= now
        {
            let (received, expected) = (self.rx.buf.len(), self.rx.expected);
            self.reset_rx();
            self.push(ChannelEvent::ReceiveFailed(ReceiveFailure::TimeoutCr {
                received,
                expected,
            }));
        }
    }

    /// Confirms that `frame`, returned by [`Channel::poll_transmit`], is on the bus (only
    /// meaningful with [`Config::tx_confirmations`]; otherwise a no-op). A frame that is not the
    /// one in flight (a late echo of a frame already confirmed implicitly) is ignored.
    pub fn on_transmitted(&mut self, now: Timestamp, frame: &Frame) {
        if let Some(f) = self.in_flight
            && f.frame == *frame
        {
            self.in_flight = None;
            self.complete(now, f.kind);
        }
    }

    /// The next frame to put on the bus, if one is due at `now`.
    pub fn poll_transmit(&mut self, now: Timestamp) -> Option<Frame> {
        if self.in_flight.is_some() {
            return None;
        }
        if let Some((fc, fd)) = self.fc_pending.take() {
            let mut buf = [0u8; 64];
            let frame = self.build(&mut buf, &Pdu::FlowControl(fc), fd);
            match frame {
                Some(f) => {
                    self.sent(now, SentKind::Fc(fc.status), self.cfg.n_ar, f);
                    return Some(f);
                }
                None => {
                    self.reset_rx();
                    return None;
                }
            }
        }
        let fd = matches!(self.cfg.format, FrameFormat::Fd { .. });
        let ae = self.cfg.addressing.overhead();
        let mut buf = [0u8; 64];
        let (frame, after) = match self.tx.state {
            TxState::Start => {
                let len = self.tx.data.len();
                let sf_cap = if fd && self.tx_dl > 8 {
                    self.tx_dl - 2 - ae
                } else {
                    7 - ae
                };
                if len <= sf_cap {
                    let pdu = Pdu::Single {
                        data: &self.tx.data,
                        escaped: len > 7 - ae,
                    };
                    (self.build(&mut buf, &pdu, fd), AfterData::Done)
                } else {
                    let Ok(ff_dl) = u32::try_from(len) else {
                        self.fail_internal();
                        return None;
                    };
                    let header = if ff_dl > super::wire::MAX_SHORT_FF_DL {
                        6
                    } else {
                        2
                    };
                    let n = self.tx_dl - ae - header;
                    let pdu = Pdu::First {
                        len: ff_dl,
                        data: self.tx.data.get(..n).unwrap_or(&[]),
                    };
                    let f = self.build(&mut buf, &pdu, fd);
                    self.tx.offset = n;
                    self.tx.sn = 1;
                    (f, AfterData::WaitFc)
                }
            }
            TxState::Cf { due } if now >= due => {
                let cap = self.tx_dl - 1 - ae;
                let start = self.tx.offset;
                let end = start.saturating_add(cap).min(self.tx.data.len());
                let pdu = Pdu::Consecutive {
                    sn: self.tx.sn,
                    data: self.tx.data.get(start..end).unwrap_or(&[]),
                };
                let f = self.build(&mut buf, &pdu, fd);
                self.tx.offset = end;
                self.tx.sn = (self.tx.sn + 1) & 0x0F;
                let after = if end >= self.tx.data.len() {
                    AfterData::Done
                } else if self.tx.bs.unwrap_or(0) != 0 {
                    self.tx.block_left = self.tx.block_left.saturating_sub(1);
                    if self.tx.block_left == 0 {
                        AfterData::WaitFc
                    } else {
                        AfterData::NextCf
                    }
                } else {
                    AfterData::NextCf
                };
                (f, after)
            }
            _ => return None,
        };
        let Some(frame) = frame else {
            self.fail_internal();
            return None;
        };
        self.tx.state = TxState::InFlight;
        self.sent(now, SentKind::Data(after), self.cfg.n_as, frame);
        Some(frame)
    }

    /// Feeds a frame read from the bus. Frames not on our receive id (or, with extended
    /// addressing, not for our address), remote and error frames are ignored silently.
    pub fn handle_frame(&mut self, now: Timestamp, frame: &Frame) {
        let Some(data) = frame.payload() else {
            return;
        };
        if frame.id() != Some(self.cfg.rx_id) {
            return;
        }
        let can_dl = data.len();
        let pdu_bytes = match self.cfg.addressing {
            Addressing::Normal => data,
            Addressing::Extended { rx_addr, .. } => match data.split_first() {
                Some((&a, rest)) if a == rx_addr => rest,
                _ => return,
            },
        };
        // Anything from the peer shows the bus works: confirm what we had in flight.
        if let Some(f) = self.in_flight.take() {
            self.complete(now, f.kind);
        }
        let pdu = match Pdu::parse(pdu_bytes, can_dl) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(error = %e, "isotp frame ignored");
                self.push(ChannelEvent::Ignored(IgnoreReason::Malformed(e)));
                return;
            }
        };
        match pdu {
            Pdu::Single { data, .. } => {
                self.interrupt_rx();
                self.push(ChannelEvent::Received(data.to_vec()));
            }
            Pdu::First { len, data } => self.on_first_frame(now, len, data, can_dl, frame.is_fd()),
            Pdu::Consecutive { sn, data } => self.on_consecutive(now, sn, data),
            Pdu::FlowControl(fc) => self.on_flow_control(now, fc),
        }
    }

    fn on_first_frame(&mut self, _now: Timestamp, len: u32, data: &[u8], can_dl: usize, fd: bool) {
        let ae = self.cfg.addressing.overhead();
        let sf_cap = if can_dl > 8 {
            can_dl.saturating_sub(2 + ae)
        } else {
            7usize.saturating_sub(ae)
        };
        if can_dl < 8 || (len as usize) <= sf_cap {
            self.push(ChannelEvent::Ignored(IgnoreReason::InvalidFirstFrame {
                ff_dl: len,
                can_dl,
            }));
            return;
        }
        self.interrupt_rx();
        if len > self.cfg.max_rx_size {
            self.fc_pending = Some((
                FlowControl {
                    status: FlowStatus::Overflow,
                    block_size: 0,
                    st_min: StMin::ZERO,
                },
                fd,
            ));
            self.push(ChannelEvent::ReceiveFailed(ReceiveFailure::TooLarge {
                len,
                max: self.cfg.max_rx_size,
            }));
            return;
        }
        let expected = len as usize;
        self.rx.buf.clear();
        self.rx.buf.reserve(expected);
        self.rx
            .buf
            .extend_from_slice(data.get(..expected.min(data.len())).unwrap_or(&[]));
        self.rx.expected = expected;
        self.rx.active = true;
        self.rx.deadline = None;
        self.rx.sn = 1;
        self.rx.block_count = 0;
        self.rx.cf_cap = can_dl - 1 - ae;
        self.rx.fd = fd;
        self.fc_pending = Some((FlowControl::cts(self.cfg.block_size, self.cfg.st_min), fd));
        self.push(ChannelEvent::RxFirstFrame { len });
    }

    fn on_consecutive(&mut self, now: Timestamp, sn: u8, data: &[u8]) {
        if !self.rx.active {
            self.push(ChannelEvent::Ignored(IgnoreReason::UnexpectedPdu(
                PduKind::Consecutive,
            )));
            return;
        }
        if sn != self.rx.sn {
            let expected = self.rx.sn;
            self.abort_receive();
            self.push(ChannelEvent::ReceiveFailed(
                ReceiveFailure::WrongSequenceNumber { expected, got: sn },
            ));
            return;
        }
        let missing = self.rx.expected.saturating_sub(self.rx.buf.len());
        let need = missing.min(self.rx.cf_cap);
        let Some(chunk) = data.get(..need) else {
            self.abort_receive();
            self.push(ChannelEvent::ReceiveFailed(ReceiveFailure::InvalidLength {
                expected: need,
                got: data.len(),
            }));
            return;
        };
        self.rx.buf.extend_from_slice(chunk);
        self.rx.sn = (self.rx.sn + 1) & 0x0F;
        if self.rx.buf.len() >= self.rx.expected {
            let msg = core::mem::take(&mut self.rx.buf);
            self.abort_receive();
            self.push(ChannelEvent::Received(msg));
            return;
        }
        self.rx.block_count = self.rx.block_count.saturating_add(1);
        if self.cfg.block_size != 0 && self.rx.block_count >= self.cfg.block_size {
            self.rx.block_count = 0;
            self.rx.deadline = None;
            self.fc_pending = Some((
                FlowControl::cts(self.cfg.block_size, self.cfg.st_min),
                self.rx.fd,
            ));
        } else {
            self.rx.deadline = Some(now + self.cfg.n_cr);
        }
    }

    fn on_flow_control(&mut self, now: Timestamp, fc: FlowControl) {
        if !matches!(self.tx.state, TxState::WaitFc { .. }) {
            self.push(ChannelEvent::Ignored(IgnoreReason::UnexpectedPdu(
                PduKind::FlowControl,
            )));
            return;
        }
        match fc.status {
            FlowStatus::ContinueToSend => {
                if self.tx.bs.is_none() {
                    self.tx.bs = Some(fc.block_size);
                    self.tx.st_min = self
                        .cfg
                        .tx_st_min_override
                        .unwrap_or_else(|| fc.st_min.duration());
                }
                self.tx.waits = 0;
                self.tx.block_left = self.tx.bs.unwrap_or(0);
                self.tx.state = TxState::Cf { due: now };
            }
            FlowStatus::Wait => {
                self.tx.waits = self.tx.waits.saturating_add(1);
                if self.tx.waits > self.cfg.max_wait_frames {
                    self.reset_tx();
                    self.push(ChannelEvent::SendFailed(SendFailure::WaitLimit(
                        self.cfg.max_wait_frames,
                    )));
                } else {
                    self.tx.state = TxState::WaitFc {
                        deadline: now + self.cfg.n_bs,
                    };
                }
            }
            FlowStatus::Overflow => {
                self.reset_tx();
                self.push(ChannelEvent::SendFailed(SendFailure::Overflow));
            }
        }
    }

    fn interrupt_rx(&mut self) {
        if self.rx.active {
            let (received, expected) = (self.rx.buf.len(), self.rx.expected);
            self.abort_receive();
            self.push(ChannelEvent::ReceiveFailed(ReceiveFailure::Interrupted {
                received,
                expected,
            }));
        }
    }

    fn sent(&mut self, now: Timestamp, kind: SentKind, timeout: Duration, frame: Frame) {
        if self.cfg.tx_confirmations {
            self.in_flight = Some(InFlight {
                kind,
                frame,
                deadline: now + timeout,
            });
        } else {
            self.complete(now, kind);
        }
    }

    fn complete(&mut self, now: Timestamp, kind: SentKind) {
        match kind {
            SentKind::Fc(FlowStatus::ContinueToSend) => {
                if self.rx.active && self.fc_pending.is_none() {
                    self.rx.deadline = Some(now + self.cfg.n_cr);
                }
            }
            SentKind::Fc(_) => {}
            SentKind::Data(after) => {
                if self.tx.state != TxState::InFlight {
                    return;
                }
                match after {
                    AfterData::Done => {
                        let len = self.tx.data.len();
                        self.reset_tx();
                        self.push(ChannelEvent::Sent { len });
                    }
                    AfterData::WaitFc => {
                        self.tx.state = TxState::WaitFc {
                            deadline: now + self.cfg.n_bs,
                        }
                    }
                    AfterData::NextCf => {
                        self.tx.state = TxState::Cf {
                            due: now + self.tx.st_min,
                        }
                    }
                }
            }
        }
    }

    /// Address byte + N_PDU + padding, as a classic or FD frame on the tx id.
    fn build(&self, buf: &mut [u8; 64], pdu: &Pdu<'_>, fd: bool) -> Option<Frame> {
        let ae = self.cfg.addressing.overhead();
        if let Addressing::Extended { tx_addr, .. } = self.cfg.addressing {
            buf[0] = tx_addr;
        }
        let n = ae + pdu.emit(buf.get_mut(ae..)?).ok()?;
        let target = match (self.cfg.padding, fd) {
            (Some(_), _) if n <= 8 => 8,
            (_, true) if n > 8 => fd_round_up_len(n)?,
            _ => n,
        };
        let fill = self.cfg.padding.unwrap_or(0xCC);
        buf.get_mut(n..target)?.fill(fill);
        let bytes = buf.get(..target)?;
        let brs = matches!(self.cfg.format, FrameFormat::Fd { brs: true, .. });
        let f = if fd {
            Frame::fd(self.cfg.tx_id, bytes, brs)
        } else {
            Frame::classic(self.cfg.tx_id, bytes)
        };
        f.ok()
    }

    fn fail_internal(&mut self) {
        tracing::error!("isotp: could not build a frame; transmission aborted");
        self.reset_tx();
        self.push(ChannelEvent::SendFailed(SendFailure::Internal));
    }

    fn reset_tx(&mut self) {
        self.tx.state = TxState::Idle;
        self.tx.data.clear();
        self.tx.offset = 0;
    }

    fn reset_rx(&mut self) {
        self.rx.active = false;
        self.rx.deadline = None;
        self.rx.buf.clear();
        self.rx.expected = 0;
    }

    fn push(&mut self, e: ChannelEvent) {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            tracing::warn!("isotp event queue full: oldest event dropped");
            self.events.pop_front();
        }
        self.events.push_back(e);
    }
}

impl Machine for Channel {
    fn handle_frame(&mut self, now: Timestamp, frame: &Frame) {
        Channel::handle_frame(self, now, frame);
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        Channel::handle_timeout(self, now);
    }

    fn poll_transmit(&mut self, now: Timestamp) -> Option<Frame> {
        Channel::poll_transmit(self, now)
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        Channel::poll_timeout(self)
    }
}
