//! A diagnostic session on one bus: a sans-IO diagnostic [`Link`] (the ISO 14230-3 / ISO
//! 14229-1 client with P2, P2*, `0x78`, `0x21` and keep-alive, on an ISO 15765-2 channel) for
//! one request id / response id pair, run by the shared driver loop
//! ([`super::machine::run`]) until each request's outcome.
//!
//! # Contract
//! - [`DiagSession::request`] sends one PDU and drives the link until the request's outcome:
//!   [`RequestOutcome::Positive`], [`RequestOutcome::Negative`], [`RequestOutcome::Timeout`],
//!   [`RequestOutcome::SentNoResponse`] (once its last frame is written), or
//!   [`RequestOutcome::SendFailed`] when ISO-TP could not deliver the request (e.g. no flow
//!   control). The client's other events seen meanwhile (each `0x78`, each `0x21` retry,
//!   mismatched PDUs, keep-alives, session changes) come back in [`Reply::events`]; negative
//!   responses and timeouts are outcomes, not errors.
//! - Between requests nothing runs by itself: a caller that keeps a non-default session open
//!   while it waits calls [`DiagSession::idle_for`] / [`DiagSession::idle_until`] instead of
//!   sleeping, so the keep-alive the client schedules (default `3E 80` every 2 s) goes out.
//! - [`DiagSession::close`] returns the module to its default session with the configured
//!   closing request (default `10` + the dialect's default session, `10 81` for KWP2000) when
//!   a non-default session is open, then closes the client (keep-alive stops).
//! - A [`FrameObserver`] sees every CAN frame written (with the clock after the write) and
//!   read (with the bus's receive timestamp).
//! - Timers read the [`Clock`] given to [`DiagSession::new`]; frames are handled at the
//!   clock's time when they are read. For SocketCAN use [`super::isotp::unix_tokio_clock`], for
//!   a [`crate::bus::VirtualBus`] the bus's own clock.

use core::convert::Infallible;
use core::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use crate::bus::consent::describe_request;
use crate::bus::{Bus, BusError, Clock, Received};
use crate::diag::client::{self, ClientConfig, ClientError, RequestId, RequestOptions};
use crate::diag::report::ReplyReport;
use crate::diag::{Dialect, Link, LinkError, LinkEvent};
use crate::frame::{Frame, Id};
use crate::isotp::{self, SendFailure};
use crate::sim::profile::{DiagIdsError, Profile};
use crate::time::Timestamp;

pub use crate::diag::RequestOutcome;
pub use crate::diag::link::SetupError;

use super::isotp::{FrameDirection, FrameObserver, IsoTpError, ObservedFrame};
use super::machine::{self, Hooks, Next};

/// The settings of a [`DiagSession`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// ISO-TP: ids, padding, CAN FD, flow control.
    pub isotp: isotp::Config,
    /// The client engine: dialect, P2/P2*, keep-alive, default session.
    pub client: ClientConfig,
    /// What [`DiagSession::close`] sends when a non-default session is open (`None`: nothing).
    pub close_request: Option<Vec<u8>>,
}

impl SessionConfig {
    /// `isotp` with `client`, closing with `10 <default session>`.
    pub fn new(isotp: isotp::Config, client: ClientConfig) -> SessionConfig {
        let close_request = Some(vec![0x10, client.default_session]);
        SessionConfig {
            isotp,
            client,
            close_request,
        }
    }
}

/// The link settings the diagnostic commands take, the same for every id pair: each pair's
/// [`SessionConfig`] is made from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkSettings {
    /// Names of services and codes, default session, keep-alive.
    pub dialect: Dialect,
    /// ISO-TP padding byte (`None`: minimal frame lengths).
    pub padding: Option<u8>,
    /// CAN FD frames (64 bytes, bit rate switch).
    pub fd: bool,
    /// The response timeout P2, instead of the dialect's (at least 1 ms).
    pub p2: Option<Duration>,
    /// The timeout after each response-pending (`0x78`), instead of the dialect's (at least
    /// 1 ms).
    pub p2_star: Option<Duration>,
}

impl LinkSettings {
    /// The padding the diagnostic commands use when neither `--padding` nor the bundled
    /// profile's module names one: `FF`.
    pub const DEFAULT_PADDING: Option<u8> = Some(0xFF);

