//! `canrelearn replay`: send a log's frames onto interfaces, on time.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use canrelearn::bus::{Bus, Filter, SocketCanBus, SocketCanOptions, filters_match};
use canrelearn::drive::precise;
use canrelearn::frame::Frame;
use canrelearn::log::candump::{Precision, Record, WriteOptions, format_record};
use canrelearn::replay::{LatenessStats, PlanConfig, Planner};
use canrelearn::time::Timestamp;

use super::dump::{parse_filter, runtime, seconds};
use super::source::{self, log_records};
use super::{CliError, WithCode, exit};

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

    /// Playback speed factor (2 = twice as fast).
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    pub speed: f64,

    /// Play the log this many times, or `inf` (also from stdin).
    #[arg(long = "loop", value_name = "N|inf", default_value = "1", value_parser = parse_loops)]
    pub loops: Loops,

    /// Skip pauses longer than S seconds in the log (the next frame follows at once).
    #[arg(long, value_name = "S")]
    pub skip_gaps: Option<f64>,

    /// Send frames back to back, ignoring the log's timestamps.
    #[arg(long)]
    pub ignore_timestamps: bool,

    /// Only frames matching ID[:MASK] (candump syntax); repeat for several.
    #[arg(long = "filter", value_name = "ID[:MASK]", value_parser = parse_filter)]
    pub filters: Vec<Filter>,

    /// Print every frame that would be sent, with its planned time, and send nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask before sending to a real (non-virtual) CAN interface.
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loops {
    Times(u64),
    Forever,
}

fn parse_loops(s: &str) -> Result<Loops, String> {
    match s {
        "inf" | "infinite" | "forever" => Ok(Loops::Forever),
        n => match n.parse::<u64>() {
            Ok(0) | Err(_) => Err(format!("{s:?}: give a number of times (1 or more) or inf")),
            Ok(n) => Ok(Loops::Times(n)),
        },
    }
}

fn parse_map(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((tx, log)) if !tx.is_empty() && !log.is_empty() => Ok((tx.into(), log.into())),
        _ => Err(format!("{s:?}: expected TXIF=LOGIF, e.g. vcan0=can0")),
    }
}

/// Whether an interface is virtual (vcan, vxcan): no hardware behind it, no car.
fn is_virtual(iface: &str) -> bool {
    Path::new("/sys/devices/virtual/net").join(iface).exists()
}

/// Ask on the terminal; `false` unless the answer starts with y.
fn confirm(question: &str) -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::new(
            exit::USAGE,
            anyhow::anyhow!("{question}: no terminal to ask on; give --yes to confirm"),
        ));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).code(exit::USAGE)?;
    Ok(answer.trim_start().starts_with(['y', 'Y']))
}

/// A logged frame: its time, the interface it was logged on, the frame.
type LogFrame = (Timestamp, Arc<str>, Frame);
/// One pass over the log.
type Pass<'a> = Box<dyn Iterator<Item = LogFrame> + 'a>;

/// Reads the log once (streaming from a file, or keeping the frames when stdin must loop).
struct Frames {
    path: PathBuf,
    keep: Option<Vec<LogFrame>>,
    bad_lines: u64,
}

impl Frames {
    fn pass(&mut self) -> Result<Pass<'_>, CliError> {
        if let Some(kept) = &self.keep {
            return Ok(Box::new(kept.iter().cloned()));
        }
        let bad = &mut self.bad_lines;
        let records = log_records(&self.path)?.filter_map(move |r| match r {
            Ok(r) => Some((r.timestamp, r.interface, r.frame)),
            Err(e) => {
                *bad += 1;
                eprintln!("canrelearn: warning: {e} (line skipped)");
                None
            }
        });
        Ok(Box::new(records))
    }
}

/// What the reader thread hands the sender.
enum Feed {
    LoopStart,
    /// Frames: log time, target interface index, frame (batched: one wake-up per batch).
    Frames(Vec<(Timestamp, usize, Frame)>),
    LoopEnd,
    Done {
        skipped: u64,
    },
    Failed(CliError),
}

/// Log interface -> target interface index, fixed once the targets are known.
#[derive(Clone)]
struct Route {
    all_to_first: bool,
    map: HashMap<String, usize>,
    by_name: bool,
    targets: Vec<String>,
}

impl Route {
    fn new(args: &Args, targets: &[String]) -> Route {
        let map = args
            .map
            .iter()
            .filter_map(|(tx, log)| Some((log.clone(), targets.iter().position(|t| t == tx)?)))
            .collect();
        Route {
            all_to_first: args.iface.is_some(),
            map,
            by_name: args.iface.is_none() && args.map.is_empty(),
            targets: targets.to_vec(),
        }
    }

    fn target(&self, iface: &str) -> Option<usize> {
        if self.all_to_first {
            Some(0)
        } else if self.by_name {
            self.targets.iter().position(|t| t == iface)
        } else {
            self.map.get(iface).copied()
        }
    }
}

