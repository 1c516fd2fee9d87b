//! Where live commands read frames from: SocketCAN interfaces or captures (`-` = stdin).
//!
//! `SOURCE` arguments are interface names (`can0`, `vcan1`) or paths to captures: `-`, an
//! existing file, anything with a `/`, and a name the kernel does not know as an interface but
//! that looks like a file name (it has a `.`) are captures, so `dump capture.lgo` reports a
//! missing file, not an interface to create; the rest are interfaces. Captures are read on a
//! thread of their own (a pipe or FIFO never blocks the runtime, so Ctrl-C and timers work),
//! in any format [`super::capture`] recognises. Several captures are merged into one stream in
//! timestamp order; interfaces (and a mix) in arrival order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use canrelearn::bus::{
    AnyBus, Bus, BusError, BusStats, Filter, LogRecord, LogSource, Pacing, Received, SocketCanBus,
    SocketCanOptions,
};
use canrelearn::log::{FrameReader, Item};
use tokio::sync::mpsc;

use super::capture::{self, BadLines};
use super::{CliError, exit};

/// One `SOURCE` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Interface(String),
    Log(PathBuf),
}

impl Source {
    pub fn parse(spec: &str) -> Source {
        let path = Path::new(spec);
        let is_log = spec == "-"
            || spec.contains('/')
            || path.exists()
            || (spec.contains('.') && !interface_exists(spec));
        if is_log {
            Source::Log(path.to_path_buf())
        } else {
            Source::Interface(spec.to_string())
        }
    }

    /// The name shown to users.
    pub fn name(&self) -> String {
        match self {
            Source::Interface(i) => i.clone(),
            Source::Log(p) => capture::display_name(p).to_string(),
        }
    }
}

/// Whether the kernel knows a network interface by this name.
fn interface_exists(name: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(name) else {
        return false;
    };
    // SAFETY: if_nametoindex reads a NUL-terminated string.
    unsafe { libc::if_nametoindex(c.as_ptr()) != 0 }
}

/// A capture that cannot be read on (damaged compressed data, an I/O error): it ends its
/// source with this error, after every frame before it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Fatal(pub String, pub u8);

/// The records of one capture, for a [`LogSource`]: malformed records come out as errors (the
/// consumer reports and skips them), a fatal error as a [`Fatal`] after which the records end.
pub fn records(
    mut reader: Box<dyn FrameReader>,
) -> impl Iterator<Item = Result<LogRecord, Box<dyn std::error::Error + Send + Sync>>> + Send + 'static
{
    let mut last_iface: Option<Arc<str>> = None;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        loop {
            match reader.read_item() {
                Ok(Some(Item::Record(r))) => {
                    let iface = match &last_iface {
                        Some(a) if **a == *r.interface => a.clone(),
                        _ => {
                            let a: Arc<str> = Arc::from(r.interface);
                            last_iface = Some(a.clone());
                            a
                        }
                    };
                    let mut rec = LogRecord::new(r.timestamp, iface, r.frame);
                    if let Some(canrelearn::log::Direction::Tx) = r.direction {
                        rec = rec.with_direction(canrelearn::bus::Direction::Tx);
                    }
                    return Some(Ok(rec));
                }
                Ok(Some(Item::Bad(e))) => return Some(Err(Box::new(e) as BoxError)),
                Ok(Some(Item::Other(_) | Item::Skipped(_))) => continue,
                Ok(None) => return None,
                Err(e) => {
                    done = true;
                    let e = capture::read_error(e);
                    return Some(Err(
                        Box::new(Fatal(format!("{:#}", e.error), e.code)) as BoxError
                    ));
                }
            }
        }
    })
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Opens every source: interfaces with kernel filters, captures with software filters. When
/// every source is a capture they are merged by timestamp into one (and paced together).
pub fn open_all(
    sources: &[Source],
    filters: &[Filter],
    pacing: Pacing,
) -> Result<Vec<AnyBus>, CliError> {
    let all_logs = sources.iter().all(|s| matches!(s, Source::Log(_)));
    if all_logs && sources.len() > 1 {
        let mut inputs: Vec<Box<dyn Iterator<Item = Result<LogRecord, BoxError>> + Send>> =
            Vec::new();
        let mut names = Vec::new();
        for s in sources {
            let Source::Log(path) = s else { continue };
            inputs.push(Box::new(records(capture::open_reader(path, None)?)));
            names.push(s.name());
        }
        let merged = canrelearn::log::merge::by_time(
            inputs,
            |r: &LogRecord| r.timestamp,
            |e: &BoxError| e.is::<Fatal>(),
        );
        let mut log = LogSource::threaded(&names.join("+"), merged, pacing);
        log.set_filters(filters);
        return Ok(vec![AnyBus::Log(log)]);
    }
    sources.iter().map(|s| open(s, filters, pacing)).collect()
}

