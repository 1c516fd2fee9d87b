//! `canrelearn monitor`: a live terminal view of the bus (ratatui + crossterm).
//!
//! One row per CAN id with rates, cycle times against the DBC, jitter, staleness, changed
//! bytes and decoded signals; a node panel with losses; bus load and errors. The model is the
//! pure [`canrelearn::monitor::Monitor`]; this file is its driver: it reads the sources in
//! tasks, feeds every pending frame to the model, and redraws at a fixed 10 Hz whatever the
//! frame rate, so the display never falls behind at full bus load.
//!
//! The terminal is restored on every exit path: normal quit, errors (a guard's `Drop`),
//! panics (ratatui's panic hook), Ctrl-C (a key in raw mode, or SIGINT/SIGTERM).

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, anyhow};
use canrelearn::bus::{AnyBus, Clock, SystemClock};
use canrelearn::log::candump::{self, Precision, Record};
use canrelearn::monitor::clock::ModelClock;
use canrelearn::monitor::render;
use canrelearn::monitor::stats::BusTiming;
use canrelearn::monitor::view::{self, KeyAction, Screen, ViewState};
use canrelearn::monitor::{Monitor, MonitorConfig};
use canrelearn::time::Timestamp;
use crossterm::event::{self, Event, KeyEvent, KeyEventKind};
use tokio::sync::mpsc;

use super::common::{DbcArgs, Speed, parse_speed};
use super::source::{self, Incoming, Source, SourceStats};
use super::{CliError, WithCode, exit, input};

/// Watch the bus live in a terminal: rates, cycle times, jitter, staleness, decoded signals.
///
/// SOURCE is a CAN interface (can0, vcan0) or a candump log (played at its real pace, or
/// --speed times faster). Several sources are merged. Keys: q quit, / filter, space pause,
/// r reset, s sort, arrows and PgUp/PgDn scroll, ? help. Needs a terminal: to print frames
/// to a pipe or a file, use `canrelearn dump` or `decode`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Interfaces or candump logs to watch.
    #[arg(value_name = "SOURCE", required = true)]
    pub sources: Vec<String>,

    #[command(flatten)]
    pub dbc: DbcArgs,

    /// Also write every frame to FILE in `candump -L` format (flushed every 100 ms and on
    /// exit). An existing FILE is refused unless --force.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Overwrite the --record file if it exists.
    #[arg(long, requires = "record")]
    pub force: bool,

    /// Nominal bitrate for the bus-load estimate, in bit/s.
    #[arg(long, value_name = "B", default_value_t = 500_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub bitrate: u32,

    /// CAN FD data-phase bitrate for the load estimate, in bit/s (frames with BRS).
    #[arg(long, value_name = "B", default_value_t = 2_000_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub data_bitrate: u32,

    /// How fast logs play against their own times: a factor (1 = as recorded) or `max`.
    #[arg(long, value_name = "F|max", default_value = "1", value_parser = parse_speed)]
    pub speed: Speed,
}

/// Redraw period.
const FRAME_PERIOD: Duration = Duration::from_millis(100);
/// Frames handled between checks of the keyboard and the redraw timer.
const BATCH: usize = 4096;

pub fn run(args: Args) -> Result<u8, CliError> {
    if !io::stdout().is_terminal() {
        return Err(CliError::new(
            exit::USAGE,
            anyhow!(
                "monitor needs a terminal on standard output; to print frames to a pipe or a \
                 file use `canrelearn dump` (or `canrelearn decode` for a log)"
            ),
        ));
    }
    let db = input::load_dbcs(&args.dbc.dbc)?;
    let config = MonitorConfig {
        timing: BusTiming {
            bitrate: args.bitrate,
            data_bitrate: args.data_bitrate,
        },
        ..MonitorConfig::default()
    };
    let monitor = Monitor::new(config, db)
        .context("cannot watch the DBC's messages")
        .code(exit::USAGE)?;
    let sources: Vec<Source> = args.sources.iter().map(|s| Source::parse(s)).collect();
    let inputs: Vec<&std::path::Path> = sources
        .iter()
        .filter_map(|s| match s {
            Source::Log(p) => Some(p.as_path()),
            Source::Interface(_) => None,
        })
        .collect();
    let record = match &args.record {
        Some(path) => Some(candump::Writer::new(BufWriter::new(super::files::create(
            path,
            "the --record file",
            args.force,
            inputs,
        )?))),
        None => None,
    };
    let runtime = super::common::runtime()?;
    runtime.block_on(run_async(args.speed, sources, monitor, record))
}

