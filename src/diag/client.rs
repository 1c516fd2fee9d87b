//! A sans-IO diagnostic client engine for KWP2000 (ISO 14230-3) and UDS (ISO 14229-1) over
//! any transport that carries whole PDUs (ISO-TP, ISO 15765-2, in practice).
//!
//! The engine owns the request/response timing rules and nothing else: it never touches a
//! socket, a timer or the system clock, and it never changes or interprets the bytes it is given
//! (`10 C0` goes out as `10 C0`; whether a reply is expected is the caller's `expect_response`,
//! never a guess from a UDS suppress bit).
//!
//! # Calling contract (quinn-proto / smoltcp style)
//! - [`Client::request`] accepts one request at a time (a second one while the first is in
//!   flight is rejected with [`ClientError::Busy`]; the only queue is a one-slot wait behind an
//!   automatic keep-alive that expects a reply).
//! - The driver then loops: [`Client::poll_transmit`] until `None` and hand each PDU to ISO-TP;
//!   [`Client::poll_event`] until `None`; sleep until [`Client::poll_timeout`] or until a PDU is
//!   received; on a PDU call [`Client::handle_pdu`], on the deadline [`Client::handle_timeout`]
//!   then [`Client::poll_transmit`] again (keep-alives and retries go out from `poll_transmit`
//!   once their time has come). All inputs take `now`; a response handled before
//!   `handle_timeout` at the same instant wins.
//! - Protocol outcomes are [`ClientEvent`]s, never `Err`: positive, negative, timeout, each `0x78`
//!   (pending), each `0x21` retry, mismatched and unsolicited PDUs, keep-alives, session changes.
//!
//! # Timing rules
//! - P2 (default 1 s, the client-side timeout of the domain notes) runs from the transmission
//!   (or from [`Client::tx_complete`] if the driver reports the end of a long ISO-TP transfer)
//!   until the first response.
//! - Each `7F SID 78` restarts P2* (default 5 s). At most `max_pending` (default 100) `0x78`s
//!   are accepted; one more ends the request with [`TimeoutReason::PendingLimit`]. An optional
//!   overall cap bounds the whole exchange; it is off by default, unlike udsoncan's hard 5 s
//!   overall timeout that fires while the ECU is still answering `0x78`.
//! - `7F SID 21` (busyRepeatRequest) resends the same bytes after a back-off (default 100 ms,
//!   doubling, at most 1 s, at most 5 retries); when retries are exhausted the last `0x21` is
//!   reported as a [`ClientEvent::Negative`].
//! - A PDU that does not answer the request in flight is reported ([`ClientEvent::Mismatched`]) and
//!   ignored (the timer keeps running); a PDU with nothing in flight is [`ClientEvent::Unsolicited`].
//!
//! # Session tracking and keep-alive
//! The session is learned from positive responses: `10 xx` enters session `xx` (the request's
//! second byte as sent); a positive `11` (EcuReset), and in KWP2000 a positive `20`
//! (StopDiagnosticSession) or `82` (StopCommunication), return to the configured default
//! session (`0x81` for Nissan KWP2000, `0x01` for UDS). While a non-default session is open
//! and nothing is in flight, the keep-alive PDU (default `3E 80`, no reply expected) is sent
//! when `period` (default 2 s) has passed since the last activity, where activity is any
//! transmission or any response that answers the request in flight (a `0x78` included).
//! Keep-alive pauses while a request is in flight and stops when the default session is
//! entered, on [`Client::reset_session_tracking`] or on [`Client::close`]. Servers drop back to
//! the default session after S3, about 5 s without traffic, so the 2 s default period leaves
//! room for a missed frame (a 370Z BCM was held in `0xC0` with `3E 80` every 2.5 s).

use core::fmt;
use core::time::Duration;
use std::collections::VecDeque;

use super::codec::{Dialect, Nrc, ResponseClass, Unrelated, classify_response};
use crate::time::Timestamp;

/// The largest number of undrained events kept; older ones are dropped (and counted) beyond it.
pub const MAX_QUEUED_EVENTS: usize = 1024;

