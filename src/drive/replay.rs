//! Replays a log onto buses on time: a reader thread walks the log ([`read_ahead`]) and feeds
//! frames in batches; [`send`] sends each at its due time on the monotonic clock
//! ([`Planner`]: an absolute schedule, so errors never add up) and measures how late it went.
//!
//! The first frame goes at once and the time it goes out anchors the schedule. That time is
//! taken once the socket is known writable ([`Bus::ready_to_send`]), just before the write:
//! neither the first wait for the socket nor whatever runs before this thread is back from the
//! write (such as receivers the frame woke) may shift every later frame against the
//! first. A reader thread stays ahead of the schedule: opening, decompressing and re-reading
//! the log between loops never delays a due frame.

use core::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::precise;
use crate::bus::source::{Damaged, records};
use crate::bus::{Bus, BusError};
use crate::frame::Frame;
use crate::log::ReadError;
use crate::open::{self, OpenError, read_error_text};
use crate::replay::walk::{self, Loops, Malformed, Passes, Read, Route, Skipped, Step};
use crate::replay::{LatenessStats, Planner};
use crate::time::Timestamp;

/// Frames per feed message.
const FEED_BATCH: usize = 256;
/// Feed messages in flight between the reader thread and the sender.
pub const FEED_DEPTH: usize = 16;

/// Why a pass over a log stopped.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The log cannot be opened.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// The log is damaged: the frames before were given.
    #[error("{}", read_error_text(.0))]
    Damaged(ReadError),
    /// Standard input, read once and kept, was damaged (its frames before were kept).
    #[error("{0}")]
    Kept(String),
}

/// A logged frame: its time, the interface it was logged on, the frame.
type LogFrame = (Timestamp, Arc<str>, Frame);

/// A capture read from its start once per pass ([`Passes`]): a file is opened again for each
/// pass; standard input (`-`), which can be read only once, is read by
/// [`LogPasses::keep_all`] and its frames kept in memory for the passes after.
pub struct LogPasses {
    path: PathBuf,
    /// Asked while waiting for the first bytes of a pipe: stop waiting.
    stop: fn() -> bool,
    keep: Option<Vec<LogFrame>>,
    /// The damage met while keeping standard input's frames, given after them.
    kept_failure: Option<String>,
}

impl LogPasses {
    /// The log at `path` (`-`: standard input).
    pub fn new(path: PathBuf, stop: fn() -> bool) -> Self {
        LogPasses {
            path,
            stop,
            keep: None,
            kept_failure: None,
        }
    }

