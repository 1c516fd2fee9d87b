//! The tester side of one diagnostic link, sans IO: an ISO-TP [`Channel`] (ISO 15765-2:2016)
//! joined to the diagnostic [`Client`] (KWP2000 ISO 14230-3 / UDS ISO 14229-1 timing: P2, P2*,
//! `0x78`, `0x21`, keep-alive) for one request id / response id pair, in the shape of
//! quinn-proto's `Connection`: CAN frames in, CAN frames out, time as an argument, outcomes
//! as events.
//!
//! # Calling contract
//! - [`Link::request`] accepts one caller request at a time; [`Link::cancel`],
//!   [`Link::close`] and [`Link::abort_send`] end it early (no outcome is reported for a
//!   request the caller ended).
//! - Give every frame read from the bus to [`Link::handle_frame`] (frames on other ids are
//!   ignored), call [`Link::handle_timeout`] when [`Link::poll_timeout`] is reached, and after
//!   any input (a request included) write every frame [`Link::poll_transmit`] returns, in
//!   order, until `None`. This is the [`Machine`] contract.
//! - Drain [`Link::poll_event`]: PDUs handed to ISO-TP and received, transport failures, the
//!   client's notifications (`0x78`, `0x21` retries, keep-alives, session changes...) and, once
//!   per accepted request, its [`LinkEvent::Outcome`] ([`RequestOutcome`]: positive, negative,
//!   timeout with its `0x78` count, sent without response, or ISO-TP send failure).
//!
//! # The busy channel
//! ISO-TP carries one message at a time in each direction. The rule, kept here once for every
//! driver: a PDU goes to the channel only when the channel is idle; until then it waits in the
//! link's outbox, which is the client's own exchange slot (the caller's request, or the
//! keep-alive, or a `0x21` retry waiting for its back-off). PDUs leave in the order the client
//! produces them, and none is ever dropped: the link never offers the channel a PDU it would
//! refuse as busy. A PDU still waiting is not timed (P2 starts when it is handed to ISO-TP, and
//! restarts when ISO-TP reports its last frame written), so a long transfer in front of it
//! cannot make it time out unsent. The outbox is bounded by construction: one caller request
//! is outstanding until its outcome, and a second one is refused with
//! [`ClientError::Busy`] ([`LinkError::Client`]); the keep-alive is the client's, at most one.
//!
//! A request sent without expecting a response ([`RequestOptions::expect_response`] false) is
//! complete when its last frame is written, not when it is handed over: its outcome,
//! [`RequestOutcome::SentNoResponse`], comes then (or [`RequestOutcome::SendFailed`] if the
//! transfer failed, e.g. no flow control). A send failure of any request ends it at once,
//! before a P2 expiring at the same instant, so the failure names the layer that failed.

use core::time::Duration;
use std::collections::VecDeque;

use super::client::{
    self, Client, ClientConfig, ClientError, RequestId, RequestOptions, TimeoutReason, TransmitKind,
};
use super::codec::Nrc;
use crate::frame::Frame;
use crate::isotp::{self, Channel, ReceiveFailure, SendError, SendFailure};
use crate::machine::Machine;
use crate::time::Timestamp;

/// Events kept when the caller does not drain them; older ones are dropped beyond this.
pub const MAX_QUEUED_EVENTS: usize = 1024;

/// Why a link could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The ISO-TP configuration is invalid.
    #[error("invalid ISO-TP configuration: {0}")]
    IsoTp(#[from] isotp::ConfigError),
    /// The client configuration is invalid.
    #[error("invalid diagnostic client configuration: {0}")]
    Client(#[from] client::ConfigError),
}

/// Why [`Link::request`] refused a request (protocol outcomes are events, not errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The client refused it: another request is outstanding ([`ClientError::Busy`]), the PDU
    /// is empty, or the link is closed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// ISO-TP cannot carry it (larger than the 32-bit FF_DL allows).
    #[error("ISO-TP refused the request: {0}")]
    IsoTp(#[from] SendError),
}

/// The final outcome of one request: exactly one per request accepted by [`Link::request`]
/// and not ended by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOutcome {
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
    /// Sent with `expect_response: false`: its last frame is written.
    SentNoResponse,
    /// ISO-TP could not deliver the request.
    SendFailed(SendFailure),
}

impl RequestOutcome {
    /// The response PDU, for positive and negative outcomes.
    pub fn pdu(&self) -> Option<&[u8]> {
        match self {
            RequestOutcome::Positive { pdu, .. } | RequestOutcome::Negative { pdu, .. } => {
                Some(pdu)
            }
            _ => None,
        }
    }

    /// Whether the outcome is a positive response.
    pub fn is_positive(&self) -> bool {
        matches!(self, RequestOutcome::Positive { .. })
    }