    /// The session settings for request id `tx` and response id `rx`.
    pub fn session(&self, tx: Id, rx: Id) -> SessionConfig {
        let mut iso = isotp::Config::new(tx, rx);
        iso.padding = self.padding;
        if self.fd {
            iso.format = isotp::FrameFormat::Fd {
                tx_dl: 64,
                brs: true,
            };
        }
        let mut client = ClientConfig::for_dialect(self.dialect);
        if let Some(p2) = self.p2 {
            client.p2_timeout = at_least_1ms(p2);
        }
        if let Some(p2_star) = self.p2_star {
            client.p2_star_timeout = at_least_1ms(p2_star);
        }
        SessionConfig::new(iso, client)
    }

    /// The session settings of a scan's probe: [`LinkSettings::session`] with P2 set to
    /// `timeout` (at least 1 ms) and no keep-alive.
    pub fn probe(&self, tx: Id, rx: Id, timeout: Duration) -> SessionConfig {
        let mut cfg = self.session(tx, rx);
        cfg.client.keep_alive = None;
        cfg.client.p2_timeout = at_least_1ms(timeout);
        cfg
    }
}

/// A timeout of at least 1 ms, as the timeout options have always been taken.
fn at_least_1ms(d: Duration) -> Duration {
    d.max(Duration::from_millis(1))
}

/// Where `diag dtc` sends its request: a module of the simulator profile by name (its ids and
/// its padding), or the request and response ids given (the default padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtcTarget {
    /// The request id.
    pub request: Id,
    /// The response id.
    pub response: Id,
    /// The padding when `--padding` does not name one: the module's, else
    /// [`LinkSettings::DEFAULT_PADDING`].
    pub padding: Option<u8>,
}

impl DtcTarget {
    /// The module `name` of `profile` (any case); its ids are 29-bit when the profile says so
    /// or `extended`.
    pub fn module(profile: &Profile, name: &str, extended: bool) -> Result<Self, DiagIdsError> {
        let ids = profile.diag_ids(name, extended)?;
        Ok(DtcTarget {
            request: ids.request,
            response: ids.response,
            padding: ids.padding.or(LinkSettings::DEFAULT_PADDING),
        })
    }

    /// The ids given, with the default padding.
    pub fn ids(request: Id, response: Id) -> Self {
        DtcTarget {
            request,
            response,
            padding: LinkSettings::DEFAULT_PADDING,
        }
    }

    /// What sending `pdu` to this target does, as the question before it says it: `Send
    /// `18 02 FF 00` (...) to 745 (reads the stored DTCs)`, or `CLEARS or changes` for a
    /// request that changes the module's state.
    pub fn consent(&self, dialect: Dialect, pdu: &[u8]) -> String {
        format!(
            "{} ({} the stored DTCs)",
            request_consent(dialect, pdu, self.request),
            match crate::diag::codec::changes_state(dialect, pdu) {
                true => "CLEARS or changes",
                false => "reads",
            }
        )
    }
}

/// What sending `pdu` on request id `tx` does, as the question before it says it: `Send
/// `10 C0` (StartDiagnosticSession) to 745` (see [`describe_request`]).
pub fn request_consent(dialect: Dialect, pdu: &[u8], tx: Id) -> String {
    format!("Send {} to {}", describe_request(dialect, pdu), tx)
}

/// Why a session operation failed (protocol outcomes are [`RequestOutcome`]s, not errors).
#[derive(Debug, thiserror::Error)]
pub enum DiagError {
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The client refused the request (empty PDU, closed session).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// ISO-TP refused the PDU (too large).
    #[error("ISO-TP refused the request: {0}")]
    IsoTp(#[from] isotp::SendError),
    /// ISO-TP aborted a transmission (only from helpers that send outside a request).
    #[error("ISO-TP send failed: {0}")]
    SendFailed(SendFailure),
}

impl From<IsoTpError> for DiagError {
    fn from(e: IsoTpError) -> Self {
        match e {
            IsoTpError::Bus(b) => DiagError::Bus(b),
            IsoTpError::Refused(r) => DiagError::IsoTp(r),
            IsoTpError::SendFailed(f) => DiagError::SendFailed(f),
        }
    }
}

impl From<LinkError> for DiagError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Client(c) => DiagError::Client(c),
            LinkError::IsoTp(r) => DiagError::IsoTp(r),
        }
    }
}

/// A request's outcome and what happened on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The outcome.
    pub outcome: RequestOutcome,
    /// The client's other events during the request, in order (`Pending`, `Retrying`,
    /// `Mismatched`, `KeepAliveSent`, `SessionChanged`...).
    pub events: Vec<client::ClientEvent>,
}