/// Frames per feed message.
const FEED_BATCH: usize = 256;

/// The reader thread: every loop of the log, routed and filtered, into the feed.
fn read_ahead(
    mut frames: Frames,
    route: Route,
    filters: Vec<Filter>,
    loops: Loops,
    feed: tokio::sync::mpsc::Sender<Feed>,
) {
    let mut skipped = 0u64;
    let mut done = 0u64;
    loop {
        if let Loops::Times(n) = loops
            && done >= n
        {
            break;
        }
        if feed.blocking_send(Feed::LoopStart).is_err() {
            return;
        }
        let pass = match frames.pass() {
            Ok(p) => p,
            Err(e) => {
                let _ = feed.blocking_send(Feed::Failed(e));
                return;
            }
        };
        let mut batch = Vec::with_capacity(FEED_BATCH);
        for (ts, iface, frame) in pass {
            match route.target(&iface) {
                Some(t) if filters_match(&filters, &frame) => {
                    batch.push((ts, t, frame));
                    if batch.len() == FEED_BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(FEED_BATCH));
                        if feed.blocking_send(Feed::Frames(full)).is_err() {
                            return;
                        }
                    }
                }
                _ => skipped += 1,
            }
        }
        if !batch.is_empty() && feed.blocking_send(Feed::Frames(batch)).is_err() {
            return;
        }
        done += 1;
        if feed.blocking_send(Feed::LoopEnd).is_err() {
            return;
        }
    }
    let _ = feed.blocking_send(Feed::Done { skipped });
}

pub fn run(args: Args) -> Result<u8, CliError> {
    let config = PlanConfig {
        speed: args.speed,
        skip_gaps: args
            .skip_gaps
            .map(|s| seconds(s, "--skip-gaps"))
            .transpose()?,
        ignore_timestamps: args.ignore_timestamps,
    };
    let mut planner = Planner::new(config).code(exit::USAGE)?;
    let stdin = args.log == Path::new("-");
    let looping = args.loops != Loops::Times(1);
    let mut frames = Frames {
        path: args.log.clone(),
        keep: None,
        bad_lines: 0,
    };
    let targets_from_log = args.iface.is_none() && args.map.is_empty();
    if stdin && (looping || targets_from_log) {
        // stdin can be read once: keep the frames for the next loops (or for the pass that
        // finds the interfaces named in the log).
        let kept: Vec<_> = frames.pass()?.collect();
        frames.keep = Some(kept);
    }

    // Where frames go: --iface, the TX side of --map, or (neither) the interfaces the log
    // names, found by reading it once.
    let mut targets: Vec<String> = Vec::new();
    if let Some(i) = &args.iface {
        targets.push(i.clone());
    }
    for (tx, _) in &args.map {
        if !targets.contains(tx) {
            targets.push(tx.clone());
        }
    }
    if targets_from_log {
        for (_, iface, _) in frames.pass()? {
            if !targets.iter().any(|t| **t == *iface) {
                targets.push(iface.to_string());
            }
        }
    }
    let route = Route::new(&args, &targets);
    if args.dry_run {
        return dry_run(&args, &mut frames, &mut planner, &route);
    }
    if targets.is_empty() {
        eprintln!("canrelearn: nothing to replay");
        return Ok(exit::OK);
    }
    let real: Vec<&String> = targets.iter().filter(|t| !is_virtual(t)).collect();
    if !real.is_empty() && !args.yes {
        let list: Vec<&str> = real.iter().map(|s| s.as_str()).collect();
        let question = format!(
            "Send the frames of {} onto {} (not a virtual interface: on a car, replayed frames can switch lights, locks or worse)?",
            args.log.display(),
            list.join(", ")
        );
        if !confirm(&question)? {
            eprintln!("canrelearn: nothing sent");
            return Ok(exit::USAGE);
        }
    }

    let rt = runtime()?;
    rt.block_on(async {
        let options = SocketCanOptions {
            // A sender: no receive filters needed, no error frames.
            error_mask: 0,
            ..SocketCanOptions::default()
        };
        let mut buses = Vec::new();
        for t in &targets {
            buses.push(
                SocketCanBus::open(t, &options)
                    .with_context(|| format!("cannot open CAN interface {t}"))
                    .code(exit::BUS_IO)?,
            );
        }
        precise::tighten_timer_slack();
        let progress = progress_bar(&args, &mut frames, looping);
        // A reader thread stays ahead of the schedule (opening, decompressing and re-reading
        // the log between loops never delays a due frame); the clock starts with the first
        // frame in hand.
        let (feed_tx, mut feed) = tokio::sync::mpsc::channel::<Feed>(16);
        let filters = args.filters.clone();
        let loops = args.loops;
        let reader = std::thread::spawn(move || read_ahead(frames, route, filters, loops, feed_tx));
        let mut lateness = LatenessStats::new();
        let mut sent = 0u64;
        let mut skipped = 0u64;
        let mut loops_done = 0u64;
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut interrupted = false;
        let mut start: Option<Instant> = None;
        let mut failure = None;
        'feed: while let Some(item) = feed.recv().await {
            let batch = match item {
                Feed::LoopStart => {
                    planner.start_loop();
                    continue;
                }
                Feed::LoopEnd => {
                    loops_done += 1;
                    continue;
                }
                Feed::Frames(batch) => batch,
                Feed::Done { skipped: n } => {
                    skipped = n;
                    break;
                }
                Feed::Failed(e) => {
                    failure = Some(e);
                    break;
                }
            };
            for (ts, target, frame) in batch {
                let start = *start.get_or_insert_with(Instant::now);
                let due = start + planner.due(ts);
                tokio::select! {
                    biased;
                    _ = &mut ctrl_c => { interrupted = true; break 'feed; }
                    _ = precise::sleep_until(due) => {}
                }
                let Some(bus) = buses.get_mut(target) else {
                    continue;
                };
                bus.send(&frame).await.map_err(source::bus_error)?;
                lateness.record(Instant::now().saturating_duration_since(due));
                sent += 1;
                if let Some(pb) = &progress {
                    pb.inc(1);
                }
            }
        }
        drop(feed);
        let _ = reader.join();
        if let Some(e) = failure {
            return Err(e);
        }
        let start = start.unwrap_or_else(Instant::now);
        if let Some(pb) = &progress {
            pb.finish_and_clear();
        }
        let elapsed = start.elapsed();
        let queue_full: u64 = buses.iter().map(|b| b.stats().tx_queue_full).sum();
        report(
            sent,
            skipped,
            loops_done,
            elapsed,
            &lateness,
            queue_full,
            interrupted,
            &targets,
        );
        Ok(exit::OK)
    })
}

