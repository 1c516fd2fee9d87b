//! The watch over live frames: a [`Consumer`] that hands every frame to a
//! [`Reporter`], reports the losses when their time comes on
//! the system clock, and writes the events out at the end of every batch.

use std::io::{self, Write};

use tokio::time::Instant;

use crate::bus::{Clock, Received, SystemClock};
use crate::drive::stream::Consumer;
use crate::watch::report::Reporter;

/// The watch over live frames: events written as they happen; malformed records of captures
/// go to `bad`.
pub struct Live<'a, W: Write, F: FnMut(String), B: FnMut(String)> {
    reporter: &'a mut Reporter<W, F>,
    bad: B,
}

impl<'a, W: Write, F: FnMut(String), B: FnMut(String)> Live<'a, W, F, B> {
    /// The watch of `reporter` over live frames.
    pub fn new(reporter: &'a mut Reporter<W, F>, bad: B) -> Self {
        Live { reporter, bad }
    }

    /// The end of the stream: the losses due by now on the system clock.
    pub fn finish(&mut self) -> io::Result<()> {
        self.reporter.timeout(SystemClock.now())
    }
}

impl<W: Write, F: FnMut(String), B: FnMut(String)> Consumer for Live<'_, W, F, B> {
    type Error = io::Error;

    fn frame(&mut self, r: Received) -> io::Result<()> {
        self.reporter.frame(r.timestamp, &r.frame)
    }

    fn bad_record(&mut self, text: String) {
        (self.bad)(text);
    }

    fn batch_end(&mut self) -> io::Result<()> {
        self.reporter.out_mut().flush()
    }

    /// The watcher's next loss, due on the system clock.
    fn next_wake(&self) -> Option<Instant> {
        self.reporter
            .watch()
            .poll_timeout()
            .map(|due| Instant::now() + due.saturating_duration_since(SystemClock.now()))
    }

    fn wake(&mut self) -> io::Result<()> {
        self.reporter.timeout(SystemClock.now())?;
        self.reporter.out_mut().flush()
    }
}