/// Identifies one request accepted by [`Client::request`]; increasing from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Back-off for `0x21` busyRepeatRequest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyRetry {
    /// Delay before the first retry (default 100 ms); doubles for each further retry.
    pub initial_delay: Duration,
    /// Upper bound of the delay (default 1 s).
    pub max_delay: Duration,
    /// Retries before the `0x21` is reported as a negative response (default 5).
    pub max_retries: u32,
}

impl Default for BusyRetry {
    fn default() -> Self {
        BusyRetry {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_retries: 5,
        }
    }
}

impl BusyRetry {
    /// The delay before retry number `attempt` (1-based): `initial * 2^(attempt-1)`, capped.
    pub fn delay(&self, attempt: u32) -> Duration {
        let shift = attempt.saturating_sub(1).min(31);
        self.initial_delay
            .checked_mul(1u32 << shift)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

/// The automatic keep-alive (TesterPresent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepAlive {
    /// The PDU sent as is (default `3E 80`).
    pub pdu: Vec<u8>,
    /// Idle time after the last activity before it is sent (default 2 s; S3 is about 5 s).
    pub period: Duration,
    /// Whether the ECU answers it (default `false`: `3E 80` suppresses the reply).
    pub expect_response: bool,
}

impl Default for KeepAlive {
    fn default() -> Self {
        KeepAlive {
            pdu: vec![0x3E, 0x80],
            period: Duration::from_secs(2),
            expect_response: false,
        }
    }
}

/// Engine configuration. Build with [`ClientConfig::kwp2000`] or [`ClientConfig::uds`] and
/// change fields as needed; [`Client::new`] validates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The dialect (used for names in logs and for which services end a session).
    pub dialect: Dialect,
    /// Time from transmission to the first response (default 1 s).
    pub p2_timeout: Duration,
    /// Time allowed after each `0x78` (default 5 s).
    pub p2_star_timeout: Duration,
    /// `0x78`s accepted per request (default 100).
    pub max_pending: u32,
    /// Cap on a whole exchange from its first transmission, `0x78`s and retries included
    /// (default `None`: no cap).
    pub overall_timeout: Option<Duration>,
    /// `0x21` back-off.
    pub busy_retry: BusyRetry,
    /// The session value that means "default session" (0x81 Nissan KWP2000, 0x01 UDS).
    pub default_session: u8,
    /// The keep-alive, or `None` for no automatic keep-alive.
    pub keep_alive: Option<KeepAlive>,
}

impl ClientConfig {
    /// Defaults for a KWP2000 ECU (Nissan body modules): default session `0x81`, keep-alive `3E 80`.
    pub fn kwp2000() -> Self {
        ClientConfig {
            dialect: Dialect::Kwp2000,
            p2_timeout: Duration::from_secs(1),
            p2_star_timeout: Duration::from_secs(5),
            max_pending: 100,
            overall_timeout: None,
            busy_retry: BusyRetry::default(),
            default_session: Dialect::Kwp2000.default_session(),
            keep_alive: Some(KeepAlive::default()),
        }
    }

    /// Defaults for a UDS ECU: default session `0x01`, keep-alive `3E 80` (suppressed reply).
    pub fn uds() -> Self {
        ClientConfig {
            dialect: Dialect::Uds,
            default_session: Dialect::Uds.default_session(),
            ..ClientConfig::kwp2000()
        }
    }

    /// The defaults for `dialect`: [`ClientConfig::kwp2000`] or [`ClientConfig::uds`].
    pub fn for_dialect(dialect: Dialect) -> Self {
        match dialect {
            Dialect::Kwp2000 => ClientConfig::kwp2000(),
            Dialect::Uds => ClientConfig::uds(),
        }
    }

    /// Checks the values that would make the engine spin or never time out.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.p2_timeout.is_zero() {
            return Err(ConfigError::ZeroDuration("p2_timeout"));
        }
        if self.p2_star_timeout.is_zero() {
            return Err(ConfigError::ZeroDuration("p2_star_timeout"));
        }
        if self.overall_timeout.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::ZeroDuration("overall_timeout"));
        }
        if let Some(ka) = &self.keep_alive {
            if ka.period.is_zero() {
                return Err(ConfigError::ZeroDuration("keep_alive.period"));
            }
            if ka.pdu.is_empty() {
                return Err(ConfigError::EmptyKeepAlive);
            }
        }
        Ok(())
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig::kwp2000()
    }
}

