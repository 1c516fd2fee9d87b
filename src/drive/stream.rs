//! One loop for every command that consumes the frames of live sources (`dump`, `record`,
//! `watch` on interfaces, `diag sniff`): it reads a merged stream
//! ([`crate::bus::source::merge`]) until every source has ended, a frame count or a deadline
//! is reached, or `stop` (a signal) completes, and hands what it reads to a [`Consumer`].
//!
//! What is already queued is handled in one go (up to [`BATCH`] items) and followed by one
//! [`Consumer::batch_end`]: at full load a consumer keeps up with the bus with one write per
//! batch instead of one per frame, and with few frames each is written at once. The stop,
//! the deadline and the consumer's own wake-ups (a flush tick, a watcher's next timeout) come
//! before frames, so a busy bus cannot hold them back.

use std::future::Future;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::bus::Received;
use crate::bus::source::{Failure, Incoming};

/// Items handled between checks of the stop, the deadline and the consumer's wake-up.
pub const BATCH: usize = 1024;

/// What the loop hands its items to.
pub trait Consumer {
    type Error;

    /// A frame, in arrival order.
    fn frame(&mut self, received: Received) -> Result<(), Self::Error>;

    /// A malformed record of a capture (skipped).
    fn bad_record(&mut self, text: String);

    /// The end of a batch of items that arrived together: write out what was buffered.
    fn batch_end(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// When [`Consumer::wake`] is due next, if ever.
    fn next_wake(&self) -> Option<Instant> {
        None
    }

    /// The time from [`Consumer::next_wake`] has come.
    fn wake(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// When to stop besides the end of every source.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// After this many frames.
    pub count: Option<u64>,
    /// At this time.
    pub deadline: Option<Instant>,
}

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Every source ended.
    SourcesEnded,
    /// [`Limits::count`] frames were handed on.
    Count,
    /// [`Limits::deadline`] came.
    Deadline,
    /// `stop` completed.
    Stopped,
}

/// How the loop ended.
#[derive(Debug)]
pub struct Streamed {
    pub end: End,
    /// Frames handed to the consumer.
    pub frames: u64,
    /// The first source that ended with an error (the others ran on).
    pub failure: Option<Failure>,
}

/// A consumer's [`Consumer::batch_end`] for line output: what `buf` gathered over the batch
/// is written to `out` in one write and flushed, and `buf` emptied; an empty batch writes
/// nothing.
pub fn write_batch(out: &mut impl std::io::Write, buf: &mut Vec<u8>) -> std::io::Result<()> {
    if !buf.is_empty() {
        out.write_all(buf)?;
        out.flush()?;
        buf.clear();
    }
    Ok(())
}

/// Why nothing came from the sources, for a warning: `what` names the command's output
/// ("dump", "the recording is empty"); `filtered` when a filter may have held frames back.
pub fn nothing_came(what: &str, filtered: bool, end: End) -> String {
    format!(
        "{what}: no frame arrived{}{}",
        match filtered {
            true => " that --filter lets through",
            false => "",
        },
        match end {
            End::Deadline => " within --duration",
            End::Stopped => " before the stop",
            End::SourcesEnded | End::Count => "",
        }
    )
}

/// The text of what ended a source, with its causes, for a line on the screen.
pub fn describe_failure(f: &Failure) -> String {
    match f {
        Failure::Damaged(e) => crate::open::read_error_text(e),
        Failure::Log { name, error } => format!("{name}: {error}"),
        Failure::Bus(e) => {
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            text
        }
    }
}

/// Runs `consumer` over `rx`, the merged stream of `sources` sources, within `limits` and
/// until `stop`. An error of the consumer ends the loop at once.
///
/// What is queued when a wake-up, the deadline or the stop comes arrived before it, and is
/// handed over first: a watcher never judges a loss while the frame that refutes it waits in
/// the queue, and a recorder stopped by a signal writes every frame it had received.
pub async fn run<C: Consumer>(
    rx: &mut mpsc::Receiver<Incoming>,
    sources: usize,
    limits: Limits,
    stop: impl Future,
    consumer: &mut C,
) -> Result<Streamed, C::Error> {
    let mut tally = Tally {
        open: sources,
        frames: 0,
        failure: None,
        count: limits.count,
    };
    tokio::pin!(stop);
    let deadline = sleep_until(limits.deadline);
    tokio::pin!(deadline);
    let end = loop {
        if tally.reached() {
            break End::Count;
        }
        if tally.open == 0 {
            break End::SourcesEnded;
        }
        let wake = consumer.next_wake();
        tokio::select! {
            biased;
            _ = &mut stop => {
                tally.hand_over_queued(rx, consumer)?;
                break End::Stopped;
            }
            () = &mut deadline => {
                tally.hand_over_queued(rx, consumer)?;
                break End::Deadline;
            }
            () = sleep_until(wake) => {
                tally.hand_over_queued(rx, consumer)?;
                consumer.wake()?;
            }
            item = rx.recv() => {
                let Some(item) = item else { break End::SourcesEnded };
                tally.hand_over(rx, item, BATCH - 1, consumer)?;
            }
        }
    };
    Ok(Streamed {
        end,
        frames: tally.frames,
        failure: tally.failure,
    })
}

/// The stream's state: sources still open, frames handed over, the first failure.
struct Tally {
    open: usize,
    frames: u64,
    failure: Option<Failure>,
    count: Option<u64>,
}

impl Tally {
    fn reached(&self) -> bool {
        self.count.is_some_and(|c| self.frames >= c)
    }

