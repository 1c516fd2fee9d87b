//! `canrelearn diag`: diagnostic requests over ISO-TP (KWP2000 / UDS), module scan, DTCs, and
//! passive decoding of diagnostic conversations.
//!
//! Thin: the protocol work is in `drive::diag` (ISO-TP + client on a bus, the session settings
//! of `LinkSettings`), `isotp::Reassembler` and `diag::{codec, dtc, hex, sniff}`; what a reply,
//! a scan and a DTC list print, and their verdicts, is `diag::report`. Module names come from
//! the bundled simulator profile (`scripts/simulator/qashqai-j11.toml`), never from Rust
//! constants.

use std::io::{self, Write};
use std::time::Duration;

use anyhow::{Context, anyhow};
use canrelearn::bus::{Pacing, SocketCanBus, SocketCanOptions};
use canrelearn::diag::report::{self, Verdict};
use canrelearn::diag::scan::{self, IdRange};
use canrelearn::diag::sniff::{self, Stream};
use canrelearn::diag::{Dialect, RequestOptions, hex, parse_hex};
use canrelearn::drive::diag::{
    self as drive_diag, DiagSession, DtcTarget, LinkSettings, Reply, RequestOutcome as Outcome,
    ScanError,
};
use canrelearn::drive::isotp::unix_tokio_clock;
use canrelearn::drive::sniff::SniffWriter;
use canrelearn::drive::stream::{End, Limits};
use canrelearn::frame::Id;
use std::ops::ControlFlow;

use super::capture::BadLines;
use super::input::parse_id;
use super::signals;
use super::source::{self, Source};
use super::{CliError, WithCode, consent, exit};

