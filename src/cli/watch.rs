//! `canrelearn watch`: communication-loss events for messages and nodes, live or over a log.

use std::io::{self, Write};
use std::time::Duration;

use anyhow::anyhow;
use canrelearn::dbc::Database;
use canrelearn::drive::stream::Limits;
use canrelearn::drive::watch::Live;
use canrelearn::log::Walk;
use canrelearn::watch::ArmedWatch;
use canrelearn::watch::report::{self, ExpectSpec, Format, Judgement, Reporter};

use super::capture::{self, BadLines};
use super::common::{DbcArgs, parse_seconds, runtime};
use super::source::{self, Source};
use super::{CliError, WithCode, exit, input, out};

/// Report when messages and nodes stop arriving, and when they come back, as a car's own
/// U1000-style diagnosis would.
///
/// Expectations come from the DBC: each message's sender (`BO_`) and `GenMsgCycleTime`. A
/// message is lost when unseen for max(K x cycle, MIN) (defaults 10 and 2 s); a node when
/// none of its messages arrived for max(MIN, K x its fastest cycle). Detection is armed only
/// while the DBC's `CanrelearnWatchArm` condition holds (the bundled J11 DBC: ignition ON), so
/// the sleep handshake at ignition OFF is not reported; after arming, a grace period lets
/// modules wake up. SOURCE is an interface or a log; logs are watched at full speed using
/// their own timestamps, one after another. With --baseline HEALTHY.log the expectations are
/// learnt from a capture of the healthy car instead, no DBC needed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Interfaces, or logs (`-` for stdin); not both.
    #[arg(value_name = "SOURCE", required = true)]
    pub sources: Vec<Source>,

    #[command(flatten)]
    pub dbc: DbcArgs,

    /// Output format: text for people, jsonl (one event per line, stable).
    #[arg(long, value_enum, default_value_t = WatchFormat::Text)]
    pub format: WatchFormat,

    /// Exit with code 3 when a loss was seen, 6 when nothing could be judged (the arming
    /// condition never held, or a node was neither seen nor past its first timeout).
    #[arg(long)]
    pub fail_on_loss: bool,

    #[command(flatten)]
    pub setup: Setup,
}

/// What is watched and when: shared by `watch` and `plot --nodes`.
#[derive(Debug, clap::Args)]
pub struct Setup {
    /// Only watch these nodes (repeat for several); default: every node that sends a
    /// message with a cycle time.
    #[arg(long = "node", value_name = "NAME")]
    pub nodes: Vec<String>,

    /// Also watch an id the DBC does not describe: ID:PERIOD_MS[:NODE] (hex id, e.g.
    /// `5E4:100:METER`).
    #[arg(long = "expect", value_name = "ID:MS[:NODE]", value_parser = ExpectSpec::parse)]
    pub expect: Vec<ExpectSpec>,

    /// Timeout factor K (lost after K cycle times).
    #[arg(long, value_name = "K", default_value_t = 10.0)]
    pub timeout_factor: f64,

    /// Shortest timeout in seconds.
    #[arg(long, value_name = "S", default_value = "2", value_parser = parse_seconds, allow_negative_numbers = true)]
    pub min_timeout: Duration,

    /// Grace period in seconds after arming before a never-seen message counts.
    #[arg(long, value_name = "S", default_value = "2", value_parser = parse_seconds, allow_negative_numbers = true)]
    pub grace: Duration,

    /// Arm only while this signal condition holds, e.g. `BODY_STATUS.IGNITION_STATE=3`
    /// (operators = != >= <= > <), or while a message keeps arriving: a name or an id such
    /// as `0x002` (a frame sent only with the ignition ON; disarmed once it has been away
    /// 5 cycles, 0.1 to 1 s). Overrides the DBC's CanrelearnWatchArm.
    #[arg(long, value_name = "MSG.SIG=V|MSG|ID", conflicts_with = "always_armed")]
    pub arm_on: Option<String>,

    /// Arm from the first frame, ignoring any condition in the DBC.
    #[arg(long)]
    pub always_armed: bool,

