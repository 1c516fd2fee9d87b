//! The terminal monitor's driver: runs the pure [`Monitor`] over a merged stream of sources
//! and draws it on a ratatui terminal.
//!
//! Every pending frame is fed to the model in batches; the screen is redrawn at a fixed 10 Hz
//! whatever the frame rate, so the display never falls behind at full bus load. Keys come as
//! crossterm key events on a channel (the caller reads the keyboard, e.g. with
//! [`spawn_key_reader`]); `stop` (a signal) ends the loop like `q`. The terminal is the
//! caller's: any ratatui backend serves, so the loop runs in tests on
//! [`ratatui::backend::TestBackend`]; the front end sets up (and restores) a real one.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyEvent, KeyEventKind};
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;

use crate::bus::source::{Failure, Incoming, SourceStats};
use crate::bus::{Clock, SystemClock};
use crate::log::candump::{self, Precision, Record};
use crate::monitor::clock::ModelClock;
use crate::monitor::view::{self, KeyAction, Screen, ViewState};
use crate::monitor::{Monitor, render};
use crate::time::Timestamp;

/// Redraw period.
pub const FRAME_PERIOD: Duration = Duration::from_millis(100);
/// Frames handled between checks of the keyboard and the redraw timer.
const BATCH: usize = 4096;

/// What the monitor reads.
pub struct Inputs<W: Write> {
    /// The merged sources ([`crate::bus::source::merge_with_stats`]).
    pub frames: mpsc::Receiver<Incoming>,
    /// How many sources were merged (the notice says when all have ended).
    pub sources: usize,
    /// The sources' counters (kernel drops are shown).
    pub stats: Vec<SourceStats>,
    /// Key presses.
    pub keys: mpsc::Receiver<KeyEvent>,
    /// Where every frame is also written (`candump -L` lines), flushed at each redraw.
    pub record: Option<Recording<W>>,
}

/// The recording of a monitor session: the frames as `candump -L` lines, and the name the
/// screen gives it if it fails.
pub struct Recording<W: Write> {
    pub writer: candump::Writer<W>,
    /// The file's name, as the operator gave it.
    pub name: String,
}

/// How the monitor ended (after `q`, `stop`, or the terminal failing).
#[derive(Debug)]
pub struct Ended {
    /// Malformed records of captures, skipped.
    pub bad_lines: u64,
    /// The first source that ended with an error.
    pub failure: Option<Failure>,
    /// The recording's first write or flush error (the recording is flushed last). From
    /// that error on, frames are no longer recorded, and the screen says so.
    pub record_error: Option<io::Error>,
}

