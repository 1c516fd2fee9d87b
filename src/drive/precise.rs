//! Sleeping until an absolute instant with sub-millisecond precision.
//!
//! tokio's timer has a 1 ms granularity and `canplayer` sleeps relative amounts (so its errors
//! add up). Replay instead waits for absolute deadlines on the monotonic clock in three stages:
//! a tokio sleep while more than a few milliseconds remain (the runtime stays responsive to
//! Ctrl-C), then `nanosleep` with the thread's timer slack reduced to 1 us, then a short spin
//! for the last tens of microseconds. Errors never accumulate, because every deadline is
//! computed from the replay's start, not from the previous wake-up.

use std::time::{Duration, Instant};

/// Below this much remaining time, stop yielding to tokio and use `nanosleep`.
const TOKIO_MARGIN: Duration = Duration::from_millis(3);
/// Below this much remaining time, spin instead of sleeping.
const SPIN_MARGIN: Duration = Duration::from_micros(80);

/// Ask the kernel for 1 us timer slack on this thread (the default is 50 us), so `nanosleep`
/// wakes close to its deadline. Harmless if it fails.
pub fn tighten_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes an unsigned long and touches only this thread's state.
    let _ = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong, 0, 0, 0) };
}

/// Wait until `deadline`. Returns at or after it (never early); how late depends on the
/// machine (tens of microseconds on an idle Linux laptop).
pub async fn sleep_until(deadline: Instant) {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let remaining = deadline - now;
        if remaining > TOKIO_MARGIN {
            tokio::time::sleep(remaining - TOKIO_MARGIN + Duration::from_millis(1)).await;
        } else if remaining > SPIN_MARGIN {
            std::thread::sleep(remaining - SPIN_MARGIN);
        } else {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn test_never_wakes_early() {
        tighten_timer_slack();
        let start = Instant::now();
        for i in 1..=20u64 {
            let deadline = start + Duration::from_micros(i * 700);
            sleep_until(deadline).await;
            assert!(Instant::now() >= deadline, "woke before deadline {i}");
        }
        // A deadline in the past returns at once.
        sleep_until(start).await;
    }
}