/// A configuration the engine refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A duration that must be positive is zero.
    #[error("{0} must be longer than zero")]
    ZeroDuration(&'static str),
    /// The keep-alive PDU is empty.
    #[error("the keep-alive PDU is empty")]
    EmptyKeepAlive,
}

/// Per-request options; `Default` expects a response and uses the configured timings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestOptions {
    /// Whether to wait for a reply. `false` completes the request when it is transmitted
    /// ([`ClientEvent::SentNoResponse`]); use it only when the caller knows the ECU stays silent
    /// (for example KWP2000 `3E 80`).
    pub expect_response: bool,
    /// Overrides [`ClientConfig::p2_timeout`].
    pub p2_timeout: Option<Duration>,
    /// Overrides [`ClientConfig::p2_star_timeout`].
    pub p2_star_timeout: Option<Duration>,
    /// Overrides [`ClientConfig::overall_timeout`] (a cap for this request).
    pub overall_timeout: Option<Duration>,
    /// Overrides [`BusyRetry::max_retries`].
    pub max_busy_retries: Option<u32>,
}

impl Default for RequestOptions {
    fn default() -> Self {
        RequestOptions {
            expect_response: true,
            p2_timeout: None,
            p2_star_timeout: None,
            overall_timeout: None,
            max_busy_retries: None,
        }
    }
}

impl RequestOptions {
    /// Options for a request the ECU does not answer.
    pub fn no_response() -> Self {
        RequestOptions {
            expect_response: false,
            ..RequestOptions::default()
        }
    }
}

/// Why [`Client::request`] refused a request (protocol outcomes are events, not errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Another request is in flight.
    #[error("request {in_flight} is still in flight; wait for its outcome")]
    Busy {
        /// The request in flight.
        in_flight: RequestId,
    },
    /// The PDU is empty.
    #[error("a request PDU needs at least a service id byte")]
    EmptyPdu,
    /// [`Client::close`] was called.
    #[error("the diagnostic client is closed")]
    Closed,
}

/// A PDU for the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The bytes to send, exactly as given to [`Client::request`] or configured for the keep-alive.
    pub pdu: Vec<u8>,
    /// What it is.
    pub kind: TransmitKind,
}

/// What a [`Transmit`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransmitKind {
    /// A caller's request; `attempt` is 1 for the first transmission, 2+ for `0x21` retries.
    Request {
        /// The request.
        id: RequestId,
        /// 1-based transmission count.
        attempt: u32,
    },
    /// The automatic keep-alive.
    KeepAlive,
}

/// Why a request ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeoutReason {
    /// No response within P2 of the transmission.
    P2,
    /// No response within P2* of the last `0x78`.
    P2Star,
    /// More `0x78`s than `max_pending`.
    PendingLimit,
    /// The overall cap expired.
    OverallCap,
}

/// Why a received PDU was not taken as the answer to the request in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MismatchReason {
    /// It does not answer the request's service (see [`Unrelated`]).
    Unrelated(Unrelated),
    /// The request is not waiting for an answer (still to be sent, or in a `0x21` back-off).
    NotAwaiting,
}