/// Reads the keyboard on a thread of its own until `stop`, sending key presses.
pub fn spawn_key_reader(
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

/// Why the monitor stopped early.
#[derive(Debug, thiserror::Error)]
#[error("drawing the terminal: {0}")]
pub struct DrawError(#[source] pub io::Error);

/// Runs the monitor until `q`, `stop`, or a drawing error. Log sources are played against
/// `clock` ([`ModelClock::log`]) and interfaces live ([`ModelClock::live`]). `describe` gives a
/// failed source's text for the notice line.
pub async fn run<B: Backend, W: Write>(
    terminal: &mut Terminal<B>,
    mut monitor: Monitor,
    mut clock: ModelClock,
    inputs: Inputs<W>,
    stop: impl Future,
    describe: &dyn Fn(&Failure) -> String,
) -> Result<Ended, DrawError> {
    let Inputs {
        frames: mut rx,
        sources,
        stats,
        mut keys,
        record,
    } = inputs;
    let (mut record, record_name) = match record {
        Some(r) => (Some(r.writer), r.name),
        None => (None, String::new()),
    };
    let mut app = App {
        view: ViewState::default(),
        screen: None,
        open_sources: sources,
        failure: None,
        bad_lines: 0,
        page: 10,
        record_failed: None,
    };
    let mut ticker = tokio::time::interval(FRAME_PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut record_error: Option<io::Error> = None;
    let mut rx_open = true;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => break,
            key = keys.recv() => {
                let Some(key) = key else { continue };
                if app.key(key, &mut monitor, model_now(&clock)) {
                    break;
                }
                app.recording(&record_error, &record_name);
                app.draw(terminal, &mut monitor, model_now(&clock), &stats, describe)?;
            }
            _ = ticker.tick() => {
                if let (Some(w), None) = (&mut record, &record_error)
                    && let Err(e) = w.flush()
                {
                    record_error = Some(e);
                }
                app.recording(&record_error, &record_name);
                app.draw(terminal, &mut monitor, model_now(&clock), &stats, describe)?;
            }
            item = rx.recv(), if rx_open => {
                let mut next = item;
                for _ in 0..BATCH {
                    let Some(item) = next else {
                        rx_open = false;
                        clock.end();
                        break;
                    };
                    app.handle(item, &mut monitor, &mut clock, &mut record, &mut record_error);
                    next = match rx.try_recv() {
                        Ok(i) => Some(i),
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        Err(mpsc::error::TryRecvError::Disconnected) => None,
                    };
                }
            }
        }
    }
    if let Some(mut w) = record
        && record_error.is_none()
        && let Err(e) = w.flush()
    {
        record_error = Some(e);
    }
    Ok(Ended {
        bad_lines: app.bad_lines,
        failure: app.failure,
        record_error,
    })
}

/// The model's time now.
fn model_now(clock: &ModelClock) -> Option<Timestamp> {
    clock.now(Instant::now(), SystemClock.now())
}

struct App {
    view: ViewState,
    /// The last screen built (kept while paused).
    screen: Option<Screen>,
    open_sources: usize,
    failure: Option<Failure>,
    bad_lines: u64,
    /// Table rows visible (for PgUp/PgDn).
    page: usize,
    /// What the screen says once the recording has failed (`None`: it has not): the
    /// operator must not go on believing the bus is being recorded.
    record_failed: Option<String>,
}

impl App {
    /// One item of the merged stream.
    fn handle<W: Write>(
        &mut self,
        item: Incoming,
        monitor: &mut Monitor,
        clock: &mut ModelClock,
        record: &mut Option<candump::Writer<W>>,
        record_error: &mut Option<io::Error>,
    ) {
        match item {
            Incoming::Frame(r) => {
                clock.frame(r.timestamp, Instant::now());
                monitor.handle_frame(r.timestamp, &r.frame);
                if let (Some(w), None) = (record, &record_error) {
                    let rec = Record {
                        timestamp: r.timestamp,
                        precision: Precision::Micros,
                        interface: &r.interface,
                        frame: r.frame,
                        // Plain `candump -L` lines: no R/T column.
                        direction: None,
                    };
                    if let Err(e) = w.write_record(&rec) {
                        *record_error = Some(e);
                    }
                }
            }
            Incoming::BadLine(_) => self.bad_lines += 1,
            Incoming::Ended { error } => {
                self.open_sources = self.open_sources.saturating_sub(1);
                if let Some(e) = error {
                    self.failure.get_or_insert(e);
                }
            }
        }
    }

    fn draw<B: Backend>(
        &mut self,
        terminal: &mut Terminal<B>,
        monitor: &mut Monitor,
        now: Option<Timestamp>,
        stats: &[SourceStats],
        describe: &dyn Fn(&Failure) -> String,
    ) -> Result<(), DrawError> {
        monitor.set_dropped(stats.iter().map(|d| d.get().dropped).sum());
        if let Some(now) = now {
            monitor.handle_timeout(now);
        }
        let now = now.unwrap_or(Timestamp::ZERO);
        if !self.view.paused || self.screen.is_none() {
            self.screen = Some(view::snapshot(monitor, &self.view, now));
        }
        let alert = self.record_failed.as_ref();
        if self.view.notice.is_none()
            || self.open_sources == 0
            || alert.is_some_and(|a| self.view.notice.as_ref() != Some(a))
        {
            self.view.notice = self.source_notice(describe);
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
                .map_err(|e| DrawError(io::Error::other(e.to_string())))?;
        }
        Ok(())
    }

    /// Takes note of the recording's failure, once (`name`: the file).
    fn recording(&mut self, error: &Option<io::Error>, name: &str) {
        if let (Some(e), None) = (error, &self.record_failed) {
            self.record_failed = Some(format!(
                "RECORDING STOPPED: cannot write {name}: {e}; frames are no longer recorded"
            ));
        }
    }

    /// The status line's notice: the recording's failure first (it outlasts every other),
    /// then a failed source, then the end of all sources.
    fn source_notice(&self, describe: &dyn Fn(&Failure) -> String) -> Option<String> {
        if let Some(alert) = &self.record_failed {
            return Some(alert.clone());
        }
        if let Some(e) = &self.failure {
            return Some(format!("source failed: {}", describe(e)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{Direction, Received};
    use crate::dbc::Database;
    use crate::drive::SharedWriter;
    use crate::frame::{Frame, Id};
    use crate::monitor::MonitorConfig;
    use crossterm::event::{KeyCode, KeyModifiers};
    use ratatui::backend::TestBackend;
    use std::sync::Arc;

    const DBC: &str = r#"VERSION ""
BU_: BCM AV
BO_ 1313 AV_STATUS: 8 AV
 SG_ POWER : 0|8@1+ (1,0) [0|255] "" BCM
BA_DEF_ BO_ "GenMsgCycleTime" INT 0 10000;
BA_ "GenMsgCycleTime" BO_ 1313 100;
"#;

    fn frame(at_ms: u64, byte: u8) -> Incoming {
        Incoming::Frame(Received {
            timestamp: Timestamp::from_nanos(1_700_000_000_000_000_000 + at_ms * 1_000_000),
            interface: Arc::from("vcan0"),
            frame: Frame::classic(Id::standard(0x521).unwrap(), &[byte; 8]).unwrap(),
            direction: Direction::Rx,
        })
    }

    /// Runs the monitor over a capture (as fast as it comes) beside `keys`, which ends it
    /// with `q`; a failed log source is described as `NAME: ERROR`.
    async fn over_a_log<W: Write>(
        terminal: &mut Terminal<TestBackend>,
        monitor: Monitor,
        inputs: Inputs<W>,
        keys: impl Future<Output = ()>,
    ) -> Ended {
        let (ended, ()) = tokio::join!(
            run(
                terminal,
                monitor,
                ModelClock::log(0.0),
                inputs,
                std::future::pending::<()>(),
                &|f| match f {
                    Failure::Log { name, error } => format!("{name}: {error}"),
                    _ => "other".to_string(),
                },
            ),
            keys
        );
        ended.unwrap()
    }

    fn screen_text(terminal: &Terminal<TestBackend>) -> String {
        let buffer = terminal.backend().buffer();
        let width = buffer.area.width as usize;
        let cells: Vec<&str> = buffer.content().iter().map(|c| c.symbol()).collect();
        cells
            .chunks(width)
            .map(|row| row.concat())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Over a capture: every frame reaches the model, the recording and the screen; the
    /// malformed record and the failed source are counted and kept; `q` ends the loop.
    #[tokio::test(start_paused = true)]
    async fn test_frames_reach_model_recording_and_screen_then_q_quits() {
        let db = Database::from_str_named(DBC, "t.dbc").unwrap();
        let monitor = Monitor::new(MonitorConfig::default(), db).unwrap();
        let (tx, frames) = mpsc::channel(16);
        let (key_tx, keys) = mpsc::channel(4);
        for i in 0..5 {
            tx.send(frame(i * 100, i as u8)).await.unwrap();
        }
        tx.send(Incoming::BadLine("x.log:3: not a frame".into()))
            .await
            .unwrap();
        tx.send(Incoming::Ended {
            error: Some(Failure::Log {
                name: "x.log".into(),
                error: "cut short".into(),
            }),
        })
        .await
        .unwrap();
        drop(tx);
        let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
        let recording = SharedWriter::default();
        let inputs = Inputs {
            frames,
            sources: 1,
            stats: Vec::new(),
            keys,
            record: Some(Recording {
                writer: candump::Writer::new(io::BufWriter::new(recording.clone())),
                name: "rec.log".into(),
            }),
        };
        let quit = async move {
            // After a few redraws.
            tokio::time::sleep(FRAME_PERIOD * 3).await;
            key_tx
                .send(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE))
                .await
                .unwrap();
        };
        let ended = over_a_log(&mut terminal, monitor, inputs, quit).await;
        assert_eq!(ended.bad_lines, 1);
        assert!(matches!(ended.failure, Some(Failure::Log { .. })));
        assert!(ended.record_error.is_none());
        // Flushed at the end: every frame, as `candump -L` lines.
        let recorded = recording.text();
        assert_eq!(recorded.lines().count(), 5, "{recorded}");
        assert!(
            recorded.starts_with("(1700000000.000000) vcan0 521#0000000000000000\n"),
            "{recorded}"
        );
        let text = screen_text(&terminal);
        assert!(text.contains("AV_STATUS"), "{text}");
        assert!(text.contains("source failed: x.log: cut short"), "{text}");
    }

    /// `stop` (a signal) ends the loop like `q`, with the recording flushed.
    #[tokio::test(start_paused = true)]
    async fn test_stop_ends_the_loop() {
        let db = Database::from_str_named(DBC, "t.dbc").unwrap();
        let monitor = Monitor::new(MonitorConfig::default(), db).unwrap();
        let (_tx, frames) = mpsc::channel::<Incoming>(4);
        let (_key_tx, keys) = mpsc::channel(4);
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let inputs = Inputs::<Vec<u8>> {
            frames,
            sources: 1,
            stats: Vec::new(),
            keys,
            record: None,
        };
        let ended = run(
            &mut terminal,
            monitor,
            ModelClock::live(),
            inputs,
            tokio::time::sleep(FRAME_PERIOD * 2),
            &|_| String::new(),
        )
        .await
        .unwrap();
        assert_eq!(ended.bad_lines, 0);
        assert!(ended.failure.is_none());
    }

    /// A file with room for `room` bytes (a full disk after them).
    struct Full {
        room: usize,
        written: Vec<u8>,
    }

    impl Write for Full {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let n = b.len().min(self.room - self.written.len());
            if n == 0 && !b.is_empty() {
                return Err(io::Error::from_raw_os_error(28));
            }
            self.written.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A recording that fails (a full disk) is said on the screen at once, before a failed
    /// source's notice, and stays there while the monitor goes on showing the bus: the
    /// operator does not go on believing the bus is recorded. The error is the outcome.
    #[tokio::test(start_paused = true)]
    async fn test_a_failed_recording_is_shown_at_once_and_the_monitor_goes_on() {
        let db = Database::from_str_named(DBC, "t.dbc").unwrap();
        let monitor = Monitor::new(MonitorConfig::default(), db).unwrap();
        let (tx, frames) = mpsc::channel(16);
        let (key_tx, keys) = mpsc::channel(4);
        let mut terminal = Terminal::new(TestBackend::new(160, 30)).unwrap();
        // Room for two lines of 46 bytes: the third frame fails.
        let inputs = Inputs {
            frames,
            sources: 1,
            stats: Vec::new(),
            keys,
            record: Some(Recording {
                writer: candump::Writer::new(Full {
                    room: 100,
                    written: Vec::new(),
                }),
                name: "rec.log".into(),
            }),
        };
        let feed = async move {
            for i in 0..4 {
                tx.send(frame(i * 100, i as u8)).await.unwrap();
            }
            tokio::time::sleep(FRAME_PERIOD * 2).await;
            // After the failure: frames still reach the model and the screen.
            tx.send(frame(500, 0xAB)).await.unwrap();
            tx.send(Incoming::Ended {
                error: Some(Failure::Log {
                    name: "x.log".into(),
                    error: "cut short".into(),
                }),
            })
            .await
            .unwrap();
            tokio::time::sleep(FRAME_PERIOD * 2).await;
            key_tx
                .send(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE))
                .await
                .unwrap();
        };
        let ended = over_a_log(&mut terminal, monitor, inputs, feed).await;
        let error = ended.record_error.expect("the recording's error is kept");
        assert_eq!(error.raw_os_error(), Some(28), "{error}");
        let text = screen_text(&terminal);
        assert!(
            text.contains("RECORDING STOPPED: cannot write rec.log: No space left on device"),
            "{text}"
        );
        assert!(text.contains("frames are no longer recorded"), "{text}");
        // The last frame, sent after the failure, is on the screen (POWER = 0xAB).
        assert!(text.contains("AB AB AB AB"), "{text}");
    }
}
