//! Writing to the terminal without ever panicking: messages on stderr, text on stdout.
//!
//! `eprintln!` panics when stderr is closed (`canrelearn decode LOG 2>&1 | head -1`); these
//! helpers drop what cannot be written instead. Text that came from a file or a bus (an
//! interface name in a log, a DBC comment) goes through [`printable`] first, so a capture
//! cannot send escape sequences to the operator's terminal.

use std::io::{self, Write};

/// `canrelearn: warning: TEXT` on stderr.
pub fn warn(text: impl std::fmt::Display) {
    let _ = writeln!(io::stderr().lock(), "canrelearn: warning: {text}");
}

/// `canrelearn: TEXT` on stderr.
pub fn note(text: impl std::fmt::Display) {
    let _ = writeln!(io::stderr().lock(), "canrelearn: {text}");
}

/// `TEXT` on stderr, as it is (a prompt, a report line).
pub fn err_line(text: impl std::fmt::Display) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}

/// `TEXT` on stderr without a newline, flushed (a question).
pub fn prompt(text: impl std::fmt::Display) {
    let mut e = io::stderr().lock();
    let _ = write!(e, "{text}");
    let _ = e.flush();
}

/// Standard output for a command with a verdict (`dbc check`, `watch --fail-on-loss`): a
/// closed pipe (`| head -1`) stops the writing but not the command, so its exit status is the
/// same with or without the pipe. Other write errors still fail.
pub struct VerdictOut {
    inner: io::StdoutLock<'static>,
    closed: bool,
}

impl VerdictOut {
    pub fn new() -> VerdictOut {
        VerdictOut {
            inner: io::stdout().lock(),
            closed: false,
        }
    }
}

impl Write for VerdictOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            r => r,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.inner.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            r => r,
        }
    }
}
