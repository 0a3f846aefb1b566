//! The wait before a bridge reconnects (`restart_timeout`): a constant, or Mosquitto's
//! "decorrelated jitter" back-off, in milliseconds: each delay is random between the base and
//! three times the previous one, never above the cap, and it starts from the base again once
//! a connection was stable (see [`RestartTimeout::Backoff`]). Pure: the random number is an
//! argument, so the arithmetic is tested without a clock or a socket.

use std::time::Duration;

use crate::config::RestartTimeout;

/// A bridge's back-off state.
#[derive(Debug, Default)]
pub(super) struct Backoff {
    /// The last back-off delay in milliseconds; 0 when it starts from the base again.
    last: u64,
}

impl Backoff {
    /// The delay before the next connection attempt under `timeout`, from a fresh `random`
    /// number, and whether it is a back-off delay (Mosquitto logs those).
    pub(super) fn next(&mut self, timeout: RestartTimeout, random: u64) -> (Duration, bool) {
        match timeout {
            RestartTimeout::Constant(seconds) => (Duration::from_secs(u64::from(seconds)), false),
            RestartTimeout::Backoff { base, cap, .. } => {
                let base = u64::from(base) * 1000;
                let cap = u64::from(cap) * 1000;
                let high = self.last.max(base).saturating_mul(3);
                let spread = high.saturating_sub(base).max(1);
                self.last = base.saturating_add(random % spread).min(cap);
                (Duration::from_millis(self.last), true)
            }
        }
    }

    /// Starts the back-off from the base again.
    pub(super) fn reset(&mut self) {
        self.last = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BACKOFF: RestartTimeout = RestartTimeout::Backoff { base: 2, cap: 10, stable: 0 };

    #[test]
    fn a_constant_is_always_the_same_and_not_a_backoff() {
        let mut backoff = Backoff::default();
        for random in [0, 7, u64::MAX] {
            assert_eq!(
                backoff.next(RestartTimeout::Constant(3), random),
                (Duration::from_secs(3), false)
            );
        }
    }

    #[test]
    fn delays_stay_between_the_base_and_the_cap_and_grow_from_the_last_one() {
        let mut backoff = Backoff::default();
        // The first spread is base to 3 × base; the largest random number reaches its top.
        assert_eq!(backoff.next(BACKOFF, 0), (Duration::from_millis(2000), true));
        assert_eq!(backoff.next(BACKOFF, 3999).0, Duration::from_millis(5999));
        // Now up to 3 × 5999 ms, capped at 10 s.
        assert_eq!(backoff.next(BACKOFF, 9000).0, Duration::from_millis(10_000));
        for random in [0, 1, 12_345, u64::MAX] {
            let (delay, _) = backoff.next(BACKOFF, random);
            assert!((2000..=10_000).contains(&delay.as_millis()), "{delay:?}");
        }
    }

    #[test]
    fn a_reset_starts_from_the_base_again() {
        let mut backoff = Backoff::default();
        backoff.next(BACKOFF, 3999);
        backoff.next(BACKOFF, 9000);
        backoff.reset();
        // Back to the first spread: at most 3 × base.
        assert_eq!(
            backoff.next(BACKOFF, u64::MAX).0.as_millis(),
            2000 + u128::from(u64::MAX % 4000)
        );
        assert!(backoff.next(BACKOFF, 0).0 >= Duration::from_secs(2));
    }
}
