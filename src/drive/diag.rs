//! A diagnostic session on one bus: the sans-IO [`Client`] (KWP2000 ISO 14230-3 / UDS
//! ISO 14229-1 timing: P2, P2*, `0x78`, `0x21`, keep-alive) on top of the ISO-TP driver
//! ([`IsoTpDriver`], ISO 15765-2) for one request id / response id pair.
//!
//! # Contract
//! - [`DiagSession::request`] sends one PDU and drives both machines until the request's
//!   outcome: [`Outcome::Positive`], [`Outcome::Negative`], [`Outcome::Timeout`],
//!   [`Outcome::SentNoResponse`], or [`Outcome::SendFailed`] when ISO-TP could not deliver the
//!   request (e.g. no flow control). The client's other events seen meanwhile (each `0x78`,
//!   each `0x21` retry, mismatched PDUs, keep-alives, session changes) come back in
//!   [`Reply::events`]; negative responses and timeouts are outcomes, not errors.
//! - Between requests nothing runs by itself: a caller that keeps a non-default session open
//!   while it waits calls [`DiagSession::idle_for`] / [`DiagSession::idle_until`] instead of
//!   sleeping, so the keep-alive the client schedules (default `3E 80` every 2 s) goes out.
//! - [`DiagSession::close`] returns the module to its default session with the configured
//!   closing request (default `10` + the dialect's default session, `10 81` for KWP2000) when
//!   a non-default session is open, then closes the client (keep-alive stops).
//! - A [`FrameObserver`] sees every CAN frame written and read, with timestamps.

use std::sync::Arc;
use std::time::Duration;

use crate::bus::{Bus, Clock};
use crate::diag::client::{self, Client, ClientConfig, ClientError, RequestId, RequestOptions};
use crate::diag::{Nrc, TimeoutReason};
use crate::isotp::{self, SendFailure};
use crate::time::Timestamp;

use super::isotp::{FrameObserver, IsoTpDriver, IsoTpError};

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