/// Diagnostics over ISO-TP: send requests, scan for modules, read and clear DTCs, sniff.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// Send one request PDU and print the response.
    ///
    /// The first line of standard output is the response PDU in hex (`50 C0`). Exit 0 for a
    /// positive response, 1 for a negative one (its NRC name and meaning follow), 4 when the
    /// module does not answer.
    Request(RequestArgs),
    /// Find the modules that answer diagnostics (read-only: `1A 81`, then `21 83`, `22 F1 90`).
    ///
    /// One line per module that answers. Exit 0 when one did; 1 when none did (`no module
    /// answered`: the wrong interface, bit rate or --ids, or the ignition off).
    Scan(ScanArgs),
    /// Read or clear stored diagnostic trouble codes.
    Dtc(DtcArgs),
    /// Decode diagnostic conversations passively, on a live bus or in a log.
    ///
    /// Each complete ISO-TP message on the diagnostic ids is one line: the time of its first
    /// frame, the CAN id, the kind (request, positive, negative, pending, or broken for a
    /// transfer that did not complete), the PDU in hex, the service or NRC name and meaning,
    /// and for a response the time since the end of the request it answers.
    ///
    /// Exit 0 when messages were found; 1 when none was (said on stderr, with the number of
    /// frames read: the conversation may be on other --ids); 2 for a malformed or damaged
    /// log; 4 when an interface fails.
    Sniff(SniffArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DialectArg {
    Kwp2000,
    Uds,
}

impl From<DialectArg> for Dialect {
    fn from(d: DialectArg) -> Dialect {
        match d {
            DialectArg::Kwp2000 => Dialect::Kwp2000,
            DialectArg::Uds => Dialect::Uds,
        }
    }
}

/// How to talk to a module: interface, framing and timing.
#[derive(Debug, Clone, clap::Args)]
struct Link {
    /// The CAN interface (e.g. can0, vcan0).
    #[arg(long, value_name = "IFACE")]
    iface: String,

    /// Pad frames to 8 bytes with this byte (hex), or `none` for minimal lengths. Default FF
    /// (seen on an R51's bus, not verified on the J11), or the module's padding from the
    /// profile with --module.
    #[arg(long, value_name = "XX|none")]
    padding: Option<String>,

    /// Response timeout P2 in milliseconds (default 1000).
    #[arg(long, value_name = "MS")]
    p2_ms: Option<u64>,

    /// Timeout after each response-pending (0x78) in milliseconds (default 5000).
    #[arg(long, value_name = "MS")]
    p2_star_ms: Option<u64>,

    /// Send CAN FD frames (64 bytes, bit rate switch).
    #[arg(long)]
    fd: bool,

    /// The diagnostic protocol (names of services and codes, default session).
    #[arg(long, value_enum, default_value_t = DialectArg::Kwp2000)]
    dialect: DialectArg,

    /// Ids are 29-bit (also implied by 8 hex digits).
    #[arg(long)]
    extended: bool,

    /// Send on a real (non-virtual) CAN interface without asking first (each use is noted on
    /// stderr). Without it, the command asks at the terminal, and sends nothing when there is
    /// no terminal.
    #[arg(long)]
    yes: bool,
}

#[derive(Debug, clap::Args)]
struct RequestArgs {
    #[command(flatten)]
    link: Link,

    /// Request id (hex: 0x745 or 745).
    #[arg(long, value_name = "ID")]
    tx: String,

    /// Response id (hex).
    #[arg(long, value_name = "ID")]
    rx: String,

    /// Do not wait for a response (for `3E 80`).
    #[arg(long)]
    no_response: bool,

    /// The request bytes as hex pairs, separate or joined (`10 C0`, `10C0`).
    #[arg(value_name = "HEX", required = true, num_args = 1..)]
    bytes: Vec<String>,
}

#[derive(Debug, clap::Args)]
struct ScanArgs {
    #[command(flatten)]
    link: Link,

    /// Request ids to probe: `START-END+OFFSET` (response = request + OFFSET, all hex), or
    /// `TX:RX`. Default: 740-74F+20, 7E0-7E7+8, 71E:72E.
    #[arg(long, value_name = "RANGE", num_args = 1..)]
    ids: Vec<String>,

    /// How long to wait for each probe, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 150)]
    timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DtcAction {
    Read,
    Clear,
}

#[derive(Debug, clap::Args)]
struct DtcArgs {
    /// Read the stored DTCs, or clear them.
    #[arg(value_enum)]
    action: DtcAction,

    #[command(flatten)]
    link: Link,

    /// The module, by its name in the bundled profile (BCM, IPDM_ER, METER, ECM, ABS, EPS).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["tx", "rx"], required_unless_present = "tx")]
    module: Option<String>,

    /// Request id (hex), with --rx, instead of --module.
    #[arg(long, value_name = "ID", requires = "rx")]
    tx: Option<String>,

    /// Response id (hex).
    #[arg(long, value_name = "ID", requires = "tx")]
    rx: Option<String>,

    /// The request to send instead of the default (read: KWP2000 `18 02 FF 00`, UDS
    /// `19 02 FF`; clear: KWP2000 `14 FF 00`, UDS `14 FF FF FF`).
    #[arg(long, value_name = "HEX")]
    request: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum SniffFormat {
    Text,
    Jsonl,
}

#[derive(Debug, clap::Args)]
struct SniffArgs {
    /// Interfaces or candump logs (`-` for standard input); several are merged.
    #[arg(value_name = "SOURCE", required = true)]
    sources: Vec<Source>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = SniffFormat::Text)]
    format: SniffFormat,

    /// Ids carrying diagnostics: `START-END` or `ID` (hex; 8 digits for 29-bit). Default:
    /// 700-7FF and the 29-bit 18DA0000-18DAFFFF.
    #[arg(long, value_name = "RANGE", num_args = 1..)]
    ids: Vec<String>,

    /// Names for services and codes.
    #[arg(long, value_enum, default_value_t = DialectArg::Kwp2000)]
    dialect: DialectArg,
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let rt = super::common::runtime()?;
    match args.command {
        Cmd::Request(a) => rt.block_on(request(a)),
        Cmd::Scan(a) => rt.block_on(scan(a)),
        Cmd::Dtc(a) => rt.block_on(dtc(a)),
        Cmd::Sniff(a) => rt.block_on(sniff(a)),
    }
}

// ---------------------------------------------------------------------------------------------
// Arguments

fn parse_padding(text: Option<&str>, default: Option<u8>) -> Result<Option<u8>, CliError> {
    match text {
        None => Ok(default),
        Some(t) => hex::parse_padding(t)
            .map_err(|e| anyhow!("--padding takes {e}"))
            .code(exit::USAGE),
    }
}

impl Link {
    /// The settings these options give, the padding `default_padding` unless --padding.
    fn settings(&self, default_padding: Option<u8>) -> Result<LinkSettings, CliError> {
        Ok(LinkSettings {
            dialect: self.dialect.into(),
            padding: parse_padding(self.padding.as_deref(), default_padding)?,
            fd: self.fd,
            p2: self.p2_ms.map(Duration::from_millis),
            p2_star: self.p2_star_ms.map(Duration::from_millis),
        })
    }
}

fn open_iface(iface: &str) -> Result<SocketCanBus, CliError> {
    SocketCanBus::open(iface, &SocketCanOptions::default())
        .with_context(|| format!("cannot open CAN interface {iface}"))
        .code(exit::BUS_IO)
}

fn diag_err(e: canrelearn::drive::diag::DiagError) -> CliError {
    use canrelearn::drive::diag::DiagError;
    let code = match e {
        DiagError::Bus(_) => exit::BUS_IO,
        _ => exit::USAGE,
    };
    CliError::new(code, e)
}

// ---------------------------------------------------------------------------------------------
// diag request

async fn request(a: RequestArgs) -> Result<u8, CliError> {
    let tx = parse_id(&a.tx, a.link.extended)?;
    let rx = parse_id(&a.rx, a.link.extended)?;
    let pdu = parse_hex(&a.bytes.join(" "))
        .context("request bytes")
        .code(exit::USAGE)?;
    let cfg = a
        .link
        .settings(LinkSettings::DEFAULT_PADDING)?
        .session(tx, rx);
    let dialect = cfg.client.dialect;
    let what = drive_diag::request_consent(dialect, &pdu, tx);
    consent::require(&[&a.link.iface], &what, a.link.yes)?;
    let bus = open_iface(&a.link.iface)?;
    let mut session = DiagSession::new(bus, cfg, unix_tokio_clock()).code(exit::USAGE)?;
    let opts = if a.no_response {
        RequestOptions::no_response()
    } else {
        RequestOptions::default()
    };
    let reply = session.request(&pdu, opts).await.map_err(diag_err)?;
    report_reply(&reply, &pdu, tx, rx, dialect)
}

/// Prints a reply the way `diag request` documents it and returns the exit code.
fn report_reply(
    reply: &Reply,
    pdu: &[u8],
    tx: Id,
    rx: Id,
    dialect: Dialect,
) -> Result<u8, CliError> {
    let report = reply.report(pdu, tx, rx, dialect);
    if let Some(note) = report.note {
        super::out::note(note);
    }
    let mut out = io::stdout().lock();
    for line in &report.lines {
        writeln!(out, "{line}")?;
    }
    match report.verdict.code(exit::BUS_IO)? {
        Verdict::Positive | Verdict::Sent => Ok(exit::OK),
        Verdict::Negative => Ok(exit::FAILURE),
    }
}

// ---------------------------------------------------------------------------------------------
// diag scan

async fn scan(a: ScanArgs) -> Result<u8, CliError> {
    let pairs = scan::scan_pairs_of(&a.ids, a.link.extended)
        .map_err(|e| anyhow!("--ids {e}"))
        .code(exit::USAGE)?;
    let what = scan::probe_description(pairs.len());
    consent::require(&[&a.link.iface], &what, a.link.yes)?;
    let settings = a.link.settings(LinkSettings::DEFAULT_PADDING)?;
    let timeout = Duration::from_millis(a.timeout_ms);
    let config = |tx, rx| settings.probe(tx, rx, timeout);
    let bus = open_iface(&a.link.iface)?;
    let mut out = io::stdout().lock();
    let mut found = 0usize;
    let mut write_error = None;
    let dialect = Dialect::from(a.link.dialect);
    let scanned = drive_diag::scan(bus, &pairs, scan::PROBES, config, unix_tokio_clock(), |m| {
        found += 1;
        let line = report::module_line(m.request, m.response, m.probe, &m.outcome, dialect);
        match writeln!(out, "{line}").and_then(|()| out.flush()) {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                write_error = Some(e);
                ControlFlow::Break(())
            }
        }
    })
    .await;
    if let Some(e) = write_error {
        return Err(e.into());
    }
    match scanned {
        Ok(_) => {}
        Err(ScanError::Setup(e)) => return Err(CliError::new(exit::USAGE, e)),
        Err(ScanError::Diag(e)) => return Err(diag_err(e)),
    }
    if found == 0 {
        writeln!(out, "{}", report::NO_MODULE)?;
        return Ok(exit::FAILURE);
    }
    Ok(exit::OK)
}

