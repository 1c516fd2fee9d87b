//! Timestamps with nanosecond resolution, independent of any clock.
//!
//! A [`Timestamp`] is a point on whatever time line the frames came from: the Unix epoch for a
//! live capture or a `candump -l` log, zero for a `candump -tz` log, a virtual clock in tests.
//! Pure modules (log formats, ISO-TP, the watcher, ECU models) take a `Timestamp` as an argument
//! and never read the system clock, so the same code runs on live time and on a log's times.

use core::fmt;
use core::ops::{Add, AddAssign};
use core::time::Duration;

/// Nanoseconds since the origin of the time line the frames came from.
#[derive(Copy, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

const NANOS_PER_SEC: u64 = 1_000_000_000;

impl Timestamp {
    /// The origin of the time line.
    pub const ZERO: Timestamp = Timestamp(0);
    /// The latest representable time (about the year 2554 on the Unix time line).
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    /// A timestamp from nanoseconds since the origin.
    pub const fn from_nanos(nanos: u64) -> Self {
        Timestamp(nanos)
    }

    /// A timestamp from microseconds since the origin; `None` if it does not fit.
    pub const fn from_micros(micros: u64) -> Option<Self> {
        match micros.checked_mul(1_000) {
            Some(n) => Some(Timestamp(n)),
            None => None,
        }
    }

    /// A timestamp from whole seconds and nanoseconds (`nanos` below one second);
    /// `None` if it does not fit or `nanos` is out of range.
    pub const fn from_secs_nanos(secs: u64, nanos: u32) -> Option<Self> {
        if nanos as u64 >= NANOS_PER_SEC {
            return None;
        }
        match secs.checked_mul(NANOS_PER_SEC) {
            Some(s) => match s.checked_add(nanos as u64) {
                Some(n) => Some(Timestamp(n)),
                None => None,
            },
            None => None,
        }
    }

    /// Nanoseconds since the origin.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Whole seconds since the origin.
    pub const fn secs(self) -> u64 {
        self.0 / NANOS_PER_SEC
    }

    /// The fraction of the second, in nanoseconds (0 to 999 999 999).
    pub const fn subsec_nanos(self) -> u32 {
        (self.0 % NANOS_PER_SEC) as u32
    }

    /// The fraction of the second, in microseconds (truncated, as candump does).
    pub const fn subsec_micros(self) -> u32 {
        self.subsec_nanos() / 1_000
    }

    /// Seconds since the origin as a float (for JSON output and display).
    pub fn as_secs_f64(self) -> f64 {
        self.secs() as f64 + f64::from(self.subsec_nanos()) / 1e9
    }

    /// The time elapsed from `earlier` to `self`, or `None` if `earlier` is later.
    pub const fn checked_duration_since(self, earlier: Timestamp) -> Option<Duration> {
        match self.0.checked_sub(earlier.0) {
            Some(n) => Some(Duration::from_nanos(n)),
            None => None,
        }
    }

    /// The time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, or `None` on overflow.
    pub fn checked_add(self, d: Duration) -> Option<Timestamp> {
        let n = u64::try_from(d.as_nanos()).ok()?;
        self.0.checked_add(n).map(Timestamp)
    }

    /// `self + d`, saturating at [`Timestamp::MAX`].
    pub fn saturating_add(self, d: Duration) -> Timestamp {
        self.checked_add(d).unwrap_or(Timestamp::MAX)
    }

    /// Signed seconds from `origin` to `self` (negative when `self` is earlier).
    pub fn seconds_since(self, origin: Timestamp) -> f64 {
        if self >= origin {
            (self.0 - origin.0) as f64 / 1e9
        } else {
            -((origin.0 - self.0) as f64 / 1e9)
        }
    }

    /// `self - d`, or `None` if that is before the origin.
    pub fn checked_sub(self, d: Duration) -> Option<Timestamp> {
        let n = u64::try_from(d.as_nanos()).ok()?;
        self.0.checked_sub(n).map(Timestamp)
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    /// Saturating addition: a timestamp never wraps.
    fn add(self, d: Duration) -> Timestamp {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, d: Duration) {
        *self = self.saturating_add(d);
    }
}

/// A [`Timestamp`] on the Unix time line as a UTC calendar time (proleptic Gregorian, whole
/// seconds). `Display` is ISO 8601: `2026-11-21T19:40:05Z`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `days_from_civil`). The
/// date is not checked: see [`days_in_month`].
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `(year, month, day)` of a day count since 1970-01-01
/// (H. Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// The number of days of `month` (1-12) in `year`; 0 for a month out of range.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

impl UtcTime {
    /// The calendar time of `t`, read as seconds since 1970-01-01T00:00:00Z.
    pub fn of(t: Timestamp) -> UtcTime {
        let secs = t.secs();
        // u64 seconds give at most about 2.1e14 days, well inside i64.
        let (year, month, day) = civil_from_days((secs / 86_400) as i64);
        let rem = (secs % 86_400) as u32;
        UtcTime {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: rem / 60 % 60,
            second: rem % 60,
        }
    }