    /// Hands over `first` and up to `more` items queued behind it (fewer once the count is
    /// reached), then ends the batch.
    fn hand_over<C: Consumer>(
        &mut self,
        rx: &mut mpsc::Receiver<Incoming>,
        first: Incoming,
        more: usize,
        consumer: &mut C,
    ) -> Result<(), C::Error> {
        let mut item = first;
        let mut left = more;
        loop {
            match item {
                Incoming::Frame(r) => {
                    self.frames += 1;
                    consumer.frame(r)?;
                }
                Incoming::BadLine(text) => consumer.bad_record(text),
                Incoming::Ended { error } => {
                    self.open = self.open.saturating_sub(1);
                    if let Some(e) = error {
                        self.failure.get_or_insert(e);
                    }
                }
            }
            if self.reached() || left == 0 {
                break;
            }
            left -= 1;
            match rx.try_recv() {
                Ok(next) => item = next,
                Err(_) => break,
            }
        }
        consumer.batch_end()
    }

    /// Hands over what is queued now (not what arrives meanwhile).
    fn hand_over_queued<C: Consumer>(
        &mut self,
        rx: &mut mpsc::Receiver<Incoming>,
        consumer: &mut C,
    ) -> Result<(), C::Error> {
        let queued = rx.len();
        if queued == 0 || self.reached() {
            return Ok(());
        }
        match rx.try_recv() {
            Ok(first) => self.hand_over(rx, first, queued - 1, consumer),
            Err(_) => Ok(()),
        }
    }
}

/// Sleeps until `at`, or forever without one.
pub async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::Direction;
    use crate::frame::{Frame, Id};
    use crate::time::Timestamp;
    use std::sync::Arc;
    use std::time::Duration;

    #[derive(Default)]
    struct Collect {
        frames: Vec<u8>,
        bad: Vec<String>,
        batches: usize,
        wake_every: Option<Duration>,
        next: Option<Instant>,
        wakes: usize,
        frames_at_first_wake: Option<usize>,
        fail_at: Option<u8>,
    }

    impl Consumer for Collect {
        type Error = String;
        fn frame(&mut self, r: Received) -> Result<(), String> {
            let b = r.frame.data().first().copied().unwrap_or(0);
            if self.fail_at == Some(b) {
                return Err(format!("cannot write frame {b}"));
            }
            self.frames.push(b);
            Ok(())
        }
        fn bad_record(&mut self, text: String) {
            self.bad.push(text);
        }
        fn batch_end(&mut self) -> Result<(), String> {
            self.batches += 1;
            Ok(())
        }
        fn next_wake(&self) -> Option<Instant> {
            self.next
        }
        fn wake(&mut self) -> Result<(), String> {
            self.wakes += 1;
            self.frames_at_first_wake.get_or_insert(self.frames.len());
            self.next = self.wake_every.map(|d| Instant::now() + d);
            Ok(())
        }
    }

