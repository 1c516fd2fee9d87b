//! Sources at the command line: [`canrelearn::bus::source`] with exit codes, malformed
//! records reported, and the first failure kept as the command's error.

use canrelearn::bus::source::{self as bus_source, Failure, SourceError, SourceStats};
pub use canrelearn::bus::source::{MERGE_CAPACITY, Source, merge_with_stats};
use canrelearn::bus::{AnyBus, BusError, Filter, Pacing};
use canrelearn::drive::stream::{self, Consumer, End, Limits, Streamed};

use super::capture::{self, BadLines};
use super::{CliError, exit, out};

/// Opens every source (see [`bus_source::open_all`]): a capture that cannot be opened is
/// exit 2 (4 when the device fails), an interface that cannot be opened 4.
pub fn open_all(
    sources: &[Source],
    filters: &[Filter],
    pacing: Pacing,
) -> Result<Vec<AnyBus>, CliError> {
    bus_source::open_all(sources, filters, pacing, &super::signals::interrupted).map_err(
        |e| match e {
            SourceError::Open(e) => capture::open_error(e),
            e @ SourceError::Interface { .. } => CliError::new(exit::BUS_IO, e),
        },
    )
}

/// Sources opened and merged, to be consumed once ([`Merged::run`]).
pub struct Merged {
    rx: tokio::sync::mpsc::Receiver<canrelearn::bus::source::Incoming>,
    count: usize,
    stats: Vec<SourceStats>,
}

/// Opens every source ([`open_all`]) and merges them in arrival order.
pub fn open_merged(
    sources: &[Source],
    filters: &[Filter],
    pacing: Pacing,
) -> Result<Merged, CliError> {
    let buses = open_all(sources, filters, pacing)?;
    let count = buses.len();
    let (rx, stats) = merge_with_stats(buses, MERGE_CAPACITY);
    Ok(Merged { rx, count, stats })
}

impl Merged {
    /// Each source's counters (kernel drops), as they are updated while the stream runs.
    pub fn stats(&self) -> Vec<SourceStats> {
        self.stats.clone()
    }

    /// Runs `consumer` over the stream ([`stream::run`]) until every source ended, `limits`,
    /// or Ctrl-C, SIGTERM or SIGHUP. The consumer's error becomes the command's (a write
    /// error: 4).
    pub async fn run<C: Consumer>(
        mut self,
        limits: Limits,
        consumer: &mut C,
    ) -> Result<Streamed, CliError>
    where
        CliError: From<C::Error>,
    {
        let mut interrupts = super::signals::Interrupts::new();
        let stop = interrupts.recv();
        Ok(stream::run(&mut self.rx, self.count, limits, stop, consumer).await?)
    }
}

/// When no frame came from the sources (and some were wanted): says so on stderr
/// ([`stream::nothing_came`]) and gives exit 1, so that a script does not take an empty output
/// for a capture.
pub fn nothing_came(what: &str, filtered: bool, end: End) -> u8 {
    out::warn(stream::nothing_came(what, filtered, end));
    exit::FAILURE
}

/// The command's error for what ended a source: a damaged capture as the reader's error
/// (2, or 4 for a failing device), another capture failure 2, a failed interface 4.
pub fn failure(f: Failure) -> CliError {
    match f {
        Failure::Damaged(e) => capture::read_error(e),
        Failure::Log { name, error } => fail!(USAGE, "{name}: {error}"),
        Failure::Bus(e) => bus_error(e),
    }
}

/// The text of [`failure`]'s error, with its causes, for a line on the screen.
pub use canrelearn::drive::stream::describe_failure as describe;

/// The end of a stream: the closing count of malformed records, then the first failure (a
/// damaged capture, a failed interface) as the command's error.
pub fn close(failure: Option<Failure>, bad: &BadLines) -> Result<(), CliError> {
    bad.finish();
    match failure {
        Some(f) => Err(self::failure(f)),
        None => Ok(()),
    }
}

/// The exit code for a bus error: 4, with the interface named.
pub fn bus_error(e: BusError) -> CliError {
    CliError::new(exit::BUS_IO, e)
}