    /// The outcome a client event reports, if it is a final one (cancellations are not: the
    /// caller ended those).
    fn from_client(e: client::ClientEvent) -> Option<(RequestId, RequestOutcome)> {
        use client::ClientEvent as E;
        Some(match e {
            E::Positive { id, pdu, elapsed } => (id, RequestOutcome::Positive { pdu, elapsed }),
            E::Negative {
                id,
                sid,
                nrc,
                pdu,
                elapsed,
            } => (
                id,
                RequestOutcome::Negative {
                    sid,
                    nrc,
                    pdu,
                    elapsed,
                },
            ),
            E::Timeout {
                id,
                waited,
                reason,
                pending_count,
                ..
            } => (
                id,
                RequestOutcome::Timeout {
                    waited,
                    reason,
                    pending_count,
                },
            ),
            E::SentNoResponse { id } => (id, RequestOutcome::SentNoResponse),
            _ => return None,
        })
    }
}

/// What a [`Link`] reports through [`Link::poll_event`], in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// A PDU was handed to ISO-TP: a caller's request (attempt 2 and up for `0x21` retries) or
    /// the keep-alive.
    Sent {
        /// The PDU, as given to [`Link::request`] or configured for the keep-alive.
        pdu: Vec<u8>,
        /// What it is.
        kind: TransmitKind,
    },
    /// A complete PDU from the module.
    Received(Vec<u8>),
    /// ISO-TP aborted a transmission (the request it carried, if any, ends with
    /// [`RequestOutcome::SendFailed`]).
    SendFailed(SendFailure),
    /// ISO-TP aborted a reception.
    ReceiveFailed(ReceiveFailure),
    /// A client notification that is not an outcome: `Pending`, `Retrying`, `Mismatched`,
    /// `Unsolicited`, `KeepAliveSent`, `KeepAliveReply`, `KeepAliveTimeout`, `SessionChanged`.
    Client(client::ClientEvent),
    /// The final outcome of the caller's request `id`.
    Outcome {
        /// The request.
        id: RequestId,
        /// How it ended.
        outcome: RequestOutcome,
    },
}

/// One module's tester side: ISO-TP channel, diagnostic client and the rule between them.
/// See the module documentation for the contract.
#[derive(Debug)]
pub struct Link {
    channel: Channel,
    client: Client,
    /// What the PDU in the channel carries, until ISO-TP reports it sent or failed.
    in_channel: Option<TransmitKind>,
    /// A request sent without expecting a response, complete from the client's view, whose
    /// outcome waits for its last frame.
    unsent: Option<RequestId>,
    events: VecDeque<LinkEvent>,
    dropped_events: u64,
}

impl Link {
    /// A link with ISO-TP `isotp` (tx id = the module's request id) and client `client`.
    pub fn new(isotp: isotp::Config, client: ClientConfig) -> Result<Link, SetupError> {
        Ok(Link {
            channel: Channel::new(isotp)?,
            client: Client::new(client)?,
            in_channel: None,
            unsent: None,
            events: VecDeque::new(),
            dropped_events: 0,
        })
    }

    /// The ISO-TP configuration.
    pub fn config(&self) -> &isotp::Config {
        self.channel.config()
    }

    /// The client (session tracking, configuration).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The caller request outstanding (accepted, not yet ended), if any.
    pub fn in_flight(&self) -> Option<RequestId> {
        self.unsent.or_else(|| self.client.in_flight())
    }

    /// Events dropped because more than [`MAX_QUEUED_EVENTS`] were left undrained.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// Accepts a request PDU, sent as is once the channel is free (call
    /// [`Link::poll_transmit`] next). Refused while another request is outstanding
    /// ([`ClientError::Busy`]), for an empty PDU, after [`Link::close`], and when ISO-TP
    /// cannot carry it.
    pub fn request(
        &mut self,
        now: Timestamp,
        pdu: &[u8],
        opts: RequestOptions,
    ) -> Result<RequestId, LinkError> {
        if self.client.is_closed() {
            return Err(ClientError::Closed.into());
        }
        if let Some(in_flight) = self.unsent {
            return Err(ClientError::Busy { in_flight }.into());
        }
        let max = self.channel.max_tx_size();
        if pdu.len() > max {
            return Err(SendError::TooLarge {
                len: pdu.len(),
                max,
            }
            .into());
        }
        Ok(self.client.request(now, pdu, opts)?)
    }

    /// Abandons the caller's request (waiting, in transfer, or awaiting its answer); returns
    /// its id. No outcome is reported for it; a late answer is then unsolicited. A transfer in
    /// progress is finished (the module discards a message cut short only after its N_Cr).
    pub fn cancel(&mut self) -> Option<RequestId> {
        if let Some(id) = self.unsent.take() {
            return Some(id);
        }
        let id = self.client.cancel();
        self.drain_client();
        id
    }