    /// `20261121T194005Z`, for file names.
    pub fn compact(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({}.{:09})", self.secs(), self.subsec_nanos())
    }
}

/// `SECS.NNNNNNNNN`, the full resolution.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}", self.secs(), self.subsec_nanos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every valid date maps to a day number and back, and consecutive valid dates to
        /// consecutive day numbers.
        #[test]
        fn prop_civil_days_round_trip(year in -100_000i64..100_000, month in 1u32..=12, day in 1u32..=31) {
            prop_assume!(day <= days_in_month(year, month));
            let n = days_from_civil(year, month, day);
            prop_assert_eq!(civil_from_days(n), (year, month, day));
            let (y2, m2, d2) = civil_from_days(n + 1);
            let next = if day < days_in_month(year, month) {
                (year, month, day + 1)
            } else if month < 12 {
                (year, month + 1, 1)
            } else {
                (year + 1, 1, 1)
            };
            prop_assert_eq!((y2, m2, d2), next);
        }
    }

    #[test]
    fn test_days_in_month_and_the_epoch() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        // `date -u -d 2026-12-05 +%s` / 86400.
        assert_eq!(days_from_civil(2026, 12, 5), 20_792);
        assert_eq!(days_in_month(2000, 2), 29);
        assert_eq!(days_in_month(1900, 2), 28);
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2026, 13), 0);
    }

    #[test]
    fn test_utc_calendar() {
        let at = |s: u64| UtcTime::of(Timestamp::from_secs_nanos(s, 0).unwrap());
        assert_eq!(at(0).to_string(), "1970-01-01T00:00:00Z");
        // `date -u -d @1795290005`: Sat Nov 21 19:40:05 UTC 2026.
        assert_eq!(at(1_795_290_005).to_string(), "2026-11-21T19:40:05Z");
        assert_eq!(at(1_795_290_005).compact(), "20261121T194005Z");
        // A leap day, the day after, and the end of a year.
        assert_eq!(at(951_782_400).to_string(), "2000-02-29T00:00:00Z");
        assert_eq!(at(951_868_800).to_string(), "2000-03-01T00:00:00Z");
        assert_eq!(at(1_704_067_199).to_string(), "2023-12-31T23:59:59Z");
        // The far end does not overflow.
        let _ = UtcTime::of(Timestamp::MAX);
    }

    #[test]
    fn test_secs_nanos_split() {
        let t = Timestamp::from_secs_nanos(1_700_000_000, 211_000).unwrap();
        assert_eq!(t.secs(), 1_700_000_000);
        assert_eq!(t.subsec_nanos(), 211_000);
        assert_eq!(t.subsec_micros(), 211);
        assert_eq!(t.to_string(), "1700000000.000211000");
    }

    #[test]
    fn test_from_secs_nanos_rejects_out_of_range() {
        assert!(Timestamp::from_secs_nanos(0, 1_000_000_000).is_none());
        assert!(Timestamp::from_secs_nanos(u64::MAX, 0).is_none());
        assert!(Timestamp::from_micros(u64::MAX).is_none());
    }

    #[test]
    fn test_durations() {
        let a = Timestamp::from_nanos(1_000);
        let b = a + Duration::from_micros(5);
        assert_eq!(b.as_nanos(), 6_000);
        assert_eq!(b.checked_duration_since(a), Some(Duration::from_micros(5)));
        assert_eq!(a.checked_duration_since(b), None);
        assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
        assert_eq!(Timestamp::MAX + Duration::from_secs(1), Timestamp::MAX);
        assert_eq!(a.checked_sub(Duration::from_micros(2)), None);
    }

    #[test]
    fn test_as_secs_f64() {
        let t = Timestamp::from_secs_nanos(12, 500_000_000).unwrap();
        assert_eq!(t.as_secs_f64(), 12.5);
    }
}