    /// Watch what this capture of the healthy car shows instead of the DBC's cycle times:
    /// every periodic id at its measured median period (ids with too few frames, irregular
    /// timing or not present throughout are listed on stderr, not watched). Without --dbc
    /// each id is a node of its own (`id 35D`); with --dbc, names and senders come from the
    /// DBC where it knows the id, and its arming condition is used if the capture carries
    /// the arming message. Otherwise the watch is armed from the first frame (or --arm-on).
    #[arg(long, value_name = "HEALTHY.log")]
    pub baseline: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WatchFormat {
    Text,
    Jsonl,
}

/// The watch writing to stdout, its warnings on stderr.
type Session = Reporter<io::BufWriter<super::out::VerdictOut>, fn(String)>;

/// How to make a watch that cannot judge right (named when the arming never holds).
const WAYS_OUT: &str = "--arm-on MSG.SIG=V (a condition this car's frames satisfy), --arm-on ID (armed while a frame sent only with the ignition ON arrives, e.g. 0x002 on CMF cars), --always-armed, or --baseline HEALTHY.log (learn this car's periodic frames)";

/// The armed watch that `setup` describes: expectations from the DBC (or the baseline), the
/// arming condition, the timeouts. Notes and the baseline's description go to stderr.
pub fn armed_watch(setup: &Setup, dbc: &DbcArgs) -> Result<ArmedWatch, CliError> {
    let args = setup;
    let baseline = match &args.baseline {
        Some(path) => {
            let b = capture::learn(path)?;
            out::note(format!(
                "baseline {}",
                b.describe(&path.display().to_string(), 20)
            ));
            b.require_periodic(&path.display().to_string())
                .map_err(|e| anyhow!(e))
                .code(exit::USAGE)?;
            Some(b)
        }
        None => None,
    };
    // With a baseline the bundled DBC is not assumed to fit the car: only a DBC given names.
    let db = if baseline.is_some() && dbc.dbc.is_empty() {
        Database::empty()
    } else {
        input::load_dbcs(&dbc.dbc)?
    };
    let (watch, notes) = report::build(
        &report::Setup {
            nodes: &args.nodes,
            expect: &args.expect,
            timeout_factor: args.timeout_factor,
            min_timeout: args.min_timeout,
            grace: args.grace,
            arm_on: args.arm_on.as_deref(),
            always_armed: args.always_armed,
        },
        &db,
        baseline.as_ref(),
    )
    .map_err(anyhow::Error::from)
    .code(exit::USAGE)?;
    for n in notes {
        out::note(n);
    }
    Ok(watch)
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let watch = armed_watch(&args.setup, &args.dbc)?;
    let format = match args.format {
        WatchFormat::Text => Format::Text,
        WatchFormat::Jsonl => Format::Jsonl,
    };
    let mut session: Session = Reporter::new(
        watch,
        format,
        io::BufWriter::new(super::out::VerdictOut::new()),
        WAYS_OUT,
        |w: String| out::warn(w),
    );
    let sources = &args.sources;
    let is_log = sources.iter().map(|s| matches!(s, Source::Log(_)));
    if report::watches_logs(is_log).code(exit::USAGE)? {
        let mut bad = BadLines::new();
        for s in sources {
            let Source::Log(path) = s else { continue };
            watch_log(&mut session, path, &mut bad)?;
        }
        bad.finish();
    } else {
        watch_live(&mut session, sources)?;
    }
    let summary = session.finish()?;
    if format == Format::Jsonl {
        let _ = io::stderr().write_all(summary.text.as_bytes());
    }
    Ok(match (args.fail_on_loss, summary.judgement) {
        (false, _) | (true, Judgement::Ok) => exit::OK,
        (true, Judgement::Lost) => exit::COMM_LOST,
        (true, Judgement::NotJudged) => exit::NOT_JUDGED,
    })
}

/// Over a log, at full speed, on the log's own time line; losses are due up to the last frame
/// read (what was read before damage included).
fn watch_log(
    session: &mut Session,
    path: &std::path::Path,
    bad: &mut BadLines,
) -> Result<(), CliError> {
    let end = capture::each_frame(path, bad, |t, f| Ok(session.frame(t, f)?))?;
    session.timeout_at_last_frame()?;
    match end {
        Walk::Failed(e) => Err(capture::read_error(e)),
        Walk::Complete | Walk::Stopped => Ok(()),
    }
}

/// Live: frames as they arrive, losses when their time comes on the system clock.
fn watch_live(session: &mut Session, sources: &[Source]) -> Result<(), CliError> {
    let rt = runtime()?;
    rt.block_on(async {
        let merged = source::open_merged(sources, &[], canrelearn::bus::Pacing::Unpaced)?;
        let mut bad = BadLines::new();
        let mut live = Live::new(session, |t: String| bad.report(&t));
        let streamed = merged.run(Limits::default(), &mut live).await?;
        live.finish()?;
        source::close(streamed.failure, &bad)
    })
}
