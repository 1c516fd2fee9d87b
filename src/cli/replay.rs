//! `canrelearn replay`: send a log's frames onto interfaces, on time.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use canrelearn::bus::{Bus, SocketCanBus, SocketCanOptions, filters_match};
use canrelearn::drive::precise;
use canrelearn::drive::replay::{self, LogPasses, PassError, Replayed};
use canrelearn::replay::walk::{self, ListingError, Loops, Malformed, Route};
use canrelearn::replay::{PlanConfig, Planner};

use super::capture::{self, BadLines};
use super::common::{FilterArgs, Speed, parse_seconds, parse_speed, runtime};
use super::signals::{self, Interrupts};
use super::source;
use super::{CliError, WithCode, consent, exit, out};

/// Replay a candump log onto CAN interfaces with its original timing (or faster, slower, or
/// back to back).
///
/// Frames go out on an absolute schedule on the monotonic clock, so errors never add up over
/// long logs; when the interface's queue is full (ENOBUFS) replay waits for it instead of
/// giving up. A closing report gives the frames sent and how late they went out (median,
/// p99, max). Sending to a real (non-virtual) CAN interface asks for confirmation first,
/// unless --yes is given: replayed frames can move actuators in a car.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The log to replay (`-` for stdin).
    #[arg(value_name = "LOG")]
    pub log: PathBuf,

    /// Send every frame on this interface.
    #[arg(long, value_name = "IFACE", conflicts_with = "map")]
    pub iface: Option<String>,

    /// Send frames logged on LOGIF to TXIF (canplayer's `txif=logif`); repeat for several.
    /// Frames of other log interfaces are skipped. Without --iface or --map, frames go to the
    /// interface named in the log.
    #[arg(long, value_name = "TXIF=LOGIF", value_parser = parse_map)]
    pub map: Vec<(String, String)>,

    /// How fast the log plays against its own times: a factor (1 = as recorded, 2 = twice as
    /// fast) or `max` (back to back, like --ignore-timestamps).
    #[arg(long, value_name = "F|max", default_value = "1", value_parser = parse_speed)]
    pub speed: Speed,

    /// Play the log this many times, or `inf` (also from stdin).
    #[arg(long = "loop", value_name = "N|inf", default_value = "1", value_parser = Loops::parse)]
    pub loops: Loops,

    /// Skip pauses longer than S seconds in the log (the next frame follows at once).
    #[arg(long, value_name = "S", value_parser = parse_seconds, allow_negative_numbers = true)]
    pub skip_gaps: Option<std::time::Duration>,

    /// Send frames back to back, ignoring the log's timestamps.
    #[arg(long)]
    pub ignore_timestamps: bool,

    #[command(flatten)]
    pub filter: FilterArgs,

    /// Print every frame that would be sent, with its planned time, and send nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask before sending to a real (non-virtual) CAN interface.
    #[arg(long)]
    pub yes: bool,
}

fn parse_map(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((tx, log)) if !tx.is_empty() && !log.is_empty() => Ok((tx.into(), log.into())),
        _ => Err(format!("{s:?}: expected TXIF=LOGIF, e.g. vcan0=can0")),
    }
}

/// The exit code and message of a pass's error: the capture's own (2, or 4 for a failing
/// device).
fn pass_error(e: PassError) -> CliError {
    match e {
        PassError::Open(e) => capture::open_error(e),
        PassError::Damaged(e) => capture::read_error(e),
        PassError::Kept(text) => fail!(USAGE, text),
    }
}