/// Why a session could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The ISO-TP configuration is invalid.
    #[error("invalid ISO-TP configuration: {0}")]
    IsoTp(#[from] isotp::ConfigError),
    /// The client configuration is invalid.
    #[error("invalid diagnostic client configuration: {0}")]
    Client(#[from] client::ConfigError),
}

/// Why a session operation failed (protocol outcomes are [`Outcome`]s, not errors).
#[derive(Debug, thiserror::Error)]
pub enum DiagError {
    /// The bus failed.
    #[error(transparent)]
    Bus(#[from] crate::bus::BusError),
    /// The client refused the request (empty PDU, closed session).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// ISO-TP refused the PDU (too large, empty).
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

/// The final outcome of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A positive response.
    Positive {
        /// The whole response PDU.
        pdu: Vec<u8>,
        /// From the first transmission to the response.
        elapsed: Duration,
    },
    /// A negative response (`7F SID NRC`, never `0x78`).
    Negative {
        /// The service id named.
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
        /// From the first transmission.
        waited: Duration,
        /// Which rule ended it.
        reason: TimeoutReason,
        /// `0x78`s received before giving up.
        pending_count: u32,
    },
    /// Sent with `expect_response: false`.
    SentNoResponse,
    /// ISO-TP could not deliver the request.
    SendFailed(SendFailure),
}

impl Outcome {
    /// The response PDU, for positive and negative outcomes.
    pub fn pdu(&self) -> Option<&[u8]> {
        match self {
            Outcome::Positive { pdu, .. } | Outcome::Negative { pdu, .. } => Some(pdu),
            _ => None,
        }
    }

    /// Whether the outcome is a positive response.
    pub fn is_positive(&self) -> bool {
        matches!(self, Outcome::Positive { .. })
    }
}

/// A request's outcome and what happened on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The outcome.
    pub outcome: Outcome,
    /// The client's other events during the request, in order (`Pending`, `Retrying`,
    /// `Mismatched`, `KeepAliveSent`, `SessionChanged`...).
    pub events: Vec<client::Event>,
}

impl Reply {
    /// How many `0x78` (response pending) answers arrived.
    pub fn pending_count(&self) -> u32 {
        self.events
            .iter()
            .filter(|e| matches!(e, client::Event::Pending { .. }))
            .count() as u32
    }
}

/// ISO-TP plus the diagnostic client on one bus. See the module documentation.
#[derive(Debug)]
pub struct DiagSession<B: Bus> {
    iso: IsoTpDriver<B>,
    client: Client,
    close_request: Option<Vec<u8>>,
    /// Client PDUs waiting for the ISO-TP channel to be free.
    outbox: Option<Vec<u8>>,
    /// Events not tied to a request in progress (keep-alives while idle, unsolicited PDUs).
    background: Vec<client::Event>,
}

impl<B: Bus> DiagSession<B> {
    /// A session on `bus` with timers on `clock` (same time line as the bus's timestamps; see
    /// [`super::isotp`]).
    pub fn new(bus: B, config: SessionConfig, clock: Arc<dyn Clock>) -> Result<Self, SetupError> {
        let client = Client::new(config.client)?;
        let iso = IsoTpDriver::new(bus, config.isotp, clock)?;
        Ok(DiagSession {
            iso,
            client,
            close_request: config.close_request,
            outbox: None,
            background: Vec::new(),
        })
    }

    /// Sets (or removes) the hook that sees every CAN frame written and read.
    pub fn set_observer(&mut self, observer: Option<FrameObserver>) {
        self.iso.set_observer(observer);
    }

    /// The client engine (session tracking, configuration).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The session the client tracks (`None` until a `10 xx` was answered).
    pub fn session(&self) -> Option<u8> {
        self.client.session()
    }

    /// The current time on the session's time line.
    pub fn now(&mut self) -> Timestamp {
        self.iso.now()
    }

    /// Events that happened outside any request (keep-alives while idle, unsolicited PDUs);
    /// drained by this call.
    pub fn take_background_events(&mut self) -> Vec<client::Event> {
        std::mem::take(&mut self.background)
    }

    /// Gives the bus back.
    pub fn into_bus(self) -> B {
        self.iso.into_bus()
    }

    /// Sends `pdu` as is and waits for its outcome.
    pub async fn request(&mut self, pdu: &[u8], opts: RequestOptions) -> Result<Reply, DiagError> {
        let now = self.iso.now();
        let id = self.client.request(now, pdu, opts)?;
        let mut events = Vec::new();
        let outcome = self.drive(Some(id), None, &mut events).await?;
        match outcome {
            Some(outcome) => Ok(Reply { outcome, events }),
            // Unreachable: without a deadline `drive` only returns at the outcome.
            None => Err(DiagError::Client(ClientError::Closed)),
        }
    }

    /// Keeps the session alive (keep-alive, ISO-TP timers, unsolicited PDUs) for `d`.
    pub async fn idle_for(&mut self, d: Duration) -> Result<(), DiagError> {
        let until = self.iso.now() + d;
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
        if self.client.in_non_default_session()
            && let Some(req) = self.close_request.clone()
        {
            reply = Some(self.request(&req, RequestOptions::default()).await?);
        }
        self.client.close();
        Ok(reply)
    }

    /// Drives ISO-TP and the client until request `id`'s outcome, or until `deadline`.
    async fn drive(
        &mut self,
        id: Option<RequestId>,
        deadline: Option<Timestamp>,
        events: &mut Vec<client::Event>,
    ) -> Result<Option<Outcome>, DiagError> {
        loop {
            let now = self.iso.now();
            self.transmit(now)?;
            let mut outcome = None;
            while let Some(e) = self.client.poll_event() {
                if let Some(o) = outcome_of(id, &e) {
                    outcome = Some(o);
                } else if !e.is_outcome() {
                    events.push(e);
                }
            }
            if let Some(o) = outcome {
                if o == Outcome::SentNoResponse
                    && let Some(f) = self.finish_sending().await?
                {
                    return Ok(Some(Outcome::SendFailed(f)));
                }
                return Ok(Some(o));
            }
            let wake = match (self.client.poll_timeout(), deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if deadline.is_some_and(|d| d <= now) {
                self.iso.flush_due().await?;
                return Ok(None);
            }
            match self.iso.next_event(wake).await? {
                Some((at, isotp::Event::Received(pdu))) => self.client.handle_pdu(at, &pdu),
                Some((at, isotp::Event::Sent { .. })) => {
                    self.client.tx_complete(at);
                }
                Some((_, isotp::Event::SendFailed(f))) => {
                    tracing::warn!(failure = %f, "diagnostic request not delivered");
                    self.outbox = None;
                    if let Some(req) = id
                        && self.client.in_flight() == Some(req)
                    {
                        self.client.cancel();
                        // Drop the Cancelled event: the outcome is the send failure.
                        while let Some(e) = self.client.poll_event() {
                            if !e.is_outcome() {
                                events.push(e);
                            }
                        }
                        return Ok(Some(Outcome::SendFailed(f)));
                    }
                }
                Some((_, other)) => {
                    tracing::debug!(event = ?other, "isotp event during diagnostics");
                }
                None => {
                    let now = self.iso.now();
                    self.client.handle_timeout(now);
                }
            }
        }
    }

    /// Waits until the PDU handed to ISO-TP is completely written (for requests that expect
    /// no response, whose outcome the client reports at hand-over). Returns a send failure.
    async fn finish_sending(&mut self) -> Result<Option<SendFailure>, DiagError> {
        loop {
            if let Some(pdu) = self.outbox.take() {
                if self.iso.is_sending() {
                    self.outbox = Some(pdu);
                } else {
                    self.iso.start_send(&pdu)?;
                }
            }
            if self.outbox.is_none() && !self.iso.is_sending() {
                return Ok(None);
            }
            match self.iso.next_event(None).await? {
                Some((at, isotp::Event::Received(pdu))) => self.client.handle_pdu(at, &pdu),
                Some((_, isotp::Event::SendFailed(f))) => {
                    self.outbox = None;
                    return Ok(Some(f));
                }
                _ => {}
            }
        }
    }

    /// Moves due client PDUs into the ISO-TP channel.
    fn transmit(&mut self, now: Timestamp) -> Result<(), DiagError> {
        loop {
            if let Some(pdu) = self.outbox.take() {
                if self.iso.is_sending() {
                    self.outbox = Some(pdu);
                    return Ok(());
                }
                self.iso.start_send(&pdu)?;
            }
            if self.iso.is_sending() {
                return Ok(());
            }
            match self.client.poll_transmit(now) {
                Some(t) => self.outbox = Some(t.pdu),
                None => return Ok(()),
            }
        }
    }
}

fn outcome_of(id: Option<RequestId>, e: &client::Event) -> Option<Outcome> {
    use client::Event as E;
    if id.is_none() || e.request_id() != id {
        return None;
    }
    Some(match e.clone() {
        E::Positive { pdu, elapsed, .. } => Outcome::Positive { pdu, elapsed },
        E::Negative {
            sid,
            nrc,
            pdu,
            elapsed,
            ..
        } => Outcome::Negative {
            sid,
            nrc,
            pdu,
            elapsed,
        },
        E::Timeout {
            waited,
            reason,
            pending_count,
            ..
        } => Outcome::Timeout {
            waited,
            reason,
            pending_count,
        },
        E::SentNoResponse { .. } => Outcome::SentNoResponse,
        _ => return None,
    })
}
