//! Replay planning: when each frame of a log is due, and how late it went out.
//!
//! Pure and clock-free. A [`Planner`] turns the log's timestamps into due offsets from the start
//! of the replay on an *absolute* schedule (each offset is computed from the log's own time line,
//! never by adding up sleeps, so errors do not accumulate over long logs). It implements the
//! options users know from `canplayer` without its faults: a speed factor (`--speed`), skipping
//! long pauses (`--skip-gaps`, like `canplayer -s`: the next frame follows at once), ignoring
//! timestamps (`--ignore-timestamps`, like `canplayer -t`: back to back), and loops that continue
//! the schedule seamlessly. [`LatenessStats`] accumulates how late each frame actually went out,
//! in bounded memory, for the closing report (median, p99, max).
//!
//! Calling contract: call [`Planner::due`] once per frame, in log order, with the frame's log
//! timestamp; call [`Planner::start_loop`] before replaying the log again. The driver sleeps until
//! `replay_start + due` on a monotonic clock, sends, and records `actual - due` in the stats.

use core::time::Duration;

use crate::time::Timestamp;

pub mod walk;

/// How the log's time line maps to the replay's.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanConfig {
    /// Playback speed: 2.0 replays twice as fast. Must be finite and positive.
    pub speed: f64,
    /// Pauses in the log longer than this are skipped (the next frame is due at once).
    pub skip_gaps: Option<Duration>,
    /// Send frames back to back, ignoring the log's timestamps.
    pub ignore_timestamps: bool,
}

impl Default for PlanConfig {
    fn default() -> Self {
        PlanConfig {
            speed: 1.0,
            skip_gaps: None,
            ignore_timestamps: false,
        }
    }
}

impl PlanConfig {
    /// The plan for a speed `factor` (`None`: as fast as possible, back to back like
    /// `ignore_timestamps`), pauses over `skip_gaps` skipped.
    pub fn new(factor: Option<f64>, skip_gaps: Option<Duration>, ignore_timestamps: bool) -> Self {
        PlanConfig {
            speed: factor.unwrap_or(1.0),
            skip_gaps,
            ignore_timestamps: ignore_timestamps || factor.is_none(),
        }
    }
}

/// Why a plan configuration was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("speed must be a positive finite number, not {0}")]
    InvalidSpeed(f64),
}

/// Computes due offsets for the frames of a log, loop after loop.
///
/// Each offset is `segment_base + (log_time - segment_origin) / speed`: a segment starts at the
/// first frame of a loop and after a skipped gap, so rounding never accumulates from frame to
/// frame.
#[derive(Debug, Clone)]
pub struct Planner {
    config: PlanConfig,
    /// Log time and due offset where the current segment started.
    segment: Option<(Timestamp, Duration)>,
    /// The latest log time seen in this loop.
    latest_log: Option<Timestamp>,
    /// Due offset of the previous frame.
    last_due: Duration,
}

impl Planner {
    /// A planner for one replay; `Err` if the speed is not a positive finite number.
    pub fn new(config: PlanConfig) -> Result<Self, PlanError> {
        if !(config.speed.is_finite() && config.speed > 0.0) {
            return Err(PlanError::InvalidSpeed(config.speed));
        }
        Ok(Planner {
            config,
            segment: None,
            latest_log: None,
            last_due: Duration::ZERO,
        })
    }

    /// The offset from the start of the replay at which the frame stamped `log_time` is due.
    ///
    /// Offsets never decrease: a log whose time goes backwards (merged captures) sends the
    /// out-of-order frame at once, keeping the log's order.
    pub fn due(&mut self, log_time: Timestamp) -> Duration {
        if self.config.ignore_timestamps {
            return self.last_due;
        }
        let due = match (self.segment, self.latest_log) {
            (Some((origin, base)), Some(latest)) => {
                let gap = log_time.saturating_duration_since(latest);
                if self.config.skip_gaps.is_some_and(|limit| gap > limit) {
                    self.segment = Some((log_time, self.last_due));
                    self.last_due
                } else {
                    let since = log_time.saturating_duration_since(origin);
                    base.saturating_add(scale(since, self.config.speed))
                        .max(self.last_due)
                }
            }
            _ => {
                self.segment = Some((log_time, self.last_due));
                self.last_due
            }
        };
        if self.latest_log.is_none_or(|l| log_time > l) {
            self.latest_log = Some(log_time);
        }
        self.last_due = due;
        due
    }

