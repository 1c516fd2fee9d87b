//! `canrelearn watch`: communication-loss events for messages and nodes, live or over a log.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::anyhow;
use canrelearn::bus::{Clock, SystemClock};
use canrelearn::dbc::{Database, Decoded, PhysicalValue};
use canrelearn::frame::{Frame, Id};
use canrelearn::log::Item;
use canrelearn::time::Timestamp;
use canrelearn::watch::{
    ArmCondition, Event, Expectation, Subject, WatchConfig, Watcher, expectations_from_dbc,
};

use super::capture::{self, BadLines};
use super::dump::{runtime, seconds, sleep_until};
use super::output::push_json_str;
use super::signals::{self, Interrupts};
use super::source::{self, Source};
use super::{CliError, WithCode, exit, input};

/// Report when messages and nodes stop arriving, and when they come back, as a car's own
/// U1000-style diagnosis would.
///
/// Expectations come from the DBC: each message's sender (`BO_`) and `GenMsgCycleTime`. A
/// message is lost when unseen for max(K x cycle, MIN) (defaults 10 and 2 s); a node when
/// none of its messages arrived for max(MIN, K x its fastest cycle). Detection is armed only
/// while the DBC's `CanrelearnWatchArm` condition holds (the bundled J11 DBC: ignition ON), so
/// the sleep handshake at ignition OFF is not reported; after arming, a grace period lets
/// modules wake up. SOURCE is an interface or a log; logs are watched at full speed using
/// their own timestamps, one after another.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Interfaces, or logs (`-` for stdin); not both.
    #[arg(value_name = "SOURCE", required = true)]
    pub sources: Vec<String>,

    /// DBC file with the expectations (repeat for several); default: the bundled J11 DBC.
    #[arg(long = "dbc", value_name = "FILE")]
    pub dbc: Vec<PathBuf>,

    /// Only watch these nodes (repeat for several); default: every node that sends a
    /// message with a cycle time.
    #[arg(long = "node", value_name = "NAME")]
    pub nodes: Vec<String>,

    /// Also watch an id the DBC does not describe: ID:PERIOD_MS[:NODE] (hex id, e.g.
    /// `5E4:100:METER`).
    #[arg(long = "expect", value_name = "ID:MS[:NODE]", value_parser = parse_expect)]
    pub expect: Vec<(Id, Duration, Option<String>)>,

    /// Output format: text for people, jsonl (one event per line, stable).
    #[arg(long, value_enum, default_value_t = WatchFormat::Text)]
    pub format: WatchFormat,

    /// Exit with code 3 when a loss was seen.
    #[arg(long)]
    pub fail_on_loss: bool,

    /// Timeout factor K (lost after K cycle times).
    #[arg(long, value_name = "K", default_value_t = 10.0)]
    pub timeout_factor: f64,

    /// Shortest timeout in seconds.
    #[arg(long, value_name = "S", default_value_t = 2.0)]
    pub min_timeout: f64,

    /// Grace period in seconds after arming before a never-seen message counts.
    #[arg(long, value_name = "S", default_value_t = 2.0)]
    pub grace: f64,

    /// Arm only while this signal condition holds, e.g. `BODY_STATUS.IGNITION_STATE=3`
    /// (operators = != >= <= > <); overrides the DBC's CanrelearnWatchArm.
    #[arg(long, value_name = "MSG.SIG=V", conflicts_with = "always_armed")]
    pub arm_on: Option<String>,

    /// Arm from the first frame, ignoring any condition in the DBC.
    #[arg(long)]
    pub always_armed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WatchFormat {
    Text,
    Jsonl,
}

fn parse_expect(text: &str) -> Result<(Id, Duration, Option<String>), String> {
    let mut parts = text.split(':');
    let (Some(id), Some(ms)) = (parts.next(), parts.next()) else {
        return Err(format!("{text:?}: expected ID:PERIOD_MS[:NODE]"));
    };
    let node = parts.next().map(str::to_string);
    let raw = u32::from_str_radix(id.trim_start_matches("0x"), 16)
        .map_err(|_| format!("{id:?} is not a hex id"))?;
    let id = Id::new(raw, id.len() > 3 || raw > 0x7FF).ok_or(format!("{id:?} is not a CAN id"))?;
    let ms: u64 = ms
        .parse()
        .ok()
        .filter(|&m| m > 0)
        .ok_or(format!("{ms:?} is not a period in milliseconds"))?;
    Ok((id, Duration::from_millis(ms), node))
}

