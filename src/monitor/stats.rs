//! Sliding-window statistics and CAN frame bit-length estimates for the monitor.
//!
//! [`Window`] keeps a fixed ring of time buckets (no allocation, O(1) per sample): each bucket
//! counts frames, inter-arrival intervals (sum, sum of squares in exact integers, min, max) and
//! bus time. A bucket is identified by its absolute index `t / bucket_len`, so stale buckets are
//! recognised when read and never need clearing.
//!
//! [`frame_bits`] estimates how long a frame occupies the bus, with worst-case bit stuffing,
//! following the classic formula of Davis, Burns, Bril and Lukkien, "Controller Area Network
//! (CAN) schedulability analysis: refuted, revisited and revised" (Real-Time Systems 35, 2007):
//! a classic data frame with `n` data bytes takes `g + 8n + 13 + floor((g + 8n - 1) / 4)` bits,
//! where `g` is 34 for 11-bit and 54 for 29-bit identifiers (the bits exposed to stuffing,
//! from start-of-frame to the end of the CRC), 13 is the CRC delimiter, ACK, end-of-frame and
//! the 3-bit interframe space, and the last term bounds the stuff bits. Remote frames count as
//! `n = 0`. CAN FD is approximated (and labelled so in the UI): the arbitration phase (start of
//! frame to BRS, 17 bits standard / 36 extended, with worst-case stuffing) and the trailer
//! (ACK, end-of-frame, interframe space: 12 bits) at the nominal bitrate; ESI, DLC, data,
//! stuff count (4 bits), CRC (17 bits up to 16 data bytes, else 21) with its fixed stuff bits and
//! delimiter, plus worst-case dynamic stuffing over ESI to the end of data, at the data bitrate
//! when BRS is set (else at the nominal bitrate).

use core::time::Duration;

use crate::frame::{Frame, Id};
use crate::time::Timestamp;

/// Number of buckets in a [`Window`].
pub const BUCKETS: usize = 10;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Bucket {
    /// Absolute bucket number (`t / bucket_ns`); `frames == 0` marks an unused slot.
    index: u64,
    frames: u32,
    intervals: u32,
    sum: u64,
    sum_sq: u128,
    min: u64,
    max: u64,
    /// Bus time of the frames, in nanoseconds.
    busy_ns: u64,
    /// Times of the first and latest frame in the bucket, in nanoseconds.
    first: u64,
    last: u64,
}

/// What a [`Window`] saw over its span.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WindowStats {
    /// Frames in the window.
    pub frames: u64,
    /// Inter-arrival intervals ending in the window.
    pub intervals: u64,
    /// Mean interval.
    pub mean: Option<Duration>,
    /// Standard deviation of the intervals (population).
    pub std_dev: Option<Duration>,
    /// Shortest and longest interval.
    pub min: Option<Duration>,
    pub max: Option<Duration>,
    /// Bus time of the frames in the window.
    pub busy: Duration,
    /// Where the window starts (`now - span`).
    pub start: Timestamp,
    /// The first and latest frame in the window.
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
}

impl WindowStats {
    /// Peak-to-peak jitter (longest minus shortest interval).
    pub fn peak_to_peak(&self) -> Option<Duration> {
        Some(self.max?.saturating_sub(self.min?))
    }
}

/// A sliding window over time, as a ring of [`BUCKETS`] buckets. The window at `now` is the
/// current (partial) bucket and the `BUCKETS - 1` before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    bucket_ns: u64,
    buckets: [Bucket; BUCKETS],
}

impl Window {
    /// A window spanning about `span` (at least 10 ns).
    pub fn new(span: Duration) -> Window {
        let ns = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
        Window {
            bucket_ns: (ns / BUCKETS as u64).max(1),
            buckets: [Bucket::default(); BUCKETS],
        }
    }

    /// The nominal span (all buckets).
    pub fn span(&self) -> Duration {
        Duration::from_nanos(self.bucket_ns.saturating_mul(BUCKETS as u64))
    }

    /// Forget everything.
    pub fn clear(&mut self) {
        self.buckets = [Bucket::default(); BUCKETS];
    }