    /// Start the log again: its first frame is due right after the last frame of this loop.
    pub fn start_loop(&mut self) {
        self.segment = None;
        self.latest_log = None;
    }
}

fn scale(d: Duration, speed: f64) -> Duration {
    if speed == 1.0 {
        d
    } else {
        // f64 holds nanoseconds exactly up to about 104 days of log time.
        Duration::try_from_secs_f64(d.as_nanos() as f64 / speed / 1e9).unwrap_or(Duration::MAX)
    }
}

/// Lateness of sent frames against their plan, in bounded memory.
///
/// Values are kept in 1 us buckets up to [`LatenessStats::RANGE`]; later ones go to an overflow
/// count, and the exact maximum is always kept. Quantiles are therefore exact to 1 us below
/// the range, and reported as "at least the range" above it.
#[derive(Debug, Clone)]
pub struct LatenessStats {
    buckets: Vec<u32>,
    overflow: u64,
    count: u64,
    max: Duration,
    sum_nanos: u128,
}

impl Default for LatenessStats {
    fn default() -> Self {
        Self::new()
    }
}

impl LatenessStats {
    /// The range of exact (1 us) quantiles.
    pub const RANGE: Duration = Duration::from_millis(50);

    pub fn new() -> Self {
        LatenessStats {
            buckets: vec![0; Self::RANGE.as_micros() as usize],
            overflow: 0,
            count: 0,
            max: Duration::ZERO,
            sum_nanos: 0,
        }
    }

    /// Record one frame's lateness (zero when it went out on time or early).
    pub fn record(&mut self, lateness: Duration) {
        self.count += 1;
        self.max = self.max.max(lateness);
        self.sum_nanos += lateness.as_nanos();
        let us = lateness.as_micros();
        match usize::try_from(us)
            .ok()
            .and_then(|i| self.buckets.get_mut(i))
        {
            Some(b) => *b = b.saturating_add(1),
            None => self.overflow += 1,
        }
    }

