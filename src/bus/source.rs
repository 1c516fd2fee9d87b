//! Where live commands read frames from: SocketCAN interfaces or captures (`-` = stdin).
//!
//! `SOURCE` arguments are interface names (`can0`, `vcan1`) or paths to captures: `-`, an
//! existing file, anything with a `/`, and a name the kernel does not know as an interface but
//! that looks like a file name (it has a `.`) are captures, so `dump capture.lgo` reports a
//! missing file, not an interface to create; the rest are interfaces. Captures are read on a
//! thread of their own (a pipe or FIFO never blocks the runtime, so Ctrl-C and timers work),
//! in any format [`crate::open`] recognises. Several captures are merged into one stream in
//! timestamp order ([`crate::log::merge`]); interfaces (and a mix) in arrival order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::{
    AnyBus, Bus, BusError, BusStats, Filter, LogRecord, LogSource, Pacing, Received, SocketCanBus,
    SocketCanOptions,
};
use crate::log::{FrameReader, Item, ReadError};
use crate::open::{self, OpenError};

/// One `SOURCE` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Interface(String),
    Log(PathBuf),
}

/// [`Source::parse`], for argument parsers: every text is a source.
impl std::str::FromStr for Source {
    type Err = std::convert::Infallible;

    fn from_str(spec: &str) -> Result<Source, Self::Err> {
        Ok(Source::parse(spec))
    }
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
            Source::Log(p) => open::display_name(p).to_string(),
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
#[error(transparent)]
pub struct Damaged(pub ReadError);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The records of one capture, for a [`LogSource`]: a malformed record comes out as its
/// [`ReadError`] (the consumer reports and skips it), damage as [`Damaged`], after which the
/// records end.
pub fn records(
    mut reader: Box<dyn FrameReader>,
) -> impl Iterator<Item = Result<LogRecord, BoxError>> + Send + 'static {
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
                    if let Some(crate::log::Direction::Tx) = r.direction {
                        rec = rec.with_direction(super::Direction::Tx);
                    }
                    return Some(Ok(rec));
                }
                Ok(Some(Item::Bad(e))) => return Some(Err(Box::new(e) as BoxError)),
                Ok(Some(Item::Other(_) | Item::Skipped(_))) => continue,
                Ok(None) => return None,
                Err(e) => {
                    done = true;
                    return Some(Err(Box::new(Damaged(e)) as BoxError));
                }
            }
        }
    })
}

/// Why a source could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A capture: missing, empty, unrecognised, unreadable.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// An interface.
    #[error("cannot open CAN interface {iface}: {source}")]
    Interface {
        iface: String,
        #[source]
        source: Box<BusError>,
    },
}

/// Opens every source: interfaces with kernel filters, captures with software filters. When
/// every source is a capture they are merged by timestamp into one (and paced together).
/// `stop` ends the wait for a pipe's first bytes.
pub fn open_all(
    sources: &[Source],
    filters: &[Filter],
    pacing: Pacing,
    stop: &dyn Fn() -> bool,
) -> Result<Vec<AnyBus>, SourceError> {
    let all_logs = sources.iter().all(|s| matches!(s, Source::Log(_)));
    if all_logs && sources.len() > 1 {
        let mut inputs = Vec::new();
        let mut names = Vec::new();
        for s in sources {
            let Source::Log(path) = s else { continue };
            inputs.push(records(open::reader(open::open(path, None, stop)?)));
            names.push(s.name());
        }
        let merged = crate::log::merge::by_time(
            inputs,
            |r: &LogRecord| r.timestamp,
            |e: &BoxError| e.is::<Damaged>(),
        );
        let mut log = LogSource::threaded(&names.join("+"), merged, pacing);
        log.set_filters(filters);
        return Ok(vec![AnyBus::Log(log)]);
    }
    sources
        .iter()
        .map(|s| open_one(s, filters, pacing, stop))
        .collect()
}

/// Opens one source with kernel (interfaces) or software (captures) filters.
fn open_one(
    source: &Source,
    filters: &[Filter],
    pacing: Pacing,
    stop: &dyn Fn() -> bool,
) -> Result<AnyBus, SourceError> {
    match source {
        Source::Interface(name) => {
            let options = SocketCanOptions {
                filters: filters.to_vec(),
                receive_buffer: Some(RECEIVE_BUFFER),
                ..SocketCanOptions::default()
            };
            let bus = SocketCanBus::open(name, &options).map_err(|e| SourceError::Interface {
                iface: name.clone(),
                source: Box::new(e),
            })?;
            Ok(AnyBus::SocketCan(bus))
        }
        Source::Log(path) => {
            let reader = open::reader(open::open(path, None, stop)?);
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

/// What ended a source with an error.
#[derive(Debug)]
pub enum Failure {
    /// A capture is damaged: every frame before the damage was delivered.
    Damaged(ReadError),
    /// A capture's records failed otherwise (`name`: the source).
    Log { name: String, error: BoxError },
    /// An interface failed.
    Bus(BusError),
}

/// What a merged stream delivers.
#[derive(Debug)]
pub enum Incoming {
    Frame(Received),
    /// A malformed record of a capture (reported, not fatal).
    BadLine(String),
    /// A source ended: a capture reached its end (or could not be read on), or an interface
    /// failed (with the error).
    Ended {
        error: Option<Failure>,
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

/// Reads every source in its own task and merges their frames, in arrival order, into one
/// channel. A source ends on its own; the channel closes when all have ended.
pub fn merge(buses: Vec<AnyBus>) -> mpsc::Receiver<Incoming> {
    merge_with_stats(buses, MERGE_CAPACITY).0
}

/// The failure that ends a source.
fn failure(name: &str, e: BusError) -> Failure {
    match e {
        BusError::Log(inner) => match inner.downcast::<Damaged>() {
            Ok(d) => Failure::Damaged(d.0),
            Err(error) => Failure::Log {
                name: name.to_string(),
                error,
            },
        },
        e => Failure::Bus(e),
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
                    Err(BusError::Log(e)) if !e.is::<Damaged>() => Incoming::BadLine(e.to_string()),
                    Err(e) if e.is_end() => Incoming::Ended { error: None },
                    Err(e) => Incoming::Ended {
                        error: Some(failure(&name, e)),
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