impl Reply {
    /// How many `0x78` (response pending) answers arrived.
    pub fn pending_count(&self) -> u32 {
        self.events
            .iter()
            .filter(|e| matches!(e, client::ClientEvent::Pending { .. }))
            .count() as u32
    }

    /// What `diag request` says about this reply to `request`, sent on `tx` and answered on
    /// `rx` ([`ReplyReport`]).
    pub fn report(&self, request: &[u8], tx: Id, rx: Id, dialect: Dialect) -> ReplyReport {
        ReplyReport::new(
            &self.outcome,
            self.pending_count(),
            request,
            tx,
            rx,
            dialect,
        )
    }
}

/// A diagnostic [`Link`] on one bus. See the module documentation.
pub struct DiagSession<B: Bus> {
    bus: B,
    clock: Arc<dyn Clock>,
    link: Link,
    observer: Option<FrameObserver>,
    close_request: Option<Vec<u8>>,
    /// Events not tied to a request in progress (keep-alives while idle, unsolicited PDUs).
    background: Vec<client::ClientEvent>,
    last_now: Timestamp,
}

impl<B: Bus> std::fmt::Debug for DiagSession<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiagSession")
            .field("bus", &self.bus.name())
            .field("link", &self.link)
            .field("close_request", &self.close_request)
            .field("background", &self.background.len())
            .field("last_now", &self.last_now)
            .finish_non_exhaustive()
    }
}

impl<B: Bus> DiagSession<B> {
    /// A session on `bus` with timers on `clock` (same time line as the bus's timestamps; see
    /// the module documentation).
    pub fn new(bus: B, config: SessionConfig, clock: Arc<dyn Clock>) -> Result<Self, SetupError> {
        let link = Link::new(config.isotp, config.client)?;
        let last_now = clock.now();
        Ok(DiagSession {
            bus,
            clock,
            link,
            observer: None,
            close_request: config.close_request,
            background: Vec::new(),
            last_now,
        })
    }

    /// Sets (or removes) the hook that sees every CAN frame written and read.
    pub fn set_observer(&mut self, observer: Option<FrameObserver>) {
        self.observer = observer;
    }

    /// The client engine (session tracking, configuration).
    pub fn client(&self) -> &client::Client {
        self.link.client()
    }

    /// The session the client tracks (`None` until a `10 xx` was answered).
    pub fn session(&self) -> Option<u8> {
        self.link.client().session()
    }

    /// The current time on the session's time line (never earlier than a time already used).
    pub fn now(&mut self) -> Timestamp {
        self.last_now = self.last_now.max(self.clock.now());
        self.last_now
    }

    /// Events that happened outside any request (keep-alives while idle, unsolicited PDUs);
    /// drained by this call.
    pub fn take_background_events(&mut self) -> Vec<client::ClientEvent> {
        std::mem::take(&mut self.background)
    }

    /// Gives the bus back.
    pub fn into_bus(self) -> B {
        self.bus
    }

    /// Sends `pdu` as is and waits for its outcome.
    pub async fn request(&mut self, pdu: &[u8], opts: RequestOptions) -> Result<Reply, DiagError> {
        let now = self.now();
        let id = self.link.request(now, pdu, opts)?;
        let mut events = Vec::new();
        match self.drive(Some(id), None, &mut events).await? {
            Some(outcome) => Ok(Reply { outcome, events }),
            // Unreachable: without a deadline `drive` only returns at the outcome.
            None => Err(DiagError::Client(ClientError::Closed)),
        }
    }

    /// Keeps the session alive (keep-alive, ISO-TP timers, unsolicited PDUs) for `d`.
    pub async fn idle_for(&mut self, d: Duration) -> Result<(), DiagError> {
        let until = self.now() + d;
        self.idle_until(until).await
    }

    /// Keeps the session alive until `deadline`.
    pub async fn idle_until(&mut self, deadline: Timestamp) -> Result<(), DiagError> {
        let mut events = Vec::new();
        self.drive(None, Some(deadline), &mut events).await?;
        self.background.extend(events);
        Ok(())
    }

    /// Returns the module to its default session (the configured closing request, sent only
    /// when a non-default session is open) and closes the client: keep-alive stops and later
    /// requests fail with [`ClientError::Closed`]. Returns the closing request's reply, if one
    /// was sent.
    pub async fn close(&mut self) -> Result<Option<Reply>, DiagError> {
        let mut reply = None;
        if self.link.client().in_non_default_session()
            && let Some(req) = self.close_request.clone()
        {
            reply = Some(self.request(&req, RequestOptions::default()).await?);
        }
        self.link.close();
        Ok(reply)
    }

