//! A bus that replays a recorded log: frames from any iterator of [`LogRecord`]s.
//!
//! The log format lives elsewhere (the candump parser yields records); this module only turns a
//! fallible iterator of `(timestamp, interface, frame)` records into a [`Bus`]. With
//! [`Pacing::Unpaced`] records come as fast as they are read; with [`Pacing::RealTime`] each
//! record is held until its offset from the first record, divided by the speed factor, has
//! elapsed on tokio's clock since the first `recv`. Deadlines are computed from that one anchor,
//! never by adding up gaps, so pacing does not drift; a record whose time is earlier than the
//! previous one is returned at once. Received timestamps are the log's own. The iterator runs on
//! the calling task, so it should read from a buffered file, not block for long.
//!
//! A record the iterator fails to produce is returned as [`BusError::Log`]; calling `recv` again
//! continues with the next record. The end of the log is [`BusError::Closed`]. Sending is
//! refused with [`BusError::ReadOnly`].

use std::sync::Arc;
use std::time::Duration;

use super::{Bus, BusError, BusStats, Direction, Filter, Received, filters_match};
use crate::frame::Frame;
use crate::time::Timestamp;

/// One frame of a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// The time recorded in the log.
    pub timestamp: Timestamp,
    /// The interface recorded in the log.
    pub interface: Arc<str>,
    /// The frame.
    pub frame: Frame,
    /// `R`/`T` when the log records it (`candump -x`), else [`Direction::Rx`].
    pub direction: Direction,
}

impl LogRecord {
    /// A received frame recorded at `timestamp` on `interface`.
    pub fn new(timestamp: Timestamp, interface: impl Into<Arc<str>>, frame: Frame) -> LogRecord {
        LogRecord {
            timestamp,
            interface: interface.into(),
            frame,
            direction: Direction::Rx,
        }
    }

    /// The same record with a direction.
    pub fn with_direction(mut self, direction: Direction) -> LogRecord {
        self.direction = direction;
        self
    }
}

impl<S: Into<Arc<str>>> From<(Timestamp, S, Frame)> for LogRecord {
    fn from((t, i, f): (Timestamp, S, Frame)) -> Self {
        LogRecord::new(t, i, f)
    }
}

/// How fast a [`LogSource`] yields its records.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Pacing {
    /// As fast as the iterator yields them.
    Unpaced,
    /// At the log's pace multiplied by `speed` (2.0 is twice as fast). A speed that is not a
    /// finite number above zero means [`Pacing::Unpaced`].
    RealTime {
        /// The speed factor.
        speed: f64,
    },
}

/// A record's error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
type RecordIter = Box<dyn Iterator<Item = Result<LogRecord, BoxError>> + Send>;

/// Where a [`LogSource`] takes its records from.
enum Records {
    /// Read on the calling task.
    Iter(RecordIter),
    /// Read on a thread of their own (see [`LogSource::threaded`]).
    Thread(tokio::sync::mpsc::Receiver<Result<LogRecord, BoxError>>),
}

/// Records handed from a reader thread to its [`LogSource`] ahead of time, at most.
const THREAD_QUEUE: usize = 1024;

/// A [`Bus`] reading a recorded log.
pub struct LogSource {
    name: String,
    records: Records,
    pacing: Pacing,
    filters: Vec<Filter>,
    /// The first record's time and when it was returned: the pacing anchor.
    anchor: Option<(Timestamp, tokio::time::Instant)>,
    /// A record taken from the iterator but not yet returned (keeps `recv` cancel-safe).
    pending: Option<LogRecord>,
    stats: BusStats,
}