fn progress_bar(args: &Args, frames: &mut Frames, looping: bool) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let total = if args.log == Path::new("-") && !looping {
        None
    } else {
        frames.pass().ok().map(|p| p.count() as u64)
    };
    let pb = match (total, args.loops) {
        (Some(n), Loops::Times(l)) => indicatif::ProgressBar::new(n * l),
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

#[allow(clippy::too_many_arguments)]
fn report(
    sent: u64,
    skipped: u64,
    loops: u64,
    elapsed: Duration,
    lateness: &LatenessStats,
    queue_full: u64,
    interrupted: bool,
    targets: &[String],
) {
    let q = |x: f64| {
        lateness.quantile(x).map_or("-".to_string(), |d| {
            format!("{:.3} ms", d.as_secs_f64() * 1e3)
        })
    };
    eprintln!(
        "canrelearn: replay {}: {sent} frame{} sent on {} in {:.3} s ({loops} loop{}), {skipped} skipped",
        if interrupted { "interrupted" } else { "done" },
        if sent == 1 { "" } else { "s" },
        targets.join(", "),
        elapsed.as_secs_f64(),
        if loops == 1 { "" } else { "s" },
    );
    eprintln!(
        "canrelearn: lateness: median {}, p99 {}, max {:.3} ms; transmit queue full {queue_full} time{}",
        q(0.5),
        q(0.99),
        lateness.max().as_secs_f64() * 1e3,
        if queue_full == 1 { "" } else { "s" },
    );
}

/// `--dry-run`: the plan, as candump lines prefixed with the planned offset and target.
fn dry_run(
    args: &Args,
    frames: &mut Frames,
    planner: &mut Planner,
    route: &Route,
) -> Result<u8, CliError> {
    let mut out = std::io::stdout().lock();
    let mut buf = Vec::new();
    let options = WriteOptions::default();
    let loops = match args.loops {
        Loops::Times(n) => n,
        Loops::Forever => {
            eprintln!("canrelearn: --dry-run shows one loop of an endless replay");
            1
        }
    };
    for _ in 0..loops {
        planner.start_loop();
        let pass: Vec<_> = frames.pass()?.collect();
        for (ts, iface, frame) in pass {
            let Some(target) = route.target(&iface) else {
                continue;
            };
            if !filters_match(&args.filters, &frame) {
                continue;
            }
            let due = planner.due(ts);
            let name = route.targets.get(target).map_or("?", |s| s.as_str());
            buf.clear();
            let _ = write!(buf, "+{:.6} ", due.as_secs_f64());
            format_record(
                &mut buf,
                &Record {
                    timestamp: ts,
                    precision: Precision::Micros,
                    interface: name,
                    frame,
                    direction: None,
                },
                &options,
            );
            out.write_all(&buf)?;
        }
    }
    out.flush()?;
    eprintln!("canrelearn: dry run: nothing was sent");
    Ok(exit::OK)
}