    /// Runs the link until request `id`'s outcome, or until `deadline`.
    async fn drive(
        &mut self,
        id: Option<RequestId>,
        deadline: Option<Timestamp>,
        events: &mut Vec<client::ClientEvent>,
    ) -> Result<Option<RequestOutcome>, DiagError> {
        let mut until = Until {
            id,
            deadline,
            events,
            observer: &mut self.observer,
        };
        let clock = Arc::clone(&self.clock);
        machine::run(&mut self.link, &mut self.bus, &*clock, &mut until).await
    }
}

/// The session's hooks for one drive: stop at request `id`'s outcome or at `deadline`.
struct Until<'a> {
    id: Option<RequestId>,
    deadline: Option<Timestamp>,
    events: &'a mut Vec<client::ClientEvent>,
    observer: &'a mut Option<FrameObserver>,
}

type DriveResult = Result<Option<RequestOutcome>, DiagError>;

impl Until<'_> {
    fn observe(&mut self, at: Timestamp, direction: FrameDirection, frame: Frame) {
        if let Some(obs) = self.observer.as_mut() {
            obs(&ObservedFrame {
                at,
                direction,
                frame,
            });
        }
    }
}

impl Hooks<Link> for Until<'_> {
    type Output = DriveResult;
    type Input = Infallible;

    fn on_write(
        &mut self,
        _: &mut Link,
        frame: &Frame,
        at: Timestamp,
        result: Result<(), BusError>,
    ) -> ControlFlow<DriveResult> {
        match result {
            Ok(()) => {
                self.observe(at, FrameDirection::Sent, *frame);
                ControlFlow::Continue(())
            }
            Err(e) => ControlFlow::Break(Err(e.into())),
        }
    }

    fn after_transmit(
        &mut self,
        link: &mut Link,
        now: Timestamp,
    ) -> ControlFlow<DriveResult, Next> {
        let mut outcome = None;
        while let Some(e) = link.poll_event() {
            match e {
                LinkEvent::Outcome { id, outcome: o } if Some(id) == self.id => outcome = Some(o),
                LinkEvent::Client(e) => self.events.push(e),
                _ => {}
            }
        }
        if let Some(o) = outcome {
            return ControlFlow::Break(Ok(Some(o)));
        }
        if self.deadline.is_some_and(|d| d <= now) {
            return ControlFlow::Break(Ok(None));
        }
        ControlFlow::Continue(Next::Wait)
    }

    fn deadline(&self) -> Option<Timestamp> {
        self.deadline
    }

    fn on_frame(&mut self, rx: &Received) {
        self.observe(rx.timestamp, FrameDirection::Received, rx.frame);
    }

    fn on_read_error(
        &mut self,
        _: &mut Link,
        _: Timestamp,
        e: BusError,
    ) -> ControlFlow<DriveResult> {
        ControlFlow::Break(Err(e.into()))
    }
}

/// A module that answered a scan's probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub request: crate::frame::Id,
    pub response: crate::frame::Id,
    /// The probe it answered.
    pub probe: &'static [u8],
    /// Its answer: positive or negative (either proves a module).
    pub outcome: RequestOutcome,
}

/// Why a scan stopped.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// A pair's settings were refused.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// The bus or the client failed.
    #[error(transparent)]
    Diag(#[from] DiagError),
}

