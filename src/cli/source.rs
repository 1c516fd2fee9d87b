//! Where live commands read frames from: SocketCAN interfaces or candump logs (`-` = stdin).
//!
//! `SOURCE` arguments are interface names (`can0`, `vcan1`) or paths to logs. Anything that is
//! an existing file, contains a `/`, ends in `.log`/`.gz`/`.txt`, or is `-`, is a log; the rest
//! are interfaces. Several sources are merged into one stream of frames in arrival order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use canrelearn::bus::{
    AnyBus, Bus, BusError, BusStats, Filter, LogRecord, LogSource, Pacing, Received, SocketCanBus,
    SocketCanOptions,
};
use canrelearn::log::candump::{self, Item, ParseError};
use tokio::sync::mpsc;

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
        let looks_like_file = spec == "-"
            || spec.contains('/')
            || [".log", ".gz", ".txt", ".asc"]
                .iter()
                .any(|ext| spec.ends_with(ext))
            || path.is_file();
        if looks_like_file {
            Source::Log(path.to_path_buf())
        } else {
            Source::Interface(spec.to_string())
        }
    }

    /// The name shown to users.
    pub fn name(&self) -> String {
        match self {
            Source::Interface(i) => i.clone(),
            Source::Log(p) if p == Path::new("-") => "<stdin>".into(),
            Source::Log(p) => p.display().to_string(),
        }
    }
}

/// The records of a candump log, for a [`LogSource`]: malformed lines come out as errors (the
/// caller reports and skips them); interface names are shared, not allocated per frame.
pub fn log_records(
    path: &Path,
) -> Result<impl Iterator<Item = Result<LogRecord, ParseError>> + Send + 'static, CliError> {
    let mut reader = candump::open(path).map_err(super::decode::read_error)?;
    let mut last_iface: Option<Arc<str>> = None;
    let mut failed = false;
    Ok(std::iter::from_fn(move || {
        loop {
            if failed {
                return None;
            }
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
                    if let Some(candump::Direction::Tx) = r.direction {
                        rec = rec.with_direction(canrelearn::bus::Direction::Tx);
                    }
                    return Some(Ok(rec));
                }
                Ok(Some(Item::Bad(e))) => return Some(Err(e)),
                Ok(Some(Item::Other(_))) => continue,
                Ok(None) => return None,
                Err(e) => {
                    // An I/O error ends the log; report it as the last item.
                    failed = true;
                    tracing::error!(error = %e, "reading the log failed");
                    return None;
                }
            }
        }
    }))
}

/// Open one source with kernel (interfaces) or software (logs) filters.
pub fn open(source: &Source, filters: &[Filter], pacing: Pacing) -> Result<AnyBus, CliError> {
    match source {
        Source::Interface(name) => {
            let options = SocketCanOptions {
                filters: filters.to_vec(),
                ..SocketCanOptions::default()
            };
            let bus = SocketCanBus::open(name, &options)
                .with_context(|| format!("cannot open CAN interface {name}"))
                .map_err(|e| CliError::new(exit::BUS_IO, e))?;
            Ok(AnyBus::SocketCan(bus))
        }
        Source::Log(path) => {
            let mut log = LogSource::new(&source.name(), log_records(path)?, pacing);
            log.set_filters(filters);
            Ok(AnyBus::Log(log))
        }
    }
}

/// What a merged stream delivers.
#[derive(Debug)]
pub enum Incoming {
    Frame(Received),
    /// A malformed log line (reported, not fatal).
    BadLine(String),
    /// A source ended: a log reached its end, or an interface failed (with the error).
    Ended {
        source: String,
        error: Option<BusError>,
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
                match received {
                    Ok(r) => {
                        if tx.send(Incoming::Frame(r)).await.is_err() {
                            return;
                        }
                    }
                    Err(BusError::Log(e)) => {
                        if tx.send(Incoming::BadLine(e.to_string())).await.is_err() {
                            return;
                        }
                    }
                    Err(e) if e.is_end() => {
                        let _ = tx
                            .send(Incoming::Ended {
                                source: name,
                                error: None,
                            })
                            .await;
                        return;
                    }
                    Err(e) => {
                        let _ = tx
                            .send(Incoming::Ended {
                                source: name,
                                error: Some(e),
                            })
                            .await;
                        return;
                    }
                }
            }
        });
    }
    (rx, all)
}

/// How the consumer of a merged stream is doing: sources still open, the first failure.
#[derive(Debug)]
pub struct Progress {
    pub open: usize,
    pub failure: Option<CliError>,
}

impl Progress {
    pub fn new(sources: usize) -> Self {
        Progress {
            open: sources,
            failure: None,
        }
    }
}

/// Handle `first` and whatever is already queued behind it (up to 1024), in one go: at full
/// load a consumer then keeps up with the bus instead of waking once per frame. Frames go to
/// `on_frame` (which returns `false` to stop early); malformed log lines are reported; ended
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
            Incoming::BadLine(e) => eprintln!("canrelearn: warning: {e} (line skipped)"),
            Incoming::Ended { error, .. } => {
                progress.open = progress.open.saturating_sub(1);
                if let Some(e) = error {
                    progress.failure.get_or_insert(bus_error(e));
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
}