/// An outcome or notification; drain with [`Client::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// A positive response (first byte = request SID + 0x40).
    Positive {
        /// The request.
        id: RequestId,
        /// The whole response PDU.
        pdu: Vec<u8>,
        /// From the first transmission to the response.
        elapsed: Duration,
    },
    /// A negative response other than `0x78`, or a `0x21` after the last retry.
    Negative {
        /// The request.
        id: RequestId,
        /// The service id named in the response (the request's).
        sid: u8,
        /// The negative response code.
        nrc: Nrc,
        /// The whole response PDU.
        pdu: Vec<u8>,
        /// From the first transmission to the response.
        elapsed: Duration,
    },
    /// No final answer in time.
    Timeout {
        /// The request.
        id: RequestId,
        /// From the first transmission to the timeout.
        waited: Duration,
        /// Whether at least one `0x78` arrived.
        after_pending: bool,
        /// How many `0x78`s arrived.
        pending_count: u32,
        /// Which rule ended it.
        reason: TimeoutReason,
    },
    /// A request sent with `expect_response: false` went out; it is complete.
    SentNoResponse {
        /// The request.
        id: RequestId,
    },
    /// A `0x78` (response pending) arrived; P2* restarted.
    Pending {
        /// The request.
        id: RequestId,
        /// 1-based count of `0x78`s for this request.
        count: u32,
    },
    /// A `0x21` (busy) arrived; the same bytes go out again after `after`.
    Retrying {
        /// The request.
        id: RequestId,
        /// 1-based retry number.
        attempt: u32,
        /// The back-off before the retry.
        after: Duration,
    },
    /// A PDU arrived that does not answer the request in flight; it was ignored.
    Mismatched {
        /// The request in flight.
        id: RequestId,
        /// The PDU.
        pdu: Vec<u8>,
        /// Why it was not taken.
        reason: MismatchReason,
    },
    /// A PDU arrived with no caller request in flight.
    Unsolicited {
        /// The PDU.
        pdu: Vec<u8>,
    },
    /// The keep-alive went out.
    KeepAliveSent,
    /// A reply to a keep-alive that expects one (`nrc` is set for a negative reply).
    KeepAliveReply {
        /// The reply PDU.
        pdu: Vec<u8>,
        /// The negative response code, for `7F 3E xx`.
        nrc: Option<Nrc>,
    },
    /// A keep-alive that expects a reply got none.
    KeepAliveTimeout {
        /// From transmission to the timeout.
        waited: Duration,
    },
    /// The tracked session changed (learned from a positive response).
    SessionChanged {
        /// The new session value.
        session: u8,
        /// Whether it is the configured default session (keep-alive stops).
        is_default: bool,
    },
    /// The request was abandoned by [`Client::cancel`] or [`Client::close`].
    Cancelled {
        /// The request.
        id: RequestId,
    },
}

impl ClientEvent {
    /// The caller request the event is about, if any.
    pub fn request_id(&self) -> Option<RequestId> {
        match self {
            ClientEvent::Positive { id, .. }
            | ClientEvent::Negative { id, .. }
            | ClientEvent::Timeout { id, .. }
            | ClientEvent::SentNoResponse { id }
            | ClientEvent::Pending { id, .. }
            | ClientEvent::Retrying { id, .. }
            | ClientEvent::Mismatched { id, .. }
            | ClientEvent::Cancelled { id } => Some(*id),
            ClientEvent::Unsolicited { .. }
            | ClientEvent::KeepAliveSent
            | ClientEvent::KeepAliveReply { .. }
            | ClientEvent::KeepAliveTimeout { .. }
            | ClientEvent::SessionChanged { .. } => None,
        }
    }