// ---------------------------------------------------------------------------------------------
// diag dtc

async fn dtc(a: DtcArgs) -> Result<u8, CliError> {
    let dialect = Dialect::from(a.link.dialect);
    let target = match (&a.module, &a.tx, &a.rx) {
        (Some(name), _, _) => {
            let profile = super::input::bundled_profile()?;
            DtcTarget::module(&profile, name, a.link.extended)
                .map_err(|e| anyhow!(e))
                .code(exit::USAGE)?
        }
        (None, Some(t), Some(r)) => {
            DtcTarget::ids(parse_id(t, a.link.extended)?, parse_id(r, a.link.extended)?)
        }
        _ => return Err(fail!(USAGE, "give --module NAME or --tx ID --rx ID")),
    };
    let (tx, rx) = (target.request, target.response);
    let action = match a.action {
        DtcAction::Read => scan::DtcAction::Read,
        DtcAction::Clear => scan::DtcAction::Clear,
    };
    let pdu = scan::dtc_pdu(action, dialect, a.request.as_deref())
        .context("--request")
        .code(exit::USAGE)?;
    let what = target.consent(dialect, &pdu);
    consent::require(&[&a.link.iface], &what, a.link.yes)?;
    let cfg = a.link.settings(target.padding)?.session(tx, rx);
    let bus = open_iface(&a.link.iface)?;
    let mut session = DiagSession::new(bus, cfg, unix_tokio_clock()).code(exit::USAGE)?;
    let reply = session
        .request(&pdu, RequestOptions::default())
        .await
        .map_err(diag_err)?;
    let Outcome::Positive { pdu: resp, .. } = &reply.outcome else {
        return report_reply(&reply, &pdu, tx, rx, dialect);
    };
    let mut out = io::stdout().lock();
    for line in report::dtc_lines(action, resp).code(exit::FAILURE)? {
        writeln!(out, "{line}")?;
    }
    Ok(exit::OK)
}