    /// Number of frames recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest lateness seen.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The mean lateness.
    pub fn mean(&self) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos((self.sum_nanos / u128::from(self.count)) as u64)
    }

    /// The `q` quantile (0.0 to 1.0) to 1 us, or `None` when nothing was recorded.
    /// Above [`Self::RANGE`] this returns the maximum seen.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let q = q.clamp(0.0, 1.0);
        // The rank of the sample we want, 1-based (nearest-rank method).
        let rank = ((q * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (us, &n) in self.buckets.iter().enumerate() {
            seen += u64::from(n);
            if seen >= rank {
                return Some(Duration::from_micros(us as u64));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ms: u64) -> Timestamp {
        Timestamp::from_nanos(ms * 1_000_000)
    }

    fn plan(config: PlanConfig, times_ms: &[u64]) -> Vec<u64> {
        let mut p = Planner::new(config).unwrap();
        times_ms
            .iter()
            .map(|&t| p.due(ts(t)).as_millis() as u64)
            .collect()
    }

    #[test]
    fn test_plan_follows_the_log_from_its_first_frame() {
        let due = plan(PlanConfig::default(), &[1000, 1010, 1015, 2015]);
        assert_eq!(due, [0, 10, 15, 1015]);
    }

    #[test]
    fn test_plan_speed_factor() {
        let config = PlanConfig {
            speed: 2.0,
            ..PlanConfig::default()
        };
        assert_eq!(plan(config, &[0, 10, 30, 1030]), [0, 5, 15, 515]);
    }

    #[test]
    fn test_plan_skip_gaps_like_canplayer() {
        let config = PlanConfig {
            skip_gaps: Some(Duration::from_millis(500)),
            ..PlanConfig::default()
        };
        assert_eq!(plan(config, &[0, 100, 5100, 5200]), [0, 100, 100, 200]);
    }

    #[test]
    fn test_plan_ignore_timestamps() {
        let config = PlanConfig {
            ignore_timestamps: true,
            ..PlanConfig::default()
        };
        assert_eq!(plan(config, &[0, 100, 5100]), [0, 0, 0]);
    }

    #[test]
    fn test_plan_time_going_backwards_keeps_order() {
        assert_eq!(
            plan(PlanConfig::default(), &[100, 200, 150, 250]),
            [0, 100, 100, 150]
        );
    }

    #[test]
    fn test_plan_loops_continue_the_schedule() {
        let mut p = Planner::new(PlanConfig::default()).unwrap();
        let log = [ts(0), ts(40), ts(100)];
        let mut due = Vec::new();
        for _ in 0..3 {
            p.start_loop();
            for &t in &log {
                due.push(p.due(t).as_millis());
            }
        }
        assert_eq!(due, [0, 40, 100, 100, 140, 200, 200, 240, 300]);
    }

    #[test]
    fn test_plan_has_no_drift_over_a_long_log() {
        // 1 million frames 333 us apart at speed 3: the last one is due exactly at 111 s.
        let mut p = Planner::new(PlanConfig {
            speed: 3.0,
            ..PlanConfig::default()
        })
        .unwrap();
        let mut last = Duration::ZERO;
        for i in 0..1_000_000u64 {
            last = p.due(Timestamp::from_nanos(i * 333_000));
        }
        let expected = Duration::from_nanos(999_999 * 111_000);
        let err = last.abs_diff(expected);
        assert!(err < Duration::from_micros(1), "drift {err:?}");
    }

    #[test]
    fn test_plan_config_from_options() {
        let gap = Some(Duration::from_secs(1));
        assert_eq!(
            PlanConfig::new(Some(2.0), gap, false),
            PlanConfig {
                speed: 2.0,
                skip_gaps: gap,
                ignore_timestamps: false,
            }
        );
        assert_eq!(
            PlanConfig::new(None, None, false),
            PlanConfig {
                speed: 1.0,
                skip_gaps: None,
                ignore_timestamps: true,
            }
        );
        assert!(PlanConfig::new(Some(1.0), None, true).ignore_timestamps);
    }

    #[test]
    fn test_plan_rejects_bad_speed() {
        for speed in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let config = PlanConfig {
                speed,
                ..PlanConfig::default()
            };
            assert!(Planner::new(config).is_err(), "speed {speed}");
        }
    }

    #[test]
    fn test_lateness_quantiles() {
        let mut s = LatenessStats::new();
        assert_eq!(s.quantile(0.5), None);
        for us in 1..=100u64 {
            s.record(Duration::from_micros(us));
        }
        assert_eq!(s.count(), 100);
        assert_eq!(s.quantile(0.5), Some(Duration::from_micros(50)));
        assert_eq!(s.quantile(0.99), Some(Duration::from_micros(99)));
        assert_eq!(s.quantile(1.0), Some(Duration::from_micros(100)));
        assert_eq!(s.max(), Duration::from_micros(100));
        assert_eq!(s.mean(), Duration::from_nanos(50_500));
    }

    #[test]
    fn test_lateness_overflow_reports_the_max() {
        let mut s = LatenessStats::new();
        s.record(Duration::from_micros(10));
        s.record(Duration::from_secs(2));
        assert_eq!(s.quantile(1.0), Some(Duration::from_secs(2)));
        assert_eq!(s.quantile(0.5), Some(Duration::from_micros(10)));
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn due_offsets_never_decrease_and_follow_the_log_at_speed_one(
            gaps in proptest::collection::vec(0u64..5_000_000_000, 1..200),
            back in proptest::collection::vec(any::<bool>(), 200),
        ) {
            let mut p = Planner::new(PlanConfig::default()).unwrap();
            let mut t = 1_000_000_000u64;
            let mut first = None;
            let mut latest = 0;
            let mut last = Duration::ZERO;
            for (i, g) in gaps.iter().enumerate() {
                // Sometimes time goes backwards (merged captures).
                t = if back[i] { t.saturating_sub(*g / 2) } else { t + g };
                let first = *first.get_or_insert(t);
                let due = p.due(Timestamp::from_nanos(t));
                prop_assert!(due >= last);
                latest = latest.max(t);
                if t == latest {
                    prop_assert_eq!(due, Duration::from_nanos(t - first));
                }
                last = due;
            }
        }

        #[test]
        fn scaled_offsets_stay_within_a_nanosecond_of_exact(
            gaps in proptest::collection::vec(0u64..10_000_000, 1..500),
            speed in 0.1f64..20.0,
        ) {
            let mut p = Planner::new(PlanConfig { speed, ..PlanConfig::default() }).unwrap();
            let mut t = 0u64;
            let first = gaps[0];
            for g in gaps {
                t += g;
                let due = p.due(Timestamp::from_nanos(t)).as_nanos() as f64;
                let exact = (t - first) as f64 / speed;
                prop_assert!((due - exact).abs() <= 1.0 + exact * 1e-15, "{due} vs {exact}");
            }
        }
    }
}
