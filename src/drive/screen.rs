//! The operator's screen during a procedure run: the [`Console`]'s lines printed on the
//! terminal, a progress bar while a step polls, and the lines the operator types.
//!
//! [`Console`] decides what a [`Notice`] shows; [`Screen`] writes it where the front end says
//! (the CLI gives standard output, or standard error when standard output carries the JSON
//! report), drawing the polling progress as an `indicatif` bar when that stream is a
//! terminal. Nothing written here can panic: a closed stream drops the text.

use std::io::{BufRead, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;

use super::console::{Console, Shown};
use super::procedure::Notice;
use crate::procedure::script::Script;
use crate::time::Timestamp;

/// What the operator sees: the [`Console`]'s lines, and a progress bar while a step polls
/// (on a terminal).
pub struct Screen {
    console: Console,
    /// Where the lines go.
    out: Box<dyn Write + Send>,
    /// Where a progress bar is drawn (the same stream), when it is a terminal.
    bar_target: Option<fn() -> ProgressDrawTarget>,
    bar: Option<ProgressBar>,
}

impl Screen {
    /// The screen of `script`'s run started at `started`: every frame with `frames`, what
    /// would be sent with `dry_run`; lines written to `out`. `terminal`: `out` is a terminal,
    /// and progress is a bar drawn by this target (e.g. `ProgressDrawTarget::stdout`).
    pub fn new(
        script: &Script,
        frames: bool,
        dry_run: bool,
        started: Timestamp,
        out: Box<dyn Write + Send>,
        terminal: Option<fn() -> ProgressDrawTarget>,
    ) -> Screen {
        Screen {
            console: Console::new(script, frames, dry_run, started, terminal.is_some()),
            out,
            bar_target: terminal,
            bar: None,
        }
    }

    /// Writes `text` (its trailing newlines trimmed) as a line, above the bar if one is drawn.
    pub fn line(&mut self, text: &str) {
        let text = text.trim_end_matches('\n');
        match &self.bar {
            Some(b) => b.println(text),
            None => {
                let _ = writeln!(self.out, "{text}");
                let _ = self.out.flush();
            }
        }
    }

    /// Removes the progress bar, if one is drawn.
    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }

    /// Shows `n`: its lines, or the polling step's bar. `iface` names the bus; `interrupt`
    /// names what interrupted the run (a signal's name), for the first interrupt's line.
    pub fn notice(&mut self, n: &Notice<'_>, iface: &str, interrupt: &str) {
        for shown in self.console.notice(n, iface, interrupt) {
            match shown {
                Shown::Line(text) => self.line(&text),
                Shown::ProgressEnd => self.finish(),
                Shown::Progress {
                    position,
                    length,
                    message,
                } => {
                    let target = self.bar_target;
                    let bar = self.bar.get_or_insert_with(|| {
                        let b = ProgressBar::with_draw_target(
                            Some(length),
                            target.map_or_else(ProgressDrawTarget::hidden, |t| t()),
                        );
                        b.set_style(
                            ProgressStyle::with_template(
                                "{spinner} [{bar:30}] {pos}/{len} s  {msg}",
                            )
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                        );
                        b.enable_steady_tick(Duration::from_millis(200));
                        b
                    });
                    bar.set_position(position);
                    bar.set_message(message);
                }
            }
        }
    }
}

/// The lines of `input` (the operator's terminal), read on a thread of its own until the input
/// ends or the receiver is dropped: the operator's answers for [`super::procedure::run`].
pub fn read_answers(mut input: impl BufRead + Send + 'static) -> mpsc::UnboundedReceiver<String> {
    let (answer_tx, answers) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        let mut line = String::new();
        loop {
            line.clear();
            match input.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if answer_tx.send(line.clone()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    answers
}