/// Scans for modules: each `(request, response)` id pair in turn gets `probes` in order until
/// one draws an answer (any answer, even negative, proves a module; a pair that answers none
/// is skipped). `config` gives each pair's session settings; `found` hears of each module as
/// it is found and may stop the scan. Returns the bus for what comes next.
pub async fn scan<B: Bus>(
    bus: B,
    pairs: &[(crate::frame::Id, crate::frame::Id)],
    probes: &[&'static [u8]],
    config: impl Fn(crate::frame::Id, crate::frame::Id) -> SessionConfig,
    clock: Arc<dyn Clock>,
    mut found: impl FnMut(&Found) -> ControlFlow<()>,
) -> Result<B, ScanError> {
    let mut bus = bus;
    for &(request, response) in pairs {
        let mut session = DiagSession::new(bus, config(request, response), Arc::clone(&clock))?;
        let mut hit = None;
        for &probe in probes {
            let reply = session.request(probe, RequestOptions::default()).await?;
            if reply.outcome.pdu().is_some() {
                hit = Some((probe, reply.outcome));
                break;
            }
        }
        bus = session.into_bus();
        if let Some((probe, outcome)) = hit {
            let module = Found {
                request,
                response,
                probe,
                outcome,
            };
            if found(&module).is_break() {
                break;
            }
        }
    }
    Ok(bus)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LinkSettings {
        LinkSettings {
            dialect: Dialect::Kwp2000,
            padding: LinkSettings::DEFAULT_PADDING,
            fd: false,
            p2: None,
            p2_star: None,
        }
    }

    fn ids() -> (Id, Id) {
        (Id::standard(0x745).unwrap(), Id::standard(0x765).unwrap())
    }

    #[test]
    fn test_dtc_target() {
        let (tx, rx) = ids();
        let given = DtcTarget::ids(tx, rx);
        assert_eq!((given.request, given.response), (tx, rx));
        assert_eq!(given.padding, LinkSettings::DEFAULT_PADDING);
        let profile = crate::bundled::profile().unwrap();
        let bcm = DtcTarget::module(&profile, "bcm", false).unwrap();
        let ids = profile.diag_ids("BCM", false).unwrap();
        assert_eq!((bcm.request, bcm.response), (ids.request, ids.response));
        assert_eq!(bcm.padding, ids.padding.or(LinkSettings::DEFAULT_PADDING));
        assert!(matches!(
            DtcTarget::module(&profile, "NOPE", false),
            Err(DiagIdsError::Unknown { .. })
        ));
        let read = given.consent(Dialect::Kwp2000, &[0x18, 0x02, 0xFF, 0x00]);
        assert!(read.starts_with("Send `18 02 FF 00` ("), "{read}");
        assert!(read.ends_with(" to 745 (reads the stored DTCs)"), "{read}");
        let clear = given.consent(Dialect::Uds, &[0x14, 0xFF, 0xFF, 0xFF]);
        assert!(
            clear.ends_with(" to 745 (CLEARS or changes the stored DTCs)"),
            "{clear}"
        );
        assert_eq!(
            request_consent(Dialect::Kwp2000, &[0x3E, 0x80], tx),
            format!(
                "Send {} to 745",
                describe_request(Dialect::Kwp2000, &[0x3E, 0x80])
            )
        );
    }

    #[test]
    fn test_link_settings_default_to_the_dialect() {
        let (tx, rx) = ids();
        let cfg = settings().session(tx, rx);
        let mut iso = isotp::Config::new(tx, rx);
        iso.padding = Some(0xFF);
        assert_eq!(
            cfg,
            SessionConfig::new(iso, ClientConfig::for_dialect(Dialect::Kwp2000))
        );
        assert_eq!(cfg.close_request, Some(vec![0x10, 0x81]));
    }

    #[test]
    fn test_link_settings_apply_fd_padding_and_timeouts() {
        let (tx, rx) = ids();
        let cfg = LinkSettings {
            dialect: Dialect::Uds,
            padding: None,
            fd: true,
            p2: Some(Duration::from_millis(200)),
            p2_star: Some(Duration::ZERO),
        }
        .session(tx, rx);
        assert_eq!(cfg.isotp.padding, None);
        assert_eq!(
            cfg.isotp.format,
            isotp::FrameFormat::Fd {
                tx_dl: 64,
                brs: true
            }
        );
        assert_eq!(cfg.client.dialect, Dialect::Uds);
        assert_eq!(cfg.client.p2_timeout, Duration::from_millis(200));
        // A zero timeout is taken as 1 ms.
        assert_eq!(cfg.client.p2_star_timeout, Duration::from_millis(1));
    }

    #[test]
    fn test_probe_settings_wait_the_scan_timeout_without_keep_alive() {
        let (tx, rx) = ids();
        let s = LinkSettings {
            p2: Some(Duration::from_millis(900)),
            ..settings()
        };
        let cfg = s.probe(tx, rx, Duration::from_millis(150));
        assert_eq!(cfg.client.p2_timeout, Duration::from_millis(150));
        assert_eq!(cfg.client.keep_alive, None);
        assert_eq!(cfg.isotp, s.session(tx, rx).isotp);
        assert_eq!(
            s.probe(tx, rx, Duration::ZERO).client.p2_timeout,
            Duration::from_millis(1)
        );
    }
}