    /// Stops the client: the outstanding request is abandoned as by [`Link::cancel`], the
    /// keep-alive stops, later requests get [`ClientError::Closed`]. The caller sends any
    /// closing request (`10 81`) before.
    pub fn close(&mut self) {
        self.unsent = None;
        self.client.close();
        self.drain_client();
    }

    /// The bus refused a frame of this link: the ISO-TP transmission is aborted and the
    /// outstanding request abandoned (returned; the caller reports why, no outcome follows).
    pub fn abort_send(&mut self) -> Option<RequestId> {
        self.channel.abort_send();
        self.in_channel = None;
        self.cancel()
    }

    /// A frame read from the bus at `now` (frames on other ids are ignored).
    pub fn handle_frame(&mut self, now: Timestamp, frame: &Frame) {
        self.channel.handle_frame(now, frame);
        self.drain_channel(now);
        self.drain_client();
    }

    /// Fires what is due at `now`: ISO-TP timers first (a send failure ends its request before
    /// a P2 at the same instant), then the client's.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        self.channel.handle_timeout(now);
        self.drain_channel(now);
        self.client.handle_timeout(now);
        self.drain_client();
    }

    /// Confirms a frame written to the bus (only with [`isotp::Config::tx_confirmations`]).
    pub fn on_transmitted(&mut self, now: Timestamp, frame: &Frame) {
        self.channel.on_transmitted(now, frame);
        self.drain_channel(now);
        self.drain_client();
    }

    /// The next frame to write at `now`. Hands the client's next PDU to ISO-TP first when the
    /// channel is free.
    pub fn poll_transmit(&mut self, now: Timestamp) -> Option<Frame> {
        self.feed_channel(now);
        let frame = self.channel.poll_transmit(now);
        // Without transmit confirmations the last frame completes the transfer at once.
        self.drain_channel(now);
        self.drain_client();
        frame
    }

    /// The next deadline: ISO-TP's timers and pacing, the client's P2/P2*/cap, and, while
    /// the channel is free, when the client's next PDU is due (a keep-alive, a `0x21` retry).
    /// While the channel is busy a due PDU waits for it, not for a time.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let client = if self.channel.is_sending() {
            self.client.timer_deadline()
        } else {
            self.client.poll_timeout()
        };
        match (self.channel.poll_timeout(), client) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// Hands the client's next PDU to ISO-TP if the channel is free (the busy-channel rule).
    fn feed_channel(&mut self, now: Timestamp) {
        if self.channel.is_sending() {
            return;
        }
        let Some(t) = self.client.poll_transmit(now) else {
            return;
        };
        // The channel is idle, `request` checked the size and the client never produces an
        // empty PDU, so ISO-TP cannot refuse it; if it did, the transfer is reported failed.
        let refused = self.channel.send(now, &t.pdu).err();
        self.in_channel = Some(t.kind);
        self.push(LinkEvent::Sent {
            pdu: t.pdu,
            kind: t.kind,
        });
        // A request without response is complete for the client now: learn it before the
        // channel reports the end of the transfer.
        self.drain_client();
        if let Some(e) = refused {
            tracing::error!(error = %e, "ISO-TP refused a diagnostic PDU");
            let carried = self.in_channel.take();
            self.send_failed(carried, SendFailure::Internal);
        }
    }

    /// Moves ISO-TP's events into the client and the event queue.
    fn drain_channel(&mut self, now: Timestamp) {
        while let Some(ev) = self.channel.poll_event() {
            match ev {
                isotp::ChannelEvent::Received(pdu) => {
                    self.client.handle_pdu(now, &pdu);
                    self.push(LinkEvent::Received(pdu));
                }
                isotp::ChannelEvent::Sent { .. } => {
                    self.client.tx_complete(now);
                    let carried = self.in_channel.take();
                    if let Some(TransmitKind::Request { id, .. }) = carried
                        && self.unsent == Some(id)
                    {
                        self.unsent = None;
                        self.push(LinkEvent::Outcome {
                            id,
                            outcome: RequestOutcome::SentNoResponse,
                        });
                    }
                }
                isotp::ChannelEvent::SendFailed(f) => {
                    tracing::warn!(failure = %f, "diagnostic PDU not delivered");
                    let carried = self.in_channel.take();
                    self.send_failed(carried, f);
                }
                isotp::ChannelEvent::ReceiveFailed(f) => {
                    tracing::warn!(failure = %f, "diagnostic response not received");
                    self.push(LinkEvent::ReceiveFailed(f));
                }
                other => tracing::debug!(event = ?other, "isotp event on a diagnostic link"),
            }
            // What the client made of it, right after it (causal order).
            self.drain_client();
        }
    }

    /// A transfer failed: reported, and the caller request it carried (if still
    /// outstanding) ends with [`RequestOutcome::SendFailed`].
    fn send_failed(&mut self, carried: Option<TransmitKind>, f: SendFailure) {
        self.push(LinkEvent::SendFailed(f));
        let Some(TransmitKind::Request { id, .. }) = carried else {
            return;
        };
        if self.unsent == Some(id) {
            self.unsent = None;
        } else if self.client.in_flight() == Some(id) {
            self.client.cancel();
            self.drain_client();
        } else {
            return;
        }
        self.push(LinkEvent::Outcome {
            id,
            outcome: RequestOutcome::SendFailed(f),
        });
    }

    /// Moves the client's events into the event queue.
    fn drain_client(&mut self) {
        while let Some(e) = self.client.poll_event() {
            match e {
                client::ClientEvent::Cancelled { id } => {
                    tracing::debug!(%id, "diagnostic request abandoned");
                }
                client::ClientEvent::SentNoResponse { id } if self.in_channel.is_some() => {
                    self.unsent = Some(id);
                }
                e if e.is_outcome() => {
                    if let Some((id, outcome)) = RequestOutcome::from_client(e) {
                        self.push(LinkEvent::Outcome { id, outcome });
                    }
                }
                e => self.push(LinkEvent::Client(e)),
            }
        }
    }

    fn push(&mut self, e: LinkEvent) {
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.events.pop_front();
            self.dropped_events = self.dropped_events.saturating_add(1);
            tracing::warn!("diagnostic link event queue full; dropping the oldest event");
        }
        self.events.push_back(e);
    }
}