/// The watcher plus the arming condition and the output.
struct Session<'a, W: Write> {
    db: &'a Database,
    watcher: Watcher,
    arm: Option<(ArmCondition, Id)>,
    decoded: Decoded,
    format: WatchFormat,
    out: W,
    losses: u64,
    frames: u64,
    first: Option<Timestamp>,
    last: Timestamp,
}

fn secs(t: Timestamp) -> String {
    format!("{}.{:06}", t.secs(), t.subsec_micros())
}

impl<W: Write> Session<'_, W> {
    fn frame(&mut self, now: Timestamp, frame: &Frame) -> io::Result<()> {
        self.first.get_or_insert(now);
        self.last = self.last.max(now);
        self.frames += 1;
        let Some(id) = frame.id() else {
            return Ok(());
        };
        let mut change = None;
        if let (Some((cond, arm_id)), Some(data)) = (&self.arm, frame.payload())
            && *arm_id == id
            && let Some(m) = self.db.messages().get(cond.message_index())
            && m.decode_into(data, &mut self.decoded).is_ok()
            && let Some(s) = self.decoded.get(cond.signal_index())
        {
            let v = match s.physical {
                PhysicalValue::Int(i) => i as f64,
                PhysicalValue::Float(f) => f,
            };
            let armed = cond.holds(v);
            if armed != self.watcher.is_armed() {
                change = Some((armed, cond.text().to_string()));
            }
        }
        if let Some((armed, text)) = change {
            self.watcher.set_armed(now, armed);
            self.drain()?;
            if self.format == WatchFormat::Text {
                writeln!(
                    self.out,
                    "{}  {:<9} ({text} {})",
                    secs(now),
                    if armed { "ARMED" } else { "DISARMED" },
                    if armed { "holds" } else { "no longer holds" }
                )?;
            }
        }
        self.watcher.handle_frame(now, id);
        self.drain()
    }

    fn timeout(&mut self, now: Timestamp) -> io::Result<()> {
        self.watcher.handle_timeout(now);
        self.drain()
    }

    fn drain(&mut self) -> io::Result<()> {
        while let Some(e) = self.watcher.poll_event() {
            self.event(&e)?;
        }
        Ok(())
    }

    fn event(&mut self, e: &Event) -> io::Result<()> {
        let (lost, node, subject, at, last_seen) = match e {
            Event::Lost {
                node,
                subject,
                at,
                last_seen,
            } => (true, *node, subject, *at, *last_seen),
            Event::Restored {
                node,
                subject,
                at,
                last_seen,
                ..
            } => (false, *node, subject, *at, *last_seen),
        };
        if lost {
            self.losses += 1;
        }
        let node_name = self
            .watcher
            .node_names()
            .get(node)
            .cloned()
            .unwrap_or_default();
        let message = match subject {
            Subject::Message(i) => self.watcher.expectations().get(*i),
            Subject::Node => None,
        };
        match self.format {
            WatchFormat::Jsonl => {
                // Keys in the documented order; times exact to the microsecond.
                let mut line = Vec::with_capacity(160);
                line.extend_from_slice(b"{\"event\": ");
                push_json_str(&mut line, if lost { "lost" } else { "restored" });
                line.extend_from_slice(b", \"node\": ");
                push_json_str(&mut line, &node_name);
                line.extend_from_slice(b", \"message\": ");
                match message.and_then(|m| m.name.as_deref()) {
                    Some(n) => push_json_str(&mut line, n),
                    None => line.extend_from_slice(b"null"),
                }
                let id = message.map_or("null".to_string(), |m| m.id.raw().to_string());
                let last = last_seen.map_or("null".to_string(), secs);
                let _ = write!(
                    line,
                    ", \"id\": {id}, \"timestamp\": {}, \"last_seen\": {last}}}",
                    secs(at)
                );
                line.push(b'\n');
                self.out.write_all(&line)?;
            }
            WatchFormat::Text => {
                let what = match message {
                    Some(m) => format!(
                        "{node_name:<8} {} (0x{})",
                        m.name.as_deref().unwrap_or("(unknown message)"),
                        m.id
                    ),
                    None => format!("{node_name:<8} node"),
                };
                let detail = match (lost, last_seen) {
                    (true, Some(ls)) => format!(
                        "no frame for {:.3} s, last at {}",
                        at.saturating_duration_since(ls).as_secs_f64(),
                        secs(ls)
                    ),
                    (true, None) => "never seen since arming".to_string(),
                    (false, Some(ls)) => format!(
                        "back after a {:.3} s gap",
                        at.saturating_duration_since(ls).as_secs_f64()
                    ),
                    (false, None) => "first frame".to_string(),
                };
                writeln!(
                    self.out,
                    "{}  {:<9} {what:<36} {detail}",
                    secs(at),
                    if lost { "LOST" } else { "RESTORED" }
                )?;
            }
        }
        Ok(())
    }

    fn summary(&mut self) -> io::Result<()> {
        let end = self.last;
        let summary = self.watcher.summary(end);
        let mut text = String::new();
        use std::fmt::Write as _;
        let span = match self.first {
            Some(first) => format!(
                "{} to {} ({:.3} s, {} frames)",
                secs(first),
                secs(end),
                end.saturating_duration_since(first).as_secs_f64(),
                self.frames
            ),
            None => "no frames".to_string(),
        };
        let _ = writeln!(text, "Summary, {span}:");
        let _ = writeln!(
            text,
            "  {:<10} {:>6} {:>12}  now",
            "node", "losses", "downtime"
        );
        for (name, s) in self.watcher.node_names().iter().zip(&summary) {
            let _ = writeln!(
                text,
                "  {name:<10} {:>6} {:>10.3} s  {}",
                s.losses,
                s.downtime.as_secs_f64(),
                if s.lost_now { "LOST" } else { "ok" }
            );
        }
        match self.format {
            WatchFormat::Text => self.out.write_all(text.as_bytes()),
            WatchFormat::Jsonl => {
                self.out.flush()?;
                io::stderr().write_all(text.as_bytes())
            }
        }
    }
}