    /// A frame at `t`, `interval` after the previous one of the same stream, occupying the bus
    /// for `busy_ns`.
    #[inline]
    pub fn record(&mut self, t: Timestamp, interval: Option<Duration>, busy_ns: u64) {
        let index = t.as_nanos() / self.bucket_ns;
        let slot = (index % BUCKETS as u64) as usize;
        let Some(b) = self.buckets.get_mut(slot) else {
            return;
        };
        if b.index != index || b.frames == 0 {
            *b = Bucket {
                index,
                min: u64::MAX,
                first: t.as_nanos(),
                ..Bucket::default()
            };
        }
        b.first = b.first.min(t.as_nanos());
        b.last = b.last.max(t.as_nanos());
        b.frames = b.frames.saturating_add(1);
        b.busy_ns = b.busy_ns.saturating_add(busy_ns);
        if let Some(iv) = interval {
            let iv = u64::try_from(iv.as_nanos()).unwrap_or(u64::MAX);
            b.intervals = b.intervals.saturating_add(1);
            b.sum = b.sum.saturating_add(iv);
            b.sum_sq = b.sum_sq.saturating_add(u128::from(iv) * u128::from(iv));
            b.min = b.min.min(iv);
            b.max = b.max.max(iv);
        }
    }

    /// The statistics of the window ending at `now`.
    pub fn stats(&self, now: Timestamp) -> WindowStats {
        let current = now.as_nanos() / self.bucket_ns;
        let first = current.saturating_sub(BUCKETS as u64 - 1);
        let mut frames = 0u64;
        let mut intervals = 0u64;
        let mut sum = 0u128;
        let mut sum_sq = 0u128;
        let mut min = u64::MAX;
        let mut max = 0u64;
        let mut busy = 0u64;
        let mut first_t = u64::MAX;
        let mut last_t = 0u64;
        for b in &self.buckets {
            if b.frames == 0 || b.index < first || b.index > current {
                continue;
            }
            first_t = first_t.min(b.first);
            last_t = last_t.max(b.last);
            frames += u64::from(b.frames);
            busy = busy.saturating_add(b.busy_ns);
            if b.intervals > 0 {
                intervals += u64::from(b.intervals);
                sum += u128::from(b.sum);
                sum_sq = sum_sq.saturating_add(b.sum_sq);
                min = min.min(b.min);
                max = max.max(b.max);
            }
        }
        let (mean, std_dev, min, max) = if intervals > 0 {
            let n = u128::from(intervals);
            let mean = sum / n;
            // n * sum_sq - sum^2 is exact and non-negative (Cauchy-Schwarz); saturating keeps
            // absurd inputs from wrapping.
            let var_n2 = n
                .saturating_mul(sum_sq)
                .saturating_sub(sum.saturating_mul(sum));
            let var = var_n2 as f64 / (n as f64 * n as f64);
            (
                Some(Duration::from_nanos(
                    u64::try_from(mean).unwrap_or(u64::MAX),
                )),
                Duration::try_from_secs_f64(var.sqrt() / 1e9).ok(),
                Some(Duration::from_nanos(min)),
                Some(Duration::from_nanos(max)),
            )
        } else {
            (None, None, None, None)
        };
        WindowStats {
            frames,
            intervals,
            mean,
            std_dev,
            min,
            max,
            busy: Duration::from_nanos(busy),
            start: Timestamp::from_nanos(first.saturating_mul(self.bucket_ns)),
            first: (frames > 0).then_some(Timestamp::from_nanos(first_t)),
            last: (frames > 0).then_some(Timestamp::from_nanos(last_t)),
        }
    }
}

/// Bitrates for the bus-load estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusTiming {
    /// Nominal (arbitration) bitrate in bit/s.
    pub bitrate: u32,
    /// CAN FD data-phase bitrate in bit/s (frames with BRS).
    pub data_bitrate: u32,
}

impl Default for BusTiming {
    fn default() -> Self {
        BusTiming {
            bitrate: 500_000,
            data_bitrate: 2_000_000,
        }
    }
}