impl Machine for Link {
    fn handle_frame(&mut self, now: Timestamp, frame: &Frame) {
        Link::handle_frame(self, now, frame);
    }

    fn handle_timeout(&mut self, now: Timestamp) {
        Link::handle_timeout(self, now);
    }

    fn poll_transmit(&mut self, now: Timestamp) -> Option<Frame> {
        Link::poll_transmit(self, now)
    }

    fn poll_timeout(&self) -> Option<Timestamp> {
        Link::poll_timeout(self)
    }
}

impl isotp::virtual_link::Endpoint for Link {
    fn on_transmitted(&mut self, now: Timestamp, frame: &Frame) {
        Link::on_transmitted(self, now, frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Id;
    use crate::isotp::StMin;
    use crate::isotp::virtual_link::{Endpoint, Loss, VirtualLink};
    use proptest::prelude::*;

    fn sid(raw: u16) -> Id {
        Id::standard(raw).unwrap()
    }

    fn tester_config() -> isotp::Config {
        isotp::Config::new(sid(0x745), sid(0x765))
    }

    fn link(client: ClientConfig) -> Link {
        Link::new(tester_config(), client).unwrap()
    }

    fn ms(n: u64) -> Timestamp {
        Timestamp::ZERO + Duration::from_millis(n)
    }

    /// A frame from the module (response id), data as given.
    fn from_module(data: &[u8]) -> Frame {
        Frame::classic(sid(0x765), data).unwrap()
    }

    fn drain(l: &mut Link) -> Vec<LinkEvent> {
        core::iter::from_fn(|| l.poll_event()).collect()
    }

    fn frames(l: &mut Link, now: Timestamp) -> Vec<String> {
        core::iter::from_fn(|| l.poll_transmit(now))
            .map(|f| f.to_string())
            .collect()
    }

    fn outcomes(events: &[LinkEvent]) -> Vec<RequestOutcome> {
        events
            .iter()
            .filter_map(|e| match e {
                LinkEvent::Outcome { outcome, .. } => Some(outcome.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn test_positive_response_in_order() {
        let mut l = link(ClientConfig::kwp2000());
        let id = l
            .request(ms(0), &[0x1A, 0x81], RequestOptions::default())
            .unwrap();
        assert_eq!(frames(&mut l, ms(0)), ["745#021A81"]);
        assert_eq!(l.poll_timeout(), Some(ms(1000)), "P2 from the transfer");
        l.handle_frame(ms(20), &from_module(&[0x03, 0x5A, 0x81, 0x42]));
        assert_eq!(
            drain(&mut l),
            [
                LinkEvent::Sent {
                    pdu: vec![0x1A, 0x81],
                    kind: TransmitKind::Request { id, attempt: 1 }
                },
                LinkEvent::Received(vec![0x5A, 0x81, 0x42]),
                LinkEvent::Outcome {
                    id,
                    outcome: RequestOutcome::Positive {
                        pdu: vec![0x5A, 0x81, 0x42],
                        elapsed: Duration::from_millis(20)
                    }
                },
            ]
        );
        assert_eq!(l.in_flight(), None);
    }

    #[test]
    fn test_no_response_outcome_waits_for_the_last_frame() {
        let mut l = link(ClientConfig::kwp2000());
        let pdu: Vec<u8> = (0x30..0x30 + 20).collect();
        let id = l
            .request(ms(0), &pdu, RequestOptions::no_response())
            .unwrap();
        assert_eq!(frames(&mut l, ms(0)), ["745#1014303132333435"]);
        // Handed over but not on the bus: no outcome yet, and the link is still busy.
        assert!(outcomes(&drain(&mut l)).is_empty());
        assert_eq!(l.in_flight(), Some(id));
        assert_eq!(
            l.request(ms(1), &[0x21, 0x01], RequestOptions::default()),
            Err(LinkError::Client(ClientError::Busy { in_flight: id }))
        );
        l.handle_frame(ms(5), &from_module(&[0x30, 0x00, 0x00]));
        assert_eq!(
            frames(&mut l, ms(5)),
            ["745#21363738393A3B3C", "745#223D3E3F40414243"]
        );
        assert_eq!(outcomes(&drain(&mut l)), [RequestOutcome::SentNoResponse]);
        assert_eq!(l.in_flight(), None);
        assert!(
            l.request(ms(6), &[0x21, 0x01], RequestOptions::default())
                .is_ok()
        );
    }

    /// Regression: the procedure tester handed a due keep-alive straight to a channel busy with
    /// a segmented transfer, and dropped it on `SendError::Busy`.
    #[test]
    fn test_keep_alive_waits_for_a_segmented_transfer() {
        let mut cfg = ClientConfig::kwp2000();
        cfg.keep_alive = Some(client::KeepAlive {
            period: Duration::from_millis(100),
            ..client::KeepAlive::default()
        });
        let mut l = link(cfg);
        l.request(ms(0), &[0x10, 0xC0], RequestOptions::default())
            .unwrap();
        frames(&mut l, ms(0));
        l.handle_frame(ms(10), &from_module(&[0x02, 0x50, 0xC0]));
        drain(&mut l);
        assert_eq!(l.poll_timeout(), Some(ms(110)), "keep-alive due");
        let pdu = [0x3B; 20];
        let id = l
            .request(ms(20), &pdu, RequestOptions::no_response())
            .unwrap();
        assert_eq!(frames(&mut l, ms(20)).len(), 1, "first frame");
        drain(&mut l);
        // The keep-alive falls due while the module withholds its flow control: it waits for
        // the channel, and the link does not ask to be woken for it (N_Bs is the deadline).
        assert_eq!(l.poll_timeout(), Some(ms(1020)));
        l.handle_timeout(ms(150));
        assert!(frames(&mut l, ms(150)).is_empty());
        l.handle_frame(ms(200), &from_module(&[0x30, 0x00, 0x00]));
        let out = frames(&mut l, ms(200));
        assert_eq!(
            out.len(),
            3,
            "two consecutive frames, then the keep-alive: {out:?}"
        );
        assert_eq!(out[2], "745#023E80");
        let events = drain(&mut l);
        let kinds: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                LinkEvent::Sent { kind, .. } => Some(*kind),
                LinkEvent::Outcome { outcome, .. } => {
                    assert_eq!(*outcome, RequestOutcome::SentNoResponse);
                    None
                }
                _ => None,
            })
            .collect();
        assert_eq!(kinds, [TransmitKind::KeepAlive]);
        assert_eq!(l.in_flight(), None);
        let _ = id;
    }

    /// A request made while a segmented keep-alive holds the channel waits for it, untimed:
    /// its P2 starts when it is handed to ISO-TP.
    #[test]
    fn test_request_waits_behind_a_segmented_keep_alive_untimed() {
        let mut cfg = ClientConfig::kwp2000();
        cfg.keep_alive = Some(client::KeepAlive {
            pdu: vec![0x3E; 12],
            period: Duration::from_millis(100),
            expect_response: false,
        });
        let mut l = link(cfg);
        l.request(ms(0), &[0x10, 0xC0], RequestOptions::default())
            .unwrap();
        frames(&mut l, ms(0));
        l.handle_frame(ms(10), &from_module(&[0x02, 0x50, 0xC0]));
        drain(&mut l);
        l.handle_timeout(ms(110));
        assert_eq!(frames(&mut l, ms(110)), ["745#100C3E3E3E3E3E3E"]);
        let id = l
            .request(ms(120), &[0x21, 0x01], RequestOptions::default())
            .unwrap();
        assert!(frames(&mut l, ms(120)).is_empty(), "the channel is busy");
        assert_eq!(
            l.poll_timeout(),
            Some(ms(1110)),
            "N_Bs of the keep-alive, no P2"
        );
        l.handle_frame(ms(500), &from_module(&[0x30, 0x00, 0x00]));
        assert_eq!(
            frames(&mut l, ms(500)),
            ["745#213E3E3E3E3E3E", "745#022101"]
        );
        assert_eq!(l.poll_timeout(), Some(ms(1500)), "P2 from the hand-over");
        l.handle_timeout(ms(1500));
        let events = drain(&mut l);
        assert_eq!(
            outcomes(&events),
            [RequestOutcome::Timeout {
                waited: Duration::from_secs(1),
                reason: TimeoutReason::P2,
                pending_count: 0
            }]
        );
        assert_eq!(l.in_flight(), None);
        let _ = id;
    }

    #[test]
    fn test_send_failure_ends_the_request_before_p2() {
        let mut l = link(ClientConfig::kwp2000());
        let id = l
            .request(ms(0), &[0x3B; 20], RequestOptions::default())
            .unwrap();
        frames(&mut l, ms(0));
        drain(&mut l);
        // N_Bs and P2 both expire at 1 s: the transport failure names the layer.
        assert_eq!(l.poll_timeout(), Some(ms(1000)));
        l.handle_timeout(ms(1000));
        assert_eq!(
            drain(&mut l),
            [
                LinkEvent::SendFailed(SendFailure::TimeoutBs),
                LinkEvent::Outcome {
                    id,
                    outcome: RequestOutcome::SendFailed(SendFailure::TimeoutBs)
                },
            ]
        );
        assert_eq!(l.in_flight(), None);
        assert_eq!(l.poll_timeout(), None);
    }

    #[test]
    fn test_cancel_close_and_refusals() {
        let mut l = link(ClientConfig::kwp2000());
        assert_eq!(
            l.request(ms(0), &[], RequestOptions::default()),
            Err(LinkError::Client(ClientError::EmptyPdu))
        );
        let id = l
            .request(ms(0), &[0x21, 0x01], RequestOptions::default())
            .unwrap();
        frames(&mut l, ms(0));
        assert_eq!(l.cancel(), Some(id));
        // A late answer is unsolicited; no outcome for a request the caller ended.
        l.handle_frame(ms(5), &from_module(&[0x02, 0x61, 0x01]));
        let events = drain(&mut l);
        assert!(outcomes(&events).is_empty(), "{events:?}");
        assert!(
            events.contains(&LinkEvent::Client(client::ClientEvent::Unsolicited {
                pdu: vec![0x61, 0x01]
            }))
        );
        l.close();
        assert_eq!(
            l.request(ms(6), &[0x21, 0x01], RequestOptions::default()),
            Err(LinkError::Client(ClientError::Closed))
        );
        assert_eq!(l.poll_timeout(), None);
    }

    #[test]
    fn test_abort_send_abandons_the_request() {
        let mut l = link(ClientConfig::kwp2000());
        let id = l
            .request(ms(0), &[0x3B; 20], RequestOptions::default())
            .unwrap();
        frames(&mut l, ms(0));
        assert_eq!(l.abort_send(), Some(id));
        assert!(outcomes(&drain(&mut l)).is_empty());
        assert_eq!(l.poll_timeout(), None);
        assert!(
            l.request(ms(1), &[0x21, 0x01], RequestOptions::default())
                .is_ok()
        );
    }

    // ---- the busy-channel rule, property-tested on the virtual ISO-TP link ----

    /// The module: answers every request but `3E xx` with `SID+0x40` and the request's other
    /// bytes, one response at a time (its channel is busy while a long one goes out).
    #[derive(Debug)]
    struct Module {
        ch: Channel,
        queue: VecDeque<Vec<u8>>,
        received: Vec<Vec<u8>>,
    }

    fn answer(request: &[u8]) -> Option<Vec<u8>> {
        let (&sid, rest) = request.split_first()?;
        if sid == 0x3E {
            return None;
        }
        let mut r = vec![sid + 0x40];
        r.extend_from_slice(rest);
        Some(r)
    }

    impl Module {
        fn serve(&mut self, now: Timestamp) {
            while let Some(e) = self.ch.poll_event() {
                if let isotp::ChannelEvent::Received(pdu) = e {
                    self.queue.extend(answer(&pdu));
                    self.received.push(pdu);
                }
            }
            if !self.ch.is_sending()
                && let Some(r) = self.queue.pop_front()
            {
                self.ch.send(now, &r).unwrap();
            }
        }
    }

    impl Machine for Module {
        fn handle_frame(&mut self, now: Timestamp, frame: &Frame) {
            self.ch.handle_frame(now, frame);
            self.serve(now);
        }
        fn handle_timeout(&mut self, now: Timestamp) {
            self.ch.handle_timeout(now);
            self.serve(now);
        }
        fn poll_transmit(&mut self, now: Timestamp) -> Option<Frame> {
            self.serve(now);
            self.ch.poll_transmit(now)
        }
        fn poll_timeout(&self) -> Option<Timestamp> {
            self.ch.poll_timeout()
        }
    }

    impl Endpoint for Module {}

    /// A request of the script: the PDU, whether the module answers it, and the idle time
    /// before it (after the previous outcome), when keep-alives go out.
    type Step = (Vec<u8>, bool, u64);

    /// The tester: a link given the script's requests one after the other (each after its idle
    /// time from the previous outcome), trying an extra request each time one is outstanding.
    #[derive(Debug)]
    struct Scripted {
        link: Link,
        script: VecDeque<Step>,
        /// When the next request may go.
        next_at: Timestamp,
        issued: Vec<(RequestId, Vec<u8>, bool)>,
        /// PDUs handed to ISO-TP, with the number of frames written before each.
        handed: Vec<(Vec<u8>, TransmitKind, usize)>,
        /// Outcomes, with the number of frames written when each came.
        outcomes: Vec<(RequestId, RequestOutcome, usize)>,
        failures: Vec<LinkEvent>,
        refused_busy: usize,
        written: usize,
    }

    impl Scripted {
        fn new(link: Link, script: Vec<Step>) -> Scripted {
            Scripted {
                link,
                script: script.into(),
                next_at: Timestamp::ZERO,
                issued: Vec::new(),
                handed: Vec::new(),
                outcomes: Vec::new(),
                failures: Vec::new(),
                refused_busy: 0,
                written: 0,
            }
        }

        fn drain(&mut self, now: Timestamp, written_before: usize) {
            while let Some(e) = self.link.poll_event() {
                match e {
                    LinkEvent::Sent { pdu, kind } => self.handed.push((pdu, kind, written_before)),
                    LinkEvent::Outcome { id, outcome } => {
                        self.outcomes.push((id, outcome, self.written));
                        let gap = self.script.front().map_or(0, |s| s.2);
                        self.next_at = now + Duration::from_millis(gap);
                    }
                    e @ (LinkEvent::SendFailed(_) | LinkEvent::ReceiveFailed(_)) => {
                        self.failures.push(e)
                    }
                    _ => {}
                }
            }
        }

        fn next_request(&mut self, now: Timestamp) {
            if self.link.in_flight().is_some()
                || self.link.client().is_closed()
                || now < self.next_at
            {
                return;
            }
            let Some((pdu, expect, _)) = self.script.pop_front() else {
                // Done: the keep-alive stops.
                self.link.close();
                return;
            };
            let opts = RequestOptions {
                expect_response: expect,
                ..RequestOptions::default()
            };
            let id = self.link.request(now, &pdu, opts).unwrap();
            self.issued.push((id, pdu, expect));
            // One request at a time: a second one is refused, typed, and changes nothing.
            match self
                .link
                .request(now, &[0x21, 0x99], RequestOptions::default())
            {
                Err(LinkError::Client(ClientError::Busy { in_flight })) if in_flight == id => {
                    self.refused_busy += 1
                }
                other => panic!("expected Busy for {id}, got {other:?}"),
            }
        }
    }

    impl Machine for Scripted {
        fn handle_frame(&mut self, now: Timestamp, frame: &Frame) {
            self.link.handle_frame(now, frame);
            self.drain(now, self.written);
        }
        fn handle_timeout(&mut self, now: Timestamp) {
            self.link.handle_timeout(now);
            self.drain(now, self.written);
        }
        fn poll_transmit(&mut self, now: Timestamp) -> Option<Frame> {
            self.drain(now, self.written);
            self.next_request(now);
            let before = self.written;
            let f = self.link.poll_transmit(now);
            self.written += usize::from(f.is_some());
            self.drain(now, before);
            f
        }
        fn poll_timeout(&self) -> Option<Timestamp> {
            let next = (self.link.in_flight().is_none() && !self.script.is_empty())
                .then_some(self.next_at);
            match (self.link.poll_timeout(), next) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
    }

    impl Endpoint for Scripted {}

    /// Classic CAN, normal addressing: frames a PDU of `len` bytes takes.
    fn frames_for(len: usize) -> usize {
        if len <= 7 {
            1
        } else {
            1 + (len - 6).div_ceil(7)
        }
    }

    fn script() -> impl Strategy<Value = Vec<Step>> {
        let request = prop_oneof![
            // Requests with a response, up to 200 bytes (answers as long).
            (
                prop::sample::select(vec![0x21u8, 0x22, 0x2E, 0x31, 0x3B]),
                prop::collection::vec(any::<u8>(), 0..200),
                0u64..60,
            )
                .prop_map(|(sid, rest, gap)| {
                    let mut p = vec![sid];
                    p.extend(rest);
                    (p, true, gap)
                }),
            // Requests without a response (the module never answers `3E`).
            (prop::collection::vec(any::<u8>(), 0..200), 0u64..60).prop_map(|(rest, gap)| {
                let mut p = vec![0x3E];
                p.extend(rest);
                (p, false, gap)
            }),
        ];
        prop::collection::vec(request, 1..12).prop_map(|mut v| {
            // Open a non-default session first, so keep-alives go out in the idle times.
            v.insert(0, (vec![0x10, 0xC0], true, 0));
            v
        })
    }

    fn rig(
        script: Vec<Step>,
        keep_alive: (u64, usize),
        block_size: u8,
        st_min_ms: u8,
        delay_us: u64,
        loss: Loss,
    ) -> VirtualLink<Scripted, Module> {
        // A keep-alive of up to 21 bytes takes the channel for a segmented transfer too.
        let mut pdu = vec![0x3E, 0x80];
        pdu.resize(keep_alive.1.max(2), 0x80);
        let mut client = ClientConfig::kwp2000();
        client.keep_alive = Some(client::KeepAlive {
            pdu,
            period: Duration::from_millis(keep_alive.0),
            expect_response: false,
        });
        let tester = Scripted::new(Link::new(tester_config(), client).unwrap(), script);
        let mut module_cfg = isotp::Config::new(sid(0x765), sid(0x745));
        module_cfg.block_size = block_size;
        module_cfg.st_min = StMin::from_raw(st_min_ms);
        let module = Module {
            ch: Channel::new(module_cfg).unwrap(),
            queue: VecDeque::new(),
            received: Vec::new(),
        };
        VirtualLink::new(tester, module, Duration::from_micros(delay_us), loss)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// On a lossless link: every PDU handed to ISO-TP (requests and keep-alives) reaches
        /// the module whole and in order, none is dropped or refused as busy; each request has
        /// exactly one outcome, in order, and one sent without response has it only once its
        /// last frame is written.
        #[test]
        fn busy_channel_rule_keeps_every_pdu_in_order(
            script in script(),
            keep_alive in (2u64..40, 2usize..22),
            block_size in 0u8..4,
            st_min_ms in 0u8..4,
            delay_us in 0u64..2000,
        ) {
            let n = script.len();
            let mut v = rig(script.clone(), keep_alive, block_size, st_min_ms, delay_us, Loss::None);
            v.run_for(Duration::from_secs(60));
            let t = &v.a;
            prop_assert!(t.script.is_empty() && t.link.in_flight().is_none(), "script not finished");
            prop_assert!(t.failures.is_empty(), "{:?}", t.failures);
            let handed: Vec<Vec<u8>> = t.handed.iter().map(|h| h.0.clone()).collect();
            let first_difference = v.b.received.iter().zip(&handed).position(|(a, b)| a != b);
            prop_assert!(
                v.b.received == handed,
                "received {} PDUs, handed {}, first difference at {:?}",
                v.b.received.len(),
                handed.len(),
                first_difference
            );
            let requests: Vec<_> = t
                .handed
                .iter()
                .filter(|h| h.1 != TransmitKind::KeepAlive)
                .map(|h| h.0.clone())
                .collect();
            prop_assert_eq!(requests, script.iter().map(|s| s.0.clone()).collect::<Vec<_>>());
            prop_assert_eq!(t.refused_busy, n);
            prop_assert_eq!(t.outcomes.len(), n);
            for ((id, pdu, expect), (oid, outcome, written_at)) in t.issued.iter().zip(&t.outcomes) {
                prop_assert_eq!(id, oid);
                if *expect {
                    let expected = answer(pdu);
                    prop_assert_eq!(outcome.pdu(), expected.as_deref());
                } else {
                    prop_assert_eq!(outcome, &RequestOutcome::SentNoResponse);
                    let (_, _, before) = t
                        .handed
                        .iter()
                        .find(|h| h.1 == TransmitKind::Request { id: *id, attempt: 1 })
                        .unwrap();
                    prop_assert!(written_at - before >= frames_for(pdu.len()));
                }
            }
        }

        /// On a lossy link: each request still has exactly one outcome (a response, a timeout
        /// or a send failure), in order; what reaches the module is what was handed, in order,
        /// with gaps only where frames were lost.
        #[test]
        fn busy_channel_rule_under_loss(
            script in script(),
            keep_alive in (2u64..40, 2usize..22),
            block_size in 0u8..4,
            st_min_ms in 0u8..4,
            per_mille in 1u16..80,
            seed in any::<u64>(),
        ) {
            let n = script.len();
            let mut v = rig(script, keep_alive, block_size, st_min_ms, 300, Loss::Random { per_mille, seed });
            v.run_for(Duration::from_secs(600));
            let t = &v.a;
            prop_assert!(t.script.is_empty() && t.link.in_flight().is_none(), "script not finished");
            prop_assert_eq!(t.outcomes.len(), n);
            for ((id, pdu, _), (oid, outcome, _)) in t.issued.iter().zip(&t.outcomes) {
                prop_assert_eq!(id, oid);
                if let Some(p) = outcome.pdu() {
                    let expected = answer(pdu);
                    prop_assert_eq!(Some(p), expected.as_deref());
                }
            }
            let mut handed = t.handed.iter().map(|h| &h.0);
            for got in &v.b.received {
                prop_assert!(handed.any(|h| h == got), "{got:02X?} not handed in this order");
            }
        }
    }
}