// ---------------------------------------------------------------------------------------------
// diag sniff

async fn sniff(a: SniffArgs) -> Result<u8, CliError> {
    let ranges = IdRange::parse_all(&a.ids)
        .map_err(|e| anyhow!("--ids {e}"))
        .code(exit::USAGE)?;
    let sources = &a.sources;
    let all_logs = sources.iter().all(|s| matches!(s, Source::Log(_)));
    let merged = source::open_merged(sources, &[], Pacing::Unpaced)?;
    let format = match a.format {
        SniffFormat::Text => sniff::Format::Text,
        SniffFormat::Jsonl => sniff::Format::Jsonl,
    };
    let stream = Stream::new(a.dialect.into(), ranges);
    let mut bad = BadLines::new();
    let mut sniffer = SniffWriter::new(stream, format, io::stdout().lock(), |t: String| {
        bad.report(&t)
    });
    let streamed = merged.run(Limits::default(), &mut sniffer).await?;
    // Transfers still open are given as broken.
    sniffer.finish()?;
    let messages = sniffer.messages();
    drop(sniffer);
    source::close(streamed.failure, &bad)?;
    if streamed.end == End::Stopped && all_logs {
        return Ok(signals::exit_code());
    }
    if messages == 0 {
        super::out::warn(sniff::nothing_found(streamed.frames, &a.ids));
        return Ok(exit::FAILURE);
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_parse_padding() {
        assert_eq!(parse_padding(None, Some(0xFF)).unwrap(), Some(0xFF));
        assert_eq!(parse_padding(Some("none"), Some(0xFF)).unwrap(), None);
        assert_eq!(parse_padding(Some("0xAA"), None).unwrap(), Some(0xAA));
        assert!(parse_padding(Some("AABB"), None).is_err());
    }
}
