//! The wall clock as the runtime reports it: the Unix time at one monotonic instant, which the
//! broker uses to turn its monotonic deadlines into absolute times for the durable state (and
//! back at a restore), so a message's expiry survives a restart as the time it ends at, as
//! Mosquitto stores it. The core never reads a clock: the runtime passes the reading in.

use std::time::{Duration, Instant};

/// The Unix time (since 1970) that the wall clock read at `at`.
///
/// Later instants are placed by the monotonic time since `at`, so a wall clock set back or
/// forward while the broker runs does not move a deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallClock {
    /// The monotonic instant of the reading.
    pub at: Instant,
    /// Time since 1970 at `at`.
    pub since_epoch: Duration,
}

impl WallClock {
    /// The Unix time of `instant` in milliseconds, rounded up: a deadline stored this way is
    /// never earlier than the monotonic one.
    #[must_use]
    pub fn unix_millis(&self, instant: Instant) -> u64 {
        let unix = match instant.checked_duration_since(self.at) {
            Some(after) => self.since_epoch.saturating_add(after),
            None => self.since_epoch.saturating_sub(self.at.duration_since(instant)),
        };
        let millis = unix.as_millis() + u128::from(unix.subsec_nanos() % 1_000_000 > 0);
        u64::try_from(millis).unwrap_or(u64::MAX)
    }

    /// The time from `now` until the Unix time `unix_millis`; `None` once it has come.
    #[must_use]
    pub fn until(&self, unix_millis: u64, now: Instant) -> Option<Duration> {
        let elapsed = now.checked_duration_since(self.at).unwrap_or(Duration::ZERO);
        let unix_now = self.since_epoch.saturating_add(elapsed);
        Some(Duration::from_millis(unix_millis).checked_sub(unix_now)?).filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_the_millisecond_and_count_down() {
        let start = crate::tests::harness::epoch();
        let clock = WallClock { at: start, since_epoch: Duration::from_micros(1_000_000_500) };
        let cases: [(Duration, u64); 3] = [
            (Duration::ZERO, 1_000_001),
            (Duration::from_micros(500), 1_000_001),
            (Duration::from_secs(3), 1_003_001),
        ];
        for (after, millis) in cases {
            assert_eq!(clock.unix_millis(start + after), millis, "{after:?}");
        }
        let deadline = clock.unix_millis(start + Duration::from_secs(3));
        assert_eq!(clock.until(deadline, start), Some(Duration::from_micros(3_000_500)));
        let later = start + Duration::from_millis(2_999);
        assert_eq!(clock.until(deadline, later), Some(Duration::from_micros(1_500)));
        assert_eq!(clock.until(deadline, start + Duration::from_millis(3_001)), None);
        assert_eq!(clock.until(5, start), None);
        // A reading taken later than the instant asked about.
        let reading = WallClock {
            at: start + Duration::from_secs(10),
            since_epoch: clock.since_epoch + Duration::from_secs(10),
        };
        assert_eq!(reading.unix_millis(start + Duration::from_secs(4)), 1_004_001);
    }
}