/// Opens one source with kernel (interfaces) or software (captures) filters.
pub fn open(source: &Source, filters: &[Filter], pacing: Pacing) -> Result<AnyBus, CliError> {
    match source {
        Source::Interface(name) => {
            let options = SocketCanOptions {
                filters: filters.to_vec(),
                receive_buffer: Some(RECEIVE_BUFFER),
                ..SocketCanOptions::default()
            };
            let bus = SocketCanBus::open(name, &options)
                .with_context(|| format!("cannot open CAN interface {name}"))
                .map_err(|e| CliError::new(exit::BUS_IO, e))?;
            Ok(AnyBus::SocketCan(bus))
        }
        Source::Log(path) => {
            let reader = capture::open_reader(path, None)?;
            let mut log = LogSource::threaded(&source.name(), records(reader), pacing);
            log.set_filters(filters);
            Ok(AnyBus::Log(log))
        }
    }
}

/// The receive buffer asked for on every interface read (like `candump -r 4194304`): a
/// burst at full bus load waits in the kernel instead of being dropped while the reader is
/// busy. Without privileges the kernel caps it at `net.core.rmem_max`.
pub const RECEIVE_BUFFER: usize = 4 << 20;

/// What a merged stream delivers.
#[derive(Debug)]
pub enum Incoming {
    Frame(Received),
    /// A malformed record of a capture (reported, not fatal).
    BadLine(String),
    /// A source ended: a capture reached its end (or could not be read on), or an interface
    /// failed (with the error).
    Ended {
        error: Option<CliError>,
    },
}

/// The counters of a merged source (frames, kernel drops), kept up to date by its task.
#[derive(Debug, Clone)]
pub struct SourceStats {
    pub name: String,
    pub stats: Arc<std::sync::Mutex<BusStats>>,
}

impl SourceStats {
    pub fn get(&self) -> BusStats {
        self.stats.lock().map(|s| *s).unwrap_or_default()
    }
}

/// Frames buffered between the source tasks and the consumer by default.
pub const MERGE_CAPACITY: usize = 4096;

/// Read every source in its own task and merge their frames, in arrival order, into one
/// channel. A source ends on its own; the channel closes when all have ended.
pub fn merge(buses: Vec<AnyBus>) -> mpsc::Receiver<Incoming> {
    merge_with_stats(buses, MERGE_CAPACITY).0
}

/// The error that ends a source, as the command line reports it.
fn source_error(name: &str, e: BusError) -> CliError {
    match e {
        BusError::Log(inner) => match inner.downcast::<Fatal>() {
            Ok(f) => CliError::new(f.1, anyhow::anyhow!("{}", f.0)),
            Err(other) => CliError::new(exit::USAGE, anyhow::anyhow!("{name}: {other}")),
        },
        e => bus_error(e),
    }
}