    fn frame(b: u8) -> Incoming {
        Incoming::Frame(Received {
            timestamp: Timestamp::from_nanos(u64::from(b) * 1_000_000),
            interface: Arc::from("vcan0"),
            frame: Frame::classic(Id::standard(0x100).unwrap(), &[b]).unwrap(),
            direction: Direction::Rx,
        })
    }

    /// A channel holding `items`, its sender kept open unless `close`.
    fn stream(
        items: Vec<Incoming>,
        close: bool,
    ) -> (mpsc::Sender<Incoming>, mpsc::Receiver<Incoming>) {
        let (tx, rx) = mpsc::channel(items.len().max(1) + 1);
        for i in items {
            tx.try_send(i).unwrap();
        }
        let keep = tx.clone();
        if close {
            drop(tx);
        }
        (keep, rx)
    }

    fn never() -> std::future::Pending<()> {
        std::future::pending()
    }

    #[tokio::test(start_paused = true)]
    async fn test_runs_until_every_source_ended_keeping_the_first_failure() {
        let items = vec![
            frame(1),
            Incoming::BadLine("a.log:2: not a frame".into()),
            Incoming::Ended {
                error: Some(Failure::Log {
                    name: "a.log".into(),
                    error: "cut".into(),
                }),
            },
            frame(2),
            Incoming::Ended { error: None },
        ];
        let (_tx, mut rx) = stream(items, false);
        let mut c = Collect::default();
        let s = run(&mut rx, 2, Limits::default(), never(), &mut c)
            .await
            .unwrap();
        assert_eq!(s.end, End::SourcesEnded);
        assert_eq!(s.frames, 2);
        assert_eq!(c.frames, [1, 2]);
        assert_eq!(c.bad, ["a.log:2: not a frame"]);
        assert!(matches!(s.failure, Some(Failure::Log { .. })));
        // Everything was queued: one batch.
        assert_eq!(c.batches, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn test_count_stops_at_exactly_that_many_frames() {
        let (_tx, mut rx) = stream((0..10).map(frame).collect(), true);
        let mut c = Collect::default();
        let limits = Limits {
            count: Some(3),
            deadline: None,
        };
        let s = run(&mut rx, 1, limits, never(), &mut c).await.unwrap();
        assert_eq!((s.end, s.frames), (End::Count, 3));
        assert_eq!(c.frames, [0, 1, 2]);
        // The count is checked before anything is read: 0 frames reads none.
        let limits = Limits {
            count: Some(0),
            deadline: None,
        };
        let mut c = Collect::default();
        let s = run(&mut rx, 1, limits, never(), &mut c).await.unwrap();
        assert_eq!((s.end, s.frames, c.frames.len()), (End::Count, 0, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn test_deadline_and_stop_end_a_quiet_stream() {
        let (_tx, mut rx) = stream(vec![frame(7)], false);
        let mut c = Collect::default();
        let limits = Limits {
            count: None,
            deadline: Some(Instant::now() + Duration::from_secs(2)),
        };
        let s = run(&mut rx, 1, limits, never(), &mut c).await.unwrap();
        assert_eq!((s.end, s.frames), (End::Deadline, 1));
        let stop = tokio::time::sleep(Duration::from_millis(10));
        let s = run(&mut rx, 1, Limits::default(), stop, &mut c)
            .await
            .unwrap();
        assert_eq!(s.end, End::Stopped);
    }

    /// Frames every millisecond, until the receiver is dropped.
    fn feed(tx: mpsc::Sender<Incoming>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut b = 0u8;
            while tx.send(frame(b)).await.is_ok() {
                b = b.wrapping_add(1);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    }

    /// The consumer's wake-ups come when due while frames arrive.
    #[tokio::test(start_paused = true)]
    async fn test_wakes_come_when_due() {
        let (tx, mut rx) = stream(Vec::new(), false);
        let feeder = feed(tx);
        let mut c = Collect {
            wake_every: Some(Duration::from_millis(100)),
            next: Some(Instant::now() + Duration::from_millis(100)),
            ..Collect::default()
        };
        let limits = Limits {
            count: None,
            deadline: Some(Instant::now() + Duration::from_millis(1050)),
        };
        let s = run(&mut rx, 1, limits, never(), &mut c).await.unwrap();
        assert_eq!(s.end, End::Deadline);
        assert_eq!(c.wakes, 10);
        assert!(s.frames > 100, "{}", s.frames);
        drop(rx);
        feeder.await.unwrap();
    }

    /// A stream that always has a frame ready (a thread keeps its channel full) does not hold
    /// back the deadline.
    #[tokio::test]
    async fn test_a_busy_stream_does_not_hold_back_the_deadline() {
        let (tx, mut rx) = mpsc::channel(4096);
        let feeder = std::thread::spawn(move || {
            let mut b = 0u8;
            while tx.blocking_send(frame(b)).is_ok() {
                b = b.wrapping_add(1);
            }
        });
        while rx.len() < 4096 {
            tokio::task::yield_now().await;
        }
        let limits = Limits {
            count: None,
            deadline: Some(Instant::now() + Duration::from_millis(50)),
        };
        let mut c = Collect::default();
        let s = run(&mut rx, 1, limits, never(), &mut c).await.unwrap();
        assert_eq!(s.end, End::Deadline);
        drop(rx);
        feeder.join().unwrap();
    }

    /// What is queued when a wake-up comes arrived before it: handed over first, so that a
    /// watcher's timeout never judges a loss while the refuting frame waits in the queue.
    #[tokio::test(start_paused = true)]
    async fn test_queued_frames_go_before_a_due_wake() {
        let (_tx, mut rx) = stream((0..3).map(frame).collect(), false);
        let mut c = Collect {
            next: Some(Instant::now()),
            ..Collect::default()
        };
        let stop = tokio::time::sleep(Duration::from_millis(10));
        let s = run(&mut rx, 1, Limits::default(), stop, &mut c)
            .await
            .unwrap();
        assert_eq!(s.end, End::Stopped);
        assert_eq!(c.wakes, 1);
        assert_eq!(c.frames_at_first_wake, Some(3));
    }

    /// A stop or a deadline that is already due still hands over every frame queued before
    /// it (a recorder stopped by Ctrl-C writes what it had received), within the count.
    #[tokio::test(start_paused = true)]
    async fn test_stop_and_deadline_hand_over_what_was_queued() {
        let (_tx, mut rx) = stream((0..5).map(frame).collect(), false);
        let mut c = Collect::default();
        let s = run(
            &mut rx,
            1,
            Limits::default(),
            std::future::ready(()),
            &mut c,
        )
        .await
        .unwrap();
        assert_eq!((s.end, s.frames), (End::Stopped, 5));
        assert_eq!(c.frames, [0, 1, 2, 3, 4]);

        let (_tx, mut rx) = stream((0..5).map(frame).collect(), false);
        let mut c = Collect::default();
        let limits = Limits {
            count: Some(2),
            deadline: Some(Instant::now()),
        };
        let s = run(&mut rx, 1, limits, never(), &mut c).await.unwrap();
        assert_eq!((s.end, s.frames), (End::Deadline, 2));
        assert_eq!(c.frames, [0, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn test_a_consumer_error_ends_the_loop() {
        let (_tx, mut rx) = stream((0..5).map(frame).collect(), false);
        let mut c = Collect {
            fail_at: Some(2),
            ..Collect::default()
        };
        let e = run(&mut rx, 1, Limits::default(), never(), &mut c)
            .await
            .unwrap_err();
        assert_eq!(e, "cannot write frame 2");
        assert_eq!(c.frames, [0, 1]);
    }
}