fn expectations(db: &Database, args: &Args) -> Result<Vec<Expectation>, CliError> {
    let known: BTreeSet<&str> = db
        .messages()
        .iter()
        .filter_map(|m| m.transmitter())
        .collect();
    for n in &args.nodes {
        if !known.contains(n.as_str()) && !args.expect.iter().any(|e| e.2.as_deref() == Some(n)) {
            return Err(CliError::new(
                exit::USAGE,
                anyhow!(
                    "no message in the DBC is sent by node {n} (nodes that send: {})",
                    known.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    }
    let wanted = |node: &str| args.nodes.is_empty() || args.nodes.iter().any(|n| n == node);
    let mut list: Vec<Expectation> = expectations_from_dbc(db)
        .into_iter()
        .filter(|e| wanted(&e.node))
        .collect();
    for (id, period, node) in &args.expect {
        let node = node.clone().unwrap_or_else(|| format!("id {id}"));
        if wanted(&node) || node.starts_with("id ") {
            list.retain(|e| e.id != *id);
            list.push(Expectation {
                id: *id,
                name: db.message_by_id(*id).map(|m| m.name().to_string()),
                node,
                cycle: *period,
            });
        }
    }
    if list.is_empty() {
        return Err(CliError::new(
            exit::USAGE,
            anyhow!("nothing to watch: no message with a sender and a cycle time (use --expect)"),
        ));
    }
    Ok(list)
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let db = input::load_dbcs(&args.dbc)?;
    if !(args.timeout_factor.is_finite() && args.timeout_factor > 0.0) {
        return Err(CliError::new(
            exit::USAGE,
            anyhow!("--timeout-factor must be a positive number"),
        ));
    }
    let arm_text = if args.always_armed {
        None
    } else {
        args.arm_on
            .clone()
            .or_else(|| db.attribute(ArmCondition::ATTRIBUTE).map(str::to_string))
            .filter(|t| !t.trim().is_empty())
    };
    let arm = match &arm_text {
        Some(t) => {
            let cond = ArmCondition::parse(&db, t)
                .map_err(|e| anyhow!("arming condition: {e}"))
                .code(exit::USAGE)?;
            let id = cond
                .message_id(&db)
                .ok_or_else(|| anyhow!("arming condition: no such message"))
                .code(exit::USAGE)?;
            Some((cond, id))
        }
        None => None,
    };
    let config = WatchConfig {
        timeout_factor: args.timeout_factor,
        min_timeout: seconds(args.min_timeout, "--min-timeout")?,
        grace: seconds(args.grace, "--grace")?,
        start_armed: arm.is_none(),
    };
    let watcher = Watcher::new(config, expectations(&db, &args)?).code(exit::USAGE)?;
    let mut session = Session {
        db: &db,
        watcher,
        arm,
        decoded: Decoded::new(),
        format: args.format,
        out: io::BufWriter::new(io::stdout().lock()),
        losses: 0,
        frames: 0,
        first: None,
        last: Timestamp::ZERO,
    };
    let sources: Vec<Source> = args.sources.iter().map(|s| Source::parse(s)).collect();
    let logs = sources
        .iter()
        .filter(|s| matches!(s, Source::Log(_)))
        .count();
    if logs > 0 && logs < sources.len() {
        return Err(CliError::new(
            exit::USAGE,
            anyhow!("watch either interfaces or logs, not both"),
        ));
    }
    if logs > 0 {
        let mut bad = BadLines::new();
        for s in &sources {
            let Source::Log(path) = s else { continue };
            watch_log(&mut session, path, &mut bad)?;
        }
        bad.finish();
    } else {
        watch_live(&mut session, &sources)?;
    }
    session.summary()?;
    session.out.flush()?;
    Ok(if args.fail_on_loss && session.losses > 0 {
        exit::COMM_LOST
    } else {
        exit::OK
    })
}

/// Over a log, at full speed, on the log's own time line.
fn watch_log<W: Write>(
    session: &mut Session<'_, W>,
    path: &std::path::Path,
    bad: &mut BadLines,
) -> Result<(), CliError> {
    let mut reader = capture::open_reader(path, None)?;
    loop {
        if signals::interrupted() {
            break;
        }
        match reader.read_item() {
            Ok(Some(Item::Record(r))) => {
                let (ts, frame) = (r.timestamp, r.frame);
                session.frame(ts, &frame)?;
            }
            Ok(Some(Item::Bad(e))) => bad.report(&e),
            Ok(Some(Item::Other(_) | Item::Skipped(_))) => {}
            Ok(None) => break,
            Err(e) => {
                // What was read up to the damage is judged, then the error is the outcome.
                let end = session.last;
                session.timeout(end)?;
                return Err(capture::read_error(e));
            }
        }
    }
    // Losses due up to the end of the log; what might have happened after it is unknown.
    let end = session.last;
    session.timeout(end)?;
    Ok(())
}

/// Live: frames as they arrive, losses when their time comes on the system clock.
fn watch_live<W: Write>(session: &mut Session<'_, W>, sources: &[Source]) -> Result<(), CliError> {
    let rt = runtime()?;
    rt.block_on(async {
        let buses = source::open_all(sources, &[], canrelearn::bus::Pacing::Unpaced)?;
        let mut progress = source::Progress::new(buses.len());
        let mut rx = source::merge(buses);
        let clock = SystemClock;
        let mut interrupts = Interrupts::new();
        while progress.open > 0 {
            let wake = session.watcher.poll_timeout().map(|due| {
                let wait = due.saturating_duration_since(clock.now());
                tokio::time::Instant::now() + wait
            });
            tokio::select! {
                m = rx.recv() => {
                    let Some(m) = m else { break };
                    source::drain(&mut rx, m, &mut progress, |r| {
                        session.frame(r.timestamp, &r.frame)?;
                        Ok(true)
                    })?;
                }
                _ = sleep_until(wake) => session.timeout(clock.now())?,
                _ = interrupts.recv() => break,
            }
            session.out.flush()?;
        }
        let now = clock.now();
        session.last = session.last.max(now);
        session.timeout(now)?;
        progress.finish()
    })
}