    /// Reads the log once and keeps its frames (for loops over standard input, or to find its
    /// interfaces first); each malformed record goes to `bad`.
    pub fn keep_all(&mut self, mut bad: impl FnMut(&str)) -> Result<(), PassError> {
        let mut kept = Vec::new();
        let mut failure = None;
        for r in self.pass()? {
            match r {
                Read::Frame(t, i, f) => kept.push((t, i, f)),
                Read::Bad(e) => bad(&e),
                Read::Fatal(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        self.keep = Some(kept);
        self.kept_failure = failure;
        Ok(())
    }

    /// Where frames go: `chosen` ([`walk::chosen_targets`]), or when it is empty the
    /// interfaces the log names, found by a [`LogPasses::survey`]. With `count` the survey is
    /// made anyway, for the number of frames (`None` without a survey).
    pub fn targets(
        &mut self,
        chosen: Vec<String>,
        count: bool,
    ) -> Result<(Vec<String>, Option<u64>), PassError> {
        if !chosen.is_empty() && !count {
            return Ok((chosen, None));
        }
        let (frames, names) = self.survey()?;
        let targets = if chosen.is_empty() { names } else { chosen };
        Ok((targets, Some(frames)))
    }

    /// A silent pass: the number of frames and the interfaces they were logged on, in order of
    /// first appearance.
    pub fn survey(&mut self) -> Result<(u64, Vec<String>), PassError> {
        let mut count = 0u64;
        let mut names: Vec<String> = Vec::new();
        for r in self.pass()? {
            if let Read::Frame(_, iface, _) = r {
                count += 1;
                if !names.iter().any(|n| **n == *iface) {
                    names.push(iface.to_string());
                }
            }
        }
        Ok((count, names))
    }
}

impl Passes<PassError> for LogPasses {
    fn pass(&mut self) -> Result<Box<dyn Iterator<Item = Read<PassError>> + '_>, PassError> {
        if let Some(kept) = &self.keep {
            let failure = self
                .kept_failure
                .clone()
                .map(|m| Read::Fatal(PassError::Kept(m)));
            return Ok(Box::new(
                kept.iter()
                    .cloned()
                    .map(|(t, i, f)| Read::Frame(t, i, f))
                    .chain(failure),
            ));
        }
        let records = records(open::open_reader(&self.path, None, &self.stop)?);
        Ok(Box::new(records.map(|r| match r {
            Ok(r) => Read::Frame(r.timestamp, r.interface, r.frame),
            Err(e) => match e.downcast::<Damaged>() {
                Ok(d) => Read::Fatal(PassError::Damaged(d.0)),
                Err(e) => Read::Bad(e.to_string()),
            },
        })))
    }
}

/// What the reader thread hands the sender.
#[derive(Debug)]
pub enum Feed<E> {
    LoopStart,
    /// Frames: log time, target index, frame (batched: one wake-up per batch).
    Frames(Vec<(Timestamp, usize, Frame)>),
    LoopEnd,
    /// The log is done: what was left out.
    Done(Skipped),
    /// The log is damaged: the frames before the damage were fed.
    Failed(E),
}

/// The reader thread's work: every loop of `log`, routed and filtered (`keep`), into `feed`;
/// malformed records of the first pass go to `malformed`. Returns when the log is done or the
/// sender has gone.
pub fn read_ahead<E>(
    mut log: impl Passes<E>,
    route: Route,
    keep: impl Fn(&Frame) -> bool,
    loops: Loops,
    malformed: impl FnMut(Malformed<'_>),
    feed: mpsc::Sender<Feed<E>>,
) {
    let mut batch = Vec::with_capacity(FEED_BATCH);
    let result = {
        let batch = &mut batch;
        let flush = |batch: &mut Vec<_>| {
            let full = std::mem::replace(batch, Vec::with_capacity(FEED_BATCH));
            feed.blocking_send(Feed::Frames(full)).is_ok()
        };
        walk::walk(
            &mut log,
            |iface| route.target(iface),
            keep,
            loops,
            malformed,
            |step| match step {
                Step::Frame(ts, t, frame) => {
                    batch.push((ts, t, frame));
                    batch.len() < FEED_BATCH || flush(batch)
                }
                Step::LoopStart => feed.blocking_send(Feed::LoopStart).is_ok(),
                Step::LoopEnd => {
                    (batch.is_empty() || flush(batch)) && feed.blocking_send(Feed::LoopEnd).is_ok()
                }
            },
        )
    };
    if !batch.is_empty() {
        let _ = feed.blocking_send(Feed::Frames(batch));
    }
    let _ = feed.blocking_send(match result {
        Ok(s) => Feed::Done(s),
        Err(e) => Feed::Failed(e),
    });
}

/// What a replay did.
#[derive(Debug)]
pub struct Replayed<E> {
    pub sent: u64,
    /// Loops played through to their end.
    pub loops: u64,
    /// From the first frame's send to the end.
    pub elapsed: Duration,
    /// How late each frame went out against its due time.
    pub lateness: LatenessStats,
    /// Stopped by `stop`.
    pub interrupted: bool,
    pub skipped: Skipped,
    /// The log's damage, after the frames before it were sent.
    pub failure: Option<E>,
}

impl<E> Replayed<E> {
    /// The closing report: frames sent, on which `targets`, in what time, how many loops and
    /// what was skipped; then the lateness and how often the transmit queue was full.
    pub fn summary(&self, targets: &[String], queue_full: u64) -> [String; 2] {
        let q = |x: f64| {
            self.lateness.quantile(x).map_or("-".to_string(), |d| {
                format!("{:.3} ms", d.as_secs_f64() * 1e3)
            })
        };
        let plural = |n: u64| if n == 1 { "" } else { "s" };
        let skip = self.skipped.describe();
        [
            format!(
                "replay {}: {} frame{} sent on {} in {:.3} s ({} loop{}){}",
                if self.interrupted {
                    "interrupted"
                } else {
                    "done"
                },
                self.sent,
                plural(self.sent),
                targets.join(", "),
                self.elapsed.as_secs_f64(),
                self.loops,
                plural(self.loops),
                if skip.is_empty() {
                    String::new()
                } else {
                    format!("; skipped: {}", skip.join(", "))
                }
            ),
            format!(
                "lateness: median {}, p99 {}, max {:.3} ms; transmit queue full {queue_full} time{}",
                q(0.5),
                q(0.99),
                self.lateness.max().as_secs_f64() * 1e3,
                plural(queue_full),
            ),
        ]
    }
}

/// Sends what `feed` brings, each frame on `buses[target]` at its due time, until the feed
/// ends or `stop` completes; `on_sent` is called after each frame. A bus that fails to send
/// ends the replay with its error.
pub async fn send<B: Bus, E>(
    mut feed: mpsc::Receiver<Feed<E>>,
    buses: &mut [B],
    planner: &mut Planner,
    stop: impl Future<Output = ()>,
    mut on_sent: impl FnMut(),
) -> Result<Replayed<E>, BusError> {
    tokio::pin!(stop);
    let mut done = Replayed {
        sent: 0,
        loops: 0,
        elapsed: Duration::ZERO,
        lateness: LatenessStats::new(),
        interrupted: false,
        skipped: Skipped::default(),
        failure: None,
    };
    let mut start: Option<Instant> = None;
    'feed: while let Some(item) = feed.recv().await {
        let batch = match item {
            Feed::LoopStart => {
                planner.start_loop();
                continue;
            }
            Feed::LoopEnd => {
                done.loops += 1;
                continue;
            }
            Feed::Frames(batch) => batch,
            Feed::Done(s) => {
                done.skipped = s;
                break;
            }
            Feed::Failed(e) => {
                done.failure = Some(e);
                break;
            }
        };
        for (ts, target, frame) in batch {
            let Some(bus) = buses.get_mut(target) else {
                continue;
            };
            let late = match start {
                None => {
                    // The schedule starts as the first frame goes out: the time is taken
                    // once the socket is known writable, just before the write. (Taken after
                    // the write, it also held whatever ran before this thread got back, such
                    // as a receiver woken by the frame: every later frame then went that late
                    // against the first.)
                    let offset = planner.due(ts);
                    bus.ready_to_send().await?;
                    let sent_at = Instant::now();
                    bus.send(&frame).await?;
                    start = Some(sent_at.checked_sub(offset).unwrap_or(sent_at));
                    Duration::ZERO
                }
                Some(start) => {
                    let due = start + planner.due(ts);
                    tokio::select! {
                        biased;
                        () = &mut stop => { done.interrupted = true; break 'feed; }
                        () = precise::sleep_until(due) => {}
                    }
                    bus.send(&frame).await?;
                    Instant::now().saturating_duration_since(due)
                }
            };
            done.lateness.record(late);
            done.sent += 1;
            on_sent();
        }
    }
    // The reader thread stops at its next send.
    drop(feed);
    done.elapsed = start.map_or(Duration::ZERO, |s| s.elapsed());
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::VirtualBus;
    use crate::frame::Id;
    use crate::replay::PlanConfig;
    use crate::replay::walk::Read;
    use std::sync::Arc;

    /// Each pass over a file reads it again from its start: the same frames, the malformed
    /// record each time, and a damaged gzip's frames before the damage then the damage,
    /// named by its last complete line. Kept frames give the same passes.
    #[test]
    fn test_log_passes_read_again_and_keep_the_damage_last() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("(1.000000) can0 123#01\n(1.500000) can0 12#00\n");
        for i in 0..3000u32 {
            text.push_str(&format!("(2.{i:06}) can1 456#{i:08X}\n"));
        }
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(text.as_bytes()).unwrap();
        let z = z.finish().unwrap();
        let path = dir.path().join("cut.log.gz");
        std::fs::write(&path, &z[..z.len() * 2 / 3]).unwrap();
        let one_pass = |log: &mut LogPasses| {
            let (mut frames, mut bad, mut fatal) = (0, 0, None);
            for r in log.pass().unwrap() {
                match r {
                    Read::Frame(..) => frames += 1,
                    Read::Bad(_) => bad += 1,
                    Read::Fatal(e) => fatal = Some(e.to_string()),
                }
            }
            (frames, bad, fatal)
        };
        let mut log = LogPasses::new(path, || false);
        let first = one_pass(&mut log);
        assert!(first.0 > 100 && first.0 < 3001, "{first:?}");
        assert_eq!(first.1, 1);
        let damage = first.2.clone().expect("the damage");
        assert!(
            damage.contains("cut.log.gz: damaged after line"),
            "{damage}"
        );
        assert_eq!(one_pass(&mut log), first);
        let (count, names) = log.survey().unwrap();
        assert_eq!(
            (count, names),
            (first.0 as u64, vec!["can0".into(), "can1".into()])
        );

        let mut bad = Vec::new();
        log.keep_all(|e| bad.push(e.to_string())).unwrap();
        assert_eq!(bad.len(), 1);
        // Kept: the frames, then the damage (malformed records are said once, when kept).
        assert_eq!(one_pass(&mut log), (first.0, 0, first.2.clone()));
        assert_eq!(one_pass(&mut log), (first.0, 0, first.2));

        let missing = LogPasses::new(dir.path().join("none.log"), || false)
            .pass()
            .err();
        assert!(matches!(missing, Some(PassError::Open(_))), "{missing:?}");
    }

    #[test]
    fn test_summary_says_what_was_sent_skipped_and_how_late() {
        let done = Replayed::<()> {
            sent: 1,
            loops: 1,
            elapsed: Duration::from_millis(1500),
            lateness: LatenessStats::new(),
            interrupted: false,
            skipped: Skipped {
                filtered: 2,
                ..Skipped::default()
            },
            failure: None,
        };
        assert_eq!(
            done.summary(&["vcan0".to_string()], 3),
            [
                "replay done: 1 frame sent on vcan0 in 1.500 s (1 loop); skipped: 2 filtered out",
                "lateness: median -, p99 -, max 0.000 ms; transmit queue full 3 times"
            ]
        );
        let stopped = Replayed::<()> {
            sent: 2,
            loops: 0,
            interrupted: true,
            skipped: Skipped::default(),
            ..done
        };
        assert_eq!(
            stopped.summary(&["a".to_string(), "b".to_string()], 1)[0],
            "replay interrupted: 2 frames sent on a, b in 1.500 s (0 loops)"
        );
    }

    struct Mem(Vec<(u64, &'static str, u16)>);

    impl Passes<String> for Mem {
        fn pass(&mut self) -> Result<Box<dyn Iterator<Item = Read<String>> + '_>, String> {
            Ok(Box::new(self.0.iter().map(|&(ms, iface, id)| {
                Read::Frame(
                    Timestamp::from_nanos(ms * 1_000_000),
                    Arc::from(iface),
                    Frame::classic(Id::standard(id).unwrap(), &[]).unwrap(),
                )
            })))
        }
    }

    #[tokio::test]
    async fn test_frames_go_to_their_targets_in_order_every_loop() {
        let vbus = VirtualBus::new("vcan-test");
        let mut listener = vbus.endpoint();
        let mut buses = vec![vbus.endpoint(), vbus.endpoint()];
        let log = Mem(vec![
            (0, "can0", 1),
            (1, "can1", 2),
            (2, "can2", 3),
            (3, "can0", 4),
        ]);
        let targets = ["can0".to_string(), "can1".to_string()];
        let route = Route::new(false, &[], &targets);
        let (tx, rx) = mpsc::channel(FEED_DEPTH);
        let reader = std::thread::spawn(move || {
            read_ahead(log, route, |_| true, Loops::Times(2), |_| {}, tx)
        });
        let mut planner = Planner::new(PlanConfig {
            speed: 100.0,
            ..PlanConfig::default()
        })
        .unwrap();
        let mut count = 0;
        let done = send(rx, &mut buses, &mut planner, std::future::pending(), || {
            count += 1
        })
        .await
        .unwrap();
        reader.join().unwrap();
        assert_eq!((done.sent, count, done.loops), (6, 6, 2));
        assert!(!done.interrupted && done.failure.is_none());
        assert_eq!(done.skipped.unmapped, 2);
        assert_eq!(done.skipped.unmapped_ifaces, ["can2"]);
        let mut ids = Vec::new();
        for _ in 0..6 {
            ids.push(listener.recv().await.unwrap().frame.id().unwrap().raw());
        }
        assert_eq!(ids, [1, 2, 4, 1, 2, 4]);
    }
}