impl std::fmt::Debug for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSource")
            .field("name", &self.name)
            .field("pacing", &self.pacing)
            .field("filters", &self.filters)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl LogSource {
    /// A source named `name` (e.g. the file name) over fallible `records`.
    pub fn new<I, E>(name: &str, records: I, pacing: Pacing) -> LogSource
    where
        I: IntoIterator<Item = Result<LogRecord, E>>,
        I::IntoIter: Send + 'static,
        E: Into<BoxError>,
    {
        let records = records.into_iter().map(|r| r.map_err(Into::into));
        LogSource {
            name: name.to_string(),
            records: Records::Iter(Box::new(records)),
            pacing,
            filters: Vec::new(),
            anchor: None,
            pending: None,
            stats: BusStats::default(),
        }
    }

    /// A source over records that cannot fail (tests, generated traffic).
    pub fn from_records<I>(name: &str, records: I, pacing: Pacing) -> LogSource
    where
        I: IntoIterator<Item = LogRecord>,
        I::IntoIter: Send + 'static,
    {
        LogSource::new(
            name,
            records.into_iter().map(Ok::<_, std::convert::Infallible>),
            pacing,
        )
    }

    /// Like [`LogSource::new`], but the records are read on a thread of their own, up to
    /// a thousand ahead: a read that blocks (a pipe, a FIFO, a terminal) never holds the
    /// runtime, so the task using the source still sees timers, signals and other sources.
    /// The thread ends at the end of the records, or when the source is dropped (after its
    /// current read returns).
    pub fn threaded<I, E>(name: &str, records: I, pacing: Pacing) -> LogSource
    where
        I: IntoIterator<Item = Result<LogRecord, E>>,
        I::IntoIter: Send + 'static,
        E: Into<BoxError>,
    {
        let (tx, rx) = tokio::sync::mpsc::channel(THREAD_QUEUE);
        let iter = records.into_iter();
        let spawned = std::thread::Builder::new()
            .name(format!("read {name}"))
            .spawn(move || {
                for item in iter {
                    let item = item.map_err(Into::into);
                    if tx.blocking_send(item).is_err() {
                        return;
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start a thread to read {name}: {e}");
        }
        LogSource {
            name: name.to_string(),
            records: Records::Thread(rx),
            pacing,
            filters: Vec::new(),
            anchor: None,
            pending: None,
            stats: BusStats::default(),
        }
    }

    /// Only records whose frame matches one of `filters` are returned (empty: all).
    pub fn set_filters(&mut self, filters: &[Filter]) {
        self.filters = filters.to_vec();
    }

    /// When the record stamped `t` is due, or `None` if it is due now.
    fn deadline(&mut self, t: Timestamp) -> Option<tokio::time::Instant> {
        let Pacing::RealTime { speed } = self.pacing else {
            return None;
        };
        if !(speed.is_finite() && speed > 0.0) {
            return None;
        }
        let (t0, start) = *self
            .anchor
            .get_or_insert_with(|| (t, tokio::time::Instant::now()));
        let offset = t.saturating_duration_since(t0).as_secs_f64() / speed;
        let offset = Duration::try_from_secs_f64(offset).unwrap_or(Duration::MAX);
        // About 30 years: far enough to mean "never" without overflowing an Instant.
        const FAR: Duration = Duration::from_secs(30 * 365 * 86_400);
        Some(start + offset.min(FAR))
    }
}

impl Bus for LogSource {
    async fn recv(&mut self) -> Result<Received, BusError> {
        loop {
            let next = match self.pending.take() {
                Some(r) => Some(Ok(r)),
                None => match &mut self.records {
                    Records::Iter(i) => i.next(),
                    Records::Thread(rx) => rx.recv().await,
                },
            };
            let record = match next {
                None => return Err(BusError::Closed),
                Some(Err(e)) => return Err(BusError::Log(e)),
                Some(Ok(r)) => r,
            };
            if !filters_match(&self.filters, &record.frame) {
                continue;
            }
            if let Some(deadline) = self.deadline(record.timestamp)
                && deadline > tokio::time::Instant::now()
            {
                self.pending = Some(record.clone());
                tokio::time::sleep_until(deadline).await;
                self.pending = None;
            }
            self.stats.rx_frames += 1;
            return Ok(Received {
                timestamp: record.timestamp,
                interface: record.interface,
                frame: record.frame,
                direction: record.direction,
            });
        }
    }

    async fn send(&mut self, frame: &Frame) -> Result<(), BusError> {
        Err(BusError::ReadOnly {
            what: format!("the log {}", self.name),
            frame: *frame,
        })
    }

    fn stats(&self) -> BusStats {
        self.stats
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Id;

    fn rec(ms: u64, id: u16) -> LogRecord {
        LogRecord::new(
            Timestamp::from_nanos(1_000_000_000 + ms * 1_000_000),
            "can0",
            Frame::classic(Id::standard(id).unwrap(), &[id as u8]).unwrap(),
        )
    }

    #[tokio::test]
    async fn test_unpaced_yields_all_then_closed() {
        let mut src = LogSource::from_records("log", vec![rec(0, 1), rec(5, 2)], Pacing::Unpaced);
        assert_eq!(src.recv().await.unwrap().frame, rec(0, 1).frame);
        let r = src.recv().await.unwrap();
        assert_eq!(r.timestamp, rec(5, 2).timestamp, "the log's own timestamp");
        assert_eq!(&*r.interface, "can0");
        assert!(src.recv().await.unwrap_err().is_end());
        assert!(matches!(
            src.send(&rec(0, 1).frame).await,
            Err(BusError::ReadOnly { .. })
        ));
        assert_eq!(src.stats().rx_frames, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn test_real_time_pacing_at_speed_factor() {
        let recs = vec![rec(0, 1), rec(100, 2), rec(50, 3), rec(1000, 4)];
        let mut src = LogSource::from_records("log", recs, Pacing::RealTime { speed: 2.0 });
        let start = tokio::time::Instant::now();
        let mut at = Vec::new();
        while let Ok(r) = src.recv().await {
            at.push((r.frame.data()[0], start.elapsed().as_millis()));
        }
        // Offsets halved; the out-of-order record comes at once; no drift from summing gaps.
        assert_eq!(at, vec![(1, 0), (2, 50), (3, 50), (4, 500)]);
    }

    #[tokio::test(start_paused = true)]
    async fn test_recv_is_cancel_safe_while_pacing() {
        let mut src = LogSource::from_records(
            "log",
            vec![rec(0, 1), rec(1000, 2)],
            Pacing::RealTime { speed: 1.0 },
        );
        src.recv().await.unwrap();
        let r = tokio::time::timeout(Duration::from_millis(10), src.recv()).await;
        assert!(r.is_err(), "not due yet");
        assert_eq!(src.recv().await.unwrap().frame, rec(1000, 2).frame);
    }

    #[tokio::test]
    async fn test_threaded_reads_off_the_runtime() {
        // A reader that blocks until told: the runtime still runs timers meanwhile.
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let records = std::iter::from_fn(move || {
            go_rx.recv().ok()?;
            Some(Ok::<_, std::convert::Infallible>(rec(0, 7)))
        });
        let mut src = LogSource::threaded("pipe", records, Pacing::Unpaced);
        let waited = tokio::time::timeout(Duration::from_millis(20), src.recv()).await;
        assert!(
            waited.is_err(),
            "nothing to read yet, and the timer still fired"
        );
        go_tx.send(()).unwrap();
        assert_eq!(src.recv().await.unwrap().frame, rec(0, 7).frame);
        drop(go_tx);
        assert!(src.recv().await.unwrap_err().is_end());
    }

    #[derive(Debug, thiserror::Error)]
    #[error("line {0}: bad")]
    struct Bad(u32);

    #[tokio::test]
    async fn test_errors_are_reported_and_reading_continues() {
        let items: Vec<Result<LogRecord, Bad>> = vec![Ok(rec(0, 1)), Err(Bad(2)), Ok(rec(1, 3))];
        let mut src = LogSource::new("f.log", items, Pacing::Unpaced);
        src.set_filters(&[Filter::parse("3:7FF").unwrap()]);
        let e = src.recv().await.unwrap_err();
        assert!(e.to_string().contains("line 2: bad"), "{e}");
        assert_eq!(src.recv().await.unwrap().frame, rec(1, 3).frame);
    }
}