/// [`merge`] with a chosen channel capacity, also giving each source's counters.
pub fn merge_with_stats(
    buses: Vec<AnyBus>,
    capacity: usize,
) -> (mpsc::Receiver<Incoming>, Vec<SourceStats>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let mut all = Vec::new();
    for mut bus in buses {
        let tx = tx.clone();
        let shared = SourceStats {
            name: bus.name().to_string(),
            stats: Arc::new(std::sync::Mutex::new(bus.stats())),
        };
        all.push(shared.clone());
        tokio::spawn(async move {
            let name = bus.name().to_string();
            loop {
                let received = bus.recv().await;
                if let Ok(mut s) = shared.stats.lock() {
                    *s = bus.stats();
                }
                let message = match received {
                    Ok(r) => Incoming::Frame(r),
                    Err(BusError::Log(e)) if !e.is::<Fatal>() => Incoming::BadLine(e.to_string()),
                    Err(e) if e.is_end() => Incoming::Ended { error: None },
                    Err(e) => Incoming::Ended {
                        error: Some(source_error(&name, e)),
                    },
                };
                let last = matches!(message, Incoming::Ended { .. });
                if tx.send(message).await.is_err() || last {
                    return;
                }
            }
        });
    }
    (rx, all)
}

/// How the consumer of a merged stream is doing: sources still open, the first failure,
/// malformed records reported.
#[derive(Debug)]
pub struct Progress {
    pub open: usize,
    pub failure: Option<CliError>,
    pub bad: BadLines,
}

impl Progress {
    pub fn new(sources: usize) -> Self {
        Progress {
            open: sources,
            failure: None,
            bad: BadLines::new(),
        }
    }

    /// The end of the stream: the closing count of malformed records, then the first failure
    /// (a damaged capture, a failed interface) as the command's error.
    pub fn finish(self) -> Result<(), CliError> {
        self.bad.finish();
        match self.failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Handle `first` and whatever is already queued behind it (up to 1024), in one go: at full
/// load a consumer then keeps up with the bus instead of waking once per frame. Frames go to
/// `on_frame` (which returns `false` to stop early); malformed records are reported; ended
/// sources are counted, and the first failure kept.
pub fn drain(
    rx: &mut mpsc::Receiver<Incoming>,
    first: Incoming,
    progress: &mut Progress,
    mut on_frame: impl FnMut(Received) -> Result<bool, CliError>,
) -> Result<bool, CliError> {
    let mut m = first;
    for _ in 0..1024 {
        match m {
            Incoming::Frame(r) => {
                if !on_frame(r)? {
                    return Ok(false);
                }
            }
            Incoming::BadLine(e) => progress.bad.report(&e),
            Incoming::Ended { error, .. } => {
                progress.open = progress.open.saturating_sub(1);
                if let Some(e) = error {
                    progress.failure.get_or_insert(e);
                }
            }
        }
        match rx.try_recv() {
            Ok(next) => m = next,
            Err(_) => break,
        }
    }
    Ok(true)
}

/// The exit code for a bus error: 4, with the interface named.
pub fn bus_error(e: BusError) -> CliError {
    CliError::new(exit::BUS_IO, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_sources_are_told_apart() {
        assert_eq!(Source::parse("can0"), Source::Interface("can0".into()));
        assert_eq!(Source::parse("vcan1"), Source::Interface("vcan1".into()));
        assert_eq!(Source::parse("-"), Source::Log("-".into()));
        assert_eq!(Source::parse("cap.log"), Source::Log("cap.log".into()));
        assert_eq!(
            Source::parse("cap.log.gz"),
            Source::Log("cap.log.gz".into())
        );
        assert_eq!(Source::parse("./x"), Source::Log("./x".into()));
    }

    /// Regression: `dump capture.lgo` (a typo) suggested creating an interface.
    #[test]
    fn test_missing_file_with_an_odd_extension_is_a_file() {
        assert_eq!(
            Source::parse("capture.lgo"),
            Source::Log("capture.lgo".into())
        );
        assert_eq!(Source::parse("lo"), Source::Interface("lo".into()));
    }
}