/// The route for the command's targets: --iface, --map, or the log's interface names.
fn route(args: &Args, targets: &[String]) -> Route {
    Route::new(args.iface.is_some(), &args.map, targets)
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let factor = match args.speed {
        Speed::Factor(f) => Some(f),
        Speed::Max => None,
    };
    let config = PlanConfig::new(factor, args.skip_gaps, args.ignore_timestamps);
    let mut planner = Planner::new(config).code(exit::USAGE)?;
    let stdin = args.log == Path::new("-");
    let looping = args.loops != Loops::Times(1);
    let mut frames = LogPasses::new(args.log.clone(), signals::interrupted);
    let targets_from_log = args.iface.is_none() && args.map.is_empty();
    if args.dry_run {
        return dry_run(&args, &mut frames, &mut planner);
    }
    if stdin && (looping || targets_from_log) {
        // stdin can be read once: keep the frames for the next loops (or for the pass that
        // finds the interfaces named in the log).
        let mut bad = BadLines::new();
        frames.keep_all(|e| bad.report(&e)).map_err(pass_error)?;
        bad.finish();
    }

    let (targets, total) = targets(&args, &mut frames, stdin, looping)?;
    let route = route(&args, &targets);
    if targets.is_empty() {
        return Err(fail!(USAGE, "{}: no frames to replay", args.log.display()));
    }
    let names: Vec<&str> = targets.iter().map(String::as_str).collect();
    consent::require(
        &names,
        &format!("Send the frames of {}", args.log.display()),
        args.yes,
    )?;

    let rt = runtime()?;
    rt.block_on(async {
        let mut buses = open_senders(&targets)?;
        precise::tighten_timer_slack();
        let progress = progress_bar(total, args.loops);
        // A reader thread stays ahead of the schedule (opening, decompressing and re-reading
        // the log between loops never delays a due frame); the clock starts with the first
        // frame in hand.
        let (feed_tx, feed) = tokio::sync::mpsc::channel(replay::FEED_DEPTH);
        let filters = args.filter.filters.clone();
        let loops = args.loops;
        let reader = std::thread::spawn(move || {
            let mut bad = BadLines::new();
            replay::read_ahead(
                frames,
                route,
                |f| filters_match(&filters, f),
                loops,
                |m| match m {
                    Malformed::Record(e) => bad.report(&e),
                    Malformed::FirstPassEnded => bad.finish(),
                },
                feed_tx,
            )
        });
        let mut interrupts = Interrupts::new();
        let stop = async move {
            interrupts.recv().await;
        };
        let done = replay::send(feed, &mut buses, &mut planner, stop, || {
            if let Some(pb) = &progress {
                pb.inc(1);
            }
        })
        .await
        .map_err(source::bus_error)?;
        let _ = reader.join();
        if let Some(pb) = &progress {
            pb.finish_and_clear();
        }
        let queue_full: u64 = buses.iter().map(|b| b.stats().tx_queue_full).sum();
        report(&done, queue_full, &targets);
        if let Some(e) = done.failure {
            return Err(pass_error(e));
        }
        if done.interrupted {
            return Ok(signals::exit_code());
        }
        let sent = done.skipped.nothing_replayed(done.sent, &args.log);
        sent.code(exit::USAGE)?;
        Ok(exit::OK)
    })
}

/// Where frames go: --iface, the TX side of --map, or (neither) the interfaces the log
/// names, found by reading it once (also done for the progress bar's total on a terminal).
fn targets(
    args: &Args,
    frames: &mut LogPasses,
    stdin: bool,
    looping: bool,
) -> Result<(Vec<String>, Option<u64>), CliError> {
    let chosen = walk::chosen_targets(args.iface.as_deref(), &args.map);
    let count = std::io::stderr().is_terminal() && (!stdin || looping);
    frames.targets(chosen, count).map_err(pass_error)
}

/// Opens every target interface for sending (no receive filters needed, no error frames).
fn open_senders(targets: &[String]) -> Result<Vec<SocketCanBus>, CliError> {
    let options = SocketCanOptions {
        error_mask: 0,
        ..SocketCanOptions::default()
    };
    targets
        .iter()
        .map(|t| {
            SocketCanBus::open(t, &options)
                .with_context(|| format!("cannot open CAN interface {t}"))
                .code(exit::BUS_IO)
        })
        .collect()
}

fn progress_bar(total: Option<u64>, loops: Loops) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = match (total, loops) {
        (Some(n), Loops::Times(l)) => indicatif::ProgressBar::new(n.saturating_mul(l)),
        _ => indicatif::ProgressBar::new_spinner(),
    };
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} replay [{elapsed_precise}] {wide_bar} {pos}/{len} frames {per_sec}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(pb)
}

/// The closing report: frames sent, loops, time, what was skipped, lateness.
fn report(done: &Replayed<PassError>, queue_full: u64, targets: &[String]) {
    for line in done.summary(targets, queue_full) {
        out::note(line);
    }
}

/// `--dry-run`: the plan, as candump lines prefixed with the planned offset and target, in
/// one streaming pass (the target is the interface named in the log unless --iface/--map).
fn dry_run(args: &Args, frames: &mut LogPasses, planner: &mut Planner) -> Result<u8, CliError> {
    let (loops, cut_short) = args.loops.listed();
    if cut_short {
        out::note("--dry-run shows one loop of an endless replay");
    }
    let targets = walk::chosen_targets(args.iface.as_deref(), &args.map);
    let mut bad = BadLines::new();
    let mut stdout = std::io::stdout().lock();
    let listed = walk::write_listing(
        frames,
        route(args, &targets),
        |f| filters_match(&args.filter.filters, f),
        loops,
        planner,
        |m| match m {
            Malformed::Record(e) => bad.report(&e),
            Malformed::FirstPassEnded => bad.finish(),
        },
        &mut stdout,
    );
    let (planned, skipped) = match listed {
        Ok(l) => l,
        Err(ListingError::Log(e)) => return Err(pass_error(e)),
        Err(ListingError::Write(e)) => return Err(e.into()),
    };
    stdout.flush()?;
    out::note(walk::dry_run_summary(planned));
    skipped
        .nothing_replayed(planned, &args.log)
        .code(exit::USAGE)?;
    Ok(exit::OK)
}
