//! The time line the monitor's model runs on: wall time for interfaces (kernel timestamps are
//! Unix time), the log's own time for logs: paced, log time advancing at `speed` from the
//! first frame; unpaced or ended, the latest frame's time. Sans-IO: the caller passes the
//! monotonic instant and the system time it read.

use core::time::Duration;
use std::time::Instant;

use crate::time::Timestamp;

/// See the module documentation.
#[derive(Debug, Clone)]
pub struct ModelClock {
    live: bool,
    speed: f64,
    anchor: Option<(Timestamp, Instant)>,
    latest: Timestamp,
    ended: bool,
}

impl ModelClock {
    /// For interfaces: the system time.
    pub fn live() -> Self {
        ModelClock {
            live: true,
            ..ModelClock::log(1.0)
        }
    }

    /// For logs replayed at `speed` (0: unpaced).
    pub fn log(speed: f64) -> Self {
        ModelClock {
            live: false,
            speed,
            anchor: None,
            latest: Timestamp::ZERO,
            ended: false,
        }
    }

    /// A frame of time `t` arrived at `at`.
    pub fn frame(&mut self, t: Timestamp, at: Instant) {
        self.anchor.get_or_insert((t, at));
        self.latest = self.latest.max(t);
    }

    /// The logs have ended: time stops at the latest frame.
    pub fn end(&mut self) {
        self.ended = true;
    }

    /// The model's time at the monotonic instant `at` (the system time then is `system`);
    /// `None` for logs before their first frame (no time line yet).
    pub fn now(&self, at: Instant, system: Timestamp) -> Option<Timestamp> {
        if self.live {
            return Some(system);
        }
        match self.anchor {
            None => None,
            Some((t0, anchor)) if !self.ended && self.speed > 0.0 => {
                let elapsed = at.saturating_duration_since(anchor).as_secs_f64() * self.speed;
                let t = t0.saturating_add(Duration::try_from_secs_f64(elapsed).unwrap_or_default());
                Some(t.max(self.latest))
            }
            Some(_) => Some(self.latest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_log_clock_runs_at_speed_from_the_first_frame_and_stops_at_the_end() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut clock = ModelClock::log(4.0);
        assert_eq!(
            clock.now(at(0), Timestamp::ZERO),
            None,
            "no time line before the first frame"
        );
        let t0 = Timestamp::from_nanos(1_700_000_000_000_000_000);
        clock.frame(t0, at(0));
        assert_eq!(
            clock.now(at(1), Timestamp::ZERO),
            Some(t0 + Duration::from_secs(4))
        );
        clock.frame(t0 + Duration::from_secs(5), at(1));
        assert_eq!(
            clock.now(at(1), Timestamp::ZERO),
            Some(t0 + Duration::from_secs(5)),
            "never behind a frame"
        );
        clock.end();
        assert_eq!(
            clock.now(at(11), Timestamp::ZERO),
            Some(t0 + Duration::from_secs(5)),
            "frozen at the end"
        );
    }

    #[test]
    fn test_unpaced_log_clock_follows_the_frames_and_live_is_system_time() {
        let start = Instant::now();
        let mut clock = ModelClock::log(0.0);
        let t0 = Timestamp::from_nanos(1_000);
        clock.frame(t0, start);
        assert_eq!(
            clock.now(start + Duration::from_secs(1), Timestamp::ZERO),
            Some(t0)
        );
        let system = Timestamp::from_nanos(42);
        assert_eq!(ModelClock::live().now(start, system), Some(system));
    }
}
