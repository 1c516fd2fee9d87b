//! The diagnostic layer above ISO-TP: KWP2000 (ISO 14230-3) and UDS (ISO 14229-1).
//!
//! Pure and sans-IO, on whole PDUs: [`codec`] names services and negative response codes and
//! classifies responses; [`dtc`] turns DTC bytes into SAE text and parses DTC-list responses;
//! [`hex`] reads and writes hex text for the command line; [`client`] is the request/response
//! state machine (P2, P2*, `0x78`, `0x21` back-off, session tracking, automatic keep-alive);
//! [`link`] joins it to an ISO-TP channel (ISO 15765-2) for one module: CAN frames in and out,
//! one [`RequestOutcome`] per request, the busy-channel rule kept once. Drivers run a [`Link`]
//! on a bus, passing the time in. [`report`] gives what the diagnostic commands print about
//! a reply, a scan and a DTC list, with their verdicts.

pub mod client;
pub mod codec;
pub mod dtc;
pub mod hex;
pub mod link;
pub mod pairing;
pub mod report;
pub mod scan;
pub mod sniff;

pub use client::{
    BusyRetry, Client, ClientConfig, ClientError, ClientEvent, ConfigError, KeepAlive,
    MismatchReason, RequestId, RequestOptions, TimeoutReason, Transmit, TransmitKind,
};
pub use codec::{Dialect, Nrc, ResponseClass, ServiceId, Unrelated, classify_response};
pub use dtc::{Dtc, DtcRecord, DtcStatus, UdsDtc};
pub use hex::{format_hex, parse_hex};
pub use link::{Link, LinkError, LinkEvent, RequestOutcome};