/// Worst-case bits of a frame: `(nominal-rate bits, data-rate bits)`. Error frames are
/// controller reports, not bus traffic: `(0, 0)`. See the module documentation.
pub fn frame_bits(frame: &Frame) -> (u32, u32) {
    fn classic(id: Id, n: u32) -> u32 {
        let g = if id.is_extended() { 54 } else { 34 };
        g + 8 * n + 13 + (g + 8 * n - 1) / 4
    }
    match frame {
        Frame::Classic(c) => (classic(c.id(), c.data().len() as u32), 0),
        Frame::Remote(r) => (classic(r.id(), 0), 0),
        Frame::Error(_) => (0, 0),
        Frame::Fd(f) => {
            let n = f.data().len() as u32;
            let header = if f.id().is_extended() { 36 } else { 17 };
            let nominal = header + (header - 1) / 4 + 12;
            let crc = if n <= 16 { 17 } else { 21 };
            let dynamic = 1 + 4 + 8 * n;
            let data = dynamic + (dynamic - 1) / 4 + 4 + 1 + crc + crc.div_ceil(4) + 1;
            if f.flags().brs() {
                (nominal, data)
            } else {
                (nominal + data, 0)
            }
        }
    }
}

/// How long `frame` occupies the bus at `timing`, in nanoseconds.
pub fn frame_time_ns(frame: &Frame, timing: &BusTiming) -> u64 {
    let (nominal, data) = frame_bits(frame);
    let per = |bits: u32, rate: u32| -> u64 {
        if rate == 0 {
            0
        } else {
            u64::from(bits) * 1_000_000_000 / u64::from(rate)
        }
    };
    per(nominal, timing.bitrate) + per(data, timing.data_bitrate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Timestamp {
        Timestamp::from_nanos(v * 1_000_000)
    }

    #[test]
    fn test_classic_frame_bits_match_the_published_bounds() {
        let std8 = Frame::classic(Id::standard(0x123).unwrap(), &[0; 8]).unwrap();
        let ext8 = Frame::classic(Id::extended(0x123).unwrap(), &[0; 8]).unwrap();
        let std0 = Frame::classic(Id::standard(0x123).unwrap(), &[]).unwrap();
        // Davis et al. 2007: 135 bits (11-bit, 8 bytes), 160 bits (29-bit, 8 bytes), 55 (0 bytes).
        assert_eq!(frame_bits(&std8), (135, 0));
        assert_eq!(frame_bits(&ext8), (160, 0));
        assert_eq!(frame_bits(&std0), (55, 0));
        // 135 bits at 500 kbit/s: 270 us.
        assert_eq!(frame_time_ns(&std8, &BusTiming::default()), 270_000);
    }

    #[test]
    fn test_fd_frame_time_splits_phases() {
        let fd = Frame::fd(Id::standard(0x123).unwrap(), &[0; 64], true).unwrap();
        let (nominal, data) = frame_bits(&fd);
        assert_eq!(nominal, 17 + 4 + 12);
        assert!(data > 8 * 64, "{data}");
        let slow = Frame::fd(Id::standard(0x123).unwrap(), &[0; 64], false).unwrap();
        assert_eq!(frame_bits(&slow), (nominal + data, 0));
        let t = BusTiming::default();
        assert!(frame_time_ns(&fd, &t) < frame_time_ns(&slow, &t));
    }

    #[test]
    fn test_window_mean_jitter_and_expiry() {
        let mut w = Window::new(Duration::from_secs(1));
        // Intervals alternate 90 and 110 ms: mean 100, std dev 10, p-p 20.
        let mut t = 0;
        let mut last = None;
        for i in 0..20 {
            t += if i % 2 == 0 { 90 } else { 110 };
            w.record(ms(t), last.map(|l| Duration::from_millis(t - l)), 1000);
            last = Some(t);
        }
        let s = w.stats(ms(t));
        let mean = s.mean.unwrap().as_secs_f64() * 1e3;
        let sd = s.std_dev.unwrap().as_secs_f64() * 1e3;
        assert!((mean - 100.0).abs() < 1.5, "{mean}");
        assert!((sd - 10.0).abs() < 0.5, "{sd}");
        assert_eq!(s.peak_to_peak(), Some(Duration::from_millis(20)));
        assert!(s.frames >= 9 && s.frames <= 11, "{s:?}");
        // A window later, nothing is left.
        let later = w.stats(ms(t + 1000));
        assert_eq!(later.frames, 0);
        assert_eq!(later.mean, None);
    }
}