/// The model's time now.
fn model_now(clock: &ModelClock) -> Option<Timestamp> {
    clock.now(std::time::Instant::now(), SystemClock.now())
}

/// Restores the terminal when dropped (error paths); a panic is handled by ratatui's hook.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = crossterm::execute!(io::stdout(), crossterm::cursor::Show);
        ratatui::restore();
    }
}

async fn run_async(
    speed: Speed,
    sources: Vec<Source>,
    mut monitor: Monitor,
    mut record: Option<candump::Writer<BufWriter<File>>>,
) -> Result<u8, CliError> {
    let pacing = speed.pacing();
    let speed = match speed {
        Speed::Factor(f) => f,
        Speed::Max => 0.0,
    };
    let live = sources.iter().any(|s| matches!(s, Source::Interface(_)));
    let buses: Vec<AnyBus> = source::open_all(&sources, &[], pacing)?;
    let open_count = buses.len();
    // A deep buffer: at full load the UI drains it in batches between redraws.
    let (mut rx, dropped) = source::merge_with_stats(buses, 65_536);

    let stop = Arc::new(AtomicBool::new(false));
    let (key_thread, mut keys) = spawn_key_reader(stop.clone());

    let mut terminal = ratatui::try_init()
        .context("cannot set up the terminal")
        .code(exit::BUS_IO)?;
    let guard = TerminalGuard;

    let mut clock = match live {
        true => ModelClock::live(),
        false => ModelClock::log(speed),
    };
    let mut app = App {
        view: ViewState::default(),
        screen: None,
        open_sources: open_count,
        source_error: None,
        bad_lines: 0,
        page: 10,
    };
    let mut ticker = tokio::time::interval(FRAME_PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut interrupts = super::signals::Interrupts::new();
    let mut record_error: Option<io::Error> = None;
    let mut rx_open = true;
    let result: Result<(), CliError> = loop {
        tokio::select! {
            biased;
            _ = interrupts.recv() => break Ok(()),
            key = keys.recv() => {
                let Some(key) = key else { continue };
                if app.key(key, &mut monitor, model_now(&clock)) {
                    break Ok(());
                }
                app.draw(&mut terminal, &mut monitor, model_now(&clock), &dropped)?;
            }
            _ = ticker.tick() => {
                if let (Some(w), None) = (&mut record, &record_error)
                    && let Err(e) = w.flush()
                {
                    record_error = Some(e);
                }
                app.draw(&mut terminal, &mut monitor, model_now(&clock), &dropped)?;
            }
            item = rx.recv(), if rx_open => {
                let mut next = item;
                let mut handled = 0;
                loop {
                    match next {
                        None => {
                            rx_open = false;
                            clock.end();
                            break;
                        }
                        Some(Incoming::Frame(r)) => {
                            clock.frame(r.timestamp, std::time::Instant::now());
                            monitor.handle_frame(r.timestamp, &r.frame);
                            if let (Some(w), None) = (&mut record, &record_error) {
                                let rec = Record {
                                    timestamp: r.timestamp,
                                    precision: Precision::Micros,
                                    interface: &r.interface,
                                    frame: r.frame,
                                    // Plain `candump -L` lines: no R/T column.
                                    direction: None,
                                };
                                if let Err(e) = w.write_record(&rec) {
                                    record_error = Some(e);
                                }
                            }
                        }
                        Some(Incoming::BadLine(_)) => app.bad_lines += 1,
                        Some(Incoming::Ended { error, .. }) => {
                            app.open_sources = app.open_sources.saturating_sub(1);
                            if let Some(e) = error
                                && app.source_error.is_none()
                            {
                                app.source_error = Some(source::failure(e));
                            }
                        }
                    }
                    handled += 1;
                    if handled >= BATCH {
                        break;
                    }
                    match rx.try_recv() {
                        Ok(i) => next = Some(i),
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        Err(mpsc::error::TryRecvError::Disconnected) => next = None,
                    }
                }
            }
        }
    };
    stop.store(true, Ordering::Relaxed);
    drop(terminal);
    drop(guard);
    let _ = key_thread.join();
    result?;
    close(record, record_error, app)
}

/// Reads the keyboard on a thread of its own until `stop`, sending key presses.
fn spawn_key_reader(
    stop: Arc<AtomicBool>,
) -> (std::thread::JoinHandle<()>, mpsc::Receiver<KeyEvent>) {
    let (key_tx, keys) = mpsc::channel::<KeyEvent>(64);
    let thread = std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match event::poll(Duration::from_millis(50)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => return,
            }
            match event::read() {
                Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => {
                    if key_tx.blocking_send(k).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    (thread, keys)
}

/// After the terminal is restored: the recording flushed (its error is the outcome), the
/// malformed records counted, a source's error returned.
fn close(
    record: Option<candump::Writer<BufWriter<File>>>,
    mut record_error: Option<io::Error>,
    app: App,
) -> Result<u8, CliError> {
    if let Some(mut w) = record {
        if record_error.is_none()
            && let Err(e) = w.flush()
        {
            record_error = Some(e);
        }
        if let Some(e) = record_error {
            return Err(CliError::new(
                exit::BUS_IO,
                anyhow::Error::new(e).context("writing the --record file"),
            ));
        }
    }
    if app.bad_lines > 0 {
        super::out::warn(format!(
            "{} malformed record{} skipped",
            app.bad_lines,
            if app.bad_lines == 1 { "" } else { "s" }
        ));
    }
    if let Some(e) = app.source_error {
        return Err(e);
    }
    Ok(exit::OK)
}

struct App {
    view: ViewState,
    /// The last screen built (kept while paused).
    screen: Option<Screen>,
    open_sources: usize,
    source_error: Option<CliError>,
    bad_lines: u64,
    /// Table rows visible (for PgUp/PgDn).
    page: usize,
}

impl App {
    fn draw(
        &mut self,
        terminal: &mut ratatui::DefaultTerminal,
        monitor: &mut Monitor,
        now: Option<Timestamp>,
        dropped: &[SourceStats],
    ) -> Result<(), CliError> {
        monitor.set_dropped(dropped.iter().map(|d| d.get().dropped).sum());
        if let Some(now) = now {
            monitor.handle_timeout(now);
        }
        let now = now.unwrap_or(Timestamp::ZERO);
        if !self.view.paused || self.screen.is_none() {
            self.screen = Some(view::snapshot(monitor, &self.view, now));
        }
        if self.view.notice.is_none() || self.open_sources == 0 {
            self.view.notice = self.source_notice();
        }
        if let Ok(size) = terminal.size() {
            self.page = render::table_height(size.height);
        }
        if let Some(screen) = &self.screen {
            let rows = screen.rows.len();
            let view = &mut self.view;
            view.scroll = view.scroll.min(rows.saturating_sub(1));
            terminal
                .draw(|f| render::draw(f, screen, view))
                .context("drawing the terminal")
                .code(exit::BUS_IO)?;
        }
        Ok(())
    }

    fn source_notice(&self) -> Option<String> {
        if let Some(e) = &self.source_error {
            return Some(format!("source failed: {:#}", e.error));
        }
        if self.open_sources == 0 {
            let mut s = "all sources ended (q to quit)".to_string();
            if self.bad_lines > 0 {
                s.push_str(&format!("; {} malformed lines skipped", self.bad_lines));
            }
            return Some(s);
        }
        None
    }

    /// Handle a key; true to quit.
    fn key(&mut self, key: KeyEvent, monitor: &mut Monitor, now: Option<Timestamp>) -> bool {
        match self.view.key(key, self.page) {
            KeyAction::Quit => return true,
            KeyAction::Reset => {
                monitor.reset(now.unwrap_or(monitor.now()));
                self.screen = None;
            }
            KeyAction::Rebuild => self.screen = None,
            KeyAction::None => {}
        }
        false
    }
}