    /// Whether this is the final outcome of a request (positive, negative, timeout, sent
    /// without response, cancelled): exactly one per accepted request.
    pub fn is_outcome(&self) -> bool {
        matches!(
            self,
            ClientEvent::Positive { .. }
                | ClientEvent::Negative { .. }
                | ClientEvent::Timeout { .. }
                | ClientEvent::SentNoResponse { .. }
                | ClientEvent::Cancelled { .. }
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for `poll_transmit`.
    Ready,
    /// `0x21` back-off until the given time.
    Backoff(Timestamp),
    /// Transmitted; the deadline and the rule that sets it.
    Awaiting(Timestamp, TimeoutReason),
}

#[derive(Debug, Clone)]
struct Exchange {
    /// `None` for the keep-alive.
    id: Option<RequestId>,
    pdu: Vec<u8>,
    expect_response: bool,
    p2: Duration,
    p2_star: Duration,
    overall: Option<Duration>,
    max_retries: u32,
    phase: Phase,
    first_sent: Option<Timestamp>,
    attempts: u32,
    retries: u32,
    pending_count: u32,
}

impl Exchange {
    fn cap(&self) -> Option<Timestamp> {
        match (self.first_sent, self.overall) {
            (Some(first), Some(cap)) => Some(first + cap),
            _ => None,
        }
    }

    /// The deadline `base` for `reason`, or the overall cap if that comes first.
    fn deadline(&self, base: Timestamp, reason: TimeoutReason) -> Phase {
        match self.cap() {
            Some(cap) if cap <= base => Phase::Awaiting(cap, TimeoutReason::OverallCap),
            _ => Phase::Awaiting(base, reason),
        }
    }

    fn ready(&self, now: Timestamp) -> bool {
        match self.phase {
            Phase::Ready => true,
            Phase::Backoff(until) => now >= until,
            Phase::Awaiting(..) => false,
        }
    }

    fn since_first(&self, now: Timestamp) -> Duration {
        self.first_sent
            .map_or(Duration::ZERO, |f| now.saturating_duration_since(f))
    }
}

/// The diagnostic client engine (see the module doc for the calling contract).
#[derive(Debug, Clone)]
pub struct Client {
    config: ClientConfig,
    next_id: u64,
    current: Option<Exchange>,
    /// A caller request waiting behind a keep-alive that expects a reply.
    queued: Option<Exchange>,
    events: VecDeque<ClientEvent>,
    dropped_events: u64,
    session: Option<u8>,
    last_activity: Option<Timestamp>,
    closed: bool,
}

impl Client {
    /// A client with `config` (validated).
    pub fn new(config: ClientConfig) -> Result<Client, ConfigError> {
        config.validate()?;
        Ok(Client {
            config,
            next_id: 1,
            current: None,
            queued: None,
            events: VecDeque::new(),
            dropped_events: 0,
            session: None,
            last_activity: None,
            closed: false,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The tracked session: `None` until a session-changing positive response was seen (or
    /// after [`Client::reset_session_tracking`]).
    pub fn session(&self) -> Option<u8> {
        self.session
    }

    /// Whether the tracked session is a non-default one (so keep-alive is active).
    pub fn in_non_default_session(&self) -> bool {
        self.session
            .is_some_and(|s| s != self.config.default_session)
    }

    /// The caller request in flight (queued, sent, waiting or backing off), if any.
    pub fn in_flight(&self) -> Option<RequestId> {
        self.current
            .as_ref()
            .and_then(|e| e.id)
            .or_else(|| self.queued.as_ref().and_then(|e| e.id))
    }

    /// Whether [`Client::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Events dropped because more than [`MAX_QUEUED_EVENTS`] were left undrained.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Accepts a request PDU, sent as is by the next [`Client::poll_transmit`].
    ///
    /// Rejected with [`ClientError::Busy`] while another caller request is in flight, with
    /// [`ClientError::EmptyPdu`] for an empty PDU and [`ClientError::Closed`] after `close`.
    /// `now` is accepted for symmetry and tracing; timers start at transmission.
    pub fn request(
        &mut self,
        now: Timestamp,
        pdu: &[u8],
        opts: RequestOptions,
    ) -> Result<RequestId, ClientError> {
        if self.closed {
            return Err(ClientError::Closed);
        }
        if let Some(in_flight) = self.in_flight() {
            return Err(ClientError::Busy { in_flight });
        }
        if pdu.is_empty() {
            return Err(ClientError::EmptyPdu);
        }
        let id = RequestId(self.next_id);
        self.next_id = self.next_id.saturating_add(1);
        let ex = Exchange {
            id: Some(id),
            pdu: pdu.to_vec(),
            expect_response: opts.expect_response,
            p2: opts.p2_timeout.unwrap_or(self.config.p2_timeout),
            p2_star: opts.p2_star_timeout.unwrap_or(self.config.p2_star_timeout),
            overall: opts.overall_timeout.or(self.config.overall_timeout),
            max_retries: opts
                .max_busy_retries
                .unwrap_or(self.config.busy_retry.max_retries),
            phase: Phase::Ready,
            first_sent: None,
            attempts: 0,
            retries: 0,
            pending_count: 0,
        };
        tracing::debug!(%id, %now, pdu = ?pdu, "diag request accepted");
        if self.current.is_some() {
            // Only a keep-alive can be current here: wait behind it.
            self.queued = Some(ex);
        } else {
            self.current = Some(ex);
        }
        Ok(id)
    }

    /// The next PDU to send at `now`: a caller request (first transmission or a due `0x21`
    /// retry), else a due keep-alive. Never anything else.
    pub fn poll_transmit(&mut self, now: Timestamp) -> Option<Transmit> {
        if self.closed {
            return None;
        }
        if self.current.is_none() && self.keep_alive_due().is_some_and(|t| now >= t) {
            let ka = self.config.keep_alive.as_ref()?;
            self.current = Some(Exchange {
                id: None,
                pdu: ka.pdu.clone(),
                expect_response: ka.expect_response,
                p2: self.config.p2_timeout,
                p2_star: self.config.p2_star_timeout,
                overall: self.config.overall_timeout,
                max_retries: 0,
                phase: Phase::Ready,
                first_sent: None,
                attempts: 0,
                retries: 0,
                pending_count: 0,
            });
        }
        let ex = self.current.as_mut()?;
        if !ex.ready(now) {
            return None;
        }
        ex.attempts = ex.attempts.saturating_add(1);
        if ex.first_sent.is_none() {
            ex.first_sent = Some(now);
        }
        let transmit = Transmit {
            pdu: ex.pdu.clone(),
            kind: match ex.id {
                Some(id) => TransmitKind::Request {
                    id,
                    attempt: ex.attempts,
                },
                None => TransmitKind::KeepAlive,
            },
        };
        let id = ex.id;
        if ex.expect_response {
            let base = now + ex.p2;
            ex.phase = ex.deadline(base, TimeoutReason::P2);
        }
        let expect_response = ex.expect_response;
        self.last_activity = Some(now);
        match id {
            Some(id) => tracing::debug!(%id, %now, pdu = ?transmit.pdu, "diag request sent"),
            None => tracing::trace!(%now, "diag keep-alive sent"),
        }
        if id.is_none() {
            self.push(ClientEvent::KeepAliveSent);
        }
        if !expect_response {
            if let Some(id) = id {
                self.push(ClientEvent::SentNoResponse { id });
            }
            self.finish();
        }
        Some(transmit)
    }

    /// Tells the engine the transport finished sending the current request at `now` (useful
    /// after a long multi-frame ISO-TP transfer): P2 restarts from `now` if no response has
    /// arrived yet. Optional; without it P2 runs from [`Client::poll_transmit`].
    pub fn tx_complete(&mut self, now: Timestamp) {
        if let Some(ex) = self.current.as_mut()
            && let Phase::Awaiting(_, TimeoutReason::P2) = ex.phase
        {
            ex.phase = ex.deadline(now + ex.p2, TimeoutReason::P2);
        }
    }

    /// A response PDU received at `now`.
    pub fn handle_pdu(&mut self, now: Timestamp, pdu: &[u8]) {
        let Some(mut ex) = self.current.take() else {
            tracing::debug!(pdu = ?pdu, "diag unsolicited PDU");
            self.push(ClientEvent::Unsolicited { pdu: pdu.to_vec() });
            return;
        };
        let id = ex.id;
        if !matches!(ex.phase, Phase::Awaiting(..)) {
            self.current = Some(ex);
            self.mismatched(id, pdu, MismatchReason::NotAwaiting);
            return;
        }
        match classify_response(&ex.pdu, pdu) {
            ResponseClass::Unrelated(r) => {
                self.current = Some(ex);
                self.mismatched(id, pdu, MismatchReason::Unrelated(r));
            }
            ResponseClass::Positive => {
                self.last_activity = Some(now);
                let elapsed = ex.since_first(now);
                match id {
                    Some(id) => {
                        tracing::debug!(%id, ?elapsed, pdu = ?pdu, "diag positive response");
                        self.push(ClientEvent::Positive {
                            id,
                            pdu: pdu.to_vec(),
                            elapsed,
                        });
                        self.learn_session(&ex.pdu);
                    }
                    None => self.push(ClientEvent::KeepAliveReply {
                        pdu: pdu.to_vec(),
                        nrc: None,
                    }),
                }
                self.finish();
            }
            ResponseClass::Negative { nrc } if nrc == Nrc::RESPONSE_PENDING => {
                self.last_activity = Some(now);
                ex.pending_count = ex.pending_count.saturating_add(1);
                let count = ex.pending_count;
                if count > self.config.max_pending {
                    let waited = ex.since_first(now);
                    self.end_with_timeout(
                        &ex,
                        waited,
                        count.saturating_sub(1),
                        TimeoutReason::PendingLimit,
                    );
                    return;
                }
                ex.phase = ex.deadline(now + ex.p2_star, TimeoutReason::P2Star);
                self.current = Some(ex);
                if let Some(id) = id {
                    tracing::debug!(%id, count, "diag response pending (0x78)");
                    self.push(ClientEvent::Pending { id, count });
                }
            }
            ResponseClass::Negative { nrc }
                if nrc == Nrc::BUSY_REPEAT_REQUEST
                    && id.is_some()
                    && ex.retries < ex.max_retries =>
            {
                self.last_activity = Some(now);
                ex.retries = ex.retries.saturating_add(1);
                let attempt = ex.retries;
                let after = self.config.busy_retry.delay(attempt);
                ex.phase = Phase::Backoff(now + after);
                self.current = Some(ex);
                if let Some(id) = id {
                    tracing::debug!(%id, attempt, ?after, "diag busy (0x21), retrying");
                    self.push(ClientEvent::Retrying { id, attempt, after });
                }
            }
            ResponseClass::Negative { nrc } => {
                self.last_activity = Some(now);
                let elapsed = ex.since_first(now);
                let sid = ex.pdu.first().copied().unwrap_or(0);
                match id {
                    Some(id) => {
                        tracing::debug!(%id, %nrc, name = nrc.name(self.config.dialect), "diag negative response");
                        self.push(ClientEvent::Negative {
                            id,
                            sid,
                            nrc,
                            pdu: pdu.to_vec(),
                            elapsed,
                        });
                    }
                    None => self.push(ClientEvent::KeepAliveReply {
                        pdu: pdu.to_vec(),
                        nrc: Some(nrc),
                    }),
                }
                self.finish();
            }
        }
    }

    /// Processes expired timers at `now` (P2, P2*, the overall cap). Harmless at any time.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let Some(ex) = self.current.take() else {
            return;
        };
        let reason = match ex.phase {
            Phase::Awaiting(deadline, reason) if now >= deadline => reason,
            Phase::Backoff(_) if ex.cap().is_some_and(|c| now >= c) => TimeoutReason::OverallCap,
            _ => {
                self.current = Some(ex);
                return;
            }
        };
        let waited = ex.since_first(now);
        self.end_with_timeout(&ex, waited, ex.pending_count, reason);
    }

    /// The next instant at which [`Client::handle_timeout`] or [`Client::poll_transmit`] has
    /// something to do; `None` if nothing is timed (a request accepted but not yet polled out
    /// is not timed: call `poll_transmit` after `request`). The earlier of
    /// [`Client::timer_deadline`] and [`Client::transmit_deadline`].
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match (self.timer_deadline(), self.transmit_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When [`Client::handle_timeout`] ends the exchange in progress (P2, P2*, the overall
    /// cap), if it is timed.
    pub fn timer_deadline(&self) -> Option<Timestamp> {
        if self.closed {
            return None;
        }
        let ex = self.current.as_ref()?;
        match ex.phase {
            Phase::Ready => None,
            Phase::Backoff(_) => ex.cap(),
            Phase::Awaiting(deadline, _) => Some(deadline),
        }
    }

    /// When [`Client::poll_transmit`] next has a PDU that is waiting for its time (a `0x21`
    /// retry after its back-off, a keep-alive). A transport that is busy can ignore it until it
    /// is free again: nothing is lost by polling late, the PDU simply goes out then.
    pub fn transmit_deadline(&self) -> Option<Timestamp> {
        if self.closed {
            return None;
        }
        match &self.current {
            Some(ex) => match ex.phase {
                Phase::Backoff(until) => Some(until),
                Phase::Ready | Phase::Awaiting(..) => None,
            },
            None => self.keep_alive_due(),
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Abandons the caller request in flight (queued, waiting or backing off) and reports
    /// [`ClientEvent::Cancelled`]; a late answer to it is then unsolicited. Returns its id.
    pub fn cancel(&mut self) -> Option<RequestId> {
        if let Some(id) = self.queued.take().and_then(|e| e.id) {
            self.push(ClientEvent::Cancelled { id });
            return Some(id);
        }
        let id = self.current.as_ref().and_then(|e| e.id)?;
        self.current = None;
        self.push(ClientEvent::Cancelled { id });
        Some(id)
    }

    /// Forgets the tracked session (keep-alive stops until a session is learned again).
    pub fn reset_session_tracking(&mut self) {
        self.session = None;
    }

    /// Tells the engine the ECU is in `session` (when the caller knows it without a response,
    /// e.g. after a `10 xx` sent with `expect_response: false`). Emits
    /// [`ClientEvent::SessionChanged`] if it differs. Keep-alive counts from the last activity, or
    /// from `now` if there was none.
    pub fn assume_session(&mut self, now: Timestamp, session: u8) {
        self.last_activity.get_or_insert(now);
        self.set_session(session);
    }

    /// Stops everything: cancels the request in flight ([`ClientEvent::Cancelled`]), stops the
    /// keep-alive, forgets the session; later requests get [`ClientError::Closed`]. The caller
    /// sends any closing request (`10 81`) before calling this.
    pub fn close(&mut self) {
        self.cancel();
        self.current = None;
        self.queued = None;
        self.session = None;
        self.closed = true;
    }

    fn keep_alive_due(&self) -> Option<Timestamp> {
        let ka = self.config.keep_alive.as_ref()?;
        if self.closed || !self.in_non_default_session() {
            return None;
        }
        Some(self.last_activity? + ka.period)
    }

    fn learn_session(&mut self, request: &[u8]) {
        let default = self.config.default_session;
        let session = match (request, self.config.dialect) {
            ([0x10, s, ..], _) => *s,
            ([0x11, ..], _) => default,
            ([0x20 | 0x82, ..], Dialect::Kwp2000) => default,
            _ => return,
        };
        self.set_session(session);
    }

    fn set_session(&mut self, session: u8) {
        if self.session != Some(session) {
            self.session = Some(session);
            let is_default = session == self.config.default_session;
            tracing::debug!(session, is_default, "diag session changed");
            self.push(ClientEvent::SessionChanged {
                session,
                is_default,
            });
        }
    }

    fn mismatched(&mut self, id: Option<RequestId>, pdu: &[u8], reason: MismatchReason) {
        tracing::debug!(?id, pdu = ?pdu, ?reason, "diag PDU does not answer the request in flight");
        let ev = match id {
            Some(id) => ClientEvent::Mismatched {
                id,
                pdu: pdu.to_vec(),
                reason,
            },
            None => ClientEvent::Unsolicited { pdu: pdu.to_vec() },
        };
        self.push(ev);
    }

    /// Reports the timeout of `ex` (already taken out of `current`) and moves on.
    fn end_with_timeout(
        &mut self,
        ex: &Exchange,
        waited: Duration,
        pending_count: u32,
        reason: TimeoutReason,
    ) {
        match ex.id {
            Some(id) => {
                tracing::debug!(%id, ?waited, ?reason, "diag request timed out");
                self.push(ClientEvent::Timeout {
                    id,
                    waited,
                    after_pending: ex.pending_count > 0,
                    pending_count,
                    reason,
                });
            }
            None => self.push(ClientEvent::KeepAliveTimeout { waited }),
        }
        self.finish();
    }

    /// Ends the current exchange; a queued request becomes current.
    fn finish(&mut self) {
        self.current = self.queued.take();
    }

    fn push(&mut self, ev: ClientEvent) {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.events.pop_front();
            self.dropped_events = self.dropped_events.saturating_add(1);
            tracing::warn!("diag client event queue full; dropping the oldest event");
        }
        self.events.push_back(ev);
    }
}
